//! The DPoP replay store: each proof's `jti` is accepted once within the window a proof lives
//! (RFC 9449 §11.1). In process always; also in Redis (`SET key NX EX`) when `[CACHE] URL` is set,
//! so a proof used at one replica is refused at every other.
//!
//! The in-process part is not a cache: a cache evicts under pressure, and a `jti` forgotten before
//! its proof expires could be replayed. It keeps two generations of keys, each as long as the window:
//! a key lives between one and two windows, and a full generation refuses new proofs (503) rather
//! than forget a live one. Bound: [`MAX_PER_GENERATION`] keys of 16 bytes per generation; with the
//! hash tables' spare room and the count maps below, some tens of MiB when full (an estimate, not
//! measured), kept allocated after a flood.
//!
//! That cap is shared by every client, so no one client may come near it. Each proof key (`jkt`)
//! may record at most [`MAX_PROOFS_PER_KEY`] proofs per generation, and each principal (the bound
//! token's issuer and `sub`), over all the keys it holds, at most [`MAX_PROOFS_PER_SUBJECT`]: keys
//! cost nothing to make, so a quota per key alone would let one account that binds a token to ten
//! keys fill the store. A client over either quota is refused (429) while every other keeps working.
//! The counts live beside the current generation and are dropped with it; each counted key or
//! principal has at least one proof in that generation, so each count map is bounded by the global
//! cap too (one 20-byte entry per proof at worst, about as large again as the current generation).
//!
//! The quotas are counted in each process, as the store they protect is: with Redis, a client
//! spread over N replicas may record N quotas' worth, but fills no replica's store. A refused proof
//! is never written to Redis, so it stays usable at another replica.
//!
//! Redis down or slow: the proof is accepted on the strength of the local store alone (and a warning
//! is logged). A replay then succeeds only at another replica, within the proof's minute, for a
//! request the attacker has seen whole; refusing every DPoP request while Redis is down would turn a
//! cache outage into an API outage. The bearer path makes the same choice for its caches.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{Context, SHA256, digest};
use url::Url;

use super::replay_redis::SharedReplay;
use crate::auth::error::ProofError;
use crate::store::CacheUrlError;

/// Keys one generation holds at most: at the default 91-second window, about 5,000 proofs a second
/// per replica before new proofs are refused.
pub(crate) const MAX_PER_GENERATION: usize = 500_000;

/// Proofs one key (`jkt`) may record per generation (one window, 91 s by default): about 550
/// requests a second to one replica, sustained, which leaves room for a busy backend client of one
/// key, and a tenth of the 500,000 proofs a generation holds, so one bound token cannot fill the
/// store for every client.
pub const MAX_PROOFS_PER_KEY: u32 = 50_000;

/// Proofs one principal (the bound token's issuer and `sub`) may record per generation, over all
/// its keys. Twice [`MAX_PROOFS_PER_KEY`], so a client may run two keys at full rate (a key being
/// rotated out beside its successor, two instances of one backend), and a fifth of the store: keys
/// cost nothing, but filling the store now takes five principals each holding an account at a
/// trusted issuer, rather than ten keys bound by one account.
pub const MAX_PROOFS_PER_SUBJECT: u32 = 100_000;

/// How many proofs the replay store records per window for one client: the quotas beyond which its
/// proofs are refused with 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProofQuotas {
    /// Proofs per proof key (`jkt`); [`MAX_PROOFS_PER_KEY`] in service.
    pub per_key: u32,
    /// Proofs per principal (issuer and `sub`), all its keys together; [`MAX_PROOFS_PER_SUBJECT`]
    /// in service.
    pub per_subject: u32,
}

/// The quotas the service runs with.
impl Default for ProofQuotas {
    fn default() -> Self {
        Self {
            per_key: MAX_PROOFS_PER_KEY,
            per_subject: MAX_PROOFS_PER_SUBJECT,
        }
    }
}

/// Whom a bound token speaks for: the issuer that verified it and its `sub`. Proofs are counted per
/// principal whatever key they are made with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal<'a> {
    /// The issuer identifier (`iss`).
    pub issuer: &'a str,
    /// `sub`, else the client the token was issued to (RFC 9068 `client_id`, OIDC `azp`). A token
    /// with neither names no principal: its proofs are counted per key only, so that one such
    /// client cannot use up a quota every other one shares.
    pub sub: Option<&'a str>,
}

