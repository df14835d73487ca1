//! The engine against a real OpenSSH sshd: multi-step jobs, parameters, failures and abort,
//! continueOnError, timeouts with retries, cancel mid-command, fan-out, masking, rerun.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::run_helpers::*;
use crate::sshd::Sshd;

both_backends!(
    a_multi_step_job_runs_in_order_with_parameters_and_streams_its_output,
    a_failing_step_aborts_the_rest_unless_continue_on_error,
    a_step_that_outlives_its_timeout_is_killed_and_retried,
    cancel_stops_the_remote_command_and_aborts_the_rest,
    a_step_fans_out_to_fifty_targets,
    secrets_are_masked_everywhere_output_goes,
    rerun_only_failed_targets_runs_just_those,
    a_worker_shutting_down_hands_its_run_back_and_another_resumes_it,
);

async fn a_multi_step_job_runs_in_order_with_parameters_and_streams_its_output(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let sshd = Sshd::start();
    let target_id = ssh_target(&app, &admin, &sshd, "web1", &[]).await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("motd.txt");
    let job_id = job(
        &app,
        &admin,
        "deploy",
        json!({"name": "deploy", "version": 1,
            "parameters": {"who": "world", "count": {"type": "number", "default": 3}},
            "steps": [
                {"name": "greet", "type": "ssh.exec", "target": "web1",
                 "command": "echo hello {{ who }}; echo warn >&2; seq 1 {{ count }}"},
                {"name": "copy", "type": "ssh.copy", "target": "web1", "content": "motd for {{ who }}\n",
                 "destPath": path.to_str().expect("utf-8 path"), "mode": 416},
                {"name": "check", "type": "ssh.exec", "target": "web1",
                 "command": format!("cat {}; stat -c %a {}; echo \"$GREETING\"", path.display(), path.display()),
                 "env": {"GREETING": "hi {{ who }}"}}
            ]}),
    )
    .await;
    let run = start(&app, &admin, job_id, json!({"parameters": {"who": "ops"}})).await;
    assert_eq!(run["status"], "queued");
    assert_eq!(run["job_revision"], 1);
    let run_id = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());
    assert_eq!(run["parameters"], json!({"who": "ops"}));
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(row["idx"], i, "{row}");
        assert_eq!(row["status"], "succeeded", "{row}");
        assert_eq!(row["target_id"], target_id);
        assert_eq!(row["target_name"], "web1");
        assert_eq!(row["attempts"], 1);
    }
    assert_eq!(rows[0]["exit_code"], 0);
    assert_eq!(rows[0]["stdout"], "hello ops\n1\n2\n3\n");
    assert_eq!(rows[0]["stderr"], "warn\n");
    // Content is copied verbatim: placeholders apply to commands, paths, targets, URLs and bodies.
    assert_eq!(rows[2]["stdout"], "motd for {{ who }}\n640\nhi ops\n");
    assert_eq!(
        std::fs::read_to_string(&path).expect("copied file"),
        "motd for {{ who }}\n"
    );
    // The whole log by range, in order, with the engine's own lines marked as such.
    let chunks = full_log(&app, &admin, run_id).await;
    let seqs: Vec<i64> = chunks
        .iter()
        .map(|c| c["seq"].as_i64().expect("seq"))
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(
        text_of(&chunks, "stdout"),
        "hello ops\n1\n2\n3\nmotd for {{ who }}\n640\nhi ops\n"
    );
    assert!(text_of(&chunks, "system").contains("wrote 19 bytes to"));
    let (_, step1) = json_of(
        app.get(
            &format!("/runs/{run_id}/log?step=2&target={target_id}"),
            &admin,
        )
        .await,
    )
    .await;
    assert_eq!(
        text_of(step1["chunks"].as_array().expect("chunks"), "stdout"),
        "motd for {{ who }}\n640\nhi ops\n"
    );
    // The host key was pinned on the first connection.
    let (_, t) = json_of(app.get(&format!("/targets/{target_id}"), &admin).await).await;
    assert_eq!(
        t["host_key_fingerprint"],
        sshd.host_key_fingerprint.as_str()
    );
    // Filters of the list.
    let (_, list) = json_of(
        app.get(&format!("/runs?job_id={job_id}&status=succeeded"), &admin)
            .await,
    )
    .await;
    assert_eq!(list["total"], 1);
    let (_, none) = json_of(
        app.get(&format!("/runs?job_id={job_id}&status=failed"), &admin)
            .await,
    )
    .await;
    assert_eq!(none["total"], 0);
}

