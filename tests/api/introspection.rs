//! Opaque access tokens checked by RFC 7662 introspection at the mock IdP's endpoint: the same routes
//! and rules as for JWTs, a cache by token hash, one call for a burst, and 503 with nothing cached
//! when the endpoint misbehaves.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use futures_util::future::join_all;
use jsonwebtoken::get_current_timestamp;
use protected_api::auth::{Introspect, IntrospectFuture, LOCAL_TOKEN_PREFIX};
use protected_api::testing::{
    AUDIENCE, INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, IntrospectionAnswer, MockIdp,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_invalid_token};

/// The introspection client's credentials, as the mock IdP expects them.
const CREDENTIALS: [(&str, &str); 2] = [
    ("OIDC_INTROSPECTION_CLIENT_ID", INTROSPECTION_CLIENT_ID),
    (
        "OIDC_INTROSPECTION_CLIENT_SECRET",
        INTROSPECTION_CLIENT_SECRET,
    ),
];

/// The service trusting a fresh mock IdP, introspecting at its discovered endpoint.
async fn app() -> TestApp {
    TestApp::builder().extra(&CREDENTIALS).spawn().await
}

/// An active answer from `idp` for its audience, valid ten minutes, with `members` on top.
fn active(idp: &MockIdp, members: Value) -> Value {
    let mut answer = json!({
        "active": true,
        "iss": idp.issuer(),
        "aud": AUDIENCE,
        "sub": "machine-1",
        "client_id": "machine-1",
        "exp": get_current_timestamp() + 600,
        "iat": get_current_timestamp(),
    });
    for (name, value) in members.as_object().unwrap() {
        answer[name] = value.clone();
    }
    answer
}

async fn status(app: &TestApp, path: &str, token: &str) -> u16 {
    app.get_with(path, token).await.status().as_u16()
}

/// Asserts a 503 `temporarily_unavailable`.
async fn assert_unavailable(response: reqwest::Response) {
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable", "{body}");
}

