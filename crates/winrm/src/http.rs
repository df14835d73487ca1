//! One HTTP/1.1 connection to the listener: resolve, TCP, TLS when asked, then hyper's
//! connection-level client, which never pools or reconnects behind our back. That matters: an
//! NTLM context belongs to exactly one TCP connection.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, HOST, WWW_AUTHENTICATE};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tracing::debug;

use crate::error::{WinrmError, WinrmErrorKind};

/// The largest response body accepted. A Receive reply is bounded by `MaxEnvelopeSize` (about
/// 500 KB); anything far larger is not a WinRM answer.
const MAX_RESPONSE_BODY: usize = 16 * 1024 * 1024;

/// Where the listener is, as the requests must name it.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// Host name or IP address without brackets.
    pub host: String,
    pub port: u16,
    pub https: bool,
}

impl Endpoint {
    pub(crate) fn new(host: &str, port: u16, https: bool) -> Self {
        let host = host.trim();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        Self {
            host: host.to_owned(),
            port,
            https,
        }
    }

    /// `host:port`, `[v6]:port` for IPv6 addresses: the `Host` header and for messages.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The listener's URL, for `wsa:To`.
    pub(crate) fn url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        format!("{scheme}://{}/wsman", self.authority())
    }
}

/// What came back for a request, body read in full.
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: u16,
    /// Every `WWW-Authenticate` value.
    pub www_authenticate: Vec<String>,
    pub content_type: String,
    pub body: Bytes,
}

/// Why a request got no response.
#[derive(Debug)]
pub(crate) enum HttpFailure {
    /// The connection was found closed before anything was written: nothing reached the server.
    NotSent(WinrmError),
    /// The request may have reached the server but no complete response came back.
    Lost(WinrmError),
    /// No response before the limit; the connection is abandoned.
    TimedOut,
}

/// An open connection. Dropping it closes the socket.
pub(crate) struct HttpConnection {
    sender: SendRequest<Full<Bytes>>,
    task: JoinHandle<()>,
    host_header: String,
    /// Set once the server announced `Connection: close` or a request failed.
    dead: bool,
}

impl Drop for HttpConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpConnection {
    /// Resolves, connects (trying each address in turn) and does the TLS handshake when `tls`
    /// is given, all before `deadline`.
    pub(crate) async fn open(
        endpoint: &Endpoint,
        tls: Option<&Arc<ClientConfig>>,
        deadline: Instant,
    ) -> Result<Self, WinrmError> {
        let addrs = resolve(endpoint, deadline).await?;
        let tcp = connect_tcp(endpoint, &addrs, deadline).await?;
        let host_header = endpoint.authority();
        match tls {
            None => Self::handshake(tcp, host_header).await,
            Some(config) => {
                let name = ServerName::try_from(endpoint.host.clone()).map_err(|e| {
                    WinrmError::new(
                        WinrmErrorKind::Tls,
                        format!(
                            "'{}' cannot be checked against a certificate: {e}",
                            endpoint.host
                        ),
                    )
                })?;
                let connector = TlsConnector::from(Arc::clone(config));
                let stream = match timeout_at(deadline, connector.connect(name, tcp)).await {
                    Err(_) => {
                        return Err(WinrmError::new(
                            WinrmErrorKind::Timeout,
                            format!(
                                "the TLS handshake with {} did not finish in time",
                                endpoint.authority()
                            ),
                        ));
                    }
                    Ok(Err(e)) => return Err(tls_failure(endpoint, &e)),
                    Ok(Ok(stream)) => stream,
                };
                Self::handshake(stream, host_header).await
            }
        }
    }

