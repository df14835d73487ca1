//! A job's definition (contract §12 and its Rebuild notes): JSON checked on save and parsed
//! into types that can only hold valid values. Parsing reports every problem at once, each
//! located down to the step index or parameter name and the field.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::template::{self, check_value, is_identifier};
use crate::FieldError;
use crate::targets::parse_tag;

const MAX_NAME_CHARS: usize = 200;
const DEFAULT_MAX_PARALLEL: u32 = 10;
const DEFAULT_TIMEOUT_SEC: i64 = 60;
const DEFAULT_RETRY_BACKOFF_SEC: i64 = 5;
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const SECRET_FIELDS: [&str; 6] = [
    "password",
    "private_key",
    "passphrase",
    "api_key",
    "token",
    "secret",
];
const STEP_TYPES: [&str; 5] = [
    "winrm.exec",
    "winrm.copy",
    "ssh.exec",
    "ssh.copy",
    "http.request",
];
const TOP_LEVEL_KEYS: [&str; 5] = ["name", "version", "parameters", "steps", "maxParallel"];
const DECLARATION_KEYS: [&str; 8] = [
    "type",
    "default",
    "required",
    "pattern",
    "enum",
    "description",
    "credential",
    "field",
];
const COMMON_STEP_KEYS: [&str; 7] = [
    "type",
    "name",
    "target",
    "timeoutSec",
    "retries",
    "retryBackoffSec",
    "continueOnError",
];

/// A parsed, valid job definition.
#[derive(Debug, Clone)]
pub struct JobDefinition {
    pub name: String,
    pub version: i64,
    pub parameters: Vec<ParamDecl>,
    pub steps: Vec<Step>,
    /// How many targets of one step run at once (1..=1000, default 10).
    pub max_parallel: u32,
}

/// A declared parameter, from a plain default (`"svc": "Spooler"`) or a declaration object.
#[derive(Debug, Clone)]
pub struct ParamDecl {
    pub name: String,
    pub kind: ParamType,
    /// Already checked against the type, pattern and allowed values; never set for secrets.
    pub default: Option<Value>,
    pub required: bool,
    /// Anchored: the whole value must match (`^(?:pattern)$`). String parameters only.
    pub pattern: Option<regex::Regex>,
    /// The allowed values of an enum parameter (non-empty scalars); empty for other types.
    pub allowed: Vec<Value>,
    pub description: Option<String>,
    /// The credential name of a secret parameter (always set for secrets, never for others).
    pub credential: Option<String>,
    /// Which field of the credential a secret reads; `None` lets the engine choose.
    pub field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    String,
    Number,
    Boolean,
    Enum,
    Secret,
}

impl ParamType {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "string" => Some(Self::String),
            "number" => Some(Self::Number),
            "boolean" => Some(Self::Boolean),
            "enum" => Some(Self::Enum),
            "secret" => Some(Self::Secret),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Enum => "enum",
            Self::Secret => "secret",
        }
    }
}

/// One step, in definition order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// 0-based position in `steps`.
    pub index: usize,
    pub name: Option<String>,
    pub action: StepAction,
    pub targets: TargetSpec,
    /// 1..=86400, default 60.
    pub timeout_sec: u64,
    /// Extra attempts after a failure, 0..=10.
    pub retries: u32,
    /// Seconds between attempts, 0..=3600, default 5.
    pub retry_backoff_sec: u64,
    pub continue_on_error: bool,
}

/// Where a step runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetSpec {
    /// No target: only `http.request` steps, which call their URL directly.
    None,
    /// Target names as written; they may contain `{{ }}` placeholders, rendered per run.
    Names(Vec<String>),
    /// The `key:value` of a `tag:key:value` selector: normalised by `parse_tag`, or raw when it
    /// contains placeholders.
    Tag(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shell {
    Powershell,
    Cmd,
}

impl Shell {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Powershell => "powershell",
            Self::Cmd => "cmd",
        }
    }
}

/// What `ssh.copy` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyContent {
    /// From `content`: the text as UTF-8.
    Text(String),
    /// From `contentB64`: checked to be valid standard base64.
    Base64(String),
}

/// What a step does, per step type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    WinrmExec {
        shell: Shell,
        command: String,
    },
    WinrmCopy {
        dest_path: String,
        /// Valid standard base64.
        content_b64: String,
        overwrite: bool,
    },
    SshExec {
        command: String,
        sudo: bool,
        env: BTreeMap<String, String>,
    },
    SshCopy {
        content: CopyContent,
        dest_path: String,
        /// Permission bits, at most `0o7777`.
        mode: Option<u32>,
        overwrite: bool,
    },
    HttpRequest {
        /// Upper case, one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS.
        method: String,
        url: String,
        headers: BTreeMap<String, String>,
        /// A JSON body in the definition is kept as its compact JSON text.
        body: Option<String>,
        /// Accepted status codes; empty means any 2xx.
        expected_status: Vec<u16>,
        /// The step's `timeoutSec` when the definition gives one.
        timeout_sec: Option<u64>,
    },
}

impl StepAction {
    /// The step type as written in definitions: `ssh.exec` etc.
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::WinrmExec { .. } => "winrm.exec",
            Self::WinrmCopy { .. } => "winrm.copy",
            Self::SshExec { .. } => "ssh.exec",
            Self::SshCopy { .. } => "ssh.copy",
            Self::HttpRequest { .. } => "http.request",
        }
    }

    /// The texts that are rendered with the run's parameters before execution.
    fn templated(&self) -> Vec<&str> {
        match self {
            Self::WinrmExec { command, .. } => vec![command],
            Self::WinrmCopy { dest_path, .. } => vec![dest_path],
            Self::SshExec { command, env, .. } => {
                let mut texts = vec![command.as_str()];
                texts.extend(env.values().map(String::as_str));
                texts
            }
            Self::SshCopy { dest_path, .. } => vec![dest_path],
            Self::HttpRequest {
                url, headers, body, ..
            } => {
                let mut texts = vec![url.as_str()];
                texts.extend(headers.values().map(String::as_str));
                texts.extend(body.as_deref());
                texts
            }
        }
    }
}

impl JobDefinition {
    /// Parses `value`, the `definition` object of a job. Errors are located under
    /// `loc_prefix` (the API passes `["body", "definition"]`), e.g.
    /// `["body", "definition", "steps", "0", "command"]`; every problem is reported.
    pub fn parse(value: &Value, loc_prefix: &[&str]) -> Result<Self, Vec<FieldError>> {
        let mut cx = Cx::default();
        let root = Loc(loc_prefix.iter().map(|s| (*s).to_string()).collect());
        let Some(obj) = value.as_object() else {
            cx.wrong_type(&root, "Job definition must be a JSON object");
            return Err(cx.errors);
        };
        let top = Obj {
            map: obj,
            loc: root,
        };
        cx.unknown_keys(&top, &TOP_LEVEL_KEYS, "");

        let name = top.required_str(&mut cx, "name");
        if let Some(n) = &name
            && n.chars().count() > MAX_NAME_CHARS
        {
            cx.invalid(
                &top.loc.at("name"),
                format!("name must be at most {MAX_NAME_CHARS} characters"),
            );
        }
        let version = match obj.get("version") {
            None => {
                cx.missing(&top.loc.at("version"), "Field required");
                None
            }
            Some(v) => cx.int(&top.loc.at("version"), v, 1, i64::MAX),
        };
        let parameters = match obj.get("parameters") {
            None => Vec::new(),
            Some(Value::Object(params)) => params
                .iter()
                .filter_map(|(name, v)| parse_param(&mut cx, &top.loc.at("parameters"), name, v))
                .collect(),
            Some(_) => {
                cx.wrong_type(&top.loc.at("parameters"), "parameters must be an object");
                Vec::new()
            }
        };
        let steps = match obj.get("steps") {
            None => {
                cx.missing(&top.loc.at("steps"), "Field required");
                Vec::new()
            }
            Some(Value::Array(list)) if list.is_empty() => {
                cx.invalid(&top.loc.at("steps"), "a job needs at least one step");
                Vec::new()
            }
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .filter_map(|(i, v)| parse_step(&mut cx, &top.loc.at("steps").at(i), i, v))
                .collect(),
            Some(_) => {
                cx.wrong_type(&top.loc.at("steps"), "steps must be an array");
                Vec::new()
            }
        };
        let max_parallel = top.int_or(&mut cx, "maxParallel", 1, 1000, DEFAULT_MAX_PARALLEL.into());

        match (name, version) {
            (Some(name), Some(version)) if cx.errors.is_empty() => Ok(JobDefinition {
                name,
                version,
                parameters,
                steps,
                max_parallel: u32::try_from(max_parallel).unwrap_or(DEFAULT_MAX_PARALLEL),
            }),
            _ => Err(cx.errors),
        }
    }

