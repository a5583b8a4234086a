//! The cached key set and when it is fetched again: its TTL, stale-while-revalidate, the back-off
//! after a failed fetch and the rate limit on unknown `kid`s. Bookkeeping over `Instant`s; the
//! fetching itself is [`super::jwks::KeyStore`]'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fetch::FetchError;
use super::keys::KeySet;

/// TTL when neither `[AUTH] JWKS_TTL` nor the provider's `Cache-Control` says otherwise.
const DEFAULT_TTL: Duration = Duration::from_secs(600);
/// Bounds on the provider's `max-age`: refetch neither in a tight loop nor less than daily. The lower
/// bound also applies to `no-store`, `no-cache` and `max-age=0`: a key set is a public document the
/// service cannot work without, and refetching it for every request would hand the provider our load.
const MIN_TTL: Duration = Duration::from_secs(30);
const MAX_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a request that meets stale keys waits for the refresh it started (or found in flight)
/// before it is served with the stale keys. A healthy provider answers well within it, so a key the
/// provider removed stops working as soon as the TTL runs out; a slow one costs a request at most this.
pub(super) const REVALIDATE_GRACE: Duration = Duration::from_millis(50);

/// How long a fetched key set counts as fresh: `[AUTH] JWKS_TTL` when configured, else the provider's
/// `max-age` within [`MIN_TTL`]..=[`MAX_TTL`] (`no-store` and `no-cache` read as zero, so 30 s), else
/// ten minutes.
pub(super) fn ttl(configured: Option<Duration>, max_age: Option<Duration>) -> Duration {
    configured.unwrap_or_else(|| max_age.map_or(DEFAULT_TTL, |age| age.clamp(MIN_TTL, MAX_TTL)))
}

/// Why keys are being fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reason {
    /// None cached, or the TTL ran out.
    Expired,
    /// A token names a `kid` the cached set lacks (a rotation, or a forged token).
    UnknownKid,
}

/// The cached key set, if any, and its refresh state.
#[derive(Debug, Default)]
pub(super) struct Cached {
    /// The last key set fetched (or the fixed one).
    pub(super) keys: Option<Arc<KeySet>>,
    /// When it was fetched, and when to fetch it again.
    pub(super) freshness: Freshness,
}

impl Cached {
    /// Records a fetch's outcome and returns the keys to use now: the new set, or on failure the one
    /// held before (kept, and logged as such).
    pub(super) fn record(
        &mut self,
        reason: Reason,
        outcome: Result<(KeySet, Option<Duration>), FetchError>,
        configured_ttl: Option<Duration>,
        min_refresh: Duration,
    ) -> Option<Arc<KeySet>> {
        let now = Instant::now();
        match outcome {
            Ok((set, max_age)) => {
                let ttl = ttl(configured_ttl, max_age);
                tracing::info!(
                    keys = set.len(),
                    ttl_secs = ttl.as_secs(),
                    ?reason,
                    "provider keys fetched"
                );
                self.keys = Some(Arc::new(set));
                self.freshness.fetched(now, ttl);
            }
            Err(error) => {
                // Keep serving what we have; try again after `min_refresh` rather than on every request.
                self.freshness.failed(now, min_refresh);
                if self.keys.is_some() {
                    tracing::warn!(%error, ?reason, "fetching provider keys failed; serving cached keys");
                } else {
                    tracing::error!(%error, "fetching provider keys failed and none are cached");
                }
            }
        }
        self.keys.clone()
    }
}

/// The refresh state of one key set.
#[derive(Debug, Default)]
pub(super) struct Freshness {
    /// Bumped on every successful fetch, so waiters can tell a refresh happened while they queued.
    pub(super) generation: u64,
    fresh_until: Option<Instant>,
    /// When an unknown `kid` last caused a fetch (rate-limited by `min_refresh`).
    last_kid_refresh: Option<Instant>,
    /// When the last fetch failed (no retry before `min_refresh` has passed).
    last_failure: Option<Instant>,
    /// When the fetch in flight began; `None` when none is.
    fetch_started: Option<Instant>,
}

impl Freshness {
    /// Whether the last fetched set may still be used without asking the provider.
    pub(super) fn is_fresh(&self, now: Instant) -> bool {
        self.fresh_until.is_some_and(|until| now < until)
    }

    /// Whether a fetch for `reason` should go out now, for a caller that saw `seen_generation`: not
    /// when another fetch succeeded since, the last one failed less than `min_refresh` ago, the set is
    /// still fresh (for [`Reason::Expired`]), or an unknown `kid` caused a fetch less than
    /// `min_refresh` ago (for [`Reason::UnknownKid`]).
    pub(super) fn should_fetch(
        &self,
        reason: Reason,
        seen_generation: u64,
        now: Instant,
        min_refresh: Duration,
    ) -> bool {
        let recent =
            |at: Option<Instant>| at.is_some_and(|at| now.duration_since(at) < min_refresh);
        if self.generation != seen_generation || recent(self.last_failure) {
            return false;
        }
        match reason {
            Reason::Expired => !self.is_fresh(now),
            Reason::UnknownKid => !recent(self.last_kid_refresh),
        }
    }

    /// A fetch goes out. An unknown `kid` counts against its rate limit from here, so that a caller
    /// that gives up (a client that disconnects) cannot make the next one fetch again at once.
    pub(super) fn fetch_begins(&mut self, reason: Reason, now: Instant) {
        self.fetch_started = Some(now);
        if reason == Reason::UnknownKid {
            self.last_kid_refresh = Some(now);
        }
    }

