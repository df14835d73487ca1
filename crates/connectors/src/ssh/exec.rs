//! Running commands on a session: output streamed as it arrives, stdin, and timeouts and
//! cancellation that really stop the remote command (see `shell.rs` for how).

use std::convert::Infallible;
use std::future::{Future, pending};
use std::time::Duration;

use russh::client::Msg;
use russh::{ChannelMsg, ChannelReadHalf, ChannelWriteHalf, Sig};
use tokio::sync::mpsc;
use tokio::time::{Instant, sleep_until, timeout, timeout_at};
use tokio_util::sync::CancellationToken;
use tracing::debug;

use super::error::{SshError, SshErrorKind};
use super::session::{CLEANUP_GRACE, SshSession};
use super::shell::{KILL_AFTER_SECS, StderrFilter, stop_group_command, with_pgid_marker};

/// At most this much of each of stdout and stderr is kept by [`SshSession::exec`]; the rest is
/// read and dropped so the command can still finish (a command that prints gigabytes must not
/// exhaust the server).
pub const MAX_CAPTURED_BYTES: usize = 8 * 1024 * 1024;

/// stdin is handed to russh in pieces this large; it cuts them into packets as the server's
/// window allows, so a large input never sits in memory twice.
const STDIN_CHUNK: usize = 1024 * 1024;
/// After a timeout or cancel, how long to wait for the shell's process-group marker if it has not
/// arrived yet. The shell prints it before the command starts, so this is about a round trip.
const MARKER_WAIT: Duration = Duration::from_secs(1);
/// Opening the second channel, sending `kill` there and waiting for its answer, together.
const KILL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the caller waits for a signalled command to go away. A command that ignores `TERM`
/// is left to the stop script's `KILL`, which needs nobody waiting.
const EXIT_WAIT: Duration = Duration::from_secs(1);
/// Chunks in flight between [`SshSession::exec_streaming`] and [`SshSession::exec`]'s collector.
const COLLECT_BUFFER: usize = 32;

/// What a command did, collected by [`SshSession::exec`].
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

/// How a command ended, from [`SshSession::exec_streaming`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecStatus {
    /// The exit status; `None` when the command was killed by a signal or the server sent none.
    pub exit_code: Option<i32>,
    /// The signal that ended the command (`TERM`, `KILL`, ...), if it was killed.
    pub exit_signal: Option<String>,
}

/// Which of the command's outputs a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A piece of a command's output, as the server sent it (not split into lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: Stream,
    pub data: Vec<u8>,
}

/// How to run a command with [`SshSession::exec_streaming`].
#[derive(Debug, Clone, Copy)]
pub struct ExecOptions<'a> {
    /// For the whole run: opening the channel, sending stdin, waiting for the command to end.
    pub timeout: Duration,
    /// Cancelling it stops the command as a timeout does, with [`SshErrorKind::Canceled`].
    pub cancel: &'a CancellationToken,
    /// Written to the command's stdin, followed by end-of-file; `None` sends end-of-file at once.
    pub stdin: Option<&'a [u8]>,
}

impl<'a> ExecOptions<'a> {
    /// No stdin.
    pub fn new(timeout: Duration, cancel: &'a CancellationToken) -> Self {
        Self {
            timeout,
            cancel,
            stdin: None,
        }
    }

    /// The same options with `stdin` fed to the command.
    pub fn with_stdin(self, stdin: &'a [u8]) -> Self {
        Self {
            stdin: Some(stdin),
            ..self
        }
    }
}

type ReadHalf = ChannelReadHalf;
type WriteHalf = ChannelWriteHalf<Msg>;

impl SshSession {
    /// Runs `command` through the user's login shell on the server (as `ssh host command` does,
    /// without a terminal) and collects its output and exit status.
    ///
    /// On timeout the command is stopped as [`SshSession::exec_streaming`] describes and
    /// [`SshErrorKind::Timeout`] is returned; the session stays usable.
    pub async fn exec(&self, command: &str, timeout: Duration) -> Result<ExecOutput, SshError> {
        let cancel = CancellationToken::new();
        self.exec_collect(command, ExecOptions::new(timeout, &cancel))
            .await
    }

