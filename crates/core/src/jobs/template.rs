//! `{{ name }}` substitution (contract §12, Rebuild) and the resolution of a run's parameters.
//!
//! The only syntax is `{{ name }}`: optional whitespace inside the braces, a name of
//! `[A-Za-z_][A-Za-z0-9_]*` segments joined by `.` for nesting (`{{ db.host }}` reads
//! `vars["db"]["host"]`). There are no filters, no `{% %}` blocks and no escapes; a lone `{` or
//! `}` (and a `}}` with no `{{` before it) is literal text, so PowerShell hashtables survive.
//! Strings are inserted verbatim, numbers and booleans as JSON text.

use std::fmt;

use serde_json::{Map, Value};

use super::definition::{ParamDecl, ParamType};
use crate::FieldError;

/// One `{{ name }}` in a text: `start..end` is the byte range from `{{` to after `}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// The name with its dots, without the surrounding whitespace: `db.host`.
    pub name: String,
    pub start: usize,
    pub end: usize,
}

/// Finds every placeholder in `text`, in order. Fails on a `{{` with no `}}` after it, or on
/// a `{{ … }}` whose inside is not a name; the message says which and where.
pub fn scan(text: &str) -> Result<Vec<Placeholder>, String> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text.get(from..).and_then(|rest| rest.find("{{")) {
        let start = from + offset;
        let inner_start = start + 2;
        let Some(close) = text.get(inner_start..).and_then(|rest| rest.find("}}")) else {
            return Err(format!(
                "invalid placeholder: '{{{{' at position {start} has no closing '}}}}'"
            ));
        };
        let inner = text
            .get(inner_start..inner_start + close)
            .unwrap_or_default();
        let end = inner_start + close + 2;
        let name = inner.trim_ascii();
        if !is_placeholder_name(name) {
            return Err(format!(
                "invalid placeholder '{{{{{inner}}}}}' at position {start}: expected {{{{ name }}}} \
                 with a name like svc or db.host"
            ));
        }
        found.push(Placeholder {
            name: name.to_string(),
            start,
            end,
        });
        from = end;
    }
    Ok(found)
}

/// `[A-Za-z_][A-Za-z0-9_]*`: the name of a parameter, an environment variable or one segment
/// of a placeholder.
pub fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One or more identifiers joined by single dots.
fn is_placeholder_name(name: &str) -> bool {
    name.split('.').all(is_identifier)
}

/// Why a text could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RenderError {
    /// No variable (or nested field) has this name.
    Unknown(String),
    /// The variable is null, an array or an object.
    NotScalar(String),
    /// The text has a malformed placeholder; the message says where.
    Invalid(String),
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::Unknown(name) => write!(f, "unknown parameter '{name}'"),
            RenderError::NotScalar(name) => write!(f, "parameter {name} is not a scalar"),
            RenderError::Invalid(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for RenderError {}

/// The value a placeholder name points at: `db.host` is `vars["db"]["host"]`.
pub fn lookup<'a>(vars: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let mut segments = name.split('.');
    let mut value = vars.get(segments.next()?)?;
    for segment in segments {
        value = value.as_object()?.get(segment)?;
    }
    Some(value)
}

/// Replaces every placeholder of `text` by its value from `vars`.
pub fn render(text: &str, vars: &Map<String, Value>) -> Result<String, RenderError> {
    let placeholders = scan(text).map_err(RenderError::Invalid)?;
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for p in placeholders {
        out.push_str(text.get(copied..p.start).unwrap_or_default());
        match lookup(vars, &p.name) {
            None => return Err(RenderError::Unknown(p.name)),
            Some(Value::String(s)) => out.push_str(s),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => out.push_str(&v.to_string()),
            Some(Value::Null | Value::Array(_) | Value::Object(_)) => {
                return Err(RenderError::NotScalar(p.name));
            }
        }
        copied = p.end;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    Ok(out)
}

/// A secret parameter of a run: its value comes from the vault at execution time and is never
/// stored with the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretParam {
    pub name: String,
    /// The credential's name.
    pub credential: String,
    /// Which field of the credential; `None` lets the engine pick the credential's usual one.
    pub field: Option<String>,
}

/// The parameters of a run after defaults, run values and checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedParameters {
    /// Every non-secret parameter that has a value, declared or not.
    pub values: Map<String, Value>,
    pub secrets: Vec<SecretParam>,
}

