//! WinRM through the API against the WS-Management test server (`testing/wsman-server`: NTLM
//! and message sealing from pyspnego, commands run by `/bin/sh` standing in for PowerShell and
//! cmd): connection tests in the contract's shape, and `winrm.exec` steps in runs.

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::run_helpers::*;
use crate::wsman::{self, Options, WsmanServer};

both_backends!(
    winrm_connection_tests_really_connect_and_say_why_they_fail,
    winrm_exec_steps_run_with_output_exit_codes_and_masking,
    winrm_copy_steps_write_byte_exact_files_and_honour_overwrite_false,
);

async fn winrm_target(app: &TestApp, token: &str, name: &str, port: u16, password: &str) -> i64 {
    winrm_target_with(app, token, name, port, password, json!({})).await
}

async fn winrm_target_with(
    app: &TestApp,
    token: &str,
    name: &str,
    port: u16,
    password: &str,
    metadata: Value,
) -> i64 {
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
        json!({"name": name, "hostname": "127.0.0.1", "protocol": "winrm", "port": port,
               "credential_ref": cred, "metadata": metadata}),
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
    // Both commands ran in one shell, and the run left none open on the host.
    assert_eq!(server.stat("shells_created"), 1);
    assert_eq!(server.wait_for_stat("shells_open", |n| n == 0), 0);
    let everything: Value = json!({"rows": rows, "log": full_log(&app, &admin, run_id).await});
    assert!(!everything.to_string().contains(wsman::PASSWORD));
}

async fn winrm_copy_steps_write_byte_exact_files_and_honour_overwrite_false(b: Backend) {
    let Some(server) = WsmanServer::start(Options::default()) else {
        return;
    };
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    // An unknown remote OS is refused on the field.
    let (status, body) = json_of(
        app.post(
            "/targets",
            &admin,
            json!({"name": "odd", "hostname": "h", "protocol": "winrm", "credential_ref": 1,
                   "metadata": {"winrm_remote_os": "beos"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("winrm_remote_os"), "{body}");
    // The test server runs /bin/sh, so the target says its remote shell is POSIX.
    winrm_target_with(
        &app,
        &admin,
        "win",
        server.port,
        wsman::PASSWORD,
        json!({"winrm_remote_os": "posix"}),
    )
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let dest = dir.path().join("payload.bin");
    let kept = dir.path().join("kept.txt");
    std::fs::write(&kept, b"original").expect("write");
    // 600 KiB of every byte value (a job body is at most 1 MiB): three Send chunks of binary.
    let payload: Vec<u8> = (0..614_400u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(&payload);
    let job_id = job(
        &app,
        &admin,
        "copy",
        json!({"name": "copy", "version": 1, "parameters": {"dir": dir.path().to_str().expect("utf8")},
            "steps": [
                {"type": "winrm.copy", "target": "win", "destPath": "{{ dir }}/payload.bin", "contentB64": b64},
                {"type": "winrm.copy", "target": "win", "destPath": "{{ dir }}/kept.txt",
                 "contentB64": "bmV3", "overwrite": false}
            ]}),
    )
    .await;
    let run = start(&app, &admin, job_id, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, run_id).await;
    assert_eq!(run["status"], "failed", "{run}");
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["status"], "succeeded", "{:?}", rows[0]);
    assert_eq!(
        std::fs::read(&dest).expect("copied file"),
        payload,
        "byte-exact"
    );
    assert_eq!(rows[0]["metrics"]["content_size"], payload.len());
    assert_eq!(rows[1]["status"], "failed", "{:?}", rows[1]);
    let why = format!("{} {}", rows[1]["error"], rows[1]["stderr"]);
    assert!(why.contains("exists"), "{why}");
    assert_eq!(std::fs::read(&kept).expect("kept"), b"original");
    assert_eq!(server.stat("plaintext_requests"), 0);
}
