use opsconductor_store::StoreError;
use opsconductor_store::sqlx::Error as SqlxError;
use serde::Serialize;

/// One invalid input field, in the shape of the contract's 422 body.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    /// Where the bad value sits, e.g. `["body", "password"]`.
    pub loc: Vec<String>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input: Option<serde_json::Value>,
}

impl FieldError {
    /// A body field that failed validation; the input value is not echoed (it may be a secret).
    pub fn body(field: &str, kind: &str, msg: impl Into<String>) -> Self {
        Self {
            loc: vec!["body".into(), field.into()],
            msg: msg.into(),
            kind: kind.into(),
            input: None,
        }
    }
}

/// What a service call can fail with; the API layer maps each variant to one status code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// A feature this build does not have yet.
    #[error("{0}")]
    NotImplemented(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A single-field validation error on a body field.
    pub fn field(field: &str, kind: &str, msg: impl Into<String>) -> Self {
        Error::Validation(vec![FieldError::body(field, kind, msg)])
    }
}

impl From<StoreError> for Error {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UniqueViolation => Error::Conflict("Resource already exists".into()),
            StoreError::ForeignKeyViolation => {
                Error::Conflict("Resource is referenced by other records".into())
            }
            StoreError::Database(
                e @ (SqlxError::PoolTimedOut | SqlxError::PoolClosed | SqlxError::Io(_)),
            ) => {
                tracing::error!(error = %e, "database unavailable");
                Error::Unavailable("Database unavailable".into())
            }
            other => Error::Internal(anyhow::Error::new(other)),
        }
    }
}
