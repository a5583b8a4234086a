//! RFC 6750 error answers for missing or malformed credentials, and JSON 404/405.

use serde_json::Value;

use crate::helpers::{TestApp, www_authenticate};

#[tokio::test]
async fn no_token_gets_a_bare_challenge_pointing_at_the_resource_metadata() {
    let app = TestApp::builder().spawn().await;
    let response = app.get("/api/private").send().await.unwrap();
    assert_eq!(response.status(), 401);
    let challenge = www_authenticate(&response);
    assert!(
        challenge.starts_with(r#"Bearer realm="protected-api""#),
        "{challenge}"
    );
    assert!(
        !challenge.contains("error="),
        "no error code without credentials (RFC 6750 §3.1): {challenge}"
    );
    let metadata = format!(
        r#"resource_metadata="{}/.well-known/oauth-protected-resource""#,
        "http://127.0.0.1:8000"
    );
    assert!(challenge.contains(&metadata), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error_description"], "no bearer token");
}

#[tokio::test]
async fn another_scheme_counts_as_no_token() {
    let app = TestApp::builder().spawn().await;
    let response = app
        .get("/api/private")
        .basic_auth("user", Some("pass"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(!www_authenticate(&response).contains("error="));
}

#[tokio::test]
async fn the_scheme_name_is_case_insensitive() {
    let app = TestApp::builder().spawn().await;
    let token = app.idp().token().sign();
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = app
            .get("/api/private")
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn an_empty_or_spaced_bearer_value_is_an_invalid_request() {
    let app = TestApp::builder().spawn().await;
    // `/api/user` passes the token on to the provider: it reads it with the same strict parser.
    for path in ["/api/private", "/api/user"] {
        for value in ["Bearer", "Bearer ", "Bearer two words", "Bearer a,b"] {
            let response = app
                .get(path)
                .header("authorization", value)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{path} {value:?}");
            let challenge = www_authenticate(&response);
            assert!(
                challenge.contains(r#"error="invalid_request""#),
                "{path} {value:?}: {challenge}"
            );
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "invalid_request");
        }
    }
}

#[tokio::test]
async fn a_token_shaped_word_that_is_no_jwt_is_an_invalid_token() {
    let app = TestApp::builder().spawn().await;
    for token in ["abc", "a.b.c", "a.b", "...."] {
        let response = app.get_with("/api/private", token).await;
        assert_eq!(response.status(), 401, "{token}");
        assert!(
            www_authenticate(&response).contains(r#"error="invalid_token""#),
            "{token}"
        );
    }
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods_answer_json() {
    let app = TestApp::builder().spawn().await;
    let response = app.get("/nope").send().await.unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "not_found");

    let response = app.post("/api/public").send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.headers().get("allow").is_some());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "method_not_allowed");
}

#[tokio::test]
async fn a_huge_header_is_refused_and_the_service_keeps_serving() {
    let app = TestApp::builder().spawn().await;
    let huge = "a".repeat(100 * 1024);
    let response = app.get_with("/api/private", &huge).await;
    assert!(response.status().is_client_error(), "{}", response.status());
    assert_eq!(app.get("/api/public").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::builder().spawn().await;
    let response = app
        .get("/api/public")
        .header("x-request-id", "trace-me")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me");
    let response = app.get("/api/public").send().await.unwrap();
    assert!(!response.headers()["x-request-id"].is_empty());
}

// `/metrics` is mounted only in a build with the metrics feature.
#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_count_requests_refusals_and_cache_hits() {
    let app = TestApp::builder().spawn().await;
    let token = app.idp().token().sign();
    for _ in 0..3 {
        app.get_with("/api/private", &token).await; // the first fetches keys, the second caches, the third hits
    }
    let expired = app
        .idp()
        .token()
        .expired_for(std::time::Duration::from_secs(600))
        .sign();
    app.get_with("/api/private", &expired).await;
    let brew = reqwest::Method::from_bytes(b"BREW").unwrap();
    let made_up = app.http.request(brew, format!("{}/api/public", app.base));
    assert_eq!(made_up.send().await.unwrap().status(), 405);
    let unknown_path = app.get("/no/such/path/4711").send().await.unwrap();
    assert_eq!(unknown_path.status(), 404);
    let response = app.get("/metrics").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let text = response.text().await.unwrap();
    for expected in [
        r#"http_requests_total{route="/api/private",method="GET",status="200"}"#,
        r#"auth_failures_total{reason="expired"}"#,
        r#"jwks_fetches_total{result="ok"}"#,
        "token_cache_hits_total",
        "token_cache_misses_total",
        // A made-up method is counted, under one label so that such methods cannot grow the set.
        r#"http_requests_total{route="/api/public",method="OTHER",status="405"}"#,
        // Unknown paths share one label, so that scanning cannot grow the set either.
        r#"http_requests_total{route="unmatched",method="GET",status="404"}"#,
    ] {
        assert!(text.contains(expected), "{expected} in:\n{text}");
    }
    assert!(!text.contains("BREW") && !text.contains("4711"), "{text}");
}

#[cfg(feature = "metrics")]
#[tokio::test]
async fn metrics_can_be_turned_off() {
    let app = TestApp::builder()
        .extra(&[("SERVER_METRICS", "false")])
        .spawn()
        .await;
    assert_eq!(app.get("/metrics").send().await.unwrap().status(), 404);
}

#[tokio::test]
async fn cors_preflight_allows_configured_origins_only() {
    let app = TestApp::builder()
        .extra(&[("SERVER_CORS_ORIGINS", "http://localhost:3000")])
        .spawn()
        .await;
    let preflight = |origin: &'static str| {
        app.http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/private", app.base),
            )
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let allowed = preflight("http://localhost:3000").await.unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "http://localhost:3000"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        refused
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
}
