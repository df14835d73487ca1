//! Reaching a target: decode the key, resolve, connect over TCP, the SSH handshake with the host
//! key check, authentication. Each step maps its failures onto one [`SshErrorKind`], all under one
//! deadline.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, PoisonError};
use std::time::Duration;

use russh::MethodKind;
use russh::client::{AuthResult, Config, Handle, KeyboardInteractiveAuthResponse};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tracing::debug;

use super::error::{SshError, SshErrorKind};
use super::host_key::{HostKeyCheck, PresentedKey};
use super::keys;
use super::session::SshSession;
use super::{SshAuth, SshTarget};

/// A server may send several rounds of keyboard-interactive prompts; more than this is not a
/// password prompt.
const MAX_INTERACTIVE_ROUNDS: usize = 4;

/// Connects to the target and authenticates, returning a session to run commands on.
///
/// The private key (if any) is decoded before any network traffic. The host key is checked during
/// the key exchange: if it differs from the pin the connection is dropped before authentication.
/// Resolving, connecting, the handshake and authentication share `target.connect_timeout`.
pub async fn connect(target: &SshTarget) -> Result<SshSession, SshError> {
    let deadline = Instant::now() + target.connect_timeout;
    let endpoint = target.endpoint();
    if target.username.is_empty() {
        return Err(SshError::new(SshErrorKind::Auth, "no user name was given"));
    }
    let credential = Credential::prepare(&target.auth).await?;
    let addrs = resolve(target, deadline).await?;
    let stream = connect_tcp(&addrs, target, deadline).await?;
    let (stream, guard) = SocketGuard::new(stream, &endpoint)?;
    let handle = handshake_and_authenticate(target, credential, stream, deadline, &endpoint).await;
    match handle {
        Ok((handle, host_key)) => {
            debug!(
                endpoint = %endpoint,
                user = %target.username,
                host_key = %host_key.fingerprint,
                "ssh session authenticated"
            );
            Ok(SshSession::new(handle, host_key, endpoint))
        }
        Err(e) => {
            guard.shut_down();
            Err(e)
        }
    }
}

async fn handshake_and_authenticate(
    target: &SshTarget,
    credential: Credential,
    stream: TcpStream,
    deadline: Instant,
    endpoint: &str,
) -> Result<(Handle<HostKeyCheck>, PresentedKey), SshError> {
    let (check, presented) = HostKeyCheck::new(target.pinned_fingerprint.clone());
    let handshake = russh::client::connect_stream(client_config(), stream, check);
    let outcome = timeout_at(deadline, handshake).await;
    let presented = presented
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let mut handle = match outcome {
        Err(_) => return Err(timed_out(target, "the SSH handshake")),
        Ok(Err(russh::Error::UnknownKey)) => {
            return Err(host_key_mismatch(target, presented.as_ref()));
        }
        Ok(Err(e)) => return Err(handshake_error(endpoint, &e)),
        Ok(Ok(handle)) => handle,
    };
    let Some(host_key) = presented else {
        return Err(SshError::new(
            SshErrorKind::Protocol,
            format!("{endpoint} completed the handshake without presenting a host key"),
        ));
    };

    match timeout_at(deadline, authenticate(&mut handle, target, credential)).await {
        Err(_) => Err(timed_out(target, "authentication")),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => Ok((handle, host_key)),
    }
}

/// A second descriptor of the connection's socket, to cut it when connecting fails.
///
/// russh runs the connection in a task it spawns before the key exchange and that task only
/// ends when the socket does: abandoning the handshake future (on timeout) would leave it waiting
/// on a silent server forever. Shutting the socket down ends it.
struct SocketGuard(std::net::TcpStream);

impl SocketGuard {
    fn new(stream: TcpStream, endpoint: &str) -> Result<(TcpStream, Self), SshError> {
        let failed = |e: io::Error| {
            SshError::new(
                SshErrorKind::Protocol,
                format!("cannot use the connection to {endpoint}: {e}"),
            )
        };
        let std = stream.into_std().map_err(failed)?;
        let guard = std.try_clone().map_err(failed)?;
        let stream = TcpStream::from_std(std).map_err(failed)?;
        Ok((stream, Self(guard)))
    }

    fn shut_down(self) {
        let _ = self.0.shutdown(std::net::Shutdown::Both);
    }
}

fn client_config() -> Arc<Config> {
    static CONFIG: OnceLock<Arc<Config>> = OnceLock::new();
    Arc::clone(CONFIG.get_or_init(|| {
        Arc::new(Config {
            client_id: russh::SshId::Standard(Cow::Borrowed(concat!(
                "SSH-2.0-OpsConductor_",
                env!("CARGO_PKG_VERSION")
            ))),
            // Long job steps can be silent for minutes; keepalives keep NAT and firewall state
            // alive and notice a dead peer within about a minute.
            keepalive_interval: Some(Duration::from_secs(15)),
            keepalive_max: 4,
            nodelay: true,
            ..Config::default()
        })
    }))
}

