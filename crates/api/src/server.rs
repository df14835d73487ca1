//! Building the router and serving it: HTTPS (rustls) with a plain-HTTP listener that
//! redirects, or plain HTTP behind a TLS-terminating proxy.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, Uri, header};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum_server::Handle;
use axum_server::accept::NoDelayAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opsconductor_core::bootstrap::{FirstAdmin, ensure_first_admin};
use opsconductor_core::config::{Config, TlsMode};
use opsconductor_core::{Core, throttle};
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::detail;
use crate::middleware::{security_headers, track_metrics};
use crate::openapi::ApiDoc;
use crate::routes::{audit, auth, credentials, health, jobs, runs, targets, users};
use crate::state::AppState;
use crate::{audit_layer, tls};

/// The process-wide Prometheus recorder (a recorder can be installed once per process).
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed");
            }
            handle
        })
        .clone()
}

macro_rules! service_health {
    ($name:literal) => {
        get(|State(state): State<AppState>| async move { health::service(&state, $name).await })
    };
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let body_limit = state.core.config.http.body_limit_bytes;
    let api = Router::new()
        .route("/api/login", post(auth::login))
        .route("/auth/login", post(auth::login))
        .route("/api/refresh", post(auth::refresh))
        .route("/refresh", post(auth::refresh))
        .route("/auth/refresh", post(auth::refresh))
        .route("/api/verify", get(auth::verify))
        .route("/verify", get(auth::verify))
        .route("/auth/verify", get(auth::verify))
        .route("/api/logout", post(auth::logout))
        .route("/auth/logout", post(auth::logout))
        .route("/api/revoke-all", post(auth::revoke_all))
        .route("/revoke-all", post(auth::revoke_all))
        .route("/auth/revoke-all", post(auth::revoke_all))
        .route("/api/register", post(auth::register))
        .route("/users", get(users::list).post(users::create))
        .route(
            "/users/{id}",
            get(users::get).put(users::update).delete(users::delete),
        )
        .route("/users/{id}/roles", post(users::assign_role))
        .route(
            "/credentials",
            get(credentials::list).post(credentials::create),
        )
        .route(
            "/credentials/{id}",
            get(credentials::get)
                .put(credentials::update)
                .delete(credentials::delete),
        )
        .route("/credentials/{id}/rotate", post(credentials::rotate))
        .route("/credentials/{id}/decrypt", get(credentials::decrypt))
        .route(
            "/credentials/by-name/{name}",
            delete(credentials::delete_by_name),
        )
        .route("/targets", get(targets::list).post(targets::create))
        .route(
            "/targets/import",
            post(targets::import).layer(DefaultBodyLimit::max(
                body_limit.max(targets::IMPORT_BODY_LIMIT),
            )),
        )
        .route(
            "/targets/{id}",
            get(targets::get)
                .put(targets::update)
                .delete(targets::delete),
        )
        .route("/targets/by-name/{name}", delete(targets::delete_by_name))
        .route("/targets/{id}/test", post(targets::test))
        .route("/targets/{id}/test-winrm", post(targets::test_winrm))
        .route(
            "/targets/{id}/host-key/reset",
            post(targets::reset_host_key),
        )
        .route("/jobs", get(jobs::list).post(jobs::create))
        .route(
            "/jobs/{id}",
            get(jobs::get).put(jobs::update).delete(jobs::delete),
        )
        .route("/jobs/{id}/versions", get(jobs::versions))
        .route("/jobs/{id}/plan", post(jobs::plan))
        .route("/jobs/{id}/versions/{revision}", get(jobs::version))
        .route("/jobs/{id}/run", post(runs::start))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::get))
        .route("/runs/{id}/steps", get(runs::steps))
        .route("/runs/{id}/log", get(runs::log))
        .route("/runs/{id}/events", get(runs::events))
        .route("/runs/{id}/cancel", post(runs::cancel))
        .route("/runs/{id}/rerun", post(runs::rerun))
        .route("/executor/status", get(runs::executor_status))
        .route("/audit", get(audit::list))
        .route("/audit/verify", get(audit::verify))
        .route_layer(from_fn_with_state(
            state.clone(),
            audit_layer::record_mutations,
        ));
    let ops = Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .route("/metrics", get(health::metrics))
        .route("/auth/health", service_health!("auth-service"))
        .route("/users/health", service_health!("user-service"))
        .route(
            "/credentials/health",
            service_health!("credentials-service"),
        )
        .route("/targets/health", service_health!("targets-service"))
        .route("/jobs/health", service_health!("jobs-service"))
        .route("/scheduler/health", service_health!("scheduler"))
        .route("/executor/health", get(health::executor))
        .route("/", get(crate::web::index))
        .route("/ui", get(crate::web::index))
        .route("/ui/", get(crate::web::index))
        .route("/ui/{*route}", get(crate::web::index))
        .route("/assets/{*path}", get(crate::web::asset))
        .route("/favicon.svg", get(|| crate::web::root_file("favicon.svg")))
        .route("/favicon.ico", get(|| crate::web::root_file("favicon.ico")));
    Router::new()
        .merge(api)
        .merge(ops)
        .route_layer(from_fn(track_metrics))
        .with_state(state.clone())
        .merge(SwaggerUi::new("/docs").url("/api-docs/openapi.json", ApiDoc::openapi()))
        .fallback(|| async { detail(StatusCode::NOT_FOUND, "Not Found") })
        .method_not_allowed_fallback(|| async {
            detail(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed")
        })
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn_with_state(state, security_headers))
        .layer(TraceLayer::new_for_http())
}

