//! Running a command: in the session's idle shell or a new one (Create), the command (Command),
//! stdin (Send), output streamed as it comes (Receive, polled again on w:TimedOut), then Signal
//! terminate. A command that ended normally leaves its shell for the next one, as Ansible and
//! pywinrm reuse shells (one Create and one Delete fewer per command); a command stopped by a
//! timeout, a cancel or an error has its shell deleted, killing whatever still runs in it.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::clixml::StderrDecoder;
use crate::error::{FAULT_INVALID_SELECTORS, FAULT_TIMED_OUT, WinrmError, WinrmErrorKind};
use crate::response::OutStream;
use crate::session::WinrmSession;
use crate::soap::{self, Launch};
use crate::transport::Reconnect;

/// At most this much of each of stdout and stderr is kept by [`WinrmSession::exec`]; the rest
/// is read and dropped so the command can still finish.
pub const MAX_CAPTURED_BYTES: usize = 8 * 1024 * 1024;

/// stdin bytes per Send: 256 KiB is about 350 KB of base64, well inside the 512000-byte
/// envelope Windows accepts by default.
pub(crate) const STDIN_CHUNK: usize = 256 * 1024;
/// The longest a Receive waits on the server for output. It bounds how late a cancel is seen
/// (requests cannot be abandoned without losing the connection), at the price of one w:TimedOut
/// round trip per idle interval.
const RECEIVE_POLL: Duration = Duration::from_secs(2);
/// Servers may refuse very short operation timeouts; near the deadline we wait this long.
const MIN_RECEIVE_WAIT: Duration = Duration::from_millis(500);
/// How much later than its `OperationTimeout` a Receive answer may come before the connection
/// is given up as dead (a busy host answers late, a dead one never).
const RESPONSE_GRACE: Duration = Duration::from_secs(30);
/// Signal and Delete after a command, each.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(5);
/// Chunks in flight between [`WinrmSession::exec_streaming`] and [`WinrmSession::exec`].
const COLLECT_BUFFER: usize = 32;
/// `cmd.exe`'s longest command line.
const MAX_CMD_LINE: usize = 8191;
/// `CreateProcess`'s longest command line.
const MAX_PROCESS_LINE: usize = 32767;

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A PowerShell script, run as `powershell.exe -NoProfile -NonInteractive -EncodedCommand
    /// <base64 UTF-16LE>` (so no quoting problems), started directly rather than through cmd.
    /// Its CLIXML error stream arrives as readable text. The encoded script must fit in a
    /// Windows command line (about 16000 characters of script).
    PowerShell(String),
    /// A command line run through `cmd /c`, as `winrs` does (at most 8191 characters).
    Cmd(String),
}

impl Command {
    pub(crate) fn command_line(&self) -> Result<(String, bool), WinrmError> {
        match self {
            Self::PowerShell(script) => {
                let utf16: Vec<u8> = script.encode_utf16().flat_map(u16::to_le_bytes).collect();
                let line = format!(
                    "powershell.exe -NoProfile -NonInteractive -EncodedCommand {}",
                    BASE64.encode(utf16)
                );
                if line.len() > MAX_PROCESS_LINE {
                    return Err(WinrmError::protocol(format!(
                        "the PowerShell script is too long for -EncodedCommand ({} characters \
                         encoded, Windows allows {MAX_PROCESS_LINE})",
                        line.len()
                    )));
                }
                Ok((line, true))
            }
            Self::Cmd(line) => {
                if line.trim().is_empty() {
                    return Err(WinrmError::protocol("the command line is empty"));
                }
                if line.chars().count() > MAX_CMD_LINE {
                    return Err(WinrmError::protocol(format!(
                        "the command line is longer than cmd.exe's {MAX_CMD_LINE} characters"
                    )));
                }
                Ok((line.clone(), false))
            }
        }
    }
}

/// What a command did, collected by [`WinrmSession::exec`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecOutput {
    /// Standard output, decoded as UTF-8 with invalid bytes replaced (the shell asks Windows
    /// for code page 65001, UTF-8).
    pub stdout: String,
    /// Standard error, decoded likewise, with PowerShell's CLIXML turned into text.
    pub stderr: String,
    /// The exit status; `None` when the server reported none.
    pub exit_code: Option<i32>,
    /// True when stdout or stderr passed [`MAX_CAPTURED_BYTES`] and was cut there.
    pub truncated: bool,
}

