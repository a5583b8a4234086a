//! The local issuer's HTTP face: keys, discovery, `/oauth/token`, `/oauth/introspect`, `/authorize`
//! (with its sign-up form), `/auth/signup` and `/userinfo`.

use axum::extract::State;
use axum::http::header::CACHE_CONTROL;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::state::IssuerState;
use super::{authorize, introspect, signup, token, userinfo};
use crate::auth::dpop::SUPPORTED_ALGORITHM_NAMES;

/// The issuer's routes, with their state applied.
pub fn router<S: Clone + Send + Sync + 'static>(state: IssuerState) -> Router<S> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/oauth/token", post(token::token))
        .route("/oauth/introspect", post(introspect::introspect))
        .route("/authorize", get(authorize::form).post(authorize::submit))
        .route("/authorize/signup", get(signup::form).post(signup::submit))
        .route("/auth/signup", post(signup::signup))
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
    let mut metadata = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "token_endpoint": format!("{issuer}{}", token::TOKEN_PATH),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "grant_types_supported": ["client_credentials", "password", "authorization_code", "implicit"],
        "response_types_supported": ["code", "token"],
        "response_modes_supported": ["query", "fragment"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "introspection_endpoint": format!("{issuer}/oauth/introspect"),
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": state.user_scopes.iter().chain(state.default_scopes.iter()).collect::<std::collections::BTreeSet<_>>(),
        "claims_supported": ["sub", "name", "email", "preferred_username"],
    });
    if state.dpop.mode().accepts_dpop() {
        // RFC 9449 §5.1: the token endpoint binds tokens to proofs signed with these.
        metadata["dpop_signing_alg_values_supported"] = json!(SUPPORTED_ALGORITHM_NAMES);
    }
    Json(metadata)
}
