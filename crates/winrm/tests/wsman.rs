//! The WinRM client against the WS-Man test server (`testing/wsman-server`): pyspnego's NTLM and
//! sealing, Windows' envelopes and faults, commands run by `/bin/sh`. "PowerShell" scripts here
//! are therefore sh scripts; what is exercised is the wire protocol (`-EncodedCommand`, CLIXML
//! stderr, Signal, Send, sealing), not PowerShell.

mod support;

use std::time::{Duration, Instant};

use opsconductor_winrm::{
    CancellationToken, Command, ExecOptions, OutputChunk, Stream, WinrmAuth, WinrmErrorKind,
    WinrmSession, test_connection,
};
use support::{Options, PASSWORD, USER, WsmanServer};
use tokio::sync::mpsc;

const T: Duration = Duration::from_secs(30);

fn strict() -> Option<WsmanServer> {
    WsmanServer::start(Options::default())
}

async fn connect(server: &WsmanServer) -> WinrmSession {
    WinrmSession::connect(&server.target())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nserver log:\n{}", server.log()))
}

#[tokio::test]
async fn cmd_returns_stdout_stderr_and_exit_code_all_sealed() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    assert_eq!(session.transport(), "http+ntlm-sealed");
    let out = session
        .exec(&Command::Cmd("echo out; echo err >&2; exit 3".into()), T)
        .await
        .expect("exec");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    assert_eq!(out.exit_code, Some(3));
    session.close().await;

    assert_eq!(server.stat("plaintext_requests"), 0);
    assert_eq!(server.stat("rejected_plaintext"), 0);
    assert_eq!(server.stat("bad_framing"), 0);
    assert_eq!(server.stat("bad_seal"), 0);
    // Create, Command, Receive, Delete.
    assert!(server.stat("sealed_requests") >= 4);
    assert_eq!(server.stat("ntlm_auth_ok"), 1);
    assert_eq!(server.wait_for_stat("shells_open", |n| n == 0), 0);
}

#[tokio::test]
async fn powershell_goes_as_encoded_command_with_non_ascii_text() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    // Run by /bin/sh on the stand-in; the point is the UTF-16LE/base64 round trip.
    let script = "printf 'héllo €%s 😀\\n' \"$((40+2))\"";
    let out = session
        .exec(&Command::PowerShell(script.into()), T)
        .await
        .expect("exec");
    assert_eq!(out.stdout, "héllo €42 😀\n");
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stderr, "");
}

#[tokio::test]
async fn powershell_clixml_stderr_is_decoded_to_text() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    let script =
        "echo 'bad _x000A_ thing & <tag>' >&2; printf 'tab\\there\\n' >&2; echo fine; exit 1";
    let out = session
        .exec(&Command::PowerShell(script.into()), T)
        .await
        .expect("exec");
    assert_eq!(out.stdout, "fine\n");
    assert_eq!(out.stderr, "bad _x000A_ thing & <tag>\r\ntab\there\r\n");
    assert_eq!(out.exit_code, Some(1));
}

#[tokio::test]
async fn output_streams_across_many_receives() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(64);
    let started = Instant::now();
    let collect = async move {
        let mut seen = Vec::new();
        while let Some(chunk) = rx.recv().await {
            seen.push((started.elapsed(), chunk));
        }
        seen
    };
    let command = Command::Cmd("for i in 1 2 3 4 5; do echo line$i; sleep 0.3; done".into());
    let (status, seen) = tokio::join!(
        session.exec_streaming(&command, ExecOptions::new(T, &cancel), tx),
        collect
    );
    assert_eq!(status.expect("exec").exit_code, Some(0));
    let text: String = seen
        .iter()
        .map(|(_, c)| String::from_utf8_lossy(&c.data).into_owned())
        .collect();
    assert_eq!(text, "line1\nline2\nline3\nline4\nline5\n");
    // The first line arrived long before the command ended.
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(
        seen[0].0 + Duration::from_millis(800) < seen[seen.len() - 1].0,
        "{seen:?}"
    );
    assert!(server.stat("receives") >= 3);
}

