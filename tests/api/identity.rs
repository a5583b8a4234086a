//! Who the caller is: `/api/profile` shows only what the access token says, `/api/user` takes the ID
//! token from `X-Id-Token` or the session cookie (and refuses a malformed header rather than skip it),
//! a userinfo answer about someone else is never kept, and a login flow cookie must hold all its parts.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::routing::get;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};

use crate::helpers::{TestApp, www_authenticate};

const CLIENT_ID: &str = "web-client";

#[cfg(feature = "local-issuer")]
#[tokio::test]
async fn a_local_users_profile_holds_the_tokens_grants_and_user_holds_the_account() {
    let app = TestApp::builder().local().spawn().await;
    let account: Value = app
        .post("/auth/signup")
        .json(&json!({"username": "erin@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sub = account["sub"].as_str().unwrap();
    let grant: Value = app
        .post("/oauth/token")
        .form(&[
            ("grant_type", "password"),
            ("username", "erin@example.com"),
            ("password", "correct horse battery"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = grant["access_token"].as_str().unwrap();

    let profile: Value = app
        .get_with(&format!("/api/profile/{sub}"), token)
        .await
        .json()
        .await
        .unwrap();
    let mut members: Vec<&str> = profile
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    members.sort_unstable();
    assert_eq!(members, ["permissions", "scopes", "sub"], "{profile}");

    let user: Value = app.get_with("/api/user", token).await.json().await.unwrap();
    assert_eq!(user["source"], "userinfo");
    assert_eq!(user["email"], "erin@example.com");
}

/// An app whose provider has a client id, and an access token and an ID token for `sub`.
async fn app_with_tokens(sub: &str) -> (TestApp, String, String) {
    let app = TestApp::builder()
        .extra(&[("OIDC_CLIENT_ID", CLIENT_ID)])
        .spawn()
        .await;
    let access = app.idp().token().subject(sub).sign();
    let id_token = app
        .idp()
        .token()
        .subject(sub)
        .claim("aud", CLIENT_ID)
        .claim("email", format!("{sub}@id.example"))
        .sign();
    (app, access, id_token)
}

#[cfg(feature = "sessions")]
#[tokio::test]
async fn the_session_id_token_cookie_stands_in_for_the_header() {
    let (app, access, id_token) = app_with_tokens("olga").await;
    let user: Value = app
        .get("/api/user")
        .bearer_auth(&access)
        .header("cookie", format!("id_token={id_token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["source"], "id_token");
    assert_eq!(user["email"], "olga@id.example");
}

#[tokio::test]
async fn a_malformed_id_token_header_is_refused_not_passed_over_for_the_session_cookie() {
    let (app, access, id_token) = app_with_tokens("pia").await;
    let response = app
        .get("/api/user")
        .bearer_auth(&access)
        .header("cookie", format!("id_token={id_token}"))
        .header(
            "x-id-token",
            HeaderValue::from_bytes(b"ey\xe9.x.y").unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        www_authenticate(&response).contains("ID token: malformed token"),
        "{}",
        www_authenticate(&response)
    );
}

#[tokio::test]
async fn several_id_token_headers_are_an_invalid_request() {
    let (app, access, id_token) = app_with_tokens("quinn").await;
    let response = app
        .get("/api/user")
        .bearer_auth(&access)
        .header("x-id-token", &id_token)
        .header("x-id-token", "another")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request", "{body}");
}

#[tokio::test]
async fn a_userinfo_answer_about_someone_else_is_a_502_and_never_kept() {
    // A userinfo endpoint that always describes mallory, whoever asks, and counts the calls.
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let userinfo = format!("http://{}/userinfo", listener.local_addr().unwrap());
    let provider = Router::new().route(
        "/userinfo",
        get(move || async move {
            counter.fetch_add(1, Ordering::SeqCst);
            axum::Json(json!({"sub": "mallory", "email": "mallory@example.com"}))
        }),
    );
    tokio::spawn(async move { axum::serve(listener, provider).await });
    let app = TestApp::builder()
        .extra(&[("OIDC_USERINFO_URI", &userinfo)])
        .spawn()
        .await;
    let token = app.idp().token().subject("rosa").sign();

    // In parallel, as a client retrying in a hurry would: each answer is refused, none is cached.
    let answers =
        futures_util::future::join_all((0..10).map(|_| app.get_with("/api/user", &token))).await;
    for response in answers {
        assert_eq!(response.status(), 502);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error_description"],
            "the userinfo answer is about another subject"
        );
    }
    assert_eq!(app.get_with("/api/user", &token).await.status(), 502);
    assert_eq!(
        calls.load(Ordering::SeqCst),
        11,
        "a refused answer is never kept"
    );
}

#[cfg(feature = "sessions")]
#[tokio::test]
async fn a_flow_cookie_without_its_verifier_is_no_login_in_progress() {
    let (app, _, _) = app_with_tokens("sam").await;
    // `state` matches, but the PKCE verifier is gone: the code must not be sent to the provider
    // without it.
    let response = app
        .get("/auth-callback?code=abc&state=s")
        .header("cookie", "login_flow=state=s&nonce=n&next=%2F")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["error_description"],
        "no login in progress (start at /login)"
    );
}
