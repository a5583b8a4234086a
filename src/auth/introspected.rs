//! An introspection answer (RFC 7662 §2.2) checked into a [`Verified`]: `active`, then `iss`, `aud`,
//! `exp`, `nbf`, `iat` as for a JWT, and scopes and permissions read from its members.

use serde_json::{Map, Value};

use super::claims::Verified;
use super::error::{TokenError, VerifyError};
use super::providers::{ProviderSpec, TokenPurpose};

/// What an introspection answer says about the token, before the claim checks.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Activity {
    /// `active: true`.
    Active,
    /// `active: false`: revoked, expired or unknown to the issuer.
    Inactive,
}

/// Reads `active`, which RFC 7662 §2.2 requires and defines as a JSON boolean. Anything else (absent,
/// the string `"true"`, 1) is not an introspection answer: the endpoint is misbehaving, so the caller
/// gets 503 rather than a guess either way.
///
/// # Errors
/// [`VerifyError::IntrospectionUnavailable`] when `active` is not a boolean.
pub(crate) fn activity(answer: &Map<String, Value>) -> Result<Activity, VerifyError> {
    match answer.get("active") {
        Some(Value::Bool(true)) => Ok(Activity::Active),
        Some(Value::Bool(false)) => Ok(Activity::Inactive),
        _ => Err(VerifyError::IntrospectionUnavailable),
    }
}

/// Checks an answer of `spec`'s introspection endpoint (issuer number `index`) at `now` and makes it
/// the verified token: its members are the claims `/api/private` echoes and `Claims<T>` reads. An
/// answer without `iss` gets the issuer's: it is the issuer that vouched for the token.
///
/// # Errors
/// [`TokenError::Inactive`] unless `active` is `true`, else the first claim rule the answer breaks;
/// [`VerifyError::IntrospectionUnavailable`] when `active` is not a boolean.
pub(crate) fn verified(
    mut answer: Map<String, Value>,
    index: usize,
    spec: &ProviderSpec,
    now: u64,
    leeway: u64,
) -> Result<Verified, VerifyError> {
    if activity(&answer)? == Activity::Inactive {
        return Err(TokenError::Inactive.into());
    }
    if !is_access_token(&answer) {
        return Err(TokenError::NotAnAccessTokenKind.into());
    }
    match answer.get("iss") {
        None => {
            answer.insert("iss".to_owned(), Value::String(spec.issuer.clone()));
        }
        Some(Value::String(iss)) if *iss == spec.issuer => {}
        Some(Value::String(_)) => return Err(TokenError::IssuerMismatch.into()),
        Some(_) => return Err(TokenError::MalformedClaims.into()),
    }
    check_audience(answer.get("aud"), &spec.audiences)?;
    // RFC 7662 §2.2: `exp`, `nbf` and `iat` are NumericDates when present, checked with the leeway
    // as a JWT's are (RFC 7519 §4.1.4, §4.1.5).
    if let Some(exp) = numeric_date(&answer, "exp")?
        && exp + (leeway as f64) < now as f64
    {
        return Err(TokenError::Expired.into());
    }
    if let Some(nbf) = numeric_date(&answer, "nbf")?
        && nbf > (now + leeway) as f64
    {
        return Err(TokenError::NotYetValid.into());
    }
    if let Some(iat) = numeric_date(&answer, "iat")?
        && iat > (now + leeway) as f64
    {
        return Err(TokenError::IssuedInFuture.into());
    }
    // As for a JWT: `sub` and `jti` are strings, so every view of the claims agrees.
    if ["sub", "jti"]
        .iter()
        .any(|name| answer.get(*name).is_some_and(|value| !value.is_string()))
    {
        return Err(TokenError::MalformedClaims.into());
    }
    spec.check_rules(&answer, TokenPurpose::Access, now, leeway)?;
    let payload =
        serde_json::value::to_raw_value(&answer).map_err(|_| TokenError::MalformedClaims)?;
    Ok(Verified::new(
        payload,
        index,
        &answer,
        &spec.scope_claim,
        &spec.permissions_claim,
    ))
}

