//! `GET /authorize` shows a small login form; `POST /authorize` checks it and sends the browser back to
//! the client: with a code (code flow with PKCE, RFC 7636) or a token in the fragment (implicit, as
//! Swagger UI's FastAPI integrations use). Redirect URIs must match a registered one exactly; the form is
//! protected against CSRF with a double-submit cookie; failed logins back off per account and address.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, LOCATION, RETRY_AFTER, X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use url::Url;

use super::login::{IN_FLIGHT_RETRY, LoginRefused};
use super::routes::IssuerState;
use super::token::{user_grant, user_scopes};
use super::{CodeGrant, WEB_CLIENT_ID};
use crate::auth::random_token;
use crate::extract::{Form, Query};
use crate::store::LoginError;
use crate::store::passwords::RETRY_AFTER_SECS;

const CSRF_COOKIE: &str = "authorize_csrf";

/// The authorization request (RFC 6749 §4.1.1 / §4.2.1), carried through the form as hidden fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct AuthorizeRequest {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
}

/// The submitted form: the request plus credentials and the CSRF token.
#[derive(Debug, Deserialize)]
pub(super) struct LoginForm {
    #[serde(flatten)]
    request: AuthorizeRequest,
    username: String,
    password: String,
    csrf: String,
}

/// A request whose client and redirect URI were checked: errors may now go back to the client.
struct Checked {
    redirect_uri: Url,
    flow: Flow,
}

enum Flow {
    Code { challenge: String },
    Implicit,
}

/// What to do with an authorization request.
enum Verdict {
    /// The client or redirect URI is wrong: show the error here.
    ShowError(Response),
    /// The redirect URI is trusted but the request is wrong: send the error back to the client.
    SendBack(Url, &'static str, &'static str),
    /// Go on.
    Proceed(Checked),
}

/// Problems found before the redirect URI is trusted are shown here, never sent to it (RFC 6749 §4.1.2.1).
fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        page_headers(),
        Html(page(
            "Cannot sign in",
            &format!("<p class=\"error\">{}</p>", escape(message)),
        )),
    )
        .into_response()
}

fn check(state: &IssuerState, request: &AuthorizeRequest) -> Verdict {
    if request.client_id.as_deref() != Some(WEB_CLIENT_ID) {
        return Verdict::ShowError(error_page(
            StatusCode::BAD_REQUEST,
            &format!("Unknown client_id; this issuer knows \"{WEB_CLIENT_ID}\"."),
        ));
    }
    let Some(redirect) = request
        .redirect_uri
        .as_deref()
        .filter(|uri| state.redirect_uris.iter().any(|known| known == uri))
    else {
        return Verdict::ShowError(error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri is missing or not registered ([LOCAL] REDIRECT_URIS).",
        ));
    };
    let Ok(redirect_uri) = Url::parse(redirect) else {
        return Verdict::ShowError(error_page(
            StatusCode::BAD_REQUEST,
            "redirect_uri is not a URL.",
        ));
    };
    let flow = match request.response_type.as_deref() {
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
                return Verdict::SendBack(
                    redirect_uri,
                    "invalid_request",
                    "PKCE with code_challenge_method=S256 is required",
                );
            }
        },
        Some("token") => Flow::Implicit,
        _ => {
            return Verdict::SendBack(
                redirect_uri,
                "unsupported_response_type",
                "response_type must be code or token",
            );
        }
    };
    Verdict::Proceed(Checked { redirect_uri, flow })
}

/// The login form.
pub(super) async fn form(
    State(state): State<IssuerState>,
    Query(request): Query<AuthorizeRequest>,
    jar: CookieJar,
) -> Response {
    match check(&state, &request) {
        Verdict::ShowError(page) => page,
        Verdict::SendBack(redirect, error, description) => {
            back_with_error(redirect, error, description, request.state.as_deref())
        }
        Verdict::Proceed(checked) => {
            let Ok(csrf) = random_token() else {
                // RFC 6749 §4.1.2.1: the client learns of the failure; no form with a guessable token.
                tracing::error!("the system random generator failed; no login form served");
                return back_with_error(
                    checked.redirect_uri,
                    "server_error",
                    "the authorization server cannot serve a login form right now",
                    request.state.as_deref(),
                );
            };
            // Secure by the same rule as the session cookies (PUBLIC_URL's scheme): the form is served
            // where browsers reach the service, whatever the issuer's name.
            let cookie = Cookie::build((CSRF_COOKIE, csrf.clone()))
                .http_only(true)
                .same_site(SameSite::Strict)
                .secure(state.secure_cookies)
                .path("/authorize")
                .build();
            (
                jar.add(cookie),
                page_headers(),
                Html(login_page(&request, &csrf, None)),
            )
                .into_response()
        }
    }
}

