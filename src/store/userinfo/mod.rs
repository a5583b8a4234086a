//! The user-info store: answers of the provider's userinfo endpoint (OpenID Connect Core §5.3),
//! fetched with the caller's access token and kept per token until it expires or `[CACHE]
//! USERINFO_TTL`. In process by default; in Redis (`[CACHE] URL = redis://…`) so replicas share it. A
//! Redis that is down or slow is skipped (the endpoint is called instead), never turned into an error.

mod memory;

use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use jsonwebtoken::get_current_timestamp;
use serde_json::Value;
use url::Url;

use self::memory::Memory;
// An answer's cache key is the SHA-256 of the access token, so the token itself is never kept.
use super::redis::{Answer, Shared, TokenKey};
use crate::auth::{FetchError, HttpFetcher, Verified};
use crate::config::CacheSettings;

/// The provider's userinfo answers, cached. Cheap to clone.
#[derive(Clone)]
pub struct UserInfoStore(Arc<Inner>);

struct Inner {
    kept: Kept,
    http: HttpFetcher,
    max_ttl: Duration,
}

/// Where answers are kept.
enum Kept {
    /// In this process.
    Memory(Memory),
    /// In Redis, shared by every replica (boxed: the client is ten times the memory cache's size).
    Shared(Box<Shared>),
}

impl std::fmt::Debug for UserInfoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0.kept {
            Kept::Memory(_) => "UserInfoStore::Memory",
            Kept::Shared(_) => "UserInfoStore::Shared",
        })
    }
}

/// Why the provider's userinfo answer cannot be used: 502 for the caller.
#[derive(Debug, thiserror::Error)]
pub enum UserInfoError {
    /// The endpoint failed, answered non-2xx, or sent something that is not a JSON object.
    #[error("the provider's userinfo endpoint failed")]
    Upstream(#[source] FetchError),
    /// The answer is about someone else than the access token's subject (OpenID Connect Core
    /// §5.3.2), or about no one.
    #[error("the userinfo answer is about another subject")]
    OtherSubject,
}

/// `[CACHE] URL` names a cache this service cannot use.
#[derive(Debug, thiserror::Error)]
#[error("[CACHE] URL: {0}")]
pub struct CacheUrlError(pub(crate) String);

impl UserInfoStore {
    /// A store in process, or in the Redis of `[CACHE] URL`, asking the provider through `http`. Redis
    /// is not contacted until first used.
    ///
    /// # Errors
    /// When `[CACHE] URL` is not a Redis URL the client accepts.
    pub fn new(settings: &CacheSettings, http: HttpFetcher) -> Result<Self, CacheUrlError> {
        let kept = match &settings.url {
            None => Kept::Memory(Memory::new()),
            Some(url) => Kept::Shared(Box::new(Shared::connect(url, "userinfo")?)),
        };
        Ok(Self(Arc::new(Inner {
            kept,
            http,
            max_ttl: settings.userinfo_ttl,
        })))
    }

    /// The userinfo answer for the verified access token `token`: from the cache unless `refresh`,
    /// else from `endpoint`, then kept until the token expires or `[CACHE] USERINFO_TTL`, whichever
    /// comes first.
    ///
    /// # Errors
    /// [`UserInfoError`] when the endpoint fails or answers about another subject; nothing is kept then.
    pub async fn lookup(
        &self,
        endpoint: &Url,
        token: &str,
        verified: &Verified,
        refresh: bool,
    ) -> Result<Answer, UserInfoError> {
        let key = token_key(token);
        if !refresh && let Some(answer) = self.get(&key).await {
            return Ok(answer);
        }
        let answer: Answer = self
            .0
            .http
            .get_json_as(endpoint, token)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "userinfo request failed");
                UserInfoError::Upstream(error)
            })?;
        // OpenID Connect Core §5.3.2: the answer must be about the token's subject.
        let about = answer.get("sub").and_then(Value::as_str);
        if about.is_none() || about != verified.sub() {
            return Err(UserInfoError::OtherSubject);
        }
        let remaining = verified
            .expires_at()
            .saturating_sub(get_current_timestamp());
        let ttl = self.0.max_ttl.min(Duration::from_secs(remaining));
        self.put(key, &answer, ttl).await;
        Ok(answer)
    }

    async fn get(&self, key: &TokenKey) -> Option<Answer> {
        match &self.0.kept {
            Kept::Memory(memory) => memory.get(key),
            Kept::Shared(shared) => shared.get(key).await,
        }
    }

    /// Keeps `answer` for `ttl` (zero: not at all).
    async fn put(&self, key: TokenKey, answer: &Answer, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        match &self.0.kept {
            Kept::Memory(memory) => memory.put(key, answer, ttl),
            Kept::Shared(shared) => shared.put(&key, answer, ttl).await,
        }
    }
}

/// The cache key of an access token.
fn token_key(token: &str) -> TokenKey {
    let mut key = [0u8; 32];
    key.copy_from_slice(digest(&SHA256, token.as_bytes()).as_ref());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn store(url: Option<&str>) -> UserInfoStore {
        let settings = CacheSettings {
            url: url.map(|url| Url::parse(url).unwrap()),
            userinfo_ttl: Duration::from_secs(300),
            introspection_ttl: Duration::from_secs(60),
        };
        UserInfoStore::new(&settings, HttpFetcher::new().unwrap()).unwrap()
    }

    fn answer(sub: &str) -> Answer {
        json!({"sub": sub}).as_object().unwrap().clone()
    }

    #[tokio::test]
    async fn the_memory_store_keeps_answers_per_token() {
        let store = store(None);
        let (a, b) = (token_key("token-a"), token_key("token-b"));
        assert!(store.get(&a).await.is_none());
        store.put(a, &answer("a"), Duration::from_secs(60)).await;
        assert_eq!(store.get(&a).await, Some(answer("a")));
        assert!(store.get(&b).await.is_none());
    }

    #[tokio::test]
    async fn a_zero_ttl_keeps_nothing() {
        let store = store(None);
        let key = token_key("token");
        store.put(key, &answer("a"), Duration::ZERO).await;
        assert!(store.get(&key).await.is_none());
    }

    #[cfg(feature = "redis")]
    #[tokio::test]
    async fn an_unreachable_redis_is_a_miss_not_an_error() {
        let store = store(Some("redis://127.0.0.1:1/"));
        let key = token_key("token");
        store.put(key, &answer("a"), Duration::from_secs(60)).await;
        assert!(store.get(&key).await.is_none());
    }

    #[test]
    fn a_url_the_redis_client_refuses_is_a_start_error_naming_the_key() {
        let settings = CacheSettings {
            url: Some(Url::parse("memcached://127.0.0.1/").unwrap()),
            userinfo_ttl: Duration::from_secs(300),
            introspection_ttl: Duration::from_secs(60),
        };
        let error = UserInfoStore::new(&settings, HttpFetcher::new().unwrap()).unwrap_err();
        assert!(error.to_string().starts_with("[CACHE] URL: "), "{error}");
    }
}
