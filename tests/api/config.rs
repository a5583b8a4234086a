//! Configuration: precedence, the Auth0 tutorial's `.config`, and one-line errors that name the key.

use std::io::Write;
use std::process::Command;

use protected_api::Settings;
use protected_api::auth::providers::ProviderKind;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `pairs` after a real provider's settings, so a test of the core runs in every build.
fn with_oidc(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    let oidc = [
        ("AUTH_PROVIDER", "oidc"),
        ("OIDC_ISSUER", "https://idp.example.com"),
        ("OIDC_AUDIENCE", "api"),
    ];
    env(&[&oidc[..], pairs].concat())
}

fn ini(text: &str) -> tempfile::NamedTempFile {
    let mut file = tempfile::Builder::new().suffix(".ini").tempfile().unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file
}

/// Runs the binary in an empty directory with only `vars` set; returns (exit code, stderr).
fn run(args: &[&str], vars: &[(&str, &str)]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_protected-api"))
        .args(args)
        .env_clear()
        .envs(vars.iter().copied())
        .env("LOCAL_DATA_DIR", dir.path())
        .current_dir(dir.path())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn the_auth0_tutorials_config_works_as_written() {
    let file = ini(
        "[AUTH0]\nDOMAIN = tenant.eu.auth0.com\nAPI_AUDIENCE = https://api.example.com\nALGORITHMS = RS256\nISSUER = https://tenant.eu.auth0.com/\n",
    );
    let settings = Settings::load_from(Some(file.path()), env(&[])).unwrap();
    assert_eq!(
        settings.provider.kind,
        ProviderKind::Auth0,
        "a lone [AUTH0] section selects Auth0"
    );
    assert_eq!(settings.provider.issuer, "https://tenant.eu.auth0.com/");
    assert_eq!(
        settings.provider.audiences,
        vec!["https://api.example.com".to_owned()]
    );
    let protected_api::auth::providers::KeySource::JwksUri(uri) = &settings.provider.keys else {
        panic!()
    };
    assert_eq!(
        uri.as_str(),
        "https://tenant.eu.auth0.com/.well-known/jwks.json"
    );
}

#[test]
fn environment_overrides_the_file_which_overrides_defaults() {
    let file = ini(
        "[SERVER]\nPORT = 9000\nHOST = 0.0.0.0\n[auth]\nleeway = 5\n[oidc]\nIssuer = https://idp.example.com\nAUDIENCE = api\n",
    );
    let settings = Settings::load_from(Some(file.path()), env(&[("SERVER_PORT", "9100")])).unwrap();
    assert_eq!(settings.server.addr.port(), 9100);
    assert_eq!(settings.server.addr.ip().to_string(), "0.0.0.0");
    assert_eq!(
        settings.auth.leeway.as_secs(),
        5,
        "section and key names are case-insensitive"
    );
    assert_eq!(settings.auth.max_token_bytes, 8192);
}

#[test]
fn an_unknown_key_in_the_file_is_named() {
    let file = ini("[AUTH0]\nDOMIAN = tenant.auth0.com\n");
    let error = Settings::load_from(Some(file.path()), env(&[])).unwrap_err();
    assert_eq!(error.to_string(), "[AUTH0] DOMIAN: unknown key");
}

#[test]
fn provider_specific_rules_are_checked_at_start() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("AUTH_PROVIDER", "okta")],
            "[AUTH] PROVIDER: unknown provider",
        ),
        (
            &[("AUTH_PROVIDER", "auth0"), ("AUTH0_API_AUDIENCE", "a")],
            "[AUTH0] DOMAIN: missing",
        ),
        (
            &[
                ("AUTH_PROVIDER", "auth0"),
                ("AUTH0_DOMAIN", "t.auth0.com"),
                ("AUTH0_API_AUDIENCE", "a"),
                ("AUTH0_ALGORITHMS", "HS256"),
            ],
            "[AUTH0] ALGORITHMS: HS256 is symmetric",
        ),
        (
            &[
                ("AUTH_PROVIDER", "oidc"),
                ("OIDC_ISSUER", "http://idp.example.com"),
                ("OIDC_AUDIENCE", "a"),
            ],
            "[OIDC] ISSUER: must be https",
        ),
        (
            &[
                ("AUTH_PROVIDER", "oidc"),
                ("OIDC_ISSUER", "https://idp.example.com"),
                ("OIDC_AUDIENCE", "a"),
                ("OIDC_JWKS_URI", "http://idp.example.com/jwks"),
            ],
            "[OIDC] JWKS_URI: must be https",
        ),
        (
            &[
                ("AUTH_PROVIDER", "cognito"),
                ("COGNITO_REGION", "eu-west-1"),
                ("COGNITO_USER_POOL_ID", "p"),
            ],
            "[COGNITO] CLIENT_ID: missing",
        ),
        (
            &[("AUTH_LEEWAY", "-1")],
            "[AUTH] LEEWAY: expected a whole number of seconds",
        ),
        (
            &[
                ("AUTH_PROVIDER", "oidc"),
                ("OIDC_ISSUER", "https://idp.example.com"),
                ("OIDC_AUDIENCE", "a"),
                ("CACHE_URL", "http://cache"),
            ],
            "[CACHE] URL: expected redis://",
        ),
    ];
    for (pairs, expected) in cases {
        let error = Settings::load_from(None, env(pairs))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(expected),
            "{error:?} should start with {expected:?}"
        );
    }
}

#[test]
fn plain_http_is_fine_on_loopback() {
    let pairs = [
        ("AUTH_PROVIDER", "oidc"),
        ("OIDC_ISSUER", "http://127.0.0.1:8080/realms/dev"),
        ("OIDC_AUDIENCE", "api"),
    ];
    assert!(Settings::load_from(None, env(&pairs)).is_ok());
}

