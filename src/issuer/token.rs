//! `POST /oauth/token` (RFC 6749 §3.2): `client_credentials` for machines, `password` (the form of
//! FastAPI's `OAuth2PasswordRequestForm`) and `authorization_code` with PKCE (RFC 7636) for people.
//! A request with a `DPoP` proof gets a token bound to the proof's key (RFC 9449 §5), whatever the
//! grant.

use std::net::SocketAddr;

use axum::Json;
use axum::extract::rejection::FormRejection;
use axum::extract::{ConnectInfo, FromRequest, Request, State};
use axum::http::header::{AUTHORIZATION, CACHE_CONTROL, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use url::Url;
use utoipa::ToSchema;

use super::login::{IN_FLIGHT_RETRY, LoginRefused};
use super::state::IssuerState;
use super::{Grant, WEB_CLIENT_ID};
use crate::auth::dpop::{CheckedProof, Principal, proof_header};
use crate::auth::{ProofError, pkce_challenge};
use crate::error::{ApiError, ErrorBody};
use crate::extract::FormOrJson;
use crate::store::passwords::RETRY_AFTER_SECS;
use crate::store::{Account, LoginError};

/// A token request, from a form (RFC 6749) or a JSON body (as Auth0's examples send). `Debug` leaves
/// out the client secret, the password, the code and the PKCE verifier.
#[derive(Default, Deserialize, ToSchema)]
pub struct TokenRequest {
    /// `client_credentials`, `password` or `authorization_code`.
    pub grant_type: Option<String>,
    /// With `client_secret_post`, or the public client `protected-api-web`.
    pub client_id: Option<String>,
    /// With `client_secret_post`; else use HTTP Basic.
    pub client_secret: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// The API the token is for (Auth0 style); must be this API's audience when given.
    pub audience: Option<String>,
    /// `password` grant: the username or email.
    pub username: Option<String>,
    /// `password` grant: the password.
    pub password: Option<String>,
    /// `authorization_code` grant: the code from `/authorize`.
    pub code: Option<String>,
    /// `authorization_code` grant: the same redirect URI as in the authorization request.
    pub redirect_uri: Option<String>,
    /// `authorization_code` grant: the PKCE verifier.
    pub code_verifier: Option<String>,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("client_id", &self.client_id)
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .field("username", &self.username)
            .field("redirect_uri", &self.redirect_uri)
            .finish_non_exhaustive()
    }
}

/// Where the token endpoint is, under PUBLIC_URL where requests arrive and under `[LOCAL] ISSUER`
/// where discovery advertises it: the path of the `htu` of the proofs sent to it.
pub(super) const TOKEN_PATH: &str = "/oauth/token";

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenResponse {
    /// The access token: a JWT, or an opaque string with `[LOCAL] TOKEN_FORMAT = opaque`.
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a token bound to the key of the request's DPoP proof (RFC 9449 §5).
    pub token_type: String,
    /// Seconds until it expires.
    pub expires_in: u64,
    /// What it grants.
    pub scope: String,
    /// An OpenID Connect ID token, when `openid` was granted to a person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

/// The token endpoint's error (RFC 6749 §5.2): an authorization server's answer, 400/401 with no
/// Bearer challenge, so not an [`ApiError`] (RFC 6750, the resource server's).
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    code: &'static str,
    description: String,
    retry_after: Option<u64>,
}

