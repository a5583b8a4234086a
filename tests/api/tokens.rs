//! Every class of bad token answers 401 `invalid_token` with a description that helps and leaks nothing;
//! every supported algorithm works when allowed.
//!
//! Most tests are tables: each [`Case`] signs a token with the app's `MockIdp`, sends it, and names
//! what must come back; a failing table lists every case that failed, by name.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use protected_api::testing::{AUDIENCE, MockIdp, TestKey};
use serde_json::json;

use crate::helpers::{TestApp, assert_invalid_token, check_invalid_token};

/// The endpoint most cases call.
const PRIVATE: &[&str] = &["/api/private"];

/// Every endpoint that reads the claims.
const EVERY_CLAIMS_ENDPOINT: &[&str] = &["/api/private", "/api/private-scoped", "/api/optional"];

/// What a case must get back.
enum Expect {
    /// 200.
    Accepted,
    /// 401 `invalid_token`, the description containing this.
    Refused(&'static str),
}

/// One token, made from the app's IdP, and the answer it must get.
struct Case {
    name: String,
    token: Box<dyn Fn(&MockIdp) -> String>,
    expect: Expect,
}

/// A case the service must refuse, saying `why`.
fn refused(
    name: impl Into<String>,
    why: &'static str,
    token: impl Fn(&MockIdp) -> String + 'static,
) -> Case {
    Case {
        name: name.into(),
        token: Box::new(token),
        expect: Expect::Refused(why),
    }
}

/// A case the service must accept.
fn accepted(name: impl Into<String>, token: impl Fn(&MockIdp) -> String + 'static) -> Case {
    Case {
        name: name.into(),
        token: Box::new(token),
        expect: Expect::Accepted,
    }
}

/// Sends every case to each of `paths`, then fails naming every case that got another answer.
async fn check(app: &TestApp, paths: &[&str], cases: Vec<Case>) {
    let mut failures = Vec::new();
    for case in &cases {
        let token = (case.token)(app.idp());
        for path in paths {
            let response = app.get_with(path, &token).await;
            let problem = match case.expect {
                Expect::Accepted if response.status() == 200 => None,
                Expect::Accepted => Some(format!("expected 200, got {}", response.status())),
                Expect::Refused(why) => check_invalid_token(response, why).await.err(),
            };
            if let Some(problem) = problem {
                failures.push(format!("{} (GET {path}): {problem}", case.name));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} checks failed:\n{}",
        failures.len(),
        cases.len() * paths.len(),
        failures.join("\n")
    );
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text)
}

/// Claims this app would accept, base64url-encoded, for tokens built by hand.
fn hand_made_claims(idp: &MockIdp, sub: &str) -> String {
    b64(
        &json!({"iss": idp.issuer(), "aud": AUDIENCE, "sub": sub, "exp": 4102444800u64})
            .to_string(),
    )
}

/// The three segments of an honest token.
fn honest_parts(idp: &MockIdp) -> Vec<String> {
    idp.token().sign().split('.').map(str::to_owned).collect()
}

#[tokio::test]
async fn forged_and_malformed_tokens_are_refused() {
    let mut cases = Vec::new();
    for alg in ["none", "None", "NONE", "nOnE"] {
        for (signature, with) in [("", "no signature"), ("c2ln", "a signature")] {
            cases.push(refused(
                format!("alg {alg}, {with}"),
                "algorithm",
                move |idp| {
                    let header = b64(&json!({"alg": alg, "typ": "JWT"}).to_string());
                    format!("{header}.{}.{signature}", hand_made_claims(idp, "x"))
                },
            ));
        }
    }
    cases.push(refused(
        "HS256 signed with the public key as the secret",
        "algorithm HS256",
        |idp| {
            let public_jwk = idp.signing_key().jwk().to_string();
            let header = b64(&json!({"alg": "HS256", "kid": "key-1"}).to_string());
            let claims = b64(
                &json!({"iss": idp.issuer(), "aud": AUDIENCE, "exp": 4102444800u64}).to_string(),
            );
            let input = format!("{header}.{claims}");
            let key = jsonwebtoken::EncodingKey::from_secret(public_jwk.as_bytes());
            let signature =
                jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::HS256).unwrap();
            format!("{input}.{signature}")
        },
    ));
    // Key URLs and embedded keys in the header are ignored: the attacker's own key does not verify.
    let attacker = Arc::new(TestKey::rsa("key-1"));
    for (name, value) in [
        ("jku", json!("http://127.0.0.1:1/attacker-jwks.json")),
        ("x5u", json!("http://127.0.0.1:1/attacker.pem")),
        ("jwk", attacker.jwk()),
    ] {
        let attacker = attacker.clone();
        cases.push(refused(
            format!("signed by an attacker naming its key in {name}"),
            "invalid signature",
            move |idp| {
                idp.token()
                    .sign_with(attacker.clone())
                    .header(name, value.clone())
                    .sign()
            },
        ));
    }
    cases.push(accepted("jku on a token signed by the real key", |idp| {
        idp.token().header("jku", "http://127.0.0.1:1/x").sign()
    }));
    cases.push(refused("an unknown critical header", "critical", |idp| {
        idp.token()
            .header("crit", json!(["exp-magic"]))
            .header("exp-magic", true)
            .sign()
    }));
    // Path or SQL characters in a kid are just unknown keys.
    for kid in ["../../etc/passwd", "' OR '1'='1", "key-1\u{0}", "%2e%2e/"] {
        cases.push(refused(
            format!("kid {kid:?}"),
            "unknown signing key",
            move |idp| idp.token().header("kid", kid).sign(),
        ));
    }
    cases.push(refused("two segments", "", |idp| {
        let parts = honest_parts(idp);
        format!("{}.{}", parts[0], parts[1])
    }));
    cases.push(refused("four segments", "", |idp| {
        let token = idp.token().sign();
        let signature = token.rsplit('.').next().unwrap().to_owned();
        format!("{token}.{signature}")
    }));
    cases.push(refused("empty JSON objects", "", |_| {
        "e30.e30.e30".to_owned()
    }));
    cases.push(refused(
        "b64token characters that are not base64url",
        "malformed",
        |_| "a+b/.e30.e30".to_owned(),
    ));
    cases.push(refused("a payload that is not JSON", "", |idp| {
        let parts = honest_parts(idp);
        format!("{}.bm90LWpzb24.{}", parts[0], parts[2])
    }));
    cases.push(refused("a 100 KB token", "too large", |idp| {
        idp.token().claim("padding", "x".repeat(100 * 1024)).sign()
    }));
    cases.push(refused("a tampered payload", "invalid signature", |idp| {
        let parts: Vec<String> = idp
            .token()
            .subject("alice")
            .sign()
            .split('.')
            .map(str::to_owned)
            .collect();
        format!(
            "{}.{}.{}",
            parts[0],
            hand_made_claims(idp, "admin"),
            parts[2]
        )
    }));
    check(&TestApp::builder().spawn().await, PRIVATE, cases).await;
}