impl ResolvedParameters {
    /// Whether a placeholder name will have a value when the run executes: a value (or nested
    /// field of one) here, or a secret injected later.
    pub fn provides(&self, placeholder: &str) -> bool {
        lookup(&self.values, placeholder).is_some()
            || self.secrets.iter().any(|s| s.name == placeholder)
    }
}

/// Overlays the run's parameters on the declared defaults and checks every value.
///
/// Declared parameters are checked against their type, pattern and allowed values; a required
/// one must end up with a value. Secret parameters must not be given (their values come from
/// the vault) and are returned in `secrets`. Names that are not declared are accepted as plain
/// values (the older product allowed free parameters) as long as they are scalars. Errors are
/// located at `["body", "parameters", name]`.
pub fn resolve_parameters(
    decls: &[ParamDecl],
    run: &Map<String, Value>,
) -> Result<ResolvedParameters, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut resolved = ResolvedParameters::default();
    for decl in decls {
        let given = run.get(&decl.name);
        if decl.kind == ParamType::Secret {
            if given.is_some() {
                errors.push(param_error(
                    &decl.name,
                    "value_error",
                    "secret parameters come from the vault",
                ));
            }
            match &decl.credential {
                Some(credential) => resolved.secrets.push(SecretParam {
                    name: decl.name.clone(),
                    credential: credential.clone(),
                    field: decl.field.clone(),
                }),
                None => errors.push(param_error(
                    &decl.name,
                    "value_error",
                    "secret parameter names no credential",
                )),
            }
            continue;
        }
        let Some(value) = given.or(decl.default.as_ref()) else {
            if decl.required {
                errors.push(param_error(
                    &decl.name,
                    "missing",
                    format!("parameter {} is required", decl.name),
                ));
            }
            continue;
        };
        match check_value(decl, value) {
            Ok(()) => {
                resolved.values.insert(decl.name.clone(), value.clone());
            }
            Err((kind, msg)) => errors.push(param_error(&decl.name, kind, msg)),
        }
    }
    for (name, value) in run {
        if decls.iter().any(|d| d.name == *name) {
            continue;
        }
        if matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
            resolved.values.insert(name.clone(), value.clone());
        } else {
            errors.push(param_error(
                name,
                "type_error",
                format!("parameter {name} is not a scalar"),
            ));
        }
    }
    if errors.is_empty() {
        Ok(resolved)
    } else {
        Err(errors)
    }
}

/// Whether `value` fits the declaration's type, pattern and allowed values; on failure the
/// error kind and message. Used for run values here and for defaults when a definition is parsed.
pub(crate) fn check_value(decl: &ParamDecl, value: &Value) -> Result<(), (&'static str, String)> {
    match decl.kind {
        ParamType::String => {
            let Some(s) = value.as_str() else {
                return Err(("type_error", "must be a string".into()));
            };
            match &decl.pattern {
                Some(pattern) if !pattern.is_match(s) => Err((
                    "value_error",
                    format!("does not match the pattern {}", pattern.as_str()),
                )),
                _ => Ok(()),
            }
        }
        ParamType::Number if value.is_number() => Ok(()),
        ParamType::Number => Err(("type_error", "must be a number".into())),
        ParamType::Boolean if value.is_boolean() => Ok(()),
        ParamType::Boolean => Err(("type_error", "must be true or false".into())),
        ParamType::Enum if decl.allowed.contains(value) => Ok(()),
        ParamType::Enum => {
            let allowed: Vec<String> = decl.allowed.iter().map(Value::to_string).collect();
            Err(("enum", format!("must be one of {}", allowed.join(", "))))
        }
        ParamType::Secret => Err((
            "value_error",
            "secret parameters come from the vault".into(),
        )),
    }
}

