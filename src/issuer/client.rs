//! The `client_credentials` client of the local issuer: from `[LOCAL] CLIENT_ID/CLIENT_SECRET`, or
//! generated on first start and kept in `DATA_DIR/client.json` (0600). No secret is ever in the source.

use std::path::Path;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use super::IssuerError;
use super::files::{read_private, write_private};
use crate::auth::{random_bytes, random_token};

/// A confidential client's id and secret.
#[derive(Clone, Serialize, Deserialize)]
pub struct ClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The client secret.
    pub client_secret: String,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Where the credentials came from, so start-up can say so once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialsOrigin {
    /// `[LOCAL] CLIENT_ID` and `CLIENT_SECRET`.
    Configured,
    /// Read from the file generated on an earlier start.
    Stored,
    /// Generated now (and written to the file).
    Generated,
}

impl ClientCredentials {
    /// The configured pair, else the stored one, else a new random pair written to `file`.
    ///
    /// # Errors
    /// When the file cannot be read, parsed or written.
    pub fn load_or_create(
        configured: Option<(&str, &str)>,
        file: &Path,
    ) -> Result<(Self, CredentialsOrigin), IssuerError> {
        if let Some((client_id, client_secret)) = configured {
            let credentials = Self {
                client_id: client_id.to_owned(),
                client_secret: client_secret.to_owned(),
            };
            return Ok((credentials, CredentialsOrigin::Configured));
        }
        let problem = |problem: String| IssuerError::Client {
            path: file.to_owned(),
            problem,
        };
        if let Some(bytes) = read_private(file).map_err(|error| problem(error.to_string()))? {
            let credentials =
                serde_json::from_slice(&bytes).map_err(|error| problem(error.to_string()))?;
            return Ok((credentials, CredentialsOrigin::Stored));
        }
        let credentials = Self {
            client_id: format!("local-{}", URL_SAFE_NO_PAD.encode(random_bytes::<6>()?)),
            client_secret: random_token()?,
        };
        let json =
            serde_json::to_vec_pretty(&credentials).map_err(|error| problem(error.to_string()))?;
        write_private(file, &json).map_err(|error| problem(error.to_string()))?;
        Ok((credentials, CredentialsOrigin::Generated))
    }

    /// Whether `id` and `secret` are this client's, comparing the secret in constant time.
    pub fn matches(&self, id: &str, secret: &str) -> bool {
        let id_ok = id == self.client_id;
        let secret_ok =
            verify_slices_are_equal(secret.as_bytes(), self.client_secret.as_bytes()).is_ok();
        id_ok & secret_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_credentials_are_kept_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("client.json");
        let (first, origin) = ClientCredentials::load_or_create(None, &file).unwrap();
        assert_eq!(origin, CredentialsOrigin::Generated);
        assert!(first.client_secret.len() >= 40);
        let (again, origin) = ClientCredentials::load_or_create(None, &file).unwrap();
        assert_eq!(origin, CredentialsOrigin::Stored);
        assert_eq!(again.client_secret, first.client_secret);
        assert!(again.matches(&first.client_id, &first.client_secret));
        assert!(!again.matches(&first.client_id, "wrong"));
    }
}
