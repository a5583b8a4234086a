//! The metrics recorders for a build without the `metrics` feature: the same calls as
//! `telemetry/metrics.rs`, with empty bodies.
//!
//! Verification, the key-set cache and `ApiError` count what they see through these functions. This
//! stub lets them call the same names in every build, so no `#[cfg]` reaches into per-request code,
//! and a lean binary carries neither the recorder nor its exporter. `/metrics` and the request
//! counter are mounted in `app_with` only when the feature is on, so they have no stand-in here.

/// A refused token, by reason: not counted in this build.
pub fn auth_failure(_reason: &'static str) {}

/// A key-set fetch and whether it worked: not counted in this build.
pub fn jwks_fetch(_ok: bool) {}

/// A token-cache lookup: not counted in this build.
pub fn token_cache(_hit: bool) {}
