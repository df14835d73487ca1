//! HTTP handlers, one module per resource.

pub mod audit;
pub mod auth;
pub mod credentials;
pub mod health;
pub mod jobs;
pub mod runs;
pub mod targets;
pub mod users;

use serde::Serialize;

/// `{"message": ...}`, the contract's acknowledgement body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Message {
    pub message: String,
}

impl Message {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}