/// A bound, ready-to-serve node. `build` does everything that can fail before serving.
pub struct Application {
    state: AppState,
    listener: std::net::TcpListener,
    local_addr: SocketAddr,
    redirect: Option<std::net::TcpListener>,
    tls: Option<RustlsConfig>,
}

impl Application {
    /// Opens and migrates the database, creates the first admin if needed, prepares TLS,
    /// binds the listeners and writes `<data_dir>/listen-addr`.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let core = Core::open(config).await?;
        match ensure_first_admin(&core).await? {
            FirstAdmin::NotNeeded => {}
            FirstAdmin::FromConfig => {
                tracing::info!(
                    "created the first admin user 'admin' with OPSCONDUCTOR_ADMIN_PASSWORD"
                )
            }
            FirstAdmin::Generated { password, file } => tracing::warn!(
                username = "admin",
                password = %password,
                file = %file.display(),
                "created the first admin user with a generated password; it is shown only this once \
                 (also in the file): sign in and change it"
            ),
        }
        let config = core.config.clone();
        let tls = match config.tls.mode {
            TlsMode::On => {
                let material = tls::load_or_generate(&config)?;
                tracing::info!(certificate = %material.source.display(), "TLS enabled");
                Some(
                    RustlsConfig::from_pem(material.cert_pem, material.key_pem)
                        .await
                        .context("TLS certificate or key rejected")?,
                )
            }
            TlsMode::Off => {
                tracing::warn!(
                    "TLS is off (OPSCONDUCTOR_TLS=off): serve only behind a TLS-terminating proxy"
                );
                None
            }
        };
        let addr = config.listen_addr()?;
        let listener = std::net::TcpListener::bind(addr)
            .with_context(|| format!("cannot listen on {addr} (OPSCONDUCTOR_LISTEN)"))?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let redirect = match config.http_listen_addr()? {
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr).with_context(|| {
                    format!("cannot listen on {addr} (OPSCONDUCTOR_HTTP_LISTEN; 'off' disables it)")
                })?;
                l.set_nonblocking(true)?;
                Some(l)
            }
            None => None,
        };
        let reachable = reachable_addr(local_addr);
        std::fs::write(
            config.data_dir.join("listen-addr"),
            format!("{reachable}\n"),
        )
        .context("cannot write listen-addr into the data directory")?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(address = %local_addr, url = %format!("{scheme}://{reachable}"), "listening");
        if let Some(l) = &redirect {
            tracing::info!(address = %l.local_addr()?, "redirecting plain HTTP to HTTPS");
        }
        let state = AppState {
            core,
            metrics: metrics_handle(),
            tls: tls.is_some(),
        };
        Ok(Self {
            state,
            listener,
            local_addr,
            redirect,
            tls,
        })
    }

    /// The bound HTTPS (or plain, with TLS off) address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The address of the redirect listener, if any.
    pub fn redirect_addr(&self) -> Option<SocketAddr> {
        self.redirect.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn core(&self) -> &Core {
        &self.state.core
    }

    /// Serves until `shutdown` completes, then drains in-flight requests for up to 10 s.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let handle: Handle<SocketAddr> = Handle::new();
        let upkeep = tokio::spawn(upkeep(self.state.clone()));
        let relay = tokio::spawn(opsconductor_core::runs::relay_run_notifications(
            self.state.core.clone(),
        ));
        {
            let handle = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                tracing::info!("shutting down: draining in-flight requests");
                handle.graceful_shutdown(Some(Duration::from_secs(10)));
            });
        }
        if let Some(listener) = self.redirect {
            let https_port = self.local_addr.port();
            let app =
                Router::new().fallback(move |req: Request| redirect_to_https(req, https_port));
            let server = axum_server::from_tcp(listener)?.handle(handle.clone());
            tokio::spawn(async move {
                if let Err(err) = server.serve(app.into_make_service()).await {
                    tracing::error!(error = %err, "redirect listener failed");
                }
            });
        }
        let db = self.state.core.db.clone();
        let engine = runs::worker_enabled(&self.state.core)
            .then(|| opsconductor_engine::start(self.state.core.clone()));
        let app = router(self.state).into_make_service_with_connect_info::<SocketAddr>();
        // TCP_NODELAY: without it Nagle's algorithm and delayed ACKs add ~40 ms to responses that
        // span two writes (seen on HTTP/2 responses over 16 KiB).
        let result = match self.tls {
            Some(tls) => {
                let acceptor = RustlsAcceptor::new(tls).acceptor(NoDelayAcceptor::new());
                axum_server::from_tcp(self.listener)?
                    .acceptor(acceptor)
                    .handle(handle)
                    .serve(app)
                    .await
            }
            None => {
                axum_server::from_tcp(self.listener)?
                    .acceptor(NoDelayAcceptor::new())
                    .handle(handle)
                    .serve(app)
                    .await
            }
        };
        upkeep.abort();
        relay.abort();
        if let Some(engine) = engine {
            engine.shutdown().await;
        }
        db.close().await;
        result.context("server failed")
    }
}

