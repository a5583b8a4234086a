//! Browser sessions, as Fief's web-app integration does it: `/login` sends the browser to the provider
//! (authorization code with PKCE, `state` and `nonce`), `/auth-callback` exchanges the code, verifies
//! both tokens and keeps them in HttpOnly, SameSite=Lax cookies (Secure on https), `/logout` clears them.
//! Nothing is kept on the server: any replica can serve any step. The `auth` extractors read the
//! cookies back (`Claims` and `AccessToken` the access token, `Option<IdToken>` the ID token).

mod callback;
mod cookies;
mod flow;
mod redirect;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use serde::Deserialize;
use url::Url;

use self::flow::PendingLogin;
use crate::auth::{Endpoint, ID_TOKEN_COOKIE, SESSION_COOKIE, callback_path, pkce_challenge};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

/// `/login`, `/auth-callback` (and `/auth-callback/N` for the N-th issuer after the first), `/logout`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login))
        .route("/auth-callback", get(callback::first))
        .route("/auth-callback/{issuer}", get(callback::numbered))
        .route("/logout", get(logout))
}

/// Where to go after logging in.
#[derive(Debug, Deserialize)]
struct LoginQuery {
    /// A path on this service (default `/api/user`); anything that would leave it is ignored.
    next: Option<String>,
    /// Which provider to log in with, as `[AUTH] PROVIDER` names it (default: the first listed).
    provider: Option<String>,
}

/// Sends the browser to the provider's login page.
async fn login(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let issuer = chosen_issuer(&state, query.provider.as_deref())?;
    let spec = state.verifier.issuer_spec(issuer);
    let client_id = spec.client_id.as_deref().ok_or(ApiError::Unavailable(
        "browser login needs the provider's CLIENT_ID",
    ))?;
    let authorize = state
        .issuer(issuer)
        .endpoints
        .get(Endpoint::Authorize)
        .await
        .ok_or(ApiError::Unavailable(
            "the provider has no authorization endpoint",
        ))?;
    let next = redirect::next_or_default(&state.settings.server.public_url, query.next.as_deref());
    let login = PendingLogin::new(next, issuer)?;
    let url = authorization_request(&state, authorize, client_id, &login);
    let jar = cookies::begin_login(jar, &state.settings, &login);
    Ok((jar, Redirect::to(url.as_str())).into_response())
}

/// The first issuer of the provider `name` (`[AUTH] PROVIDER` spelling, any case); the first issuer
/// of all when no name is given.
fn chosen_issuer(state: &AppState, name: Option<&str>) -> Result<usize, ApiError> {
    let Some(name) = name else {
        return Ok(0);
    };
    state
        .verifier
        .issuers()
        .position(|(spec, _)| spec.name().eq_ignore_ascii_case(name))
        .ok_or(ApiError::InvalidRequest(
            "provider is not one of [AUTH] PROVIDER",
        ))
}

/// The authorization request (RFC 6749 §4.1.1) for `login`, with its PKCE challenge (RFC 7636 §4.3)
/// and nonce (OpenID Connect Core §3.1.2.1), plus the provider's own parameters (Auth0's `audience`).
fn authorization_request(
    state: &AppState,
    mut authorize: Url,
    client_id: &str,
    login: &PendingLogin,
) -> Url {
    let scope = format!("openid profile email {}", state.settings.auth.scope);
    let mut pairs = authorize.query_pairs_mut();
    pairs
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &callback_url(state, login.issuer))
        .append_pair("scope", &scope)
        .append_pair("state", &login.state)
        .append_pair("nonce", &login.nonce)
        .append_pair("code_challenge", &pkce_challenge(&login.verifier))
        .append_pair("code_challenge_method", "S256");
    for (name, value) in &state
        .verifier
        .issuer_spec(login.issuer)
        .login
        .authorize_params
    {
        pairs.append_pair(name, value);
    }
    drop(pairs);
    authorize
}

/// Ends the session, and the provider's too when it publishes an `end_session_endpoint` (OpenID
/// Connect RP-Initiated Logout §2).
async fn logout(State(state): State<AppState>, jar: CookieJar) -> Response {
    let home = format!("{}/docs", state.settings.server.public_base());
    let (issuer, hint) = session_issuer(&state, &jar);
    let client_id = &state.verifier.issuer_spec(issuer).client_id;
    let target = match state
        .issuer(issuer)
        .endpoints
        .get(Endpoint::EndSession)
        .await
    {
        Some(mut end_session) => {
            let mut pairs = end_session.query_pairs_mut();
            pairs.append_pair("post_logout_redirect_uri", &home);
            if let Some(hint) = hint {
                pairs.append_pair("id_token_hint", hint);
            }
            if let Some(client_id) = client_id {
                pairs.append_pair("client_id", client_id);
            }
            drop(pairs);
            end_session.to_string()
        }
        None => home,
    };
    (cookies::end_session(jar), Redirect::to(&target)).into_response()
}

/// Whose logout page ends the session, and the ID token to send it as `id_token_hint` (OpenID
/// Connect RP-Initiated Logout §2). With several issuers, the issuer is the one the ID token's `iss`
/// names (else the session token's), read without verifying: the session may have expired or the
/// keys be out of reach, and choosing a page is all it is used for (the same lookup as verification's
/// routing; no request). The ID token, personal data, goes only to the issuer it names.
fn session_issuer<'a>(state: &AppState, jar: &'a CookieJar) -> (usize, Option<&'a str>) {
    let id_token = jar.get(ID_TOKEN_COOKIE).map(|cookie| cookie.value());
    let verifier = &state.verifier;
    if verifier.issuer_count() == 1 {
        return (0, id_token);
    }
    if let Some(index) = id_token.and_then(|token| verifier.issuer_named_by(token).ok()) {
        return (index, id_token);
    }
    let session = jar
        .get(SESSION_COOKIE)
        .and_then(|cookie| verifier.issuer_named_by(cookie.value()).ok());
    (session.unwrap_or(0), None)
}

/// Where the issuer at `issuer` sends the browser back: its own callback path under the public URL.
fn callback_url(state: &AppState, issuer: usize) -> String {
    format!(
        "{}{}",
        state.settings.server.public_base(),
        callback_path(issuer)
    )
}
