//! `POST /targets/{id}/test` against real servers: OpenSSH sshd started per test, this
//! server itself for HTTP, and the failures an operator meets (auth, host key, refused, DNS).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::sshd::{self, Sshd};

both_backends!(
    ssh_key_auth_connects_runs_uname_and_pins_the_host_key,
    ssh_password_auth_and_a_wrong_password,
    a_changed_host_key_fails_until_an_operator_resets_it,
    unreachable_and_unresolvable_hosts_say_why,
    http_targets_are_probed_for_real,
    test_winrm_answers_its_contract_shape_for_other_protocols,
);

async fn test_target(app: &TestApp, token: &str, id: i64) -> Value {
    let (status, body) = json_of(
        app.post(&format!("/targets/{id}/test"), token, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn ssh_target(app: &TestApp, token: &str, name: &str, port: u16, data: Value) -> i64 {
    let cred = credential(app, token, &format!("{name}-cred"), "ssh", data).await;
    target(app, token, json!({"name": name, "hostname": "127.0.0.1", "protocol": "ssh", "port": port, "credential_ref": cred}))
        .await["id"]
        .as_i64()
        .expect("id")
}

async fn ssh_key_auth_connects_runs_uname_and_pins_the_host_key(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let sshd = Sshd::start();
    let id = ssh_target(
        &app,
        &admin,
        "linux",
        sshd.port,
        json!({"username": "root", "private_key": sshd.root_key().pem}),
    )
    .await;
    let first = test_target(&app, &admin, id).await;
    assert_eq!(first["success"], true, "{first}");
    assert_eq!(first["details"]["whoami"], "root");
    assert!(
        first["details"]["uname"]
            .as_str()
            .is_some_and(|u| u.starts_with("Linux")),
        "{first}"
    );
    assert_eq!(first["details"]["host_key_status"], "pinned");
    assert_eq!(
        first["details"]["host_key_fingerprint"],
        sshd.host_key_fingerprint.as_str()
    );
    assert!(first["details"]["duration_ms"].is_u64());
    let (_, t) = json_of(app.get(&format!("/targets/{id}"), &admin).await).await;
    assert_eq!(
        t["host_key_fingerprint"],
        sshd.host_key_fingerprint.as_str()
    );
    assert!(t["host_key_pinned_at"].is_string());
    let second = test_target(&app, &admin, id).await;
    assert_eq!(second["details"]["host_key_status"], "matched");
    // An encrypted key with its passphrase works too.
    let enc = sshd.encrypted_key().clone();
    let id = ssh_target(
        &app,
        &admin,
        "enc",
        sshd.port,
        json!({"username": "root", "private_key": enc.pem, "passphrase": enc.passphrase}),
    )
    .await;
    assert_eq!(test_target(&app, &admin, id).await["success"], true);
    // Every use of a credential is audited, never its value.
    let (_, audit) = json_of(app.get("/audit?action=credential.use", &admin).await).await;
    assert_eq!(audit["total"], 3);
    assert!(
        audit["entries"][0]["details"]["purpose"]
            .as_str()
            .is_some_and(|p| p.contains("connection test"))
    );
}

async fn ssh_password_auth_and_a_wrong_password(b: Backend) {
    let Some((user, password)) = sshd::password_user("ssh_password_auth_and_a_wrong_password")
    else {
        return;
    };
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let sshd = Sshd::start_with_passwords();
    let ok = ssh_target(
        &app,
        &admin,
        "pw",
        sshd.port,
        json!({"username": user, "password": password}),
    )
    .await;
    let report = test_target(&app, &admin, ok).await;
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(report["details"]["whoami"], user.as_str());
    let bad = ssh_target(
        &app,
        &admin,
        "badpw",
        sshd.port,
        json!({"username": user, "password": "definitely-wrong"}),
    )
    .await;
    let report = test_target(&app, &admin, bad).await;
    assert_eq!(report["success"], false);
    assert_eq!(report["details"]["error"], "auth", "{report}");
    assert!(
        !report.to_string().contains("definitely-wrong"),
        "the password is not echoed"
    );
}

async fn a_changed_host_key_fails_until_an_operator_resets_it(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (first, second) = (Sshd::start(), Sshd::start());
    assert_ne!(first.host_key_fingerprint, second.host_key_fingerprint);
    let id = ssh_target(
        &app,
        &admin,
        "moved",
        first.port,
        json!({"username": "root", "private_key": first.root_key().pem}),
    )
    .await;
    assert_eq!(
        test_target(&app, &admin, id).await["details"]["host_key_status"],
        "pinned"
    );
    // Same name and credential, but now another machine answers.
    app.put(
        &format!("/targets/{id}"),
        &admin,
        json!({"port": second.port}),
    )
    .await;
    for _ in 0..2 {
        let report = test_target(&app, &admin, id).await;
        assert_eq!(report["success"], false);
        assert_eq!(report["details"]["error"], "host_key_mismatch", "{report}");
        let msg = report["message"].as_str().unwrap_or("");
        assert!(
            msg.contains(&first.host_key_fingerprint) && msg.contains(&second.host_key_fingerprint),
            "{msg}"
        );
    }
    let (status, body) = json_of(
        app.post(&format!("/targets/{id}/host-key/reset"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains(&first.host_key_fingerprint))
    );
    let report = test_target(&app, &admin, id).await;
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(
        report["details"]["host_key_fingerprint"],
        second.host_key_fingerprint.as_str()
    );
    let (_, audit) = json_of(app.get("/audit?action=target.host_key_reset", &admin).await).await;
    assert_eq!(audit["total"], 1);
    assert_eq!(
        audit["entries"][0]["details"]["previous_fingerprint"],
        first.host_key_fingerprint.as_str()
    );
    assert_eq!(
        app.post("/targets/9999/host-key/reset", &admin, json!({}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn unreachable_and_unresolvable_hosts_say_why(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let closed = sshd::free_port();
    let id = ssh_target(
        &app,
        &admin,
        "closed",
        closed,
        json!({"username": "root", "password": "x"}),
    )
    .await;
    let report = test_target(&app, &admin, id).await;
    assert_eq!(report["success"], false);
    assert_eq!(report["details"]["error"], "refused", "{report}");
    let cred = credential(
        &app,
        &admin,
        "dns-cred",
        "ssh",
        json!({"username": "root", "password": "x"}),
    )
    .await;
    let t = target(&app, &admin, json!({"name": "nowhere", "hostname": "no-such-host.invalid", "protocol": "ssh", "credential_ref": cred})).await;
    let report = test_target(&app, &admin, t["id"].as_i64().expect("id")).await;
    assert_eq!(report["details"]["error"], "dns", "{report}");
    assert_eq!(
        app.post("/targets/9999/test", &admin, json!({}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

async fn http_targets_are_probed_for_real(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let port: u16 = app
        .base
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let cred = credential(&app, &admin, "http-cred", "token", json!({"token": "t"})).await;
    // This very server, which answers /health with 200.
    let me = target(
        &app,
        &admin,
        json!({"name": "self", "hostname": "127.0.0.1", "protocol": "http", "port": port,
        "credential_ref": cred, "metadata": {"http_path": "/health", "http_validate_cert": false}}),
    )
    .await;
    let report = test_target(&app, &admin, me["id"].as_i64().expect("id")).await;
    assert_eq!(report["success"], true, "{report}");
    assert_eq!(report["details"]["status_code"], 200);
    // Certificates are validated unless the target says otherwise.
    let strict = target(
        &app,
        &admin,
        json!({"name": "strict", "hostname": "127.0.0.1", "protocol": "http", "port": port,
        "credential_ref": cred, "metadata": {"http_path": "/health"}}),
    )
    .await;
    let report = test_target(&app, &admin, strict["id"].as_i64().expect("id")).await;
    assert_eq!(report["success"], false);
    assert_eq!(report["details"]["error"], "tls", "{report}");
    let missing = target(
        &app,
        &admin,
        json!({"name": "missing", "hostname": "127.0.0.1", "protocol": "http", "port": port,
        "credential_ref": cred, "metadata": {"http_path": "/nope", "http_validate_cert": false}}),
    )
    .await;
    let report = test_target(&app, &admin, missing["id"].as_i64().expect("id")).await;
    assert_eq!(report["success"], false);
    assert_eq!(report["details"]["status_code"], 404);
    let closed = target(
        &app,
        &admin,
        json!({"name": "closed", "hostname": "127.0.0.1", "protocol": "http",
        "port": sshd::free_port(), "credential_ref": cred}),
    )
    .await;
    let report = test_target(&app, &admin, closed["id"].as_i64().expect("id")).await;
    assert_eq!(report["details"]["error"], "refused", "{report}");
}

async fn test_winrm_answers_its_contract_shape_for_other_protocols(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let cred = credential(
        &app,
        &admin,
        "s",
        "ssh",
        json!({"username": "a", "password": "p"}),
    )
    .await;
    let linux = target(
        &app,
        &admin,
        json!({"name": "lin", "hostname": "h", "protocol": "ssh", "credential_ref": cred}),
    )
    .await;
    let (status, body) = json_of(
        app.post(
            &format!("/targets/{}/test-winrm", linux["id"]),
            &admin,
            json!({}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["test"]["status"], "error");
    assert_eq!(body["success"], false);
}
