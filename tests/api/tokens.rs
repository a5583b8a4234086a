//! Every class of bad token answers 401 `invalid_token` with a description that helps and leaks nothing;
//! every supported algorithm works when allowed.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use protected_api::testing::{MockIdp, TestKey};
use serde_json::json;

use crate::helpers::{TestApp, assert_invalid_token};

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn alg_none_is_refused_in_any_spelling() {
    let app = TestApp::builder().spawn().await;
    let claims = b64(&json!({"iss": app.idp().issuer(), "aud": protected_api::testing::AUDIENCE, "sub": "x", "exp": 4102444800u64}).to_string());
    for alg in ["none", "None", "NONE", "nOnE"] {
        let header = b64(&json!({"alg": alg, "typ": "JWT"}).to_string());
        for token in [
            format!("{header}.{claims}."),
            format!("{header}.{claims}.c2ln"),
        ] {
            assert_invalid_token(app.get_with("/api/private", &token).await, "algorithm").await;
        }
    }
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let app = TestApp::builder().spawn().await;
    let public_jwk = app.idp().signing_key().jwk().to_string();
    let header = b64(&json!({"alg": "HS256", "kid": "key-1"}).to_string());
    let claims = b64(&json!({"iss": app.idp().issuer(), "aud": protected_api::testing::AUDIENCE, "exp": 4102444800u64}).to_string());
    let input = format!("{header}.{claims}");
    let key = jsonwebtoken::EncodingKey::from_secret(public_jwk.as_bytes());
    let signature = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
    let description = assert_invalid_token(
        app.get_with("/api/private", &format!("{input}.{signature}"))
            .await,
        "algorithm",
    )
    .await;
    assert!(description.contains("HS256"), "{description}");
}

#[tokio::test]
async fn es256_is_refused_by_an_rs256_only_configuration() {
    let idp = MockIdp::start_with(TestKey::ec_p256("ec-1")).await;
    let issuer = idp.issuer().to_owned();
    let app = TestApp::builder()
        .idp(idp)
        .settings(&[
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", &issuer),
            ("OIDC_AUDIENCE", protected_api::testing::AUDIENCE),
        ])
        .spawn()
        .await;
    let token = app.idp().token().sign();
    assert_invalid_token(
        app.get_with("/api/private", &token).await,
        "algorithm ES256 is not allowed",
    )
    .await;
}

#[tokio::test]
async fn an_ecdsa_signature_of_zeros_is_refused() {
    let idp = MockIdp::start_with(TestKey::ec_p256("ec-1")).await;
    let issuer = idp.issuer().to_owned();
    let app = TestApp::builder()
        .idp(idp)
        .settings(&[
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", &issuer),
            ("OIDC_AUDIENCE", protected_api::testing::AUDIENCE),
            ("OIDC_ALGORITHMS", "ES256"),
        ])
        .spawn()
        .await;
    assert_eq!(
        app.get_with("/api/private", &app.idp().token().sign())
            .await
            .status(),
        200
    );
    // r = s = 0 (CVE-2022-21449 "psychic signatures").
    let zeros = URL_SAFE_NO_PAD.encode([0u8; 64]);
    let token = app.idp().token().sign_with_signature(&zeros);
    assert_invalid_token(
        app.get_with("/api/private", &token).await,
        "invalid signature",
    )
    .await;
}

#[tokio::test]
async fn key_urls_and_embedded_keys_in_the_header_are_ignored() {
    let app = TestApp::builder().spawn().await;
    let attacker = Arc::new(TestKey::rsa("key-1"));
    for (name, value) in [
        ("jku", json!("http://127.0.0.1:1/attacker-jwks.json")),
        ("x5u", json!("http://127.0.0.1:1/attacker.pem")),
        ("jwk", attacker.jwk()),
    ] {
        let token = app
            .idp()
            .token()
            .sign_with(attacker.clone())
            .header(name, value)
            .sign();
        assert_invalid_token(
            app.get_with("/api/private", &token).await,
            "invalid signature",
        )
        .await;
    }
    // The same headers on a token signed by the real key change nothing.
    let honest = app
        .idp()
        .token()
        .header("jku", "http://127.0.0.1:1/x")
        .sign();
    assert_eq!(app.get_with("/api/private", &honest).await.status(), 200);
}

