//! `bench-idp`: the identity provider of the benchmark, on a random loopback port.
//!
//! It publishes a JWKS of `--keys` RSA keys (the tokens are signed with the last one, so a verifier
//! that scans the set pays for its size), writes `--tokens` distinct valid RS256 tokens and
//! `--invalid` tokens with a forged signature (signed by another key under the same `kid`) to files,
//! one per line, writes its issuer URL to `--issuer-file`, and serves until SIGTERM or Ctrl-C.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use protected_api::testing::{MockIdp, TestKey};

#[derive(Parser)]
struct Args {
    /// RSA keys in the published key set.
    #[arg(long, default_value_t = 1)]
    keys: usize,
    /// Distinct valid tokens to write.
    #[arg(long, default_value_t = 5_000)]
    tokens: usize,
    /// Tokens with a forged signature to write.
    #[arg(long, default_value_t = 5_000)]
    invalid: usize,
    /// Seconds the tokens stay valid (longer than the whole benchmark).
    #[arg(long, default_value_t = 3_600)]
    ttl: u64,
    #[arg(long)]
    out_valid: PathBuf,
    #[arg(long)]
    out_invalid: PathBuf,
    #[arg(long)]
    issuer_file: PathBuf,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let started = Instant::now();
    let keys: Vec<TestKey> = (1..=args.keys.max(1))
        .map(|n| TestKey::rsa(&format!("bench-key-{n}")))
        .collect();
    let signing = keys.last().expect("at least one key").clone();
    let forger = Arc::new(TestKey::rsa(&signing.kid));
    let idp = MockIdp::start_with(signing.clone()).await;
    idp.publish(keys.iter().map(TestKey::jwk).collect());

    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + args.ttl;
    let token = |n: usize| {
        idp.token()
            .subject(&format!("bench-user-{n}"))
            .claim("scope", "read:messages")
            .claim("exp", exp)
    };
    let valid: Vec<String> = (0..args.tokens).map(|n| token(n).sign()).collect();
    let invalid: Vec<String> = (0..args.invalid)
        .map(|n| token(n).sign_with(forger.clone()).sign())
        .collect();
    fs::write(&args.out_valid, valid.join("\n") + "\n").expect("write the valid tokens");
    fs::write(&args.out_invalid, invalid.join("\n") + "\n").expect("write the invalid tokens");
    fs::write(&args.issuer_file, idp.issuer()).expect("write the issuer file");
    eprintln!(
        "bench-idp: {} with {} key(s), {} valid + {} forged tokens in {:.1} s",
        idp.issuer(),
        keys.len(),
        valid.len(),
        invalid.len(),
        started.elapsed().as_secs_f64()
    );

    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
}
