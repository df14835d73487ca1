//! An authenticated SSH connection. Commands run on it are in `exec.rs`, file copies in `copy.rs`.

use std::fmt;
use std::time::Duration;

use russh::Disconnect;
use russh::client::Handle;
use tokio::time::timeout;

use super::host_key::{HostKeyCheck, PresentedKey};

/// How long an abandoned command's channel gets to take the signal and close, and a closing
/// session to say goodbye, before they are dropped.
pub(super) const CLEANUP_GRACE: Duration = Duration::from_millis(500);

/// An authenticated connection. Commands may run concurrently on one session (each gets its own
/// channel); dropping the session closes the connection, [`SshSession::close`] does it politely.
pub struct SshSession {
    pub(super) handle: Handle<HostKeyCheck>,
    host_key: PresentedKey,
    pub(super) endpoint: String,
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

    /// Says goodbye to the server and waits briefly for the connection to wind down.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
        let _ = timeout(CLEANUP_GRACE, self.handle).await;
    }
}