#[tokio::test]
async fn an_unknown_critical_header_is_refused() {
    let app = TestApp::builder().spawn().await;
    let token = app
        .idp()
        .token()
        .header("crit", json!(["exp-magic"]))
        .header("exp-magic", true)
        .sign();
    assert_invalid_token(app.get_with("/api/private", &token).await, "critical").await;
}

#[tokio::test]
async fn kids_with_path_or_sql_characters_are_just_unknown_keys() {
    let app = TestApp::builder().spawn().await;
    for kid in ["../../etc/passwd", "' OR '1'='1", "key-1\u{0}", "%2e%2e/"] {
        let token = app.idp().token().header("kid", kid).sign();
        assert_invalid_token(
            app.get_with("/api/private", &token).await,
            "unknown signing key",
        )
        .await;
    }
}

#[tokio::test]
async fn a_key_whose_use_alg_or_kty_does_not_fit_is_not_used() {
    let app = TestApp::builder().spawn().await;
    let key = app.idp().signing_key();
    let token = app.idp().token().sign();
    app.idp().publish(vec![key.jwk_with(json!({"use": "enc"}))]);
    assert_invalid_token(
        app.get_with("/api/private", &token).await,
        "unknown signing key",
    )
    .await;

    let app = TestApp::builder().spawn().await;
    let key = app.idp().signing_key();
    app.idp()
        .publish(vec![key.jwk_with(json!({"alg": "RS512"}))]);
    let token = app.idp().token().sign();
    assert_invalid_token(app.get_with("/api/private", &token).await, "does not fit").await;
}

#[tokio::test]
async fn tokens_of_two_or_four_segments_and_base64_garbage_are_malformed() {
    let app = TestApp::builder().spawn().await;
    let token = app.idp().token().sign();
    let parts: Vec<&str> = token.split('.').collect();
    for bad in [
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.{}", parts[2]),
        "e30.e30.e30".to_owned(),
    ] {
        let response = app.get_with("/api/private", &bad).await;
        assert_eq!(response.status(), 401, "{bad}");
    }
    // b64token characters that are not base64url.
    assert_invalid_token(
        app.get_with("/api/private", "a+b/.e30.e30").await,
        "malformed",
    )
    .await;
    let garbage_payload = format!("{}.bm90LWpzb24.{}", parts[0], parts[2]);
    assert_invalid_token(app.get_with("/api/private", &garbage_payload).await, "").await;
}

#[tokio::test]
async fn a_100_kb_token_is_refused_as_too_large() {
    let app = TestApp::builder().spawn().await;
    let token = app
        .idp()
        .token()
        .claim("padding", "x".repeat(100 * 1024))
        .sign();
    assert_invalid_token(app.get_with("/api/private", &token).await, "too large").await;
}

#[tokio::test]
async fn time_claims_are_checked_with_the_leeway() {
    let app = TestApp::builder()
        .extra(&[("AUTH_LEEWAY", "30")])
        .spawn()
        .await;
    let idp = app.idp();
    assert_invalid_token(
        app.get_with(
            "/api/private",
            &idp.token().expired_for(Duration::from_secs(120)).sign(),
        )
        .await,
        "expired",
    )
    .await;
    assert_eq!(
        app.get_with(
            "/api/private",
            &idp.token().expired_for(Duration::from_secs(10)).sign()
        )
        .await
        .status(),
        200
    );
    assert_invalid_token(
        app.get_with(
            "/api/private",
            &idp.token().not_before_in(Duration::from_secs(120)).sign(),
        )
        .await,
        "not yet valid",
    )
    .await;
    assert_eq!(
        app.get_with(
            "/api/private",
            &idp.token().not_before_in(Duration::from_secs(10)).sign()
        )
        .await
        .status(),
        200
    );
    assert_invalid_token(
        app.get_with(
            "/api/private",
            &idp.token().issued_in(Duration::from_secs(120)).sign(),
        )
        .await,
        "issued in the future",
    )
    .await;
    assert_eq!(
        app.get_with(
            "/api/private",
            &idp.token().issued_in(Duration::from_secs(10)).sign()
        )
        .await
        .status(),
        200
    );
    assert_invalid_token(
        app.get_with("/api/private", &idp.token().without("exp").sign())
            .await,
        "exp",
    )
    .await;
}

