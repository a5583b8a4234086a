//! The example API: public, private, scoped, permission, optional and owner-only endpoints.

use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::{
    AdminPermission, Claims, MessagesScope, RequirePermission, RequireScope, Verified,
};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Path;
use crate::state::AppState;

/// `/api/*`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/public", get(public))
        .route("/api/private", get(private))
        .route("/api/private-scoped", get(private_scoped))
        .route("/api/admin", get(admin))
        .route("/api/optional", get(optional))
        .route("/api/profile/{id}", get(profile))
}

/// A message anyone may read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Message {
    /// Always `success`.
    pub status: &'static str,
    /// What the endpoint says.
    pub msg: &'static str,
}

/// A message for a verified caller, with every claim of their token.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClaimsMessage {
    /// Always `success`.
    pub status: &'static str,
    /// What the endpoint says.
    pub msg: &'static str,
    /// The token's claims, as signed.
    #[schema(value_type = Object)]
    pub claims: Verified,
}

impl ClaimsMessage {
    fn new(msg: &'static str, token: Verified) -> Json<Self> {
        Json(Self {
            status: "success",
            msg,
            claims: token,
        })
    }
}

/// Who is calling, if anyone.
#[derive(Debug, Serialize, ToSchema)]
pub struct OptionalMessage {
    /// Whether a valid token came with the request.
    pub authenticated: bool,
    /// The caller's `sub`, when authenticated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
}

/// The caller's own profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct Profile {
    /// The profile's id: the owner's `sub`.
    pub sub: String,
    /// Scopes the caller's token grants.
    pub scopes: Vec<String>,
    /// Permissions the caller's token grants.
    pub permissions: Vec<String>,
}

/// No token needed.
#[utoipa::path(get, path = "/api/public", tag = "api",
    responses((status = 200, description = "Anyone may call this", body = Message)))]
pub async fn public() -> Json<Message> {
    Json(Message {
        status: "success",
        msg: "Hello from a public endpoint. No token needed to see this.",
    })
}

/// Any valid access token.
#[utoipa::path(get, path = "/api/private", tag = "api", security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The token is valid", body = ClaimsMessage),
        (status = 400, description = "Malformed Authorization header (invalid_request)", body = ErrorBody),
        (status = 401, description = "No token, or an invalid one (invalid_token); see WWW-Authenticate", body = ErrorBody),
        (status = 503, description = "The provider's keys are unavailable (temporarily_unavailable)", body = ErrorBody),
    ))]
pub async fn private(token: Verified) -> Json<ClaimsMessage> {
    ClaimsMessage::new(
        "Hello from a private endpoint. You are authenticated.",
        token,
    )
}

/// A valid token granting the scope `[AUTH] SCOPE` (`read:messages` by default).
#[utoipa::path(get, path = "/api/private-scoped", tag = "api", security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The token grants the scope", body = ClaimsMessage),
        (status = 400, description = "Malformed Authorization header (invalid_request)", body = ErrorBody),
        (status = 401, description = "No token, or an invalid one (invalid_token); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "The token lacks the scope (insufficient_scope)", body = ErrorBody),
        (status = 503, description = "The provider's keys are unavailable (temporarily_unavailable)", body = ErrorBody),
    ))]
pub async fn private_scoped(
    RequireScope(claims, _): RequireScope<MessagesScope>,
) -> Json<ClaimsMessage> {
    ClaimsMessage::new(
        "Hello from a private, scoped endpoint. Your token grants the scope it needs.",
        claims.verified().clone(),
    )
}

/// A valid token granting the permission `[AUTH] PERMISSION` (`read:admin` by default).
#[utoipa::path(get, path = "/api/admin", tag = "api", security(("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "The token grants the permission", body = ClaimsMessage),
        (status = 400, description = "Malformed Authorization header (invalid_request)", body = ErrorBody),
        (status = 401, description = "No token, or an invalid one (invalid_token); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "The token lacks the permission (insufficient_scope)", body = ErrorBody),
        (status = 503, description = "The provider's keys are unavailable (temporarily_unavailable)", body = ErrorBody),
    ))]
pub async fn admin(
    RequirePermission(claims, _): RequirePermission<AdminPermission>,
) -> Json<ClaimsMessage> {
    ClaimsMessage::new(
        "Hello, administrator. Your token grants the permission this endpoint needs.",
        claims.verified().clone(),
    )
}

/// Works without a token; a token, if sent, must be valid.
#[utoipa::path(get, path = "/api/optional", tag = "api", security((), ("bearer" = []), ("oauth2" = [])),
    responses(
        (status = 200, description = "Whether the caller is authenticated", body = OptionalMessage),
        (status = 400, description = "An Authorization header was sent and it is malformed (invalid_request)", body = ErrorBody),
        (status = 401, description = "A token was sent and it is invalid (invalid_token)", body = ErrorBody),
        (status = 503, description = "The provider's keys are unavailable (temporarily_unavailable)", body = ErrorBody),
    ))]
pub async fn optional(claims: Option<Claims>) -> Json<OptionalMessage> {
    Json(OptionalMessage {
        authenticated: claims.is_some(),
        sub: claims
            .as_ref()
            .and_then(|claims| claims.sub().map(str::to_owned)),
    })
}

/// The profile `{id}`, to its owner only.
#[utoipa::path(get, path = "/api/profile/{id}", tag = "api", security(("bearer" = []), ("oauth2" = [])),
    params(("id" = String, Path, description = "The owner's `sub`")),
    responses(
        (status = 200, description = "The caller's own profile", body = Profile),
        (status = 400, description = "Malformed Authorization header (invalid_request)", body = ErrorBody),
        (status = 401, description = "No token, or an invalid one (invalid_token); see WWW-Authenticate", body = ErrorBody),
        (status = 403, description = "The profile belongs to someone else (forbidden)", body = ErrorBody),
        (status = 503, description = "The provider's keys are unavailable (temporarily_unavailable)", body = ErrorBody),
    ))]
pub async fn profile(Path(id): Path<String>, claims: Claims) -> Result<Json<Profile>, ApiError> {
    if claims.sub() != Some(id.as_str()) {
        return Err(ApiError::Forbidden("this profile belongs to another user"));
    }
    Ok(Json(Profile {
        sub: id,
        scopes: claims.scopes().iter().map(str::to_owned).collect(),
        permissions: claims.permissions().iter().map(str::to_owned).collect(),
    }))
}
