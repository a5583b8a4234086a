//! The user-info cache: answers of the provider's userinfo endpoint, keyed by the SHA-256 of the access
//! token, kept until the token expires or `[CACHE] USERINFO_TTL`. In process by default; in Redis
//! (`[CACHE] URL = redis://…`) so replicas share it. A Redis that is down or slow is skipped (the
//! userinfo endpoint is called instead), never turned into an error.

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use moka::Expiry;
use moka::sync::Cache;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use serde_json::Value;
use tokio::sync::Mutex;
use url::Url;

/// Entries kept in process at most.
const MAX_ENTRIES: u64 = 10_000;
/// Longest wait for Redis before going without it.
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Where user-info answers are kept. Cheap to clone.
#[derive(Clone)]
pub enum UserInfoCache {
    /// In this process.
    Memory(Cache<String, (Arc<Value>, Duration)>),
    /// In Redis, shared by every replica.
    Redis(Arc<RedisCache>),
}

impl std::fmt::Debug for UserInfoCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Memory(_) => "UserInfoCache::Memory",
            Self::Redis(_) => "UserInfoCache::Redis",
        })
    }
}

struct PerEntry;

impl Expiry<String, (Arc<Value>, Duration)> for PerEntry {
    fn expire_after_create(
        &self,
        _: &String,
        value: &(Arc<Value>, Duration),
        _: std::time::Instant,
    ) -> Option<Duration> {
        Some(value.1)
    }
}

/// A Redis connection made on first use and remade after a failure.
pub struct RedisCache {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
}

impl UserInfoCache {
    /// An in-process cache, or a Redis one for `url`. Redis is not contacted until first used.
    ///
    /// # Errors
    /// When `url` is not a Redis URL the client accepts.
    pub fn new(url: Option<&Url>) -> Result<Self, redis::RedisError> {
        match url {
            None => Ok(Self::Memory(
                Cache::builder()
                    .max_capacity(MAX_ENTRIES)
                    .expire_after(PerEntry)
                    .build(),
            )),
            Some(url) => {
                let client = redis::Client::open(url.as_str())?;
                Ok(Self::Redis(Arc::new(RedisCache {
                    client,
                    connection: Mutex::new(None),
                })))
            }
        }
    }

    /// The cache key for an access token (never the token itself).
    pub fn key(access_token: &str) -> String {
        let hash = digest(&SHA256, access_token.as_bytes());
        let hex: String = hash
            .as_ref()
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        format!("protected-api:userinfo:{hex}")
    }

    /// The cached answer, if any.
    pub async fn get(&self, key: &str) -> Option<Value> {
        match self {
            Self::Memory(cache) => cache.get(key).map(|(value, _)| (*value).clone()),
            Self::Redis(redis) => {
                let text: Option<String> = redis
                    .run(|mut connection| async move { connection.get(key).await })
                    .await?;
                serde_json::from_str(&text?).ok()
            }
        }
    }

    /// Keeps `value` for `ttl` (zero: not at all).
    pub async fn put(&self, key: &str, value: &Value, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        match self {
            Self::Memory(cache) => cache.insert(key.to_owned(), (Arc::new(value.clone()), ttl)),
            Self::Redis(redis) => {
                let text = value.to_string();
                let seconds = ttl.as_secs().max(1);
                let _: Option<()> = redis
                    .run(
                        |mut connection| async move { connection.set_ex(key, text, seconds).await },
                    )
                    .await;
            }
        }
    }
}

impl RedisCache {
    /// Runs one command within [`REDIS_TIMEOUT`]; `None` (and a warning) when Redis is unreachable,
    /// slow or fails, after which the next call reconnects.
    async fn run<T, F, Fut>(&self, command: F) -> Option<T>
    where
        F: FnOnce(MultiplexedConnection) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        let connection = {
            // Whoever finds the connection being made goes without Redis rather than queueing.
            let mut slot = self.connection.try_lock().ok()?;
            if slot.is_none() {
                let connecting = self.client.get_multiplexed_async_connection();
                match tokio::time::timeout(REDIS_TIMEOUT, connecting).await {
                    Ok(Ok(connection)) => *slot = Some(connection),
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "Redis unreachable; calling userinfo without the cache");
                        return None;
                    }
                    Err(_) => {
                        tracing::warn!(
                            "Redis did not answer in time; calling userinfo without the cache"
                        );
                        return None;
                    }
                }
            }
            slot.clone()?
        };
        match tokio::time::timeout(REDIS_TIMEOUT, command(connection)).await {
            Ok(Ok(value)) => Some(value),
            outcome => {
                match outcome {
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "Redis command failed; going without the cache")
                    }
                    _ => tracing::warn!("Redis command timed out; going without the cache"),
                }
                if let Ok(mut slot) = self.connection.try_lock() {
                    *slot = None; // reconnect next time
                }
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn the_memory_cache_keeps_answers_per_token() {
        let cache = UserInfoCache::new(None).unwrap();
        let key = UserInfoCache::key("token-a");
        assert!(cache.get(&key).await.is_none());
        cache
            .put(&key, &json!({"sub": "a"}), Duration::from_secs(60))
            .await;
        assert_eq!(cache.get(&key).await, Some(json!({"sub": "a"})));
        assert!(cache.get(&UserInfoCache::key("token-b")).await.is_none());
        assert!(!key.contains("token-a"), "the key never holds the token");
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_a_miss_not_an_error() {
        let url = Url::parse("redis://127.0.0.1:1/").unwrap();
        let cache = UserInfoCache::new(Some(&url)).unwrap();
        let key = UserInfoCache::key("token");
        cache
            .put(&key, &json!({"sub": "a"}), Duration::from_secs(60))
            .await;
        assert!(cache.get(&key).await.is_none());
    }
}
