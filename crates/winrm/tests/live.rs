//! Against a real Windows host, when one is at hand (none runs in CI): `#[ignore]`d, run with
//!
//! ```sh
//! OPSCONDUCTOR_WINRM_TEST_HOST=win1.example.net OPSCONDUCTOR_WINRM_TEST_USER='CORP\admin' \
//! OPSCONDUCTOR_WINRM_TEST_PASSWORD=... cargo test -p opsconductor-winrm --test live -- --ignored
//! ```
//!
//! Optional: `OPSCONDUCTOR_WINRM_TEST_PORT` (default 5985, or 5986 with HTTPS),
//! `OPSCONDUCTOR_WINRM_TEST_HTTPS=1`, `OPSCONDUCTOR_WINRM_TEST_AUTH=basic` (default ntlm),
//! `OPSCONDUCTOR_WINRM_TEST_INSECURE=1` (skip the certificate check),
//! `OPSCONDUCTOR_WINRM_TEST_CA_FILE=ca.pem`. A test whose variables are missing says so and
//! passes.

use std::time::Duration;

use opsconductor_winrm::{
    CancellationToken, Command, ExecOptions, OutputChunk, Stream, WinrmAuth, WinrmErrorKind,
    WinrmSession, WinrmTarget, test_connection,
};
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(60);

fn var(name: &str) -> Option<String> {
    std::env::var(format!("OPSCONDUCTOR_WINRM_TEST_{name}"))
        .ok()
        .filter(|v| !v.is_empty())
}

fn flag(name: &str) -> bool {
    var(name).is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn live_target() -> Option<WinrmTarget> {
    let (Some(host), Some(username), Some(password)) = (var("HOST"), var("USER"), var("PASSWORD"))
    else {
        eprintln!(
            "no live Windows host: set OPSCONDUCTOR_WINRM_TEST_HOST, _USER and _PASSWORD to run this"
        );
        return None;
    };
    let https = flag("HTTPS");
    let port = var("PORT")
        .and_then(|p| p.parse().ok())
        .unwrap_or(if https { 5986 } else { 5985 });
    let auth = if var("AUTH").is_some_and(|a| a.eq_ignore_ascii_case("basic")) {
        WinrmAuth::Basic { username, password }
    } else {
        WinrmAuth::Ntlm {
            username,
            domain: String::new(),
            password,
        }
    };
    let mut target = WinrmTarget::new(host, port, https, auth);
    target.validate_certs = !flag("INSECURE");
    target.ca_pem = var("CA_FILE").map(|path| std::fs::read_to_string(path).expect("CA file"));
    target.connect_timeout = Duration::from_secs(20);
    Some(target)
}

#[tokio::test]
#[ignore = "needs a Windows host (OPSCONDUCTOR_WINRM_TEST_*)"]
async fn live_test_connection_reports_a_powershell_version() {
    let Some(target) = live_target() else { return };
    let report = test_connection(&target).await.expect("test_connection");
    eprintln!("{report:?}");
    assert!(!report.whoami.is_empty());
    assert!(
        report
            .powershell_version
            .split('.')
            .all(|p| p.parse::<u32>().is_ok()),
        "{report:?}"
    );
}

#[tokio::test]
#[ignore = "needs a Windows host (OPSCONDUCTOR_WINRM_TEST_*)"]
async fn live_cmd_and_powershell_with_clixml_errors() {
    let Some(target) = live_target() else { return };
    let session = WinrmSession::connect(&target).await.expect("connect");
    let out = session
        .exec(&Command::Cmd("echo hello& exit /b 5".into()), T)
        .await
        .expect("cmd");
    assert_eq!(out.stdout.trim_end(), "hello");
    assert_eq!(out.exit_code, Some(5));

    let script = "Write-Output 'out é'; Write-Error 'boom_x0041_ here'; exit 3";
    let out = session
        .exec(&Command::PowerShell(script.into()), T)
        .await
        .expect("powershell");
    eprintln!("{out:?}");
    assert_eq!(out.stdout.trim_end(), "out é");
    assert!(out.stderr.contains("boom_x0041_ here"), "{}", out.stderr);
    assert!(!out.stderr.contains("CLIXML"), "{}", out.stderr);
    assert_eq!(out.exit_code, Some(3));
}

#[tokio::test]
#[ignore = "needs a Windows host (OPSCONDUCTOR_WINRM_TEST_*)"]
async fn live_timeout_stops_the_command() {
    let Some(target) = live_target() else { return };
    let session = WinrmSession::connect(&target).await.expect("connect");
    let err = session
        .exec(
            &Command::PowerShell("Start-Sleep -Seconds 120".into()),
            Duration::from_secs(3),
        )
        .await
        .expect_err("timeout");
    assert_eq!(err.kind, WinrmErrorKind::Timeout, "{err}");
    let out = session
        .exec(&Command::Cmd("echo still here".into()), T)
        .await
        .expect("after timeout");
    assert_eq!(out.stdout.trim_end(), "still here");
}

#[tokio::test]
#[ignore = "needs a Windows host (OPSCONDUCTOR_WINRM_TEST_*)"]
async fn live_stdin_and_copy_round_trip() {
    let Some(target) = live_target() else { return };
    let session = WinrmSession::connect(&target).await.expect("connect");
    let cancel = CancellationToken::new();

    let (tx, mut rx) = mpsc::channel::<OutputChunk>(16);
    let input = vec![b'x'; 600_000];
    let command = Command::PowerShell("[Console]::In.ReadToEnd().Length".into());
    let collect = async move {
        let mut stdout = Vec::new();
        while let Some(chunk) = rx.recv().await {
            if chunk.stream == Stream::Stdout {
                stdout.extend(chunk.data);
            }
        }
        String::from_utf8_lossy(&stdout).trim().to_owned()
    };
    let (status, stdout) = tokio::join!(
        session.exec_streaming(
            &command,
            ExecOptions::new(T, &cancel).with_stdin(&input),
            tx
        ),
        collect
    );
    assert_eq!(status.expect("stdin").exit_code, Some(0));
    assert_eq!(stdout, "600000");

    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let content: Vec<u8> = (0..2 * 1024 * 1024 + 3)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let name = format!("opsc-live-{}.bin", std::process::id());
    let dest = format!("C:\\Windows\\Temp\\{name}");
    let outcome = session
        .copy(&dest, &content, false, T, &cancel)
        .await
        .expect("copy");
    let check = session
        .exec(
            &Command::PowerShell(format!(
                "(Get-FileHash -Algorithm SHA256 -LiteralPath '{dest}').Hash.ToLower(); (Get-Item -LiteralPath '{dest}').Length"
            )),
            T,
        )
        .await
        .expect("hash");
    assert_eq!(
        check.stdout.split_whitespace().collect::<Vec<_>>(),
        vec![outcome.sha256.as_str(), &content.len().to_string()]
    );
    let err = session
        .copy(&dest, b"other", false, T, &cancel)
        .await
        .expect_err("exists");
    assert_eq!(err.kind, WinrmErrorKind::Exists, "{err}");
    session
        .copy(&dest, b"other", true, T, &cancel)
        .await
        .expect("overwrite");
    let _ = session
        .exec(
            &Command::PowerShell(format!("Remove-Item -LiteralPath '{dest}'")),
            T,
        )
        .await;
}
