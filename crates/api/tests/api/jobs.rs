//! Contract §6 (jobs) with kept versions and definitions validated on save.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    a_job_is_created_from_the_contract_seed_example,
    definition_errors_name_the_step_index_and_field,
    job_names_are_unique_and_only_operators_write,
    updates_keep_every_revision_of_the_definition,
    a_stale_base_revision_is_a_conflict_not_a_silent_overwrite,
    inactive_jobs_are_hidden_unless_asked_for,
    a_user_who_created_jobs_cannot_be_deleted,
    plan_resolves_parameters_and_targets_and_renders_without_running,
    plan_refuses_what_would_fail_before_running,
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

async fn a_stale_base_revision_is_a_conflict_not_a_silent_overwrite(b: Backend) {
    let (app, admin) = setup(b).await;
    let (status, created) = json_of(
        app.post(
            "/jobs",
            &admin,
            json!({"name": "seed", "definition": seed_definition()}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_i64().expect("id");
    let mut edited = seed_definition();
    edited["steps"][0]["timeoutSec"] = json!(30);
    // Two editors opened revision 1; the first saves.
    let (status, first) = json_of(
        app.put(
            &format!("/jobs/{id}"),
            &admin,
            json!({"definition": edited, "base_revision": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(first["revision"], 2);
    // The second is refused, saying why, and nothing changes.
    edited["steps"][0]["timeoutSec"] = json!(45);
    let (status, second) = json_of(
        app.put(
            &format!("/jobs/{id}"),
            &admin,
            json!({"definition": edited, "base_revision": 1, "is_active": false}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{second}");
    let detail = second["detail"].as_str().expect("detail");
    assert!(
        detail.contains("now revision 2") && detail.contains("revision 1"),
        "{detail}"
    );
    let (_, now) = json_of(app.get(&format!("/jobs/{id}"), &admin).await).await;
    assert_eq!(now["revision"], 2);
    assert_eq!(now["is_active"], true);
    assert_eq!(now["definition"]["steps"][0]["timeoutSec"], 30);
    // A bad base revision is a 422 on that field; an unknown job stays a 404.
    let (status, bad) = json_of(
        app.put(
            &format!("/jobs/{id}"),
            &admin,
            json!({"is_active": false, "base_revision": "two"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
    assert!(bad.to_string().contains("base_revision"), "{bad}");
    let (status, _) = json_of(
        app.put(
            "/jobs/9999",
            &admin,
            json!({"is_active": false, "base_revision": 1}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
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

async fn planned_job(app: &TestApp, admin: &str) -> i64 {
    let cred = credential(
        app,
        admin,
        "ssh-cred",
        "ssh",
        json!({"username": "root", "password": "pw"}),
    )
    .await;
    for (name, tags) in [
        ("web-1", json!(["role:web"])),
        ("web-2", json!(["role:web"])),
        ("db-1", json!(["role:db"])),
    ] {
        target(app, admin, json!({"name": name, "hostname": format!("{name}.example.com"), "protocol": "ssh", "credential_ref": cred, "tags": tags})).await;
    }
    let definition = json!({"name": "deploy", "version": 1,
    "parameters": {"svc": "Spooler", "count": {"type": "number", "default": 3},
                   "pw": {"type": "secret", "credential": "ssh-cred"}},
    "steps": [
        {"type": "ssh.exec", "name": "restart", "target": "tag:role:web",
         "command": "systemctl restart {{ svc }} --count {{ count }} --token {{ pw }}"},
        {"type": "ssh.exec", "target": ["db-1"], "command": "echo {{ svc }}", "continueOnError": true},
        {"type": "http.request", "url": "https://status.example.com/{{ svc }}", "expectedStatus": 204}
    ]});
    let (status, job) = json_of(
        app.post(
            "/jobs",
            admin,
            json!({"name": "deploy", "definition": definition}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{job}");
    job["id"].as_i64().expect("id")
}

async fn plan_resolves_parameters_and_targets_and_renders_without_running(b: Backend) {
    let (app, admin) = setup(b).await;
    let id = planned_job(&app, &admin).await;
    let (status, plan) = json_of(
        app.post(
            &format!("/jobs/{id}/plan"),
            &admin,
            json!({"parameters": {"svc": "nginx"}}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{plan}");
    assert_eq!(
        plan["parameters"],
        json!({"svc": "nginx", "count": 3}),
        "run values overlay defaults; no secret"
    );
    assert_eq!(
        plan["secrets"],
        json!([{"name": "pw", "credential": "ssh-cred", "field": null}])
    );
    let step0 = &plan["steps"][0];
    assert_eq!(step0["type"], "ssh.exec");
    assert_eq!(
        step0["rendered"]["command"],
        "systemctl restart nginx --count 3 --token ********"
    );
    let names: Vec<&str> = step0["targets"]
        .as_array()
        .expect("targets")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, vec!["web-2", "web-1"]);
    assert_eq!(plan["steps"][1]["targets"][0]["name"], "db-1");
    assert_eq!(plan["steps"][1]["continue_on_error"], true);
    assert_eq!(
        plan["steps"][2]["rendered"]["url"],
        "https://status.example.com/nginx"
    );
    assert_eq!(plan["steps"][2]["targets"], json!([]));
    // Defaults alone, and an empty body, plan too.
    let resp = app
        .client
        .post(app.url(&format!("/jobs/{id}/plan")))
        .bearer_auth(&admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let plan: Value = resp.json().await.expect("json");
    assert_eq!(plan["steps"][1]["rendered"]["command"], "echo Spooler");
}

async fn plan_refuses_what_would_fail_before_running(b: Backend) {
    let (app, admin) = setup(b).await;
    let id = planned_job(&app, &admin).await;
    let path = format!("/jobs/{id}/plan");
    let (status, body) = json_of(app.post(&path, &admin, json!({"count": "many"})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("count")),
        "{body}"
    );
    let (status, body) = json_of(app.post(&path, &admin, json!({"pw": "smuggled"})).await).await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "secrets come from the vault: {body}"
    );
    let bad = json!({"name": "bad", "version": 1, "steps": [
        {"type": "ssh.exec", "target": "sample-windows-server", "command": "echo {{ nowhere }}"}]});
    let (_, job) = json_of(
        app.post("/jobs", &admin, json!({"name": "bad", "definition": bad}))
            .await,
    )
    .await;
    let (status, body) = json_of(
        app.post(&format!("/jobs/{}/plan", job["id"]), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let detail = body["detail"].as_str().unwrap_or("");
    assert!(detail.contains("unknown parameter 'nowhere'"), "{detail}");
    assert!(detail.contains("protocol is winrm"), "{detail}");
    let (_, viewer) = app.user_with_role(&admin, "vee", "viewer").await;
    assert_eq!(
        app.post(&path, &viewer, json!({})).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post("/jobs/9999/plan", &admin, json!({}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    let (status, _) = json_of(app.post(&path, &admin, json!([1, 2])).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}
