//! The SSH connector against a real OpenSSH sshd (see support/sshd.rs). Runs as root.

mod support;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant};

use opsconductor_connectors::{
    CancellationToken, ExecOptions, OutputChunk, SshAuth, SshErrorKind, SshTarget, Stream,
    check_private_key, connect, test_connection,
};
use support::sshd::{self, ClientKey, KEY_PASSPHRASE, Sshd, SshdOptions};
use tokio::sync::mpsc;

const TIMEOUT: Duration = Duration::from_secs(20);

fn key_auth(key: &ClientKey) -> SshAuth {
    SshAuth::PrivateKey {
        pem: key.pem.clone(),
        passphrase: key.passphrase.clone(),
    }
}

fn target(port: u16, user: &str, auth: SshAuth) -> SshTarget {
    SshTarget {
        connect_timeout: TIMEOUT,
        ..SshTarget::new("127.0.0.1", port, user, auth)
    }
}

fn root_target(server: &Sshd) -> SshTarget {
    target(server.port, "root", key_auth(server.root_key()))
}

#[tokio::test]
async fn key_auth_as_root_reports_uname_whoami_and_the_host_key() {
    let server = Sshd::start();
    let report = test_connection(&root_target(&server))
        .await
        .expect("connection test");
    assert_eq!(report.whoami, "root");
    assert!(report.uname.starts_with("Linux"), "uname: {}", report.uname);
    assert_eq!(report.uname, report.uname.trim());
    assert_eq!(report.fingerprint, server.host_key_fingerprint);
    assert_eq!(report.host_key_algorithm, "ssh-ed25519");
    assert_eq!(report.host_key_algorithm, server.host_key_algorithm);
    assert!(
        report.pinned_now,
        "no pin was given, so this is the first use"
    );
}

#[tokio::test]
async fn session_reports_the_host_key_ssh_keygen_prints() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    assert_eq!(session.host_key_fingerprint(), server.host_key_fingerprint);
    assert_eq!(session.host_key_algorithm(), "ssh-ed25519");
    session.close().await;
}

#[tokio::test]
async fn password_auth_as_the_test_user_runs_commands() {
    let Some((user, password)) =
        sshd::password_user("password_auth_as_the_test_user_runs_commands")
    else {
        return;
    };
    let server = Sshd::start_with_passwords();
    let report = test_connection(&target(server.port, &user, SshAuth::Password(password)))
        .await
        .expect("password login");
    assert_eq!(report.whoami, user);
    assert!(report.uname.starts_with("Linux"));
}