    /// [`SshSession::exec_streaming`], collected into an [`ExecOutput`].
    pub(super) async fn exec_collect(
        &self,
        command: &str,
        opts: ExecOptions<'_>,
    ) -> Result<ExecOutput, SshError> {
        let (sink, mut chunks) = mpsc::channel(COLLECT_BUFFER);
        let collect = async move {
            let (mut stdout, mut stderr) = (Capture::default(), Capture::default());
            while let Some(OutputChunk { stream, data }) = chunks.recv().await {
                match stream {
                    Stream::Stdout => stdout.push(&data),
                    Stream::Stderr => stderr.push(&data),
                }
            }
            (stdout, stderr)
        };
        let (status, (stdout, stderr)) =
            tokio::join!(self.exec_streaming(command, opts, sink), collect);
        let status = status?;
        Ok(ExecOutput {
            truncated: stdout.truncated || stderr.truncated,
            stdout: String::from_utf8_lossy(&stdout.bytes).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.bytes).into_owned(),
            exit_code: status.exit_code,
            exit_signal: status.exit_signal,
        })
    }

    /// Runs `command` through the user's login shell on the server (without a terminal), feeds
    /// it `opts.stdin`, and sends its output to `sink` in order as it arrives.
    ///
    /// A slow `sink` slows the command down (flow control reaches the server); a `sink` whose
    /// receiver is gone is ignored and the output is drained.
    ///
    /// On timeout or cancel the command is stopped, including root's commands (for which sshd
    /// refuses `signal` requests): `TERM` goes to its whole process group through `kill` on a
    /// second channel, and `KILL` follows if it is still there after 2 s. The caller gets
    /// [`SshErrorKind::Timeout`] or [`SshErrorKind::Canceled`] once the command is gone or at
    /// most a few seconds later, the message saying what became of it; the session stays usable.
    /// Processes that left the group (`setsid`, job control) are not reached. Dropping the
    /// future instead leaves the command running: stopping takes network round trips, which a
    /// destructor cannot wait for.
    pub async fn exec_streaming(
        &self,
        command: &str,
        opts: ExecOptions<'_>,
        sink: mpsc::Sender<OutputChunk>,
    ) -> Result<ExecStatus, SshError> {
        let deadline = Instant::now() + opts.timeout;
        let mut channel = None;
        let mut output = Output::new(sink);
        let end = {
            let run = self.run(command, opts.stdin, &mut channel, &mut output);
            tokio::select! {
                biased;
                () = opts.cancel.cancelled() => End::Canceled,
                () = sleep_until(deadline) => End::TimedOut,
                result = run => End::Finished(result),
            }
        };
        match end {
            End::Finished(Ok(status)) => Ok(status),
            End::Finished(Err(e)) => {
                if let Some((_, write)) = channel {
                    let _ = timeout(CLEANUP_GRACE, write.close()).await;
                }
                Err(e)
            }
            End::TimedOut => {
                let stopped = self.stop(channel, &mut output.stderr).await;
                Err(SshError::new(
                    SshErrorKind::Timeout,
                    format!(
                        "the command on {} did not finish within {} ms{}",
                        self.endpoint,
                        opts.timeout.as_millis(),
                        stopped.describe()
                    ),
                ))
            }
            End::Canceled => {
                let stopped = self.stop(channel, &mut output.stderr).await;
                Err(SshError::new(
                    SshErrorKind::Canceled,
                    format!(
                        "the command on {} was canceled{}",
                        self.endpoint,
                        stopped.describe()
                    ),
                ))
            }
        }
    }

    /// Opens a channel (left in `slot` for [`SshSession::stop`]), starts the command and pumps
    /// its output until the server closes the channel.
    async fn run(
        &self,
        command: &str,
        stdin: Option<&[u8]>,
        slot: &mut Option<(ReadHalf, WriteHalf)>,
        output: &mut Output,
    ) -> Result<ExecStatus, SshError> {
        let channel = self.handle.channel_open_session().await.map_err(|e| {
            SshError::new(
                SshErrorKind::Protocol,
                format!("cannot open a session channel on {}: {e}", self.endpoint),
            )
        })?;
        let (read, write) = slot.insert(channel.split());
        write
            .exec(true, with_pgid_marker(command))
            .await
            .map_err(|e| {
                SshError::new(
                    SshErrorKind::Protocol,
                    format!("running a command on {} failed: {e}", self.endpoint),
                )
            })?;
        // Output is read while stdin is written: a command that echoes its input would otherwise
        // fill the window and stall both sides. The run ends when the channel does, whether or
        // not the command read all of stdin.
        tokio::select! {
            result = output.pump(read, &self.endpoint) => result,
            never = feed_stdin(write, stdin) => match never {},
        }
    }

    /// Stops an abandoned command (see [`SshSession::exec_streaming`]) and closes its channel,
    /// each step bounded so a stuck server cannot hold the caller.
    async fn stop(
        &self,
        channel: Option<(ReadHalf, WriteHalf)>,
        stderr: &mut StderrFilter,
    ) -> Stopped {
        let Some((read, write)) = channel else {
            return Stopped::NeverStarted;
        };
        let mut drain = Drain { read, open: true };
        if stderr.pgid().is_none() {
            drain
                .until(MARKER_WAIT, |msg| {
                    if let ChannelMsg::ExtendedData { data, ext: 1 } = msg {
                        stderr.push(data);
                    }
                    stderr.pgid().is_some()
                })
                .await;
        }
        if !drain.open {
            return Stopped::Ended;
        }
        let pgid = stderr.pgid();
        let killed = drain
            .during(async {
                // sshd delivers this for ordinary users and refuses it for root; either way the
                // group kill below is what counts.
                let _ = timeout(CLEANUP_GRACE, write.signal(Sig::TERM)).await;
                match pgid {
                    Some(pgid) => Some(self.kill_group(pgid).await),
                    None => None,
                }
            })
            .await;
        drain.until(EXIT_WAIT, |_| false).await;
        let _ = timeout(CLEANUP_GRACE, write.close()).await;
        let stopped = match (drain.open, killed) {
            (false, _) => Stopped::Ended,
            (true, None) => Stopped::NoProcessGroup,
            (true, Some(Kill::Done)) => Stopped::Signalled,
            (true, Some(Kill::Sent)) => Stopped::KillUnconfirmed,
            (true, Some(Kill::Failed(e))) => Stopped::KillFailed(e),
        };
        debug!(endpoint = %self.endpoint, ?pgid, ?stopped, "ssh command stopped");
        stopped
    }

    /// Runs the stop script for process group `pgid` on a second channel. Once the request is
    /// sent the script runs whether or not anyone waits for it, so a slow answer is [`Kill::Sent`].
    async fn kill_group(&self, pgid: u32) -> Kill {
        let deadline = Instant::now() + KILL_TIMEOUT;
        let mut channel = match timeout_at(deadline, self.handle.channel_open_session()).await {
            Err(_) => return Kill::Failed("no channel for kill opened in time".to_owned()),
            Ok(Err(e)) => return Kill::Failed(format!("cannot open a channel for kill: {e}")),
            Ok(Ok(channel)) => channel,
        };
        match timeout_at(deadline, channel.exec(true, stop_group_command(pgid))).await {
            Err(_) => return Kill::Failed("kill could not be sent in time".to_owned()),
            Ok(Err(e)) => return Kill::Failed(format!("cannot run kill: {e}")),
            Ok(Ok(())) => {}
        }
        let answer = async {
            while let Some(msg) = channel.wait().await {
                match msg {
                    // The script exits 0 whether or not the group was still there.
                    ChannelMsg::ExitStatus { exit_status: 0 } => return Kill::Done,
                    ChannelMsg::ExitStatus { exit_status } => {
                        return Kill::Failed(format!("kill exited with status {exit_status}"));
                    }
                    ChannelMsg::Failure => {
                        return Kill::Failed("the server refused to run kill".to_owned());
                    }
                    _ => {}
                }
            }
            Kill::Failed("kill ended without an exit status".to_owned())
        };
        timeout_at(deadline, answer).await.unwrap_or(Kill::Sent)
    }
}

