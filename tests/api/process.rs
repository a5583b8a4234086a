//! The binary itself: it serves, reports where, and stops cleanly on SIGTERM, within
//! `[SERVER] SHUTDOWN_TIMEOUT` even when clients hold connections open. They run with a real
//! provider's settings, so they need no optional feature.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::free_port;

/// The binary on a random port; killed when dropped.
pub(crate) struct Service {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub(crate) addr: String,
    /// Kept open: a closed pipe would turn the service's later log lines into write errors.
    stdout: std::io::Lines<BufReader<std::process::ChildStdout>>,
    /// Its working (and, for the local provider, data) directory.
    #[cfg_attr(not(feature = "local-issuer"), allow(dead_code))]
    pub(crate) data: tempfile::TempDir,
    /// What it logged up to "listening".
    pub(crate) startup_log: String,
}

impl Service {
    /// With `PROVIDER = oidc` and `env` on top. Nothing serves the issuer: `/healthz` needs no keys.
    fn oidc(env: &[(&str, &str)]) -> Self {
        let issuer = format!("http://127.0.0.1:{}", free_port());
        let data = tempfile::tempdir().unwrap();
        let mut settings = vec![
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", issuer.as_str()),
            ("OIDC_AUDIENCE", "x"),
        ];
        settings.extend_from_slice(env);
        Self::start(data, &settings)
    }

    /// In `data` (its working directory) with exactly the `env` settings, logging JSON.
    pub(crate) fn start(data: tempfile::TempDir, env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_protected-api"))
            .env_clear()
            .env("SERVER_PORT", "0")
            .env("LOG_FORMAT", "json")
            .envs(env.iter().copied())
            .current_dir(data.path())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut startup_log = String::new();
        let addr = loop {
            let line = lines
                .next()
                .expect("the service logs before it exits")
                .unwrap();
            startup_log.push_str(&line);
            let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
            if entry["message"] == "protected-api listening" {
                break entry["addr"].as_str().unwrap().to_owned();
            }
        };
        Self {
            child,
            addr,
            stdout: lines,
            data,
            startup_log,
        }
    }

    /// Sends SIGTERM.
    pub(crate) fn terminate(&self) {
        let killed = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    }

    /// The exit status, or `None` when the process still runs after `within`.
    fn exit_within(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Service {
    /// The JSON lines logged after "listening", read until the process closes its stdout (it exits).
    pub(crate) fn rest_of_log(&mut self) -> Vec<serde_json::Value> {
        self.stdout
            .by_ref()
            .map(|line| serde_json::from_str(&line.unwrap()).unwrap())
            .collect()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill(); // a failed test must not leave the process behind
        let _ = self.child.wait();
    }
}

#[test]
#[cfg(unix)]
fn the_binary_serves_and_stops_gracefully_on_sigterm() {
    let mut service = Service::oidc(&[]);
    assert!(
        service.startup_log.contains(r#""provider":"oidc""#),
        "{}",
        service.startup_log
    );
    // An answer, not a delay, says the SIGTERM handler is in place: the loop installs it before it
    // accepts its first connection.
    assert_eq!(status_of(&format!("http://{}/healthz", service.addr)), 200);

    service.terminate();
    let status = service
        .exit_within(Duration::from_secs(10))
        .expect("the service stops within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
}

#[test]
#[cfg(unix)]
fn the_binary_stops_within_the_shutdown_timeout_while_clients_hold_half_sent_requests() {
    // The header timeout is longer than the test: only SHUTDOWN_TIMEOUT can end these connections.
    let mut service = Service::oidc(&[
        ("SERVER_SHUTDOWN_TIMEOUT", "1"),
        ("SERVER_HEADER_TIMEOUT", "600"),
    ]);
    let held: Vec<TcpStream> = (0..50)
        .map(|_| {
            let mut stream = TcpStream::connect(&service.addr).unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            stream
        })
        .collect();
    // Connections are accepted in order, so this answer also says the 50 are held (and, as above,
    // that SIGTERM is handled) without guessing a delay.
    assert_eq!(status_of(&format!("http://{}/healthz", service.addr)), 200);

    service.terminate();
    let status = service
        .exit_within(Duration::from_secs(10))
        .expect("the service stops about 1 s (SHUTDOWN_TIMEOUT) after SIGTERM, not never");
    assert!(status.success(), "exit status {status}");
    drop(held);
}

#[test]
#[cfg(unix)]
fn the_lines_logged_before_a_graceful_shutdown_are_all_written() {
    // Lines are written by a background thread: this checks that the last of them are not lost
    // when the process exits, and that the request line keeps its shape.
    let mut service = Service::oidc(&[]);
    assert_eq!(status_of(&format!("http://{}/healthz", service.addr)), 200);

    service.terminate();
    let status = service
        .exit_within(Duration::from_secs(10))
        .expect("the service stops within 10 s of SIGTERM");
    assert!(status.success(), "exit status {status}");
    let log = service.rest_of_log();

    let served = log
        .iter()
        .find(|entry| entry["message"] == "request served")
        .unwrap_or_else(|| panic!("a line for the request in {log:?}"));
    let mut fields: Vec<&str> = served
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(
        fields,
        [
            "latency_ms",
            "level",
            "message",
            "span",
            "status",
            "timestamp"
        ],
        "{served}"
    );
    assert_eq!(served["status"], 200, "{served}");
    assert!(served["latency_ms"].is_f64(), "{served}");
    let span = &served["span"];
    assert_eq!(span["name"], "http_request", "{served}");
    assert_eq!(span["method"], "GET", "{served}");
    assert_eq!(span["path"], "/healthz", "{served}");
    assert!(
        span["request_id"].as_str().is_some_and(|id| !id.is_empty()),
        "{served}"
    );
    assert_eq!(
        log.last().map(|entry| &entry["message"]),
        Some(&serde_json::json!("stopped")),
        "the last line logged is written: {log:?}"
    );
}

/// The status of a GET, from a throwaway runtime (this test drives a process, not a future).
fn status_of(url: &str) -> u16 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async { reqwest::get(url).await.unwrap().status().as_u16() })
}