#[tokio::test]
async fn password_auth_falls_back_to_keyboard_interactive_through_pam() {
    let Some((user, password)) =
        sshd::password_user("password_auth_falls_back_to_keyboard_interactive_through_pam")
    else {
        return;
    };
    let server = Sshd::start_with(SshdOptions {
        pam_keyboard_interactive: true,
        ..SshdOptions::default()
    });
    let session = connect(&target(server.port, &user, SshAuth::Password(password)))
        .await
        .expect("keyboard-interactive login");
    let out = session.exec("whoami", TIMEOUT).await.expect("whoami");
    assert_eq!(out.stdout.trim(), user);
    session.close().await;
    assert!(server.log().contains("keyboard-interactive"));
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_that_does_not_repeat_the_password() {
    let Some((user, password)) =
        sshd::password_user("wrong_password_is_an_auth_error_that_does_not_repeat_the_password")
    else {
        return;
    };
    let server = Sshd::start_with_passwords();
    let wrong = format!("{password}-but-wrong");
    let err = connect(&target(
        server.port,
        &user,
        SshAuth::Password(wrong.clone()),
    ))
    .await
    .expect_err("a wrong password must fail");
    assert_eq!(err.kind, SshErrorKind::Auth, "{err}");
    assert!(
        err.message
            .starts_with(&format!("authentication failed for user '{user}'")),
        "{err}"
    );
    assert!(!err.message.contains(&wrong) && !err.message.contains(&password));
}

#[tokio::test]
async fn password_against_a_key_only_server_says_passwords_are_not_accepted() {
    let server = Sshd::start();
    let err = connect(&target(
        server.port,
        "root",
        SshAuth::Password("not-used-anywhere".into()),
    ))
    .await
    .expect_err("the server takes keys only");
    assert_eq!(err.kind, SshErrorKind::Auth);
    assert!(
        err.message
            .starts_with("authentication failed for user 'root'"),
        "{err}"
    );
    assert!(err.message.contains("does not accept password"), "{err}");
    assert!(err.message.contains("publickey"), "{err}");
}

#[tokio::test]
async fn unauthorized_key_is_an_auth_error_naming_the_key_fingerprint() {
    let server = Sshd::start();
    let path = server.dir().join("stranger");
    sshd::keygen(&path, &["-t", "ed25519", "-N", ""]);
    let stranger = ClientKey {
        pem: std::fs::read_to_string(&path).expect("read key"),
        passphrase: None,
        fingerprint: sshd::fingerprint(&path.with_extension("pub")).0,
        public: std::fs::read_to_string(path.with_extension("pub")).expect("read public key"),
    };
    let err = connect(&target(server.port, "root", key_auth(&stranger)))
        .await
        .expect_err("key is not in authorized_keys");
    assert_eq!(err.kind, SshErrorKind::Auth);
    assert!(
        err.message
            .starts_with("authentication failed for user 'root'"),
        "{err}"
    );
    assert!(err.message.contains(&stranger.fingerprint), "{err}");
}

#[tokio::test]
async fn encrypted_key_with_its_passphrase_authenticates() {
    let server = Sshd::start();
    let key = server.encrypted_key();
    let info = check_private_key(&key.pem, Some(KEY_PASSPHRASE)).expect("right passphrase");
    assert!(info.encrypted);
    assert_eq!(info.algorithm, "ssh-ed25519");
    assert_eq!(info.public_fingerprint, key.fingerprint);

    let session = connect(&target(server.port, "root", key_auth(key)))
        .await
        .expect("connect with the encrypted key");
    let out = session.exec("whoami", TIMEOUT).await.expect("whoami");
    assert_eq!(out.stdout.trim(), "root");
    session.close().await;
}

#[tokio::test]
async fn wrong_or_missing_passphrase_is_a_key_error_before_any_connection() {
    let server = Sshd::start();
    let key = server.encrypted_key();

    let wrong = check_private_key(&key.pem, Some("not the passphrase")).expect_err("wrong");
    assert!(wrong.contains("passphrase does not decrypt"), "{wrong}");
    let missing = check_private_key(&key.pem, None).expect_err("missing");
    assert!(missing.contains("passphrase is required"), "{missing}");
    let empty = check_private_key(&key.pem, Some("")).expect_err("empty counts as missing");
    assert_eq!(empty, missing);

    let auth = SshAuth::PrivateKey {
        pem: key.pem.clone(),
        passphrase: Some("not the passphrase".into()),
    };
    let err = connect(&target(server.port, "root", auth))
        .await
        .expect_err("wrong passphrase");
    assert_eq!(err.kind, SshErrorKind::Key, "{err}");
    assert!(!err.message.contains("not the passphrase"));
    // The key was refused locally: sshd never saw an authentication request.
    assert!(
        !server.log().contains("userauth-request"),
        "{}",
        server.log()
    );
}

#[tokio::test]
async fn rsa_key_in_pkcs1_pem_authenticates_with_sha2_signatures() {
    let server = Sshd::start();
    let key = server.rsa_pem_key();
    let info = check_private_key(&key.pem, None).expect("PEM RSA key");
    assert_eq!(info.algorithm, "ssh-rsa");
    assert_eq!(info.public_fingerprint, key.fingerprint);
    assert!(!info.encrypted);

    let session = connect(&target(server.port, "root", key_auth(key)))
        .await
        .expect("connect with the RSA key");
    session.close().await;
    // OpenSSH 8.8+ refuses SHA-1 RSA signatures by default, so this also shows rsa-sha2 was used.
    let log = server.wait_for_log("Accepted publickey", TIMEOUT);
    assert!(log.contains("Accepted publickey for root"), "{log}");
}

#[tokio::test]
async fn pinned_fingerprint_that_matches_connects() {
    let server = Sshd::start();
    let pinned = SshTarget {
        pinned_fingerprint: Some(server.host_key_fingerprint.clone()),
        ..root_target(&server)
    };
    let report = test_connection(&pinned).await.expect("pinned connect");
    assert_eq!(report.fingerprint, server.host_key_fingerprint);
    assert!(!report.pinned_now);
}

#[tokio::test]
async fn changed_host_key_is_refused_before_authentication() {
    let first = Sshd::start();
    let second = Sshd::start();
    assert_ne!(first.host_key_fingerprint, second.host_key_fingerprint);
    let password = "must-never-reach-the-server";
    let target = SshTarget {
        pinned_fingerprint: Some(first.host_key_fingerprint.clone()),
        ..target(second.port, "root", SshAuth::Password(password.into()))
    };
    let err = connect(&target).await.expect_err("host key changed");
    assert_eq!(err.kind, SshErrorKind::HostKeyMismatch, "{err}");
    assert!(err.message.contains(&first.host_key_fingerprint), "{err}");
    assert!(err.message.contains(&second.host_key_fingerprint), "{err}");
    assert!(err.message.contains("reset the pinned host key"), "{err}");
    assert!(!err.message.contains(password));

    // sshd logs every userauth request at DEBUG1; once it has noticed the client leave, there
    // must be none.
    let log = second.wait_for_log_line(TIMEOUT, |line| {
        line.starts_with("Connection closed by") && line.ends_with("[preauth]")
    });
    assert!(log.contains("KEX done"), "{log}");
    assert!(!log.contains("userauth-request"), "{log}");
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_refused() {
    let port = sshd::free_port();
    let err = connect(&target(port, "root", SshAuth::Password("x".into())))
        .await
        .expect_err("nothing listens");
    assert_eq!(err.kind, SshErrorKind::Refused, "{err}");
    assert!(err.message.contains(&port.to_string()), "{err}");
}

#[tokio::test]
async fn an_unresolvable_host_is_a_dns_error() {
    let target = SshTarget {
        connect_timeout: TIMEOUT,
        ..SshTarget::new(
            "nonexistent.invalid",
            22,
            "root",
            SshAuth::Password("x".into()),
        )
    };
    let err = connect(&target).await.expect_err("no such host");
    assert_eq!(err.kind, SshErrorKind::Dns, "{err}");
    assert!(
        err.message
            .starts_with("cannot resolve host 'nonexistent.invalid'"),
        "{err}"
    );
}

/// A fake server that accepts one connection, optionally sends `banner`, then says nothing more;
/// the thread returns what the client sent before it hung up.
fn stalling_server(banner: Option<&'static str>) -> (u16, std::thread::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let peer = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("the client's connection");
        if let Some(banner) = banner {
            conn.write_all(banner.as_bytes()).expect("send banner");
        }
        conn.set_read_timeout(Some(TIMEOUT)).expect("read timeout");
        let mut seen = Vec::new();
        // Ends only when the client closes the connection (or fails after TIMEOUT).
        conn.read_to_end(&mut seen)
            .expect("the client must close the connection");
        seen
    });
    (port, peer)
}

