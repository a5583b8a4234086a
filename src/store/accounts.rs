//! Local accounts on SQLite (sqlx, embedded migrations): sign-up, password check with argon2,
//! per-account back-off after failed logins, and the local issuer's opaque tokens ([`opaque`]).

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::get_current_timestamp;
use serde::{Deserialize, Serialize};
use sqlx::ConnectOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use utoipa::ToSchema;

use super::passwords::{Busy, DUMMY_HASH, PasswordHashing};
use crate::auth::{RandomError, random_bytes};

mod opaque;

/// Failed logins after which the account waits: 1 s after this many, then twice as long after each
/// further failure.
const FREE_ATTEMPTS: i64 = 5;
/// The longest lock: doubling from one second, capped here.
const MAX_LOCK: Duration = Duration::from_secs(15 * 60);

/// A stored account, without its password hash.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Account {
    /// Stable subject identifier (`local|…`), the `sub` of its tokens.
    pub sub: String,
    /// Login name (an email address is accepted as one).
    pub username: String,
    /// Email address, when given.
    pub email: Option<String>,
    /// Display name, when given.
    pub name: Option<String>,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// A sign-up request.
// The `schema` attributes state the rules `validate` enforces, so the OpenAPI document tells clients
// (and API checkers) what a 422 would.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewAccount {
    /// 3–64 characters: letters, digits, `.`, `_`, `-`, `@`, `+`. An email address works.
    #[schema(min_length = 3, max_length = 64, pattern = r"^[A-Za-z0-9._@+-]{3,64}$")]
    pub username: String,
    /// 8–128 characters, not the username.
    #[schema(min_length = 8, max_length = 128)]
    pub password: String,
    /// Optional email address (taken from `username` when that is one): `local@domain`, the domain
    /// with a dot inside, no spaces.
    // Not `null` in the document: a form has no null, and a checker would send the text "null".
    #[serde(default)]
    #[schema(nullable = false, pattern = r"^[^@ ]+@[^ .][^ ]*\.[^ ]*[^ .]$")]
    pub email: Option<String>,
    /// Optional display name, at most 100 characters.
    #[serde(default)]
    #[schema(nullable = false, max_length = 100)]
    pub name: Option<String>,
}