fn param_error(name: &str, kind: &str, msg: impl Into<String>) -> FieldError {
    FieldError {
        loc: vec!["body".into(), "parameters".into(), name.into()],
        msg: msg.into(),
        kind: kind.into(),
        input: None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn vars(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("test vars must be an object"),
        }
    }

    fn decl(name: &str, kind: ParamType) -> ParamDecl {
        ParamDecl {
            name: name.into(),
            kind,
            default: None,
            required: false,
            pattern: None,
            allowed: Vec::new(),
            description: None,
            credential: None,
            field: None,
        }
    }

    fn names(text: &str) -> Vec<String> {
        scan(text).unwrap().into_iter().map(|p| p.name).collect()
    }

    // --- scan ---

    #[test]
    fn scan_finds_names_with_and_without_spaces() {
        assert_eq!(names("a {{ x }} b {{y}} c {{  z\t}}"), ["x", "y", "z"]);
    }

    #[test]
    fn scan_reports_byte_ranges_of_whole_placeholders() {
        let text = "é {{ svc }}!";
        let found = scan(text).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(&text[found[0].start..found[0].end], "{{ svc }}");
    }

    #[test]
    fn scan_accepts_dotted_names_for_nesting() {
        assert_eq!(names("{{ db.host }}:{{ db.port }}"), ["db.host", "db.port"]);
    }

    #[test]
    fn scan_of_text_without_placeholders_is_empty() {
        assert!(scan("plain text").unwrap().is_empty());
        assert!(scan("").unwrap().is_empty());
    }

    #[test]
    fn scan_treats_lone_braces_as_literal_text() {
        assert!(scan("@{ Name = 'x' }; if (1) { }").unwrap().is_empty());
        assert!(scan("$h = @{a=@{b=1}}").unwrap().is_empty());
        assert!(scan("} { }").unwrap().is_empty());
    }

    #[test]
    fn scan_rejects_an_unmatched_opening() {
        let err = scan("echo {{ svc").unwrap_err();
        assert!(err.contains("no closing"), "{err}");
        assert!(err.contains("position 5"), "{err}");
    }

    #[test]
    fn scan_rejects_an_unmatched_opening_after_a_good_placeholder() {
        assert!(scan("{{ a }} and {{ b").is_err());
    }

    #[test]
    fn scan_rejects_names_that_are_not_identifiers() {
        for bad in [
            "{{ 1abc }}",
            "{{ a-b }}",
            "{{ }}",
            "{{}}",
            "{{ a b }}",
            "{{ a..b }}",
            "{{ .a }}",
            "{{ a. }}",
            "{{ a | upper }}",
            "{{ 'x' }}",
            "{{{ a }}}",
            "{{ é }}",
        ] {
            let err = scan(bad).unwrap_err();
            assert!(err.starts_with("invalid placeholder"), "{bad}: {err}");
        }
    }

    #[test]
    fn scan_does_not_treat_jinja_blocks_as_syntax() {
        // `{%` is literal; only `{{` opens a placeholder.
        assert!(scan("{% if x %}y{% endif %}").unwrap().is_empty());
    }

    #[test]
    fn identifiers_follow_the_name_rule() {
        assert!(is_identifier("_a1"));
        assert!(is_identifier("Svc"));
        assert!(!is_identifier("1a"));
        assert!(!is_identifier(""));
        assert!(!is_identifier("a.b"));
    }

    // --- render ---

    #[test]
    fn render_inserts_strings_verbatim() {
        let v = vars(json!({"svc": "Spooler", "q": "it's \"quoted\""}));
        assert_eq!(
            render("Restart-Service {{ svc }}; echo {{q}}", &v).unwrap(),
            "Restart-Service Spooler; echo it's \"quoted\""
        );
    }

    #[test]
    fn render_inserts_numbers_and_booleans_as_json_text() {
        let v = vars(json!({"n": 42, "f": 1.5, "neg": -3, "t": true, "no": false}));
        assert_eq!(
            render("{{n}} {{f}} {{neg}} {{t}} {{no}}", &v).unwrap(),
            "42 1.5 -3 true false"
        );
    }

    #[test]
    fn render_looks_up_nested_names() {
        let v = vars(json!({"db": {"host": "db1", "port": 5432}}));
        assert_eq!(
            render("{{ db.host }}:{{ db.port }}", &v).unwrap(),
            "db1:5432"
        );
    }

    #[test]
    fn render_reports_an_unknown_name() {
        let v = vars(json!({"a": "x"}));
        assert_eq!(render("{{ b }}", &v), Err(RenderError::Unknown("b".into())));
    }

    #[test]
    fn render_reports_an_unknown_nested_field() {
        let v = vars(json!({"db": {"host": "x"}, "s": "text"}));
        assert_eq!(
            render("{{ db.port }}", &v),
            Err(RenderError::Unknown("db.port".into()))
        );
        assert_eq!(
            render("{{ s.len }}", &v),
            Err(RenderError::Unknown("s.len".into()))
        );
    }

    #[test]
    fn render_rejects_null_arrays_and_objects() {
        let v = vars(json!({"n": null, "a": [1], "o": {"k": 1}}));
        for name in ["n", "a", "o"] {
            assert_eq!(
                render(&format!("{{{{ {name} }}}}"), &v),
                Err(RenderError::NotScalar(name.into()))
            );
        }
        assert_eq!(
            RenderError::NotScalar("o".into()).to_string(),
            "parameter o is not a scalar"
        );
    }

    #[test]
    fn render_keeps_literal_braces_and_surrounding_text() {
        let v = vars(json!({"x": "1"}));
        assert_eq!(
            render("$h=@{a=@{b={{x}}}} }", &v).unwrap(),
            "$h=@{a=@{b=1}} }"
        );
    }

    #[test]
    fn render_does_not_expand_placeholders_inside_values() {
        let v = vars(json!({"a": "{{ b }}", "b": "no"}));
        assert_eq!(render("{{ a }}", &v).unwrap(), "{{ b }}");
    }

    #[test]
    fn render_reports_a_malformed_placeholder_as_invalid() {
        let v = vars(json!({}));
        let err = render("echo {{ oops", &v).unwrap_err();
        assert!(matches!(err, RenderError::Invalid(_)));
        assert!(err.to_string().starts_with("invalid placeholder"));
    }

    #[test]
    fn render_repeats_the_same_placeholder() {
        let v = vars(json!({"svc": "Spooler"}));
        assert_eq!(
            render(
                "Restart-Service {{ svc }}; (Get-Service {{ svc }}).Status",
                &v
            )
            .unwrap(),
            "Restart-Service Spooler; (Get-Service Spooler).Status"
        );
    }

    #[test]
    fn unknown_error_names_the_parameter() {
        assert_eq!(
            RenderError::Unknown("x".into()).to_string(),
            "unknown parameter 'x'"
        );
    }

    // --- resolve_parameters ---

    #[test]
    fn run_values_overlay_defaults() {
        let mut svc = decl("svc", ParamType::String);
        svc.default = Some(json!("Spooler"));
        let mut count = decl("count", ParamType::Number);
        count.default = Some(json!(3));
        let r = resolve_parameters(&[svc, count], &vars(json!({"svc": "W32Time"}))).unwrap();
        assert_eq!(
            Value::Object(r.values),
            json!({"svc": "W32Time", "count": 3})
        );
        assert!(r.secrets.is_empty());
    }

    #[test]
    fn optional_parameter_without_default_or_value_is_absent() {
        let r = resolve_parameters(&[decl("x", ParamType::String)], &Map::new()).unwrap();
        assert!(r.values.is_empty());
        assert!(!r.provides("x"));
    }

    #[test]
    fn required_parameter_missing_is_an_error_at_its_name() {
        let mut d = decl("host", ParamType::String);
        d.required = true;
        let errs = resolve_parameters(&[d], &Map::new()).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].loc, ["body", "parameters", "host"]);
        assert_eq!(errs[0].kind, "missing");
    }

    #[test]
    fn required_parameter_is_satisfied_by_its_default() {
        let mut d = decl("host", ParamType::String);
        d.required = true;
        d.default = Some(json!("web1"));
        let r = resolve_parameters(&[d], &Map::new()).unwrap();
        assert_eq!(r.values["host"], json!("web1"));
    }

    #[test]
    fn pattern_violation_is_a_value_error() {
        let mut d = decl("svc", ParamType::String);
        d.pattern = Some(regex::Regex::new("^(?:[A-Za-z]+)$").unwrap());
        let errs = resolve_parameters(&[d], &vars(json!({"svc": "x; rm -rf /"}))).unwrap_err();
        assert_eq!(errs[0].kind, "value_error");
        assert!(errs[0].msg.contains("pattern"));
    }

    #[test]
    fn value_matching_the_pattern_is_accepted() {
        let mut d = decl("svc", ParamType::String);
        d.pattern = Some(regex::Regex::new("^(?:[A-Za-z]+)$").unwrap());
        assert!(resolve_parameters(&[d], &vars(json!({"svc": "Spooler"}))).is_ok());
    }

    #[test]
    fn enum_violation_lists_the_allowed_values() {
        let mut d = decl("env", ParamType::Enum);
        d.allowed = vec![json!("dev"), json!("prod")];
        let errs = resolve_parameters(&[d], &vars(json!({"env": "qa"}))).unwrap_err();
        assert_eq!(errs[0].kind, "enum");
        assert!(errs[0].msg.contains("\"dev\", \"prod\""), "{}", errs[0].msg);
    }

    #[test]
    fn enum_accepts_one_of_its_values() {
        let mut d = decl("level", ParamType::Enum);
        d.allowed = vec![json!(1), json!(2)];
        let r = resolve_parameters(&[d], &vars(json!({"level": 2}))).unwrap();
        assert_eq!(r.values["level"], json!(2));
    }

    #[test]
    fn number_parameter_rejects_numeric_strings() {
        let errs = resolve_parameters(&[decl("n", ParamType::Number)], &vars(json!({"n": "5"})))
            .unwrap_err();
        assert_eq!(errs[0].kind, "type_error");
    }

    #[test]
    fn string_parameter_rejects_numbers_and_booleans() {
        let d = [decl("s", ParamType::String)];
        assert!(resolve_parameters(&d, &vars(json!({"s": 5}))).is_err());
        assert!(resolve_parameters(&d, &vars(json!({"s": true}))).is_err());
        assert!(resolve_parameters(&d, &vars(json!({"s": null}))).is_err());
    }

    #[test]
    fn boolean_parameter_accepts_only_true_and_false() {
        let d = [decl("b", ParamType::Boolean)];
        assert!(resolve_parameters(&d, &vars(json!({"b": false}))).is_ok());
        assert!(resolve_parameters(&d, &vars(json!({"b": "true"}))).is_err());
        assert!(resolve_parameters(&d, &vars(json!({"b": 1}))).is_err());
    }

    #[test]
    fn secrets_are_returned_separately_and_not_as_values() {
        let mut d = decl("db_password", ParamType::Secret);
        d.credential = Some("prod-db".into());
        d.field = Some("password".into());
        let r = resolve_parameters(&[d], &Map::new()).unwrap();
        assert!(r.values.is_empty());
        assert_eq!(
            r.secrets,
            [SecretParam {
                name: "db_password".into(),
                credential: "prod-db".into(),
                field: Some("password".into()),
            }]
        );
        assert!(r.provides("db_password"));
    }

    #[test]
    fn secret_given_in_run_parameters_is_rejected() {
        let mut d = decl("token", ParamType::Secret);
        d.credential = Some("api".into());
        let errs = resolve_parameters(&[d], &vars(json!({"token": "leaked"}))).unwrap_err();
        assert_eq!(errs[0].msg, "secret parameters come from the vault");
        assert_eq!(errs[0].loc, ["body", "parameters", "token"]);
    }

    #[test]
    fn undeclared_scalar_run_parameters_are_kept() {
        let r = resolve_parameters(
            &[],
            &vars(json!({"scheduled": true, "schedule_id": 7, "x": "y"})),
        )
        .unwrap();
        assert_eq!(
            Value::Object(r.values),
            json!({"scheduled": true, "schedule_id": 7, "x": "y"})
        );
    }

    #[test]
    fn undeclared_non_scalar_run_parameters_are_rejected() {
        let errs = resolve_parameters(&[], &vars(json!({"list": [1], "obj": {}, "nil": null})))
            .unwrap_err();
        let mut locs: Vec<&str> = errs.iter().map(|e| e.loc[2].as_str()).collect();
        locs.sort_unstable();
        assert_eq!(locs, ["list", "nil", "obj"]);
        assert!(errs.iter().all(|e| e.kind == "type_error"));
    }

    #[test]
    fn every_parameter_error_is_reported_at_once() {
        let mut req = decl("req", ParamType::String);
        req.required = true;
        let errs = resolve_parameters(
            &[
                req,
                decl("n", ParamType::Number),
                decl("b", ParamType::Boolean),
            ],
            &vars(json!({"n": "x", "b": "y", "free": [1]})),
        )
        .unwrap_err();
        assert_eq!(errs.len(), 4);
    }

    #[test]
    fn provides_knows_nested_values() {
        let r = ResolvedParameters {
            values: vars(json!({"db": {"host": "h"}})),
            secrets: Vec::new(),
        };
        assert!(r.provides("db.host"));
        assert!(r.provides("db"));
        assert!(!r.provides("db.port"));
    }
}
