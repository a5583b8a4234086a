//! Why a token was refused, in words safe to send back: never the token, never key material.

use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;

/// A token that cannot be accepted: 401 `invalid_token` with this text as `error_description`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than `[AUTH] MAX_TOKEN_BYTES`.
    #[error("token too large")]
    TooLarge,
    /// Not three base64url segments, or a segment that does not decode.
    #[error("malformed token: expected a JWS in compact form (header.payload.signature)")]
    Malformed,
    /// The header is not a JSON object with a string `alg`.
    #[error("malformed token header")]
    MalformedHeader,
    /// The payload is not a JSON object, or a registered claim has the wrong type.
    #[error("malformed token claims")]
    MalformedClaims,
    /// `alg` is not in the configured list (`none` and HMAC never are). `None` when the name is unknown.
    #[error("algorithm {} is not allowed", .0.map_or_else(|| "in the token header".to_owned(), |alg| format!("{alg:?}")))]
    AlgorithmNotAllowed(Option<Algorithm>),
    /// A `crit` header names an extension this service does not implement (RFC 7515 §4.1.11).
    #[error("unsupported critical header parameter")]
    UnsupportedCritical,
    /// No key in the provider's key set has this `kid`, even after a refresh.
    #[error("unknown signing key (kid)")]
    UnknownKey,
    /// The token has no `kid` and the key set holds more than one key.
    #[error("token has no kid and the key set holds several keys")]
    MissingKid,
    /// The key chosen by `kid` cannot verify this `alg` (its `kty`, `crv`, `alg` or `use` differ).
    #[error("signing key does not fit the token algorithm")]
    KeyMismatch,
    /// The signature does not verify.
    #[error("invalid signature")]
    BadSignature,
    /// `exp` is past, beyond the leeway.
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future, beyond the leeway.
    #[error("token not yet valid (nbf)")]
    NotYetValid,
    /// `iat` is in the future, beyond the leeway.
    #[error("token issued in the future (iat)")]
    IssuedInFuture,
    /// `iss` is not the configured issuer.
    #[error("issuer mismatch")]
    IssuerMismatch,
    /// Several issuers are trusted and `iss` names none of them: no key was looked up or fetched.
    #[error("unknown issuer")]
    UnknownIssuer,
    /// `aud` does not contain the configured audience (or Cognito's `client_id` differs).
    #[error("audience mismatch")]
    AudienceMismatch,
    /// A claim the rules require is absent.
    #[error("missing required claim {0}")]
    MissingClaim(&'static str),
    /// Cognito `token_use` is not the expected kind of token.
    #[error("wrong token type (token_use)")]
    WrongTokenUse,
    /// An ID token about someone else than the access token it came with.
    #[error("ID token subject does not match the access token")]
    SubjectMismatch,
    /// `[AUTH] REQUIRE_AT_JWT` is on and the header `typ` is not `at+jwt` (RFC 9068 §2.1).
    #[error("not an access token: header typ must be at+jwt")]
    NotAnAccessToken,
    /// The introspection answer says the opaque token is a refresh or ID token (`token_use`,
    /// `token_type` or `typ`): active, but not to be used as an access token.
    #[error("not an access token: the introspection answer names another kind of token")]
    NotAnAccessTokenKind,
    /// Firebase `auth_time` lies in the future.
    #[error("auth_time in the future")]
    AuthTimeInFuture,
    /// The issuer's introspection endpoint says the opaque token is not active (RFC 7662 §2.2):
    /// revoked, expired, or never issued.
    #[error("token is not active")]
    Inactive,
    /// A DPoP-bound token (`cnf.jkt`, RFC 9449 §6) sent without a proof, as `Bearer`: refused, or a
    /// stolen bound token would work as a plain bearer token (RFC 9449 §7.2).
    #[error("token is DPoP-bound (cnf.jkt): send it with the DPoP scheme and a DPoP proof")]
    DpopBound,
    /// A token with no `cnf.jkt` sent with the `DPoP` scheme: nothing binds it to the proof's key.
    #[error("token is not DPoP-bound (no cnf.jkt)")]
    NotDpopBound,
    /// The token's `cnf.jkt` is not the thumbprint of the key that signed the proof (RFC 9449 §7.1).
    #[error("token is bound to another key than the DPoP proof's (cnf.jkt)")]
    DpopKeyMismatch,
    /// `[AUTH] DPOP = required` and the token came with the `Bearer` scheme (or in a cookie).
    #[error("DPoP is required: send the token with the DPoP scheme and a DPoP proof")]
    DpopRequired,
    /// The token's `cnf` names a confirmation method other than `jkt` (an RFC 8705 certificate
    /// thumbprint `x5t#S256`, a `jwk`, …): this service cannot check that the caller holds it, and
    /// taking the token as unbound would let a stolen certificate-bound token work here.
    #[error("token is bound to a confirmation method this service cannot check (cnf)")]
    UnsupportedConfirmation,
}

