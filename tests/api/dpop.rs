//! DPoP (RFC 9449) at the HTTP level: bound tokens with fresh proofs, every check of §4.3 refusing
//! what it should, replays (at once and across replicas), downgrades, `[AUTH] DPOP` and the
//! challenges.

use axum::Router;
use axum::extract::FromRef;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use jsonwebtoken::get_current_timestamp;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use protected_api::auth::dpop::{ProofQuotas, access_token_hash};
use protected_api::auth::{Claims, DpopVerifier, Verifier};
use protected_api::testing::TestKey;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestAppBuilder, assert_invalid_token, www_authenticate};

/// A client holding a P-256 key: it makes DPoP proofs, and tokens get bound to its key.
struct Client {
    key: TestKey,
}

impl Client {
    fn new() -> Self {
        Self::with_key("client")
    }

    /// A client whose key is told apart by `kid`.
    fn with_key(kid: &str) -> Self {
        Self {
            key: TestKey::ec_p256(kid),
        }
    }

    /// The RFC 7638 thumbprint of the client's public key: the `cnf.jkt` of its tokens.
    fn jkt(&self) -> String {
        let jwk: Jwk = serde_json::from_value(self.key.jwk()).unwrap();
        jwk.thumbprint(ThumbprintHash::SHA256).unwrap()
    }

    /// A token from `app`'s IdP bound to this client's key.
    fn bound_token(&self, app: &TestApp) -> String {
        app.idp()
            .token()
            .scope("read:messages")
            .claim("cnf", json!({ "jkt": self.jkt() }))
            .sign()
    }

    /// A token from `app`'s IdP for the subject `sub`, bound to this client's key.
    fn bound_token_of(&self, app: &TestApp, sub: &str) -> String {
        app.idp()
            .token()
            .subject(sub)
            .claim("cnf", json!({ "jkt": self.jkt() }))
            .sign()
    }

    fn header(&self) -> Value {
        json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.key.jwk() })
    }

    /// The claims of a fresh proof for `method` `path` (under the app's PUBLIC_URL) with `token`.
    fn claims(app: &TestApp, method: &str, path: &str, token: &str) -> Value {
        json!({
            "htm": method,
            "htu": format!("{}{path}", app.state.settings.server.public_base()),
            "iat": get_current_timestamp(),
            "jti": URL_SAFE_NO_PAD.encode(protected_api::auth::random_bytes::<16>().unwrap()),
            "ath": access_token_hash(token),
        })
    }

    /// A fresh, valid proof for a GET of `path` with `token`.
    fn proof(&self, app: &TestApp, path: &str, token: &str) -> String {
        self.sign(&self.header(), &Self::claims(app, "GET", path, token))
    }

    /// A proof for a GET of `path` with `token`, after `change` to its header and claims.
    fn proof_with(
        &self,
        app: &TestApp,
        path: &str,
        token: &str,
        change: impl FnOnce(&mut Value, &mut Value),
    ) -> String {
        let (mut header, mut claims) = (self.header(), Self::claims(app, "GET", path, token));
        change(&mut header, &mut claims);
        self.sign(&header, &claims)
    }

    /// `header.claims` signed with this client's key.
    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        format!("{input}.{}", self.key.sign(input.as_bytes()))
    }
}

/// GET `path` with `Authorization: DPoP token` and the `DPoP` proof.
async fn dpop_get(app: &TestApp, path: &str, token: &str, proof: &str) -> reqwest::Response {
    app.get(path)
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", proof)
        .send()
        .await
        .unwrap()
}

