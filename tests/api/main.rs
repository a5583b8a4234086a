//! Integration tests: the real service on a random loopback port, with an in-process mock IdP.

// Test helpers panic on setup failures, like the tests themselves.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod accounts;
mod authorize;
mod browser;
mod config;
mod current_user;
mod endpoints;
mod errors;
mod flows;
mod identity;
mod interop;
mod jwks_cache;
mod jwks_faults;
mod local_issuer;
mod login_attacks;
mod openapi;
mod password_load;
mod process;
mod providers;
mod redis_cache;
mod rejections;
mod sessions;
mod signup_form;
mod slow_clients;
mod tokens;