/// How a command ended, from [`WinrmSession::exec_streaming`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecStatus {
    /// The exit status (Windows' DWORD as `i32`: `0xC000013A` is negative); `None` when the
    /// server reported none.
    pub exit_code: Option<i32>,
}

/// Which of the command's outputs a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// A piece of a command's output as it arrived (not split into lines). Stderr chunks of
/// PowerShell's CLIXML are already decoded to text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    pub stream: Stream,
    pub data: Vec<u8>,
}

/// How to run a command with [`WinrmSession::exec_streaming`].
#[derive(Debug, Clone, Copy)]
pub struct ExecOptions<'a> {
    /// For the whole run: creating the shell, sending stdin, waiting for the command to end.
    pub timeout: Duration,
    /// Cancelling it stops the command as a timeout does, with [`WinrmErrorKind::Canceled`].
    pub cancel: &'a CancellationToken,
    /// Sent to the command's stdin (a pipe), then closed. `None` leaves stdin a console that is
    /// never written, as `winrs` does: a command that waits for input waits until the timeout.
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

/// The stdin of a run, produced one Send at a time so a large input is never held twice.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stdin<'a> {
    None,
    Bytes(&'a [u8]),
    /// Base64 text lines of the bytes, for a receiving script that decodes line by line.
    Base64Lines(&'a [u8]),
}

/// Content bytes per base64 line: a multiple of 3, so only the last line has padding and the
/// lines also decode as one concatenated stream.
pub(crate) const LINE_BYTES: usize = 48 * 1024;
/// Lines per Send: 4 × (65536 + 1) characters, about [`STDIN_CHUNK`].
const LINES_PER_SEND: usize = 4;

impl Stdin<'_> {
    /// The pieces to send, in order; empty for [`Stdin::None`].
    fn pieces<'s>(self) -> Box<dyn Iterator<Item = Vec<u8>> + Send + 's>
    where
        Self: 's,
    {
        match self {
            Self::None => Box::new(std::iter::empty()),
            Self::Bytes([]) | Self::Base64Lines([]) => Box::new(std::iter::once(Vec::new())),
            Self::Bytes(data) => Box::new(data.chunks(STDIN_CHUNK).map(<[u8]>::to_vec)),
            Self::Base64Lines(data) => {
                Box::new(data.chunks(LINE_BYTES * LINES_PER_SEND).map(|piece| {
                    let mut text = Vec::with_capacity(piece.len() / 3 * 4 + 8);
                    for line in piece.chunks(LINE_BYTES) {
                        text.extend_from_slice(BASE64.encode(line).as_bytes());
                        text.push(b'\n');
                    }
                    text
                }))
            }
        }
    }

    fn is_some(self) -> bool {
        !matches!(self, Self::None)
    }
}

/// One run's parameters, as the public methods and `copy` hand them over.
pub(crate) struct Run<'a> {
    pub command: &'a Command,
    pub stdin: Stdin<'a>,
    pub timeout: Duration,
    pub cancel: &'a CancellationToken,
}

/// Why a run was stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    TimedOut,
    Canceled,
}

impl WinrmSession {
    /// Runs `command` and collects its output and exit status.
    ///
    /// On timeout the command is stopped as [`WinrmSession::exec_streaming`] describes and
    /// [`WinrmErrorKind::Timeout`] is returned; the session stays usable.
    pub async fn exec(
        &self,
        command: &Command,
        timeout: Duration,
    ) -> Result<ExecOutput, WinrmError> {
        let cancel = CancellationToken::new();
        self.exec_collect(Run {
            command,
            stdin: Stdin::None,
            timeout,
            cancel: &cancel,
        })
        .await
    }

    /// [`WinrmSession::exec_streaming`], collected into an [`ExecOutput`].
    pub(crate) async fn exec_collect(&self, run: Run<'_>) -> Result<ExecOutput, WinrmError> {
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
        let (status, (stdout, stderr)) = tokio::join!(self.run(run, sink), collect);
        let status = status?;
        Ok(ExecOutput {
            truncated: stdout.truncated || stderr.truncated,
            stdout: String::from_utf8_lossy(&stdout.bytes).into_owned(),
            stderr: String::from_utf8_lossy(&stderr.bytes).into_owned(),
            exit_code: status.exit_code,
        })
    }

