//! The local login page: the code flow with PKCE, the implicit flow, and what the page refuses.

use serde_json::Value;

use crate::flows::{authorize, no_redirects, password_grant_request, sign_up};
use crate::helpers::TestApp;

/// The local issuer's client for Swagger UI and the browser session.
const WEB_CLIENT: &str = "protected-api-web";
/// RFC 7636 appendix B: a code verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// Trades `code` for tokens at `/oauth/token`, proving it with `verifier`.
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

/// `/authorize` parameters for the code flow with PKCE, as Swagger UI sends them.
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

/// `params` borrowed, as `reqwest` takes them.
fn as_refs<'a>(params: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    params.iter().map(|(k, v)| (*k, v.as_str())).collect()
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
    // RFC 9207: the answer names its issuer, as discovery promises.
    assert_eq!(query["iss"], app.base);
    let discovery: serde_json::Value = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["authorization_response_iss_parameter_supported"],
        true
    );
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
async fn a_code_exchange_refused_for_its_dpop_proof_leaves_the_code_usable() {
    let app = TestApp::builder().local().spawn().await;
    sign_up(&app, "fay", "correct horse battery").await;
    let client = no_redirects();
    let params = code_params(&app);
    let redirect = authorize(
        &app,
        &client,
        &as_refs(&params),
        "fay",
        "correct horse battery",
    )
    .await;
    let location = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .unwrap()
        .1
        .into_owned();
    let key = protected_api::dpop_proof::ProofKey::generate().unwrap();
    let token_url = app.url("/oauth/token");
    let redirect_uri = format!("{}/docs/oauth2-redirect", app.base);
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", redirect_uri.as_str()),
        ("client_id", WEB_CLIENT),
        ("code_verifier", VERIFIER),
    ];
    let exchange_with = |proof: String| {
        app.post("/oauth/token")
            .header("DPoP", proof)
            .form(&form)
            .send()
    };

    // A proof already used (here by a first exchange that failed for another reason would do too):
    // recorded by a password grant of the same account.
    let used = key.proof("POST", &token_url, None).unwrap();
    let password = password_grant_request(&app, "fay", "correct horse battery")
        .header("DPoP", &used)
        .send()
        .await
        .unwrap();
    assert_eq!(password.status(), 200);
    let replayed = exchange_with(used).await.unwrap();
    assert_eq!(replayed.status(), 400);
    let body: Value = replayed.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "{body}");

    let fresh = key.proof("POST", &token_url, None).unwrap();
    let response = exchange_with(fresh).await.unwrap();
    assert_eq!(
        response.status(),
        200,
        "the code was used up by the refused exchange"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "{body}");
}
