//! Contract §6 (jobs) with kept versions and definitions validated on save.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    a_job_is_created_from_the_contract_seed_example,
    definition_errors_name_the_step_index_and_field,
    job_names_are_unique_and_only_operators_write,
    updates_keep_every_revision_of_the_definition,
    inactive_jobs_are_hidden_unless_asked_for,
    a_user_who_created_jobs_cannot_be_deleted,
);

async fn setup(b: Backend) -> (TestApp, String) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let cred = credential(
        &app,
        &admin,
        "win-admin",
        "winrm",
        json!({"username": "Administrator", "password": "pw"}),
    )
    .await;
    target(&app, &admin, json!({"name": "sample-windows-server", "hostname": "win.example.com", "credential_ref": cred})).await;
    (app, admin)
}

fn seed_definition() -> Value {
    json!({"name": "Restart service on Windows", "version": 1, "parameters": {"svc": "Spooler"},
        "steps": [{"type": "winrm.exec", "shell": "powershell", "target": "sample-windows-server",
            "command": "Restart-Service {{ svc }}; (Get-Service {{ svc }}).Status", "timeoutSec": 90}]})
}

async fn a_job_is_created_from_the_contract_seed_example(b: Backend) {
    let (app, admin) = setup(b).await;
    let resp = app
        .post(
            "/jobs",
            &admin,
            json!({"name": "restart-spooler", "definition": seed_definition()}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let text = resp.text().await.expect("body");
    assert!(text.starts_with(r#"{"id":"#), "{text}");
    let job: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(job["version"], 1);
    assert_eq!(job["revision"], 1);
    assert_eq!(job["is_active"], true);
    assert_eq!(job["definition"], seed_definition());
    let me = app.login("admin", ADMIN_PASSWORD).await["user"]["id"].clone();
    assert_eq!(job["created_by"], me);
    let (status, got) = json_of(app.get(&format!("/jobs/{}", job["id"]), &admin).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, job);
    let (_, list) = json_of(app.get("/jobs", &admin).await).await;
    assert_eq!(list["total"], 1);
    assert_eq!(
        app.get("/jobs/9999", &admin).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn definition_errors_name_the_step_index_and_field(b: Backend) {
    let (app, admin) = setup(b).await;
    let step = |extra: Value| {
        let mut s =
            json!({"type": "ssh.exec", "target": "sample-windows-server", "command": "uptime"});
        if let (Some(s), Some(extra)) = (s.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                s.insert(k.clone(), v.clone());
            }
        }
        s
    };
    let cases = [
        (
            json!({"name": "x", "version": 1, "steps": [step(json!({})), {"type": "ssh.exec", "target": "sample-windows-server"}]}),
            "body.definition.steps.1.command",
        ),
        (
            json!({"name": "x", "version": 1, "steps": [{"type": "telnet.exec", "target": "t", "command": "c"}]}),
            "body.definition.steps.0.type",
        ),
        (
            json!({"name": "x", "version": 1, "steps": [step(json!({"target": "no-such-target"}))]}),
            "body.definition.steps.0.target",
        ),
        (
            json!({"name": "x", "version": 1, "steps": [step(json!({"timeoutSec": 0}))]}),
            "body.definition.steps.0.timeoutSec",
        ),
        (
            json!({"name": "x", "version": 1, "parameters": {"pw": {"type": "secret", "credential": "nope"}}, "steps": [step(json!({}))]}),
            "body.definition.parameters.pw.credential",
        ),
        (
            json!({"name": "x", "version": 1, "steps": []}),
            "body.definition.steps",
        ),
        (
            json!({"version": 1, "steps": [step(json!({}))]}),
            "body.definition.name",
        ),
    ];
    for (definition, loc) in cases {
        let (status, body) = json_of(
            app.post(
                "/jobs",
                &admin,
                json!({"name": "bad", "definition": definition.clone()}),
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{definition}");
        assert!(
            error_locs(&body).contains(&loc.to_string()),
            "{loc} in {body}"
        );
    }
    let (status, body) = json_of(
        app.post(
            "/jobs",
            &admin,
            json!({"name": "bad", "version": 0, "definition": seed_definition()}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.version"]);
    let (_, list) = json_of(app.get("/jobs?active_only=false", &admin).await).await;
    assert_eq!(list["total"], 0, "nothing saved");
}

async fn job_names_are_unique_and_only_operators_write(b: Backend) {
    let (app, admin) = setup(b).await;
    let (_, viewer) = app.user_with_role(&admin, "viv", "viewer").await;
    let (_, operator) = app.user_with_role(&admin, "ozzy", "operator").await;
    let body = json!({"name": "j", "definition": seed_definition()});
    assert_eq!(
        app.post("/jobs", &viewer, body.clone()).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/jobs", &operator, body.clone()).await.status(),
        StatusCode::CREATED
    );
    let (status, err) = json_of(app.post("/jobs", &admin, body).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["detail"], "Job with this name already exists");
    assert_eq!(app.get("/jobs", &viewer).await.status(), StatusCode::OK);
}

async fn updates_keep_every_revision_of_the_definition(b: Backend) {
    let (app, admin) = setup(b).await;
    let (_, job) = json_of(
        app.post(
            "/jobs",
            &admin,
            json!({"name": "rev", "definition": seed_definition()}),
        )
        .await,
    )
    .await;
    let id = job["id"].as_i64().expect("id");
    let mut second = seed_definition();
    second["steps"][0]["timeoutSec"] = json!(120);
    let (status, updated) = json_of(
        app.put(
            &format!("/jobs/{id}"),
            &admin,
            json!({"definition": second.clone(), "version": 2}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["revision"], 2);
    assert_eq!(updated["version"], 2);
    // The same definition again is no new revision; a rename is none either.
    let (_, same) = json_of(
        app.put(
            &format!("/jobs/{id}"),
            &admin,
            json!({"definition": second.clone(), "name": "rev2"}),
        )
        .await,
    )
    .await;
    assert_eq!(same["revision"], 2);
    assert_eq!(same["name"], "rev2");
    let (status, versions) = json_of(app.get(&format!("/jobs/{id}/versions"), &admin).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(versions["total"], 2);
    assert_eq!(versions["versions"][0]["revision"], 2);
    let (_, first) = json_of(app.get(&format!("/jobs/{id}/versions/1"), &admin).await).await;
    assert_eq!(first["definition"], seed_definition());
    assert_eq!(
        app.get(&format!("/jobs/{id}/versions/9"), &admin)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/jobs/9999/versions", &admin).await.status(),
        StatusCode::NOT_FOUND
    );
    let mut bad = second.clone();
    bad["steps"][0]["shell"] = json!("bash");
    let (status, body) = json_of(
        app.put(&format!("/jobs/{id}"), &admin, json!({"definition": bad}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        error_locs(&body).contains(&"body.definition.steps.0.shell".to_string()),
        "{body}"
    );
    let (_, unchanged) = json_of(app.get(&format!("/jobs/{id}"), &admin).await).await;
    assert_eq!(
        unchanged["revision"], 2,
        "a rejected update changes nothing"
    );
    let (status, body) = json_of(app.delete(&format!("/jobs/{id}"), &admin).await).await;
    assert_eq!(
        (status, body),
        (
            StatusCode::OK,
            json!({"message": "Job deleted successfully"})
        )
    );
    assert_eq!(
        app.delete(&format!("/jobs/{id}"), &admin).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn inactive_jobs_are_hidden_unless_asked_for(b: Backend) {
    let (app, admin) = setup(b).await;
    app.post(
        "/jobs",
        &admin,
        json!({"name": "on", "definition": seed_definition()}),
    )
    .await;
    app.post(
        "/jobs",
        &admin,
        json!({"name": "off", "definition": seed_definition(), "is_active": false}),
    )
    .await;
    let (_, active) = json_of(app.get("/jobs", &admin).await).await;
    assert_eq!(active["total"], 1);
    assert_eq!(active["jobs"][0]["name"], "on");
    let (_, all) = json_of(app.get("/jobs?active_only=false", &admin).await).await;
    assert_eq!(all["total"], 2);
    let (status, _) = json_of(app.get("/jobs?active_only=maybe", &admin).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn a_user_who_created_jobs_cannot_be_deleted(b: Backend) {
    let (app, admin) = setup(b).await;
    let (id, operator) = app.user_with_role(&admin, "author", "operator").await;
    app.post(
        "/jobs",
        &operator,
        json!({"name": "theirs", "definition": seed_definition()}),
    )
    .await;
    let (status, body) = json_of(app.delete(&format!("/users/{id}"), &admin).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}
