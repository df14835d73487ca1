//! Private keys as operators paste them: OpenSSH, PKCS#1/PKCS#8/SEC1 PEM and PuTTY files,
//! encrypted or not.
//!
//! Every error is one of a fixed set of sentences. None of them quotes the input, so neither the
//! key nor the passphrase can leak into a message, a log line or an API body.

use russh::keys::ssh_key;
use russh::keys::{HashAlg, PrivateKey};

/// What an accepted private key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    /// The SSH algorithm name, e.g. `ssh-ed25519`, `ssh-rsa`, `ecdsa-sha2-nistp256`.
    pub algorithm: String,
    /// The public key's fingerprint as `ssh-keygen -l` prints it: `SHA256:` and unpadded base64.
    pub public_fingerprint: String,
    /// Whether the stored key was protected by a passphrase.
    pub encrypted: bool,
}

const EMPTY: &str = "no private key was given";
const NEEDS_PASSPHRASE: &str = "the private key is encrypted: a passphrase is required";
const WRONG_PASSPHRASE: &str =
    "the passphrase does not decrypt the private key (wrong passphrase, or the key is damaged)";
const DAMAGED: &str = "the private key could not be read: the text is damaged or incomplete";
const PUBLIC_KEY: &str =
    "this is a public key; give the private key (the key file without the .pub suffix)";
const CERTIFICATE: &str = "this is a certificate, not a private key";
const NOT_A_KEY: &str = "this is not a private key: expected a PEM block such as '-----BEGIN OPENSSH PRIVATE KEY-----' or a PuTTY key file";
const DSA: &str = "DSA keys are not supported; use an Ed25519, ECDSA or RSA key";
const LEGACY_CIPHER: &str = "this key is encrypted with a legacy PEM cipher that is not supported; convert it to the OpenSSH format with `ssh-keygen -p -f KEYFILE`";
const UNSUPPORTED_ALGORITHM: &str =
    "the key algorithm is not supported; use an Ed25519, ECDSA or RSA key";

/// Parses a private key and checks its passphrase.
///
/// `Err` holds a sentence for the operator that says what is wrong (encrypted but no passphrase,
/// wrong passphrase, not a key, ...) and never contains key material or the passphrase. An empty
/// passphrase counts as none. Decrypting an OpenSSH key runs bcrypt-pbkdf, which takes a noticeable
/// moment on purpose: call this from `spawn_blocking` on an async runtime.
pub fn check_private_key(pem: &str, passphrase: Option<&str>) -> Result<KeyInfo, String> {
    decode(pem, passphrase).map(|decoded| KeyInfo {
        algorithm: decoded.key.algorithm().as_str().to_owned(),
        public_fingerprint: decoded
            .key
            .public_key()
            .fingerprint(HashAlg::Sha256)
            .to_string(),
        encrypted: decoded.encrypted,
    })
}

pub(crate) struct DecodedKey {
    pub(crate) key: PrivateKey,
    pub(crate) encrypted: bool,
}

/// Decodes (and if needed decrypts) a private key; errors are the fixed sentences above.
pub(crate) fn decode(pem: &str, passphrase: Option<&str>) -> Result<DecodedKey, String> {
    let passphrase = passphrase.filter(|p| !p.is_empty());
    let text = normalize(pem);
    let Some(first) = text.lines().next() else {
        return Err(EMPTY.to_owned());
    };

    if first.starts_with("PuTTY-User-Key-File-") {
        return decode_ppk(&text, passphrase);
    }
    if looks_like_public_key(first) {
        return Err(PUBLIC_KEY.to_owned());
    }
    let Some(label) = first
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.strip_suffix("-----"))
    else {
        return Err(NOT_A_KEY.to_owned());
    };
    match label {
        "OPENSSH PRIVATE KEY" => decode_openssh(&text, passphrase),
        "RSA PRIVATE KEY" | "EC PRIVATE KEY" | "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" => {
            decode_pem(&text, label, passphrase)
        }
        "DSA PRIVATE KEY" => Err(DSA.to_owned()),
        "PUBLIC KEY" | "RSA PUBLIC KEY" | "SSH2 PUBLIC KEY" => Err(PUBLIC_KEY.to_owned()),
        "CERTIFICATE" | "TRUSTED CERTIFICATE" | "CERTIFICATE REQUEST" => {
            Err(CERTIFICATE.to_owned())
        }
        _ => Err(NOT_A_KEY.to_owned()),
    }
}

/// Undoes what copy and paste does to a key: CRLF line ends, indentation, blank lines.
fn normalize(pem: &str) -> String {
    let mut out = String::with_capacity(pem.len());
    for line in pem.lines().map(str::trim).filter(|l| !l.is_empty()) {
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn looks_like_public_key(first_line: &str) -> bool {
    ["ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"]
        .iter()
        .any(|prefix| first_line.starts_with(prefix))
        && first_line.contains(' ')
}

fn decode_openssh(text: &str, passphrase: Option<&str>) -> Result<DecodedKey, String> {
    let key = PrivateKey::from_openssh(text).map_err(|e| match e {
        ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. } => {
            UNSUPPORTED_ALGORITHM.to_owned()
        }
        _ => DAMAGED.to_owned(),
    })?;
    if !key.is_encrypted() {
        return Ok(DecodedKey {
            key,
            encrypted: false,
        });
    }
    let Some(passphrase) = passphrase else {
        return Err(NEEDS_PASSPHRASE.to_owned());
    };
    match key.decrypt(passphrase) {
        Ok(key) => Ok(DecodedKey {
            key,
            encrypted: true,
        }),
        Err(ssh_key::Error::Crypto) => Err(WRONG_PASSPHRASE.to_owned()),
        Err(ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. }) => {
            Err("the key is encrypted with a cipher or KDF that is not supported".to_owned())
        }
        Err(_) => Err(WRONG_PASSPHRASE.to_owned()),
    }
}

