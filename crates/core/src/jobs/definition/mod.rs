//! A job's definition (contract §12 and its Rebuild notes): JSON checked on save and parsed
//! into types that can only hold valid values. Parsing reports every problem at once, each
//! located down to the step index or parameter name and the field.
//!
//! The top level is parsed here; `params` parses the parameter declarations, `steps` the
//! steps and their targets, both with the field readers of `fields`.

mod fields;
mod params;
mod steps;
#[cfg(test)]
mod test_support;

use std::collections::BTreeMap;

use serde_json::Value;

use self::fields::{Cx, Loc, Obj};
use self::params::parse_param;
use self::steps::parse_step;
use super::template;
use crate::FieldError;

const MAX_NAME_CHARS: usize = 200;
const DEFAULT_MAX_PARALLEL: u32 = 10;
const TOP_LEVEL_KEYS: [&str; 5] = ["name", "version", "parameters", "steps", "maxParallel"];

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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::test_support::*;
    use super::*;

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

    #[test]
    fn parameters_must_be_an_object() {
        assert_eq!(locs(&errors(with_params(json!(["svc"])))), ["parameters"]);
    }

    // --- placeholders ---

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