#[tokio::test]
async fn the_issuer_and_audience_must_be_ours() {
    let mut cases = vec![
        refused(
            "the issuer with a trailing slash",
            "issuer mismatch",
            |idp| {
                let wrong = format!("{}/", idp.issuer());
                idp.token().claim("iss", wrong.as_str()).sign()
            },
        ),
        refused("another issuer", "issuer mismatch", |idp| {
            idp.token().claim("iss", "https://evil.example.com").sign()
        }),
        refused("the issuer upper-cased", "issuer mismatch", |idp| {
            let wrong = idp.issuer().to_uppercase();
            idp.token().claim("iss", wrong.as_str()).sign()
        }),
    ];
    cases.push(accepted("an audience array containing ours", |idp| {
        idp.token()
            .claim("aud", json!(["https://other.example", AUDIENCE]))
            .sign()
    }));
    cases.push(refused(
        "an audience array without ours",
        "audience mismatch",
        |idp| {
            idp.token()
                .claim("aud", json!(["https://other.example"]))
                .sign()
        },
    ));
    cases.push(refused("no audience", "aud", |idp| {
        idp.token().without("aud").sign()
    }));
    // Off by default: the IdPs that do not type their access tokens keep working.
    cases.push(accepted(
        "an untyped token while AUTH_REQUIRE_AT_JWT is off",
        |idp| idp.token().without_header("typ").sign(),
    ));
    check(&TestApp::builder().spawn().await, PRIVATE, cases).await;
}