/// Checks the credentials and sends the browser back to the client.
pub(super) async fn submit(
    State(state): State<IssuerState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    jar: CookieJar,
    Form(login): Form<LoginForm>,
) -> Response {
    let request = login.request;
    let checked = match check(&state, &request) {
        Verdict::ShowError(page) => return page,
        Verdict::SendBack(redirect, error, description) => {
            return back_with_error(redirect, error, description, request.state.as_deref());
        }
        Verdict::Proceed(checked) => checked,
    };
    let csrf_ok = jar.get(CSRF_COOKIE).is_some_and(|cookie| {
        aws_lc_rs::constant_time::verify_slices_are_equal(
            cookie.value().as_bytes(),
            login.csrf.as_bytes(),
        )
        .is_ok()
    });
    if !csrf_ok {
        return error_page(
            StatusCode::FORBIDDEN,
            "The form expired or did not come from this page. Go back and reload it.",
        );
    }
    // The form again, with the problem, and when to come back if waiting helps (RFC 9110 §10.2.3).
    let retry = |message: &str, status: StatusCode, wait: Option<u64>| {
        let mut page = (
            status,
            page_headers(),
            Html(login_page(&request, &login.csrf, Some(message))),
        )
            .into_response();
        if let Some(seconds) = wait {
            page.headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        page
    };
    let outcome = state
        .failures
        .log_in(&state.accounts, peer.ip(), &login.username, &login.password)
        .await;
    let account = match outcome {
        Ok(account) => account,
        Err(LoginRefused::Account(LoginError::Invalid)) => {
            return retry(
                "Invalid username or password.",
                StatusCode::UNAUTHORIZED,
                None,
            );
        }
        Err(LoginRefused::AddressLocked(wait)) => {
            return retry(
                "Too many failed sign-ins from this address. Try again later.",
                StatusCode::TOO_MANY_REQUESTS,
                Some(wait.as_secs()),
            );
        }
        Err(LoginRefused::AddressBusy) => {
            return retry(
                "Too many sign-ins from this address at once. Try again in a moment.",
                StatusCode::TOO_MANY_REQUESTS,
                Some(IN_FLIGHT_RETRY.as_secs()),
            );
        }
        Err(LoginRefused::Account(LoginError::Locked(wait))) => {
            return retry(
                &format!(
                    "Too many failed sign-ins. Try again in {} s.",
                    wait.as_secs().max(1)
                ),
                StatusCode::TOO_MANY_REQUESTS,
                Some(wait.as_secs()),
            );
        }
        Err(LoginRefused::Account(LoginError::Busy(_))) => {
            return retry(
                "Sign-in is busy right now. Try again in a moment.",
                StatusCode::SERVICE_UNAVAILABLE,
                Some(RETRY_AFTER_SECS),
            );
        }
        Err(LoginRefused::Account(LoginError::Database(error))) => {
            tracing::error!(%error, "login failed");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Sign-in is unavailable right now.",
            );
        }
    };
    let scopes = match user_scopes(&state, request.scope.as_deref()) {
        Ok(scopes) => scopes,
        Err(_) => {
            return back_with_error(
                checked.redirect_uri,
                "invalid_scope",
                "a requested scope cannot be granted",
                request.state.as_deref(),
            );
        }
    };
    let mut redirect = checked.redirect_uri;
    let outcome = match checked.flow {
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
                if let Some(client_state) = &request.state {
                    query.append_pair("state", client_state);
                }
            })
        }
        Flow::Implicit => state
            .issuer
            .mint(&user_grant(&account, WEB_CLIENT_ID, scopes.clone()))
            .map(|issued| {
                let mut fragment = url::form_urlencoded::Serializer::new(String::new());
                fragment.append_pair("access_token", &issued.access_token);
                fragment.append_pair("token_type", "Bearer");
                fragment.append_pair("expires_in", &issued.expires_in.to_string());
                fragment.append_pair("scope", &scopes.join(" "));
                if let Some(client_state) = &request.state {
                    fragment.append_pair("state", client_state);
                }
                redirect.set_fragment(Some(&fragment.finish()));
            }),
    };
    if let Err(error) = outcome {
        tracing::error!(%error, "could not sign");
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Sign-in is unavailable right now.",
        );
    }
    tracing::info!(sub = %account.sub, "signed in through /authorize");
    let jar = jar.remove(Cookie::build(CSRF_COOKIE).path("/authorize"));
    (
        StatusCode::SEE_OTHER,
        jar,
        page_headers(),
        [(LOCATION, redirect.to_string())],
    )
        .into_response()
}

