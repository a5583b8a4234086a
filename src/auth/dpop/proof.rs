//! One DPoP proof JWT checked on its own (RFC 9449 §4.3): form, header, key, signature and claims.
//! No state: whether its `jti` was seen before is the replay store's job.

use std::str::FromStr;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

use super::htu;
use crate::auth::error::ProofError;

/// Longest proof accepted, checked before any parsing. An RSA-4096 proof (the largest key a client
/// should use) is about 2.2 KB; an ES256 one about 0.6 KB.
pub const MAX_PROOF_BYTES: usize = 4096;

/// How old a proof may be (`iat`), in seconds. Short, because every request carries a fresh one.
pub const MAX_PROOF_AGE_SECS: u64 = 60;

/// Longest `jti` accepted: 16 random bytes are enough (RFC 9449 §4.2); this leaves room for UUIDs
/// and the like while keeping what a client controls small.
const MAX_JTI_BYTES: usize = 256;

/// The algorithms a proof may be signed with: asymmetric only (RFC 9449 §4.3 point 5: never `none`,
/// never a MAC, since the verifier would need the secret). The order is the one advertised in
/// `WWW-Authenticate` `algs` and in `dpop_signing_alg_values_supported`.
pub const SUPPORTED_ALGORITHMS: [Algorithm; 9] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
];

/// The names of [`SUPPORTED_ALGORITHMS`], in the same order: the `algs` of a `DPoP` challenge
/// (RFC 9449 §7.1) and `dpop_signing_alg_values_supported` (RFC 9728 §2).
pub const SUPPORTED_ALGORITHM_NAMES: [&str; 9] = [
    "ES256", "ES384", "EdDSA", "PS256", "PS384", "PS512", "RS256", "RS384", "RS512",
];

/// JWK members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037
/// §2). A proof carries its public key in the clear; one with any of these is refused, not trimmed.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What the proof must match: the request it came with.
#[derive(Debug)]
pub(crate) struct Expected<'a> {
    /// The request method, compared exactly (`htm`, point 8).
    pub(crate) method: &'a str,
    /// The URLs the request may be named by (`htu`, point 9): PUBLIC_URL and path, and at the local
    /// token endpoint also the URL its discovery document advertises.
    pub(crate) urls: &'a [Url],
    /// The access token sent with the proof, whose hash `ath` must be (point 12); `None` at a token
    /// endpoint, where there is no access token yet.
    pub(crate) access_token: Option<&'a str>,
    /// Now, seconds since the epoch.
    pub(crate) now: u64,
    /// How far in the future `iat` may be (`[AUTH] LEEWAY`).
    pub(crate) leeway: u64,
}

/// A proof that passed every stateless check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CheckedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key, base64url: what `cnf.jkt` must be.
    pub(crate) jkt: String,
    /// The replay-store key: SHA-256 of the thumbprint and the `jti`, so one client's `jti`s never
    /// collide with another's and the store keeps no client text.
    pub(crate) replay_key: [u8; 32],
}

/// The JOSE header members a proof is judged by. Unknown members are ignored (RFC 7515 §4), except
/// through `crit`.
#[derive(Deserialize)]
struct ProofHeader {
    #[serde(default)]
    typ: Option<String>,
    alg: String,
    #[serde(default)]
    jwk: Option<Map<String, Value>>,
    #[serde(default)]
    crit: Option<Value>,
}

/// The payload members of RFC 9449 §4.2. `nonce` (§8) is not read yet: server-provided nonces are
/// where it would be checked, in [`check`] after `iat`.
#[derive(Deserialize)]
struct ProofClaims {
    htm: String,
    htu: String,
    /// A NumericDate (RFC 7519 §2): an integer or not.
    iat: f64,
    jti: String,
    #[serde(default)]
    ath: Option<String>,
}

