//! Throughput of the WinRM client against a WS-Man server, for `bench/winrm.sh`.
//!
//! One session (one NTLM handshake); N commands (`Command::Cmd("echo hi")`, in the session's
//! reused shell: Command, Receive, Signal) one after another; then K copies of one random S MiB
//! file.
//! Prints one JSON line. Settings (environment): `WINRM_HOST` (127.0.0.1), `WINRM_PORT`
//! (required), `WINRM_USER` (`WINTEST\Administrator`), `WINRM_PASSWORD` (required),
//! `BENCH_N` (300), `BENCH_COPY_MIB` (8), `BENCH_COPY_TIMES` (3), `BENCH_COPY_DEST`
//! (`/tmp/opsc-winrm-bench.bin`), `BENCH_FLAVOR` (`posix`, the test server; `windows`).
//!
//! ```sh
//! cargo build --release -p opsconductor-winrm --example winrm_bench
//! WINRM_PORT=40321 WINRM_PASSWORD=... target/release/examples/winrm_bench
//! ```

use std::time::{Duration, Instant};

use opsconductor_winrm::{
    CancellationToken, Command, RemoteFlavor, WinrmAuth, WinrmSession, WinrmTarget,
};

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name} must be a non-negative integer (got {v:?})"))
    })
}

/// Incompressible bytes without a `rand` dependency (xorshift64*).
fn random_bytes(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15
        ^ u64::from(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos()),
        );
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = env_or("WINRM_HOST", "127.0.0.1");
    let port: u16 = std::env::var("WINRM_PORT")
        .map_err(|_| "WINRM_PORT is required")?
        .parse()?;
    let user = env_or("WINRM_USER", "WINTEST\\Administrator");
    let password = std::env::var("WINRM_PASSWORD").map_err(|_| "WINRM_PASSWORD is required")?;
    let n = env_num("BENCH_N", 300);
    let copy_mib = env_num("BENCH_COPY_MIB", 8);
    let copy_times = env_num("BENCH_COPY_TIMES", 3);
    let dest = env_or("BENCH_COPY_DEST", "/tmp/opsc-winrm-bench.bin");

    let mut target = WinrmTarget::new(
        host,
        port,
        false,
        WinrmAuth::Ntlm {
            username: user,
            domain: String::new(),
            password,
        },
    );
    target.remote_flavor = match env_or("BENCH_FLAVOR", "posix").as_str() {
        "windows" => RemoteFlavor::Windows,
        _ => RemoteFlavor::PosixStandIn,
    };

    let t0 = Instant::now();
    let session = WinrmSession::connect(&target).await?;
    let connect_s = t0.elapsed().as_secs_f64();

    let command = Command::Cmd("echo hi".to_owned());
    let timeout = Duration::from_secs(60);
    let t0 = Instant::now();
    for i in 0..n {
        let out = session.exec(&command, timeout).await?;
        if out.exit_code != Some(0) || out.stdout.trim() != "hi" {
            return Err(format!("command {i}: {out:?}").into());
        }
    }
    let cmd_s = t0.elapsed().as_secs_f64();

    let content = random_bytes(usize::try_from(copy_mib * 1024 * 1024)?);
    let cancel = CancellationToken::new();
    let t0 = Instant::now();
    for _ in 0..copy_times {
        let done = session
            .copy(&dest, &content, true, Duration::from_secs(600), &cancel)
            .await?;
        if done.bytes != content.len() as u64 {
            return Err(format!("copy wrote {} bytes", done.bytes).into());
        }
    }
    let copy_s = t0.elapsed().as_secs_f64();
    let connections = session.connections_opened().await;
    session.close().await;

    #[allow(clippy::cast_precision_loss)]
    let result = serde_json::json!({
        "client": "opsconductor-winrm",
        "connect_s": connect_s,
        "commands": n,
        "commands_s": cmd_s,
        "commands_per_s": n as f64 / cmd_s,
        "copy_mib": copy_mib,
        "copy_times": copy_times,
        "copy_s": copy_s,
        "copy_mib_per_s": (copy_mib * copy_times) as f64 / copy_s,
        "connections_opened": connections,
    });
    println!("{result}");
    Ok(())
}
