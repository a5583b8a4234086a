//! `GET /authorize` shows a small login form; `POST /authorize` checks it and sends the browser back to
//! the client: with a code (code flow with PKCE, RFC 7636) or a token in the fragment (implicit, as
//! Swagger UI's FastAPI integrations use). Redirect URIs must match a registered one exactly; the forms
//! are protected against CSRF with a double-submit cookie; failed logins back off per account and
//! address.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::login::{IN_FLIGHT_RETRY, LoginRefused};
use super::pages::{self, error_page, login_page};
use super::request::AuthorizeRequest;
use super::state::IssuerState;
use super::token::{user_grant, user_scopes};
use super::{CodeGrant, WEB_CLIENT_ID};
use crate::auth::random_token;
use crate::extract::{Form, Query};
use crate::store::passwords::RETRY_AFTER_SECS;
use crate::store::{Account, LoginError};

/// The double-submit cookie: set with each form, and sent back in the form's `csrf` field. The path
/// covers `/authorize/signup` too.
const CSRF_COOKIE: &str = "authorize_csrf";
const CSRF_PATH: &str = "/authorize";

/// The sign-in form's fields: the request plus credentials. `Debug` leaves the password out.
#[derive(Deserialize)]
pub(super) struct LoginForm {
    #[serde(flatten)]
    request: AuthorizeRequest,
    username: String,
    password: String,
}

impl std::fmt::Debug for LoginForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginForm")
            .field("request", &self.request)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A form posted from a page this issuer served: its `csrf` field equals the cookie set with the page
/// (the double-submit pattern; the cookie is `SameSite=Strict`, so another site's post carries none).
/// Refused with 403 otherwise; a malformed form is the JSON [`crate::ApiError`] of [`Form`].
pub(super) struct CsrfChecked<T> {
    /// The form's other fields.
    pub(super) form: T,
    /// The token, put back into a form shown again.
    pub(super) csrf: String,
}

#[derive(Deserialize)]
struct WithCsrf<T> {
    csrf: String,
    #[serde(flatten)]
    form: T,
}

impl<T, S> FromRequest<S> for CsrfChecked<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let jar = CookieJar::from_request_parts(&mut parts, state)
            .await
            .unwrap_or_else(|never| match never {});
        let request = Request::from_parts(parts, body);
        let Form(WithCsrf { csrf, form }) = Form::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let matches = jar.get(CSRF_COOKIE).is_some_and(|cookie| {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                cookie.value().as_bytes(),
                csrf.as_bytes(),
            )
            .is_ok()
        });
        if !matches {
            return Err(error_page(
                StatusCode::FORBIDDEN,
                "The form expired or did not come from this page. Go back and reload it.",
            ));
        }
        Ok(Self { form, csrf })
    }
}

/// A refused authorization request, as the browser gets it.
pub(super) enum Refused {
    /// Shown here: the client or redirect URI cannot be trusted, or the form was forged.
    Page(StatusCode, String),
    /// Sent back to the client: the `Location` with `error` and `state` (RFC 6749 §4.1.2.1).
    SendBack(String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::Page(status, message) => error_page(status, &message),
            Self::SendBack(location) => {
                (StatusCode::SEE_OTHER, [(LOCATION, location)]).into_response()
            }
        }
    }
}

/// A request whose client and redirect URI were checked: errors may now go back to the client.
pub(super) struct Checked {
    redirect_uri: Url,
    flow: Flow,
    client_state: Option<String>,
}

enum Flow {
    Code { challenge: String },
    Implicit,
}