async fn a_failing_step_aborts_the_rest_unless_continue_on_error(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let sshd = Sshd::start();
    ssh_target(&app, &admin, &sshd, "db1", &[]).await;
    let definition = |continue_on_error: bool| {
        json!({"name": "x", "version": 1, "steps": [
            {"type": "ssh.exec", "target": "db1", "command": "echo before; exit 3", "continueOnError": continue_on_error},
            {"type": "ssh.exec", "target": "db1", "command": "echo after"}
        ]})
    };
    let strict = job(&app, &admin, "strict", definition(false)).await;
    let run = start(&app, &admin, strict, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, run_id).await;
    assert_eq!(run["status"], "failed");
    assert!(
        run["error"]
            .as_str()
            .is_some_and(|e| e.contains("Step 0 failed on db1")),
        "{run}"
    );
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(rows[0]["exit_code"], 3);
    assert_eq!(rows[0]["error"], "exited with status 3");
    assert_eq!(rows[0]["stdout"], "before\n");
    assert_eq!(rows[1]["status"], "aborted");
    assert!(rows[1]["started_at"].is_null());

    let tolerant = job(&app, &admin, "tolerant", definition(true)).await;
    let run = start(&app, &admin, tolerant, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(rows[1]["status"], "succeeded");
    assert_eq!(rows[1]["stdout"], "after\n");
}

async fn a_step_that_outlives_its_timeout_is_killed_and_retried(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let sshd = Sshd::start();
    ssh_target(&app, &admin, &sshd, "slow", &[]).await;
    let marker = format!("27.{}", sshd.port);
    let job_id = job(
        &app,
        &admin,
        "slow",
        json!({"name": "slow", "version": 1, "steps": [
            {"type": "ssh.exec", "target": "slow", "command": format!("echo start; sleep {marker}"),
             "timeoutSec": 5, "retries": 1, "retryBackoffSec": 0}
        ]}),
    )
    .await;
    let started = Instant::now();
    let run = start(&app, &admin, job_id, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, run_id).await;
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(run["status"], "failed");
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["status"], "failed");
    assert_eq!(rows[0]["attempts"], 2);
    assert_eq!(rows[0]["error"], "timed out after 5 s");
    assert!(rows[0]["exit_code"].is_null());
    let chunks = full_log(&app, &admin, run_id).await;
    // The first attempt printed before it was killed (the second may not get that far on a
    // loaded machine within its five seconds).
    assert!(text_of(&chunks, "stdout").starts_with("start\n"));
    assert!(text_of(&chunks, "system").contains("attempt 2 of 2"));
    assert_remote_process_gone(&marker).await;
}

/// Whether a `sleep <marker>` process exists on this machine (the test sshd's host).
fn remote_sleep_running(marker: &str) -> bool {
    let wanted = format!("sleep\0{marker}\0");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .any(|cmdline| cmdline == wanted.as_bytes())
}

