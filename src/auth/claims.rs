//! Typed views of a verified payload: [`Verified`] (what the verifier found), [`Claims<T>`] (what a
//! handler asks for) and [`Grants`] (scopes or permissions).

use std::ops::Deref;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::dpop::KeyBinding;
use super::providers::ClaimPath;

/// Scope or permission names a token grants.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Grants(Box<[Box<str>]>);

impl Grants {
    /// Reads a claim holding names: a space-separated string (`scope`) or an array of strings.
    pub fn from_claim(value: Option<&Value>) -> Self {
        match value {
            Some(Value::String(names)) => Self(names.split_whitespace().map(Box::from).collect()),
            Some(Value::Array(items)) => Self(
                items
                    .iter()
                    .filter_map(Value::as_str)
                    .map(Box::from)
                    .collect(),
            ),
            _ => Self::default(),
        }
    }

    /// Whether `name` is granted.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|granted| &**granted == name)
    }

    /// The names, in token order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|name| &**name)
    }
}

/// The registered claims (RFC 7519 §4.1) plus `scope`; the default view for `Claims`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisteredClaims {
    /// Issuer.
    pub iss: String,
    /// Subject: who the token is about (`client-id@clients` for Auth0 machine tokens).
    #[serde(default)]
    pub sub: Option<String>,
    /// Audience, a string or an array.
    #[serde(default)]
    pub aud: Option<Value>,
    /// Expiry, seconds since the epoch. Every JWT has one; an introspected opaque token may not
    /// (RFC 7662 §2.2), and then it is 0.
    #[serde(default)]
    pub exp: u64,
    /// Not before.
    #[serde(default)]
    pub nbf: Option<u64>,
    /// Issued at.
    #[serde(default)]
    pub iat: Option<u64>,
    /// Token id.
    #[serde(default)]
    pub jti: Option<String>,
}

/// A token that passed every check: its payload as signed, and what the checks read from it. Cheap to
/// clone. Handlers that need no typed view of the claims take it as an extractor, and it serializes
/// as the payload. The payload is kept as JSON text, not a parsed tree, so a verified-token cache
/// entry costs a few hundred bytes and a response can echo the claims without re-serialising them.
#[derive(Debug, Clone)]
pub struct Verified(Arc<VerifiedToken>);

#[derive(Debug)]
struct VerifiedToken {
    payload: Box<RawValue>,
    issuer: usize,
    sub: Option<Box<str>>,
    /// `client_id`, else `azp`: whom a DPoP proof quota counts when there is no `sub`.
    client: Option<Box<str>>,
    expires_at: u64,
    scopes: Grants,
    permissions: Grants,
    /// `cnf.jkt` (RFC 9449 §6), read here so a cached token is not parsed again per request.
    binding: KeyBinding,
}

impl Verified {
    /// Wraps a checked payload (`payload` is its JSON text, `claims` the same parsed, `issuer` the
    /// position of the issuer that verified it), reading `sub`, `exp`, scopes (`scope_claim`, else
    /// `scp`) and permissions.
    pub(crate) fn new(
        payload: Box<RawValue>,
        issuer: usize,
        claims: &Map<String, Value>,
        scope_claim: &ClaimPath,
        permissions_claim: &ClaimPath,
    ) -> Self {
        let scopes = match scope_claim.lookup(claims) {
            Some(value) => Grants::from_claim(Some(value)),
            None => Grants::from_claim(claims.get("scp")),
        };
        Self(Arc::new(VerifiedToken {
            payload,
            issuer,
            sub: claims.get("sub").and_then(Value::as_str).map(Box::from),
            client: ["client_id", "azp"]
                .into_iter()
                .find_map(|name| claims.get(name).and_then(Value::as_str))
                .map(Box::from),
            expires_at: claims.get("exp").and_then(Value::as_u64).unwrap_or(0),
            scopes,
            permissions: Grants::from_claim(permissions_claim.lookup(claims)),
            binding: KeyBinding::of(claims),
        }))
    }

    /// Which trusted issuer verified the token: its position in [`crate::Settings::providers`] (0 with
    /// one issuer).
    pub fn issuer_index(&self) -> usize {
        self.0.issuer
    }

    /// Every claim of the token: the payload's JSON text, as signed.
    pub fn payload(&self) -> &RawValue {
        &self.0.payload
    }