impl OAuthError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            description: description.into(),
            retry_after: None,
        }
    }

    pub(super) fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", description)
    }

    fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", description)
    }

    pub(super) fn invalid_client() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        )
    }

    pub(super) fn server_error(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "token endpoint failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "internal error",
        )
    }

    /// Every password-hashing slot is taken: RFC 6749 §5.2 has no code for it, so the one OAuth 2.0
    /// uses for the same case at the authorization endpoint (§4.1.2.1), with `Retry-After`.
    fn busy() -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "too many logins at once; try again shortly",
        );
        error.retry_after = Some(RETRY_AFTER_SECS);
        error
    }

    /// This address's logins in progress fill its allowance; they may all succeed, so it is asked to
    /// come back in a second rather than given the failures' back-off.
    fn too_many_at_once() -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            "too many logins at once from this address; try again shortly",
        );
        error.retry_after = Some(IN_FLIGHT_RETRY.as_secs());
        error
    }

    fn slow_down(seconds: u64) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "slow_down",
            "too many failed logins; try again later",
        );
        error.retry_after = Some(seconds.max(1));
        error
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::debug!(error = self.code, description = %self.description, "token request refused");
        let body = ErrorBody::new(self.code, self.description);
        let mut response = (self.status, no_store(), Json(body)).into_response();
        if self.code == "invalid_client" {
            // RFC 6749 §5.2: a 401 for client authentication names the scheme the client may use.
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"protected-api\""),
            );
        }
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// A proof the token endpoint refuses (RFC 9449 §5): `invalid_dpop_proof`, a token endpoint error, so
/// 400 (RFC 6749 §5.2). A full replay store is no fault of the client's: 503, try again; a key or a
/// principal over its proof quota is 429 until its window ends.
impl From<ProofError> for OAuthError {
    fn from(error: ProofError) -> Self {
        match error {
            ProofError::StoreFull => {
                let mut busy = Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    error.to_string(),
                );
                busy.retry_after = Some(1);
                busy
            }
            // The same answer as the API's (RFC 6585 §4): this key, or this principal over all its
            // keys, sent too many proofs, not a bad one.
            ProofError::KeyOverQuota { retry_after }
            | ProofError::SubjectOverQuota { retry_after } => {
                let mut slow_down = Self::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_requests",
                    error.to_string(),
                );
                slow_down.retry_after = Some(retry_after);
                slow_down
            }
            other => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_dpop_proof",
                other.to_string(),
            ),
        }
    }
}

/// A body the extractors could not read is an `invalid_request` (RFC 6749 §5.2); one over the size
/// limit keeps its 413.
impl From<ApiError> for OAuthError {
    fn from(error: ApiError) -> Self {
        match error {
            ApiError::Unreadable {
                status,
                description,
            } if status == StatusCode::PAYLOAD_TOO_LARGE => {
                Self::new(status, "invalid_request", description)
            }
            ApiError::Unreadable { description, .. } => Self::invalid_request(description),
            other => Self::server_error(&other),
        }
    }
}

/// The token request, form or JSON ([`FormOrJson`]), refused as an [`OAuthError`].
pub struct TokenForm(pub TokenRequest);

impl<S> FromRequest<S> for TokenForm
where
    axum::Form<TokenRequest>: FromRequest<S, Rejection = FormRejection>,
    S: Send + Sync,
{
    type Rejection = OAuthError;

    async fn from_request(request: Request, state: &S) -> Result<Self, OAuthError> {
        let FormOrJson(request) = FormOrJson::from_request(request, state).await?;
        Ok(Self(request))
    }
}

pub(super) fn no_store() -> [(HeaderName, &'static str); 2] {
    [(CACHE_CONTROL, "no-store"), (PRAGMA, "no-cache")]
}

/// Issues access tokens (and ID tokens for people who asked for `openid`). With a `DPoP` proof the
/// access token is bound to the proof's key (`cnf.jkt`, `token_type` `DPoP`).
#[utoipa::path(post, path = "/oauth/token", tag = "local issuer",
    request_body(content = TokenRequest, content_type = "application/x-www-form-urlencoded"),
    params(("DPoP" = Option<String>, Header, description = "A DPoP proof (RFC 9449) for POST to this URL (or to the `token_endpoint` of discovery, under the issuer), without `ath`: the token is then bound to its key. `protected-api dpop --method POST --url …/oauth/token` makes one.")),
    responses(
        (status = 200, description = "Token issued", body = TokenResponse),
        (status = 400, description = "invalid_request, invalid_grant, unsupported_grant_type, invalid_scope, invalid_target, invalid_dpop_proof", body = ErrorBody),
        (status = 401, description = "invalid_client", body = ErrorBody),
        (status = 429, description = "slow_down: too many failed logins from this address or for this account (see Retry-After), or too many logins in progress from this address (Retry-After: 1)", body = ErrorBody),
        (status = 503, description = "temporarily_unavailable: too many logins (or DPoP proofs) at once; see Retry-After", body = ErrorBody),
    ))]