/// Checks the client and redirect URI, then the rest of the request. Before the redirect URI is
/// trusted, problems are shown on an error page; after, they go back to the client (RFC 6749
/// §4.1.2.1).
pub(super) fn check(state: &IssuerState, request: &AuthorizeRequest) -> Result<Checked, Refused> {
    if request.client_id.as_deref() != Some(WEB_CLIENT_ID) {
        return Err(Refused::Page(
            StatusCode::BAD_REQUEST,
            format!("Unknown client_id; this issuer knows \"{WEB_CLIENT_ID}\"."),
        ));
    }
    let Some(redirect) = request
        .redirect_uri
        .as_deref()
        .filter(|uri| state.redirect_uris.iter().any(|known| known == uri))
    else {
        return Err(Refused::Page(
            StatusCode::BAD_REQUEST,
            "redirect_uri is missing or not registered ([LOCAL] REDIRECT_URIS).".to_owned(),
        ));
    };
    let Ok(redirect_uri) = Url::parse(redirect) else {
        return Err(Refused::Page(
            StatusCode::BAD_REQUEST,
            "redirect_uri is not a URL.".to_owned(),
        ));
    };
    let mut checked = Checked {
        redirect_uri,
        flow: Flow::Implicit,
        client_state: request.state.clone(),
    };
    checked.flow = match request.response_type.as_deref() {
        Some("code") => match (
            request.code_challenge.as_deref(),
            request.code_challenge_method.as_deref(),
        ) {
            (Some(challenge), Some("S256")) if (43..=128).contains(&challenge.len()) => {
                Flow::Code {
                    challenge: challenge.to_owned(),
                }
            }
            // RFC 9700 §2.1.1: PKCE is required, and `plain` is not accepted.
            _ => {
                return Err(checked.send_back(
                    "invalid_request",
                    "PKCE with code_challenge_method=S256 is required",
                ));
            }
        },
        Some("token") => Flow::Implicit,
        _ => {
            return Err(checked.send_back(
                "unsupported_response_type",
                "response_type must be code or token",
            ));
        }
    };
    Ok(checked)
}

impl Checked {
    /// Sends an error back to the client (RFC 6749 §4.1.2.1), with its `state`.
    fn send_back(self, error: &str, description: &str) -> Refused {
        let mut redirect = self.redirect_uri;
        {
            let mut query = redirect.query_pairs_mut();
            query
                .append_pair("error", error)
                .append_pair("error_description", description);
            if let Some(client_state) = &self.client_state {
                query.append_pair("state", client_state);
            }
        }
        Refused::SendBack(redirect.to_string())
    }
}

/// `GET /authorize`: the sign-in form.
pub(super) async fn form(
    State(state): State<IssuerState>,
    Query(request): Query<AuthorizeRequest>,
) -> Result<Response, Refused> {
    serve_form(&state, &request, |csrf| login_page(&request, csrf, None))
}

/// Checks `request` and serves the page `render` makes around a fresh CSRF token, with its cookie.
pub(super) fn serve_form(
    state: &IssuerState,
    request: &AuthorizeRequest,
    render: impl FnOnce(&str) -> String,
) -> Result<Response, Refused> {
    let checked = check(state, request)?;
    let Ok(csrf) = random_token() else {
        // RFC 6749 §4.1.2.1: the client learns of the failure; no form with a guessable token.
        tracing::error!("the system random generator failed; no form served");
        return Err(checked.send_back(
            "server_error",
            "the authorization server cannot serve a login form right now",
        ));
    };
    // Secure by the same rule as the session cookies (PUBLIC_URL's scheme): the form is served where
    // browsers reach the service, whatever the issuer's name.
    let cookie = Cookie::build((CSRF_COOKIE, csrf.clone()))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.secure_cookies)
        .path(CSRF_PATH)
        .build();
    let mut page = pages::respond(StatusCode::OK, render(&csrf), None);
    if let Ok(value) = cookie.to_string().parse() {
        page.headers_mut().append(SET_COOKIE, value);
    }
    Ok(page)
}

/// `POST /authorize`: checks the credentials and sends the browser back to the client.
pub(super) async fn submit(
    State(state): State<IssuerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    CsrfChecked { form, csrf }: CsrfChecked<LoginForm>,
) -> Result<Response, Refused> {
    let checked = check(&state, &form.request)?;
    let outcome = state
        .failures
        .log_in(&state.accounts, peer.ip(), &form.username, &form.password)
        .await;
    let account = match outcome {
        Ok(account) => account,
        Err(refused) => {
            let Some((status, message, wait)) = refusal(refused) else {
                return Err(unavailable());
            };
            let page = login_page(&form.request, &csrf, Some(&message));
            return Ok(pages::respond(status, page, wait));
        }
    };
    grant(&state, checked, &form.request, &account).await
}

