//! The introspection cache: answers about opaque tokens, kept by the token's SHA-256 until the token's
//! `exp` or `[CACHE] INTROSPECTION_TTL`, whichever is first; in process, and in Redis when `[CACHE] URL`
//! is set, so replicas share them. Concurrent requests with the same new token share one
//! introspection call (single flight); distinct tokens never wait for each other, up to
//! [`MAX_CONCURRENT_INTROSPECTIONS`] calls at once per remote issuer ([`IntrospectionPermits`]).
//!
//! Inactive answers are cached too, for the TTL: a flood of revoked or made-up tokens then costs a hash
//! lookup each instead of one call to the issuer per request, so this service cannot be used to load
//! the issuer's endpoint. The TTL bounds how long a revoked token stays accepted, and the same TTL is
//! what an operator already accepted for active answers.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::get_current_timestamp;
use quick_cache::sync::Cache;
use serde_json::{Map, Value};
use tokio::sync::{OnceCell, Semaphore};

use super::cache::TokenDigest;
use super::claims::Verified;
use super::error::{TokenError, VerifyError};
use super::introspect::{Introspect, IntrospectError};
use super::introspected;
use crate::config::CacheSettings;
use crate::store::CacheUrlError;
use crate::store::redis::Shared;

/// Answers kept in process at most: as many as the verified-token cache holds JWTs.
const MAX_ENTRIES: usize = 10_000;

/// What every opaque access token of the embedded issuer begins with, so the verifier can tell them
/// from other issuers' without asking anyone: they are looked up in its store alone, and never shown
/// to a remote introspection endpoint.
pub const LOCAL_TOKEN_PREFIX: &str = "pa_at_";

/// Introspections under way at once, at most, per remote issuer. Every distinct made-up bearer value
/// that is not in the cache costs one call to an issuer's endpoint; without a bound, a client sending
/// many at once would have this service flood the issuer on its behalf (and hold a socket per value).
/// 32 is far more than a healthy endpoint needs, as answers are cached and repeats share one call.
const MAX_CONCURRENT_INTROSPECTIONS: usize = 32;

/// The longest a request waits for one of an issuer's [`MAX_CONCURRENT_INTROSPECTIONS`] permits
/// before that issuer counts as unavailable for it: long enough to ride out a burst, short enough not
/// to pile up.
const PERMIT_WAIT: Duration = Duration::from_secs(2);

/// At most one warning per issuer in this many seconds says its permits ran out; the other refusals
/// are logged at debug, so a flood of made-up tokens cannot flood the log as well.
const BUSY_WARNING_EVERY_SECS: u64 = 60;

/// The default `[CACHE] INTROSPECTION_TTL`.
const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// The outcome of one introspection, shared by the requests that waited for it.
pub(crate) type Outcome = Result<Verified, VerifyError>;

#[derive(Debug, Clone)]
struct Entry {
    outcome: Result<Verified, TokenError>,
    /// The last second (since the epoch) the entry may be served.
    serve_until: u64,
}

/// An answer as kept in Redis: who gave it, and the absolute last second it may be served.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SharedAnswer {
    /// The identifier of the issuer whose endpoint gave the answer.
    pub(crate) issuer: String,
    /// The introspection answer, as given.
    pub(crate) answer: Map<String, Value>,
    /// The last second (since the epoch) the first replica allowed it to be served.
    serve_until: u64,
}

impl SharedAnswer {
    /// The last second this answer may be served by the replica reading it at `now`. The deadline set
    /// when the issuer was asked holds: recomputing `now + ttl` alone would let a replica that reads
    /// the entry just before it expires keep it another TTL, so a revoked token would live twice as
    /// long as `[CACHE] INTROSPECTION_TTL` promises.
    pub(crate) fn serve_until(&self, now: u64, ttl: u64) -> u64 {
        introspected::serve_until(&self.answer, now, ttl).min(self.serve_until)
    }

    fn pack(self) -> Map<String, Value> {
        Map::from_iter([
            ("issuer".to_owned(), Value::String(self.issuer)),
            ("answer".to_owned(), Value::Object(self.answer)),
            ("serve_until".to_owned(), Value::from(self.serve_until)),
        ])
    }

