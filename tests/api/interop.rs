//! Interop with a real, certified OpenID provider: npm `oidc-provider`
//! (`tests/interop/oidc-provider/server.mjs`) on loopback, issuing RFC 9068 JWT access tokens
//! through a real `client_credentials` grant with resource indicators (RFC 8707). The service runs
//! with `PROVIDER = oidc` and finds the key set through discovery, as it would with Keycloak or Okta.
//! With a DPoP proof at its token endpoint the provider issues DPoP-bound tokens (RFC 9449 §5),
//! which the service accepts only with a fresh proof of the same key.
//!
//! Started with `--opaque`, the provider hands out its default opaque access tokens to a grant
//! without a resource indicator, and the service introspects them at the provider's real RFC 7662
//! endpoint (found through discovery), next to a second issuer on the same routes.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use protected_api::dpop_proof::ProofKey;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{TestApp, assert_invalid_token, free_port};

const SCRIPT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/oidc-provider");
/// The resource indicator of this API: the audience of the tokens the provider issues for it.
const THIS_API: &str = "https://protected-api.test";
/// Another API the same provider issues tokens for.
const OTHER_API: &str = "https://other-api.test";
const CLIENT_ID: &str = "interop-m2m";
const CLIENT_SECRET: &str = "interop-m2m-secret-not-for-production";
/// The client the service introspects with (`server.mjs --opaque`).
const INTROSPECTION_CLIENT_ID: &str = "interop-introspector";
const INTROSPECTION_CLIENT_SECRET: &str = "interop-introspector-secret-not-for-production";

/// Whether the interop test can run here; panics when it must (`PROTECTED_API_REQUIRE_INTEROP`).
fn provider_available() -> bool {
    let installed = Path::new(SCRIPT_DIR)
        .join("node_modules/oidc-provider")
        .exists();
    if !installed {
        assert!(
            std::env::var("PROTECTED_API_REQUIRE_INTEROP").is_err(),
            "the interop test is required: npm ci --prefix tests/interop/oidc-provider"
        );
        eprintln!(
            "skipped: oidc-provider is missing (npm ci --prefix tests/interop/oidc-provider)"
        );
    }
    installed
}

/// A running `oidc-provider`, signing with a key generated at its start; killed when dropped.
struct OpenIdProvider {
    child: Child,
    issuer: String,
}

impl OpenIdProvider {
    /// Starts the provider on `port` with signing key `kid` and waits until it listens.
    async fn start(port: u16, kid: &str) -> Self {
        Self::launch(port, kid, &[]).await
    }

    /// Starts the provider with `--opaque`: opaque tokens without a resource indicator, plus its
    /// introspection and revocation endpoints.
    async fn start_opaque(port: u16) -> Self {
        Self::launch(port, "interop-opaque-key", &["--opaque"]).await
    }

    /// Runs `server.mjs` with `flags` after the common ones and waits until it listens.
    async fn launch(port: u16, kid: &str, flags: &[&str]) -> Self {
        let mut child = Command::new("node")
            .args(["server.mjs", "--port", &port.to_string(), "--kid", kid])
            .args(["--resource", THIS_API, "--other-resource", OTHER_API])
            .args(flags)
            .current_dir(SCRIPT_DIR)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs tests/interop/oidc-provider/server.mjs");
        let stdout = child.stdout.take().unwrap();
        let first_line = tokio::time::timeout(
            Duration::from_secs(30),
            BufReader::new(stdout).lines().next_line(),
        )
        .await
        .expect("oidc-provider listens within 30 s")
        .unwrap()
        .expect("oidc-provider prints its issuer");
        let ready: Value = serde_json::from_str(&first_line).unwrap();
        assert_eq!(ready["kid"], kid);
        Self {
            child,
            issuer: ready["issuer"].as_str().unwrap().to_owned(),
        }
    }

    /// Stops the provider and waits until its port is free.
    async fn stop(mut self) {
        self.child.kill().await.unwrap();
    }

