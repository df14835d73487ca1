//! Runs through the API: creation checks, idempotency keys, HTTP steps, the live stream's
//! resume, the executor's status, and the sweeper failing a dead worker's run.

use std::time::Duration;

use opsconductor_core::config::TlsMode;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::run_helpers::*;

both_backends!(
    run_creation_refuses_what_would_fail_before_running,
    an_idempotency_key_used_twice_returns_the_same_run,
    http_steps_call_their_url_and_check_the_status,
    the_event_stream_resumes_without_gaps_or_duplicates,
    live_viewers_are_woken_by_each_write_not_by_their_poll,
    the_executor_reports_its_worker_and_queue,
    a_run_whose_worker_died_is_failed_by_the_sweeper,
);

fn http_job(url: &str) -> Value {
    json!({"name": "ping", "version": 1, "parameters": {"path": "/health"},
        "steps": [{"type": "http.request", "method": "GET", "url": format!("{url}{{{{ path }}}}"), "expectedStatus": [200]}]})
}

async fn run_creation_refuses_what_would_fail_before_running(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_with_role(&admin, "viewer1", "viewer").await;
    let job_id = job(
        &app,
        &admin,
        "typed",
        json!({"name": "typed", "version": 1,
            "parameters": {"env": {"type": "enum", "enum": ["dev", "prod"], "required": true}},
            "steps": [{"type": "http.request", "method": "GET", "url": "http://127.0.0.1:9/{{ env }}"}]}),
    )
    .await;
    let run_path = format!("/jobs/{job_id}/run");
    let post = |body: Value| app.post(&run_path, &admin, body);
    let (status, body) = json_of(post(json!({})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("env")),
        "{body}"
    );
    let (status, _) = json_of(post(json!({"parameters": {"env": "staging"}})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, body) =
        json_of(post(json!({"parameters": {"env": "dev", "extra": 1}})).await).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = json_of(post(json!([1, 2])).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = json_of(post(json!({"env": "dev", "idempotency_key": 5})).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Viewers watch, they do not run.
    let resp = app
        .post(
            &format!("/jobs/{job_id}/run"),
            &viewer,
            json!({"env": "dev"}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = app.post("/jobs/424242/run", &admin, json!({})).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app.post("/jobs/abc/run", &admin, json!({})).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Inactive jobs do not run; a job with runs cannot be deleted.
    let resp = app
        .put(
            &format!("/jobs/{job_id}"),
            &admin,
            json!({"is_active": false}),
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = json_of(post(json!({"env": "dev"})).await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["detail"], "Job is not active");
    let (status, body) = json_of(app.delete(&format!("/jobs/{job_id}"), &admin).await).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(
        body["detail"],
        "Cannot delete job: it has execution history"
    );
    // A selector that matches nothing is refused rather than queued to do nothing.
    let empty = job(
        &app,
        &admin,
        "nobody",
        json!({"name": "nobody", "version": 1, "steps": [{"type": "ssh.exec", "target": "tag:role:none", "command": "true"}]}),
    )
    .await;
    let (status, body) = json_of(
        app.post(&format!("/jobs/{empty}/run"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("matches no target")),
        "{body}"
    );
    // Bad list filters are 422s that name the parameter.
    let (status, body) = json_of(app.get("/runs?status=done", &admin).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["query.status"]);
    let (status, body) = json_of(app.get("/runs?since=yesterday", &admin).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error_locs(&body), vec!["query.since"]);
    let (status, _) = json_of(app.get("/runs/1/log?limit=0", &admin).await).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, all) = json_of(app.get("/runs?since=2020-01-01T00:00:00Z", &viewer).await).await;
    assert_eq!(all["total"], 1);
    // The run was audited.
    let (_, audit) = json_of(app.get("/audit?action=job.run", &admin).await).await;
    assert!(audit["total"].as_i64().is_some_and(|n| n >= 1), "{audit}");
}

async fn an_idempotency_key_used_twice_returns_the_same_run(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let job_id = job(&app, &admin, "once", http_job("http://127.0.0.1:9")).await;
    let first = start(
        &app,
        &admin,
        job_id,
        json!({"parameters": {"path": "/a"}, "idempotency_key": "deploy-42"}),
    )
    .await;
    let (status, again) = json_of(
        app.post(
            &format!("/jobs/{job_id}/run"),
            &admin,
            json!({"parameters": {"path": "/a"}, "idempotency_key": "deploy-42"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["id"], first["id"]);
    assert_eq!(again["idempotency_key"], "deploy-42");
    // The header works the same way.
    let resp = app
        .client
        .post(app.url(&format!("/jobs/{job_id}/run")))
        .bearer_auth(&admin)
        .header("Idempotency-Key", "deploy-42")
        .json(&json!({"parameters": {"path": "/a"}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, body) = json_of(
        app.post(
            &format!("/jobs/{job_id}/run"),
            &admin,
            json!({"parameters": {"path": "/b"}, "idempotency_key": "deploy-42"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (_, list) = json_of(app.get(&format!("/runs?job_id={job_id}"), &admin).await).await;
    assert_eq!(list["total"], 1);
    // Without a key every request queues a run.
    start(&app, &admin, job_id, json!({})).await;
    let (_, list) = json_of(app.get(&format!("/runs?job_id={job_id}"), &admin).await).await;
    assert_eq!(list["total"], 2);
}

async fn http_steps_call_their_url_and_check_the_status(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.tls.mode = TlsMode::Off).await;
    let admin = app.admin_token().await;
    let job_id = job(&app, &admin, "ping", http_job(&app.base)).await;
    let run = start(&app, &admin, job_id, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows.len(), 1);
    assert!(rows[0]["target_id"].is_null());
    assert_eq!(rows[0]["stdout"], "healthy\n");
    assert_eq!(rows[0]["metrics"]["status"], 200);
    let chunks = full_log(&app, &admin, run_id).await;
    assert!(
        text_of(&chunks, "system").contains("answered HTTP 200"),
        "{chunks:?}"
    );
    // A status outside expectedStatus fails the step.
    let run = start(&app, &admin, job_id, json!({"path": "/no-such-page"})).await;
    let run = finish(&app, &admin, run["id"].as_i64().expect("id")).await;
    assert_eq!(run["status"], "failed");
    let rows = steps(&app, &admin, run["id"].as_i64().expect("id")).await;
    assert_eq!(rows[0]["error"], "unexpected HTTP status 404");
    // With HTTP targets, a path is sent to each target, with its credential's token as bearer.
    let port = app
        .base
        .rsplit(':')
        .next()
        .expect("port")
        .parse::<i64>()
        .expect("port number");
    let api_cred = credential(
        &app,
        &admin,
        "api-key",
        "api_key",
        json!({"api_key": "k-1234567"}),
    )
    .await;
    target(
        &app,
        &admin,
        json!({"name": "self", "hostname": "127.0.0.1", "protocol": "http", "port": port,
        "credential_ref": api_cred, "metadata": {"http_scheme": "http"}}),
    )
    .await;
    let relative = job(
        &app,
        &admin,
        "relative",
        json!({"name": "relative", "version": 1,
        "steps": [{"type": "http.request", "method": "GET", "url": "/health", "target": "self"}]}),
    )
    .await;
    let run = start(&app, &admin, relative, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    assert_eq!(finish(&app, &admin, run_id).await["status"], "succeeded");
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["target_name"], "self");
    assert_eq!(
        rows[0]["metrics"]["url"],
        format!("{}/health", app.base.replace("localhost", "127.0.0.1"))
    );
    // A secret rendered into the URL is masked in what the run keeps about the call.
    let token = "tok-9f8e7d6c5b";
    credential(&app, &admin, "api-token", "token", json!({"token": token})).await;
    let secret_job = job(
        &app,
        &admin,
        "with-token",
        json!({"name": "with-token", "version": 1, "parameters": {"tok": {"type": "secret", "credential": "api-token"}},
            "steps": [{"type": "http.request", "method": "GET", "url": format!("{}/health?token={{{{ tok }}}}", app.base)}]}),
    )
    .await;
    let run = start(&app, &admin, secret_job, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let rows = steps(&app, &admin, run_id).await;
    let url = rows[0]["metrics"]["url"].as_str().expect("url");
    assert!(url.ends_with("/health?token=********"), "{url}");
    let everything = format!("{rows:?}{:?}", full_log(&app, &admin, run_id).await);
    assert!(!everything.contains(token), "{everything}");
}

/// The viewer's safety-net poll is set to two minutes, so events arriving within seconds prove
/// the wake-up path: in-process on the executing node (SQLite), and on PostgreSQL a viewer on a
/// second, API-only node woken through NOTIFY.
async fn live_viewers_are_woken_by_each_write_not_by_their_poll(b: Backend) {
    let slow_poll = |c: &mut opsconductor_core::config::Config| {
        c.tls.mode = TlsMode::Off;
        c.http.live_poll_ms = 120_000;
    };
    let app = TestApp::spawn_with(b, slow_poll).await;
    let viewer_node = match b {
        Backend::Sqlite => None,
        Backend::Postgres => {
            let shared = app.config.database_url.clone();
            let key = app.data_dir.join("master.key");
            Some(
                TestApp::spawn_with(b, move |c| {
                    slow_poll(c);
                    c.database_url = shared;
                    c.master_key_file = Some(key);
                    c.roles = "api".into();
                })
                .await,
            )
        }
    };
    let viewer_app = viewer_node.as_ref().unwrap_or(&app);
    let admin = app.admin_token().await;
    let viewer_token = viewer_app.admin_token().await;
    // An HTTP server that accepts and never answers keeps the run's step running.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let _hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let job_id = job(
        &app,
        &admin,
        "hangs",
        json!({"name": "hangs", "version": 1, "steps": [{"type": "http.request", "method": "GET",
            "url": format!("http://127.0.0.1:{port}/never"), "timeoutSec": 300}]}),
    )
    .await;
    let run_id = start(&app, &admin, job_id, json!({})).await["id"]
        .as_i64()
        .expect("id");
    let head = read_events_until(&app, &admin, run_id, None, |e| e.event == "step").await;
    let last_seen = head.last().expect("events").id;
    // The viewer's stream is open (its headers arrived) before the run changes again.
    let viewer = viewer_app
        .client
        .get(viewer_app.url(&format!("/runs/{run_id}/events")))
        .bearer_auth(&viewer_token)
        .header("Last-Event-ID", last_seen.to_string())
        .send()
        .await
        .expect("viewer stream");
    assert_eq!(viewer.status(), StatusCode::OK);
    let (status, body) = json_of(
        app.post(&format!("/runs/{run_id}/cancel"), &admin, json!({}))
            .await,
    )
    .await;
    assert!(status.is_success(), "{body}");
    let text = tokio::time::timeout(Duration::from_secs(20), viewer.text())
        .await
        .expect("the viewer saw the run end within seconds, long before its 2-minute poll")
        .expect("stream body");
    assert!(text.contains("\"canceled\""), "{text}");
}

async fn the_event_stream_resumes_without_gaps_or_duplicates(b: Backend) {
    let app = TestApp::spawn_with(b, |c| c.tls.mode = TlsMode::Off).await;
    let admin = app.admin_token().await;
    let job_id = job(
        &app,
        &admin,
        "steps",
        json!({"name": "steps", "version": 1, "steps": (0..8).map(|i| json!(
            {"type": "http.request", "method": "GET", "url": format!("{}/health", app.base), "name": format!("s{i}")}
        )).collect::<Vec<_>>()}),
    )
    .await;
    let run = start(&app, &admin, job_id, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let head = read_events(&app, &admin, run_id, None, Some(5)).await;
    assert_eq!(head.len(), 5);
    let resume_from = head.last().expect("events").id;
    let tail = read_events(&app, &admin, run_id, Some(resume_from), None).await;
    let ids: Vec<i64> = head.iter().chain(tail.iter()).map(|e| e.id).collect();
    let expected: Vec<i64> = (1..=ids.len() as i64).collect();
    assert_eq!(ids, expected, "ids are consecutive from 1, each once");
    assert_eq!(head[0].event, "status");
    assert_eq!(head[0].data["data"]["status"], "queued");
    let last = tail.last().expect("final event");
    assert_eq!(last.data["data"]["status"], "succeeded");
    let stdout: Vec<_> = head
        .iter()
        .chain(tail.iter())
        .filter(|e| e.data["stream"] == "stdout")
        .collect();
    assert_eq!(stdout.len(), 8);
    // A stream opened after the end replays everything and ends; `after` works like the header.
    let replay = read_events(&app, &admin, run_id, None, None).await;
    assert_eq!(replay.len(), ids.len());
    let resp = app
        .get(
            &format!("/runs/{run_id}/events?after={}", ids.len() - 1),
            &admin,
        )
        .await;
    let text = resp.text().await.expect("body");
    assert_eq!(text.matches("id:").count(), 1, "{text}");
    // Bad resume ids and unknown runs are client errors.
    let resp = app
        .client
        .get(app.url(&format!("/runs/{run_id}/events")))
        .bearer_auth(&admin)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = app.get("/runs/999999/events", &admin).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = app
        .call(
            reqwest::Method::GET,
            &format!("/runs/{run_id}/events"),
            None,
            None,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

async fn the_executor_reports_its_worker_and_queue(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let resp = app
        .call(reqwest::Method::GET, "/executor/status", None, None)
        .await;
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = json_of(app.get("/executor/status", &admin).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["worker_enabled"], true);
    assert_eq!(body["worker_running"], true, "{body}");
    for key in [
        "queued_steps",
        "running_steps",
        "succeeded_steps",
        "failed_steps",
    ] {
        assert!(body["queue_stats"][key].is_i64(), "{body}");
    }
    let (status, health) = json_of(
        app.call(reqwest::Method::GET, "/executor/health", None, None)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["worker_running"], true);
    // A node without the worker role says so.
    let api_only = TestApp::spawn_with(b, |c| c.roles = "api".into()).await;
    let token = api_only.admin_token().await;
    let (_, body) = json_of(api_only.get("/executor/status", &token).await).await;
    assert_eq!(body["worker_enabled"], false);
    assert_eq!(body["worker_running"], false);
}

async fn a_run_whose_worker_died_is_failed_by_the_sweeper(b: Backend) {
    // An API-only node queues the run; a worker that then "dies" holds it.
    let app = TestApp::spawn_with(b, |c| c.roles = "api".into()).await;
    let admin = app.admin_token().await;
    let job_id = job(&app, &admin, "orphan", http_job("http://127.0.0.1:9")).await;
    let run = start(&app, &admin, job_id, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let ghost = "ghost-host:4242:deadbeef";
    let claimed = opsconductor_store::runs::claim(&app.db, ghost)
        .await
        .expect("claim")
        .expect("a queued run");
    assert_eq!(claimed.id, run_id);
    // A live worker node with a short lease sweeps it.
    let mut config = app.config.clone();
    config.engine.heartbeat_interval_ms = 200;
    config.engine.lease_timeout_secs = 1;
    let core = opsconductor_core::Core::open(config).await.expect("core");
    let engine = opsconductor_engine::start(core);
    let run = tokio::time::timeout(Duration::from_secs(30), finish(&app, &admin, run_id))
        .await
        .expect("the sweeper ends the run");
    engine.shutdown().await;
    assert_eq!(run["status"], "failed");
    let error = run["error"].as_str().expect("error");
    assert!(
        error.contains(ghost) && error.contains("stopped renewing its lease"),
        "{error}"
    );
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["status"], "aborted");
}
