//! The local issuer with `[LOCAL] TOKEN_FORMAT = opaque`: random access tokens from every grant, kept
//! by hash, and `POST /oauth/introspect` (RFC 7662) answering for them and for its own JWTs.

use std::collections::HashMap;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use protected_api::auth::LOCAL_TOKEN_PREFIX;
use protected_api::testing::{
    AUDIENCE, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, MockIdp,
};
use serde_json::{Value, json};

use crate::flows::{authorize, no_redirects, password_grant, sign_up};
use crate::helpers::TestApp;

/// The local issuer's client for Swagger UI and the browser session.
const WEB_CLIENT: &str = "protected-api-web";
/// RFC 7636 appendix B: a code verifier and its S256 challenge.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PASSWORD: &str = "correct horse battery";

async fn opaque_app() -> TestApp {
    TestApp::builder()
        .local()
        .extra(&[("LOCAL_TOKEN_FORMAT", "opaque")])
        .spawn()
        .await
}

/// The local confidential client's id and secret.
fn client(app: &TestApp) -> (String, String) {
    let issuer = app.state.issuer.as_ref().unwrap();
    (
        issuer.client.client_id.clone(),
        issuer.client.client_secret.clone(),
    )
}

/// A `client_credentials` token granting `scope`.
async fn machine_token(app: &TestApp, scope: &str) -> String {
    let (id, secret) = client(app);
    let response = app
        .post("/oauth/token")
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials"), ("scope", scope)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    body["access_token"].as_str().unwrap().to_owned()
}

/// `POST /oauth/introspect` for `token`, authenticated as the local client with HTTP Basic.
async fn introspect(app: &TestApp, token: &str) -> reqwest::Response {
    let (id, secret) = client(app);
    app.post("/oauth/introspect")
        .basic_auth(&id, Some(&secret))
        .form(&[("token", token)])
        .send()
        .await
        .unwrap()
}

/// The introspection answer for `token`, which must be a 200 that is not cached.
async fn introspected(app: &TestApp, token: &str) -> Value {
    let response = introspect(app, token).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    response.json().await.unwrap()
}

/// The local issuer's prefix, then 256 random bits in base64url, and nothing a JWT parser would take
/// (no dots).
fn assert_opaque(token: &str, flow: &str) {
    let random = token
        .strip_prefix(LOCAL_TOKEN_PREFIX)
        .unwrap_or_else(|| panic!("{flow}: {token} lacks the local prefix"));
    assert_eq!(random.len(), 43, "{flow}: {token}");
    assert!(
        random
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{flow}: {token}"
    );
}

