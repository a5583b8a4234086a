//! The browser session: `/login` at the provider, `/auth-callback`, the session cookie, `/logout`.

use serde_json::{Value, json};

use crate::flows::{authorize, no_redirects, sign_up};
use crate::helpers::{TestApp, www_authenticate};

#[tokio::test]
async fn the_browser_session_logs_in_through_the_local_issuer_and_out() {
    let app = TestApp::builder().local().spawn().await;
    let account = sign_up(&app, "judy", "correct horse battery").await;
    let browser = no_redirects();

    let login = browser
        .get(format!("{}/login?next=/api/private", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let set_cookie = login.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let authorize_url = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let params: Vec<(String, String)> = authorize_url.query_pairs().into_owned().collect();
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let back = authorize(&app, &browser, &params, "judy", "correct horse battery").await;
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{}/auth-callback?", app.base)),
        "{callback}"
    );

    let session = browser.get(&callback).send().await.unwrap();
    assert_eq!(session.status(), 303, "{:?}", session.text().await);
    assert_eq!(session.headers()["location"], "/api/private");
    let private = browser
        .get(format!("{}/api/private", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        private.status(),
        200,
        "the session cookie stands in for the bearer header"
    );
    let user: Value = browser
        .get(format!("{}/api/user", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["sub"], account["sub"]);
    assert_eq!(user["source"], "id_token");

    let replayed = browser.get(&callback).send().await.unwrap();
    assert_eq!(replayed.status(), 400, "the login flow cookie is spent");

    let logout = browser
        .get(format!("{}/logout", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    assert_eq!(
        browser
            .get(format!("{}/api/private", app.base))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

#[tokio::test]
async fn a_callback_with_a_forged_state_is_refused() {
    let app = TestApp::builder().local().spawn().await;
    let browser = no_redirects();
    browser
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    let response = browser
        .get(format!("{}/auth-callback?code=abc&state=forged", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn a_session_refuses_an_id_token_for_another_client_and_says_it_was_the_id_token() {
    use axum::routing::{get, post};
    use protected_api::testing::{AUDIENCE, MockIdp, TokenBuilder};

    // A provider whose token endpoint answers a valid access token with an ID token made for
    // another client. Keys come from the MockIdp; discovery and the token endpoint from here.
    let keys = MockIdp::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}", listener.local_addr().unwrap());
    let access = TokenBuilder::new(&issuer, AUDIENCE, keys.signing_key())
        .subject("kim")
        .sign();
    let id_token = TokenBuilder::new(&issuer, "another-client", keys.signing_key())
        .subject("kim")
        .sign();
    let discovery = json!({
        "issuer": issuer,
        "jwks_uri": keys.jwks_uri(),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    let answer = json!({"access_token": access, "id_token": id_token, "token_type": "Bearer"});
    let provider = axum::Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || async move { axum::Json(discovery) }),
        )
        .route("/token", post(move || async move { axum::Json(answer) }));
    tokio::spawn(async move { axum::serve(listener, provider).await });

    let app = TestApp::builder()
        .settings(&[
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", &issuer),
            ("OIDC_AUDIENCE", AUDIENCE),
            ("OIDC_CLIENT_ID", "web-client"),
        ])
        .spawn()
        .await;
    let browser = no_redirects();
    let login = browser
        .get(format!("{}/login", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let to_provider = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let state = to_provider
        .query_pairs()
        .find(|(name, _)| name == "state")
        .unwrap()
        .1
        .into_owned();
    let response = browser
        .get(format!("{}/auth-callback", app.base))
        .query(&[("code", "abc"), ("state", state.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        www_authenticate(&response).contains("ID token: audience mismatch"),
        "{}",
        www_authenticate(&response)
    );
}