async fn times_out_and_hangs_up(banner: Option<&'static str>) {
    let (port, peer) = stalling_server(banner);
    let target = SshTarget {
        connect_timeout: Duration::from_millis(300),
        ..target(port, "root", SshAuth::Password("x".into()))
    };
    let started = Instant::now();
    let err = connect(&target).await.expect_err("stalled handshake");
    assert_eq!(err.kind, SshErrorKind::Timeout, "{err}");
    assert!(err.message.contains("handshake"), "{err}");
    // Generous bound: it must give up at the deadline, not wait for the peer.
    assert!(started.elapsed() < Duration::from_secs(5));
    // No connection is left behind waiting on the server.
    let seen = tokio::task::spawn_blocking(move || peer.join().expect("peer thread"))
        .await
        .expect("join");
    assert!(seen.starts_with(b"SSH-2.0-OpsConductor_"), "{seen:?}");
}

#[tokio::test]
async fn a_server_that_never_speaks_times_out_and_is_hung_up_on() {
    times_out_and_hangs_up(None).await;
}

#[tokio::test]
async fn a_server_that_stalls_after_its_banner_times_out_and_is_hung_up_on() {
    times_out_and_hangs_up(Some("SSH-2.0-OpenSSH_9.2p1 Stalling\r\n")).await;
}

#[tokio::test]
async fn exec_timeout_returns_promptly_and_the_session_stays_usable() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let started = Instant::now();
    let err = session
        .exec("sleep 60", Duration::from_millis(300))
        .await
        .expect_err("sleep outlasts the timeout");
    let waited = started.elapsed();
    assert_eq!(err.kind, SshErrorKind::Timeout, "{err}");
    assert!(err.message.contains("300 ms"), "{err}");
    // Well under the 60 s the command would take; stopping it is bounded by a few seconds.
    assert!(waited < Duration::from_secs(10), "took {waited:?}");

    let out = session
        .exec("echo still here", TIMEOUT)
        .await
        .expect("exec");
    assert_eq!(out.stdout, "still here\n");
    session.close().await;
}

