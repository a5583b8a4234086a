//! Each provider's token shape and rules, against a mock IdP standing in for its issuer and JWKS.

use protected_api::testing::MockIdp;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_invalid_token};

#[tokio::test]
async fn auth0_user_and_machine_tokens_with_permissions() {
    let idp = MockIdp::start().await;
    let (issuer, jwks) = (format!("{}/", idp.issuer()), idp.jwks_uri());
    let app = TestApp::builder()
        .idp(idp)
        .settings(&[
            ("AUTH_PROVIDER", "auth0"),
            ("AUTH0_DOMAIN", "tenant.eu.auth0.com"),
            ("AUTH0_API_AUDIENCE", "https://api.example.com"),
            ("AUTH0_ISSUER", &issuer),
            ("AUTH0_JWKS_URI", &jwks),
        ])
        .spawn()
        .await;
    let user = app
        .idp()
        .token()
        .auth0()
        .claim("iss", issuer.as_str())
        .claim(
            "aud",
            json!([
                "https://api.example.com",
                "https://tenant.eu.auth0.com/userinfo"
            ]),
        )
        .permissions(&["read:admin"])
        .sign();
    let body: Value = app
        .get_with("/api/admin", &user)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        body["claims"]["https://example.com/email"],
        "user@example.com"
    );

    let machine = app
        .idp()
        .token()
        .auth0_m2m("m2m-client")
        .claim("iss", issuer.as_str())
        .claim("aud", "https://api.example.com")
        .scope("read:messages")
        .sign();
    let body: Value = app
        .get_with("/api/private-scoped", &machine)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["claims"]["sub"], "m2m-client@clients");

    // Auth0's issuer ends in a slash; a token without it is someone else's.
    let no_slash = app
        .idp()
        .token()
        .claim("iss", issuer.trim_end_matches('/'))
        .claim("aud", "https://api.example.com")
        .sign();
    assert_invalid_token(
        app.get_with("/api/private", &no_slash).await,
        "issuer mismatch",
    )
    .await;
}

#[tokio::test]
async fn cognito_access_tokens_need_token_use_and_the_app_client() {
    let idp = MockIdp::start().await;
    let (issuer, jwks) = (idp.issuer().to_owned(), idp.jwks_uri());
    let app = TestApp::builder()
        .idp(idp)
        .settings(&[
            ("AUTH_PROVIDER", "cognito"),
            ("COGNITO_REGION", "eu-west-1"),
            ("COGNITO_USER_POOL_ID", "eu-west-1_AbC"),
            ("COGNITO_CLIENT_ID", "app-client"),
            ("COGNITO_ISSUER", &issuer),
            ("COGNITO_JWKS_URI", &jwks),
        ])
        .spawn()
        .await;
    let token = app
        .idp()
        .token()
        .cognito_access("app-client")
        .claim("cognito:groups", json!(["read:admin"]))
        .sign();
    let body: Value = app
        .get_with("/api/admin", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["claims"]["username"], "alice");

    let id_token = app
        .idp()
        .token()
        .cognito_access("app-client")
        .claim("token_use", "id")
        .sign();
    assert_invalid_token(app.get_with("/api/private", &id_token).await, "token_use").await;
    let other_client = app.idp().token().cognito_access("other-client").sign();
    assert_invalid_token(
        app.get_with("/api/private", &other_client).await,
        "audience mismatch",
    )
    .await;
}

#[tokio::test]
async fn firebase_tokens_need_the_project_a_subject_and_a_past_auth_time() {
    let idp = MockIdp::start().await;
    let (issuer, jwks) = (idp.issuer().to_owned(), idp.jwks_uri());
    let app = TestApp::builder()
        .idp(idp)
        .settings(&[
            ("AUTH_PROVIDER", "firebase"),
            ("FIREBASE_PROJECT_ID", "demo-project"),
            ("FIREBASE_ISSUER", &issuer),
            ("FIREBASE_JWKS_URI", &jwks),
        ])
        .spawn()
        .await;
    let token = app.idp().token().firebase("demo-project").sign();
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);

    let other_project = app.idp().token().firebase("other-project").sign();
    assert_invalid_token(
        app.get_with("/api/private", &other_project).await,
        "audience mismatch",
    )
    .await;
    let empty_sub = app
        .idp()
        .token()
        .firebase("demo-project")
        .subject("")
        .sign();
    assert_invalid_token(app.get_with("/api/private", &empty_sub).await, "sub").await;
    let future_login = app
        .idp()
        .token()
        .firebase("demo-project")
        .claim("auth_time", 4102444800u64)
        .sign();
    assert_invalid_token(
        app.get_with("/api/private", &future_login).await,
        "auth_time",
    )
    .await;
}

#[tokio::test]
async fn fief_tokens_name_the_client_as_audience() {
    let idp = MockIdp::start().await;
    let (issuer, jwks) = (idp.issuer().to_owned(), idp.jwks_uri());
    let app = TestApp::builder()
        .idp(idp)
        .settings(&[
            ("AUTH_PROVIDER", "fief"),
            ("FIEF_BASE_URL", &issuer),
            ("FIEF_CLIENT_ID", "fief-client"),
            ("FIEF_JWKS_URI", &jwks),
        ])
        .spawn()
        .await;
    let token = app
        .idp()
        .token()
        .fief("fief-client")
        .permissions(&["read:admin"])
        .sign();
    assert_eq!(app.get_with("/api/admin", &token).await.status(), 200);
    let other = app.idp().token().fief("another-client").sign();
    assert_invalid_token(
        app.get_with("/api/private", &other).await,
        "audience mismatch",
    )
    .await;
}

#[cfg(feature = "sessions")]
#[tokio::test]
async fn an_auth0_login_goes_through_the_custom_domain_listed_first() {
    // Auth0 names as `iss` the domain a login went through: logging in at the tenant domain while
    // the custom domain is the login's issuer would refuse every login.
    let app = TestApp::builder()
        .settings(&[
            ("AUTH_PROVIDER", "auth0"),
            ("AUTH0_DOMAIN", "tenant.eu.auth0.com"),
            (
                "AUTH0_ISSUER",
                "https://login.example.com/, https://tenant.eu.auth0.com/",
            ),
            ("AUTH0_API_AUDIENCE", "api"),
            ("AUTH0_CLIENT_ID", "spa"),
        ])
        .spawn()
        .await;
    let browser = crate::flows::no_redirects();
    let login = browser
        .get(app.url("/login?provider=auth0"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let to = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(
        to.as_str().split('?').next().unwrap(),
        "https://login.example.com/authorize"
    );
    let redirect = to
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1;
    assert!(redirect.ends_with("/auth-callback"), "{redirect}");
    let first = app.state.verifier.issuer(0).unwrap();
    assert_eq!(first.issuer, "https://login.example.com/");
    assert_eq!(
        first.login.token.as_ref().unwrap().as_str(),
        "https://login.example.com/oauth/token"
    );
}