impl TokenError {
    /// Whether the same token will be refused for the same reason as long as the key set is the same.
    /// Not so for claims that time makes valid (`nbf`, `iat`, `auth_time`) or keys a refresh may bring.
    pub fn is_permanent(&self) -> bool {
        !matches!(
            self,
            Self::NotYetValid
                | Self::IssuedInFuture
                | Self::AuthTimeInFuture
                | Self::UnknownKey
                | Self::MissingKid
        )
    }

    /// A short label for metrics: `expired`, `bad_signature`, …
    pub fn reason(&self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::Malformed | Self::MalformedHeader | Self::MalformedClaims => "malformed",
            Self::AlgorithmNotAllowed(_) => "algorithm",
            Self::UnsupportedCritical => "crit",
            Self::UnknownKey | Self::MissingKid => "unknown_key",
            Self::KeyMismatch => "key_mismatch",
            Self::BadSignature => "bad_signature",
            Self::Expired => "expired",
            Self::NotYetValid | Self::IssuedInFuture | Self::AuthTimeInFuture => "not_yet_valid",
            Self::IssuerMismatch | Self::UnknownIssuer => "issuer",
            Self::AudienceMismatch => "audience",
            Self::MissingClaim(_) | Self::WrongTokenUse | Self::SubjectMismatch => "claims",
            Self::NotAnAccessToken | Self::NotAnAccessTokenKind => "type",
            Self::Inactive => "inactive",
            Self::DpopBound
            | Self::NotDpopBound
            | Self::DpopKeyMismatch
            | Self::DpopRequired
            | Self::UnsupportedConfirmation => "dpop_binding",
        }
    }
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        match error.kind() {
            ErrorKind::InvalidSignature
            | ErrorKind::InvalidEcdsaKey
            | ErrorKind::InvalidEddsaKey => Self::BadSignature,
            ErrorKind::InvalidRsaKey(_) | ErrorKind::InvalidKeyFormat => Self::KeyMismatch,
            ErrorKind::ExpiredSignature => Self::Expired,
            ErrorKind::ImmatureSignature => Self::NotYetValid,
            ErrorKind::InvalidIssuer => Self::IssuerMismatch,
            ErrorKind::InvalidAudience => Self::AudienceMismatch,
            ErrorKind::InvalidAlgorithm
            | ErrorKind::InvalidAlgorithmName
            | ErrorKind::MissingAlgorithm => Self::AlgorithmNotAllowed(None),
            ErrorKind::MissingRequiredClaim(claim) => match claim.as_str() {
                "exp" => Self::MissingClaim("exp"),
                "iss" => Self::MissingClaim("iss"),
                "aud" => Self::MissingClaim("aud"),
                "nbf" => Self::MissingClaim("nbf"),
                _ => Self::MissingClaim("sub"),
            },
            ErrorKind::InvalidClaimFormat(_) => Self::MalformedClaims,
            _ => Self::Malformed,
        }
    }
}

