//! Password logins for `/authorize` and `/oauth/token`: the per-address back-off around the account
//! store's check, so both endpoints count, refuse and forgive attempts the same way.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use quick_cache::sync::{Cache, EntryAction, EntryResult};
use quick_cache::{DefaultHashBuilder, Lifecycle, UnitWeighter};

use crate::store::{Account, AccountStore, LoginError};

/// Client addresses remembered at once; the least used are forgotten first.
const ADDRESSES: usize = 100_000;

/// Failed logins from one address allowed within [`FAILURE_WINDOW`] before it must wait.
pub const FAILURES_PER_ADDRESS: u64 = 20;
/// How long an address that failed too often waits; its count is forgotten this long after its last
/// failure.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);
/// What an address is told to wait when its logins in progress, with its failures, already fill its
/// allowance: those may all succeed, so it is asked to come back shortly, not punished.
pub const IN_FLIGHT_RETRY: Duration = Duration::from_secs(1);

/// Why a password login was refused.
#[derive(Debug, thiserror::Error)]
pub enum LoginRefused {
    /// This address failed too often: it waits this long (the documented back-off).
    #[error("too many failed logins from this address")]
    AddressLocked(Duration),
    /// This address's logins in progress and failures fill its allowance: try again in
    /// [`IN_FLIGHT_RETRY`].
    #[error("too many logins at once from this address")]
    AddressBusy,
    /// The account store's answer: wrong username or password, a locked account, hashing at
    /// capacity, or a database error.
    #[error(transparent)]
    Account(#[from] LoginError),
}

/// Failed logins per client address (in this process; per-account counts live in the database), and
/// the logins from each address still being checked.
///
/// An attempt is admitted only while the address's failures plus its attempts in progress stay under
/// [`FAILURES_PER_ADDRESS`], decided in one atomic update of the address's [`Window`]: parallel
/// guesses each see the others, so an address never gets more failures checked than one sending them
/// one by one. Failures make the address wait [`FAILURE_WINDOW`]; attempts in progress only make it
/// wait [`IN_FLIGHT_RETRY`], so many people behind one proxy or NAT logging in at once are asked to
/// retry, not locked out. A request dropped mid-check (the client hung up) counts as a failure: an
/// attempt is a failure until shown otherwise.
#[derive(Debug, Clone)]
pub struct FailedLogins {
    windows: std::sync::Arc<Windows>,
}

type Windows = Cache<IpAddr, Window, UnitWeighter, DefaultHashBuilder, PinInFlight>;

/// One address's record.
#[derive(Debug, Clone, Copy, Default)]
struct Window {
    /// Failed logins since the window opened.
    failures: u64,
    /// Logins admitted and not yet finished.
    in_flight: u64,
    /// The latest failure: the count is forgotten [`FAILURE_WINDOW`] after it.
    last_failure: Option<Instant>,
}

/// Keeps an address with logins in progress in the cache: evicting it would forget them, and let
/// that address start more than its allowance.
#[derive(Debug, Clone, Copy, Default)]
struct PinInFlight;

impl Lifecycle<IpAddr, Window> for PinInFlight {
    type RequestState = ();

    fn is_pinned(&self, _: &IpAddr, window: &Window) -> bool {
        window.in_flight > 0
    }

    fn on_evict(&self, (): &mut (), _: IpAddr, _: Window) {}
}

impl Default for FailedLogins {
    fn default() -> Self {
        let windows = Cache::with(
            ADDRESSES,
            ADDRESSES as u64,
            UnitWeighter,
            DefaultHashBuilder::default(),
            PinInFlight,
        );
        Self {
            windows: std::sync::Arc::new(windows),
        }
    }
}

impl FailedLogins {
    /// Checks `username` and `password` against `accounts` for a client at `ip`, counting the
    /// attempt against `ip` from its start and forgiving it unless the credentials were wrong.
    ///
    /// # Errors
    /// [`LoginRefused::AddressLocked`] or [`LoginRefused::AddressBusy`] before any check, else the
    /// account store's [`LoginError`].
    pub async fn log_in(
        &self,
        accounts: &AccountStore,
        ip: IpAddr,
        username: &str,
        password: &str,
    ) -> Result<Account, LoginRefused> {
        let mut attempt = self.begin(ip)?;
        let outcome = accounts.log_in(username, password).await;
        // Only a wrong username or password is a failure; a locked account or a busy server checked
        // nothing.
        attempt.failed = matches!(outcome, Err(LoginError::Invalid));
        Ok(outcome?)
    }

    /// Admits an attempt from `ip`, as a failure until [`Attempt::failed`] says otherwise.
    fn begin(&self, ip: IpAddr) -> Result<Attempt<'_>, LoginRefused> {
        let now = Instant::now();
        self.update(ip, |window| {
            window.forget_stale_failures(now);
            if window.failures >= FAILURES_PER_ADDRESS {
                return Err(LoginRefused::AddressLocked(FAILURE_WINDOW));
            }
            if window.failures + window.in_flight >= FAILURES_PER_ADDRESS {
                return Err(LoginRefused::AddressBusy);
            }
            window.in_flight += 1;
            Ok(())
        })?;
        Ok(Attempt {
            logins: self,
            ip,
            failed: true,
        })
    }

