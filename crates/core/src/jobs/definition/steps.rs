//! The `steps` array: each step's common fields, its `target` and its type-specific fields,
//! parsed into a `Step`.

use base64::Engine as _;
use serde_json::Value;

use super::fields::{Cx, Loc, Obj};
use super::{CopyContent, Shell, Step, StepAction, TargetSpec};
use crate::jobs::template::is_identifier;
use crate::targets::parse_tag;

const DEFAULT_TIMEOUT_SEC: i64 = 60;
const DEFAULT_RETRY_BACKOFF_SEC: i64 = 5;
const HTTP_METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
const STEP_TYPES: [&str; 5] = [
    "winrm.exec",
    "winrm.copy",
    "ssh.exec",
    "ssh.copy",
    "http.request",
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

pub(super) fn parse_step(cx: &mut Cx, loc: &Loc, index: usize, value: &Value) -> Option<Step> {
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

    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::jobs::definition::test_support::*;

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
}
