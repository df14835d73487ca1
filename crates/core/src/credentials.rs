//! Credentials (contract §4): validated per type, sealed by the vault, never shown again.

use opsconductor_store::UtcTime;
use opsconductor_store::credentials::{
    self as store, CredentialChanges, CredentialRecord, NewCredential,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::audit::{self, Event};
use crate::auth::Caller;
use crate::types::Checks;
use crate::{Core, Error, FieldError, Result};

/// The kinds of secret the vault holds. The older product's names are accepted as aliases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialType {
    Winrm,
    WinrmNtlm,
    WinrmBasic,
    WinrmKerberos,
    Ssh,
    SshKey,
    ApiKey,
    Token,
}

impl CredentialType {
    pub const NAMES: &'static str =
        "winrm, winrm_ntlm, winrm_basic, winrm_kerberos, ssh, ssh_key, api_key, token";

    pub fn parse(raw: &str) -> Option<Self> {
        Some(match raw {
            "winrm" => Self::Winrm,
            "winrm_ntlm" => Self::WinrmNtlm,
            "winrm_basic" => Self::WinrmBasic,
            "winrm_kerberos" => Self::WinrmKerberos,
            "ssh" => Self::Ssh,
            "ssh_key" => Self::SshKey,
            "api_key" => Self::ApiKey,
            "token" => Self::Token,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Winrm => "winrm",
            Self::WinrmNtlm => "winrm_ntlm",
            Self::WinrmBasic => "winrm_basic",
            Self::WinrmKerberos => "winrm_kerberos",
            Self::Ssh => "ssh",
            Self::SshKey => "ssh_key",
            Self::ApiKey => "api_key",
            Self::Token => "token",
        }
    }

    pub fn is_winrm(self) -> bool {
        matches!(
            self,
            Self::Winrm | Self::WinrmNtlm | Self::WinrmBasic | Self::WinrmKerberos
        )
    }

    pub fn is_ssh(self) -> bool {
        matches!(self, Self::Ssh | Self::SshKey)
    }
}

/// Keys whose values are secrets: never returned, masked by the decrypt route.
pub const SECRET_FIELDS: [&str; 6] = [
    "password",
    "private_key",
    "passphrase",
    "api_key",
    "token",
    "secret",
];

/// A credential as the API shows it: never the secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Credential {
    pub id: i64,
    pub name: String,
    pub description: Option<String>,
    pub credential_type: String,
    pub created_at: UtcTime,
    pub updated_at: Option<UtcTime>,
    pub rotated_at: Option<UtcTime>,
}