fn back_with_error(
    mut redirect: Url,
    error: &str,
    description: &str,
    client_state: Option<&str>,
) -> Response {
    {
        let mut query = redirect.query_pairs_mut();
        query
            .append_pair("error", error)
            .append_pair("error_description", description);
        if let Some(client_state) = client_state {
            query.append_pair("state", client_state);
        }
    }
    (StatusCode::SEE_OTHER, [(LOCATION, redirect.to_string())]).into_response()
}

/// Headers of every page this module serves. The form takes a password, so it must never be cached
/// nor shown inside another site's frame, where a decoy could steer clicks and keystrokes into it
/// (clickjacking): CSP `frame-ancestors` for current browsers, `X-Frame-Options` for older ones
/// (RFC 7034). The rest of the policy allows only the page's own inline style.
fn page_headers() -> [(HeaderName, &'static str); 3] {
    [
        (CACHE_CONTROL, "no-store"),
        (X_FRAME_OPTIONS, "DENY"),
        (
            CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; frame-ancestors 'none'",
        ),
    ]
}

/// HTML-escapes text for element content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn hidden(name: &str, value: Option<&str>) -> String {
    value.map_or_else(String::new, |value| {
        format!(
            "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
            escape(value)
        )
    })
}

fn login_page(request: &AuthorizeRequest, csrf: &str, error: Option<&str>) -> String {
    let hidden_fields = [
        hidden("response_type", request.response_type.as_deref()),
        hidden("client_id", request.client_id.as_deref()),
        hidden("redirect_uri", request.redirect_uri.as_deref()),
        hidden("scope", request.scope.as_deref()),
        hidden("state", request.state.as_deref()),
        hidden("code_challenge", request.code_challenge.as_deref()),
        hidden(
            "code_challenge_method",
            request.code_challenge_method.as_deref(),
        ),
        hidden("nonce", request.nonce.as_deref()),
        hidden("csrf", Some(csrf)),
    ]
    .concat();
    let error = error.map_or_else(String::new, |message| {
        format!("<p class=\"error\" role=\"alert\">{}</p>", escape(message))
    });
    let body = format!(
        r#"{error}<form method="post" action="/authorize">
  {hidden_fields}
  <label for="username">Username or email</label>
  <input id="username" name="username" autocomplete="username" required autofocus>
  <label for="password">Password</label>
  <input id="password" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">Sign in</button>
</form>
<p class="hint">Local development accounts: create one with <code>POST /auth/signup</code>.</p>"#
    );
    page("Sign in to protected-api", &body)
}

fn page(title: &str, body: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
  body {{ font: 16px/1.5 system-ui, sans-serif; background: #f4f5f7; color: #1d2330; display: grid; place-items: center; min-height: 100vh; margin: 0; }}
  main {{ background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.12); width: min(22rem, 90vw); }}
  h1 {{ font-size: 1.25rem; margin: 0 0 1rem; }}
  label {{ display: block; margin-top: .75rem; font-weight: 600; }}
  input {{ width: 100%; box-sizing: border-box; padding: .5rem; margin-top: .25rem; border: 1px solid #9aa3b2; border-radius: 4px; font: inherit; }}
  input:focus, button:focus {{ outline: 3px solid #7aa7ff; outline-offset: 1px; }}
  button {{ margin-top: 1.25rem; width: 100%; padding: .6rem; border: 0; border-radius: 4px; background: #2856d8; color: #fff; font: inherit; font-weight: 600; cursor: pointer; }}
  .error {{ color: #a4161a; background: #fde8e8; padding: .5rem .75rem; border-radius: 4px; }}
  .hint {{ font-size: .85rem; color: #5b6475; margin-top: 1rem; }}
</style>
</head>
<body><main><h1>{title}</h1>
{body}
</main></body>
</html>"#
    )
}
