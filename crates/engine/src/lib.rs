//! The run engine (ARCHITECTURE §5): workers claim queued runs from the database, execute
//! their steps on targets through the connectors, and write every state change and every
//! (masked) line of output to the database first.

mod actions;
mod output;
mod reach;
pub mod redact;
mod run;
mod winrm_steps;
mod worker;

pub use reach::{ssh_target, winrm_target};

pub use worker::{EngineHandle, start};
