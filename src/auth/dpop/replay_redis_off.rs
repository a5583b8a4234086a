//! Built without the `redis` feature: no shared replay store can exist. An uninhabited stand-in with
//! the same functions as `redis.rs`; `connect` refuses (the config parser refuses first).

use url::Url;

use crate::store::CacheUrlError;

/// No value of this type exists without the `redis` feature.
pub(super) enum SharedReplay {}

impl SharedReplay {
    /// Always refused: this binary has no Redis client.
    pub(super) fn connect(_: &Url) -> Result<Self, CacheUrlError> {
        Err(CacheUrlError(
            "redis:// needs the redis feature, which this binary was built without".to_owned(),
        ))
    }

    /// Unreachable: there is no `SharedReplay` to call it on.
    pub(super) async fn set_if_absent(&self, _: &[u8; 32], _: u64) -> Option<bool> {
        match *self {}
    }
}
