//! The shared half of the DPoP replay store: one `SET key 1 NX EX window` per proof in the Redis of
//! `[CACHE] URL`, so the first replica to see a proof wins and every other refuses it. A Redis that
//! is unreachable, slow or failing answers "unknown", as it does for the caches (`store/redis.rs`).

use std::time::Duration;

use url::Url;

use crate::store::CacheUrlError;
use crate::store::redis::{RedisConnection, WithoutRedis, redis_key};

/// The keys' namespace, and what the logs say the connection serves.
const PURPOSE: &str = "dpop-jti";

/// Without Redis the replay check goes on in this process alone, so calls wait for a connection
/// being made rather than skip Redis: a replay check that quietly went local under load would let a
/// proof through at two replicas at once. After a failed connection, requests go without Redis for
/// a second before the next attempt, so a Redis that is down costs one wait per second rather than
/// one per request.
const REPLAY: WithoutRedis = WithoutRedis {
    fallback: "DPoP replay checked in this process only",
    wait_for_connection: true,
    retry_after: Duration::from_secs(1),
};

/// The replay store's Redis connection, made on first use and remade after a failure.
pub(super) struct SharedReplay(RedisConnection);

impl SharedReplay {
    /// A client for `url`; nothing is contacted yet.
    pub(super) fn connect(url: &Url) -> Result<Self, CacheUrlError> {
        RedisConnection::open(url, PURPOSE, REPLAY).map(Self)
    }

    /// Records `key` for `window` seconds unless it is there already: `Some(true)` when this call
    /// recorded it, `Some(false)` when another use did first, `None` when Redis did not answer.
    pub(super) async fn set_if_absent(&self, key: &[u8; 32], window: u64) -> Option<bool> {
        let mut command = redis::cmd("SET");
        command
            .arg(redis_key(PURPOSE, key))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(window);
        let set: Option<String> = self
            .0
            .run(|mut connection| async move { command.query_async(&mut connection).await })
            .await?;
        // `OK` when set; nil when the key existed (NX).
        Some(set.is_some())
    }
}
