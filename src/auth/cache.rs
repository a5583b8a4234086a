//! The verified-token cache: a token seen before skips signature verification.
//!
//! Keyed by the SHA-256 of the token (collision-resistant, so one token can never be taken for
//! another), bounded in entries. Every entry records the key-set generation it was computed with and
//! counts only while that generation is current: after a JWKS refresh every token is verified afresh,
//! so a key removed by the provider stops working at once. Every entry also carries the last second it
//! may be served (`exp` plus leeway for an accepted token, a minute for a refusal); past it the entry
//! is dropped on lookup, and until then the bound on entries keeps the memory it holds bounded.
//!
//! Bounds: 10,000 accepted tokens cover the active users of one replica, at a few hundred bytes each
//! (the payload's JSON text, its grants and the entry), so a few MiB at most; 10,000 refused tokens kept
//! for a minute make a flood of forged tokens cost a hash lookup instead of an RSA verification.
//! `quick_cache`'s S3-FIFO-like policy keeps one-off tokens from evicting the hot ones, and a hit is a
//! lock-free read with no allocation.

use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use quick_cache::sync::Cache;

use super::claims::Verified;
use super::error::TokenError;

/// Accepted tokens kept at most.
const MAX_ACCEPTED: usize = 10_000;
/// Refused tokens kept at most.
const MAX_REFUSED: usize = 10_000;
/// How long a refusal is remembered.
const REFUSED_TTL: Duration = Duration::from_secs(60);

/// A token's cache key.
pub(crate) type TokenDigest = [u8; 32];

/// What the cache knows about a token.
#[derive(Debug, Clone)]
pub(crate) enum Cached {
    /// Verified with the current keys.
    Accepted(Verified),
    /// Refused with the current keys, for a reason that time cannot change.
    Refused(TokenError),
}

#[derive(Debug, Clone)]
struct Entry {
    outcome: Cached,
    /// The trusted issuer whose key set `generation` counts.
    issuer: usize,
    generation: u64,
    /// The last second (since the epoch) the entry may be served.
    serve_until: u64,
}

/// Accepted and refused tokens, in two bounded caches.
#[derive(Debug)]
pub(crate) struct TokenCache {
    accepted: Cache<TokenDigest, Entry>,
    refused: Cache<TokenDigest, Entry>,
}

impl TokenCache {
    pub(crate) fn new() -> Self {
        Self {
            accepted: Cache::new(MAX_ACCEPTED),
            refused: Cache::new(MAX_REFUSED),
        }
    }

    /// The cache key of `token`.
    pub(crate) fn digest(token: &str) -> TokenDigest {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        key
    }

    /// What is known about the token at `now` (seconds since the epoch), if anything. An entry counts
    /// only while its issuer's key set is still the one it was computed with (`current` gives each
    /// issuer's fresh generation, `None` when its keys are stale); one of another generation or past
    /// its time is dropped. The issuer comes from the entry, so a hit needs no look into the token.
    pub(crate) fn get(
        &self,
        key: &TokenDigest,
        now: u64,
        current: impl Fn(usize) -> Option<u64>,
    ) -> Option<Cached> {
        for cache in [&self.accepted, &self.refused] {
            if let Some(entry) = cache.get(key) {
                let generation = current(entry.issuer)?;
                if entry.generation == generation && now <= entry.serve_until {
                    return Some(entry.outcome);
                }
                cache.remove(key);
            }
        }
        None
    }

    /// Remembers a verification result. Refusals that time may undo (`nbf`, `iat` or `auth_time` in the
    /// future) and unknown keys (a refresh may bring them) are not remembered.
    pub(crate) fn put(
        &self,
        key: TokenDigest,
        result: &Result<Verified, TokenError>,
        issuer: usize,
        generation: u64,
        now: u64,
        leeway: u64,
    ) {
        match result {
            Ok(verified) => self.accepted.insert(
                key,
                Entry {
                    outcome: Cached::Accepted(verified.clone()),
                    issuer,
                    generation,
                    serve_until: verified.expires_at().saturating_add(leeway),
                },
            ),
            Err(error) if error.is_permanent() => self.refused.insert(
                key,
                Entry {
                    outcome: Cached::Refused(error.clone()),
                    issuer,
                    generation,
                    serve_until: now.saturating_add(REFUSED_TTL.as_secs()),
                },
            ),
            Err(_) => {}
        }
    }

