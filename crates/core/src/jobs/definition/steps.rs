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

    if targets == TargetSpec::None
        && obj
            .map
            .get("url")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|u| u.starts_with('/'))
    {
        cx.invalid(
            &loc.at("url"),
            "a url that is a path (starting with /) needs the step's target: the HTTP targets it is sent to",
        );
    }
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
            || u.trim_start().starts_with("{{")
            || u.starts_with('/');
        if !ok {
            cx.invalid(
                &loc.at("url"),
                "url must start with http:// or https://, with / (a path on each of the step's \
                 targets), or with a {{ placeholder }}",
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
#[path = "steps_tests.rs"]
mod tests;
