//! A very short-lived cache of the user facts every authenticated request needs (role,
//! token version), measured necessary: one SQLite round trip per request halved the
//! throughput of simple reads. Local changes invalidate at once; other API nodes see a
//! change within the TTL (1 s by default, `auth.user_cache_ttl_ms`, 0 disables).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::auth::Caller;

const MAX_ENTRIES: usize = 10_000;

#[derive(Clone)]
struct Entry {
    caller: Caller,
    token_version: i64,
    fetched: Instant,
}

/// Cached `(caller, token_version)` per user id.
pub struct SessionCache {
    ttl: Duration,
    entries: Mutex<HashMap<i64, Entry>>,
    /// Bumped by every invalidation, so a read that raced with a change is not cached.
    epoch: AtomicU64,
}

impl SessionCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            epoch: AtomicU64::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Entry>> {
        match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The epoch to pass to [`Self::put`] for a read that starts now.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    pub fn get(&self, user_id: i64) -> Option<(Caller, i64)> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self.entries();
        let entry = entries.get(&user_id)?;
        (entry.fetched.elapsed() < self.ttl).then(|| (entry.caller.clone(), entry.token_version))
    }

    /// Stores a fresh read unless something was invalidated since `epoch`.
    pub fn put(&self, epoch: u64, caller: Caller, token_version: i64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries();
        if self.epoch.load(Ordering::Acquire) != epoch {
            return;
        }
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            caller.id,
            Entry {
                caller,
                token_version,
                fetched: Instant::now(),
            },
        );
    }

    /// Forgets a user after a change to the user's role, password, tokens or existence.
    pub fn invalidate(&self, user_id: i64) {
        let mut entries = self.entries();
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.remove(&user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Role;

    fn caller(id: i64) -> Caller {
        Caller {
            id,
            username: "u".into(),
            email: "u@example.com".into(),
            role: Role::Viewer,
        }
    }

    #[test]
    fn entries_expire_and_invalidate() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let e = cache.epoch();
        cache.put(e, caller(1), 3);
        assert_eq!(cache.get(1).map(|(c, v)| (c.id, v)), Some((1, 3)));
        cache.invalidate(1);
        assert!(cache.get(1).is_none());
        let off = SessionCache::new(Duration::ZERO);
        off.put(off.epoch(), caller(1), 1);
        assert!(off.get(1).is_none());
    }

    #[test]
    fn a_read_that_raced_with_an_invalidation_is_not_cached() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let before = cache.epoch();
        cache.invalidate(7);
        cache.put(before, caller(7), 1);
        assert!(cache.get(7).is_none());
    }
}
