//! Key sets: which JWK may verify which algorithm (RFC 8725 §3.1), and the lookup by `kid`.
//! Fetched and cached by [`super::jwks::KeyStore`].

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, KeyOperations, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::error::TokenError;

/// RFC 8725 §3.5 / NIST SP 800-131A: RSA keys under 2048 bits are not trusted.
const MIN_RSA_MODULUS_BYTES: usize = 256;

/// One usable public key and the algorithms it may verify.
#[derive(Debug)]
pub struct VerifyKey {
    /// The key's `kid`, if it has one.
    pub kid: Option<String>,
    /// The key, ready for jsonwebtoken.
    pub key: DecodingKey,
    /// The algorithms that fit its `kty`, `crv` and `alg`.
    pub algorithms: Vec<Algorithm>,
}

impl VerifyKey {
    /// Builds a verify key from a JWK, or says why the JWK cannot serve signatures.
    ///
    /// # Errors
    /// A short reason, for the debug log: wrong `use`, no verify operation, weak or unknown key type.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, &'static str> {
        if jwk
            .common
            .public_key_use
            .as_ref()
            .is_some_and(|key_use| *key_use != PublicKeyUse::Signature)
        {
            return Err("use is not sig");
        }
        if jwk
            .common
            .key_operations
            .as_ref()
            .is_some_and(|ops| !ops.contains(&KeyOperations::Verify))
        {
            return Err("key_ops lacks verify");
        }
        let by_type: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let modulus = URL_SAFE_NO_PAD
                    .decode(rsa.n.trim_end_matches('='))
                    .map_err(|_| "bad RSA modulus")?;
                let significant = modulus.iter().skip_while(|byte| **byte == 0).count();
                if significant < MIN_RSA_MODULUS_BYTES {
                    return Err("RSA key shorter than 2048 bits");
                }
                vec![
                    Algorithm::RS256,
                    Algorithm::RS384,
                    Algorithm::RS512,
                    Algorithm::PS256,
                    Algorithm::PS384,
                    Algorithm::PS512,
                ]
            }
            AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => return Err("unsupported curve"),
            },
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            // Symmetric keys never verify anything here (RFC 8725 §3.1).
            _ => return Err("unsupported key type"),
        };
        let algorithms = match &jwk.common.key_algorithm {
            None => by_type,
            Some(declared) => {
                let declared = algorithm_of(*declared).ok_or("alg is not a signature algorithm")?;
                by_type.into_iter().filter(|alg| *alg == declared).collect()
            }
        };
        if algorithms.is_empty() {
            return Err("alg does not fit kty");
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|_| "unreadable key")?;
        Ok(Self {
            kid: jwk.common.key_id.clone(),
            key,
            algorithms,
        })
    }
}