impl Principal<'_> {
    /// A 128-bit prefix of the SHA-256 of the issuer and `sub`, each length-prefixed so that no two
    /// principals share an input; `None` without a `sub`.
    fn digest(&self) -> Option<[u8; 16]> {
        let sub = self.sub?;
        let mut context = Context::new(&SHA256);
        for part in [self.issuer, sub] {
            context.update(&(part.len() as u64).to_be_bytes());
            context.update(part.as_bytes());
        }
        Some(prefix(context.finish().as_ref()))
    }
}

/// The first 16 bytes of a SHA-256 digest.
fn prefix(digest: &[u8]) -> [u8; 16] {
    digest.first_chunk().copied().unwrap_or_default()
}

/// The proofs seen within the window, in this process and, when configured, in Redis.
pub(crate) struct ReplayStore {
    local: Mutex<Generations>,
    shared: Option<SharedReplay>,
    window: u64,
    quotas: ProofQuotas,
}

impl std::fmt::Debug for ReplayStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayStore")
            .field("shared", &self.shared.is_some())
            .field("window", &self.window)
            .field("quotas", &self.quotas)
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
    /// Proofs recorded in `current` per principal ([`Principal::digest`]).
    per_subject: HashMap<[u8; 16], u32>,
}

impl ReplayStore {
    /// A store remembering each proof for `window` seconds (the longest a proof is accepted), shared
    /// through the Redis at `cache_url` when given, recording at most `quotas` proofs per proof key
    /// and per principal in a generation. Redis is not contacted until first used.
    ///
    /// # Errors
    /// When `cache_url` cannot be used (a binary built without Redis).
    pub(crate) fn new(
        window: u64,
        cache_url: Option<&Url>,
        quotas: ProofQuotas,
    ) -> Result<Self, CacheUrlError> {
        Ok(Self {
            local: Mutex::new(Generations::default()),
            shared: cache_url.map(SharedReplay::connect).transpose()?,
            window: window.max(1),
            quotas: ProofQuotas {
                per_key: quotas.per_key.max(1),
                per_subject: quotas.per_subject.max(1),
            },
        })
    }

    /// Records `key`, a proof made with the key whose thumbprint is `jkt` for a token of `principal`,
    /// at `now`; `Ok` only the first time it is seen within the window.
    ///
    /// # Errors
    /// [`ProofError::Replayed`] for a key seen before, here or at another replica;
    /// [`ProofError::KeyOverQuota`] when `jkt` recorded its quota of proofs in this generation;
    /// [`ProofError::SubjectOverQuota`] when `principal` did, over all its keys;
    /// [`ProofError::StoreFull`] when this process may remember no more proofs right now.
    pub(crate) async fn first_use(
        &self,
        key: &[u8; 32],
        jkt: &str,
        principal: Principal<'_>,
        now: u64,
    ) -> Result<(), ProofError> {
        let counted = self.first_use_here(key, jkt, principal, now)?;
        match &self.shared {
            Some(shared) => match shared.set_if_absent(key, self.window).await {
                Some(true) | None => Ok(()),
                Some(false) => {
                    // Used at another replica: a replay, which must cost the key and the principal
                    // nothing (an attacker who saw one request could otherwise replay it at every
                    // replica to spend the victim's quotas). The proof stays in the local store, so
                    // a second replay here is refused without asking Redis.
                    self.uncount(counted);
                    Err(ProofError::Replayed)
                }
            },
            None => Ok(()),
        }
    }

    /// Takes back the counts [`Self::first_use_here`] added for one proof, unless the generation they
    /// were added to has ended since (its counts are gone with it).
    fn uncount(&self, counted: Counted) {
        let mut seen = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.started != counted.generation {
            return;
        }
        if let Some(count) = seen.per_key.get_mut(&counted.key) {
            *count = count.saturating_sub(1);
        }
        if let Some(subject) = counted.subject
            && let Some(count) = seen.per_subject.get_mut(&subject)
        {
            *count = count.saturating_sub(1);
        }
    }

