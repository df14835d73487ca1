//! Tests of step and target parsing.
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
    let s =
        one_step(json!({"type": "winrm.exec", "shell": "cmd", "target": "t", "command": "dir"}));
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
        let step =
            json!({"type": "ssh.copy", "target": "t", "content": "", "destPath": "/x", "mode": m});
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
    let s = one_step(json!({"type": "http.request", "url": "https://x", "expectedStatus": 404}));
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
        step_errors(json!({"type": "http.request", "url": "https://x", "expectedStatus": "200"})),
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
fn http_request_url_may_be_a_path_on_its_targets_only() {
    let step =
        one_step(json!({"type": "http.request", "url": "/health", "target": "tag:role:api"}));
    assert_eq!(step.targets, TargetSpec::Tag("role:api".into()));
    assert_eq!(
        step_errors(json!({"type": "http.request", "url": "/health"})),
        ["steps.0.url"]
    );
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
