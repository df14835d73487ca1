//! SSH connector: connect and authenticate to a target (password or private key, host key pinned),
//! run commands on the session (collected or streamed, with stdin, stoppable), copy files to it,
//! and the connection test built on these.
//!
//! ```no_run
//! # async fn demo() -> Result<(), opsconductor_connectors::SshError> {
//! use std::time::Duration;
//! use opsconductor_connectors::{SshAuth, SshTarget, connect};
//!
//! let target = SshTarget::new("web1.example.net", 22, "deploy", SshAuth::Password("s3cret".into()));
//! let session = connect(&target).await?;
//! // Store this on first use and put it into `pinned_fingerprint` from then on.
//! println!("{}", session.host_key_fingerprint());
//! let out = session.exec("systemctl is-active nginx", Duration::from_secs(30)).await?;
//! println!("{:?} {}", out.exit_code, out.stdout);
//! session.close().await;
//! # Ok(()) }
//! ```

mod connect;
mod copy;
mod error;
mod exec;
mod host_key;
mod keys;
mod session;
mod shell;

use std::fmt;
use std::time::{Duration, Instant};

pub use connect::connect;
pub use copy::CopyOutcome;
pub use error::{SshError, SshErrorKind};
pub use exec::{ExecOptions, ExecOutput, ExecStatus, MAX_CAPTURED_BYTES, OutputChunk, Stream};
pub use keys::{KeyInfo, check_private_key};
pub use session::SshSession;
pub use shell::shell_quote;
/// Re-exported so callers cancel with the same type [`ExecOptions`] takes.
pub use tokio_util::sync::CancellationToken;

/// How long [`SshTarget::new`] lets resolving, connecting, the handshake and authentication take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The credential for a target. `Debug` shows the kind only, never the secret.
#[derive(Clone, PartialEq, Eq)]
pub enum SshAuth {
    Password(String),
    /// A private key as text (OpenSSH, PEM or PuTTY format) and its passphrase, if encrypted.
    PrivateKey {
        pem: String,
        passphrase: Option<String>,
    },
}

impl fmt::Debug for SshAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::PrivateKey { passphrase, .. } => f
                .debug_struct("PrivateKey")
                .field("pem", &"<redacted>")
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// A DNS name or an IP address (an IPv6 address may be written with or without brackets).
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth: SshAuth,
    /// Pinned host key fingerprint (`SHA256:...` as OpenSSH prints it); `None` trusts the key the
    /// server presents on this connection (trust on first use): store
    /// [`SshSession::host_key_fingerprint`] and pin it from then on.
    pub pinned_fingerprint: Option<String>,
    /// One deadline for resolving, connecting, the handshake and authentication together.
    pub connect_timeout: Duration,
}

impl SshTarget {
    /// A target with no pinned host key and [`DEFAULT_CONNECT_TIMEOUT`].
    pub fn new(
        host: impl Into<String>,
        port: u16,
        username: impl Into<String>,
        auth: SshAuth,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            username: username.into(),
            auth,
            pinned_fingerprint: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// `host:port` as people write it, `[v6]:port` for IPv6 addresses.
    pub fn endpoint(&self) -> String {
        let host = self.host.trim();
        if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// What a connection test did and saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTestReport {
    /// The server's host key fingerprint, `SHA256:...`.
    pub fingerprint: String,
    /// The host key algorithm, e.g. `ssh-ed25519`.
    pub host_key_algorithm: String,
    /// `uname -a`, trimmed; if that command failed (a Windows host, say), a sentence saying so.
    pub uname: String,
    /// `whoami`, trimmed; if that command failed, a sentence saying so.
    pub whoami: String,
    /// Wall-clock time of the whole test, connect to close.
    pub duration_ms: u64,
    /// True when the target had no pin, so `fingerprint` is the key to pin from now on.
    pub pinned_now: bool,
}

/// Connects, authenticates, runs `uname -a` and `whoami` (each under `connect_timeout`), and
/// disconnects.
pub async fn test_connection(target: &SshTarget) -> Result<SshTestReport, SshError> {
    let started = Instant::now();
    let session = connect(target).await?;
    let probes = async {
        let uname = session.exec("uname -a", target.connect_timeout).await?;
        let whoami = session.exec("whoami", target.connect_timeout).await?;
        Ok::<_, SshError>((uname, whoami))
    };
    let result = probes.await;
    let fingerprint = session.host_key_fingerprint().to_owned();
    let host_key_algorithm = session.host_key_algorithm().to_owned();
    session.close().await;
    let (uname, whoami) = result?;
    Ok(SshTestReport {
        fingerprint,
        host_key_algorithm,
        uname: probe_text("uname -a", &uname),
        whoami: probe_text("whoami", &whoami),
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        pinned_now: target.pinned_fingerprint.is_none(),
    })
}

fn probe_text(command: &str, out: &ExecOutput) -> String {
    if out.exit_code == Some(0) {
        return out.stdout.trim().to_owned();
    }
    let status = match (out.exit_code, &out.exit_signal) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) => format!("signal {signal}"),
        (None, None) => "no exit status".to_owned(),
    };
    let detail = out.stderr.lines().next().unwrap_or("").trim();
    if detail.is_empty() {
        format!("`{command}` failed ({status})")
    } else {
        format!("`{command}` failed ({status}): {detail}")
    }
}