/// What became of the `kill` on the second channel.
#[derive(Debug)]
enum Kill {
    Done,
    /// Sent, but the server did not report back in time (a loaded host); it runs anyway.
    Sent,
    Failed(String),
}

enum End {
    Finished(Result<ExecStatus, SshError>),
    TimedOut,
    Canceled,
}

/// What became of an abandoned command, for the error message.
#[derive(Debug)]
enum Stopped {
    /// The channel was never opened or the command never sent.
    NeverStarted,
    /// The command ended (its channel closed).
    Ended,
    /// Its process group got `TERM` and has not ended yet; `KILL` follows.
    Signalled,
    /// `kill` was sent but did not report back in time.
    KillUnconfirmed,
    /// The shell never reported its process group (not a POSIX shell?): only the channel's
    /// `TERM`, which sshd refuses for root, was sent.
    NoProcessGroup,
    KillFailed(String),
}

impl Stopped {
    fn describe(&self) -> String {
        match self {
            Self::NeverStarted => "; it had not started".to_owned(),
            Self::Ended => "; it was stopped".to_owned(),
            Self::Signalled => {
                format!("; TERM was sent to its processes, KILL follows after {KILL_AFTER_SECS} s")
            }
            Self::KillUnconfirmed => format!(
                "; kill was sent to its processes but did not report back within {} ms",
                KILL_TIMEOUT.as_millis()
            ),
            Self::NoProcessGroup => {
                "; its process group is unknown, so it may still be running".to_owned()
            }
            Self::KillFailed(e) => {
                format!("; stopping it failed ({e}), so it may still be running")
            }
        }
    }
}

