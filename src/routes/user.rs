//! `GET /api/user`: who is calling. From a verified ID token (`X-Id-Token`, or the session's), else the
//! provider's userinfo endpoint (cached per token), else the access token's own claims.

use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use axum_extra::extract::CookieJar;
use jsonwebtoken::get_current_timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};

use crate::ID_TOKEN_HEADER;
use crate::auth::{AccessToken, Claims, ID_TOKEN_COOKIE};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Query;
use crate::state::AppState;
use crate::store::UserInfoCache;

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
#[utoipa::path(get, path = "/api/user", tag = "api", security(("bearer" = []), ("oauth2" = [])),
    params(UserQuery, ("X-Id-Token" = Option<String>, Header, description = "An ID token for the same user (audience: the provider's client id)")),
    responses(
        (status = 200, description = "The current user", body = User),
        (status = 400, description = "Malformed Authorization header or query (invalid_request)", body = ErrorBody),
        (status = 401, description = "No token, or an invalid access or ID token (invalid_token); see WWW-Authenticate", body = ErrorBody),
        (status = 502, description = "The provider's userinfo endpoint failed", body = ErrorBody),
        (status = 503, description = "The provider's keys are unavailable (temporarily_unavailable)", body = ErrorBody),
    ))]
pub async fn user(
    State(state): State<AppState>,
    Query(query): Query<UserQuery>,
    headers: HeaderMap,
    jar: CookieJar,
    claims: Claims,
    AccessToken(token): AccessToken,
) -> Result<Json<User>, ApiError> {
    let sub = claims.sub().unwrap_or_default().to_owned();
    let id_token = headers
        .get(ID_TOKEN_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            jar.get(ID_TOKEN_COOKIE)
                .map(|cookie| cookie.value().to_owned())
        });
    if let Some(id_token) = id_token {
        let verified = state
            .verifier
            .verify_id_token(id_token.trim(), Some(&sub))
            .await?;
        let claims = verified.deserialize().unwrap_or_default();
        return Ok(Json(User::from_claims(claims, &sub, "id_token")));
    }
    let endpoint = match &state.verifier.spec().login.userinfo {
        Some(url) => Some(url.clone()),
        None => match &state.discovery {
            Some(discovery) => discovery
                .document()
                .await
                .ok()
                .and_then(|document| document.userinfo_endpoint.clone()),
            None => None,
        },
    };
    let Some(endpoint) = endpoint else {
        // No userinfo endpoint (Firebase): the access token is the user's own ID token.
        let claims = claims.verified().deserialize().unwrap_or_default();
        return Ok(Json(User::from_claims(claims, &sub, "access_token")));
    };
    let key = UserInfoCache::key(&token);
    if !query.refresh
        && let Some(Value::Object(cached)) = state.userinfo.get(&key).await
    {
        return Ok(Json(User::from_claims(cached, &sub, "userinfo")));
    }
    let answer: Map<String, Value> =
        state
            .http
            .get_json_as(&endpoint, &token)
            .await
            .map_err(|error| {
                tracing::warn!(%error, "userinfo request failed");
                ApiError::Upstream("the provider's userinfo endpoint failed")
            })?;
    // OpenID Connect Core §5.3.2: the answer must be about the token's subject.
    if answer.get("sub").and_then(Value::as_str) != Some(sub.as_str()) {
        return Err(ApiError::Upstream(
            "the userinfo answer is about another subject",
        ));
    }
    let remaining = claims
        .verified()
        .expires_at()
        .saturating_sub(get_current_timestamp());
    let ttl = state
        .settings
        .cache
        .userinfo_ttl
        .min(Duration::from_secs(remaining));
    state
        .userinfo
        .put(&key, &Value::Object(answer.clone()), ttl)
        .await;
    Ok(Json(User::from_claims(answer, &sub, "userinfo")))
}
