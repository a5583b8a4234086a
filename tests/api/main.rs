//! Integration tests: the real service on a random loopback port, with an in-process mock IdP.

// Test helpers panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

// The wings' tests are gated with their features, so `cargo test --no-default-features` runs the
// core's tests against the lean build.

#[cfg(feature = "local-issuer")]
mod accounts;
#[cfg(feature = "local-issuer")]
mod authorize;
#[cfg(feature = "local-issuer")]
mod browser;
mod config;
mod current_user;
mod dpop;
mod endpoints;
mod errors;
#[cfg(not(all(feature = "local-issuer", feature = "sessions", feature = "metrics")))]
mod features;
#[cfg(feature = "local-issuer")]
mod flows;
mod identity;
mod interop;
mod introspection;
mod issuers;
mod jwks_cache;
mod jwks_faults;
#[cfg(feature = "local-issuer")]
mod local_issuer;
#[cfg(feature = "local-issuer")]
mod local_opaque;
#[cfg(all(feature = "local-issuer", feature = "sessions"))]
mod login_attacks;
mod openapi;
#[cfg(feature = "local-issuer")]
mod password_load;
mod process;
mod providers;
#[cfg(feature = "redis")]
mod redis_cache;
#[cfg(all(feature = "local-issuer", feature = "sessions"))]
mod rejections;
#[cfg(all(feature = "local-issuer", feature = "sessions"))]
mod sessions;
#[cfg(feature = "local-issuer")]
mod signup_form;
mod slow_clients;
mod tokens;