/// The credential, ready to send: a key is decoded (and decrypted) up front so a bad key fails
/// as [`SshErrorKind::Key`] without touching the network.
enum Credential {
    Password(String),
    Key(Box<PrivateKey>),
}

impl Credential {
    async fn prepare(auth: &SshAuth) -> Result<Self, SshError> {
        match auth {
            SshAuth::Password(password) => Ok(Self::Password(password.clone())),
            SshAuth::PrivateKey { pem, passphrase } => {
                let (pem, passphrase) = (pem.clone(), passphrase.clone());
                // bcrypt-pbkdf makes decrypting an OpenSSH key deliberately slow.
                let decoded =
                    tokio::task::spawn_blocking(move || keys::decode(&pem, passphrase.as_deref()))
                        .await
                        .map_err(|_| {
                            SshError::new(SshErrorKind::Key, "the private key could not be read")
                        })?;
                decoded
                    .map(|d| Self::Key(Box::new(d.key)))
                    .map_err(|message| SshError::new(SshErrorKind::Key, message))
            }
        }
    }
}

async fn resolve(target: &SshTarget, deadline: Instant) -> Result<Vec<SocketAddr>, SshError> {
    let host = target.host.trim();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        return Err(SshError::new(SshErrorKind::Dns, "no host name was given"));
    }
    let cannot = |detail: &dyn std::fmt::Display| {
        SshError::new(
            SshErrorKind::Dns,
            format!("cannot resolve host '{host}' ({detail})"),
        )
    };
    match timeout_at(deadline, tokio::net::lookup_host((host, target.port))).await {
        Err(_) => Err(timed_out(target, "resolving the host name")),
        Ok(Err(e)) => Err(cannot(&e)),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(cannot(&"no addresses"))
            } else {
                Ok(addrs)
            }
        }
    }
}

/// Tries each resolved address in turn, as OpenSSH does, and reports the last failure.
async fn connect_tcp(
    addrs: &[SocketAddr],
    target: &SshTarget,
    deadline: Instant,
) -> Result<TcpStream, SshError> {
    let mut last_error = None;
    for addr in addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(timed_out(target, "connecting")),
            Ok(Ok(stream)) => {
                // Commands are small request/response exchanges; Nagle only adds latency.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => {
                debug!(%addr, error = %e, "ssh tcp connect failed");
                last_error = Some((*addr, e));
            }
        }
    }
    let Some((addr, e)) = last_error else {
        return Err(SshError::new(
            SshErrorKind::Dns,
            format!("cannot resolve host '{}' (no addresses)", target.host),
        ));
    };
    let endpoint = target.endpoint();
    Err(match e.kind() {
        io::ErrorKind::ConnectionRefused => SshError::new(
            SshErrorKind::Refused,
            format!(
                "connection refused by {endpoint} ({addr}): no SSH server listens on that port"
            ),
        ),
        io::ErrorKind::TimedOut => timed_out(target, "connecting"),
        _ => SshError::new(
            SshErrorKind::Unreachable,
            format!("cannot connect to {endpoint} ({addr}): {e}"),
        ),
    })
}

fn timed_out(target: &SshTarget, stage: &str) -> SshError {
    SshError::new(
        SshErrorKind::Timeout,
        format!(
            "timed out during {stage} with {} (connect timeout {} ms)",
            target.endpoint(),
            target.connect_timeout.as_millis()
        ),
    )
}

fn host_key_mismatch(target: &SshTarget, presented: Option<&PresentedKey>) -> SshError {
    let expected = target
        .pinned_fingerprint
        .as_deref()
        .unwrap_or("(none)")
        .trim();
    let presented = presented.map_or_else(
        || "an unknown key".to_owned(),
        |k| format!("{} ({})", k.fingerprint, k.algorithm),
    );
    SshError::new(
        SshErrorKind::HostKeyMismatch,
        format!(
            "host key for {} has changed: expected {expected}, the server presented {presented}. \
             The connection was closed before authentication. If the host was legitimately \
             reinstalled or re-keyed, an operator must reset the pinned host key of this target; \
             otherwise someone may be intercepting the connection.",
            target.endpoint()
        ),
    )
}

fn handshake_error(endpoint: &str, e: &russh::Error) -> SshError {
    let detail = match e {
        russh::Error::Disconnect | russh::Error::HUP => {
            "the server closed the connection (overloaded, or refusing this client?)".to_owned()
        }
        russh::Error::Version => "the server does not speak SSH on this port".to_owned(),
        russh::Error::IO(io) if io.kind() == io::ErrorKind::UnexpectedEof => {
            "the server closed the connection".to_owned()
        }
        other => other.to_string(),
    };
    SshError::new(
        SshErrorKind::Protocol,
        format!("SSH handshake with {endpoint} failed: {detail}"),
    )
}