/// The remote command (on this machine's sshd) must not survive its step.
async fn assert_remote_process_gone(marker: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let alive = remote_sleep_running(marker);
        if !alive {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "sleep {marker} still runs on the target"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn cancel_stops_the_remote_command_and_aborts_the_rest(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let (_, viewer) = app.user_with_role(&admin, "watcher", "viewer").await;
    let sshd = Sshd::start();
    ssh_target(&app, &admin, &sshd, "box", &[]).await;
    let marker = format!("31.{}", sshd.port);
    let job_id = job(
        &app,
        &admin,
        "long",
        json!({"name": "long", "version": 1, "steps": [
            {"type": "ssh.exec", "target": "box", "command": format!("echo started; sleep {marker}; echo never")},
            {"type": "ssh.exec", "target": "box", "command": "echo later"}
        ]}),
    )
    .await;
    let run = start(&app, &admin, job_id, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    // Wait until the command printed its first line: it is running remotely.
    let events = read_events_until(&app, &admin, run_id, None, |e| {
        e.data["text"] == "started\n" || e.data["data"]["status"] == "failed"
    })
    .await;
    assert_eq!(events.last().expect("events").data["text"], "started\n");
    let resp = app
        .post(&format!("/runs/{run_id}/cancel"), &viewer, json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let canceled_at = Instant::now();
    let (status, body) = json_of(
        app.post(&format!("/runs/{run_id}/cancel"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["cancel_requested"], true);
    let run = finish(&app, &admin, run_id).await;
    assert!(
        canceled_at.elapsed() < Duration::from_secs(5),
        "{:?}",
        canceled_at.elapsed()
    );
    assert_eq!(run["status"], "canceled");
    assert_eq!(run["canceled_by"], "admin");
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["status"], "aborted", "{:?}", rows[0]);
    assert_eq!(rows[1]["status"], "aborted");
    assert_remote_process_gone(&marker).await;
    let chunks = full_log(&app, &admin, run_id).await;
    assert!(!text_of(&chunks, "stdout").contains("never"));
    // A finished run cannot be canceled again.
    let resp = app
        .post(&format!("/runs/{run_id}/cancel"), &admin, json!({}))
        .await;
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = app.post("/runs/999999/cancel", &admin, json!({})).await;
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

async fn a_step_fans_out_to_fifty_targets(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let sshd = Sshd::start();
    for i in 0..50 {
        ssh_target(
            &app,
            &admin,
            &sshd,
            &format!("node{i:02}"),
            &["group:fleet"],
        )
        .await;
    }
    ssh_target(&app, &admin, &sshd, "outsider", &["group:other"]).await;
    let job_id = job(
        &app,
        &admin,
        "fleet",
        json!({"name": "fleet", "version": 1, "maxParallel": 25, "steps": [
            {"type": "ssh.exec", "target": "tag:group:fleet", "command": "echo $((6 * 7))"},
            {"type": "ssh.exec", "target": "tag:group:fleet", "command": "echo second"}
        ]}),
    )
    .await;
    let run = start(&app, &admin, job_id, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, run_id).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows.len(), 100);
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{rows:?}");
    assert!(rows[..50].iter().all(|r| r["stdout"] == "42\n"));
    assert!(rows.iter().all(|r| r["target_name"] != "outsider"));
    // Every step-0 row finished before any step-1 row started.
    let last_first = rows[..50]
        .iter()
        .map(|r| r["finished_at"].as_str().expect("finished").to_string())
        .max();
    let first_second = rows[50..]
        .iter()
        .map(|r| r["started_at"].as_str().expect("started").to_string())
        .min();
    assert!(
        last_first <= first_second,
        "{last_first:?} {first_second:?}"
    );
}

async fn secrets_are_masked_everywhere_output_goes(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let sshd = Sshd::start();
    ssh_target(&app, &admin, &sshd, "vault-user", &[]).await;
    let password = "Tr0ub4dor&3-horse";
    credential(
        &app,
        &admin,
        "db-admin",
        "api_key",
        json!({"api_key": password}),
    )
    .await;
    let job_id = job(
        &app,
        &admin,
        "leaky",
        json!({"name": "leaky", "version": 1,
            "parameters": {"pw": {"type": "secret", "credential": "db-admin"}},
            "steps": [{"type": "ssh.exec", "target": "vault-user", "command":
                "echo \"password is {{ pw }}\"; printf '%s' '{{ pw }}' | base64; echo \"{{ pw }}\" >&2; exit 1"}]}),
    )
    .await;
    let run = start(&app, &admin, job_id, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let events = read_events(&app, &admin, run_id, None, None).await;
    let run = finish(&app, &admin, run_id).await;
    assert_eq!(run["status"], "failed");
    let encoded = "VHIwdWI0ZG9yJjMtaG9yc2U=";
    let mut everything = format!("{run}");
    for e in &events {
        everything.push_str(&e.data.to_string());
    }
    for row in steps(&app, &admin, run_id).await {
        everything.push_str(&row.to_string());
    }
    let chunks = full_log(&app, &admin, run_id).await;
    for c in &chunks {
        everything.push_str(&c.to_string());
    }
    assert!(!everything.contains(password), "{everything}");
    assert!(!everything.contains(encoded), "{everything}");
    assert_eq!(
        text_of(&chunks, "stdout"),
        "password is ********\n********\n"
    );
    assert_eq!(text_of(&chunks, "stderr"), "********\n");
    // The use of the credential was audited, naming the run, never the value.
    let (_, audit) = json_of(app.get("/audit?action=credential.use", &admin).await).await;
    let text = audit.to_string();
    assert!(
        text.contains(&format!("run {run_id} of job {job_id}")),
        "{text}"
    );
    assert!(!text.contains(password));
}

async fn rerun_only_failed_targets_runs_just_those(b: Backend) {
    let app = TestApp::spawn(b).await;
    let admin = app.admin_token().await;
    let sshd = Sshd::start();
    ssh_target(&app, &admin, &sshd, "good", &["pool:a"]).await;
    // A target whose credential the server rejects.
    let bad_cred = credential(
        &app,
        &admin,
        "wrong-key",
        "ssh",
        json!({"username": "root", "private_key": sshd.encrypted_key().pem, "passphrase": sshd.encrypted_key().passphrase}),
    )
    .await;
    target(
        &app,
        &admin,
        json!({"name": "bad", "hostname": "127.0.0.1", "protocol": "ssh", "port": 1, "credential_ref": bad_cred, "tags": ["pool:a"]}),
    )
    .await;
    let job_id = job(
        &app,
        &admin,
        "pool",
        json!({"name": "pool", "version": 1, "steps": [{"type": "ssh.exec", "target": "tag:pool:a", "command": "echo ok"}]}),
    )
    .await;
    let run = start(&app, &admin, job_id, json!({"parameters": {}})).await;
    let first = run["id"].as_i64().expect("id");
    let run = finish(&app, &admin, first).await;
    assert_eq!(run["status"], "failed");
    let rows = steps(&app, &admin, first).await;
    let bad_row = rows
        .iter()
        .find(|r| r["target_name"] == "bad")
        .expect("bad row");
    assert_eq!(bad_row["status"], "failed");
    assert!(
        bad_row["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused")),
        "{bad_row}"
    );
    let (status, again) = json_of(
        app.post(
            &format!("/runs/{first}/rerun"),
            &admin,
            json!({"only_failed_targets": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["rerun_of"], first);
    let second = again["id"].as_i64().expect("id");
    finish(&app, &admin, second).await;
    let rows = steps(&app, &admin, second).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["target_name"], "bad");
    // A full rerun takes every target again.
    let (status, all) = json_of(
        app.post(&format!("/runs/{first}/rerun"), &admin, json!({}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let third = all["id"].as_i64().expect("id");
    finish(&app, &admin, third).await;
    assert_eq!(steps(&app, &admin, third).await.len(), 2);
    let (status, body) = json_of(
        app.post(
            &format!("/runs/{first}/rerun"),
            &admin,
            json!({"only_failed": true}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn a_worker_shutting_down_hands_its_run_back_and_another_resumes_it(b: Backend) {
    // The API node runs no worker; workers come and go below.
    let app = TestApp::spawn_with(b, |c| c.roles = "api".into()).await;
    let admin = app.admin_token().await;
    let sshd = Sshd::start();
    ssh_target(&app, &admin, &sshd, "resumable", &[]).await;
    let dir = tempfile::tempdir().expect("dir");
    let flag = dir.path().join("first-attempt-done");
    let marker = format!("33.{}", sshd.port);
    let job_id = job(
        &app,
        &admin,
        "resumable",
        json!({"name": "resumable", "version": 1, "steps": [
            {"type": "ssh.exec", "target": "resumable", "command": "echo one"},
            {"type": "ssh.exec", "target": "resumable", "command": format!(
                "if [ -e {f} ]; then echo resumed; else touch {f}; echo started; sleep {marker}; fi",
                f = flag.display())}
        ]}),
    )
    .await;
    let run = start(&app, &admin, job_id, json!({})).await;
    let run_id = run["id"].as_i64().expect("id");
    let worker = |grace: u64| {
        let mut config = app.config.clone();
        config.engine.shutdown_grace_secs = grace;
        async move {
            let core = opsconductor_core::Core::open(config).await.expect("core");
            opsconductor_engine::start(core)
        }
    };
    let first = worker(0).await;
    let first_id = first.worker_id().to_string();
    read_events_until(&app, &admin, run_id, None, |e| {
        e.data["text"] == "started\n"
    })
    .await;
    first.shutdown().await;
    let (_, handed) = json_of(app.get(&format!("/runs/{run_id}"), &admin).await).await;
    assert_eq!(handed["status"], "queued", "{handed}");
    assert_eq!(handed["attempt"], 1);
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["status"], "succeeded");
    assert_eq!(rows[1]["status"], "queued");
    assert_remote_process_gone(&marker).await;
    // Another worker claims it and runs only what had not finished.
    let second = worker(30).await;
    let run = finish(&app, &admin, run_id).await;
    second.shutdown().await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["attempt"], 2);
    assert_ne!(run["worker_id"], first_id.as_str());
    let rows = steps(&app, &admin, run_id).await;
    assert_eq!(rows[0]["stdout"], "one\n");
    assert_eq!(rows[1]["stdout"], "resumed\n");
    let chunks = full_log(&app, &admin, run_id).await;
    assert_eq!(text_of(&chunks, "stdout").matches("one").count(), 1);
}
