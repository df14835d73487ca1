use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Structured logs to stderr with the configured filter (`OPSCONDUCTOR_LOG`).
pub fn init(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|err| {
        eprintln!("warning: invalid log filter '{filter}' ({err}); using 'info'");
        EnvFilter::new("info")
    });
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}