fn algorithm_of(declared: KeyAlgorithm) -> Option<Algorithm> {
    Some(match declared {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::RS384 => Algorithm::RS384,
        KeyAlgorithm::RS512 => Algorithm::RS512,
        KeyAlgorithm::PS256 => Algorithm::PS256,
        KeyAlgorithm::PS384 => Algorithm::PS384,
        KeyAlgorithm::PS512 => Algorithm::PS512,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::ES384 => Algorithm::ES384,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

/// The usable keys of one JWK set, by `kid`.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<Arc<VerifyKey>>,
    by_kid: HashMap<String, Arc<VerifyKey>>,
}

impl KeySet {
    /// Parses a JWKS document, keeping the keys that can verify signatures and skipping the rest (an
    /// encryption key or an unknown key type beside them is normal).
    ///
    /// # Errors
    /// When the document is not a JSON object with a `keys` array.
    pub fn from_json(body: &[u8]) -> Result<Self, String> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let document: Document = serde_json::from_slice(body).map_err(|error| error.to_string())?;
        let jwks = document.keys.into_iter().filter_map(|value| {
            match serde_json::from_value::<Jwk>(value) {
                Ok(jwk) => Some(jwk),
                Err(error) => {
                    tracing::debug!(%error, "skipping a JWK that does not parse");
                    None
                }
            }
        });
        Ok(Self::from_jwks(jwks))
    }

    /// Keeps the JWKs that can verify signatures.
    pub fn from_jwks(jwks: impl IntoIterator<Item = Jwk>) -> Self {
        let mut set = Self::default();
        for jwk in jwks {
            match VerifyKey::from_jwk(&jwk) {
                Ok(key) => {
                    let key = Arc::new(key);
                    if let Some(kid) = &key.kid {
                        set.by_kid.insert(kid.clone(), key.clone());
                    }
                    set.keys.push(key);
                }
                Err(reason) => tracing::debug!(kid = ?jwk.common.key_id, reason, "skipping a JWK"),
            }
        }
        set
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this `kid` is in the set.
    pub fn contains(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// The key for a token with this `kid` and `alg`.
    ///
    /// # Errors
    /// [`TokenError::UnknownKey`], [`TokenError::MissingKid`] (no `kid` and several keys) or
    /// [`TokenError::KeyMismatch`] (the key cannot verify `alg`).
    pub fn find(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<VerifyKey>, TokenError> {
        let key = match kid {
            Some(kid) => self.by_kid.get(kid).ok_or(TokenError::UnknownKey)?,
            None => match self.keys.as_slice() {
                [only] => only,
                [] => return Err(TokenError::UnknownKey),
                _ => return Err(TokenError::MissingKid),
            },
        };
        if !key.algorithms.contains(&alg) {
            return Err(TokenError::KeyMismatch);
        }
        Ok(key.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_modulus(bytes: usize) -> String {
        let mut n = vec![0xC5u8; bytes];
        n[bytes - 1] = 0x01;
        URL_SAFE_NO_PAD.encode(n)
    }

    fn jwk(value: Value) -> Jwk {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn an_rsa_key_fits_rs_and_ps_but_not_es() {
        let key = VerifyKey::from_jwk(&jwk(
            json!({"kty": "RSA", "kid": "a", "n": rsa_modulus(256), "e": "AQAB"}),
        ))
        .unwrap();
        assert!(
            key.algorithms.contains(&Algorithm::RS256)
                && key.algorithms.contains(&Algorithm::PS512)
        );
        assert!(!key.algorithms.contains(&Algorithm::ES256));
    }

    #[test]
    fn a_declared_alg_narrows_the_key_and_a_contradicting_one_disables_it() {
        let rs384 = json!({"kty": "RSA", "alg": "RS384", "n": rsa_modulus(256), "e": "AQAB"});
        assert_eq!(
            VerifyKey::from_jwk(&jwk(rs384)).unwrap().algorithms,
            vec![Algorithm::RS384]
        );
        let contradiction =
            json!({"kty": "RSA", "alg": "ES256", "n": rsa_modulus(256), "e": "AQAB"});
        assert!(VerifyKey::from_jwk(&jwk(contradiction)).is_err());
    }

    #[test]
    fn encryption_keys_short_rsa_keys_and_secrets_are_skipped() {
        let enc = json!({"kty": "RSA", "use": "enc", "n": rsa_modulus(256), "e": "AQAB"});
        let short = json!({"kty": "RSA", "n": rsa_modulus(128), "e": "AQAB"});
        let oct = json!({"kty": "oct", "k": "c2VjcmV0"});
        for value in [enc, short, oct] {
            assert!(VerifyKey::from_jwk(&jwk(value.clone())).is_err(), "{value}");
        }
    }

    #[test]
    fn a_set_skips_what_it_cannot_use_and_finds_by_kid() {
        let body = json!({"keys": [
            {"kty": "RSA", "kid": "good", "n": rsa_modulus(256), "e": "AQAB"},
            {"kty": "weird", "kid": "x"},
            {"kty": "oct", "kid": "secret", "k": "c2VjcmV0"},
        ]});
        let set = KeySet::from_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.find(Some("good"), Algorithm::RS256).is_ok());
        assert_eq!(
            set.find(Some("secret"), Algorithm::HS256).unwrap_err(),
            TokenError::UnknownKey
        );
        assert_eq!(
            set.find(Some("good"), Algorithm::ES256).unwrap_err(),
            TokenError::KeyMismatch
        );
        // One usable key may serve a token without kid.
        assert!(set.find(None, Algorithm::RS256).is_ok());
    }

    #[test]
    fn a_token_without_kid_is_refused_when_several_keys_exist() {
        let body = json!({"keys": [
            {"kty": "RSA", "kid": "a", "n": rsa_modulus(256), "e": "AQAB"},
            {"kty": "RSA", "kid": "b", "n": rsa_modulus(256), "e": "AQAB"},
        ]});
        let set = KeySet::from_json(body.to_string().as_bytes()).unwrap();
        assert_eq!(
            set.find(None, Algorithm::RS256).unwrap_err(),
            TokenError::MissingKid
        );
    }

    #[test]
    fn garbage_is_not_a_key_set() {
        assert!(KeySet::from_json(b"<html>").is_err());
        assert!(KeySet::from_json(br#"{"keys": 3}"#).is_err());
    }
}
