//! OpsConductor's domain: configuration, validated types and the services the API calls.
//!
//! Nothing here knows about HTTP; [`Error`] says what went wrong in terms the API layer maps
//! to status codes in one place.

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod credentials;
mod error;
pub mod jobs;
pub mod password;
pub mod runs;
pub mod secrets;
pub mod session_cache;
pub mod signals;
pub mod targets;
pub mod throttle;
pub mod tokens;
pub mod types;
pub mod users;
pub mod vault;

use std::sync::Arc;

pub use error::{Error, FieldError, Result};
pub use opsconductor_store as store;

/// Everything a service needs, built once at start and shared.
#[derive(Clone)]
pub struct Core {
    pub db: store::Db,
    pub config: Arc<config::Config>,
    pub tokens: Arc<tokens::TokenKeys>,
    pub passwords: password::Passwords,
    pub sessions: Arc<session_cache::SessionCache>,
    pub vault: Arc<vault::Vault>,
    pub signals: Arc<signals::RunSignals>,
}

impl Core {
    /// Opens the database, applies migrations and loads the signing keys: everything that
    /// must succeed before a listener binds.
    pub async fn open(config: config::Config) -> anyhow::Result<Core> {
        use anyhow::Context;
        std::fs::create_dir_all(&config.data_dir).with_context(|| {
            format!("cannot create data directory {}", config.data_dir.display())
        })?;
        let url = config.database_url();
        let db = store::Db::connect(&url, config.database_max_connections)
            .await
            .with_context(|| format!("cannot open database {}", store::redact_url(&url)))?;
        db.migrate()
            .await
            .context("cannot apply database migrations")?;
        let tokens = tokens::TokenKeys::load(&config)?;
        let vault = vault::Vault::load(&config, &db).await?;
        let sessions = session_cache::SessionCache::new(std::time::Duration::from_millis(
            config.auth.user_cache_ttl_ms,
        ));
        Ok(Core {
            sessions: Arc::new(sessions),
            vault: Arc::new(vault),
            signals: Arc::default(),
            db,
            config: Arc::new(config),
            tokens: Arc::new(tokens),
            passwords: password::Passwords::new(),
        })
    }
}