#[tokio::test]
async fn the_issuer_must_match_exactly() {
    let app = TestApp::builder().spawn().await;
    let issuer = app.idp().issuer().to_owned();
    for wrong in [
        format!("{issuer}/"),
        "https://evil.example.com".to_owned(),
        issuer.to_uppercase(),
    ] {
        let token = app.idp().token().claim("iss", wrong.as_str()).sign();
        assert_invalid_token(
            app.get_with("/api/private", &token).await,
            "issuer mismatch",
        )
        .await;
    }
}

#[tokio::test]
async fn sub_and_jti_must_be_strings_on_every_endpoint() {
    let app = TestApp::builder().spawn().await;
    for (name, value) in [("sub", json!(42)), ("jti", json!({"id": 1}))] {
        let token = app.idp().token().claim(name, value).sign();
        for path in ["/api/private", "/api/private-scoped", "/api/optional"] {
            assert_invalid_token(app.get_with(path, &token).await, "malformed token claims").await;
        }
    }
}

#[tokio::test]
async fn the_audience_may_be_an_array_containing_ours() {
    let app = TestApp::builder().spawn().await;
    let ours = protected_api::testing::AUDIENCE;
    let token = app
        .idp()
        .token()
        .claim("aud", json!(["https://other.example", ours]))
        .sign();
    assert_eq!(app.get_with("/api/private", &token).await.status(), 200);
    let token = app
        .idp()
        .token()
        .claim("aud", json!(["https://other.example"]))
        .sign();
    assert_invalid_token(
        app.get_with("/api/private", &token).await,
        "audience mismatch",
    )
    .await;
    let token = app.idp().token().without("aud").sign();
    assert_invalid_token(app.get_with("/api/private", &token).await, "aud").await;
}

#[tokio::test]
async fn a_tampered_payload_fails_the_signature() {
    let app = TestApp::builder().spawn().await;
    let token = app.idp().token().subject("alice").sign();
    let parts: Vec<&str> = token.split('.').collect();
    let forged = b64(&json!({"iss": app.idp().issuer(), "aud": protected_api::testing::AUDIENCE, "sub": "admin", "exp": 4102444800u64}).to_string());
    let tampered = format!("{}.{forged}.{}", parts[0], parts[2]);
    assert_invalid_token(
        app.get_with("/api/private", &tampered).await,
        "invalid signature",
    )
    .await;
}

#[tokio::test]
async fn descriptions_never_echo_the_token() {
    let app = TestApp::builder().spawn().await;
    let token = app
        .idp()
        .token()
        .expired_for(Duration::from_secs(3600))
        .sign();
    let response = app.get_with("/api/private", &token).await;
    let challenge = crate::helpers::www_authenticate(&response);
    let body = response.text().await.unwrap();
    for part in token.split('.') {
        assert!(!body.contains(part) && !challenge.contains(part));
    }
}