#[test]
fn a_bad_value_stops_the_process_with_one_line_naming_the_key() {
    let (code, stderr) = run(&[], &[("SERVER_PORT", "eighty")]);
    assert_eq!(code, 2);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("[SERVER] PORT"), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
}

#[test]
#[cfg(feature = "local-issuer")]
fn open_sign_up_never_serves_the_network_unless_asked_for_by_name() {
    // What `docker run -p 8000:8000 protected-api` does with no provider settings: the image binds
    // every interface. The process must exit with the setting to pass, not serve open sign-up.
    let (code, stderr) = run(&[], &[("SERVER_HOST", "0.0.0.0"), ("SERVER_PORT", "0")]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("[LOCAL] ALLOW_NETWORK"), "{stderr}");
    assert!(
        stderr.contains("AUTH_PROVIDER"),
        "says what to set: {stderr}"
    );
    let (code, stderr) = run(&["token"], &[("SERVER_HOST", "::")]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
fn a_missing_config_file_is_an_error_too() {
    let (code, stderr) = run(&["--config", "/nonexistent/.config"], &[]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains("/nonexistent/.config: no such file"),
        "{stderr}"
    );
    let (code, stderr) = run(&[], &[("CONFIG_FILE", "/nonexistent/other.ini")]);
    assert_eq!(code, 2, "{stderr}");
}

#[test]
#[cfg(feature = "local-issuer")]
fn the_token_command_refuses_other_providers() {
    let (code, stderr) = run(
        &["token"],
        &[
            ("AUTH_PROVIDER", "firebase"),
            ("FIREBASE_PROJECT_ID", "demo"),
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("PROVIDER is firebase"), "{stderr}");
    let (code, stderr) = run(
        &["token"],
        &[
            ("AUTH_PROVIDER", "firebase, oidc"),
            ("FIREBASE_PROJECT_ID", "demo"),
            ("OIDC_ISSUER", "https://kc.example.com/realms/dev"),
            ("OIDC_AUDIENCE", "api"),
        ],
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("PROVIDER is firebase, oidc"), "{stderr}");
}

#[test]
#[cfg(feature = "local-issuer")]
fn the_token_command_signs_when_the_local_issuer_is_any_of_the_providers() {
    let (code, stderr) = run(
        &["token"],
        &[
            ("AUTH_PROVIDER", "oidc, local"),
            ("OIDC_ISSUER", "https://kc.example.com/realms/dev"),
            ("OIDC_AUDIENCE", "api"),
        ],
    );
    assert_eq!(code, 0, "{stderr}");
}

const EXAMPLE_CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/.config.example");

#[test]
fn the_example_config_documents_every_key() {
    let text = std::fs::read_to_string(EXAMPLE_CONFIG).unwrap();
    for (section, keys) in protected_api::config::KNOWN_KEYS {
        let start = text
            .find(&format!("\n[{section}]\n"))
            .unwrap_or_else(|| panic!("[{section}] is documented"));
        let end = text[start + 1..]
            .find("\n[")
            .map_or(text.len(), |at| start + 1 + at);
        let body = &text[start..end];
        for key in *keys {
            let documented = body.lines().any(|line| {
                line.trim_start_matches(';')
                    .starts_with(&format!("{key} ="))
            });
            assert!(documented, "[{section}] {key} is in .config.example");
        }
    }
}

#[test]
#[cfg(feature = "local-issuer")]
fn the_example_config_loads() {
    let settings = Settings::load_from(Some(std::path::Path::new(EXAMPLE_CONFIG)), env(&[]));
    assert!(settings.is_ok(), "{settings:?}");
}

/// A lean binary reads the same example: the one line it refuses is `PROVIDER = local`, and naming a
/// real provider is all it takes.
#[test]
#[cfg(not(feature = "local-issuer"))]
fn a_build_without_the_issuer_refuses_only_the_examples_provider() {
    let path = Some(std::path::Path::new(EXAMPLE_CONFIG));
    let error = Settings::load_from(path, env(&[])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "[AUTH] PROVIDER: local needs the local-issuer feature, which this binary was built without"
    );
    let settings = Settings::load_from(path, with_oidc(&[]));
    assert!(settings.is_ok(), "{settings:?}");
}

/// What `docker run` of a lean image does with no provider settings: exit 2, one line saying what to set.
#[test]
#[cfg(not(feature = "local-issuer"))]
fn a_build_without_the_issuer_stops_when_no_provider_is_named() {
    let (code, stderr) = run(&[], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("[AUTH] PROVIDER: missing"), "{stderr}");
    assert!(stderr.contains("local-issuer"), "{stderr}");
    let (code, stderr) = run(&[], &[("AUTH_PROVIDER", "local")]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("[AUTH] PROVIDER: local needs the local-issuer feature"),
        "{stderr}"
    );
}

#[test]
fn cors_origins_must_be_origins() {
    let ok = Settings::load_from(
        None,
        with_oidc(&[(
            "SERVER_CORS_ORIGINS",
            "http://localhost:3000, https://app.example.com",
        )]),
    )
    .unwrap();
    assert_eq!(
        ok.server.cors_origins,
        vec!["http://localhost:3000", "https://app.example.com"]
    );
    let error = Settings::load_from(
        None,
        with_oidc(&[("SERVER_CORS_ORIGINS", "https://app.example.com/path")]),
    )
    .unwrap_err();
    assert!(
        error.to_string().starts_with("[SERVER] CORS_ORIGINS:"),
        "{error}"
    );
}
