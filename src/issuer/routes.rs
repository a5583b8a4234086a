//! The local issuer's HTTP face: keys, discovery, `/oauth/token`, `/authorize` and `/userinfo`.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

pub use super::login::FailedLogins;
use super::{ClientCredentials, LocalIssuer, authorize, token, userinfo};
use crate::auth::Verifier;
use crate::store::AccountStore;

/// What the issuer's routes need.
#[derive(Debug, Clone)]
pub struct IssuerState {
    /// The signer.
    pub issuer: LocalIssuer,
    /// The one confidential client allowed to use `client_credentials`.
    pub client: ClientCredentials,
    /// Scopes granted to the confidential client when it asks for none: `[AUTH] SCOPE` and `PERMISSION`.
    pub default_scopes: Vec<String>,
    /// Scopes a person may be granted: `openid profile email` and `[AUTH] SCOPE`.
    pub user_scopes: Vec<String>,
    /// Where `/authorize` may redirect to (exact match).
    pub redirect_uris: Vec<String>,
    /// Checks access tokens presented to `/userinfo`.
    pub verifier: Verifier,
    /// Local accounts.
    pub accounts: AccountStore,
    /// Per-client-address failed-login counts (password grant and login form).
    pub failures: FailedLogins,
    /// Whether the login form's cookie gets `Secure`: [`crate::config::ServerSettings::secure_cookies`].
    pub secure_cookies: bool,
}

impl axum::extract::FromRef<IssuerState> for Verifier {
    fn from_ref(state: &IssuerState) -> Self {
        state.verifier.clone()
    }
}

/// The issuer's routes, with their state applied.
pub fn router<S: Clone + Send + Sync + 'static>(state: IssuerState) -> Router<S> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/oauth/token", axum::routing::post(token::token))
        .route("/authorize", get(authorize::form).post(authorize::submit))
        .route("/userinfo", get(userinfo::userinfo))
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
    Json(json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}/oauth/token"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "grant_types_supported": ["client_credentials", "password", "authorization_code", "implicit"],
        "response_types_supported": ["code", "token"],
        "response_modes_supported": ["query", "fragment"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["S256"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": state.user_scopes.iter().chain(state.default_scopes.iter()).collect::<std::collections::BTreeSet<_>>(),
        "claims_supported": ["sub", "name", "email", "preferred_username"],
    }))
}
