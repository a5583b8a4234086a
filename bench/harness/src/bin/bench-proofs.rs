//! `bench-proofs`: fresh DPoP proofs for the benchmark's DPoP row, one per line, made before the
//! clock starts so the load generator only sends them.
//!
//! Each proof has its own `jti` and today's `iat`, is for `GET --url` and carries the `ath` of the
//! token in `--token-file`; the server sees each once. They stay valid for the minute a proof lives
//! (RFC 9449 §4.3 as protected-api applies it), so `run.sh` makes them per row, after the server
//! has started and its URL is known. Signing is spread over every core.

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::thread;

use clap::Parser;
use protected_api::dpop_proof::ProofKey;

/// Writes `--count` DPoP proofs for `GET --url` to `--out`.
#[derive(Parser)]
#[command(name = "bench-proofs")]
struct Args {
    /// The DPoP key (PKCS#8 PEM), as `bench-idp --dpop-key` wrote it.
    #[arg(long)]
    key: PathBuf,
    /// The bound access token (first line), whose hash each proof carries as `ath`.
    #[arg(long)]
    token_file: PathBuf,
    /// The request URL (`htu`).
    #[arg(long)]
    url: String,
    /// How many proofs.
    #[arg(long)]
    count: usize,
    /// Where they go, one per line.
    #[arg(long)]
    out: PathBuf,
}

fn main() {
    let args = Args::parse();
    let pem = fs::read(&args.key).unwrap_or_else(|e| panic!("read {}: {e}", args.key.display()));
    let key = ProofKey::from_pkcs8_pem(&pem).expect("a DPoP key");
    let tokens = fs::read_to_string(&args.token_file)
        .unwrap_or_else(|e| panic!("read {}: {e}", args.token_file.display()));
    let token = tokens.lines().next().expect("a token");

    let workers = thread::available_parallelism().map_or(1, |p| p.get());
    let share = args.count.div_ceil(workers);
    let proofs: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let n = share.min(args.count.saturating_sub(worker * share));
                let (key, url) = (&key, args.url.as_str());
                scope.spawn(move || {
                    (0..n)
                        .map(|_| key.proof("GET", url, Some(token)).expect("a proof"))
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
    for proof in &proofs {
        writeln!(out, "{proof}").expect("write a proof");
    }
    out.flush().expect("write the proofs");
}