#[tokio::test]
async fn large_output_arrives_whole() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    let out = session
        .exec(
            &Command::Cmd("head -c 1500000 /dev/zero | tr '\\0' 'a'; echo; echo done >&2".into()),
            T,
        )
        .await
        .expect("exec");
    assert_eq!(out.stdout.len(), 1_500_001);
    assert!(out.stdout.bytes().take(1_500_000).all(|b| b == b'a'));
    assert_eq!(out.stderr, "done\n");
    // MaxEnvelopeSize 512000 holds about 380 KB of output per answer.
    assert!(server.stat("receives") >= 4);
}

#[tokio::test]
async fn a_timeout_signals_terminate_and_the_session_stays_usable() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    let started = Instant::now();
    let err = session
        .exec(
            &Command::Cmd("echo started; sleep 60".into()),
            Duration::from_secs(1),
        )
        .await
        .expect_err("timeout");
    assert_eq!(err.kind, WinrmErrorKind::Timeout, "{err}");
    assert!(err.message.contains("stopped (Signal terminate)"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(server.stat("signals") >= 1);
    assert_eq!(server.wait_for_stat("commands_running", |n| n == 0), 0);
    assert_eq!(server.wait_for_stat("shells_open", |n| n == 0), 0);

    let out = session
        .exec(&Command::Cmd("echo again".into()), T)
        .await
        .expect("after timeout");
    assert_eq!(out.stdout, "again\n");
    assert_eq!(session.connections_opened().await, 1);
}

#[tokio::test]
async fn cancel_stops_the_command() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(16);
    let canceller = {
        let cancel = cancel.clone();
        async move {
            let first = rx.recv().await;
            cancel.cancel();
            while rx.recv().await.is_some() {}
            first
        }
    };
    let command = Command::Cmd("echo ready; sleep 60".into());
    let started = Instant::now();
    let (result, first) = tokio::join!(
        session.exec_streaming(&command, ExecOptions::new(T, &cancel), tx),
        canceller
    );
    let err = result.expect_err("canceled");
    assert_eq!(err.kind, WinrmErrorKind::Canceled, "{err}");
    assert_eq!(first.map(|c| c.data), Some(b"ready\n".to_vec()));
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "{:?}",
        started.elapsed()
    );
    assert!(server.stat("signals") >= 1);
    assert_eq!(server.wait_for_stat("commands_running", |n| n == 0), 0);
}

#[tokio::test]
async fn stdin_is_sent_and_closed() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    let cancel = CancellationToken::new();
    let input: Vec<u8> = (0..700_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(16);
    let collect = async move {
        let mut stdout = Vec::new();
        while let Some(chunk) = rx.recv().await {
            if chunk.stream == Stream::Stdout {
                stdout.extend(chunk.data);
            }
        }
        stdout
    };
    let command = Command::Cmd("sha256sum | cut -c1-64".into());
    let (status, stdout) = tokio::join!(
        session.exec_streaming(
            &command,
            ExecOptions::new(T, &cancel).with_stdin(&input),
            tx,
        ),
        collect
    );
    assert_eq!(status.expect("exec").exit_code, Some(0));
    let text = String::from_utf8(stdout).expect("utf-8");
    let want = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&input)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(text, format!("{want}\n"));
    // 700000 bytes in 256 KiB Sends.
    assert_eq!(server.stat("sends"), 3);
}

#[tokio::test]
async fn a_dropped_exec_future_never_desyncs_the_next_command() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    let command = Command::Cmd("sleep 30".into());
    // Dropped while its Receive is in flight: that answer is never unsealed.
    let dropped = tokio::time::timeout(Duration::from_millis(700), session.exec(&command, T)).await;
    assert!(dropped.is_err());
    let out = session
        .exec(&Command::Cmd("echo fresh".into()), T)
        .await
        .expect("next command");
    assert_eq!(out.stdout, "fresh\n");
    assert_eq!(session.connections_opened().await, 2);
    assert_eq!(server.stat("bad_seal"), 0);
}

