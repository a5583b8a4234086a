//! `bench-proofs`: fresh DPoP proofs for the benchmark's DPoP row, one per line, made before the
//! clock starts so the load generator only sends them.
//!
//! `--key` holds K keys (PEM blocks, one after another) and `--token-file` K tokens, line N bound to
//! key N, as `bench-idp` wrote them. Proof N is signed by key N mod K and carries the `ath` of that
//! key's token; each line is `TOKEN PROOF`, so the load generator sends every proof with the token it
//! is bound to. Round-robin keeps each key's share at `--count` / K: the API caps the proofs one key
//! may send per replay window (`protected_api::auth::dpop::MAX_PROOFS_PER_KEY`), and `run.sh`
//! picks K so that no key comes near it.
//!
//! Each proof has its own `jti` and today's `iat`, is for `GET --url`, and the server sees each once.
//! They stay valid for the minute a proof lives (RFC 9449 §4.3 as protected-api applies it), so
//! `run.sh` makes them per row, after the server has started and its URL is known. Signing is spread
//! over every core.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::thread;

use clap::Parser;
use protected_api::dpop_proof::ProofKey;

/// Writes `--count` lines `TOKEN PROOF` for `GET --url` to `--out`.
#[derive(Parser)]
#[command(name = "bench-proofs")]
struct Args {
    /// The DPoP keys (PKCS#8 PEM blocks, one after another), as `bench-idp --dpop-key` wrote them.
    #[arg(long)]
    key: PathBuf,
    /// The bound access tokens, one per line in the keys' order; each proof carries its token's
    /// hash as `ath`.
    #[arg(long)]
    token_file: PathBuf,
    /// The request URL (`htu`).
    #[arg(long)]
    url: String,
    /// How many proofs, over all the keys.
    #[arg(long)]
    count: usize,
    /// Where they go, one `TOKEN PROOF` per line.
    #[arg(long)]
    out: PathBuf,
}

fn main() {
    let args = Args::parse();
    let pems = fs::read_to_string(&args.key)
        .unwrap_or_else(|e| panic!("read {}: {e}", args.key.display()));
    let keys: Vec<ProofKey> = pem_blocks(&pems)
        .iter()
        .map(|pem| ProofKey::from_pkcs8_pem(pem.as_bytes()).expect("a DPoP key"))
        .collect();
    let tokens = fs::read_to_string(&args.token_file)
        .unwrap_or_else(|e| panic!("read {}: {e}", args.token_file.display()));
    let tokens: Vec<&str> = tokens.lines().filter(|line| !line.is_empty()).collect();
    assert!(!keys.is_empty(), "no key in {}", args.key.display());
    assert_eq!(
        keys.len(),
        tokens.len(),
        "one bound token per key ({} and {})",
        args.key.display(),
        args.token_file.display()
    );
    let pairs: Vec<(&ProofKey, &str)> = keys.iter().zip(tokens).collect();

    let workers = thread::available_parallelism().map_or(1, |p| p.get());
    let share = args.count.div_ceil(workers);
    let lines: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let start = (worker * share).min(args.count);
                let end = (start + share).min(args.count);
                let (pairs, url) = (&pairs, args.url.as_str());
                scope.spawn(move || {
                    (start..end)
                        .map(|n| {
                            let (key, token) = pairs[n % pairs.len()];
                            let proof = key.proof("GET", url, Some(token)).expect("a proof");
                            format!("{token} {proof}")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a worker thread panicked"))
            .collect()
    });

    let file =
        File::create(&args.out).unwrap_or_else(|e| panic!("create {}: {e}", args.out.display()));
    let mut out = BufWriter::new(file);
    for line in &lines {
        writeln!(out, "{line}").expect("write a proof");
    }
    out.flush().expect("write the proofs");
}

/// The PEM blocks of a file holding several, each up to and including its `-----END …-----` line.
fn pem_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut block = String::new();
    for line in text.lines() {
        block.push_str(line);
        block.push('\n');
        if line.starts_with("-----END ") {
            blocks.push(std::mem::take(&mut block));
        }
    }
    blocks
}
