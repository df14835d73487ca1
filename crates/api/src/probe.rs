//! Connection tests: really connect to a target with its credential and report what happened,
//! how long it took, and why it failed.

use std::time::{Duration, Instant};

use opsconductor_connectors::http::{self, HttpRequest};
use opsconductor_connectors::ssh;
use opsconductor_core::auth::Caller;
use opsconductor_core::credentials::{self, Resolved};
use opsconductor_core::targets::{self, Protocol, Target};
use opsconductor_core::{Core, Error, Result};
use serde::Serialize;
use serde_json::{Value, json};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The contract's connection test answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TestOutcome {
    pub success: bool,
    pub message: String,
    #[schema(value_type = Object)]
    pub details: Value,
}

fn failure(
    message: impl Into<String>,
    kind: &str,
    mut details: Value,
    started: Instant,
) -> TestOutcome {
    details["error"] = json!(kind);
    details["duration_ms"] = json!(elapsed_ms(started));
    TestOutcome {
        success: false,
        message: message.into(),
        details,
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Tests a target over its protocol.
pub async fn test_target(core: &Core, caller: &Caller, target: &Target) -> Result<TestOutcome> {
    match Protocol::parse(&target.protocol) {
        Some(Protocol::Ssh) => test_ssh(core, caller, target).await,
        Some(Protocol::Http) => test_http(core, caller, target).await,
        Some(Protocol::Winrm) => test_winrm(core, caller, target).await,
        None => Err(Error::BadRequest(format!(
            "Target {} has an unknown protocol '{}'",
            target.id, target.protocol
        ))),
    }
}

/// Connects over WinRM (sealed NTLM over HTTP, or TLS), authenticates, and runs `whoami`,
/// `hostname` and `$PSVersionTable` in PowerShell.
pub async fn test_winrm(core: &Core, caller: &Caller, target: &Target) -> Result<TestOutcome> {
    let started = Instant::now();
    let base = json!({"protocol": "winrm", "hostname": target.hostname, "port": target.port});
    let cred = match credential(core, caller, target).await {
        Ok(c) => c,
        Err(Error::Conflict(msg)) => return Ok(failure(msg, "credential", base, started)),
        Err(e) => return Err(e),
    };
    let winrm = match opsconductor_engine::winrm_target(target, &cred, CONNECT_TIMEOUT) {
        Ok(w) => w,
        Err(msg) => return Ok(failure(msg, "credential", base, started)),
    };
    let mut details = base;
    details["https"] = json!(winrm.https);
    details["validate_cert"] = json!(winrm.validate_certs);
    match opsconductor_winrm::test_connection(&winrm).await {
        Ok(report) => {
            details["whoami"] = json!(report.whoami);
            details["powershellVersion"] = json!(report.powershell_version);
            details["remote_hostname"] = json!(report.hostname);
            details["transport"] = json!(report.transport);
            details["duration_ms"] = json!(report.duration_ms);
            Ok(TestOutcome {
                success: true,
                message: format!(
                    "Connected to {} over {} as {}",
                    winrm.endpoint(),
                    report.transport,
                    report.whoami
                ),
                details,
            })
        }
        Err(err) => Ok(failure(err.message, err.kind.as_str(), details, started)),
    }
}

async fn credential(core: &Core, caller: &Caller, target: &Target) -> Result<Resolved> {
    credentials::resolve_for_use(
        core,
        target.credential_ref,
        &format!("connection test of target '{}'", target.name),
        Some(caller),
    )
    .await
}

async fn test_ssh(core: &Core, caller: &Caller, target: &Target) -> Result<TestOutcome> {
    let started = Instant::now();
    let base = json!({
        "protocol": "ssh",
        "hostname": target.hostname,
        "port": target.port,
    });
    let cred = match credential(core, caller, target).await {
        Ok(c) => c,
        Err(Error::Conflict(msg)) => return Ok(failure(msg, "credential", base, started)),
        Err(e) => return Err(e),
    };
    let ssh_target = match opsconductor_engine::ssh_target(target, &cred, CONNECT_TIMEOUT) {
        Ok(t) => t,
        Err(msg) => return Ok(failure(msg, "credential", base, started)),
    };
    let username = ssh_target.username.clone();
    let mut details = base;
    details["username"] = json!(username);
    match ssh::test_connection(&ssh_target).await {
        Ok(report) => {
            let pinned_now = target.host_key_fingerprint.is_none()
                && targets::pin_host_key(
                    core,
                    target.id,
                    &report.fingerprint,
                    &report.host_key_algorithm,
                )
                .await?;
            details["whoami"] = json!(report.whoami);
            details["uname"] = json!(report.uname);
            details["host_key_fingerprint"] = json!(report.fingerprint);
            details["host_key_algorithm"] = json!(report.host_key_algorithm);
            details["host_key_status"] = json!(if pinned_now { "pinned" } else { "matched" });
            details["duration_ms"] = json!(report.duration_ms);
            Ok(TestOutcome {
                success: true,
                message: format!(
                    "Connected to {}:{} as {} in {} ms",
                    target.hostname, target.port, report.whoami, report.duration_ms
                ),
                details,
            })
        }
        Err(err) => Ok(failure(
            err.message.clone(),
            err.kind.as_str(),
            details,
            started,
        )),
    }
}

async fn test_http(core: &Core, caller: &Caller, target: &Target) -> Result<TestOutcome> {
    let started = Instant::now();
    let meta = &target.metadata;
    let scheme = meta
        .get("http_scheme")
        .and_then(Value::as_str)
        .unwrap_or(if target.port == 80 { "http" } else { "https" });
    let path = meta.get("http_path").and_then(Value::as_str).unwrap_or("/");
    let url = format!("{scheme}://{}:{}{path}", target.hostname, target.port);
    let mut details =
        json!({"protocol": "http", "hostname": target.hostname, "port": target.port, "url": url});
    if !matches!(scheme, "http" | "https") {
        return Ok(failure(
            "metadata.http_scheme must be http or https",
            "config",
            details,
            started,
        ));
    }
    let cred = match credential(core, caller, target).await {
        Ok(c) => c,
        Err(Error::Conflict(msg)) => return Ok(failure(msg, "credential", details, started)),
        Err(e) => return Err(e),
    };
    let mut request = HttpRequest::get(url.clone());
    request.timeout = CONNECT_TIMEOUT;
    request.validate_certs = meta
        .get("http_validate_cert")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    request.bearer = cred
        .get("token")
        .or_else(|| cred.get("api_key"))
        .map(str::to_string);
    match http::send(&request).await {
        Ok(response) => {
            let status = response.status;
            details["status_code"] = json!(status);
            details["duration_ms"] = json!(response.duration_ms);
            let message = format!("{url} answered HTTP {status}");
            if !(200..400).contains(&status) {
                return Ok(failure(message, "http_status", details, started));
            }
            Ok(TestOutcome {
                success: true,
                message,
                details,
            })
        }
        Err(err) => Ok(failure(err.message, err.kind.as_str(), details, started)),
    }
}
