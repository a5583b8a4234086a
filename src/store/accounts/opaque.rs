//! Opaque access tokens of the local issuer (`[LOCAL] TOKEN_FORMAT = opaque`): stored by the SHA-256 of
//! the token with the claims a JWT would have carried, and looked up for introspection (RFC 7662).

use jsonwebtoken::get_current_timestamp;
use serde_json::{Map, Value};

use super::AccountStore;

/// Expired rows removed with each new token, at most: the work per insert stays bounded, and as every
/// row expires once, the sweep keeps up with any rate of issue.
const SWEEP_BATCH: i64 = 64;

/// Longer values are not tokens of this issuer (they are 49 characters: a prefix and 43 of base64url),
/// so they are not looked up.
const MAX_TOKEN_BYTES: usize = 512;

/// The key a token is stored under: its SHA-256, so the database never holds a usable token.
fn token_hash(token: &str) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

fn now() -> i64 {
    i64::try_from(get_current_timestamp()).unwrap_or(i64::MAX)
}

impl AccountStore {
    /// Keeps `claims` for the opaque `token` until `expires_at` (seconds since the epoch). The token is
    /// stored only as its SHA-256. Also deletes up to [`SWEEP_BATCH`] expired tokens.
    ///
    /// # Errors
    /// A database error, or claims that cannot be written as JSON.
    pub async fn store_opaque(
        &self,
        token: &str,
        claims: &Map<String, Value>,
        expires_at: u64,
    ) -> Result<(), sqlx::Error> {
        let json =
            serde_json::to_string(claims).map_err(|error| sqlx::Error::Encode(Box::new(error)))?;
        sqlx::query("INSERT INTO opaque_tokens (token_hash, claims, expires_at) VALUES (?, ?, ?)")
            .bind(token_hash(token))
            .bind(json)
            .bind(i64::try_from(expires_at).unwrap_or(i64::MAX))
            .execute(&self.pool)
            .await?;
        // Cleaning up on insert needs no background task, and the index on `expires_at` keeps the
        // sweep a short range scan.
        sqlx::query(
            "DELETE FROM opaque_tokens WHERE token_hash IN
                 (SELECT token_hash FROM opaque_tokens WHERE expires_at <= ? LIMIT ?)",
        )
        .bind(now())
        .bind(SWEEP_BATCH)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The claims of a live opaque token, with `"active": true` (RFC 7662 §2.2); `None` for a token
    /// that is unknown, expired or malformed. One indexed `SELECT`; nothing is logged.
    ///
    /// # Errors
    /// A database error, or stored claims that are not a JSON object.
    pub async fn introspect_opaque(
        &self,
        token: &str,
    ) -> Result<Option<Map<String, Value>>, sqlx::Error> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Ok(None);
        }
        let claims: Option<String> = sqlx::query_scalar(
            "SELECT claims FROM opaque_tokens WHERE token_hash = ? AND expires_at > ?",
        )
        .bind(token_hash(token))
        .bind(now())
        .fetch_optional(&self.pool)
        .await?;
        let Some(claims) = claims else {
            return Ok(None);
        };
        let mut claims: Map<String, Value> =
            serde_json::from_str(&claims).map_err(|error| sqlx::Error::Decode(Box::new(error)))?;
        claims.insert("active".into(), Value::Bool(true));
        Ok(Some(claims))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    async fn store() -> (AccountStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        (AccountStore::open(&url).await.unwrap(), dir)
    }

    async fn rows(store: &AccountStore) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM opaque_tokens")
            .fetch_one(&store.pool)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_live_token_answers_its_claims_and_an_expired_one_nothing() {
        let (store, _dir) = store().await;
        let claims = json!({"sub": "ada", "scope": "read:messages"});
        let claims = claims.as_object().unwrap();
        let later = get_current_timestamp() + 60;
        store.store_opaque("live", claims, later).await.unwrap();
        // Expired and not swept yet: the lookup itself must refuse it.
        sqlx::query(
            "INSERT INTO opaque_tokens (token_hash, claims, expires_at) VALUES (?, '{}', 1)",
        )
        .bind(token_hash("old"))
        .execute(&store.pool)
        .await
        .unwrap();
        let found = store.introspect_opaque("live").await.unwrap().unwrap();
        assert_eq!(found["sub"], "ada");
        assert_eq!(found["active"], true);
        assert_eq!(store.introspect_opaque("old").await.unwrap(), None);
        assert_eq!(store.introspect_opaque("unknown").await.unwrap(), None);
        assert_eq!(store.introspect_opaque("").await.unwrap(), None);
    }

    #[tokio::test]
    async fn each_insert_sweeps_a_bounded_batch_of_expired_tokens() {
        let (store, _dir) = store().await;
        let claims = Map::new();
        for n in 0..SWEEP_BATCH * 2 {
            // Written directly: `store_opaque` would sweep them as they come.
            sqlx::query(
                "INSERT INTO opaque_tokens (token_hash, claims, expires_at) VALUES (?, '{}', 1)",
            )
            .bind(token_hash(&format!("expired-{n}")))
            .execute(&store.pool)
            .await
            .unwrap();
        }
        let later = get_current_timestamp() + 60;
        store.store_opaque("first", &claims, later).await.unwrap();
        assert_eq!(rows(&store).await, SWEEP_BATCH + 1, "one batch swept");
        store.store_opaque("second", &claims, later).await.unwrap();
        assert_eq!(rows(&store).await, 2, "the rest swept, live tokens kept");
    }
}