    /// Until when a request that meets stale keys waits for the fetch in flight; `None` when none is.
    pub(super) fn revalidation_deadline(&self) -> Option<Instant> {
        self.fetch_started.map(|started| started + REVALIDATE_GRACE)
    }

    /// A fetch brought a new set, fresh for `ttl`.
    pub(super) fn fetched(&mut self, now: Instant, ttl: Duration) {
        self.generation += 1;
        self.fresh_until = Some(after(now, ttl));
        self.last_failure = None;
        self.fetch_started = None;
    }

    /// A fetch failed. The cached set keeps serving; the next attempt waits `min_refresh`. Freshness
    /// only ever moves later: a failure while the set is fresh (an unknown `kid` during an outage) must
    /// not shorten the life of keys the provider vouched for, nor turn off the verified-token cache;
    /// while the set is stale it counts as fresh until the retry, as nothing newer can be had sooner.
    pub(super) fn failed(&mut self, now: Instant, min_refresh: Duration) {
        let retry_at = after(now, min_refresh);
        self.fresh_until = Some(
            self.fresh_until
                .map_or(retry_at, |until| until.max(retry_at)),
        );
        self.last_failure = Some(now);
        self.fetch_started = None;
    }
}

/// `now + by`, or as late as can be represented: a configured TTL of `u64::MAX` seconds means
/// "for ever", not a panic (`Instant + Duration` panics on overflow).
fn after(now: Instant, by: Duration) -> Instant {
    const CENTURY: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
    now.checked_add(by)
        .or_else(|| now.checked_add(CENTURY))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN_REFRESH: Duration = Duration::from_secs(10);

    #[test]
    fn no_store_and_no_cache_keep_the_set_for_the_thirty_second_minimum() {
        for header in [
            "no-store",
            "no-cache",
            "private, no-cache, max-age=3600",
            "max-age=0",
        ] {
            let max_age = crate::auth::fetch::max_age(header);
            assert_eq!(ttl(None, max_age), Duration::from_secs(30), "{header}");
        }
        assert_eq!(ttl(None, Some(Duration::from_secs(5))), MIN_TTL);
        assert_eq!(
            ttl(None, Some(Duration::from_secs(3600))),
            Duration::from_secs(3600)
        );
        assert_eq!(ttl(None, Some(Duration::from_secs(10 * 86_400))), MAX_TTL);
        assert_eq!(ttl(None, None), DEFAULT_TTL);
        assert_eq!(
            ttl(Some(Duration::from_secs(1)), Some(Duration::ZERO)),
            Duration::from_secs(1),
            "a configured TTL wins"
        );
    }

    #[test]
    fn an_enormous_ttl_or_min_refresh_is_for_ever_not_a_panic() {
        let now = Instant::now();
        let mut state = Freshness::default();
        state.fetched(now, Duration::MAX);
        state.failed(now, Duration::MAX);
        assert!(state.is_fresh(now + Duration::from_secs(365 * 24 * 3600)));
    }

    #[test]
    fn a_failure_never_moves_fresh_until_earlier() {
        let start = Instant::now();
        let mut state = Freshness::default();
        state.fetched(start, Duration::from_secs(600));
        state.fetch_begins(Reason::UnknownKid, start);
        state.failed(start, MIN_REFRESH);
        let later = start + Duration::from_secs(60);
        assert!(state.is_fresh(later), "still fresh for the rest of its TTL");
        assert!(!state.should_fetch(Reason::Expired, state.generation, later, MIN_REFRESH));
    }

    #[test]
    fn a_failed_refresh_of_a_stale_set_is_retried_after_min_refresh() {
        let start = Instant::now();
        let mut state = Freshness::default();
        state.fetched(start, Duration::from_secs(30));
        let expired = start + Duration::from_secs(31);
        let seen = state.generation;
        assert!(state.should_fetch(Reason::Expired, seen, expired, MIN_REFRESH));
        state.fetch_begins(Reason::Expired, expired);
        assert!(state.revalidation_deadline().is_some());
        state.failed(expired, MIN_REFRESH);
        assert!(state.revalidation_deadline().is_none(), "nothing in flight");
        let soon = expired + Duration::from_secs(5);
        assert!(!state.should_fetch(Reason::Expired, seen, soon, MIN_REFRESH));
        assert!(!state.should_fetch(Reason::UnknownKid, seen, soon, MIN_REFRESH));
        let retry = expired + MIN_REFRESH;
        assert!(state.should_fetch(Reason::Expired, seen, retry, MIN_REFRESH));
    }

    #[test]
    fn unknown_kids_fetch_at_most_once_per_min_refresh_and_waiters_see_the_new_generation() {
        let start = Instant::now();
        let mut state = Freshness::default();
        state.fetched(start, Duration::from_secs(600));
        let seen = state.generation;
        assert!(state.should_fetch(Reason::UnknownKid, seen, start, MIN_REFRESH));
        state.fetch_begins(Reason::UnknownKid, start);
        let soon = start + Duration::from_secs(1);
        assert!(
            !state.should_fetch(Reason::UnknownKid, seen, soon, MIN_REFRESH),
            "counted from the start of the fetch"
        );
        state.fetched(soon, Duration::from_secs(600));
        let retry = start + MIN_REFRESH;
        assert!(
            !state.should_fetch(Reason::UnknownKid, seen, retry, MIN_REFRESH),
            "a caller that queued behind the fetch uses its result"
        );
        assert!(state.should_fetch(Reason::UnknownKid, state.generation, retry, MIN_REFRESH));
    }
}