pub async fn token(
    State(state): State<IssuerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    TokenForm(request): TokenForm,
) -> Result<Response, OAuthError> {
    if let Some(audience) = request
        .audience
        .as_deref()
        .filter(|aud| *aud != state.issuer.audience())
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_target",
            format!(
                "unknown audience {audience:?}; this issuer serves {:?}",
                state.issuer.audience()
            ),
        ));
    }
    let binding = proof_binding(&state, &headers)?;
    let binding = binding.as_ref();
    match request.grant_type.as_deref() {
        Some("client_credentials") => client_credentials(&state, &headers, request, binding).await,
        Some("password") => password(&state, peer, request, binding).await,
        Some("authorization_code") => authorization_code(&state, request, binding).await,
        Some(other) => Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            format!(
                "grant_type {other:?} is not supported; use client_credentials, password or authorization_code"
            ),
        )),
        None => Err(OAuthError::invalid_request("grant_type is required")),
    }
}

/// The request's `DPoP` proof, whose key the token is to be bound to, once it passes the checks of
/// RFC 9449 §4.3 for `POST /oauth/token` (without `ath`: there is no access token yet). Its `jti`
/// is recorded by [`record_binding`] once the grant's credentials are checked, so callers without
/// credentials cannot fill the replay store. `None` without a proof, or when `[AUTH] DPOP = off`:
/// the header is then ignored and the token is a Bearer token, as from a server that does not know
/// DPoP (§5).
fn proof_binding(
    state: &IssuerState,
    headers: &HeaderMap,
) -> Result<Option<CheckedProof>, OAuthError> {
    if !state.dpop.mode().accepts_dpop() {
        return Ok(None);
    }
    let Some(proof) = proof_header(headers)? else {
        return Ok(None);
    };
    // RFC 9449 §4.3 point 9: `htu` is the URL the request was sent to. A client that follows
    // discovery sends it to `token_endpoint`, under `[LOCAL] ISSUER`; one told PUBLIC_URL sends it
    // there. When the two differ, both name this endpoint, and nothing else does.
    let advertised = Url::parse(&format!("{}{TOKEN_PATH}", state.issuer.issuer()));
    let urls: Vec<Url> = [state.dpop.request_url(TOKEN_PATH), advertised.ok()]
        .into_iter()
        .flatten()
        .collect();
    Ok(Some(state.dpop.check_at(
        proof,
        &Method::POST,
        &urls,
        None,
    )?))
}

async fn client_credentials(
    state: &IssuerState,
    headers: &HeaderMap,
    request: TokenRequest,
    binding: Option<&CheckedProof>,
) -> Result<Response, OAuthError> {
    let client_id = authenticate_client(
        state,
        headers,
        request.client_id.as_deref(),
        request.client_secret.as_deref(),
    )?;
    let scopes = requested_scopes(request.scope.as_deref(), &state.default_scopes)?;
    let mut extra = Map::new();
    extra.insert("gty".into(), json!("client-credentials"));
    let grant = Grant {
        sub: format!("{client_id}@clients"),
        client_id,
        // A machine client is granted what it asks for, as scopes and as permissions (Auth0's RBAC shape).
        permissions: scopes.clone(),
        scopes,
        ttl: None,
        extra,
    };
    record_binding(state, binding, &grant.sub).await?;
    issue(state, grant, None, binding).await
}

async fn password(
    state: &IssuerState,
    peer: SocketAddr,
    request: TokenRequest,
    binding: Option<&CheckedProof>,
) -> Result<Response, OAuthError> {
    if let Some(client_id) = request
        .client_id
        .as_deref()
        .filter(|id| *id != WEB_CLIENT_ID && *id != state.client.client_id)
    {
        return Err(OAuthError::invalid_request(format!(
            "unknown client_id {client_id:?}"
        )));
    }
    let (Some(username), Some(password)) =
        (request.username.as_deref(), request.password.as_deref())
    else {
        return Err(OAuthError::invalid_request(
            "username and password are required",
        ));
    };
    let outcome = state
        .failures
        .log_in(&state.accounts, peer.ip(), username, password)
        .await;
    let account = match outcome {
        Ok(account) => account,
        // Never say whether the user or the password was wrong.
        Err(LoginRefused::Account(LoginError::Invalid)) => {
            return Err(OAuthError::invalid_grant("invalid username or password"));
        }
        Err(
            LoginRefused::AddressLocked(wait) | LoginRefused::Account(LoginError::Locked(wait)),
        ) => return Err(OAuthError::slow_down(wait.as_secs())),
        Err(LoginRefused::AddressBusy) => return Err(OAuthError::too_many_at_once()),
        Err(LoginRefused::Account(LoginError::Busy(_))) => return Err(OAuthError::busy()),
        Err(LoginRefused::Account(LoginError::Database(error))) => {
            return Err(OAuthError::server_error(&error));
        }
    };
    let scopes = user_scopes(state, request.scope.as_deref())?;
    let grant = user_grant(&account, WEB_CLIENT_ID, scopes);
    record_binding(state, binding, &grant.sub).await?;
    issue(state, grant, Some((&account, None)), binding).await
}

