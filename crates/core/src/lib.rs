//! OpsConductor's domain: configuration, validated types and the services the API calls.
//!
//! Nothing here knows about HTTP; [`Error`] says what went wrong in terms the API layer maps
//! to status codes in one place.

pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod config;
mod error;
pub mod password;
pub mod secrets;
pub mod throttle;
pub mod tokens;
pub mod types;
pub mod users;

use std::sync::Arc;

pub use error::{Error, FieldError, Result};
pub use opsconductor_store as store;

/// Everything a service needs, built once at start and shared.
#[derive(Clone)]
pub struct Core {
    pub db: store::Db,
    pub config: Arc<config::Config>,
    pub tokens: Arc<tokens::TokenKeys>,
    pub passwords: password::Passwords,
}