    /// A `client_credentials` grant at the provider's token endpoint (found through discovery).
    async fn client_credentials(&self, resource: &str, scope: Option<&str>) -> String {
        let body = self.token_request(Some(resource), scope, None).await;
        assert_eq!(body["token_type"], "Bearer");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A `client_credentials` grant sent with a DPoP proof signed by `key`: a token bound to it.
    async fn dpop_bound_token(&self, key: &ProofKey, scope: &str) -> String {
        let body = self
            .token_request(Some(THIS_API), Some(scope), Some(key))
            .await;
        assert_eq!(body["token_type"], "DPoP", "RFC 9449 §5: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// A `client_credentials` grant without a resource indicator: with `--opaque`, an opaque token.
    async fn opaque_client_credentials(&self, scope: Option<&str>) -> String {
        let body = self.token_request(None, scope, None).await;
        assert_eq!(body["token_type"], "Bearer");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Revokes `token` at the provider's revocation endpoint (RFC 7009) as the client it was issued to.
    async fn revoke(&self, token: &str) {
        let discovery: Value =
            reqwest::get(format!("{}/.well-known/openid-configuration", self.issuer))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
        let response = reqwest::Client::new()
            .post(discovery["revocation_endpoint"].as_str().unwrap())
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "RFC 7009 §2.2");
    }

    /// The token endpoint's answer to a `client_credentials` request, with a proof of `key` if given.
    async fn token_request(
        &self,
        resource: Option<&str>,
        scope: Option<&str>,
        key: Option<&ProofKey>,
    ) -> Value {
        let http = reqwest::Client::new();
        let discovery: Value = http
            .get(format!("{}/.well-known/openid-configuration", self.issuer))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend(resource.map(|resource| ("resource", resource)));
        form.extend(scope.map(|scope| ("scope", scope)));
        let token_endpoint = discovery["token_endpoint"].as_str().unwrap();
        let mut request = http
            .post(token_endpoint)
            .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
            .form(&form);
        if let Some(key) = key {
            request = request.header("DPoP", key.proof("POST", token_endpoint, None).unwrap());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "token endpoint answered {body}");
        body
    }
}

/// The service trusting `provider` by discovery, for this API's resource indicator.
async fn app_for(provider: &OpenIdProvider) -> TestApp {
    TestApp::builder()
        .settings(&[
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", &provider.issuer),
            ("OIDC_AUDIENCE", THIS_API),
        ])
        .spawn()
        .await
}

/// The JOSE header of a compact JWT.
fn header_of(token: &str) -> Value {
    part_of(token, 0)
}

/// The decoded JSON of part `index` of a compact JWT (0: header, 1: payload).
fn part_of(token: &str, index: usize) -> Value {
    use base64::Engine as _;
    let encoded = token.split('.').nth(index).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(encoded)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn client_credentials_tokens_work_for_this_api_only() {
    if !provider_available() {
        return;
    }
    let provider = OpenIdProvider::start(free_port(), "interop-key-1").await;
    let app = app_for(&provider).await;

    let scoped = provider
        .client_credentials(THIS_API, Some("read:messages"))
        .await;
    assert_eq!(header_of(&scoped)["typ"], "at+jwt", "an RFC 9068 token");
    let response = app.get_with("/api/private", &scoped).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["claims"]["sub"], CLIENT_ID, "{body}");
    assert_eq!(
        app.get_with("/api/private-scoped", &scoped).await.status(),
        200
    );

    let unscoped = provider.client_credentials(THIS_API, None).await;
    assert_eq!(app.get_with("/api/private", &unscoped).await.status(), 200);
    let response = app.get_with("/api/private-scoped", &unscoped).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope", "{body}");

    let for_other_api = provider
        .client_credentials(OTHER_API, Some("read:other"))
        .await;
    assert_invalid_token(
        app.get_with("/api/private", &for_other_api).await,
        "audience",
    )
    .await;
}

#[tokio::test]
async fn a_key_rotation_at_the_provider_is_followed_without_restart() {
    if !provider_available() {
        return;
    }
    let port = free_port();
    let before = OpenIdProvider::start(port, "interop-key-old").await;
    let app = app_for(&before).await;
    let old_token = before
        .client_credentials(THIS_API, Some("read:messages"))
        .await;
    assert_eq!(app.get_with("/api/private", &old_token).await.status(), 200);

    // The provider goes down: keys already fetched keep serving.
    before.stop().await;
    assert_eq!(app.get_with("/api/private", &old_token).await.status(), 200);

    // It comes back on the same address with a new key only: the new kid is unknown to the
    // service, which fetches the key set again and accepts the token without a restart.
    let after = OpenIdProvider::start(port, "interop-key-new").await;
    let new_token = after
        .client_credentials(THIS_API, Some("read:messages"))
        .await;
    assert_eq!(header_of(&new_token)["kid"], "interop-key-new");
    assert_eq!(app.get_with("/api/private", &new_token).await.status(), 200);

    // The retired key is gone from the refreshed set, so tokens it signed stop working.
    assert_invalid_token(app.get_with("/api/private", &old_token).await, "key").await;
}

/// `path` under the service's PUBLIC_URL (here the default, `http://127.0.0.1:8000`, as if behind a
/// proxy): the URL a proof names (`htu`), whatever address the request reached.
fn public_url(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.state.settings.server.public_base())
}

/// GET `path` with `Authorization: DPoP <token>` and `proof` as the `DPoP` header.
async fn get_with_proof(app: &TestApp, path: &str, token: &str, proof: &str) -> reqwest::Response {
    app.get(path)
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap()
}

/// Asserts a 401 whose JSON `error` is `code`.
async fn assert_refused(response: reqwest::Response, code: &str, case: &str) {
    assert_eq!(response.status(), 401, "{case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{case}: {body}");
}

#[tokio::test]
async fn a_dpop_bound_token_from_the_provider_works_only_with_a_fresh_proof_of_its_key() {
    if !provider_available() {
        return;
    }
    let provider = OpenIdProvider::start(free_port(), "interop-dpop-key").await;
    let app = app_for(&provider).await;
    let key = ProofKey::generate().unwrap();
    let token = provider.dpop_bound_token(&key, "read:messages").await;
    assert_eq!(
        part_of(&token, 1)["cnf"]["jkt"],
        key.thumbprint(),
        "the provider bound the token to the key of the proof it was sent with"
    );

    let url = public_url(&app, "/api/private");
    let proof = key.proof("GET", &url, Some(&token)).unwrap();
    let response = get_with_proof(&app, "/api/private", &token, &proof).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["claims"]["cnf"]["jkt"], key.thumbprint(), "{body}");

    // Each request needs its own proof: the same one again is a replay (RFC 9449 §11.1).
    assert_refused(
        get_with_proof(&app, "/api/private", &token, &proof).await,
        "invalid_dpop_proof",
        "the same proof twice",
    )
    .await;

    // A proof made for another URL of the same API does not carry over (`htu`, RFC 9449 §4.3).
    let for_public = key
        .proof("GET", &public_url(&app, "/api/public"), Some(&token))
        .unwrap();
    assert_refused(
        get_with_proof(&app, "/api/private", &token, &for_public).await,
        "invalid_dpop_proof",
        "a proof for another URL",
    )
    .await;

    // The bound token alone is not a bearer token: whoever copied it lacks the key.
    assert_refused(
        app.get_with("/api/private", &token).await,
        "invalid_token",
        "the bound token as Bearer",
    )
    .await;

    // A fresh proof still works after the refusals, on a route that also checks the scope.
    let scoped = public_url(&app, "/api/private-scoped");
    let fresh = key.proof("GET", &scoped, Some(&token)).unwrap();
    assert_eq!(
        get_with_proof(&app, "/api/private-scoped", &token, &fresh)
            .await
            .status(),
        200
    );
}

/// The settings that let the service introspect `provider`'s opaque tokens: the endpoint comes from
/// discovery, the cache keeps an answer for `ttl` seconds.
fn introspection_settings<'a>(
    provider: &'a OpenIdProvider,
    ttl: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("OIDC_ISSUER", &provider.issuer),
        ("OIDC_AUDIENCE", THIS_API),
        ("OIDC_INTROSPECTION_CLIENT_ID", INTROSPECTION_CLIENT_ID),
        (
            "OIDC_INTROSPECTION_CLIENT_SECRET",
            INTROSPECTION_CLIENT_SECRET,
        ),
        ("CACHE_INTROSPECTION_TTL", ttl),
    ]
}

