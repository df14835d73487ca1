//! Behavioural tests against the real server: each test starts it on port 0 over HTTPS with
//! a fresh database, on SQLite and (when `OPSCONDUCTOR_TEST_POSTGRES_URL` is set) PostgreSQL.

#[macro_use]
mod common;

mod audit;
mod auth;
mod ops;
mod users;