    /// Every placeholder name the definition uses (in commands, destination paths, targets,
    /// URLs, bodies, header and environment values), deduplicated, in order of appearance.
    /// Names need not be declared parameters: run creation checks they will have a value.
    pub fn placeholders(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for step in &self.steps {
            let mut texts = step.action.templated();
            match &step.targets {
                TargetSpec::None => {}
                TargetSpec::Names(list) => texts.extend(list.iter().map(String::as_str)),
                TargetSpec::Tag(tag) => texts.push(tag),
            }
            for p in texts
                .into_iter()
                .flat_map(|t| template::scan(t).unwrap_or_default())
            {
                if !names.contains(&p.name) {
                    names.push(p.name);
                }
            }
        }
        names
    }

    /// The declaration of a parameter, by name.
    pub fn parameter(&self, name: &str) -> Option<&ParamDecl> {
        self.parameters.iter().find(|p| p.name == name)
    }
}

/// A location under construction.
#[derive(Debug, Clone)]
struct Loc(Vec<String>);

impl Loc {
    fn at(&self, part: impl ToString) -> Loc {
        let mut parts = self.0.clone();
        parts.push(part.to_string());
        Loc(parts)
    }
}

/// The errors found so far.
#[derive(Default)]
struct Cx {
    errors: Vec<FieldError>,
}

impl Cx {
    fn push(&mut self, loc: &Loc, kind: &str, msg: impl Into<String>) {
        self.errors.push(FieldError {
            loc: loc.0.clone(),
            msg: msg.into(),
            kind: kind.into(),
            input: None,
        });
    }

    fn missing(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.push(loc, "missing", msg);
    }

    fn invalid(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.push(loc, "value_error", msg);
    }

    fn wrong_type(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.push(loc, "type_error", msg);
    }

    fn not_one_of(&mut self, loc: &Loc, msg: impl Into<String>) {
        self.push(loc, "enum", msg);
    }

    /// One error per key of `obj` not in `allowed`; `context` ends the message (e.g. the step type).
    fn unknown_keys(&mut self, obj: &Obj<'_>, allowed: &[&str], context: &str) {
        for key in obj.map.keys().filter(|k| !allowed.contains(&k.as_str())) {
            self.push(
                &obj.loc.at(key),
                "extra_forbidden",
                format!("Additional properties are not allowed ('{key}' was unexpected{context})"),
            );
        }
    }

    /// An integer in `lo..=hi`; floats such as `1.0` are not integers.
    fn int(&mut self, loc: &Loc, v: &Value, lo: i64, hi: i64) -> Option<i64> {
        let n = match v {
            Value::Number(n) if n.is_i64() || n.is_u64() => n.as_i64(),
            _ => {
                self.wrong_type(loc, "must be an integer");
                return None;
            }
        };
        match n {
            Some(n) if (lo..=hi).contains(&n) => Some(n),
            _ if hi == i64::MAX => {
                self.invalid(loc, format!("must be at least {lo}"));
                None
            }
            _ => {
                self.invalid(loc, format!("must be between {lo} and {hi}"));
                None
            }
        }
    }

    /// Reports a malformed placeholder in `text` at `loc`.
    fn placeholders(&mut self, loc: &Loc, text: &str) {
        if let Err(msg) = template::scan(text) {
            self.invalid(loc, msg);
        }
    }
}

/// A JSON object and where it sits.
struct Obj<'a> {
    map: &'a Map<String, Value>,
    loc: Loc,
}

impl Obj<'_> {
    /// A present, non-blank string.
    fn required_str(&self, cx: &mut Cx, key: &str) -> Option<String> {
        match self.map.get(key) {
            None => {
                cx.missing(&self.loc.at(key), "Field required");
                None
            }
            Some(_) => self.non_empty_str(cx, key),
        }
    }

    /// A string that, when present, is not blank.
    fn non_empty_str(&self, cx: &mut Cx, key: &str) -> Option<String> {
        let s = self.opt_str(cx, key)?;
        if s.trim().is_empty() {
            cx.invalid(&self.loc.at(key), format!("{key} must not be empty"));
            return None;
        }
        Some(s)
    }

    fn opt_str(&self, cx: &mut Cx, key: &str) -> Option<String> {
        match self.map.get(key)? {
            Value::String(s) => Some(s.clone()),
            _ => {
                cx.wrong_type(&self.loc.at(key), format!("{key} must be a string"));
                None
            }
        }
    }

    fn bool_or(&self, cx: &mut Cx, key: &str, default: bool) -> bool {
        match self.map.get(key) {
            None => default,
            Some(Value::Bool(b)) => *b,
            Some(_) => {
                cx.wrong_type(&self.loc.at(key), format!("{key} must be true or false"));
                default
            }
        }
    }

    fn int_or(&self, cx: &mut Cx, key: &str, lo: i64, hi: i64, default: i64) -> i64 {
        match self.map.get(key) {
            None => default,
            Some(v) => cx.int(&self.loc.at(key), v, lo, hi).unwrap_or(default),
        }
    }

    /// An object of string values, with every key passing `key_ok` (whose message explains a
    /// bad key) and every value a string without malformed placeholders.
    fn string_map(
        &self,
        cx: &mut Cx,
        key: &str,
        key_ok: fn(&str) -> Result<(), &'static str>,
        value_ok: fn(&str) -> Result<(), &'static str>,
    ) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        let loc = self.loc.at(key);
        match self.map.get(key) {
            None => {}
            Some(Value::Object(entries)) => {
                for (k, v) in entries {
                    if let Err(msg) = key_ok(k) {
                        cx.invalid(&loc.at(k), msg);
                    }
                    match v {
                        Value::String(s) => {
                            if let Err(msg) = value_ok(s) {
                                cx.invalid(&loc.at(k), msg);
                            }
                            cx.placeholders(&loc.at(k), s);
                            out.insert(k.clone(), s.clone());
                        }
                        _ => cx.wrong_type(&loc.at(k), "must be a string"),
                    }
                }
            }
            Some(_) => cx.wrong_type(&loc, format!("{key} must be an object of strings")),
        }
        out
    }
}

fn parse_param(cx: &mut Cx, parent: &Loc, name: &str, value: &Value) -> Option<ParamDecl> {
    let loc = parent.at(name);
    let errors_before = cx.errors.len();
    if !is_identifier(name) {
        cx.invalid(&loc, "parameter names must match [A-Za-z_][A-Za-z0-9_]*");
    }
    let plain = |kind| ParamDecl {
        name: name.to_string(),
        kind,
        default: Some(value.clone()),
        required: false,
        pattern: None,
        allowed: Vec::new(),
        description: None,
        credential: None,
        field: None,
    };
    let decl = match value {
        Value::String(_) => Some(plain(ParamType::String)),
        Value::Number(_) => Some(plain(ParamType::Number)),
        Value::Bool(_) => Some(plain(ParamType::Boolean)),
        Value::Null | Value::Array(_) => {
            cx.invalid(
                &loc,
                "a plain default must be a string, number or boolean; \
                 use a declaration object ({\"type\": ..., \"default\": ...}) for anything else",
            );
            None
        }
        Value::Object(map) => parse_declaration(cx, Obj { map, loc }, name),
    };
    decl.filter(|_| cx.errors.len() == errors_before)
}

