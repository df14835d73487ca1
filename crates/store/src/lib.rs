//! Storage for OpsConductor.
//!
//! One [`Db`] type hides whether the data lives in SQLite (the embedded default) or PostgreSQL
//! (production and scale-out). All SQL lives in this crate, bound parameters only; dialect
//! differences stay inside the repository functions.

mod db;
mod error;
mod time;

pub mod audit;
pub mod credentials;
pub mod jobs;
pub mod runs;
pub mod targets;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use db::{Backend, Db, redact_url};
pub use error::{StoreError, StoreResult};
pub use time::UtcTime;

/// Re-exported so callers can classify driver errors without depending on sqlx themselves.
pub use sqlx;
