//! Benchmark peer: the service most people write first. axum + jsonwebtoken, the key set fetched
//! once at start, every token decoded and its RS256 signature checked on every request (no cache).
//!
//! Env: PORT, JWKS_URI, ISSUER, AUDIENCE.

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

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
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
    let jwks: JwkSet = reqwest::get(env("JWKS_URI"))
        .await
        .expect("fetch the JWKS")
        .json()
        .await
        .expect("a JWKS document");
    let by_kid = jwks
        .keys
        .iter()
        .filter_map(|jwk| Some((jwk.common.key_id.clone()?, DecodingKey::from_jwk(jwk).ok()?)))
        .collect();
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[env("ISSUER")]);
    validation.set_audience(&[env("AUDIENCE")]);
    let keys = Arc::new(Keys { by_kid, validation });

    let app = Router::new()
        .route("/api/public", get(public))
        .route("/api/private", get(private))
        .with_state(keys);
    let listener =
        tokio::net::TcpListener::bind(("127.0.0.1", env("PORT").parse::<u16>().expect("PORT")))
            .await
            .expect("bind");
    axum::serve(listener, app).await.expect("serve");
}

async fn public() -> Json<Value> {
    Json(
        json!({"msg": "Hello from a public endpoint. You don't need to be authenticated to see this."}),
    )
}

async fn private(State(keys): State<Arc<Keys>>, headers: HeaderMap) -> Response {
    match verify(&keys, &headers) {
        Some(claims) => Json(json!({"msg": "Hello from a private endpoint. You are authenticated.", "sub": claims.sub}))
            .into_response(),
        None => (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\"")]).into_response(),
    }
}

fn verify(keys: &Keys, headers: &HeaderMap) -> Option<Claims> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let kid = decode_header(token).ok()?.kid?;
    let key = keys.by_kid.get(&kid)?;
    decode::<Claims>(token, key, &keys.validation)
        .ok()
        .map(|data| data.claims)
}