fn parse_declaration(cx: &mut Cx, obj: Obj<'_>, name: &str) -> Option<ParamDecl> {
    cx.unknown_keys(&obj, &DECLARATION_KEYS, "");
    let loc = &obj.loc;
    let kind = match obj.map.get("type") {
        // A list of allowed values without a type can only mean an enum.
        None if obj.map.contains_key("enum") => Some(ParamType::Enum),
        None => Some(ParamType::String),
        Some(Value::String(t)) => {
            let kind = ParamType::parse(t);
            if kind.is_none() {
                cx.not_one_of(
                    &loc.at("type"),
                    format!("unknown type '{t}'; allowed: string, number, boolean, enum, secret"),
                );
            }
            kind
        }
        Some(_) => {
            cx.wrong_type(&loc.at("type"), "type must be a string");
            None
        }
    };
    let required = obj.bool_or(cx, "required", false);
    let description = obj.opt_str(cx, "description");

    let pattern = match obj.opt_str(cx, "pattern") {
        Some(_) if kind.is_some_and(|k| k != ParamType::String) => {
            cx.invalid(&loc.at("pattern"), "only string parameters take a pattern");
            None
        }
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(re) => Some(re),
            Err(e) => {
                cx.invalid(&loc.at("pattern"), format!("invalid pattern: {e}"));
                None
            }
        },
        None => None,
    };

    let allowed = match obj.map.get("enum") {
        None => {
            if kind == Some(ParamType::Enum) {
                cx.missing(
                    &loc.at("enum"),
                    "an enum parameter needs its list of values",
                );
            }
            Vec::new()
        }
        Some(_) if kind.is_some_and(|k| k != ParamType::Enum) => {
            cx.invalid(
                &loc.at("enum"),
                "only enum parameters take a list of values",
            );
            Vec::new()
        }
        Some(Value::Array(values)) if values.is_empty() => {
            cx.invalid(&loc.at("enum"), "enum must list at least one value");
            Vec::new()
        }
        Some(Value::Array(values)) => {
            for (i, v) in values.iter().enumerate() {
                if !matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                    cx.wrong_type(
                        &loc.at("enum").at(i),
                        "enum values must be strings, numbers or booleans",
                    );
                }
            }
            values.clone()
        }
        Some(_) => {
            cx.wrong_type(&loc.at("enum"), "enum must be a list of values");
            Vec::new()
        }
    };

    let is_secret = kind == Some(ParamType::Secret);
    let credential = match obj.map.get("credential") {
        None if is_secret => {
            cx.missing(
                &loc.at("credential"),
                "a secret parameter needs a credential name",
            );
            None
        }
        Some(_) if kind.is_some_and(|k| k != ParamType::Secret) => {
            cx.invalid(
                &loc.at("credential"),
                "only secret parameters take a credential",
            );
            None
        }
        _ => obj.non_empty_str(cx, "credential"),
    };
    let field = match obj.opt_str(cx, "field") {
        Some(_) if kind.is_some_and(|k| k != ParamType::Secret) => {
            cx.invalid(&loc.at("field"), "only secret parameters take a field");
            None
        }
        Some(f) if !SECRET_FIELDS.contains(&f.as_str()) => {
            cx.not_one_of(
                &loc.at("field"),
                format!("unknown field '{f}'; allowed: {}", SECRET_FIELDS.join(", ")),
            );
            None
        }
        other => other,
    };

    let mut decl = ParamDecl {
        name: name.to_string(),
        kind: kind?,
        default: None,
        required,
        pattern,
        allowed,
        description,
        credential,
        field,
    };
    if let Some(default) = obj.map.get("default") {
        if is_secret {
            cx.invalid(
                &loc.at("default"),
                "a secret parameter may not have a default; its value comes from the vault",
            );
        } else {
            // A bad pattern or enum list is reported already; don't pile a default error on it.
            let pattern_broken = obj.map.contains_key("pattern") && decl.pattern.is_none();
            let enum_broken = decl.kind == ParamType::Enum && decl.allowed.is_empty();
            match check_value(&decl, default) {
                Ok(()) => decl.default = Some(default.clone()),
                Err(_) if pattern_broken || enum_broken => {}
                Err((kind, msg)) => cx.push(&loc.at("default"), kind, format!("default {msg}")),
            }
        }
    }
    Some(decl)
}

fn parse_step(cx: &mut Cx, loc: &Loc, index: usize, value: &Value) -> Option<Step> {
    let Some(map) = value.as_object() else {
        cx.wrong_type(loc, "a step must be a JSON object");
        return None;
    };
    let obj = Obj {
        map,
        loc: loc.clone(),
    };
    let errors_before = cx.errors.len();
    let step_type = match map.get("type") {
        None => {
            cx.missing(&loc.at("type"), "Field required");
            None
        }
        Some(Value::String(t)) if STEP_TYPES.contains(&t.as_str()) => Some(t.as_str()),
        Some(Value::String(t)) => {
            let allowed = STEP_TYPES.join(", ");
            cx.not_one_of(
                &loc.at("type"),
                format!("unknown step type '{t}'; allowed: {allowed}"),
            );
            None
        }
        Some(_) => {
            cx.wrong_type(&loc.at("type"), "type must be a string");
            None
        }
    };

    let name = obj.opt_str(cx, "name");
    let timeout_sec = obj.int_or(cx, "timeoutSec", 1, 86_400, DEFAULT_TIMEOUT_SEC);
    let retries = obj.int_or(cx, "retries", 0, 10, 0);
    let retry_backoff_sec = obj.int_or(cx, "retryBackoffSec", 0, 3600, DEFAULT_RETRY_BACKOFF_SEC);
    let continue_on_error = obj.bool_or(cx, "continueOnError", false);
    let targets = parse_targets(cx, &obj);
    if targets == TargetSpec::None && step_type.is_some_and(|t| t != "http.request") {
        cx.missing(&loc.at("target"), "Field required");
    }

    let action = step_type.and_then(|t| {
        let (keys, action) = match t {
            "winrm.exec" => (&["shell", "command"][..], winrm_exec(cx, &obj)),
            "winrm.copy" => (
                &["destPath", "contentB64", "overwrite"][..],
                winrm_copy(cx, &obj),
            ),
            "ssh.exec" => (&["command", "sudo", "env"][..], ssh_exec(cx, &obj)),
            "ssh.copy" => (
                &["content", "contentB64", "destPath", "mode", "overwrite"][..],
                ssh_copy(cx, &obj),
            ),
            _ => (
                &["method", "url", "headers", "body", "expectedStatus"][..],
                http_request(cx, &obj),
            ),
        };
        let allowed: Vec<&str> = COMMON_STEP_KEYS.iter().chain(keys).copied().collect();
        cx.unknown_keys(&obj, &allowed, &format!(" for {t}"));
        action
    });

    let action = action.filter(|_| cx.errors.len() == errors_before)?;
    Some(Step {
        index,
        name,
        action,
        targets,
        timeout_sec: u64::try_from(timeout_sec).unwrap_or(60),
        retries: u32::try_from(retries).unwrap_or(0),
        retry_backoff_sec: u64::try_from(retry_backoff_sec).unwrap_or(5),
        continue_on_error,
    })
}

/// `target`: a name, a `tag:key:value` selector, or a non-empty list of names. A target that
/// is present but wrong yields an empty `Names`, so "target required" is not reported on top.
fn parse_targets(cx: &mut Cx, obj: &Obj<'_>) -> TargetSpec {
    let loc = obj.loc.at("target");
    let invalid = TargetSpec::Names(Vec::new());
    match obj.map.get("target") {
        None => TargetSpec::None,
        Some(Value::String(s)) if s.trim().is_empty() => {
            cx.invalid(&loc, "target must not be empty");
            invalid
        }
        Some(Value::String(s)) => {
            cx.placeholders(&loc, s);
            match s.strip_prefix("tag:") {
                Some(tag) if tag.contains("{{") => TargetSpec::Tag(tag.to_string()),
                Some(tag) => match parse_tag(tag) {
                    Ok(tag) => TargetSpec::Tag(tag),
                    Err(msg) => {
                        cx.invalid(&loc, format!("invalid tag selector: {msg}"));
                        invalid
                    }
                },
                None => TargetSpec::Names(vec![s.clone()]),
            }
        }
        Some(Value::Array(list)) if list.is_empty() => {
            cx.invalid(&loc, "target list must not be empty");
            invalid
        }
        Some(Value::Array(list)) => {
            let mut names = Vec::new();
            for (i, v) in list.iter().enumerate() {
                let at = loc.at(i);
                match v {
                    Value::String(s) if s.trim().is_empty() => {
                        cx.invalid(&at, "target names must not be empty");
                    }
                    Value::String(s) if s.starts_with("tag:") => cx.invalid(
                        &at,
                        "a tag selector must be the whole target, not part of a list",
                    ),
                    Value::String(s) => {
                        cx.placeholders(&at, s);
                        names.push(s.clone());
                    }
                    _ => cx.wrong_type(&at, "target names must be strings"),
                }
            }
            TargetSpec::Names(names)
        }
        Some(_) => {
            cx.wrong_type(
                &loc,
                "target must be a name, tag:key:value or a list of names",
            );
            invalid
        }
    }
}

/// A required, non-blank string that is rendered at run time (placeholders checked).
fn templated_str(cx: &mut Cx, obj: &Obj<'_>, key: &str) -> Option<String> {
    let s = obj.required_str(cx, key)?;
    cx.placeholders(&obj.loc.at(key), &s);
    Some(s)
}

/// Checks `key` holds standard base64; empty is allowed (an empty file).
fn base64_str(cx: &mut Cx, obj: &Obj<'_>, key: &str) -> Option<String> {
    let s = obj.opt_str(cx, key)?;
    if base64::engine::general_purpose::STANDARD
        .decode(&s)
        .is_err()
    {
        cx.invalid(&obj.loc.at(key), format!("{key} must be valid base64"));
        return None;
    }
    Some(s)
}

