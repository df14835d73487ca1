//! A real OpenSSH server for tests: `/usr/sbin/sshd` on a free loopback port, with its own host
//! key, client keys and configuration in a temporary directory, stopped when dropped.
//!
//! Needs the Debian package `openssh-server` and root (sshd's privilege separation). Password
//! tests also need a Unix user with a password, named by `OPSCONDUCTOR_TEST_SSH_USER` and
//! `OPSCONDUCTOR_TEST_SSH_PASSWORD` (see [`password_user`]).

#![allow(dead_code)] // each test binary uses part of the harness

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tempfile::TempDir;

const SSHD: &str = "/usr/sbin/sshd";
const SSH_KEYGEN: &str = "/usr/bin/ssh-keygen";
/// How long sshd may take to start listening; it is usually a few milliseconds.
const START_DEADLINE: Duration = Duration::from_secs(15);
/// Port collisions (another test grabbed the port between probe and bind) are retried.
const START_ATTEMPTS: usize = 5;

/// The passphrase of [`Sshd::encrypted_key`].
pub const KEY_PASSPHRASE: &str = "correct horse battery staple";

/// Which ways in the server allows. Public key auth for root is always on.
#[derive(Debug, Clone, Copy, Default)]
pub struct SshdOptions {
    /// `PasswordAuthentication yes` (checked against /etc/shadow; `UsePAM no`).
    pub password: bool,
    /// Passwords only through keyboard-interactive via PAM (`PasswordAuthentication no`,
    /// `KbdInteractiveAuthentication yes`, `UsePAM yes`), as many distributions ship sshd.
    pub pam_keyboard_interactive: bool,
}

/// A client key pair whose public half is in the server's authorized_keys.
#[derive(Debug, Clone)]
pub struct ClientKey {
    /// The private key file's text.
    pub pem: String,
    pub passphrase: Option<String>,
    /// `SHA256:...` from `ssh-keygen -lf`.
    pub fingerprint: String,
    /// The `.pub` file's line (`ssh-ed25519 AAAA... comment`), as authorized_keys takes it.
    pub public: String,
}

struct ClientKeys {
    root: ClientKey,
    encrypted: ClientKey,
    rsa_pem: ClientKey,
}

/// Client keys are made once per test binary (RSA generation and bcrypt-pbkdf are slow enough to
/// matter across many servers); every server authorizes the same ones.
fn client_keys() -> &'static ClientKeys {
    static KEYS: OnceLock<ClientKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("opsc-ssh-keys-")
            .tempdir()
            .expect("temporary directory");
        let make = |name: &str, args: &[&str], passphrase: Option<&str>| {
            let path = dir.path().join(name);
            keygen(&path, args);
            let public = path.with_extension("pub");
            ClientKey {
                pem: read(&path),
                passphrase: passphrase.map(str::to_owned),
                fingerprint: fingerprint(&public).0,
                public: read(&public),
            }
        };
        ClientKeys {
            root: make("root_ed25519", &["-t", "ed25519", "-N", ""], None),
            encrypted: make(
                "enc_ed25519",
                &["-t", "ed25519", "-N", KEY_PASSPHRASE],
                Some(KEY_PASSPHRASE),
            ),
            // A PKCS#1 PEM RSA key exercises the other decoder and rsa-sha2 signatures.
            rsa_pem: make(
                "rsa_pem",
                &["-t", "rsa", "-b", "2048", "-m", "PEM", "-N", ""],
                None,
            ),
        }
    })
}

/// A running sshd. Dropping it kills the server and removes its directory.
pub struct Sshd {
    pub port: u16,
    /// The host key's fingerprint as `ssh-keygen -lf` prints it: what a client must see.
    pub host_key_fingerprint: String,
    pub host_key_algorithm: String,
    root_key: ClientKey,
    encrypted_key: ClientKey,
    rsa_pem_key: ClientKey,
    child: Child,
    dir: TempDir,
}

