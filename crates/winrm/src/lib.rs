//! OpsConductor's own WS-Management (WinRM) client.
//!
//! It connects to a Windows WinRM listener over HTTP (5985) or HTTPS (5986), authenticates with
//! NTLM (from the `sspi` crate) or Basic, runs commands in a remote `cmd` shell (PowerShell via
//! `-EncodedCommand`, or a cmd command line), streams their output, stops them with a Signal on
//! timeout or cancel, and copies files over stdin with a SHA-256 check.
//!
//! Over plain HTTP with NTLM every SOAP body is sealed (MS-WSMV message encryption), as a
//! default Windows host (`AllowUnencrypted=false`) requires; nothing is ever sent in plaintext
//! there and there is no fallback. Basic goes only over HTTPS unless the target explicitly
//! allows unencrypted traffic.
//!
//! ```no_run
//! # async fn demo() -> Result<(), opsconductor_winrm::WinrmError> {
//! use std::time::Duration;
//! use opsconductor_winrm::{Command, WinrmAuth, WinrmSession, WinrmTarget};
//!
//! let auth = WinrmAuth::Ntlm {
//!     username: "Administrator".into(),
//!     domain: "CORP".into(),
//!     password: "s3cret".into(),
//! };
//! let target = WinrmTarget::new("win1.example.net", 5985, false, auth);
//! let session = WinrmSession::connect(&target).await?;
//! let out = session
//!     .exec(&Command::PowerShell("Get-Service WinRM | Select -Expand Status".into()), Duration::from_secs(30))
//!     .await?;
//! println!("{:?} {}", out.exit_code, out.stdout);
//! session.close().await;
//! # Ok(()) }
//! ```
//!
//! What was tested where: everything runs against `testing/wsman-server` (pyspnego's NTLM
//! acceptor and sealing, Windows' envelopes and faults, commands run by `/bin/sh`); the live
//! tests for a real Windows host are `#[ignore]`d and need `OPSCONDUCTOR_WINRM_TEST_*`.
//! `README.md` beside this crate's `Cargo.toml` lists what was and was not exercised.

mod clixml;
mod copy;
mod error;
mod exec;
mod http;
mod ntlm;
mod response;
mod sealing;
mod session;
mod soap;
mod tls;
mod transport;

use std::fmt;
use std::time::{Duration, Instant};

pub use copy::CopyOutcome;
pub use error::{FAULT_INVALID_SELECTORS, FAULT_TIMED_OUT, WinrmError, WinrmErrorKind};
pub use exec::{
    Command, ExecOptions, ExecOutput, ExecStatus, MAX_CAPTURED_BYTES, OutputChunk, Stream,
};
pub use session::WinrmSession;
/// Re-exported so callers cancel with the same type [`ExecOptions`] takes.
pub use tokio_util::sync::CancellationToken;

/// How long [`WinrmTarget::new`] lets resolving, connecting, TLS and authentication take.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The credential for a target. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub enum WinrmAuth {
    /// NTLMv2. `username` may also be written `DOMAIN\user` or `user@domain` (then `domain`
    /// stays empty); an empty `domain` with a bare name is a local account.
    Ntlm {
        username: String,
        domain: String,
        password: String,
    },
    /// HTTP Basic (local accounts only on Windows, and only where `Auth/Basic` is enabled).
    Basic { username: String, password: String },
}

impl fmt::Debug for WinrmAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ntlm {
                username, domain, ..
            } => f
                .debug_struct("Ntlm")
                .field("username", username)
                .field("domain", domain)
                .field("password", &"<redacted>")
                .finish(),
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

impl WinrmAuth {
    /// The account as people write it, for messages.
    pub fn account(&self) -> String {
        match self {
            Self::Ntlm {
                username, domain, ..
            } if !domain.is_empty() && !username.contains('\\') && !username.contains('@') => {
                format!("{domain}\\{username}")
            }
            Self::Ntlm { username, .. } | Self::Basic { username, .. } => username.clone(),
        }
    }
}

/// What the remote end runs scripts with. Only [`WinrmSession::copy`] depends on it, because
/// its receiving program is a script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RemoteFlavor {
    /// Windows: the copy program is PowerShell.
    #[default]
    Windows,
    /// A WS-Man server that runs PowerShell scripts with `/bin/sh`, i.e. our test server
    /// (`testing/wsman-server`): the copy program is a POSIX shell script. Same wire protocol.
    PosixStandIn,
}

