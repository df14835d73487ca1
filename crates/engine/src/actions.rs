//! What each step type does on one target: render its fields with the run's parameters,
//! reach the target through a connector, stream the output, and say how it went.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use opsconductor_connectors::http::{self, HttpRequest};
use opsconductor_connectors::ssh::{self, ExecOptions, OutputChunk, SshErrorKind, SshSession};
use opsconductor_core::jobs::definition::{CopyContent, Step, StepAction};
use opsconductor_core::jobs::template::{self, RenderError};
use opsconductor_core::store::runs::StepRecord;
use opsconductor_core::targets::{self, Target};
use opsconductor_winrm::WinrmSession;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

use crate::output::{Output, Stream};
use crate::reach;
use crate::run::RunCx;
use crate::winrm_steps;

/// How one attempt of a step on one target went.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub ok: bool,
    pub exit_code: Option<i64>,
    pub error: Option<String>,
    pub metrics: Value,
}

impl Outcome {
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            ok: false,
            exit_code: None,
            error: Some(error.into()),
            metrics: json!({}),
        }
    }
}

/// SSH and WinRM sessions of one run, one per target, reused by its later steps.
#[derive(Default)]
pub(crate) struct SessionCache {
    sessions: Mutex<HashMap<i64, Arc<SshSession>>>,
    winrm: Mutex<HashMap<i64, Arc<WinrmSession>>>,
}

impl SessionCache {
    pub(crate) fn winrm(&self, target: i64) -> Option<Arc<WinrmSession>> {
        lock(&self.winrm).get(&target).cloned()
    }

    pub(crate) fn put_winrm(&self, target: i64, session: Arc<WinrmSession>) {
        lock(&self.winrm).insert(target, session);
    }

    pub(crate) fn forget_winrm(&self, target: i64) {
        lock(&self.winrm).remove(&target);
    }

    fn get(&self, target: i64) -> Option<Arc<SshSession>> {
        self.lock().get(&target).cloned()
    }

    fn put(&self, target: i64, session: Arc<SshSession>) {
        self.lock().insert(target, session);
    }

    fn forget(&self, target: i64) {
        self.lock().remove(&target);
    }