impl Sshd {
    /// Key authentication only.
    pub fn start() -> Self {
        Self::start_with(SshdOptions::default())
    }

    /// Key authentication, and passwords via `PasswordAuthentication yes`.
    pub fn start_with_passwords() -> Self {
        Self::start_with(SshdOptions {
            password: true,
            ..SshdOptions::default()
        })
    }

    pub fn start_with(options: SshdOptions) -> Self {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install it with `apt-get install -y openssh-server`"
        );
        // sshd's privilege separation directory; Debian creates it only when the service runs.
        fs::create_dir_all("/run/sshd").expect("create /run/sshd (tests must run as root)");

        let dir = tempfile::Builder::new()
            .prefix("opsc-sshd-")
            .tempdir()
            .expect("temporary directory");
        let d = dir.path();
        keygen(&d.join("host_ed25519"), &["-t", "ed25519", "-N", ""]);
        let (host_key_fingerprint, host_key_algorithm) = fingerprint(&d.join("host_ed25519.pub"));
        let keys = client_keys();
        let authorized: String = [&keys.root, &keys.encrypted, &keys.rsa_pem]
            .iter()
            .map(|k| k.public.as_str())
            .collect();
        fs::write(d.join("authorized_keys"), authorized).expect("write authorized_keys");
        let root_key = keys.root.clone();
        let encrypted_key = keys.encrypted.clone();
        let rsa_pem_key = keys.rsa_pem.clone();

        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let config = d.join("sshd_config");
            fs::write(&config, sshd_config(d, port, options)).expect("write sshd_config");
            check_config(&config);
            let log = d.join("sshd.log");
            let _ = fs::remove_file(&log);
            let mut child = Command::new(SSHD)
                .arg("-D") // stay in the foreground, so the child is the server we kill
                .arg("-f")
                .arg(&config)
                .arg("-E")
                .arg(&log)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn sshd");
            match wait_for_banner(&mut child, port) {
                Ok(()) => {
                    return Self {
                        port,
                        host_key_fingerprint,
                        host_key_algorithm,
                        root_key,
                        encrypted_key,
                        rsa_pem_key,
                        child,
                        dir,
                    };
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    failures.push(format!(
                        "port {port}: {why}\n{}",
                        fs::read_to_string(&log).unwrap_or_default()
                    ));
                }
            }
        }
        panic!("sshd did not start:\n{}", failures.join("\n"));
    }

    /// An unencrypted Ed25519 key authorized for root.
    pub fn root_key(&self) -> &ClientKey {
        &self.root_key
    }

    /// An Ed25519 key encrypted with [`KEY_PASSPHRASE`], authorized for root.
    pub fn encrypted_key(&self) -> &ClientKey {
        &self.encrypted_key
    }

    /// An unencrypted 2048-bit RSA key in PKCS#1 PEM format, authorized for root.
    pub fn rsa_pem_key(&self) -> &ClientKey {
        &self.rsa_pem_key
    }

    /// The server's log so far (LogLevel DEBUG1: every authentication request is logged).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }

    /// Polls the log until it contains `needle`, or panics with the log after `within`.
    pub fn wait_for_log(&self, needle: &str, within: Duration) -> String {
        self.wait_for_log_line(within, |line| line.contains(needle))
    }

    /// Polls the log until a line satisfies `matches`, or panics with the log after `within`.
    pub fn wait_for_log_line(&self, within: Duration, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let log = self.log();
            if log.lines().any(&matches) {
                return log;
            }
            assert!(
                Instant::now() < deadline,
                "sshd log never showed the expected line:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The Unix user and password for password tests, from `OPSCONDUCTOR_TEST_SSH_USER` and
/// `OPSCONDUCTOR_TEST_SSH_PASSWORD`. Without them a test prints that it was skipped and gets
/// `None`, except under CI (`CI` set), which must provide them.
pub fn password_user(test: &str) -> Option<(String, String)> {
    let user = std::env::var("OPSCONDUCTOR_TEST_SSH_USER").ok();
    let password = std::env::var("OPSCONDUCTOR_TEST_SSH_PASSWORD").ok();
    match (user, password) {
        (Some(user), Some(password)) if !user.is_empty() && !password.is_empty() => {
            Some((user, password))
        }
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must set OPSCONDUCTOR_TEST_SSH_USER and OPSCONDUCTOR_TEST_SSH_PASSWORD \
                 (a user made with useradd -m and chpasswd)"
            );
            println!(
                "{test}: skipped (set OPSCONDUCTOR_TEST_SSH_USER and \
                 OPSCONDUCTOR_TEST_SSH_PASSWORD to run it)"
            );
            None
        }
    }
}