/// Why a sign-up was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignupError {
    /// Malformed fields: field name -> problem.
    #[error("invalid fields")]
    Invalid(BTreeMap<&'static str, String>),
    /// The username or email is in use.
    #[error("username or email is taken")]
    Taken,
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    /// Hashing failed.
    #[error("password hashing failed")]
    Hash,
    /// The system random generator failed (the account id).
    #[error(transparent)]
    Random(#[from] RandomError),
    /// Too many passwords are being hashed right now: try again shortly.
    #[error(transparent)]
    Busy(#[from] Busy),
}

/// Why a password login failed. Callers must not tell the first two apart to the client.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Unknown user or wrong password.
    #[error("invalid username or password")]
    Invalid,
    /// Too many failures: locked for this long.
    #[error("too many failed logins")]
    Locked(Duration),
    /// Too many passwords are being checked right now: try again shortly. The attempt still counts
    /// towards the account's back-off, as it was counted before the check.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// The accounts database. Cheap to clone (a connection pool and the hashing bound).
#[derive(Debug, Clone)]
pub struct AccountStore {
    pool: SqlitePool,
    hashing: PasswordHashing,
}

impl AccountStore {
    /// Opens (creating the file and its directory if needed) and migrates the database at `url`.
    /// The file, and with it SQLite's `-wal` and `-shm`, is readable by its owner only (0600).
    ///
    /// # Errors
    /// When the database cannot be opened or migrated.
    pub async fn open(url: &str) -> Result<Self, sqlx::Error> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5));
        let in_memory = options
            .to_url_lossy()
            .query_pairs()
            .any(|(key, value)| key == "mode" && value == "memory");
        if !in_memory {
            prepare_private_file(options.get_filename())?;
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self {
            pool,
            hashing: PasswordHashing::default(),
        })
    }

    /// Creates an account.
    ///
    /// # Errors
    /// [`SignupError::Invalid`] with every malformed field, [`SignupError::Taken`], or a database error.
    pub async fn sign_up(&self, new: NewAccount) -> Result<Account, SignupError> {
        let new = validate(new)?;
        let hash = self
            .hashing
            .hash(&new.password)
            .await?
            .ok_or(SignupError::Hash)?;
        let id = random_bytes::<16>()?;
        let account = Account {
            sub: format!("local|{}", URL_SAFE_NO_PAD.encode(id)),
            username: new.username,
            email: new.email,
            name: new.name,
            created_at: i64::try_from(get_current_timestamp()).unwrap_or(i64::MAX),
        };
        let inserted = sqlx::query(
            "INSERT INTO accounts (sub, username, email, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&account.sub)
        .bind(&account.username)
        .bind(&account.email)
        .bind(&account.name)
        .bind(&hash)
        .bind(account.created_at)
        .execute(&self.pool)
        .await;
        match inserted {
            Ok(_) => Ok(account),
            Err(sqlx::Error::Database(error)) if error.is_unique_violation() => {
                Err(SignupError::Taken)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// The account with this `sub`.
    ///
    /// # Errors
    /// A database error.
    pub async fn find(&self, sub: &str) -> Result<Option<Account>, sqlx::Error> {
        sqlx::query_as("SELECT sub, username, email, name, created_at FROM accounts WHERE sub = ?")
            .bind(sub)
            .fetch_optional(&self.pool)
            .await
    }

    /// Checks a username (or email) and password. After [`FREE_ATTEMPTS`] failures the account is
    /// locked for a doubling delay; a success resets the count. Unknown users cost a hash check too,
    /// so timing does not tell which part was wrong.
    ///
    /// The attempt is counted, and the lock it would earn set, in one statement before the password
    /// is checked: parallel guesses each see the others' counts, so no more of them are checked than
    /// one after the other (a read, a slow check, then a write of `read + 1` would lose all but one).
    ///
    /// # Errors
    /// [`LoginError::Invalid`], [`LoginError::Locked`], [`LoginError::Busy`] or a database error.
    pub async fn log_in(&self, username: &str, password: &str) -> Result<Account, LoginError> {
        let Some(counted) = self.count_attempt(username).await? else {
            let _ = self.hashing.verify(DUMMY_HASH, password).await?;
            return Err(LoginError::Invalid);
        };
        if self
            .hashing
            .verify(&counted.password_hash, password)
            .await?
        {
            self.reset_failures(&counted).await?;
            return self.find(&counted.sub).await?.ok_or(LoginError::Invalid);
        }
        tracing::info!(sub = %counted.sub, failures = counted.failed_logins, "failed password login");
        Err(LoginError::Invalid)
    }

    /// Counts a login attempt for `username` and sets the lock it earns should it fail: none for the
    /// first [`FREE_ATTEMPTS`] - 1, then 1 s, 2 s, 4 s…; `None` for an unknown user.
    ///
    /// # Errors
    /// [`LoginError::Locked`] when the account is locked (the attempt is then not counted), or a
    /// database error.
    async fn count_attempt(&self, username: &str) -> Result<Option<Counted>, LoginError> {
        let now = i64::try_from(get_current_timestamp()).unwrap_or(i64::MAX);
        // Timestamps are whole seconds: a lock "until second S" holds through all of second S, so a
        // lock is never shorter than asked, however close to a second's end it began. The SET
        // expressions read the row's values from before the update, so `failed_logins + 1` is the
        // count with this attempt: the FREE_ATTEMPTS-th earns 1 s, the next 2 s, 4 s…
        let counted: Option<Counted> = sqlx::query_as(
            "UPDATE accounts SET
                 failed_logins = failed_logins + 1,
                 locked_until = CASE WHEN failed_logins + 1 >= ?1
                     THEN ?2 + min(1 << min(failed_logins + 1 - ?1, 30), ?3)
                     ELSE 0 END
             WHERE sub = (SELECT sub FROM accounts WHERE username = ?4 OR email = ?4
                          ORDER BY username = ?4 DESC LIMIT 1)
               AND locked_until < ?2
             RETURNING sub, password_hash, failed_logins",
        )
        .bind(FREE_ATTEMPTS)
        .bind(now)
        .bind(i64::try_from(MAX_LOCK.as_secs()).unwrap_or(i64::MAX))
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        if counted.is_some() {
            return Ok(counted);
        }
        let locked_until: Option<i64> = sqlx::query_scalar(
            "SELECT locked_until FROM accounts WHERE username = ?1 OR email = ?1
                 ORDER BY username = ?1 DESC LIMIT 1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await?;
        match locked_until {
            // The row exists, so the update found it locked (the lock may have ended since).
            Some(locked_until) => Err(LoginError::Locked(Duration::from_secs(
                (locked_until - now).max(0).unsigned_abs() + 1,
            ))),
            None => Ok(None),
        }
    }

    /// After a success, clears the failures counted up to and including `counted`, unless another
    /// attempt was counted since: that one is still being checked and may be a wrong guess, and
    /// clearing would lose it. The count then stays as it is (this success in it), which can only
    /// make the account wait sooner, never let a guess go uncounted; subtracting this attempt alone
    /// instead would keep earlier failures after a success, against the documented rule.
    ///
    /// # Errors
    /// A database error.
    async fn reset_failures(&self, counted: &Counted) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE accounts SET failed_logins = 0, locked_until = 0
             WHERE sub = ? AND failed_logins = ?",
        )
        .bind(&counted.sub)
        .bind(counted.failed_logins)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records an authorization code as used; `false` when it already was (a replay).
    ///
    /// # Errors
    /// A database error.
    pub async fn use_code_once(&self, jti: &str, expires_at: u64) -> Result<bool, sqlx::Error> {
        let now = i64::try_from(get_current_timestamp()).unwrap_or(i64::MAX);
        sqlx::query("DELETE FROM used_codes WHERE expires_at < ?")
            .bind(now)
            .execute(&self.pool)
            .await?;
        let inserted =
            sqlx::query("INSERT OR IGNORE INTO used_codes (jti, expires_at) VALUES (?, ?)")
                .bind(jti)
                .bind(i64::try_from(expires_at).unwrap_or(i64::MAX))
                .execute(&self.pool)
                .await?;
        Ok(inserted.rows_affected() == 1)
    }
}

/// An account as counted by [`AccountStore::count_attempt`]: its count includes this attempt.
#[derive(sqlx::FromRow)]
struct Counted {
    sub: String,
    password_hash: String,
    failed_logins: i64,
}

/// Creates the database file with mode 0600 (and its directory 0700) before SQLite opens it: SQLite
/// gives `-wal` and `-shm` the mode of the database file, so all three stay private whatever the
/// umask or the mode of a directory that already existed (a Docker volume, a `mkdir`). An existing
/// file that others may read is made private, with a warning.
fn prepare_private_file(path: &Path) -> std::io::Result<()> {
    crate::issuer::files::open_private(
        path,
        std::fs::OpenOptions::new().append(true).create(true),
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let companions = ["-wal", "-shm"].map(|suffix| {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            std::path::PathBuf::from(name)
        });
        for file in std::iter::once(path.to_owned()).chain(companions) {
            let Ok(metadata) = std::fs::metadata(&file) else {
                continue; // no -wal or -shm yet
            };
            let mode = metadata.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(file = %file.display(), mode = format!("{mode:o}"), "accounts database was readable by others; made it 0600");
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
            }
        }
    }
    Ok(())
}

fn validate(mut new: NewAccount) -> Result<NewAccount, SignupError> {
    let mut problems = BTreeMap::new();
    new.username = new.username.trim().to_owned();
    let username_ok = (3..=64).contains(&new.username.chars().count())
        && new
            .username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@+".contains(c));
    if !username_ok {
        problems.insert(
            "username",
            "3-64 characters: letters, digits, . _ - @ +".to_owned(),
        );
    }
    if new.email.is_none() && looks_like_email(&new.username) {
        new.email = Some(new.username.clone());
    }
    if let Some(email) = &new.email
        && !looks_like_email(email)
    {
        problems.insert("email", "not an email address".to_owned());
    }
    let length = new.password.chars().count();
    if length < 8 {
        problems.insert("password", "at least 8 characters".to_owned());
    } else if length > 128 {
        problems.insert("password", "at most 128 characters".to_owned());
    } else if new.password.eq_ignore_ascii_case(&new.username) {
        problems.insert("password", "must differ from the username".to_owned());
    }
    if new
        .name
        .as_ref()
        .is_some_and(|name| name.chars().count() > 100)
    {
        problems.insert("name", "at most 100 characters".to_owned());
    }
    if problems.is_empty() {
        Ok(new)
    } else {
        Err(SignupError::Invalid(problems))
    }
}

fn looks_like_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !text.contains(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (AccountStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        (AccountStore::open(&url).await.unwrap(), dir)
    }

    fn new(username: &str, password: &str) -> NewAccount {
        NewAccount {
            username: username.into(),
            password: password.into(),
            email: None,
            name: None,
        }
    }

    #[tokio::test]
    async fn locks_double_after_the_free_attempts_up_to_the_cap() {
        let (store, _dir) = store().await;
        store.sign_up(new("lena", "right password")).await.unwrap();
        let cases = [
            (0, 0),
            (3, 0),
            (4, 1),
            (5, 2),
            (7, 8),
            (100, MAX_LOCK.as_secs()),
        ];
        for (earlier_failures, lock) in cases {
            sqlx::query("UPDATE accounts SET failed_logins = ?, locked_until = 0")
                .bind(earlier_failures)
                .execute(&store.pool)
                .await
                .unwrap();
            let before = i64::try_from(get_current_timestamp()).unwrap();
            let _ = store.log_in("lena", "wrong").await;
            let (failures, until): (i64, i64) =
                sqlx::query_as("SELECT failed_logins, locked_until FROM accounts")
                    .fetch_one(&store.pool)
                    .await
                    .unwrap();
            assert_eq!(failures, earlier_failures + 1);
            if lock == 0 {
                assert_eq!(until, 0, "after {failures} failures");
            } else {
                let lock = i64::try_from(lock).unwrap();
                assert!(
                    (before + lock..=before + lock + 1).contains(&until),
                    "after {failures} failures: {until} - {before}"
                );
            }
        }
    }

    #[tokio::test]
    async fn sign_up_then_log_in_by_username_or_email() {
        let (store, _dir) = store().await;
        let account = store
            .sign_up(new("alice@example.com", "correct horse"))
            .await
            .unwrap();
        assert!(account.sub.starts_with("local|"));
        assert_eq!(account.email.as_deref(), Some("alice@example.com"));
        assert_eq!(
            store
                .log_in("ALICE@example.com", "correct horse")
                .await
                .unwrap()
                .sub,
            account.sub
        );
        assert!(matches!(
            store.log_in("alice@example.com", "wrong password").await,
            Err(LoginError::Invalid)
        ));
        assert!(matches!(
            store.log_in("nobody", "correct horse").await,
            Err(LoginError::Invalid)
        ));
        assert!(matches!(
            store.sign_up(new("Alice@Example.com", "another one")).await,
            Err(SignupError::Taken)
        ));
    }

    #[tokio::test]
    async fn weak_or_malformed_input_names_each_field() {
        let (store, _dir) = store().await;
        let Err(SignupError::Invalid(problems)) = store.sign_up(new("a b", "short")).await else {
            panic!()
        };
        assert!(problems.contains_key("username") && problems.contains_key("password"));
    }

    #[tokio::test]
    async fn repeated_failures_lock_the_account_even_for_the_right_password() {
        let (store, _dir) = store().await;
        store.sign_up(new("bob", "right password")).await.unwrap();
        for _ in 0..FREE_ATTEMPTS {
            assert!(matches!(
                store.log_in("bob", "wrong").await,
                Err(LoginError::Invalid)
            ));
        }
        assert!(matches!(
            store.log_in("bob", "right password").await,
            Err(LoginError::Locked(_))
        ));
    }

    /// `failed_logins` and `locked_until` as stored.
    async fn stored(store: &AccountStore) -> (i64, i64) {
        sqlx::query_as("SELECT failed_logins, locked_until FROM accounts")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_success_keeps_the_failures_counted_while_it_was_checked() {
        let (store, _dir) = store().await;
        store.sign_up(new("cleo", "right password")).await.unwrap();
        store.log_in("cleo", "wrong").await.unwrap_err();
        // A success counted, then a guess counted in parallel while the success's password is checked.
        let success = store.count_attempt("cleo").await.unwrap().unwrap();
        store.count_attempt("cleo").await.unwrap().unwrap();
        store.reset_failures(&success).await.unwrap();
        assert_eq!(stored(&store).await.0, 3, "the parallel guess is not wiped");
        // One by one, a success resets the count, as documented.
        let success = store.count_attempt("cleo").await.unwrap().unwrap();
        store.reset_failures(&success).await.unwrap();
        assert_eq!(stored(&store).await, (0, 0));
        assert!(store.log_in("cleo", "right password").await.is_ok());
        assert_eq!(stored(&store).await, (0, 0));
    }

    #[tokio::test]
    async fn a_code_is_used_once() {
        let (store, _dir) = store().await;
        assert!(store.use_code_once("code-1", u64::MAX / 2).await.unwrap());
        assert!(!store.use_code_once("code-1", u64::MAX / 2).await.unwrap());
    }
}