#[tokio::test]
async fn a_wrong_password_is_an_auth_error_without_the_password() {
    let Some(server) = strict() else { return };
    let mut target = server.target();
    target.auth = support::ntlm("not-the-password");
    let err = WinrmSession::connect(&target).await.expect_err("auth");
    assert_eq!(err.kind, WinrmErrorKind::Auth, "{err}");
    assert!(
        err.message.contains("WINTEST") || err.message.contains(USER),
        "{err}"
    );
    assert!(!err.message.contains("not-the-password"), "{err}");
    assert_eq!(server.stat("auth_failures"), 1);
}

#[tokio::test]
async fn a_closed_port_is_refused() {
    // Bound but not listening: connecting is refused, and no other test's server can take
    // the port meanwhile.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket
        .bind("127.0.0.1:0".parse().expect("addr"))
        .expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let target = opsconductor_winrm::WinrmTarget::new("127.0.0.1", port, false, support::ntlm("x"));
    let err = WinrmSession::connect(&target).await.expect_err("refused");
    assert_eq!(err.kind, WinrmErrorKind::Refused, "{err}");
    let target = opsconductor_winrm::WinrmTarget::new(
        "no-such-host.invalid",
        5985,
        false,
        support::ntlm("x"),
    );
    let err = WinrmSession::connect(&target).await.expect_err("dns");
    assert_eq!(err.kind, WinrmErrorKind::Dns, "{err}");
}