/// Every `WWW-Authenticate` field of `response`.
fn challenges(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all("www-authenticate")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

/// Asserts a 401 whose one challenge is `DPoP` with `code`, and whose body's description contains
/// `expected_description`; returns that description.
async fn assert_dpop_refusal(
    response: reqwest::Response,
    code: &str,
    expected_description: &str,
) -> String {
    assert_eq!(response.status(), 401);
    let challenges = challenges(&response);
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    let challenge = &challenges[0];
    assert!(challenge.starts_with("DPoP algs=\"ES256 "), "{challenge}");
    assert!(
        challenge.contains(&format!("error=\"{code}\"")),
        "{challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains(expected_description), "{body}");
    description.to_owned()
}

#[tokio::test]
async fn a_bound_token_with_a_fresh_proof_is_accepted_and_its_scope_checked() {
    let app = TestApp::builder().spawn().await;
    let client = Client::new();
    let token = client.bound_token(&app);
    for path in ["/api/private", "/api/private-scoped", "/api/optional"] {
        let response = dpop_get(&app, path, &token, &client.proof(&app, path, &token)).await;
        assert_eq!(response.status(), 200, "{path}");
    }
    let body: Value = dpop_get(
        &app,
        "/api/optional",
        &token,
        &client.proof(&app, "/api/optional", &token),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(body["authenticated"], true);
    // The scheme name is case-insensitive, like Bearer's (RFC 9110 §11.1).
    let response = app
        .get("/api/private")
        .header("authorization", format!("dpop {token}"))
        .header("dpop", client.proof(&app, "/api/private", &token))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn each_proof_check_of_rfc_9449_refuses_with_invalid_dpop_proof() {
    let app = TestApp::builder().spawn().await;
    let client = Client::new();
    let token = client.bound_token(&app);
    let path = "/api/private";
    let public = app.state.settings.server.public_base();
    type Change = Box<dyn FnOnce(&mut Value, &mut Value)>;
    // What is changed, the description expected, and the change.
    let cases: Vec<(&str, &str, Change)> = vec![
        (
            "typ",
            "typ must be dpop+jwt",
            Box::new(|h, _| h["typ"] = json!("JWT")),
        ),
        (
            "asymmetric alg",
            "algorithm is not supported",
            Box::new(|h, _| h["alg"] = json!("HS256")),
        ),
        (
            "alg none",
            "algorithm is not supported",
            Box::new(|h, _| h["alg"] = json!("none")),
        ),
        (
            "private jwk",
            "must not contain a private key",
            Box::new(|h, _| h["jwk"]["d"] = json!("AAAA")),
        ),
        (
            "oct jwk",
            "must not contain a private key",
            Box::new(|h, _| h["jwk"] = json!({"kty": "oct", "k": "AAAA"})),
        ),
        (
            "htm",
            "htm does not match",
            Box::new(|_, c| c["htm"] = json!("POST")),
        ),
        ("htu path", "htu does not match", {
            let htu = format!("{public}/api/admin");
            Box::new(move |_, c| c["htu"] = json!(htu))
        }),
        ("htu scheme", "htu does not match", {
            let htu = format!("{}{path}", public.replacen("http:", "https:", 1));
            Box::new(move |_, c| c["htu"] = json!(htu))
        }),
        (
            "iat old",
            "too old",
            Box::new(|_, c| c["iat"] = json!(get_current_timestamp() - 120)),
        ),
        (
            "iat future",
            "in the future",
            Box::new(|_, c| c["iat"] = json!(get_current_timestamp() + 120)),
        ),
        (
            "jti",
            "htm, htu, iat and jti are required",
            Box::new(|_, c| {
                c.as_object_mut().unwrap().remove("jti");
            }),
        ),
        (
            "ath",
            "ath does not match",
            Box::new(|_, c| c["ath"] = json!(access_token_hash("another token"))),
        ),
    ];
    for (check, expected_description, change) in cases {
        let proof = client.proof_with(&app, path, &token, change);
        let response = dpop_get(&app, path, &token, &proof).await;
        let description =
            assert_dpop_refusal(response, "invalid_dpop_proof", expected_description).await;
        assert!(
            !description.contains(&proof),
            "{check}: the proof is never echoed"
        );
    }
    // Signed by another key than the one it presents.
    let other = Client::new();
    let forged = other.sign(&client.header(), &Client::claims(&app, "GET", path, &token));
    let response = dpop_get(&app, path, &token, &forged).await;
    assert_dpop_refusal(response, "invalid_dpop_proof", "signature").await;
    // htu: the host case, the default port, a query and a fragment do not matter.
    let loud = public.replacen("http://", "HTTP://", 1);
    let proof = client.proof_with(&app, path, &token, |_, c| {
        c["htu"] = json!(format!("{loud}{path}?page=2#top"));
    });
    assert_eq!(dpop_get(&app, path, &token, &proof).await.status(), 200);
}

#[tokio::test]
async fn the_token_must_be_bound_to_the_proofs_key() {
    let app = TestApp::builder().spawn().await;
    let (client, thief) = (Client::new(), Client::new());
    let token = client.bound_token(&app);
    // A stolen bound token with the thief's own valid proof.
    let proof = thief.proof(&app, "/api/private", &token);
    assert_dpop_refusal(
        dpop_get(&app, "/api/private", &token, &proof).await,
        "invalid_token",
        "cnf.jkt",
    )
    .await;
    // A token bound to nothing, under the DPoP scheme.
    let unbound = app.idp().token().sign();
    let proof = client.proof(&app, "/api/private", &unbound);
    assert_dpop_refusal(
        dpop_get(&app, "/api/private", &unbound, &proof).await,
        "invalid_token",
        "not DPoP-bound",
    )
    .await;
}

#[tokio::test]
async fn a_replayed_proof_is_refused() {
    let app = TestApp::builder().spawn().await;
    let client = Client::new();
    let token = client.bound_token(&app);
    let proof = client.proof(&app, "/api/private", &token);
    assert_eq!(
        dpop_get(&app, "/api/private", &token, &proof)
            .await
            .status(),
        200
    );
    assert_dpop_refusal(
        dpop_get(&app, "/api/private", &token, &proof).await,
        "invalid_dpop_proof",
        "already been used",
    )
    .await;
}

#[tokio::test]
async fn fifty_concurrent_replays_of_one_proof_let_exactly_one_through() {
    let app = TestApp::builder().spawn().await;
    let client = Client::new();
    let token = client.bound_token(&app);
    let proof = client.proof(&app, "/api/private", &token);
    let statuses: Vec<u16> = join_all((0..50).map(|_| async {
        dpop_get(&app, "/api/private", &token, &proof)
            .await
            .status()
            .as_u16()
    }))
    .await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 401).count(),
        49,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn two_proof_headers_a_proof_without_a_token_and_a_token_without_a_proof_are_refused() {
    let app = TestApp::builder().spawn().await;
    let client = Client::new();
    let token = client.bound_token(&app);
    let (one, two) = (
        client.proof(&app, "/api/private", &token),
        client.proof(&app, "/api/private", &token),
    );
    let response = app
        .get("/api/private")
        .header("authorization", format!("DPoP {token}"))
        .header("dpop", &one)
        .header("dpop", &two)
        .send()
        .await
        .unwrap();
    assert_dpop_refusal(response, "invalid_dpop_proof", "more than one").await;

    let response = app
        .get("/api/private")
        .header("dpop", &one)
        .send()
        .await
        .unwrap();
    assert_dpop_refusal(response, "invalid_dpop_proof", "without an access token").await;

    let response = app
        .get("/api/private")
        .header("authorization", format!("DPoP {token}"))
        .send()
        .await
        .unwrap();
    assert_dpop_refusal(response, "invalid_dpop_proof", "missing DPoP proof").await;

    let response = dpop_get(&app, "/api/private", &token, &"a".repeat(5000)).await;
    assert_dpop_refusal(response, "invalid_dpop_proof", "too large").await;

    let response = app
        .get("/api/private")
        .header("authorization", "DPoP ")
        .header("dpop", &one)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(www_authenticate(&response).starts_with("DPoP algs="));
}

#[tokio::test]
async fn a_bound_token_sent_as_bearer_is_refused() {
    let app = TestApp::builder().spawn().await;
    let client = Client::new();
    let token = client.bound_token(&app);
    // Used rightly first, so its verification is cached: the binding must come with the cache hit.
    let proof = client.proof(&app, "/api/private", &token);
    assert_eq!(
        dpop_get(&app, "/api/private", &token, &proof)
            .await
            .status(),
        200
    );
    let response = app.get_with("/api/private", &token).await;
    assert_eq!(response.status(), 401);
    assert!(www_authenticate(&response).starts_with("Bearer realm="));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("DPoP-bound")
    );
    // An unbound token is still a bearer token.
    let unbound = app.idp().token().sign();
    assert_eq!(app.get_with("/api/private", &unbound).await.status(), 200);
}

#[tokio::test]
async fn token_failures_under_the_dpop_scheme_use_the_dpop_challenge() {
    let app = TestApp::builder().spawn().await;
    let client = Client::new();
    let expired = app
        .idp()
        .token()
        .claim("cnf", json!({ "jkt": client.jkt() }))
        .expired_for(std::time::Duration::from_secs(600))
        .sign();
    let proof = client.proof(&app, "/api/private", &expired);
    assert_dpop_refusal(
        dpop_get(&app, "/api/private", &expired, &proof).await,
        "invalid_token",
        "expired",
    )
    .await;

    // A valid bound token without the scope: 403 insufficient_scope, with the DPoP challenge.
    let token = app
        .idp()
        .token()
        .claim("cnf", json!({ "jkt": client.jkt() }))
        .sign();
    let proof = client.proof(&app, "/api/private-scoped", &token);
    let response = dpop_get(&app, "/api/private-scoped", &token, &proof).await;
    assert_eq!(response.status(), 403);
    let challenge = www_authenticate(&response);
    assert!(challenge.starts_with("DPoP algs="), "{challenge}");
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn no_credentials_get_one_challenge_per_accepted_scheme() {
    for (mode, expected) in [
        ("allowed", &["Bearer realm=", "DPoP algs="][..]),
        ("required", &["DPoP algs="][..]),
        ("off", &["Bearer realm="][..]),
    ] {
        let app = TestApp::builder()
            .extra(&[("AUTH_DPOP", mode)])
            .spawn()
            .await;
        let response = app.get("/api/private").send().await.unwrap();
        assert_eq!(response.status(), 401);
        let challenges = challenges(&response);
        assert_eq!(challenges.len(), expected.len(), "{mode}: {challenges:?}");
        for (challenge, start) in challenges.iter().zip(expected) {
            assert!(challenge.starts_with(start), "{mode}: {challenge}");
            assert!(!challenge.contains("error="), "{mode}: {challenge}");
            assert!(
                challenge.contains("resource_metadata="),
                "{mode}: {challenge}"
            );
        }
    }
}

#[tokio::test]
async fn with_dpop_required_bearer_credentials_are_refused() {
    let app = TestApp::builder()
        .extra(&[("AUTH_DPOP", "required")])
        .spawn()
        .await;
    let unbound = app.idp().token().sign();
    assert_dpop_refusal(
        app.get_with("/api/private", &unbound).await,
        "invalid_token",
        "DPoP is required",
    )
    .await;
    let client = Client::new();
    let token = client.bound_token(&app);
    let proof = client.proof(&app, "/api/private", &token);
    assert_eq!(
        dpop_get(&app, "/api/private", &token, &proof)
            .await
            .status(),
        200
    );
}

#[cfg(feature = "sessions")]
#[tokio::test]
async fn with_dpop_required_the_session_cookie_is_refused_too() {
    let app = TestApp::builder()
        .extra(&[("AUTH_DPOP", "required")])
        .spawn()
        .await;
    let unbound = app.idp().token().sign();
    let response = app
        .get("/api/private")
        .header("cookie", format!("session={unbound}"))
        .send()
        .await
        .unwrap();
    assert_dpop_refusal(response, "invalid_token", "DPoP is required").await;
}

#[tokio::test]
async fn with_dpop_off_the_dpop_scheme_is_unknown_credentials() {
    let app = TestApp::builder()
        .extra(&[("AUTH_DPOP", "off")])
        .spawn()
        .await;
    let client = Client::new();
    let token = client.bound_token(&app);
    let proof = client.proof(&app, "/api/private", &token);
    let response = dpop_get(&app, "/api/private", &token, &proof).await;
    assert_eq!(response.status(), 401);
    let challenges = challenges(&response);
    assert_eq!(challenges.len(), 1, "{challenges:?}");
    assert!(challenges[0].starts_with(r#"Bearer realm="protected-api""#));
    assert!(!challenges[0].contains("error="), "{challenges:?}");
    // And the DPoP header alone is ignored, not an error.
    let unbound = app.idp().token().sign();
    let response = app
        .get("/api/private")
        .bearer_auth(&unbound)
        .header("dpop", &proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn behind_a_proxy_htu_is_checked_against_public_url_not_the_host_header() {
    let app = TestApp::builder()
        .extra(&[("SERVER_PUBLIC_URL", "https://api.example.com")])
        .spawn()
        .await;
    let client = Client::new();
    let token = client.bound_token(&app);
    let proof = client.proof(&app, "/api/private", &token);
    assert!(proof.len() > 10);
    assert_eq!(
        dpop_get(&app, "/api/private", &token, &proof)
            .await
            .status(),
        200
    );
    // A proof for the address the request physically went to is not for the public URL.
    let local = client.proof_with(&app, "/api/private", &token, |_, c| {
        c["htu"] = json!(app.url("/api/private"));
    });
    assert_dpop_refusal(
        dpop_get(&app, "/api/private", &token, &local).await,
        "invalid_dpop_proof",
        "htu does not match",
    )
    .await;
}

#[tokio::test]
async fn the_resource_metadata_tells_clients_about_dpop() {
    for (mode, algs, required) in [
        ("allowed", true, false),
        ("required", true, true),
        ("off", false, false),
    ] {
        let app = TestApp::builder()
            .extra(&[("AUTH_DPOP", mode)])
            .spawn()
            .await;
        let metadata: Value = app.get_json("/.well-known/oauth-protected-resource").await;
        assert_eq!(
            metadata["dpop_bound_access_tokens_required"], required,
            "{mode}"
        );
        let supported = &metadata["dpop_signing_alg_values_supported"];
        if algs {
            assert_eq!(supported[0], "ES256", "{mode}: {metadata}");
            assert!(
                !supported
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|alg| alg.as_str().unwrap().starts_with("HS"))
            );
        } else {
            assert!(supported.is_null(), "{mode}: {metadata}");
        }
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn two_replicas_sharing_redis_refuse_a_proof_the_other_accepted() {
    let Some(redis) = crate::redis_cache::RedisServer::start() else {
        return;
    };
    let first = TestApp::builder()
        .extra(&[("CACHE_URL", &redis.url())])
        .spawn()
        .await;
    let second = TestApp::builder().replica_of(&first).spawn().await;
    let client = Client::new();
    let token = client.bound_token(&first);
    // Each replica gives Redis 250 ms before going on with its own store; a loaded machine can miss
    // that once. So: up to three proofs, each used at the first replica and replayed at the second;
    // sharing works when the second refused one. Without Redis every replay is accepted.
    let mut refused = false;
    for _ in 0..3 {
        let proof = client.proof(&first, "/api/private", &token);
        assert_eq!(
            dpop_get(&first, "/api/private", &token, &proof)
                .await
                .status(),
            200
        );
        if dpop_get(&second, "/api/private", &token, &proof)
            .await
            .status()
            == 401
        {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    }
    assert!(
        refused,
        "the second replica refused a proof the first accepted"
    );
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_dead_redis_leaves_replays_to_each_replicas_own_store_not_an_outage() {
    // Nothing listens there.
    let url = format!("redis://127.0.0.1:{}/0", crate::helpers::free_port());
    let app = TestApp::builder()
        .extra(&[("CACHE_URL", &url)])
        .spawn()
        .await;
    let client = Client::new();
    let token = client.bound_token(&app);
    let proof = client.proof(&app, "/api/private", &token);
    assert_eq!(
        dpop_get(&app, "/api/private", &token, &proof)
            .await
            .status(),
        200
    );
    assert_dpop_refusal(
        dpop_get(&app, "/api/private", &token, &proof).await,
        "invalid_dpop_proof",
        "already been used",
    )
    .await;
}

#[tokio::test]
async fn a_browser_client_may_send_its_proof_cross_origin() {
    let app = TestApp::builder()
        .extra(&[("SERVER_CORS_ORIGINS", "http://localhost:3000")])
        .spawn()
        .await;
    let preflight = app
        .http
        .request(reqwest::Method::OPTIONS, app.url("/api/private"))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization,dpop")
        .send()
        .await
        .unwrap();
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("dpop"), "{allowed}");
}

#[tokio::test]
async fn the_openapi_description_explains_how_to_call_with_dpop() {
    let app = TestApp::builder().spawn().await;
    let doc: Value = app.get_json("/openapi.json").await;
    let description = doc["info"]["description"].as_str().unwrap();
    for needle in [
        "Authorization: DPoP <token>",
        "`DPoP` header",
        "ath",
        "htu",
        "429 `too_many_requests`",
    ] {
        assert!(description.contains(needle), "{needle}: {description}");
    }
    let user = doc["paths"]["/api/user"]["get"]["description"]
        .as_str()
        .unwrap();
    assert!(user.contains("DPoP-bound access token"), "{user}");
}

/// The state of a route whose DPoP verifier has small quotas: filled in once the app is up, since
/// the verifier needs the app's PUBLIC_URL.
#[derive(Clone, Default)]
struct QuotaState(std::sync::Arc<std::sync::OnceLock<(Verifier, DpopVerifier)>>);

impl FromRef<QuotaState> for Verifier {
    fn from_ref(state: &QuotaState) -> Self {
        state.0.get().unwrap().0.clone()
    }
}

impl FromRef<QuotaState> for DpopVerifier {
    fn from_ref(state: &QuotaState) -> Self {
        state.0.get().unwrap().1.clone()
    }
}

/// The app `builder` makes, whose `/api/quota` checks DPoP proofs with `quotas` instead of the
/// service's.
async fn app_with_quotas(builder: TestAppBuilder, quotas: ProofQuotas) -> TestApp {
    let state = QuotaState::default();
    let routes = Router::new()
        .route("/api/quota", get(|_: Claims| async { "ok" }))
        .with_state(state.clone());
    let app = builder.routes(routes).spawn().await;
    let verifier = DpopVerifier::with_quotas(&app.state.settings, quotas).unwrap();
    assert!(state.0.set((app.state.verifier.clone(), verifier)).is_ok());
    app
}

/// Two replicas sharing `redis`, each recording at most `quota` proofs per key and per subject.
#[cfg(feature = "redis")]
async fn replicas_with_quotas(
    redis: &crate::redis_cache::RedisServer,
    quota: u32,
) -> (TestApp, TestApp) {
    let quotas = ProofQuotas {
        per_key: quota,
        per_subject: quota,
    };
    let with_redis = TestApp::builder().extra(&[("CACHE_URL", &redis.url())]);
    let first = app_with_quotas(with_redis, quotas).await;
    let second = app_with_quotas(TestApp::builder().replica_of(&first), quotas).await;
    (first, second)
}

/// Asserts a 429 `too_many_requests` with a `Retry-After` within the proof window and a description
/// containing `expected_description`.
async fn assert_too_many_proofs(response: reqwest::Response, expected_description: &str) {
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=200).contains(&retry_after), "{retry_after}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests", "{body}");
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains(expected_description), "{body}");
}

#[tokio::test]
async fn a_key_over_its_proof_quota_gets_429_while_other_keys_keep_working() {
    const QUOTA: u32 = 5;
    let quotas = ProofQuotas {
        per_key: QUOTA,
        ..ProofQuotas::default()
    };
    let app = app_with_quotas(TestApp::builder(), quotas).await;
    let (greedy, other) = (Client::new(), Client::with_key("other"));
    let (greedy_token, other_token) = (greedy.bound_token(&app), other.bound_token(&app));
    // The greedy client sends twice its quota at once: exactly the quota gets through.
    let responses = join_all((0..2 * QUOTA).map(|_| {
        let proof = greedy.proof(&app, "/api/quota", &greedy_token);
        let (app, token) = (&app, &greedy_token);
        async move { dpop_get(app, "/api/quota", token, &proof).await }
    }))
    .await;
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    assert_eq!(ok, QUOTA as usize);
    for response in responses.into_iter().filter(|r| r.status() != 200) {
        assert_too_many_proofs(response, "too many proofs for this key").await;
    }
    // Another key is untouched by the first one's quota.
    let proof = other.proof(&app, "/api/quota", &other_token);
    assert_eq!(
        dpop_get(&app, "/api/quota", &other_token, &proof)
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn many_keys_of_one_subject_share_its_proof_quota_while_other_subjects_keep_working() {
    const PER_SUBJECT: u32 = 6;
    const KEYS: u32 = 4;
    // Each key alone stays within its own quota; together they send twice the subject's.
    let quotas = ProofQuotas {
        per_key: PER_SUBJECT,
        per_subject: PER_SUBJECT,
    };
    let app = app_with_quotas(TestApp::builder(), quotas).await;
    let bound = |client: &Client, sub: &str| client.bound_token_of(&app, sub);
    let keys: Vec<(Client, String)> = (0..KEYS)
        .map(|n| {
            let client = Client::with_key(&format!("mallory-{n}"));
            let token = bound(&client, "mallory");
            (client, token)
        })
        .collect();
    let requests = keys
        .iter()
        .flat_map(|(client, token)| (0..2 * PER_SUBJECT / KEYS + 1).map(move |_| (client, token)));
    let responses = join_all(requests.map(|(client, token)| {
        let proof = client.proof(&app, "/api/quota", token);
        let app = &app;
        async move { dpop_get(app, "/api/quota", token, &proof).await }
    }))
    .await;
    assert!(responses.len() >= 2 * PER_SUBJECT as usize);
    let ok = responses.iter().filter(|r| r.status() == 200).count();
    assert_eq!(
        ok, PER_SUBJECT as usize,
        "the subject's quota, over all its keys"
    );
    for response in responses.into_iter().filter(|r| r.status() != 200) {
        assert_too_many_proofs(response, "too many proofs for this subject").await;
    }
    // Another subject is untouched, even with a key the first one used.
    for client in [&keys[0].0, &Client::with_key("alice")] {
        let token = bound(client, "alice");
        let proof = client.proof(&app, "/api/quota", &token);
        let response = dpop_get(&app, "/api/quota", &token, &proof).await;
        assert_eq!(response.status(), 200);
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn with_replicas_sharing_redis_the_subject_quota_holds_and_refused_proofs_are_not_recorded() {
    let Some(redis) = crate::redis_cache::RedisServer::start() else {
        return;
    };
    let (first, second) = replicas_with_quotas(&redis, 3).await;
    // Two keys of one subject, three proofs each, at once: the subject's three get through.
    let keys = [Client::with_key("mallory-0"), Client::with_key("mallory-1")];
    let mut sent = Vec::new();
    for client in &keys {
        let token = client.bound_token_of(&first, "mallory");
        for _ in 0..3 {
            sent.push((client.proof(&first, "/api/quota", &token), token.clone()));
        }
    }
    let responses = join_all(
        sent.iter()
            .map(|(proof, token)| async { dpop_get(&first, "/api/quota", token, proof).await }),
    )
    .await;
    let mut refused = Vec::new();
    for (response, proof) in responses.into_iter().zip(&sent) {
        if response.status() != 200 {
            assert_too_many_proofs(response, "too many proofs for this subject").await;
            refused.push(proof);
        }
    }
    assert_eq!(refused.len(), 3);
    // A refused proof was never written to Redis: unused, another replica takes it.
    for (proof, token) in refused {
        let response = dpop_get(&second, "/api/quota", token, proof).await;
        assert_eq!(response.status(), 200);
    }
}

#[cfg(feature = "redis")]
#[tokio::test]
async fn a_proof_replayed_at_another_replica_costs_its_owner_no_quota_there() {
    let Some(redis) = crate::redis_cache::RedisServer::start() else {
        return;
    };
    let (first, second) = replicas_with_quotas(&redis, 3).await;
    let victim = Client::with_key("victim");
    let token = victim.bound_token_of(&first, "victim");
    // The victim's proofs, each seen by an attacker and replayed at the other replica at once.
    for _ in 0..3 {
        let proof = victim.proof(&first, "/api/quota", &token);
        assert_eq!(
            dpop_get(&first, "/api/quota", &token, &proof)
                .await
                .status(),
            200
        );
        let replays = join_all(
            (0..5).map(|_| async { dpop_get(&second, "/api/quota", &token, &proof).await }),
        )
        .await;
        for replay in replays {
            assert_eq!(replay.status(), 401);
        }
    }
    // The replays were refused, and cost the victim nothing at the second replica: its whole quota
    // is still there.
    for _ in 0..3 {
        let proof = victim.proof(&second, "/api/quota", &token);
        assert_eq!(
            dpop_get(&second, "/api/quota", &token, &proof)
                .await
                .status(),
            200
        );
    }
}

#[tokio::test]
async fn a_certificate_bound_token_is_refused_since_no_certificate_is_checked_here() {
    let app = TestApp::builder().spawn().await;
    let client = Client::new();
    // RFC 8705 §3.1: bound to a client certificate this service never sees.
    let x5t = json!({ "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" });
    let certificate_bound = app.idp().token().claim("cnf", x5t).sign();
    assert_invalid_token(
        app.get_with("/api/private", &certificate_bound).await,
        "confirmation method this service cannot check",
    )
    .await;
    // Nor does a `jkt` beside it make it a DPoP token: the certificate is asked for too.
    let both =
        json!({ "jkt": client.jkt(), "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2" });
    let token = app.idp().token().claim("cnf", both).sign();
    let proof = client.proof(&app, "/api/private", &token);
    assert_dpop_refusal(
        dpop_get(&app, "/api/private", &token, &proof).await,
        "invalid_token",
        "cannot check (cnf)",
    )
    .await;
}

/// GET `target` exactly as written (reqwest would resolve its dot segments first), with `token` and
/// `proof`: the status code, and the body.
async fn raw_dpop_get(app: &TestApp, target: &str, token: &str, proof: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: {}\r\nAuthorization: DPoP {token}\r\nDPoP: {proof}\r\n\
         Connection: close\r\n\r\n",
        app.addr
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        stream.read_to_end(&mut answer),
    )
    .await
    .unwrap()
    .unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().unwrap();
    (status, answer)
}

#[tokio::test]
async fn a_proof_for_the_parent_url_is_refused_for_a_path_with_dot_segments() {
    let routes = Router::new().route("/files/{*rest}", get(|_: Claims| async { "file" }));
    let app = TestApp::builder().routes(routes).spawn().await;
    let client = Client::new();
    let token = client.bound_token(&app);
    // The router sends each of these to `/files/{*rest}`; the URL parser would read them as the
    // URL the proof was made for.
    for (target, proof_for) in [
        ("/files/a/%2e%2e", "/files/"),
        ("/files/a/%2E.", "/files/"),
        ("/files/a/b/..", "/files/a/"),
        ("/files/./a", "/files/a"),
        ("/files/a\\%2e%2e", "/files/"),
    ] {
        let proof = client.proof(&app, proof_for, &token);
        let (status, answer) = raw_dpop_get(&app, target, &token, &proof).await;
        assert_eq!(status, 401, "{target}: {answer}");
        assert!(answer.contains("invalid_dpop_proof"), "{target}: {answer}");
        assert!(answer.contains("htu does not match"), "{target}: {answer}");
    }
    // The same way of sending, to a plain path, is accepted.
    let proof = client.proof(&app, "/files/a", &token);
    let (status, answer) = raw_dpop_get(&app, "/files/a", &token, &proof).await;
    assert_eq!(status, 200, "{answer}");
}

#[tokio::test]
async fn api_user_answers_a_bound_token_from_its_claims_without_forwarding_it_as_bearer() {
    let app = TestApp::builder().spawn().await;
    let client = Client::new();
    let token = app
        .idp()
        .token()
        .subject("dora")
        .claim("cnf", json!({ "jkt": client.jkt() }))
        .claim("email", "dora@example.com")
        .sign();
    let proof = client.proof(&app, "/api/user", &token);
    let response = dpop_get(&app, "/api/user", &token, &proof).await;
    assert_eq!(response.status(), 200);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["source"], "access_token", "{user}");
    assert_eq!(user["sub"], "dora");
    assert_eq!(user["email"], "dora@example.com");
    assert_eq!(
        app.idp().userinfo_calls(),
        0,
        "the bound token never leaves as Bearer"
    );
    // An unbound token still gets the provider's answer.
    let unbound = app.idp().token().subject("dora").sign();
    let user: Value = app
        .get_with("/api/user", &unbound)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(user["source"], "userinfo");
}
