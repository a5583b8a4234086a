//! Shared state outside the process: local accounts (SQLite, feature `local-issuer`) and the user-info
//! cache (memory, or Redis with feature `redis`).

#[cfg(feature = "local-issuer")]
pub mod accounts;
#[cfg(feature = "local-issuer")]
pub mod passwords;
pub mod userinfo;

#[cfg(feature = "local-issuer")]
pub use accounts::{Account, AccountStore, LoginError, NewAccount, SignupError};
#[cfg(feature = "local-issuer")]
pub use passwords::{Busy, PasswordHashing};
pub use userinfo::{CacheUrlError, UserInfoError, UserInfoStore};
