//! Request extractors whose rejections speak the contract: 422 with the bad field located,
//! 413 for oversize bodies.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, detail};

/// A JSON body, parsed with the path of any bad field kept for the 422 answer.
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The body is parsed as JSON whatever the Content-Type says: scripts written for the
        // older product post JSON with curl's default form type, and with bearer tokens in
        // headers there is no cross-site form post to fear.
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(body_rejection)?;
        parse_json(&bytes)
            .map(Json)
            .map_err(IntoResponse::into_response)
    }
}

/// The raw request body, with the same JSON 413 as [`Json`] when it is too large.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state)
            .await
            .map(RawBody)
            .map_err(body_rejection)
    }
}

fn body_rejection(rejection: BytesRejection) -> Response {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        detail(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large")
    } else {
        detail(rejection.status(), rejection.body_text())
    }
}

/// [`parse_json`] for an optional body: an empty (or blank) one is `default`.
pub fn parse_json_or<T: DeserializeOwned>(bytes: &[u8], default: T) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        Ok(default)
    } else {
        parse_json(bytes)
    }
}

/// Parses JSON, locating the first bad value as `["body", field, ...]`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid(
            vec!["body".into()],
            "missing",
            "Field required: the request body is empty",
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|err| {
        let mut loc = vec!["body".to_string()];
        loc.extend(err.path().iter().filter_map(|seg| match seg {
            serde_path_to_error::Segment::Map { key } => Some(key.clone()),
            serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
            _ => None,
        }));
        let inner = err.into_inner();
        let msg = inner.to_string();
        let kind = match inner.classify() {
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => {
                "json_invalid"
            }
            _ if msg.starts_with("missing field") => "missing",
            _ if msg.starts_with("invalid type") => "type_error",
            _ => "value_error",
        };
        if kind == "missing"
            && let Some(field) = msg.split('`').nth(1)
        {
            loc.push(field.to_string());
        }
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        ApiError::invalid(loc, kind, msg)
    })
}

/// Path parameters; a non-integer id is a 422, as in the contract.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(Path(p.0)),
            Err(rejection) => Err(path_error(parts, state, rejection).await),
        }
    }
}

/// A 422 located at the offending path parameter, e.g. `["path", "id"]`.
async fn path_error<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
    rejection: PathRejection,
) -> ApiError {
    use axum::extract::path::ErrorKind;
    let PathRejection::FailedToDeserializePathParams(err) = &rejection else {
        return ApiError::invalid(vec!["path".into()], "value_error", rejection.body_text());
    };
    let (key, value, expected) = match err.kind() {
        ErrorKind::ParseErrorAtKey {
            key,
            value,
            expected_type,
        } => (Some(key.clone()), value.clone(), *expected_type),
        ErrorKind::ParseError {
            value,
            expected_type,
        }
        | ErrorKind::ParseErrorAtIndex {
            value,
            expected_type,
            ..
        } => (None, value.clone(), *expected_type),
        _ => return ApiError::invalid(vec!["path".into()], "value_error", rejection.body_text()),
    };
    // A single unnamed parameter: name it after the route's only parameter.
    let key = match key {
        Some(k) => Some(k),
        None => axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|raw| {
                raw.iter()
                    .find(|(_, v)| *v == value)
                    .map(|(k, _)| k.to_string())
            }),
    };
    let kind = if expected.starts_with('i') || expected.starts_with('u') {
        "int_parsing"
    } else {
        "type_error"
    };
    let what = if kind == "int_parsing" {
        "a valid integer"
    } else {
        expected
    };
    let mut loc = vec!["path".to_string()];
    loc.extend(key);
    ApiError::invalid(loc, kind, format!("Input should be {what}, got '{value}'"))
}

/// Query parameters; a bad value is a 422. Repeated keys (`?tag=a&tag=b`) fill a `Vec`.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let raw = parts.uri.query().unwrap_or("");
        serde_html_form::from_str(raw).map(Query).map_err(|err| {
            let msg = err.to_string();
            // serde_html_form names the field in backticks: `limit`.
            let mut loc = vec!["query".to_string()];
            loc.extend(msg.split('`').nth(1).map(str::to_string));
            ApiError::invalid(loc, "type_error", msg)
        })
    }
}

/// `skip`/`limit` as every list takes them: negative is a 422, limit is capped at 1000.
#[derive(Debug, Clone, Copy, serde::Deserialize, utoipa::IntoParams)]
pub struct Page {
    pub skip: Option<i64>,
    pub limit: Option<i64>,
}

impl Page {
    pub const MAX_LIMIT: i64 = 1000;

    /// `(skip, limit)` after checks, with `default_limit` when none was given.
    pub fn resolve(self, default_limit: i64) -> Result<(i64, i64), ApiError> {
        let skip = self.skip.unwrap_or(0);
        let limit = self.limit.unwrap_or(default_limit);
        if skip < 0 {
            return Err(ApiError::invalid(
                vec!["query".into(), "skip".into()],
                "greater_than_equal",
                "Input should be greater than or equal to 0",
            ));
        }
        if limit < 0 {
            return Err(ApiError::invalid(
                vec!["query".into(), "limit".into()],
                "greater_than_equal",
                "Input should be greater than or equal to 0",
            ));
        }
        Ok((skip, limit.min(Self::MAX_LIMIT)))
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}
