//! Built without the `redis` feature: the shared cache cannot exist. An uninhabited stand-in with the
//! same functions as `redis.rs`, so the store's code reads the same either way; `connect` refuses,
//! for library users who fill in `CacheSettings` by hand (the config parser refuses first).

use std::time::Duration;

use serde_json::{Map, Value};
use url::Url;

use super::userinfo::CacheUrlError;

/// A cache key: the SHA-256 of a token.
pub(crate) type TokenKey = [u8; 32];

/// What is kept: a JSON object.
pub(crate) type Answer = Map<String, Value>;

/// No value of this type exists without the `redis` feature.
pub(crate) enum Shared {}

impl Shared {
    /// Always refused: this binary has no Redis client.
    pub(crate) fn connect(_: &Url, _: &'static str) -> Result<Self, CacheUrlError> {
        Err(CacheUrlError(
            "redis:// needs the redis feature, which this binary was built without".to_owned(),
        ))
    }

    /// Unreachable: there is no `Shared` to call it on.
    pub(crate) async fn get(&self, _: &TokenKey) -> Option<Answer> {
        match *self {}
    }

    /// Unreachable: there is no `Shared` to call it on.
    pub(crate) async fn put(&self, _: &TokenKey, _: &Answer, _: Duration) {
        match *self {}
    }
}