    /// Accepted entries held now (for tests and metrics).
    pub(crate) fn accepted_len(&self) -> u64 {
        self.accepted.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::providers::ClaimPath;
    use serde_json::json;

    fn verified(exp: u64) -> Verified {
        let payload = json!({"sub": "u", "exp": exp});
        Verified::new(
            serde_json::value::to_raw_value(&payload).unwrap(),
            0,
            payload.as_object().unwrap(),
            &ClaimPath::new("scope"),
            &ClaimPath::new("permissions"),
        )
    }

    #[test]
    fn an_accepted_token_counts_only_for_its_key_generation_and_until_exp() {
        let cache = TokenCache::new();
        let key = TokenCache::digest("token");
        cache.put(key, &Ok(verified(1_000)), 0, 7, 900, 30);
        assert!(matches!(
            cache.get(&key, 1_030, |_| Some(7)),
            Some(Cached::Accepted(_))
        ));
        assert!(
            cache.get(&key, 950, |_| Some(8)).is_none(),
            "a refreshed key set invalidates it"
        );
        assert!(
            cache.get(&key, 950, |_| Some(7)).is_none(),
            "and the entry is gone, not kept for the old generation"
        );
        cache.put(key, &Ok(verified(1_000)), 0, 7, 900, 30);
        assert!(
            cache.get(&key, 1_031, |_| Some(7)).is_none(),
            "past exp + leeway"
        );
        assert_eq!(cache.accepted_len(), 0, "dropped on that lookup");
    }

    #[test]
    fn an_entry_counts_against_the_key_set_of_its_own_issuer() {
        let cache = TokenCache::new();
        let key = TokenCache::digest("token");
        cache.put(key, &Ok(verified(1_000)), 1, 7, 900, 30);
        let generations = |issuer| [Some(3), Some(7)][issuer];
        assert!(cache.get(&key, 950, generations).is_some());
        // Issuer 1's keys refreshed, issuer 0's happen to be at generation 7: the entry is gone.
        assert!(
            cache
                .get(&key, 950, |issuer| [Some(7), Some(8)][issuer])
                .is_none()
        );
    }

    #[test]
    fn only_permanent_refusals_are_remembered() {
        let cache = TokenCache::new();
        let bad = TokenCache::digest("bad");
        let early = TokenCache::digest("early");
        let unknown = TokenCache::digest("unknown");
        cache.put(bad, &Err(TokenError::BadSignature), 0, 1, 0, 0);
        cache.put(early, &Err(TokenError::NotYetValid), 0, 1, 0, 0);
        cache.put(unknown, &Err(TokenError::UnknownKey), 0, 1, 0, 0);
        assert!(matches!(
            cache.get(&bad, 60, |_| Some(1)),
            Some(Cached::Refused(TokenError::BadSignature))
        ));
        assert!(
            cache.get(&bad, 61, |_| Some(1)).is_none(),
            "a refusal is kept a minute"
        );
        cache.put(bad, &Err(TokenError::BadSignature), 0, 1, 0, 0);
        assert!(cache.get(&bad, 0, |_| Some(2)).is_none());
        assert!(cache.get(&early, 0, |_| Some(1)).is_none());
        assert!(cache.get(&unknown, 0, |_| Some(1)).is_none());
    }

    #[test]
    fn the_cache_stays_bounded_however_many_tokens_pass() {
        let cache = TokenCache::new();
        for i in 0..100_000u32 {
            let key = TokenCache::digest(&format!("token-{i}"));
            cache.put(key, &Ok(verified(u64::MAX / 2)), 0, 1, 0, 0);
            cache.put(
                TokenCache::digest(&format!("forged-{i}")),
                &Err(TokenError::BadSignature),
                0,
                1,
                0,
                0,
            );
        }
        assert!(
            cache.accepted_len() <= MAX_ACCEPTED as u64,
            "{}",
            cache.accepted_len()
        );
        assert!(
            cache.refused.len() <= MAX_REFUSED,
            "{}",
            cache.refused.len()
        );
        assert!(
            cache.accepted_len() > MAX_ACCEPTED as u64 / 2,
            "and it still holds most of its capacity"
        );
    }

    #[test]
    fn distinct_tokens_are_distinct_keys() {
        assert_ne!(TokenCache::digest("a.b.c"), TokenCache::digest("a.b.d"));
    }
}
