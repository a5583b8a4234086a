//! Built without the `sessions` feature: there is no browser session, so no cookie ever stands in
//! for the bearer header or `X-Id-Token`. Same functions as `cookie.rs`, so `credentials.rs` reads
//! the same either way.

use std::borrow::Cow;

use axum::http::HeaderMap;

/// No session, no session token.
pub(super) fn session_token(_: &HeaderMap) -> Option<Cow<'static, str>> {
    None
}

/// No session, no session ID token.
pub(super) fn session_id_token(_: &HeaderMap) -> Option<Cow<'static, str>> {
    None
}
