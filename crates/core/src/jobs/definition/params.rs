//! The `parameters` object: a plain default (`"svc": "Spooler"`) or a declaration object
//! per parameter, parsed into a `ParamDecl`.

use serde_json::Value;

use super::fields::{Cx, Loc, Obj};
use super::{ParamDecl, ParamType};
use crate::jobs::template::{check_value, is_identifier};

const SECRET_FIELDS: [&str; 6] = [
    "password",
    "private_key",
    "passphrase",
    "api_key",
    "token",
    "secret",
];
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

pub(super) fn parse_param(
    cx: &mut Cx,
    parent: &Loc,
    name: &str,
    value: &Value,
) -> Option<ParamDecl> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;
    use crate::jobs::definition::test_support::*;

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
}
