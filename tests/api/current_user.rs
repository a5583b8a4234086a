//! `/api/user`: the provider's userinfo asked once per token, ID tokens checked for this client and
//! this user, and provider-specific usernames.

use serde_json::Value;

use crate::helpers::{TestApp, www_authenticate};

#[tokio::test]
async fn api_user_asks_userinfo_once_per_token_and_again_on_refresh() {
    let app = TestApp::builder().spawn().await;
    let token = app.idp().token().subject("henry").sign();
    let user: Value = app
        .get_with("/api/user", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["source"], "userinfo");
    assert_eq!(user["email"], "henry@example.com");
    assert_eq!(user["picture"], "https://example.com/avatar.png");
    app.get_with("/api/user", &token).await;
    assert_eq!(app.idp().userinfo_calls(), 1);
    app.get("/api/user?refresh=true")
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(app.idp().userinfo_calls(), 2);
}

#[tokio::test]
async fn an_id_token_must_be_for_this_client_and_this_user() {
    let app = TestApp::builder()
        .extra(&[("OIDC_CLIENT_ID", "web-client")])
        .spawn()
        .await;
    let access = app.idp().token().subject("ivy").sign();
    let id_token = app
        .idp()
        .token()
        .subject("ivy")
        .claim("aud", "web-client")
        .claim("email", "ivy@example.com")
        .sign();
    let user: Value = app
        .get("/api/user")
        .bearer_auth(&access)
        .header("x-id-token", &id_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["source"], "id_token");
    assert_eq!(user["email"], "ivy@example.com");

    let for_another_client = app
        .idp()
        .token()
        .subject("ivy")
        .claim("aud", "other-client")
        .sign();
    let response = app
        .get("/api/user")
        .bearer_auth(&access)
        .header("x-id-token", &for_another_client)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(www_authenticate(&response).contains("ID token: audience mismatch"));

    let someone_else = app
        .idp()
        .token()
        .subject("mallory")
        .claim("aud", "web-client")
        .sign();
    let response = app
        .get("/api/user")
        .bearer_auth(&access)
        .header("x-id-token", &someone_else)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn cognito_users_get_their_username() {
    let idp = protected_api::testing::MockIdp::start().await;
    let (issuer, jwks) = (idp.issuer().to_owned(), idp.jwks_uri());
    let app = TestApp::builder()
        .idp(idp)
        .settings(&[
            ("AUTH_PROVIDER", "cognito"),
            ("COGNITO_REGION", "eu-west-1"),
            ("COGNITO_USER_POOL_ID", "pool"),
            ("COGNITO_CLIENT_ID", "app-client"),
            ("COGNITO_ISSUER", &issuer),
            ("COGNITO_JWKS_URI", &jwks),
        ])
        .spawn()
        .await;
    let access = app.idp().token().cognito_access("app-client").sign();
    let id_token = app
        .idp()
        .token()
        .cognito_access("app-client")
        .claim("token_use", "id")
        .claim("aud", "app-client")
        .claim("cognito:username", "alice")
        .sign();
    let user: Value = app
        .get("/api/user")
        .bearer_auth(&access)
        .header("x-id-token", &id_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["username"], "alice");
}
