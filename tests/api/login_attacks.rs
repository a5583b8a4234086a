//! The login paths under attack: hostile `next=` targets through the whole browser flow, password
//! guessing in parallel (per account and per address), and the login form inside a frame.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::Value;
use url::Url;

use crate::flows::{authorize, no_redirects, password_grant, sign_up};
use crate::helpers::TestApp;

const PASSWORD: &str = "correct horse battery";

/// Runs `/login?next=RAW` → `/authorize` → `/auth-callback` as a browser, `raw_next` sent as written
/// (already percent-encoded where it needs to be), and returns the callback's answer.
async fn browser_login(app: &TestApp, username: &str, raw_next: &str) -> reqwest::Response {
    let browser = no_redirects();
    let login = browser
        .get(format!("{}/login?next={raw_next}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 303, "/login with next={raw_next:?}");
    let authorize_url = Url::parse(login.headers()["location"].to_str().unwrap()).unwrap();
    let params: Vec<(String, String)> = authorize_url.query_pairs().into_owned().collect();
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let back = authorize(app, &browser, &params, username, PASSWORD).await;
    assert_eq!(back.status(), 303, "/authorize with next={raw_next:?}");
    let callback = back.headers()["location"].to_str().unwrap().to_owned();
    browser.get(&callback).send().await.unwrap()
}

/// The `next` that `/login?next=RAW` keeps in its flow cookie for the callback.
async fn kept_next(app: &TestApp, raw_next: &str) -> String {
    let login = no_redirects()
        .get(format!("{}/login?next={raw_next}", app.base))
        .send()
        .await
        .unwrap();
    let flow = login
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .find_map(|cookie| cookie.strip_prefix("login_flow="))
        .unwrap();
    // The cookie value is percent-encoded once more around the form-encoded flow.
    let flow = percent_encoding::percent_decode_str(flow.split(';').next().unwrap())
        .decode_utf8()
        .unwrap()
        .into_owned();
    url::form_urlencoded::parse(flow.as_bytes())
        .find(|(name, _)| name == "next")
        .unwrap()
        .1
        .into_owned()
}

/// Where a browser goes with `location`: parsed as WHATWG URL against the service's base.
fn resolved(app: &TestApp, location: &str) -> Url {
    Url::parse(&app.base).unwrap().join(location).unwrap()
}

#[tokio::test]
async fn hostile_next_targets_end_on_this_origin_after_login_and_never_in_a_5xx() {
    let app = TestApp::builder().local().spawn().await;
    sign_up(&app, "victim", PASSWORD).await;
    // Each would leave the site or break the header, so the default path is used instead.
    let hostile = [
        "//evil.example/x",
        "/%5Cevil.example/x",       // `/\evil…`: browsers read `\` as `/`
        "/%5C%5Cevil.example/x",    // `/\\evil…`
        "%5C%5Cevil.example/x",     // `\\evil…`
        "/%255Cevil.example/x",     // `\` once more percent-decoded
        "/%09/evil.example/x",      // a tab, which browsers drop: `//evil…`
        "/%5C%09/evil.example/x",   // `/\t/evil…`
        "/%0D%0ASet-Cookie:%20a=b", // CR/LF: a header split, or a 500 from the header encoder
        "/x%0Ay",
        "/%00x",
        "https://evil.example/x",
        "HTTPS://evil.example",
        "https:evil.example",
        "///evil.example/x",
        "/%2F/evil.example/x",
        "/.//evil.example/x", // resolves to the path `//evil.example/x`: scheme-relative alone
        "/..//evil.example/x",
        "/%2e//evil.example/x", // `%2e` is a `.` segment to the URL parser
        "x/..//evil.example/x",
        "javascript:alert(document.domain)",
        "data:text/html,hi",
        "",
    ];
    for raw in hostile {
        // Refused on the way in, not only by the callback's second look.
        assert_eq!(kept_next(&app, raw).await, "/api/user", "next={raw:?}");
        let answer = browser_login(&app, "victim", raw).await;
        assert_eq!(answer.status(), 303, "next={raw:?}");
        let location = answer.headers()["location"].to_str().unwrap().to_owned();
        assert!(
            !location.contains('\\') && !location.chars().any(char::is_control),
            "next={raw:?} -> {location:?}"
        );
        let target = resolved(&app, &location);
        assert_eq!(
            target.origin(),
            Url::parse(&app.base).unwrap().origin(),
            "next={raw:?} -> {location:?}"
        );
        assert_eq!(
            location, "/api/user",
            "next={raw:?} falls back to the default"
        );
    }
    // Each stays on this origin, so it is kept, as the path and query it resolves to.
    for (raw, expected) in [
        ("/api/private", "/api/private"),
        ("/api/private?x=1%202", "/api/private?x=1%202"),
        (&format!("{}/api/private", app.base), "/api/private"),
        ("/api/../api/private", "/api/private"),
        ("/%252F/evil.example", "/%2F/evil.example"),
        ("http:evil.example", "/evil.example"),
        ("evil.example", "/evil.example"),
    ] {
        let answer = browser_login(&app, "victim", raw).await;
        assert_eq!(answer.status(), 303, "next={raw:?}");
        assert_eq!(answer.headers()["location"], expected, "next={raw:?}");
    }
}

/// `failed_logins` as stored for `username`.
async fn stored_failures(app: &TestApp, username: &str) -> i64 {
    let pool = sqlx::SqlitePool::connect(&app.state.settings.local.database_url)
        .await
        .unwrap();
    let count = sqlx::query_scalar("SELECT failed_logins FROM accounts WHERE username = ?")
        .bind(username)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    count
}

/// `attempts` wrong passwords for `username` sent at once; the statuses.
async fn guess_in_parallel(app: &TestApp, username: &str, attempts: usize) -> Vec<u16> {
    let guesses = (0..attempts).map(|i| async move {
        password_grant(app, username, &format!("wrong password {i}"))
            .await
            .status()
            .as_u16()
    });
    join_all(guesses).await
}

async fn parallel_guesses_are_all_counted_and_lock_the_account(attempts: usize) {
    let app = TestApp::builder().local().spawn().await;
    sign_up(&app, "target", PASSWORD).await;
    let started = Instant::now();
    let statuses = guess_in_parallel(&app, "target", attempts).await;
    let took = started.elapsed();
    // 400: checked and wrong; 429: refused (the account is locked, or this address has 20 logins in
    // progress); 503: counted, then the hashing queue was full, which a loaded machine may answer.
    assert!(
        statuses
            .iter()
            .all(|status| [400, 429, 503].contains(status)),
        "{statuses:?}"
    );
    let counted = statuses
        .iter()
        .filter(|status| [400, 503].contains(*status))
        .count();
    assert_eq!(
        stored_failures(&app, "target").await,
        i64::try_from(counted).unwrap(),
        "every attempt let through is counted: {statuses:?}"
    );
    // README: after five failures the account waits 1 s, so five are let through, the rest wait. Only
    // a machine too slow to start every guess within that second lets one more through per lock.
    if took < Duration::from_secs(1) {
        assert_eq!(counted, 5, "{statuses:?}");
    } else {
        assert!((5..=7).contains(&counted), "{statuses:?} in {took:?}");
    }

    // The documented rule: locked even for the right password, until the wait is over; then a
    // success resets the count.
    let locked = password_grant(&app, "target", PASSWORD).await;
    assert_eq!(locked.status(), 429);
    let mut wait: u64 = locked.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let mut outcome = 429;
    for _ in 0..3 {
        assert!(wait <= 8, "Retry-After {wait}");
        tokio::time::sleep(Duration::from_secs(wait)).await;
        let response = password_grant(&app, "target", PASSWORD).await;
        outcome = response.status().as_u16();
        if outcome != 429 {
            break;
        }
        wait = response.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
    }
    assert_eq!(outcome, 200, "the right password once the lock is over");
    assert_eq!(stored_failures(&app, "target").await, 0);
}

#[tokio::test]
async fn thirty_parallel_guesses_for_one_account_are_all_counted_and_lock_it() {
    parallel_guesses_are_all_counted_and_lock_the_account(30).await;
}

#[tokio::test]
async fn fifty_parallel_guesses_for_one_account_are_all_counted_and_lock_it() {
    parallel_guesses_are_all_counted_and_lock_the_account(50).await;
}

/// `Retry-After` in seconds.
fn retry_after(response: &reqwest::Response) -> u64 {
    response.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn sixty_parallel_failures_from_one_address_are_slowed_down() {
    let app = TestApp::builder().local().spawn().await;
    let guesses = (0..60).map(|i| {
        let app = &app;
        async move {
            let response = password_grant(app, &format!("nobody-{i}"), "whatever1").await;
            let status = response.status().as_u16();
            if status == 429 || status == 503 {
                assert!(retry_after(&response) >= 1);
            }
            let body: Value = response.json().await.unwrap();
            (
                status,
                body["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
    });
    let answers = join_all(guesses).await;
    let count = |wanted: u16| {
        answers
            .iter()
            .filter(|(status, _)| *status == wanted)
            .count()
    };
    let (failed, slowed, busy) = (count(400), count(429), count(503));
    assert_eq!(failed + slowed + busy, 60, "{answers:?}");
    // 20 are let through (a 503 from a full hashing queue frees its place for another); the rest are
    // told to slow down while those are checked.
    assert!(failed <= 20, "at most 20 failures per address: {answers:?}");
    assert!(failed + busy >= 20, "{answers:?}");
    assert!(slowed >= 60 - 20 - busy, "{answers:?}");
    assert!(
        answers
            .iter()
            .filter(|(status, _)| *status == 429)
            .all(|(_, error)| error == "slow_down")
    );
    // Exactly 20 failures in all, then the documented back-off: 15 minutes.
    let mut failures = failed;
    for i in 0..40 {
        let response = password_grant(&app, &format!("later-{i}"), "whatever1").await;
        match response.status().as_u16() {
            400 => failures += 1,
            429 => {
                assert_eq!(retry_after(&response), 900);
                break;
            }
            status => assert_eq!(status, 503, "one at a time, only a full queue delays"),
        }
    }
    assert_eq!(failures, 20);
}

#[tokio::test]
async fn many_people_behind_one_address_logging_in_at_once_are_asked_to_retry_shortly() {
    // A reverse proxy or NAT: every client has the same peer address, 127.0.0.1 here.
    let app = TestApp::builder().local().spawn().await;
    let people = 30;
    for i in 0..people {
        sign_up(&app, &format!("colleague-{i}"), PASSWORD).await;
    }
    let logins = (0..people).map(|i| {
        let app = &app;
        async move {
            let username = format!("colleague-{i}");
            let mut waits = Vec::new();
            // Bounded: each retry waits what it is told, a second or two.
            for _ in 0..20 {
                let response = password_grant(app, &username, PASSWORD).await;
                match response.status().as_u16() {
                    200 => return waits,
                    429 | 503 => {
                        let wait = retry_after(&response);
                        waits.push(wait);
                        assert!(wait <= 2, "{username} told to wait {wait} s");
                        tokio::time::sleep(Duration::from_secs(wait)).await;
                    }
                    status => panic!("{username}: {status}"),
                }
            }
            panic!("{username} never got in: waited {waits:?}");
        }
    });
    let waits = join_all(logins).await;
    assert!(
        waits.iter().any(|waits| !waits.is_empty()),
        "more logins at once than the address's allowance, so some were asked to retry"
    );
}

#[tokio::test]
async fn the_login_form_cannot_be_framed() {
    let app = TestApp::builder().local().spawn().await;
    let redirect_uri = format!("{}/docs/oauth2-redirect", app.base);
    let good = [
        ("response_type", "token"),
        ("client_id", "protected-api-web"),
        ("redirect_uri", redirect_uri.as_str()),
    ];
    let bad = [
        ("response_type", "token"),
        ("client_id", "protected-api-web"),
        ("redirect_uri", "https://evil.example/cb"),
    ];
    for (params, status) in [(&good, 200), (&bad, 400)] {
        let page = no_redirects()
            .get(format!("{}/authorize", app.base))
            .query(params)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), status);
        assert_eq!(page.headers()["x-frame-options"], "DENY");
        let policy = page.headers()["content-security-policy"].to_str().unwrap();
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }
    // The page a failed sign-in answers with is the same form: framed or not, it must not show.
    sign_up(&app, "framed", PASSWORD).await;
    let failed = authorize(&app, &no_redirects(), &good, "framed", "wrong password").await;
    assert_eq!(failed.status(), 401);
    assert_eq!(failed.headers()["x-frame-options"], "DENY");
}

/// `GET /authorize` for Swagger UI's implicit flow back to `redirect_uri`, redirects not followed.
async fn login_page(app: &TestApp, redirect_uri: &str) -> reqwest::Response {
    no_redirects()
        .get(format!("{}/authorize", app.base))
        .query(&[
            ("response_type", "token"),
            ("client_id", "protected-api-web"),
            ("redirect_uri", redirect_uri),
        ])
        .send()
        .await
        .unwrap()
}

async fn csrf_cookie(app: &TestApp, public_base: &str) -> String {
    let redirect_uri = format!("{public_base}/docs/oauth2-redirect");
    let page = login_page(app, &redirect_uri).await;
    assert_eq!(page.status(), 200);
    page.headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .find(|cookie| cookie.starts_with("authorize_csrf="))
        .unwrap()
}

#[tokio::test]
async fn the_login_form_cookie_is_secure_when_the_public_url_is_https() {
    let app = TestApp::builder()
        .local()
        .extra(&[("SERVER_PUBLIC_URL", "https://api.example.com")])
        .spawn()
        .await;
    let cookie = csrf_cookie(&app, "https://api.example.com").await;
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));

    let plain = TestApp::builder().local().spawn().await;
    let cookie = csrf_cookie(&plain, &plain.base).await;
    assert!(
        !cookie.contains("Secure"),
        "plain http cannot keep it: {cookie}"
    );

    // One rule for every cookie, PUBLIC_URL's scheme, whatever the issuer is named.
    let renamed = TestApp::builder()
        .local()
        .extra(&[
            ("SERVER_PUBLIC_URL", "https://api.example.com"),
            ("LOCAL_ISSUER", "http://issuer.example"),
        ])
        .spawn()
        .await;
    let cookie = csrf_cookie(&renamed, "https://api.example.com").await;
    assert!(cookie.contains("; Secure"), "{cookie}");
    let renamed = TestApp::builder()
        .local()
        .extra(&[("LOCAL_ISSUER", "https://issuer.example")])
        .spawn()
        .await;
    let cookie = csrf_cookie(&renamed, &renamed.base).await;
    assert!(!cookie.contains("Secure"), "{cookie}");
}

#[tokio::test]
async fn authorize_redirects_only_to_a_registered_uri_exactly_as_written() {
    let app = TestApp::builder().local().spawn().await;
    let registered = format!("{}/docs/oauth2-redirect", app.base);
    let authority = app.base.trim_start_matches("http://");
    let near_misses = [
        format!("{registered}/"),
        format!("{registered}?next=https://evil.example"),
        format!("{registered}#x"),
        format!("{registered}/../../evil"),
        format!("{registered}%2F..%2F..%2Fevil"),
        format!("{registered}\\@evil.example"),
        format!("{registered}%0D%0ALocation:%20https://evil.example"),
        format!("http://evil.example@{authority}/docs/oauth2-redirect"),
        format!("http://{authority}@evil.example/docs/oauth2-redirect"),
        format!("HTTP://{authority}/docs/oauth2-redirect"),
        format!("//{authority}/docs/oauth2-redirect"),
        "/docs/oauth2-redirect".to_owned(),
        "https://evil.example/docs/oauth2-redirect".to_owned(),
    ];
    for redirect_uri in near_misses {
        let response = login_page(&app, &redirect_uri).await;
        assert_eq!(response.status(), 400, "{redirect_uri}");
        assert!(
            response.headers().get("location").is_none(),
            "{redirect_uri}"
        );
    }
}
