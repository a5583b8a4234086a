//! Password logins for `/authorize` and `/oauth/token`: the per-address back-off around the account
//! store's check, so both endpoints count, refuse and forgive attempts the same way.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use moka::sync::Cache;

use crate::store::{Account, AccountStore, LoginError};

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
/// [`FAILURES_PER_ADDRESS`], decided under one lock: parallel guesses each see the others, so an
/// address never gets more failures checked than one sending them one by one. Failures make the
/// address wait [`FAILURE_WINDOW`]; attempts in progress only make it wait [`IN_FLIGHT_RETRY`], so
/// many people behind one proxy or NAT logging in at once are asked to retry, not locked out. A
/// request dropped mid-check (the client hung up) counts as a failure: an attempt is a failure until
/// shown otherwise.
#[derive(Debug, Clone)]
pub struct FailedLogins {
    failures: Cache<IpAddr, u64>,
    in_flight: Arc<Mutex<HashMap<IpAddr, u64>>>,
}

impl Default for FailedLogins {
    fn default() -> Self {
        Self {
            failures: Cache::builder()
                .max_capacity(100_000)
                .time_to_live(FAILURE_WINDOW)
                .build(),
            in_flight: Arc::default(),
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
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let failures = self.failures.get(&ip).unwrap_or(0);
        if failures >= FAILURES_PER_ADDRESS {
            return Err(LoginRefused::AddressLocked(FAILURE_WINDOW));
        }
        let running = in_flight.entry(ip).or_insert(0);
        if failures + *running >= FAILURES_PER_ADDRESS {
            return Err(LoginRefused::AddressBusy);
        }
        *running += 1;
        Ok(Attempt {
            logins: self,
            ip,
            failed: true,
        })
    }

    /// Ends an attempt [`FailedLogins::begin`] admitted, counting it as a failure when it was one.
    fn finish(&self, ip: IpAddr, failed: bool) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if failed {
            // Counted before the attempt leaves `in_flight`, under the same lock, so `begin` never sees
            // it in neither.
            self.failures
                .entry(ip)
                .and_upsert_with(|entry| entry.map_or(1, |entry| entry.into_value() + 1));
        }
        if let Some(running) = in_flight.get_mut(&ip) {
            *running = running.saturating_sub(1);
            if *running == 0 {
                in_flight.remove(&ip);
            }
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
}
