//! Typed configuration: defaults → optional TOML file → `OPSCONDUCTOR_*` environment
//! (`__` for nesting) → command-line overrides. Built once at start and passed down; nothing
//! else reads the environment.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::secrets::Secret;

/// The whole configuration of one node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Config {
    /// Where the SQLite database, generated certificates and keys live.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; defaults to `<data_dir>/opsconductor.db`.
    pub database_url: Option<String>,
    /// Connection pool size.
    pub database_max_connections: u32,
    /// HTTPS address; port 0 picks a free port.
    pub listen: String,
    /// Plain-HTTP address that redirects to HTTPS, or `off`.
    pub http_listen: String,
    pub tls: TlsConfig,
    pub master_key: Option<Secret>,
    pub master_key_file: Option<PathBuf>,
    /// Password for the first `admin` when the database has no users.
    pub admin_password: Option<Secret>,
    pub admin_password_file: Option<PathBuf>,
    /// Comma-separated roles this node runs: api, worker, scheduler, notifier.
    pub roles: String,
    /// tracing filter, e.g. `info` or `opsconductor=debug`.
    pub log: String,
    pub auth: AuthConfig,
    pub http: HttpConfig,
    pub engine: EngineConfig,
}

/// The run engine of a node with the `worker` role.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {
    /// Runs one worker executes at the same time.
    pub max_concurrent_runs: u32,
    /// Target executions (SSH sessions, HTTP calls) one worker runs at the same time across
    /// all its runs; each job's `maxParallel` applies within this.
    pub max_parallel_targets: u32,
    /// How often a worker renews the lease on each of its runs (and learns of cancels from
    /// other nodes).
    pub heartbeat_interval_ms: u64,
    /// A run whose lease is this old is taken to have lost its worker and is failed.
    pub lease_timeout_secs: u64,
    /// On shutdown, how long in-flight runs may take to finish before they are handed back
    /// to the queue.
    pub shutdown_grace_secs: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrent_runs: 16,
            max_parallel_targets: 100,
            heartbeat_interval_ms: 2000,
            lease_timeout_secs: 30,
            shutdown_grace_secs: 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct TlsConfig {
    /// `on` (default) or `off` to serve plain HTTP behind a TLS-terminating proxy.
    pub mode: TlsMode,
    /// Operator-supplied certificate chain (PEM); generated self-signed when absent.
    pub cert: Option<PathBuf>,
    /// Operator-supplied private key (PEM).
    pub key: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    On,
    Off,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct AuthConfig {
    /// Lets anyone create a viewer account with `POST /api/register`.
    pub allow_registration: bool,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    /// HS256 signing secret; every API node must share it. Generated into the data dir if unset.
    pub jwt_secret: Option<Secret>,
    pub jwt_secret_file: Option<PathBuf>,
    pub min_password_length: usize,
    /// Failed logins per username within the window before the username is locked.
    pub max_failures_per_user: u32,
    /// Failed logins per client IP within the window before the IP is locked.
    pub max_failures_per_ip: u32,
    pub failure_window_secs: u64,
    /// How long a lock lasts once it is triggered.
    pub lockout_secs: u64,
    /// How long another API node may keep using a user's role and token version before
    /// re-reading them (local changes apply at once); 0 re-reads on every request.
    pub user_cache_ttl_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct HttpConfig {
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Take the client IP from `X-Forwarded-For` (only behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How often a live viewer (SSE) re-reads its run unwoken: only a safety net, since every
    /// write wakes viewers at once (in-process, and on PostgreSQL on every node by NOTIFY).
    pub live_poll_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            database_url: None,
            database_max_connections: 8,
            listen: "0.0.0.0:8443".into(),
            http_listen: "0.0.0.0:8080".into(),
            tls: TlsConfig::default(),
            master_key: None,
            master_key_file: None,
            admin_password: None,
            admin_password_file: None,
            roles: "api,worker,scheduler,notifier".into(),
            log: "info".into(),
            auth: AuthConfig::default(),
            http: HttpConfig::default(),
            engine: EngineConfig::default(),
        }
    }
}

impl Default for TlsConfig {
    fn default() -> Self {
        Self {
            mode: TlsMode::On,
            cert: None,
            key: None,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            allow_registration: false,
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 7 * 24 * 3600,
            jwt_secret: None,
            jwt_secret_file: None,
            min_password_length: 8,
            max_failures_per_user: 5,
            max_failures_per_ip: 10,
            failure_window_secs: 900,
            lockout_secs: 900,
            user_cache_ttl_ms: 1000,
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            body_limit_bytes: 1024 * 1024,
            trust_forwarded_for: false,
            live_poll_ms: 1000,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Overrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roles: Option<String>,
}

/// Secret variables taken verbatim: figment parses other values as structured data, which
/// would turn a password such as `[x]` into a list or `0012345678` into a number.
const VERBATIM_SECRETS: [&str; 3] = ["admin_password", "master_key", "auth__jwt_secret"];

/// Variables that belong to the test suite, not to the server.
fn is_test_variable(key: &str) -> bool {
    key.starts_with("test_") || key.contains("_test_")
}

/// Maps an `OPSCONDUCTOR_*` name (prefix stripped, lowercased) to its configuration key.
fn env_key(key: &str) -> String {
    match key {
        "tls" => "tls.mode".into(),
        "tls_cert" => "tls.cert".into(),
        "tls_key" => "tls.key".into(),
        other => other.replace("__", "."),
    }
}

impl Config {
    /// Loads the layered configuration and resolves `*_file` secrets. Returns the config and
    /// the keys it did not recognise (the caller warns about them once logging is up).
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<(Self, Vec<String>)> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(path) = file {
            if !path.exists() {
                bail!("configuration file {} does not exist", path.display());
            }
            figment = figment.merge(Toml::file(path));
        }
        figment = figment
            .merge(
                Env::prefixed("OPSCONDUCTOR_")
                    .filter(|k| {
                        let k = k.as_str().to_ascii_lowercase();
                        !is_test_variable(&k) && !VERBATIM_SECRETS.contains(&k.as_str())
                    })
                    .map(|k| env_key(&k.as_str().to_ascii_lowercase()).into()),
            )
            .merge(Serialized::defaults(overrides));
        let unknown = unknown_keys(&figment);
        let mut config: Config = figment.extract().context("invalid configuration")?;
        config.read_verbatim_secrets();
        config.resolve_secret_files()?;
        config.validate()?;
        Ok((config, unknown))
    }

    /// A configuration for tests and tools: defaults with the given data directory.
    pub fn with_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            ..Self::default()
        }
    }

    fn read_verbatim_secrets(&mut self) {
        let var =
            |name: &str| std::env::var(format!("OPSCONDUCTOR_{}", name.to_ascii_uppercase())).ok();
        if let Some(v) = var(VERBATIM_SECRETS[0]) {
            self.admin_password = Some(Secret::new(v));
        }
        if let Some(v) = var(VERBATIM_SECRETS[1]) {
            self.master_key = Some(Secret::new(v));
        }
        if let Some(v) = var(VERBATIM_SECRETS[2]) {
            self.auth.jwt_secret = Some(Secret::new(v));
        }
    }

    fn resolve_secret_files(&mut self) -> anyhow::Result<()> {
        fn read(path: &Path, what: &str) -> anyhow::Result<Secret> {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {what} file {}", path.display()))?;
            Ok(Secret::new(text.trim_end_matches(['\r', '\n'])))
        }
        if let Some(path) = &self.master_key_file {
            self.master_key = Some(read(path, "master key")?);
        }
        if let Some(path) = &self.admin_password_file {
            self.admin_password = Some(read(path, "admin password")?);
        }
        if let Some(path) = &self.auth.jwt_secret_file {
            self.auth.jwt_secret = Some(read(path, "JWT secret")?);
        }
        Ok(())
    }

    /// Rejects values that would only fail later, with a message naming the key.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        self.http_listen_addr()?;
        self.node_roles()?;
        const DAY: u64 = 86_400;
        let bounds = [
            (
                "auth.access_token_ttl_secs",
                self.auth.access_token_ttl_secs,
                DAY,
            ),
            (
                "auth.refresh_token_ttl_secs",
                self.auth.refresh_token_ttl_secs,
                365 * DAY,
            ),
            (
                "auth.failure_window_secs",
                self.auth.failure_window_secs,
                30 * DAY,
            ),
            ("auth.lockout_secs", self.auth.lockout_secs, 30 * DAY),
        ];
        for (key, value, max) in bounds {
            if value == 0 || value > max {
                bail!("{key} must be between 1 and {max} seconds (got {value})");
            }
        }
        if self.auth.max_failures_per_user == 0 || self.auth.max_failures_per_ip == 0 {
            bail!("auth.max_failures_per_user and auth.max_failures_per_ip must be positive");
        }
        if self.auth.min_password_length < 8 {
            bail!("auth.min_password_length must be at least 8");
        }
        let e = &self.engine;
        if !(1..=1000).contains(&e.max_concurrent_runs) {
            bail!("engine.max_concurrent_runs must be between 1 and 1000");
        }
        if !(1..=10_000).contains(&e.max_parallel_targets) {
            bail!("engine.max_parallel_targets must be between 1 and 10000");
        }
        if !(100..=60_000).contains(&e.heartbeat_interval_ms) {
            bail!("engine.heartbeat_interval_ms must be between 100 and 60000");
        }
        if e.lease_timeout_secs.saturating_mul(1000) < e.heartbeat_interval_ms.saturating_mul(3)
            || e.lease_timeout_secs > 3600
        {
            bail!(
                "engine.lease_timeout_secs must be at least three heartbeat intervals and at most 3600"
            );
        }
        if e.shutdown_grace_secs > 3600 {
            bail!("engine.shutdown_grace_secs must be at most 3600");
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            bail!(
                "tls.cert and tls.key (OPSCONDUCTOR_TLS_CERT / OPSCONDUCTOR_TLS_KEY) must be set together"
            );
        }
        if let Some(url) = &self.database_url {
            opsconductor_store::Backend::from_url(url)?;
        }
        Ok(())
    }

    /// The database URL, defaulting to SQLite inside the data directory.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.data_dir.join("opsconductor.db").display()
            ),
        }
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen.parse().with_context(|| {
            format!(
                "listen (OPSCONDUCTOR_LISTEN) '{}' is not an address:port",
                self.listen
            )
        })
    }

    /// The redirect listener's address, `None` when it is `off`.
    pub fn http_listen_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        if self.http_listen.eq_ignore_ascii_case("off") || self.tls.mode == TlsMode::Off {
            return Ok(None);
        }
        self.http_listen.parse().map(Some).with_context(|| {
            format!(
                "http_listen (OPSCONDUCTOR_HTTP_LISTEN) '{}' is not an address:port or 'off'",
                self.http_listen
            )
        })
    }

    /// The roles this node runs, checked against the known set.
    pub fn node_roles(&self) -> anyhow::Result<Vec<String>> {
        const KNOWN: [&str; 4] = ["api", "worker", "scheduler", "notifier"];
        let roles: Vec<String> = self
            .roles
            .split(',')
            .map(|r| r.trim().to_ascii_lowercase())
            .filter(|r| !r.is_empty())
            .collect();
        if roles.is_empty() {
            bail!(
                "roles (OPSCONDUCTOR_ROLES) must name at least one of {}",
                KNOWN.join(", ")
            );
        }
        if let Some(bad) = roles.iter().find(|r| !KNOWN.contains(&r.as_str())) {
            bail!(
                "unknown role '{bad}' in roles: expected {}",
                KNOWN.join(", ")
            );
        }
        Ok(roles)
    }
}

