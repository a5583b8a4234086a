//! Input axum's extractors refuse (a body over the limit, a malformed form, query or path) is answered
//! in the same JSON error shape as everything else, never `text/plain` and never a 5xx.

use crate::helpers::TestApp;

/// Ten times nothing but `a`: far over the 64 KiB body limit.
fn ten_megabytes() -> Vec<u8> {
    vec![b'a'; 10 * 1024 * 1024]
}

/// Asserts `status`, a JSON content type and the `{"error","error_description"}` body; returns the body.
async fn assert_json_error(
    response: reqwest::Response,
    status: u16,
    what: &str,
) -> serde_json::Value {
    assert_eq!(response.status(), status, "{what}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/json", "{what}");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body["error"].is_string(), "{what}: {body}");
    assert!(body["error_description"].is_string(), "{what}: {body}");
    body
}

#[tokio::test]
async fn an_oversized_body_is_a_413_in_json_on_every_endpoint_that_reads_one() {
    let app = TestApp::builder().local().spawn().await;
    for (path, content_type) in [
        ("/auth/signup", "application/json"),
        ("/auth/signup", "application/x-www-form-urlencoded"),
        ("/oauth/token", "application/x-www-form-urlencoded"),
        ("/authorize", "application/x-www-form-urlencoded"),
    ] {
        let response = app
            .post(path)
            .header("content-type", content_type)
            .body(ten_megabytes())
            .send()
            .await
            .unwrap();
        let body = assert_json_error(response, 413, path).await;
        assert_eq!(body["error"], "invalid_request", "{path}");
    }
}

#[tokio::test]
async fn a_malformed_login_form_is_a_4xx_in_json() {
    let app = TestApp::builder().local().spawn().await;
    let missing_fields = app.post("/authorize").form(&[("username", "alice")]);
    let not_a_form = app
        .post("/authorize")
        .header("content-type", "text/plain")
        .body("username=alice&password=x&csrf=y");
    for (request, status) in [(missing_fields, 422), (not_a_form, 415)] {
        let response = request.send().await.unwrap();
        assert_json_error(response, status, "POST /authorize").await;
    }
}

#[tokio::test]
async fn a_malformed_query_or_path_is_a_400_in_json() {
    let app = TestApp::builder().local().spawn().await;
    let client = &app.state.issuer.as_ref().unwrap().client;
    let issued: serde_json::Value = app
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
    let token = issued["access_token"].as_str().unwrap();
    for path in [
        "/authorize?response_type=code&response_type=token",
        "/login?next=/a&next=/b",
        "/api/user?refresh=maybe",
        "/api/profile/%FF%FE",
    ] {
        let response = app.get(path).bearer_auth(token).send().await.unwrap();
        assert_json_error(response, 400, path).await;
    }
}

#[tokio::test]
async fn the_openapi_document_lists_the_413_of_every_body() {
    let app = TestApp::builder().local().spawn().await;
    let doc: serde_json::Value = app.get_json("/openapi.json").await;
    for path in ["/oauth/token", "/auth/signup"] {
        let too_large = &doc["paths"][path]["post"]["responses"]["413"];
        assert!(
            too_large["content"]["application/json"].is_object(),
            "{path}: {too_large}"
        );
    }
    let profile = &doc["paths"]["/api/profile/{id}"]["get"]["parameters"][0];
    assert_eq!(profile["name"], "id", "{profile}");
}
