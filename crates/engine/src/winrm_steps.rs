//! `winrm.exec` and `winrm.copy` on one target, through our WS-Management client, with the
//! same streaming, timeouts, cancel and masking as SSH steps.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use opsconductor_core::jobs::definition::Shell;
use opsconductor_core::targets::Target;
use opsconductor_winrm::{Command, ExecOptions, OutputChunk, WinrmErrorKind, WinrmSession};
use serde_json::json;
use tokio::sync::mpsc;

use crate::actions::{self, Outcome};
use crate::output::{Output, Stream};
use crate::reach;
use crate::run::RunCx;

async fn session(
    cx: &Arc<RunCx>,
    target: &Target,
    timeout: Duration,
) -> Result<Arc<WinrmSession>, String> {
    if let Some(session) = cx.sessions.winrm(target.id) {
        return Ok(session);
    }
    let cred = cx
        .credentials
        .get(&target.credential_ref)
        .ok_or_else(|| "Credential not found or not accessible".to_string())?;
    let winrm = reach::winrm_target(target, cred, timeout)?;
    let session = tokio::select! {
        r = WinrmSession::connect(&winrm) => r.map_err(|e| format!(
            "WinRM connection to {} failed ({}): {}", winrm.endpoint(), e.kind.as_str(), e.message))?,
        () = cx.stopper.token.cancelled() => return Err("canceled".into()),
    };
    let session = Arc::new(session);
    cx.sessions.put_winrm(target.id, session.clone());
    Ok(session)
}

fn failure(kind: WinrmErrorKind, message: String, timeout: Duration) -> String {
    match kind {
        WinrmErrorKind::Timeout => format!("timed out after {} s", timeout.as_secs()),
        WinrmErrorKind::Canceled => "canceled".to_string(),
        _ => format!("WinRM execution failed: {message}"),
    }
}

pub(crate) async fn exec(
    cx: &Arc<RunCx>,
    target: &Target,
    shell: Shell,
    script: &str,
    timeout: Duration,
    out: &mut Output,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let session = session(cx, target, timeout).await?;
    let command = match shell {
        Shell::Powershell => Command::PowerShell(script.to_string()),
        Shell::Cmd => Command::Cmd(script.to_string()),
    };
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(64);
    let options = ExecOptions::new(timeout.saturating_sub(started.elapsed()), &cx.stopper.token);
    let run = session.exec_streaming(&command, options, tx);
    let forward = actions::forward(&mut rx, out, |chunk| {
        let stream = match chunk.stream {
            opsconductor_winrm::Stream::Stdout => Stream::Stdout,
            opsconductor_winrm::Stream::Stderr => Stream::Stderr,
        };
        (stream, chunk.data)
    });
    let (result, ()) = tokio::join!(run, forward);
    let metrics = json!({
        "target": target.hostname,
        "shell": shell.as_str(),
        "transport": session.transport(),
        "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    });
    Ok(match result {
        Ok(status) => {
            let exit_code = status.exit_code.map(i64::from);
            let error = match exit_code {
                Some(0) => None,
                Some(code) => Some(format!("exited with status {code}")),
                None => Some("the server reported no exit status".into()),
            };
            Outcome {
                ok: error.is_none(),
                exit_code,
                error,
                metrics,
            }
        }
        Err(e) => {
            if matches!(e.kind, WinrmErrorKind::Protocol) {
                cx.sessions.forget_winrm(target.id);
            }
            Outcome {
                ok: false,
                exit_code: None,
                error: Some(failure(e.kind, e.message, timeout)),
                metrics,
            }
        }
    })
}

pub(crate) async fn copy(
    cx: &Arc<RunCx>,
    target: &Target,
    content_b64: &str,
    dest: &str,
    overwrite: bool,
    timeout: Duration,
    out: &mut Output,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(content_b64)
        .map_err(|e| format!("contentB64 is not valid base64: {e}"))?;
    let session = session(cx, target, timeout).await?;
    let remaining = timeout.saturating_sub(started.elapsed());
    match session
        .copy(dest, &bytes, overwrite, remaining, &cx.stopper.token)
        .await
    {
        Ok(done) => actions::copied(target, dest, done.bytes, &done.sha256, out).await,
        Err(e) => Ok(Outcome {
            ok: false,
            exit_code: None,
            error: Some(match e.kind {
                WinrmErrorKind::Timeout => format!("timed out after {} s", timeout.as_secs()),
                WinrmErrorKind::Canceled => "canceled".to_string(),
                _ => format!("WinRM copy failed: {}", e.message),
            }),
            metrics: json!({"target": target.hostname, "dest_path": dest}),
        }),
    }
}
