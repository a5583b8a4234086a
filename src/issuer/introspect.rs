//! `POST /oauth/introspect` (RFC 7662): tells the local client whether a token of this issuer is
//! active, and what it grants. Opaque tokens are looked up in the accounts database; the issuer's own
//! JWT access tokens are checked with its key.

use axum::Json;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::state::IssuerState;
use super::token::{OAuthError, authenticate_client, no_store};
use crate::error::{ApiError, ErrorBody};
use crate::extract::Form;

/// An introspection request (RFC 7662 §2.1). `Debug` leaves out the token and the client secret.
#[derive(Default, Deserialize, ToSchema)]
pub struct IntrospectionRequest {
    /// The access token to describe.
    pub token: Option<String>,
    /// `access_token` or `refresh_token`: a hint only, and ignored (§2.1 lets the server do so).
    pub token_type_hint: Option<String>,
    /// With `client_secret_post`; else use HTTP Basic.
    pub client_id: Option<String>,
    /// With `client_secret_post`; else use HTTP Basic.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for IntrospectionRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IntrospectionRequest")
            .field("token_type_hint", &self.token_type_hint)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// Whether `token` is an active access token of this issuer, with its claims when it is.
#[utoipa::path(post, path = "/oauth/introspect", tag = "local issuer",
    request_body(content = IntrospectionRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "`{\"active\": true, …claims, \"token_type\": \"Bearer\"}` for a live access token of this issuer; `{\"active\": false}` for anything else (unknown, expired, malformed, another issuer's)", body = Object),
        (status = 400, description = "invalid_request: no `token`, or two client authentication methods", body = ErrorBody),
        (status = 401, description = "invalid_client: the local client's credentials are missing or wrong (HTTP Basic, or client_id and client_secret in the form)", body = ErrorBody),
    ))]
pub async fn introspect(
    State(state): State<IssuerState>,
    headers: HeaderMap,
    form: Result<Form<IntrospectionRequest>, ApiError>,
) -> Result<Response, OAuthError> {
    let Form(request) = form?;
    // RFC 7662 §2.1: the caller authenticates, so the endpoint is no oracle for guessed tokens.
    authenticate_client(
        &state,
        &headers,
        request.client_id.as_deref(),
        request.client_secret.as_deref(),
    )?;
    let Some(token) = request.token.as_deref() else {
        return Err(OAuthError::invalid_request("token is required"));
    };
    // A JWS has two dots; an opaque token of this issuer (base64url) has none.
    let claims = if token.contains('.') {
        state.issuer.read_access_token(token)
    } else {
        state
            .accounts
            .introspect_opaque(token)
            .await
            .map_err(|error| OAuthError::server_error(&error))?
    };
    // RFC 7662 §2.2: anything not active is `{"active": false}` alone, never an error and never a
    // reason, so the answer tells nothing about tokens the caller does not hold.
    let body = match claims {
        Some(claims) => active(claims),
        None => json!({ "active": false }),
    };
    Ok((no_store(), Json(body)).into_response())
}

/// The answer for an active token: its claims, `active` and `token_type` (RFC 7662 §2.2).
fn active(mut claims: Map<String, Value>) -> Value {
    claims.insert("active".into(), Value::Bool(true));
    claims.insert("token_type".into(), json!("Bearer"));
    Value::Object(claims)
}