/// An address a local script can connect to: a wildcard bind becomes loopback.
fn reachable_addr(addr: SocketAddr) -> SocketAddr {
    match addr.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), addr.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), addr.port())
        }
        _ => addr,
    }
}

async fn redirect_to_https(request: Request, https_port: u16) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.parse::<axum::http::uri::Authority>().ok())
        .map(|a| a.host().to_string())
        .unwrap_or_else(|| "localhost".into());
    let path = request
        .uri()
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let target = format!("https://{host}:{https_port}{path}");
    match target.parse::<Uri>() {
        Ok(_) => (StatusCode::MOVED_PERMANENTLY, [(header::LOCATION, target)]).into_response(),
        Err(_) => detail(StatusCode::BAD_REQUEST, "Bad Host header"),
    }
}

/// Periodic housekeeping: metrics upkeep, expired refresh tokens and throttle counters.
async fn upkeep(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(10));
    let mut n: u64 = 0;
    loop {
        tick.tick().await;
        state.metrics.run_upkeep();
        n += 1;
        if n % 360 == 1 {
            let now = opsconductor_store::UtcTime::now();
            if let Err(err) = opsconductor_store::tokens::delete_expired(&state.core.db, now).await
            {
                tracing::warn!(error = %err, "could not prune expired refresh tokens");
            }
            if let Err(err) = throttle::prune(&state.core).await {
                tracing::warn!(error = %err, "could not prune login throttle counters");
            }
        }
    }
}
