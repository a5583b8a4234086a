//! The embedded development issuer (`PROVIDER = local`): its own RSA key, JWKS, discovery document,
//! token and introspection endpoints, so a fresh clone runs with no account anywhere. Not for
//! production identities.

mod authorize;
mod client;
pub mod doc;
pub(crate) mod files;
pub mod introspect;
mod key;
pub mod login;
mod pages;
pub mod provider;
mod request;
pub mod routes;
pub mod settings;
pub mod signup;
mod state;
mod stored_tokens;
pub mod token;
pub mod userinfo;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Header, get_current_timestamp};
use serde_json::{Map, Value, json};

pub use client::{ClientCredentials, CredentialsOrigin};
pub use key::SigningKey;
pub use settings::{LocalSettings, TokenFormat};
pub use state::IssuerState;
pub use stored_tokens::StoredTokens;

use crate::auth::{KeySet, LOCAL_TOKEN_PREFIX, RandomError, random_token};
use crate::store::AccountStore;

/// The public OAuth client of the local issuer: Swagger UI and the `/login` flow use it.
pub const WEB_CLIENT_ID: &str = "protected-api-web";

/// How long an authorization code may wait to be exchanged.
const CODE_TTL: u64 = 60;

/// What an authorization code stands for (a JWS signed by the issuer, exchanged once).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CodeGrant {
    /// Unique id, recorded when the code is used.
    pub jti: String,
    /// The user.
    pub sub: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Where it was sent.
    pub redirect_uri: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The PKCE challenge (S256).
    pub code_challenge: String,
    /// The client's nonce for the ID token.
    #[serde(default)]
    pub nonce: Option<String>,
    /// Expiry.
    pub exp: u64,
    /// Marks the JWS as a code, so no other token of this issuer passes for one.
    pub token_use: String,
}

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
    #[error(transparent)]
    Random(#[from] RandomError),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// The local accounts database could not be opened or migrated.
    #[error("accounts database: {0}")]
    Database(#[from] sqlx::Error),
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

/// An access token and its lifetime.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWS, or the opaque token ([`TokenFormat::Opaque`]).
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
    token_format: TokenFormat,
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
                token_format: settings.token_format,
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

    /// What its access tokens look like (`[LOCAL] TOKEN_FORMAT`).
    pub fn token_format(&self) -> TokenFormat {
        self.inner.token_format
    }

    /// An access token for `grant` in the configured format: a signed JWT ([`LocalIssuer::mint`]), or
    /// a random opaque token whose claims are kept in `accounts` until it expires.
    ///
    /// # Errors
    /// When signing, the system random generator or the database fails.
    pub async fn issue(
        &self,
        grant: &Grant,
        accounts: &AccountStore,
    ) -> Result<IssuedToken, IssuerError> {
        match self.inner.token_format {
            TokenFormat::Jwt => self.mint(grant),
            TokenFormat::Opaque => {
                let (claims, ttl) = self.access_claims(grant)?;
                let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
                // 256 random bits, base64url: nothing to parse, nothing to forge (RFC 6749 §10.10).
                // The prefix tells the verifier the token is ours, to look up here and show no one.
                let access_token = format!("{LOCAL_TOKEN_PREFIX}{}", random_token()?);
                accounts.store_opaque(&access_token, &claims, exp).await?;
                Ok(IssuedToken {
                    access_token,
                    expires_in: ttl,
                })
            }
        }
    }

    /// Signs a JWT access token for `grant`, whatever the configured format.
    ///
    /// # Errors
    /// When signing fails or the system random generator does.
    pub fn mint(&self, grant: &Grant) -> Result<IssuedToken, IssuerError> {
        let (claims, ttl) = self.access_claims(grant)?;
        let access_token = self.sign("at+jwt", &claims)?; // RFC 9068 §2.1
        Ok(IssuedToken {
            access_token,
            expires_in: ttl,
        })
    }

    /// The claims of an access token for `grant` (RFC 9068 §2.2), and its lifetime in seconds.
    fn access_claims(&self, grant: &Grant) -> Result<(Map<String, Value>, u64), IssuerError> {
        let now = get_current_timestamp();
        let ttl = grant.ttl.unwrap_or(self.inner.token_ttl).as_secs().max(1);
        let jti = random_token()?;
        let mut claims = grant.extra.clone();
        claims.insert("iss".into(), json!(self.inner.issuer));
        claims.insert("sub".into(), json!(grant.sub));
        claims.insert("aud".into(), json!(self.inner.audience));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + ttl));
        claims.insert("jti".into(), json!(jti));
        claims.insert("client_id".into(), json!(grant.client_id));
        if !grant.scopes.is_empty() {
            claims.insert("scope".into(), json!(grant.scopes.join(" ")));
        }
        claims.insert("permissions".into(), json!(grant.permissions));
        Ok((claims, ttl))
    }

    /// The claims of a JWT access token this issuer signed, if its signature holds and it is live:
    /// what `/oauth/introspect` answers for one. ID tokens and codes (another `typ`) are not access
    /// tokens and get `None`, as do tokens of any other issuer.
    pub fn read_access_token(&self, token: &str) -> Option<Map<String, Value>> {
        let header = jsonwebtoken::decode_header(token).ok()?;
        if header.typ.as_deref() != Some("at+jwt") || header.alg != Algorithm::RS256 {
            return None;
        }
        let key = jsonwebtoken::DecodingKey::from_jwk(&self.inner.key.jwk).ok()?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        // An introspection answer says whether the token is active now (RFC 7662 §2.2): no leeway.
        validation.leeway = 0;
        validation.validate_nbf = true;
        validation.set_issuer(&[self.inner.issuer.as_str()]);
        validation.set_audience(&[self.inner.audience.as_str()]);
        jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .ok()
            .map(|data| data.claims)
    }

    /// Signs an OpenID Connect ID token for the web client about `sub`, with profile claims.
    ///
    /// # Errors
    /// When signing fails.
    pub fn mint_id_token(
        &self,
        sub: &str,
        profile: &Map<String, Value>,
        nonce: Option<&str>,
    ) -> Result<String, IssuerError> {
        let now = get_current_timestamp();
        let mut claims = profile.clone();
        claims.insert("iss".into(), json!(self.inner.issuer));
        claims.insert("sub".into(), json!(sub));
        claims.insert("aud".into(), json!(WEB_CLIENT_ID));
        claims.insert("azp".into(), json!(WEB_CLIENT_ID));
        claims.insert("iat".into(), json!(now));
        claims.insert("auth_time".into(), json!(now));
        claims.insert(
            "exp".into(),
            json!(now + self.inner.token_ttl.as_secs().max(1)),
        );
        if let Some(nonce) = nonce {
            claims.insert("nonce".into(), json!(nonce));
        }
        self.sign("JWT", &claims)
    }

    /// Issues an authorization code: a short-lived JWS only this issuer's token endpoint accepts.
    ///
    /// # Errors
    /// When signing or the random generator fails.
    pub fn mint_code(&self, mut grant: CodeGrant) -> Result<String, IssuerError> {
        grant.jti = random_token()?;
        grant.exp = get_current_timestamp() + CODE_TTL;
        grant.token_use = "code".to_owned();
        let claims =
            serde_json::to_value(&grant).map_err(|error| IssuerError::Sign(error.to_string()))?;
        let Value::Object(mut claims) = claims else {
            return Err(IssuerError::Sign("not an object".into()));
        };
        claims.insert("iss".into(), json!(self.inner.issuer));
        self.sign("code", &claims)
    }

    /// Reads a code this issuer made, if its signature holds and it has not expired.
    pub fn read_code(&self, code: &str) -> Option<CodeGrant> {
        let key = jsonwebtoken::DecodingKey::from_jwk(&self.inner.key.jwk).ok()?;
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.leeway = 0;
        validation.validate_aud = false;
        validation.set_issuer(&[self.inner.issuer.as_str()]);
        let header = jsonwebtoken::decode_header(code).ok()?;
        if header.typ.as_deref() != Some("code") {
            return None;
        }
        let grant: CodeGrant = jsonwebtoken::decode(code, &key, &validation).ok()?.claims;
        (grant.token_use == "code").then_some(grant)
    }

    fn sign(&self, typ: &str, claims: &Map<String, Value>) -> Result<String, IssuerError> {
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some(typ.to_owned());
        header.kid = Some(self.inner.key.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.inner.key.encoding)
            .map_err(|error| IssuerError::Sign(error.to_string()))
    }
}