impl From<&CredentialRecord> for Credential {
    fn from(r: &CredentialRecord) -> Self {
        Credential {
            id: r.id,
            name: r.name.clone(),
            description: r.description.clone(),
            credential_type: r.credential_type.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
            rotated_at: r.rotated_at,
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CreateCredential {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub credential_type: String,
    #[schema(value_type = Object)]
    pub credential_data: Value,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UpdateCredential {
    pub name: Option<String>,
    pub description: Option<String>,
    pub credential_type: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub credential_data: Option<Value>,
}

/// A credential's secret, decrypted for one use inside the process.
#[derive(Clone)]
pub struct Resolved {
    pub id: i64,
    pub name: String,
    pub credential_type: CredentialType,
    pub data: Map<String, Value>,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Resolved({} {}, ***)", self.id, self.name)
    }
}

impl Resolved {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.data
            .get(key)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
    }
}

const MAX_FIELD_BYTES: usize = 64 * 1024;

fn check_name(checks: &mut Checks, raw: &str) -> Option<String> {
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > 128 || name.chars().any(char::is_control) {
        checks.push(FieldError::body(
            "name",
            "string_length",
            "Name must be 1 to 128 printable characters",
        ));
        return None;
    }
    Some(name.to_string())
}

fn check_type(checks: &mut Checks, raw: &str) -> Option<CredentialType> {
    let parsed = CredentialType::parse(raw);
    if parsed.is_none() {
        checks.push(FieldError::body(
            "credential_type",
            "enum",
            format!(
                "Unknown credential type '{raw}': expected one of {}",
                CredentialType::NAMES
            ),
        ));
    }
    parsed
}

fn data_error(field: &str, kind: &str, msg: impl Into<String>) -> FieldError {
    FieldError {
        loc: vec!["body".into(), "credential_data".into(), field.into()],
        msg: msg.into(),
        kind: kind.into(),
        input: None,
    }
}

/// Checks the fields a type needs; an SSH private key is parsed (and its passphrase tried).
pub fn validate_data(
    kind: CredentialType,
    data: &Value,
) -> std::result::Result<Map<String, Value>, Vec<FieldError>> {
    let Some(map) = data.as_object() else {
        return Err(vec![FieldError::body(
            "credential_data",
            "dict_type",
            "credential_data must be an object",
        )]);
    };
    let mut errors = Vec::new();
    for (key, value) in map {
        match value {
            Value::String(s) if s.len() > MAX_FIELD_BYTES => {
                errors.push(data_error(
                    key,
                    "string_too_long",
                    "Value is longer than 64 KiB",
                ));
            }
            Value::String(_) | Value::Null => {}
            _ if SECRET_FIELDS.contains(&key.as_str()) || key == "username" || key == "domain" => {
                errors.push(data_error(key, "string_type", "Value must be a string"));
            }
            _ => {}
        }
    }
    let text = |key: &str| {
        map.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let require = |key: &str, errors: &mut Vec<FieldError>| {
        if text(key).is_none()
            && !errors
                .iter()
                .any(|e| e.loc.last().is_some_and(|l| l == key))
        {
            errors.push(data_error(
                key,
                "missing",
                format!("'{key}' is required for {} credentials", kind.as_str()),
            ));
        }
    };
    match kind {
        k if k.is_winrm() => {
            require("username", &mut errors);
            require("password", &mut errors);
        }
        k if k.is_ssh() => {
            require("username", &mut errors);
            match (text("password"), text("private_key")) {
                (None, None) => errors.push(data_error(
                    "password",
                    "missing",
                    "ssh credentials need a 'password' or a 'private_key'",
                )),
                (_, Some(pem)) => {
                    if let Err(msg) = check_private_key(pem, text("passphrase")) {
                        errors.push(data_error("private_key", "value_error", msg));
                    }
                }
                (Some(_), None) => {}
            }
        }
        CredentialType::ApiKey => require("api_key", &mut errors),
        _ => require("token", &mut errors),
    }
    if errors.is_empty() {
        Ok(map.clone())
    } else {
        Err(errors)
    }
}

/// Parses a private key (OpenSSH or PEM), trying the passphrase; the message never quotes it.
pub fn check_private_key(pem: &str, passphrase: Option<&str>) -> std::result::Result<(), String> {
    opsconductor_connectors::check_private_key(pem, passphrase).map(|_| ())
}

/// [`validate_data`] off the async runtime: decrypting a private key to check its passphrase
/// is deliberately slow.
async fn validated(kind: CredentialType, data: Value) -> Result<Map<String, Value>> {
    tokio::task::spawn_blocking(move || validate_data(kind, &data))
        .await
        .map_err(|e| anyhow::anyhow!("credential validation task failed: {e}"))?
        .map_err(Error::Validation)
}

fn not_found() -> Error {
    Error::NotFound("Credential not found".into())
}

fn duplicate(err: opsconductor_store::StoreError) -> Error {
    match err {
        opsconductor_store::StoreError::UniqueViolation => {
            Error::Conflict("Credential with this name already exists".into())
        }
        other => other.into(),
    }
}

fn seal_error(msg: String) -> Error {
    Error::Internal(anyhow::anyhow!("sealing a credential failed: {msg}"))
}

fn plaintext(data: &Map<String, Value>) -> Vec<u8> {
    Value::Object(data.clone()).to_string().into_bytes()
}

pub async fn list(core: &Core, skip: i64, limit: i64) -> Result<(Vec<Credential>, i64)> {
    let (rows, total) = store::list(&core.db, skip, limit).await?;
    Ok((rows.iter().map(Credential::from).collect(), total))
}

pub async fn get(core: &Core, id: i64) -> Result<Credential> {
    let record = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    Ok(Credential::from(&record))
}

pub async fn create(core: &Core, caller: &Caller, input: &CreateCredential) -> Result<Credential> {
    let mut checks = Checks::default();
    let name = check_name(&mut checks, &input.name);
    let kind = check_type(&mut checks, &input.credential_type);
    let data = match kind {
        Some(k) => match validated(k, input.credential_data.clone()).await {
            Ok(d) => Some(d),
            Err(Error::Validation(errors)) => {
                errors.into_iter().for_each(|e| checks.push(e));
                None
            }
            Err(other) => return Err(other),
        },
        None => None,
    };
    checks.finish()?;
    let (Some(name), Some(kind), Some(data)) = (name, kind, data) else {
        return Err(anyhow::anyhow!("validated credential fields missing").into());
    };
    let description = input
        .description
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let vault = &core.vault;
    let record = store::insert(
        &core.db,
        &NewCredential {
            name: &name,
            description,
            credential_type: kind.as_str(),
            created_by: Some(caller.id),
        },
        |id| {
            vault
                .seal(id, kind.as_str(), &plaintext(&data))
                .map_err(seal_error)
        },
    )
    .await
    .map_err(|e| match e {
        Error::Conflict(_) => Error::Conflict("Credential with this name already exists".into()),
        other => other,
    })?;
    Ok(Credential::from(&record))
}

/// Decrypts a stored record; an integrity failure is a 409 that says what to do.
fn open(core: &Core, record: &CredentialRecord) -> Result<Map<String, Value>> {
    let bytes = core.vault.open(record).map_err(|e| {
        tracing::error!(credential_id = record.id, error = %e, "credential cannot be opened");
        Error::Conflict(format!(
            "Credential '{}' cannot be decrypted: it {e}. Rotate it to store a new secret.",
            record.name
        ))
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(anyhow::anyhow!("credential {} holds malformed plaintext", record.id).into()),
    }
}

pub async fn update(core: &Core, id: i64, input: &UpdateCredential) -> Result<Credential> {
    let existing = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    let mut checks = Checks::default();
    let name = input
        .name
        .as_deref()
        .filter(|n| !n.is_empty())
        .and_then(|n| check_name(&mut checks, n));
    let new_kind = input
        .credential_type
        .as_deref()
        .filter(|t| !t.is_empty())
        .and_then(|t| check_type(&mut checks, t));
    checks.finish()?;
    let stored_kind = CredentialType::parse(&existing.credential_type)
        .ok_or_else(|| anyhow::anyhow!("credential {id} has an unknown type"))?;
    let kind = new_kind.unwrap_or(stored_kind);
    let type_changes = kind != stored_kind;
    let data = match &input.credential_data {
        Some(data) => Some(validated(kind, data.clone()).await?),
        None if type_changes => {
            let current = open(core, &existing)?;
            Some(validated(kind, Value::Object(current)).await?)
        }
        None => None,
    };
    let sealed = match &data {
        Some(d) => Some(
            core.vault
                .seal(id, kind.as_str(), &plaintext(d))
                .map_err(seal_error)?,
        ),
        None => None,
    };
    let changes = CredentialChanges {
        name,
        description: input.description.clone(),
        credential_type: type_changes.then(|| kind.as_str().to_string()),
    };
    let record = store::update(&core.db, id, &changes, sealed.as_ref(), false)
        .await
        .map_err(duplicate)?
        .ok_or_else(not_found)?;
    Ok(Credential::from(&record))
}

/// Replaces the secret. The body is the new `credential_data`, or `{"payload": {...}}` /
/// `{"credential_data": {...}}` wrapping it (the older UI sent those).
pub async fn rotate(core: &Core, id: i64, body: &Value) -> Result<UtcTime> {
    let existing = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    let kind = CredentialType::parse(&existing.credential_type)
        .ok_or_else(|| anyhow::anyhow!("credential {id} has an unknown type"))?;
    let data = match body.as_object() {
        Some(map)
            if map.len() == 1
                && (map.contains_key("payload") || map.contains_key("credential_data")) =>
        {
            map.values().next().cloned().unwrap_or(Value::Null)
        }
        _ => body.clone(),
    };
    let data = validated(kind, data).await?;
    let sealed = core
        .vault
        .seal(id, kind.as_str(), &plaintext(&data))
        .map_err(seal_error)?;
    let record = store::update(
        &core.db,
        id,
        &CredentialChanges::default(),
        Some(&sealed),
        true,
    )
    .await?
    .ok_or_else(not_found)?;
    record
        .rotated_at
        .ok_or_else(|| anyhow::anyhow!("rotation did not stamp rotated_at").into())
}

/// The credential with its secret values masked (admin route; the caller audits it).
pub async fn decrypt_masked(core: &Core, id: i64) -> Result<(Credential, Map<String, Value>)> {
    let record = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    let mut data = open(core, &record)?;
    for (key, value) in data.iter_mut() {
        if SECRET_FIELDS.contains(&key.as_str()) && !value.is_null() {
            *value = Value::String("********".into());
        }
    }
    Ok((Credential::from(&record), data))
}

async fn delete_record(core: &Core, record: &CredentialRecord) -> Result<()> {
    if opsconductor_store::targets::credential_in_use(&core.db, record.id).await? {
        return Err(Error::Conflict(
            "Cannot delete credential: it is in use by targets".into(),
        ));
    }
    store::delete(&core.db, record.id)
        .await
        .map_err(|e| match e {
            opsconductor_store::StoreError::ForeignKeyViolation => {
                Error::Conflict("Cannot delete credential: it is in use by targets".into())
            }
            other => other.into(),
        })?;
    Ok(())
}

pub async fn delete(core: &Core, id: i64) -> Result<()> {
    let record = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    delete_record(core, &record).await
}

/// Deletes by name; returns the id it had.
pub async fn delete_by_name(core: &Core, name: &str) -> Result<i64> {
    let record = store::by_name(&core.db, name)
        .await?
        .ok_or_else(not_found)?;
    delete_record(core, &record).await?;
    Ok(record.id)
}

/// Decrypts a credential for the engine and audits the use (never the value).
pub async fn resolve_for_use(
    core: &Core,
    id: i64,
    purpose: &str,
    actor: Option<&Caller>,
) -> Result<Resolved> {
    let record = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    let data = open(core, &record);
    audit::record(
        core,
        Event {
            actor_id: actor.map(|a| a.id),
            actor_name: actor.map(|a| a.username.clone()),
            action: "credential.use".into(),
            resource_type: Some("credential".into()),
            resource_id: Some(id.to_string()),
            outcome: if data.is_ok() { "success" } else { "failure" }.into(),
            status_code: if data.is_ok() { 200 } else { 409 },
            details: serde_json::json!({ "purpose": purpose, "credential": record.name }),
            ..Default::default()
        },
    )
    .await?;
    Ok(Resolved {
        id,
        name: record.name.clone(),
        credential_type: CredentialType::parse(&record.credential_type)
            .ok_or_else(|| anyhow::anyhow!("credential {id} has an unknown type"))?,
        data: data?,
    })
}