/// Where and as whom to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinrmTarget {
    /// A DNS name or an IP address (an IPv6 address may be written with or without brackets).
    pub host: String,
    /// 5985 for HTTP, 5986 for HTTPS by Windows' defaults.
    pub port: u16,
    pub https: bool,
    pub auth: WinrmAuth,
    /// Check the server's certificate (HTTPS). Off only for hosts whose metadata says so.
    pub validate_certs: bool,
    /// An extra CA (PEM, one or more certificates) trusted besides the system's roots.
    pub ca_pem: Option<String>,
    /// One deadline for resolving, connecting, TLS and authentication together.
    pub connect_timeout: Duration,
    /// Let Basic authentication and SOAP travel unencrypted over plain HTTP (the host must have
    /// `AllowUnencrypted=true`). Never affects NTLM, which always seals over HTTP.
    pub allow_unencrypted: bool,
    pub remote_flavor: RemoteFlavor,
}

impl WinrmTarget {
    /// A target with certificates validated, no extra CA, [`DEFAULT_CONNECT_TIMEOUT`], no
    /// unencrypted traffic and a Windows remote.
    pub fn new(host: impl Into<String>, port: u16, https: bool, auth: WinrmAuth) -> Self {
        Self {
            host: host.into(),
            port,
            https,
            auth,
            validate_certs: true,
            ca_pem: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            allow_unencrypted: false,
            remote_flavor: RemoteFlavor::Windows,
        }
    }

    /// `host:port` as people write it, `[v6]:port` for IPv6 addresses.
    pub fn endpoint(&self) -> String {
        http::Endpoint::new(&self.host, self.port, self.https).authority()
    }
}

/// What a connection test did and saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WinrmTestReport {
    /// `whoami`, trimmed (`corp\administrator`); if it failed, a sentence saying so.
    pub whoami: String,
    /// `$PSVersionTable.PSVersion`, e.g. `5.1.20348.2849`; if the remote did not report one (a
    /// host without PowerShell, or the test server's `/bin/sh` stand-in), a sentence saying so.
    pub powershell_version: String,
    /// `hostname`, trimmed; if it failed, a sentence saying so.
    pub hostname: String,
    /// How requests were protected: `http+ntlm-sealed`, `https+ntlm`, `https+basic` or
    /// `http+basic-unencrypted`.
    pub transport: String,
    /// Wall-clock time of the whole test, connect to close.
    pub duration_ms: u64,
}

/// The probe script. Each line is valid in PowerShell, and the first two also in `/bin/sh`,
/// which runs them before failing on the third: the test server's stand-in still reports the
/// user and host.
const PROBE_SCRIPT: &str = "whoami\nhostname\n$PSVersionTable.PSVersion.ToString()\n";

/// Connects, authenticates, runs one PowerShell script printing `whoami`, `hostname` and the
/// PowerShell version (under `connect_timeout`), and disconnects.
pub async fn test_connection(target: &WinrmTarget) -> Result<WinrmTestReport, WinrmError> {
    let started = Instant::now();
    let session = WinrmSession::connect(target).await?;
    let result = session
        .exec(
            &Command::PowerShell(PROBE_SCRIPT.to_owned()),
            target.connect_timeout,
        )
        .await;
    let transport = session.transport().to_owned();
    session.close().await;
    let out = result?;
    let mut lines = out.stdout.lines().map(str::trim).filter(|l| !l.is_empty());
    let detail = out.stderr.lines().map(str::trim).find(|l| !l.is_empty());
    let mut next = |what: &str| {
        lines.next().map(str::to_owned).unwrap_or_else(|| {
            let status = out.exit_code.map_or_else(
                || "no exit status".to_owned(),
                |c| format!("exit status {c}"),
            );
            match detail {
                Some(detail) => format!("{what} was not reported ({status}): {detail}"),
                None => format!("{what} was not reported ({status})"),
            }
        })
    };
    let whoami = next("whoami");
    let hostname = next("hostname");
    let powershell_version = next("the PowerShell version");
    Ok(WinrmTestReport {
        whoami,
        powershell_version,
        hostname,
        transport,
        duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_passwords() {
        let ntlm = WinrmAuth::Ntlm {
            username: "admin".into(),
            domain: "CORP".into(),
            password: "hunter2".into(),
        };
        let basic = WinrmAuth::Basic {
            username: "admin".into(),
            password: "hunter2".into(),
        };
        let target = WinrmTarget::new("h", 5985, false, ntlm.clone());
        for text in [
            format!("{ntlm:?}"),
            format!("{basic:?}"),
            format!("{target:?}"),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
            assert!(text.contains("<redacted>"), "{text}");
        }
        assert_eq!(ntlm.account(), "CORP\\admin");
        assert_eq!(basic.account(), "admin");
    }
}
