//! The embedded development issuer: keys, discovery, `client_credentials`, and the `token` command.

use std::process::Command;

use serde_json::Value;

use crate::helpers::TestApp;
use crate::process::Service;

async fn client(app: &TestApp) -> (String, String) {
    let issuer = app.state.issuer.as_ref().unwrap();
    (
        issuer.client.client_id.clone(),
        issuer.client.client_secret.clone(),
    )
}

#[tokio::test]
async fn jwks_and_discovery_describe_the_issuer() {
    let app = TestApp::builder().local().spawn().await;
    let discovery: Value = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], app.base.as_str());
    assert_eq!(
        discovery["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.base)
    );
    assert_eq!(
        discovery["token_endpoint"],
        format!("{}/oauth/token", app.base)
    );
    let jwks: Value = app.get_json("/.well-known/jwks.json").await;
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "RSA");
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    assert!(key.get("d").is_none(), "no private part is ever published");
    assert_eq!(
        key["kid"].as_str().unwrap().len(),
        43,
        "RFC 7638 SHA-256 thumbprint, base64url"
    );
}

#[tokio::test]
async fn client_credentials_by_form_gives_a_token_the_api_accepts() {
    let app = TestApp::builder().local().spawn().await;
    let (id, secret) = client(&app).await;
    let response = app
        .post("/oauth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "read:messages read:admin");
    let token = body["access_token"].as_str().unwrap();
    for path in ["/api/private", "/api/private-scoped", "/api/admin"] {
        assert_eq!(app.get_with(path, token).await.status(), 200, "{path}");
    }
    let claims: Value = app
        .get_with("/api/private", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(claims["claims"]["sub"], format!("{id}@clients"));
    assert_eq!(claims["claims"]["client_id"], id.as_str());
}

#[tokio::test]
async fn client_credentials_by_basic_auth_and_json_with_a_narrower_scope() {
    let app = TestApp::builder().local().spawn().await;
    let (id, secret) = client(&app).await;
    let response = app
        .post("/oauth/token")
        .basic_auth(&id, Some(&secret))
        .json(&serde_json::json!({"grant_type": "client_credentials", "scope": "read:messages", "audience": "protected-api"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        app.get_with("/api/private-scoped", &token).await.status(),
        200
    );
    assert_eq!(app.get_with("/api/admin", &token).await.status(), 403);
}

/// Form fields of a token request.
type Form<'a> = &'a [(&'a str, &'a str)];

#[tokio::test]
async fn token_requests_fail_the_rfc_6749_way() {
    let app = TestApp::builder().local().spawn().await;
    let (id, secret) = client(&app).await;
    let cases: [(Form, u16, &str); 4] = [
        (
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", "wrong"),
            ],
            401,
            "invalid_client",
        ),
        (
            &[("grant_type", "client_credentials")],
            401,
            "invalid_client",
        ),
        (
            &[
                ("grant_type", "device_code"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
            400,
            "unsupported_grant_type",
        ),
        (
            &[("client_id", &id), ("client_secret", &secret)],
            400,
            "invalid_request",
        ),
    ];
    for (form, status, error) in cases {
        let response = app.post("/oauth/token").form(form).send().await.unwrap();
        assert_eq!(response.status(), status, "{error}");
        if status == 401 {
            assert_eq!(
                response.headers()["www-authenticate"],
                r#"Basic realm="protected-api""#
            );
        }
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], error);
    }
    let response = app
        .post("/oauth/token")
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("audience", "other-api"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"],
        "invalid_target"
    );
}

#[tokio::test]
async fn configured_client_credentials_are_used_instead_of_generated_ones() {
    let app = TestApp::builder()
        .local()
        .extra(&[
            ("LOCAL_CLIENT_ID", "my-client"),
            ("LOCAL_CLIENT_SECRET", "my-secret-value"),
        ])
        .spawn()
        .await;
    let response = app
        .post("/oauth/token")
        .basic_auth("my-client", Some("my-secret-value"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[test]
fn the_token_command_prints_a_token_the_service_accepts() {
    let data = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_protected-api"))
        .args([
            "token",
            "--scope",
            "read:messages",
            "--sub",
            "alice",
            "--ttl",
            "120",
        ])
        .env("LOCAL_DATA_DIR", data.path())
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
    assert_eq!(token.split('.').count(), 3);

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        // The data directory and public URL the command signed with.
        let app = TestApp::builder()
            .local()
            .extra(&[
                ("LOCAL_DATA_DIR", &data.path().display().to_string()),
                ("SERVER_PUBLIC_URL", "http://127.0.0.1:8000"),
            ])
            .spawn()
            .await;
        let response = app.get_with("/api/private-scoped", &token).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["claims"]["sub"], "alice");
        assert_eq!(
            body["claims"]["exp"].as_u64().unwrap() - body["claims"]["iat"].as_u64().unwrap(),
            120
        );
        let admin = app.get_with("/api/admin", &token).await;
        assert_eq!(admin.status(), 403, "only the scope was asked for");
    });
}

#[test]
fn the_signing_key_is_kept_private_and_reused() {
    let data = tempfile::tempdir().unwrap();
    let settings = protected_api::Settings::from_pairs([(
        "LOCAL_DATA_DIR",
        data.path().display().to_string(),
    )])
    .unwrap();
    let first = protected_api::issuer::LocalIssuer::open(&settings.local)
        .unwrap()
        .jwks();
    let again = protected_api::issuer::LocalIssuer::open(&settings.local)
        .unwrap()
        .jwks();
    assert_eq!(first, again);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.path().join("signing-key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[cfg(unix)]
#[tokio::test]
async fn every_file_in_a_shared_data_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    // A directory that already exists and others may list: a Docker volume, a `mkdir`.
    let data = tempfile::tempdir().unwrap();
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let app = TestApp::builder()
        .local()
        .extra(&[("LOCAL_DATA_DIR", &data.path().display().to_string())])
        .spawn()
        .await;
    let signed_up = app
        .post("/auth/signup")
        .json(&serde_json::json!({"username": "olive", "password": "correct horse battery"}))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_up.status(), 201);

    let mut names = Vec::new();
    for entry in std::fs::read_dir(data.path()).unwrap() {
        let entry = entry.unwrap();
        let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
        let name = entry.file_name().to_string_lossy().into_owned();
        assert_eq!(mode, 0o600, "{name} is {mode:o}");
        names.push(name);
    }
    names.sort();
    for expected in [
        "accounts.db",
        "accounts.db-wal",
        "client.json",
        "signing-key.pem",
    ] {
        assert!(names.iter().any(|name| name == expected), "{names:?}");
    }
}

#[test]
fn the_local_issuers_first_start_writes_its_client_secret_to_a_file_not_the_log() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().display().to_string();
    let service = Service::start(data, &[("LOCAL_DATA_DIR", data_dir.as_str())]);
    let client: serde_json::Value =
        serde_json::from_slice(&std::fs::read(service.data.path().join("client.json")).unwrap())
            .unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    assert!(
        service.startup_log.contains("client.json"),
        "the log names the file"
    );
    assert!(
        !service.startup_log.contains(secret),
        "the client secret was logged"
    );
}