#[tokio::test]
async fn exec_timeout_stops_the_command_of_a_non_root_user() {
    let Some((user, password)) =
        sshd::password_user("exec_timeout_stops_the_command_of_a_non_root_user")
    else {
        return;
    };
    let server = Sshd::start_with_passwords();
    let session = connect(&target(server.port, &user, SshAuth::Password(password)))
        .await
        .expect("connect");
    let started = Instant::now();
    // `exec` replaces the shell, so the signal reaches the sleep itself.
    let err = session
        .exec("exec sleep 5.0417", Duration::from_millis(300))
        .await
        .expect_err("sleep outlasts the timeout");
    assert_eq!(err.kind, SshErrorKind::Timeout, "{err}");

    // The TERM on the channel (sshd delivers it for ordinary users) and the process-group kill
    // both reach the sleep, so it is gone long before its 5 s. The bracket keeps pgrep from
    // matching its own shell.
    let deadline = started + Duration::from_secs(3);
    loop {
        let out = session
            .exec("pgrep -f 'sleep [5].0417'", TIMEOUT)
            .await
            .expect("pgrep");
        if out.exit_code == Some(1) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "sleep still running: {out:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    session.close().await;
}

#[tokio::test]
async fn exit_codes_signals_and_stderr_are_reported() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");

    let out = session.exec("exit 3", TIMEOUT).await.expect("exit 3");
    assert_eq!(out.exit_code, Some(3));

    let out = session
        .exec("echo out; echo err >&2; printf '\\377'; true", TIMEOUT)
        .await
        .expect("output");
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout, "out\n\u{fffd}", "invalid UTF-8 is replaced");
    assert_eq!(out.stderr, "err\n");
    assert!(!out.truncated);

    let out = session.exec("kill -TERM $$", TIMEOUT).await.expect("kill");
    assert_eq!(out.exit_code, None);
    assert_eq!(out.exit_signal.as_deref(), Some("TERM"));
    session.close().await;
}

