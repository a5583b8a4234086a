//! Key sets: which JWK may verify which algorithm, and a cache that refreshes by TTL (in the
//! background, serving the stale keys meanwhile) or on an unknown `kid` (at most once per
//! `JWKS_MIN_REFRESH`), one fetch in flight, and keeps serving stale keys while the provider is down.
//! When to fetch is decided in [`super::refresh`].

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};
use url::Url;

use super::discovery::Discovery;
use super::error::{TokenError, VerifyError};
use super::fetch::{FetchError, HttpFetcher};
use super::refresh::{Cached, Reason};

/// RFC 8725 §3.5 / NIST SP 800-131A: RSA keys under 2048 bits are not trusted.
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// One usable public key and the algorithms it may verify.
#[derive(Debug)]
pub struct VerifyKey {
    /// The key's `kid`, if it has one.
    pub kid: Option<String>,
    /// The key, ready for jsonwebtoken.
    pub key: DecodingKey,
    /// The algorithms that fit its `kty`, `crv` and `alg`.
    pub algorithms: Vec<Algorithm>,
}

impl VerifyKey {
    /// Builds a verify key from a JWK, or says why the JWK cannot serve signatures.
    ///
    /// # Errors
    /// A short reason, for the debug log: wrong `use`, no verify operation, weak or unknown key type.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, &'static str> {
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|key_use| *key_use != PublicKeyUse::Signature)
        {
            return Err("use is not sig");
        }
        if jwk
            .common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
        {
            return Err("key_ops lacks verify");
        }
        let by_type: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let modulus = URL_SAFE_NO_PAD
                    .decode(rsa.n.trim_end_matches('='))
                    .map_err(|_| "bad RSA modulus")?;
                let significant = modulus.iter().skip_while(|byte| **byte == 0).count();
                if significant < MIN_RSA_MODULUS_BYTES {
                    return Err("RSA key shorter than 2048 bits");
                }
                vec![
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ]
            }
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return Err("unsupported curve"),
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            // Symmetric keys never verify anything here (RFC 8725 §3.1).
            _ => return Err("unsupported key type"),
        };
        let algorithms = match &jwk.common.key_algorithm {
            None => by_type,
            Some(declared) => {
                let declared = algorithm_of(*declared).ok_or("alg is not a signature algorithm")?;
                by_type.into_iter().filter(|alg| *alg == declared).collect()
            }
        };
        if algorithms.is_empty() {
            return Err("alg does not fit kty");
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|_| "unreadable key")?;
        Ok(Self {
            kid: jwk.common.key_id.clone(),
            key,
            algorithms,
        })
    }
}

