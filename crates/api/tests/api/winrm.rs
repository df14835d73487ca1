//! WinRM through the API against the WS-Management test server (`testing/wsman-server`: NTLM
//! and message sealing from pyspnego, commands run by `/bin/sh` standing in for PowerShell and
//! cmd): connection tests in the contract's shape, and `winrm.exec` steps in runs.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::run_helpers::*;
use crate::wsman::{self, Options, WsmanServer};

both_backends!(
    winrm_connection_tests_really_connect_and_say_why_they_fail,
    winrm_exec_steps_run_with_output_exit_codes_and_masking,
);

async fn winrm_target(app: &TestApp, token: &str, name: &str, port: u16, password: &str) -> i64 {
    let cred = credential(
        app,
        token,
        &format!("{name}-cred"),
        "winrm",
        json!({"username": format!("{}\\{}", wsman::DOMAIN, wsman::USER), "password": password}),
    )
    .await;
    target(
        app,
        token,
        json!({"name": name, "hostname": "127.0.0.1", "protocol": "winrm", "port": port, "credential_ref": cred}),
    )
    .await["id"]
        .as_i64()
        .expect("id")
}

async fn winrm_connection_tests_really_connect_and_say_why_they_fail(b: Backend) {
    let Some(server) = WsmanServer::start(Options::default()) else {
        return;
    };
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let id = winrm_target(&app, &admin, "win1", server.port, wsman::PASSWORD).await;
    let (status, generic) = json_of(
        app.post(&format!("/targets/{id}/test"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{generic}");
    assert_eq!(generic["success"], true, "{generic}");
    assert_eq!(generic["details"]["transport"], "http+ntlm-sealed");
    assert_eq!(
        generic["details"]["whoami"], "root",
        "the stand-in's whoami"
    );
    let (status, contract) = json_of(
        app.post(&format!("/targets/{id}/test-winrm"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(contract["success"], true);
    assert_eq!(contract["test"]["status"], "success");
    for key in [
        "whoami",
        "powershellVersion",
        "hostname",
        "port",
        "transport",
    ] {
        assert!(
            !contract["test"]["details"][key].is_null(),
            "{key}: {contract}"
        );
    }
    assert!(
        contract["note"]
            .as_str()
            .is_some_and(|n| n.contains("PowerShell"))
    );
    // Nothing went in clear over plain HTTP.
    assert_eq!(server.stat("plaintext_requests"), 0);
    assert!(server.stat("sealed_requests") > 0);
    // A wrong password and a closed port say why, never with the password.
    let wrong = winrm_target(&app, &admin, "win2", server.port, "Wrong-Passw0rd").await;
    let (_, body) = json_of(
        app.post(&format!("/targets/{wrong}/test"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(body["success"], false);
    assert_eq!(body["details"]["error"], "auth", "{body}");
    assert!(!body.to_string().contains("Wrong-Passw0rd"));
    let closed = winrm_target(&app, &admin, "win3", 1, wsman::PASSWORD).await;
    let (_, body) = json_of(
        app.post(&format!("/targets/{closed}/test-winrm"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(body["success"], false);
    assert_eq!(body["test"]["status"], "error");
    assert_eq!(body["test"]["details"]["error"], "refused", "{body}");
}

async fn winrm_exec_steps_run_with_output_exit_codes_and_masking(b: Backend) {
    let Some(server) = WsmanServer::start(Options::default()) else {
        return;
    };
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    winrm_target(&app, &admin, "win", server.port, wsman::PASSWORD).await;
    let job_id = job(
        &app,
        &admin,
        "windows",
        json!({"name": "windows", "version": 1, "parameters": {"svc": "Spooler"},
            "steps": [
                {"type": "winrm.exec", "shell": "powershell", "target": "win",
                 "command": "echo \"restart {{ svc }}\"; echo 'warning: slow' >&2"},
                {"type": "winrm.exec", "shell": "cmd", "target": "win", "command": "echo cmd-ok && exit 4"},
                {"type": "winrm.exec", "shell": "cmd", "target": "win", "command": "echo never"}
            ]}),
    )
    .await;
    let run = start(
        &app,
        &admin,
        job_id,
        json!({"parameters": {"svc": "W32Time"}}),
    )
    .await;
    let run_id = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, run_id).await;
    assert_eq!(run["status"], "failed", "{run}");
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["status"], "succeeded", "{:?}", rows[0]);
    assert_eq!(rows[0]["stdout"], "restart W32Time\n");
    // PowerShell's CLIXML error stream arrives as readable text (with Windows line ends).
    assert_eq!(rows[0]["stderr"], "warning: slow\r\n", "{:?}", rows[0]);
    assert_eq!(rows[0]["shell"], "powershell");
    assert_eq!(rows[0]["metrics"]["transport"], "http+ntlm-sealed");
    assert_eq!(rows[1]["status"], "failed");
    assert_eq!(rows[1]["exit_code"], 4);
    assert!(
        rows[1]["stdout"]
            .as_str()
            .is_some_and(|s| s.starts_with("cmd-ok"))
    );
    assert_eq!(rows[2]["status"], "aborted");
    assert_eq!(server.stat("plaintext_requests"), 0);
    let everything: Value = json!({"rows": rows, "log": full_log(&app, &admin, run_id).await});
    assert!(!everything.to_string().contains(wsman::PASSWORD));
}