    /// The in-process half of [`Self::first_use`]: one short lock, no wait inside it. A proof it
    /// refuses is counted nowhere; one it accepts is counted where the result says.
    fn first_use_here(
        &self,
        key: &[u8; 32],
        jkt: &str,
        principal: Principal<'_>,
        now: u64,
    ) -> Result<Counted, ProofError> {
        let proof = prefix(key);
        let client = prefix(digest(&SHA256, jkt.as_bytes()).as_ref());
        let subject = principal.digest();
        // A panic while holding the lock cannot leave the sets half-updated in a way that matters.
        let mut seen = self.local.lock().unwrap_or_else(PoisonError::into_inner);
        let age = now.saturating_sub(seen.started);
        if age >= 2 * self.window {
            // Both generations are past the window: everything in them has expired.
            seen.previous.clear();
            seen.current.clear();
            seen.per_key.clear();
            seen.per_subject.clear();
            seen.started = now;
        } else if age >= self.window {
            let current = std::mem::take(&mut seen.current);
            seen.previous = current;
            seen.per_key.clear();
            seen.per_subject.clear();
            seen.started = now;
        }
        if seen.previous.contains(&proof) || seen.current.contains(&proof) {
            return Err(ProofError::Replayed);
        }
        // Until the next generation starts, when every count starts again from zero.
        let retry_after = (seen.started + self.window).saturating_sub(now).max(1);
        let by_key = seen.per_key.get(&client).copied().unwrap_or(0);
        if by_key >= self.quotas.per_key {
            return Err(ProofError::KeyOverQuota { retry_after });
        }
        let by_subject =
            subject.map(|subject| seen.per_subject.get(&subject).copied().unwrap_or(0));
        if by_subject.is_some_and(|count| count >= self.quotas.per_subject) {
            return Err(ProofError::SubjectOverQuota { retry_after });
        }
        // The last resort, should many principals share the load.
        if seen.current.len() >= MAX_PER_GENERATION {
            return Err(ProofError::StoreFull);
        }
        seen.current.insert(proof);
        seen.per_key.insert(client, by_key + 1);
        if let (Some(subject), Some(count)) = (subject, by_subject) {
            seen.per_subject.insert(subject, count + 1);
        }
        Ok(Counted {
            generation: seen.started,
            key: client,
            subject,
        })
    }
}

