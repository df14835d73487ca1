//! The HTTP connector: one request with a deadline, the status, and a bounded body. Used by
//! connection tests today and by `http.request` steps later.

use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The most of a response body that is kept; the rest is dropped.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// One request to make.
#[derive(Clone)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// Sent as `Authorization: Bearer …`.
    pub bearer: Option<String>,
    pub timeout: Duration,
    /// Check the server's certificate against the system roots (on by default).
    pub validate_certs: bool,
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("bearer", &self.bearer.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

impl HttpRequest {
    pub fn get(url: impl Into<String>) -> Self {
        Self {
            method: "GET".into(),
            url: url.into(),
            headers: Vec::new(),
            body: None,
            bearer: None,
            timeout: Duration::from_secs(10),
            validate_certs: true,
        }
    }
}

/// What came back.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    /// The body as text (invalid UTF-8 replaced), at most [`MAX_BODY_BYTES`].
    pub body: String,
    pub truncated: bool,
    pub duration_ms: u64,
}

/// Why a request got no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpErrorKind {
    Dns,
    Refused,
    Timeout,
    Tls,
    Connect,
    /// The request itself is unusable (bad URL or method).
    Request,
}

impl HttpErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dns => "dns",
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::Tls => "tls",
            Self::Connect => "connect",
            Self::Request => "request",
        }
    }
}

#[derive(Debug, Clone)]
pub struct HttpError {
    pub kind: HttpErrorKind,
    pub message: String,
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for HttpError {}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The shared client (one validating certificates, one not): building a client per request
/// costs its TLS setup and connection pool every time.
fn client(validate_certs: bool) -> Result<reqwest::Client, String> {
    static VALIDATING: OnceLock<reqwest::Client> = OnceLock::new();
    static TRUSTING: OnceLock<reqwest::Client> = OnceLock::new();
    let slot = if validate_certs {
        &VALIDATING
    } else {
        &TRUSTING
    };
    if let Some(client) = slot.get() {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .tls_danger_accept_invalid_certs(!validate_certs)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| e.to_string())?;
    Ok(slot.get_or_init(|| client).clone())
}

/// Sends the request; redirects are not followed (a 3xx is an answer).
pub async fn send(request: &HttpRequest) -> Result<HttpResponse, HttpError> {
    let started = Instant::now();
    let bad = |message: String| HttpError {
        kind: HttpErrorKind::Request,
        message,
    };
    let url = reqwest::Url::parse(&request.url)
        .map_err(|e| bad(format!("invalid URL '{}': {e}", request.url)))?;
    let host = url.host_str().unwrap_or("").to_string();
    let method = reqwest::Method::from_bytes(request.method.as_bytes())
        .map_err(|_| bad(format!("invalid HTTP method '{}'", request.method)))?;
    let client = client(request.validate_certs).map_err(|e| bad(format!("HTTP client: {e}")))?;
    let mut builder = client.request(method, url).timeout(request.timeout);
    for (name, value) in &request.headers {
        builder = builder.header(name, value);
    }
    if let Some(token) = &request.bearer {
        builder = builder.bearer_auth(token);
    }
    if let Some(body) = &request.body {
        builder = builder.body(body.clone());
    }
    let mut response = builder
        .send()
        .await
        .map_err(|e| classify(&e, &request.url, &host, request.timeout))?;
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let mut truncated = false;
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let room = MAX_BODY_BYTES.saturating_sub(body.len());
                if chunk.len() > room {
                    body.extend_from_slice(&chunk[..room]);
                    truncated = true;
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => return Err(classify(&e, &request.url, &host, request.timeout)),
        }
    }
    Ok(HttpResponse {
        status,
        body: String::from_utf8_lossy(&body).into_owned(),
        truncated,
        duration_ms: elapsed_ms(started),
    })
}

fn classify(err: &reqwest::Error, url: &str, host: &str, timeout: Duration) -> HttpError {
    let chain = {
        let mut text = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text.to_lowercase()
    };
    let (kind, message) = if err.is_timeout() {
        (
            HttpErrorKind::Timeout,
            format!("{url} did not answer within {} s", timeout.as_secs_f32()),
        )
    } else if chain.contains("dns error")
        || chain.contains("failed to lookup")
        || chain.contains("name or service not known")
    {
        (HttpErrorKind::Dns, format!("cannot resolve host '{host}'"))
    } else if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake")
    {
        (
            HttpErrorKind::Tls,
            format!("TLS handshake with {url} failed (certificate not trusted?)"),
        )
    } else if chain.contains("refused") {
        (
            HttpErrorKind::Refused,
            format!("connection to {url} was refused"),
        )
    } else {
        (HttpErrorKind::Connect, format!("cannot reach {url}"))
    };
    HttpError { kind, message }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP/1.1 peer on loopback that answers `reply`, or never answers.
    async fn peer(reply: Option<&'static str>) -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            if let Ok((mut socket, _)) = listener.accept().await {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                match reply {
                    Some(text) => {
                        let _ = socket.write_all(text.as_bytes()).await;
                    }
                    None => tokio::time::sleep(Duration::from_secs(30)).await,
                }
            }
        });
        port
    }

    #[tokio::test]
    async fn a_response_gives_status_and_body() {
        let port = peer(Some(
            "HTTP/1.1 418 I'm a teapot\r\ncontent-length: 5\r\nconnection: close\r\n\r\nshort",
        ))
        .await;
        let response = send(&HttpRequest::get(format!("http://127.0.0.1:{port}/x")))
            .await
            .expect("response");
        assert_eq!(response.status, 418);
        assert_eq!(response.body, "short");
    }

    #[tokio::test]
    async fn failures_say_why() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let err = send(&HttpRequest::get(format!("http://127.0.0.1:{closed}/")))
            .await
            .expect_err("refused");
        assert_eq!(err.kind, HttpErrorKind::Refused, "{err}");
        let err = send(&HttpRequest::get("http://no-such-host.invalid/"))
            .await
            .expect_err("dns");
        assert_eq!(err.kind, HttpErrorKind::Dns, "{err}");
        let silent = peer(None).await;
        let mut request = HttpRequest::get(format!("http://127.0.0.1:{silent}/"));
        request.timeout = Duration::from_millis(300);
        let err = send(&request).await.expect_err("timeout");
        assert_eq!(err.kind, HttpErrorKind::Timeout, "{err}");
        let err = send(&HttpRequest::get("not a url"))
            .await
            .expect_err("bad url");
        assert_eq!(err.kind, HttpErrorKind::Request);
    }
}