/// How the sign-in form tells a refusal: status, message and `Retry-After`; `None` for a server fault
/// (logged here).
fn refusal(refused: LoginRefused) -> Option<(StatusCode, String, Option<u64>)> {
    Some(match refused {
        LoginRefused::Account(LoginError::Invalid) => (
            StatusCode::UNAUTHORIZED,
            "Invalid username or password.".to_owned(),
            None,
        ),
        LoginRefused::AddressLocked(wait) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed sign-ins from this address. Try again later.".to_owned(),
            Some(wait.as_secs()),
        ),
        LoginRefused::AddressBusy => (
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins from this address at once. Try again in a moment.".to_owned(),
            Some(IN_FLIGHT_RETRY.as_secs()),
        ),
        LoginRefused::Account(LoginError::Locked(wait)) => (
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins. Try again in {} s.",
                wait.as_secs().max(1)
            ),
            Some(wait.as_secs()),
        ),
        LoginRefused::Account(LoginError::Busy(_)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "Sign-in is busy right now. Try again in a moment.".to_owned(),
            Some(RETRY_AFTER_SECS),
        ),
        LoginRefused::Account(LoginError::Database(error)) => {
            tracing::error!(%error, "login failed");
            return None;
        }
    })
}

/// The page for a server fault: nothing the person can fix.
pub(super) fn unavailable() -> Refused {
    Refused::Page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Sign-in is unavailable right now.".to_owned(),
    )
}

/// Sends the browser back to the client with what `account` was granted: a code (code flow) or a
/// token in the fragment (implicit), and the client's `state`. Ends the form's CSRF cookie.
pub(super) async fn grant(
    state: &IssuerState,
    checked: Checked,
    request: &AuthorizeRequest,
    account: &Account,
) -> Result<Response, Refused> {
    let Ok(scopes) = user_scopes(state, request.scope.as_deref()) else {
        return Err(checked.send_back("invalid_scope", "a requested scope cannot be granted"));
    };
    let mut redirect = checked.redirect_uri;
    let client_state = checked.client_state;
    let outcome: Result<(), super::IssuerError> = match checked.flow {
        Flow::Code { challenge } => {
            let grant = CodeGrant {
                jti: String::new(),
                sub: account.sub.clone(),
                client_id: WEB_CLIENT_ID.to_owned(),
                redirect_uri: redirect.to_string(),
                scope: scopes.join(" "),
                code_challenge: challenge,
                nonce: request.nonce.clone(),
                exp: 0,
                token_use: String::new(),
            };
            state.issuer.mint_code(grant).map(|code| {
                let mut query = redirect.query_pairs_mut();
                query.append_pair("code", &code);
                if let Some(client_state) = &client_state {
                    query.append_pair("state", client_state);
                }
                // RFC 9207: the client learns which issuer answered, so a mix-up is caught
                // before it sends the code anywhere.
                query.append_pair("iss", state.issuer.issuer());
            })
        }
        Flow::Implicit => state
            .issuer
            .issue(
                &user_grant(account, WEB_CLIENT_ID, scopes.clone()),
                &state.accounts,
            )
            .await
            .map(|issued| {
                let mut fragment = url::form_urlencoded::Serializer::new(String::new());
                fragment.append_pair("access_token", &issued.access_token);
                fragment.append_pair("token_type", "Bearer");
                fragment.append_pair("expires_in", &issued.expires_in.to_string());
                fragment.append_pair("scope", &scopes.join(" "));
                if let Some(client_state) = &client_state {
                    fragment.append_pair("state", client_state);
                }
                redirect.set_fragment(Some(&fragment.finish()));
            }),
    };
    if let Err(error) = outcome {
        tracing::error!(%error, "could not sign");
        return Err(unavailable());
    }
    tracing::info!(sub = %account.sub, "signed in through /authorize");
    let mut spent = Cookie::build(CSRF_COOKIE).path(CSRF_PATH).build();
    spent.make_removal();
    Ok((
        StatusCode::SEE_OTHER,
        pages::page_headers(),
        [
            (LOCATION, redirect.to_string()),
            (SET_COOKIE, spent.to_string()),
        ],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_the_password_out() {
        let form = LoginForm {
            request: AuthorizeRequest::default(),
            username: "ada".to_owned(),
            password: "password-secret".to_owned(),
        };
        let printed = format!("{form:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("ada"), "{printed}");
    }
}
