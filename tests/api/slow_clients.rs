//! Slow and idle clients, as a slowloris attack sends them: the header-read and write timeouts close
//! them, the connection cap bounds them, and a graceful shutdown ends at its deadline whatever they do.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use protected_api::{AppState, ServerLimits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::helpers::TestApp;

/// A request whose headers never end: no blank line after them.
const HALF_SENT: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";

/// Long enough for any of these tests; a connection still open after it is held.
const PATIENCE: Duration = Duration::from_secs(15);

/// The service (OIDC against its own mock IdP, with `routes` merged in) served within `limits`.
async fn start(limits: ServerLimits, routes: Router<AppState>) -> TestApp {
    TestApp::builder()
        .limits(limits)
        .routes(routes)
        .spawn()
        .await
}

/// A client that opens a fresh connection per request, so a pooled one never skips the queue.
fn fresh_connections() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

/// `count` connections to `app`, each with a request whose headers never end.
async fn half_sent(app: &TestApp, count: usize) -> Vec<TcpStream> {
    let mut streams = Vec::with_capacity(count);
    for _ in 0..count {
        let mut stream = TcpStream::connect(app.addr).await.unwrap();
        stream.write_all(HALF_SENT).await.unwrap();
        streams.push(stream);
    }
    streams
}

/// Whether the server ends `stream` (EOF or reset) within `within`.
async fn closed_by_server(mut stream: TcpStream, within: Duration) -> bool {
    let mut answer = Vec::new();
    tokio::time::timeout(within, stream.read_to_end(&mut answer))
        .await
        .is_ok()
}

fn limits(header_timeout: u64, max_connections: usize, shutdown_timeout: u64) -> ServerLimits {
    ServerLimits {
        header_timeout: Duration::from_secs(header_timeout),
        max_connections,
        shutdown_timeout: Duration::from_secs(shutdown_timeout),
    }
}

#[tokio::test]
async fn half_sent_requests_are_closed_after_the_header_timeout_while_others_are_served() {
    let app = start(limits(1, 1000, 25), Router::new()).await;
    let held = half_sent(&app, 200).await;

    let response = fresh_connections()
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let mut waits = JoinSet::new();
    for stream in held {
        waits.spawn(closed_by_server(stream, PATIENCE));
    }
    let closed = waits.join_all().await.into_iter().filter(|c| *c).count();
    assert_eq!(
        closed, 200,
        "connections the server still held after {PATIENCE:?}"
    );
}

#[tokio::test]
async fn connections_that_never_send_a_byte_are_closed_after_the_header_timeout() {
    let app = start(limits(1, 1000, 25), Router::new()).await;
    let mut waits = JoinSet::new();
    for _ in 0..50 {
        let silent = TcpStream::connect(app.addr).await.unwrap();
        waits.spawn(closed_by_server(silent, PATIENCE));
    }
    let closed = waits.join_all().await.into_iter().filter(|c| *c).count();
    assert_eq!(
        closed, 50,
        "silent connections the server still held after {PATIENCE:?}"
    );
}

#[tokio::test]
async fn a_client_that_pipelines_requests_and_never_reads_is_closed_after_the_write_timeout() {
    // One slot: while the reader-less client holds it, nobody else is served.
    let app = start(limits(1, 1, 25), Router::new()).await;
    let mut greedy = TcpStream::connect(app.addr).await.unwrap();
    // Far more response bytes (3,000 OpenAPI documents) than the socket buffers on both ends hold,
    // so the server's writes stall once they are full.
    let request = b"GET /openapi.json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".repeat(3000);
    // Bounded: once the server stops reading, this write would wait too.
    let _ = tokio::time::timeout(PATIENCE, greedy.write_all(&request)).await;

    // Served once the write timeout (1 s) closes the greedy connection, well within 10 s even on a
    // loaded machine; without it, never.
    let response = tokio::time::timeout(
        Duration::from_secs(10),
        fresh_connections().get(app.url("/healthz")).send(),
    )
    .await
    .expect("/healthz is served while a client that never reads holds the only slot")
    .unwrap();
    assert_eq!(response.status(), 200);
    drop(greedy);
}

#[tokio::test]
async fn connections_past_the_cap_wait_until_one_closes() {
    let app = start(limits(60, 2, 25), Router::new()).await;
    let mut held = half_sent(&app, 2).await;

    let waiting = tokio::spawn(fresh_connections().get(app.url("/healthz")).send());
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !waiting.is_finished(),
        "a third connection was served while two held the cap of 2"
    );

    drop(held.pop()); // one slot frees: the waiting request is served, not dropped
    let response = tokio::time::timeout(PATIENCE, waiting)
        .await
        .expect("served once a slot freed")
        .unwrap()
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_then_closes_held_connections_at_its_deadline() {
    // The handler says when it has started, then waits to be released: no sleep guesses when.
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let slow = Router::new().route(
        "/slow",
        get({
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            || async move {
                started.notify_one();
                release.notified().await;
                "done"
            }
        }),
    );
    let mut app = start(limits(60, 100, 3), slow).await;
    let held = half_sent(&app, 5).await;
    let in_flight = tokio::spawn(fresh_connections().get(app.url("/slow")).send());
    tokio::time::timeout(PATIENCE, started.notified())
        .await
        .expect("/slow started");

    app.shut_down();
    // Then new connections are refused. Until the loop has seen the signal one may still be accepted,
    // or reset as the listener closes, so this retries (bounded) rather than guessing a delay.
    tokio::time::timeout(PATIENCE, async {
        while !TcpStream::connect(app.addr)
            .await
            .is_err_and(|error| error.kind() == io::ErrorKind::ConnectionRefused)
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("new connections are refused after the shutdown signal");
    // The request in flight when the signal came is still answered.
    release.notify_one();
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "done");

    tokio::time::timeout(PATIENCE, &mut app.server)
        .await
        .expect("serve returns once SHUTDOWN_TIMEOUT has passed")
        .unwrap()
        .unwrap();
    for stream in held {
        assert!(closed_by_server(stream, Duration::from_secs(1)).await);
    }
}
