//! The web UI end to end: the built binary serves the embedded UI, and `e2e/smoke.mjs` drives
//! Debian's headless Chromium through it with playwright-core. Needs `web/dist` (`npm ci && npm
//! run build` in `web/`), `e2e/node_modules` (`npm ci` in `e2e/`), Node.js and `/usr/bin/chromium`;
//! `.ci/run` prepares all of them. Without them the test says so and passes, except under
//! `CI=true`, where it fails. The SSH part talks to a real OpenSSH sshd started here (root and
//! `openssh-server` needed, as for the engine's SSH tests).

/// The real-sshd harness the connector and engine tests use.
#[path = "../../connectors/tests/support/sshd.rs"]
mod sshd;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_opsconductor");
const CHROMIUM: &str = "/usr/bin/chromium";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What is missing to run the browser test, if anything.
fn missing_prerequisites(root: &Path) -> Vec<String> {
    let mut missing = Vec::new();
    if !root.join("web/dist/index.html").exists() {
        missing.push("web/dist (run `npm ci && npm run build` in web/)".to_string());
    }
    if !root.join("e2e/node_modules/playwright-core").exists() {
        missing.push("e2e/node_modules (run `npm ci` in e2e/)".to_string());
    }
    if !Path::new(CHROMIUM).exists() {
        missing.push(format!("{CHROMIUM} (apt-get install chromium)"));
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("node".to_string());
    }
    missing
}

#[test]
fn the_web_ui_works_end_to_end_in_headless_chromium() {
    let root = repo_root();
    let missing = missing_prerequisites(&root);
    if !missing.is_empty() {
        let message = format!("browser test prerequisites missing: {}", missing.join("; "));
        assert!(std::env::var("CI").is_err(), "{message}");
        eprintln!("skipped: {message}");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    let password = "admin-e2e-Pass-31";
    let sshd = sshd::Sshd::start();
    let key_file = dir.path().join("e2e-ssh-key");
    std::fs::write(&key_file, &sshd.root_key().pem).expect("write the client key");
    let mut server = Command::new(BIN)
        .arg("serve")
        .env("OPSCONDUCTOR_DATA_DIR", dir.path())
        .env("OPSCONDUCTOR_LISTEN", "127.0.0.1:0")
        .env("OPSCONDUCTOR_HTTP_LISTEN", "off")
        .env("OPSCONDUCTOR_TLS", "off")
        .env("OPSCONDUCTOR_ADMIN_PASSWORD", password)
        .env_remove("OPSCONDUCTOR_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let addr_file = dir.path().join("listen-addr");
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        if let Ok(addr) = std::fs::read_to_string(&addr_file) {
            break addr.trim().to_string();
        }
        assert!(Instant::now() < deadline, "server did not start");
        std::thread::sleep(Duration::from_millis(20));
    };
    let screenshots = std::env::var("OPSCONDUCTOR_E2E_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("e2e/screenshots"));
    let output = Command::new("node")
        .arg("smoke.mjs")
        .current_dir(root.join("e2e"))
        .env("E2E_BASE", format!("http://{addr}"))
        .env("E2E_ADMIN_PASSWORD", password)
        .env("E2E_SCREENSHOTS", &screenshots)
        .env("E2E_CHROMIUM", CHROMIUM)
        .env("E2E_SSH_PORT", sshd.port.to_string())
        .env("E2E_SSH_USER", "root")
        .env("E2E_SSH_KEY_FILE", &key_file)
        .output()
        .expect("node runs");
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "browser test failed:\n{stdout}\n{stderr}"
    );
    for page in [
        "dashboard",
        "credentials",
        "targets",
        "targets-import",
        "job-builder",
        "job-history",
        "job-plan",
        "jobs",
        "users",
        "profile",
        "run",
        "run-ssh",
        "runs",
        "audit",
        "dashboard-dark",
        "runs-phone",
    ] {
        assert!(
            screenshots.join(format!("{page}.png")).exists(),
            "screenshot {page}.png"
        );
    }
}
