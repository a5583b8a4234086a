//! Several issuers on one API: each token is checked by the one issuer its `iss` names, with that
//! issuer's keys only; an unknown issuer costs no outbound request; one IdP down leaves the other alone.

use futures_util::future::join_all;
use protected_api::testing::{AUDIENCE, JwksAnswer, MockIdp, TestKey};
use serde_json::Value;

use crate::helpers::{TestApp, assert_invalid_token};

/// The service trusting `a` and `b` as two realms of one `[OIDC]` section (as two Keycloak realms are).
async fn trusting(a: &MockIdp, b: &MockIdp, extra: &[(&str, &str)]) -> TestApp {
    let issuers = format!("{}, {}", a.issuer(), b.issuer());
    let mut pairs = vec![
        ("AUTH_PROVIDER", "oidc"),
        ("OIDC_ISSUER", issuers.as_str()),
        ("OIDC_AUDIENCE", AUDIENCE),
    ];
    pairs.extend_from_slice(extra);
    TestApp::builder().settings(&pairs).spawn().await
}

/// The local issuer beside `idp` as `[OIDC]`, in the order `providers` names them
/// (`"local, oidc"` or `"oidc, local"`).
#[cfg(feature = "local-issuer")]
async fn local_beside(idp: &MockIdp, providers: &str, extra: &[(&str, &str)]) -> TestApp {
    let mut pairs = vec![
        ("AUTH_PROVIDER", providers),
        ("OIDC_ISSUER", idp.issuer()),
        ("OIDC_AUDIENCE", AUDIENCE),
    ];
    pairs.extend_from_slice(extra);
    TestApp::builder().local().extra(&pairs).spawn().await
}

/// Two IdPs that both publish a key with `kid` `key-1`, each its own.
async fn two_idps_with_the_same_kid() -> (MockIdp, MockIdp) {
    let a = MockIdp::start_with(TestKey::rsa("key-1")).await;
    let b = MockIdp::start_with(TestKey::rsa("key-1")).await;
    (a, b)
}

/// Every fetch either IdP has answered: key sets and discovery documents.
fn fetches(idps: [&MockIdp; 2]) -> usize {
    idps.iter()
        .map(|idp| idp.jwks_fetches() + idp.discovery_fetches())
        .sum()
}

#[tokio::test]
async fn each_issuer_s_tokens_are_accepted_with_its_own_keys() {
    let (a, b) = two_idps_with_the_same_kid().await;
    let app = trusting(&a, &b, &[]).await;
    for idp in [&a, &b] {
        let token = idp.token().subject("someone").sign();
        let response = app.get_with("/api/private", &token).await;
        assert_eq!(response.status(), 200, "{}", idp.issuer());
    }
}

#[tokio::test]
async fn keys_never_cross_issuers_even_with_equal_kids() {
    let (a, b) = two_idps_with_the_same_kid().await;
    let app = trusting(&a, &b, &[]).await;
    // Load both key sets and cache a token of A's, so nothing is left to fetch or verify cold.
    assert_eq!(
        app.get_with("/api/private", &a.token().sign())
            .await
            .status(),
        200
    );
    assert_eq!(
        app.get_with("/api/private", &b.token().sign())
            .await
            .status(),
        200
    );
    // Signed by A's key-1, claiming B: only B's key-1 may check it, and it does not verify.
    let forged = a.token().claim("iss", b.issuer()).sign();
    let response = app.get_with("/api/private", &forged).await;
    assert_invalid_token(response, "invalid signature").await;
    // And the same the other way round, many at once.
    let forged = b.token().claim("iss", a.issuer()).sign();
    let answers = join_all((0..50).map(|_| app.get_with("/api/private", &forged))).await;
    for response in answers {
        assert_invalid_token(response, "invalid signature").await;
    }
}

#[tokio::test]
async fn an_unknown_issuer_is_refused_without_any_outbound_request() {
    let (a, b) = two_idps_with_the_same_kid().await;
    let app = trusting(&a, &b, &[]).await;
    for idp in [&a, &b] {
        assert_eq!(
            app.get_with("/api/private", &idp.token().sign())
                .await
                .status(),
            200
        );
    }
    let before = fetches([&a, &b]);
    // Signed by A's key, a kid both know, an issuer neither is: 50 at once, and each a new token.
    let app = &app;
    let answers = join_all((0..50).map(|i| {
        let token = a
            .token()
            .claim("iss", "https://elsewhere.example.com")
            .claim("jti", format!("t{i}"))
            .sign();
        async move { app.get_with("/api/private", &token).await }
    }))
    .await;
    for response in answers {
        assert_invalid_token(response, "unknown issuer").await;
    }
    // An issuer that differs only by a trailing slash is another issuer (compared exactly).
    let slash = a.token().claim("iss", format!("{}/", a.issuer())).sign();
    assert_invalid_token(app.get_with("/api/private", &slash).await, "unknown issuer").await;
    let without = a.token().without("iss").sign();
    assert_invalid_token(app.get_with("/api/private", &without).await, "iss").await;
    assert_eq!(fetches([&a, &b]), before, "no request left the service");
}