    /// Runs `command` in the session's idle shell (or a new one), feeds it `opts.stdin`, and
    /// sends its output to `sink` in order as it arrives.
    ///
    /// A slow `sink` slows the polling down (the server holds the output); a `sink` whose
    /// receiver is gone is ignored and the output is drained.
    ///
    /// On timeout or cancel the command gets Signal `terminate` (Windows ends its process
    /// tree) and the caller gets [`WinrmErrorKind::Timeout`] or [`WinrmErrorKind::Canceled`].
    /// A cancel is noticed between requests: within about 2 s while the command runs. A
    /// stopped or failed command's shell is deleted (best effort, over a new connection if the
    /// old one was lost); after a normal end the shell stays for the next command, so processes
    /// the command left running in the background live until the session closes. A connection lost while the command runs is an error, never retried: the
    /// command's outcome is unknown. Dropping the future instead leaves the command and its
    /// shell on the server (until Windows' idle timeout) and the connection is replaced for
    /// the next command: prefer the token.
    pub async fn exec_streaming(
        &self,
        command: &Command,
        opts: ExecOptions<'_>,
        sink: mpsc::Sender<OutputChunk>,
    ) -> Result<ExecStatus, WinrmError> {
        let stdin = opts.stdin.map_or(Stdin::None, Stdin::Bytes);
        self.run(
            Run {
                command,
                stdin,
                timeout: opts.timeout,
                cancel: opts.cancel,
            },
            sink,
        )
        .await
    }

    pub(crate) async fn run(
        &self,
        run: Run<'_>,
        sink: mpsc::Sender<OutputChunk>,
    ) -> Result<ExecStatus, WinrmError> {
        let deadline = Instant::now() + run.timeout;
        let (line, skip_cmd_shell) = run.command.command_line()?;
        if run.cancel.is_cancelled() {
            return Err(WinrmError::new(
                WinrmErrorKind::Canceled,
                format!(
                    "the command on {} was canceled before it started",
                    self.endpoint
                ),
            ));
        }
        let launch = Launch {
            pipe_stdin: run.stdin.is_some(),
            skip_cmd_shell,
        };
        let (shell_id, command_id) = self.start(&line, launch, deadline).await?;
        let mut output = Output::new(sink);
        let result = self
            .follow(&shell_id, &command_id, &run, deadline, &mut output)
            .await;
        output.finish().await;
        match &result {
            Ok(_) => self.finish_command(shell_id, &command_id).await,
            Err(_) => self.delete_shell(&shell_id).await,
        }
        result
    }

    /// Starts the command in the session's idle shell, or in a new one. Windows removes shells
    /// idle for longer than its `IdleTimeout`: when the idle shell is gone (a fault), a new
    /// shell is created once. No command runs yet, so a closed connection may be reopened.
    async fn start(
        &self,
        line: &str,
        launch: Launch,
        deadline: Instant,
    ) -> Result<(String, String), WinrmError> {
        if let Some(shell_id) = self.take_idle_shell() {
            match self.start_in(&shell_id, line, launch, deadline).await {
                Ok(command_id) => return Ok((shell_id, command_id)),
                // Only "no such shell" means it is gone; after any other fault (a quota, access
                // denied) the shell still exists and must not be left behind.
                Err(e) if e.kind == WinrmErrorKind::Fault(FAULT_INVALID_SELECTORS) => {
                    debug!(shell_id, error = %e.message, "winrm idle shell gone; creating another");
                }
                Err(e) => {
                    self.delete_shell(&shell_id).await;
                    return Err(e);
                }
            }
        }
        let shell_id = self
            .call(
                soap::create(&self.url),
                "creating a shell",
                deadline,
                Reconnect::Allowed,
            )
            .await?
            .shell_id()?;
        match self.start_in(&shell_id, line, launch, deadline).await {
            Ok(command_id) => Ok((shell_id, command_id)),
            Err(e) => {
                self.delete_shell(&shell_id).await;
                Err(e)
            }
        }
    }