#[tokio::test]
async fn large_output_arrives_complete() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    // Several times russh's 2 MiB window, so flow control has to work.
    let out = session
        .exec("head -c 7000000 /dev/zero | tr '\\0' a", TIMEOUT)
        .await
        .expect("exec");
    assert_eq!(out.exit_code, Some(0));
    assert_eq!(out.stdout.len(), 7_000_000);
    assert!(out.stdout.bytes().all(|b| b == b'a'));
    session.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_run_concurrently_on_one_session() {
    let server = Sshd::start();
    let session = Arc::new(connect(&root_target(&server)).await.expect("connect"));
    // sshd's MaxSessions (10 by default) caps the channels open at once on one connection.
    let runs = (0..8).map(|i| {
        let session = Arc::clone(&session);
        tokio::spawn(async move { session.exec(&format!("echo {i}"), TIMEOUT).await })
    });
    for (i, run) in runs.collect::<Vec<_>>().into_iter().enumerate() {
        let out = run.await.expect("join").expect("exec");
        assert_eq!(out.stdout, format!("{i}\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_sessions_against_one_sshd_all_succeed() {
    let server = Sshd::start();
    let target = Arc::new(SshTarget {
        pinned_fingerprint: Some(server.host_key_fingerprint.clone()),
        connect_timeout: Duration::from_secs(60),
        ..root_target(&server)
    });
    let runs: Vec<_> = (0..50)
        .map(|i| {
            let target = Arc::clone(&target);
            tokio::spawn(async move {
                let session = connect(&target).await?;
                let out = session.exec(&format!("echo {i}"), TIMEOUT).await?;
                session.close().await;
                Ok::<_, opsconductor_connectors::SshError>(out.stdout)
            })
        })
        .collect();
    let mut failures = Vec::new();
    for (i, run) in runs.into_iter().enumerate() {
        match run.await.expect("join") {
            Ok(stdout) => assert_eq!(stdout, format!("{i}\n")),
            Err(e) => failures.push(format!("session {i}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[tokio::test]
async fn check_private_key_messages_never_contain_key_text_or_passphrase() {
    let server = Sshd::start();
    let key = server.encrypted_key();
    let plain = server.root_key();
    let rsa = server.rsa_pem_key();
    let body_lines = |pem: &str| -> Vec<String> {
        pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .map(str::to_owned)
            .collect()
    };
    // A key with one body line flipped: structurally broken but full of key material.
    let mut lines: Vec<String> = plain.pem.lines().map(str::to_owned).collect();
    lines[2] = lines[2].chars().rev().collect();
    let damaged = lines.join("\n");
    let truncated: String = rsa.pem.chars().take(rsa.pem.len() / 2).collect();
    let secret_word = "hunter2-opsc";

    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("encrypted without passphrase", key.pem.clone(), None),
        ("wrong passphrase", key.pem.clone(), Some(secret_word)),
        ("damaged OpenSSH key", damaged.clone(), Some(secret_word)),
        ("truncated PEM key", truncated.clone(), Some(secret_word)),
        (
            "key body without armour",
            body_lines(&plain.pem).join("\n"),
            None,
        ),
        ("a password pasted as a key", secret_word.to_owned(), None),
        ("public key", plain.public.clone(), None),
    ];
    for (what, pem, passphrase) in cases {
        let err = check_private_key(&pem, passphrase).expect_err(what);
        assert!(!err.is_empty(), "{what}");
        assert!(!err.contains(secret_word), "{what}: {err}");
        assert!(!err.contains(KEY_PASSPHRASE), "{what}: {err}");
        for source in [&key.pem, &plain.pem, &rsa.pem, &damaged, &truncated] {
            for line in body_lines(source) {
                // Any 12 characters of key text would be a leak.
                let chars: Vec<char> = line.chars().collect();
                for window in chars.windows(12) {
                    let piece: String = window.iter().collect();
                    assert!(
                        !err.contains(&piece),
                        "{what}: message leaks key text: {err}"
                    );
                }
            }
        }
    }
}

#[test]
fn every_key_format_ssh_keygen_writes_is_accepted_with_its_fingerprint() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let pass = "fmt-pass";
    let cases: &[(&str, &[&str], Option<&str>, &str)] = &[
        (
            "ecdsa_openssh",
            &["-t", "ecdsa", "-N", ""],
            None,
            "ecdsa-sha2-nistp256",
        ),
        (
            "ecdsa_pem",
            &["-t", "ecdsa", "-m", "PEM", "-N", ""],
            None,
            "ecdsa-sha2-nistp256",
        ),
        (
            "ecdsa_pkcs8",
            &["-t", "ecdsa", "-m", "PKCS8", "-N", ""],
            None,
            "ecdsa-sha2-nistp256",
        ),
        (
            "ecdsa384",
            &["-t", "ecdsa", "-b", "384", "-N", pass],
            Some(pass),
            "ecdsa-sha2-nistp384",
        ),
        (
            "rsa_openssh_enc",
            &["-t", "rsa", "-b", "2048", "-N", pass],
            Some(pass),
            "ssh-rsa",
        ),
        // OpenSSL's legacy PEM encryption (Proc-Type/DEK-Info, AES-128-CBC).
        (
            "rsa_pem_enc",
            &["-t", "rsa", "-b", "2048", "-m", "PEM", "-N", pass],
            Some(pass),
            "ssh-rsa",
        ),
        (
            "rsa_pkcs8_enc",
            &["-t", "rsa", "-b", "2048", "-m", "PKCS8", "-N", pass],
            Some(pass),
            "ssh-rsa",
        ),
    ];
    for (name, args, passphrase, algorithm) in cases {
        let path = dir.path().join(name);
        sshd::keygen(&path, args);
        let pem = std::fs::read_to_string(&path).expect("read key");
        let (fingerprint, _) = sshd::fingerprint(&path.with_extension("pub"));
        let info = check_private_key(&pem, *passphrase).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(info.algorithm, *algorithm, "{name}");
        assert_eq!(info.public_fingerprint, fingerprint, "{name}");
        assert_eq!(info.encrypted, passphrase.is_some(), "{name}");
        if passphrase.is_some() {
            let missing = check_private_key(&pem, None).expect_err(name);
            assert!(
                missing.contains("passphrase is required"),
                "{name}: {missing}"
            );
            let wrong = check_private_key(&pem, Some("nope")).expect_err(name);
            assert!(
                wrong.contains("passphrase does not decrypt"),
                "{name}: {wrong}"
            );
        }
        // What a browser form does to pasted text: CRLF line ends and stray indentation.
        let pasted = pem
            .lines()
            .map(|l| format!("  {l}\r\n"))
            .collect::<String>();
        let again =
            check_private_key(&pasted, *passphrase).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(again.public_fingerprint, fingerprint, "{name}");
    }
}

/// Output chunks by stream, in arrival order.
#[derive(Debug, Default)]
struct Collected {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    chunks: Vec<OutputChunk>,
}

async fn collect(mut rx: mpsc::Receiver<OutputChunk>) -> Collected {
    let mut out = Collected::default();
    while let Some(chunk) = rx.recv().await {
        match chunk.stream {
            Stream::Stdout => out.stdout.extend_from_slice(&chunk.data),
            Stream::Stderr => out.stderr.extend_from_slice(&chunk.data),
        }
        out.chunks.push(chunk);
    }
    out
}

/// A `sleep` of a minute or so whose argument is unique to this test run, so the process table
/// can be searched for it (the sshd runs on this machine).
fn unique_sleep(test: u32) -> String {
    format!("sleep {test}.{}", std::process::id())
}

/// How long a stopped command may take to disappear. Generous for a loaded machine, yet far below
/// the minute the sleeps would run by themselves.
const GONE_WITHIN: Duration = Duration::from_secs(20);

/// Whether a process whose command line contains `needle` runs on this machine.
fn process_running(needle: &str) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|entry| {
        let is_pid = entry
            .file_name()
            .to_str()
            .is_some_and(|name| name.bytes().all(|b| b.is_ascii_digit()));
        is_pid
            && std::fs::read(entry.path().join("cmdline"))
                .map(|cmdline| String::from_utf8_lossy(&cmdline).replace('\0', " "))
                .is_ok_and(|cmdline| cmdline.contains(needle))
    })
}

/// Polls the process table until no process matches `needle`, or panics after `within`.
async fn assert_gone_within(needle: &str, within: Duration) {
    let deadline = Instant::now() + within;
    while process_running(needle) {
        assert!(
            Instant::now() < deadline,
            "`{needle}` still runs after {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_until_running(needle: &str) {
    let deadline = Instant::now() + TIMEOUT;
    while !process_running(needle) {
        assert!(Instant::now() < deadline, "`{needle}` never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn output_streams_while_the_command_still_runs() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let dir = tempfile::tempdir().expect("temporary directory");
    let flag = dir.path().join("go");
    // The command cannot finish before the test creates the flag, which it does only after the
    // first chunk arrived.
    let command = format!(
        "echo a; while [ ! -e {flag} ]; do sleep 0.02; done; echo b",
        flag = flag.display()
    );
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(16);
    let mut exec =
        Box::pin(session.exec_streaming(&command, ExecOptions::new(TIMEOUT, &cancel), tx));
    let first = tokio::select! {
        chunk = rx.recv() => chunk.expect("a first chunk"),
        result = &mut exec => panic!("the command ended before any output: {result:?}"),
    };
    assert_eq!(first.stream, Stream::Stdout);
    assert_eq!(first.data, b"a\n");

    std::fs::write(&flag, b"").expect("create the flag");
    let (status, rest) = tokio::join!(exec, collect(rx));
    let status = status.expect("exec");
    assert_eq!(status.exit_code, Some(0));
    assert_eq!(rest.stdout, b"b\n");
    assert!(rest.stderr.is_empty(), "{:?}", rest.stderr);
    session.close().await;
}

#[tokio::test]
async fn stdout_and_stderr_are_separate_and_the_marker_never_shows() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let cancel = CancellationToken::new();
    let (tx, rx) = mpsc::channel(16);
    let command = "echo out; echo err >&2; printf 'partial' >&2; echo out2; echo ' line' >&2";
    let (status, out) = tokio::join!(
        session.exec_streaming(command, ExecOptions::new(TIMEOUT, &cancel), tx),
        collect(rx)
    );
    assert_eq!(status.expect("exec").exit_code, Some(0));
    assert_eq!(out.stdout, b"out\nout2\n");
    assert_eq!(out.stderr, b"err\npartial line\n");
    for chunk in &out.chunks {
        assert!(!chunk.data.is_empty());
        assert!(
            !chunk.data.contains(&0x1e) && !String::from_utf8_lossy(&chunk.data).contains("pgid"),
            "{chunk:?}"
        );
    }

    let out = session
        .exec("echo only-stderr >&2", TIMEOUT)
        .await
        .expect("exec");
    assert_eq!(out.stderr, "only-stderr\n");
    assert_eq!(out.stdout, "");
    session.close().await;
}

#[tokio::test]
async fn exit_codes_syntax_errors_and_signals_come_back_from_streaming_exec() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let cancel = CancellationToken::new();
    let run = |command: &'static str| {
        let session = &session;
        let cancel = &cancel;
        async move {
            let (tx, rx) = mpsc::channel(16);
            let (status, out) = tokio::join!(
                session.exec_streaming(command, ExecOptions::new(TIMEOUT, cancel), tx),
                collect(rx)
            );
            (status.expect(command), out)
        }
    };

    let (status, _) = run("exit 3").await;
    assert_eq!(status.exit_code, Some(3));
    assert_eq!(status.exit_signal, None);

    let (status, out) = run("echo before; exit 0").await;
    assert_eq!(status.exit_code, Some(0));
    assert_eq!(out.stdout, b"before\n");

    // The marker line runs before the shell parses the command, so the error is the shell's
    // usual one, on stderr as usual.
    let (status, out) = run("if then fi").await;
    assert_eq!(status.exit_code, Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("syntax error"), "{stderr}");
    assert!(!stderr.contains("opsc-pgid"), "{stderr}");

    let (status, _) = run("kill -TERM $$").await;
    assert_eq!(status.exit_code, None);
    assert_eq!(status.exit_signal.as_deref(), Some("TERM"));
    session.close().await;
}

#[tokio::test]
async fn stdin_is_written_to_the_command_then_closed() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let cancel = CancellationToken::new();

    let input = b"hello\0world\xff\n";
    let (tx, rx) = mpsc::channel(16);
    let opts = ExecOptions::new(TIMEOUT, &cancel).with_stdin(input);
    let (status, out) = tokio::join!(session.exec_streaming("cat", opts, tx), collect(rx));
    assert_eq!(status.expect("cat").exit_code, Some(0));
    assert_eq!(out.stdout, input);

    // More than the server's window: stdin has to wait for it to open, while `cat` echoes it back.
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let (tx, rx) = mpsc::channel(16);
    let opts = ExecOptions::new(TIMEOUT, &cancel).with_stdin(&big);
    let (status, out) = tokio::join!(session.exec_streaming("cat", opts, tx), collect(rx));
    assert_eq!(status.expect("cat").exit_code, Some(0));
    assert!(out.stdout == big, "echoed {} bytes", out.stdout.len());

    // No stdin is end-of-file at once, so `cat` ends instead of waiting.
    let out = session.exec("cat; echo done", TIMEOUT).await.expect("exec");
    assert_eq!(out.stdout, "done\n");

    // A command that does not read its input still ends.
    let (tx, rx) = mpsc::channel(16);
    let opts = ExecOptions::new(TIMEOUT, &cancel).with_stdin(&big);
    let (status, _) = tokio::join!(session.exec_streaming("exit 4", opts, tx), collect(rx));
    assert_eq!(status.expect("exit 4").exit_code, Some(4));
    session.close().await;
}

#[tokio::test]
async fn timeout_kills_the_remote_command_of_root() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let (first, second) = (unique_sleep(61), unique_sleep(62));
    // A background job and a foreground one: the whole process group has to go.
    let command = format!("{first} & {second}; wait");
    let cancel = CancellationToken::new();
    let (tx, rx) = mpsc::channel(16);
    let opts = ExecOptions::new(Duration::from_millis(700), &cancel);
    let (result, _) = tokio::join!(session.exec_streaming(&command, opts, tx), collect(rx));
    let err = result.expect_err("the sleeps outlast the timeout");
    assert_eq!(err.kind, SshErrorKind::Timeout, "{err}");
    assert!(err.message.contains("700 ms"), "{err}");

    assert_gone_within(&first, GONE_WITHIN).await;
    assert_gone_within(&second, GONE_WITHIN).await;
    let out = session
        .exec("echo still here", TIMEOUT)
        .await
        .expect("exec");
    assert_eq!(out.stdout, "still here\n");
    session.close().await;
}

#[tokio::test]
async fn cancel_kills_the_remote_command_of_root() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let sleep = unique_sleep(63);
    let command = format!("echo started; {sleep}");
    let cancel = CancellationToken::new();
    let (tx, mut rx) = mpsc::channel(16);
    let mut exec =
        Box::pin(session.exec_streaming(&command, ExecOptions::new(TIMEOUT, &cancel), tx));
    let first = tokio::select! {
        chunk = rx.recv() => chunk.expect("a first chunk"),
        result = &mut exec => panic!("the command ended early: {result:?}"),
    };
    assert_eq!(first.data, b"started\n");
    wait_until_running(&sleep).await;

    cancel.cancel();
    let (result, _) = tokio::join!(exec, collect(rx));
    let err = result.expect_err("canceled");
    assert_eq!(err.kind, SshErrorKind::Canceled, "{err}");
    assert_eq!(err.kind.as_str(), "canceled");
    assert!(err.message.contains("canceled"), "{err}");
    assert_gone_within(&sleep, GONE_WITHIN).await;

    // A token canceled beforehand runs nothing.
    let (tx, _rx) = mpsc::channel(16);
    let err = session
        .exec_streaming("echo never", ExecOptions::new(TIMEOUT, &cancel), tx)
        .await
        .expect_err("already canceled");
    assert_eq!(err.kind, SshErrorKind::Canceled, "{err}");
    session.close().await;
}

#[tokio::test]
async fn a_command_that_ignores_term_is_killed_and_the_caller_is_not_held() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let sleep = unique_sleep(64);
    // An ignored signal stays ignored in children, so the sleep shrugs off TERM too.
    let command = format!("trap '' TERM; {sleep}");
    let started = Instant::now();
    let err = session
        .exec(&command, Duration::from_millis(500))
        .await
        .expect_err("the sleep outlasts the timeout");
    let waited = started.elapsed();
    assert_eq!(err.kind, SshErrorKind::Timeout, "{err}");
    assert!(err.message.to_lowercase().contains("kill"), "{err}");
    // The caller is not held until the sleep ends; the escalation to KILL happens on the server.
    assert!(waited < Duration::from_secs(15), "took {waited:?}");
    assert_gone_within(&sleep, GONE_WITHIN).await;
    session.close().await;
}

/// `len` random bytes from the kernel.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0; len];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o7777
}

