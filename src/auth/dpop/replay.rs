//! The DPoP replay store: each proof's `jti` is accepted once within the window a proof lives
//! (RFC 9449 §11.1). In process always; also in Redis (`SET key NX EX`) when `[CACHE] URL` is set,
//! so a proof used at one replica is refused at every other.
//!
//! The in-process part is not a cache: a cache evicts under pressure, and a `jti` forgotten before
//! its proof expires could be replayed. It keeps two generations of keys, each as long as the window:
//! a key lives between one and two windows, and a full generation refuses new proofs (503) rather
//! than forget a live one. Bound: [`MAX_PER_GENERATION`] keys of 16 bytes per generation, about
//! 20 MiB for both when full.
//!
//! That cap is shared by every client, so one client alone must not reach it: each proof key
//! (`jkt`) may record at most [`MAX_PROOFS_PER_KEY`] proofs per generation, and a key over its quota
//! is refused (429) while every other key keeps working. The per-key counts live beside the current
//! generation and are dropped with it; each counted key has at least one proof in that generation,
//! so the count map is bounded by the global cap too (one 20-byte entry per key: at worst, one key
//! per proof, about as large again as the current generation's set).
//!
//! Redis down or slow: the proof is accepted on the strength of the local store alone (and a warning
//! is logged). A replay then succeeds only at another replica, within the proof's minute, for a
//! request the attacker has seen whole; refusing every DPoP request while Redis is down would turn a
//! cache outage into an API outage. The bearer path makes the same choice for its caches.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{SHA256, digest};
use url::Url;

use super::replay_redis::SharedReplay;
use crate::auth::error::ProofError;
use crate::store::CacheUrlError;

/// Keys one generation holds at most: at the default 91-second window, about 5,000 proofs a second
/// per replica before new proofs are refused.
pub(crate) const MAX_PER_GENERATION: usize = 500_000;

/// Proofs one key (`jkt`) may record per generation (one window, 91 s by default): about 550
/// requests a second to one replica, sustained, which leaves room for a busy backend client of one
/// key, and a tenth of the 500,000 proofs a generation holds, so one bound token can no longer fill
/// the store for every client (ten keys with valid bound tokens still can: the global bound then
/// answers 503).
pub const MAX_PROOFS_PER_KEY: u32 = 50_000;

/// The proofs seen within the window, in this process and, when configured, in Redis.
pub(crate) struct ReplayStore {
    local: Mutex<Generations>,
    shared: Option<SharedReplay>,
    window: u64,
    per_key: u32,
}

impl std::fmt::Debug for ReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayStore")
            .field("shared", &self.shared.is_some())
            .field("window", &self.window)
            .field("per_key", &self.per_key)
            .finish_non_exhaustive()
    }
}

/// Two sets of 128-bit key prefixes (half a SHA-256: collisions stay out of reach).
#[derive(Default)]
struct Generations {
    /// When `current` was started, seconds since the epoch.
    started: u64,
    current: HashSet<[u8; 16]>,
    previous: HashSet<[u8; 16]>,
    /// Proofs recorded in `current` per proof key (a 128-bit prefix of the SHA-256 of its `jkt`).
    per_key: HashMap<[u8; 16], u32>,
}

impl ReplayStore {
    /// A store remembering each proof for `window` seconds (the longest a proof is accepted), shared
    /// through the Redis at `cache_url` when given, recording at most `per_key` proofs per proof key
    /// and generation ([`MAX_PROOFS_PER_KEY`] in service). Redis is not contacted until first used.
    ///
    /// # Errors
    /// When `cache_url` cannot be used (a binary built without Redis).
    pub(crate) fn new(
        window: u64,
        cache_url: Option<&Url>,
        per_key: u32,
    ) -> Result<Self, CacheUrlError> {
        Ok(Self {
            local: Mutex::new(Generations::default()),
            shared: cache_url.map(SharedReplay::connect).transpose()?,
            window: window.max(1),
            per_key: per_key.max(1),
        })
    }

    /// Records `key`, a proof made with the key whose thumbprint is `jkt`, at `now`; `Ok` only the
    /// first time it is seen within the window.
    ///
    /// # Errors
    /// [`ProofError::Replayed`] for a key seen before, here or at another replica;
    /// [`ProofError::KeyOverQuota`] when `jkt` recorded its quota of proofs in this generation;
    /// [`ProofError::StoreFull`] when this process may remember no more proofs right now.
    pub(crate) async fn first_use(
        &self,
        key: &[u8; 32],
        jkt: &str,
        now: u64,
    ) -> Result<(), ProofError> {
        self.first_use_here(key, jkt, now)?;
        match &self.shared {
            Some(shared) => match shared.set_if_absent(key, self.window).await {
                Some(true) | None => Ok(()),
                Some(false) => Err(ProofError::Replayed),
            },
            None => Ok(()),
        }
    }

