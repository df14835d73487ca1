//! Password hashing: argon2id on dedicated threads, capped so a login storm cannot starve
//! the request-serving threads. Legacy bcrypt hashes from the
//! older product verify and are flagged for re-hashing.

use std::sync::mpsc::TrySendError;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::OnceCell;

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The hash uses bcrypt or old parameters: store a fresh argon2id hash.
    pub needs_rehash: bool,
}

type Job = Box<dyn FnOnce() + Send>;

/// Hashes and verifies passwords off the async runtime, on a few dedicated threads.
///
/// Dedicated threads (one per core but one) rather than the blocking pool: each argon2 run
/// needs 19 MiB, and the allocator keeps that memory per thread, so a dozen pool threads
/// taking turns would each hold on to their own copy (seen: RSS 17 → 200 MiB under a login
/// storm). The same cap keeps at least one core serving other requests during the storm.
#[derive(Clone)]
pub struct Passwords {
    jobs: std::sync::mpsc::SyncSender<Job>,
    dummy_hash: Arc<OnceCell<String>>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new()
    }
}

fn argon2() -> Argon2<'static> {
    // OWASP's recommended argon2id floor: 19 MiB, 2 iterations, 1 lane.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::default())
}

impl Passwords {
    pub fn new() -> Self {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        let workers = cores.saturating_sub(1).max(1);
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(1024);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    loop {
                        let job = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password hashing thread");
            }
        }
        Self {
            jobs: tx,
            dummy_hash: Arc::new(OnceCell::new()),
        }
    }

    async fn run_blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> crate::Result<T> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = done.send(work());
        });
        self.jobs.try_send(job).map_err(|err| match err {
            TrySendError::Full(_) => {
                crate::Error::Unavailable("Too many sign-ins in progress; retry shortly".into())
            }
            TrySendError::Disconnected(_) => {
                anyhow::anyhow!("password hashing threads are gone").into()
            }
        })?;
        Ok(result.await.context("password hashing job was dropped")?)
    }

    /// A new argon2id PHC string for `password`.
    pub async fn hash(&self, password: &str) -> crate::Result<String> {
        let password = password.to_owned();
        let hashed = self
            .run_blocking(move || {
                let salt = SaltString::generate(&mut OsRng);
                argon2()
                    .hash_password(password.as_bytes(), &salt)
                    .map(|h| h.to_string())
                    .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
            })
            .await?;
        Ok(hashed?)
    }

    /// Checks `password` against `stored` (argon2 PHC or legacy bcrypt).
    pub async fn verify(&self, password: &str, stored: &str) -> crate::Result<Verified> {
        let password = password.to_owned();
        let stored = stored.to_owned();
        self.run_blocking(move || verify_blocking(&password, &stored))
            .await
    }

    /// Spends the same effort as a real verification, so an unknown username takes as long
    /// to reject as a wrong password.
    pub async fn verify_dummy(&self, password: &str) -> crate::Result<()> {
        let hash = self
            .dummy_hash
            .get_or_try_init(|| self.hash("opsconductor-dummy-password"))
            .await?
            .clone();
        self.verify(password, &hash).await.map(|_| ())
    }
}

fn verify_blocking(password: &str, stored: &str) -> Verified {
    if stored.starts_with("$2a$") || stored.starts_with("$2b$") || stored.starts_with("$2y$") {
        let ok = bcrypt::verify(password, stored).unwrap_or(false);
        return Verified {
            ok,
            needs_rehash: ok,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verified {
            ok: false,
            needs_rehash: false,
        };
    };
    let ok = argon2()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    let current = Params::default();
    let outdated = parsed.algorithm.as_str() != "argon2id"
        || Params::try_from(&parsed)
            .map(|p| p.m_cost() != current.m_cost() || p.t_cost() != current.t_cost())
            .unwrap_or(true);
    Verified {
        ok,
        needs_rehash: ok && outdated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn argon2id_round_trip() {
        let p = Passwords::new();
        let hash = p.hash("correct horse").await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert_eq!(
            p.verify("correct horse", &hash).await.expect("verify"),
            Verified {
                ok: true,
                needs_rehash: false
            }
        );
        assert!(!p.verify("wrong horse", &hash).await.expect("verify").ok);
    }

    #[tokio::test]
    async fn legacy_bcrypt_verifies_and_asks_for_rehash() {
        let legacy = bcrypt::hash("admin123", 4).expect("bcrypt");
        let p = Passwords::new();
        assert_eq!(
            p.verify("admin123", &legacy).await.expect("verify"),
            Verified {
                ok: true,
                needs_rehash: true
            }
        );
        assert!(!p.verify("nope", &legacy).await.expect("verify").ok);
    }

    #[tokio::test]
    async fn garbage_hashes_never_verify() {
        let p = Passwords::new();
        assert!(!p.verify("x", "not a hash").await.expect("verify").ok);
    }
}