/// Keys present in the merged configuration that [`Config`] does not define.
fn unknown_keys(figment: &Figment) -> Vec<String> {
    let known = match serde_json::to_value(Config::default()) {
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    let provided: serde_json::Value = match figment.extract() {
        Ok(v) => v,
        Err(_) => return Vec::new(),
    };
    let mut unknown = Vec::new();
    collect_unknown("", &provided, &known, &mut unknown);
    unknown
}

fn collect_unknown(
    prefix: &str,
    provided: &serde_json::Value,
    known: &serde_json::Value,
    out: &mut Vec<String>,
) {
    let (Some(provided), Some(known)) = (provided.as_object(), known.as_object()) else {
        return;
    };
    for (key, value) in provided {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match known.get(key) {
            None => out.push(path),
            Some(known_value) => collect_unknown(&path, value, known_value, out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_environment_names_map_to_nested_keys() {
        assert_eq!(env_key("tls"), "tls.mode");
        assert_eq!(env_key("tls_cert"), "tls.cert");
        assert_eq!(
            env_key("auth__allow_registration"),
            "auth.allow_registration"
        );
        assert_eq!(env_key("database_url"), "database_url");
        assert!(is_test_variable("test_postgres_url"));
        assert!(is_test_variable("winrm_test_host"));
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own error type
    fn environment_names_map_and_secrets_are_taken_verbatim() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("OPSCONDUCTOR_TLS", "off");
            jail.set_env("OPSCONDUCTOR_TLS_CERT", "/etc/cert.pem");
            jail.set_env("OPSCONDUCTOR_TLS_KEY", "/etc/key.pem");
            jail.set_env("OPSCONDUCTOR_AUTH__ALLOW_REGISTRATION", "true");
            jail.set_env("OPSCONDUCTOR_ADMIN_PASSWORD", "[0012345678]");
            jail.set_env(
                "OPSCONDUCTOR_AUTH__JWT_SECRET",
                "00000000000000000000000000000000001",
            );
            jail.set_env("OPSCONDUCTOR_TEST_POSTGRES_URL", "postgres://x");
            let (config, unknown) =
                Config::load(None, &Overrides::default()).map_err(|e| format!("{e:#}"))?;
            assert_eq!(config.tls.mode, TlsMode::Off);
            assert_eq!(config.tls.cert, Some(PathBuf::from("/etc/cert.pem")));
            assert_eq!(config.tls.key, Some(PathBuf::from("/etc/key.pem")));
            assert!(config.auth.allow_registration);
            assert_eq!(
                config.admin_password.as_ref().map(Secret::expose),
                Some("[0012345678]")
            );
            assert_eq!(
                config.auth.jwt_secret.as_ref().map(Secret::expose),
                Some("00000000000000000000000000000000001")
            );
            assert!(unknown.is_empty(), "{unknown:?}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_reported_with_their_path() {
        let figment = Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(
            "listne = \"x\"\n[auth]\nallow_registraton = true\n",
        ));
        let mut unknown = unknown_keys(&figment);
        unknown.sort();
        assert_eq!(unknown, vec!["auth.allow_registraton", "listne"]);
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        let config = Config {
            listen: "nonsense".into(),
            ..Config::default()
        };
        let err = config.validate().expect_err("refused").to_string();
        assert!(err.contains("OPSCONDUCTOR_LISTEN"), "{err}");
        let config = Config {
            roles: "api,wroker".into(),
            ..Config::default()
        };
        assert!(
            config
                .validate()
                .expect_err("refused")
                .to_string()
                .contains("wroker")
        );
        let config = Config {
            database_url: Some("mysql://x".into()),
            ..Config::default()
        };
        assert!(config.validate().is_err());
    }
}
