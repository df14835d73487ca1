//! The credential vault: which master keys are loaded, start-up checks, sealing and opening
//! credentials, and online master key rotation.
//!
//! The master key comes from `OPSCONDUCTOR_MASTER_KEY`, `OPSCONDUCTOR_MASTER_KEY_FILE`, or
//! `<data_dir>/master.key` (created on first start). A key file is re-read when a credential
//! names a key id that is not loaded, which is how running servers pick up a rotation
//! (`opsconductor admin rotate-master-key`) without a restart.

pub mod crypto;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::{Context, bail};
use opsconductor_store::Db;
use opsconductor_store::credentials::{self as store, CredentialRecord, Sealed, VaultMeta};

use crate::config::Config;
use crate::secrets::write_private_file;
pub use crypto::{MasterKey, OpenError};

/// Where the master key lives.
#[derive(Debug, Clone)]
enum KeySource {
    /// Given verbatim (environment or TOML): cannot change under a running server.
    Inline,
    /// A file, re-read on an unknown key id; `<file>.previous` holds the old key mid-rotation.
    File(PathBuf),
}

struct Keyring {
    current: Arc<MasterKey>,
    others: HashMap<String, Arc<MasterKey>>,
}

/// The loaded master key(s).
pub struct Vault {
    source: KeySource,
    keys: RwLock<Keyring>,
}

fn previous_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".previous");
    PathBuf::from(name)
}

fn read_key(path: &Path) -> anyhow::Result<MasterKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read master key file {}", path.display()))?;
    MasterKey::parse(&text).map_err(|e| anyhow::anyhow!("master key file {}: {e}", path.display()))
}

impl Vault {
    /// Loads the master key and checks it against the database: a wrong or missing key stops
    /// start-up with a message that says which key the vault expects.
    pub async fn load(config: &Config, db: &Db) -> anyhow::Result<Self> {
        let default_file = config.data_dir.join("master.key");
        let (source, current) = match (&config.master_key_file, &config.master_key) {
            (Some(path), _) => (KeySource::File(path.clone()), read_key(path)?),
            (None, Some(inline)) => (
                KeySource::Inline,
                MasterKey::parse(inline.expose())
                    .map_err(|e| anyhow::anyhow!("OPSCONDUCTOR_MASTER_KEY: {e}"))?,
            ),
            (None, None) if default_file.exists() => (
                KeySource::File(default_file.clone()),
                read_key(&default_file)?,
            ),
            (None, None) => {
                if let Some(meta) = store::vault_meta(db).await? {
                    bail!(
                        "the vault holds credentials sealed with master key {}, but no master key is configured: \
                         set OPSCONDUCTOR_MASTER_KEY or OPSCONDUCTOR_MASTER_KEY_FILE, or restore {}",
                        meta.key_id,
                        default_file.display()
                    );
                }
                let (key, text) = MasterKey::generate();
                write_private_file(&default_file, format!("{text}\n").as_bytes())
                    .with_context(|| format!("cannot write {}", default_file.display()))?;
                tracing::warn!(
                    file = %default_file.display(),
                    key_id = key.id(),
                    "generated a new vault master key: back this file up; without it no credential can be read"
                );
                (KeySource::File(default_file), key)
            }
        };
        let vault = Self {
            source,
            keys: RwLock::new(Keyring {
                current: Arc::new(current),
                others: HashMap::new(),
            }),
        };
        vault.load_previous();
        vault.check_against(db).await?;
        Ok(vault)
    }

    fn load_previous(&self) {
        if let KeySource::File(path) = &self.source {
            let previous = previous_path(path);
            if previous.exists() {
                match read_key(&previous) {
                    Ok(key) => {
                        let mut keys = self.write_keys();
                        keys.others.insert(key.id().to_string(), Arc::new(key));
                    }
                    Err(err) => {
                        tracing::error!(error = %err, "cannot read the previous master key")
                    }
                }
            }
        }
    }

    async fn check_against(&self, db: &Db) -> anyhow::Result<()> {
        let current = self.current();
        match store::vault_meta(db).await? {
            Some(meta) => match self.key(&meta.key_id) {
                Some(key) if key.opens_check(&meta.check_nonce, &meta.check_ciphertext) => {}
                Some(_) => bail!(
                    "the master key with id {} does not open the vault's key check",
                    meta.key_id
                ),
                None => bail!(
                    "wrong master key: the vault was sealed with key {}, but the configured key is {}",
                    meta.key_id,
                    current.id()
                ),
            },
            None => {
                let (check_nonce, check_ciphertext) = current.seal_check();
                store::put_vault_meta(
                    db,
                    &VaultMeta {
                        key_id: current.id().to_string(),
                        check_nonce,
                        check_ciphertext,
                    },
                )
                .await?;
            }
        }
        for record in store::all(db).await? {
            if self.key(&record.key_id).is_none() {
                bail!(
                    "credential {} is sealed with master key {}, which is not configured (current key {})",
                    record.id,
                    record.key_id,
                    current.id()
                );
            }
        }
        Ok(())
    }

    fn read_keys(&self) -> std::sync::RwLockReadGuard<'_, Keyring> {
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write_keys(&self) -> std::sync::RwLockWriteGuard<'_, Keyring> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The key new credentials are sealed with.
    pub fn current(&self) -> Arc<MasterKey> {
        Arc::clone(&self.read_keys().current)
    }

