//! The example endpoints with valid tokens: what each one answers and requires.

use axum::Router;
use axum::routing::get;
use protected_api::AppState;
use protected_api::auth::{Claims, RequireScope, Required, Requirement};
use protected_api::config::AuthSettings;
use serde_json::Value;

use crate::helpers::{TestApp, www_authenticate};

#[tokio::test]
async fn public_needs_no_token() {
    let app = TestApp::builder().spawn().await;
    let response = app.get("/api/public").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    assert!(body["msg"].as_str().unwrap().contains("public"));
}

#[tokio::test]
async fn private_returns_every_claim_of_a_valid_token() {
    let app = TestApp::builder().spawn().await;
    let token = app
        .idp()
        .token()
        .subject("alice")
        .claim("tenant", "t1")
        .sign();
    let response = app.get_with("/api/private", &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], "success");
    assert_eq!(body["claims"]["sub"], "alice");
    assert_eq!(body["claims"]["tenant"], "t1");
    assert_eq!(body["claims"]["iss"], app.idp().issuer());
}

#[tokio::test]
async fn private_scoped_needs_the_configured_scope() {
    let app = TestApp::builder().spawn().await;
    let with_scope = app.idp().token().scope("openid read:messages").sign();
    assert_eq!(
        app.get_with("/api/private-scoped", &with_scope)
            .await
            .status(),
        200
    );

    let without = app.idp().token().scope("openid").sign();
    let response = app.get_with("/api/private-scoped", &without).await;
    assert_eq!(response.status(), 403);
    let challenge = www_authenticate(&response);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
    assert!(
        challenge.contains(r#"scope="read:messages""#),
        "{challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");
}

#[tokio::test]
async fn scopes_may_come_as_an_scp_array() {
    let app = TestApp::builder().spawn().await;
    let token = app
        .idp()
        .token()
        .claim("scp", serde_json::json!(["read:messages"]))
        .sign();
    assert_eq!(
        app.get_with("/api/private-scoped", &token).await.status(),
        200
    );
}

#[tokio::test]
async fn the_scope_name_comes_from_configuration() {
    let app = TestApp::builder()
        .extra(&[("AUTH_SCOPE", "messages.read")])
        .spawn()
        .await;
    let token = app.idp().token().scope("messages.read").sign();
    assert_eq!(
        app.get_with("/api/private-scoped", &token).await.status(),
        200
    );
    let old_name = app.idp().token().scope("read:messages").sign();
    assert_eq!(
        app.get_with("/api/private-scoped", &old_name)
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn admin_needs_the_permission_not_a_scope_of_the_same_name() {
    let app = TestApp::builder().spawn().await;
    let permitted = app.idp().token().permissions(&["read:admin"]).sign();
    assert_eq!(app.get_with("/api/admin", &permitted).await.status(), 200);

    let scope_only = app.idp().token().scope("read:admin").sign();
    let response = app.get_with("/api/admin", &scope_only).await;
    assert_eq!(response.status(), 403);
    assert!(www_authenticate(&response).contains(r#"scope="read:admin""#));
}

#[tokio::test]
async fn permissions_follow_a_dotted_claim_path() {
    let app = TestApp::builder()
        .extra(&[("OIDC_PERMISSIONS_CLAIM", "realm_access.roles")])
        .spawn()
        .await;
    let token = app.idp().token().keycloak(&["read:admin"]).sign();
    assert_eq!(app.get_with("/api/admin", &token).await.status(), 200);
    let other_role = app.idp().token().keycloak(&["user"]).sign();
    assert_eq!(app.get_with("/api/admin", &other_role).await.status(), 403);
}

#[tokio::test]
async fn optional_tells_anonymous_from_authenticated_and_still_refuses_bad_tokens() {
    let app = TestApp::builder().spawn().await;
    let anonymous: Value = app.get_json("/api/optional").await;
    assert_eq!(anonymous, serde_json::json!({"authenticated": false}));

    let token = app.idp().token().subject("bob").sign();
    let known: Value = app
        .get_with("/api/optional", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        known,
        serde_json::json!({"authenticated": true, "sub": "bob"})
    );

    let response = app.get_with("/api/optional", "not-a-jwt").await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_profile_is_shown_to_its_owner_only() {
    let app = TestApp::builder().spawn().await;
    let alice = app
        .idp()
        .token()
        .subject("alice")
        .scope("read:messages")
        .sign();
    let response = app.get_with("/api/profile/alice", &alice).await;
    assert_eq!(response.status(), 200);
    let profile: Value = response.json().await.unwrap();
    assert_eq!(profile["sub"], "alice");
    assert_eq!(profile["scopes"], serde_json::json!(["read:messages"]));

    let response = app.get_with("/api/profile/bob", &alice).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "forbidden");
    assert_eq!(
        app.get("/api/profile/alice").send().await.unwrap().status(),
        401
    );
}

/// Reading or writing messages: any one of the two.
struct ReadOrWrite;
impl Requirement for ReadOrWrite {
    fn required(_: &AuthSettings) -> Required {
        Required::any_of(["read:messages", "write:messages"])
    }
}

/// Reading and writing messages: both.
struct ReadAndWrite;
impl Requirement for ReadAndWrite {
    fn required(_: &AuthSettings) -> Required {
        Required::all_of(["read:messages", "write:messages"])
    }
}

fn scope_routes() -> Router<AppState> {
    Router::new()
        .route("/any", get(|_: RequireScope<ReadOrWrite>| async { "any" }))
        .route("/all", get(|_: RequireScope<ReadAndWrite>| async { "all" }))
}

#[tokio::test]
async fn requirements_match_all_of_or_any_of() {
    let app = TestApp::builder().routes(scope_routes()).spawn().await;
    let write_only = app.idp().token().scope("write:messages").sign();
    let both = app
        .idp()
        .token()
        .scope("read:messages write:messages")
        .sign();
    assert_eq!(app.get_with("/any", &write_only).await.status(), 200);
    assert_eq!(app.get_with("/all", &write_only).await.status(), 403);
    assert_eq!(app.get_with("/all", &both).await.status(), 200);
    let none = app.idp().token().sign();
    let response = app.get_with("/any", &none).await;
    assert_eq!(response.status(), 403);
    assert!(www_authenticate(&response).contains(r#"scope="read:messages write:messages""#));
}

#[derive(serde::Deserialize)]
struct TenantClaims {
    tenant: String,
}

#[tokio::test]
async fn handlers_can_ask_for_custom_claims() {
    let routes = Router::new().route(
        "/tenant",
        get(|claims: Claims<TenantClaims>| async move { claims.tenant.clone() }),
    );
    let app = TestApp::builder().routes(routes).spawn().await;
    let token = app.idp().token().claim("tenant", "acme").sign();
    let response = app.get_with("/tenant", &token).await;
    assert_eq!(response.text().await.unwrap(), "acme");
    let without = app.idp().token().sign();
    assert_eq!(app.get_with("/tenant", &without).await.status(), 401);
}
