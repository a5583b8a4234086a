//! A token builder for tests: claims and header as a test wants them, signed at test time, plus
//! presets shaped like each provider's tokens.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::get_current_timestamp;
use serde_json::{Map, Value, json};

use super::keys::TestKey;

/// Builds one JWS. Start from [`super::MockIdp::token`]; every setter returns the builder.
#[derive(Debug, Clone)]
pub struct TokenBuilder {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    key: Arc<TestKey>,
}

impl TokenBuilder {
    /// A token from `issuer` for `audience`, about `user-1`, valid for five minutes, signed with `key`.
    pub fn new(issuer: &str, audience: &str, key: Arc<TestKey>) -> Self {
        let now = get_current_timestamp();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(issuer));
        claims.insert("aud".into(), json!(audience));
        claims.insert("sub".into(), json!("user-1"));
        claims.insert("iat".into(), json!(now));
        claims.insert("exp".into(), json!(now + 300));
        let mut builder = Self {
            header: Map::new(),
            claims,
            key: key.clone(),
        };
        builder.header.insert("typ".into(), json!("at+jwt"));
        builder.sign_with(key)
    }

    /// Sets a claim.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets a header parameter (`jku`, `crit`, `kid`, …).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header parameter.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Signs with another key (its `kid` and `alg` replace the current ones).
    pub fn sign_with(mut self, key: Arc<TestKey>) -> Self {
        self.header
            .insert("alg".into(), json!(format!("{:?}", key.alg)));
        self.header.insert("kid".into(), json!(key.kid));
        self.key = key;
        self
    }

    /// `sub`.
    pub fn subject(self, sub: &str) -> Self {
        self.claim("sub", sub)
    }

    /// `scope`, space-separated.
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    /// `permissions`, an array.
    pub fn permissions(self, permissions: &[&str]) -> Self {
        self.claim("permissions", json!(permissions))
    }

    /// `exp` that lies `ago` in the past.
    pub fn expired_for(self, ago: Duration) -> Self {
        let now = get_current_timestamp();
        self.claim("iat", now.saturating_sub(ago.as_secs() + 600))
            .claim("exp", now.saturating_sub(ago.as_secs()))
    }

    /// `nbf` that lies `ahead` in the future.
    pub fn not_before_in(self, ahead: Duration) -> Self {
        let nbf = get_current_timestamp() + ahead.as_secs();
        self.claim("nbf", nbf).claim("exp", nbf + 300)
    }

    /// `iat` that lies `ahead` in the future.
    pub fn issued_in(self, ahead: Duration) -> Self {
        let iat = get_current_timestamp() + ahead.as_secs();
        self.claim("iat", iat).claim("exp", iat + 300)
    }

    /// The compact JWS.
    pub fn sign(&self) -> String {
        let header = URL_SAFE_NO_PAD.encode(Value::Object(self.header.clone()).to_string());
        let claims = URL_SAFE_NO_PAD.encode(Value::Object(self.claims.clone()).to_string());
        let input = format!("{header}.{claims}");
        let signature = self.key.sign(input.as_bytes());
        format!("{input}.{signature}")
    }

    /// The signing input and signature of [`Self::sign`], with the signature replaced by `signature`.
    pub fn sign_with_signature(&self, signature: &str) -> String {
        let token = self.sign();
        let cut = token.rfind('.').unwrap_or(token.len());
        format!("{}.{signature}", &token[..cut])
    }

    /// An Auth0 access token: `permissions`, a namespaced email claim, RBAC-style scope.
    pub fn auth0(self) -> Self {
        self.claim("permissions", json!([]))
            .claim("azp", "auth0-client-id")
            .claim("https://example.com/email", "user@example.com")
    }

    /// An Auth0 machine-to-machine token (`client_credentials`): `sub` ends in `@clients`.
    pub fn auth0_m2m(self, client_id: &str) -> Self {
        self.subject(&format!("{client_id}@clients"))
            .claim("gty", "client-credentials")
            .claim("azp", client_id)
    }

    /// A Cognito access token for app client `client_id`: no `aud`, `client_id`, `token_use`, groups.
    pub fn cognito_access(self, client_id: &str) -> Self {
        self.without("aud")
            .without_header("typ")
            .claim("token_use", "access")
            .claim("client_id", client_id)
            .claim("username", "alice")
            .claim("cognito:groups", json!([]))
    }

    /// A Firebase ID token for `project`: `aud` is the project, `auth_time`, `user_id`, `firebase`.
    pub fn firebase(self, project: &str) -> Self {
        let now = get_current_timestamp();
        self.without_header("typ")
            .claim("aud", project)
            .claim("auth_time", now.saturating_sub(60))
            .claim("user_id", "user-1")
            .claim("email", "user@example.com")
            .claim("email_verified", true)
            .claim(
                "firebase",
                json!({"identities": {}, "sign_in_provider": "password"}),
            )
    }

    /// A Fief access token: `aud` is the client id, `permissions`, `azp`.
    pub fn fief(self, client_id: &str) -> Self {
        self.claim("aud", json!([client_id]))
            .claim("azp", client_id)
            .claim("permissions", json!([]))
    }

    /// A Keycloak access token: roles under `realm_access.roles`, `azp`, `preferred_username`.
    pub fn keycloak(self, roles: &[&str]) -> Self {
        self.claim("realm_access", json!({"roles": roles}))
            .claim("azp", "keycloak-client")
            .claim("preferred_username", "alice")
            .claim("typ", "Bearer")
    }
}