    /// The payload deserialized as `T` (`Map<String, Value>` for every claim, or a struct of yours).
    ///
    /// # Errors
    /// When the payload does not deserialize as `T`.
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.payload.get())
    }

    /// `sub`, when present.
    pub fn sub(&self) -> Option<&str> {
        self.0.sub.as_deref()
    }

    /// The client the token was issued to: `client_id` (RFC 9068 §2.2), else `azp` (OpenID Connect).
    pub fn client_id(&self) -> Option<&str> {
        self.0.client.as_deref()
    }

    /// `exp`, seconds since the epoch.
    pub fn expires_at(&self) -> u64 {
        self.0.expires_at
    }

    /// The key the token is bound to by `cnf.jkt` (DPoP), if any.
    pub(crate) fn key_binding(&self) -> &KeyBinding {
        &self.0.binding
    }

    /// Scopes the token grants.
    pub fn scopes(&self) -> &Grants {
        &self.0.scopes
    }

    /// Permissions the token grants (the provider's permissions claim).
    pub fn permissions(&self) -> &Grants {
        &self.0.permissions
    }
}

/// Serializes as the payload's JSON text, unchanged: every claim, as signed.
impl Serialize for Verified {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.payload.serialize(serializer)
    }
}

/// The verified claims of the caller's token, viewed as `T`. Handlers take it as an extractor:
/// `async fn handler(claims: Claims) -> …`, or `Claims<MyClaims>` for custom claims.
#[derive(Debug, Clone)]
pub struct Claims<T = RegisteredClaims> {
    /// The payload deserialized as `T`.
    pub data: T,
    verified: Verified,
}

impl<T: DeserializeOwned> Claims<T> {
    /// Views a verified payload as `T`.
    ///
    /// # Errors
    /// When the payload does not deserialize as `T` (a claim `T` requires is absent or of another type).
    pub fn from_verified(verified: Verified) -> Result<Self, serde_json::Error> {
        let data = verified.deserialize()?;
        Ok(Self { data, verified })
    }
}

impl<T> Claims<T> {
    /// `sub`, when present.
    pub fn sub(&self) -> Option<&str> {
        self.verified.sub()
    }

    /// Every claim: the payload's JSON text, as signed.
    pub fn raw(&self) -> &RawValue {
        self.verified.payload()
    }

    /// Scopes the token grants.
    pub fn scopes(&self) -> &Grants {
        self.verified.scopes()
    }

    /// Permissions the token grants.
    pub fn permissions(&self) -> &Grants {
        self.verified.permissions()
    }

    /// The verification result behind these claims.
    pub fn verified(&self) -> &Verified {
        &self.verified
    }
}

impl<T> Deref for Claims<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.data
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn verified(payload: Value, scope_claim: &str, permissions_claim: &str) -> Verified {
        Verified::new(
            serde_json::value::to_raw_value(&payload).unwrap(),
            0,
            payload.as_object().unwrap(),
            &ClaimPath::new(scope_claim),
            &ClaimPath::new(permissions_claim),
        )
    }

    #[test]
    fn the_client_is_client_id_else_azp() {
        let client_id = verified(
            json!({"client_id": "c1", "azp": "a1"}),
            "scope",
            "permissions",
        );
        assert_eq!(client_id.client_id(), Some("c1"));
        let azp = verified(json!({"azp": "a1"}), "scope", "permissions");
        assert_eq!(azp.client_id(), Some("a1"));
        let neither = verified(json!({"client_id": 7}), "scope", "permissions");
        assert_eq!(neither.client_id(), None);
    }

    #[test]
    fn scopes_come_from_a_space_separated_scope_or_an_scp_array() {
        let from_scope = verified(json!({"scope": "a  b"}), "scope", "permissions");
        assert!(from_scope.scopes().contains("a") && from_scope.scopes().contains("b"));
        let from_scp = verified(json!({"scp": ["c", "d"]}), "scope", "permissions");
        assert!(from_scp.scopes().contains("d"));
        let scp_string = verified(json!({"scp": "e f"}), "scope", "permissions");
        assert!(scp_string.scopes().contains("f"));
    }

    #[test]
    fn permissions_follow_the_configured_claim_path() {
        let keycloak = verified(
            json!({"realm_access": {"roles": ["admin"]}}),
            "scope",
            "realm_access.roles",
        );
        assert!(keycloak.permissions().contains("admin"));
        assert!(!keycloak.scopes().contains("admin"));
    }

    #[test]
    fn claims_deserialize_into_custom_types() {
        #[derive(Deserialize)]
        struct Mine {
            tenant: String,
        }
        let claims = Claims::<Mine>::from_verified(verified(
            json!({"tenant": "t1", "sub": "u"}),
            "scope",
            "p",
        ))
        .unwrap();
        assert_eq!(claims.tenant, "t1");
        assert_eq!(claims.sub(), Some("u"));
        assert!(
            Claims::<Mine>::from_verified(verified(json!({"sub": "u"}), "scope", "p")).is_err()
        );
    }
}
