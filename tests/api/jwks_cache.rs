//! Key-set caching: TTL and `Cache-Control`, unknown-`kid` refetch (single flight, rate-limited), key
//! rotation without restart, stale keys while the IdP is down, 503 with none at all.

use std::time::Duration;

use protected_api::testing::{JwksAnswer, MockIdp, TestKey};
use serde_json::Value;

use crate::helpers::{TestApp, assert_invalid_token};

#[tokio::test]
async fn keys_are_fetched_once_and_then_served_from_the_cache() {
    let app = TestApp::builder().spawn().await;
    let token = app.idp().token().sign();
    for _ in 0..20 {
        assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    }
    assert_eq!(app.idp().jwks_fetches(), 1);
    assert_eq!(app.idp().discovery_fetches(), 1);
}

#[tokio::test]
async fn a_rotated_key_is_picked_up_without_restart() {
    let app = TestApp::builder()
        .extra(&[("AUTH_JWKS_MIN_REFRESH", "0")])
        .spawn()
        .await;
    let old = app.idp().token().sign();
    assert_eq!(app.get_with("/api/private", &old).await.status(), 200);

    app.idp().rotate_to(TestKey::rsa("key-2"));
    let new = app.idp().token().sign();
    assert_eq!(app.get_with("/api/private", &new).await.status(), 200);
    assert_eq!(app.idp().jwks_fetches(), 2);
    // The retired key is gone from the refreshed set, so its tokens no longer pass.
    assert_invalid_token(
        app.get_with("/api/private", &old).await,
        "unknown signing key",
    )
    .await;
}

#[tokio::test]
async fn unknown_kids_refetch_at_most_once_per_min_refresh() {
    let app = TestApp::builder()
        .extra(&[("AUTH_JWKS_MIN_REFRESH", "60")])
        .spawn()
        .await;
    assert_eq!(
        app.get_with("/api/private", &app.idp().token().sign())
            .await
            .status(),
        200
    );
    for i in 0..10 {
        let forged = app
            .idp()
            .token()
            .header("kid", format!("forged-{i}"))
            .sign();
        assert_invalid_token(
            app.get_with("/api/private", &forged).await,
            "unknown signing key",
        )
        .await;
    }
    assert_eq!(
        app.idp().jwks_fetches(),
        2,
        "one initial fetch and one refetch for all the unknown kids"
    );
}

#[tokio::test]
async fn concurrent_requests_share_one_fetch() {
    let app = TestApp::builder().spawn().await;
    let token = app.idp().token().sign();
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..50 {
        requests.spawn(app.get("/api/private").bearer_auth(&token).send());
    }
    while let Some(response) = requests.join_next().await {
        assert_eq!(response.unwrap().unwrap().status(), 200);
    }
    assert_eq!(app.idp().jwks_fetches(), 1);
}

#[tokio::test]
async fn cached_keys_keep_serving_while_the_idp_is_down_or_answers_garbage() {
    let app = TestApp::builder()
        .extra(&[("AUTH_JWKS_TTL", "1"), ("AUTH_JWKS_MIN_REFRESH", "0")])
        .spawn()
        .await;
    let token = app.idp().token().sign();
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    for answer in [JwksAnswer::Status(500), JwksAnswer::Garbage] {
        app.idp().answer_with(answer);
        tokio::time::sleep(Duration::from_millis(1100)).await; // let the TTL run out
        assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    }
    assert!(
        app.idp().jwks_fetches() >= 3,
        "the expired set was refetched (and failed) each time"
    );
}