#[tokio::test]
async fn a_connection_dropped_mid_command_is_a_clear_error_not_a_hang() {
    let Some(server) = WsmanServer::start(Options {
        drop_mid_command: true,
        ..Options::default()
    }) else {
        return;
    };
    let session = connect(&server).await;
    let started = Instant::now();
    let err = session
        .exec(&Command::Cmd("echo a; sleep 1; echo b".into()), T)
        .await
        .expect_err("dropped");
    assert_eq!(err.kind, WinrmErrorKind::Protocol, "{err}");
    assert!(err.message.contains("receiving output"), "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.stat("dropped_connections"), 1);
    // The shell was deleted over a new, newly authenticated connection.
    assert_eq!(server.wait_for_stat("shells_open", |n| n == 0), 0);
    assert_eq!(session.connections_opened().await, 2);

    // No shell exists between commands, so the session reconnects for the next one.
    let out = session
        .exec(&Command::Cmd("exit 4".into()), T)
        .await
        .expect("after the drop");
    assert_eq!(out.exit_code, Some(4));
    assert_eq!(server.stat("plaintext_requests"), 0);
    assert_eq!(server.stat("bad_seal"), 0);
}

#[tokio::test]
async fn basic_over_plain_http_is_never_sent_unless_allowed() {
    let Some(server) = strict() else { return };
    let mut target = server.target();
    target.auth = WinrmAuth::Basic {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    // Refused by the client: nothing reaches the server.
    let err = WinrmSession::connect(&target).await.expect_err("refused");
    assert_eq!(err.kind, WinrmErrorKind::Auth, "{err}");
    assert!(!err.message.contains(PASSWORD), "{err}");
    assert_eq!(server.stat("http_requests"), 0);

    // Allowed here, but this strict server (AllowUnencrypted=false) refuses it: no SOAP sent.
    target.allow_unencrypted = true;
    let err = WinrmSession::connect(&target)
        .await
        .expect_err("server refuses");
    assert_eq!(err.kind, WinrmErrorKind::Auth, "{err}");
    assert_eq!(server.stat("rejected_basic_unencrypted"), 1);
    assert_eq!(server.stat("plaintext_requests"), 0);
}

#[tokio::test]
async fn basic_over_plain_http_works_where_both_sides_allow_it() {
    let Some(server) = WsmanServer::start(Options {
        allow_unencrypted: true,
        ..Options::default()
    }) else {
        return;
    };
    let mut target = server.target();
    target.allow_unencrypted = true;
    target.auth = WinrmAuth::Basic {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let session = connect_target(&target, &server).await;
    assert_eq!(session.transport(), "http+basic-unencrypted");
    let out = session
        .exec(&Command::Cmd("echo plain".into()), T)
        .await
        .expect("exec");
    assert_eq!(out.stdout, "plain\n");
    assert!(server.stat("plaintext_requests") >= 4);

    // NTLM still seals even though unencrypted traffic is allowed.
    let mut ntlm = server.target();
    ntlm.allow_unencrypted = true;
    let before = server.stat("plaintext_requests");
    let session = connect_target(&ntlm, &server).await;
    assert_eq!(session.transport(), "http+ntlm-sealed");
    session
        .exec(&Command::Cmd("true".into()), T)
        .await
        .expect("exec");
    assert_eq!(server.stat("plaintext_requests"), before);
}

async fn connect_target(
    target: &opsconductor_winrm::WinrmTarget,
    server: &WsmanServer,
) -> WinrmSession {
    WinrmSession::connect(target)
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\nserver log:\n{}", server.log()))
}

#[tokio::test]
async fn https_needs_a_trusted_certificate() {
    let Some(server) = WsmanServer::start(Options {
        tls: true,
        ..Options::default()
    }) else {
        return;
    };
    let mut untrusted = server.target();
    untrusted.ca_pem = None;
    let err = WinrmSession::connect(&untrusted)
        .await
        .expect_err("untrusted");
    assert_eq!(err.kind, WinrmErrorKind::Tls, "{err}");
    assert!(
        err.message.contains("UnknownIssuer") || err.message.contains("issuer"),
        "{err}"
    );

    let mut wrong_ca = server.target();
    wrong_ca.ca_pem = Some(support::test_certificates().0);
    let err = WinrmSession::connect(&wrong_ca)
        .await
        .expect_err("other CA");
    assert_eq!(err.kind, WinrmErrorKind::Tls, "{err}");

    let session = connect(&server).await;
    assert_eq!(session.transport(), "https+ntlm");
    let out = session
        .exec(&Command::Cmd("echo secure".into()), T)
        .await
        .expect("exec");
    assert_eq!(out.stdout, "secure\n");

    let mut unchecked = server.target();
    unchecked.ca_pem = None;
    unchecked.validate_certs = false;
    let session = connect_target(&unchecked, &server).await;
    session
        .exec(&Command::Cmd("true".into()), T)
        .await
        .expect("exec");

    let mut basic = server.target();
    basic.auth = WinrmAuth::Basic {
        username: USER.into(),
        password: PASSWORD.into(),
    };
    let session = connect_target(&basic, &server).await;
    assert_eq!(session.transport(), "https+basic");
    let out = session
        .exec(&Command::Cmd("echo basic".into()), T)
        .await
        .expect("exec");
    assert_eq!(out.stdout, "basic\n");
}

#[tokio::test]
async fn https_on_a_plain_http_port_is_a_tls_error() {
    let Some(server) = strict() else { return };
    let mut target = server.target();
    target.https = true;
    let err = WinrmSession::connect(&target).await.expect_err("not tls");
    assert_eq!(err.kind, WinrmErrorKind::Tls, "{err}");
}

#[tokio::test]
async fn a_large_copy_is_byte_exact() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    // Pseudo-random bytes (every byte value, no repetition a bug could hide in).
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let content: Vec<u8> = (0..3 * 1024 * 1024 + 17)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    let dest = server.scratch().join("sub dir's").join("big file.bin");
    std::fs::create_dir_all(dest.parent().expect("parent")).expect("mkdir");
    let dest = dest.to_str().expect("utf-8 path");
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let outcome = session
        .copy(dest, &content, false, T, &cancel)
        .await
        .unwrap_or_else(|e| panic!("copy: {e}\n{}", server.log()));
    eprintln!(
        "copied {} bytes in {:?} ({} Sends)",
        content.len(),
        started.elapsed(),
        server.stat("sends")
    );
    assert_eq!(outcome.bytes, content.len() as u64);
    assert_eq!(std::fs::read(dest).expect("read back"), content);
    let want = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&content)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(outcome.sha256, want);
    // 192 KiB of content (256 KiB of base64 lines) per Send.
    assert_eq!(server.stat("sends"), 17);
    assert_eq!(server.stat("plaintext_requests"), 0);
}

#[tokio::test]
async fn copy_without_overwrite_leaves_an_existing_file_alone() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    let cancel = CancellationToken::new();
    let dest = server.scratch().join("exists.txt");
    std::fs::write(&dest, b"original").expect("write");
    let dest = dest.to_str().expect("utf-8 path");

    let err = session
        .copy(dest, b"new content", false, T, &cancel)
        .await
        .expect_err("exists");
    assert_eq!(err.kind, WinrmErrorKind::Exists, "{err}");
    assert_eq!(std::fs::read(dest).expect("read"), b"original");

    session
        .copy(dest, b"new content", true, T, &cancel)
        .await
        .expect("overwrite");
    assert_eq!(std::fs::read(dest).expect("read"), b"new content");

    let empty = server.scratch().join("empty.txt");
    let empty = empty.to_str().expect("utf-8 path");
    let outcome = session
        .copy(empty, b"", false, T, &cancel)
        .await
        .expect("empty");
    assert_eq!(outcome.bytes, 0);
    assert_eq!(std::fs::read(empty).expect("read"), b"");

    let missing_dir = server.scratch().join("no-such-dir").join("x");
    let err = session
        .copy(missing_dir.to_str().expect("utf-8"), b"x", true, T, &cancel)
        .await
        .expect_err("no dir");
    assert_eq!(err.kind, WinrmErrorKind::CopyFailed, "{err}");
    assert!(err.message.contains("temporary file"), "{err}");
}

