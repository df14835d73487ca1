//! An authenticated SSH connection and the commands run on it.

use std::fmt;
use std::time::Duration;

use russh::client::{Handle, Msg};
use russh::{Channel, ChannelMsg, Disconnect, Sig};
use tokio::time::{Instant, timeout, timeout_at};

use super::error::{SshError, SshErrorKind};
use super::host_key::{HostKeyCheck, PresentedKey};

/// At most this much of each of stdout and stderr is kept; the rest is read and dropped so the
/// command can still finish (a command that prints gigabytes must not exhaust the server).
pub const MAX_CAPTURED_BYTES: usize = 8 * 1024 * 1024;

/// How long an abandoned command's channel gets to take the signal and close, and a closing
/// session to say goodbye, before they are dropped.
const CLEANUP_GRACE: Duration = Duration::from_millis(500);

/// What a command did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// Standard output, decoded as UTF-8 with invalid bytes replaced.
    pub stdout: String,
    /// Standard error, decoded as UTF-8 with invalid bytes replaced.
    pub stderr: String,
    /// The exit status; `None` when the command was killed by a signal or the server sent none.
    pub exit_code: Option<i32>,
    /// The signal that ended the command (`TERM`, `KILL`, ...), if it was killed.
    pub exit_signal: Option<String>,
    /// True when stdout or stderr passed [`MAX_CAPTURED_BYTES`] and was cut there.
    pub truncated: bool,
}

/// An authenticated connection. Commands may run concurrently on one session (each gets its own
/// channel); dropping the session closes the connection, [`SshSession::close`] does it politely.
pub struct SshSession {
    handle: Handle<HostKeyCheck>,
    host_key: PresentedKey,
    endpoint: String,
}

impl fmt::Debug for SshSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SshSession")
            .field("endpoint", &self.endpoint)
            .field("host_key", &self.host_key.fingerprint)
            .finish_non_exhaustive()
    }
}

impl SshSession {
    pub(crate) fn new(
        handle: Handle<HostKeyCheck>,
        host_key: PresentedKey,
        endpoint: String,
    ) -> Self {
        Self {
            handle,
            host_key,
            endpoint,
        }
    }

    /// The server's host key fingerprint, `SHA256:` and unpadded base64 as OpenSSH prints it.
    pub fn host_key_fingerprint(&self) -> &str {
        &self.host_key.fingerprint
    }

    /// The host key algorithm, e.g. `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`.
    pub fn host_key_algorithm(&self) -> &str {
        &self.host_key.algorithm
    }

    /// `host:port` this session is connected to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Runs `command` through the user's login shell on the server (as `ssh host command` does,
    /// without a terminal) and collects its output and exit status.
    ///
    /// If the command is not finished within `timeout`, it is sent `TERM`, its channel is closed
    /// and [`SshErrorKind::Timeout`] is returned at once; the session stays usable. Whether the
    /// command really stops is up to the server: OpenSSH delivers the signal for ordinary users
    /// but refuses it for root sessions ("session signalling requires privilege separation"),
    /// and without a terminal a closed channel does not stop the command either, so a root
    /// command runs on until it ends by itself.
    pub async fn exec(&self, command: &str, timeout: Duration) -> Result<ExecOutput, SshError> {
        let deadline = Instant::now() + timeout;
        let mut channel = match timeout_at(deadline, self.handle.channel_open_session()).await {
            Err(_) => return Err(self.exec_timed_out(timeout)),
            Ok(Err(e)) => {
                return Err(SshError::new(
                    SshErrorKind::Protocol,
                    format!("cannot open a session channel on {}: {e}", self.endpoint),
                ));
            }
            Ok(Ok(channel)) => channel,
        };
        match timeout_at(deadline, self.run(&mut channel, command)).await {
            Ok(result) => result,
            Err(_) => {
                abandon(&channel).await;
                Err(self.exec_timed_out(timeout))
            }
        }
    }

    async fn run(&self, channel: &mut Channel<Msg>, command: &str) -> Result<ExecOutput, SshError> {
        let protocol = |e: russh::Error| {
            SshError::new(
                SshErrorKind::Protocol,
                format!("running a command on {} failed: {e}", self.endpoint),
            )
        };
        channel.exec(true, command).await.map_err(protocol)?;
        let mut stdout = Capture::default();
        let mut stderr = Capture::default();
        let mut out = ExecOutput::default();
        // The channel yields None once the server has closed it; exit status and the last data
        // may arrive in either order before that.
        while let Some(msg) = channel.wait().await {
            match msg {
                ChannelMsg::Data { data } => stdout.push(&data),
                // Extended data type 1 is stderr (RFC 4254 §5.2).
                ChannelMsg::ExtendedData { data, ext: 1 } => stderr.push(&data),
                ChannelMsg::ExitStatus { exit_status } => {
                    out.exit_code = i32::try_from(exit_status).ok();
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    out.exit_signal = Some(signal_name_text(&signal_name));
                }
                ChannelMsg::Failure => {
                    return Err(SshError::new(
                        SshErrorKind::Protocol,
                        format!("{} refused to run the command", self.endpoint),
                    ));
                }
                _ => {}
            }
        }
        out.truncated = stdout.truncated || stderr.truncated;
        out.stdout = String::from_utf8_lossy(&stdout.bytes).into_owned();
        out.stderr = String::from_utf8_lossy(&stderr.bytes).into_owned();
        Ok(out)
    }

    fn exec_timed_out(&self, timeout: Duration) -> SshError {
        SshError::new(
            SshErrorKind::Timeout,
            format!(
                "the command on {} did not finish within {} ms",
                self.endpoint,
                timeout.as_millis()
            ),
        )
    }

    /// Says goodbye to the server and waits briefly for the connection to wind down.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
        let _ = timeout(CLEANUP_GRACE, self.handle).await;
    }
}

/// Best effort: asks the server to stop the command and closes the channel, without letting a
/// stuck connection hold the caller.
async fn abandon(channel: &Channel<Msg>) {
    let _ = timeout(CLEANUP_GRACE, async {
        let _ = channel.signal(Sig::TERM).await;
        let _ = channel.close().await;
    })
    .await;
}

fn signal_name_text(sig: &Sig) -> String {
    match sig {
        Sig::ABRT => "ABRT".to_owned(),
        Sig::ALRM => "ALRM".to_owned(),
        Sig::FPE => "FPE".to_owned(),
        Sig::HUP => "HUP".to_owned(),
        Sig::ILL => "ILL".to_owned(),
        Sig::INT => "INT".to_owned(),
        Sig::KILL => "KILL".to_owned(),
        Sig::PIPE => "PIPE".to_owned(),
        Sig::QUIT => "QUIT".to_owned(),
        Sig::SEGV => "SEGV".to_owned(),
        Sig::TERM => "TERM".to_owned(),
        Sig::USR1 => "USR1".to_owned(),
        Sig::Custom(name) => name.clone(),
    }
}

#[derive(Default)]
struct Capture {
    bytes: Vec<u8>,
    truncated: bool,
}

impl Capture {
    fn push(&mut self, data: &[u8]) {
        let room = MAX_CAPTURED_BYTES.saturating_sub(self.bytes.len());
        if data.len() > room {
            self.truncated = true;
        }
        self.bytes.extend_from_slice(&data[..data.len().min(room)]);
    }
}