/// Whether the answer is about an access token. RFC 7662 §2.1 lets an endpoint answer for any token
/// it knows, whatever the hint, so a refresh or ID token reported active must be refused here, or it
/// would work as an access token. Each IdP says so its own way: Hydra `token_use: "refresh_token"`
/// (Cognito spells an access token's `token_use` `"access"`), Keycloak `typ: "Refresh"`, `"Offline"`,
/// `"ID"`, `"Serialized-ID"` or `"Logout"`, others `token_type: "refresh_token"` or the RFC 8693 §3
/// URIs `urn:ietf:params:oauth:token-type:refresh_token` and `…:id_token` (RFC 7662 §2.2 names
/// `token_type`, whose access-token values are `Bearer`, `DPoP` and the like). An answer that says
/// nothing of the kind is an access token's, as most endpoints answer only those.
fn is_access_token(answer: &Map<String, Value>) -> bool {
    let member = |name: &str| answer.get(name).and_then(Value::as_str);
    // `token_use` is an allowlist: every IdP that sends it names access tokens one of these ways.
    let token_use_ok =
        member("token_use").is_none_or(|kind| kind == "access_token" || kind == "access");
    let token_type_ok = member("token_type").is_none_or(|kind| {
        // RFC 8693 §3 token type identifiers, compared like the short names.
        let kind = kind
            .strip_prefix("urn:ietf:params:oauth:token-type:")
            .unwrap_or(kind);
        !kind.eq_ignore_ascii_case("refresh_token") && !kind.eq_ignore_ascii_case("id_token")
    });
    let typ_ok = member("typ").is_none_or(|typ| {
        ["refresh", "offline", "id", "serialized-id", "logout"]
            .iter()
            .all(|other| !typ.eq_ignore_ascii_case(other))
    });
    // A member of these names that is not a string is no answer this service can read safely.
    let all_strings = ["token_use", "token_type", "typ"]
        .iter()
        .all(|name| answer.get(*name).is_none_or(Value::is_string));
    token_use_ok && token_type_ok && typ_ok && all_strings
}

/// `aud`, when present, is a string or an array of strings containing one of `audiences` (none to
/// check when the provider checks the client instead).
fn check_audience(aud: Option<&Value>, audiences: &[String]) -> Result<(), TokenError> {
    let Some(aud) = aud else {
        return Ok(());
    };
    let named = |value: &Value| {
        value
            .as_str()
            .is_some_and(|aud| audiences.iter().any(|ours| ours == aud))
    };
    let matches = match aud {
        Value::String(_) => named(aud),
        Value::Array(items) if items.iter().all(Value::is_string) => items.iter().any(named),
        _ => return Err(TokenError::MalformedClaims),
    };
    if matches || audiences.is_empty() {
        Ok(())
    } else {
        Err(TokenError::AudienceMismatch)
    }
}

/// The NumericDate member `name`, when present; a string, boolean or object is malformed.
fn numeric_date(answer: &Map<String, Value>, name: &str) -> Result<Option<f64>, TokenError> {
    match answer.get(name) {
        None => Ok(None),
        Some(value) => value.as_f64().map(Some).ok_or(TokenError::MalformedClaims),
    }
}

