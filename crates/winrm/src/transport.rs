//! Authenticated, strictly serialised SOAP exchanges with the listener: one connection at a time,
//! its NTLM context (or Basic header) with it, sealing over plain HTTP.
//!
//! Rules that keep the NTLM context and the server in step (shared/WINRM-NOTES.md, pitfall 1):
//! one request at a time, every sealed response unsealed in order, and any failure after a
//! request left (no answer, a bad seal, an unexpected status) ends the connection. A new
//! connection (and handshake) is opened only where the caller allows it: before a shell exists,
//! or to clean one up. Nothing is ever sent in plaintext over HTTP with NTLM.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rustls::ClientConfig;
use tokio::time::Instant;
use tracing::debug;

use crate::error::{WinrmError, WinrmErrorKind};
use crate::http::{Endpoint, HttpConnection, HttpFailure, HttpResponse};
use crate::ntlm::NtlmContext;
use crate::sealing::{self, SEALED_CONTENT_TYPE};
use crate::{WinrmAuth, WinrmTarget};

const SOAP_CONTENT_TYPE: &str = "application/soap+xml;charset=UTF-8";

/// Whether a request may open a new connection (and authenticate again) when there is none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reconnect {
    /// No shell depends on the connection: a fresh one is as good.
    Allowed,
    /// A command runs on the current connection; losing it is an error, never silently papered
    /// over.
    Never,
}

/// How requests are protected on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protection {
    /// NTLM over plain HTTP: every body sealed (MS-WSMV encryption).
    NtlmSealed,
    /// NTLM over HTTPS: TLS protects the body.
    NtlmTls,
    /// Basic over HTTPS.
    BasicTls,
    /// Basic over plain HTTP, only with `allow_unencrypted`: password and bodies in the clear.
    BasicUnencrypted,
}

impl Protection {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::NtlmSealed => "http+ntlm-sealed",
            Self::NtlmTls => "https+ntlm",
            Self::BasicTls => "https+basic",
            Self::BasicUnencrypted => "http+basic-unencrypted",
        }
    }
}

/// A SOAP response body (unsealed) and its HTTP status (200, or 500 for a fault).
#[derive(Debug)]
pub(crate) struct SoapReply {
    pub status: u16,
    pub xml: String,
}

/// The live connection and its security state.
struct Channel {
    http: HttpConnection,
    /// `Some` for NTLM over plain HTTP.
    ntlm: Option<NtlmContext>,
}

pub(crate) struct Transport {
    pub(crate) endpoint: Endpoint,
    target: WinrmTarget,
    tls: Option<Arc<ClientConfig>>,
    protection: Protection,
    channel: Option<Channel>,
    /// Connections opened (for tests and logs).
    pub(crate) connections: u32,
}

impl Transport {
    /// Checks that the target's transport and auth go together safely; no network yet.
    pub(crate) fn new(target: &WinrmTarget) -> Result<Self, WinrmError> {
        let endpoint = Endpoint::new(&target.host, target.port, target.https);
        let protection = match (&target.auth, target.https) {
            (WinrmAuth::Ntlm { .. }, false) => Protection::NtlmSealed,
            (WinrmAuth::Ntlm { .. }, true) => Protection::NtlmTls,
            (WinrmAuth::Basic { .. }, true) => Protection::BasicTls,
            (WinrmAuth::Basic { .. }, false) if target.allow_unencrypted => {
                Protection::BasicUnencrypted
            }
            (WinrmAuth::Basic { .. }, false) => {
                return Err(WinrmError::new(
                    WinrmErrorKind::Auth,
                    format!(
                        "Basic authentication over plain HTTP would send the password to {} in \
                         clear text; use HTTPS, NTLM, or allow unencrypted traffic for this target",
                        endpoint.authority()
                    ),
                ));
            }
        };
        let tls = if target.https {
            Some(crate::tls::client_config(
                target.validate_certs,
                target.ca_pem.as_deref(),
            )?)
        } else {
            None
        };
        Ok(Self {
            endpoint,
            target: target.clone(),
            tls,
            protection,
            channel: None,
            connections: 0,
        })
    }