    /// Ends an attempt [`FailedLogins::begin`] admitted, counting it as a failure when it was one.
    /// One update: the failure is counted as the attempt leaves `in_flight`, so no `begin` sees it in
    /// neither. An address left with nothing against it leaves the cache (see [`FailedLogins::update`]).
    fn finish(&self, ip: IpAddr, failed: bool) {
        let now = Instant::now();
        self.update(ip, |window| {
            window.in_flight = window.in_flight.saturating_sub(1);
            window.forget_stale_failures(now);
            if failed {
                window.failures += 1;
                window.last_failure = Some(now);
            }
        });
    }

    /// Applies `change` to the window of `ip` atomically: under the cache shard's lock when the
    /// address is known, else on a fresh window that other callers wait for while it is inserted. A
    /// read, then a write, would lose counts to concurrent failures. `change` must not touch the cache
    /// (it runs under the shard's lock).
    ///
    /// A window left idle (no failures, no attempts in progress) is removed, or never stored: the
    /// addresses that log in successfully must not take the slots that keep locked addresses locked.
    fn update<T>(&self, ip: IpAddr, mut change: impl FnMut(&mut Window) -> T) -> T {
        let mut removed = None;
        let entry = self.windows.entry(&ip, None, |_, window| {
            let out = change(window);
            if window.is_idle() {
                removed = Some(out);
                EntryAction::Remove
            } else {
                EntryAction::Retain(out)
            }
        });
        match entry {
            EntryResult::Retained(out) => out,
            EntryResult::Vacant(guard) | EntryResult::Replaced(guard, _) => {
                let mut window = Window::default();
                let out = change(&mut window);
                // The placeholder is gone only if something inserted or removed `ip` behind the
                // guard, which nothing here does; were it to happen, this change would be lost.
                if !window.is_idle() && guard.insert(window).is_err() {
                    tracing::warn!(%ip, "a login window was replaced while stored; its change is lost");
                }
                out
            }
            // `Removed`: the callback kept its answer. `Timeout`: never returned, the wait has none.
            EntryResult::Removed(..) | EntryResult::Timeout => {
                removed.unwrap_or_else(|| change(&mut Window::default()))
            }
        }
    }
}

impl Window {
    /// Nothing held against the address: no failures counted, no attempts in progress.
    fn is_idle(&self) -> bool {
        self.failures == 0 && self.in_flight == 0
    }

    /// Forgets the failures once [`FAILURE_WINDOW`] has passed since the latest.
    fn forget_stale_failures(&mut self, now: Instant) {
        if self
            .last_failure
            .is_some_and(|last| now.duration_since(last) >= FAILURE_WINDOW)
        {
            self.failures = 0;
            self.last_failure = None;
        }
    }
}

/// An attempt in progress; ends (and counts, if it failed) when dropped, even when the request
/// handling it is dropped midway.
struct Attempt<'a> {
    logins: &'a FailedLogins,
    ip: IpAddr,
    failed: bool,
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        self.logins.finish(self.ip, self.failed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IP: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);

    #[test]
    fn attempts_in_progress_ask_to_retry_shortly_and_failures_lock_the_address() {
        let logins = FailedLogins::default();
        let mut running: Vec<Attempt<'_>> = (0..FAILURES_PER_ADDRESS)
            .map(|_| logins.begin(IP).unwrap())
            .collect();
        assert!(matches!(logins.begin(IP), Err(LoginRefused::AddressBusy)));
        let other = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
        assert!(
            logins.begin(other).is_ok(),
            "other addresses are not held up"
        );
        for attempt in &mut running {
            attempt.failed = false; // all succeeded: nothing is held against the address
        }
        drop(running);
        let failing: Vec<Attempt<'_>> = (0..FAILURES_PER_ADDRESS)
            .map(|_| logins.begin(IP).unwrap())
            .collect();
        drop(failing); // dropped unfinished: failures
        assert!(matches!(
            logins.begin(IP),
            Err(LoginRefused::AddressLocked(FAILURE_WINDOW))
        ));
    }

    #[test]
    fn an_address_that_logs_in_successfully_leaves_no_window_behind() {
        let logins = FailedLogins::default();
        let mut attempt = logins.begin(IP).unwrap();
        assert!(logins.windows.get(&IP).is_some(), "held while in progress");
        attempt.failed = false;
        drop(attempt);
        assert!(logins.windows.get(&IP).is_none());
        assert!(logins.windows.is_empty());
    }

    fn window_of(logins: &FailedLogins, ip: IpAddr) -> Window {
        logins.windows.get(&ip).unwrap_or_default()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn fifty_concurrent_failures_from_one_address_are_all_counted() {
        let logins = FailedLogins::default();
        let start = std::sync::Arc::new(tokio::sync::Barrier::new(50));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let (logins, start) = (logins.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    // Each task fails once: admitted, then finished as a failure, as a wrong password is.
                    logins.update(IP, |window| window.in_flight += 1);
                    logins.finish(IP, true);
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let window = window_of(&logins, IP);
        assert_eq!(window.failures, 50);
        assert_eq!(window.in_flight, 0);
    }

    #[test]
    fn failures_are_forgotten_a_window_after_the_latest() {
        let now = Instant::now();
        let mut window = Window {
            failures: FAILURES_PER_ADDRESS,
            in_flight: 0,
            last_failure: Some(now),
        };
        window.forget_stale_failures(now + FAILURE_WINDOW / 2);
        assert_eq!(window.failures, FAILURES_PER_ADDRESS);
        window.forget_stale_failures(now + FAILURE_WINDOW);
        assert_eq!(window.failures, 0);
    }
}
