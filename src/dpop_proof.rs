//! The client's side of DPoP (RFC 9449): an EC P-256 key kept in a PKCS#8 PEM file, and the fresh
//! ES256 proofs it signs for each request. The `dpop` and `token --dpop-key` commands, the interop
//! test and the benchmark make their proofs here; a client written in Rust can do the same.
//!
//! ```no_run
//! # fn run() -> Result<(), protected_api::dpop_proof::ProofKeyError> {
//! use protected_api::dpop_proof::ProofKey;
//! let (key, _created) = ProofKey::load_or_create(std::path::Path::new("dpop-key.pem"))?;
//! let token = "eyJ…"; // an access token bound to the key: its `cnf.jkt` is `key.thumbprint()`
//! let proof = key.proof("GET", "http://127.0.0.1:8000/api/private", Some(token))?;
//! // GET /api/private with `Authorization: DPoP <token>` and `DPoP: <proof>`
//! # Ok(()) }
//! ```

use std::io::Write;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
use serde_json::{Value, json};
use url::Url;

pub use crate::auth::dpop::access_token_hash;
use crate::auth::{RandomError, random_token};

/// The PEM label of a PKCS#8 private key (RFC 7468 §10).
const PKCS8_LABEL: &str = "PRIVATE KEY";

/// What can go wrong reading a key or signing a proof. The messages name the file and never show key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum ProofKeyError {
    /// The key file could not be read or written.
    #[error("DPoP key {path}: {cause}")]
    Io {
        /// The key file.
        path: String,
        /// The cause, in the message (not as `source`, which would print it twice).
        cause: std::io::Error,
    },
    /// The key file does not hold an EC P-256 private key in PKCS#8 PEM.
    #[error("DPoP key {path}: {problem}")]
    Malformed {
        /// The key file, or `PEM` when the text came from elsewhere.
        path: String,
        /// What is wrong, in a few words.
        problem: String,
    },
    /// `--url` is not an absolute `http` or `https` URL.
    #[error("htu: {0}")]
    Url(String),
    /// The system random generator or the signer failed.
    #[error("signing the proof failed")]
    Sign,
    /// The system random generator failed (the proof's `jti`).
    #[error(transparent)]
    Random(#[from] RandomError),
}

impl ProofKeyError {
    fn malformed(problem: impl Into<String>) -> Self {
        Self::Malformed {
            path: "PEM".to_owned(),
            problem: problem.into(),
        }
    }

    fn in_file(self, path: &Path) -> Self {
        match self {
            Self::Malformed { problem, .. } => Self::Malformed {
                path: path.display().to_string(),
                problem,
            },
            other => other,
        }
    }
}

/// A DPoP key: an EC P-256 private key, its public JWK and that JWK's RFC 7638 thumbprint.
pub struct ProofKey {
    pair: EcdsaKeyPair,
    jwk: Value,
    thumbprint: String,
}

impl std::fmt::Debug for ProofKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProofKey")
            .field("thumbprint", &self.thumbprint)
            .finish_non_exhaustive()
    }
}

impl ProofKey {
    /// A fresh P-256 key from the system generator.
    ///
    /// # Errors
    /// [`ProofKeyError::Sign`] when key generation fails.
    pub fn generate() -> Result<Self, ProofKeyError> {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .map_err(|_| ProofKeyError::Sign)?;
        Self::from_pair(pair)
    }

