//! Connectors that reach the machines OpsConductor manages.
//!
//! Standalone on purpose: plain types in, plain types out, no other OpsConductor crate. The API and
//! the scheduler translate their own records into these types.

pub mod http;
pub mod ssh;

pub use ssh::{
    DEFAULT_CONNECT_TIMEOUT, ExecOutput, KeyInfo, MAX_CAPTURED_BYTES, SshAuth, SshError,
    SshErrorKind, SshSession, SshTarget, SshTestReport, check_private_key, connect,
    test_connection,
};
