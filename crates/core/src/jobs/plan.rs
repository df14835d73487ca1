//! The dry run (`POST /jobs/{id}/plan`): resolve parameters and targets, render every field
//! that takes placeholders, and say what would run where — without executing anything.
//! The same checks decide at run creation whether a run may be queued.

use opsconductor_store::jobs as job_store;
use opsconductor_store::targets::{self as target_store, TargetFilter};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::definition::{JobDefinition, StepAction, TargetSpec};
use super::template::{self, RenderError, ResolvedParameters};
use crate::{Core, Error, Result};

/// Shown instead of a secret parameter's value: secrets are injected at execution only.
const MASK: &str = "********";

/// A target a step would run on.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedTarget {
    pub id: i64,
    pub name: String,
    pub hostname: String,
    pub protocol: String,
    pub port: i64,
    pub credential_ref: i64,
}

/// One step as it would run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlannedStep {
    pub index: usize,
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub targets: Vec<PlannedTarget>,
    /// The step's templated fields after substitution (secrets masked).
    #[schema(value_type = Object)]
    pub rendered: Value,
    pub timeout_sec: u64,
    pub retries: u32,
    pub continue_on_error: bool,
    /// The step names targets (by name or selector), so an empty `targets` means none matched.
    #[serde(skip)]
    pub addresses_targets: bool,
}

/// The whole dry run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Plan {
    pub job_id: i64,
    pub revision: i64,
    #[schema(value_type = Object)]
    pub parameters: Map<String, Value>,
    /// Secret parameters, by name, with the credential they come from (never a value).
    #[schema(value_type = Vec<Object>)]
    pub secrets: Vec<Value>,
    pub max_parallel: u32,
    pub steps: Vec<PlannedStep>,
    pub warnings: Vec<String>,
}

/// The run parameters of a request body: `{"parameters": {...}}` is unwrapped, any other
/// object is the parameters itself (contract §6 Rebuild).
pub fn run_parameters(body: &Value) -> Result<Map<String, Value>> {
    match body {
        Value::Null => Ok(Map::new()),
        Value::Object(map) => match map.get("parameters") {
            Some(Value::Object(inner)) if map.len() == 1 => Ok(inner.clone()),
            _ => Ok(map.clone()),
        },
        _ => Err(Error::field(
            "parameters",
            "dict_type",
            "The parameters must be a JSON object",
        )),
    }
}

fn render(
    text: &str,
    vars: &Map<String, Value>,
    step: usize,
    field: &str,
    problems: &mut Vec<String>,
) -> String {
    match template::render(text, vars) {
        Ok(out) => out,
        Err(err) => {
            let why = match err {
                RenderError::Unknown(name) => format!("unknown parameter '{name}'"),
                RenderError::NotScalar(name) => format!("parameter '{name}' is not a single value"),
                RenderError::Invalid(msg) => msg,
            };
            problems.push(format!("steps[{step}].{field}: {why}"));
            String::new()
        }
    }
}

/// The protocol a step type needs from its targets, if any.
fn needed_protocol(action: &StepAction) -> Option<&'static str> {
    match action {
        StepAction::WinrmExec { .. } | StepAction::WinrmCopy { .. } => Some("winrm"),
        StepAction::SshExec { .. } | StepAction::SshCopy { .. } => Some("ssh"),
        StepAction::HttpRequest { .. } => None,
    }
}