/// Names in `dir`, to see that no temporary file was left behind.
fn names_in(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn copy_of_five_mib_of_random_bytes_is_byte_exact_with_the_mode_applied() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let dir = tempfile::tempdir().expect("temporary directory");
    let dest = dir.path().join("payload.bin");
    let content = random_bytes(5 * 1024 * 1024 + 7);
    let cancel = CancellationToken::new();

    let outcome = session
        .copy(
            dest.to_str().expect("UTF-8 path"),
            &content,
            Some(0o640),
            false,
            TIMEOUT,
            &cancel,
        )
        .await
        .expect("copy");
    assert_eq!(outcome.bytes, content.len() as u64);
    assert_eq!(outcome.sha256, sha256_hex(&content));
    let written = std::fs::read(&dest).expect("read the copy");
    assert!(
        written == content,
        "the copy differs ({} bytes)",
        written.len()
    );
    assert_eq!(mode_of(&dest), 0o640);
    assert_eq!(names_in(dir.path()), ["payload.bin"]);
    session.close().await;
}

#[tokio::test]
async fn copy_without_overwrite_refuses_an_existing_file_and_leaves_it() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let dir = tempfile::tempdir().expect("temporary directory");
    let dest = dir.path().join("motd");
    let dest_str = dest.to_str().expect("UTF-8 path");
    std::fs::write(&dest, b"original").expect("write the original");
    let cancel = CancellationToken::new();

    let err = session
        .copy(dest_str, b"replacement", None, false, TIMEOUT, &cancel)
        .await
        .expect_err("the destination exists");
    assert_eq!(err.kind, SshErrorKind::Exists, "{err}");
    assert!(err.message.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&dest).expect("read"), b"original");
    assert_eq!(names_in(dir.path()), ["motd"]);

    // With overwrite the file is replaced; without a mode it is private to the user.
    session
        .copy(dest_str, b"replacement", None, true, TIMEOUT, &cancel)
        .await
        .expect("overwrite");
    assert_eq!(std::fs::read(&dest).expect("read"), b"replacement");
    assert_eq!(mode_of(&dest), 0o600);
    assert_eq!(names_in(dir.path()), ["motd"]);
    session.close().await;
}

