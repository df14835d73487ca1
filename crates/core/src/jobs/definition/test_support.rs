//! Shared helpers of the definition tests: parse with the API's location prefix, expect
//! success or errors, and build minimal definitions around one step or a parameter list.

use serde_json::{Value, json};

use super::{JobDefinition, Step};
use crate::FieldError;

pub(super) const PREFIX: &[&str] = &["body", "definition"];

pub(super) fn parse(value: Value) -> Result<JobDefinition, Vec<FieldError>> {
    JobDefinition::parse(&value, PREFIX)
}

pub(super) fn ok(value: Value) -> JobDefinition {
    match parse(value) {
        Ok(d) => d,
        Err(errors) => panic!("expected a valid definition, got {errors:#?}"),
    }
}

pub(super) fn errors(value: Value) -> Vec<FieldError> {
    match parse(value) {
        Ok(d) => panic!("expected errors, got {d:#?}"),
        Err(errors) => errors,
    }
}

/// The locations of the errors, without the prefix, joined with dots.
pub(super) fn locs(errors: &[FieldError]) -> Vec<String> {
    errors.iter().map(|e| e.loc[2..].join(".")).collect()
}

/// A valid definition with one step.
pub(super) fn with_step(step: Value) -> Value {
    json!({"name": "j", "version": 1, "steps": [step]})
}

pub(super) fn with_params(params: Value) -> Value {
    json!({"name": "j", "version": 1, "parameters": params,
           "steps": [{"type": "ssh.exec", "target": "t", "command": "true"}]})
}

pub(super) fn one_step(step: Value) -> Step {
    ok(with_step(step)).steps.remove(0)
}

pub(super) fn step_errors(step: Value) -> Vec<String> {
    locs(&errors(with_step(step)))
}

pub(super) fn seed() -> Value {
    json!({"name":"Restart service on Windows","version":1,"parameters":{"svc":"Spooler"},
           "steps":[{"type":"winrm.exec","shell":"powershell","target":"sample-windows-server",
           "command":"Restart-Service {{ svc }}; (Get-Service {{ svc }}).Status","timeoutSec":90}]})
}
