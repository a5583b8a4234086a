//! Swagger UI in a real browser: Debian's Chromium, driven by npm `playwright-core`
//! (`tests/browser/swagger.mjs`), signs up from the login page behind the Authorize button, calls
//! `/api/private`, then logs in again with that account. Nobody calls `/auth/signup` by hand.
//! Screenshots land in `target/browser-screenshots/`.

use std::path::Path;
use std::time::Duration;

use crate::helpers::TestApp;

const SCRIPT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser");

/// Whether the browser test can run here; panics when it must (`PROTECTED_API_REQUIRE_BROWSER`).
fn browser_available() -> bool {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".to_owned());
    let missing = if !Path::new(&chromium).exists() {
        Some(format!("{chromium} is missing (apt-get install chromium)"))
    } else if !Path::new(SCRIPT_DIR)
        .join("node_modules/playwright-core")
        .exists()
    {
        Some("playwright-core is missing (npm ci --prefix tests/browser)".to_owned())
    } else {
        None
    };
    match missing {
        None => true,
        Some(why) => {
            assert!(
                std::env::var("PROTECTED_API_REQUIRE_BROWSER").is_err(),
                "the browser test is required: {why}"
            );
            eprintln!("skipped: {why}");
            false
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swagger_ui_signs_up_logs_in_with_oauth_and_with_a_pasted_token() {
    if !browser_available() {
        return;
    }
    let app = TestApp::builder().local().spawn().await;
    let client = &app.state.issuer.as_ref().unwrap().client;
    let token: serde_json::Value = app
        .post("/oauth/token")
        .basic_auth(&client.client_id, Some(&client.client_secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let screenshots = concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser-screenshots");
    let mut command = tokio::process::Command::new("node");
    command
        .arg("swagger.mjs")
        .current_dir(SCRIPT_DIR)
        .env("BASE_URL", &app.base)
        .env("USERNAME", "swagger-user")
        .env("PASSWORD", "correct horse battery")
        .env("TOKEN", token["access_token"].as_str().unwrap())
        .env("SCREENSHOT_DIR", screenshots)
        .kill_on_drop(true);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the browser test finishes within 2 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "browser test failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("signup status: 200"), "{stdout}");
    assert!(stdout.contains("oauth status: 200"), "{stdout}");
    assert!(stdout.contains("bearer status: 200"), "{stdout}");
}
