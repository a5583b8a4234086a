//! AWS Cognito user pools: access tokens carry `client_id` and `token_use` instead of `aud`.

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::{
    ClaimPath, KeySource, LoginEndpoints, ProviderKind, ProviderRules, ProviderSpec, endpoint,
    issuer, jwks_uri,
};
use crate::auth::error::TokenError;
use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;

pub(super) fn spec(raw: &RawSettings) -> Result<ProviderSpec, ConfigError> {
    let region = raw.required("COGNITO", "REGION")?;
    let pool = raw.required("COGNITO", "USER_POOL_ID")?;
    let client_id = raw.required("COGNITO", "CLIENT_ID")?.to_owned();
    let issuer = issuer(
        raw,
        "COGNITO",
        format!("https://cognito-idp.{region}.amazonaws.com/{pool}"),
    )?;
    let keys: KeySource = jwks_uri(raw, "COGNITO", &format!("{issuer}/.well-known/jwks.json"))?;
    // The hosted UI domain, as `auth.example.com` or `https://prefix.auth.region.amazoncognito.com`.
    let hosted_ui = raw.get("COGNITO", "DOMAIN").map(|domain| {
        let domain = domain.trim_end_matches('/');
        if domain.contains("://") {
            domain.to_owned()
        } else {
            format!("https://{domain}")
        }
    });
    let login = match hosted_ui {
        Some(base) => LoginEndpoints {
            authorize: endpoint(&base, "oauth2/authorize"),
            token: endpoint(&base, "oauth2/token"),
            userinfo: endpoint(&base, "oauth2/userInfo"),
            authorize_params: Vec::new(),
        },
        None => LoginEndpoints::default(),
    };
    Ok(ProviderSpec {
        kind: ProviderKind::Cognito,
        issuer,
        audiences: Vec::new(),
        algorithms: vec![Algorithm::RS256],
        keys,
        scope_claim: ClaimPath::new("scope"),
        permissions_claim: ClaimPath::new("cognito:groups"),
        rules: ProviderRules::Cognito {
            client_id: client_id.clone(),
        },
        client_id: Some(client_id),
        client_secret: None,
        introspection: None,
        login,
    })
}

/// Cognito access tokens: `token_use` must be `access` and `client_id` the configured app client.
pub(super) fn check_access_token(
    payload: &Map<String, Value>,
    client_id: &str,
) -> Result<(), TokenError> {
    match payload.get("token_use").and_then(Value::as_str) {
        Some("access") => {}
        Some(_) => return Err(TokenError::WrongTokenUse),
        None => return Err(TokenError::MissingClaim("token_use")),
    }
    match payload.get("client_id").and_then(Value::as_str) {
        Some(id) if id == client_id => Ok(()),
        Some(_) => Err(TokenError::AudienceMismatch),
        None => Err(TokenError::MissingClaim("client_id")),
    }
}

/// Cognito ID tokens: `token_use` must be `id` (the audience, the app client, is checked as `aud`).
pub(super) fn check_id_token(payload: &Map<String, Value>) -> Result<(), TokenError> {
    match payload.get("token_use").and_then(Value::as_str) {
        Some("id") => Ok(()),
        Some(_) => Err(TokenError::WrongTokenUse),
        None => Err(TokenError::MissingClaim("token_use")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn access_tokens_need_token_use_access_and_the_app_client() {
        let ok = payload(json!({"token_use": "access", "client_id": "app"}));
        assert!(check_access_token(&ok, "app").is_ok());
        let id_token = payload(json!({"token_use": "id", "client_id": "app"}));
        assert!(matches!(
            check_access_token(&id_token, "app"),
            Err(TokenError::WrongTokenUse)
        ));
        let other = payload(json!({"token_use": "access", "client_id": "other"}));
        assert!(matches!(
            check_access_token(&other, "app"),
            Err(TokenError::AudienceMismatch)
        ));
    }
}