    /// Closes every session politely.
    pub async fn close_all(&self) {
        let sessions: Vec<Arc<SshSession>> = self.lock().drain().map(|(_, s)| s).collect();
        for session in sessions {
            if let Ok(session) = Arc::try_unwrap(session) {
                session.close().await;
            }
        }
        let winrm: Vec<Arc<WinrmSession>> = lock(&self.winrm).drain().map(|(_, s)| s).collect();
        for session in winrm {
            match Arc::try_unwrap(session) {
                Ok(session) => session.close().await,
                // Still shared: at least leave no shell behind on the host.
                Err(shared) => shared.delete_idle_shell().await,
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<SshSession>>> {
        lock(&self.sessions)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Runs one attempt of `step` on the row's target.
pub(crate) async fn perform(
    cx: &Arc<RunCx>,
    step: &Step,
    row: &StepRecord,
    out: &mut Output,
) -> Outcome {
    let timeout = Duration::from_secs(step.timeout_sec);
    let target = match row.target_id {
        Some(id) => match cx.targets.get(&id) {
            Some(t) => Some(t),
            None => {
                return Outcome::failed(
                    "Target not found or not accessible (deleted after the run was queued)",
                );
            }
        },
        None if row.target_name.is_some() => {
            return Outcome::failed(
                "Target not found or not accessible (deleted after the run was queued)",
            );
        }
        None => None,
    };
    let vars = &cx.vars;
    let render = |text: &str, field: &str| {
        template::render(text, vars).map_err(|e| {
            let why = match e {
                RenderError::Unknown(name) => format!("unknown parameter '{name}'"),
                RenderError::NotScalar(name) => format!("parameter '{name}' is not a single value"),
                RenderError::Invalid(msg) => msg,
            };
            format!("{field}: {why}")
        })
    };
    let result = match (&step.action, target) {
        (StepAction::WinrmExec { shell, command }, Some(target)) => {
            match render(command, "command") {
                Ok(script) => winrm_steps::exec(cx, target, *shell, &script, timeout, out).await,
                Err(e) => Err(e),
            }
        }
        (
            StepAction::WinrmCopy {
                dest_path,
                content_b64,
                overwrite,
            },
            Some(target),
        ) => match render(dest_path, "destPath") {
            Ok(dest) => {
                winrm_steps::copy(cx, target, content_b64, &dest, *overwrite, timeout, out).await
            }
            Err(e) => Err(e),
        },
        (StepAction::SshExec { command, sudo, env }, Some(target)) => {
            match (render(command, "command"), render_env(env, &render)) {
                (Ok(command), Ok(env)) => {
                    let line = compose_command(&command, &env, *sudo);
                    ssh_exec(cx, target, &line, timeout, out).await
                }
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        (
            StepAction::SshCopy {
                content,
                dest_path,
                mode,
                overwrite,
            },
            Some(target),
        ) => match render(dest_path, "destPath") {
            Ok(dest) => ssh_copy(cx, target, content, &dest, *mode, *overwrite, timeout, out).await,
            Err(e) => Err(e),
        },
        (
            StepAction::HttpRequest {
                method,
                url,
                headers,
                body,
                expected_status,
                ..
            },
            target,
        ) => {
            let rendered = (|| {
                let url = render(url, "url")?;
                let headers = headers
                    .iter()
                    .map(|(k, v)| render(v, "headers").map(|v| (k.clone(), v)))
                    .collect::<Result<Vec<_>, _>>()?;
                let body = body.as_deref().map(|b| render(b, "body")).transpose()?;
                Ok::<_, String>((url, headers, body))
            })();
            match rendered {
                Ok((url, headers, body)) => {
                    http_request(
                        cx,
                        target,
                        method,
                        &url,
                        headers,
                        body,
                        expected_status,
                        timeout,
                        out,
                    )
                    .await
                }
                Err(e) => Err(e),
            }
        }
        (_, None) => Err(format!("{} needs a target", step.action.type_name())),
    };
    result.unwrap_or_else(Outcome::failed)
}

fn render_env(
    env: &std::collections::BTreeMap<String, String>,
    render: &impl Fn(&str, &str) -> Result<String, String>,
) -> Result<Vec<(String, String)>, String> {
    env.iter()
        .map(|(k, v)| render(v, "env").map(|v| (k.clone(), v)))
        .collect()
}

/// The command line sent to the login shell: `env` exported first (sshd refuses most
/// environment requests), then the command, under `sudo -n` if asked.
fn compose_command(command: &str, env: &[(String, String)], sudo: bool) -> String {
    let mut script = String::new();
    for (k, v) in env {
        script.push_str(&format!("export {k}={}; ", ssh::shell_quote(v)));
    }
    script.push_str(command);
    if sudo {
        format!("sudo -n -- sh -c {}", ssh::shell_quote(&script))
    } else {
        script
    }
}

/// The run's session to `target`, connecting (and pinning a first-seen host key) if needed.
async fn session(
    cx: &Arc<RunCx>,
    target: &Target,
    timeout: Duration,
    out: &Output,
) -> Result<Arc<SshSession>, String> {
    if let Some(session) = cx.sessions.get(target.id) {
        return Ok(session);
    }
    let cred = cx
        .credentials
        .get(&target.credential_ref)
        .ok_or_else(|| "Credential not found or not accessible".to_string())?;
    let ssh_target = reach::ssh_target(target, cred, timeout)?;
    let session = tokio::select! {
        r = ssh::connect(&ssh_target) => r.map_err(|e| format!("SSH connection to {}:{} failed ({}): {}", target.hostname, target.port, e.kind.as_str(), e.message))?,
        () = cx.stopper.token.cancelled() => return Err("canceled".into()),
    };
    if target.host_key_fingerprint.is_none() {
        let pinned = targets::pin_host_key(
            &cx.core,
            target.id,
            session.host_key_fingerprint(),
            session.host_key_algorithm(),
        )
        .await;
        if matches!(pinned, Ok(true)) {
            let _ = out
                .system(&format!(
                    "pinned the host key of {} ({})",
                    target.name,
                    session.host_key_fingerprint()
                ))
                .await;
        }
    }
    let session = Arc::new(session);
    cx.sessions.put(target.id, session.clone());
    Ok(session)
}

async fn ssh_exec(
    cx: &Arc<RunCx>,
    target: &Target,
    command: &str,
    timeout: Duration,
    out: &mut Output,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let session = session(cx, target, timeout, out).await?;
    let remaining = timeout.saturating_sub(started.elapsed());
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(64);
    let options = ExecOptions {
        timeout: remaining,
        cancel: &cx.stopper.token,
        stdin: None,
    };
    let exec = session.exec_streaming(command, options, tx);
    let forward = forward(&mut rx, out, |chunk| {
        let stream = match chunk.stream {
            ssh::Stream::Stdout => Stream::Stdout,
            ssh::Stream::Stderr => Stream::Stderr,
        };
        (stream, chunk.data)
    });
    let (result, ()) = tokio::join!(exec, forward);
    let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let metrics = json!({"target": target.hostname, "duration_ms": duration_ms});
    match result {
        Ok(status) => {
            let exit_code = status.exit_code.map(i64::from);
            let error = match (&status.exit_signal, exit_code) {
                (Some(sig), _) => Some(format!("killed by signal {sig}")),
                (None, Some(0)) => None,
                (None, Some(code)) => Some(format!("exited with status {code}")),
                (None, None) => Some("the server reported no exit status".into()),
            };
            Ok(Outcome {
                ok: error.is_none(),
                exit_code,
                error,
                metrics,
            })
        }
        Err(e) => {
            if matches!(e.kind, SshErrorKind::Protocol | SshErrorKind::Unreachable) {
                cx.sessions.forget(target.id);
            }
            let error = match e.kind {
                SshErrorKind::Timeout => format!("timed out after {} s", timeout.as_secs()),
                SshErrorKind::Canceled => "canceled".to_string(),
                _ => e.message,
            };
            Ok(Outcome {
                ok: false,
                exit_code: None,
                error: Some(error),
                metrics,
            })
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn ssh_copy(
    cx: &Arc<RunCx>,
    target: &Target,
    content: &CopyContent,
    dest: &str,
    mode: Option<u32>,
    overwrite: bool,
    timeout: Duration,
    out: &mut Output,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let bytes = match content {
        CopyContent::Text(text) => text.as_bytes().to_vec(),
        CopyContent::Base64(b64) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|e| format!("contentB64 is not valid base64: {e}"))?,
    };
    let session = session(cx, target, timeout, out).await?;
    let remaining = timeout.saturating_sub(started.elapsed());
    match session
        .copy(dest, &bytes, mode, overwrite, remaining, &cx.stopper.token)
        .await
    {
        Ok(done) => copied(target, dest, done.bytes, &done.sha256, out).await,
        Err(e) => Ok(Outcome {
            ok: false,
            exit_code: None,
            error: Some(match e.kind {
                SshErrorKind::Timeout => format!("timed out after {} s", timeout.as_secs()),
                _ => e.message,
            }),
            metrics: json!({"target": target.hostname, "dest_path": dest}),
        }),
    }
}

#[allow(clippy::too_many_arguments)]
async fn http_request(
    cx: &Arc<RunCx>,
    target: Option<&Target>,
    method: &str,
    url: &str,
    headers: Vec<(String, String)>,
    body: Option<String>,
    expected: &[u16],
    timeout: Duration,
    out: &mut Output,
) -> Result<Outcome, String> {
    let mut request = HttpRequest::get(url);
    request.method = method.to_string();
    request.headers = headers;
    request.body = body.map(String::into_bytes);
    request.timeout = timeout;
    if let Some(target) = target {
        // A path is relative to the target; its credential's token is the bearer.
        if url.starts_with('/') {
            request.url = format!("{}{url}", target_base(target));
        }
        let meta: &Map<String, Value> = target
            .metadata
            .as_object()
            .ok_or("target metadata is not an object")?;
        request.validate_certs = meta
            .get("http_validate_cert")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        if let Some(cred) = cx.credentials.get(&target.credential_ref) {
            request.bearer = cred
                .get("token")
                .or_else(|| cred.get("api_key"))
                .map(str::to_string);
        }
    }
    let response = tokio::select! {
        r = http::send(&request) => r,
        () = cx.stopper.token.cancelled() => return Err("canceled".into()),
    };
    match response {
        Ok(response) => {
            out.push(Stream::Stdout, response.body.as_bytes())
                .await
                .map_err(|e| e.to_string())?;
            let ok = if expected.is_empty() {
                (200..300).contains(&response.status)
            } else {
                expected.contains(&response.status)
            };
            out.system(&format!(
                "{method} {} answered HTTP {} in {} ms",
                request.url, response.status, response.duration_ms
            ))
            .await
            .map_err(|e| e.to_string())?;
            Ok(Outcome {
                ok,
                exit_code: None,
                error: (!ok).then(|| format!("unexpected HTTP status {}", response.status)),
                metrics: json!({"url": request.url, "status": response.status, "duration_ms": response.duration_ms, "truncated": response.truncated}),
            })
        }
        Err(e) => Ok(Outcome {
            ok: false,
            exit_code: None,
            error: Some(format!(
                "{method} {} failed ({}): {}",
                request.url,
                e.kind.as_str(),
                e.message
            )),
            metrics: json!({"url": request.url}),
        }),
    }
}

fn target_base(target: &Target) -> String {
    let scheme = target
        .metadata
        .get("http_scheme")
        .and_then(Value::as_str)
        .unwrap_or(if target.port == 80 { "http" } else { "https" });
    format!("{scheme}://{}:{}", target.hostname, target.port)
}

/// Streams a connector's output chunks into the step's output until the connector is done.
pub(crate) async fn forward<C>(
    rx: &mut mpsc::Receiver<C>,
    out: &mut Output,
    split: impl Fn(C) -> (Stream, Vec<u8>),
) {
    while let Some(chunk) = rx.recv().await {
        let (stream, data) = split(chunk);
        if let Err(e) = out.push(stream, &data).await {
            tracing::warn!(error = %e, "cannot store output");
        }
    }
}

/// The outcome of a verified file copy (SSH or WinRM), with its engine line.
pub(crate) async fn copied(
    target: &Target,
    dest: &str,
    bytes: u64,
    sha256: &str,
    out: &mut Output,
) -> Result<Outcome, String> {
    out.system(&format!("wrote {bytes} bytes to {dest} (sha256 {sha256})"))
        .await
        .map_err(|e| e.to_string())?;
    Ok(Outcome {
        ok: true,
        exit_code: Some(0),
        error: None,
        metrics: json!({"target": target.hostname, "dest_path": dest, "content_size": bytes, "sha256": sha256}),
    })
}
