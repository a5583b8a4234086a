//! People: local accounts, the password grant, the login page (code + PKCE and implicit), `/api/user`,
//! and the browser session.

use serde_json::{Value, json};

use crate::helpers::{TestApp, www_authenticate};

const WEB_CLIENT: &str = "protected-api-web";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

pub(crate) async fn sign_up(app: &TestApp, username: &str, password: &str) -> Value {
    let response = app
        .post("/auth/signup")
        .json(&json!({"username": username, "password": password, "name": "Alice A."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

pub(crate) async fn password_grant(
    app: &TestApp,
    username: &str,
    password: &str,
) -> reqwest::Response {
    app.post("/oauth/token")
        .form(&[
            ("grant_type", "password"),
            ("username", username),
            ("password", password),
        ])
        .send()
        .await
        .unwrap()
}

pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

pub(crate) fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="csrf" value=""#)
        .expect("the form has a CSRF field")
        + r#"name="csrf" value=""#.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Runs `/authorize` as a browser would, returning the redirect it ends with.
pub(crate) async fn authorize(
    app: &TestApp,
    client: &reqwest::Client,
    params: &[(&str, &str)],
    username: &str,
    password: &str,
) -> reqwest::Response {
    let form = client
        .get(format!("{}/authorize", app.base))
        .query(params)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(html.contains("<form") && html.contains(r#"autocomplete="current-password""#));
    let mut fields: Vec<(&str, String)> =
        params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    fields.extend([
        ("username", username.to_owned()),
        ("password", password.to_owned()),
        ("csrf", csrf_of(&html)),
    ]);
    client
        .post(format!("{}/authorize", app.base))
        .form(&fields)
        .send()
        .await
        .unwrap()
}

async fn exchange(app: &TestApp, code: &str, verifier: &str) -> reqwest::Response {
    let redirect_uri = format!("{}/docs/oauth2-redirect", app.base);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", WEB_CLIENT),
        ("code_verifier", verifier),
    ];
    app.post("/oauth/token").form(&form).send().await.unwrap()
}

fn code_params(app: &TestApp) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".to_owned()),
        ("client_id", WEB_CLIENT.to_owned()),
        ("redirect_uri", format!("{}/docs/oauth2-redirect", app.base)),
        ("scope", "openid profile read:messages".to_owned()),
        ("state", "xyz".to_owned()),
        ("code_challenge", CHALLENGE.to_owned()),
        ("code_challenge_method", "S256".to_owned()),
        ("nonce", "n-0S6".to_owned()),
    ]
}

fn as_refs<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn sign_up_refuses_duplicates_and_weak_input_field_by_field() {
    let app = TestApp::builder().local().spawn().await;
    let created = sign_up(&app, "alice", "correct horse battery").await;
    assert!(created["sub"].as_str().unwrap().starts_with("local|"));
    assert_eq!(created["username"], "alice");
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());

    let taken = app
        .post("/auth/signup")
        .json(&json!({"username": "ALICE", "password": "another password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 409);

    let weak = app
        .post("/auth/signup")
        .form(&[("username", "b"), ("password", "123")])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 422);
    let body: Value = weak.json().await.unwrap();
    assert!(
        body["fields"]["username"].is_string() && body["fields"]["password"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn the_password_grant_gives_tokens_for_the_account_and_never_says_which_part_was_wrong() {
    let app = TestApp::builder().local().spawn().await;
    let account = sign_up(&app, "carol@example.com", "correct horse battery").await;
    let response = password_grant(&app, "carol@example.com", "correct horse battery").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert!(body["id_token"].is_string(), "openid is granted by default");
    let private: Value = app
        .get_with("/api/private-scoped", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(private["claims"]["sub"], account["sub"]);
    assert_eq!(
        app.get_with("/api/admin", token).await.status(),
        403,
        "people get no permissions by default"
    );

    let profile: Value = app
        .get_with(
            &format!("/api/profile/{}", account["sub"].as_str().unwrap()),
            token,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(profile["account"]["email"], "carol@example.com");

    let wrong_password: Value = password_grant(&app, "carol@example.com", "wrong password!")
        .await
        .json()
        .await
        .unwrap();
    let unknown_user: Value = password_grant(&app, "nobody@example.com", "correct horse battery")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password["error"], "invalid_grant");
}

#[tokio::test]
async fn repeated_failures_slow_the_account_down() {
    let app = TestApp::builder().local().spawn().await;
    sign_up(&app, "dave", "correct horse battery").await;
    // README: after five failures the account waits, even for the right password.
    for _ in 0..5 {
        assert_eq!(
            password_grant(&app, "dave", "wrong password")
                .await
                .status(),
            400
        );
    }
    let locked = password_grant(&app, "dave", "correct horse battery").await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    assert_eq!(locked.json::<Value>().await.unwrap()["error"], "slow_down");
}

#[tokio::test]
async fn repeated_failures_slow_the_address_down() {
    let app = TestApp::builder().local().spawn().await;
    for i in 0..20 {
        assert_eq!(
            password_grant(&app, &format!("guess-{i}"), "whatever1")
                .await
                .status(),
            400
        );
    }
    assert_eq!(
        password_grant(&app, "guess-x", "whatever1").await.status(),
        429
    );
}

#[tokio::test]
async fn the_code_flow_with_pkce_gives_tokens_once() {
    let app = TestApp::builder().local().spawn().await;
    sign_up(&app, "erin", "correct horse battery").await;
    let client = no_redirects();
    let params = code_params(&app);
    let redirect = authorize(
        &app,
        &client,
        &as_refs(&params),
        "erin",
        "correct horse battery",
    )
    .await;
    assert_eq!(redirect.status(), 303);
    let location = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    assert!(
        location
            .as_str()
            .starts_with(&format!("{}/docs/oauth2-redirect?", app.base))
    );
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["state"], "xyz");
    let code = query["code"].clone();

    let wrong = exchange(
        &app,
        &code,
        "not-the-verifier-not-the-verifier-not-the-verifier",
    )
    .await;
    assert_eq!(
        wrong.json::<Value>().await.unwrap()["error"],
        "invalid_grant"
    );
    let tokens: Value = exchange(&app, &code, VERIFIER).await.json().await.unwrap();
    let access = tokens["access_token"]
        .as_str()
        .expect("tokens for the right verifier");
    assert_eq!(
        app.get_with("/api/private-scoped", access).await.status(),
        200
    );

    // The ID token carries the nonce and describes the user.
    let id_token = tokens["id_token"].as_str().unwrap();
    let user: Value = app
        .get("/api/user")
        .bearer_auth(access)
        .header("x-id-token", id_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(user["source"], "id_token");
    assert_eq!(user["username"], "erin");
    assert_eq!(user["claims"]["nonce"], "n-0S6");

    let replay = exchange(&app, &code, VERIFIER).await;
    assert_eq!(
        replay.json::<Value>().await.unwrap()["error_description"],
        "the code was already used"
    );
}

#[tokio::test]
async fn the_implicit_flow_returns_the_token_in_the_fragment() {
    let app = TestApp::builder().local().spawn().await;
    sign_up(&app, "frank", "correct horse battery").await;
    let redirect_uri = format!("{}/docs/oauth2-redirect", app.base);
    let params = [
        ("response_type", "token"),
        ("client_id", WEB_CLIENT),
        ("redirect_uri", redirect_uri.as_str()),
        ("state", "s1"),
        ("scope", "read:messages"),
    ];
    let redirect = authorize(
        &app,
        &no_redirects(),
        &params,
        "frank",
        "correct horse battery",
    )
    .await;
    let location = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.query().is_none(), "no token in the query string");
    let fragment: std::collections::HashMap<_, _> =
        url::form_urlencoded::parse(location.fragment().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(fragment["state"], "s1");
    assert_eq!(fragment["token_type"], "Bearer");
    assert_eq!(
        app.get_with("/api/private-scoped", &fragment["access_token"])
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn the_login_page_refuses_bad_clients_redirects_and_forged_posts() {
    let app = TestApp::builder().local().spawn().await;
    sign_up(&app, "grace", "correct horse battery").await;
    let client = no_redirects();
    let unregistered = client
        .get(format!("{}/authorize", app.base))
        .query(&[
            ("response_type", "token"),
            ("client_id", WEB_CLIENT),
            ("redirect_uri", "https://evil.example/cb"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        unregistered.status(),
        400,
        "an unregistered redirect_uri is never redirected to"
    );
    assert!(unregistered.headers().get("location").is_none());

    let params = code_params(&app);
    let mut without_pkce = as_refs(&params);
    without_pkce.retain(|(k, _)| !k.starts_with("code_challenge"));
    let response = client
        .get(format!("{}/authorize", app.base))
        .query(&without_pkce)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(
        response.headers()["location"]
            .to_str()
            .unwrap()
            .contains("error=invalid_request")
    );

    let mut forged: Vec<(&str, &str)> = as_refs(&params);
    forged.extend([
        ("username", "grace"),
        ("password", "correct horse battery"),
        ("csrf", "guessed"),
    ]);
    let response = no_redirects()
        .post(format!("{}/authorize", app.base))
        .form(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "a post without the form's CSRF cookie is refused"
    );

    let wrong = authorize(&app, &client, &as_refs(&params), "grace", "wrong password").await;
    assert_eq!(wrong.status(), 401);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Invalid username or password")
    );
}

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
