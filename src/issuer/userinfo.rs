//! `GET /userinfo` (OpenID Connect Core §5.3): the profile of the local account an access token is for.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::state::IssuerState;
use super::token::profile_claims;
use crate::auth::providers::ProviderKind;
use crate::auth::{Claims, TokenError};
use crate::error::ApiError;

/// The caller's profile claims (`sub` alone for machine clients).
#[utoipa::path(get, path = "/userinfo", tag = "local issuer", security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "OpenID Connect userinfo claims", body = Object),
        (status = 400, description = "Malformed Authorization header (invalid_request)", body = crate::error::ErrorBody),
        (status = 401, description = "No token, or an invalid one (invalid_token); see WWW-Authenticate", body = crate::error::ErrorBody),
        (status = 503, description = "The provider's keys are unavailable (temporarily_unavailable)", body = crate::error::ErrorBody),
    ))]
pub async fn userinfo(
    State(state): State<IssuerState>,
    claims: Claims,
) -> Result<Json<Value>, ApiError> {
    if state.verifier.spec_of(claims.verified()).kind != ProviderKind::Local {
        // Beside another issuer (`PROVIDER = local, oidc`), its users' `sub`s are not local accounts.
        return Err(TokenError::IssuerMismatch.into());
    }
    let sub = claims.sub().unwrap_or_default().to_owned();
    let account = state
        .accounts
        .find(&sub)
        .await
        .map_err(|error| ApiError::Internal(error.into()))?;
    let mut profile = account.as_ref().map(profile_claims).unwrap_or_default();
    profile.insert("sub".into(), json!(sub));
    Ok(Json(Value::Object(profile)))
}
