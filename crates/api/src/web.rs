//! The web UI, embedded in the binary (rust-embed): `/` and every `/ui/...` client route get
//! `index.html` (never cached, so a new release is picked up at once), `/assets/...` the
//! hashed bundle files (cached for a year: their names change with their content).

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::detail;

/// `web/dist`, built by `npm run build` in `web/`. In debug builds rust-embed reads the folder
/// at run time; release builds carry it. A build without the UI still serves the API.
#[derive(rust_embed::Embed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Assets;

const NOT_BUILT: &str = "The web UI is not part of this build. Build it with \
`(cd web && npm ci && npm run build)`, then rebuild the server. The API is served as usual.\n";

/// `index.html` for `/`, `/ui` and every client route below `/ui/`.
pub async fn index() -> Response {
    match Assets::get("index.html") {
        Some(file) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            file.data,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            NOT_BUILT,
        )
            .into_response(),
    }
}

/// A hashed bundle file under `/assets/`.
pub async fn asset(Path(path): Path<String>) -> Response {
    let name = format!("assets/{path}");
    match Assets::get(&name) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, content_type(&name)),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            file.data,
        )
            .into_response(),
        None => detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// Files at the top of `web/dist` other than `index.html` (favicon and the like).
pub async fn root_file(name: &'static str) -> Response {
    match Assets::get(name) {
        Some(file) => (
            [
                (header::CONTENT_TYPE, content_type(name)),
                (header::CACHE_CONTROL, "public, max-age=86400"),
            ],
            file.data,
        )
            .into_response(),
        None => detail(StatusCode::NOT_FOUND, "Not Found"),
    }
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "html" => "text/html; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}