#[tokio::test]
async fn every_supported_algorithm_works_when_allowed() {
    let keys = [
        TestKey::rsa("rs").with_alg(Algorithm::RS384),
        TestKey::rsa("rs").with_alg(Algorithm::RS512),
        TestKey::rsa("ps").with_alg(Algorithm::PS256),
        TestKey::rsa("ps").with_alg(Algorithm::PS384),
        TestKey::rsa("ps").with_alg(Algorithm::PS512),
        TestKey::ec_p256("es"),
        TestKey::ec_p384("es"),
        TestKey::ed25519("ed"),
    ];
    for key in keys {
        let alg = format!("{:?}", key.alg);
        let idp = MockIdp::start_with(key).await;
        let issuer = idp.issuer().to_owned();
        let app = TestApp::builder()
            .idp(idp)
            .settings(&[
                ("AUTH_PROVIDER", "oidc"),
                ("OIDC_ISSUER", &issuer),
                ("OIDC_AUDIENCE", protected_api::testing::AUDIENCE),
                ("OIDC_ALGORITHMS", &alg),
            ])
            .spawn()
            .await;
        let response = app
            .get_with("/api/private", &app.idp().token().sign())
            .await;
        assert_eq!(response.status(), 200, "{alg}");
    }
}

#[tokio::test]
async fn algorithms_may_mix_families_and_each_token_is_checked_with_its_own() {
    let idp = MockIdp::start().await;
    let keys = [
        (Algorithm::RS256, "RS256", Arc::new(TestKey::rsa("rsa-1"))),
        (
            Algorithm::ES256,
            "ES256",
            Arc::new(TestKey::ec_p256("ec-1")),
        ),
        (
            Algorithm::EdDSA,
            "EdDSA",
            Arc::new(TestKey::ed25519("ed-1")),
        ),
    ];
    idp.publish(keys.iter().map(|(_, _, key)| key.jwk()).collect());
    let issuer = idp.issuer().to_owned();
    let mut apps = Vec::new();
    // Every pair of families, in both orders: the first one listed must not shadow the second.
    let idp = Arc::new(idp);
    for (first, second) in [(0, 1), (1, 0), (0, 2), (2, 0), (1, 2), (2, 1)] {
        let list = format!("{}, {}", keys[first].1, keys[second].1);
        let app = TestApp::builder()
            .settings(&[
                ("AUTH_PROVIDER", "oidc"),
                ("OIDC_ISSUER", &issuer),
                ("OIDC_AUDIENCE", protected_api::testing::AUDIENCE),
                ("OIDC_ALGORITHMS", &list),
            ])
            .spawn()
            .await;
        apps.push((list, [first, second], app));
    }
    for (list, allowed, app) in &apps {
        for (index, (alg, name, key)) in keys.iter().enumerate() {
            let token = idp.token().sign_with(key.clone()).sign();
            let response = app.get_with("/api/private", &token).await;
            if allowed.contains(&index) {
                assert_eq!(response.status(), 200, "{name} with ALGORITHMS = {list}");
            } else {
                let description = assert_invalid_token(response, "is not allowed").await;
                assert!(description.contains(&format!("{alg:?}")), "{description}");
            }
        }
    }
}

#[tokio::test]
async fn require_at_jwt_refuses_tokens_that_are_not_typed_as_access_tokens() {
    let app = TestApp::builder()
        .extra(&[("AUTH_REQUIRE_AT_JWT", "true")])
        .spawn()
        .await;
    for typ in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "Application/AT+JWT",
    ] {
        let token = app.idp().token().header("typ", typ).sign();
        let status = app.get_with("/api/private", &token).await.status();
        assert_eq!(status, 200, "typ {typ}");
    }
    let id_token_like = app.idp().token().header("typ", "JWT").sign();
    let untyped = app.idp().token().without_header("typ").sign();
    let other = app.idp().token().header("typ", "dpop+jwt").sign();
    for token in [id_token_like, untyped, other] {
        assert_invalid_token(app.get_with("/api/private", &token).await, "at+jwt").await;
    }

    // Off by default: the IdPs that do not type their access tokens keep working.
    let relaxed = TestApp::builder().spawn().await;
    let untyped = relaxed.idp().token().without_header("typ").sign();
    assert_eq!(
        relaxed.get_with("/api/private", &untyped).await.status(),
        200
    );
}
