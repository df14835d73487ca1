//! AES-256-GCM envelope encryption: a random data key per credential seals its secret; the
//! master key wraps the data key. Both layers carry the credential's id and type as
//! associated data, so a ciphertext moved to another row, or relabelled, fails to open.

use aes_gcm::aead::{Aead, KeyInit, OsRng, Payload};
use aes_gcm::{AeadCore, Aes256Gcm, Key, Nonce};
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use opsconductor_store::credentials::Sealed;

/// A 256-bit master key and its public id (a fingerprint, safe to store and log).
pub struct MasterKey {
    id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey({})", self.id)
    }
}

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    #[error("sealed with master key {0}, which is not loaded")]
    UnknownKey(String),
    #[error("failed its integrity check (altered, or moved from another record)")]
    Integrity,
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let mut h = Sha256::new();
        h.update(b"opsconductor-master-key-id\0");
        h.update(bytes);
        let id = hex::encode(&h.finalize()[..8]);
        Self {
            id,
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(bytes)),
        }
    }

    /// Parses a key written as base64 or hex of exactly 32 bytes.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
            hex::decode(text).map_err(|_| "not valid hex".to_string())?
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(text)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| {
                    "the master key must be 32 bytes written as base64 or 64 hex digits".to_string()
                })?
        };
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|v: Vec<u8>| format!("the master key must be 32 bytes, not {}", v.len()))?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A fresh random key and its base64 text.
    pub fn generate() -> (Self, String) {
        let mut bytes = [0u8; 32];
        OsRng.fill_bytes(&mut bytes);
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        (Self::from_bytes(&bytes), text)
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals a small known value, to check at start-up that this is the vault's key.
    pub fn seal_check(&self) -> (Vec<u8>, Vec<u8>) {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: CHECK,
                    aad: self.id.as_bytes(),
                },
            )
            .unwrap_or_default();
        (nonce.to_vec(), sealed)
    }

    pub fn opens_check(&self, nonce: &[u8], sealed: &[u8]) -> bool {
        nonce.len() == 12
            && self
                .cipher
                .decrypt(
                    Nonce::from_slice(nonce),
                    Payload {
                        msg: sealed,
                        aad: self.id.as_bytes(),
                    },
                )
                .is_ok_and(|v| v == CHECK)
    }

    /// Wraps a data key for one credential.
    pub fn wrap(
        &self,
        dek: &[u8; 32],
        credential_id: i64,
        credential_type: &str,
    ) -> (Vec<u8>, Vec<u8>) {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = dek_aad(credential_id, credential_type);
        let wrapped = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: dek,
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        (nonce.to_vec(), wrapped)
    }

    /// Unwraps a data key.
    pub fn unwrap(
        &self,
        nonce: &[u8],
        wrapped: &[u8],
        credential_id: i64,
        credential_type: &str,
    ) -> Result<[u8; 32], OpenError> {
        if nonce.len() != 12 {
            return Err(OpenError::Integrity);
        }
        let aad = dek_aad(credential_id, credential_type);
        let dek = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: wrapped,
                    aad: &aad,
                },
            )
            .map_err(|_| OpenError::Integrity)?;
        dek.try_into().map_err(|_| OpenError::Integrity)
    }
}

const CHECK: &[u8] = b"opsconductor vault key check v1";

fn dek_aad(id: i64, credential_type: &str) -> Vec<u8> {
    format!("opsconductor:dek:v1:{id}:{credential_type}").into_bytes()
}

fn data_aad(id: i64, credential_type: &str) -> Vec<u8> {
    format!("opsconductor:credential:v1:{id}:{credential_type}").into_bytes()
}

/// Seals `plaintext` for credential `id` of `credential_type` under `master`.
pub fn seal(
    master: &MasterKey,
    id: i64,
    credential_type: &str,
    plaintext: &[u8],
) -> Result<Sealed, String> {
    let mut dek = [0u8; 32];
    OsRng.fill_bytes(&mut dek);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&dek));
    let data_nonce = Aes256Gcm::generate_nonce(&mut OsRng);
    let aad = data_aad(id, credential_type);
    let data_ciphertext = cipher
        .encrypt(
            &data_nonce,
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .map_err(|_| "encryption failed".to_string())?;
    let (dek_nonce, dek_wrapped) = master.wrap(&dek, id, credential_type);
    if dek_wrapped.is_empty() {
        return Err("data key wrapping failed".into());
    }
    Ok(Sealed {
        key_id: master.id().to_string(),
        dek_nonce,
        dek_wrapped,
        data_nonce: data_nonce.to_vec(),
        data_ciphertext,
    })
}

