//! Connectors that reach the machines OpsConductor manages.
//!
//! Standalone on purpose: plain types in, plain types out, no other OpsConductor crate. The API and
//! the scheduler translate their own records into these types.

pub mod http;
pub mod ssh;

pub use ssh::{
    CancellationToken, CopyOutcome, DEFAULT_CONNECT_TIMEOUT, ExecOptions, ExecOutput, ExecStatus,
    KeyInfo, MAX_CAPTURED_BYTES, OutputChunk, SshAuth, SshError, SshErrorKind, SshSession,
    SshTarget, SshTestReport, Stream, check_private_key, connect, shell_quote, test_connection,
};
