//! The audit log: what is recorded, filtering, the hash chain.

use opsconductor_store::Db;
use opsconductor_store::sqlx;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    logins_and_mutations_are_audited_with_actor_ip_and_outcome,
    audit_filters_and_bad_filters,
    audit_is_admin_only,
    audit_chain_verifies_and_detects_tampering,
);

async fn entries(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = json_of(app.get(&format!("/audit{query}"), token).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["entries"].as_array().cloned().unwrap_or_default()
}

async fn logins_and_mutations_are_audited_with_actor_ip_and_outcome(b: Backend) {
    let app = TestApp::spawn(b).await;
    assert_eq!(
        app.login_response("admin", "wrong-password").await.status(),
        StatusCode::UNAUTHORIZED
    );
    let admin = app.admin_token().await;
    let (id, viewer) = app.user_with_role(&admin, "val", "viewer").await;
    app.post(
        "/users",
        &viewer,
        json!({"email": "x@example.com", "username": "x", "password": "long-enough"}),
    )
    .await;
    app.call(Method::POST, "/users", None, Some(json!({})))
        .await;

    let logins = entries(&app, &admin, "?action=auth.login").await;
    let outcomes: Vec<(&str, &str, i64)> = logins
        .iter()
        .map(|e| {
            (
                e["actor"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or(""),
                e["status_code"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            ("val", "success", 200),
            ("admin", "success", 200),
            ("admin", "denied", 401)
        ],
        "newest first"
    );
    assert_eq!(
        logins[2]["actor_id"],
        Value::Null,
        "a failed login names no account id"
    );
    assert_eq!(logins[2]["ip"], "127.0.0.1");
    assert!(
        !logins
            .iter()
            .any(|e| e.to_string().contains(ADMIN_PASSWORD)),
        "no password in the audit log"
    );

    let creates = entries(&app, &admin, "?action=user.create").await;
    assert_eq!(creates.len(), 3);
    assert_eq!(creates[0]["outcome"], "denied", "anonymous");
    assert_eq!(creates[0]["status_code"], 401);
    assert_eq!(creates[1]["actor"], "val");
    assert_eq!(creates[1]["status_code"], 403);
    assert_eq!(creates[1]["details"]["error"], "Admin role required");
    assert_eq!(creates[2]["actor"], "admin");
    assert_eq!(creates[2]["resource_type"], "user");
    assert_eq!(creates[2]["resource_id"], id.to_string());
    assert_eq!(creates[2]["outcome"], "success");
    assert_eq!(creates[2]["user_agent"], "opsconductor-tests");
}

async fn audit_filters_and_bad_filters(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let start = entries(&app, &admin, "").await;
    let since = start[0]["ts"].as_str().expect("ts").to_string();
    let (id, _) = app.user_with_role(&admin, "fil", "viewer").await;
    app.post(
        &format!("/users/{id}/roles"),
        &admin,
        json!({"role": "operator"}),
    )
    .await;

    let by_actor = entries(&app, &admin, "?actor=fil").await;
    assert_eq!(by_actor.len(), 1);
    assert_eq!(by_actor[0]["action"], "auth.login");
    let by_resource = entries(&app, &admin, "?resource_type=user").await;
    assert_eq!(by_resource.len(), 2);
    let (_, page) = json_of(
        app.get(&format!("/audit?since={since}&limit=1"), &admin)
            .await,
    )
    .await;
    assert_eq!(
        page["total"], 4,
        "login, create, login of fil, role change: {page}"
    );
    assert_eq!(page["entries"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["entries"][0]["action"], "user.assign_role");
    let none = entries(&app, &admin, "?until=2000-01-01T00:00:00Z").await;
    assert!(none.is_empty());
    for bad in ["since=yesterday", "until=2026-13-01", "limit=-1"] {
        let (status, body) = json_of(app.get(&format!("/audit?{bad}"), &admin).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(body["detail"][0]["loc"][0], "query");
    }
}

async fn audit_is_admin_only(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (_, operator) = app.user_with_role(&admin, "opal", "operator").await;
    for path in ["/audit", "/audit/verify"] {
        assert_eq!(
            app.get(path, &operator).await.status(),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            app.call(Method::GET, path, None, None).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
}

async fn execute(db: &Db, sql: &'static str) {
    match db {
        Db::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
        Db::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(|_| ()),
    }
    .expect("tamper statement");
}

async fn audit_chain_verifies_and_detects_tampering(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    for i in 0..3 {
        app.user_with_role(&admin, &format!("t{i}"), "viewer").await;
    }
    let (status, body) = json_of(app.get("/audit/verify", &admin).await).await;
    assert_eq!(status, StatusCode::OK);
    // 1 admin login + 3 × (create + login).
    assert_eq!(body, json!({"valid": true, "entries": 7}));

    execute(
        &app.db,
        "UPDATE audit_log SET actor_name = 'mallory' WHERE id = 3",
    )
    .await;
    let (_, body) = json_of(app.get("/audit/verify", &admin).await).await;
    assert_eq!(body, json!({"valid": false, "first_broken_id": 3}));

    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    for i in 0..2 {
        app.user_with_role(&admin, &format!("d{i}"), "viewer").await;
    }
    execute(&app.db, "DELETE FROM audit_log WHERE id = 2").await;
    let (_, body) = json_of(app.get("/audit/verify", &admin).await).await;
    assert_eq!(
        body,
        json!({"valid": false, "first_broken_id": 3}),
        "the entry after a deleted one breaks"
    );
}
