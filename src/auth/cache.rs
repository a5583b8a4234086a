//! The verified-token cache: a token seen before skips signature verification.
//!
//! Keyed by the SHA-256 of the token (collision-resistant, so one token can never be taken for
//! another), bounded in entries, each entry dropped when its token expires. Every entry records the
//! key-set generation it was computed with and counts only while that generation is current: after a
//! JWKS refresh every token is verified afresh, so a key removed by the provider stops working at once.
//!
//! Bounds: 10,000 accepted tokens (about 1 KiB each with their claims, so ~10 MiB at most) cover the
//! active users of one replica; 10,000 refused tokens kept for a minute make a flood of forged tokens
//! cost a hash lookup instead of an RSA verification. TinyLFU admission keeps one-off tokens from
//! evicting the hot ones.

use std::time::{Duration, Instant};

use aws_lc_rs::digest::{SHA256, digest};
use moka::Expiry;
use moka::sync::Cache;

use super::claims::Verified;
use super::error::TokenError;

/// Accepted tokens kept at most.
const MAX_ACCEPTED: u64 = 10_000;
/// Refused tokens kept at most.
const MAX_REFUSED: u64 = 10_000;
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
    generation: u64,
    /// How long the entry may live (until the token's `exp` plus leeway for accepted ones).
    lifetime: Duration,
}

struct EntryLifetime;

impl Expiry<TokenDigest, Entry> for EntryLifetime {
    fn expire_after_create(&self, _: &TokenDigest, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.lifetime)
    }
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
            accepted: Cache::builder()
                .max_capacity(MAX_ACCEPTED)
                .expire_after(EntryLifetime)
                .build(),
            refused: Cache::builder()
                .max_capacity(MAX_REFUSED)
                .expire_after(EntryLifetime)
                .build(),
        }
    }

    /// The cache key of `token`.
    pub(crate) fn digest(token: &str) -> TokenDigest {
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
        key
    }

    /// What is known about the token under the key set `generation`, if anything. An accepted token
    /// past `exp` + leeway (`now`, `leeway` in seconds) is not served even before its entry is evicted.
    pub(crate) fn get(
        &self,
        key: &TokenDigest,
        generation: u64,
        now: u64,
        leeway: u64,
    ) -> Option<Cached> {
        if let Some(entry) = self.accepted.get(key) {
            if let Cached::Accepted(verified) = &entry.outcome
                && entry.generation == generation
                && now <= verified.expires_at().saturating_add(leeway)
            {
                return Some(entry.outcome);
            }
            self.accepted.invalidate(key);
            return None;
        }
        let entry = self.refused.get(key)?;
        (entry.generation == generation).then_some(entry.outcome)
    }

    /// Remembers a verification result. Refusals that time may undo (`nbf`, `iat` or `auth_time` in the
    /// future) and unknown keys (a refresh may bring them) are not remembered.
    pub(crate) fn put(
        &self,
        key: TokenDigest,
        result: &Result<Verified, TokenError>,
        generation: u64,
        now: u64,
        leeway: u64,
    ) {
        match result {
            Ok(verified) => {
                let remaining = verified
                    .expires_at()
                    .saturating_add(leeway)
                    .saturating_sub(now);
                let entry = Entry {
                    outcome: Cached::Accepted(verified.clone()),
                    generation,
                    lifetime: Duration::from_secs(remaining),
                };
                self.accepted.insert(key, entry);
            }
            Err(error) if error.is_permanent() => {
                let entry = Entry {
                    outcome: Cached::Refused(error.clone()),
                    generation,
                    lifetime: REFUSED_TTL,
                };
                self.refused.insert(key, entry);
            }
            Err(_) => {}
        }
    }

    /// Accepted entries held now (approximate; for tests and metrics).
    pub(crate) fn accepted_len(&self) -> u64 {
        self.accepted.run_pending_tasks();
        self.accepted.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::providers::ClaimPath;
    use serde_json::json;

    fn verified(exp: u64) -> Verified {
        let payload = json!({"sub": "u", "exp": exp}).as_object().unwrap().clone();
        Verified::new(
            payload,
            &ClaimPath::new("scope"),
            &ClaimPath::new("permissions"),
        )
    }

    #[test]
    fn an_accepted_token_counts_only_for_its_key_generation_and_until_exp() {
        let cache = TokenCache::new();
        let key = TokenCache::digest("token");
        cache.put(key, &Ok(verified(1_000)), 7, 900, 30);
        assert!(matches!(
            cache.get(&key, 7, 950, 30),
            Some(Cached::Accepted(_))
        ));
        assert!(
            cache.get(&key, 8, 950, 30).is_none(),
            "a refreshed key set invalidates it"
        );
        cache.put(key, &Ok(verified(1_000)), 7, 900, 30);
        assert!(cache.get(&key, 7, 1_031, 30).is_none(), "past exp + leeway");
    }

    #[test]
    fn only_permanent_refusals_are_remembered() {
        let cache = TokenCache::new();
        let bad = TokenCache::digest("bad");
        let early = TokenCache::digest("early");
        let unknown = TokenCache::digest("unknown");
        cache.put(bad, &Err(TokenError::BadSignature), 1, 0, 0);
        cache.put(early, &Err(TokenError::NotYetValid), 1, 0, 0);
        cache.put(unknown, &Err(TokenError::UnknownKey), 1, 0, 0);
        assert!(matches!(
            cache.get(&bad, 1, 0, 0),
            Some(Cached::Refused(TokenError::BadSignature))
        ));
        assert!(cache.get(&bad, 2, 0, 0).is_none());
        assert!(cache.get(&early, 1, 0, 0).is_none());
        assert!(cache.get(&unknown, 1, 0, 0).is_none());
    }

    #[test]
    fn the_cache_stays_bounded_however_many_tokens_pass() {
        let cache = TokenCache::new();
        for i in 0..100_000u32 {
            let key = TokenCache::digest(&format!("token-{i}"));
            cache.put(key, &Ok(verified(u64::MAX / 2)), 1, 0, 0);
            cache.put(
                TokenCache::digest(&format!("forged-{i}")),
                &Err(TokenError::BadSignature),
                1,
                0,
                0,
            );
        }
        assert!(
            cache.accepted_len() <= MAX_ACCEPTED,
            "{}",
            cache.accepted_len()
        );
        cache.refused.run_pending_tasks();
        assert!(cache.refused.entry_count() <= MAX_REFUSED);
    }

    #[test]
    fn distinct_tokens_are_distinct_keys() {
        assert_ne!(TokenCache::digest("a.b.c"), TokenCache::digest("a.b.d"));
    }
}