#[tokio::test]
async fn test_connection_reports_user_host_and_transport() {
    let Some(server) = strict() else { return };
    let report = test_connection(&server.target()).await.expect("test");
    let whoami = std::process::Command::new("whoami")
        .output()
        .expect("whoami");
    assert_eq!(
        report.whoami,
        String::from_utf8_lossy(&whoami.stdout).trim()
    );
    let hostname = std::process::Command::new("hostname")
        .output()
        .expect("hostname");
    assert_eq!(
        report.hostname,
        String::from_utf8_lossy(&hostname.stdout).trim()
    );
    // /bin/sh has no $PSVersionTable: the report says so instead of inventing a version.
    assert!(
        report.powershell_version.contains("was not reported"),
        "{report:?}"
    );
    assert_eq!(report.transport, "http+ntlm-sealed");

    let mut wrong = server.target();
    wrong.auth = support::ntlm("nope");
    let err = test_connection(&wrong).await.expect_err("auth");
    assert_eq!(err.kind, WinrmErrorKind::Auth);
}

#[tokio::test]
async fn sessions_run_in_parallel_and_commands_in_one_session_take_turns() {
    let Some(server) = strict() else { return };
    let target = server.target();
    let mut tasks = Vec::new();
    for n in 0..4 {
        let target = target.clone();
        tasks.push(tokio::spawn(async move {
            let session = WinrmSession::connect(&target).await.expect("connect");
            for i in 0..5 {
                let out = session
                    .exec(&Command::Cmd(format!("echo {n}-{i}")), T)
                    .await
                    .expect("exec");
                assert_eq!(out.stdout, format!("{n}-{i}\n"));
            }
            session.close().await;
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    // Two commands at once on one session: requests interleave on the one connection.
    let session = connect(&server).await;
    let (slow, quick) = (
        Command::Cmd("sleep 0.5; echo a".into()),
        Command::Cmd("echo b".into()),
    );
    let (a, b) = tokio::join!(session.exec(&slow, T), session.exec(&quick, T));
    assert_eq!(a.expect("a").stdout, "a\n");
    assert_eq!(b.expect("b").stdout, "b\n");
    assert_eq!(server.stat("bad_seal"), 0);
    // Each of the four sessions reused one shell; the two concurrent commands needed two, of
    // which the session keeps one idle and deleted the other.
    assert_eq!(server.stat("shells_created"), 4 + 2);
    assert_eq!(server.wait_for_stat("shells_open", |n| n == 1), 1);
    session.close().await;
    assert_eq!(server.wait_for_stat("shells_open", |n| n == 0), 0);
}

#[tokio::test]
async fn commands_reuse_one_shell_and_close_deletes_it() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    for i in 0..5 {
        let out = session
            .exec(&Command::Cmd(format!("echo {i}; exit {i}")), T)
            .await
            .expect("exec");
        assert_eq!((out.stdout, out.exit_code), (format!("{i}\n"), Some(i)));
    }
    assert_eq!(server.stat("shells_created"), 1);
    // Every finished command is released (Signal terminate), as winrs does.
    assert_eq!(server.stat("signals"), 5);
    assert_eq!(server.stat("shells_open"), 1);
    session.close().await;
    assert_eq!(server.wait_for_stat("shells_open", |n| n == 0), 0);
    assert_eq!(server.stat("shells_deleted"), 1);
}

#[tokio::test]
async fn a_stopped_command_costs_its_shell_and_the_next_one_gets_a_fresh_shell() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    session
        .exec(&Command::Cmd("echo warm".into()), T)
        .await
        .expect("first");
    // The timed-out command ran in the idle shell; deleting that shell is what kills it.
    let err = session
        .exec(&Command::Cmd("sleep 60".into()), Duration::from_millis(800))
        .await
        .expect_err("timeout");
    assert_eq!(err.kind, WinrmErrorKind::Timeout, "{err}");
    assert_eq!(server.wait_for_stat("shells_open", |n| n == 0), 0);
    let out = session
        .exec(&Command::Cmd("echo after".into()), T)
        .await
        .expect("after");
    assert_eq!(out.stdout, "after\n");
    assert_eq!(server.stat("shells_created"), 2);
    session.close().await;
}

#[tokio::test]
async fn an_idle_shell_the_server_removed_is_replaced_transparently() {
    let Some(server) = WsmanServer::start(Options {
        shell_idle_timeout: Some(0.2),
        ..Options::default()
    }) else {
        return;
    };
    let session = connect(&server).await;
    session
        .exec(&Command::Cmd("echo one".into()), T)
        .await
        .expect("one");
    // Windows removes shells idle for longer than IdleTimeout; here, 0.2 s.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let out = session
        .exec(&Command::Cmd("echo two".into()), T)
        .await
        .expect("two, in a new shell");
    assert_eq!(out.stdout, "two\n");
    assert_eq!(server.stat("shells_expired"), 1);
    assert_eq!(server.stat("shells_created"), 2);
    assert_eq!(session.connections_opened().await, 1);
    session.close().await;
}

/// Throughput against the test server, printed (not asserted): `cargo test -p
/// opsconductor-winrm --test wsman -- --ignored --nocapture commands_per_second`.
#[tokio::test]
#[ignore = "prints figures; run by hand"]
async fn commands_per_second() {
    let Some(server) = strict() else { return };
    let session = connect(&server).await;
    let n = 200;
    let started = Instant::now();
    for _ in 0..n {
        session
            .exec(&Command::Cmd("true".into()), T)
            .await
            .expect("exec");
    }
    let elapsed = started.elapsed();
    eprintln!(
        "{n} commands in {elapsed:?}: {:.1} commands/s on one session",
        f64::from(n) / elapsed.as_secs_f64()
    );
    let started = Instant::now();
    for _ in 0..20 {
        let s = connect(&server).await;
        s.exec(&Command::Cmd("true".into()), T).await.expect("exec");
        s.close().await;
    }
    eprintln!("20 connect+command+close in {:?}", started.elapsed());
}