fn algorithm_of(declared: KeyAlgorithm) -> Option<Algorithm> {
    Some(match declared {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The usable keys of one JWK set, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
    by_kid: HashMap<String, Arc<VerifyKey>>,
}

impl KeySet {
    /// Parses a JWKS document, keeping the keys that can verify signatures and skipping the rest (an
    /// encryption key or an unknown key type beside them is normal).
    ///
    /// # Errors
    /// When the document is not a JSON object with a `keys` array.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let document: Document = serde_json::from_slice(body).map_err(|error| error.to_string())?;
        let jwks = document.keys.into_iter().filter_map(|value| {
            match serde_json::from_value::<Jwk>(value) {
                Ok(jwk) => Some(jwk),
                Err(error) => {
                    tracing::debug!(%error, "skipping a JWK that does not parse");
                    None
                }
            }
        });
        Ok(Self::from_jwks(jwks))
    }

    /// Keeps the JWKs that can verify signatures.
    pub fn from_jwks(jwks: impl IntoIterator<Item = Jwk>) -> Self {
        let mut set = Self::default();
        for jwk in jwks {
            match VerifyKey::from_jwk(&jwk) {
                Ok(key) => {
                    let key = Arc::new(key);
                    if let Some(kid) = &key.kid {
                        set.by_kid.insert(kid.clone(), key.clone());
                    }
                    set.keys.push(key);
                }
                Err(reason) => tracing::debug!(kid = ?jwk.common.key_id, reason, "skipping a JWK"),
            }
        }
        set
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this `kid` is in the set.
    pub fn contains(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// The key for a token with this `kid` and `alg`.
    ///
    /// # Errors
    /// [`TokenError::UnknownKey`], [`TokenError::MissingKid`] (no `kid` and several keys) or
    /// [`TokenError::KeyMismatch`] (the key cannot verify `alg`).
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<VerifyKey>, TokenError> {
        let key = match kid {
            Some(kid) => self.by_kid.get(kid).ok_or(TokenError::UnknownKey)?,
            None => match self.keys.as_slice() {
                [only] => only,
                [] => return Err(TokenError::UnknownKey),
                _ => return Err(TokenError::MissingKid),
            },
        };
        if !key.algorithms.contains(&alg) {
            return Err(TokenError::KeyMismatch);
        }
        Ok(key.clone())
    }
}

/// Where a [`KeyStore`] gets its keys.
#[derive(Debug)]
enum Origin {
    /// Keys held in process (the local issuer's own).
    Fixed,
    /// A JWKS URI.
    Uri(Url),
    /// The `jwks_uri` of a discovery document.
    Discovered(Discovery),
}

/// The provider's keys, cached. Cheap to clone; all clones share one cache.
#[derive(Debug, Clone)]
pub struct KeyStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    origin: Origin,
    http: Option<HttpFetcher>,
    ttl: Option<Duration>,
    min_refresh: Duration,
    cached: RwLock<Cached>,
    /// Held while fetching: one fetch in flight, whether a request waits for it or it runs in the
    /// background.
    fetching: Arc<Mutex<()>>,
    /// Bumped when a fetch ends, well or badly: requests waiting briefly on a background refresh wake.
    fetch_ended: watch::Sender<u64>,
}

impl KeyStore {
    /// A store that always holds `keys` and never fetches.
    pub fn fixed(keys: KeySet) -> Self {
        Self::build(
            Origin::Fixed,
            None,
            None,
            Duration::ZERO,
            Some(Arc::new(keys)),
        )
    }

    /// A store that fetches from `uri`.
    pub fn remote(
        uri: Url,
        http: HttpFetcher,
        ttl: Option<Duration>,
        min_refresh: Duration,
    ) -> Self {
        Self::build(Origin::Uri(uri), Some(http), ttl, min_refresh, None)
    }

    /// A store that fetches from the `jwks_uri` that `discovery` finds.
    pub fn discovered(
        discovery: Discovery,
        http: HttpFetcher,
        ttl: Option<Duration>,
        min_refresh: Duration,
    ) -> Self {
        Self::build(
            Origin::Discovered(discovery),
            Some(http),
            ttl,
            min_refresh,
            None,
        )
    }

    fn build(
        origin: Origin,
        http: Option<HttpFetcher>,
        ttl: Option<Duration>,
        min_refresh: Duration,
        keys: Option<Arc<KeySet>>,
    ) -> Self {
        let cached = Cached {
            keys,
            ..Cached::default()
        };
        Self {
            inner: Arc::new(Inner {
                origin,
                http,
                ttl,
                min_refresh,
                cached: RwLock::new(cached),
                fetching: Arc::new(Mutex::new(())),
                fetch_ended: watch::Sender::new(0),
            }),
        }
    }

    /// The cached key set, if any, without fetching.
    pub fn current(&self) -> Option<Arc<KeySet>> {
        self.inner
            .cached
            .read()
            .ok()
            .and_then(|cached| cached.keys.clone())
    }

    /// The generation of the cached key set while it is fresh, `None` once its TTL has run out (or
    /// before the first fetch). Bumped by every successful fetch: results that depend on the key set
    /// are reused only under the generation they were computed with, and not at all while the set is
    /// stale, so that a request goes through to the provider and notices a revoked key.
    pub fn fresh_generation(&self) -> Option<u64> {
        let (keys, generation, fresh) = self.snapshot();
        (keys.is_some() && fresh).then_some(generation)
    }

    /// The key for a token's `kid` and `alg`. Fresh keys answer at once. Stale keys answer at once
    /// too, while one refresh runs in the background (stale-while-revalidate, waiting at most 50 ms
    /// for it); only a store that never had keys waits for the provider. An unknown `kid` causes at
    /// most one refetch per `JWKS_MIN_REFRESH`, which only tokens with an unknown `kid` wait for.
    ///
    /// # Errors
    /// [`VerifyError::Token`] when no fitting key exists, [`VerifyError::KeysUnavailable`] when there are
    /// no keys at all (none cached and the provider cannot be reached).
    #[tracing::instrument(level = "debug", skip_all, fields(kid))]
    pub async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<VerifyKey>, VerifyError> {
        let (keys, generation, fresh) = self.snapshot();
        let keys = match keys {
            Some(keys) if fresh => keys,
            Some(stale) => self.revalidate(stale).await,
            None => self
                .refresh(generation, Reason::Expired)
                .await
                .ok_or(VerifyError::KeysUnavailable)?,
        };
        match keys.find(kid, alg) {
            Err(TokenError::UnknownKey)
                if kid.is_some() && !matches!(self.inner.origin, Origin::Fixed) =>
            {
                let (_, generation, _) = self.snapshot();
                let keys = self
                    .refresh(generation, Reason::UnknownKid)
                    .await
                    .ok_or(VerifyError::KeysUnavailable)?;
                Ok(keys.find(kid, alg)?)
            }
            found => Ok(found?),
        }
    }

    /// Whether keys are cached (fresh, or stale with a refresh started), or can be fetched now (for
    /// `/readyz`).
    pub async fn ready(&self) -> bool {
        let (keys, generation, fresh) = self.snapshot();
        match keys {
            Some(_) if fresh => true,
            Some(_) => {
                self.spawn_refresh();
                true
            }
            None => self.refresh(generation, Reason::Expired).await.is_some(),
        }
    }

    fn snapshot(&self) -> (Option<Arc<KeySet>>, u64, bool) {
        let Ok(cached) = self.inner.cached.read() else {
            return (None, 0, false);
        };
        let fresh = match self.inner.origin {
            Origin::Fixed => true,
            _ => cached.freshness.is_fresh(Instant::now()),
        };
        (cached.keys.clone(), cached.freshness.generation, fresh)
    }

    /// Stale-while-revalidate (the idea of RFC 5861 §3, applied to our own cache): starts a
    /// background refresh unless one is in flight or backing off, waits for it at most
    /// [`super::refresh::REVALIDATE_GRACE`] from its start, then answers with the newest keys there are.
    async fn revalidate(&self, stale: Arc<KeySet>) -> Arc<KeySet> {
        // Subscribe before starting, so that a fetch ending in between still wakes this request.
        let mut ended = self.inner.fetch_ended.subscribe();
        self.spawn_refresh();
        let deadline = self
            .inner
            .cached
            .read()
            .ok()
            .and_then(|cached| cached.freshness.revalidation_deadline());
        if let Some(deadline) = deadline {
            let _ = tokio::time::timeout_at(deadline.into(), ended.changed()).await;
        }
        self.current().unwrap_or(stale)
    }

    /// Starts one refresh of an expired set on its own task, so that no request waits for it. Does
    /// nothing while another fetch is in flight or the last one failed less than `min_refresh` ago.
    fn spawn_refresh(&self) {
        // The lock is taken here, not in the task, so that two requests cannot both start one.
        let Ok(in_flight) = self.inner.fetching.clone().try_lock_owned() else {
            return;
        };
        let (_, generation, _) = self.snapshot();
        if !self.begin_fetch(Reason::Expired, generation) {
            return;
        }
        let store = self.clone();
        // A panic inside would end this task only (tokio catches it) and release the lock on unwind.
        tokio::spawn(async move {
            store.fetch_and_store(Reason::Expired, in_flight).await;
        });
    }

    /// Fetches new keys, in this request, unless [`super::refresh::Freshness::should_fetch`] says not
    /// to once the fetch in flight (if any) has ended. Returns the keys to use now: new ones, or the
    /// cached ones when there was no fetch or it failed.
    async fn refresh(&self, seen_generation: u64, reason: Reason) -> Option<Arc<KeySet>> {
        if matches!(self.inner.origin, Origin::Fixed) {
            return self.current();
        }
        let in_flight = self.inner.fetching.clone().lock_owned().await;
        if !self.begin_fetch(reason, seen_generation) {
            return self.current();
        }
        self.fetch_and_store(reason, in_flight).await
    }

    /// Whether a fetch for `reason` should go out now (see
    /// [`super::refresh::Freshness::should_fetch`]); if so, records that it begins, in the same write
    /// so that no request sees a fetch about to start as none. Called with the `fetching` lock held.
    fn begin_fetch(&self, reason: Reason, seen_generation: u64) -> bool {
        let Ok(mut cached) = self.inner.cached.write() else {
            return false;
        };
        let now = Instant::now();
        let fetch =
            cached
                .freshness
                .should_fetch(reason, seen_generation, now, self.inner.min_refresh);
        if fetch {
            cached.freshness.fetch_begins(reason, now);
        }
        fetch
    }

    /// One fetch, under the `fetching` lock once [`KeyStore::begin_fetch`] said so, and its outcome
    /// recorded.
    async fn fetch_and_store(
        &self,
        reason: Reason,
        _in_flight: OwnedMutexGuard<()>,
    ) -> Option<Arc<KeySet>> {
        let outcome = self.fetch().await;
        crate::telemetry::metrics::jwks_fetch(outcome.is_ok());
        let keys = self.inner.cached.write().ok().and_then(|mut cached| {
            cached.record(reason, outcome, self.inner.ttl, self.inner.min_refresh)
        });
        self.inner
            .fetch_ended
            .send_modify(|count| *count = count.wrapping_add(1));
        keys
    }

    async fn fetch(&self) -> Result<(KeySet, Option<Duration>), FetchError> {
        let uri = match &self.inner.origin {
            Origin::Fixed => None,
            Origin::Uri(uri) => Some(uri.clone()),
            Origin::Discovered(discovery) => Some(discovery.document().await?.jwks_uri.clone()),
        };
        match (&self.inner.http, uri) {
            (Some(http), Some(uri)) => http.get_key_set(&uri).await,
            _ => Ok((KeySet::default(), None)), // fixed keys are never fetched
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_modulus(bytes: usize) -> String {
        let mut n = vec![0xC5u8; bytes];
        n[bytes - 1] = 0x01;
        URL_SAFE_NO_PAD.encode(n)
    }

    fn jwk(value: Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_rsa_key_fits_rs_and_ps_but_not_es() {
        let key = VerifyKey::from_jwk(&jwk(
            json!({"kty": "RSA", "kid": "a", "n": rsa_modulus(256), "e": "AQAB"}),
        ))
        .unwrap();
        assert!(
            key.algorithms.contains(&Algorithm::RS256)
                && key.algorithms.contains(&Algorithm::PS512)
        );
        assert!(!key.algorithms.contains(&Algorithm::ES256));
    }

    #[test]
    fn a_declared_alg_narrows_the_key_and_a_contradicting_one_disables_it() {
        let rs384 = json!({"kty": "RSA", "alg": "RS384", "n": rsa_modulus(256), "e": "AQAB"});
        assert_eq!(
            VerifyKey::from_jwk(&jwk(rs384)).unwrap().algorithms,
            vec![Algorithm::RS384]
        );
        let contradiction =
            json!({"kty": "RSA", "alg": "ES256", "n": rsa_modulus(256), "e": "AQAB"});
        assert!(VerifyKey::from_jwk(&jwk(contradiction)).is_err());
    }

    #[test]
    fn encryption_keys_short_rsa_keys_and_secrets_are_skipped() {
        let enc = json!({"kty": "RSA", "use": "enc", "n": rsa_modulus(256), "e": "AQAB"});
        let short = json!({"kty": "RSA", "n": rsa_modulus(128), "e": "AQAB"});
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        for value in [enc, short, oct] {
            assert!(VerifyKey::from_jwk(&jwk(value.clone())).is_err(), "{value}");
        }
    }

    #[test]
    fn a_set_skips_what_it_cannot_use_and_finds_by_kid() {
        let body = json!({"keys": [
            {"kty": "RSA", "kid": "good", "n": rsa_modulus(256), "e": "AQAB"},
            {"kty": "weird", "kid": "x"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
        ]});
        let set = KeySet::from_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.find(Some("good"), Algorithm::RS256).is_ok());
        assert_eq!(
            set.find(Some("secret"), Algorithm::HS256).unwrap_err(),
            TokenError::UnknownKey
        );
        assert_eq!(
            set.find(Some("good"), Algorithm::ES256).unwrap_err(),
            TokenError::KeyMismatch
        );
        // One usable key may serve a token without kid.
        assert!(set.find(None, Algorithm::RS256).is_ok());
    }

    #[test]
    fn a_token_without_kid_is_refused_when_several_keys_exist() {
        let body = json!({"keys": [
            {"kty": "RSA", "kid": "a", "n": rsa_modulus(256), "e": "AQAB"},
            {"kty": "RSA", "kid": "b", "n": rsa_modulus(256), "e": "AQAB"},
        ]});
        let set = KeySet::from_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            set.find(None, Algorithm::RS256).unwrap_err(),
            TokenError::MissingKid
        );
    }

    #[test]
    fn garbage_is_not_a_key_set() {
        assert!(KeySet::from_json(b"<html>").is_err());
        assert!(KeySet::from_json(br#"{"keys": 3}"#).is_err());
    }
}
