//! Local accounts: sign-up, the password grant, and the back-off after repeated failures.

use serde_json::{Value, json};

use crate::flows::{password_grant, sign_up};
use crate::helpers::TestApp;

#[tokio::test]
async fn sign_up_refuses_duplicates_and_weak_input_field_by_field() {
    let app = TestApp::builder().local().spawn().await;
    let created = sign_up(&app, "alice", "correct horse battery").await;
    assert!(created["sub"].as_str().unwrap().starts_with("local|"));
    assert_eq!(created["username"], "alice");
    assert!(created.get("password").is_none() && created.get("password_hash").is_none());

    let taken = app
        .post("/auth/signup")
        .json(&json!({"username": "ALICE", "password": "another password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 409);

    let weak = app
        .post("/auth/signup")
        .form(&[("username", "b"), ("password", "123")])
        .send()
        .await
        .unwrap();
    assert_eq!(weak.status(), 422);
    let body: Value = weak.json().await.unwrap();
    assert!(
        body["fields"]["username"].is_string() && body["fields"]["password"].is_string(),
        "{body}"
    );
}

#[tokio::test]
async fn a_sign_up_body_that_cannot_be_read_is_a_422_naming_the_body() {
    let app = TestApp::builder().local().spawn().await;
    let no_type = app.post("/auth/signup").body(r#"{"username":"bob"}"#);
    let bad_json = app
        .post("/auth/signup")
        .header("content-type", "application/json")
        .body("{not json");
    let missing_field = app.post("/auth/signup").json(&json!({"username": "bob"}));
    let other_type = app
        .post("/auth/signup")
        .header("content-type", "text/plain")
        .body("username=bob");
    for (what, request) in [
        ("no content type", no_type),
        ("bad JSON", bad_json),
        ("a missing field", missing_field),
        ("text/plain", other_type),
    ] {
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 422, "{what}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"], "invalid_request", "{what}: {body}");
        assert!(body["fields"]["body"].is_string(), "{what}: {body}");
    }
}

#[tokio::test]
async fn the_password_grant_gives_tokens_for_the_account_and_never_says_which_part_was_wrong() {
    let app = TestApp::builder().local().spawn().await;
    let account = sign_up(&app, "carol@example.com", "correct horse battery").await;
    let response = password_grant(&app, "carol@example.com", "correct horse battery").await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap();
    assert!(body["id_token"].is_string(), "openid is granted by default");
    let private: Value = app
        .get_with("/api/private-scoped", token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(private["claims"]["sub"], account["sub"]);
    assert_eq!(
        app.get_with("/api/admin", token).await.status(),
        403,
        "people get no permissions by default"
    );

    let user: Value = app.get_with("/api/user", token).await.json().await.unwrap();
    assert_eq!(user["email"], "carol@example.com");

    let wrong_password: Value = password_grant(&app, "carol@example.com", "wrong password!")
        .await
        .json()
        .await
        .unwrap();
    let unknown_user: Value = password_grant(&app, "nobody@example.com", "correct horse battery")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(wrong_password, unknown_user);
    assert_eq!(wrong_password["error"], "invalid_grant");
}

#[tokio::test]
async fn repeated_failures_slow_the_account_down() {
    let app = TestApp::builder().local().spawn().await;
    sign_up(&app, "dave", "correct horse battery").await;
    // README: after five failures the account waits, even for the right password.
    for _ in 0..5 {
        assert_eq!(
            password_grant(&app, "dave", "wrong password")
                .await
                .status(),
            400
        );
    }
    let locked = password_grant(&app, "dave", "correct horse battery").await;
    assert_eq!(locked.status(), 429);
    assert!(locked.headers().contains_key("retry-after"));
    assert_eq!(locked.json::<Value>().await.unwrap()["error"], "slow_down");
}

#[tokio::test]
async fn repeated_failures_slow_the_address_down() {
    let app = TestApp::builder().local().spawn().await;
    for i in 0..20 {
        assert_eq!(
            password_grant(&app, &format!("guess-{i}"), "whatever1")
                .await
                .status(),
            400
        );
    }
    assert_eq!(
        password_grant(&app, "guess-x", "whatever1").await.status(),
        429
    );
}