    pub(crate) fn protection(&self) -> Protection {
        self.protection
    }

    /// Drops the connection (the server sees the socket close).
    pub(crate) fn disconnect(&mut self) {
        self.channel = None;
    }

    /// Opens and authenticates a connection unless a live one exists, within the target's
    /// connect timeout (and `limit`).
    pub(crate) async fn ensure_connected(&mut self, limit: Instant) -> Result<(), WinrmError> {
        if self.channel.as_ref().is_some_and(|c| !c.http.is_dead()) {
            return Ok(());
        }
        self.channel = None;
        let deadline = limit.min(Instant::now() + self.target.connect_timeout);
        let mut http = HttpConnection::open(&self.endpoint, self.tls.as_ref(), deadline).await?;
        self.connections += 1;
        let ntlm = match &self.target.auth {
            WinrmAuth::Ntlm {
                username,
                domain,
                password,
            } => {
                let ctx = NtlmContext::new(username, domain, password, &self.endpoint.host)?;
                let ctx = self
                    .ntlm_handshake(&mut http, ctx, username, deadline)
                    .await?;
                (self.protection == Protection::NtlmSealed).then_some(ctx)
            }
            WinrmAuth::Basic { username, .. } => {
                self.basic_check(&mut http, username, deadline).await?;
                None
            }
        };
        debug!(endpoint = %self.endpoint.authority(), transport = self.protection.label(), "winrm connection authenticated");
        self.channel = Some(Channel { http, ntlm });
        Ok(())
    }

    /// Type 1 and type 3 each on an empty-body POST (401 with the challenge, then 200), as
    /// pywinrm does; without the anonymous probe, after which Windows closes the connection.
    async fn ntlm_handshake(
        &self,
        http: &mut HttpConnection,
        mut ctx: NtlmContext,
        username: &str,
        deadline: Instant,
    ) -> Result<NtlmContext, WinrmError> {
        let authority = self.endpoint.authority();
        let negotiate = ctx.negotiate()?;
        let reply = self
            .handshake_post(
                http,
                &format!("Negotiate {}", BASE64.encode(negotiate)),
                deadline,
            )
            .await?;
        let challenge = match reply.status {
            401 => negotiate_token(&reply.www_authenticate).ok_or_else(|| {
                let offered = reply.www_authenticate.join(", ");
                WinrmError::new(
                    WinrmErrorKind::Auth,
                    if offered.is_empty() {
                        format!("{authority} did not answer the NTLM negotiation")
                    } else {
                        format!(
                            "{authority} did not answer the NTLM negotiation (it offers: {offered})"
                        )
                    },
                )
            })?,
            status => {
                return Err(WinrmError::protocol(format!(
                    "{authority} answered the NTLM negotiation with HTTP {status} instead of a \
                     challenge; is this a WinRM listener?"
                )));
            }
        };
        if http.is_dead() {
            return Err(WinrmError::protocol(format!(
                "{authority} closed the connection in the middle of the NTLM handshake"
            )));
        }
        let authenticate = ctx.authenticate(challenge)?;
        let reply = self
            .handshake_post(
                http,
                &format!("Negotiate {}", BASE64.encode(authenticate)),
                deadline,
            )
            .await?;
        match reply.status {
            200 if !http.is_dead() => Ok(ctx),
            200 => Err(WinrmError::protocol(format!(
                "{authority} closed the connection right after NTLM authentication"
            ))),
            401 => Err(WinrmError::new(
                WinrmErrorKind::Auth,
                format!("{authority} rejected the NTLM credentials of '{username}'"),
            )),
            status => Err(WinrmError::protocol(format!(
                "{authority} answered NTLM authentication with HTTP {status}"
            ))),
        }
    }

