//! The binary as an operator runs it: serve, healthcheck, migrate, admin, configuration errors.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_opsconductor");

fn opsconductor(data_dir: &Path) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.env("OPSCONDUCTOR_DATA_DIR", data_dir)
        .env("OPSCONDUCTOR_LISTEN", "127.0.0.1:0")
        .env("OPSCONDUCTOR_HTTP_LISTEN", "off")
        .env_remove("OPSCONDUCTOR_DATABASE_URL")
        .env_remove("OPSCONDUCTOR_ADMIN_PASSWORD");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits (bounded) for the server to write its address.
fn wait_for_listen_addr(data_dir: &Path, child: &mut Child) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    let path = data_dir.join("listen-addr");
    loop {
        if let Ok(addr) = std::fs::read_to_string(&path) {
            return addr.trim().to_string();
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("server exited early: {status}");
        }
        assert!(Instant::now() < deadline, "server did not start in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Signs in over HTTPS, trusting the server's generated CA.
async fn login_status(data_dir: &Path, addr: &str, password: &str) -> u16 {
    let pem = std::fs::read(data_dir.join("tls/ca.pem")).expect("CA");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
        .build()
        .expect("client");
    let port = addr.rsplit(':').next().expect("port");
    client
        .post(format!("https://localhost:{port}/api/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("login sent")
        .status()
        .as_u16()
}

#[tokio::test]
async fn serve_answers_healthcheck_stops_on_sigterm_and_never_logs_the_configured_password() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tmp");
    // Brackets and leading zeros: taken verbatim, not parsed as a list or a number.
    let secret = "[0012345678-configured]";
    let mut child = opsconductor(dir.path())
        .arg("serve")
        .env("OPSCONDUCTOR_ADMIN_PASSWORD", secret)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let addr = wait_for_listen_addr(dir.path(), &mut child);
    assert!(addr.starts_with("127.0.0.1:"), "{addr}");

    let out = run(opsconductor(dir.path()).arg("healthcheck"));
    assert!(out.status.success(), "healthcheck: {}", text(&out.stdout));
    assert!(text(&out.stdout).contains("healthy"));
    assert_eq!(login_status(dir.path(), &addr, secret).await, 200);

    let status = terminate(&mut child);
    assert!(status.success(), "graceful exit: {status}");
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut log).expect("log");
    assert!(log.contains("listening"), "{log}");
    assert!(
        !log.contains(secret),
        "the configured admin password appeared in the log"
    );

    let out = run(opsconductor(dir.path()).arg("healthcheck"));
    assert!(
        !out.status.success(),
        "healthcheck fails once the server is gone"
    );
}

#[test]
fn migrate_then_admin_create_user_and_reset_password() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(opsconductor(dir.path()).arg("migrate"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(dir.path().join("opsconductor.db").exists());

    let mut child = opsconductor(dir.path())
        .args([
            "admin",
            "create-user",
            "--username",
            "ops",
            "--email",
            "ops@example.com",
            "--role",
            "operator",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"operator-password\n")
        .expect("write");
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("created user 'ops'") && stdout.contains("role operator"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("operator-password"),
        "a password given on stdin is not echoed"
    );

    let out = run(opsconductor(dir.path()).args([
        "admin",
        "create-user",
        "--username",
        "ops",
        "--email",
        "o2@example.com",
    ]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("already exists"),
        "{}",
        text(&out.stderr)
    );

    let out = run(opsconductor(dir.path()).args([
        "admin",
        "create-user",
        "--username",
        "x",
        "--email",
        "bad",
        "--role",
        "root",
    ]));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("email") && err.contains("role"), "{err}");

    let out = run(opsconductor(dir.path()).args(["admin", "reset-password", "--username", "ops"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("password: "),
        "a generated password is shown once"
    );

    let out =
        run(opsconductor(dir.path()).args(["admin", "reset-password", "--username", "nobody"]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("User not found"));
}

#[test]
fn bad_configuration_is_refused_with_a_clear_message_and_no_secret() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = run(opsconductor(dir.path())
        .arg("migrate")
        .env("OPSCONDUCTOR_DATABASE_URL", "mysql://ops:hunter2@db/ops"));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("mysql") && err.contains("sqlite://"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    assert!(
        !dir.path().join("opsconductor.db").exists(),
        "no SQLite file appears by accident"
    );

    let out = run(opsconductor(dir.path())
        .arg("serve")
        .env("OPSCONDUCTOR_LISTEN", "not-an-address"));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("OPSCONDUCTOR_LISTEN"));

    let config = dir.path().join("opsconductor.toml");
    std::fs::write(&config, "listne = \"127.0.0.1:1\"\n").expect("write");
    let out = run(opsconductor(dir.path())
        .arg("--config")
        .arg(&config)
        .arg("migrate"));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("listne"),
        "unknown keys are warned: {}",
        text(&out.stderr)
    );
}

/// An HTTPS client that trusts the server's generated CA, and the server's base URL.
fn client_for(data_dir: &Path, addr: &str) -> (reqwest::Client, String) {
    let pem = std::fs::read(data_dir.join("tls/ca.pem")).expect("CA");
    let client = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).expect("pem")])
        .build()
        .expect("client");
    let port = addr.rsplit(':').next().expect("port");
    (client, format!("https://localhost:{port}"))
}

#[tokio::test]
async fn secrets_never_reach_the_log_even_at_debug_level() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tmp");
    let admin_password = "admin-Secret-0451";
    let secret = "Vault-Secret-9e1f";
    let mut child = opsconductor(dir.path())
        .arg("serve")
        .env("OPSCONDUCTOR_ADMIN_PASSWORD", admin_password)
        .env("OPSCONDUCTOR_LOG", "debug")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn serve");
    let addr = wait_for_listen_addr(dir.path(), &mut child);
    let (client, base) = client_for(dir.path(), &addr);
    let post = |path: &str, token: Option<&str>, body: serde_json::Value| {
        let mut req = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    // A failed login that carries a secret as its password.
    post(
        "/api/login",
        None,
        serde_json::json!({"username": "admin", "password": secret}),
    )
    .await
    .expect("login");
    let login: serde_json::Value = post(
        "/api/login",
        None,
        serde_json::json!({"username": "admin", "password": admin_password}),
    )
    .await
    .expect("login")
    .json()
    .await
    .expect("json");
    let token = login["access_token"].as_str().expect("token").to_string();
    let refresh = login["refresh_token"]
        .as_str()
        .expect("refresh")
        .to_string();
    let cred: serde_json::Value = post(
        "/credentials",
        Some(&token),
        serde_json::json!({"name": "c", "credential_type": "ssh", "credential_data": {"username": "root", "password": secret}}),
    )
    .await
    .expect("credential")
    .json()
    .await
    .expect("json");
    let id = cred["id"].as_i64().expect("id");
    let decrypted = client
        .get(format!("{base}/credentials/{id}/decrypt"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("decrypt")
        .text()
        .await
        .expect("body");
    assert!(!decrypted.contains(secret), "{decrypted}");
    post(
        &format!("/credentials/{id}/rotate"),
        Some(&token),
        serde_json::json!({"username": "root", "password": secret}),
    )
    .await
    .expect("rotate");
    let unused_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let target: serde_json::Value = post(
        "/targets",
        Some(&token),
        serde_json::json!({"name": "t", "hostname": "127.0.0.1", "protocol": "ssh", "port": unused_port, "credential_ref": id}),
    )
    .await
    .expect("target")
    .json()
    .await
    .expect("json");
    let report = post(
        &format!("/targets/{}/test", target["id"]),
        Some(&token),
        serde_json::json!({}),
    )
    .await
    .expect("test")
    .text()
    .await
    .expect("body");
    assert!(!report.contains(secret), "{report}");
    post(
        "/api/refresh",
        None,
        serde_json::json!({"refresh_token": refresh}),
    )
    .await
    .expect("refresh");

    assert!(terminate(&mut child).success());
    let mut log = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().expect("stderr"), &mut log).expect("log");
    assert!(log.contains("DEBUG"), "the log ran at debug level");
    for needle in [secret, admin_password, token.as_str(), refresh.as_str()] {
        assert!(!log.contains(needle), "a secret reached the log: {needle}");
    }
}

#[tokio::test]
async fn rotate_master_key_while_the_server_runs() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = opsconductor(dir.path())
        .arg("serve")
        .env("OPSCONDUCTOR_ADMIN_PASSWORD", "admin-password-1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let addr = wait_for_listen_addr(dir.path(), &mut child);
    let (client, base) = client_for(dir.path(), &addr);
    let login: serde_json::Value = client
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": "admin", "password": "admin-password-1"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token").to_string();
    let mut ids = Vec::new();
    for i in 0..3 {
        let cred: serde_json::Value = client
            .post(format!("{base}/credentials"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": format!("c{i}"), "credential_type": "token", "credential_data": {"token": "t"}}))
            .send()
            .await
            .expect("credential")
            .json()
            .await
            .expect("json");
        ids.push(cred["id"].as_i64().expect("id"));
    }
    let before = std::fs::read_to_string(dir.path().join("master.key")).expect("key");
    let out = run(opsconductor(dir.path()).args(["admin", "rotate-master-key"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("re-wrapped 3 credential key(s)"),
        "{stdout}"
    );
    assert_ne!(
        std::fs::read_to_string(dir.path().join("master.key")).expect("key"),
        before
    );
    for id in ids {
        let status = client
            .get(format!("{base}/credentials/{id}/decrypt"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("decrypt")
            .status();
        assert_eq!(
            status.as_u16(),
            200,
            "credential {id} readable after rotation, without a restart"
        );
    }
    assert!(terminate(&mut child).success());
    // A restart with the rotated key works; the old key no longer opens the vault.
    let bad_key = dir.path().join("old.key");
    std::fs::write(&bad_key, before).expect("write");
    let out = run(opsconductor(dir.path())
        .arg("migrate")
        .env("OPSCONDUCTOR_MASTER_KEY_FILE", &bad_key));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("wrong master key"),
        "{}",
        text(&out.stderr)
    );
    let out = run(opsconductor(dir.path()).arg("migrate"));
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// Polls `GET {base}{path}` until `done` accepts the JSON, for at most 30 s.
async fn poll_json(
    client: &reqwest::Client,
    url: &str,
    token: &str,
    done: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let value: serde_json::Value = client
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("get")
            .json()
            .await
            .expect("json");
        if done(&value) {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {value}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_run_whose_server_was_killed_is_failed_naming_the_dead_worker() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let dir = tempfile::tempdir().expect("tmp");
    let password = "admin-Kill-Test-77";
    // An HTTP peer that accepts connections and never answers keeps the step running.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let silent_port = silent.local_addr().expect("addr").port();
    let serve = || {
        opsconductor(dir.path())
            .arg("serve")
            .env("OPSCONDUCTOR_ADMIN_PASSWORD", password)
            .env("OPSCONDUCTOR_ENGINE__HEARTBEAT_INTERVAL_MS", "200")
            .env("OPSCONDUCTOR_ENGINE__LEASE_TIMEOUT_SECS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn serve")
    };
    let mut first = serve();
    let addr = wait_for_listen_addr(dir.path(), &mut first);
    let (client, base) = client_for(dir.path(), &addr);
    let login: serde_json::Value = client
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token").to_string();
    let definition = serde_json::json!({"name": "hang", "version": 1, "steps": [{"type": "http.request",
        "method": "GET", "url": format!("http://127.0.0.1:{silent_port}/"), "timeoutSec": 600}]});
    let job: serde_json::Value = client
        .post(format!("{base}/jobs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "hang", "definition": definition}))
        .send()
        .await
        .expect("job")
        .json()
        .await
        .expect("json");
    let run: serde_json::Value = client
        .post(format!("{base}/jobs/{}/run", job["id"]))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("run")
        .json()
        .await
        .expect("json");
    let run_url = format!("{base}/runs/{}", run["id"]);
    let running = poll_json(&client, &format!("{run_url}/steps"), &token, |s| {
        s[0]["status"] == "running"
    })
    .await;
    assert_eq!(running[0]["status"], "running");
    let dead: serde_json::Value = client
        .get(&run_url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let dead_worker = dead["worker_id"].as_str().expect("worker id").to_string();
    // SIGKILL: no shutdown, no hand-back, the lease simply stops being renewed.
    first.kill().expect("kill -9");
    first.wait().expect("reaped");
    std::fs::remove_file(dir.path().join("listen-addr")).expect("stale listen-addr");
    let mut second = serve();
    let addr = wait_for_listen_addr(dir.path(), &mut second);
    let (client, base) = client_for(dir.path(), &addr);
    let run_url = format!("{base}/runs/{}", run["id"]);
    let login: serde_json::Value = client
        .post(format!("{base}/api/login"))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token").to_string();
    let failed = poll_json(&client, &run_url, &token, |r| r["status"] != "running").await;
    terminate(&mut second);
    drop(silent);
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["error"].as_str().expect("error");
    assert!(
        error.contains(&dead_worker) && error.contains("stopped renewing its lease"),
        "{error}"
    );
}
