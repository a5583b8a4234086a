//! Sign-up in the browser: the local login page links to `/authorize/signup`, whose form creates the
//! account by the rules of `POST /auth/signup` and goes on with the same authorization request.

use futures_util::future::join_all;
use serde_json::Value;
use url::Url;

use crate::helpers::TestApp;

const WEB_CLIENT: &str = "protected-api-web";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const PASSWORD: &str = "correct horse battery";

/// A browser: keeps cookies, does not follow redirects (the test reads them).
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .unwrap()
}

/// Swagger UI's code + PKCE request, with a `state` a browser would mangle if it were echoed raw.
fn code_request(app: &TestApp) -> Vec<(&'static str, String)> {
    vec![
        ("response_type", "code".to_owned()),
        ("client_id", WEB_CLIENT.to_owned()),
        ("redirect_uri", format!("{}/docs/oauth2-redirect", app.base)),
        ("scope", "openid profile read:messages".to_owned()),
        ("state", "a\"b<c>&d\te\r\nf".to_owned()),
        ("code_challenge", CHALLENGE.to_owned()),
        ("code_challenge_method", "S256".to_owned()),
    ]
}

fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf" value=""#;
    let start = html.find(marker).expect("the form has a CSRF field") + marker.len();
    html[start..start + html[start..].find('"').unwrap()].to_owned()
}

