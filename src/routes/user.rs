//! `GET /api/user`: who is calling. From a verified ID token (`X-Id-Token`, or the session's), else the
//! userinfo endpoint of the token's own issuer (cached per token), else the access token's own claims
//! (always for a DPoP-bound token, which this service cannot present to the provider).

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::auth::dpop::KeyBinding;
use crate::auth::{AccessToken, Claims, Endpoint, IdToken, IdTokenError, TokenError};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::state::AppState;

/// `/api/user`.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/user", get(user))
}

/// `?refresh=true` skips the user-info cache.
#[derive(Debug, Default, Deserialize, IntoParams)]
pub struct UserQuery {
    /// Ask the provider again instead of using the cached answer.
    #[serde(default)]
    pub refresh: bool,
}

/// The current user, as far as the provider tells.
#[derive(Debug, Serialize, ToSchema)]
pub struct User {
    /// Subject identifier.
    pub sub: String,
    /// Email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the provider verified the email address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// Display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Picture URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// Login name (`preferred_username`, Cognito `username`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Where this came from: `id_token`, `userinfo` or `access_token`.
    pub source: &'static str,
    /// Every claim of that source.
    #[schema(value_type = Object)]
    pub claims: Map<String, Value>,
}

impl User {
    fn from_claims(claims: Map<String, Value>, sub: &str, source: &'static str) -> Self {
        let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
        // Auth0 puts profile claims in access tokens under a namespace: `https://example.com/email`.
        let namespaced = |suffix: &str| {
            claims
                .iter()
                .find(|(key, _)| key.contains("://") && key.ends_with(suffix))
                .and_then(|(_, value)| value.as_str())
                .map(str::to_owned)
        };
        Self {
            sub: sub.to_owned(),
            email: text("email").or_else(|| namespaced("/email")),
            email_verified: claims.get("email_verified").and_then(Value::as_bool),
            name: text("name").or_else(|| namespaced("/name")),
            picture: text("picture"),
            username: text("preferred_username")
                .or_else(|| text("username"))
                .or_else(|| text("cognito:username")),
            source,
            claims,
        }
    }
}

/// The current user: `sub`, `email`, `email_verified`, `name`, `picture` when known.
///
/// A DPoP-bound access token (`cnf.jkt`) sent without an ID token is answered from its own claims
/// (`source: "access_token"`): the provider's userinfo endpoint would need a DPoP proof signed by
/// the client's key (RFC 9449 §7), which this service does not hold, so forwarding the token as
/// `Bearer` would be refused by a provider that enforces the binding (a 502 here). Send the ID
/// token as well for the profile claims.
#[utoipa::path(get, path = "/api/user", tag = "api", security(("bearer" = []), ("oauth2" = [])),
    description = "The current user, from the ID token (`X-Id-Token` or the session's), else the provider's userinfo endpoint, \
        else the access token's own claims (`source` tells which). A DPoP-bound access token without an ID token is answered \
        from its own claims: the provider's userinfo endpoint would want a DPoP proof from the client's key, which this API does not hold.",
    params(UserQuery, ("X-Id-Token" = Option<String>, Header, description = "An ID token for the same user (audience: the provider's client id)")),
    responses(
        (status = 200, description = "The current user", body = User),
        (status = 400, description = "Malformed Authorization header, several X-Id-Token headers, or a malformed query (invalid_request)", body = ErrorBody),
        (status = 401, description = "No token, or an invalid access or ID token (invalid_token); see WWW-Authenticate", body = ErrorBody),
        (status = 502, description = "The provider's userinfo endpoint failed", body = ErrorBody),
        (status = 503, description = "The provider's keys are unavailable (temporarily_unavailable)", body = ErrorBody),
    ))]
pub async fn user(
    State(state): State<AppState>,
    Query(query): Query<UserQuery>,
    claims: Claims,
    AccessToken(token): AccessToken,
    id_token: Option<IdToken>,
) -> Result<Json<User>, ApiError> {
    let sub = claims.sub().unwrap_or_default();
    if let Some(IdToken(id_token)) = id_token {
        // A `sub` is unique only within its issuer: another issuer's user is someone else. Told by
        // the ID token's routing `iss` first, so the other issuer's keys are not even fetched.
        let own = claims.verified().issuer_index();
        let another = |index: usize| index != own;
        if state.verifier.issuer_count() > 1
            && state.verifier.issuer_named_by(&id_token).is_ok_and(another)
        {
            return Err(IdTokenError(TokenError::SubjectMismatch.into()).into());
        }
        let verified = state.verifier.verify_id_token(&id_token, Some(sub)).await?;
        if another(verified.issuer_index()) {
            return Err(IdTokenError(TokenError::SubjectMismatch.into()).into());
        }
        let claims = verified.deserialize().unwrap_or_default();
        return Ok(Json(User::from_claims(claims, sub, "id_token")));
    }
    // RFC 9449 §7: a bound token is only good with a proof from the client's key; as Bearer, the
    // provider would (rightly) refuse it. What the token itself says is all there is to tell.
    if let KeyBinding::Jkt(_) = claims.verified().key_binding() {
        let claims = claims.verified().deserialize().unwrap_or_default();
        return Ok(Json(User::from_claims(claims, sub, "access_token")));
    }
    // The userinfo endpoint of the issuer that verified the token: only it knows the token.
    let issuer = state.issuer(claims.verified().issuer_index());
    let Some(endpoint) = issuer.endpoints.get(Endpoint::Userinfo).await else {
        // No userinfo endpoint (Firebase): the access token is the user's own ID token.
        let claims = claims.verified().deserialize().unwrap_or_default();
        return Ok(Json(User::from_claims(claims, sub, "access_token")));
    };
    let answer = state
        .userinfo
        .lookup(&endpoint, &token, claims.verified(), query.refresh)
        .await?;
    Ok(Json(User::from_claims(answer, sub, "userinfo")))
}
