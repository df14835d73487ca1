//! An authenticated WinRM connection. Commands run on it are in `exec.rs`, file copies in
//! `copy.rs`.

use std::fmt;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::{WinrmError, WinrmErrorKind};
use crate::response::Answer;
use crate::soap::Envelope;
use crate::transport::{Reconnect, Transport};
use crate::{RemoteFlavor, WinrmTarget};

/// A connection to a WinRM listener, authenticated.
///
/// Requests on it are strictly one at a time (an NTLM context cannot take them out of order),
/// so commands started concurrently on one session take turns at every request; open one
/// session per command stream that must run in parallel. A command runs in the session's idle
/// shell when there is one (see `exec.rs`); [`WinrmSession::close`] deletes it and closes the
/// connection, which dropping the session also closes.
pub struct WinrmSession {
    pub(crate) transport: Mutex<Transport>,
    pub(crate) endpoint: String,
    pub(crate) url: String,
    pub(crate) flavor: RemoteFlavor,
    label: &'static str,
    /// A shell whose last command ended normally, kept for the next command.
    idle_shell: std::sync::Mutex<Option<String>>,
}

impl fmt::Debug for WinrmSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WinrmSession")
            .field("endpoint", &self.endpoint)
            .field("transport", &self.label)
            .finish_non_exhaustive()
    }
}

impl WinrmSession {
    /// Connects and authenticates within `target.connect_timeout`: the errors of a wrong host,
    /// port, certificate or password come from here, before any command.
    pub async fn connect(target: &WinrmTarget) -> Result<Self, WinrmError> {
        let mut transport = Transport::new(target)?;
        let deadline = Instant::now() + target.connect_timeout;
        transport.ensure_connected(deadline).await?;
        let endpoint = transport.endpoint.authority();
        let url = transport.endpoint.url();
        let label = transport.protection().label();
        Ok(Self {
            transport: Mutex::new(transport),
            endpoint,
            url,
            flavor: target.remote_flavor,
            label,
            idle_shell: std::sync::Mutex::new(None),
        })
    }

    /// `host:port` this session is connected to.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// How requests are protected: `http+ntlm-sealed`, `https+ntlm`, `https+basic` or
    /// `http+basic-unencrypted`.
    pub fn transport(&self) -> &'static str {
        self.label
    }

    /// How many TCP connections (each with its own authentication) this session has opened.
    pub async fn connections_opened(&self) -> u32 {
        self.transport.lock().await.connections
    }

    /// Deletes the idle shell (if any) and closes the connection, so nothing is left on the
    /// server. A session dropped without `close` leaves its idle shell to Windows' `IdleTimeout`.
    pub async fn close(self) {
        self.delete_idle_shell().await;
        self.transport.lock().await.disconnect();
    }

    /// Deletes the idle shell, if any, keeping the connection: for a session still shared
    /// when its owner is done with it.
    pub async fn delete_idle_shell(&self) {
        if let Some(shell_id) = self.take_idle_shell() {
            self.delete_shell(&shell_id).await;
        }
    }

    pub(crate) fn take_idle_shell(&self) -> Option<String> {
        self.idle_shell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Keeps `shell_id` as the idle shell; returns the shell that cannot be kept (this one, when
    /// another is already idle).
    pub(crate) fn keep_idle_shell(&self, shell_id: String) -> Option<String> {
        let mut slot = self
            .idle_shell
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.is_some() {
            Some(shell_id)
        } else {
            *slot = Some(shell_id);
            None
        }
    }

    /// One request and its checked answer; faults come back as [`WinrmErrorKind::Fault`].
    pub(crate) async fn call(
        &self,
        envelope: Envelope,
        what: &str,
        limit: Instant,
        reconnect: Reconnect,
    ) -> Result<Answer, WinrmError> {
        let reply = {
            let mut transport = self.transport.lock().await;
            transport
                .exchange(&envelope.xml, what, limit, reconnect)
                .await?
        };
        let answer = Answer::parse(&reply.xml, &envelope.message_id, what)?;
        if reply.status != 200 {
            return Err(WinrmError::new(
                WinrmErrorKind::Protocol,
                format!(
                    "{what}: {} answered HTTP {} without a fault",
                    self.endpoint, reply.status
                ),
            ));
        }
        Ok(answer)
    }
}
