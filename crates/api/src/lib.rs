//! The OpsConductor HTTP API: routes, extractors, the error mapping, TLS serving.

pub mod audit_layer;
pub mod authn;
pub mod error;
pub mod extract;
mod middleware;
pub mod openapi;
pub mod probe;
pub mod routes;
mod server;
pub mod state;
pub mod tls;
mod web;

pub use server::{Application, router};
