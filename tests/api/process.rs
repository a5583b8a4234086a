//! The binary itself: it serves, reports where, and stops cleanly on SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
#[cfg(unix)]
fn the_binary_serves_and_stops_gracefully_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_protected-api"))
        .env_clear()
        .env("SERVER_PORT", "0")
        .env("LOCAL_DATA_DIR", data.path())
        .env("LOG_FORMAT", "json")
        .current_dir(data.path())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut logged = String::new();
    let addr = loop {
        let line = lines
            .next()
            .expect("the service logs before it exits")
            .unwrap();
        logged.push_str(&line);
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if entry["message"] == "protected-api listening" {
            break entry["addr"].as_str().unwrap().to_owned();
        }
    };
    assert_eq!(status_of(&format!("http://{addr}/healthz")), 200);
    // First start: the client credentials were generated. The secret is in the file, not the log.
    let client: serde_json::Value =
        serde_json::from_slice(&std::fs::read(data.path().join("client.json")).unwrap()).unwrap();
    let secret = client["client_secret"].as_str().unwrap();
    assert!(logged.contains("client.json"), "the log names the file");
    assert!(!logged.contains(secret), "the client secret was logged");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not stop within 10 s of SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "exit status {status}");
}

/// The status of a GET, from a throwaway runtime (this test drives a process, not a future).
fn status_of(url: &str) -> u16 {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async { reqwest::get(url).await.unwrap().status().as_u16() })
}