async fn authorization_code(
    state: &IssuerState,
    request: TokenRequest,
    binding: Option<&CheckedProof>,
) -> Result<Response, OAuthError> {
    let (Some(code), Some(verifier)) = (request.code.as_deref(), request.code_verifier.as_deref())
    else {
        return Err(OAuthError::invalid_request(
            "code and code_verifier are required",
        ));
    };
    let Some(code) = state.issuer.read_code(code) else {
        return Err(OAuthError::invalid_grant("invalid or expired code"));
    };
    if request.client_id.as_deref() != Some(code.client_id.as_str()) {
        return Err(OAuthError::invalid_grant(
            "the code was issued to another client",
        ));
    }
    if request.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    if pkce_challenge(verifier) != code.code_challenge {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    // Before the code is used up: a proof refused here (a replay, a quota) leaves the code usable.
    record_binding(state, binding, &code.sub).await?;
    match state.accounts.use_code_once(&code.jti, code.exp).await {
        Ok(true) => {}
        Ok(false) => return Err(OAuthError::invalid_grant("the code was already used")),
        Err(error) => return Err(OAuthError::server_error(&error)),
    }
    let account = match state.accounts.find(&code.sub).await {
        Ok(Some(account)) => account,
        Ok(None) => return Err(OAuthError::invalid_grant("the account no longer exists")),
        Err(error) => return Err(OAuthError::server_error(&error)),
    };
    let scopes = code.scope.split_whitespace().map(str::to_owned).collect();
    let grant = user_grant(&account, &code.client_id, scopes);
    issue(
        state,
        grant,
        Some((&account, code.nonce.as_deref())),
        binding,
    )
    .await
}

/// What a person's token grants: the scopes asked for (within what people may have), no permissions.
pub(super) fn user_grant(account: &Account, client_id: &str, scopes: Vec<String>) -> Grant {
    Grant {
        sub: account.sub.clone(),
        client_id: client_id.to_owned(),
        scopes,
        permissions: Vec::new(),
        ttl: None,
        extra: Map::new(),
    }
}

/// The scopes a person asked for, which must all be among the user scopes; all of them when none asked.
pub(super) fn user_scopes(
    state: &IssuerState,
    requested: Option<&str>,
) -> Result<Vec<String>, OAuthError> {
    let scopes = requested_scopes(requested, &state.user_scopes)?;
    if let Some(unknown) = scopes
        .iter()
        .find(|scope| !state.user_scopes.contains(scope))
    {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            format!("scope {unknown:?} cannot be granted to a person"),
        ));
    }
    Ok(scopes)
}

fn requested_scopes(
    requested: Option<&str>,
    default: &[String],
) -> Result<Vec<String>, OAuthError> {
    let scopes: Vec<String> = match requested.map(str::split_whitespace) {
        Some(words) => words.map(str::to_owned).collect(),
        None => default.to_vec(),
    };
    // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
    let well_formed = |scope: &String| {
        scope
            .bytes()
            .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
    };
    if !scopes.iter().all(well_formed) {
        return Err(OAuthError::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "malformed scope",
        ));
    }
    Ok(scopes)
}

/// The profile claims of an account, as in ID tokens and `/userinfo`.
pub(super) fn profile_claims(account: &Account) -> Map<String, Value> {
    let mut claims = Map::new();
    claims.insert("preferred_username".into(), json!(account.username));
    if let Some(email) = &account.email {
        claims.insert("email".into(), json!(email));
        claims.insert("email_verified".into(), json!(false)); // nobody checked it
    }
    if let Some(name) = &account.name {
        claims.insert("name".into(), json!(name));
    }
    claims
}

/// Records the `jti` of the request's binding proof, if any, against the principal the token is to
/// be issued to, as its requests to the API will be: a replay, or a client over its quota, is refused
/// here. Called once the grant's credentials have been checked (so callers without them cannot fill
/// the replay store), and before anything is used up (an authorization code).
async fn record_binding(
    state: &IssuerState,
    binding: Option<&CheckedProof>,
    sub: &str,
) -> Result<(), OAuthError> {
    if let Some(proof) = binding {
        let principal = Principal {
            issuer: state.issuer.issuer(),
            sub: Some(sub),
        };
        state.dpop.remember(proof, principal).await?;
    }
    Ok(())
}