/// Checks `proof` against `expected`, in the order of RFC 9449 §4.3, and returns its key's thumbprint.
///
/// # Errors
/// The first check that fails, as a [`ProofError`].
pub(crate) fn check(proof: &str, expected: &Expected<'_>) -> Result<CheckedProof, ProofError> {
    // Point 2: one well-formed JWT, bounded before anything is decoded.
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProofError::TooLarge);
    }
    let mut segments = proof.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(ProofError::Malformed);
    };
    if signature.is_empty() {
        return Err(ProofError::Malformed);
    }
    let header: ProofHeader = decode_json(header)?;
    // Point 4.
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case("dpop+jwt"))
    {
        return Err(ProofError::WrongType);
    }
    // Point 5: an asymmetric algorithm this service supports; `none` and HS* are not in the list.
    let alg = Algorithm::from_str(&header.alg)
        .ok()
        .filter(|alg| SUPPORTED_ALGORITHMS.contains(alg))
        .ok_or(ProofError::UnsupportedAlgorithm)?;
    if header.crit.is_some() {
        return Err(ProofError::UnsupportedCritical);
    }
    // Points 5 and 6: a public key that fits the algorithm.
    let jwk = public_key(header.jwk.ok_or(ProofError::BadKey)?, alg)?;
    // Point 7: signed by that key.
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| ProofError::BadKey)?;
    let signing_input = &proof[..header_and_payload_len(proof)];
    match jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &key, alg) {
        Ok(true) => {}
        Ok(false) | Err(_) => return Err(ProofError::BadSignature),
    }
    let claims: ProofClaims = decode_json(payload).map_err(|_| ProofError::MalformedClaims)?;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_BYTES {
        return Err(ProofError::MalformedClaims);
    }
    // Point 8: methods are case-sensitive (RFC 9110 §9.1).
    if claims.htm != expected.method {
        return Err(ProofError::MethodMismatch);
    }
    // Point 9.
    if !expected
        .urls
        .iter()
        .any(|url| htu::matches(&claims.htu, url))
    {
        return Err(ProofError::UrlMismatch);
    }
    // Point 11: fresh, within a short window. `as` saturates; a NaN cannot come out of JSON.
    let iat = claims.iat.floor() as u64;
    if iat.saturating_add(MAX_PROOF_AGE_SECS) < expected.now {
        return Err(ProofError::TooOld);
    }
    if iat > expected.now.saturating_add(expected.leeway) {
        return Err(ProofError::IssuedInFuture);
    }
    // Point 10 (RFC 9449 §8, server-provided nonces) would be checked here, before `ath`.
    // Point 12: the proof is for this very access token.
    if let Some(token) = expected.access_token
        && claims.ath.as_deref() != Some(access_token_hash(token).as_str())
    {
        return Err(ProofError::AccessTokenHash);
    }
    let jkt = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|_| ProofError::BadKey)?;
    let mut replay_input = jkt.clone().into_bytes();
    replay_input.push(b' ');
    replay_input.extend_from_slice(claims.jti.as_bytes());
    let mut replay_key = [0u8; 32];
    replay_key.copy_from_slice(digest(&SHA256, &replay_input).as_ref());
    Ok(CheckedProof { jkt, replay_key })
}

/// `ath`: the base64url SHA-256 of the access token's ASCII text (RFC 9449 §4.2).
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, token.as_bytes()))
}

/// The length of `header.payload`, the JWS signing input (the proof has exactly two dots here).
fn header_and_payload_len(proof: &str) -> usize {
    proof.rfind('.').unwrap_or(proof.len())
}

/// A base64url segment decoded as JSON.
fn decode_json<T: serde::de::DeserializeOwned>(segment: &str) -> Result<T, ProofError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| ProofError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| ProofError::Malformed)
}

