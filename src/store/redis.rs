//! Redis, shared by every replica: [`RedisConnection`], the one connection the caches and the DPoP
//! replay store each hold, and [`Shared`], the cached answers (userinfo, token introspection) keyed
//! by a token's SHA-256, never the token. Each command gets [`REDIS_TIMEOUT`]; a Redis that is
//! unreachable, slow or failing is a cache miss (or, for the replay store, a check in this process
//! only), and the connection is made again later.
//! redis' own `ConnectionManager` is not used: it retries with back-off and keeps the caller waiting.

use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;
use url::Url;

use serde_json::{Map, Value};

use super::userinfo::CacheUrlError;

/// A cache key: the SHA-256 of a token.
pub(crate) type TokenKey = [u8; 32];

/// What is kept: a JSON object.
pub(crate) type Answer = Map<String, Value>;

/// Longest wait for Redis before going without it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// What a [`RedisConnection`]'s user does when Redis cannot be had: the one way the caches and the
/// replay store differ.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WithoutRedis {
    /// What the caller goes on with instead, as the logs say it: "going without the cache".
    pub(crate) fallback: &'static str,
    /// Whether a call that finds the connection being made waits for it (at most
    /// [`REDIS_TIMEOUT`]) rather than go on without Redis at once.
    pub(crate) wait_for_connection: bool,
    /// After a failed connection, how long calls go without Redis before the next attempt.
    pub(crate) retry_after: Duration,
}

/// A cache loses nothing by skipping Redis now and then: a request never queues behind another's
/// connection attempt, and every request may try to connect.
const CACHE: WithoutRedis = WithoutRedis {
    fallback: "going without the cache",
    wait_for_connection: false,
    retry_after: Duration::ZERO,
};

/// A Redis connection made on first use and remade after a failure.
pub(crate) struct RedisConnection {
    client: redis::Client,
    slot: Mutex<Slot>,
    /// What the connection serves (`userinfo`, `dpop-jti`, …), for the logs.
    purpose: &'static str,
    without: WithoutRedis,
}

/// The connection, or when the last attempt to make one failed.
#[derive(Default)]
struct Slot {
    connection: Option<MultiplexedConnection>,
    failed_at: Option<Instant>,
}

impl RedisConnection {
    /// A client for `url`, serving `purpose` and going on `without` Redis when it fails; nothing is
    /// contacted yet.
    ///
    /// # Errors
    /// When `url` is not one the Redis client takes.
    pub(crate) fn open(
        url: &Url,
        purpose: &'static str,
        without: WithoutRedis,
    ) -> Result<Self, CacheUrlError> {
        let client =
            redis::Client::open(url.as_str()).map_err(|error| CacheUrlError(error.to_string()))?;
        Ok(Self {
            client,
            slot: Mutex::new(Slot::default()),
            purpose,
            without,
        })
    }

    /// Runs one command within [`REDIS_TIMEOUT`]; `None` (and a warning) when Redis is unreachable,
    /// slow or fails, after which a later call reconnects.
    pub(crate) async fn run<T, F, Fut>(&self, command: F) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = self.connection().await?;
        let (purpose, fallback) = (self.purpose, self.without.fallback);
        match tokio::time::timeout(REDIS_TIMEOUT, command(connection)).await {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(error)) => tracing::warn!(%error, purpose, "Redis command failed; {fallback}"),
            Err(_) => tracing::warn!(purpose, "Redis command timed out; {fallback}"),
        }
        self.forget_connection().await;
        None
    }

    /// The connection, made now if there is none; `None` when Redis cannot be reached, for
    /// [`WithoutRedis::retry_after`] after that, and (unless [`WithoutRedis::wait_for_connection`])
    /// while another call is making it.
    async fn connection(&self) -> Option<MultiplexedConnection> {
        let mut slot = if self.without.wait_for_connection {
            self.slot.lock().await
        } else {
            self.slot.try_lock().ok()?
        };
        if let Some(connection) = &slot.connection {
            return Some(connection.clone());
        }
        if slot
            .failed_at
            .is_some_and(|failed| failed.elapsed() < self.without.retry_after)
        {
            return None;
        }
        let (purpose, fallback) = (self.purpose, self.without.fallback);
        let connecting = self.client.get_multiplexed_async_connection();
        match tokio::time::timeout(REDIS_TIMEOUT, connecting).await {
            Ok(Ok(connection)) => {
                slot.failed_at = None;
                return Some(slot.connection.insert(connection).clone());
            }
            Ok(Err(error)) => tracing::warn!(%error, purpose, "Redis unreachable; {fallback}"),
            Err(_) => tracing::warn!(purpose, "Redis did not answer in time; {fallback}"),
        }
        slot.failed_at = Some(Instant::now());
        None
    }

    /// Drops the connection so a later call reconnects; a caller that does not wait for the
    /// connection leaves that to the next call when another holds it now.
    async fn forget_connection(&self) {
        if self.without.wait_for_connection {
            self.slot.lock().await.connection = None;
        } else if let Ok(mut slot) = self.slot.try_lock() {
            slot.connection = None;
        }
    }
}