#[tokio::test]
async fn copy_to_a_path_with_spaces_and_quotes_works() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let dir = tempfile::tempdir().expect("temporary directory");
    let sub = dir.path().join("it's a dir");
    std::fs::create_dir(&sub).expect("mkdir");
    let dest = sub.join("file with 'quotes' $HOME `id` \"x\"");
    let cancel = CancellationToken::new();

    session
        .copy(
            dest.to_str().expect("UTF-8 path"),
            b"",
            Some(0o755),
            false,
            TIMEOUT,
            &cancel,
        )
        .await
        .expect("copy");
    assert_eq!(std::fs::read(&dest).expect("read"), b"");
    assert_eq!(mode_of(&dest), 0o755);
    assert_eq!(names_in(&sub).len(), 1);
    session.close().await;
}

#[tokio::test]
async fn copy_into_a_missing_directory_says_why() {
    let server = Sshd::start();
    let session = connect(&root_target(&server)).await.expect("connect");
    let dir = tempfile::tempdir().expect("temporary directory");
    let dest = dir.path().join("missing").join("file");
    let cancel = CancellationToken::new();
    let err = session
        .copy(
            dest.to_str().expect("UTF-8 path"),
            b"x",
            None,
            true,
            TIMEOUT,
            &cancel,
        )
        .await
        .expect_err("no such directory");
    assert_eq!(err.kind, SshErrorKind::CopyFailed, "{err}");
    assert!(err.message.contains("temporary file"), "{err}");
    assert!(!dest.exists());
    session.close().await;
}