    /// Reads a PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`) holding an EC P-256 private key.
    ///
    /// # Errors
    /// [`ProofKeyError::Malformed`] when it is not PEM, not PKCS#8, or another kind of key.
    pub fn from_pkcs8_pem(pem_text: &[u8]) -> Result<Self, ProofKeyError> {
        let parsed = pem::parse(pem_text)
            .map_err(|_| ProofKeyError::malformed("not a PEM file (expected BEGIN PRIVATE KEY)"))?;
        if parsed.tag() != PKCS8_LABEL {
            return Err(ProofKeyError::malformed(format!(
                "holds {:?}, not a PKCS#8 \"PRIVATE KEY\" (convert with `openssl pkcs8 -topk8 -nocrypt`)",
                parsed.tag()
            )));
        }
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, parsed.contents())
            .map_err(|_| ProofKeyError::malformed("not an EC P-256 private key"))?;
        Self::from_pair(pair)
    }

    /// The key as a PKCS#8 PEM, as [`ProofKey::from_pkcs8_pem`] reads it.
    ///
    /// # Errors
    /// [`ProofKeyError::Sign`] when the key cannot be encoded.
    pub fn to_pkcs8_pem(&self) -> Result<String, ProofKeyError> {
        let der = self.pair.to_pkcs8v1().map_err(|_| ProofKeyError::Sign)?;
        Ok(pem::encode(&pem::Pem::new(PKCS8_LABEL, der.as_ref())))
    }

    /// Reads the key at `path`, or, when there is no file there, generates one and writes it (mode
    /// 0600, never over an existing file). The flag says whether it was generated.
    ///
    /// # Errors
    /// When the file cannot be read or written, or holds something else than a P-256 PKCS#8 key.
    pub fn load_or_create(path: &Path) -> Result<(Self, bool), ProofKeyError> {
        let io = |cause| ProofKeyError::Io {
            path: path.display().to_string(),
            cause,
        };
        match std::fs::read(path) {
            Ok(pem_text) => Ok((
                Self::from_pkcs8_pem(&pem_text).map_err(|error| error.in_file(path))?,
                false,
            )),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                let pem_text = key.to_pkcs8_pem()?;
                let mut options = std::fs::OpenOptions::new();
                options.write(true).create_new(true); // a file that appeared meanwhile is kept
                #[cfg(unix)]
                std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
                let mut file = options.open(path).map_err(io)?;
                file.write_all(pem_text.as_bytes()).map_err(io)?;
                file.sync_all().map_err(io)?;
                Ok((key, true))
            }
            Err(error) => Err(io(error)),
        }
    }

    /// The public key as a JWK (`kty`, `crv`, `x`, `y`): what every proof carries in its header.
    pub fn public_jwk(&self) -> &Value {
        &self.jwk
    }

    /// The RFC 7638 SHA-256 thumbprint of [`ProofKey::public_jwk`], base64url: the `cnf.jkt` of the
    /// tokens bound to this key (RFC 9449 §6.1).
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// A fresh proof for one request (RFC 9449 §4.2): `typ` `dpop+jwt`, ES256, the public `jwk`;
    /// claims `jti` (random), `htm`, `htu` (without query and fragment), `iat` (now) and, with an
    /// access token, `ath`.
    ///
    /// # Errors
    /// [`ProofKeyError::Url`] when `url` is not an absolute http(s) URL; signing or random failures.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
    ) -> Result<String, ProofKeyError> {
        self.proof_at(method, url, access_token, unix_now())
    }

    /// [`ProofKey::proof`] with `iat` set to `issued_at` (seconds since the epoch), for tests of the
    /// server's `iat` window and for proofs prepared ahead of time.
    ///
    /// # Errors
    /// As [`ProofKey::proof`].
    pub fn proof_at(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        issued_at: u64,
    ) -> Result<String, ProofKeyError> {
        let mut claims = json!({
            "jti": random_token()?,
            "htm": method,
            "htu": htu(url)?,
            "iat": issued_at,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(access_token_hash(token));
        }
        self.sign(&claims)
    }

    /// Signs `claims` as a proof with this key's header: a compact JWS (RFC 7515 §7.1) whose
    /// signature is the 64-byte `r || s` form ES256 uses (RFC 7518 §3.4).
    ///
    /// # Errors
    /// [`ProofKeyError::Sign`] when signing fails.
    pub fn sign(&self, claims: &Value) -> Result<String, ProofKeyError> {
        let header = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&SystemRandom::new(), signing_input.as_bytes())
            .map_err(|_| ProofKeyError::Sign)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    fn from_pair(pair: EcdsaKeyPair) -> Result<Self, ProofKeyError> {
        // SEC 1 §2.3.3 uncompressed point: 0x04, then x and y, 32 bytes each for P-256.
        let point = pair.public_key().as_ref();
        let (Some(0x04), Some(x), Some(y)) = (point.first(), point.get(1..33), point.get(33..65))
        else {
            return Err(ProofKeyError::malformed("unexpected public key encoding"));
        };
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(x),
            "y": URL_SAFE_NO_PAD.encode(y),
        });
        let thumbprint = serde_json::from_value::<Jwk>(jwk.clone())
            .map_err(|error| ProofKeyError::malformed(error.to_string()))?
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|error| ProofKeyError::malformed(error.to_string()))?;
        Ok(Self {
            pair,
            jwk,
            thumbprint,
        })
    }
}

