//! The rustls client configuration for HTTPS listeners: the system's trusted roots plus an
//! optional extra CA, or (only when the target says so) no certificate check at all.

use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tracing::debug;

use crate::error::{WinrmError, WinrmErrorKind};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The system's trusted roots, read once per process (reading and parsing them takes
/// milliseconds, too much for every connection).
fn native_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        if !loaded.errors.is_empty() {
            debug!(errors = ?loaded.errors, "some system certificates could not be read");
        }
        loaded.certs
    })
}

/// The client configuration for one target. The common one (validated, no extra CA) is built
/// once per process: building means loading every system root into a new store.
pub(crate) fn client_config(
    validate_certs: bool,
    ca_pem: Option<&str>,
) -> Result<Arc<ClientConfig>, WinrmError> {
    static DEFAULT: OnceLock<Arc<ClientConfig>> = OnceLock::new();
    if !(validate_certs && ca_pem.is_none()) {
        return build(validate_certs, ca_pem);
    }
    if let Some(config) = DEFAULT.get() {
        return Ok(config.clone());
    }
    let config = build(true, None)?;
    Ok(DEFAULT.get_or_init(|| config).clone())
}

fn build(validate_certs: bool, ca_pem: Option<&str>) -> Result<Arc<ClientConfig>, WinrmError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_error(format!("no usable TLS versions: {e}")))?;
    let config = if validate_certs {
        let mut roots = RootCertStore::empty();
        let (_, _) = roots.add_parsable_certificates(native_roots().iter().cloned());
        if let Some(pem) = ca_pem {
            let mut added = 0usize;
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| {
                    tls_error(format!(
                        "the CA certificate given for the target is not valid PEM: {e}"
                    ))
                })?;
                roots.add(cert).map_err(|e| {
                    tls_error(format!(
                        "the CA certificate given for the target cannot be used: {e}"
                    ))
                })?;
                added += 1;
            }
            if added == 0 {
                return Err(tls_error(
                    "the CA PEM given for the target holds no certificate".to_owned(),
                ));
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
                algorithms: provider().signature_verification_algorithms,
            }))
            .with_no_client_auth()
    };
    Ok(Arc::new(config))
}

fn tls_error(message: String) -> WinrmError {
    WinrmError::new(WinrmErrorKind::Tls, message)
}

/// `validate_certs: false`: any certificate is accepted (the connection is still encrypted,
/// and the handshake signatures are still checked, so the peer holds the key it presented).
#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_pem_without_certificates_is_refused() {
        let err = client_config(true, Some("not a certificate")).expect_err("no cert");
        assert_eq!(err.kind, WinrmErrorKind::Tls);
        assert!(client_config(true, None).is_ok());
        assert!(client_config(false, None).is_ok());
    }
}