#[tokio::test]
async fn no_keys_at_all_is_503_and_the_service_stays_up() {
    let idp = MockIdp::start().await;
    idp.answer_with(JwksAnswer::Status(503));
    let app = TestApp::builder()
        .idp(idp)
        .extra(&[("AUTH_JWKS_MIN_REFRESH", "0")])
        .spawn()
        .await;
    let token = app.idp().token().sign();
    let response = app.get_with("/api/private", &token).await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().get("www-authenticate").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 503);
    assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);

    // The IdP comes back: the service recovers by itself.
    app.idp().answer_with(JwksAnswer::Keys);
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn the_service_starts_while_the_idp_is_unreachable() {
    let idp = MockIdp::start().await;
    let issuer = idp.issuer().to_owned();
    drop(idp); // nothing listens there any more
    let app = TestApp::builder()
        .settings(&[
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", &issuer),
            ("OIDC_AUDIENCE", protected_api::testing::AUDIENCE),
            ("AUTH_JWKS_MIN_REFRESH", "0"),
        ])
        .spawn()
        .await;
    assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);
    assert_eq!(app.get("/readyz").send().await.unwrap().status(), 503);
    assert_eq!(app.get("/api/public").send().await.unwrap().status(), 200);
    assert!(issuer.starts_with("http://127.0.0.1:"));
}

#[tokio::test]
async fn the_idps_max_age_sets_the_ttl_unless_configured() {
    let idp = MockIdp::start().await;
    idp.cache_control("public, max-age=3600");
    let app = TestApp::builder().idp(idp).spawn().await;
    let token = app.idp().token().sign();
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    assert_eq!(app.idp().jwks_fetches(), 1);

    let idp = MockIdp::start().await;
    idp.cache_control("public, max-age=3600");
    let app = TestApp::builder()
        .idp(idp)
        .extra(&[("AUTH_JWKS_TTL", "1")])
        .spawn()
        .await;
    let token = app.idp().token().sign();
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    assert_eq!(
        app.idp().jwks_fetches(),
        2,
        "the configured TTL wins over max-age"
    );
}

#[tokio::test]
async fn a_configured_jwks_uri_skips_discovery() {
    let idp = MockIdp::start().await;
    let jwks_uri = idp.jwks_uri();
    let app = TestApp::builder()
        .idp(idp)
        .extra(&[("OIDC_JWKS_URI", &jwks_uri)])
        .spawn()
        .await;
    assert_eq!(
        app.get_with("/api/private", &app.idp().token().sign())
            .await
            .status(),
        200
    );
    assert_eq!(app.idp().discovery_fetches(), 0);
}

#[tokio::test]
async fn cached_tokens_of_a_revoked_key_stop_working_after_the_refresh() {
    let app = TestApp::builder()
        .extra(&[("AUTH_JWKS_MIN_REFRESH", "0")])
        .spawn()
        .await;
    let old = app.idp().token().sign();
    for _ in 0..5 {
        assert_eq!(app.get_with("/api/private", &old).await.status(), 200);
    }
    assert_eq!(
        app.state.verifier.cached_tokens(),
        1,
        "verified once, then served from the cache"
    );

    app.idp().rotate_to(TestKey::rsa("key-2")); // the provider drops key-1
    let new = app.idp().token().sign();
    assert_eq!(app.get_with("/api/private", &new).await.status(), 200); // unknown kid: refresh
    assert_invalid_token(
        app.get_with("/api/private", &old).await,
        "unknown signing key",
    )
    .await;
}

#[tokio::test]
async fn a_stale_key_set_bypasses_the_token_cache_so_revocation_is_noticed() {
    let app = TestApp::builder()
        .extra(&[("AUTH_JWKS_TTL", "1"), ("AUTH_JWKS_MIN_REFRESH", "0")])
        .spawn()
        .await;
    let token = app.idp().token().sign();
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    app.idp().rotate_to(TestKey::rsa("key-2"));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_invalid_token(
        app.get_with("/api/private", &token).await,
        "unknown signing key",
    )
    .await;
}

#[tokio::test]
async fn an_oversized_key_set_is_refused_like_an_outage() {
    let idp = MockIdp::start().await;
    let key = idp.signing_key();
    // About 1.3 MB of keys: over the 512 KiB cap on provider documents.
    idp.publish(
        (0..3000)
            .map(|i| key.jwk_with(serde_json::json!({"kid": format!("k{i}")})))
            .collect(),
    );
    let app = TestApp::builder()
        .idp(idp)
        .extra(&[("AUTH_JWKS_MIN_REFRESH", "0")])
        .spawn()
        .await;
    let response = app
        .get_with("/api/private", &app.idp().token().sign())
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(app.get("/healthz").send().await.unwrap().status(), 200);
}
