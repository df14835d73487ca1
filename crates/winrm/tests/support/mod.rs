//! The WS-Management test server (`testing/wsman-server/server.py`) for tests: pyspnego's NTLM
//! acceptor and MS-WSMV sealing, Windows' envelopes, commands run by `/bin/sh`. One per test, on
//! a free loopback port, stopped (SIGTERM, which also kills its commands) when dropped.
//!
//! `setup.sh` (a venv with pinned pyspnego/pywinrm) runs once per test binary. If it fails the
//! tests are skipped with a message, unless `CI=true`, where that is a failure.

#![allow(dead_code)] // each test binary uses part of the harness

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opsconductor_winrm::{RemoteFlavor, WinrmAuth, WinrmTarget};
use tempfile::TempDir;

pub const DOMAIN: &str = "WINTEST";
pub const USER: &str = "Administrator";
pub const PASSWORD: &str = "Passw0rd!:with-colon";

/// How long the server may take to print `LISTENING` (Python imports pyspnego and cryptography).
const START_DEADLINE: Duration = Duration::from_secs(30);

fn server_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testing/wsman-server")
}

/// The venv's python, set up once; `None` (with a message) when that is impossible outside CI.
fn python() -> Option<&'static Path> {
    static PYTHON: OnceLock<Option<PathBuf>> = OnceLock::new();
    PYTHON
        .get_or_init(|| {
            let setup = server_dir().join("setup.sh");
            let out = Command::new("bash")
                .arg(&setup)
                .stdin(Stdio::null())
                .stderr(Stdio::inherit())
                .output();
            let failure = match out {
                Ok(out) if out.status.success() => {
                    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                    if Path::new(&path).exists() {
                        return Some(PathBuf::from(path));
                    }
                    format!(
                        "{} printed no usable python path ({path:?})",
                        setup.display()
                    )
                }
                Ok(out) => format!("{} failed with {}", setup.display(), out.status),
                Err(e) => format!("cannot run {}: {e}", setup.display()),
            };
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("the WS-Man test server cannot be set up: {failure}");
            }
            eprintln!("SKIPPING WinRM tests: the WS-Man test server cannot be set up: {failure}");
            None
        })
        .as_deref()
}

/// How to start a server.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--allow-unencrypted` (plaintext SOAP and Basic over HTTP).
    pub allow_unencrypted: bool,
    /// Serve HTTPS with a leaf certificate signed by a fresh test CA.
    pub tls: bool,
    /// `--fault drop-mid-command`.
    pub drop_mid_command: bool,
    /// `--auth ntlm|basic|both`.
    pub auth: Option<&'static str>,
    /// `--shell-idle-timeout SECS`: idle shells vanish as on Windows after `IdleTimeout`.
    pub shell_idle_timeout: Option<f64>,
}

/// A running server. Dropping it stops the server and removes its files.
pub struct WsmanServer {
    pub port: u16,
    /// The test CA that signed the server's certificate (with [`Options::tls`]).
    pub ca_pem: Option<String>,
    child: Child,
    dir: TempDir,
}

impl WsmanServer {
    /// Starts a server, or returns `None` when the harness cannot run here (see the module doc).
    pub fn start(options: Options) -> Option<Self> {
        let python = python()?;
        let dir = tempfile::Builder::new()
            .prefix("opsc-wsman-")
            .tempdir()
            .expect("temporary directory");
        let mut command = Command::new(python);
        command
            .arg(server_dir().join("server.py"))
            .args(["--port", "0", "--user"])
            .arg(format!("{DOMAIN}\\{USER}:{PASSWORD}"))
            .arg("--stats-file")
            .arg(dir.path().join("stats.json"))
            .arg("-v");
        if options.allow_unencrypted {
            command.arg("--allow-unencrypted");
        }
        if options.drop_mid_command {
            command.args(["--fault", "drop-mid-command"]);
        }
        if let Some(auth) = options.auth {
            command.args(["--auth", auth]);
        }
        if let Some(secs) = options.shell_idle_timeout {
            command.arg("--shell-idle-timeout").arg(secs.to_string());
        }
        let ca_pem = options.tls.then(|| {
            let (ca, cert, key) = test_certificates();
            fs::write(dir.path().join("cert.pem"), cert).expect("write cert");
            fs::write(dir.path().join("key.pem"), key).expect("write key");
            command
                .arg("--tls-cert")
                .arg(dir.path().join("cert.pem"))
                .arg("--tls-key")
                .arg(dir.path().join("key.pem"));
            ca
        });
        let log = fs::File::create(dir.path().join("server.log")).expect("server log");
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start server.py");
        let stdout = child.stdout.take().expect("server stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(START_DEADLINE).unwrap_or_default();
        let Some(port) = line
            .trim()
            .strip_prefix("LISTENING ")
            .and_then(|p| p.parse().ok())
        else {
            let _ = child.kill();
            let log = fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("server.py did not start (first line {line:?}); its log:\n{log}");
        };
        Some(Self {
            port,
            ca_pem,
            child,
            dir,
        })
    }

    /// A target for the test account, NTLM, over HTTP or HTTPS as the server serves.
    pub fn target(&self) -> WinrmTarget {
        let mut target = WinrmTarget::new(
            "127.0.0.1",
            self.port,
            self.ca_pem.is_some(),
            ntlm(PASSWORD),
        );
        target.ca_pem.clone_from(&self.ca_pem);
        target.connect_timeout = Duration::from_secs(10);
        target.remote_flavor = RemoteFlavor::PosixStandIn;
        target
    }

    /// The server's counters (rewritten before every reply leaves, so they are current).
    pub fn stats(&self) -> serde_json::Value {
        let text = fs::read_to_string(self.dir.path().join("stats.json")).expect("stats file");
        serde_json::from_str(&text).expect("stats json")
    }

    pub fn stat(&self, name: &str) -> i64 {
        self.stats()[name]
            .as_i64()
            .unwrap_or_else(|| panic!("no counter {name} in {}", self.stats()))
    }

    /// Polls a counter until `check` holds, for at most 10 s (the server updates some gauges
    /// from its own threads, after the reply).
    pub fn wait_for_stat(&self, name: &str, check: impl Fn(i64) -> bool) -> i64 {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let value = self.stat(name);
            if check(value) || Instant::now() >= deadline {
                return value;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's log (`-v`), for failure messages.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// A scratch directory that lives as long as the server.
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for WsmanServer {
    fn drop(&mut self) {
        // SIGTERM lets it kill its commands and remove its credential store.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn ntlm(password: &str) -> WinrmAuth {
    WinrmAuth::Ntlm {
        username: USER.to_owned(),
        domain: DOMAIN.to_owned(),
        password: password.to_owned(),
    }
}

/// A CA and a leaf for `localhost` / `127.0.0.1` signed by it (rustls refuses a self-signed
/// CA used as the server certificate). Returns (CA PEM, leaf PEM, leaf key PEM).
pub fn test_certificates() -> (String, String, String) {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair,
        KeyUsagePurpose,
    };
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "OpsConductor WinRM test CA");
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_key = KeyPair::generate().expect("ca key");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca cert");

    let mut leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("leaf params");
    leaf_params.is_ca = IsCa::ExplicitNoCa;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    let leaf_key = KeyPair::generate().expect("leaf key");
    let leaf = leaf_params.signed_by(&leaf_key, &ca).expect("leaf cert");
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}
