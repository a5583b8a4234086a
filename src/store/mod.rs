//! Shared state outside the process: local accounts (SQLite) and the user-info cache (memory or Redis).

pub mod accounts;
pub mod userinfo;

pub use accounts::{Account, AccountStore, LoginError, NewAccount, SignupError};
pub use userinfo::UserInfoCache;