    fn lookup(&self, key_id: &str) -> Option<Arc<MasterKey>> {
        let keys = self.read_keys();
        if keys.current.id() == key_id {
            return Some(Arc::clone(&keys.current));
        }
        keys.others.get(key_id).cloned()
    }

    /// The key with `key_id`, re-reading the key file once if it is not loaded (a rotation
    /// happened elsewhere).
    pub fn key(&self, key_id: &str) -> Option<Arc<MasterKey>> {
        if let Some(key) = self.lookup(key_id) {
            return Some(key);
        }
        if let KeySource::File(path) = &self.source {
            match read_key(path) {
                Ok(fresh) if fresh.id() == key_id => {
                    let fresh = Arc::new(fresh);
                    let mut keys = self.write_keys();
                    let old = std::mem::replace(&mut keys.current, Arc::clone(&fresh));
                    keys.others.insert(old.id().to_string(), old);
                    tracing::info!(key_id, "picked up a rotated vault master key");
                    return Some(fresh);
                }
                Ok(_) => {}
                Err(err) => tracing::error!(error = %err, "cannot re-read the master key file"),
            }
            self.load_previous();
            return self.lookup(key_id);
        }
        None
    }

    /// Seals a credential's plaintext with the current master key.
    pub fn seal(&self, id: i64, credential_type: &str, plaintext: &[u8]) -> Result<Sealed, String> {
        crypto::seal(&self.current(), id, credential_type, plaintext)
    }

    /// Opens a stored credential.
    pub fn open(&self, record: &CredentialRecord) -> Result<Vec<u8>, OpenError> {
        let key = self
            .key(&record.key_id)
            .ok_or_else(|| OpenError::UnknownKey(record.key_id.clone()))?;
        let dek = key.unwrap(
            &record.dek_nonce,
            &record.dek_wrapped,
            record.id,
            &record.credential_type,
        )?;
        crypto::open_with_dek(
            &dek,
            record.id,
            &record.credential_type,
            &record.data_nonce,
            &record.data_ciphertext,
        )
    }
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotation {
    pub old_key_id: String,
    pub new_key_id: String,
    pub rewrapped: usize,
    /// Where the new key was written (a file-based key), or `None` for an inline key.
    pub key_file: Option<PathBuf>,
}

/// Re-wraps every data key under a new master key. Plaintext secrets never leave memory:
/// only the 32-byte data keys are unwrapped and re-wrapped. For a file-based key the new key
/// replaces the file first (the old one is kept as `<file>.previous` until the end), so
/// running servers can open rows of either key throughout.
pub async fn rotate(
    config: &Config,
    db: &Db,
    new_key_text: Option<String>,
) -> anyhow::Result<Rotation> {
    let vault = Vault::load(config, db).await?;
    let old = vault.current();
    let (new_key, new_text) = match new_key_text {
        Some(text) => (
            MasterKey::parse(&text).map_err(|e| anyhow::anyhow!("new master key: {e}"))?,
            text.trim().to_string(),
        ),
        None => MasterKey::generate(),
    };
    if new_key.id() == old.id() {
        bail!("the new master key is the current one");
    }
    let key_file = match &vault.source {
        KeySource::File(path) => {
            let previous = previous_path(path);
            let old_text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            write_private_file(&previous, old_text.as_bytes())
                .with_context(|| format!("cannot write {}", previous.display()))?;
            let staged = path.with_extension("new");
            write_private_file(&staged, format!("{new_text}\n").as_bytes())
                .with_context(|| format!("cannot write {}", staged.display()))?;
            std::fs::rename(&staged, path)
                .with_context(|| format!("cannot replace {}", path.display()))?;
            Some(path.clone())
        }
        KeySource::Inline => None,
    };
    let mut rewrapped = 0;
    for record in store::all(db).await? {
        if record.key_id == new_key.id() {
            continue;
        }
        let key = vault.key(&record.key_id).ok_or_else(|| {
            anyhow::anyhow!(
                "credential {} uses unknown master key {}",
                record.id,
                record.key_id
            )
        })?;
        let dek = key
            .unwrap(
                &record.dek_nonce,
                &record.dek_wrapped,
                record.id,
                &record.credential_type,
            )
            .map_err(|e| anyhow::anyhow!("credential {} ({}): {e}", record.id, record.name))?;
        let (nonce, wrapped) = new_key.wrap(&dek, record.id, &record.credential_type);
        if store::rewrap(
            db,
            record.id,
            &record.key_id,
            new_key.id(),
            &nonce,
            &wrapped,
        )
        .await?
        {
            rewrapped += 1;
        }
    }
    let (check_nonce, check_ciphertext) = new_key.seal_check();
    store::put_vault_meta(
        db,
        &VaultMeta {
            key_id: new_key.id().to_string(),
            check_nonce,
            check_ciphertext,
        },
    )
    .await?;
    if let Some(path) = &key_file {
        let previous = previous_path(path);
        std::fs::remove_file(&previous)
            .with_context(|| format!("cannot remove {}", previous.display()))?;
    }
    Ok(Rotation {
        old_key_id: old.id().to_string(),
        new_key_id: new_key.id().to_string(),
        rewrapped,
        key_file,
    })
}
