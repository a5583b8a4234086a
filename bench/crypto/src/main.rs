//! Verification speed of the jsonwebtoken backend this binary was built with: RS256 (2048-bit),
//! ES256 and EdDSA tokens, each decoded and verified in a loop for a fixed time, the way
//! protected-api verifies them (key from a JWK, explicit registered-claim checks).
//!
//! `crypto-bench [--seconds S]` prints one line per algorithm:
//! `RESULT <backend> <alg> <verifies> <seconds> <verifies/s>`.

use std::error::Error;
use std::hint::black_box;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

#[cfg(all(feature = "aws-lc", feature = "rust-crypto"))]
compile_error!("enable exactly one of the features `aws-lc` and `rust-crypto`");
#[cfg(not(any(feature = "aws-lc", feature = "rust-crypto")))]
compile_error!("enable one of the features `aws-lc` and `rust-crypto`");

#[cfg(feature = "aws-lc")]
const BACKEND: &str = "aws-lc";
#[cfg(feature = "rust-crypto")]
const BACKEND: &str = "rust-crypto";

const ISSUER: &str = "https://issuer.example.test/";
const AUDIENCE: &str = "https://api.example.test";
/// Verifications between two reads of the clock, so that reading it costs nothing measurable.
const BATCH: u64 = 32;
/// A ceiling on the loop whatever the clock does: far above what any backend reaches in a minute.
const MAX_VERIFIES: u64 = 100_000_000;

/// The key fixtures (bench/crypto/keys), generated once with openssl; see keys/README.md.
const KEYS: [(Algorithm, &[u8]); 3] = [
    (Algorithm::RS256, include_bytes!("../keys/rsa2048.pem")),
    (Algorithm::ES256, include_bytes!("../keys/p256.pem")),
    (Algorithm::EdDSA, include_bytes!("../keys/ed25519.pem")),
];

/// The registered claims protected-api requires, plus a scope, as an IdP would issue them.
#[derive(Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    scope: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("crypto-bench: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn Error>> {
    let seconds = seconds_from_args()?;
    for (alg, pem) in KEYS {
        let (token, key, validation) = fixture(alg, pem)?;
        let (verifies, elapsed) = verify_for(&token, &key, &validation, seconds)?;
        let rate = verifies as f64 / elapsed.as_secs_f64();
        println!(
            "RESULT {BACKEND} {alg:?} {verifies} {:.3} {rate:.0}",
            elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// `--seconds S` (default 2): how long each algorithm is measured.
fn seconds_from_args() -> Result<Duration, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let mut seconds = 2.0_f64;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().ok_or("--seconds needs a value")?;
                seconds = value.parse()?;
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !(0.01..=60.0).contains(&seconds) {
        return Err("--seconds must be between 0.01 and 60".into());
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// A token signed with the fixture key, the public key as a verifier gets it (from its JWK, as
/// protected-api reads a JWKS), and the checks protected-api applies (src/auth/verify.rs).
fn fixture(
    alg: Algorithm,
    pem: &[u8],
) -> Result<(String, DecodingKey, Validation), Box<dyn Error>> {
    let signing = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(pem)?,
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem)?,
        _ => EncodingKey::from_ed_pem(pem)?,
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let claims = Claims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: "bench|0001".into(),
        scope: "read:messages".into(),
        iat: now,
        nbf: now,
        exp: now + 3600,
    };
    let mut header = Header::new(alg);
    header.kid = Some("bench".into());
    let token = encode(&header, &claims, &signing)?;
    let jwk = Jwk::from_encoding_key(&signing, alg)?;
    let key = DecodingKey::from_jwk(&jwk)?;

    let mut validation = Validation::new(alg);
    validation.leeway = 30;
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    validation.set_required_spec_claims(&["exp", "iss", "aud"]);
    // A fixture that does not verify would measure the cost of a failure: check it once first.
    decode::<Claims>(&token, &key, &validation)?;
    Ok((token, key, validation))
}

/// Decodes and verifies `token` in batches until `budget` has passed; returns the count and the
/// time it took.
fn verify_for(
    token: &str,
    key: &DecodingKey,
    validation: &Validation,
    budget: Duration,
) -> Result<(u64, Duration), Box<dyn Error>> {
    let start = Instant::now();
    let mut verifies = 0;
    while start.elapsed() < budget && verifies < MAX_VERIFIES {
        for _ in 0..BATCH {
            let data = decode::<Claims>(black_box(token), key, validation)?;
            black_box(data);
        }
        verifies += BATCH;
    }
    Ok((verifies, start.elapsed()))
}
