//! Behavioural tests against the real server: each test starts it on port 0 over HTTPS with
//! a fresh database, on SQLite and (when `OPSCONDUCTOR_TEST_POSTGRES_URL` is set) PostgreSQL.

#[macro_use]
mod common;

/// The real-sshd harness the engine's tests use.
#[path = "../../../connectors/tests/support/sshd.rs"]
mod sshd;

/// The WS-Management test server harness the WinRM client's tests use.
#[path = "../../../winrm/tests/support/mod.rs"]
mod wsman;

mod audit;
mod auth;
mod connection_tests;
mod credentials;
mod jobs;
mod ops;
mod run_helpers;
mod runs;
mod runs_ssh;
mod targets;
mod users;
mod winrm;