fn winrm_exec(cx: &mut Cx, obj: &Obj<'_>) -> Option<StepAction> {
    let shell = match obj.opt_str(cx, "shell").as_deref() {
        None if !obj.map.contains_key("shell") => {
            cx.missing(&obj.loc.at("shell"), "Field required");
            None
        }
        None => None,
        Some("powershell") => Some(Shell::Powershell),
        Some("cmd") => Some(Shell::Cmd),
        Some(other) => {
            cx.not_one_of(
                &obj.loc.at("shell"),
                format!("unknown shell '{other}'; allowed: powershell, cmd"),
            );
            None
        }
    };
    let command = templated_str(cx, obj, "command");
    Some(StepAction::WinrmExec {
        shell: shell?,
        command: command?,
    })
}

fn winrm_copy(cx: &mut Cx, obj: &Obj<'_>) -> Option<StepAction> {
    let dest_path = templated_str(cx, obj, "destPath");
    if !obj.map.contains_key("contentB64") {
        cx.missing(&obj.loc.at("contentB64"), "Field required");
    }
    let content_b64 = base64_str(cx, obj, "contentB64");
    let overwrite = obj.bool_or(cx, "overwrite", true);
    Some(StepAction::WinrmCopy {
        dest_path: dest_path?,
        content_b64: content_b64?,
        overwrite,
    })
}

fn ssh_exec(cx: &mut Cx, obj: &Obj<'_>) -> Option<StepAction> {
    let command = templated_str(cx, obj, "command");
    let sudo = obj.bool_or(cx, "sudo", false);
    let env = obj.string_map(
        cx,
        "env",
        |k| {
            if is_identifier(k) {
                Ok(())
            } else {
                Err("environment variable names must match [A-Za-z_][A-Za-z0-9_]*")
            }
        },
        |_| Ok(()),
    );
    Some(StepAction::SshExec {
        command: command?,
        sudo,
        env,
    })
}

fn ssh_copy(cx: &mut Cx, obj: &Obj<'_>) -> Option<StepAction> {
    let content = match (
        obj.map.contains_key("content"),
        obj.map.contains_key("contentB64"),
    ) {
        (true, true) => {
            cx.invalid(
                &obj.loc.at("contentB64"),
                "give exactly one of content and contentB64",
            );
            None
        }
        (false, false) => {
            cx.missing(
                &obj.loc.at("content"),
                "one of content and contentB64 is required",
            );
            None
        }
        (true, false) => obj.opt_str(cx, "content").map(CopyContent::Text),
        (false, true) => base64_str(cx, obj, "contentB64").map(CopyContent::Base64),
    };
    let dest_path = templated_str(cx, obj, "destPath");
    let mode = match obj.map.get("mode") {
        None => Some(None),
        Some(v) => parse_mode(v)
            .map_err(|(kind, msg)| cx.push(&obj.loc.at("mode"), kind, msg))
            .ok()
            .map(Some),
    };
    let overwrite = obj.bool_or(cx, "overwrite", true);
    Some(StepAction::SshCopy {
        content: content?,
        dest_path: dest_path?,
        mode: mode?,
        overwrite,
    })
}

/// A file mode: a string of octal digits (`"0644"`, `"755"`) or an integer, at most `0o7777`.
fn parse_mode(v: &Value) -> Result<u32, (&'static str, &'static str)> {
    const MSG: &str =
        "mode must be octal digits like \"0644\" (at most 7777) or an integer up to 4095";
    let mode = match v {
        Value::String(s)
            if !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| (b'0'..=b'7').contains(&b)) =>
        {
            u32::from_str_radix(s, 8).map_err(|_| ("value_error", MSG))?
        }
        Value::String(_) => return Err(("value_error", MSG)),
        Value::Number(n) => match n.as_u64() {
            Some(m) => u32::try_from(m).map_err(|_| ("value_error", MSG))?,
            None => return Err(("value_error", MSG)),
        },
        _ => return Err(("type_error", MSG)),
    };
    if mode > 0o7777 {
        return Err(("value_error", MSG));
    }
    Ok(mode)
}

fn http_request(cx: &mut Cx, obj: &Obj<'_>) -> Option<StepAction> {
    let loc = &obj.loc;
    let method = match obj.opt_str(cx, "method") {
        None if obj.map.contains_key("method") => None,
        None => Some("GET".to_string()),
        Some(m) => {
            let upper = m.to_ascii_uppercase();
            if HTTP_METHODS.contains(&upper.as_str()) {
                Some(upper)
            } else {
                cx.not_one_of(
                    &loc.at("method"),
                    format!("unknown method '{m}'; allowed: {}", HTTP_METHODS.join(", ")),
                );
                None
            }
        }
    };
    let url = templated_str(cx, obj, "url").filter(|u| {
        let lower = u.trim_start().to_ascii_lowercase();
        let ok = lower.starts_with("http://")
            || lower.starts_with("https://")
            || u.trim_start().starts_with("{{");
        if !ok {
            cx.invalid(
                &loc.at("url"),
                "url must start with http:// or https:// (or a {{ placeholder }})",
            );
        }
        ok
    });
    let headers = obj.string_map(
        cx,
        "headers",
        |k| {
            let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
            if !k.is_empty() && k.chars().all(token) {
                Ok(())
            } else {
                Err("not a valid HTTP header name")
            }
        },
        |v| {
            if v.contains(['\r', '\n']) {
                Err("header values must not contain line breaks")
            } else {
                Ok(())
            }
        },
    );
    let body = match obj.map.get("body") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    if let Some(b) = &body {
        cx.placeholders(&loc.at("body"), b);
    }
    let expected_status = match obj.map.get("expectedStatus") {
        None => Some(Vec::new()),
        Some(Value::Array(list)) if list.is_empty() => {
            cx.invalid(
                &loc.at("expectedStatus"),
                "expectedStatus must not be empty",
            );
            None
        }
        Some(Value::Array(list)) => list
            .iter()
            .enumerate()
            .map(|(i, v)| status_code(cx, &loc.at("expectedStatus").at(i), v))
            .collect::<Vec<_>>()
            .into_iter()
            .collect::<Option<Vec<u16>>>(),
        Some(v) => status_code(cx, &loc.at("expectedStatus"), v).map(|s| vec![s]),
    };
    Some(StepAction::HttpRequest {
        method: method?,
        url: url?,
        headers,
        body,
        expected_status: expected_status?,
        // Checked with the common fields; a bad value has already failed the step.
        timeout_sec: obj.map.get("timeoutSec").and_then(Value::as_u64),
    })
}