async fn authenticate(
    handle: &mut Handle<HostKeyCheck>,
    target: &SshTarget,
    credential: Credential,
) -> Result<(), SshError> {
    let user = target.username.as_str();
    let endpoint = target.endpoint();
    let protocol = |e: russh::Error| {
        SshError::new(
            SshErrorKind::Protocol,
            format!("authentication with {endpoint} failed: {e}"),
        )
    };
    // Ask which methods the server takes, as OpenSSH's client does, so the message can say
    // "the server does not accept passwords" rather than just "failed".
    let offered = match handle.authenticate_none(user).await.map_err(protocol)? {
        AuthResult::Success => return Ok(()),
        AuthResult::Failure {
            remaining_methods, ..
        } => remaining_methods.to_vec(),
    };
    let closed = |handle: &Handle<HostKeyCheck>| {
        handle.is_closed().then(|| {
            SshError::new(
                SshErrorKind::Protocol,
                format!("{endpoint} closed the connection during authentication"),
            )
        })
    };
    if let Some(e) = closed(handle) {
        return Err(e);
    }

    let (result, how) = match credential {
        Credential::Password(password) => {
            if offered.contains(&MethodKind::Password) {
                let result = handle
                    .authenticate_password(user, password)
                    .await
                    .map_err(protocol)?;
                (result, "with a password".to_owned())
            } else if offered.contains(&MethodKind::KeyboardInteractive) {
                let result = keyboard_interactive(handle, user, &password)
                    .await
                    .map_err(protocol)?;
                (result, "with a password (keyboard-interactive)".to_owned())
            } else {
                return Err(not_offered(user, "password", &offered));
            }
        }
        Credential::Key(key) => {
            if !offered.contains(&MethodKind::PublicKey) {
                return Err(not_offered(user, "public key", &offered));
            }
            let fingerprint = key.public_key().fingerprint(HashAlg::Sha256).to_string();
            let hash = if key.algorithm().is_rsa() {
                // Servers from OpenSSH 8.8 on refuse SHA-1 RSA signatures; ask for the best.
                handle
                    .best_supported_rsa_hash()
                    .await
                    .map_err(protocol)?
                    .flatten()
            } else {
                None
            };
            let key = PrivateKeyWithHashAlg::new(Arc::new(*key), hash);
            let result = handle
                .authenticate_publickey(user, key)
                .await
                .map_err(protocol)?;
            (result, format!("with the private key {fingerprint}"))
        }
    };
    match result {
        AuthResult::Success => Ok(()),
        AuthResult::Failure {
            partial_success: true,
            remaining_methods,
        } => Err(SshError::new(
            SshErrorKind::Auth,
            format!(
                "authentication for user '{user}' {how} was accepted, but the server also \
                 requires {}",
                method_names(&remaining_methods)
            ),
        )),
        AuthResult::Failure { .. } => Err(closed(handle).unwrap_or_else(|| {
            SshError::new(
                SshErrorKind::Auth,
                format!("authentication failed for user '{user}' {how}"),
            )
        })),
    }
}

/// Password authentication through keyboard-interactive, which servers that check passwords via
/// PAM often offer instead of `password`: the password answers each hidden prompt.
async fn keyboard_interactive(
    handle: &mut Handle<HostKeyCheck>,
    user: &str,
    password: &str,
) -> Result<AuthResult, russh::Error> {
    let mut response = handle
        .authenticate_keyboard_interactive_start(user, None)
        .await?;
    for _ in 0..MAX_INTERACTIVE_ROUNDS {
        match response {
            KeyboardInteractiveAuthResponse::Success => return Ok(AuthResult::Success),
            KeyboardInteractiveAuthResponse::Failure {
                remaining_methods,
                partial_success,
            } => {
                return Ok(AuthResult::Failure {
                    remaining_methods,
                    partial_success,
                });
            }
            KeyboardInteractiveAuthResponse::InfoRequest { prompts, .. } => {
                let answers = prompts
                    .iter()
                    .map(|p| {
                        if p.echo {
                            String::new()
                        } else {
                            password.to_owned()
                        }
                    })
                    .collect();
                response = handle
                    .authenticate_keyboard_interactive_respond(answers)
                    .await?;
            }
        }
    }
    Ok(AuthResult::Failure {
        remaining_methods: russh::MethodSet::empty(),
        partial_success: false,
    })
}

fn not_offered(user: &str, method: &str, offered: &[MethodKind]) -> SshError {
    SshError::new(
        SshErrorKind::Auth,
        format!(
            "authentication failed for user '{user}': the server does not accept {method} \
             authentication (it offers {})",
            method_names(offered)
        ),
    )
}

fn method_names(methods: &[MethodKind]) -> String {
    if methods.is_empty() {
        return "no further methods".to_owned();
    }
    methods
        .iter()
        .map(<&str>::from)
        .collect::<Vec<_>>()
        .join(", ")
}
