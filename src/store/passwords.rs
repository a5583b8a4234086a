//! Password hashing off the async workers: argon2 runs on tokio's blocking pool, at most one hash per
//! core but one at a time, with a short bounded queue in front. A burst of logins or sign-ups then
//! waits its turn or is told to come back (`503` with `Retry-After`), while health checks and every
//! other request keep their workers.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

use crate::auth::random_bytes;

/// Requests that may wait for a hashing slot, per slot; more are refused at once.
const WAITING_PER_SLOT: usize = 16;
/// The longest a request waits for a slot before it is refused.
const MAX_WAIT: Duration = Duration::from_secs(2);
/// What a refused request is told to wait (`Retry-After`, seconds).
pub const RETRY_AFTER_SECS: u64 = 1;

/// An argon2 hash of a random password, checked against when the user does not exist, so an unknown
/// user costs the same time as a wrong password.
pub(crate) const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2s0yBqRHdxTYoQuLP0X6rqwRL8ffn1p0m6Wj2pR5Prk";

/// Every hashing slot is taken and the queue is full: come back later.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("password hashing is at capacity; try again shortly")]
pub struct Busy;

/// Hashes and checks passwords with argon2 on the blocking pool, behind a bound sized to the cores.
/// Cheap to clone.
#[derive(Debug, Clone)]
pub struct PasswordHashing {
    /// One permit per hash running at once.
    slots: Arc<Semaphore>,
    /// One permit per request running or waiting: the bound on the queue.
    admitted: Arc<Semaphore>,
}

impl Default for PasswordHashing {
    /// One slot per core but one (`available_parallelism`, respecting cgroup quotas), and at least
    /// one: argon2 never takes every core, so the async workers always have one to answer on.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Self::with_slots(cores.saturating_sub(1))
    }
}

impl PasswordHashing {
    /// `slots` hashes at once (at least one), and `WAITING_PER_SLOT` waiting per slot.
    pub fn with_slots(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            slots: Arc::new(Semaphore::new(slots)),
            admitted: Arc::new(Semaphore::new(slots * (1 + WAITING_PER_SLOT))),
        }
    }

    /// A PHC-format argon2id hash of `password` with a fresh random salt; `None` if the system
    /// random generator or argon2 fails.
    ///
    /// # Errors
    /// [`Busy`] when the queue is full or no slot frees up in time.
    pub async fn hash(&self, password: &str) -> Result<Option<String>, Busy> {
        let password = password.to_owned();
        self.run(move || {
            let salt = random_bytes::<16>().ok()?;
            let salt = SaltString::encode_b64(&salt).ok()?;
            let hash = Argon2::default()
                .hash_password(password.as_bytes(), &salt)
                .ok()?;
            Some(hash.to_string())
        })
        .await
    }

    /// Whether `password` matches the PHC-format `hash` (false for a malformed hash).
    ///
    /// # Errors
    /// [`Busy`] when the queue is full or no slot frees up in time.
    pub async fn verify(&self, hash: &str, password: &str) -> Result<bool, Busy> {
        let (hash, password) = (hash.to_owned(), password.to_owned());
        self.run(move || {
            PasswordHash::new(&hash).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            })
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        // Refuse at once when the queue is full: waiting longer only makes the burst worse.
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| Busy)?;
        let slot = tokio::time::timeout(MAX_WAIT, self.slots.clone().acquire_owned())
            .await
            .map_err(|_| Busy)?
            .map_err(|_| Busy)?;
        // The slot moves into the closure: it is freed when the hash ends, even if the request that
        // asked for it was dropped meanwhile, so the bound holds for work actually running.
        tokio::task::spawn_blocking(move || {
            let _slot = slot;
            work()
        })
        .await
        .map_err(|error| {
            tracing::error!(%error, "password hashing task failed");
            Busy
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let hashing = PasswordHashing::with_slots(1);
        let hash = hashing.hash("correct horse").await.unwrap().unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(hashing.verify(&hash, "correct horse").await.unwrap());
        assert!(!hashing.verify(&hash, "wrong horse").await.unwrap());
        assert!(!hashing.verify("not a hash", "correct horse").await.unwrap());
    }

    #[test]
    fn the_dummy_hash_is_a_valid_argon2_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        let hashing = PasswordHashing::with_slots(1);
        let capacity = 1 + WAITING_PER_SLOT;
        let burst = (0..capacity + 5).map(|_| async {
            let started = std::time::Instant::now();
            let answer = hashing.verify(DUMMY_HASH, "password").await;
            (answer.is_err(), started.elapsed())
        });
        let answers = futures_util::future::join_all(burst).await;
        // Refused without waiting for a slot: well under MAX_WAIT, which a queued request may spend.
        let refused_at_once = answers
            .iter()
            .filter(|(busy, took)| *busy && *took < MAX_WAIT / 2)
            .count();
        assert!(refused_at_once >= 5, "{answers:?}");
    }
}