/// Whether `token` has the shape of a compact JWS (three dot-separated parts).
fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

#[tokio::test]
async fn opaque_tokens_are_introspected_at_the_provider_and_refused_once_revoked() {
    if !provider_available() {
        return;
    }
    let provider = OpenIdProvider::start_opaque(free_port()).await;
    let mut settings = vec![("AUTH_PROVIDER", "oidc")];
    settings.extend(introspection_settings(&provider, "1"));
    let app = TestApp::builder().settings(&settings).spawn().await;

    let scoped = provider
        .opaque_client_credentials(Some("read:messages"))
        .await;
    assert!(!looks_like_jwt(&scoped), "an opaque token: {scoped}");
    let response = app.get_with("/api/private", &scoped).await;
    assert_eq!(response.status(), 200);
    // oidc-provider's answer for a client_credentials token: `iss` is the issuer, no `aud` (no
    // resource indicator), no `sub` (no end-user); the members come back as the token's claims.
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["claims"]["client_id"], CLIENT_ID, "{body}");
    assert_eq!(body["claims"]["iss"], provider.issuer.as_str(), "{body}");
    assert_eq!(body["claims"]["scope"], "read:messages", "{body}");
    assert_eq!(
        app.get_with("/api/private-scoped", &scoped).await.status(),
        200
    );

    let unscoped = provider.opaque_client_credentials(None).await;
    assert_eq!(app.get_with("/api/private", &unscoped).await.status(), 200);
    let response = app.get_with("/api/private-scoped", &unscoped).await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope", "{body}");

    // The same issuer's JWTs (a grant for this API's resource) are still verified by signature.
    let jwt = provider
        .client_credentials(THIS_API, Some("read:messages"))
        .await;
    assert!(looks_like_jwt(&jwt));
    assert_eq!(
        app.get_with("/api/private-scoped", &jwt).await.status(),
        200
    );

    // Revoked at the provider: refused once the cached answer (1 s) has expired. Bounded wait: the
    // loop gives up after 10 s, far more than the TTL.
    provider.revoke(&scoped).await;
    let mut last = None;
    for _ in 0..20 {
        let response = app.get_with("/api/private-scoped", &scoped).await;
        if response.status() != 200 {
            last = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let refused = last.expect("the revoked token is refused within 10 s");
    assert_invalid_token(refused, "not active").await;
    // Only that token: the other one the provider issued still works.
    assert_eq!(app.get_with("/api/private", &unscoped).await.status(), 200);
}

#[cfg(feature = "local-issuer")]
#[tokio::test]
async fn a_second_issuer_is_accepted_side_by_side_and_neither_borrows_the_others_rules() {
    if !provider_available() {
        return;
    }
    let provider = OpenIdProvider::start_opaque(free_port()).await;
    let mut settings = vec![
        ("AUTH_PROVIDER", "local, oidc"),
        // The local issuer's audience is the other API: accepted for the local issuer's tokens
        // only, never for the provider's.
        ("LOCAL_AUDIENCE", OTHER_API),
    ];
    settings.extend(introspection_settings(&provider, "60"));
    let app = TestApp::builder().local().extra(&settings).spawn().await;

    // Each issuer's token, on the same route.
    let opaque = provider
        .opaque_client_credentials(Some("read:messages"))
        .await;
    assert_eq!(
        app.get_with("/api/private-scoped", &opaque).await.status(),
        200
    );
    let local = local_client_credentials(&app, "read:messages").await;
    let response = app.get_with("/api/private-scoped", &local).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["claims"]["iss"], app.base.as_str(), "{body}");
    assert_eq!(body["claims"]["aud"], OTHER_API, "{body}");

    // The provider's JWT for the audience the local issuer accepts: the provider's own rule
    // (audience THIS_API) applies to it, so it is refused.
    let for_other_api = provider
        .client_credentials(OTHER_API, Some("read:other"))
        .await;
    assert_invalid_token(
        app.get_with("/api/private", &for_other_api).await,
        "audience",
    )
    .await;
    // And a local token lacking the scope is refused on the scoped route, as the provider's is.
    let local_unscoped = local_client_credentials(&app, "read:other").await;
    assert_eq!(
        app.get_with("/api/private-scoped", &local_unscoped)
            .await
            .status(),
        403
    );
    let opaque_unscoped = provider.opaque_client_credentials(None).await;
    assert_eq!(
        app.get_with("/api/private-scoped", &opaque_unscoped)
            .await
            .status(),
        403
    );
}

/// A `client_credentials` grant at the local issuer's `/oauth/token` with its own client.
#[cfg(feature = "local-issuer")]
async fn local_client_credentials(app: &TestApp, scope: &str) -> String {
    let client = &app.state.issuer.as_ref().unwrap().client;
    let response = app
        .post("/oauth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client.client_id.as_str()),
            ("client_secret", client.client_secret.as_str()),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}