/// PKCS#1 (`RSA PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) and PKCS#8, the latter two possibly
/// encrypted. russh decodes them; this decides up front whether a passphrase is needed, because
/// russh would otherwise misread some combinations (a passphrase given for a plain PKCS#8 key, or
/// a legacy encrypted EC key taken for RSA).
fn decode_pem(text: &str, label: &str, passphrase: Option<&str>) -> Result<DecodedKey, String> {
    let legacy_encrypted = text
        .lines()
        .any(|l| l.starts_with("Proc-Type:") && l.contains("ENCRYPTED"));
    let encrypted = legacy_encrypted || label == "ENCRYPTED PRIVATE KEY";
    if legacy_encrypted {
        // russh implements only the AES-128-CBC flavour of OpenSSL's old PEM encryption, and
        // only for RSA keys.
        let aes128 = text
            .lines()
            .any(|l| l.starts_with("DEK-Info: AES-128-CBC,"));
        if !aes128 || label != "RSA PRIVATE KEY" {
            return Err(LEGACY_CIPHER.to_owned());
        }
    }
    let passphrase = if encrypted {
        Some(passphrase.ok_or_else(|| NEEDS_PASSPHRASE.to_owned())?)
    } else {
        None
    };
    match russh::keys::decode_secret_key(text, passphrase) {
        Ok(key) => Ok(DecodedKey { key, encrypted }),
        Err(russh::keys::Error::KeyIsEncrypted) => Err(NEEDS_PASSPHRASE.to_owned()),
        Err(
            russh::keys::Error::UnknownAlgorithm(_) | russh::keys::Error::UnsupportedKeyType { .. },
        ) => Err(UNSUPPORTED_ALGORITHM.to_owned()),
        Err(_) if encrypted => Err(WRONG_PASSPHRASE.to_owned()),
        Err(_) => Err(DAMAGED.to_owned()),
    }
}

fn decode_ppk(text: &str, passphrase: Option<&str>) -> Result<DecodedKey, String> {
    let encrypted = text
        .lines()
        .any(|l| l.starts_with("Encryption:") && !l.ends_with("none"));
    if encrypted && passphrase.is_none() {
        return Err(NEEDS_PASSPHRASE.to_owned());
    }
    let passphrase = if encrypted { passphrase } else { None };
    match PrivateKey::from_ppk(text, passphrase.map(str::to_owned)) {
        Ok(key) => Ok(DecodedKey { key, encrypted }),
        Err(ssh_key::Error::AlgorithmUnknown | ssh_key::Error::AlgorithmUnsupported { .. }) => {
            Err(UNSUPPORTED_ALGORITHM.to_owned())
        }
        Err(_) if encrypted => Err(WRONG_PASSPHRASE.to_owned()),
        Err(_) => Err(DAMAGED.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_and_blank_input_say_no_key_was_given() {
        assert_eq!(check_private_key("", None), Err(EMPTY.to_owned()));
        assert_eq!(check_private_key(" \r\n\n ", None), Err(EMPTY.to_owned()));
    }

    #[test]
    fn a_public_key_line_is_recognised_as_such() {
        let public = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJdD7y3aLq454yWBdwLWbieU1ebz9/cu7/QEXn9OIeZJ me@host";
        let err = check_private_key(public, None).expect_err("must be rejected");
        assert_eq!(err, PUBLIC_KEY);
        assert!(!err.contains("AAAA"));
    }

    #[test]
    fn arbitrary_text_is_not_a_key_and_is_not_echoed() {
        let err = check_private_key("hunter2 correct horse battery staple", None)
            .expect_err("must be rejected");
        assert_eq!(err, NOT_A_KEY);
    }

    #[test]
    fn a_certificate_is_not_a_private_key() {
        let err = check_private_key(
            "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
            None,
        )
        .expect_err("must be rejected");
        assert_eq!(err, CERTIFICATE);
    }

    #[test]
    fn a_truncated_openssh_key_is_reported_damaged() {
        let err = check_private_key(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----\n",
            None,
        )
        .expect_err("must be rejected");
        assert_eq!(err, DAMAGED);
    }

    #[test]
    fn legacy_des_encrypted_pem_asks_for_conversion() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: DES-EDE3-CBC,0123456789ABCDEF\n\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert_eq!(
            check_private_key(pem, Some("x")),
            Err(LEGACY_CIPHER.to_owned())
        );
    }

    #[test]
    fn encrypted_pkcs8_without_passphrase_asks_for_one() {
        let pem = "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIGjMF8GCSqGSIb3DQEFDTBSMDEGCSqGSIb3DQEFDDAkBBAWQiUHKoocuxfoZ/hF\nYTjkAgIIADAMBggqhkiG9w0CCQUAMB0GCWCGSAFlAwQBKgQQ83d1d5/S2wz475uC\nCUrE7QRAvdVpD5e3zKH/MZjilWrMOm6cyI1LKBCssLztPyvOALtroLAPlp7WYWfu\n9Sncmm7u14n2lia7r1r5I3VBsVuH0g==\n-----END ENCRYPTED PRIVATE KEY-----\n";
        assert_eq!(
            check_private_key(pem, None),
            Err(NEEDS_PASSPHRASE.to_owned())
        );
        assert_eq!(
            check_private_key(pem, Some("wrong")),
            Err(WRONG_PASSPHRASE.to_owned())
        );
        let info = check_private_key(pem, Some("blabla")).expect("russh's own test key");
        assert_eq!(info.algorithm, "ssh-ed25519");
        assert!(info.encrypted);
        assert!(info.public_fingerprint.starts_with("SHA256:"));
    }
}