    /// Reads what [`SharedAnswer::pack`] wrote; an entry missing a member (written by an older
    /// version, say) is a miss.
    fn unpack(mut kept: Map<String, Value>) -> Option<Self> {
        let Some(Value::String(issuer)) = kept.remove("issuer") else {
            return None;
        };
        let Some(Value::Object(answer)) = kept.remove("answer") else {
            return None;
        };
        let serve_until = kept.get("serve_until").and_then(Value::as_u64)?;
        Some(Self {
            issuer,
            answer,
            serve_until,
        })
    }
}

/// Introspection answers, cached, and the introspections in flight. Cheap to share behind the
/// verifier's `Arc`.
pub struct IntrospectionCache {
    ttl: Duration,
    memory: Cache<TokenDigest, Entry>,
    shared: Option<Shared>,
    /// One cell per token being introspected now; the first request fills it, the others wait on it.
    flights: Mutex<HashMap<TokenDigest, Arc<OnceCell<Outcome>>>>,
}

impl std::fmt::Debug for IntrospectionCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.memory.len())
            .field("shared", &self.shared.is_some())
            .finish()
    }
}

impl Default for IntrospectionCache {
    /// In process, with the default TTL of 60 s.
    fn default() -> Self {
        Self::in_process(DEFAULT_TTL)
    }
}

impl IntrospectionCache {
    /// A cache as `[CACHE]` says: `INTROSPECTION_TTL`, and Redis at `URL` when set (not contacted yet).
    ///
    /// # Errors
    /// When `URL` names a cache this binary cannot use.
    pub fn new(settings: &CacheSettings) -> Result<Self, CacheUrlError> {
        let mut cache = Self::in_process(settings.introspection_ttl);
        if let Some(url) = &settings.url {
            cache.shared = Some(Shared::connect(url, "introspection")?);
        }
        Ok(cache)
    }

