//! Firebase Authentication: ID tokens from Google's securetoken service, `aud` = project id.

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::{
    ClaimPath, LoginEndpoints, ProviderKind, ProviderRules, ProviderSpec, issuer, jwks_uri,
};
use crate::auth::error::TokenError;
use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;

/// Google's JWK set for Firebase ID tokens.
const SECURETOKEN_JWKS: &str =
    "https://www.googleapis.com/service_accounts/v1/jwk/securetoken@system.gserviceaccount.com";

pub(super) fn spec(raw: &RawSettings) -> Result<ProviderSpec, ConfigError> {
    let project = raw.required("FIREBASE", "PROJECT_ID")?.to_owned();
    Ok(ProviderSpec {
        kind: ProviderKind::Firebase,
        issuer: issuer(
            raw,
            "FIREBASE",
            format!("https://securetoken.google.com/{project}"),
        )?,
        audiences: vec![project],
        algorithms: vec![Algorithm::RS256],
        keys: jwks_uri(raw, "FIREBASE", SECURETOKEN_JWKS)?,
        scope_claim: ClaimPath::new("scope"),
        // Custom claims set with the Admin SDK (`setCustomUserClaims`).
        permissions_claim: ClaimPath::new("permissions"),
        rules: ProviderRules::Firebase,
        client_id: None,
        client_secret: None,
        introspection: None,
        login: LoginEndpoints::default(),
    })
}

/// Firebase's documented checks beyond the registered claims: non-empty `sub`, `auth_time` in the past.
pub(super) fn check(payload: &Map<String, Value>, now: u64, leeway: u64) -> Result<(), TokenError> {
    match payload.get("sub").and_then(Value::as_str) {
        Some(sub) if !sub.is_empty() => {}
        _ => return Err(TokenError::MissingClaim("sub")),
    }
    match payload.get("auth_time").and_then(Value::as_u64) {
        Some(auth_time) if auth_time <= now + leeway => Ok(()),
        Some(_) => Err(TokenError::AuthTimeInFuture),
        None => Err(TokenError::MissingClaim("auth_time")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sub_must_be_present_and_auth_time_past() {
        let ok = json!({"sub": "u1", "auth_time": 100});
        assert!(check(ok.as_object().unwrap(), 100, 0).is_ok());
        let empty_sub = json!({"sub": "", "auth_time": 100});
        assert!(matches!(
            check(empty_sub.as_object().unwrap(), 100, 0),
            Err(TokenError::MissingClaim("sub"))
        ));
        let future = json!({"sub": "u1", "auth_time": 200});
        assert!(matches!(
            check(future.as_object().unwrap(), 100, 30),
            Err(TokenError::AuthTimeInFuture)
        ));
    }
}
