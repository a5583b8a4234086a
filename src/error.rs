//! `ApiError` and its one `IntoResponse`: status, `WWW-Authenticate` (RFC 6750 §3) and a JSON body.

use std::borrow::Cow;
use std::collections::BTreeMap;

use axum::Json;
use axum::http::header::{RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::auth::dpop::SUPPORTED_ALGORITHM_NAMES;
use crate::auth::{
    DpopMode, IdTokenError, ProofError, RandomError, Required, TokenError, VerifyError,
};
use crate::store::UserInfoError;
#[cfg(feature = "local-issuer")]
use crate::store::passwords::RETRY_AFTER_SECS;
#[cfg(feature = "local-issuer")]
use crate::store::{Busy, SignupError};

/// The realm named in every `Bearer` challenge.
pub const REALM: &str = "protected-api";

/// Every way a request can fail, each mapped to one status and error code.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No credentials: 401 with a bare challenge (RFC 6750 §3.1: no error code) for each scheme
    /// `[AUTH] DPOP` accepts: `Bearer`, `DPoP` (RFC 9449 §7.1), or both.
    #[error("{}", if .0.accepts_bearer() { "no bearer token" } else { "no DPoP token" })]
    MissingToken(DpopMode),
    /// A malformed `Authorization` header: 400 `invalid_request`.
    #[error("{0}")]
    InvalidRequest(&'static str),
    /// A token that fails verification: 401 `invalid_token`.
    #[error(transparent)]
    InvalidToken(#[from] TokenError),
    /// An ID token (`X-Id-Token` or the session's) that fails verification: 401 `invalid_token`.
    #[error("ID token: {0}")]
    InvalidIdToken(TokenError),
    /// A DPoP proof that fails a check of RFC 9449 §4.3: 401 `invalid_dpop_proof`, `DPoP` challenge.
    #[error(transparent)]
    InvalidDpopProof(ProofError),
    /// The refusal of a request made with the `DPoP` scheme: the inner error's status and body, and
    /// a `DPoP` challenge instead of a `Bearer` one (RFC 9449 §7.1), e.g. `invalid_token` or
    /// `insufficient_scope`. Made with [`ApiError::dpop`].
    #[error(transparent)]
    Dpop(Box<ApiError>),
    /// A valid token without the scope or permission needed: 403 `insufficient_scope`.
    #[error("insufficient scope")]
    InsufficientScope(Required),
    /// A valid token that may not touch this resource: 403 `forbidden`.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The provider's keys cannot be had: 503 `temporarily_unavailable`.
    #[error("signing keys unavailable; try again shortly")]
    KeysUnavailable,
    /// The issuer's token introspection endpoint cannot be had: 503 `temporarily_unavailable`.
    #[error("token introspection unavailable; try again shortly")]
    IntrospectionUnavailable,
    /// The provider answered badly (userinfo, code exchange): 502 `bad_gateway`.
    #[error("{0}")]
    Upstream(&'static str),
    /// A feature this configuration cannot offer (no client id for browser login…): 503.
    #[error("{0}")]
    Unavailable(&'static str),
    /// A request that cannot be read: a body over the size limit (413), or a malformed form, JSON body,
    /// query or path (400, 415, 422), with axum's status and message: `invalid_request`. Made from
    /// axum's rejections by the extractors in [`crate::extract`].
    #[error("{description}")]
    Unreadable {
        /// The rejection's status, always 4xx.
        status: StatusCode,
        /// What could not be read.
        description: String,
    },
    /// The resource to create exists already (a taken username): 409 `conflict`.
    #[error("{0}")]
    Conflict(&'static str),
    /// A well-formed request whose fields break the rules: 422 `invalid_request`, with what is wrong
    /// with each field in the body's `fields`.
    #[error("{summary}")]
    InvalidFields {
        /// What is wrong, in one line.
        summary: &'static str,
        /// Field name -> problem.
        fields: BTreeMap<&'static str, String>,
    },
    /// Too much work of one kind at once (password hashing): 503 `temporarily_unavailable`, and
    /// `Retry-After` in seconds.
    #[error("too busy right now; try again shortly")]
    Busy {
        /// Seconds to wait (`Retry-After`, RFC 9110 §10.2.3).
        retry_after: u64,
    },
    /// One client sent too much (DPoP proofs for one key): 429 `too_many_requests` (RFC 6585 §4),
    /// and `Retry-After` in seconds.
    #[error("{description}")]
    TooManyRequests {
        /// What was too much.
        description: String,
        /// Seconds to wait (`Retry-After`, RFC 9110 §10.2.3).
        retry_after: u64,
    },
    /// No such route: 404.
    #[error("no such resource")]
    NotFound,
    /// The route exists but not for this method: 405.
    #[error("method not allowed on this resource")]
    MethodNotAllowed,
    /// A bug or an unreachable dependency: 500. The cause is logged, never sent.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The one mapping of a refused access token: 401 `invalid_token`, or 503 when no keys can be had.
impl From<VerifyError> for ApiError {
    fn from(error: VerifyError) -> Self {
        match error {
            VerifyError::Token(error) => Self::InvalidToken(error),
            VerifyError::KeysUnavailable => Self::KeysUnavailable,
            VerifyError::IntrospectionUnavailable => Self::IntrospectionUnavailable,
        }
    }
}

/// A refused proof is 401 `invalid_dpop_proof`; a replay store that is full is a 503 to retry; a
/// key or a principal over its quota is a 429 for that client alone.
impl From<ProofError> for ApiError {
    fn from(error: ProofError) -> Self {
        match error {
            ProofError::StoreFull => Self::Busy { retry_after: 1 },
            ProofError::KeyOverQuota { retry_after }
            | ProofError::SubjectOverQuota { retry_after } => Self::TooManyRequests {
                description: error.to_string(),
                retry_after,
            },
            error => Self::InvalidDpopProof(error),
        }
    }
}

/// The same for an ID token, whose refusals say "ID token: …" so the client knows which token failed.
impl From<IdTokenError> for ApiError {
    fn from(IdTokenError(error): IdTokenError) -> Self {
        match error {
            VerifyError::Token(error) => Self::InvalidIdToken(error),
            VerifyError::KeysUnavailable => Self::KeysUnavailable,
            VerifyError::IntrospectionUnavailable => Self::IntrospectionUnavailable,
        }
    }
}

/// The provider's userinfo endpoint failed us: 502, whatever the cause (logged where it happened).
impl From<UserInfoError> for ApiError {
    fn from(error: UserInfoError) -> Self {
        match error {
            UserInfoError::Upstream(_) => Self::Upstream("the provider's userinfo endpoint failed"),
            UserInfoError::OtherSubject => {
                Self::Upstream("the userinfo answer is about another subject")
            }
        }
    }
}

/// A failed random generator is a 500: the request cannot be served without a fresh secret.
/// Each refusal as the API answers it: 422 with the fields, 409, 503 with `Retry-After`, else 500.
#[cfg(feature = "local-issuer")]
impl From<SignupError> for ApiError {
    fn from(error: SignupError) -> Self {
        match error {
            SignupError::Invalid(fields) => Self::InvalidFields {
                summary: "some fields are invalid",
                fields,
            },
            SignupError::Taken => Self::Conflict("username or email is taken"),
            SignupError::Busy(busy) => busy.into(),
            other => Self::Internal(other.into()),
        }
    }
}

/// A request refused for [`Busy`] is a 503 that says when to come back.
#[cfg(feature = "local-issuer")]
impl From<Busy> for ApiError {
    fn from(Busy: Busy) -> Self {
        Self::Busy {
            retry_after: RETRY_AFTER_SECS,
        }
    }
}

impl From<RandomError> for ApiError {
    fn from(error: RandomError) -> Self {
        Self::Internal(error.into())
    }
}

/// The JSON body of every error (RFC 6750 §3 names; RFC 6749 §5.2 shape).
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    /// A machine-readable code: `invalid_token`, `insufficient_scope`, `not_found`, …
    pub error: String,
    /// What failed, for people. Never contains the token or key material.
    pub error_description: String,
    /// With a 422: what is wrong with each field (field name -> problem).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub fields: Option<BTreeMap<String, String>>,
}

impl ErrorBody {
    /// A body with no `fields`.
    pub fn new(error: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            error_description: description.into(),
            fields: None,
        }
    }
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            Self::MissingToken(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::InvalidDpopProof(_) => (StatusCode::UNAUTHORIZED, "invalid_dpop_proof"),
            Self::Dpop(inner) => inner.status_and_code(),
            Self::InvalidRequest(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            Self::InvalidToken(_) | Self::InvalidIdToken(_) => {
                (StatusCode::UNAUTHORIZED, "invalid_token")
            }
            Self::InsufficientScope(_) => (StatusCode::FORBIDDEN, "insufficient_scope"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::KeysUnavailable | Self::IntrospectionUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
            }
            Self::Upstream(_) => (StatusCode::BAD_GATEWAY, "bad_gateway"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::InvalidFields { .. } => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_request"),
            Self::Unavailable(_) | Self::Busy { .. } => {
                (StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
            }
            Self::Unreadable { status, .. } => (*status, "invalid_request"),
            Self::TooManyRequests { .. } => (StatusCode::TOO_MANY_REQUESTS, "too_many_requests"),
            Self::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            Self::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
        }
    }

    fn public_description(&self) -> String {
        match self {
            Self::InsufficientScope(required) => {
                let mode = match required.mode {
                    crate::auth::Match::AllOf => "all of",
                    crate::auth::Match::AnyOf => "one of",
                };
                format!("the token needs {mode}: {}", required.names.join(" "))
            }
            Self::Internal(_) => "internal error".to_owned(),
            Self::Dpop(inner) => inner.public_description(),
            other => other.to_string(),
        }
    }

    /// The error itself, out of its [`ApiError::Dpop`] wrapping if any.
    fn without_scheme(&self) -> &Self {
        match self {
            Self::Dpop(inner) => inner,
            other => other,
        }
    }

    /// The same refusal, answered with the `DPoP` challenge: for a request made with that scheme.
    pub fn dpop(self) -> Self {
        match self {
            Self::Dpop(_) | Self::InvalidDpopProof(_) => self,
            other => Self::Dpop(Box::new(other)),
        }
    }

    /// The `WWW-Authenticate` values, one per challenge, for the errors that have them.
    fn challenges(&self, description: &str) -> Vec<String> {
        let bearer = |params: Option<String>| match params {
            Some(params) => format!("Bearer realm=\"{REALM}\", {params}"),
            None => format!("Bearer realm=\"{REALM}\""),
        };
        match self {
            Self::MissingToken(mode) => {
                let mut challenges = Vec::with_capacity(2);
                if mode.accepts_bearer() {
                    challenges.push(bearer(None));
                }
                if mode.accepts_dpop() {
                    challenges.push(dpop_challenge(None));
                }
                challenges
            }
            Self::InvalidDpopProof(_) => Vec::from_iter(
                self.error_params(description)
                    .map(|p| dpop_challenge(Some(p))),
            ),
            Self::Dpop(inner) => Vec::from_iter(
                inner
                    .error_params(description)
                    .map(|p| dpop_challenge(Some(p))),
            ),
            _ => Vec::from_iter(self.error_params(description).map(|p| bearer(Some(p)))),
        }
    }

    /// `error`, `error_description` (and `scope`) of a challenge (RFC 6750 §3), for the errors that
    /// have a challenge with an error code.
    fn error_params(&self, description: &str) -> Option<String> {
        let with_error = |code: &str| {
            format!(
                "error=\"{code}\", error_description=\"{}\"",
                quoted(description)
            )
        };
        match self {
            Self::InvalidRequest(_) => Some(with_error("invalid_request")),
            Self::InvalidToken(_) | Self::InvalidIdToken(_) => Some(with_error("invalid_token")),
            Self::InvalidDpopProof(_) => Some(with_error("invalid_dpop_proof")),
            Self::InsufficientScope(required) => Some(format!(
                "{}, scope=\"{}\"",
                with_error("insufficient_scope"),
                quoted(&required.names.join(" "))
            )),
            _ => None,
        }
    }

    /// Logs the refusal (the cause, for `Internal`) and counts refused tokens by reason.
    fn report(&self) {
        if let Self::Dpop(inner) = self {
            return inner.report();
        }
        if let Self::InvalidToken(error) = self {
            crate::telemetry::metrics::auth_failure(error.reason());
        }
        if let Self::InvalidDpopProof(_) = self {
            crate::telemetry::metrics::auth_failure("dpop_proof");
        }
        match self {
            Self::Internal(cause) => tracing::error!(error = ?cause, "request failed"),
            Self::KeysUnavailable | Self::IntrospectionUnavailable => {
                tracing::warn!("refused: {self}")
            }
            other => tracing::debug!("refused: {other}"),
        }
    }
}

/// A `DPoP` challenge (RFC 9449 §7.1): the algorithms a proof may use, then the error, if any.
/// Server nonces (§8) would add `error="use_dpop_nonce"` here, with a `DPoP-Nonce` header.
fn dpop_challenge(params: Option<String>) -> String {
    let algs = SUPPORTED_ALGORITHM_NAMES.join(" ");
    match params {
        Some(params) => format!("DPoP algs=\"{algs}\", {params}"),
        None => format!("DPoP algs=\"{algs}\""),
    }
}

/// Escapes a value for a quoted-string (RFC 9110 §5.6.4); borrows when there is nothing to escape.
fn quoted(value: &str) -> Cow<'_, str> {
    if value.contains(['\\', '"']) {
        Cow::Owned(value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        Cow::Borrowed(value)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        self.report();
        let description = self.public_description();
        let challenges = self.challenges(&description);
        let fields = match &self {
            Self::InvalidFields { fields, .. } => Some(
                fields
                    .iter()
                    .map(|(name, problem)| ((*name).to_owned(), problem.clone()))
                    .collect(),
            ),
            _ => None,
        };
        let body = ErrorBody {
            error: code.to_owned(),
            error_description: description,
            fields,
        };
        let mut response = (status, Json(body)).into_response();
        // RFC 9110 §11.6.1: one field per challenge, so each reads on its own.
        for value in challenges {
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().append(WWW_AUTHENTICATE, value);
            }
        }
        if matches!(
            self.without_scheme(),
            Self::KeysUnavailable | Self::IntrospectionUnavailable
        ) {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("10"));
        }
        if let Self::Busy { retry_after } | Self::TooManyRequests { retry_after, .. } =
            self.without_scheme()
        {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from((*retry_after).max(1)));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_escapes_backslashes_and_quotes_and_borrows_plain_text() {
        assert_eq!(quoted(r#"say "hi" \ bye"#), r#"say \"hi\" \\ bye"#);
        assert!(matches!(quoted("the token has expired"), Cow::Borrowed(_)));
    }

    fn challenge_of(error: ApiError) -> Option<String> {
        let response = error.into_response();
        response
            .headers()
            .get(WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap().to_owned())
    }

    #[test]
    fn a_missing_token_gets_a_bare_challenge() {
        assert_eq!(
            challenge_of(ApiError::MissingToken(DpopMode::Off)).unwrap(),
            r#"Bearer realm="protected-api""#
        );
    }

    fn challenges_of(error: ApiError) -> Vec<String> {
        let response = error.into_response();
        response
            .headers()
            .get_all(WWW_AUTHENTICATE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_missing_token_gets_one_challenge_per_accepted_scheme() {
        let algs = r#"DPoP algs="ES256 ES384 EdDSA PS256 PS384 PS512 RS256 RS384 RS512""#;
        assert_eq!(
            challenges_of(ApiError::MissingToken(DpopMode::Allowed)),
            [r#"Bearer realm="protected-api""#, algs]
        );
        assert_eq!(
            challenges_of(ApiError::MissingToken(DpopMode::Required)),
            [algs]
        );
        assert_eq!(
            challenges_of(ApiError::MissingToken(DpopMode::Off)),
            [r#"Bearer realm="protected-api""#]
        );
    }

    #[test]
    fn dpop_refusals_use_the_dpop_challenge_with_their_own_code() {
        let [proof] = &challenges_of(ProofError::BadSignature.into())[..] else {
            panic!("one challenge");
        };
        assert!(proof.starts_with("DPoP algs=\"ES256 "), "{proof}");
        assert!(
            proof.ends_with(
                r#"error="invalid_dpop_proof", error_description="DPoP proof signature is invalid""#
            ),
            "{proof}"
        );
        let token = ApiError::from(TokenError::Expired).dpop();
        let response = token.into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("DPoP algs="), "{challenge}");
        assert!(
            challenge.contains(r#"error="invalid_token""#),
            "{challenge}"
        );
        let scope = ApiError::InsufficientScope(Required::all_of(["read:messages"])).dpop();
        let response = scope.into_response();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let challenge = response.headers()[WWW_AUTHENTICATE].to_str().unwrap();
        assert!(challenge.starts_with("DPoP algs="), "{challenge}");
        assert!(
            challenge.ends_with(r#"scope="read:messages""#),
            "{challenge}"
        );
        assert_eq!(body_of(response)["error"], "insufficient_scope");
    }

    #[test]
    fn a_full_replay_store_is_a_503_to_retry() {
        let response = ApiError::from(ProofError::StoreFull).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn a_key_or_principal_over_its_proof_quota_is_a_429_with_retry_after_under_either_scheme() {
        for error in [
            ApiError::from(ProofError::KeyOverQuota { retry_after: 42 }),
            ApiError::from(ProofError::KeyOverQuota { retry_after: 42 }).dpop(),
            ApiError::from(ProofError::SubjectOverQuota { retry_after: 42 }),
            ApiError::from(ProofError::SubjectOverQuota { retry_after: 42 }).dpop(),
        ] {
            let response = error.into_response();
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(response.headers()[RETRY_AFTER], "42");
        }
    }

    #[test]
    fn insufficient_scope_names_the_scope() {
        let challenge = challenge_of(ApiError::InsufficientScope(Required::all_of([
            "read:messages",
        ])))
        .unwrap();
        assert!(
            challenge.contains(r#"error="insufficient_scope""#),
            "{challenge}"
        );
        assert!(
            challenge.ends_with(r#"scope="read:messages""#),
            "{challenge}"
        );
    }

    /// Status, `error` code and `error_description` of a response.
    fn answer_of(error: ApiError) -> (StatusCode, String, String) {
        let description = error.public_description();
        let (status, code) = error.status_and_code();
        (status, code.to_owned(), description)
    }

    #[test]
    fn a_refused_access_token_and_a_refused_id_token_say_which_token_failed() {
        let access = VerifyError::Token(TokenError::AudienceMismatch);
        let (status, code, description) = answer_of(access.clone().into());
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code, "invalid_token");
        assert_eq!(description, "audience mismatch");

        let (status, code, description) = answer_of(IdTokenError(access).into());
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(code, "invalid_token");
        assert_eq!(description, "ID token: audience mismatch");
    }

    #[test]
    fn unavailable_keys_are_a_503_whichever_token_needed_them() {
        for error in [
            ApiError::from(VerifyError::KeysUnavailable),
            ApiError::from(IdTokenError(VerifyError::KeysUnavailable)),
        ] {
            assert!(matches!(error, ApiError::KeysUnavailable), "{error:?}");
        }
    }

    #[test]
    fn a_failed_random_generator_is_a_500_that_names_nothing() {
        let (status, code, description) = answer_of(RandomError.into());
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(code, "server_error");
        assert_eq!(description, "internal error");
    }

    #[test]
    fn invalid_fields_are_a_422_naming_each_field_and_other_errors_have_no_fields() {
        let fields = [("password", "too short".to_owned())].into_iter().collect();
        let response = ApiError::InvalidFields {
            summary: "some fields are invalid",
            fields,
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let body = body_of(response);
        assert_eq!(body["error"], "invalid_request");
        assert_eq!(body["fields"]["password"], "too short");

        let body = body_of(ApiError::Conflict("username or email is taken").into_response());
        assert_eq!(body["error"], "conflict");
        assert!(body.get("fields").is_none(), "{body}");
    }

    #[test]
    fn busy_says_when_to_come_back() {
        let response = ApiError::Busy { retry_after: 3 }.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "3");
    }

    fn body_of(response: Response) -> serde_json::Value {
        let bytes = block_on(axum::body::to_bytes(response.into_body(), 4096));
        serde_json::from_slice(&bytes.unwrap()).unwrap()
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    #[test]
    fn unavailable_keys_have_no_challenge() {
        let response = ApiError::KeysUnavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().get(WWW_AUTHENTICATE).is_none());
    }
}
