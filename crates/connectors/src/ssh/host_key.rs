//! Host key pinning: the russh handler that accepts or rejects the server's key during the key
//! exchange, before any credential is sent.

use std::sync::{Arc, Mutex, PoisonError};

use russh::keys::{HashAlg, PublicKeyOrCertificate};

/// The host key a server presented, as OpenSSH shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PresentedKey {
    pub(crate) fingerprint: String,
    pub(crate) algorithm: String,
}

/// Checks the server's host key against the pin; with no pin, accepts it (trust on first use) and
/// the caller stores the fingerprint it reports.
///
/// russh consults the handler during the first key exchange, inside `connect_stream`, so a
/// rejected key ends the connection before authentication starts: a password never reaches a
/// host whose key changed.
pub(crate) struct HostKeyCheck {
    pinned: Option<String>,
    presented: Arc<Mutex<Option<PresentedKey>>>,
}

impl HostKeyCheck {
    /// The handler, and a slot where it leaves the key the server presented (russh keeps the
    /// handler, so this is how the key gets back to the caller, accepted or not).
    pub(crate) fn new(pinned: Option<String>) -> (Self, Arc<Mutex<Option<PresentedKey>>>) {
        let presented = Arc::new(Mutex::new(None));
        let check = Self {
            pinned,
            presented: Arc::clone(&presented),
        };
        (check, presented)
    }
}

impl russh::client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        server_public_key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // For a host certificate the pin is on the certified key, as in known_hosts.
        let key = server_public_key.public_key();
        let presented = PresentedKey {
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            algorithm: key.algorithm().as_str().to_owned(),
        };
        let accepted = self
            .pinned
            .as_deref()
            .is_none_or(|pin| fingerprints_match(pin, &presented.fingerprint));
        *self
            .presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(presented);
        Ok(accepted)
    }
}

/// Compares a stored pin with a presented `SHA256:` fingerprint, forgiving what copying from other
/// tools adds: surrounding blanks, base64 padding, a lower-case `sha256:` prefix. The digest itself
/// is compared exactly (base64 is case-sensitive).
pub(crate) fn fingerprints_match(pinned: &str, presented: &str) -> bool {
    fn canonical(fp: &str) -> Option<&str> {
        let fp = fp.trim();
        let (prefix, digest) = fp.split_once(':')?;
        prefix
            .eq_ignore_ascii_case("SHA256")
            .then(|| digest.trim_end_matches('='))
    }
    match (canonical(pinned), canonical(presented)) {
        (Some(a), Some(b)) => !a.is_empty() && a == b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::fingerprints_match;

    const FP: &str = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

    #[test]
    fn identical_fingerprints_match() {
        assert!(fingerprints_match(FP, FP));
    }

    #[test]
    fn padding_blanks_and_prefix_case_are_forgiven() {
        let pasted = " sha256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s=\n";
        assert!(fingerprints_match(pasted, FP));
    }

    #[test]
    fn digest_case_and_other_hashes_do_not_match() {
        assert!(!fingerprints_match(&FP.to_lowercase(), FP));
        assert!(!fingerprints_match(
            "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
            FP
        ));
        assert!(!fingerprints_match("SHA256:", "SHA256:"));
        assert!(!fingerprints_match("", FP));
    }
}