    /// Basic has no handshake; an empty POST finds out whether the password is right before
    /// any shell is created (401 means no; Windows may answer anything else to an empty body).
    async fn basic_check(
        &self,
        http: &mut HttpConnection,
        username: &str,
        deadline: Instant,
    ) -> Result<(), WinrmError> {
        let reply = self
            .handshake_post(http, &self.basic_header(), deadline)
            .await?;
        if reply.status == 401 {
            let why = if self.protection == Protection::BasicUnencrypted {
                " (or it refuses Basic over plain HTTP: AllowUnencrypted is off there)"
            } else {
                ""
            };
            return Err(WinrmError::new(
                WinrmErrorKind::Auth,
                format!(
                    "{} rejected the Basic credentials of '{username}'{why}",
                    self.endpoint.authority()
                ),
            ));
        }
        Ok(())
    }

    async fn handshake_post(
        &self,
        http: &mut HttpConnection,
        authorization: &str,
        deadline: Instant,
    ) -> Result<HttpResponse, WinrmError> {
        let authority = self.endpoint.authority();
        http.post(
            &[("Authorization", authorization.to_owned())],
            Vec::new(),
            deadline,
        )
        .await
        .map_err(|failure| match failure {
            HttpFailure::TimedOut => WinrmError::new(
                WinrmErrorKind::Timeout,
                format!("authenticating with {authority} did not finish in time"),
            ),
            HttpFailure::NotSent(e) | HttpFailure::Lost(e) => {
                e.context(format!("authenticating with {authority}"))
            }
        })
    }

    fn basic_header(&self) -> String {
        match &self.target.auth {
            WinrmAuth::Basic { username, password } => {
                format!("Basic {}", BASE64.encode(format!("{username}:{password}")))
            }
            WinrmAuth::Ntlm { .. } => String::new(),
        }
    }

    /// Sends one SOAP message and returns the (unsealed) answer. `what` names the operation for
    /// messages. The response must arrive before `limit`, or the connection is abandoned.
    pub(crate) async fn exchange(
        &mut self,
        soap: &str,
        what: &str,
        limit: Instant,
        reconnect: Reconnect,
    ) -> Result<SoapReply, WinrmError> {
        let authority = self.endpoint.authority();
        // One retry, only for a connection found closed before anything of this request was
        // delivered (a keep-alive connection the server had just closed).
        for attempt in 0..2 {
            if self.channel.as_ref().is_none_or(|c| c.http.is_dead()) {
                if reconnect == Reconnect::Never {
                    self.channel = None;
                    return Err(WinrmError::protocol(format!(
                        "{what}: the connection to {authority} was lost while a command was \
                         running; its outcome is unknown"
                    )));
                }
                self.ensure_connected(limit).await?;
            }
            let basic = self.basic_header();
            let Some(channel) = self.channel.as_mut() else {
                return Err(WinrmError::protocol("no connection"));
            };
            let (content_type, body) = match channel.ntlm.as_mut() {
                Some(ctx) => {
                    let (signature, ciphertext) = ctx.seal(soap.as_bytes())?;
                    (SEALED_CONTENT_TYPE, sealing::frame(&signature, &ciphertext))
                }
                None => (SOAP_CONTENT_TYPE, soap.as_bytes().to_vec()),
            };
            let mut headers = vec![("Content-Type", content_type.to_owned())];
            if !basic.is_empty() {
                headers.push(("Authorization", basic));
            }
            let response = match channel.http.post(&headers, body, limit).await {
                Ok(response) => response,
                Err(HttpFailure::NotSent(e)) => {
                    self.channel = None;
                    if attempt == 0 && reconnect == Reconnect::Allowed {
                        debug!(error = %e.message, "winrm connection was closed; reconnecting");
                        continue;
                    }
                    return Err(e.context(format!("{what} on {authority}")));
                }
                Err(HttpFailure::Lost(e)) => {
                    self.channel = None;
                    return Err(e.context(format!("{what} on {authority}")));
                }
                Err(HttpFailure::TimedOut) => {
                    self.channel = None;
                    return Err(WinrmError::new(
                        WinrmErrorKind::Timeout,
                        format!(
                            "{what}: {authority} did not answer in time; the connection was dropped"
                        ),
                    ));
                }
            };
            let reply = self.read_reply(response, what);
            if reply.is_err() {
                self.channel = None;
            }
            return reply;
        }
        Err(WinrmError::protocol(format!(
            "{what}: could not reach {authority}"
        )))
    }

