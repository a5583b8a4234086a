//! What a browser does against the local issuer, shared by the flow tests: sign up, the password
//! grant, and the login form with its CSRF field.

use serde_json::{Value, json};

use crate::helpers::TestApp;

/// Signs up `username` (expecting 201) and returns the created account.
pub(crate) async fn sign_up(app: &TestApp, username: &str, password: &str) -> Value {
    let response = app
        .post("/auth/signup")
        .json(&json!({"username": username, "password": password, "name": "Alice A."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// The password grant for `username`, answered as it comes.
pub(crate) async fn password_grant(
    app: &TestApp,
    username: &str,
    password: &str,
) -> reqwest::Response {
    password_grant_request(app, username, password)
        .send()
        .await
        .unwrap()
}

/// The password grant for `username`, not sent yet (to add a header such as `DPoP`).
pub(crate) fn password_grant_request(
    app: &TestApp,
    username: &str,
    password: &str,
) -> reqwest::RequestBuilder {
    app.post("/oauth/token").form(&[
        ("grant_type", "password"),
        ("username", username),
        ("password", password),
    ])
}

/// A browser that keeps cookies and shows each redirect instead of following it.
pub(crate) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// The CSRF field of the login form in `html`.
pub(crate) fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="csrf" value=""#)
        .expect("the form has a CSRF field")
        + r#"name="csrf" value=""#.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Runs `/authorize` as a browser would, returning the redirect it ends with.
pub(crate) async fn authorize(
    app: &TestApp,
    client: &reqwest::Client,
    params: &[(&str, &str)],
    username: &str,
    password: &str,
) -> reqwest::Response {
    let form = client
        .get(format!("{}/authorize", app.base))
        .query(params)
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(html.contains("<form") && html.contains(r#"autocomplete="current-password""#));
    let mut fields: Vec<(&str, String)> =
        params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    fields.extend([
        ("username", username.to_owned()),
        ("password", password.to_owned()),
        ("csrf", csrf_of(&html)),
    ]);
    client
        .post(format!("{}/authorize", app.base))
        .form(&fields)
        .send()
        .await
        .unwrap()
}
