//! What a build without a wing leaves out: its routes are unknown paths (404 in JSON, like any
//! other), while the core answers as always. Run by `cargo test --no-default-features`; compiled only
//! when a wing is left out.

use crate::helpers::TestApp;

/// Every path answers 404 with the JSON error body.
async fn assert_unknown(app: &TestApp, paths: &[&str]) {
    for path in paths {
        let response = app.get(path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "not_found", "{path}: {body}");
    }
}

#[cfg(not(feature = "local-issuer"))]
#[tokio::test]
async fn without_the_local_issuer_its_endpoints_are_unknown() {
    let app = TestApp::builder().spawn().await;
    assert_unknown(
        &app,
        &[
            "/authorize",
            "/authorize/signup",
            "/oauth/token",
            "/auth/signup",
            "/userinfo",
            "/.well-known/jwks.json",
            "/.well-known/openid-configuration",
        ],
    )
    .await;
    let doc: serde_json::Value = app.get_json("/openapi.json").await;
    assert!(
        doc["paths"]["/oauth/token"].is_null(),
        "no issuer operations documented"
    );
    assert_eq!(app.get("/api/public").send().await.unwrap().status(), 200);
}

#[cfg(not(feature = "sessions"))]
#[tokio::test]
async fn without_sessions_there_is_no_browser_login_and_no_session_cookie() {
    let app = TestApp::builder().spawn().await;
    assert_unknown(&app, &["/login", "/auth-callback", "/logout"]).await;
    // A cookie named like the session's is not a credential in this build.
    let token = app.idp().token().sign();
    let response = app
        .get("/api/private")
        .header("cookie", format!("session={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
}

#[cfg(not(feature = "metrics"))]
#[tokio::test]
async fn without_metrics_there_is_no_metrics_endpoint() {
    let app = TestApp::builder().spawn().await;
    assert_unknown(&app, &["/metrics"]).await;
}
