//! Benchmark peer: an axum service protected by the `jwt-authorizer` crate (JWKS from a URL, iss and
//! aud validated), the way its README sets it up.
//!
//! Env: PORT, JWKS_URI, ISSUER, AUDIENCE.

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
    // from_jwks_url wants a &'static str; the URL lives as long as the process anyway.
    let jwks_uri: &'static str = Box::leak(env("JWKS_URI").into_boxed_str());
    let issuer = env("ISSUER");
    let audience = env("AUDIENCE");
    let validation = Validation::new()
        .iss(&[issuer.as_str()])
        .aud(&[audience.as_str()]);
    let authorizer: Authorizer<RegisteredClaims> = JwtAuthorizer::from_jwks_url(jwks_uri)
        .validation(validation)
        .build()
        .await
        .expect("build the authorizer");

    let app = Router::new()
        .route("/api/private", get(private))
        .layer(authorizer.into_layer())
        .route("/api/public", get(public));
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

async fn private(JwtClaims(claims): JwtClaims<RegisteredClaims>) -> Json<Value> {
    Json(json!({"msg": "Hello from a private endpoint. You are authenticated.", "sub": claims.sub}))
}
