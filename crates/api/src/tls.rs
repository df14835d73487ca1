//! TLS material: the operator's certificate and key, or a self-signed CA and leaf generated
//! into `<data_dir>/tls` on first start (rustls refuses a CA used as a server certificate,
//! so there are two). Clients trust `<data_dir>/tls/ca.pem`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use opsconductor_core::config::Config;
use opsconductor_core::secrets::write_private_file;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// A PEM certificate chain and private key ready for rustls.
pub struct TlsMaterial {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
    /// Where the certificate came from, for the start-up log.
    pub source: PathBuf,
}

/// Files of the generated certificate set inside the data directory.
pub struct GeneratedPaths {
    pub ca: PathBuf,
    pub ca_key: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// RFC 3339 expiry of the leaf, so it is renewed before it lapses.
    pub expires: PathBuf,
}

impl GeneratedPaths {
    pub fn in_data_dir(data_dir: &Path) -> Self {
        let dir = data_dir.join("tls");
        Self {
            ca: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            cert: dir.join("server.pem"),
            key: dir.join("server-key.pem"),
            expires: dir.join("server.expires"),
        }
    }
}

/// Loads the configured certificate, or the generated one (creating it on first start).
pub fn load_or_generate(config: &Config) -> anyhow::Result<TlsMaterial> {
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        return read_pair(cert, key);
    }
    let paths = GeneratedPaths::in_data_dir(&config.data_dir);
    if leaf_needs_renewal(&paths) {
        generate(&paths)?;
        tracing::info!(ca = %paths.ca.display(), "generated a TLS certificate; clients trust the CA file");
    }
    read_pair(&paths.cert, &paths.key)
}

