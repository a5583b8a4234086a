//! `bench-idp`: the identity provider of the benchmark, on a random loopback port.
//!
//! It publishes a JWKS of `--keys` RSA keys and signs with the last of them (so a verifier that scans
//! the set pays for its size), writes `--tokens` distinct valid RS256 tokens and `--invalid` tokens
//! with a forged signature (made by another key under the published `kid`, so every one costs the
//! verifier a full RSA check) to files, one per line, writes its issuer URL to `--issuer-file` (last,
//! so a reader that sees it can use the token files), and serves until SIGTERM or SIGINT. With
//! `--dpop-key`, it also writes `--dpop-keys` DPoP keys there (PEM blocks, one after another) and as
//! many tokens to `--out-dpop`, line N bound (`cnf.jkt`) to key N, for `bench-proofs` to make the
//! proofs of the DPoP row. Several keys, because the API caps the proofs one key may send per replay
//! window (`protected_api::auth::dpop::MAX_PROOFS_PER_KEY`): the row spreads its load over enough
//! keys that none comes near that cap.
//!
//! With `--opaque N` it also writes N opaque tokens (not JWTs) to `--out-opaque`, which its RFC 7662
//! introspection endpoint (named in its discovery document) answers for with the same members as its
//! JWTs, to the client `protected_api::testing::INTROSPECTION_CLIENT_ID`.
//!
//! RSA key generation and signing are spread over every core: 100,000 tokens take seconds, not a
//! minute.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use protected_api::dpop_proof::ProofKey;
use protected_api::testing::{AUDIENCE, MockIdp, TestKey};
use serde_json::json;

/// A loopback IdP for the benchmark: a JWKS and files of RS256 tokens.
#[derive(Parser)]
#[command(name = "bench-idp")]
struct Args {
    /// RSA keys in the published key set (tokens are signed with the last).
    #[arg(long, default_value_t = 1)]
    keys: usize,
    /// Distinct valid tokens to write (distinct `sub`).
    #[arg(long, default_value_t = 5_000)]
    tokens: usize,
    /// Tokens with a forged signature to write.
    #[arg(long, default_value_t = 5_000)]
    invalid: usize,
    /// Seconds the tokens stay valid (longer than the whole benchmark).
    #[arg(long, default_value_t = 4 * 3_600)]
    ttl: u64,
    /// Where the valid tokens go, one per line.
    #[arg(long)]
    out_valid: PathBuf,
    /// Where the forged tokens go, one per line.
    #[arg(long)]
    out_invalid: Option<PathBuf>,
    /// Where the issuer URL goes (written last: its presence means the IdP is ready).
    #[arg(long)]
    issuer_file: PathBuf,
    /// Where the audience the tokens carry goes.
    #[arg(long)]
    audience_file: Option<PathBuf>,
    /// Where new DPoP keys go (PKCS#8 PEM blocks, one after another), with `--out-dpop`.
    #[arg(long, requires = "out_dpop")]
    dpop_key: Option<PathBuf>,
    /// How many DPoP keys to write, each with its own bound token.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    dpop_keys: u32,
    /// Where the tokens bound to the `--dpop-key` keys go, one per line, in the keys' order.
    #[arg(long, requires = "dpop_key")]
    out_dpop: Option<PathBuf>,
    /// Opaque tokens to write and answer for at the introspection endpoint.
    #[arg(long, default_value_t = 0)]
    opaque: usize,
    /// Where the opaque tokens go, one per line.
    #[arg(long)]
    out_opaque: Option<PathBuf>,
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let started = Instant::now();

    let keys = par_map(args.keys.max(1), |n| {
        TestKey::rsa(&format!("bench-key-{}", n + 1))
    });
    let signing = keys.last().expect("at least one key").clone();
    // Same `kid` as the signing key: the verifier finds a key and must run the RSA check to refuse.
    let forger = Arc::new(TestKey::rsa(&signing.kid));
    let keys_done = started.elapsed();

