//! The target inventory (contract §5): validation, filters, bulk import, dependencies and
//! pinned SSH host keys.

use std::collections::{HashMap, HashSet};

use opsconductor_store::UtcTime;
use opsconductor_store::targets::{self as store, TargetFields, TargetFilter, TargetRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::{Core, Error, FieldError, Result};

/// How OpsConductor talks to a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Winrm,
    Ssh,
    Http,
}

impl Protocol {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "winrm" => Some(Self::Winrm),
            "ssh" => Some(Self::Ssh),
            "http" => Some(Self::Http),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Winrm => "winrm",
            Self::Ssh => "ssh",
            Self::Http => "http",
        }
    }

    /// The usual port: WinRM 5985 (5986 over HTTPS), SSH 22, HTTP(S) 443.
    pub fn default_port(self, metadata: &Map<String, Value>) -> i64 {
        match self {
            Self::Winrm
                if metadata.get("winrm_use_https").and_then(Value::as_bool) == Some(true) =>
            {
                5986
            }
            Self::Winrm => 5985,
            Self::Ssh => 22,
            Self::Http => 443,
        }
    }
}

/// A target as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Target {
    pub id: i64,
    pub name: String,
    pub hostname: String,
    pub protocol: String,
    pub port: i64,
    pub credential_ref: i64,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: Value,
    pub depends_on: Vec<i64>,
    /// The SSH host key pinned on the first successful connection (`SHA256:...`).
    pub host_key_fingerprint: Option<String>,
    pub host_key_algorithm: Option<String>,
    pub host_key_pinned_at: Option<UtcTime>,
    pub created_at: UtcTime,
    pub updated_at: UtcTime,
    /// Settings that weaken security, said plainly (e.g. certificate validation turned off).
    pub warnings: Vec<String>,
}

/// What in a target's settings an operator should know is insecure.
fn warnings(protocol: &str, metadata: &Value) -> Vec<String> {
    let off = |key: &str| metadata.get(key).and_then(Value::as_bool) == Some(false);
    let mut warnings = Vec::new();
    if protocol == "winrm" && off("winrm_validate_cert") {
        warnings.push(
            "WinRM certificate validation is off (metadata.winrm_validate_cert = false): \
             the connection is open to impersonation"
                .to_string(),
        );
    }
    if protocol == "http" && off("http_validate_cert") {
        warnings.push(
            "HTTPS certificate validation is off (metadata.http_validate_cert = false): \
             the connection is open to impersonation"
                .to_string(),
        );
    }
    warnings
}

