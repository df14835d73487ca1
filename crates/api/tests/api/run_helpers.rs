//! Helpers for run tests: create jobs, start runs, and follow a run's live event stream.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::common::*;
use crate::sshd::Sshd;

/// A run that does not finish within this is a failed test, not a hang.
const RUN_DEADLINE: Duration = Duration::from_secs(120);

/// Creates a job from `definition` and returns its id.
pub async fn job(app: &TestApp, token: &str, name: &str, definition: Value) -> i64 {
    let (status, body) = json_of(
        app.post(
            "/jobs",
            token,
            json!({"name": name, "definition": definition}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_i64().expect("job id")
}

/// Starts a run and returns it (asserting 201).
pub async fn start(app: &TestApp, token: &str, job_id: i64, body: Value) -> Value {
    let (status, run) = json_of(app.post(&format!("/jobs/{job_id}/run"), token, body).await).await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    run
}

/// An SSH target named `name` on the test sshd, logging in as root with the harness key.
pub async fn ssh_target(app: &TestApp, token: &str, sshd: &Sshd, name: &str, tags: &[&str]) -> i64 {
    let cred_name = format!("{name}-key");
    let cred = credential(
        app,
        token,
        &cred_name,
        "ssh",
        json!({"username": "root", "private_key": sshd.root_key().pem}),
    )
    .await;
    target(
        app,
        token,
        json!({"name": name, "hostname": "127.0.0.1", "protocol": "ssh", "port": sshd.port,
               "credential_ref": cred, "tags": tags}),
    )
    .await["id"]
        .as_i64()
        .expect("target id")
}

/// One parsed Server-Sent Event.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: i64,
    pub event: String,
    pub data: Value,
}

/// Reads the run's event stream (after `last_event_id`) until it ends or `stop_after` events
/// came, and returns the events.
pub async fn read_events(
    app: &TestApp,
    token: &str,
    run_id: i64,
    last_event_id: Option<i64>,
    stop_after: Option<usize>,
) -> Vec<Sse> {
    let mut count = 0;
    read_events_until(app, token, run_id, last_event_id, |_| {
        count += 1;
        stop_after.is_some_and(|n| count >= n)
    })
    .await
}

/// Reads the run's event stream until it ends or `stop` says so for an event.
pub async fn read_events_until(
    app: &TestApp,
    token: &str,
    run_id: i64,
    last_event_id: Option<i64>,
    mut stop: impl FnMut(&Sse) -> bool,
) -> Vec<Sse> {
    let mut req = app
        .client
        .get(app.url(&format!("/runs/{run_id}/events")))
        .bearer_auth(token);
    if let Some(id) = last_event_id {
        req = req.header("Last-Event-ID", id.to_string());
    }
    let mut resp = req.send().await.expect("events request");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|c| c.starts_with("text/event-stream"))
    );
    let mut events = Vec::new();
    let mut buffer = String::new();
    let read = async {
        while let Some(chunk) = resp.chunk().await.expect("event stream chunk") {
            buffer.push_str(std::str::from_utf8(&chunk).expect("UTF-8 events"));
            while let Some(end) = buffer.find("\n\n") {
                let block: String = buffer.drain(..end + 2).collect();
                if let Some(event) = parse_block(&block) {
                    let done = stop(&event);
                    events.push(event);
                    if done {
                        return;
                    }
                }
            }
        }
    };
    tokio::time::timeout(RUN_DEADLINE, read)
        .await
        .expect("the run's event stream ended in time");
    events
}

fn parse_block(block: &str) -> Option<Sse> {
    let (mut id, mut event, mut data) = (None, String::new(), String::new());
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    Some(Sse {
        id: id?,
        event,
        data: serde_json::from_str(&data).expect("event data is JSON"),
    })
}

/// Follows the run's live stream to its end and returns the final run.
pub async fn finish(app: &TestApp, token: &str, run_id: i64) -> Value {
    let events = read_events(app, token, run_id, None, None).await;
    let last = events.last().expect("at least one event");
    assert_eq!(last.event, "status", "{last:?}");
    let (status, run) = json_of(app.get(&format!("/runs/{run_id}"), token).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(last.data["data"]["status"], run["status"], "{run}");
    run
}

/// The run's step rows.
pub async fn steps(app: &TestApp, token: &str, run_id: i64) -> Vec<Value> {
    let (status, rows) = json_of(app.get(&format!("/runs/{run_id}/steps"), token).await).await;
    assert_eq!(status, StatusCode::OK, "{rows}");
    rows.as_array().expect("bare array").clone()
}

/// The whole output of a run (all pages), concatenated per stream filter.
pub async fn full_log(app: &TestApp, token: &str, run_id: i64) -> Vec<Value> {
    let mut chunks = Vec::new();
    let mut offset = 0;
    loop {
        let (status, page) = json_of(
            app.get(
                &format!("/runs/{run_id}/log?offset={offset}&limit=50"),
                token,
            )
            .await,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let got = page["chunks"].as_array().expect("chunks").clone();
        if got.is_empty() {
            break;
        }
        chunks.extend(got);
        offset = page["next_offset"].as_i64().expect("next offset");
    }
    chunks
}

/// The text of every chunk of `stream`.
pub fn text_of(chunks: &[Value], stream: &str) -> String {
    chunks
        .iter()
        .filter(|c| c["stream"] == stream)
        .map(|c| c["text"].as_str().unwrap_or_default())
        .collect()
}
