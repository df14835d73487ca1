//! Login throttling: counts failed logins per username and per client IP in a window and
//! locks a key that reaches its limit. A locked key answers 429 even for the right password,
//! and unknown usernames are counted like known ones, so nothing reveals whether a user exists.

use opsconductor_store::{UtcTime, throttle};

use crate::config::AuthConfig;
use crate::{Core, Error, Result};

fn user_key(username: &str) -> String {
    format!("user:{}", username.trim().to_lowercase())
}

fn ip_key(ip: &str) -> String {
    format!("ip:{ip}")
}

/// Fails with 429 when the username or the IP is locked.
pub async fn check(core: &Core, username: &str, ip: Option<&str>) -> Result<()> {
    let now = UtcTime::now();
    let mut keys = vec![user_key(username)];
    keys.extend(ip.map(ip_key));
    let mut wait = 0i64;
    for key in &keys {
        if let Some(state) = throttle::get(&core.db, key).await?
            && let Some(until) = state.locked_until.filter(|u| *u > now)
        {
            wait = wait.max((until.get() - now.get()).num_seconds() + 1);
        }
    }
    if wait > 0 {
        return Err(too_many(wait));
    }
    Ok(())
}

fn too_many(wait_secs: i64) -> Error {
    let secs = u64::try_from(wait_secs).unwrap_or(1).max(1);
    Error::TooManyRequests {
        message: format!("Too many failed login attempts. Try again in {secs} seconds."),
        retry_after_secs: secs,
    }
}

/// Counts a failed login against the username and the IP; locks whichever reached its limit.
pub async fn record_failure(core: &Core, username: &str, ip: Option<&str>) -> Result<()> {
    let cfg: &AuthConfig = &core.config.auth;
    let now = UtcTime::now();
    let window_start_after = now.plus_secs(-secs(cfg.failure_window_secs));
    let mut limits = vec![(user_key(username), cfg.max_failures_per_user)];
    limits.extend(ip.map(|ip| (ip_key(ip), cfg.max_failures_per_ip)));
    for (key, max) in limits {
        let state = throttle::record_failure(&core.db, &key, now, window_start_after).await?;
        if state.failures >= i64::from(max) && state.locked_until.is_none_or(|u| u <= now) {
            tracing::warn!(key = %key, failures = state.failures, "login locked after repeated failures");
            throttle::lock_until(&core.db, &key, now.plus_secs(secs(cfg.lockout_secs))).await?;
        }
    }
    Ok(())
}

/// A successful login clears the username's counter (not the IP's: one valid account must not
/// reset an address that is guessing other accounts' passwords).
pub async fn record_success(core: &Core, username: &str) -> Result<()> {
    throttle::clear(&core.db, &user_key(username)).await?;
    Ok(())
}

/// Forgets counters whose window and lock are over.
pub async fn prune(core: &Core) -> Result<u64> {
    let now = UtcTime::now();
    let cfg = &core.config.auth;
    let before = now.plus_secs(-secs(cfg.failure_window_secs.max(cfg.lockout_secs)));
    Ok(throttle::prune(&core.db, before, now).await?)
}

fn secs(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX / 4)
}