#[tokio::test]
async fn one_issuer_down_never_affects_the_other() {
    let (a, b) = two_idps_with_the_same_kid().await;
    a.answer_with(JwksAnswer::Status(500));
    let app = trusting(&a, &b, &[]).await;
    let token = b.token().sign();
    let answers = join_all((0..20).map(|_| app.get_with("/api/private", &token))).await;
    for response in answers {
        assert_eq!(response.status(), 200);
    }
    let response = app.get_with("/api/private", &a.token().sign()).await;
    assert_eq!(response.status(), 503, "A's own tokens wait for A's keys");
    // A gone altogether: B's fresh tokens still verify.
    drop(a);
    let response = app
        .get_with("/api/private", &b.token().subject("later").sign())
        .await;
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn each_issuer_s_rules_apply_only_to_its_own_tokens() {
    let (a, b) = two_idps_with_the_same_kid().await;
    let app = trusting(&a, &b, &[("OIDC_SCOPE_CLAIM", "scp")]).await;
    let token = b.token().claim("scp", "read:messages").sign();
    let response = app.get_with("/api/private-scoped", &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = app
        .get_with("/api/optional", &a.token().subject("alice").sign())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["sub"], "alice", "{body}");
    let wrong_audience = a.token().claim("aud", "https://other.example").sign();
    assert_invalid_token(
        app.get_with("/api/private", &wrong_audience).await,
        "audience",
    )
    .await;
}

#[tokio::test]
async fn the_resource_metadata_lists_every_issuer() {
    let (a, b) = two_idps_with_the_same_kid().await;
    let app = trusting(&a, &b, &[]).await;
    let metadata: Value = app.get_json("/.well-known/oauth-protected-resource").await;
    assert_eq!(
        metadata["authorization_servers"],
        serde_json::json!([a.issuer(), b.issuer()])
    );
}

#[tokio::test]
async fn readyz_names_the_issuer_whose_keys_cannot_be_had() {
    let (a, b) = two_idps_with_the_same_kid().await;
    let app = trusting(&a, &b, &[]).await;
    let response = app.get("/readyz").send().await.unwrap();
    assert_eq!(response.status(), 200);
    b.answer_with(JwksAnswer::Status(503));
    // A fresh app, so B's keys were never cached.
    let app = trusting(&a, &b, &[]).await;
    let response = app.get("/readyz").send().await.unwrap();
    assert_eq!(response.status(), 503);
    let health: Value = response.json().await.unwrap();
    assert_eq!(
        health["unavailable_issuers"],
        serde_json::json!([b.issuer()]),
        "{health}"
    );
}

#[tokio::test]
async fn the_user_endpoint_asks_the_token_s_own_issuer() {
    let (a, b) = two_idps_with_the_same_kid().await;
    let app = trusting(&a, &b, &[]).await;
    let response = app.get_with("/api/user", &b.token().sign()).await;
    assert_eq!(response.status(), 200);
    let user: Value = response.json().await.unwrap();
    assert_eq!(user["source"], "userinfo", "{user}");
    assert_eq!((a.userinfo_calls(), b.userinfo_calls()), (0, 1));
    let response = app.get_with("/api/user", &a.token().sign()).await;
    assert_eq!(response.status(), 200);
    assert_eq!((a.userinfo_calls(), b.userinfo_calls()), (1, 1));
}

#[tokio::test]
async fn an_id_token_of_another_issuer_is_not_the_same_user() {
    let (a, b) = two_idps_with_the_same_kid().await;
    let app = trusting(&a, &b, &[("OIDC_CLIENT_ID", "spa")]).await;
    let access = a.token().subject("same-sub").sign();
    let id_token = b.token().subject("same-sub").claim("aud", "spa").sign();
    let response = app
        .get("/api/user")
        .bearer_auth(&access)
        .header("X-Id-Token", id_token)
        .send()
        .await
        .unwrap();
    assert_invalid_token(response, "subject").await;
    // Told by the ID token's `iss` alone: B is never asked for its keys.
    assert_eq!(b.jwks_fetches(), 0);
}

#[tokio::test]
async fn swagger_ui_offers_one_login_scheme_per_provider() {
    let (a, b) = two_idps_with_the_same_kid().await;
    // Two realms of one provider: one scheme, the first realm's login page.
    let app = trusting(&a, &b, &[]).await;
    let doc: Value = app.get_json("/openapi.json").await;
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    let mut names: Vec<&String> = schemes.keys().collect();
    names.sort();
    assert_eq!(names, ["bearer", "oauth2"]);
    let implicit = &schemes["oauth2"]["flows"]["implicit"]["authorizationUrl"];
    assert_eq!(*implicit, format!("{}/authorize", a.issuer()));
}

#[cfg(feature = "local-issuer")]
#[tokio::test]
async fn local_and_oidc_each_offer_their_login_page_and_accept_their_tokens() {
    let idp = MockIdp::start().await;
    let app = local_beside(&idp, "local, oidc", &[]).await;
    let doc: Value = app.get_json("/openapi.json").await;
    let schemes = &doc["components"]["securitySchemes"];
    assert!(
        schemes["oauth2"]["flows"]["implicit"]["authorizationUrl"]
            .as_str()
            .unwrap()
            .starts_with(&app.base)
    );
    assert_eq!(
        schemes["oauth2_oidc"]["flows"]["implicit"]["authorizationUrl"],
        format!("{}/authorize", idp.issuer())
    );
    let security = &doc["paths"]["/api/private"]["get"]["security"];
    assert!(
        security
            .as_array()
            .unwrap()
            .iter()
            .any(|requirement| requirement.get("oauth2_oidc").is_some()),
        "{security}"
    );
    // The IdP's token, and the local issuer's own, on the same route.
    let response = app.get_with("/api/private", &idp.token().sign()).await;
    assert_eq!(response.status(), 200);
    let client = &app.state.issuer.as_ref().unwrap().client;
    let answer: Value = app
        .post("/oauth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", client.client_secret.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let local = answer["access_token"].as_str().unwrap();
    assert_eq!(app.get_with("/api/private", local).await.status(), 200);
}

#[cfg(all(feature = "local-issuer", feature = "sessions"))]
#[tokio::test]
async fn login_goes_to_the_chosen_provider_and_to_the_first_by_default() {
    let idp = MockIdp::start().await;
    let app = local_beside(&idp, "local, oidc", &[("OIDC_CLIENT_ID", "spa")]).await;
    let browser = crate::flows::no_redirects();
    let location = |response: &reqwest::Response| {
        url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap()
    };
    let default = browser.get(app.url("/login")).send().await.unwrap();
    assert_eq!(default.status(), 303);
    assert_eq!(
        location(&default).as_str().split('?').next().unwrap(),
        app.url("/authorize")
    );
    let chosen = browser
        .get(app.url("/login?provider=oidc"))
        .send()
        .await
        .unwrap();
    assert_eq!(chosen.status(), 303);
    let to = location(&chosen);
    assert_eq!(
        to.as_str().split('?').next().unwrap(),
        format!("{}/authorize", idp.issuer())
    );
    assert!(
        to.query_pairs()
            .any(|(k, v)| k == "client_id" && v == "spa")
    );
    let unknown = browser
        .get(app.url("/login?provider=okta"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}

#[cfg(feature = "local-issuer")]
#[tokio::test]
async fn the_local_userinfo_answers_only_for_the_local_issuer_s_tokens() {
    let idp = MockIdp::start().await;
    let app = local_beside(&idp, "local, oidc", &[]).await;
    // The other issuer's user is no local account, whatever its `sub` says.
    let token = idp.token().subject("local-account-id").sign();
    let response = app.get_with("/userinfo", &token).await;
    assert_invalid_token(response, "issuer").await;
}

#[cfg(all(feature = "local-issuer", feature = "sessions"))]
#[tokio::test]
async fn logout_ends_the_session_at_its_own_issuer() {
    let idp = MockIdp::start().await;
    let app = local_beside(&idp, "local, oidc", &[]).await;
    let browser = crate::flows::no_redirects();
    let session = format!("session={}", idp.token().sign());
    let logout = browser
        .get(app.url("/logout"))
        .header("cookie", session)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 303);
    let target = logout.headers()["location"].to_str().unwrap();
    assert!(
        target.starts_with(&format!("{}/logout?", idp.issuer())),
        "{target}"
    );
    let without = browser.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(without.headers()["location"], app.url("/docs").as_str());
}

/// `/login` with the first of `a` and `b` in a browser that keeps cookies: the `state` it sent.
#[cfg(feature = "sessions")]
async fn login_at_first(app: &TestApp, browser: &reqwest::Client) -> String {
    let login = browser.get(app.url("/login")).send().await.unwrap();
    assert_eq!(login.status(), 303);
    let to = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let redirect = to
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    assert!(redirect.ends_with("/auth-callback"), "{redirect}");
    to.query_pairs()
        .find(|(k, _)| k == "state")
        .unwrap()
        .1
        .into_owned()
}

#[cfg(feature = "sessions")]
#[tokio::test]
async fn another_issuer_s_answer_is_refused_before_any_code_exchange() {
    // RFC 9700 §4.4.2: a login begun at A whose answer comes back on B's redirect URI, or naming B
    // (RFC 9207), sends the code and the PKCE verifier to no token endpoint at all.
    let (a, b) = (MockIdp::start().await, MockIdp::start().await);
    let app = trusting(&a, &b, &[("OIDC_CLIENT_ID", "spa")]).await;
    let browser = crate::flows::no_redirects();
    let state = login_at_first(&app, &browser).await;
    let attempts = [
        format!("/auth-callback/1?code=c&state={state}"),
        format!(
            "/auth-callback?code=c&state={state}&iss={}",
            url::form_urlencoded::byte_serialize(b.issuer().as_bytes()).collect::<String>()
        ),
    ];
    let answers = join_all(
        attempts
            .iter()
            .map(|path| browser.get(app.url(path)).send()),
    )
    .await;
    for (path, answer) in attempts.iter().zip(answers) {
        assert_eq!(answer.unwrap().status(), 403, "{path}");
    }
    assert_eq!(a.token_calls() + b.token_calls(), 0);
    // The login's own answer does reach its issuer's token endpoint (which refuses the code here).
    let own = browser
        .get(app.url(&format!(
            "/auth-callback?code=c&state={state}&iss={}",
            url::form_urlencoded::byte_serialize(a.issuer().as_bytes()).collect::<String>()
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 403);
    assert_eq!((a.token_calls(), b.token_calls()), (1, 0));
    // Paths that name no other issuer are no callback.
    for path in ["/auth-callback/0", "/auth-callback/x", "/auth-callback/9"] {
        let path = format!("{path}?code=c&state={state}");
        let answer = browser.get(app.url(&path)).send().await.unwrap();
        assert!(answer.status().is_client_error(), "{path}");
    }
    assert_eq!((a.token_calls(), b.token_calls()), (1, 0));
}

#[cfg(feature = "sessions")]
#[tokio::test]
async fn logout_goes_to_the_issuer_the_session_names_even_expired() {
    let (a, b) = (MockIdp::start().await, MockIdp::start().await);
    let stranger = MockIdp::start().await;
    let app = trusting(&a, &b, &[]).await;
    let browser = crate::flows::no_redirects();
    let expired = std::time::Duration::from_secs(3600);
    let session = b.token().expired_for(expired).sign();
    let logout = |cookies: String| {
        let request = browser.get(app.url("/logout")).header("cookie", cookies);
        async move {
            let answer = request.send().await.unwrap();
            assert_eq!(answer.status(), 303);
            url::Url::parse(answer.headers()["location"].to_str().unwrap()).unwrap()
        }
    };
    let hint = |target: &url::Url| {
        target
            .query_pairs()
            .find(|(k, _)| k == "id_token_hint")
            .map(|(_, v)| v.into_owned())
    };
    let b_logout = format!("{}/logout", b.issuer());
    // An expired session of B, with B's expired ID token: B's page, with the hint.
    let id_token = b.token().expired_for(expired).sign();
    let target = logout(format!("session={session}; id_token={id_token}")).await;
    assert_eq!(target.as_str().split('?').next().unwrap(), b_logout);
    assert_eq!(hint(&target), Some(id_token));
    // An ID token naming an issuer not trusted here is sent to nobody.
    let foreign = stranger.token().sign();
    let target = logout(format!("session={session}; id_token={foreign}")).await;
    assert_eq!(target.as_str().split('?').next().unwrap(), b_logout);
    assert_eq!(hint(&target), None);
    // Choosing the page needs no key set.
    assert_eq!(a.jwks_fetches() + b.jwks_fetches(), 0);
}

#[cfg(feature = "sessions")]
#[tokio::test]
async fn a_tampered_issuer_in_the_flow_cookie_is_no_login() {
    // The flow cookie names its issuer; one that is not trusted here (a position, an unknown or
    // near-miss identifier) is never taken for the first issuer, and no code is exchanged.
    let (a, b) = (MockIdp::start().await, MockIdp::start().await);
    let app = trusting(&a, &b, &[("OIDC_CLIENT_ID", "spa")]).await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let encode =
        |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>();
    let near_miss = format!("{}/", b.issuer());
    let mut requests = Vec::new();
    for issuer in ["1", "9", "https://evil.example", near_miss.as_str()] {
        let flow = format!(
            "state=s&verifier=v&nonce=n&next=%2F&issuer={}",
            encode(issuer)
        );
        for path in ["/auth-callback", "/auth-callback/1", "/auth-callback/9"] {
            requests.push(
                client
                    .get(app.url(&format!("{path}?code=c&state=s")))
                    .header("cookie", format!("login_flow={}", encode(&flow)))
                    .send(),
            );
        }
    }
    for answer in join_all(requests).await {
        let answer = answer.unwrap();
        assert_eq!(answer.status(), 400, "{}", answer.url());
        let body: Value = answer.json().await.unwrap();
        assert!(body.to_string().contains("no login in progress"), "{body}");
    }
    assert_eq!(a.token_calls() + b.token_calls(), 0);
    // The same cookie naming B exactly is B's login in progress: its code goes to B.
    let flow = format!(
        "state=s&verifier=v&nonce=n&next=%2F&issuer={}",
        encode(b.issuer())
    );
    let answer = client
        .get(app.url("/auth-callback/1?code=c&state=s"))
        .header("cookie", format!("login_flow={}", encode(&flow)))
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 403);
    assert_eq!((a.token_calls(), b.token_calls()), (0, 1));
}

#[cfg(feature = "sessions")]
#[tokio::test]
async fn an_issuer_that_promises_iss_must_send_it() {
    // RFC 9207 §2.4: where discovery promises `iss` in every authorization response, an answer
    // without one may come from anyone, and its code goes nowhere.
    let (a, b) = (MockIdp::start().await, MockIdp::start().await);
    a.promise_iss_parameter();
    let app = trusting(&a, &b, &[("OIDC_CLIENT_ID", "spa")]).await;
    let browser = crate::flows::no_redirects();
    let state = login_at_first(&app, &browser).await;
    let without = browser
        .get(app.url(&format!("/auth-callback?code=c&state={state}")))
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 400);
    assert_eq!(a.token_calls(), 0);
    let iss: String = url::form_urlencoded::byte_serialize(a.issuer().as_bytes()).collect();
    let with = browser
        .get(app.url(&format!("/auth-callback?code=c&state={state}&iss={iss}")))
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 403);
    assert_eq!(a.token_calls(), 1);
}

#[cfg(all(feature = "local-issuer", feature = "sessions"))]
#[tokio::test]
async fn the_local_issuer_listed_second_takes_its_own_callback_not_the_first_issuers() {
    let idp = MockIdp::start().await;
    let app = local_beside(&idp, "oidc, local", &[]).await;
    let browser = crate::flows::no_redirects();
    let login = browser
        .get(app.url("/login?provider=local"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303);
    let authorize = url::Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let redirect = authorize
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .unwrap()
        .1
        .into_owned();
    assert!(redirect.ends_with("/auth-callback/1"), "{redirect}");
    // The local sign-in page takes that redirect URI (its default list follows its position).
    let form = browser.get(authorize.clone()).send().await.unwrap();
    assert_eq!(form.status(), 200);
    // …and not the first issuer's `/auth-callback`: a code sent there would be exchanged at the
    // first issuer's token endpoint.
    let mut first_issuers = authorize;
    let pairs: Vec<(String, String)> = first_issuers
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "redirect_uri" {
                v.trim_end_matches("/1").to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    first_issuers.query_pairs_mut().clear().extend_pairs(&pairs);
    assert!(
        first_issuers.as_str().contains("auth-callback&"),
        "{first_issuers}"
    );
    let refused = browser.get(first_issuers).send().await.unwrap();
    assert_eq!(refused.status(), 400);
}
