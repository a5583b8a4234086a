//! Shared state outside the process: local accounts (SQLite, feature `local-issuer`) and the user-info
//! and introspection caches (memory, or Redis with feature `redis`).

#[cfg(feature = "local-issuer")]
pub mod accounts;
#[cfg(feature = "local-issuer")]
pub mod passwords;
#[cfg(feature = "redis")]
pub(crate) mod redis;
#[cfg(not(feature = "redis"))]
#[path = "redis_off.rs"]
pub(crate) mod redis;
pub mod userinfo;

#[cfg(feature = "local-issuer")]
pub use accounts::{Account, AccountStore, LoginError, NewAccount, SignupError};
#[cfg(feature = "local-issuer")]
pub use passwords::{Busy, PasswordHashing};
pub use userinfo::{CacheUrlError, UserInfoError, UserInfoStore};