fn status_code(cx: &mut Cx, loc: &Loc, v: &Value) -> Option<u16> {
    cx.int(loc, v, 100, 599).and_then(|s| u16::try_from(s).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    const PREFIX: &[&str] = &["body", "definition"];

    fn parse(value: Value) -> Result<JobDefinition, Vec<FieldError>> {
        JobDefinition::parse(&value, PREFIX)
    }

    fn ok(value: Value) -> JobDefinition {
        match parse(value) {
            Ok(d) => d,
            Err(errors) => panic!("expected a valid definition, got {errors:#?}"),
        }
    }

    fn errors(value: Value) -> Vec<FieldError> {
        match parse(value) {
            Ok(d) => panic!("expected errors, got {d:#?}"),
            Err(errors) => errors,
        }
    }

    /// The locations of the errors, without the prefix, joined with dots.
    fn locs(errors: &[FieldError]) -> Vec<String> {
        errors.iter().map(|e| e.loc[2..].join(".")).collect()
    }

    /// A valid definition with one step.
    fn with_step(step: Value) -> Value {
        json!({"name": "j", "version": 1, "steps": [step]})
    }

    fn with_params(params: Value) -> Value {
        json!({"name": "j", "version": 1, "parameters": params,
               "steps": [{"type": "ssh.exec", "target": "t", "command": "true"}]})
    }

    fn one_step(step: Value) -> Step {
        ok(with_step(step)).steps.remove(0)
    }

    fn step_errors(step: Value) -> Vec<String> {
        locs(&errors(with_step(step)))
    }

    fn seed() -> Value {
        json!({"name":"Restart service on Windows","version":1,"parameters":{"svc":"Spooler"},
               "steps":[{"type":"winrm.exec","shell":"powershell","target":"sample-windows-server",
               "command":"Restart-Service {{ svc }}; (Get-Service {{ svc }}).Status","timeoutSec":90}]})
    }

    // --- top level ---

    #[test]
    fn contract_seed_example_parses() {
        let d = ok(seed());
        assert_eq!(d.name, "Restart service on Windows");
        assert_eq!(d.version, 1);
        assert_eq!(d.max_parallel, 10);
        assert_eq!(d.parameters.len(), 1);
        assert_eq!(d.parameters[0].name, "svc");
        assert_eq!(d.parameters[0].kind, ParamType::String);
        assert_eq!(d.parameters[0].default, Some(json!("Spooler")));
        let step = &d.steps[0];
        assert_eq!(step.index, 0);
        assert_eq!(step.timeout_sec, 90);
        assert_eq!(
            step.targets,
            TargetSpec::Names(vec!["sample-windows-server".into()])
        );
        assert_eq!(
            step.action,
            StepAction::WinrmExec {
                shell: Shell::Powershell,
                command: "Restart-Service {{ svc }}; (Get-Service {{ svc }}).Status".into(),
            }
        );
        assert_eq!(d.placeholders(), ["svc"]);
    }

    #[test]
    fn definition_must_be_an_object() {
        let errs = errors(json!([1]));
        assert_eq!(errs[0].loc, ["body", "definition"]);
        assert_eq!(errs[0].kind, "type_error");
    }

    #[test]
    fn missing_required_top_level_fields_are_each_reported() {
        let errs = errors(json!({}));
        assert_eq!(locs(&errs), ["name", "version", "steps"]);
        assert!(errs.iter().all(|e| e.kind == "missing"));
    }

    #[test]
    fn errors_carry_the_given_prefix() {
        let errs = JobDefinition::parse(&json!({"version": 1, "steps": []}), &["x"]).unwrap_err();
        assert_eq!(errs[0].loc, ["x", "name"]);
    }

    #[test]
    fn unknown_top_level_key_is_named() {
        let mut def = seed();
        def["owner"] = json!("me");
        let errs = errors(def);
        assert_eq!(locs(&errs), ["owner"]);
        assert_eq!(errs[0].kind, "extra_forbidden");
        assert_eq!(
            errs[0].msg,
            "Additional properties are not allowed ('owner' was unexpected)"
        );
    }

    #[test]
    fn empty_steps_are_rejected() {
        let errs = errors(json!({"name": "j", "version": 1, "steps": []}));
        assert_eq!(locs(&errs), ["steps"]);
        assert_eq!(errs[0].kind, "value_error");
    }

    #[test]
    fn steps_must_be_an_array() {
        assert_eq!(
            locs(&errors(json!({"name": "j", "version": 1, "steps": {}}))),
            ["steps"]
        );
    }

    #[test]
    fn name_must_be_a_non_blank_string_of_at_most_200_chars() {
        let mut def = seed();
        def["name"] = json!("  ");
        assert_eq!(locs(&errors(def.clone())), ["name"]);
        def["name"] = json!(5);
        assert_eq!(errors(def.clone())[0].kind, "type_error");
        def["name"] = json!("é".repeat(200));
        assert!(parse(def.clone()).is_ok());
        def["name"] = json!("x".repeat(201));
        assert_eq!(locs(&errors(def)), ["name"]);
    }

    #[test]
    fn version_must_be_an_integer_of_at_least_one() {
        for bad in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!(1.0),
            json!("1"),
            json!(u64::MAX),
        ] {
            let mut def = seed();
            def["version"] = bad.clone();
            assert_eq!(locs(&errors(def)), ["version"], "{bad}");
        }
        let mut def = seed();
        def["version"] = json!(7);
        assert_eq!(ok(def).version, 7);
    }

    #[test]
    fn max_parallel_defaults_to_ten_and_is_bounded() {
        let mut def = seed();
        def["maxParallel"] = json!(1000);
        assert_eq!(ok(def.clone()).max_parallel, 1000);
        def["maxParallel"] = json!(1);
        assert_eq!(ok(def.clone()).max_parallel, 1);
        for bad in [json!(0), json!(1001), json!("5")] {
            def["maxParallel"] = bad;
            assert_eq!(locs(&errors(def.clone())), ["maxParallel"]);
        }
    }

    #[test]
    fn several_errors_are_reported_at_once() {
        let errs = errors(json!({
            "name": "",
            "version": 0,
            "extra": 1,
            "parameters": {"bad-name": "x", "n": {"type": "number", "default": "x"}},
            "steps": [
                {"type": "ssh.exec", "target": "t"},
                {"type": "nope"},
                {"type": "winrm.exec", "shell": "bash", "target": "w", "command": "x", "oops": 1}
            ]
        }));
        let mut got = locs(&errs);
        got.sort();
        let mut want = vec![
            "extra",
            "name",
            "version",
            "parameters.bad-name",
            "parameters.n.default",
            "steps.0.command",
            "steps.1.type",
            "steps.2.shell",
            "steps.2.oops",
        ];
        want.sort_unstable();
        assert_eq!(got, want);
    }

    // --- parameters ---

    #[test]
    fn plain_defaults_infer_their_type() {
        let d = ok(with_params(json!({"s": "x", "n": 3, "f": 2.5, "b": false})));
        let kind = |name| d.parameter(name).unwrap().kind;
        assert_eq!(kind("s"), ParamType::String);
        assert_eq!(kind("n"), ParamType::Number);
        assert_eq!(kind("f"), ParamType::Number);
        assert_eq!(kind("b"), ParamType::Boolean);
        let b = d.parameter("b").unwrap();
        assert_eq!(b.default, Some(json!(false)));
        assert!(!b.required);
    }

    #[test]
    fn plain_null_or_array_defaults_are_value_errors() {
        let errs = errors(with_params(json!({"a": null, "b": [1, 2]})));
        assert_eq!(locs(&errs), ["parameters.a", "parameters.b"]);
        assert!(errs.iter().all(|e| e.kind == "value_error"));
    }

    #[test]
    fn parameter_names_must_be_identifiers() {
        let errs = errors(with_params(
            json!({"1x": "a", "my-param": "b", "ok_1": "c"}),
        ));
        assert_eq!(locs(&errs), ["parameters.1x", "parameters.my-param"]);
    }

    #[test]
    fn declaration_defaults_to_an_optional_string() {
        let d = ok(with_params(json!({"svc": {"description": "service name"}})));
        let p = &d.parameters[0];
        assert_eq!(p.kind, ParamType::String);
        assert_eq!(p.default, None);
        assert!(!p.required);
        assert_eq!(p.description.as_deref(), Some("service name"));
    }

    #[test]
    fn declaration_with_every_key_of_a_string_parameter() {
        let d = ok(with_params(json!({"svc": {
            "type": "string", "default": "Spooler", "required": true,
            "pattern": "[A-Za-z]+", "description": "d"
        }})));
        let p = &d.parameters[0];
        assert!(p.required);
        assert_eq!(p.default, Some(json!("Spooler")));
        let re = p.pattern.as_ref().unwrap();
        assert!(re.is_match("Spooler"));
        assert!(
            !re.is_match("Spooler; rm -rf /"),
            "patterns match the whole value"
        );
    }

    #[test]
    fn unknown_declaration_key_is_named() {
        let errs = errors(with_params(json!({"svc": {"type": "string", "min": 1}})));
        assert_eq!(locs(&errs), ["parameters.svc.min"]);
        assert_eq!(errs[0].kind, "extra_forbidden");
    }

    #[test]
    fn unknown_parameter_type_is_an_enum_error() {
        let errs = errors(with_params(json!({"x": {"type": "list"}})));
        assert_eq!(locs(&errs), ["parameters.x.type"]);
        assert_eq!(errs[0].kind, "enum");
    }

    #[test]
    fn pattern_must_compile() {
        let errs = errors(with_params(json!({"x": {"pattern": "(unclosed"}})));
        assert_eq!(locs(&errs), ["parameters.x.pattern"]);
    }

    #[test]
    fn pattern_only_applies_to_strings() {
        let errs = errors(with_params(
            json!({"x": {"type": "number", "pattern": "\\d+"}}),
        ));
        assert_eq!(locs(&errs), ["parameters.x.pattern"]);
    }

    #[test]
    fn default_must_match_the_pattern() {
        let errs = errors(with_params(
            json!({"x": {"pattern": "[a-z]+", "default": "ABC"}}),
        ));
        assert_eq!(locs(&errs), ["parameters.x.default"]);
        assert!(errs[0].msg.contains("pattern"));
    }

    #[test]
    fn default_must_have_the_declared_type() {
        let errs = errors(with_params(json!({
            "n": {"type": "number", "default": "5"},
            "b": {"type": "boolean", "default": 1},
            "s": {"type": "string", "default": 2}
        })));
        assert_eq!(
            locs(&errs),
            [
                "parameters.b.default",
                "parameters.n.default",
                "parameters.s.default"
            ]
        );
        assert!(errs.iter().all(|e| e.kind == "type_error"));
    }

    #[test]
    fn enum_declaration_keeps_its_values() {
        let d = ok(with_params(
            json!({"env": {"type": "enum", "enum": ["dev", "prod"], "default": "dev"}}),
        ));
        let p = &d.parameters[0];
        assert_eq!(p.kind, ParamType::Enum);
        assert_eq!(p.allowed, [json!("dev"), json!("prod")]);
    }

    #[test]
    fn enum_list_without_type_declares_an_enum() {
        let d = ok(with_params(json!({"level": {"enum": [1, 2, 3]}})));
        assert_eq!(d.parameters[0].kind, ParamType::Enum);
    }

    #[test]
    fn enum_type_requires_a_non_empty_list_of_scalars() {
        assert_eq!(
            locs(&errors(with_params(json!({"e": {"type": "enum"}})))),
            ["parameters.e.enum"]
        );
        assert_eq!(
            locs(&errors(with_params(json!({"e": {"enum": []}})))),
            ["parameters.e.enum"]
        );
        assert_eq!(
            locs(&errors(with_params(
                json!({"e": {"enum": ["a", null, [1]]}})
            ))),
            ["parameters.e.enum.1", "parameters.e.enum.2"]
        );
        assert_eq!(
            locs(&errors(with_params(json!({"e": {"enum": "a"}})))),
            ["parameters.e.enum"]
        );
    }

    #[test]
    fn enum_default_must_be_one_of_the_values() {
        let errs = errors(with_params(
            json!({"e": {"enum": ["a", "b"], "default": "c"}}),
        ));
        assert_eq!(locs(&errs), ["parameters.e.default"]);
        assert_eq!(errs[0].kind, "enum");
    }

    #[test]
    fn enum_list_on_another_type_is_rejected() {
        let errs = errors(with_params(json!({"e": {"type": "string", "enum": ["a"]}})));
        assert_eq!(locs(&errs), ["parameters.e.enum"]);
    }

    #[test]
    fn secret_declaration_names_its_credential_and_field() {
        let d = ok(with_params(
            json!({"pw": {"type": "secret", "credential": "db-admin", "field": "password"}}),
        ));
        let p = &d.parameters[0];
        assert_eq!(p.kind, ParamType::Secret);
        assert_eq!(p.credential.as_deref(), Some("db-admin"));
        assert_eq!(p.field.as_deref(), Some("password"));
        assert_eq!(p.default, None);
    }

    #[test]
    fn secret_field_is_optional() {
        let d = ok(with_params(
            json!({"tok": {"type": "secret", "credential": "api"}}),
        ));
        assert_eq!(d.parameters[0].field, None);
    }

    #[test]
    fn secret_requires_a_credential() {
        let errs = errors(with_params(json!({"pw": {"type": "secret"}})));
        assert_eq!(locs(&errs), ["parameters.pw.credential"]);
        assert_eq!(errs[0].kind, "missing");
        let errs = errors(with_params(
            json!({"pw": {"type": "secret", "credential": ""}}),
        ));
        assert_eq!(locs(&errs), ["parameters.pw.credential"]);
    }

    #[test]
    fn secret_may_not_have_a_default() {
        let errs = errors(with_params(
            json!({"pw": {"type": "secret", "credential": "c", "default": "hunter2"}}),
        ));
        assert_eq!(locs(&errs), ["parameters.pw.default"]);
    }

    #[test]
    fn secret_field_must_be_a_known_credential_field() {
        let errs = errors(with_params(
            json!({"pw": {"type": "secret", "credential": "c", "field": "username"}}),
        ));
        assert_eq!(locs(&errs), ["parameters.pw.field"]);
        assert_eq!(errs[0].kind, "enum");
        for field in SECRET_FIELDS {
            ok(with_params(
                json!({"pw": {"type": "secret", "credential": "c", "field": field}}),
            ));
        }
    }

    #[test]
    fn credential_and_field_belong_only_to_secrets() {
        let errs = errors(with_params(
            json!({"s": {"credential": "c", "field": "password"}}),
        ));
        assert_eq!(
            locs(&errs),
            ["parameters.s.credential", "parameters.s.field"]
        );
    }

    #[test]
    fn required_must_be_a_boolean() {
        let errs = errors(with_params(json!({"s": {"required": "yes"}})));
        assert_eq!(locs(&errs), ["parameters.s.required"]);
    }

    #[test]
    fn parameters_must_be_an_object() {
        assert_eq!(locs(&errors(with_params(json!(["svc"])))), ["parameters"]);
    }

    // --- steps: common fields ---

    #[test]
    fn step_defaults_apply() {
        let s = one_step(json!({"type": "ssh.exec", "target": "t", "command": "uptime"}));
        assert_eq!(s.name, None);
        assert_eq!(s.timeout_sec, 60);
        assert_eq!(s.retries, 0);
        assert_eq!(s.retry_backoff_sec, 5);
        assert!(!s.continue_on_error);
    }

    #[test]
    fn step_common_fields_are_read() {
        let s = one_step(
            json!({"type": "ssh.exec", "target": "t", "command": "uptime",
            "name": "check", "timeoutSec": 86400, "retries": 10, "retryBackoffSec": 0,
            "continueOnError": true}),
        );
        assert_eq!(s.name.as_deref(), Some("check"));
        assert_eq!(s.timeout_sec, 86400);
        assert_eq!(s.retries, 10);
        assert_eq!(s.retry_backoff_sec, 0);
        assert!(s.continue_on_error);
    }

    #[test]
    fn step_common_fields_are_bounded() {
        let errs = step_errors(json!({"type": "ssh.exec", "target": "t", "command": "x",
            "timeoutSec": 0, "retries": 11, "retryBackoffSec": 3601, "continueOnError": "no", "name": 1}));
        assert_eq!(
            errs,
            [
                "steps.0.name",
                "steps.0.timeoutSec",
                "steps.0.retries",
                "steps.0.retryBackoffSec",
                "steps.0.continueOnError"
            ]
        );
        assert_eq!(
            step_errors(
                json!({"type": "ssh.exec", "target": "t", "command": "x", "timeoutSec": 86401})
            ),
            ["steps.0.timeoutSec"]
        );
        assert_eq!(
            step_errors(json!({"type": "ssh.exec", "target": "t", "command": "x", "retries": -1})),
            ["steps.0.retries"]
        );
    }

    #[test]
    fn bad_step_reports_its_index_and_field() {
        let errs = errors(json!({"name": "j", "version": 1, "steps": [
            {"type": "ssh.exec", "target": "t", "command": "ok"},
            {"type": "ssh.exec", "target": "t", "command": ""}
        ]}));
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].loc, ["body", "definition", "steps", "1", "command"]);
        assert_eq!(errs[0].kind, "value_error");
    }

    #[test]
    fn step_must_be_an_object() {
        assert_eq!(step_errors(json!("ssh.exec")), ["steps.0"]);
    }

    #[test]
    fn step_type_is_required() {
        let errs = errors(with_step(json!({"target": "t", "command": "x"})));
        assert_eq!(locs(&errs), ["steps.0.type"]);
        assert_eq!(errs[0].kind, "missing");
    }

    #[test]
    fn unknown_step_type_lists_the_allowed_ones() {
        let errs = errors(with_step(
            json!({"type": "shell.exec", "target": "t", "command": "x"}),
        ));
        assert_eq!(locs(&errs), ["steps.0.type"]);
        assert_eq!(errs[0].kind, "enum");
        for t in STEP_TYPES {
            assert!(errs[0].msg.contains(t), "{}", errs[0].msg);
        }
    }

    #[test]
    fn key_of_another_step_type_is_named() {
        let errs = errors(with_step(
            json!({"type": "winrm.exec", "shell": "cmd", "target": "t",
            "command": "dir", "sudo": true}),
        ));
        assert_eq!(locs(&errs), ["steps.0.sudo"]);
        assert_eq!(errs[0].kind, "extra_forbidden");
        assert!(errs[0].msg.contains("'sudo' was unexpected for winrm.exec"));
    }

    #[test]
    fn steps_keep_their_order_and_index() {
        let d = ok(json!({"name": "j", "version": 1, "steps": [
            {"type": "ssh.exec", "target": "a", "command": "one"},
            {"type": "http.request", "url": "https://x"},
            {"type": "ssh.exec", "target": "b", "command": "three"}
        ]}));
        let idx: Vec<usize> = d.steps.iter().map(|s| s.index).collect();
        assert_eq!(idx, [0, 1, 2]);
        let types: Vec<&str> = d.steps.iter().map(|s| s.action.type_name()).collect();
        assert_eq!(types, ["ssh.exec", "http.request", "ssh.exec"]);
    }

    // --- targets ---

    #[test]
    fn target_may_be_a_list_of_names() {
        let s = one_step(json!({"type": "ssh.exec", "target": ["a", "b"], "command": "x"}));
        assert_eq!(s.targets, TargetSpec::Names(vec!["a".into(), "b".into()]));
    }

    #[test]
    fn target_tag_selector_is_parsed() {
        let s = one_step(json!({"type": "ssh.exec", "target": "tag:role: web ", "command": "x"}));
        assert_eq!(s.targets, TargetSpec::Tag("role:web".into()));
    }

    #[test]
    fn target_tag_selector_must_be_key_value() {
        let errs = errors(with_step(
            json!({"type": "ssh.exec", "target": "tag:web", "command": "x"}),
        ));
        assert_eq!(locs(&errs), ["steps.0.target"]);
        assert!(errs[0].msg.contains("tag selector"));
    }

    #[test]
    fn target_tag_selector_with_a_placeholder_is_kept_raw() {
        let s = one_step(json!({"type": "ssh.exec", "target": "tag:{{ tag }}", "command": "x"}));
        assert_eq!(s.targets, TargetSpec::Tag("{{ tag }}".into()));
    }

    #[test]
    fn target_name_with_a_placeholder_is_kept_raw() {
        let s = one_step(json!({"type": "ssh.exec", "target": "{{ host }}", "command": "x"}));
        assert_eq!(s.targets, TargetSpec::Names(vec!["{{ host }}".into()]));
    }

    #[test]
    fn tag_selector_inside_a_list_is_an_error_at_its_position() {
        let errs = errors(with_step(
            json!({"type": "ssh.exec", "target": ["a", "tag:role:web"], "command": "x"}),
        ));
        assert_eq!(locs(&errs), ["steps.0.target.1"]);
    }

    #[test]
    fn target_list_must_be_non_empty_strings() {
        assert_eq!(
            step_errors(json!({"type": "ssh.exec", "target": [], "command": "x"})),
            ["steps.0.target"]
        );
        assert_eq!(
            step_errors(json!({"type": "ssh.exec", "target": ["", 5], "command": "x"})),
            ["steps.0.target.0", "steps.0.target.1"]
        );
        assert_eq!(
            step_errors(json!({"type": "ssh.exec", "target": " ", "command": "x"})),
            ["steps.0.target"]
        );
        assert_eq!(
            step_errors(json!({"type": "ssh.exec", "target": 5, "command": "x"})),
            ["steps.0.target"]
        );
    }

    #[test]
    fn winrm_and_ssh_steps_require_a_target() {
        for step in [
            json!({"type": "winrm.exec", "shell": "cmd", "command": "dir"}),
            json!({"type": "winrm.copy", "destPath": "C:\\x", "contentB64": "aGk="}),
            json!({"type": "ssh.exec", "command": "x"}),
            json!({"type": "ssh.copy", "content": "x", "destPath": "/tmp/x"}),
        ] {
            let errs = errors(with_step(step));
            assert_eq!(locs(&errs), ["steps.0.target"]);
            assert_eq!(errs[0].kind, "missing");
        }
    }

    #[test]
    fn http_request_may_omit_or_give_a_target() {
        assert_eq!(
            one_step(json!({"type": "http.request", "url": "https://x"})).targets,
            TargetSpec::None
        );
        assert_eq!(
            one_step(json!({"type": "http.request", "url": "https://x", "target": "web1"})).targets,
            TargetSpec::Names(vec!["web1".into()])
        );
    }

    // --- winrm ---

    #[test]
    fn winrm_exec_requires_shell_and_command() {
        let errs = errors(with_step(json!({"type": "winrm.exec", "target": "t"})));
        assert_eq!(locs(&errs), ["steps.0.shell", "steps.0.command"]);
        assert!(errs.iter().all(|e| e.kind == "missing"));
    }

    #[test]
    fn winrm_exec_shell_is_powershell_or_cmd() {
        let s = one_step(
            json!({"type": "winrm.exec", "shell": "cmd", "target": "t", "command": "dir"}),
        );
        assert!(matches!(
            s.action,
            StepAction::WinrmExec {
                shell: Shell::Cmd,
                ..
            }
        ));
        let errs = errors(with_step(
            json!({"type": "winrm.exec", "shell": "bash", "target": "t", "command": "x"}),
        ));
        assert_eq!(errs[0].kind, "enum");
    }

    #[test]
    fn winrm_copy_reads_its_fields() {
        let s = one_step(
            json!({"type": "winrm.copy", "target": "t", "destPath": "C:\\{{ dir }}\\a.txt",
            "contentB64": "aGVsbG8="}),
        );
        assert_eq!(
            s.action,
            StepAction::WinrmCopy {
                dest_path: "C:\\{{ dir }}\\a.txt".into(),
                content_b64: "aGVsbG8=".into(),
                overwrite: true,
            }
        );
    }

    #[test]
    fn winrm_copy_requires_valid_base64() {
        let errs = errors(with_step(
            json!({"type": "winrm.copy", "target": "t", "destPath": "C:\\a", "contentB64": "not base64!"}),
        ));
        assert_eq!(locs(&errs), ["steps.0.contentB64"]);
        let errs = errors(with_step(
            json!({"type": "winrm.copy", "target": "t", "destPath": "C:\\a"}),
        ));
        assert_eq!(locs(&errs), ["steps.0.contentB64"]);
        assert_eq!(errs[0].kind, "missing");
    }

    #[test]
    fn winrm_copy_overwrite_false_is_kept() {
        let s = one_step(
            json!({"type": "winrm.copy", "target": "t", "destPath": "C:\\a", "contentB64": "", "overwrite": false}),
        );
        assert!(matches!(
            s.action,
            StepAction::WinrmCopy {
                overwrite: false,
                ..
            }
        ));
    }

    // --- ssh ---

    #[test]
    fn ssh_exec_reads_sudo_and_env() {
        let s = one_step(json!({"type": "ssh.exec", "target": "t", "command": "env",
            "sudo": true, "env": {"SVC": "{{ svc }}", "_X1": "plain"}}));
        let StepAction::SshExec { command, sudo, env } = s.action else {
            panic!("wrong action");
        };
        assert_eq!(command, "env");
        assert!(sudo);
        assert_eq!(env["SVC"], "{{ svc }}");
        assert_eq!(env.len(), 2);
    }

    #[test]
    fn ssh_exec_env_keys_and_values_are_checked() {
        let errs = step_errors(json!({"type": "ssh.exec", "target": "t", "command": "x",
            "env": {"BAD-NAME": "v", "N": 5, "P": "{{ oops"}}));
        assert_eq!(
            errs,
            ["steps.0.env.BAD-NAME", "steps.0.env.N", "steps.0.env.P"]
        );
        assert_eq!(
            step_errors(json!({"type": "ssh.exec", "target": "t", "command": "x", "env": ["A=1"]})),
            ["steps.0.env"]
        );
    }

    #[test]
    fn ssh_exec_sudo_must_be_boolean() {
        assert_eq!(
            step_errors(json!({"type": "ssh.exec", "target": "t", "command": "x", "sudo": "yes"})),
            ["steps.0.sudo"]
        );
    }

    #[test]
    fn ssh_copy_takes_text_content() {
        let s = one_step(
            json!({"type": "ssh.copy", "target": "t", "content": "hello\n", "destPath": "/etc/motd", "mode": "0644"}),
        );
        assert_eq!(
            s.action,
            StepAction::SshCopy {
                content: CopyContent::Text("hello\n".into()),
                dest_path: "/etc/motd".into(),
                mode: Some(0o644),
                overwrite: true,
            }
        );
    }

    #[test]
    fn ssh_copy_takes_base64_content() {
        let s = one_step(
            json!({"type": "ssh.copy", "target": "t", "contentB64": "AAEC", "destPath": "/x", "overwrite": false}),
        );
        assert!(matches!(
            s.action,
            StepAction::SshCopy { content: CopyContent::Base64(ref b), mode: None, overwrite: false, .. } if b == "AAEC"
        ));
    }

    #[test]
    fn ssh_copy_needs_exactly_one_content() {
        let both = step_errors(
            json!({"type": "ssh.copy", "target": "t", "content": "a", "contentB64": "YQ==", "destPath": "/x"}),
        );
        assert_eq!(both, ["steps.0.contentB64"]);
        let neither = errors(with_step(
            json!({"type": "ssh.copy", "target": "t", "destPath": "/x"}),
        ));
        assert_eq!(locs(&neither), ["steps.0.content"]);
        assert_eq!(neither[0].kind, "missing");
        let bad = step_errors(
            json!({"type": "ssh.copy", "target": "t", "contentB64": "%%%", "destPath": "/x"}),
        );
        assert_eq!(bad, ["steps.0.contentB64"]);
    }

    #[test]
    fn ssh_copy_requires_dest_path() {
        assert_eq!(
            step_errors(json!({"type": "ssh.copy", "target": "t", "content": "a"})),
            ["steps.0.destPath"]
        );
    }

    #[test]
    fn ssh_copy_mode_accepts_octal_strings_and_integers() {
        fn mode(m: Value) -> Option<u32> {
            let step = json!({"type": "ssh.copy", "target": "t", "content": "", "destPath": "/x", "mode": m});
            match one_step(step).action {
                StepAction::SshCopy { mode, .. } => mode,
                _ => None,
            }
        }
        assert_eq!(mode(json!("755")), Some(0o755));
        assert_eq!(mode(json!("0600")), Some(0o600));
        assert_eq!(mode(json!("7777")), Some(0o7777));
        assert_eq!(mode(json!(420)), Some(0o644));
        assert_eq!(mode(json!(0)), Some(0));
    }

    #[test]
    fn ssh_copy_mode_rejects_non_octal_and_too_large() {
        for bad in [
            json!("0648"),
            json!("rw-r--r--"),
            json!(""),
            json!("17777"),
            json!(4096),
            json!(-1),
            json!(1.5),
            json!(true),
        ] {
            let errs = step_errors(
                json!({"type": "ssh.copy", "target": "t", "content": "", "destPath": "/x", "mode": bad}),
            );
            assert_eq!(errs, ["steps.0.mode"], "{bad}");
        }
    }

    // --- http ---

    #[test]
    fn http_request_defaults() {
        let s = one_step(json!({"type": "http.request", "url": "https://example.test/health"}));
        assert_eq!(
            s.action,
            StepAction::HttpRequest {
                method: "GET".into(),
                url: "https://example.test/health".into(),
                headers: BTreeMap::new(),
                body: None,
                expected_status: Vec::new(),
                timeout_sec: None,
            }
        );
        assert_eq!(s.timeout_sec, 60);
    }

    #[test]
    fn http_request_reads_every_field() {
        let s = one_step(
            json!({"type": "http.request", "method": "post", "url": "http://x/{{ path }}",
            "headers": {"Authorization": "Bearer {{ token }}"}, "body": "raw",
            "expectedStatus": [200, 201], "timeoutSec": 5}),
        );
        let StepAction::HttpRequest {
            method,
            headers,
            body,
            expected_status,
            timeout_sec,
            ..
        } = s.action
        else {
            panic!("wrong action");
        };
        assert_eq!(method, "POST");
        assert_eq!(headers["Authorization"], "Bearer {{ token }}");
        assert_eq!(body.as_deref(), Some("raw"));
        assert_eq!(expected_status, [200, 201]);
        assert_eq!(timeout_sec, Some(5));
        assert_eq!(s.timeout_sec, 5);
    }

    #[test]
    fn http_request_json_body_becomes_compact_text() {
        let s = one_step(
            json!({"type": "http.request", "url": "https://x", "body": {"svc": "{{ svc }}", "n": [1, 2]}}),
        );
        let StepAction::HttpRequest { body, .. } = s.action else {
            panic!("wrong action")
        };
        assert_eq!(body.as_deref(), Some(r#"{"n":[1,2],"svc":"{{ svc }}"}"#));
    }

    #[test]
    fn http_request_single_expected_status() {
        let s =
            one_step(json!({"type": "http.request", "url": "https://x", "expectedStatus": 404}));
        assert!(
            matches!(s.action, StepAction::HttpRequest { ref expected_status, .. } if expected_status == &[404])
        );
    }

    #[test]
    fn http_request_expected_status_is_checked() {
        assert_eq!(
            step_errors(
                json!({"type": "http.request", "url": "https://x", "expectedStatus": [200, 99, 600]})
            ),
            ["steps.0.expectedStatus.1", "steps.0.expectedStatus.2"]
        );
        assert_eq!(
            step_errors(json!({"type": "http.request", "url": "https://x", "expectedStatus": []})),
            ["steps.0.expectedStatus"]
        );
        assert_eq!(
            step_errors(
                json!({"type": "http.request", "url": "https://x", "expectedStatus": "200"})
            ),
            ["steps.0.expectedStatus"]
        );
    }

    #[test]
    fn http_request_method_must_be_known() {
        let errs = errors(with_step(
            json!({"type": "http.request", "url": "https://x", "method": "TRACE"}),
        ));
        assert_eq!(locs(&errs), ["steps.0.method"]);
        assert_eq!(errs[0].kind, "enum");
    }

    #[test]
    fn http_request_url_needs_a_scheme_or_leading_placeholder() {
        assert_eq!(
            step_errors(json!({"type": "http.request", "url": "ftp://x"})),
            ["steps.0.url"]
        );
        assert_eq!(
            step_errors(json!({"type": "http.request", "url": "example.com"})),
            ["steps.0.url"]
        );
        assert_eq!(
            step_errors(json!({"type": "http.request"})),
            ["steps.0.url"]
        );
        one_step(json!({"type": "http.request", "url": "{{ base }}/health"}));
        one_step(json!({"type": "http.request", "url": "HTTPS://X"}));
    }

    #[test]
    fn http_request_headers_are_checked() {
        assert_eq!(
            step_errors(json!({"type": "http.request", "url": "https://x",
                "headers": {"Bad Name": "v", "X-A": 1, "X-B": "a\r\nInjected: 1"}})),
            [
                "steps.0.headers.Bad Name",
                "steps.0.headers.X-A",
                "steps.0.headers.X-B"
            ]
        );
    }

    // --- placeholders ---

    #[test]
    fn malformed_placeholders_are_errors_where_they_appear() {
        let errs = errors(json!({"name": "j", "version": 1, "steps": [
            {"type": "ssh.exec", "target": "{{ host", "command": "echo {{ 1x }}"},
            {"type": "ssh.copy", "target": "t", "content": "{{ not checked", "destPath": "/tmp/{{ }}"},
            {"type": "http.request", "url": "https://x/{{ a-b }}", "body": "{{ b"}
        ]}));
        assert_eq!(
            locs(&errs),
            [
                "steps.0.target",
                "steps.0.command",
                "steps.1.destPath",
                "steps.2.url",
                "steps.2.body"
            ]
        );
        assert!(
            errs.iter()
                .all(|e| e.msg.starts_with("invalid placeholder"))
        );
    }

    #[test]
    fn literal_braces_in_commands_are_fine() {
        one_step(
            json!({"type": "winrm.exec", "shell": "powershell", "target": "t",
            "command": "$h = @{a=@{b=1}}; if ($x) { Write-Output '}' }"}),
        );
    }

    #[test]
    fn undeclared_placeholders_parse_and_are_listed() {
        let d = ok(
            json!({"name": "j", "version": 1, "parameters": {"svc": "x"}, "steps": [
                {"type": "ssh.exec", "target": "{{ host }}", "command": "systemctl restart {{ svc }} {{svc}}",
                 "env": {"DB": "{{ db.host }}"}},
                {"type": "ssh.copy", "target": "tag:role:{{ role }}", "content": "{{ ignored }}", "destPath": "/etc/{{ svc }}"},
                {"type": "winrm.copy", "target": "w", "destPath": "C:\\{{ dir }}", "contentB64": ""},
                {"type": "http.request", "url": "{{ base }}/x", "headers": {"H": "{{ token }}"}, "body": {"k": "{{ payload }}"}}
            ]}),
        );
        assert_eq!(
            d.placeholders(),
            [
                "svc", "db.host", "host", "role", "dir", "base", "token", "payload"
            ]
        );
    }

    #[test]
    fn definition_without_placeholders_lists_none() {
        let d = ok(with_step(
            json!({"type": "ssh.exec", "target": "t", "command": "uptime"}),
        ));
        assert!(d.placeholders().is_empty());
    }

    #[test]
    fn type_names_match_the_definition_spelling() {
        for t in STEP_TYPES {
            let step = match t {
                "winrm.exec" => json!({"type": t, "target": "t", "shell": "cmd", "command": "x"}),
                "winrm.copy" => {
                    json!({"type": t, "target": "t", "destPath": "x", "contentB64": ""})
                }
                "ssh.exec" => json!({"type": t, "target": "t", "command": "x"}),
                "ssh.copy" => json!({"type": t, "target": "t", "destPath": "x", "content": ""}),
                _ => json!({"type": t, "url": "https://x"}),
            };
            assert_eq!(one_step(step).action.type_name(), t);
        }
    }

    #[test]
    fn odd_inputs_never_panic() {
        for v in [
            json!(null),
            json!("x"),
            json!({"name": null, "version": null, "parameters": null, "steps": null, "maxParallel": null}),
            json!({"name": "j", "version": 1, "steps": [null, [], 1, {"type": null}]}),
            json!({"name": "j", "version": 1, "parameters": {"": {}, "x": {"type": null, "enum": null, "default": null}}, "steps": [{}]}),
            json!({"name": "j", "version": 1, "steps": [{"type": "http.request", "url": null, "headers": null, "body": null, "method": null, "expectedStatus": null}]}),
            json!({"name": "j", "version": 1, "steps": [{"type": "ssh.copy", "target": "t", "content": null, "destPath": null, "mode": null}]}),
        ] {
            assert!(parse(v).is_err());
        }
    }
}
