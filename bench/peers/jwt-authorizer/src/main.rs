//! Benchmark peer: an axum service protected by the `jwt-authorizer` crate, set up the way its README
//! does it: keys from a JWKS URL, `iss` and `aud` checked (and `exp`, on by default).
//!
//! Env: `PORT`, `JWKS_URI`, `ISSUER`, `AUDIENCE`. No logging.

use axum::routing::get;
use axum::{Json, Router};
use jwt_authorizer::{
    Authorizer, IntoLayer, JwtAuthorizer, JwtClaims, RegisteredClaims, Validation,
};
use serde_json::{Value, json};

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set"))
}

#[tokio::main]
async fn main() {
    let port: u16 = env("PORT").parse().expect("PORT must be a port number");
    let validation = Validation::new()
        .iss(&[env("ISSUER")])
        .aud(&[env("AUDIENCE")]);
    // Fetches the key set now; unknown `kid`s trigger a refetch (the crate's default refresh policy).
    let authorizer: Authorizer<RegisteredClaims> = JwtAuthorizer::from_jwks_url(&env("JWKS_URI"))
        .validation(validation)
        .build()
        .await
        .expect("build the authorizer (is JWKS_URI reachable?)");

    // The layer covers the routes added before it: /api/private only.
    let app = Router::new()
        .route("/api/private", get(private))
        .layer(authorizer.into_layer())
        .route("/api/public", get(public));
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

async fn private(JwtClaims(claims): JwtClaims<RegisteredClaims>) -> Json<Value> {
    Json(json!({
        "status": "success",
        "msg": "Hello from a private endpoint. You are authenticated.",
        "sub": claims.sub,
    }))
}