#[tokio::test]
async fn every_grant_and_the_implicit_flow_give_opaque_tokens_that_introspect_as_their_user() {
    let app = opaque_app().await;
    let (id, _) = client(&app);
    let account = sign_up(&app, "oona", PASSWORD).await;
    let sub = account["sub"].as_str().unwrap();

    let machine = machine_token(&app, "read:messages").await;
    assert_opaque(&machine, "client_credentials");
    assert_eq!(
        introspected(&app, &machine).await["sub"],
        format!("{id}@clients")
    );

    let response = password_grant(&app, "oona", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let password = body["access_token"].as_str().unwrap();
    assert_opaque(password, "password");
    assert_eq!(introspected(&app, password).await["sub"], sub);

    // The code flow with PKCE: an opaque access token, and an ID token that is still a JWT.
    let redirect_uri = format!("{}/docs/oauth2-redirect", app.base);
    let params = [
        ("response_type", "code"),
        ("client_id", WEB_CLIENT),
        ("redirect_uri", redirect_uri.as_str()),
        ("scope", "openid read:messages"),
        ("state", "xyz"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    let redirect = authorize(&app, &no_redirects(), &params, "oona", PASSWORD).await;
    let location = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let query: HashMap<_, _> = location.query_pairs().into_owned().collect();
    let exchanged = app
        .post("/oauth/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", query["code"].as_str()),
            ("redirect_uri", redirect_uri.as_str()),
            ("client_id", WEB_CLIENT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(exchanged.status(), 200);
    let tokens: Value = exchanged.json().await.unwrap();
    let code = tokens["access_token"].as_str().unwrap();
    assert_opaque(code, "authorization_code");
    assert_eq!(tokens["id_token"].as_str().unwrap().split('.').count(), 3);
    let claims = introspected(&app, code).await;
    assert_eq!(claims["sub"], sub);
    assert_eq!(claims["client_id"], WEB_CLIENT);

    let params = [
        ("response_type", "token"),
        ("client_id", WEB_CLIENT),
        ("redirect_uri", redirect_uri.as_str()),
        ("state", "s1"),
        ("scope", "read:messages"),
    ];
    let redirect = authorize(&app, &no_redirects(), &params, "oona", PASSWORD).await;
    let location = url::Url::parse(redirect.headers()["location"].to_str().unwrap()).unwrap();
    let fragment: HashMap<_, _> =
        url::form_urlencoded::parse(location.fragment().unwrap().as_bytes())
            .into_owned()
            .collect();
    assert_eq!(fragment["token_type"], "Bearer");
    assert_eq!(fragment["expires_in"], "3600");
    assert_opaque(&fragment["access_token"], "implicit");
    assert_eq!(
        introspected(&app, &fragment["access_token"]).await["sub"],
        sub
    );
}

#[tokio::test]
async fn a_live_token_introspects_as_the_claims_a_jwt_would_carry() {
    let app = opaque_app().await;
    let (id, secret) = client(&app);
    let token = machine_token(&app, "read:messages read:admin").await;
    // client_secret_post, and a hint the server does not know (RFC 7662 §2.1: ignored).
    let response = app
        .post("/oauth/introspect")
        .form(&[
            ("token", token.as_str()),
            ("token_type_hint", "something_else"),
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let claims: Value = response.json().await.unwrap();
    assert_eq!(claims["active"], true);
    assert_eq!(claims["token_type"], "Bearer");
    assert_eq!(claims["iss"], app.base.as_str());
    assert_eq!(claims["aud"], "protected-api");
    assert_eq!(claims["sub"], format!("{id}@clients"));
    assert_eq!(claims["client_id"], id.as_str());
    assert_eq!(claims["scope"], "read:messages read:admin");
    assert_eq!(
        claims["permissions"],
        json!(["read:messages", "read:admin"])
    );
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["jti"].as_str().unwrap().len(), 43);
    let (iat, exp) = (
        claims["iat"].as_u64().unwrap(),
        claims["exp"].as_u64().unwrap(),
    );
    assert_eq!(exp - iat, 3600);
}

#[tokio::test]
async fn anything_but_a_live_token_of_this_issuer_is_inactive_and_never_an_error() {
    let app = opaque_app().await;
    let issuer = app.state.issuer.as_ref().unwrap();
    let other_issuer = protected_api::testing::MockIdp::start().await;
    let foreign_jwt = other_issuer.token().scope("read:messages").sign();
    let id_token = issuer
        .issuer
        .mint_id_token("local|ada", &serde_json::Map::new(), None)
        .unwrap();
    let huge = "a".repeat(10_000);
    let cases = [
        ("unknown", "Gq2wPzDkXnL0vRb7sT4yUe9iFo1aHc3jMd5kNl8pQr6"),
        ("empty", ""),
        ("garbage", "%%% not a token \u{1F600}"),
        ("huge", huge.as_str()),
        ("dotted", "a.b.c"),
        ("another issuer's JWT", foreign_jwt.as_str()),
        ("this issuer's ID token", id_token.as_str()),
    ];
    for (case, token) in cases {
        assert_eq!(
            introspected(&app, token).await,
            json!({"active": false}),
            "{case}"
        );
    }
}

#[tokio::test]
async fn a_token_is_inactive_once_it_expires() {
    let app = TestApp::builder()
        .local()
        .extra(&[("LOCAL_TOKEN_FORMAT", "opaque"), ("LOCAL_TOKEN_TTL", "1")])
        .spawn()
        .await;
    let (id, secret) = client(&app);
    let response = app
        .post("/oauth/token")
        .basic_auth(&id, Some(&secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(introspected(&app, &token).await["active"], true);
    // `exp` is whole seconds, one after `iat`: two seconds on, it has passed whenever it was issued.
    // No token is issued meanwhile, so its row is still there: the lookup itself must refuse it.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(introspected(&app, &token).await, json!({"active": false}));
}

#[tokio::test]
async fn the_issuers_own_jwt_access_tokens_introspect_too() {
    let app = TestApp::builder().local().spawn().await;
    let token = machine_token(&app, "read:messages").await;
    assert_eq!(token.split('.').count(), 3, "the default format is JWT");
    let claims = introspected(&app, &token).await;
    assert_eq!(claims["active"], true);
    assert_eq!(claims["token_type"], "Bearer");
    assert_eq!(claims["scope"], "read:messages");
    assert_eq!(claims["iss"], app.base.as_str());
}

#[tokio::test]
async fn introspection_needs_the_local_clients_credentials_and_a_token() {
    let app = opaque_app().await;
    let (id, secret) = client(&app);
    let token = machine_token(&app, "read:messages").await;
    let attempts = [
        (
            "none",
            app.post("/oauth/introspect").form(&[("token", &token)]),
        ),
        (
            "wrong basic",
            app.post("/oauth/introspect")
                .basic_auth(&id, Some("wrong"))
                .form(&[("token", &token)]),
        ),
        (
            "wrong post",
            app.post("/oauth/introspect").form(&[
                ("token", token.as_str()),
                ("client_id", id.as_str()),
                ("client_secret", "wrong"),
            ]),
        ),
        (
            "another client",
            app.post("/oauth/introspect")
                .basic_auth(WEB_CLIENT, Some(&secret))
                .form(&[("token", &token)]),
        ),
    ];
    for (case, request) in attempts {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "{case}");
        assert_eq!(
            response.headers()["www-authenticate"],
            r#"Basic realm="protected-api""#,
            "{case}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_client", "{case}");
        assert!(!body.to_string().contains(&token), "{case}: token echoed");
    }
    let without_token = app
        .post("/oauth/introspect")
        .basic_auth(&id, Some(&secret))
        .form(&[("token_type_hint", "access_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(without_token.status(), 400);
    assert_eq!(
        without_token.json::<Value>().await.unwrap()["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn fifty_concurrent_introspections_of_distinct_tokens_each_answer_their_own() {
    let app = opaque_app().await;
    let scopes: Vec<String> = (0..50).map(|n| format!("scope:{n}")).collect();
    let tokens = join_all(scopes.iter().map(|scope| machine_token(&app, scope))).await;
    let answers = join_all(tokens.iter().map(|token| introspected(&app, token))).await;
    for (scope, answer) in scopes.iter().zip(answers) {
        assert_eq!(answer["active"], true, "{scope}");
        assert_eq!(answer["scope"], scope.as_str());
    }
}

#[tokio::test]
async fn the_database_keeps_a_hash_of_each_token_never_the_token() {
    let app = opaque_app().await;
    sign_up(&app, "pia", PASSWORD).await;
    let mut tokens = vec![machine_token(&app, "read:messages").await];
    let response = password_grant(&app, "pia", PASSWORD).await;
    tokens.push(
        response.json::<Value>().await.unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    // SQLite in WAL mode: fresh rows are in `-wal` until a checkpoint, so read both files.
    let data_dir = &app.state.settings.local.data_dir;
    let mut stored = Vec::new();
    for name in ["accounts.db", "accounts.db-wal"] {
        if let Ok(bytes) = std::fs::read(data_dir.join(name)) {
            stored.extend(bytes);
        }
    }
    let contains = |needle: &[u8]| stored.windows(needle.len()).any(|window| window == needle);
    for token in &tokens {
        assert!(
            !contains(token.as_bytes()),
            "the raw token is in the database"
        );
        // The check reads where the rows are: the token's SHA-256 is found there.
        let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        assert!(
            contains(hash.as_ref()),
            "the token's hash is not where rows are"
        );
    }
}

#[tokio::test]
async fn discovery_and_the_openapi_document_publish_the_introspection_endpoint() {
    let app = opaque_app().await;
    let discovery: Value = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["introspection_endpoint"],
        format!("{}/oauth/introspect", app.base)
    );
    assert_eq!(
        discovery["introspection_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
    let openapi: Value = app.get_json("/openapi.json").await;
    let operation = &openapi["paths"]["/oauth/introspect"]["post"];
    assert_eq!(operation["tags"], json!(["local issuer"]));
    for status in ["200", "400", "401"] {
        assert!(operation["responses"][status].is_object(), "{status}");
    }
}

#[test]
fn an_unknown_token_format_stops_the_start_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_protected-api"))
        .env_clear()
        .env("LOCAL_DATA_DIR", dir.path())
        .env("LOCAL_TOKEN_FORMAT", "bogus")
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A service that started anyway would serve until killed: give it 30 s, then stop it and fail.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(
        status.and_then(|status| status.code()),
        Some(2),
        "exit 2 at start"
    );
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains(r#"[LOCAL] TOKEN_FORMAT: expected jwt or opaque, got "bogus""#),
        "{stderr}"
    );
}

#[test]
fn the_token_command_prints_an_opaque_token_the_service_knows() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let output = Command::new(env!("CARGO_BIN_EXE_protected-api"))
        .args(["token", "--scope", "read:messages", "--sub", "alice"])
        .env("LOCAL_DATA_DIR", &data_dir)
        .env("LOCAL_TOKEN_FORMAT", "opaque")
        .env("SERVER_PUBLIC_URL", "http://127.0.0.1:8000")
        .current_dir(data.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_owned();
    assert_opaque(&token, "token command");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let app = TestApp::builder()
            .local()
            .extra(&[
                ("LOCAL_DATA_DIR", data_dir.as_str()),
                ("LOCAL_TOKEN_FORMAT", "opaque"),
                ("SERVER_PUBLIC_URL", "http://127.0.0.1:8000"),
            ])
            .spawn()
            .await;
        let claims = introspected(&app, &token).await;
        assert_eq!(claims["active"], true);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["scope"], "read:messages");
    });
}

#[tokio::test]
async fn the_api_accepts_the_local_issuers_opaque_tokens_with_their_grants() {
    let app = opaque_app().await;
    let scoped = machine_token(&app, "read:messages").await;
    let admin = machine_token(&app, "read:admin").await;
    assert_opaque(&scoped, "client_credentials");

    let private = app.get_with("/api/private", &scoped).await;
    assert_eq!(private.status(), 200);
    let body: Value = private.json().await.unwrap();
    let (client_id, _) = client(&app);
    assert_eq!(body["claims"]["iss"], app.url("").trim_end_matches('/'));
    assert_eq!(body["claims"]["client_id"], client_id.as_str());
    assert_eq!(body["claims"]["active"], true);

    assert_eq!(
        app.get_with("/api/private-scoped", &scoped).await.status(),
        200
    );
    assert_eq!(
        app.get_with("/api/private-scoped", &admin).await.status(),
        403
    );
    assert_eq!(app.get_with("/api/admin", &admin).await.status(), 200);
    assert_eq!(app.get_with("/api/admin", &scoped).await.status(), 403);
    let optional: Value = app
        .get_with("/api/optional", &scoped)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(optional["authenticated"], true);

    // A made-up token of the same shape is looked up, found nowhere, and refused.
    let made_up = format!("{LOCAL_TOKEN_PREFIX}{}", "A".repeat(43));
    let made_up = app.get_with("/api/private", &made_up).await;
    crate::helpers::assert_invalid_token(made_up, "not active").await;
}

#[tokio::test]
async fn with_local_and_oidc_each_opaque_token_goes_to_its_own_issuer_only() {
    let idp = MockIdp::start().await;
    let app = TestApp::builder()
        .local()
        .extra(&[
            ("AUTH_PROVIDER", "local, oidc"),
            ("OIDC_ISSUER", idp.issuer()),
            ("OIDC_AUDIENCE", AUDIENCE),
            ("OIDC_INTROSPECTION_CLIENT_ID", INTROSPECTION_CLIENT_ID),
            (
                "OIDC_INTROSPECTION_CLIENT_SECRET",
                INTROSPECTION_CLIENT_SECRET,
            ),
            ("LOCAL_TOKEN_FORMAT", "opaque"),
        ])
        .spawn()
        .await;

    // The local issuer's token is looked up locally and never shown to the IdP.
    let local = machine_token(&app, "read:messages").await;
    assert_eq!(app.get_with("/api/private", &local).await.status(), 200);
    let made_up = format!("{LOCAL_TOKEN_PREFIX}{}", "A".repeat(43));
    let response = app.get_with("/api/private", &made_up).await;
    crate::helpers::assert_invalid_token(response, "not active").await;
    assert_eq!(idp.introspection_calls(), 0);

    // The IdP's opaque token is introspected there, not looked up in the local store.
    let remote = idp.opaque_token(json!({
        "active": true,
        "iss": idp.issuer(),
        "aud": AUDIENCE,
        "sub": "machine-1",
        "exp": jsonwebtoken::get_current_timestamp() + 600,
    }));
    let body: Value = app
        .get_with("/api/private", &remote)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["claims"]["iss"], idp.issuer(), "{body}");
    assert_eq!(idp.introspection_calls(), 1);
}
