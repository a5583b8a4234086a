//! DPoP with the local issuer: `/oauth/token` binds a token to the key of the proof it is sent with
//! (RFC 9449 §5), and the `dpop` and `token --dpop-key` commands make the proofs and bound tokens
//! README's curl walk-through uses.

use std::path::Path;
use std::process::{Command, Output};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::join_all;
use protected_api::dpop_proof::{ProofKey, access_token_hash};
use serde_json::Value;

use crate::flows::{password_grant_request, sign_up};
use crate::helpers::TestApp;

/// The decoded JSON of part `index` of a compact JWT (0: header, 1: payload).
fn part_of(jwt: &str, index: usize) -> Value {
    let encoded = jwt.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
}

/// The local client's id and secret.
fn client(app: &TestApp) -> (String, String) {
    let issuer = app.state.issuer.as_ref().unwrap();
    (
        issuer.client.client_id.clone(),
        issuer.client.client_secret.clone(),
    )
}

/// A `client_credentials` request carrying each of `proofs` as a `DPoP` header.
async fn token_request(app: &TestApp, proofs: &[&str]) -> reqwest::Response {
    let (id, secret) = client(app);
    let mut request = app
        .post("/oauth/token")
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")]);
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    request.send().await.unwrap()
}

/// GET `path` with `Authorization: DPoP <token>` and `proof`.
async fn get_with_proof(app: &TestApp, path: &str, token: &str, proof: &str) -> reqwest::Response {
    app.get(path)
        .header("Authorization", format!("DPoP {token}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap()
}

/// Asserts a token endpoint refusal: 400 `invalid_dpop_proof` (RFC 9449 §5), no token.
async fn assert_invalid_proof(response: reqwest::Response, case: &str) {
    assert_eq!(response.status(), 400, "{case}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_dpop_proof", "{case}: {body}");
    assert!(body.get("access_token").is_none(), "{case}");
}

#[tokio::test]
async fn a_token_request_with_a_proof_gets_a_token_bound_to_its_key() {
    let app = TestApp::builder().local().spawn().await;
    let key = ProofKey::generate().unwrap();
    let proof = key.proof("POST", &app.url("/oauth/token"), None).unwrap();
    let response = token_request(&app, &[&proof]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP", "RFC 9449 §5: {body}");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(part_of(token, 1)["cnf"]["jkt"], key.thumbprint());

    let url = app.url("/api/private");
    let proof = key.proof("GET", &url, Some(token)).unwrap();
    let response = get_with_proof(&app, "/api/private", token, &proof).await;
    assert_eq!(response.status(), 200);
    // A bound token is no bearer token.
    assert_eq!(app.get_with("/api/private", token).await.status(), 401);
}

#[tokio::test]
async fn discovery_lists_the_proof_algorithms_unless_dpop_is_off() {
    let app = TestApp::builder().local().spawn().await;
    let discovery: Value = app.get_json("/.well-known/openid-configuration").await;
    let algs = discovery["dpop_signing_alg_values_supported"]
        .as_array()
        .unwrap();
    assert!(algs.contains(&"ES256".into()), "RFC 9449 §5.1: {discovery}");
    assert!(
        !algs
            .iter()
            .any(|alg| alg.as_str().unwrap().starts_with("HS"))
    );

    let off = TestApp::builder()
        .local()
        .extra(&[("AUTH_DPOP", "off")])
        .spawn()
        .await;
    let discovery: Value = off.get_json("/.well-known/openid-configuration").await;
    assert!(discovery.get("dpop_signing_alg_values_supported").is_none());
}

#[tokio::test]
async fn without_a_proof_the_token_is_a_bearer_token_as_before() {
    let app = TestApp::builder().local().spawn().await;
    let body: Value = token_request(&app, &[]).await.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    let token = body["access_token"].as_str().unwrap();
    assert!(part_of(token, 1).get("cnf").is_none());
    assert_eq!(app.get_with("/api/private", token).await.status(), 200);
}

#[tokio::test]
async fn the_password_grant_binds_too() {
    let app = TestApp::builder().local().spawn().await;
    sign_up(&app, "ada", "correct horse battery").await;
    let key = ProofKey::generate().unwrap();
    let proof = key.proof("POST", &app.url("/oauth/token"), None).unwrap();
    let response = password_grant_request(&app, "ada", "correct horse battery")
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let token = body["access_token"].as_str().unwrap();
    assert_eq!(part_of(token, 1)["cnf"]["jkt"], key.thumbprint());
}

#[tokio::test]
async fn a_bad_proof_at_the_token_endpoint_is_invalid_dpop_proof_and_issues_nothing() {
    let app = TestApp::builder().local().spawn().await;
    let key = ProofKey::generate().unwrap();
    let token_url = app.url("/oauth/token");

    let for_get = key.proof("GET", &token_url, None).unwrap();
    assert_invalid_proof(token_request(&app, &[&for_get]).await, "htm GET").await;

    let elsewhere = key.proof("POST", &app.url("/oauth/other"), None).unwrap();
    assert_invalid_proof(token_request(&app, &[&elsewhere]).await, "htu elsewhere").await;

    let stale = key
        .proof_at("POST", &token_url, None, now() - 3_600)
        .unwrap();
    assert_invalid_proof(token_request(&app, &[&stale]).await, "iat an hour ago").await;

    let unsigned = {
        let proof = key.proof("POST", &token_url, None).unwrap();
        let (signed, _) = proof.rsplit_once('.').unwrap();
        format!("{signed}.{}", URL_SAFE_NO_PAD.encode([0u8; 64]))
    };
    assert_invalid_proof(token_request(&app, &[&unsigned]).await, "bad signature").await;

    assert_invalid_proof(token_request(&app, &["not-a-jwt"]).await, "garbage").await;

    let one = key.proof("POST", &token_url, None).unwrap();
    let two = key.proof("POST", &token_url, None).unwrap();
    assert_invalid_proof(
        token_request(&app, &[&one, &two]).await,
        "two DPoP headers (RFC 9449 §4.3 point 1)",
    )
    .await;

    // The same proof once more after a success is a replay.
    let proof = key.proof("POST", &token_url, None).unwrap();
    assert_eq!(token_request(&app, &[&proof]).await.status(), 200);
    assert_invalid_proof(token_request(&app, &[&proof]).await, "replayed").await;
}

#[tokio::test]
async fn with_an_issuer_apart_from_public_url_a_proof_for_either_token_endpoint_url_binds() {
    let app = TestApp::builder()
        .local()
        .extra(&[("LOCAL_ISSUER", "https://issuer.example.test")])
        .spawn()
        .await;
    let discovery: Value = app.get_json("/.well-known/openid-configuration").await;
    let advertised = discovery["token_endpoint"].as_str().unwrap();
    assert_eq!(advertised, "https://issuer.example.test/oauth/token");
    let key = ProofKey::generate().unwrap();
    // Where discovery says the endpoint is, and where the request really arrives (PUBLIC_URL).
    for url in [advertised, &app.url("/oauth/token")] {
        let proof = key.proof("POST", url, None).unwrap();
        let response = token_request(&app, &[&proof]).await;
        assert_eq!(response.status(), 200, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "DPoP", "{url}: {body}");
        let token = body["access_token"].as_str().unwrap();
        assert_eq!(part_of(token, 1)["cnf"]["jkt"], key.thumbprint(), "{url}");
    }
    // Any other URL is refused as before.
    for url in [
        "https://elsewhere.example.test/oauth/token",
        "https://issuer.example.test/oauth/introspect",
        "http://issuer.example.test/oauth/token",
        &app.url("/oauth/introspect"),
    ] {
        let proof = key.proof("POST", url, None).unwrap();
        let response = token_request(&app, &[&proof]).await;
        assert_eq!(response.status(), 400, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{url}: {body}");
        assert_eq!(
            body["error_description"], "DPoP proof htu does not match the request URL",
            "{url}"
        );
        assert!(body.get("access_token").is_none(), "{url}");
    }
}

#[tokio::test]
async fn a_proof_sent_with_wrong_client_credentials_is_not_used_up() {
    // Only a grant that succeeds records the proof's jti: callers without credentials cannot fill
    // the replay store, nor burn the proofs of a client whose requests they see.
    let app = TestApp::builder().local().spawn().await;
    let key = ProofKey::generate().unwrap();
    let proof = key.proof("POST", &app.url("/oauth/token"), None).unwrap();
    let (id, _) = client(&app);
    let refused = app
        .post("/oauth/token")
        .basic_auth(&id, Some("wrong-secret"))
        .header("DPoP", &proof)
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let response = token_request(&app, &[&proof]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn one_proof_sent_fifty_times_at_once_gets_one_token() {
    let app = TestApp::builder().local().spawn().await;
    let key = ProofKey::generate().unwrap();
    let proof = key.proof("POST", &app.url("/oauth/token"), None).unwrap();
    let proofs = [proof.as_str()];
    let statuses: Vec<u16> = join_all((0..50).map(|_| token_request(&app, &proofs)))
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 400).count(),
        49,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn with_dpop_off_the_proof_is_ignored_and_the_token_is_bearer() {
    let app = TestApp::builder()
        .local()
        .extra(&[("AUTH_DPOP", "off")])
        .spawn()
        .await;
    let key = ProofKey::generate().unwrap();
    let proof = key.proof("POST", &app.url("/oauth/token"), None).unwrap();
    let body: Value = token_request(&app, &[&proof]).await.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer", "{body}");
    let token = body["access_token"].as_str().unwrap();
    assert!(part_of(token, 1).get("cnf").is_none());
    assert_eq!(app.get_with("/api/private", token).await.status(), 200);
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Runs the binary with `args` in `dir`, its data and public URL those of a local app at `base`.
fn run(dir: &Path, base: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_protected-api"))
        .args(args)
        .env("LOCAL_DATA_DIR", dir.join("data"))
        .env("SERVER_PUBLIC_URL", base)
        .env_remove("CONFIG_FILE")
        .current_dir(dir)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn the_dpop_command_makes_a_private_key_once_and_a_fresh_proof_each_time() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "dpop",
        "--key",
        "key.pem",
        "--method",
        "POST",
        "--url",
        "https://API.example.com/oauth/token?x=1#f",
        "--token",
        "the-token",
    ];
    let first = run(dir.path(), "http://127.0.0.1:8000", &args);
    let proof = stdout(&first);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(
        stderr.contains("generated a DPoP key in key.pem"),
        "{stderr}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the private key is the owner's only");
    }
    let header = part_of(&proof, 0);
    assert_eq!(header["typ"], "dpop+jwt");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["jwk"]["kty"], "EC");
    assert!(header["jwk"].get("d").is_none());
    let claims = part_of(&proof, 1);
    assert_eq!(claims["htm"], "POST");
    assert_eq!(claims["htu"], "https://api.example.com/oauth/token");
    assert_eq!(claims["ath"], access_token_hash("the-token"));

    let second = run(dir.path(), "http://127.0.0.1:8000", &args);
    let again = stdout(&second);
    assert!(second.stderr.is_empty(), "the key is reused silently");
    assert_eq!(part_of(&again, 0)["jwk"], header["jwk"], "same key");
    assert_ne!(part_of(&again, 1)["jti"], claims["jti"], "a new jti");
}

#[test]
fn a_bad_key_file_is_one_line_naming_it_and_nothing_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("key.pem"),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    for args in [
        &[
            "dpop",
            "--key",
            "key.pem",
            "--url",
            "http://127.0.0.1:8000/api/private",
        ][..],
        &["token", "--dpop-key", "key.pem"][..],
    ] {
        let output = run(dir.path(), "http://127.0.0.1:8000", args);
        assert!(!output.status.success(), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}");
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("key.pem") && stderr.contains("not an EC P-256 private key"),
            "{stderr}"
        );
    }
}

/// README's walk-through, command by command: a bound token and a proof from the CLI; the call
/// works once, its replay and the token as Bearer do not.
#[test]
fn the_cli_walk_through_of_the_readme_works_and_a_replay_fails() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(
        TestApp::builder()
            .local()
            .extra(&[(
                "LOCAL_DATA_DIR",
                &dir.path().join("data").display().to_string(),
            )])
            .spawn(),
    );
    let token = stdout(&run(
        dir.path(),
        &app.base,
        &["token", "--dpop-key", "key.pem"],
    ));
    let url = app.url("/api/private");
    let proof = stdout(&run(
        dir.path(),
        &app.base,
        &[
            "dpop", "--key", "key.pem", "--method", "GET", "--url", &url, "--token", &token,
        ],
    ));
    runtime.block_on(async {
        let response = get_with_proof(&app, "/api/private", &token, &proof).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["claims"]["sub"], "local-user");

        let replay = get_with_proof(&app, "/api/private", &token, &proof).await;
        assert_eq!(replay.status(), 401);
        let body: Value = replay.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{body}");

        assert_eq!(app.get_with("/api/private", &token).await.status(), 401);
    });
}
