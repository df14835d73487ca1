//! Jobs: definitions (parsed and validated), `{{ name }}` templating, and the job service.

pub mod definition;
pub mod plan;
pub mod service;
pub mod template;
