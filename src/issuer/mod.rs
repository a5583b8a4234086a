//! The embedded development issuer (`PROVIDER = local`): its own RSA key, JWKS, discovery document and
//! token endpoint, so a fresh clone runs with no account anywhere. Not for production identities.

mod client;
mod files;
mod key;
pub mod routes;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Header, get_current_timestamp};
use serde_json::{Map, Value, json};

pub use client::{ClientCredentials, CredentialsOrigin};
pub use key::SigningKey;

use crate::auth::KeySet;
use crate::config::LocalSettings;

/// What can go wrong setting up or using the local issuer.
#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    /// The signing key file.
    #[error("signing key {}: {problem}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The generated client credentials file.
    #[error("client credentials {}: {problem}", path.display())]
    Client {
        /// The credentials file.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The system random generator failed.
    #[error("no randomness available")]
    Random,
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
}

/// What a new access token grants.
#[derive(Debug, Clone)]
pub struct Grant {
    /// `sub`: the user, or `client-id@clients` for a machine.
    pub sub: String,
    /// `client_id` (RFC 9068 §2.2): the client the token was issued to.
    pub client_id: String,
    /// Scopes, written space-separated in `scope`.
    pub scopes: Vec<String>,
    /// Permissions, written as the `permissions` array (as Auth0 does).
    pub permissions: Vec<String>,
    /// Lifetime; the issuer's `TOKEN_TTL` when `None`.
    pub ttl: Option<Duration>,
    /// Extra claims (profile claims, `gty`, …).
    pub extra: Map<String, Value>,
}

/// A signed access token and its lifetime.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWS.
    pub access_token: String,
    /// Seconds until `exp`.
    pub expires_in: u64,
}

/// The local issuer: signs RS256 access tokens (RFC 9068 profile). Cheap to clone.
#[derive(Debug, Clone)]
pub struct LocalIssuer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    key: SigningKey,
    issuer: String,
    audience: String,
    token_ttl: Duration,
}

impl LocalIssuer {
    /// Opens (or on first start creates) the signing key named by `settings`.
    ///
    /// # Errors
    /// When the key file cannot be read, written or parsed.
    pub fn open(settings: &LocalSettings) -> Result<Self, IssuerError> {
        let key = SigningKey::load_or_create(&settings.key_file)?;
        Ok(Self {
            inner: Arc::new(Inner {
                key,
                issuer: settings.issuer.clone(),
                audience: settings.audience.clone(),
                token_ttl: settings.token_ttl,
            }),
        })
    }

    /// `iss` of the tokens it signs.
    pub fn issuer(&self) -> &str {
        &self.inner.issuer
    }

    /// `aud` of the tokens it signs.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// The public key set, as served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.inner.key.jwk] })
    }

    /// The public key set, ready for the verifier.
    pub fn key_set(&self) -> KeySet {
        KeySet::from_jwks([self.inner.key.jwk.clone()])
    }

    /// Signs an access token for `grant`.
    ///
    /// # Errors
    /// When signing fails or the system random generator does.
    pub fn mint(&self, grant: &Grant) -> Result<IssuedToken, IssuerError> {
        let now = get_current_timestamp();
        let ttl = grant.ttl.unwrap_or(self.inner.token_ttl).as_secs().max(1);
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).map_err(|_| IssuerError::Random)?;
        let mut claims = grant.extra.clone();
        claims.insert("iss".into(), json!(self.inner.issuer));
        claims.insert("sub".into(), json!(grant.sub));
        claims.insert("aud".into(), json!(self.inner.audience));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ttl));
        claims.insert(
            "jti".into(),
            json!(jti.iter().map(|b| format!("{b:02x}")).collect::<String>()),
        );
        claims.insert("client_id".into(), json!(grant.client_id));
        if !grant.scopes.is_empty() {
            claims.insert("scope".into(), json!(grant.scopes.join(" ")));
        }
        claims.insert("permissions".into(), json!(grant.permissions));
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("at+jwt".to_owned()); // RFC 9068 §2.1
        header.kid = Some(self.inner.key.kid.clone());
        let access_token = jsonwebtoken::encode(&header, &claims, &self.inner.key.encoding)
            .map_err(|error| IssuerError::Sign(error.to_string()))?;
        Ok(IssuedToken {
            access_token,
            expires_in: ttl,
        })
    }
}