    async fn start_in(
        &self,
        shell_id: &str,
        line: &str,
        launch: Launch,
        deadline: Instant,
    ) -> Result<String, WinrmError> {
        self.call(
            soap::command(&self.url, shell_id, line, launch),
            "starting the command",
            deadline,
            Reconnect::Allowed,
        )
        .await?
        .command_id()
    }

    /// After a command ended normally: Signal terminate releases it on the server (as `winrs`
    /// does), and its shell becomes the session's idle shell, or is deleted if the session
    /// already keeps one (commands ran concurrently). A failed Signal costs the shell.
    async fn finish_command(&self, shell_id: String, command_id: &str) {
        let signalled = self
            .call(
                soap::terminate(&self.url, &shell_id, command_id),
                "releasing the command",
                Instant::now() + CLEANUP_TIMEOUT,
                Reconnect::Allowed,
            )
            .await;
        if let Err(e) = signalled {
            debug!(endpoint = %self.endpoint, shell_id, error = %e.message, "winrm command not released");
            self.delete_shell(&shell_id).await;
            return;
        }
        if let Some(extra) = self.keep_idle_shell(shell_id) {
            self.delete_shell(&extra).await;
        }
    }

    /// Follows a started command: stdin, then output until it is done, or stops it.
    async fn follow(
        &self,
        shell_id: &str,
        command_id: &str,
        run: &Run<'_>,
        deadline: Instant,
        output: &mut Output,
    ) -> Result<ExecStatus, WinrmError> {
        let stop_check = || {
            if run.cancel.is_cancelled() {
                Some(Stop::Canceled)
            } else if Instant::now() >= deadline {
                Some(Stop::TimedOut)
            } else {
                None
            }
        };
        let mut pieces = run.stdin.pieces().peekable();
        while let Some(piece) = pieces.next() {
            if let Some(stop) = stop_check() {
                return Err(self.stop(shell_id, command_id, stop, run.timeout).await);
            }
            let end = pieces.peek().is_none();
            let sent = self
                .call(
                    soap::send(&self.url, shell_id, command_id, &piece, end),
                    "sending stdin",
                    deadline,
                    Reconnect::Never,
                )
                .await;
            match sent {
                Ok(_) => {}
                // The command ended before taking all its input (Windows faults the Send);
                // its output and exit code are still to be received.
                Err(e) if matches!(e.kind, WinrmErrorKind::Fault(_)) => {
                    debug!(error = %e.message, "winrm stdin not taken; receiving");
                    break;
                }
                Err(e) => return Err(e),
            }
        }

        loop {
            if let Some(stop) = stop_check() {
                return Err(self.stop(shell_id, command_id, stop, run.timeout).await);
            }
            let now = Instant::now();
            let wait = deadline
                .saturating_duration_since(now)
                .clamp(MIN_RECEIVE_WAIT, RECEIVE_POLL);
            let answer = self
                .call(
                    soap::receive(&self.url, shell_id, command_id, wait),
                    "receiving output",
                    now + wait + RESPONSE_GRACE,
                    Reconnect::Never,
                )
                .await;
            let received = match answer {
                Ok(answer) => answer.received()?,
                Err(e) if e.kind == WinrmErrorKind::Fault(FAULT_TIMED_OUT) => continue,
                Err(e) => return Err(e),
            };
            for (stream, data) in received.chunks {
                output.push(stream, data).await;
            }
            if received.done {
                return Ok(ExecStatus {
                    exit_code: received.exit_code,
                });
            }
        }
    }

    /// Signals `terminate` to an abandoned command and builds the caller's error.
    async fn stop(
        &self,
        shell_id: &str,
        command_id: &str,
        why: Stop,
        timeout: Duration,
    ) -> WinrmError {
        let signalled = self
            .call(
                soap::terminate(&self.url, shell_id, command_id),
                "stopping the command",
                Instant::now() + CLEANUP_TIMEOUT,
                Reconnect::Never,
            )
            .await;
        let outcome = match signalled {
            Ok(_) => "; it was stopped (Signal terminate)".to_owned(),
            Err(e) => format!(
                "; stopping it failed ({}), so deleting its shell has to end it",
                e.message
            ),
        };
        match why {
            Stop::TimedOut => WinrmError::new(
                WinrmErrorKind::Timeout,
                format!(
                    "the command on {} did not finish within {} ms{outcome}",
                    self.endpoint,
                    timeout.as_millis()
                ),
            ),
            Stop::Canceled => WinrmError::new(
                WinrmErrorKind::Canceled,
                format!("the command on {} was canceled{outcome}", self.endpoint),
            ),
        }
    }

