//! Signing keys for tests: RSA, P-256, P-384 and Ed25519, each with its public JWK.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

/// A private key a test signs with, and the public JWK a mock IdP publishes for it.
#[derive(Clone)]
pub struct TestKey {
    /// The `kid` tokens signed with it carry.
    pub kid: String,
    /// The algorithm it signs with.
    pub alg: Algorithm,
    encoding: EncodingKey,
    jwk: Value,
}

impl fmt::Debug for TestKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TestKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    /// A fresh RSA-2048 key signing RS256.
    ///
    /// # Panics
    /// If the system cannot generate keys (tests only).
    #[allow(clippy::expect_used)]
    pub fn rsa(kid: &str) -> Self {
        Self::rsa_sized(kid, KeySize::Rsa2048)
    }

    #[allow(clippy::expect_used)]
    fn rsa_sized(kid: &str, size: KeySize) -> Self {
        let pair = RsaKeyPair::generate(size).expect("RSA key generation");
        let der = pair.as_der().expect("PKCS#8 encoding");
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref()));
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("RSA PEM");
        let public = pair.public_key();
        let jwk = json!({
            "kty": "RSA", "use": "sig", "kid": kid,
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        });
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::RS256,
            encoding,
            jwk,
        }
    }

    /// A fresh ECDSA P-256 key signing ES256.
    ///
    /// # Panics
    /// If the system cannot generate keys (tests only).
    #[allow(clippy::expect_used)]
    pub fn ec_p256(kid: &str) -> Self {
        Self::ec(
            kid,
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            "P-256",
            Algorithm::ES256,
        )
    }

    /// A fresh ECDSA P-384 key signing ES384.
    ///
    /// # Panics
    /// If the system cannot generate keys (tests only).
    pub fn ec_p384(kid: &str) -> Self {
        Self::ec(
            kid,
            &ECDSA_P384_SHA384_FIXED_SIGNING,
            "P-384",
            Algorithm::ES384,
        )
    }

    #[allow(clippy::expect_used)]
    fn ec(
        kid: &str,
        curve: &'static aws_lc_rs::signature::EcdsaSigningAlgorithm,
        crv: &str,
        alg: Algorithm,
    ) -> Self {
        let pair = EcdsaKeyPair::generate(curve).expect("EC key generation");
        let pkcs8 = pair.to_pkcs8v1().expect("PKCS#8 encoding");
        let encoding = EncodingKey::from_ec_der(pkcs8.as_ref());
        // The public key is the uncompressed point 0x04 || X || Y.
        let point = pair.public_key().as_ref();
        let half = (point.len() - 1) / 2;
        let jwk = json!({
            "kty": "EC", "use": "sig", "kid": kid, "crv": crv,
            "x": b64(&point[1..=half]), "y": b64(&point[1 + half..]),
        });
        Self {
            kid: kid.to_owned(),
            alg,
            encoding,
            jwk,
        }
    }

    /// A fresh Ed25519 key signing EdDSA.
    ///
    /// # Panics
    /// If the system cannot generate keys (tests only).
    #[allow(clippy::expect_used)]
    pub fn ed25519(kid: &str) -> Self {
        let pair = Ed25519KeyPair::generate().expect("Ed25519 key generation");
        let pkcs8 = pair.to_pkcs8().expect("PKCS#8 encoding");
        let encoding = EncodingKey::from_ed_der(pkcs8.as_ref());
        let jwk = json!({
            "kty": "OKP", "use": "sig", "kid": kid, "crv": "Ed25519", "x": b64(pair.public_key().as_ref()),
        });
        Self {
            kid: kid.to_owned(),
            alg: Algorithm::EdDSA,
            encoding,
            jwk,
        }
    }

    /// This key signing with another algorithm of its family (RSA: RS384, RS512, PS256…).
    pub fn with_alg(mut self, alg: Algorithm) -> Self {
        self.alg = alg;
        self
    }

    /// The public JWK as published.
    pub fn jwk(&self) -> Value {
        self.jwk.clone()
    }

    /// The public JWK with extra members (`alg`, `use`, …) set or replaced.
    pub fn jwk_with(&self, members: Value) -> Value {
        let mut jwk = self.jwk.clone();
        if let (Some(jwk), Some(members)) = (jwk.as_object_mut(), members.as_object()) {
            jwk.extend(members.clone());
        }
        jwk
    }

    /// Signs `message` (the JWS signing input), returning the base64url signature.
    ///
    /// # Panics
    /// If signing fails (tests only).
    #[allow(clippy::expect_used)]
    pub fn sign(&self, message: &[u8]) -> String {
        jsonwebtoken::crypto::sign(message, &self.encoding, self.alg).expect("signing")
    }
}