    let idp = MockIdp::start_with(signing).await;
    idp.publish(keys.iter().map(TestKey::jwk).collect());

    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + args.ttl;
    let base = idp.token().scope("read:messages").claim("exp", exp);
    let (tokens, invalid) = (args.tokens, args.invalid);
    // Signing is CPU work: keep it off the runtime that serves the JWKS.
    let (valid, forged) = tokio::task::spawn_blocking(move || {
        let valid = par_map(tokens, |n| base.clone().subject(&user(n)).sign());
        let forged = par_map(invalid, |n| {
            base.clone()
                .subject(&user(n))
                .sign_with(forger.clone())
                .sign()
        });
        (valid, forged)
    })
    .await
    .expect("signing tokens");

    write_lines(&args.out_valid, &valid);
    if let Some(path) = &args.out_invalid {
        write_lines(path, &forged);
    }
    if let (Some(key_file), Some(token_file)) = (&args.dpop_key, &args.out_dpop) {
        let keys: Vec<ProofKey> = (0..args.dpop_keys)
            .map(|_| ProofKey::generate().expect("a DPoP key"))
            .collect();
        let pems: Vec<String> = keys
            .iter()
            .map(|key| key.to_pkcs8_pem().expect("PEM"))
            .collect();
        let bound: Vec<String> = keys
            .iter()
            .enumerate()
            .map(|(n, key)| {
                let cnf = json!({ "jkt": key.thumbprint() }); // RFC 9449 §6.1
                idp.token()
                    .scope("read:messages")
                    .claim("exp", exp)
                    .subject(&format!("bench-dpop-{n}"))
                    .claim("cnf", cnf)
                    .sign()
            })
            .collect();
        // Tokens first: `bench-proofs` reads the key file, and run.sh reads neither before the
        // issuer file, written last.
        write_lines(token_file, &bound);
        write_atomically(key_file, &pems.concat());
    }
    if let Some(path) = &args.audience_file {
        write_atomically(path, AUDIENCE);
    }
    if let Some(path) = &args.out_opaque {
        // The members a JWT of this IdP carries; `exp` caps how long the service caches the answer.
        let opaque: Vec<String> = (0..args.opaque)
            .map(|n| {
                idp.opaque_token(json!({
                    "active": true,
                    "iss": idp.issuer(),
                    "aud": AUDIENCE,
                    "sub": user(n),
                    "scope": "read:messages",
                    "exp": exp,
                }))
            })
            .collect();
        write_lines(path, &opaque);
    }
    write_atomically(&args.issuer_file, idp.issuer());
    eprintln!(
        "bench-idp: {} — {} key(s) in {:.1} s, {} valid + {} forged tokens in {:.1} s",
        idp.issuer(),
        keys.len(),
        keys_done.as_secs_f64(),
        valid.len(),
        forged.len(),
        (started.elapsed() - keys_done).as_secs_f64(),
    );

    wait_for_shutdown().await;
}

fn user(n: usize) -> String {
    format!("bench-user-{n}")
}

/// `f(0..n)` in order, computed on every core (RSA key generation and signing are CPU-bound).
fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = thread::available_parallelism().map_or(1, |p| p.get());
    let chunk = n.div_ceil(workers).max(1);
    let f = &f;
    thread::scope(|scope| {
        let handles: Vec<_> = (0..n)
            .step_by(chunk)
            .map(|start| {
                scope.spawn(move || (start..n.min(start + chunk)).map(f).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a worker thread panicked"))
            .collect()
    })
}

fn write_lines(path: &Path, lines: &[String]) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut out = BufWriter::new(file);
    for line in lines {
        writeln!(out, "{line}").unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }
    out.flush()
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Write then rename, so a polling reader never sees a half-written file.
fn write_atomically(path: &Path, contents: &str) {
    let partial = path.with_extension("partial");
    fs::write(&partial, contents).unwrap_or_else(|e| panic!("write {}: {e}", partial.display()));
    fs::rename(&partial, path).unwrap_or_else(|e| panic!("rename to {}: {e}", path.display()));
}

async fn wait_for_shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut terminate = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    let mut interrupt = signal(SignalKind::interrupt()).expect("a SIGINT handler");
    tokio::select! {
        _ = terminate.recv() => {}
        _ = interrupt.recv() => {}
    }
}