/// The proof's `jwk` as a key, when it is a public key of `alg`'s family: no private member, no
/// symmetric (`oct`) key, and the curve the algorithm names.
fn public_key(members: Map<String, Value>, alg: Algorithm) -> Result<Jwk, ProofError> {
    if PRIVATE_MEMBERS
        .iter()
        .any(|member| members.contains_key(*member))
    {
        return Err(ProofError::PrivateKey);
    }
    let jwk: Jwk =
        serde_json::from_value(Value::Object(members)).map_err(|_| ProofError::BadKey)?;
    let fits = match (&jwk.algorithm, alg) {
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => {
            ec.curve == EllipticCurve::P256
        }
        (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES384) => {
            ec.curve == EllipticCurve::P384
        }
        (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => {
            okp.curve == EllipticCurve::Ed25519
        }
        (
            AlgorithmParameters::RSA(_),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512,
        ) => true,
        _ => false,
    };
    if fits {
        Ok(jwk)
    } else {
        Err(ProofError::BadKey)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
    use jsonwebtoken::EncodingKey;
    use serde_json::json;

    use super::*;

    const NOW: u64 = 1_767_225_600;

    /// A P-256 key a test client signs proofs with, and its public JWK.
    struct Client {
        encoding: EncodingKey,
        jwk: Value,
    }

    impl Client {
        fn new() -> Self {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
            let encoding = EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref());
            let point = pair.public_key().as_ref();
            let jwk = json!({
                "kty": "EC", "crv": "P-256",
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            });
            Self { encoding, jwk }
        }

        /// A proof with this header and these claims, signed ES256 with this key.
        fn sign(&self, header: &Value, claims: &Value) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature =
                jsonwebtoken::crypto::sign(input.as_bytes(), &self.encoding, Algorithm::ES256)
                    .unwrap();
            format!("{input}.{signature}")
        }

        fn header(&self) -> Value {
            json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk})
        }

        fn claims() -> Value {
            json!({
                "htm": "GET", "htu": "https://api.example.com/api/private", "iat": NOW,
                "jti": "e1j3V_bKic8-LAEB", "ath": access_token_hash("the-token"),
            })
        }

        /// A valid proof with `change` applied to a copy of the header and claims.
        fn proof_with(&self, change: impl FnOnce(&mut Value, &mut Value)) -> String {
            let (mut header, mut claims) = (self.header(), Self::claims());
            change(&mut header, &mut claims);
            self.sign(&header, &claims)
        }
    }

    fn checked(proof: &str) -> Result<CheckedProof, ProofError> {
        let url = htu::request_url("https://api.example.com", "/api/private").unwrap();
        check(
            proof,
            &Expected {
                method: "GET",
                urls: std::slice::from_ref(&url),
                access_token: Some("the-token"),
                now: NOW,
                leeway: 30,
            },
        )
    }

    #[test]
    fn a_well_formed_proof_passes_and_gives_its_keys_thumbprint() {
        let client = Client::new();
        let proof = checked(&client.proof_with(|_, _| {})).unwrap();
        let jwk: Jwk = serde_json::from_value(client.jwk.clone()).unwrap();
        assert_eq!(proof.jkt, jwk.thumbprint(ThumbprintHash::SHA256).unwrap());
    }

    #[test]
    fn the_thumbprint_is_rfc_7638s_own_example() {
        // RFC 7638 §3.1: the RSA key and its SHA-256 thumbprint.
        let jwk: Jwk = serde_json::from_value(json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29",
        }))
        .unwrap();
        assert_eq!(
            jwk.thumbprint(ThumbprintHash::SHA256).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn the_access_token_hash_is_base64url_sha256() {
        // RFC 9449 §7.1's example token and its `ath`.
        assert_eq!(
            access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
            "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
        );
    }

    #[test]
    fn typ_must_be_dpop_jwt() {
        let client = Client::new();
        for typ in [json!("JWT"), json!("at+jwt"), Value::Null] {
            let proof = client.proof_with(|header, _| header["typ"] = typ.clone());
            assert_eq!(checked(&proof), Err(ProofError::WrongType), "{typ}");
        }
        let proof = client.proof_with(|header, _| header["typ"] = json!("DPoP+JWT"));
        assert!(
            checked(&proof).is_ok(),
            "media types compare case-insensitively"
        );
    }

    #[test]
    fn none_hmac_and_unknown_algorithms_are_refused() {
        let client = Client::new();
        for alg in ["none", "HS256", "HS512", "ES512", "nonsense"] {
            let proof = client.proof_with(|header, _| header["alg"] = json!(alg));
            assert_eq!(
                checked(&proof),
                Err(ProofError::UnsupportedAlgorithm),
                "{alg}"
            );
        }
    }

    #[test]
    fn a_jwk_with_private_members_or_a_symmetric_key_is_refused() {
        let client = Client::new();
        for member in PRIVATE_MEMBERS {
            let proof = client.proof_with(|header, _| header["jwk"][member] = json!("AAAA"));
            assert_eq!(checked(&proof), Err(ProofError::PrivateKey), "{member}");
        }
        let proof = client.proof_with(|header, _| header["jwk"] = json!({"kty": "oct"}));
        assert_eq!(checked(&proof), Err(ProofError::BadKey));
    }

    #[test]
    fn a_missing_jwk_or_one_of_another_curve_or_family_is_refused() {
        let client = Client::new();
        let proof = client.proof_with(|header, _| {
            header.as_object_mut().unwrap().remove("jwk");
        });
        assert_eq!(checked(&proof), Err(ProofError::BadKey));
        let proof = client.proof_with(|header, _| header["jwk"]["crv"] = json!("P-384"));
        assert_eq!(checked(&proof), Err(ProofError::BadKey));
        let proof = client.proof_with(|header, _| header["alg"] = json!("RS256"));
        assert_eq!(checked(&proof), Err(ProofError::BadKey));
    }

    #[test]
    fn a_signature_by_another_key_is_refused() {
        let (client, other) = (Client::new(), Client::new());
        // Signed by `other`, presenting `client`'s public key.
        let proof = other.sign(&client.header(), &Client::claims());
        assert_eq!(checked(&proof), Err(ProofError::BadSignature));
        let mut tampered = client.proof_with(|_, _| {});
        tampered.push('A');
        assert!(checked(&tampered).is_err());
    }

    #[test]
    fn htm_and_htu_must_name_this_request() {
        let client = Client::new();
        let proof = client.proof_with(|_, claims| claims["htm"] = json!("POST"));
        assert_eq!(checked(&proof), Err(ProofError::MethodMismatch));
        let proof = client.proof_with(|_, claims| claims["htm"] = json!("get"));
        assert_eq!(checked(&proof), Err(ProofError::MethodMismatch));
        let proof = client.proof_with(|_, claims| {
            claims["htu"] = json!("https://api.example.com/api/admin");
        });
        assert_eq!(checked(&proof), Err(ProofError::UrlMismatch));
        let proof = client.proof_with(|_, claims| {
            claims["htu"] = json!("HTTPS://API.EXAMPLE.COM:443/api/private?q=1#f");
        });
        assert!(checked(&proof).is_ok());
    }

    #[test]
    fn iat_must_be_within_a_minute_back_and_the_leeway_ahead() {
        let client = Client::new();
        let at = |iat: Value| client.proof_with(|_, claims| claims["iat"] = iat);
        assert!(checked(&at(json!(NOW - 60))).is_ok());
        assert_eq!(checked(&at(json!(NOW - 61))), Err(ProofError::TooOld));
        assert!(checked(&at(json!(NOW + 30))).is_ok());
        assert_eq!(
            checked(&at(json!(NOW + 31))),
            Err(ProofError::IssuedInFuture)
        );
        assert!(checked(&at(json!(NOW as f64 + 0.5))).is_ok());
        assert_eq!(
            checked(&at(json!("1767225600"))),
            Err(ProofError::MalformedClaims)
        );
    }

    #[test]
    fn jti_is_required_and_bounded() {
        let client = Client::new();
        let proof = client.proof_with(|_, claims| {
            claims.as_object_mut().unwrap().remove("jti");
        });
        assert_eq!(checked(&proof), Err(ProofError::MalformedClaims));
        let proof = client.proof_with(|_, claims| claims["jti"] = json!(""));
        assert_eq!(checked(&proof), Err(ProofError::MalformedClaims));
        let proof = client.proof_with(|_, claims| claims["jti"] = json!("x".repeat(257)));
        assert_eq!(checked(&proof), Err(ProofError::MalformedClaims));
    }

    #[test]
    fn ath_must_hash_the_token_sent_with_the_proof() {
        let client = Client::new();
        let proof = client.proof_with(|_, claims| {
            claims.as_object_mut().unwrap().remove("ath");
        });
        assert_eq!(checked(&proof), Err(ProofError::AccessTokenHash));
        let proof =
            client.proof_with(|_, claims| claims["ath"] = json!(access_token_hash("other")));
        assert_eq!(checked(&proof), Err(ProofError::AccessTokenHash));
    }

    #[test]
    fn a_token_endpoint_proof_needs_no_ath() {
        let client = Client::new();
        let proof = client.proof_with(|_, claims| {
            claims.as_object_mut().unwrap().remove("ath");
            claims["htm"] = json!("POST");
            claims["htu"] = json!("https://api.example.com/oauth/token");
        });
        let url = htu::request_url("https://api.example.com", "/oauth/token").unwrap();
        let expected = Expected {
            method: "POST",
            urls: std::slice::from_ref(&url),
            access_token: None,
            now: NOW,
            leeway: 30,
        };
        assert!(check(&proof, &expected).is_ok());
    }

    #[test]
    fn oversized_malformed_and_critical_proofs_are_refused() {
        let client = Client::new();
        assert_eq!(
            checked(&"a".repeat(MAX_PROOF_BYTES + 1)),
            Err(ProofError::TooLarge)
        );
        for proof in ["", "a.b", "a.b.c.d", "e30.e30.", "!!.e30.sig"] {
            assert_eq!(checked(proof), Err(ProofError::Malformed), "{proof:?}");
        }
        let proof = client.proof_with(|header, _| header["crit"] = json!(["exp"]));
        assert_eq!(checked(&proof), Err(ProofError::UnsupportedCritical));
    }

    #[test]
    fn the_replay_key_is_per_key_and_jti() {
        let (client, other) = (Client::new(), Client::new());
        let one = checked(&client.proof_with(|_, _| {})).unwrap();
        let again = checked(&client.proof_with(|_, _| {})).unwrap();
        let other_key = checked(&other.proof_with(|_, _| {})).unwrap();
        let other_jti =
            checked(&client.proof_with(|_, claims| claims["jti"] = json!("another"))).unwrap();
        assert_eq!(one.replay_key, again.replay_key);
        assert_ne!(one.replay_key, other_key.replay_key);
        assert_ne!(one.replay_key, other_jti.replay_key);
    }

    #[test]
    fn the_advertised_names_are_the_supported_algorithms() {
        for (name, alg) in SUPPORTED_ALGORITHM_NAMES.iter().zip(SUPPORTED_ALGORITHMS) {
            assert_eq!(Algorithm::from_str(name).unwrap(), alg);
        }
    }
}