    /// Deletes the shell, killing whatever still runs in it. Best effort: a failure is logged;
    /// Windows also removes idle shells after their `IdleTimeOut`.
    pub(crate) async fn delete_shell(&self, shell_id: &str) {
        let deleted = self
            .call(
                soap::delete(&self.url, shell_id),
                "deleting the shell",
                Instant::now() + CLEANUP_TIMEOUT,
                Reconnect::Allowed,
            )
            .await;
        if let Err(e) = deleted {
            debug!(endpoint = %self.endpoint, shell_id, error = %e.message, "winrm shell not deleted");
        }
    }
}

/// The running command's output on its way to the sink.
struct Output {
    sink: mpsc::Sender<OutputChunk>,
    sink_open: bool,
    stderr: StderrDecoder,
}

impl Output {
    fn new(sink: mpsc::Sender<OutputChunk>) -> Self {
        Self {
            sink,
            sink_open: true,
            stderr: StderrDecoder::default(),
        }
    }

    async fn push(&mut self, stream: OutStream, data: Vec<u8>) {
        match stream {
            OutStream::Stdout => self.forward(Stream::Stdout, data).await,
            OutStream::Stderr => {
                let text = self.stderr.push(&data);
                self.forward(Stream::Stderr, text).await;
            }
        }
    }

    /// Flushes what the stderr decoder still holds.
    async fn finish(&mut self) {
        let rest = self.stderr.finish();
        self.forward(Stream::Stderr, rest).await;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powershell_is_encoded_as_utf16le_base64() {
        let (line, skip) = Command::PowerShell("echo é".into())
            .command_line()
            .expect("line");
        assert!(skip);
        let b64 = line.rsplit(' ').next().expect("b64");
        let bytes = BASE64.decode(b64).expect("base64");
        assert_eq!(bytes, b"e\0c\0h\0o\0 \0\xe9\0");
        assert!(line.starts_with("powershell.exe -NoProfile -NonInteractive -EncodedCommand "));
    }

    #[test]
    fn overlong_commands_are_refused_before_anything_is_sent() {
        let err = Command::PowerShell("x".repeat(20_000))
            .command_line()
            .expect_err("long");
        assert!(err.message.contains("too long"), "{err}");
        assert!(Command::Cmd("x".repeat(8192)).command_line().is_err());
        assert!(Command::Cmd("  ".into()).command_line().is_err());
        assert_eq!(
            Command::Cmd("dir".into()).command_line().expect("ok"),
            ("dir".to_owned(), false)
        );
    }

    #[test]
    fn base64_lines_decode_back_to_the_content() {
        let content: Vec<u8> = (0..LINE_BYTES * 9 + 5)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let pieces: Vec<Vec<u8>> = Stdin::Base64Lines(&content).pieces().collect();
        assert_eq!(pieces.len(), 3);
        assert!(
            pieces
                .iter()
                .all(|p| p.len() <= STDIN_CHUNK + LINES_PER_SEND + 8)
        );
        let text: Vec<u8> = pieces.concat();
        let mut decoded = Vec::new();
        for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            decoded.extend(BASE64.decode(line).expect("line"));
        }
        assert_eq!(decoded, content);
        assert_eq!(Stdin::Base64Lines(b"").pieces().count(), 1);
        assert_eq!(Stdin::None.pieces().count(), 0);
    }

    #[test]
    fn stdin_sends_fit_in_an_envelope() {
        let piece = vec![0u8; STDIN_CHUNK + LINES_PER_SEND + 8];
        let envelope = soap::send("http://host.example:5985/wsman", "S", "C", &piece, true);
        assert!(
            envelope.xml.len() < soap::MAX_ENVELOPE_SIZE,
            "{}",
            envelope.xml.len()
        );
    }
}