#[tokio::test]
async fn sub_and_jti_must_be_strings_on_every_endpoint() {
    let cases = vec![
        refused("a numeric sub", "malformed token claims", |idp| {
            idp.token().claim("sub", json!(42)).sign()
        }),
        refused("an object jti", "malformed token claims", |idp| {
            idp.token().claim("jti", json!({"id": 1})).sign()
        }),
    ];
    check(
        &TestApp::builder().spawn().await,
        EVERY_CLAIMS_ENDPOINT,
        cases,
    )
    .await;
}

#[tokio::test]
async fn time_claims_are_checked_with_the_leeway() {
    let app = TestApp::builder()
        .extra(&[("AUTH_LEEWAY", "30")])
        .spawn()
        .await;
    let secs = Duration::from_secs;
    let cases = vec![
        refused("expired 120 s ago", "expired", move |idp| {
            idp.token().expired_for(secs(120)).sign()
        }),
        accepted("expired 10 s ago, within the leeway", move |idp| {
            idp.token().expired_for(secs(10)).sign()
        }),
        refused("valid from in 120 s", "not yet valid", move |idp| {
            idp.token().not_before_in(secs(120)).sign()
        }),
        accepted("valid from in 10 s, within the leeway", move |idp| {
            idp.token().not_before_in(secs(10)).sign()
        }),
        refused("issued in 120 s", "issued in the future", move |idp| {
            idp.token().issued_in(secs(120)).sign()
        }),
        accepted("issued in 10 s, within the leeway", move |idp| {
            idp.token().issued_in(secs(10)).sign()
        }),
        refused("no exp", "exp", |idp| idp.token().without("exp").sign()),
    ];
    check(&app, PRIVATE, cases).await;
}

#[tokio::test]
async fn require_at_jwt_refuses_tokens_that_are_not_typed_as_access_tokens() {
    let app = TestApp::builder()
        .extra(&[("AUTH_REQUIRE_AT_JWT", "true")])
        .spawn()
        .await;
    let mut cases = Vec::new();
    for typ in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "Application/AT+JWT",
    ] {
        cases.push(accepted(format!("typ {typ}"), move |idp| {
            idp.token().header("typ", typ).sign()
        }));
    }
    cases.extend([
        refused("typ JWT, as an ID token", "at+jwt", |idp| {
            idp.token().header("typ", "JWT").sign()
        }),
        refused("no typ", "at+jwt", |idp| {
            idp.token().without_header("typ").sign()
        }),
        refused("typ dpop+jwt", "at+jwt", |idp| {
            idp.token().header("typ", "dpop+jwt").sign()
        }),
    ]);
    check(&app, PRIVATE, cases).await;
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
    let app = TestApp::builder()
        .idp(idp)
        .extra(&[("OIDC_ALGORITHMS", "ES256")])
        .spawn()
        .await;
    let cases = vec![
        accepted("an honest ES256 token", |idp| idp.token().sign()),
        // r = s = 0 (CVE-2022-21449 "psychic signatures").
        refused("r = s = 0", "invalid signature", |idp| {
            idp.token()
                .sign_with_signature(&URL_SAFE_NO_PAD.encode([0u8; 64]))
        }),
    ];
    check(&app, PRIVATE, cases).await;
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
