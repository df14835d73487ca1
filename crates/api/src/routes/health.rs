//! Liveness, readiness, per-service health (contract §11) and Prometheus metrics.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::error::detail;
use crate::extract::Json;
use crate::state::AppState;

/// Liveness: the process answers. `healthy\n` as text, as nginx did.
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = String)))]
pub async fn health() -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        "healthy\n",
    )
        .into_response()
}

/// Readiness: 200 when the database answers, else 503.
#[utoipa::path(get, path = "/ready", tag = "health", responses((status = 200), (status = 503)))]
pub async fn ready(State(state): State<AppState>) -> Response {
    match state.core.db.ping().await {
        Ok(()) => Json(json!({"status": "ready"})).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check: database unreachable");
            detail(StatusCode::SERVICE_UNAVAILABLE, "Database unreachable")
        }
    }
}

/// `{"status":"healthy","service":S}`, or 503 when the database is down.
pub async fn service(state: &AppState, service: &'static str) -> Response {
    match state.core.db.ping().await {
        Ok(()) => Json(json!({"status": "healthy", "service": service})).into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unhealthy", "service": service, "detail": "Database unreachable"})),
        )
            .into_response(),
    }
}

/// The executor's health (public, as the contract): whether this node's worker loop runs.
pub async fn executor(State(state): State<AppState>) -> Response {
    let healthy = state.core.db.ping().await.is_ok();
    let body = Json(json!({
        "status": if healthy { "healthy" } else { "unhealthy" },
        "service": "executor-service",
        "worker_running": state.core.signals.worker_running(),
        "worker_enabled": crate::routes::runs::worker_enabled(&state.core),
    }));
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, body).into_response()
}

/// Prometheus text exposition.
pub async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}