    fn read_reply(&mut self, response: HttpResponse, what: &str) -> Result<SoapReply, WinrmError> {
        let authority = self.endpoint.authority();
        let status = response.status;
        let sealed = response
            .content_type
            .to_ascii_lowercase()
            .starts_with("multipart/encrypted");
        match status {
            200 | 500 => {}
            401 => {
                return Err(WinrmError::new(
                    WinrmErrorKind::Auth,
                    format!(
                        "{what}: {authority} answered HTTP 401: it no longer accepts this \
                         connection's authentication{}",
                        if self.protection == Protection::BasicUnencrypted {
                            " (does it refuse unencrypted traffic?)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            400 if self.protection == Protection::NtlmSealed => {
                return Err(WinrmError::protocol(format!(
                    "{what}: {authority} refused the sealed request (HTTP 400): its framing or \
                     signature was not accepted"
                )));
            }
            _ => {
                return Err(WinrmError::protocol(format!(
                    "{what}: {authority} answered HTTP {status}{}",
                    body_hint(&response.body)
                )));
            }
        }
        let channel = self
            .channel
            .as_mut()
            .ok_or_else(|| WinrmError::protocol("no connection"))?;
        let plaintext = match (channel.ntlm.as_mut(), sealed) {
            (Some(ctx), true) => {
                let parts = sealing::unframe(&response.body)?;
                ctx.unseal(parts.signature, parts.ciphertext)?
            }
            (Some(_), false) => {
                return Err(WinrmError::protocol(format!(
                    "{what}: {authority} answered a sealed request with an unsealed body \
                     (HTTP {status}, {})",
                    response.content_type
                )));
            }
            (None, true) => {
                return Err(WinrmError::protocol(format!(
                    "{what}: {authority} sent a sealed answer that was not asked for"
                )));
            }
            (None, false) => response.body.to_vec(),
        };
        let xml = String::from_utf8(plaintext).map_err(|_| {
            WinrmError::protocol(format!("{what}: the answer from {authority} is not UTF-8"))
        })?;
        Ok(SoapReply { status, xml })
    }
}

/// The token of the first `Negotiate <token>` challenge.
fn negotiate_token(values: &[String]) -> Option<Vec<u8>> {
    values.iter().find_map(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("Negotiate") {
            return None;
        }
        BASE64.decode(token.trim()).ok().filter(|t| !t.is_empty())
    })
}

/// The start of an unexpected response body, for a message (printable text only).
fn body_hint(body: &[u8]) -> String {
    let text: String = String::from_utf8_lossy(body)
        .chars()
        .filter(|c| !c.is_control() || *c == ' ')
        .take(200)
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_challenge_token_is_found_among_other_schemes() {
        let values = vec![
            "Basic realm=\"WSMAN\"".to_owned(),
            format!("Negotiate {}", BASE64.encode(b"NTLMSSP\0\x02")),
        ];
        assert_eq!(negotiate_token(&values), Some(b"NTLMSSP\0\x02".to_vec()));
        assert_eq!(negotiate_token(&["Negotiate".to_owned()]), None);
    }

    #[test]
    fn basic_over_plain_http_needs_explicit_permission() {
        let mut target = WinrmTarget::new(
            "h",
            5985,
            false,
            WinrmAuth::Basic {
                username: "u".into(),
                password: "p4ss".into(),
            },
        );
        let err = Transport::new(&target).err().expect("refused");
        assert_eq!(err.kind, WinrmErrorKind::Auth);
        assert!(!err.message.contains("p4ss"));
        target.allow_unencrypted = true;
        let transport = Transport::new(&target).expect("allowed");
        assert_eq!(transport.protection().label(), "http+basic-unencrypted");
    }
}