/// The last second an answer may be served from a cache: its `exp`, but no later than `ttl` seconds
/// from `now`, so a revoked token stops working within `ttl`.
pub(crate) fn serve_until(answer: &Map<String, Value>, now: u64, ttl: u64) -> u64 {
    let limit = now.saturating_add(ttl);
    match answer.get("exp").and_then(Value::as_f64) {
        // `as` saturates: a negative or huge `exp` becomes 0 or u64::MAX.
        Some(exp) => limit.min(exp as u64),
        None => limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::providers::{
        ClaimPath, KeySource, LoginEndpoints, ProviderKind, ProviderRules,
    };
    use serde_json::json;
    use url::Url;

    fn spec() -> ProviderSpec {
        ProviderSpec {
            kind: ProviderKind::Oidc,
            issuer: "https://idp.example".to_owned(),
            audiences: vec!["api".to_owned()],
            algorithms: vec![],
            keys: KeySource::Discover(Url::parse("https://idp.example").unwrap()),
            scope_claim: ClaimPath::new("scope"),
            permissions_claim: ClaimPath::new("realm_access.roles"),
            rules: ProviderRules::Standard,
            client_id: None,
            client_secret: None,
            login: LoginEndpoints::default(),
            introspection: None,
        }
    }

    fn check(answer: Value) -> Result<Verified, VerifyError> {
        verified(answer.as_object().unwrap().clone(), 0, &spec(), 1_000, 30)
    }

    #[test]
    fn active_must_be_the_boolean_true() {
        assert_eq!(
            check(json!({"active": false})).unwrap_err(),
            TokenError::Inactive.into()
        );
        for odd in [json!({}), json!({"active": "true"}), json!({"active": 1})] {
            assert_eq!(
                check(odd).unwrap_err(),
                VerifyError::IntrospectionUnavailable
            );
        }
        assert!(check(json!({"active": true})).is_ok());
    }

    #[test]
    fn iss_aud_exp_nbf_are_checked_when_present() {
        let refused = |answer: Value| check(answer).unwrap_err();
        assert_eq!(
            refused(json!({"active": true, "iss": "https://other"})),
            TokenError::IssuerMismatch.into()
        );
        assert_eq!(
            refused(json!({"active": true, "aud": ["x", "y"]})),
            TokenError::AudienceMismatch.into()
        );
        assert_eq!(
            refused(json!({"active": true, "aud": 5})),
            TokenError::MalformedClaims.into()
        );
        assert_eq!(
            refused(json!({"active": true, "exp": 969})),
            TokenError::Expired.into()
        );
        assert_eq!(
            refused(json!({"active": true, "exp": "2000"})),
            TokenError::MalformedClaims.into()
        );
        assert_eq!(
            refused(json!({"active": true, "nbf": 1_031})),
            TokenError::NotYetValid.into()
        );
        assert!(check(json!({"active": true, "aud": ["x", "api"], "exp": 970.5})).is_ok());
    }

    #[test]
    fn refresh_and_id_tokens_reported_active_are_not_access_tokens() {
        for other in [
            json!({"active": true, "token_use": "refresh_token"}),
            json!({"active": true, "token_use": "id_token"}),
            json!({"active": true, "token_type": "refresh_token"}),
            json!({"active": true, "token_type": "Refresh_Token"}),
            json!({"active": true, "typ": "Refresh"}),
            json!({"active": true, "typ": "Offline"}),
            json!({"active": true, "typ": "ID"}),
            json!({"active": true, "typ": "Serialized-ID"}),
            json!({"active": true, "typ": "Logout"}),
            json!({"active": true, "typ": 1}),
            json!({"active": true, "token_use": "id"}),
            json!({"active": true, "token_type": "urn:ietf:params:oauth:token-type:refresh_token"}),
            json!({"active": true, "token_type": "urn:ietf:params:oauth:token-type:id_token"}),
        ] {
            assert_eq!(
                check(other.clone()).unwrap_err(),
                TokenError::NotAnAccessTokenKind.into(),
                "{other}"
            );
        }
        for access in [
            json!({"active": true}),
            json!({"active": true, "token_use": "access_token"}),
            json!({"active": true, "token_use": "access"}),
            json!({"active": true, "token_type": "urn:ietf:params:oauth:token-type:access_token"}),
            json!({"active": true, "token_type": "Bearer"}),
            json!({"active": true, "token_type": "DPoP"}),
            json!({"active": true, "token_type": "access_token"}),
            json!({"active": true, "typ": "Bearer"}),
        ] {
            assert!(check(access.clone()).is_ok(), "{access}");
        }
    }

    #[test]
    fn grants_and_the_issuer_come_from_the_answer() {
        let verified = check(json!({
            "active": true, "sub": "u1", "scope": "read:messages write",
            "realm_access": {"roles": ["read:admin"]},
        }))
        .unwrap();
        assert!(verified.scopes().contains("read:messages"));
        assert!(verified.permissions().contains("read:admin"));
        assert_eq!(verified.sub(), Some("u1"));
        let claims: Map<String, Value> = verified.deserialize().unwrap();
        assert_eq!(claims["iss"], "https://idp.example");
    }

    #[test]
    fn an_answer_is_served_until_exp_or_the_ttl_whichever_is_first() {
        let answer = |value: Value| value.as_object().unwrap().clone();
        assert_eq!(
            serve_until(&answer(json!({"exp": 1_010})), 1_000, 60),
            1_010
        );
        assert_eq!(
            serve_until(&answer(json!({"exp": 9_999})), 1_000, 60),
            1_060
        );
        assert_eq!(
            serve_until(&answer(json!({"active": false})), 1_000, 60),
            1_060
        );
    }
}
