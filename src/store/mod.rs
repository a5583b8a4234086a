//! Shared state outside the process: local accounts (SQLite) and the user-info cache (memory or Redis).

pub mod accounts;
pub mod passwords;
pub mod userinfo;

pub use accounts::{Account, AccountStore, LoginError, NewAccount, SignupError};
pub use passwords::{Busy, PasswordHashing};
pub use userinfo::{CacheUrlError, UserInfoError, UserInfoStore};
