//! Password hashing under load: argon2 runs on the blocking pool behind a bound, so health checks and
//! public endpoints keep answering while hundreds of logins or sign-ups arrive at once.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::flows::sign_up;
use crate::helpers::TestApp;

const PASSWORD: &str = "correct horse battery";

/// `count` sign-ups at once; each answer's status, and whether a 503 said when to retry in JSON.
async fn sign_ups(app: &TestApp, prefix: &str, count: usize) -> Vec<u16> {
    let requests = (0..count).map(|i| async move {
        let response = app
            .post("/auth/signup")
            .json(&json!({"username": format!("{prefix}-{i}"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 503 {
            assert!(response.headers().contains_key("retry-after"));
            let body: Value = response.json().await.unwrap();
            assert_eq!(body["error"], "temporarily_unavailable", "{body}");
        }
        status
    });
    join_all(requests).await
}

/// GETs `path` every `every` until `done` reports true; each answer's latency.
async fn probe(
    app: &TestApp,
    path: &str,
    every: Duration,
    done: impl Fn() -> bool,
) -> Vec<Duration> {
    let http = reqwest::Client::new();
    let mut latencies = Vec::new();
    // Bounded: the load ends long before, or the test fails on its own assertions.
    for _ in 0..6_000 {
        if done() {
            break;
        }
        let started = Instant::now();
        let response = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        latencies.push(started.elapsed());
        tokio::time::sleep(every).await;
    }
    latencies
}

#[tokio::test]
async fn health_checks_answer_quickly_while_two_hundred_sign_ups_hash_passwords() {
    let app = TestApp::builder().local().spawn().await;
    let load = sign_ups(&app, "load", 200);
    let checks = async {
        // Let the sign-ups arrive first, then ask the way a liveness probe does.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut slowest = Duration::ZERO;
        for _ in 0..20 {
            let started = Instant::now();
            let response = app.get("/healthz").send().await.unwrap();
            assert_eq!(response.status(), 200);
            slowest = slowest.max(started.elapsed());
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        slowest
    };
    let (statuses, slowest) = tokio::join!(load, checks);
    assert!(
        statuses.iter().all(|status| [201, 503].contains(status)),
        "sign-ups are created or asked to come back, never failed: {statuses:?}"
    );
    assert!(
        statuses.contains(&201),
        "the bound lets some through: {statuses:?}"
    );
    assert!(
        slowest < Duration::from_secs(1),
        "a /healthz took {slowest:?} during the sign-ups"
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn report(path: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    println!(
        "{path:<12} n={:<4} p50={:>8.1?} p99={:>8.1?} max={:>8.1?}",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
    );
}

/// The figures for the README and the issue: `/healthz` and `/api/public` latency while 200 password
/// logins run, 5 at once for each of 40 accounts (the back-off counts attempts as they start, so more
/// would lock the account) from 20 loopback addresses (10 each, under the per-address limit). Run with
/// `cargo test --test api password_load::figures -- --ignored --nocapture`, or for release figures
/// without the long LTO build, `CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
/// cargo test --release --test api password_load::figures -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check: prints latency figures"]
async fn figures_while_two_hundred_logins_run() {
    let app = TestApp::builder().local().spawn().await;
    for i in 0..40 {
        sign_up(&app, &format!("bench-{i}"), PASSWORD).await;
    }
    // The same probes for one second with no logins: what the machine itself gives.
    let every = Duration::from_millis(5);
    let idle_until = Instant::now() + Duration::from_secs(1);
    let idle = || Instant::now() >= idle_until;
    let (health, public) = tokio::join!(
        probe(&app, "/healthz", every, idle),
        probe(&app, "/api/public", every, idle)
    );
    println!("no logins:");
    report("/healthz", health);
    report("/api/public", public);
    let running = std::sync::atomic::AtomicBool::new(true);
    let done = || !running.load(std::sync::atomic::Ordering::Relaxed);
    let logins = async {
        let clients: Vec<reqwest::Client> = (2..22)
            .map(|host| {
                reqwest::Client::builder()
                    .local_address(std::net::IpAddr::from([127, 0, 0, host]))
                    .build()
                    .unwrap()
            })
            .collect();
        let started = Instant::now();
        let (app, clients) = (&app, &clients);
        let requests = (0..200).map(|i| async move {
            let username = format!("bench-{}", i % 40);
            clients[i % clients.len()]
                .post(format!("{}/oauth/token", app.base))
                .form(&[
                    ("grant_type", "password"),
                    ("username", username.as_str()),
                    ("password", PASSWORD),
                ])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        });
        let statuses = join_all(requests).await;
        running.store(false, std::sync::atomic::Ordering::Relaxed);
        (statuses, started.elapsed())
    };
    let ((statuses, elapsed), health, public) = tokio::join!(
        logins,
        probe(&app, "/healthz", every, done),
        probe(&app, "/api/public", every, done),
    );
    let count = |code: u16| statuses.iter().filter(|status| **status == code).count();
    println!(
        "while 200 logins ran, in {elapsed:.2?}: {} ok, {} busy (503), {} other",
        count(200),
        count(503),
        statuses.len() - count(200) - count(503)
    );
    report("/healthz", health);
    report("/api/public", public);
}
