//! The one place where errors become HTTP responses: `{"detail": ...}` bodies, precise 4xx,
//! opaque 5xx (the cause is logged, never sent).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use opsconductor_core::{Error, FieldError};
use serde_json::json;

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError(pub Error);

/// The message of an error response, left in the response extensions for the audit layer.
#[derive(Debug, Clone)]
pub struct ErrorMessage(pub String);

pub type ApiResult<T> = Result<T, ApiError>;

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        ApiError(err)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(err: anyhow::Error) -> Self {
        ApiError(Error::Internal(err))
    }
}

impl From<opsconductor_store::StoreError> for ApiError {
    fn from(err: opsconductor_store::StoreError) -> Self {
        ApiError(err.into())
    }
}

impl ApiError {
    /// A 422 naming where the bad value was.
    pub fn invalid(loc: Vec<String>, kind: &str, msg: impl Into<String>) -> Self {
        ApiError(Error::Validation(vec![FieldError {
            loc,
            msg: msg.into(),
            kind: kind.into(),
            input: None,
        }]))
    }
}

/// `{"detail": message}` with `status`.
pub fn detail(status: StatusCode, message: impl Into<String>) -> Response {
    let message = message.into();
    let mut response = (status, axum::Json(json!({ "detail": message }))).into_response();
    response.extensions_mut().insert(ErrorMessage(message));
    response
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self.0 {
            Error::Validation(fields) => {
                let summary = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.loc.join("."), f.msg))
                    .collect::<Vec<_>>()
                    .join("; ");
                let mut response = (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    axum::Json(json!({ "detail": fields })),
                )
                    .into_response();
                response.extensions_mut().insert(ErrorMessage(summary));
                response
            }
            Error::BadRequest(m) => detail(StatusCode::BAD_REQUEST, m),
            Error::Unauthorized(m) => {
                let mut response = detail(StatusCode::UNAUTHORIZED, m);
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                response
            }
            Error::Forbidden(m) => detail(StatusCode::FORBIDDEN, m),
            Error::NotFound(m) => detail(StatusCode::NOT_FOUND, m),
            Error::Conflict(m) => detail(StatusCode::CONFLICT, m),
            Error::TooManyRequests {
                message,
                retry_after_secs,
            } => {
                let mut response = detail(StatusCode::TOO_MANY_REQUESTS, message);
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            Error::Unavailable(m) => detail(StatusCode::SERVICE_UNAVAILABLE, m),
            Error::NotImplemented(m) => detail(StatusCode::NOT_IMPLEMENTED, m),
            Error::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                detail(StatusCode::INTERNAL_SERVER_ERROR, "Internal server error")
            }
        }
    }
}
