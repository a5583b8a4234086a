//! The local issuer's HTTP face: `/.well-known/jwks.json`, `/.well-known/openid-configuration` and
//! `POST /oauth/token` (RFC 6749 §4.4 `client_credentials`; form or JSON body).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE, PRAGMA, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{ClientCredentials, Grant, LocalIssuer};
use crate::error::ErrorBody;

/// What the issuer's routes need.
#[derive(Debug, Clone)]
pub struct IssuerState {
    /// The signer.
    pub issuer: LocalIssuer,
    /// The one confidential client allowed to use `client_credentials`.
    pub client: ClientCredentials,
    /// Scopes granted when a client asks for none: `[AUTH] SCOPE` and `[AUTH] PERMISSION`.
    pub default_scopes: Vec<String>,
}

/// The issuer's routes, with their state applied.
pub fn router<S: Clone + Send + Sync + 'static>(state: IssuerState) -> Router<S> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/oauth/token", post(token))
        .with_state(state)
}

/// The local issuer's public keys.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "local issuer",
    responses((status = 200, description = "JWK set (RFC 7517)", body = Object)))]
pub async fn jwks(State(state): State<IssuerState>) -> impl IntoResponse {
    (
        [(CACHE_CONTROL, "public, max-age=600")],
        Json(state.issuer.jwks()),
    )
}

/// The local issuer's OpenID Provider metadata.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "local issuer",
    responses((status = 200, description = "OpenID Connect Discovery 1.0 metadata", body = Object)))]
pub async fn openid_configuration(State(state): State<IssuerState>) -> Json<Value> {
    let issuer = state.issuer.issuer();
    let mut scopes = vec!["openid".to_owned()];
    scopes.extend(state.default_scopes.iter().cloned());
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "grant_types_supported": ["client_credentials"],
        "response_types_supported": ["code", "token"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": scopes,
    }))
}

/// A token request, from a form (RFC 6749) or a JSON body (as Auth0's examples send).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `client_credentials`.
    pub grant_type: Option<String>,
    /// With `client_secret_post`; else use HTTP Basic.
    pub client_id: Option<String>,
    /// With `client_secret_post`; else use HTTP Basic.
    pub client_secret: Option<String>,
    /// Space-separated scopes; defaults to the API's scope and permission.
    pub scope: Option<String>,
    /// The API the token is for (Auth0 style); must be this API's audience when given.
    pub audience: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// What it grants.
    pub scope: String,
}

/// An RFC 6749 §5.2 error answer.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, code: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            code,
            description: description.into(),
        }
    }

    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::debug!(error = self.code, description = %self.description, "token request refused");
        let body = ErrorBody {
            error: self.code.to_owned(),
            error_description: self.description,
        };
        let mut response = (self.status, no_store(), Json(body)).into_response();
        if self.code == "invalid_client" {
            // RFC 6749 §5.2: a 401 for client authentication names the scheme the client may use.
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"protected-api\""),
            );
        }
        response
    }
}

fn no_store() -> [(axum::http::HeaderName, &'static str); 2] {
    [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")]
}

/// Issues an access token to the local client (`client_credentials`).
#[utoipa::path(post, path = "/oauth/token", tag = "local issuer",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Token issued", body = TokenResponse),
        (status = 400, description = "invalid_request, unsupported_grant_type, invalid_scope, invalid_target", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
    ))]
pub async fn token(
    State(state): State<IssuerState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let request = parse_request(&headers, &body)?;
    match request.grant_type.as_deref() {
        Some("client_credentials") => client_credentials(&state, &headers, request),
        Some(other) => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!("grant_type {other:?} is not supported here; use client_credentials"),
        )),
        None => Err(OAuthError::invalid_request("grant_type is required")),
    }
}

fn client_credentials(
    state: &IssuerState,
    headers: &HeaderMap,
    request: TokenRequest,
) -> Result<Response, OAuthError> {
    let (client_id, client_secret) = client_authentication(headers, &request)?;
    if !state.client.matches(&client_id, &client_secret) {
        return Err(OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        ));
    }
    if let Some(audience) = request
        .audience
        .as_deref()
        .filter(|aud| *aud != state.issuer.audience())
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            format!(
                "unknown audience {audience:?}; this issuer serves {:?}",
                state.issuer.audience()
            ),
        ));
    }
    let scopes = match request.scope.as_deref().map(str::split_whitespace) {
        Some(words) => words.map(str::to_owned).collect::<Vec<_>>(),
        None => state.default_scopes.clone(),
    };
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    if scopes.iter().any(|scope| {
        !scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    }) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "malformed scope",
        ));
    }
    let mut extra = Map::new();
    extra.insert("gty".into(), json!("client-credentials"));
    let grant = Grant {
        sub: format!("{client_id}@clients"),
        client_id,
        // A machine client is granted what it asks for, as scopes and as permissions (Auth0's RBAC shape).
        permissions: scopes.clone(),
        scopes,
        ttl: None,
        extra,
    };
    let issued = state.issuer.mint(&grant).map_err(|error| {
        tracing::error!(%error, "could not sign a token");
        OAuthError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "could not sign the token",
        )
    })?;
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: "Bearer".to_owned(),
        expires_in: issued.expires_in,
        scope: grant.scopes.join(" "),
    };
    Ok((no_store(), Json(body)).into_response())
}

fn parse_request(headers: &HeaderMap, body: &[u8]) -> Result<TokenRequest, OAuthError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/x-www-form-urlencoded" => serde_urlencoded::from_bytes(body)
            .map_err(|error| OAuthError::invalid_request(format!("malformed form: {error}"))),
        "application/json" => serde_json::from_slice(body)
            .map_err(|error| OAuthError::invalid_request(format!("malformed JSON: {error}"))),
        _ => Err(OAuthError::invalid_request(
            "send application/x-www-form-urlencoded (or JSON)",
        )),
    }
}

/// HTTP Basic (RFC 6749 §2.3.1, form-urlencoded id and secret) or the body's `client_id`/`client_secret`;
/// never both.
fn client_authentication(
    headers: &HeaderMap,
    request: &TokenRequest,
) -> Result<(String, String), OAuthError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded.trim());
    let invalid_client = || {
        OAuthError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    };
    match (basic, &request.client_id, &request.client_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        )),
        (Some(encoded), _, None) => {
            let decoded = STANDARD.decode(encoded).map_err(|_| invalid_client())?;
            let decoded = String::from_utf8(decoded).map_err(|_| invalid_client())?;
            let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
            Ok((form_decode(id), form_decode(secret)))
        }
        (None, Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
        _ => Err(invalid_client()),
    }
}

fn form_decode(value: &str) -> String {
    let plus_as_space = value.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}