impl From<TargetRecord> for Target {
    fn from(r: TargetRecord) -> Self {
        let metadata = serde_json::from_str(&r.metadata).unwrap_or(Value::Object(Map::new()));
        Target {
            id: r.id,
            name: r.name,
            hostname: r.hostname,
            warnings: warnings(&r.protocol, &metadata),
            protocol: r.protocol,
            port: r.port,
            credential_ref: r.credential_ref,
            tags: serde_json::from_str(&r.tags).unwrap_or_default(),
            metadata,
            depends_on: serde_json::from_str(&r.depends_on).unwrap_or_default(),
            host_key_fingerprint: r.host_key_fingerprint,
            host_key_algorithm: r.host_key_algorithm,
            host_key_pinned_at: r.host_key_pinned_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Fields of a target to create or change; on update, absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetInput {
    pub name: Option<String>,
    pub hostname: Option<String>,
    pub protocol: Option<String>,
    pub port: Option<i64>,
    pub credential_ref: Option<i64>,
    pub tags: Option<Vec<String>>,
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Value>,
    pub depends_on: Option<Vec<i64>>,
}

/// Where errors of one input are reported: `["body"]` or `["body", index]`.
struct Loc<'a>(&'a [String]);

impl Loc<'_> {
    fn err(&self, field: &str, kind: &str, msg: impl Into<String>) -> FieldError {
        let mut loc = self.0.to_vec();
        loc.push(field.into());
        FieldError {
            loc,
            msg: msg.into(),
            kind: kind.into(),
            input: None,
        }
    }
}

fn valid_name(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name.chars().count() > 128 {
        return Err("Name must be 1 to 128 characters long");
    }
    if name != name.trim() || name.chars().any(char::is_control) {
        return Err("Name must not have control characters or surrounding spaces");
    }
    if name.starts_with("tag:") {
        return Err("Names starting with 'tag:' are reserved for tag selectors");
    }
    Ok(())
}

fn valid_hostname(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// `key:value` with both parts present; trimmed.
pub fn parse_tag(raw: &str) -> std::result::Result<String, String> {
    let tag = raw.trim();
    match tag.split_once(':') {
        Some((k, v))
            if !k.trim().is_empty() && !v.trim().is_empty() && tag.chars().count() <= 128 =>
        {
            Ok(format!("{}:{}", k.trim(), v.trim()))
        }
        _ => Err(format!(
            "Tag '{raw}' must look like key:value (at most 128 characters)"
        )),
    }
}

/// Merges `input` over `base` (for updates) and checks everything that needs no database.
fn validate(
    input: &TargetInput,
    base: Option<&TargetFields>,
    loc: &Loc<'_>,
) -> std::result::Result<TargetFields, Vec<FieldError>> {
    let mut errors = Vec::new();
    let name = match (&input.name, base) {
        (Some(n), _) => n.clone(),
        (None, Some(b)) => b.name.clone(),
        (None, None) => {
            errors.push(loc.err("name", "missing", "Field required"));
            String::new()
        }
    };
    if (!name.is_empty() || input.name.is_some())
        && let Err(msg) = valid_name(&name)
    {
        errors.push(loc.err("name", "value_error", msg));
    }
    let hostname = match (&input.hostname, base) {
        (Some(h), _) => h.trim().to_string(),
        (None, Some(b)) => b.hostname.clone(),
        (None, None) => {
            errors.push(loc.err("hostname", "missing", "Field required"));
            String::new()
        }
    };
    if (input.hostname.is_some() || base.is_none())
        && !hostname.is_empty()
        && !valid_hostname(&hostname)
    {
        errors.push(loc.err(
            "hostname",
            "value_error",
            "Not a valid host name or IP address",
        ));
    } else if input.hostname.is_some() && hostname.is_empty() {
        errors.push(loc.err("hostname", "value_error", "Host name must not be empty"));
    }
    let protocol_raw = input
        .protocol
        .clone()
        .or_else(|| base.map(|b| b.protocol.clone()))
        .unwrap_or_else(|| "winrm".into());
    let protocol = Protocol::parse(&protocol_raw);
    if protocol.is_none() {
        errors.push(loc.err(
            "protocol",
            "enum",
            format!("Unknown protocol '{protocol_raw}': expected winrm, ssh or http"),
        ));
    }
    let metadata = match (&input.metadata, base) {
        (Some(Value::Object(m)), _) => m.clone(),
        (Some(Value::Null), _) | (None, None) => Map::new(),
        (Some(_), _) => {
            errors.push(loc.err("metadata", "dict_type", "metadata must be an object"));
            Map::new()
        }
        (None, Some(b)) => serde_json::from_str(&b.metadata).unwrap_or_default(),
    };
    for flag in ["winrm_use_https", "winrm_validate_cert"] {
        if metadata.get(flag).is_some_and(|v| !v.is_boolean()) {
            errors.push(loc.err(
                "metadata",
                "bool_type",
                format!("metadata.{flag} must be true or false"),
            ));
        }
    }
    if metadata
        .get("winrm_remote_os")
        .is_some_and(|v| !matches!(v.as_str(), Some("windows" | "posix")))
    {
        errors.push(loc.err(
            "metadata",
            "enum",
            "metadata.winrm_remote_os must be \"windows\" or \"posix\"",
        ));
    }
    let port = match (input.port, base) {
        (Some(p), _) => p,
        // Changing the protocol without a port moves to that protocol's default port.
        (None, Some(b)) if input.protocol.is_none() => b.port,
        _ => protocol.map(|p| p.default_port(&metadata)).unwrap_or(0),
    };
    // Without a valid protocol there is no default port to judge; the protocol error says enough.
    if (protocol.is_some() || input.port.is_some()) && !(1..=65535).contains(&port) {
        errors.push(loc.err("port", "value_error", "Port must be between 1 and 65535"));
    }
    let credential_ref = match (input.credential_ref, base) {
        (Some(c), _) => c,
        (None, Some(b)) => b.credential_ref,
        (None, None) => {
            errors.push(loc.err("credential_ref", "missing", "Field required"));
            0
        }
    };
    let mut tags = Vec::new();
    match (&input.tags, base) {
        (Some(raw), _) => {
            for t in raw {
                match parse_tag(t) {
                    Ok(tag) if !tags.contains(&tag) => tags.push(tag),
                    Ok(_) => {}
                    Err(msg) => errors.push(loc.err("tags", "value_error", msg)),
                }
            }
        }
        (None, Some(b)) => tags = b.tags.clone(),
        (None, None) => {}
    }
    let mut depends_on: Vec<i64> = match (&input.depends_on, base) {
        (Some(d), _) => d.clone(),
        (None, Some(b)) => b.depends_on.clone(),
        (None, None) => Vec::new(),
    };
    depends_on.sort_unstable();
    depends_on.dedup();
    if errors.is_empty() {
        Ok(TargetFields {
            name,
            hostname,
            protocol: protocol
                .map(Protocol::as_str)
                .unwrap_or("winrm")
                .to_string(),
            port,
            credential_ref,
            tags,
            metadata: Value::Object(metadata).to_string(),
            depends_on,
        })
    } else {
        Err(errors)
    }
}

fn not_found() -> Error {
    Error::NotFound("Target not found".into())
}

fn duplicate(err: opsconductor_store::StoreError) -> Error {
    match err {
        opsconductor_store::StoreError::UniqueViolation => {
            Error::Conflict("Target with this name already exists".into())
        }
        opsconductor_store::StoreError::ForeignKeyViolation => {
            Error::BadRequest("Invalid credential reference".into())
        }
        other => other.into(),
    }
}

fn fields_of(r: &TargetRecord) -> TargetFields {
    TargetFields {
        name: r.name.clone(),
        hostname: r.hostname.clone(),
        protocol: r.protocol.clone(),
        port: r.port,
        credential_ref: r.credential_ref,
        tags: serde_json::from_str(&r.tags).unwrap_or_default(),
        metadata: r.metadata.clone(),
        depends_on: serde_json::from_str(&r.depends_on).unwrap_or_default(),
    }
}

/// The dependency graph as adjacency lists.
async fn graph(core: &Core) -> Result<HashMap<i64, Vec<i64>>> {
    Ok(store::dependency_graph(&core.db)
        .await?
        .into_iter()
        .map(|(id, deps)| (id, serde_json::from_str(&deps).unwrap_or_default()))
        .collect())
}

/// A dependency path from `start` back to `start`, if `start`'s edges make one.
fn find_cycle(graph: &HashMap<i64, Vec<i64>>, start: i64) -> Option<Vec<i64>> {
    fn walk(
        graph: &HashMap<i64, Vec<i64>>,
        node: i64,
        start: i64,
        path: &mut Vec<i64>,
        seen: &mut HashSet<i64>,
    ) -> bool {
        for &next in graph.get(&node).map(Vec::as_slice).unwrap_or(&[]) {
            path.push(next);
            if next == start || (seen.insert(next) && walk(graph, next, start, path, seen)) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start];
    walk(graph, start, start, &mut path, &mut HashSet::new()).then_some(path)
}

/// Database checks shared by create, update and import: the credential and every
/// dependency exist, and (for an existing target) no dependency cycle appears. `credentials`
/// remembers which credential ids exist, so an import looks each one up once.
async fn check_references(
    core: &Core,
    fields: &TargetFields,
    own_id: Option<i64>,
    graph: &HashMap<i64, Vec<i64>>,
    credentials: &mut HashMap<i64, bool>,
    loc: &Loc<'_>,
) -> Result<Vec<FieldError>> {
    let mut errors = Vec::new();
    let exists = match credentials.get(&fields.credential_ref) {
        Some(known) => *known,
        None => {
            let found = opsconductor_store::credentials::get(&core.db, fields.credential_ref)
                .await?
                .is_some();
            credentials.insert(fields.credential_ref, found);
            found
        }
    };
    if !exists {
        errors.push(loc.err(
            "credential_ref",
            "value_error",
            "Invalid credential reference",
        ));
    }
    for dep in &fields.depends_on {
        if Some(*dep) == own_id {
            errors.push(loc.err(
                "depends_on",
                "value_error",
                "A target cannot depend on itself",
            ));
        } else if !graph.contains_key(dep) {
            errors.push(loc.err(
                "depends_on",
                "value_error",
                format!("Target {dep} does not exist"),
            ));
        }
    }
    if let (Some(id), true) = (own_id, errors.is_empty()) {
        let mut changed = graph.clone();
        changed.insert(id, fields.depends_on.clone());
        if let Some(path) = find_cycle(&changed, id) {
            let path: Vec<String> = path.iter().map(i64::to_string).collect();
            errors.push(loc.err(
                "depends_on",
                "value_error",
                format!("Dependencies would form a cycle: {}", path.join(" -> ")),
            ));
        }
    }
    Ok(errors)
}

/// Contract: a missing credential is a 400 with this message; other reference errors are 422.
fn reference_errors(errors: Vec<FieldError>) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    if errors.len() == 1 && errors[0].loc.last().is_some_and(|l| l == "credential_ref") {
        return Err(Error::BadRequest("Invalid credential reference".into()));
    }
    Err(Error::Validation(errors))
}

pub async fn create(core: &Core, input: &TargetInput) -> Result<Target> {
    let body = ["body".to_string()];
    let loc = Loc(&body);
    let fields = validate(input, None, &loc).map_err(Error::Validation)?;
    let graph = graph(core).await?;
    reference_errors(
        check_references(core, &fields, None, &graph, &mut HashMap::new(), &loc).await?,
    )?;
    Ok(store::insert(&core.db, &fields)
        .await
        .map_err(duplicate)?
        .into())
}

pub async fn get(core: &Core, id: i64) -> Result<Target> {
    Ok(store::get(&core.db, id)
        .await?
        .ok_or_else(not_found)?
        .into())
}

pub async fn update(core: &Core, id: i64, input: &TargetInput) -> Result<Target> {
    let existing = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    let body = ["body".to_string()];
    let loc = Loc(&body);
    let fields = validate(input, Some(&fields_of(&existing)), &loc).map_err(Error::Validation)?;
    let graph = graph(core).await?;
    reference_errors(
        check_references(core, &fields, Some(id), &graph, &mut HashMap::new(), &loc).await?,
    )?;
    Ok(store::update(&core.db, id, &fields)
        .await
        .map_err(duplicate)?
        .ok_or_else(not_found)?
        .into())
}

/// Query parameters of the list.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct TargetQuery {
    /// `key:value`; repeat to require several tags.
    #[serde(default)]
    pub tag: Vec<String>,
    pub protocol: Option<String>,
    /// Substring of the name or host name, case-insensitive.
    pub q: Option<String>,
    pub skip: Option<i64>,
    pub limit: Option<i64>,
}

pub async fn list(
    core: &Core,
    query: &TargetQuery,
    skip: i64,
    limit: i64,
) -> Result<(Vec<Target>, i64)> {
    let mut errors = Vec::new();
    let query_loc = |field: &str, msg: String| FieldError {
        loc: vec!["query".into(), field.into()],
        msg,
        kind: "value_error".into(),
        input: None,
    };
    let tags: Vec<String> = query
        .tag
        .iter()
        .filter_map(|t| {
            parse_tag(t)
                .map_err(|m| errors.push(query_loc("tag", m)))
                .ok()
        })
        .collect();
    let protocol = query.protocol.as_deref().filter(|p| !p.is_empty());
    if let Some(p) = protocol
        && Protocol::parse(p).is_none()
    {
        errors.push(query_loc(
            "protocol",
            format!("Unknown protocol '{p}': expected winrm, ssh or http"),
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let filter = TargetFilter {
        tags,
        protocol: protocol.map(str::to_string),
        q: query
            .q
            .clone()
            .filter(|q| !q.trim().is_empty())
            .map(|q| q.trim().to_string()),
    };
    let (rows, total) = store::list(&core.db, &filter, skip, limit).await?;
    Ok((rows.into_iter().map(Target::from).collect(), total))
}

async fn delete_record(core: &Core, record: &TargetRecord) -> Result<()> {
    let dependants: Vec<i64> = graph(core)
        .await?
        .into_iter()
        .filter(|(_, deps)| deps.contains(&record.id))
        .map(|(id, _)| id)
        .collect();
    if !dependants.is_empty() {
        return Err(Error::Conflict(format!(
            "Cannot delete target: targets {dependants:?} depend on it"
        )));
    }
    store::delete(&core.db, record.id)
        .await
        .map_err(|e| match e {
            opsconductor_store::StoreError::ForeignKeyViolation => {
                Error::Conflict("Cannot delete target: it is referenced by jobs".into())
            }
            other => other.into(),
        })?;
    Ok(())
}

pub async fn delete(core: &Core, id: i64) -> Result<()> {
    let record = store::get(&core.db, id).await?.ok_or_else(not_found)?;
    delete_record(core, &record).await
}

pub async fn delete_by_name(core: &Core, name: &str) -> Result<i64> {
    let record = store::by_name(&core.db, name)
        .await?
        .ok_or_else(not_found)?;
    delete_record(core, &record).await?;
    Ok(record.id)
}

/// Creates every target or none; every bad row is reported as `["body", index, field]`.
pub async fn import(core: &Core, inputs: &[TargetInput]) -> Result<Vec<Target>> {
    if inputs.is_empty() {
        return Err(Error::field(
            "targets",
            "too_short",
            "Nothing to import: the list is empty",
        ));
    }
    if inputs.len() > 10_000 {
        return Err(Error::field(
            "targets",
            "too_long",
            "At most 10000 targets per import",
        ));
    }
    let graph = graph(core).await?;
    let mut errors = Vec::new();
    let mut rows = Vec::with_capacity(inputs.len());
    let mut seen_names: HashMap<String, usize> = HashMap::new();
    let mut known_credentials = HashMap::new();
    for (index, input) in inputs.iter().enumerate() {
        let prefix = ["body".to_string(), index.to_string()];
        let loc = Loc(&prefix);
        match validate(input, None, &loc) {
            Ok(fields) => {
                if let Some(first) = seen_names.insert(fields.name.clone(), index) {
                    errors.push(loc.err(
                        "name",
                        "value_error",
                        format!("Duplicate of row {first}"),
                    ));
                }
                errors.extend(
                    check_references(core, &fields, None, &graph, &mut known_credentials, &loc)
                        .await?,
                );
                rows.push((index, fields));
            }
            Err(e) => errors.extend(e),
        }
    }
    let names: Vec<String> = rows.iter().map(|(_, f)| f.name.clone()).collect();
    let taken: HashSet<String> = store::existing_names(&core.db, &names)
        .await?
        .into_iter()
        .collect();
    for (index, fields) in &rows {
        if taken.contains(&fields.name) {
            let prefix = ["body".to_string(), index.to_string()];
            errors.push(Loc(&prefix).err(
                "name",
                "value_error",
                "Target with this name already exists",
            ));
        }
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| {
            e.loc
                .get(1)
                .and_then(|i| i.parse::<usize>().ok())
                .unwrap_or(0)
        });
        return Err(Error::Validation(errors));
    }
    let fields: Vec<TargetFields> = rows.into_iter().map(|(_, f)| f).collect();
    let created = store::insert_many(&core.db, &fields)
        .await
        .map_err(duplicate)?;
    Ok(created.into_iter().map(Target::from).collect())
}

/// Reads CSV rows (`name,hostname,protocol,port,credential_ref|credential,tags,metadata,depends_on`;
/// tags and depends_on separated by `;`, metadata as JSON) into import inputs. A credential may be
/// named instead of numbered.
pub async fn parse_csv(core: &Core, text: &str) -> Result<Vec<TargetInput>> {
    const COLUMNS: [&str; 9] = [
        "name",
        "hostname",
        "protocol",
        "port",
        "credential_ref",
        "credential",
        "tags",
        "metadata",
        "depends_on",
    ];
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| {
            Error::field(
                "csv",
                "csv_invalid",
                format!("Cannot read the CSV header: {e}"),
            )
        })?
        .clone();
    let mut errors = Vec::new();
    for h in headers.iter() {
        if !COLUMNS.contains(&h) {
            errors.push(FieldError::body(
                "csv",
                "value_error",
                format!("Unknown column '{h}': expected {}", COLUMNS.join(", ")),
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    let mut inputs = Vec::new();
    let mut credential_ids: HashMap<String, Option<i64>> = HashMap::new();
    for (index, record) in reader.records().enumerate() {
        let prefix = ["body".to_string(), index.to_string()];
        let loc = Loc(&prefix);
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                errors.push(loc.err("csv", "csv_invalid", e.to_string()));
                continue;
            }
        };
        let mut input = TargetInput::default();
        for (column, value) in headers.iter().zip(record.iter()) {
            if value.is_empty() {
                continue;
            }
            match column {
                "name" => input.name = Some(value.to_string()),
                "hostname" => input.hostname = Some(value.to_string()),
                "protocol" => input.protocol = Some(value.to_string()),
                "port" => match value.parse() {
                    Ok(p) => input.port = Some(p),
                    Err(_) => errors.push(loc.err(
                        "port",
                        "int_parsing",
                        format!("'{value}' is not a number"),
                    )),
                },
                "credential_ref" => match value.parse() {
                    Ok(c) => input.credential_ref = Some(c),
                    Err(_) => errors.push(loc.err(
                        "credential_ref",
                        "int_parsing",
                        format!("'{value}' is not a number"),
                    )),
                },
                "credential" => {
                    if !credential_ids.contains_key(value) {
                        let found = opsconductor_store::credentials::by_name(&core.db, value)
                            .await?
                            .map(|c| c.id);
                        credential_ids.insert(value.to_string(), found);
                    }
                    match credential_ids.get(value).copied().flatten() {
                        Some(id) => input.credential_ref = Some(id),
                        None => errors.push(loc.err(
                            "credential",
                            "value_error",
                            format!("No credential named '{value}'"),
                        )),
                    }
                }
                "tags" => {
                    input.tags = Some(
                        value
                            .split(';')
                            .map(str::to_string)
                            .filter(|t| !t.trim().is_empty())
                            .collect(),
                    )
                }
                "metadata" => match serde_json::from_str::<Value>(value) {
                    Ok(v) => input.metadata = Some(v),
                    Err(_) => errors.push(loc.err(
                        "metadata",
                        "json_invalid",
                        "metadata must be a JSON object",
                    )),
                },
                "depends_on" => {
                    let parsed: std::result::Result<Vec<i64>, _> =
                        value.split(';').map(|v| v.trim().parse()).collect();
                    match parsed {
                        Ok(ids) => input.depends_on = Some(ids),
                        Err(_) => errors.push(loc.err(
                            "depends_on",
                            "int_parsing",
                            "depends_on must be ids separated by ';'",
                        )),
                    }
                }
                _ => {}
            }
        }
        inputs.push(input);
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(inputs)
}

/// Pins the host key seen on a first successful connection; `true` if it was pinned now.
pub async fn pin_host_key(
    core: &Core,
    id: i64,
    fingerprint: &str,
    algorithm: &str,
) -> Result<bool> {
    Ok(store::pin_host_key(&core.db, id, fingerprint, algorithm).await?)
}

/// Forgets a pinned host key; returns the fingerprint that was pinned.
pub async fn reset_host_key(core: &Core, id: i64) -> Result<Option<String>> {
    store::reset_host_key(&core.db, id)
        .await?
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_with_their_path() {
        let graph: HashMap<i64, Vec<i64>> =
            [(1, vec![2]), (2, vec![3]), (3, vec![1]), (4, vec![1])].into();
        assert_eq!(find_cycle(&graph, 1), Some(vec![1, 2, 3, 1]));
        assert_eq!(find_cycle(&graph, 4), None);
    }

    #[test]
    fn tags_need_a_key_and_a_value() {
        assert_eq!(parse_tag(" role : web ").as_deref(), Ok("role:web"));
        assert!(parse_tag("role").is_err());
        assert!(parse_tag(":web").is_err());
        assert!(parse_tag("role:").is_err());
    }

    #[test]
    fn ports_default_per_protocol() {
        let https: Map<String, Value> =
            serde_json::from_str(r#"{"winrm_use_https": true}"#).expect("json");
        assert_eq!(Protocol::Winrm.default_port(&Map::new()), 5985);
        assert_eq!(Protocol::Winrm.default_port(&https), 5986);
        assert_eq!(Protocol::Ssh.default_port(&Map::new()), 22);
        assert_eq!(Protocol::Http.default_port(&Map::new()), 443);
    }

    #[test]
    fn names_and_hosts_are_checked() {
        assert!(valid_name("web-01").is_ok());
        assert!(valid_name("tag:role:web").is_err());
        assert!(valid_name(" padded").is_err());
        assert!(valid_hostname("db-1.example.com"));
        assert!(valid_hostname("10.0.0.5"));
        assert!(valid_hostname("::1"));
        assert!(!valid_hostname("bad host"));
        assert!(!valid_hostname("-bad.example"));
    }
}