/// Where one accepted proof was counted: its generation, its key's digest, its principal's.
#[derive(Debug, Clone, Copy)]
struct Counted {
    generation: u64,
    key: [u8; 16],
    subject: Option<[u8; 16]>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: Principal<'static> = Principal {
        issuer: "https://idp.example.com/",
        sub: Some("alice"),
    };

    fn key(n: u8) -> [u8; 32] {
        [n; 32]
    }

    #[tokio::test]
    async fn a_key_is_accepted_once_within_the_window() {
        let store = ReplayStore::new(90, None, ProofQuotas::default()).unwrap();
        assert_eq!(
            store.first_use(&key(1), "jkt-a", ALICE, 1_000).await,
            Ok(())
        );
        assert_eq!(
            store.first_use(&key(1), "jkt-a", ALICE, 1_000).await,
            Err(ProofError::Replayed)
        );
        assert_eq!(
            store.first_use(&key(2), "jkt-a", ALICE, 1_000).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_key_outlives_one_rotation_and_is_forgotten_after_two_windows() {
        let store = ReplayStore::new(90, None, ProofQuotas::default()).unwrap();
        store
            .first_use(&key(1), "jkt-a", ALICE, 1_000)
            .await
            .unwrap();
        // Rotated once: still remembered, a full window after it was seen.
        assert_eq!(
            store.first_use(&key(1), "jkt-a", ALICE, 1_089).await,
            Err(ProofError::Replayed)
        );
        assert_eq!(
            store.first_use(&key(1), "jkt-a", ALICE, 1_095).await,
            Err(ProofError::Replayed)
        );
        // Two windows on, the proof it came from is long expired.
        assert_eq!(
            store.first_use(&key(1), "jkt-a", ALICE, 1_300).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_full_generation_refuses_new_keys_instead_of_forgetting_old_ones() {
        let store = ReplayStore::new(90, None, ProofQuotas::default()).unwrap();
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
            store.first_use(&key(1), "jkt-a", ALICE, 1_010).await,
            Err(ProofError::StoreFull)
        );
    }

    #[tokio::test]
    async fn a_key_over_its_quota_is_refused_while_other_keys_keep_working() {
        let quotas = ProofQuotas {
            per_key: 3,
            ..ProofQuotas::default()
        };
        let store = ReplayStore::new(90, None, quotas).unwrap();
        for n in 0..3 {
            assert_eq!(
                store.first_use(&key(n), "jkt-a", ALICE, 1_000).await,
                Ok(())
            );
        }
        assert_eq!(
            store.first_use(&key(3), "jkt-a", ALICE, 1_010).await,
            Err(ProofError::KeyOverQuota { retry_after: 80 })
        );
        assert_eq!(
            store.first_use(&key(4), "jkt-b", ALICE, 1_010).await,
            Ok(())
        );
        // A refused proof was not recorded, and a replay is still told as one.
        assert_eq!(
            store.first_use(&key(0), "jkt-a", ALICE, 1_010).await,
            Err(ProofError::Replayed)
        );
        // The next generation starts every key's count again.
        assert_eq!(
            store.first_use(&key(3), "jkt-a", ALICE, 1_090).await,
            Ok(())
        );
    }

    #[tokio::test]
    async fn a_principal_over_its_quota_is_refused_whatever_key_it_uses() {
        let quotas = ProofQuotas {
            per_key: 3,
            per_subject: 4,
        };
        let store = ReplayStore::new(90, None, quotas).unwrap();
        let bob = Principal {
            sub: Some("bob"),
            ..ALICE
        };
        // Four keys, one proof each: under every key's quota, at the principal's.
        for (n, jkt) in [(0, "jkt-a"), (1, "jkt-b"), (2, "jkt-c"), (3, "jkt-d")] {
            assert_eq!(store.first_use(&key(n), jkt, ALICE, 1_000).await, Ok(()));
        }
        assert_eq!(
            store.first_use(&key(4), "jkt-e", ALICE, 1_010).await,
            Err(ProofError::SubjectOverQuota { retry_after: 80 })
        );
        // Another principal, even with one of the same keys, still has its own quota.
        assert_eq!(store.first_use(&key(5), "jkt-a", bob, 1_010).await, Ok(()));
        // The same `sub` from another issuer is another principal.
        let elsewhere = Principal {
            issuer: "https://other.example.com/",
            ..ALICE
        };
        assert_eq!(
            store.first_use(&key(6), "jkt-f", elsewhere, 1_010).await,
            Ok(())
        );
        // The next generation starts every principal's count again.
        assert_eq!(
            store.first_use(&key(4), "jkt-e", ALICE, 1_090).await,
            Ok(())
        );
    }

    #[test]
    fn principals_differ_by_issuer_and_sub_and_without_a_sub_there_is_none() {
        let of = |issuer, sub| Principal { issuer, sub }.digest();
        let all = [
            of("https://a/", Some("b")),
            of("https://a/b", Some("")),
            of("https://a", Some("/b")),
        ];
        for (i, one) in all.iter().enumerate() {
            assert!(one.is_some());
            for other in &all[i + 1..] {
                assert_ne!(one, other);
            }
        }
        assert_eq!(of("https://a/", Some("b")), all[0]);
        assert_eq!(of("https://a/", None), None);
    }

    #[tokio::test]
    async fn clients_without_a_principal_are_counted_by_key_only() {
        let quotas = ProofQuotas {
            per_key: 3,
            per_subject: 2,
        };
        let store = ReplayStore::new(90, None, quotas).unwrap();
        let nobody = Principal { sub: None, ..ALICE };
        // Two such clients, three proofs each: over what one principal may record, yet each within
        // its key's quota; neither takes anything from the other.
        for n in 0..6 {
            let jkt = if n % 2 == 0 { "jkt-a" } else { "jkt-b" };
            assert_eq!(store.first_use(&key(n), jkt, nobody, 1_000).await, Ok(()));
        }
        assert_eq!(
            store.first_use(&key(6), "jkt-a", nobody, 1_000).await,
            Err(ProofError::KeyOverQuota { retry_after: 90 })
        );
    }

    #[test]
    fn counts_taken_back_leave_the_quotas_as_they_were_but_the_proof_known() {
        let quotas = ProofQuotas {
            per_key: 1,
            per_subject: 1,
        };
        let store = ReplayStore::new(90, None, quotas).unwrap();
        let counted = store
            .first_use_here(&key(0), "jkt-a", ALICE, 1_000)
            .unwrap();
        store.uncount(counted);
        assert_eq!(
            store.first_use_here(&key(0), "jkt-a", ALICE, 1_000).err(),
            Some(ProofError::Replayed)
        );
        assert!(store.first_use_here(&key(1), "jkt-a", ALICE, 1_000).is_ok());
    }
}
