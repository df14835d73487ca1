//! Jobs (contract §6): create, read, change (keeping every revision), delete.

use opsconductor_store::UtcTime;
use opsconductor_store::jobs::{self as store, JobChanges, JobRecord, JobVersionRecord, NewJob};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::definition::{JobDefinition, TargetSpec};
use crate::auth::Caller;
use crate::{Core, Error, FieldError, Result};

/// A job as the API shows it. `version` is the caller's own number (contract); `revision`
/// counts definition changes and names the kept versions.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Job {
    pub id: i64,
    pub name: String,
    pub version: i64,
    #[schema(value_type = Object)]
    pub definition: Value,
    pub revision: i64,
    pub created_by: i64,
    pub is_active: bool,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
}

impl From<JobRecord> for Job {
    fn from(r: JobRecord) -> Self {
        Job {
            id: r.id,
            name: r.name,
            version: r.version,
            definition: serde_json::from_str(&r.definition).unwrap_or(Value::Null),
            revision: r.revision,
            created_by: r.created_by,
            is_active: r.is_active,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// One kept revision.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct JobVersion {
    pub job_id: i64,
    pub revision: i64,
    pub version: i64,
    #[schema(value_type = Object)]
    pub definition: Value,
    pub created_by: Option<i64>,
    pub created_at: UtcTime,
}

impl From<JobVersionRecord> for JobVersion {
    fn from(r: JobVersionRecord) -> Self {
        JobVersion {
            job_id: r.job_id,
            revision: r.revision,
            version: r.version,
            definition: serde_json::from_str(&r.definition).unwrap_or(Value::Null),
            created_by: r.created_by,
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateJob {
    pub name: String,
    #[serde(default = "one")]
    pub version: i64,
    #[schema(value_type = Object)]
    pub definition: Value,
    #[serde(default = "yes")]
    pub is_active: bool,
}

fn one() -> i64 {
    1
}

fn yes() -> bool {
    true
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UpdateJob {
    pub name: Option<String>,
    pub version: Option<i64>,
    #[schema(value_type = Option<Object>)]
    pub definition: Option<Value>,
    pub is_active: Option<bool>,
    /// The revision the edit started from: when the job has moved on since, the update is
    /// refused with 409 instead of silently overwriting someone else's change.
    pub base_revision: Option<i64>,
}

fn not_found() -> Error {
    Error::NotFound("Job not found".into())
}

fn duplicate(err: opsconductor_store::StoreError) -> Error {
    match err {
        opsconductor_store::StoreError::UniqueViolation => {
            Error::Conflict("Job with this name already exists".into())
        }
        other => other.into(),
    }
}

fn field(path: &[&str], kind: &str, msg: impl Into<String>) -> FieldError {
    FieldError {
        loc: path.iter().map(|p| p.to_string()).collect(),
        msg: msg.into(),
        kind: kind.into(),
        input: None,
    }
}

fn check_name(errors: &mut Vec<FieldError>, name: &str) {
    if name.trim().is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        errors.push(field(
            &["body", "name"],
            "value_error",
            "Name must be 1 to 200 printable characters",
        ));
    }
}

fn check_version(errors: &mut Vec<FieldError>, version: i64) {
    if version < 1 {
        errors.push(field(
            &["body", "version"],
            "greater_than_equal",
            "version must be at least 1",
        ));
    }
}

/// Parses the definition and checks what it refers to: named targets and the credentials of
/// secret parameters must exist. Targets given by tag or by placeholder are resolved per run.
/// Returns the problems found; a database failure is an error of its own, never a 422.
async fn check_definition(core: &Core, value: &Value) -> Result<Vec<FieldError>> {
    let definition = match JobDefinition::parse(value, &["body", "definition"]) {
        Ok(d) => d,
        Err(errors) => return Ok(errors),
    };
    let mut errors = Vec::new();
    for step in &definition.steps {
        if let TargetSpec::Names(names) = &step.targets {
            let literal: Vec<String> = names
                .iter()
                .filter(|n| !n.contains("{{"))
                .cloned()
                .collect();
            let missing = store::missing_target_names(&core.db, &literal).await?;
            for name in missing {
                let index = step.index.to_string();
                errors.push(field(
                    &["body", "definition", "steps", &index, "target"],
                    "value_error",
                    format!("No target named '{name}'"),
                ));
            }
        }
    }
    for param in &definition.parameters {
        if let Some(credential) = &param.credential {
            let found = opsconductor_store::credentials::by_name(&core.db, credential).await?;
            if found.is_none() {
                errors.push(field(
                    &[
                        "body",
                        "definition",
                        "parameters",
                        &param.name,
                        "credential",
                    ],
                    "value_error",
                    format!("No credential named '{credential}'"),
                ));
            }
        }
    }
    Ok(errors)
}

pub async fn create(core: &Core, caller: &Caller, input: &CreateJob) -> Result<Job> {
    let mut errors = Vec::new();
    check_name(&mut errors, &input.name);
    check_version(&mut errors, input.version);
    errors.extend(check_definition(core, &input.definition).await?);
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let definition = input.definition.to_string();
    let record = store::insert(
        &core.db,
        &NewJob {
            name: input.name.trim(),
            version: input.version,
            definition: &definition,
            created_by: caller.id,
            is_active: input.is_active,
        },
    )
    .await
    .map_err(duplicate)?;
    Ok(record.into())
}

pub async fn get(core: &Core, id: i64) -> Result<Job> {
    Ok(store::get(&core.db, id)
        .await?
        .ok_or_else(not_found)?
        .into())
}

pub async fn list(
    core: &Core,
    active_only: bool,
    skip: i64,
    limit: i64,
) -> Result<(Vec<Job>, i64)> {
    let (rows, total) = store::list(&core.db, active_only, skip, limit).await?;
    Ok((rows.into_iter().map(Job::from).collect(), total))
}

/// Changes a job; a definition that differs from the current one becomes a new revision.
pub async fn update(core: &Core, caller: &Caller, id: i64, input: &UpdateJob) -> Result<Job> {
    let existing = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    let mut errors = Vec::new();
    if let Some(name) = &input.name {
        check_name(&mut errors, name);
    }
    if let Some(version) = input.version {
        check_version(&mut errors, version);
    }
    let current: Value = serde_json::from_str(&existing.definition).unwrap_or(Value::Null);
    let new_definition = input.definition.as_ref().filter(|d| **d != current);
    if let Some(definition) = new_definition {
        errors.extend(check_definition(core, definition).await?);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let changes = JobChanges {
        name: input.name.as_deref().map(|n| n.trim().to_string()),
        version: input.version,
        definition: new_definition.map(Value::to_string),
        is_active: input.is_active,
        base_revision: input.base_revision,
    };
    match store::update(&core.db, id, &changes, caller.id)
        .await
        .map_err(duplicate)?
    {
        Some(updated) => Ok(updated.into()),
        None => match (store::get(&core.db, id).await?, input.base_revision) {
            (Some(now), Some(base)) => Err(Error::Conflict(format!(
                "The job was changed (now revision {}) since revision {base} was opened; reload it",
                now.revision
            ))),
            _ => Err(not_found()),
        },
    }
}

pub async fn delete(core: &Core, id: i64) -> Result<()> {
    let deleted = store::delete(&core.db, id).await.map_err(|e| match e {
        opsconductor_store::StoreError::ForeignKeyViolation => {
            Error::Conflict("Cannot delete job: it has execution history".into())
        }
        other => other.into(),
    })?;
    if !deleted {
        return Err(not_found());
    }
    Ok(())
}

pub async fn versions(core: &Core, id: i64) -> Result<Vec<JobVersion>> {
    store::get(&core.db, id).await?.ok_or_else(not_found)?;
    Ok(store::versions(&core.db, id)
        .await?
        .into_iter()
        .map(JobVersion::from)
        .collect())
}

pub async fn version(core: &Core, id: i64, revision: i64) -> Result<JobVersion> {
    store::get(&core.db, id).await?.ok_or_else(not_found)?;
    Ok(store::version(&core.db, id, revision)
        .await?
        .ok_or_else(|| Error::NotFound(format!("Job {id} has no version {revision}")))?
        .into())
}
