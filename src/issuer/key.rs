//! The local issuer's RSA signing key: generated on first start, kept as a PKCS#8 PEM file (0600), and
//! published as a JWK whose `kid` is its RFC 7638 thumbprint.

use std::path::Path;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::EncodingKey;
use jsonwebtoken::jwk::{Jwk, ThumbprintHash};

use super::IssuerError;
use super::files::{read_private, write_private};

/// A private key for signing and its public JWK.
pub struct SigningKey {
    /// The key's id: the SHA-256 JWK thumbprint.
    pub kid: String,
    /// The private key, for jsonwebtoken.
    pub encoding: EncodingKey,
    /// The public key as published in the JWKS.
    pub jwk: Jwk,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads the key at `path`, or generates a 2048-bit RSA key and writes it there (mode 0600).
    ///
    /// # Errors
    /// When the file cannot be read or written, or does not hold an RSA private key.
    pub fn load_or_create(path: &Path) -> Result<Self, IssuerError> {
        let problem = |problem: String| IssuerError::Key {
            path: path.to_owned(),
            problem,
        };
        let pem = match read_private(path).map_err(|error| problem(error.to_string()))? {
            Some(pem) => pem,
            None => {
                let pair = KeyPair::generate(KeySize::Rsa2048)
                    .map_err(|_| problem("RSA key generation failed".into()))?;
                let der = pair
                    .as_der()
                    .map_err(|_| problem("PKCS#8 encoding failed".into()))?;
                let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref()));
                write_private(path, pem.as_bytes()).map_err(|error| problem(error.to_string()))?;
                tracing::info!(path = %path.display(), "generated the local issuer's signing key");
                pem.into_bytes()
            }
        };
        Self::from_pem(&pem).map_err(problem)
    }

    /// Reads a PKCS#8 RSA private key in PEM.
    ///
    /// # Errors
    /// A short reason when it is not one.
    pub fn from_pem(pem_bytes: &[u8]) -> Result<Self, String> {
        let parsed = pem::parse(pem_bytes).map_err(|error| format!("not PEM: {error}"))?;
        let pair = KeyPair::from_pkcs8(parsed.contents())
            .map_err(|error| format!("not a PKCS#8 RSA key: {error}"))?;
        let public = pair.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        let mut jwk: Jwk =
            serde_json::from_value(serde_json::json!({"kty": "RSA", "n": n, "e": e}))
                .map_err(|error| error.to_string())?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|error| error.to_string())?;
        jwk = serde_json::from_value(serde_json::json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": kid, "n": n, "e": e,
        }))
        .map_err(|error| error.to_string())?;
        let encoding = EncodingKey::from_rsa_pem(pem_bytes).map_err(|error| error.to_string())?;
        Ok(Self { kid, encoding, jwk })
    }
}