/// A DPoP proof (RFC 9449 §4.3) that cannot be accepted: 401 `invalid_dpop_proof` with this text as
/// `error_description`. The text names the check that failed, never the proof or its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The `DPoP` scheme was used and no `DPoP` header was sent.
    #[error("missing DPoP proof header")]
    Missing,
    /// More than one `DPoP` header (RFC 9449 §4.3 point 1).
    #[error("more than one DPoP proof header")]
    Several,
    /// A `DPoP` header with no access token in `Authorization`.
    #[error("DPoP proof sent without an access token (Authorization: DPoP <token>)")]
    WithoutToken,
    /// Longer than the limit, refused before any parsing.
    #[error("DPoP proof too large")]
    TooLarge,
    /// Not a JWS in compact form, or a segment that is not base64url JSON (RFC 9449 §4.3 point 2).
    #[error("malformed DPoP proof: expected a JWS in compact form (header.payload.signature)")]
    Malformed,
    /// The header `typ` is not `dpop+jwt` (point 4).
    #[error("DPoP proof typ must be dpop+jwt")]
    WrongType,
    /// `alg` is `none`, symmetric, or not one this service verifies (point 5).
    #[error("DPoP proof algorithm is not supported")]
    UnsupportedAlgorithm,
    /// A `crit` header names an extension this service does not implement (RFC 7515 §4.1.11).
    #[error("unsupported critical header parameter in DPoP proof")]
    UnsupportedCritical,
    /// No `jwk` header, or one that is not a usable public key of the `alg`'s family (point 5).
    #[error("DPoP proof jwk is missing or not a public key for its alg")]
    BadKey,
    /// The `jwk` header holds private key material (`d`, `p`, `k`, …) (point 6).
    #[error("DPoP proof jwk must not contain a private key")]
    PrivateKey,
    /// The signature does not verify with the `jwk` (point 7).
    #[error("DPoP proof signature is invalid")]
    BadSignature,
    /// The payload is not a JSON object with string `htm`, `htu`, `jti` and a numeric `iat`.
    #[error("malformed DPoP proof claims (htm, htu, iat and jti are required)")]
    MalformedClaims,
    /// `htm` is not the request's method (point 8).
    #[error("DPoP proof htm does not match the request method")]
    MethodMismatch,
    /// `htu` is not the request's URL (point 9).
    #[error("DPoP proof htu does not match the request URL")]
    UrlMismatch,
    /// `iat` is older than the window allows (point 11).
    #[error("DPoP proof is too old (iat)")]
    TooOld,
    /// `iat` is in the future beyond the leeway (point 11).
    #[error("DPoP proof issued in the future (iat)")]
    IssuedInFuture,
    /// `ath` is missing or is not the hash of the access token sent with it (point 12).
    #[error("DPoP proof ath does not match the access token")]
    AccessTokenHash,
    /// A proof whose `jti` was already used within the window (RFC 9449 §11.1).
    #[error("DPoP proof has already been used (jti)")]
    Replayed,
    /// The replay store holds as many proofs as it may: 503, the client may retry (never accepted
    /// unchecked).
    #[error("too many DPoP proofs at once; try again shortly")]
    StoreFull,
    /// The proof's key (`jkt`) recorded as many proofs in this window as one key may
    /// ([`crate::auth::dpop::MAX_PROOFS_PER_KEY`]): 429, other keys are unaffected.
    #[error("too many proofs for this key; try again after Retry-After")]
    KeyOverQuota {
        /// Seconds until the key's count starts again.
        retry_after: u64,
    },
    /// The bound token's principal (issuer and `sub`) recorded as many proofs in this window, over
    /// all its keys, as one principal may ([`crate::auth::dpop::MAX_PROOFS_PER_SUBJECT`]): 429, other
    /// principals are unaffected.
    #[error("too many proofs for this subject; try again after Retry-After")]
    SubjectOverQuota {
        /// Seconds until the principal's count starts again.
        retry_after: u64,
    },
}

/// Why [`crate::auth::Verifier::verify`] did not return a verified token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is at fault: 401.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// No keys could be had from the provider and none are cached: 503, the caller may retry.
    #[error("signing keys unavailable")]
    KeysUnavailable,
    /// An opaque token could not be introspected (the endpoint is down, slow, or answered something
    /// that is not an RFC 7662 answer): 503, the caller may retry. Nothing was cached.
    #[error("token introspection unavailable")]
    IntrospectionUnavailable,
}

/// Why [`crate::auth::Verifier::verify_id_token`] refused an ID token: a [`VerifyError`] about the ID
/// token rather than the access token, so the answer can say which of the two was at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("ID token: {0}")]
pub struct IdTokenError(#[from] pub VerifyError);