fn read_pair(cert: &Path, key: &Path) -> anyhow::Result<TlsMaterial> {
    let cert_pem = std::fs::read(cert)
        .with_context(|| format!("cannot read TLS certificate {}", cert.display()))?;
    let key_pem =
        std::fs::read(key).with_context(|| format!("cannot read TLS key {}", key.display()))?;
    let certs = rustls_pemfile::certs(&mut cert_pem.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    if certs.is_empty() {
        bail!("{} holds no PEM certificate", cert.display());
    }
    if rustls_pemfile::private_key(&mut key_pem.as_slice())
        .ok()
        .flatten()
        .is_none()
    {
        bail!("{} holds no PEM private key", key.display());
    }
    Ok(TlsMaterial {
        cert_pem,
        key_pem,
        source: cert.to_path_buf(),
    })
}

const LEAF_DAYS: i64 = 397;
const RENEW_BEFORE_DAYS: i64 = 30;

fn leaf_needs_renewal(paths: &GeneratedPaths) -> bool {
    if !(paths.cert.exists() && paths.key.exists()) {
        return true;
    }
    let Ok(text) = std::fs::read_to_string(&paths.expires) else {
        return true;
    };
    match chrono::DateTime::parse_from_rfc3339(text.trim()) {
        Ok(expires) => expires < chrono::Utc::now() + chrono::Duration::days(RENEW_BEFORE_DAYS),
        Err(_) => true,
    }
}

fn ymd(t: chrono::DateTime<chrono::Utc>) -> time::OffsetDateTime {
    use chrono::Datelike;
    rcgen::date_time_ymd(
        t.year(),
        u8::try_from(t.month()).unwrap_or(1),
        u8::try_from(t.day()).unwrap_or(1),
    )
}

/// The CA (kept across renewals so clients keep trusting it) and a key to sign with.
fn load_or_create_ca(paths: &GeneratedPaths) -> anyhow::Result<(String, Issuer<'static, KeyPair>)> {
    if let (Ok(ca_pem), Ok(key_pem)) = (
        std::fs::read_to_string(&paths.ca),
        std::fs::read_to_string(&paths.ca_key),
    ) {
        let key = KeyPair::from_pem(&key_pem).context("CA key is unreadable")?;
        let issuer =
            Issuer::from_ca_cert_pem(&ca_pem, key).context("CA certificate is unreadable")?;
        return Ok((ca_pem, issuer));
    }
    let ca_key = KeyPair::generate().context("CA key generation failed")?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    let mut ca_name = DistinguishedName::new();
    ca_name.push(DnType::CommonName, "OpsConductor local CA");
    ca_name.push(DnType::OrganizationName, "OpsConductor");
    ca_params.distinguished_name = ca_name;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let now = chrono::Utc::now();
    ca_params.not_before = ymd(now - chrono::Duration::days(1));
    ca_params.not_after = ymd(now + chrono::Duration::days(3650));
    let ca_pem = ca_params.self_signed(&ca_key)?.pem();
    std::fs::write(&paths.ca, &ca_pem)
        .with_context(|| format!("cannot write {}", paths.ca.display()))?;
    write_private_file(&paths.ca_key, ca_key.serialize_pem().as_bytes())
        .with_context(|| format!("cannot write {}", paths.ca_key.display()))?;
    Ok((ca_pem, Issuer::new(ca_params, ca_key)))
}

fn generate(paths: &GeneratedPaths) -> anyhow::Result<()> {
    if let Some(dir) = paths.cert.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let (ca_pem, issuer) = load_or_create_ca(paths)?;
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if let Ok(host) = std::fs::read_to_string("/etc/hostname") {
        let host = host.trim();
        if !host.is_empty() && !names.iter().any(|n| n == host) {
            names.push(host.to_string());
        }
    }
    let leaf_key = KeyPair::generate().context("server key generation failed")?;
    let mut leaf = CertificateParams::new(names)?;
    let mut leaf_name = DistinguishedName::new();
    leaf_name.push(DnType::CommonName, "localhost");
    leaf.distinguished_name = leaf_name;
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = chrono::Utc::now();
    let expires = now + chrono::Duration::days(LEAF_DAYS);
    leaf.not_before = ymd(now - chrono::Duration::days(1));
    leaf.not_after = ymd(expires);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;

    let chain = format!("{}{}", leaf_cert.pem(), ca_pem);
    std::fs::write(&paths.cert, chain)
        .with_context(|| format!("cannot write {}", paths.cert.display()))?;
    write_private_file(&paths.key, leaf_key.serialize_pem().as_bytes())
        .with_context(|| format!("cannot write {}", paths.key.display()))?;
    std::fs::write(&paths.expires, expires.to_rfc3339())
        .with_context(|| format!("cannot write {}", paths.expires.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreadable_or_non_pem_files_are_refused_with_the_path() {
        let dir = tempfile::tempdir().expect("tmp");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate").expect("write");
        std::fs::write(&key, "not a key").expect("write");
        let err = read_pair(&cert, &key).err().expect("refused").to_string();
        assert!(err.contains("cert.pem"), "{err}");
        let err = read_pair(&dir.path().join("missing.pem"), &key)
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("missing.pem"), "{err}");
    }

    #[test]
    fn generated_leaf_is_signed_by_a_kept_ca_and_renewed_only_when_due() {
        let dir = tempfile::tempdir().expect("tmp");
        let paths = GeneratedPaths::in_data_dir(dir.path());
        assert!(leaf_needs_renewal(&paths));
        generate(&paths).expect("generate");
        assert!(!leaf_needs_renewal(&paths));
        let ca = std::fs::read_to_string(&paths.ca).expect("ca");
        let chain = std::fs::read_to_string(&paths.cert).expect("chain");
        assert!(chain.ends_with(&ca), "the chain carries the CA");
        std::fs::write(&paths.expires, "2020-01-01T00:00:00Z").expect("write");
        assert!(leaf_needs_renewal(&paths));
        generate(&paths).expect("renew");
        assert_eq!(
            std::fs::read_to_string(&paths.ca).expect("ca"),
            ca,
            "the CA survives renewal"
        );
    }
}
