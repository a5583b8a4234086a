//! Benchmark peer: the service most people write first. axum + `jsonwebtoken`, the key set fetched
//! once at start, every token decoded and its RS256 signature checked on every request (no cache).
//!
//! Env: `PORT`, `JWKS_URI`, `ISSUER`, `AUDIENCE`. No logging.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use serde::Deserialize;
use serde_json::{Value, json};

/// The verification material, built once at start.
struct Verifier {
    keys_by_kid: HashMap<String, DecodingKey>,
    /// RS256 only; `exp` required and checked (the default), `iss` and `aud` set below.
    validation: Validation,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"))
}

#[tokio::main]
async fn main() {
    let port: u16 = env("PORT").parse().expect("PORT must be a port number");
    let jwks: JwkSet = reqwest::get(env("JWKS_URI"))
        .await
        .and_then(reqwest::Response::error_for_status)
        .expect("fetch the JWKS (is JWKS_URI reachable?)")
        .json()
        .await
        .expect("JWKS_URI must answer a JWK set");
    let keys_by_kid = jwks
        .keys
        .iter()
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            Some((kid, DecodingKey::from_jwk(jwk).ok()?))
        })
        .collect();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[env("ISSUER")]);
    validation.set_audience(&[env("AUDIENCE")]);
    let verifier = Arc::new(Verifier {
        keys_by_kid,
        validation,
    });

    let app = Router::new()
        .route("/api/public", get(public))
        .route("/api/private", get(private))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind 127.0.0.1:PORT");
    axum::serve(listener, app).await.expect("serve");
}

async fn public() -> Json<Value> {
    Json(json!({
        "status": "success",
        "msg": "Hello from a public endpoint. No token needed to see this.",
    }))
}

async fn private(State(verifier): State<Arc<Verifier>>, headers: HeaderMap) -> Response {
    match verify(&verifier, &headers) {
        Some(claims) => Json(json!({
            "status": "success",
            "msg": "Hello from a private endpoint. You are authenticated.",
            "sub": claims.sub,
        }))
        .into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")],
        )
            .into_response(),
    }
}

/// The claims of a valid bearer token; `None` for a missing, malformed or invalid one.
fn verify(verifier: &Verifier, headers: &HeaderMap) -> Option<Claims> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let kid = decode_header(token).ok()?.kid?;
    let key = verifier.keys_by_kid.get(&kid)?;
    decode::<Claims>(token, key, &verifier.validation)
        .ok()
        .map(|data| data.claims)
}