    async fn handshake<T>(io: T, host_header: String) -> Result<Self, WinrmError>
    where
        T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        let (sender, connection) = http1::handshake(TokioIo::new(io))
            .await
            .map_err(|e| WinrmError::protocol(format!("cannot start HTTP/1.1: {e}")))?;
        let task = tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(error = %e, "winrm http connection ended");
            }
        });
        Ok(Self {
            sender,
            task,
            host_header,
            dead: false,
        })
    }

    /// True once the connection cannot carry another request.
    pub(crate) fn is_dead(&self) -> bool {
        self.dead || self.sender.is_closed()
    }

    /// POSTs `body` to `/wsman` and reads the whole response, unless `limit` passes first (then
    /// the connection is abandoned: a late response would belong to nobody).
    pub(crate) async fn post(
        &mut self,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
        limit: Instant,
    ) -> Result<HttpResponse, HttpFailure> {
        if self.dead {
            return Err(HttpFailure::NotSent(WinrmError::protocol(
                "the connection was already closed",
            )));
        }
        if let Err(e) = self.sender.ready().await {
            self.dead = true;
            return Err(HttpFailure::NotSent(WinrmError::protocol(format!(
                "the connection was closed by the server ({e})"
            ))));
        }
        let mut request = Request::builder()
            .method(Method::POST)
            .uri("/wsman")
            .header(HOST, &self.host_header)
            .header(CONTENT_LENGTH, body.len())
            .header(
                "User-Agent",
                concat!("OpsConductor-WinRM/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| HttpFailure::NotSent(WinrmError::protocol(format!("bad request: {e}"))))?;
        // Until the whole response is read the connection counts as dead: if this future is
        // dropped half way, the next request must not get this request's answer.
        self.dead = true;
        let exchange = async {
            let response = self
                .sender
                .try_send_request(request)
                .await
                .map_err(|mut e| {
                    let message =
                        format!("no response from the server ({})", hyper_cause(e.error()));
                    // hyper hands the request back when none of it was written.
                    if e.take_message().is_some() {
                        HttpFailure::NotSent(WinrmError::protocol(message))
                    } else {
                        HttpFailure::Lost(WinrmError::protocol(message))
                    }
                })?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_RESPONSE_BODY)
                .collect()
                .await
                .map_err(|e| {
                    HttpFailure::Lost(WinrmError::protocol(format!(
                        "the response body could not be read ({e})"
                    )))
                })?
                .to_bytes();
            Ok::<_, HttpFailure>((parts, body))
        };
        let (parts, body) = match timeout_at(limit, exchange).await {
            Err(_) => return Err(HttpFailure::TimedOut),
            Ok(Err(failure)) => return Err(failure),
            Ok(Ok(done)) => done,
        };
        let header_text = |v: &hyper::header::HeaderValue| v.to_str().unwrap_or("").to_owned();
        let closing = parts
            .headers
            .get_all(CONNECTION)
            .iter()
            .any(|v| header_text(v).eq_ignore_ascii_case("close"));
        self.dead = closing;
        Ok(HttpResponse {
            status: parts.status.as_u16(),
            www_authenticate: parts
                .headers
                .get_all(WWW_AUTHENTICATE)
                .iter()
                .map(header_text)
                .collect(),
            content_type: parts
                .headers
                .get(CONTENT_TYPE)
                .map(header_text)
                .unwrap_or_default(),
            body,
        })
    }
}

/// hyper's error text plus its source (where "connection closed before message completed" and
/// the I/O error live).
fn hyper_cause(e: &hyper::Error) -> String {
    match std::error::Error::source(e) {
        Some(source) => format!("{e}: {source}"),
        None => e.to_string(),
    }
}

async fn resolve(endpoint: &Endpoint, deadline: Instant) -> Result<Vec<SocketAddr>, WinrmError> {
    let host = endpoint.host.as_str();
    if host.is_empty() {
        return Err(WinrmError::new(
            WinrmErrorKind::Dns,
            "no host name was given",
        ));
    }
    let cannot = |detail: &dyn std::fmt::Display| {
        WinrmError::new(
            WinrmErrorKind::Dns,
            format!("cannot resolve host '{host}' ({detail})"),
        )
    };
    match timeout_at(deadline, tokio::net::lookup_host((host, endpoint.port))).await {
        Err(_) => Err(WinrmError::new(
            WinrmErrorKind::Timeout,
            format!("resolving '{host}' did not finish in time"),
        )),
        Ok(Err(e)) => Err(cannot(&e)),
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if addrs.is_empty() {
                Err(cannot(&"no addresses"))
            } else {
                Ok(addrs)
            }
        }
    }
}

/// Tries each resolved address in turn and reports the last failure.
async fn connect_tcp(
    endpoint: &Endpoint,
    addrs: &[SocketAddr],
    deadline: Instant,
) -> Result<TcpStream, WinrmError> {
    let authority = endpoint.authority();
    let timed_out = || {
        WinrmError::new(
            WinrmErrorKind::Timeout,
            format!("connecting to {authority} did not finish in time"),
        )
    };
    let mut last_error = None;
    for addr in addrs {
        match timeout_at(deadline, TcpStream::connect(addr)).await {
            Err(_) => return Err(timed_out()),
            Ok(Ok(stream)) => {
                // Every request waits for its answer; Nagle would only add latency.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Ok(Err(e)) => {
                debug!(%addr, error = %e, "winrm tcp connect failed");
                last_error = Some((*addr, e));
            }
        }
    }
    let Some((addr, e)) = last_error else {
        return Err(WinrmError::new(
            WinrmErrorKind::Dns,
            format!("cannot resolve host '{}' (no addresses)", endpoint.host),
        ));
    };
    Err(match e.kind() {
        io::ErrorKind::ConnectionRefused => WinrmError::new(
            WinrmErrorKind::Refused,
            format!("connection refused by {authority} ({addr}): no WinRM listener on that port"),
        ),
        io::ErrorKind::TimedOut => timed_out(),
        _ => WinrmError::new(
            WinrmErrorKind::Unreachable,
            format!("cannot connect to {authority} ({addr}): {e}"),
        ),
    })
}

fn tls_failure(endpoint: &Endpoint, e: &io::Error) -> WinrmError {
    let detail = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .map_or_else(|| e.to_string(), ToString::to_string);
    WinrmError::new(
        WinrmErrorKind::Tls,
        format!(
            "the TLS handshake with {} failed: {detail}",
            endpoint.authority()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_write_ipv6_in_brackets() {
        let v6 = Endpoint::new("[::1]", 5986, true);
        assert_eq!(v6.host, "::1");
        assert_eq!(v6.url(), "https://[::1]:5986/wsman");
        let v4 = Endpoint::new(" win1.example.net ", 5985, false);
        assert_eq!(v4.authority(), "win1.example.net:5985");
        assert_eq!(v4.url(), "http://win1.example.net:5985/wsman");
    }
}
