//! Cached answers (userinfo, token introspection) in Redis, shared by every replica, keyed by a token's
//! SHA-256, never the token. Each command gets [`REDIS_TIMEOUT`]; a Redis that is unreachable, slow
//! or failing is a cache miss, and the connection is made again next time.
//! redis' own `ConnectionManager` is not used: it retries with back-off and keeps the caller waiting.

use std::time::Duration;

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

/// A Redis connection made on first use and remade after a failure, for one kind of answer.
pub(crate) struct Shared {
    client: redis::Client,
    connection: Mutex<Option<MultiplexedConnection>>,
    /// What is kept (`userinfo`, `introspection`): the keys' namespace and the logs' wording.
    purpose: &'static str,
}

impl Shared {
    /// A client for `url`, keeping answers about `purpose`; nothing is contacted yet.
    pub(crate) fn connect(url: &Url, purpose: &'static str) -> Result<Self, CacheUrlError> {
        let client =
            redis::Client::open(url.as_str()).map_err(|error| CacheUrlError(error.to_string()))?;
        Ok(Self {
            client,
            connection: Mutex::new(None),
            purpose,
        })
    }

    /// The answer kept for `key`, if Redis has one and answers in time.
    pub(crate) async fn get(&self, key: &TokenKey) -> Option<Answer> {
        let name = redis_key(self.purpose, key);
        let text: Option<String> = self
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
            .run(|mut connection| async move { connection.set_ex(name, text, seconds).await })
            .await;
    }

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
                        tracing::warn!(%error, purpose = self.purpose, "Redis unreachable; going without the cache");
                        return None;
                    }
                    Err(_) => {
                        tracing::warn!(
                            purpose = self.purpose,
                            "Redis did not answer in time; going without the cache"
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

/// The Redis key of an answer (or of a DPoP proof, `auth::dpop`): the 32-byte digest in hex, under
/// this service's prefix and the purpose.
pub(crate) fn redis_key(purpose: &str, key: &TokenKey) -> String {
    let hex: String = key.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("protected-api:{purpose}:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_redis_key_is_the_hex_digest_under_the_prefix() {
        let name = redis_key("userinfo", &[0xab; 32]);
        assert_eq!(name, format!("protected-api:userinfo:{}", "ab".repeat(32)));
    }
}
