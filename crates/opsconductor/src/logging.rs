use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Structured logs to stderr with the configured filter (`OPSCONDUCTOR_LOG`).
///
/// rustls warns once per connection about clients that send an IP address as SNI (wrk,
/// OpenSSL clients): any client could flood the log with that, so rustls is held to errors
/// unless the filter names it.
pub fn init(filter: &str) {
    let filter = if filter.contains("rustls") {
        filter.to_string()
    } else {
        format!("{filter},rustls=error")
    };
    let filter = EnvFilter::try_new(&filter).unwrap_or_else(|err| {
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