/// A loopback port that nothing listens on: bound to learn a free one, then released.
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind a free loopback port")
        .port()
}

/// Generates a key pair with `ssh-keygen` (the reference implementation, not the code under
/// test).
pub fn keygen(path: &Path, args: &[&str]) {
    let out = Command::new(SSH_KEYGEN)
        .args(args)
        .arg("-q")
        .arg("-C")
        .arg("opsconductor-test")
        .arg("-f")
        .arg(path)
        .stdin(Stdio::null())
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "ssh-keygen {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `(SHA256:..., algorithm)` of a public key file, from `ssh-keygen -lf`.
pub fn fingerprint(public_key: &Path) -> (String, String) {
    let out = Command::new(SSH_KEYGEN)
        .arg("-lf")
        .arg(public_key)
        .output()
        .expect("run ssh-keygen -lf");
    assert!(out.status.success(), "ssh-keygen -lf failed");
    // "256 SHA256:... comment (ED25519)"
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let fp = text
        .split_whitespace()
        .nth(1)
        .expect("fingerprint field")
        .to_owned();
    let algorithm = read(public_key)
        .split_whitespace()
        .next()
        .expect("algorithm field")
        .to_owned();
    (fp, algorithm)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn sshd_config(dir: &Path, port: u16, options: SshdOptions) -> String {
    let path = |name: &str| -> PathBuf { dir.join(name) };
    let (password, kbd, pam) = if options.pam_keyboard_interactive {
        ("no", "yes", "yes")
    } else if options.password {
        ("yes", "no", "no")
    } else {
        ("no", "no", "no")
    };
    format!(
        "ListenAddress 127.0.0.1\n\
         Port {port}\n\
         HostKey {host_key}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {authorized}\n\
         PubkeyAuthentication yes\n\
         PasswordAuthentication {password}\n\
         KbdInteractiveAuthentication {kbd}\n\
         UsePAM {pam}\n\
         StrictModes no\n\
         PermitRootLogin prohibit-password\n\
         Subsystem sftp internal-sftp\n\
         MaxStartups 500\n\
         LogLevel DEBUG1\n",
        host_key = path("host_ed25519").display(),
        pid = path("sshd.pid").display(),
        authorized = path("authorized_keys").display(),
    )
}

fn check_config(config: &Path) {
    let out = Command::new(SSHD)
        .arg("-t")
        .arg("-f")
        .arg(config)
        .output()
        .expect("run sshd -t");
    assert!(
        out.status.success(),
        "sshd -t rejected the config: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits until the server on `port` sends an OpenSSH banner, or says why not.
fn wait_for_banner(child: &mut Child, port: u16) -> Result<(), String> {
    let deadline = Instant::now() + START_DEADLINE;
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            return Err(format!("sshd exited with {status}"));
        }
        if let Ok(stream) = TcpStream::connect((Ipv4Addr::LOCALHOST, port)) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let mut banner = String::new();
            if BufReader::new(stream).read_line(&mut banner).is_ok()
                && banner.starts_with("SSH-2.0-OpenSSH")
            {
                return Ok(());
            }
            return Err(format!("port {port} answered {banner:?}, not sshd"));
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "nothing listened on port {port} within {START_DEADLINE:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