    /// The in-process half of [`Self::first_use`]: one short lock, no wait inside it.
    fn first_use_here(&self, key: &[u8; 32], jkt: &str, now: u64) -> Result<(), ProofError> {
        let mut prefix = [0u8; 16];
        prefix.copy_from_slice(&key[..16]);
        let mut client = [0u8; 16];
        client.copy_from_slice(&digest(&SHA256, jkt.as_bytes()).as_ref()[..16]);
        // A panic while holding the lock cannot leave the sets half-updated in a way that matters.
        let mut seen = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let age = now.saturating_sub(seen.started);
        if age >= 2 * self.window {
            // Both generations are past the window: everything in them has expired.
            seen.previous.clear();
            seen.current.clear();
            seen.per_key.clear();
            seen.started = now;
        } else if age >= self.window {
            let current = std::mem::take(&mut seen.current);
            seen.previous = current;
            seen.per_key.clear();
            seen.started = now;
        }
        if seen.previous.contains(&prefix) || seen.current.contains(&prefix) {
            return Err(ProofError::Replayed);
        }
        let recorded = seen.per_key.get(&client).copied().unwrap_or(0);
        if recorded >= self.per_key {
            // Until the next generation starts, when this key's count starts again from zero.
            let retry_after = (seen.started + self.window).saturating_sub(now).max(1);
            return Err(ProofError::KeyOverQuota { retry_after });
        }
        // The last resort, should many keys share the load.
        if seen.current.len() >= MAX_PER_GENERATION {
            return Err(ProofError::StoreFull);
        }
        seen.current.insert(prefix);
        seen.per_key.insert(client, recorded + 1);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[tokio::test]
    async fn a_key_is_accepted_once_within_the_window() {
        let store = ReplayStore::new(90, None, MAX_PROOFS_PER_KEY).unwrap();
        assert_eq!(store.first_use(&key(1), "jkt-a", 1_000).await, Ok(()));
        assert_eq!(
            store.first_use(&key(1), "jkt-a", 1_000).await,
            Err(ProofError::Replayed)
        );
        assert_eq!(store.first_use(&key(2), "jkt-a", 1_000).await, Ok(()));
    }

    #[tokio::test]
    async fn a_key_outlives_one_rotation_and_is_forgotten_after_two_windows() {
        let store = ReplayStore::new(90, None, MAX_PROOFS_PER_KEY).unwrap();
        store.first_use(&key(1), "jkt-a", 1_000).await.unwrap();
        // Rotated once: still remembered, a full window after it was seen.
        assert_eq!(
            store.first_use(&key(1), "jkt-a", 1_089).await,
            Err(ProofError::Replayed)
        );
        assert_eq!(
            store.first_use(&key(1), "jkt-a", 1_095).await,
            Err(ProofError::Replayed)
        );
        // Two windows on, the proof it came from is long expired.
        assert_eq!(store.first_use(&key(1), "jkt-a", 1_300).await, Ok(()));
    }

    #[tokio::test]
    async fn a_full_generation_refuses_new_keys_instead_of_forgetting_old_ones() {
        let store = ReplayStore::new(90, None, MAX_PROOFS_PER_KEY).unwrap();
        {
            let mut seen = store.local.lock().unwrap();
            seen.started = 1_000;
            seen.current.extend((0..MAX_PER_GENERATION as u32).map(|n| {
                let mut prefix = [0xff; 16];
                prefix[..4].copy_from_slice(&n.to_be_bytes());
                prefix
            }));
        }
        assert_eq!(
            store.first_use(&key(1), "jkt-a", 1_010).await,
            Err(ProofError::StoreFull)
        );
    }

    #[tokio::test]
    async fn a_key_over_its_quota_is_refused_while_other_keys_keep_working() {
        let store = ReplayStore::new(90, None, 3).unwrap();
        for n in 0..3 {
            assert_eq!(store.first_use(&key(n), "jkt-a", 1_000).await, Ok(()));
        }
        assert_eq!(
            store.first_use(&key(3), "jkt-a", 1_010).await,
            Err(ProofError::KeyOverQuota { retry_after: 80 })
        );
        assert_eq!(store.first_use(&key(4), "jkt-b", 1_010).await, Ok(()));
        // A refused proof was not recorded, and a replay is still told as one.
        assert_eq!(
            store.first_use(&key(0), "jkt-a", 1_010).await,
            Err(ProofError::Replayed)
        );
        // The next generation starts every key's count again.
        assert_eq!(store.first_use(&key(3), "jkt-a", 1_090).await, Ok(()));
    }
}
