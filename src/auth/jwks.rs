//! The key cache: refreshes by TTL (in the background, serving the stale keys meanwhile) or on an
//! unknown `kid` (at most once per `JWKS_MIN_REFRESH`), one fetch in flight, and keeps serving stale
//! keys while the provider is down. When to fetch is decided in [`super::refresh`]; what a key may
//! verify, in [`super::keys`].

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use jsonwebtoken::Algorithm;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};
use url::Url;

use super::discovery::Discovery;
use super::error::{TokenError, VerifyError};
use super::fetch::{FetchError, HttpFetcher};
use super::keys::{KeySet, VerifyKey};
use super::refresh::{Cached, Reason};

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
        // The fetches are boxed: held inline, their futures (an HTTP call) would make this one, and
        // every future that awaits it up to the handler's, kilobytes larger, copied on every request
        // although nearly every request finds its key cached.
        let (keys, generation, fresh) = self.snapshot();
        let keys = match keys {
            Some(keys) if fresh => keys,
            Some(stale) => Box::pin(self.revalidate(stale)).await,
            None => Box::pin(self.refresh(generation, Reason::Expired))
                .await
                .ok_or(VerifyError::KeysUnavailable)?,
        };
        match keys.find(kid, alg) {
            Err(TokenError::UnknownKey)
                if kid.is_some() && !matches!(self.inner.origin, Origin::Fixed) =>
            {
                let (_, generation, _) = self.snapshot();
                let keys = Box::pin(self.refresh(generation, Reason::UnknownKid))
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