/// Resolves and renders a job's current definition for `run_params`. Anything that would make
/// the run fail before it starts (unknown or invalid parameters, missing targets, a target of
/// the wrong protocol) is a 400 listing every problem.
pub async fn plan(core: &Core, job_id: i64, run_params: &Map<String, Value>) -> Result<Plan> {
    let job = job_store::get(&core.db, job_id)
        .await?
        .ok_or_else(|| Error::NotFound("Job not found".into()))?;
    let raw: Value = serde_json::from_str(&job.definition)
        .map_err(|e| anyhow::anyhow!("job {job_id}: stored definition: {e}"))?;
    let definition = JobDefinition::parse(&raw, &["definition"]).map_err(|errors| {
        anyhow::anyhow!(
            "job {job_id}: stored definition no longer parses: {} problems",
            errors.len()
        )
    })?;
    let resolved: ResolvedParameters =
        template::resolve_parameters(&definition.parameters, run_params).map_err(|errors| {
            Error::BadRequest(format!(
                "Invalid parameters: {}",
                errors
                    .iter()
                    .map(|e| format!("{}: {}", e.loc.last().cloned().unwrap_or_default(), e.msg))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
    let mut vars = resolved.values.clone();
    for secret in &resolved.secrets {
        vars.insert(secret.name.clone(), Value::String(MASK.into()));
    }
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for secret in &resolved.secrets {
        if opsconductor_store::credentials::by_name(&core.db, &secret.credential)
            .await?
            .is_none()
        {
            problems.push(format!(
                "parameter '{}': no credential named '{}'",
                secret.name, secret.credential
            ));
        }
    }
    let mut steps = Vec::with_capacity(definition.steps.len());
    for step in &definition.steps {
        let i = step.index;
        let records = match &step.targets {
            TargetSpec::None => Vec::new(),
            TargetSpec::Names(names) => {
                let mut found = Vec::new();
                for raw_name in names {
                    let name = render(raw_name, &vars, i, "target", &mut problems);
                    if name.is_empty() {
                        continue;
                    }
                    match target_store::by_name(&core.db, &name).await? {
                        Some(t) => found.push(t),
                        None => {
                            problems.push(format!("steps[{i}].target: no target named '{name}'"))
                        }
                    }
                }
                found
            }
            TargetSpec::Tag(selector) => {
                let selector = render(selector, &vars, i, "target", &mut problems);
                let tag = selector
                    .strip_prefix("tag:")
                    .unwrap_or(&selector)
                    .to_string();
                let filter = TargetFilter {
                    tags: vec![tag],
                    ..Default::default()
                };
                let (found, _) = target_store::list(&core.db, &filter, 0, 100_000).await?;
                if found.is_empty() {
                    warnings.push(format!(
                        "steps[{i}]: the selector '{selector}' matches no target"
                    ));
                }
                found
            }
        };
        if let Some(protocol) = needed_protocol(&step.action) {
            for t in records.iter().filter(|t| t.protocol != protocol) {
                problems.push(format!(
                    "steps[{i}] ({}) cannot run on target '{}', whose protocol is {}",
                    step.action.type_name(),
                    t.name,
                    t.protocol
                ));
            }
        }
        let rendered = match &step.action {
            StepAction::WinrmExec { shell, command } => {
                json!({"shell": shell.as_str(), "command": render(command, &vars, i, "command", &mut problems)})
            }
            StepAction::WinrmCopy {
                dest_path,
                content_b64,
                overwrite,
            } => json!({
                "destPath": render(dest_path, &vars, i, "destPath", &mut problems),
                "content_bytes": content_b64.len() / 4 * 3,
                "overwrite": overwrite,
            }),
            StepAction::SshExec { command, sudo, env } => {
                let env: Map<String, Value> = env
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            Value::String(render(v, &vars, i, "env", &mut problems)),
                        )
                    })
                    .collect();
                json!({"command": render(command, &vars, i, "command", &mut problems), "sudo": sudo, "env": env})
            }
            StepAction::SshCopy {
                dest_path,
                mode,
                overwrite,
                ..
            } => json!({
                "destPath": render(dest_path, &vars, i, "destPath", &mut problems),
                "mode": mode.map(|m| format!("{m:04o}")),
                "overwrite": overwrite,
            }),
            StepAction::HttpRequest {
                method,
                url,
                headers,
                body,
                expected_status,
                ..
            } => {
                let headers: Map<String, Value> = headers
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            Value::String(render(v, &vars, i, "headers", &mut problems)),
                        )
                    })
                    .collect();
                json!({
                    "method": method,
                    "url": render(url, &vars, i, "url", &mut problems),
                    "headers": headers,
                    "body": body.as_ref().map(|b| render(b, &vars, i, "body", &mut problems)),
                    "expectedStatus": expected_status,
                })
            }
        };
        steps.push(PlannedStep {
            index: i,
            name: step.name.clone(),
            kind: step.action.type_name(),
            targets: records
                .into_iter()
                .map(|t| PlannedTarget {
                    id: t.id,
                    name: t.name,
                    hostname: t.hostname,
                    protocol: t.protocol,
                    port: t.port,
                    credential_ref: t.credential_ref,
                })
                .collect(),
            rendered,
            timeout_sec: step.timeout_sec,
            retries: step.retries,
            continue_on_error: step.continue_on_error,
            addresses_targets: step.targets != TargetSpec::None,
        });
    }
    if !problems.is_empty() {
        return Err(Error::BadRequest(format!(
            "The job cannot run: {}",
            problems.join("; ")
        )));
    }
    Ok(Plan {
        job_id,
        revision: job.revision,
        parameters: resolved.values,
        secrets: resolved
            .secrets
            .iter()
            .map(|s| json!({"name": s.name, "credential": s.credential, "field": s.field}))
            .collect(),
        max_parallel: definition.max_parallel,
        steps,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_parameters_unwrap_the_ui_shape() {
        let wrapped = run_parameters(&json!({"parameters": {"svc": "Spooler"}})).expect("ok");
        assert_eq!(wrapped.get("svc"), Some(&json!("Spooler")));
        let bare = run_parameters(&json!({"svc": "W32Time"})).expect("ok");
        assert_eq!(bare.get("svc"), Some(&json!("W32Time")));
        assert!(run_parameters(&Value::Null).expect("ok").is_empty());
        assert!(run_parameters(&json!([1])).is_err());
    }
}
