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
/// session per command stream that must run in parallel. Each command gets its own remote
/// shell, deleted when it ends. Dropping the session closes the connection;
/// [`WinrmSession::close`] does the same explicitly.
pub struct WinrmSession {
    pub(crate) transport: Mutex<Transport>,
    pub(crate) endpoint: String,
    pub(crate) url: String,
    pub(crate) flavor: RemoteFlavor,
    label: &'static str,
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

    /// Closes the connection. Shells are deleted when their commands end, so nothing is left
    /// on the server.
    pub async fn close(self) {
        self.transport.lock().await.disconnect();
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