/// Answers about one kind of token, kept in Redis.
pub(crate) struct Shared {
    redis: RedisConnection,
    /// What is kept (`userinfo`, `introspection`): the keys' namespace and the logs' wording.
    purpose: &'static str,
}

impl Shared {
    /// A client for `url`, keeping answers about `purpose`; nothing is contacted yet.
    pub(crate) fn connect(url: &Url, purpose: &'static str) -> Result<Self, CacheUrlError> {
        Ok(Self {
            redis: RedisConnection::open(url, purpose, CACHE)?,
            purpose,
        })
    }

    /// The answer kept for `key`, if Redis has one and answers in time.
    pub(crate) async fn get(&self, key: &TokenKey) -> Option<Answer> {
        let name = redis_key(self.purpose, key);
        let text: Option<String> = self
            .redis
            .run(|mut connection| async move { connection.get(name).await })
            .await?;
        serde_json::from_str(&text?).ok()
    }

    /// Keeps `answer` for `ttl` (whole seconds, at least one), if Redis answers in time.
    pub(crate) async fn put(&self, key: &TokenKey, answer: &Answer, ttl: Duration) {
        let Ok(text) = serde_json::to_string(answer) else {
            return;
        };
        let name = redis_key(self.purpose, key);
        let seconds = ttl.as_secs().max(1);
        let _: Option<()> = self
            .redis
            .run(|mut connection| async move { connection.set_ex(name, text, seconds).await })
            .await;
    }
}

/// The Redis key of an answer (or of a DPoP proof, `auth::dpop`): the 32-byte digest in hex, under
/// this service's prefix and the purpose.
pub(crate) fn redis_key(purpose: &str, key: &TokenKey) -> String {
    let hex: String = key.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("protected-api:{purpose}:{hex}")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// A "Redis" on loopback that takes each connection and closes it at once, and counts them.
    async fn slamming_door() -> (Url, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("redis://{}/0", listener.local_addr().unwrap())).unwrap();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        (url, accepted)
    }

    async fn ping(redis: &RedisConnection) -> Option<String> {
        redis
            .run(|mut connection| async move { redis::cmd("PING").query_async(&mut connection).await })
            .await
    }

    #[tokio::test]
    async fn after_a_failed_connection_calls_go_without_redis_for_retry_after() {
        let (url, accepted) = slamming_door().await;
        let patient = WithoutRedis {
            fallback: "going on",
            wait_for_connection: true,
            retry_after: Duration::from_secs(60),
        };
        let redis = RedisConnection::open(&url, "test", patient).unwrap();
        assert_eq!(ping(&redis).await, None);
        assert_eq!(ping(&redis).await, None);
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one attempt, then none");

        // A cache tries again on the next call.
        let redis = RedisConnection::open(&url, "test", CACHE).unwrap();
        assert_eq!(ping(&redis).await, None);
        assert_eq!(ping(&redis).await, None);
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_cache_goes_without_redis_while_another_call_is_connecting() {
        let (url, accepted) = slamming_door().await;
        let redis = RedisConnection::open(&url, "test", CACHE).unwrap();
        let connecting = redis.slot.lock().await;
        assert_eq!(ping(&redis).await, None);
        assert_eq!(
            accepted.load(Ordering::SeqCst),
            0,
            "it did not wait, nor try"
        );
        drop(connecting);
    }

    #[test]
    fn the_redis_key_is_the_hex_digest_under_the_prefix() {
        let name = redis_key("userinfo", &[0xab; 32]);
        assert_eq!(name, format!("protected-api:userinfo:{}", "ab".repeat(32)));
    }
}