/// Opens a sealed secret with the data key already unwrapped.
pub fn open_with_dek(
    dek: &[u8; 32],
    id: i64,
    credential_type: &str,
    nonce: &[u8],
    ciphertext: &[u8],
) -> Result<Vec<u8>, OpenError> {
    if nonce.len() != 12 {
        return Err(OpenError::Integrity);
    }
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(dek));
    let aad = data_aad(id, credential_type);
    cipher
        .decrypt(
            Nonce::from_slice(nonce),
            Payload {
                msg: ciphertext,
                aad: &aad,
            },
        )
        .map_err(|_| OpenError::Integrity)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(master: &MasterKey, id: i64, ty: &str, s: &Sealed) -> Result<Vec<u8>, OpenError> {
        let dek = master.unwrap(&s.dek_nonce, &s.dek_wrapped, id, ty)?;
        open_with_dek(&dek, id, ty, &s.data_nonce, &s.data_ciphertext)
    }

    #[test]
    fn round_trip() {
        let (master, _) = MasterKey::generate();
        let sealed = seal(&master, 7, "ssh", b"{\"password\":\"p\"}").expect("seal");
        assert_eq!(sealed.key_id, master.id());
        assert_eq!(
            open(&master, 7, "ssh", &sealed).expect("open"),
            b"{\"password\":\"p\"}"
        );
        assert!(!sealed.data_ciphertext.windows(4).any(|w| w == b"pass"));
    }

    #[test]
    fn a_modified_ciphertext_fails() {
        let (master, _) = MasterKey::generate();
        let mut sealed = seal(&master, 1, "ssh", b"secret").expect("seal");
        sealed.data_ciphertext[0] ^= 1;
        assert_eq!(open(&master, 1, "ssh", &sealed), Err(OpenError::Integrity));
        let mut sealed = seal(&master, 1, "ssh", b"secret").expect("seal");
        sealed.dek_wrapped[3] ^= 0x80;
        assert_eq!(open(&master, 1, "ssh", &sealed), Err(OpenError::Integrity));
    }

    #[test]
    fn a_swapped_id_or_type_fails() {
        let (master, _) = MasterKey::generate();
        let sealed = seal(&master, 1, "ssh", b"secret").expect("seal");
        assert_eq!(open(&master, 2, "ssh", &sealed), Err(OpenError::Integrity));
        assert_eq!(
            open(&master, 1, "api_key", &sealed),
            Err(OpenError::Integrity)
        );
    }

    #[test]
    fn another_master_key_fails_and_the_check_tells_keys_apart() {
        let (a, _) = MasterKey::generate();
        let (b, _) = MasterKey::generate();
        let sealed = seal(&a, 1, "ssh", b"secret").expect("seal");
        assert_eq!(open(&b, 1, "ssh", &sealed), Err(OpenError::Integrity));
        let (nonce, check) = a.seal_check();
        assert!(a.opens_check(&nonce, &check));
        assert!(!b.opens_check(&nonce, &check));
        assert_ne!(a.id(), b.id());
    }

    #[test]
    fn keys_parse_from_base64_or_hex_and_nothing_else() {
        let (key, text) = MasterKey::generate();
        assert_eq!(MasterKey::parse(&text).expect("base64").id(), key.id());
        let hex_text = hex::encode([9u8; 32]);
        assert_eq!(
            MasterKey::parse(&hex_text).expect("hex").id(),
            MasterKey::from_bytes(&[9u8; 32]).id()
        );
        assert!(MasterKey::parse("too-short").is_err());
        assert!(
            MasterKey::parse(&base64::engine::general_purpose::STANDARD.encode([1u8; 16])).is_err()
        );
    }
}