    /// A cache in this process only, keeping answers at most `ttl`.
    pub fn in_process(ttl: Duration) -> Self {
        Self {
            ttl,
            memory: Cache::new(MAX_ENTRIES),
            shared: None,
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The longest an answer is kept, in seconds.
    pub(crate) fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// The outcome kept in process for `key` at `now`, if any; a stale one is dropped.
    pub(crate) fn get(&self, key: &TokenDigest, now: u64) -> Option<Result<Verified, TokenError>> {
        let entry = self.memory.get(key)?;
        if now <= entry.serve_until {
            return Some(entry.outcome);
        }
        self.memory.remove(key);
        None
    }

    /// Keeps an outcome in process until `serve_until`. Refusals that time may undo (`nbf`, `iat` in
    /// the future) are not kept.
    pub(crate) fn put(
        &self,
        key: TokenDigest,
        outcome: &Result<Verified, TokenError>,
        serve_until: u64,
    ) {
        if outcome.as_ref().is_err_and(|error| !error.is_permanent()) {
            return;
        }
        let entry = Entry {
            outcome: outcome.clone(),
            serve_until,
        };
        self.memory.insert(key, entry);
    }

    /// The raw answer another replica kept in Redis, with the issuer that gave it and until when it
    /// may be served; `None` without Redis, on a miss, or when Redis fails (then the issuer is asked:
    /// never an error because of Redis).
    pub(crate) async fn get_shared(&self, key: &TokenDigest) -> Option<SharedAnswer> {
        SharedAnswer::unpack(self.shared.as_ref()?.get(key).await?)
    }

    /// Shares `answer`, given by `issuer`, through Redis until `serve_until`, if Redis is configured
    /// and answers in time. The key is the token's hash; the token itself is never stored.
    pub(crate) async fn put_shared(
        &self,
        key: &TokenDigest,
        issuer: &str,
        answer: &Map<String, Value>,
        serve_until: u64,
    ) {
        let Some(shared) = &self.shared else {
            return;
        };
        let seconds = serve_until.saturating_sub(get_current_timestamp());
        if seconds == 0 {
            return;
        }
        let kept = SharedAnswer {
            issuer: issuer.to_owned(),
            answer: answer.clone(),
            serve_until,
        }
        .pack();
        shared.put(key, &kept, Duration::from_secs(seconds)).await;
    }

    /// Runs `introspect` for `key` once however many requests ask at the same time: the first runs it,
    /// the others wait for its outcome, errors included (so an endpoint that hangs is waited for once,
    /// not once per request in turn). Nothing is kept once the last of them is done: caching is the
    /// caller's. If the request running it is cancelled, a waiting one takes over.
    pub(crate) async fn single_flight<F>(&self, key: TokenDigest, introspect: F) -> Outcome
    where
        F: Future<Output = Outcome>,
    {
        let flight = Flight::join(self, key);
        match &flight.cell {
            Some(cell) => cell.get_or_init(|| introspect).await.clone(),
            None => introspect.await,
        }
    }

    /// Answers held in process now (for tests and metrics).
    pub fn len(&self) -> usize {
        self.memory.len()
    }

    /// Whether no answer is held in process.
    pub fn is_empty(&self) -> bool {
        self.memory.is_empty()
    }
}

/// One issuer's bound on the introspections under way at its endpoint: [`MAX_CONCURRENT_INTROSPECTIONS`]
/// permits. Each issuer has its own, so an issuer that hangs or is flooded with made-up tokens uses
/// up its own permits only, never those of a healthy issuer asked after it.
#[derive(Debug)]
pub(crate) struct IntrospectionPermits {
    permits: Semaphore,
    /// The second (since the epoch) a refusal for want of a permit was last logged as a warning.
    warned_at: AtomicU64,
}

impl Default for IntrospectionPermits {
    fn default() -> Self {
        Self {
            permits: Semaphore::new(MAX_CONCURRENT_INTROSPECTIONS),
            warned_at: AtomicU64::new(0),
        }
    }
}

impl IntrospectionPermits {
    /// Asks `introspector` about `token`. A remote one is asked once one of the permits is free,
    /// waiting [`PERMIT_WAIT`] at most; one in this process (a database lookup) needs none, as there
    /// is no endpoint to protect and it must not queue behind a slow one.
    ///
    /// # Errors
    /// [`IntrospectError::Busy`] when no permit came in time, else the introspector's error.
    pub(crate) async fn ask(
        &self,
        introspector: &dyn Introspect,
        token: &str,
    ) -> Result<Map<String, Value>, IntrospectError> {
        if !introspector.is_remote() {
            return introspector.introspect(token).await;
        }
        let _permit = match tokio::time::timeout(PERMIT_WAIT, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            // Timed out, or closed (never: the semaphore is not closed).
            _ => return Err(IntrospectError::Busy),
        };
        introspector.introspect(token).await
    }

    /// Whether a refusal for want of a permit at `now` (seconds since the epoch) is the one to log as
    /// a warning: the first in each [`BUSY_WARNING_EVERY_SECS`], however many requests race for it.
    pub(crate) fn warn_busy(&self, now: u64) -> bool {
        let last = self.warned_at.load(Ordering::Relaxed);
        now >= last.saturating_add(BUSY_WARNING_EVERY_SECS)
            && self
                .warned_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// One request's part in an introspection in flight; the last to leave removes the flight, so the
/// map holds only tokens being introspected right now.
struct Flight<'a> {
    cache: &'a IntrospectionCache,
    key: TokenDigest,
    /// `Some` until dropped (taken in `drop`, under the map's lock).
    cell: Option<Arc<OnceCell<Outcome>>>,
}

impl<'a> Flight<'a> {
    fn join(cache: &'a IntrospectionCache, key: TokenDigest) -> Self {
        let cell = match cache.flights.lock() {
            Ok(mut flights) => {
                let cell = flights.entry(key).or_default();
                if cell.initialized() {
                    // A finished flight is never joined: its outcome may be an error, or stale.
                    *cell = Arc::default();
                }
                cell.clone()
            }
            // A poisoned map only costs the sharing: this request introspects on its own.
            Err(_) => Arc::default(),
        };
        Self {
            cache,
            key,
            cell: Some(cell),
        }
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let Ok(mut flights) = self.cache.flights.lock() else {
            return;
        };
        // Our reference goes under the lock, like every clone in `join`, so the count read next is
        // exact even when several requests leave at once.
        let Some(ours) = self.cell.take() else {
            return;
        };
        let same = flights
            .get(&self.key)
            .is_some_and(|current| Arc::ptr_eq(current, &ours));
        drop(ours);
        // Only the map's reference is left: nobody else is waiting.
        let last = same
            && flights
                .get(&self.key)
                .is_some_and(|current| Arc::strong_count(current) == 1);
        if last {
            flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_requests_for_one_token_share_one_call_and_leave_nothing_behind() {
        let cache = Arc::new(IntrospectionCache::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let (cache, calls) = (cache.clone(), calls.clone());
            tasks.spawn(async move {
                cache
                    .single_flight([1; 32], async {
                        calls.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Err(VerifyError::IntrospectionUnavailable)
                    })
                    .await
            });
        }
        while let Some(outcome) = tasks.join_next().await {
            assert_eq!(
                outcome.unwrap().unwrap_err(),
                VerifyError::IntrospectionUnavailable
            );
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(cache.flights.lock().unwrap().is_empty());
        assert!(cache.is_empty(), "an error is never cached");
    }

    #[tokio::test]
    async fn a_finished_flight_is_never_joined() {
        let cache = IntrospectionCache::default();
        let finished = Arc::new(OnceCell::new_with(Some(Err(
            VerifyError::IntrospectionUnavailable,
        ))));
        cache.flights.lock().unwrap().insert([3; 32], finished);
        let outcome = cache
            .single_flight([3; 32], async { Err(TokenError::Inactive.into()) })
            .await;
        assert_eq!(outcome.unwrap_err(), TokenError::Inactive.into());
        assert!(cache.flights.lock().unwrap().is_empty());
    }

    #[test]
    fn a_shared_answer_is_served_no_later_than_the_first_replica_allowed() {
        let kept = SharedAnswer {
            issuer: "https://idp.example".to_owned(),
            answer: Map::from_iter([("active".to_owned(), Value::Bool(true))]),
            serve_until: 1_060,
        };
        let read = SharedAnswer::unpack(kept.clone().pack()).unwrap();
        assert_eq!(read, kept);
        // Read one second before it expires: served one more second, not another TTL.
        assert_eq!(read.serve_until(1_059, 60), 1_060);
        // An earlier `exp` still wins.
        let mut soon = read.clone();
        soon.answer.insert("exp".to_owned(), Value::from(1_030));
        assert_eq!(soon.serve_until(1_000, 60), 1_030);
        // An entry without its deadline is not served at all.
        let mut old = kept.pack();
        old.remove("serve_until");
        assert_eq!(SharedAnswer::unpack(old), None);
    }

    /// An introspector that answers `{"active": false}` at once, or never when `remote`.
    #[derive(Debug)]
    struct Asked {
        remote: bool,
    }

    impl Introspect for Asked {
        fn introspect<'a>(&'a self, _token: &'a str) -> crate::auth::IntrospectFuture<'a> {
            let remote = self.remote;
            Box::pin(async move {
                if remote {
                    std::future::pending::<()>().await;
                }
                Ok(Map::from_iter([("active".to_owned(), Value::Bool(false))]))
            })
        }

        fn is_remote(&self) -> bool {
            self.remote
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_in_process_introspector_never_waits_for_a_permit() {
        let permits = Arc::new(IntrospectionPermits::default());
        let mut hanging = tokio::task::JoinSet::new();
        for _ in 0..MAX_CONCURRENT_INTROSPECTIONS {
            let permits = permits.clone();
            hanging.spawn(async move {
                let _ = permits.ask(&Asked { remote: true }, "x").await;
            });
        }
        for _ in 0..100 {
            if permits.permits.available_permits() == 0 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(permits.permits.available_permits(), 0);
        let remote = permits.ask(&Asked { remote: true }, "y").await;
        assert!(matches!(remote, Err(IntrospectError::Busy)), "{remote:?}");
        let local = permits.ask(&Asked { remote: false }, "z").await;
        assert!(local.is_ok(), "{local:?}");
        hanging.abort_all();
    }

    #[test]
    fn running_out_of_permits_is_a_warning_once_a_minute_per_issuer() {
        let (x, y) = (
            IntrospectionPermits::default(),
            IntrospectionPermits::default(),
        );
        assert!(x.warn_busy(1_000));
        assert!(!x.warn_busy(1_000));
        assert!(!x.warn_busy(1_059));
        assert!(y.warn_busy(1_001), "each issuer has its own");
        assert!(x.warn_busy(1_060));
    }

    #[test]
    fn entries_are_served_until_their_time_and_time_bound_refusals_not_at_all() {
        let cache = IntrospectionCache::default();
        cache.put([1; 32], &Err(TokenError::Inactive), 100);
        assert!(cache.get(&[1; 32], 100).is_some());
        assert!(cache.get(&[1; 32], 101).is_none());
        cache.put([2; 32], &Err(TokenError::NotYetValid), 100);
        assert!(cache.get(&[2; 32], 0).is_none());
    }
}