/// `htu` (RFC 9449 §4.2): the request URL without query and fragment.
fn htu(url: &str) -> Result<String, ProofKeyError> {
    let mut parsed =
        Url::parse(url).map_err(|error| ProofKeyError::Url(format!("{url:?}: {error}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(ProofKeyError::Url(format!(
            "{url:?} is not an http or https URL"
        )));
    }
    parsed.set_query(None);
    parsed.set_fragment(None);
    Ok(parsed.into())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(jws: &str, index: usize) -> Value {
        let encoded = jws.split('.').nth(index).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(encoded).unwrap()).unwrap()
    }

    #[test]
    fn a_proof_has_the_header_and_claims_of_rfc_9449() {
        let key = ProofKey::generate().unwrap();
        let proof = key
            .proof(
                "GET",
                "https://API.example.com/api/private?x=1#top",
                Some("tok"),
            )
            .unwrap();
        let header = part(&proof, 0);
        assert_eq!(header["typ"], "dpop+jwt");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(&header["jwk"], key.public_jwk());
        assert!(header["jwk"].get("d").is_none(), "no private member");
        let claims = part(&proof, 1);
        assert_eq!(claims["htm"], "GET");
        assert_eq!(claims["htu"], "https://api.example.com/api/private");
        assert_eq!(claims["ath"], access_token_hash("tok"));
        assert!(claims["iat"].as_u64().unwrap() > 1_700_000_000);
        let other = part(&key.proof("GET", "https://a.test/", None).unwrap(), 1);
        assert_ne!(claims["jti"], other["jti"], "a fresh jti each time");
        assert!(other.get("ath").is_none());
    }

    #[test]
    fn the_signature_verifies_with_the_public_jwk() {
        let key = ProofKey::generate().unwrap();
        let proof = key
            .proof("POST", "http://127.0.0.1:8000/oauth/token", None)
            .unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_jwk(
            &serde_json::from_value(key.public_jwk().clone()).unwrap(),
        )
        .unwrap();
        let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let decoded = jsonwebtoken::decode::<Value>(&proof, &decoding, &validation).unwrap();
        assert_eq!(decoded.claims["htm"], "POST");
    }

    #[test]
    fn ath_matches_the_example_of_rfc_9449_section_7_1() {
        // RFC 9449 §7.1: the access token "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU" has
        // ath "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo".
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn a_key_survives_its_pem_and_keeps_its_thumbprint() {
        let key = ProofKey::generate().unwrap();
        let again = ProofKey::from_pkcs8_pem(key.to_pkcs8_pem().unwrap().as_bytes()).unwrap();
        assert_eq!(again.thumbprint(), key.thumbprint());
        assert_eq!(key.thumbprint().len(), 43, "base64url SHA-256");
    }

    #[test]
    fn load_or_create_writes_a_private_file_once_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dpop.pem");
        let (created, was_created) = ProofKey::load_or_create(&path).unwrap();
        assert!(was_created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (loaded, was_created) = ProofKey::load_or_create(&path).unwrap();
        assert!(!was_created);
        assert_eq!(loaded.thumbprint(), created.thumbprint());
    }

    #[test]
    fn a_bad_key_file_is_one_clear_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.pem");
        std::fs::write(&path, "not a key").unwrap();
        let error = ProofKey::load_or_create(&path).unwrap_err().to_string();
        assert!(
            error.contains("bad.pem") && error.contains("not a PEM"),
            "{error}"
        );

        // A PKCS#8 key of another kind (RSA) is refused too.
        std::fs::write(&path, rsa_pkcs8_pem()).unwrap();
        let error = ProofKey::load_or_create(&path).unwrap_err().to_string();
        assert!(error.contains("not an EC P-256 private key"), "{error}");
        assert!(!error.contains("BEGIN"), "no key material: {error}");
    }

    fn rsa_pkcs8_pem() -> String {
        use aws_lc_rs::encoding::AsDer;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        pem::encode(&pem::Pem::new(PKCS8_LABEL, pair.as_der().unwrap().as_ref()))
    }

    #[test]
    fn a_url_without_http_scheme_is_refused() {
        let key = ProofKey::generate().unwrap();
        assert!(matches!(
            key.proof("GET", "/api/private", None),
            Err(ProofKeyError::Url(_))
        ));
        assert!(matches!(
            key.proof("GET", "ftp://a.test/x", None),
            Err(ProofKeyError::Url(_))
        ));
    }
}