#[tokio::test]
async fn an_active_opaque_token_with_the_scope_passes_the_scoped_route_and_one_without_gets_403() {
    let app = app().await;
    let idp = app.idp();
    let scoped = idp.opaque_token(active(idp, json!({"scope": "openid read:messages"})));
    let unscoped = idp.opaque_token(active(idp, json!({"scope": "openid"})));
    assert_eq!(status(&app, "/api/private-scoped", &scoped).await, 200);
    let response = app.get_with("/api/private-scoped", &unscoped).await;
    assert_eq!(response.status(), 403);
    let challenge = crate::helpers::www_authenticate(&response);
    assert!(
        challenge.contains(r#"error="insufficient_scope""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn permissions_in_the_answer_open_the_admin_route() {
    let app = app().await;
    let idp = app.idp();
    let admin = idp.opaque_token(active(idp, json!({"permissions": ["read:admin"]})));
    let user = idp.opaque_token(active(idp, json!({"permissions": ["read:other"]})));
    assert_eq!(status(&app, "/api/admin", &admin).await, 200);
    assert_eq!(status(&app, "/api/admin", &user).await, 403);
}

#[tokio::test]
async fn the_private_route_echoes_the_answer_and_the_optional_route_sees_the_caller() {
    let app = app().await;
    let idp = app.idp();
    let mut answer = active(idp, json!({"tenant": "t1", "sub": "kim"}));
    answer.as_object_mut().unwrap().remove("iss");
    let token = idp.opaque_token(answer);
    let private: Value = app
        .get_with("/api/private", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(private["claims"]["tenant"], "t1", "{private}");
    assert_eq!(private["claims"]["sub"], "kim");
    assert_eq!(
        private["claims"]["iss"],
        idp.issuer(),
        "an answer without iss is the asked issuer's"
    );
    let optional: Value = app
        .get_with("/api/optional", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(optional["authenticated"], true, "{optional}");
    assert_eq!(optional["sub"], "kim");
}

#[tokio::test]
async fn an_answer_without_exp_still_fits_the_registered_claims_view() {
    let app = app().await;
    let idp = app.idp();
    let mut answer = active(idp, json!({"sub": "lou"}));
    answer.as_object_mut().unwrap().remove("exp");
    let token = idp.opaque_token(answer);
    let optional: Value = app
        .get_with("/api/optional", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(optional["sub"], "lou", "{optional}");
}

#[tokio::test]
async fn an_inactive_or_unknown_token_is_401_not_active() {
    let app = app().await;
    let idp = app.idp();
    let revoked = idp.opaque_token(json!({"active": false}));
    let response = app.get_with("/api/private", &revoked).await;
    assert_invalid_token(response, "token is not active").await;
    let response = app.get_with("/api/private", "never-issued-token").await;
    assert_invalid_token(response, "token is not active").await;
}

#[tokio::test]
async fn issuer_audience_and_expiry_of_the_answer_are_checked() {
    let app = app().await;
    let idp = app.idp();
    let cases = [
        (json!({"iss": "https://other.example"}), "issuer mismatch"),
        (json!({"aud": ["https://other-api"]}), "audience mismatch"),
        (
            json!({"exp": get_current_timestamp() - 3_600}),
            "token expired",
        ),
        (
            json!({"nbf": get_current_timestamp() + 3_600}),
            "not yet valid",
        ),
        (json!({"exp": "tomorrow"}), "malformed token claims"),
    ];
    for (members, why) in cases {
        let token = idp.opaque_token(active(idp, members));
        assert_invalid_token(app.get_with("/api/private", &token).await, why).await;
    }
}

#[tokio::test]
async fn refresh_and_id_tokens_the_endpoint_reports_active_are_refused() {
    // RFC 7662 lets the endpoint answer for any token it knows: a refresh token must not pass as an
    // access token just because its answer says active, however the IdP names its kind.
    let app = app().await;
    let idp = app.idp();
    for kind in [
        json!({"token_use": "refresh_token"}), // Ory Hydra
        json!({"typ": "Refresh"}),             // Keycloak
        json!({"typ": "Offline"}),             // Keycloak offline token
        json!({"typ": "ID"}),                  // Keycloak ID token
        json!({"token_type": "REFRESH_TOKEN"}),
    ] {
        let token = idp.opaque_token(active(idp, kind.clone()));
        let response = app.get_with("/api/private", &token).await;
        assert_invalid_token(response, "not an access token").await;
    }
    for kind in [
        json!({"token_use": "access_token"}),
        json!({"token_type": "Bearer"}),
        json!({"typ": "Bearer"}),
    ] {
        let token = idp.opaque_token(active(idp, kind.clone()));
        assert_eq!(status(&app, "/api/private", &token).await, 200, "{kind}");
    }
}

#[tokio::test]
async fn a_failing_endpoint_is_503_and_nothing_is_cached() {
    let app = app().await;
    let idp = app.idp();
    for broken in [
        IntrospectionAnswer::Status(500),
        IntrospectionAnswer::Status(401),
        IntrospectionAnswer::Garbage,
        IntrospectionAnswer::ActiveAsString,
    ] {
        let token = idp.opaque_token(active(idp, json!({})));
        idp.introspection_answer(broken.clone());
        let calls = idp.introspection_calls();
        assert_unavailable(app.get_with("/api/private", &token).await).await;
        assert_unavailable(app.get_with("/api/private", &token).await).await;
        assert_eq!(
            idp.introspection_calls(),
            calls + 2,
            "{broken:?} not cached"
        );
        idp.introspection_answer(IntrospectionAnswer::Tokens);
        assert_eq!(
            status(&app, "/api/private", &token).await,
            200,
            "{broken:?}"
        );
    }
}

#[tokio::test]
async fn a_hanging_endpoint_is_503_after_the_timeout_and_not_cached() {
    let app = app().await;
    let idp = app.idp();
    let token = idp.opaque_token(active(idp, json!({})));
    idp.introspection_answer(IntrospectionAnswer::Hang);
    let started = Instant::now();
    assert_unavailable(app.get_with("/api/private", &token).await).await;
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "answered after the fetch timeout, not the IdP's 120 s: {:?}",
        started.elapsed()
    );
    idp.introspection_answer(IntrospectionAnswer::Tokens);
    assert_eq!(status(&app, "/api/private", &token).await, 200);
    assert_eq!(idp.introspection_calls(), 2);
}

#[tokio::test]
async fn the_endpoint_sees_the_client_credentials_and_a_wrong_secret_is_503() {
    // The mock answers only to `Basic` with the form-encoded id and secret (RFC 6749 §2.3.1); the
    // other tests pass through it. A wrong secret is the API's misconfiguration: 503, not 401.
    let app = TestApp::builder()
        .extra(&[
            ("OIDC_INTROSPECTION_CLIENT_ID", INTROSPECTION_CLIENT_ID),
            ("OIDC_INTROSPECTION_CLIENT_SECRET", "wrong"),
        ])
        .spawn()
        .await;
    let idp = app.idp();
    let token = idp.opaque_token(active(idp, json!({})));
    assert_unavailable(app.get_with("/api/private", &token).await).await;
    assert_eq!(idp.introspection_calls(), 1);
}

#[tokio::test]
async fn a_cached_answer_is_reused_until_exp_then_asked_again() {
    let app = app().await;
    let idp = app.idp();
    let long = idp.opaque_token(active(idp, json!({})));
    for _ in 0..5 {
        assert_eq!(status(&app, "/api/private", &long).await, 200);
    }
    assert_eq!(idp.introspection_calls(), 1, "four cache hits");

    // `exp` two seconds away, the TTL 60 s: the entry ends at `exp`, and the token is then asked
    // about again (and refused as expired once past the leeway, which is the JWT rule).
    let short = idp.opaque_token(active(idp, json!({"exp": get_current_timestamp() + 2})));
    assert_eq!(status(&app, "/api/private", &short).await, 200);
    assert_eq!(idp.introspection_calls(), 2);
    tokio::time::sleep(Duration::from_secs(4)).await;
    app.get_with("/api/private", &short).await;
    assert_eq!(
        idp.introspection_calls(),
        3,
        "the cache entry ended at exp, before the TTL"
    );
}

#[tokio::test]
async fn an_inactive_answer_is_cached_for_the_ttl() {
    let app = TestApp::builder()
        .extra(&CREDENTIALS)
        .extra(&[("CACHE_INTROSPECTION_TTL", "1")])
        .spawn()
        .await;
    let idp = app.idp();
    for _ in 0..3 {
        let response = app.get_with("/api/private", "made-up-token").await;
        assert_eq!(response.status(), 401);
    }
    assert_eq!(idp.introspection_calls(), 1);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    app.get_with("/api/private", "made-up-token").await;
    assert_eq!(idp.introspection_calls(), 2, "asked again after the TTL");
}

#[tokio::test]
async fn two_hundred_concurrent_requests_with_one_new_token_make_one_call() {
    let app = app().await;
    let idp = app.idp();
    let token = idp.opaque_token(active(idp, json!({"scope": "read:messages"})));
    let requests = (0..200).map(|_| app.get_with("/api/private-scoped", &token));
    let statuses: Vec<u16> = join_all(requests)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert!(statuses.iter().all(|status| *status == 200), "{statuses:?}");
    assert_eq!(idp.introspection_calls(), 1);
}

#[tokio::test]
async fn distinct_tokens_do_not_wait_for_a_hanging_one() {
    // Each token has its own flight: while the endpoint hangs on one new token, another new token is
    // introspected and answered at once, not after the first one's timeout.
    let app = app().await;
    let idp = app.idp();
    idp.introspection_answer(IntrospectionAnswer::Hang);
    let stuck = idp.opaque_token(active(idp, json!({})));
    let hanging = tokio::spawn({
        let request = app.get("/api/private").bearer_auth(&stuck);
        async move { request.send().await.unwrap().status().as_u16() }
    });
    let deadline = Instant::now() + Duration::from_secs(5);
    while idp.introspection_calls() == 0 {
        assert!(
            Instant::now() < deadline,
            "the first token was never introspected"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    idp.introspection_answer(IntrospectionAnswer::Tokens);
    let other = idp.opaque_token(active(idp, json!({})));
    let started = Instant::now();
    assert_eq!(status(&app, "/api/private", &other).await, 200);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "waited {:?} behind the hanging token",
        started.elapsed()
    );
    assert!(!hanging.is_finished(), "the first token is still hanging");
    hanging.abort();
}

#[tokio::test]
async fn jwts_are_still_verified_by_signature_when_introspection_is_configured() {
    let app = app().await;
    let idp = app.idp();
    let jwt = idp.token().scope("read:messages").sign();
    assert_eq!(status(&app, "/api/private-scoped", &jwt).await, 200);
    let forged = idp.token().sign_with_signature("AAAA");
    assert_invalid_token(
        app.get_with("/api/private", &forged).await,
        "invalid signature",
    )
    .await;
    let malformed = app.get_with("/api/private", "a.b.c").await;
    assert_eq!(malformed.status(), 401);
    // An unsecured JWT (empty signature) is a JWT, refused by name, and no token for the IdP.
    let unsecured = format!(
        "{}.{}.",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"sub":"x"}"#),
    );
    let response = app.get_with("/api/private", &unsecured).await;
    assert_invalid_token(response, "algorithm").await;
    assert_eq!(
        idp.introspection_calls(),
        0,
        "no JWT-shaped value is introspected"
    );
}

#[tokio::test]
async fn without_introspection_an_opaque_value_is_401_invalid_token() {
    let app = TestApp::builder().spawn().await;
    let idp = app.idp();
    let token = idp.opaque_token(active(idp, json!({})));
    assert_invalid_token(
        app.get_with("/api/private", &token).await,
        "malformed token",
    )
    .await;
    assert_eq!(idp.introspection_calls(), 0);
}

#[tokio::test(flavor = "multi_thread")]
#[cfg(unix)]
async fn the_client_secret_and_the_token_never_reach_the_log() {
    let idp = MockIdp::start().await;
    let token = idp.opaque_token(active(&idp, json!({})));
    let issuer = idp.issuer().to_owned();
    let mut service = tokio::task::spawn_blocking(move || {
        let env = [
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", issuer.as_str()),
            ("OIDC_AUDIENCE", AUDIENCE),
            ("OIDC_INTROSPECTION_CLIENT_ID", INTROSPECTION_CLIENT_ID),
            (
                "OIDC_INTROSPECTION_CLIENT_SECRET",
                INTROSPECTION_CLIENT_SECRET,
            ),
            ("RUST_LOG", "trace"),
        ];
        crate::process::Service::start(tempfile::tempdir().unwrap(), &env)
    })
    .await
    .unwrap();
    let url = format!("http://{}/api/private", service.addr);
    let http = reqwest::Client::new();
    let ok = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(ok.status(), 200);
    // A failure logs the error chain: it must not carry the secret either.
    idp.introspection_answer(IntrospectionAnswer::Status(500));
    let other = idp.opaque_token(active(&idp, json!({})));
    let failed = http.get(&url).bearer_auth(&other).send().await.unwrap();
    assert_eq!(failed.status(), 503);
    service.terminate();
    let log = tokio::task::spawn_blocking(move || {
        let lines = service.rest_of_log();
        format!("{}\n{lines:?}", service.startup_log)
    })
    .await
    .unwrap();
    assert!(log.contains("token introspection failed"), "{log}");
    let basic = base64::engine::general_purpose::STANDARD
        .encode(format!("{INTROSPECTION_CLIENT_ID}:s3cret%3Awith%25chars"));
    for secret in [
        INTROSPECTION_CLIENT_SECRET,
        "s3cret%3Awith%25chars",
        basic.as_str(),
        token.as_str(),
        other.as_str(),
    ] {
        assert!(!log.contains(secret), "{secret:?} is in the log");
    }
}

/// An in-process introspector, as the embedded issuer plugs one in: a fixed answer, counted.
#[derive(Debug)]
struct InProcess {
    answer: Value,
    calls: std::sync::atomic::AtomicUsize,
}

impl Introspect for InProcess {
    fn introspect<'a>(&'a self, _token: &'a str) -> IntrospectFuture<'a> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let answer = self.answer.as_object().cloned().unwrap_or_default();
        Box::pin(async move { Ok(answer) })
    }
}

#[tokio::test]
async fn an_attached_in_process_introspector_gets_the_same_rules_and_cache() {
    let app = TestApp::builder().spawn().await; // no remote introspection configured
    let idp = app.idp();
    let good = Arc::new(InProcess {
        answer: active(idp, json!({"scope": "read:messages"})),
        calls: Default::default(),
    });
    let verifier = &app.state.verifier;
    verifier.attach_introspector(0, good.clone()).unwrap();
    assert!(
        verifier.attach_introspector(0, good.clone()).is_err(),
        "one introspector per issuer"
    );
    assert!(verifier.attach_introspector(7, good.clone()).is_err());
    for _ in 0..3 {
        assert_eq!(
            status(&app, "/api/private-scoped", "local-opaque-1").await,
            200
        );
    }
    assert_eq!(
        good.calls.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "cached"
    );
    assert_eq!(idp.introspection_calls(), 0, "no HTTP");

    // The answer's audience is checked as for the remote endpoint.
    let app = TestApp::builder().spawn().await;
    let wrong_audience = Arc::new(InProcess {
        answer: active(app.idp(), json!({"aud": "someone-else"})),
        calls: Default::default(),
    });
    app.state
        .verifier
        .attach_introspector(0, wrong_audience)
        .unwrap();
    assert_invalid_token(
        app.get_with("/api/private", "local-opaque-2").await,
        "audience mismatch",
    )
    .await;
}

/// The service trusting `a` and `b` as two realms of one `[OIDC]` section, each introspecting at its
/// own discovered endpoint with the same client (as two Keycloak realms with one client each).
async fn two_realms(a: &MockIdp, b: &MockIdp) -> TestApp {
    let issuers = format!("{}, {}", a.issuer(), b.issuer());
    let mut pairs = vec![
        ("AUTH_PROVIDER", "oidc"),
        ("OIDC_ISSUER", issuers.as_str()),
        ("OIDC_AUDIENCE", AUDIENCE),
    ];
    pairs.extend_from_slice(&CREDENTIALS);
    TestApp::builder().settings(&pairs).spawn().await
}

#[tokio::test]
async fn with_two_introspecting_issuers_each_ones_tokens_are_accepted_asking_in_order() {
    let (a, b) = (MockIdp::start().await, MockIdp::start().await);
    let app = two_realms(&a, &b).await;
    let calls = || (a.introspection_calls(), b.introspection_calls());

    // A token of the first realm is shown to the first realm only.
    let of_a = a.opaque_token(active(&a, json!({"sub": "from-a"})));
    let body: Value = app
        .get_with("/api/private", &of_a)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["claims"]["iss"], a.issuer(), "{body}");
    assert_eq!(calls(), (1, 0));

    // A token of the second: the first answers inactive, the second active, and its rules apply.
    let of_b = b.opaque_token(active(&b, json!({"sub": "from-b"})));
    let body: Value = app
        .get_with("/api/private", &of_b)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["claims"]["iss"], b.issuer(), "{body}");
    assert_eq!(body["claims"]["sub"], "from-b", "{body}");
    assert_eq!(calls(), (2, 1));
    // Cached, with the issuer that vouched for it.
    assert_eq!(status(&app, "/api/private", &of_b).await, 200);
    assert_eq!(calls(), (2, 1));

    // Known to neither: inactive, asked once at each, then cached.
    for _ in 0..2 {
        let response = app.get_with("/api/private", "made-up-value").await;
        assert_invalid_token(response, "token is not active").await;
    }
    assert_eq!(calls(), (3, 2));
}

#[tokio::test]
async fn one_introspecting_issuer_down_leaves_the_others_tokens_accepted_and_its_own_503() {
    let (a, b) = (MockIdp::start().await, MockIdp::start().await);
    let app = two_realms(&a, &b).await;
    a.introspection_answer(IntrospectionAnswer::Status(503));
    let of_b = b.opaque_token(active(&b, json!({})));
    assert_eq!(status(&app, "/api/private", &of_b).await, 200);

    // Inactive at the second and no answer from the first: it may be the first's, so 503, uncached.
    let of_a = a.opaque_token(active(&a, json!({})));
    assert_unavailable(app.get_with("/api/private", &of_a).await).await;
    assert_unavailable(app.get_with("/api/private", &of_a).await).await;
    assert_eq!(b.introspection_calls(), 3, "the 503 was not cached");
    a.introspection_answer(IntrospectionAnswer::Tokens);
    assert_eq!(status(&app, "/api/private", &of_a).await, 200);

    // Both down: 503.
    a.introspection_answer(IntrospectionAnswer::Garbage);
    b.introspection_answer(IntrospectionAnswer::Status(500));
    let fresh = b.opaque_token(active(&b, json!({})));
    assert_unavailable(app.get_with("/api/private", &fresh).await).await;
}

#[tokio::test]
async fn a_flood_of_made_up_tokens_holds_at_most_32_calls_at_the_issuer_and_the_rest_get_503() {
    // Each distinct value not in the cache costs one call to the issuer: without a bound, a client
    // sending many at once would have this service load the issuer's endpoint on its behalf.
    let app = app().await;
    let idp = app.idp();
    idp.introspection_answer(IntrospectionAnswer::Hang);
    let requests = (0..100).map(|n| {
        let request = app.get("/api/private").bearer_auth(format!("made-up-{n}"));
        async move {
            let response = request.send().await.unwrap();
            let retry_after = response.headers().contains_key("retry-after");
            (response.status().as_u16(), retry_after)
        }
    });
    let answers = join_all(requests).await;
    assert!(
        answers.iter().all(|answer| *answer == (503, true)),
        "{answers:?}"
    );
    let peak = idp.introspection_peak_concurrency();
    assert!(peak <= 32, "the issuer saw {peak} calls at once");
    assert!(
        idp.introspection_calls() <= 32,
        "{}",
        idp.introspection_calls()
    );

    // Nothing was cached: once the endpoint answers, service is normal.
    idp.introspection_answer(IntrospectionAnswer::Tokens);
    let token = idp.opaque_token(active(idp, json!({})));
    assert_eq!(status(&app, "/api/private", &token).await, 200);
    let response = app.get_with("/api/private", "made-up-0").await;
    assert_invalid_token(response, "token is not active").await;
}

#[tokio::test]
async fn a_hanging_flooded_issuer_never_starves_a_healthy_issuers_tokens() {
    // Each issuer has its own introspection permits. With X's all held by calls that hang, a valid
    // token of Y waits at most the 2 s permit wait at X, then Y (asked next, with permits free)
    // accepts it. With one bound for every issuer it would wait again at Y, and be refused 503.
    let (x, y) = (MockIdp::start().await, MockIdp::start().await);
    let app = two_realms(&x, &y).await;
    x.introspection_answer(IntrospectionAnswer::Hang);
    let mut flood = tokio::task::JoinSet::new();
    for n in 0..40 {
        let request = app.get("/api/private").bearer_auth(format!("made-up-{n}"));
        flood.spawn(async move { request.send().await.map(|response| response.status()) });
    }
    // Until X holds every permit: 32 calls hanging there (at most 10 s).
    for _ in 0..200 {
        if x.introspection_calls() >= 32 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(x.introspection_calls(), 32, "the flood holds X's permits");

    let of_y = y.opaque_token(active(&y, json!({"sub": "from-y"})));
    let response = app.get_with("/api/private", &of_y).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["claims"]["iss"], y.issuer(), "{body}");
    assert_eq!(x.introspection_calls(), 32, "X saw no more calls");
    flood.abort_all();
}

#[tokio::test]
async fn a_value_with_the_local_issuers_prefix_is_never_shown_to_a_remote_endpoint() {
    // Such a token can only be this service's own: sending it to an IdP would leak it for nothing.
    let app = app().await;
    let local_shaped = format!("{LOCAL_TOKEN_PREFIX}{}", "A".repeat(43));
    let response = app.get_with("/api/private", &local_shaped).await;
    assert_invalid_token(response, "unknown issuer").await;
    assert_eq!(app.idp().introspection_calls(), 0);
}
