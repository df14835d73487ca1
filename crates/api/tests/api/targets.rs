//! Contract §5: the inventory, its filters, bulk import and dependencies.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    targets_say_when_certificate_validation_is_off,
    targets_get_per_protocol_port_defaults_and_the_contract_shape,
    target_inputs_are_validated_field_by_field,
    credential_references_must_exist,
    dependencies_must_exist_and_never_form_a_cycle,
    listing_filters_by_tags_protocol_and_text,
    json_import_creates_all_or_none_and_reports_every_bad_row,
    csv_import_accepts_credential_names_and_reports_bad_rows,
    update_delete_and_delete_by_name,
    viewers_read_but_do_not_change_targets,
    imports_may_exceed_the_general_body_limit_up_to_their_own,
);

async fn setup(b: Backend) -> (TestApp, String, i64) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let cred = credential(
        &app,
        &admin,
        "cred",
        "ssh",
        json!({"username": "root", "password": "pw"}),
    )
    .await;
    (app, admin, cred)
}

async fn targets_get_per_protocol_port_defaults_and_the_contract_shape(b: Backend) {
    let (app, admin, cred) = setup(b).await;
    let cases = [
        (
            json!({"name": "w1", "hostname": "w1.example.com", "credential_ref": cred}),
            "winrm",
            5985,
        ),
        (
            json!({"name": "w2", "hostname": "w2.example.com", "credential_ref": cred, "metadata": {"winrm_use_https": true}}),
            "winrm",
            5986,
        ),
        (
            json!({"name": "s1", "hostname": "10.0.0.5", "protocol": "ssh", "credential_ref": cred}),
            "ssh",
            22,
        ),
        (
            json!({"name": "h1", "hostname": "api.example.com", "protocol": "http", "credential_ref": cred}),
            "http",
            443,
        ),
        (
            json!({"name": "s2", "hostname": "s2", "protocol": "ssh", "port": 2222, "credential_ref": cred}),
            "ssh",
            2222,
        ),
    ];
    for (body, protocol, port) in cases {
        let created = target(&app, &admin, body).await;
        assert_eq!(created["protocol"], protocol);
        assert_eq!(created["port"], port);
    }
    let resp = app
        .post(
            "/targets",
            &admin,
            json!({"name": "shape", "hostname": "h", "protocol": "ssh", "credential_ref": cred,
            "tags": ["env:prod", " role : web ", "env:prod"], "metadata": {"domain": "CORP"}}),
        )
        .await;
    let text = resp.text().await.expect("body");
    assert!(text.starts_with(r#"{"id":"#), "{text}");
    let t: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        t["tags"],
        json!(["env:prod", "role:web"]),
        "trimmed and deduplicated"
    );
    assert_eq!(t["metadata"], json!({"domain": "CORP"}));
    assert_eq!(t["depends_on"], json!([]));
    assert_eq!(t["credential_ref"], cred);
    assert!(t["host_key_fingerprint"].is_null());
    let (status, got) = json_of(app.get(&format!("/targets/{}", t["id"]), &admin).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, t);
    let (status, dup) = json_of(
        app.post(
            "/targets",
            &admin,
            json!({"name": "shape", "hostname": "h", "credential_ref": cred}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(dup["detail"], "Target with this name already exists");
}

async fn target_inputs_are_validated_field_by_field(b: Backend) {
    let (app, admin, cred) = setup(b).await;
    let cases = [
        (
            json!({}),
            vec!["body.credential_ref", "body.hostname", "body.name"],
        ),
        (
            json!({"name": "x", "hostname": "bad host", "credential_ref": cred}),
            vec!["body.hostname"],
        ),
        (
            json!({"name": "x", "hostname": "h", "protocol": "telnet", "credential_ref": cred}),
            vec!["body.protocol"],
        ),
        (
            json!({"name": "x", "hostname": "h", "port": 70000, "credential_ref": cred}),
            vec!["body.port"],
        ),
        (
            json!({"name": "x", "hostname": "h", "port": 0, "credential_ref": cred}),
            vec!["body.port"],
        ),
        (
            json!({"name": "x", "hostname": "h", "tags": ["novalue"], "credential_ref": cred}),
            vec!["body.tags"],
        ),
        (
            json!({"name": "x", "hostname": "h", "metadata": [1], "credential_ref": cred}),
            vec!["body.metadata"],
        ),
        (
            json!({"name": "x", "hostname": "h", "metadata": {"winrm_use_https": "yes"}, "credential_ref": cred}),
            vec!["body.metadata"],
        ),
        (
            json!({"name": "tag:role:web", "hostname": "h", "credential_ref": cred}),
            vec!["body.name"],
        ),
        (
            json!({"name": "x", "hostname": "h", "credential_ref": "one"}),
            vec!["body.credential_ref"],
        ),
        (
            json!({"name": "x", "hostname": "h", "credential_ref": cred, "colour": "red"}),
            vec!["body.colour"],
        ),
    ];
    for (body, locs) in cases {
        let (status, err) = json_of(app.post("/targets", &admin, body.clone()).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let mut got = error_locs(&err);
        got.sort();
        assert_eq!(got, locs, "{body}: {err}");
    }
    let (_, list) = json_of(app.get("/targets", &admin).await).await;
    assert_eq!(list["total"], 0, "nothing half-created");
}

async fn credential_references_must_exist(b: Backend) {
    let (app, admin, cred) = setup(b).await;
    let (status, body) = json_of(
        app.post(
            "/targets",
            &admin,
            json!({"name": "x", "hostname": "h", "credential_ref": 9999}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"], "Invalid credential reference");
    let t = target(
        &app,
        &admin,
        json!({"name": "x", "hostname": "h", "credential_ref": cred}),
    )
    .await;
    let (status, _) = json_of(
        app.put(
            &format!("/targets/{}", t["id"]),
            &admin,
            json!({"credential_ref": 9999}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

async fn dependencies_must_exist_and_never_form_a_cycle(b: Backend) {
    let (app, admin, cred) = setup(b).await;
    let a = target(
        &app,
        &admin,
        json!({"name": "a", "hostname": "a", "credential_ref": cred}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let bb = target(
        &app,
        &admin,
        json!({"name": "b", "hostname": "b", "credential_ref": cred, "depends_on": [a]}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let c = target(
        &app,
        &admin,
        json!({"name": "c", "hostname": "c", "credential_ref": cred, "depends_on": [bb]}),
    )
    .await["id"]
        .as_i64()
        .expect("id");
    let (status, body) = json_of(
        app.post(
            "/targets",
            &admin,
            json!({"name": "d", "hostname": "d", "credential_ref": cred, "depends_on": [777]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.depends_on"]);
    let (status, body) = json_of(
        app.put(&format!("/targets/{a}"), &admin, json!({"depends_on": [c]}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let msg = body["detail"][0]["msg"].as_str().unwrap_or("").to_string();
    assert!(msg.contains(&format!("{a} -> {c} -> {bb} -> {a}")), "{msg}");
    let (status, _) = json_of(
        app.put(&format!("/targets/{a}"), &admin, json!({"depends_on": [a]}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, body) = json_of(app.delete(&format!("/targets/{a}"), &admin).await).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(
        app.delete(&format!("/targets/{c}"), &admin).await.status(),
        StatusCode::OK
    );
}

async fn names(app: &TestApp, token: &str, query: &str) -> (Vec<String>, i64) {
    let (status, body) = json_of(app.get(&format!("/targets{query}"), token).await).await;
    assert_eq!(status, StatusCode::OK, "{query}: {body}");
    let names = body["targets"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|t| t["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    (names, body["total"].as_i64().unwrap_or(-1))
}

async fn listing_filters_by_tags_protocol_and_text(b: Backend) {
    let (app, admin, cred) = setup(b).await;
    for (name, host, protocol, tags) in [
        (
            "web-1",
            "web1.prod.example.com",
            "ssh",
            vec!["env:prod", "role:web"],
        ),
        (
            "web-2",
            "web2.stage.example.com",
            "ssh",
            vec!["env:stage", "role:web"],
        ),
        (
            "db-1",
            "db1.prod.example.com",
            "winrm",
            vec!["env:prod", "role:db"],
        ),
        ("api_50%", "api.example.com", "http", vec!["env:prod"]),
    ] {
        target(&app, &admin, json!({"name": name, "hostname": host, "protocol": protocol, "credential_ref": cred, "tags": tags})).await;
    }
    assert_eq!(
        names(&app, &admin, "").await,
        (
            vec![
                "api_50%".into(),
                "db-1".into(),
                "web-2".into(),
                "web-1".into()
            ],
            4
        )
    );
    assert_eq!(names(&app, &admin, "?tag=env:prod").await.1, 3);
    assert_eq!(
        names(&app, &admin, "?tag=env:prod&tag=role:web").await,
        (vec!["web-1".into()], 1)
    );
    assert_eq!(
        names(&app, &admin, "?tag=role:web&protocol=ssh&limit=1").await,
        (vec!["web-2".into()], 2)
    );
    assert_eq!(
        names(&app, &admin, "?protocol=winrm").await,
        (vec!["db-1".into()], 1)
    );
    assert_eq!(
        names(&app, &admin, "?q=PROD").await.1,
        2,
        "case-insensitive, hostname too"
    );
    assert_eq!(names(&app, &admin, "?q=web-").await.1, 2);
    assert_eq!(
        names(&app, &admin, "?q=50%25").await,
        (vec!["api_50%".into()], 1),
        "% is literal"
    );
    assert_eq!(names(&app, &admin, "?q=_").await.1, 1, "_ is literal");
    assert_eq!(names(&app, &admin, "?tag=env:none").await, (vec![], 0));
    assert_eq!(
        names(&app, &admin, "?skip=10&tag=env:prod").await,
        (vec![], 3)
    );
    for bad in ["?protocol=telnet", "?tag=novalue", "?limit=-1", "?skip=x"] {
        let (status, body) = json_of(app.get(&format!("/targets{bad}"), &admin).await).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["detail"][0]["loc"][0], "query");
    }
}

async fn json_import_creates_all_or_none_and_reports_every_bad_row(b: Backend) {
    let (app, admin, cred) = setup(b).await;
    target(
        &app,
        &admin,
        json!({"name": "exists", "hostname": "e", "credential_ref": cred}),
    )
    .await;
    let bad = json!([
        {"name": "ok-1", "hostname": "h1", "protocol": "ssh", "credential_ref": cred},
        {"name": "exists", "hostname": "h2", "credential_ref": cred},
        {"name": "ok-3", "hostname": "bad host", "credential_ref": 4242},
        {"name": "ok-1", "hostname": "h4", "credential_ref": cred},
    ]);
    let (status, body) = json_of(app.post("/targets/import", &admin, bad).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let mut locs = error_locs(&body);
    locs.sort();
    assert_eq!(
        locs,
        vec!["body.1.name", "body.2.hostname", "body.3.name"],
        "{body}"
    );
    assert_eq!(names(&app, &admin, "").await.1, 1, "none created");
    let (status, body) = json_of(
        app.post(
            "/targets/import",
            &admin,
            json!([{"name": "x", "hostname": "h", "credential_ref": 4242}]),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["body.0.credential_ref"]);

    let rows: Vec<Value> = (0..25)
        .map(|i| json!({"name": format!("bulk-{i}"), "hostname": format!("10.1.0.{i}"), "protocol": "ssh", "credential_ref": cred, "tags": ["batch:1"]}))
        .collect();
    let (status, body) = json_of(
        app.post("/targets/import", &admin, json!({"targets": rows}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["created"], 25);
    assert_eq!(names(&app, &admin, "?tag=batch:1").await.1, 25);
    let (status, _) = json_of(app.post("/targets/import", &admin, json!([])).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = json_of(
        app.post("/targets/import", &admin, json!({"nope": 1}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

async fn post_csv(app: &TestApp, token: &str, csv: &str) -> (StatusCode, Value) {
    json_of(
        app.client
            .post(app.url("/targets/import"))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv.to_string())
            .send()
            .await
            .expect("sent"),
    )
    .await
}

async fn csv_import_accepts_credential_names_and_reports_bad_rows(b: Backend) {
    let (app, admin, cred) = setup(b).await;
    let csv = "name,hostname,protocol,port,credential,tags,metadata\n\
         c-web,web.example.com,ssh,,cred,env:prod;role:web,\n\
         c-win,win.example.com,winrm,5986,cred,env:prod,\"{\"\"winrm_use_https\"\": true}\"\n\
         c-id,id.example.com,http,8443,,,\n"
        .to_string();
    let (status, body) = post_csv(&app, &admin, &csv).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "row 2 lacks a credential: {body}"
    );
    assert_eq!(error_locs(&body), vec!["body.2.credential_ref"]);
    let csv = csv.replace(",8443,,,", ",8443,cred,,");
    let (status, body) = post_csv(&app, &admin, &csv).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["created"], 3);
    assert_eq!(body["targets"][0]["tags"], json!(["env:prod", "role:web"]));
    assert_eq!(body["targets"][0]["port"], 22);
    assert_eq!(body["targets"][1]["metadata"]["winrm_use_https"], true);
    assert_eq!(body["targets"][2]["credential_ref"], cred);
    for (csv, loc) in [
        ("name,hostname,colour\nx,h,red\n", "body.csv"),
        (
            "name,hostname,credential,port\nx,h,nope,22\n",
            "body.0.credential",
        ),
        (
            "name,hostname,credential,port\nx,h,cred,abc\n",
            "body.0.port",
        ),
    ] {
        let (status, body) = post_csv(&app, &admin, csv).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{csv}");
        assert_eq!(error_locs(&body), vec![loc], "{csv}: {body}");
    }
}

async fn update_delete_and_delete_by_name(b: Backend) {
    let (app, admin, cred) = setup(b).await;
    let t = target(&app, &admin, json!({"name": "u", "hostname": "h", "protocol": "ssh", "credential_ref": cred, "tags": ["a:b"]})).await;
    let id = t["id"].as_i64().expect("id");
    let (status, body) = json_of(
        app.put(
            &format!("/targets/{id}"),
            &admin,
            json!({"hostname": "h2", "tags": ["c:d"]}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hostname"], "h2");
    assert_eq!(body["name"], "u", "unchanged fields stay");
    assert_eq!(body["port"], 22);
    assert_eq!(
        names(&app, &admin, "?tag=a:b").await.1,
        0,
        "the tag index follows updates"
    );
    assert_eq!(names(&app, &admin, "?tag=c:d").await.1, 1);
    let (_, body) = json_of(
        app.put(
            &format!("/targets/{id}"),
            &admin,
            json!({"protocol": "http"}),
        )
        .await,
    )
    .await;
    assert_eq!(
        body["port"], 443,
        "a new protocol without a port takes its default"
    );
    assert_eq!(
        app.put("/targets/9999", &admin, json!({"hostname": "x"}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/targets/abc", &admin).await.status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, body) = json_of(app.delete("/targets/by-name/u", &admin).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"message": "Target deleted successfully"}));
    assert_eq!(
        app.delete("/targets/by-name/u", &admin).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.delete(&format!("/targets/{id}"), &admin).await.status(),
        StatusCode::NOT_FOUND
    );
}

async fn viewers_read_but_do_not_change_targets(b: Backend) {
    let (app, admin, cred) = setup(b).await;
    let (_, viewer) = app.user_with_role(&admin, "vince", "viewer").await;
    let t = target(
        &app,
        &admin,
        json!({"name": "v", "hostname": "h", "credential_ref": cred}),
    )
    .await;
    let id = t["id"].as_i64().expect("id");
    assert_eq!(app.get("/targets", &viewer).await.status(), StatusCode::OK);
    assert_eq!(
        app.get(&format!("/targets/{id}"), &viewer).await.status(),
        StatusCode::OK
    );
    for resp in [
        app.post(
            "/targets",
            &viewer,
            json!({"name": "n", "hostname": "h", "credential_ref": cred}),
        )
        .await,
        app.put(&format!("/targets/{id}"), &viewer, json!({"hostname": "x"}))
            .await,
        app.delete(&format!("/targets/{id}"), &viewer).await,
        app.post(&format!("/targets/{id}/test"), &viewer, json!({}))
            .await,
        app.post(&format!("/targets/{id}/host-key/reset"), &viewer, json!({}))
            .await,
        app.post("/targets/import", &viewer, json!([])).await,
    ] {
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
}

async fn imports_may_exceed_the_general_body_limit_up_to_their_own(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.http.body_limit_bytes = 16 * 1024).await;
    let admin = app.admin_token().await;
    let cred = credential(
        &app,
        &admin,
        "cred",
        "ssh",
        json!({"username": "root", "password": "pw"}),
    )
    .await;
    let rows: Vec<Value> = (0..300)
        .map(|i| json!({"name": format!("big-{i:04}"), "hostname": format!("host-{i:04}.example.com"), "protocol": "ssh",
            "credential_ref": cred, "tags": ["env:prod", "role:web", "dc:dc1"]}))
        .collect();
    let body = serde_json::to_vec(&rows).expect("json");
    assert!(body.len() > 16 * 1024, "larger than the general limit");
    let (status, created) = json_of(
        app.post("/targets/import", &admin, Value::Array(rows))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["created"], 300);
    let huge = "x".repeat(17 * 1024 * 1024);
    let (status, body) = json_of(
        app.post("/targets/import", &admin, json!([{"name": huge}]))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        body,
        json!({"detail": "Request body is too large"}),
        "JSON like every other error"
    );
}

async fn targets_say_when_certificate_validation_is_off(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let cred = credential(
        &app,
        &admin,
        "w",
        "winrm",
        json!({"username": "a", "password": "p"}),
    )
    .await;
    let strict = target(
        &app,
        &admin,
        json!({"name": "strict", "hostname": "w1", "credential_ref": cred}),
    )
    .await;
    assert_eq!(strict["warnings"], json!([]));
    let lax = target(
        &app,
        &admin,
        json!({"name": "lax", "hostname": "w2", "credential_ref": cred,
               "metadata": {"winrm_use_https": true, "winrm_validate_cert": false}}),
    )
    .await;
    let warnings = lax["warnings"].as_array().expect("warnings");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("winrm_validate_cert"))
    );
    let (_, listed) = json_of(app.get("/targets?q=lax", &admin).await).await;
    assert_eq!(listed["targets"][0]["warnings"], lax["warnings"]);
}
