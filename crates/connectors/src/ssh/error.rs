//! The one error type of the SSH connector: a kind to branch on and a message for an operator.

use std::fmt;

/// What went wrong, coarse enough for an API to map onto a status and a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SshErrorKind {
    /// The host name did not resolve (or is empty).
    Dns,
    /// Every resolved address refused the TCP connection: nothing listens on that port.
    Refused,
    /// No route to the host or the network (the TCP connect failed without a refusal).
    Unreachable,
    /// A deadline passed: resolving, connecting, the handshake, authentication or a command.
    Timeout,
    /// The caller canceled a running command (it was stopped, as on a timeout).
    Canceled,
    /// The server presented a host key other than the pinned one; nothing was authenticated.
    HostKeyMismatch,
    /// The server rejected the credentials.
    Auth,
    /// The private key given for the target cannot be used (damaged, encrypted, wrong passphrase).
    Key,
    /// Anything else on the wire: not an SSH server, no common algorithm, closed connection.
    Protocol,
    /// A copy's destination already exists and overwriting was not allowed; it was left as it was.
    Exists,
    /// A copy could not be written on the target: a bad path or mode, permission denied, a full
    /// disk, no checksum tool, or a checksum that did not match.
    CopyFailed,
}

impl SshErrorKind {
    /// A stable lower-case name, for logs and API bodies.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Refused => "refused",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::Canceled => "canceled",
            Self::HostKeyMismatch => "host_key_mismatch",
            Self::Auth => "auth",
            Self::Key => "key",
            Self::Protocol => "protocol",
            Self::Exists => "exists",
            Self::CopyFailed => "copy_failed",
        }
    }
}

impl fmt::Display for SshErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed SSH operation. The message is written for an operator and never contains a password,
/// a passphrase or key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshError {
    pub kind: SshErrorKind,
    pub message: String,
}

impl SshError {
    pub fn new(kind: SshErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for SshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for SshError {}