/// Issues the access token in the configured format (and, for a person granted `openid`, an ID
/// token, always a JWT) and answers. With a `binding` proof (recorded by [`record_binding`]), the
/// access token carries `cnf.jkt` and is of type `DPoP` (RFC 9449 §5, §6.1); the ID token is never
/// bound.
async fn issue(
    state: &IssuerState,
    mut grant: Grant,
    person: Option<(&Account, Option<&str>)>,
    binding: Option<&CheckedProof>,
) -> Result<Response, OAuthError> {
    if let Some(proof) = binding {
        grant
            .extra
            .insert("cnf".into(), json!({ "jkt": proof.jkt }));
    }
    let issued = state
        .issuer
        .issue(&grant, &state.accounts)
        .await
        .map_err(|error| OAuthError::server_error(&error))?;
    let id_token = match person {
        Some((account, nonce)) if grant.scopes.iter().any(|scope| scope == "openid") => Some(
            state
                .issuer
                .mint_id_token(&account.sub, &profile_claims(account), nonce)
                .map_err(|error| OAuthError::server_error(&error))?,
        ),
        _ => None,
    };
    let body = TokenResponse {
        access_token: issued.access_token,
        token_type: if binding.is_some() { "DPoP" } else { "Bearer" }.to_owned(),
        expires_in: issued.expires_in,
        scope: grant.scopes.join(" "),
        id_token,
    };
    Ok((no_store(), Json(body)).into_response())
}

/// The id of the local confidential client, when the request authenticates as it (RFC 6749 §2.3.1):
/// the token and introspection endpoints share this check.
///
/// # Errors
/// `invalid_client` (401) for missing or wrong credentials; `invalid_request` for two methods at once.
pub(super) fn authenticate_client(
    state: &IssuerState,
    headers: &HeaderMap,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<String, OAuthError> {
    let (client_id, client_secret) = client_authentication(headers, client_id, client_secret)?;
    if !state.client.matches(&client_id, &client_secret) {
        return Err(OAuthError::invalid_client());
    }
    Ok(client_id)
}

/// HTTP Basic (RFC 6749 §2.3.1, form-urlencoded id and secret) or the body's `client_id`/`client_secret`;
/// never both.
fn client_authentication(
    headers: &HeaderMap,
    client_id: Option<&str>,
    client_secret: Option<&str>,
) -> Result<(String, String), OAuthError> {
    let basic = headers
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, encoded)| encoded.trim());
    match (basic, client_id, client_secret) {
        (Some(_), _, Some(_)) => Err(OAuthError::invalid_request(
            "use one client authentication method, not two",
        )),
        (Some(encoded), _, None) => {
            let decoded = STANDARD
                .decode(encoded)
                .map_err(|_| OAuthError::invalid_client())?;
            let decoded = String::from_utf8(decoded).map_err(|_| OAuthError::invalid_client())?;
            let (id, secret) = decoded
                .split_once(':')
                .ok_or_else(OAuthError::invalid_client)?;
            Ok((form_decode(id), form_decode(secret)))
        }
        (None, Some(id), Some(secret)) => Ok((id.to_owned(), secret.to_owned())),
        _ => Err(OAuthError::invalid_client()),
    }
}

fn form_decode(value: &str) -> String {
    let plus_as_space = value.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_the_client_secret_password_code_and_verifier_out() {
        let request = TokenRequest {
            grant_type: Some("password".to_owned()),
            client_id: Some("client".to_owned()),
            client_secret: Some("client-secret".to_owned()),
            username: Some("ada".to_owned()),
            password: Some("password-secret".to_owned()),
            code: Some("code-secret".to_owned()),
            code_verifier: Some("verifier-secret".to_owned()),
            ..TokenRequest::default()
        };
        let printed = format!("{request:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("ada"), "{printed}");
    }

    #[test]
    fn a_key_over_its_proof_quota_is_told_to_wait_not_that_its_proof_is_bad() {
        let response =
            OAuthError::from(ProofError::KeyOverQuota { retry_after: 7 }).into_response();

        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "7");
    }
}
