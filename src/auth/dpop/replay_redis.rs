//! The shared half of the DPoP replay store: one `SET key 1 NX EX window` per proof in the Redis of
//! `[CACHE] URL`, so the first replica to see a proof wins and every other refuses it. Each command
//! gets [`REDIS_TIMEOUT`]; a Redis that is unreachable, slow or failing answers "unknown" and the
//! connection is made again next time (as `store/redis.rs` does for the user-info and introspection caches).

use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;
use url::Url;

use crate::store::CacheUrlError;
use crate::store::redis::redis_key;

/// Longest wait for Redis before going on with the local store alone.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failed connection, how long requests go without Redis before the next attempt, so a
/// Redis that is down costs one wait per second rather than one per request.
const RECONNECT_AFTER: Duration = Duration::from_secs(1);

/// A Redis connection made on first use and remade after a failure.
pub(super) struct SharedReplay {
    client: redis::Client,
    slot: Mutex<Slot>,
}

/// The connection, or when the last attempt to make one failed.
#[derive(Default)]
struct Slot {
    connection: Option<MultiplexedConnection>,
    failed_at: Option<Instant>,
}

impl SharedReplay {
    /// A client for `url`; nothing is contacted yet.
    pub(super) fn connect(url: &Url) -> Result<Self, CacheUrlError> {
        let client =
            redis::Client::open(url.as_str()).map_err(|error| CacheUrlError(error.to_string()))?;
        Ok(Self {
            client,
            slot: Mutex::new(Slot::default()),
        })
    }

    /// Records `key` for `window` seconds unless it is there already: `Some(true)` when this call
    /// recorded it, `Some(false)` when another use did first, `None` when Redis did not answer.
    pub(super) async fn set_if_absent(&self, key: &[u8; 32], window: u64) -> Option<bool> {
        let connection = self.connection().await?;
        let mut command = redis::cmd("SET");
        command
            .arg(redis_key("dpop-jti", key))
            .arg(1)
            .arg("NX")
            .arg("EX")
            .arg(window);
        let mut connection = connection;
        let outcome = tokio::time::timeout(
            REDIS_TIMEOUT,
            command.query_async::<Option<String>>(&mut connection),
        )
        .await;
        match outcome {
            // `OK` when set; nil when the key existed (NX).
            Ok(Ok(set)) => Some(set.is_some()),
            Ok(Err(error)) => {
                tracing::warn!(%error, "Redis command failed; DPoP replay checked in this process only");
                self.forget_connection().await;
                None
            }
            Err(_) => {
                tracing::warn!("Redis timed out; DPoP replay checked in this process only");
                self.forget_connection().await;
                None
            }
        }
    }

    /// The connection, made now if there is none. Requests wait for one another here (at most
    /// [`REDIS_TIMEOUT`]) rather than skip Redis: a replay check that quietly went local under load
    /// would let a proof through at two replicas at once. `None` when Redis cannot be reached, and
    /// for [`RECONNECT_AFTER`] after that.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        let mut slot = self.slot.lock().await;
        if let Some(connection) = &slot.connection {
            return Some(connection.clone());
        }
        if slot
            .failed_at
            .is_some_and(|failed| failed.elapsed() < RECONNECT_AFTER)
        {
            return None;
        }
        let connecting = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(REDIS_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => {
                slot.failed_at = None;
                Some(slot.connection.insert(connection).clone())
            }
            Ok(Err(error)) => {
                tracing::warn!(%error, "Redis unreachable; DPoP replay checked in this process only");
                slot.failed_at = Some(Instant::now());
                None
            }
            Err(_) => {
                tracing::warn!(
                    "Redis did not answer in time; DPoP replay checked in this process only"
                );
                slot.failed_at = Some(Instant::now());
                None
            }
        }
    }

    /// Drops the connection so a later call reconnects.
    async fn forget_connection(&self) {
        self.slot.lock().await.connection = None;
    }
}