/// Writes stdin, then end-of-file, then waits forever: the run ends when the channel does. A
/// failed write means the channel is going away, which the reader reports.
async fn feed_stdin(write: &WriteHalf, stdin: Option<&[u8]>) -> Infallible {
    for piece in stdin.unwrap_or_default().chunks(STDIN_CHUNK) {
        if write.data_bytes(piece.to_vec()).await.is_err() {
            return pending().await;
        }
    }
    let _ = write.eof().await;
    pending().await
}

/// The running command's output on its way to the sink.
struct Output {
    sink: mpsc::Sender<OutputChunk>,
    sink_open: bool,
    stderr: StderrFilter,
    status: ExecStatus,
}

impl Output {
    fn new(sink: mpsc::Sender<OutputChunk>) -> Self {
        Self {
            sink,
            sink_open: true,
            stderr: StderrFilter::default(),
            status: ExecStatus::default(),
        }
    }

    async fn pump(&mut self, read: &mut ReadHalf, endpoint: &str) -> Result<ExecStatus, SshError> {
        // The channel yields None once the server has closed it; exit status and the last data
        // may arrive in either order before that.
        while let Some(msg) = read.wait().await {
            match msg {
                ChannelMsg::Data { data } => self.forward(Stream::Stdout, data.to_vec()).await,
                // Extended data type 1 is stderr (RFC 4254 §5.2).
                ChannelMsg::ExtendedData { data, ext: 1 } => {
                    let data = self.stderr.push(&data);
                    self.forward(Stream::Stderr, data).await;
                }
                ChannelMsg::ExitStatus { exit_status } => {
                    self.status.exit_code = i32::try_from(exit_status).ok();
                }
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    self.status.exit_signal = Some(signal_name_text(&signal_name));
                }
                ChannelMsg::Failure => {
                    return Err(SshError::new(
                        SshErrorKind::Protocol,
                        format!("{endpoint} refused to run the command"),
                    ));
                }
                _ => {}
            }
        }
        let rest = self.stderr.finish();
        self.forward(Stream::Stderr, rest).await;
        Ok(self.status.clone())
    }

    async fn forward(&mut self, stream: Stream, data: Vec<u8>) {
        if data.is_empty() || !self.sink_open {
            return;
        }
        if self.sink.send(OutputChunk { stream, data }).await.is_err() {
            self.sink_open = false;
        }
    }
}

/// An abandoned command's channel, read and discarded. russh hands each packet to its channel's
/// reader before it handles the next one, for every channel of the connection, so a channel
/// nobody reads would stall the `kill` on the second channel.
struct Drain {
    read: ReadHalf,
    open: bool,
}

impl Drain {
    /// Runs `work` while draining.
    async fn during<T>(&mut self, work: impl Future<Output = T>) -> T {
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                msg = self.read.wait(), if self.open => self.open = msg.is_some(),
            }
        }
    }

    /// Drains until `done` says so or the channel closes, for at most `within`.
    async fn until(&mut self, within: Duration, mut done: impl FnMut(&ChannelMsg) -> bool) {
        let _ = timeout(within, async {
            while self.open {
                match self.read.wait().await {
                    Some(msg) if done(&msg) => return,
                    Some(_) => {}
                    None => self.open = false,
                }
            }
        })
        .await;
    }
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