/// Opens the sign-up form for `request` in `browser`; returns its HTML.
async fn open_form(app: &TestApp, browser: &reqwest::Client, request: &[(&str, String)]) -> String {
    let page = browser
        .get(format!("{}/authorize/signup", app.base))
        .query(request)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

/// Posts the sign-up form with `fields` added to `request`.
async fn submit(
    app: &TestApp,
    browser: &reqwest::Client,
    request: &[(&str, String)],
    fields: &[(&str, &str)],
) -> reqwest::Response {
    let mut form: Vec<(&str, String)> = request.to_vec();
    form.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
    browser
        .post(format!("{}/authorize/signup", app.base))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn the_login_page_links_to_a_sign_up_form_for_the_same_request_that_cannot_be_framed() {
    let app = TestApp::builder().local().spawn().await;
    let browser = browser();
    let request = code_request(&app);
    let login = browser
        .get(format!("{}/authorize", app.base))
        .query(&request)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = login
        .find(r#"href="/authorize/signup?"#)
        .expect("a sign-up link")
        + 6;
    let link = html_unescape(&login[start..start + login[start..].find('"').unwrap()]);
    let linked = Url::parse(&format!("{}{link}", app.base)).unwrap();
    let carried: Vec<(String, String)> = linked.query_pairs().into_owned().collect();
    let expected: Vec<(String, String)> = request
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    assert_eq!(carried, expected, "the link carries the request as sent");

    let page = browser.get(linked).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert_eq!(page.headers()["cache-control"], "no-store");
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    let cookie = page.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains(r#"autocomplete="new-password""#), "{html}");
    assert!(!html.contains("<c>"), "the state is escaped: {html}");

    // An unregistered redirect URI gets no form, as at /authorize.
    let mut hostile = code_request(&app);
    hostile[2].1 = "https://evil.example/cb".to_owned();
    let refused = browser
        .get(format!("{}/authorize/signup", app.base))
        .query(&hostile)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("location").is_none());
}

fn html_unescape(text: &str) -> String {
    text.replace("&amp;", "&")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
}

#[tokio::test]
async fn a_sign_up_form_without_its_csrf_token_is_refused_and_creates_nothing() {
    let app = TestApp::builder().local().spawn().await;
    let request = code_request(&app);
    let account = [("username", "mallory"), ("password", PASSWORD)];

    // Another site's form: no cookie, a guessed token.
    let forged = submit(
        &app,
        &browser(),
        &request,
        &[account[0], account[1], ("csrf", "guessed")],
    )
    .await;
    assert_eq!(forged.status(), 403);
    assert!(forged.headers().get("location").is_none());

    // This site's cookie, but the form's token missing or another one.
    let browser = browser();
    open_form(&app, &browser, &request).await;
    let missing = submit(&app, &browser, &request, &account).await;
    assert_eq!(
        missing.status(),
        422,
        "a form without the field is malformed"
    );
    let wrong = submit(
        &app,
        &browser,
        &request,
        &[account[0], account[1], ("csrf", "x")],
    )
    .await;
    assert_eq!(wrong.status(), 403);

    // Nothing was created: the name is still free.
    let created = app
        .post("/auth/signup")
        .json(&serde_json::json!({"username": "mallory", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
}

#[tokio::test]
async fn a_taken_email_or_a_weak_password_shows_the_form_again_with_the_reason() {
    let app = TestApp::builder().local().spawn().await;
    let taken = app
        .post("/auth/signup")
        .json(&serde_json::json!({"username": "first", "password": PASSWORD, "email": "ann@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), 201);

    let browser = browser();
    let request = code_request(&app);
    let csrf = csrf_of(&open_form(&app, &browser, &request).await);
    let fields = [
        ("username", "second"),
        ("password", PASSWORD),
        ("email", "ann@example.com"),
        ("name", "Ann <B>"),
        ("csrf", csrf.as_str()),
    ];
    let duplicate = submit(&app, &browser, &request, &fields).await;
    assert_eq!(duplicate.status(), 409);
    assert_eq!(duplicate.headers()["x-frame-options"], "DENY");
    let html = duplicate.text().await.unwrap();
    assert!(html.contains("Username or email is taken."), "{html}");
    assert!(
        html.contains(r#"value="second""#),
        "the username is kept: {html}"
    );
    assert!(
        html.contains(r#"value="Ann &lt;B&gt;""#),
        "the name is kept, escaped: {html}"
    );
    assert!(!html.contains(PASSWORD), "the password is never echoed");

    // The same form again (its token still holds): a weak password, told field by field.
    let csrf = csrf_of(&html);
    let weak = [
        ("username", "third"),
        ("password", "short"),
        ("csrf", csrf.as_str()),
    ];
    let weak = submit(&app, &browser, &request, &weak).await;
    assert_eq!(weak.status(), 422);
    let html = weak.text().await.unwrap();
    assert!(html.contains(r#"id="password-error""#), "{html}");
    assert!(
        html.contains(r#"aria-invalid="true" aria-describedby="password-error""#),
        "the field points at its message: {html}"
    );
}

#[tokio::test]
async fn signing_up_in_the_browser_goes_on_with_the_authorization_request_to_a_token() {
    let app = TestApp::builder().local().spawn().await;
    let browser = browser();
    let request = code_request(&app);
    let csrf = csrf_of(&open_form(&app, &browser, &request).await);
    let fields = [
        ("username", "newcomer"),
        ("password", PASSWORD),
        ("email", ""),
        ("name", "New Comer"),
        ("csrf", csrf.as_str()),
    ];
    let back = submit(&app, &browser, &request, &fields).await;
    assert_eq!(back.status(), 303);
    let cleared = back.headers()["set-cookie"].to_str().unwrap();
    assert!(
        cleared.starts_with("authorize_csrf=;"),
        "the form's cookie is spent: {cleared}"
    );
    let location = Url::parse(back.headers()["location"].to_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/docs/oauth2-redirect");
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(
        query["state"], request[4].1,
        "the client's state comes back intact"
    );
    let code = &query["code"];

    let redirect_uri = format!("{}/docs/oauth2-redirect", app.base);
    let token: Value = app
        .post("/oauth/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &redirect_uri),
            ("client_id", WEB_CLIENT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access_token = token["access_token"].as_str().expect("a token");
    let me: Value = app
        .get_with("/userinfo", access_token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["preferred_username"], "newcomer");
    assert_eq!(me["name"], "New Comer");
    assert!(
        me.get("email").is_none(),
        "an empty email field is no email: {me}"
    );
}

#[tokio::test]
async fn twenty_browsers_signing_up_the_same_name_at_once_make_one_account() {
    let app = TestApp::builder().local().spawn().await;
    let request = code_request(&app);
    let attempts = (0..20).map(|_| async {
        let browser = browser();
        let csrf = csrf_of(&open_form(&app, &browser, &request).await);
        let fields = [
            ("username", "popular"),
            ("password", PASSWORD),
            ("csrf", csrf.as_str()),
        ];
        submit(&app, &browser, &request, &fields)
            .await
            .status()
            .as_u16()
    });
    let mut statuses = join_all(attempts).await;
    statuses.sort_unstable();
    let created = statuses.iter().filter(|status| **status == 303).count();
    assert_eq!(created, 1, "{statuses:?}");
    // The rest: taken, or told to come back while passwords were being hashed; never a 5xx but that.
    assert!(
        statuses
            .iter()
            .all(|status| [303, 409, 503].contains(status)),
        "{statuses:?}"
    );
}
