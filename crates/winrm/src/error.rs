//! The one error type of the WinRM client: a kind to branch on and a message for an operator.

use std::fmt;

/// The WS-Management fault code Windows sends when a Receive saw no output within its
/// `OperationTimeout` (`w:TimedOut`): not an error, the client polls again.
pub const FAULT_TIMED_OUT: u32 = 2_150_858_793;
/// `w:InvalidSelectors`: the shell or command named in the request does not exist (any more).
pub const FAULT_INVALID_SELECTORS: u32 = 2_150_858_843;

/// What went wrong, coarse enough for an API to map onto a status and a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WinrmErrorKind {
    /// The host name did not resolve (or is empty).
    Dns,
    /// Every resolved address refused the TCP connection: nothing listens on that port.
    Refused,
    /// No route to the host or the network (the TCP connect failed without a refusal).
    Unreachable,
    /// A deadline passed: connecting, authenticating, or a command.
    Timeout,
    /// The TLS handshake failed: an untrusted or mismatched certificate, or no TLS on the port.
    Tls,
    /// The server rejected the credentials, or they cannot be used safely on this transport.
    Auth,
    /// Anything else on the wire: not a WinRM listener, a broken or desynchronised connection,
    /// an answer that does not parse.
    Protocol,
    /// The server answered with a WS-Management SOAP fault; the value is its `WSManFault` code
    /// (0 when the fault carried none).
    Fault(u32),
    /// The caller canceled a running command (it was stopped, as on a timeout).
    Canceled,
    /// A copy's destination already exists and overwriting was not allowed; it was left as it was.
    Exists,
    /// A copy could not be written on the target: a bad path, permission denied, a full disk, or
    /// a checksum that did not match.
    CopyFailed,
}

impl WinrmErrorKind {
    /// A stable lower-case name, for logs and API bodies (`fault` for every fault code).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Refused => "refused",
            Self::Unreachable => "unreachable",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::Auth => "auth",
            Self::Protocol => "protocol",
            Self::Fault(_) => "fault",
            Self::Canceled => "canceled",
            Self::Exists => "exists",
            Self::CopyFailed => "copy_failed",
        }
    }
}

impl fmt::Display for WinrmErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed WinRM operation. The message is written for an operator and never contains a
/// password or a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct WinrmError {
    pub kind: WinrmErrorKind,
    pub message: String,
}

impl WinrmError {
    pub fn new(kind: WinrmErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    pub(crate) fn protocol(message: impl Into<String>) -> Self {
        Self::new(WinrmErrorKind::Protocol, message)
    }

    /// The same error with `context` in front of the message, e.g. what was being done.
    pub(crate) fn context(self, context: impl fmt::Display) -> Self {
        Self {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_names() {
        assert_eq!(WinrmErrorKind::Fault(FAULT_TIMED_OUT).as_str(), "fault");
        assert_eq!(WinrmErrorKind::CopyFailed.to_string(), "copy_failed");
        let e = WinrmError::new(WinrmErrorKind::Auth, "rejected").context("connecting");
        assert_eq!(e.to_string(), "connecting: rejected");
        assert_eq!(e.kind, WinrmErrorKind::Auth);
    }
}
