//! Browser sessions, as Fief's web-app integration does it: `/login` sends the browser to the provider
//! (authorization code with PKCE, `state` and `nonce`), `/auth-callback` exchanges the code, verifies
//! both tokens and keeps them in HttpOnly, SameSite=Lax cookies (Secure on https), `/logout` clears them.
//! Nothing is kept on the server: any replica can serve any step.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use serde::Deserialize;
use serde_json::{Map, Value};
use url::{Position, Url};

use crate::auth::{pkce_challenge, random_token};
use crate::error::ApiError;
use crate::extract::Query;
use crate::state::AppState;

pub use crate::auth::{ID_TOKEN_COOKIE, SESSION_COOKIE};
/// The cookie holding `state`, the PKCE verifier and the nonce between `/login` and `/auth-callback`.
const FLOW_COOKIE: &str = "login_flow";
/// Where the browser goes after logging in when `next` is absent or refused.
const DEFAULT_NEXT: &str = "/api/user";

/// `/login`, `/auth-callback`, `/logout`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login", get(login))
        .route("/auth-callback", get(callback))
        .route("/logout", get(logout))
}

/// Where to go after logging in.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    /// A path on this service (default `/api/user`); anything that would leave it is ignored.
    next: Option<String>,
}

/// Sends the browser to the provider's login page.
pub async fn login(
    State(state): State<AppState>,
    Query(query): Query<LoginQuery>,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let spec = state.verifier.spec();
    let client_id = spec.client_id.clone().ok_or(ApiError::Unavailable(
        "browser login needs the provider's CLIENT_ID",
    ))?;
    let authorize = match &spec.login.authorize {
        Some(url) => url.clone(),
        None => discovered(&state, |document| document.authorization_endpoint.clone())
            .await
            .ok_or(ApiError::Unavailable(
                "the provider has no authorization endpoint",
            ))?,
    };
    // Only targets on this service: an open redirect would send a freshly logged-in user anywhere.
    let next = query
        .next
        .and_then(|next| same_origin_target(&state.settings.server.public_url, &next))
        .unwrap_or_else(|| DEFAULT_NEXT.to_owned());
    let (flow_state, verifier, nonce) = (random_token()?, random_token()?, random_token()?);
    let mut url = authorize;
    {
        let mut pairs = url.query_pairs_mut();
        pairs
            .append_pair("response_type", "code")
            .append_pair("client_id", &client_id)
            .append_pair("redirect_uri", &callback_url(&state))
            .append_pair(
                "scope",
                &format!("openid profile email {}", state.settings.auth.scope),
            )
            .append_pair("state", &flow_state)
            .append_pair("nonce", &nonce)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        for (name, value) in &spec.login.authorize_params {
            pairs.append_pair(name, value);
        }
    }
    let flow = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("state", &flow_state)
        .append_pair("verifier", &verifier)
        .append_pair("nonce", &nonce)
        .append_pair("next", &next)
        .finish();
    let cookie = cookie(&state, FLOW_COOKIE, flow, "/auth-callback", Some(600));
    Ok((jar.add(cookie), Redirect::to(url.as_str())).into_response())
}

/// The provider's answer.
#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    id_token: Option<String>,
    expires_in: Option<i64>,
    error: Option<String>,
}

/// Exchanges the code, verifies the tokens and starts the session.
pub async fn callback(
    State(state): State<AppState>,
    Query(query): Query<CallbackQuery>,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    if let Some(error) = query.error {
        tracing::info!(%error, "the provider refused the login");
        return Err(ApiError::Forbidden("the provider refused the login"));
    }
    let flow: std::collections::HashMap<String, String> = jar
        .get(FLOW_COOKIE)
        .map(|cookie| {
            url::form_urlencoded::parse(cookie.value().as_bytes())
                .into_owned()
                .collect()
        })
        .ok_or(ApiError::InvalidRequest(
            "no login in progress (start at /login)",
        ))?;
    let expected = flow.get("state").map(String::as_bytes).unwrap_or_default();
    let state_ok = query.state.as_deref().is_some_and(|got| {
        !expected.is_empty()
            && aws_lc_rs::constant_time::verify_slices_are_equal(got.as_bytes(), expected).is_ok()
    });
    if !state_ok {
        return Err(ApiError::InvalidRequest(
            "state does not match the login in progress",
        ));
    }
    let code = query
        .code
        .ok_or(ApiError::InvalidRequest("no code in the callback"))?;
    let spec = state.verifier.spec();
    let token_url = match &spec.login.token {
        Some(url) => url.clone(),
        None => discovered(&state, |document| document.token_endpoint.clone())
            .await
            .ok_or(ApiError::Unavailable("the provider has no token endpoint"))?,
    };
    let client_id = spec.client_id.clone().unwrap_or_default();
    let callback = callback_url(&state);
    let verifier = flow.get("verifier").cloned().unwrap_or_default();
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", callback.as_str()),
        ("client_id", client_id.as_str()),
        ("code_verifier", verifier.as_str()),
    ];
    if let Some(secret) = &spec.client_secret {
        form.push(("client_secret", secret.expose()));
    }
    let (status, answer): (_, TokenAnswer) = state
        .http
        .post_form(&token_url, &form)
        .await
        .map_err(|error| {
            tracing::warn!(%error, "code exchange failed");
            ApiError::Upstream("the provider's token endpoint failed")
        })?;
    let (Some(access_token), true) = (answer.access_token, status.is_success()) else {
        tracing::info!(?status, error = ?answer.error, "code exchange refused");
        return Err(ApiError::Forbidden(
            "the provider refused the code exchange",
        ));
    };
    let verified = state.verifier.verify(&access_token).await?;
    let mut jar = jar.remove(Cookie::build(FLOW_COOKIE).path("/auth-callback"));
    let max_age = answer.expires_in.filter(|seconds| *seconds > 0);
    if let Some(id_token) = answer.id_token {
        let id = state
            .verifier
            .verify_id_token(&id_token, verified.sub())
            .await?;
        // OpenID Connect Core §3.1.3.7: the nonce sent must come back.
        let claims: Map<String, Value> = id.deserialize().unwrap_or_default();
        if claims.get("nonce").and_then(Value::as_str) != flow.get("nonce").map(String::as_str) {
            return Err(ApiError::InvalidRequest(
                "the ID token's nonce does not match the login",
            ));
        }
        jar = jar.add(cookie(&state, ID_TOKEN_COOKIE, id_token, "/", max_age));
    }
    jar = jar.add(cookie(&state, SESSION_COOKIE, access_token, "/", max_age));
    tracing::info!(
        sub = verified.sub().unwrap_or_default(),
        "browser session started"
    );
    // Checked again: the cookie came back from the browser, and a bad value must not become a 500.
    let next = flow
        .get("next")
        .and_then(|next| same_origin_target(&state.settings.server.public_url, next))
        .unwrap_or_else(|| DEFAULT_NEXT.to_owned());
    Ok((jar, Redirect::to(&next)).into_response())
}

/// Ends the session, and the provider's too when it publishes an `end_session_endpoint`.
pub async fn logout(State(state): State<AppState>, jar: CookieJar) -> Response {
    let id_token = jar
        .get(ID_TOKEN_COOKIE)
        .map(|cookie| cookie.value().to_owned());
    let jar = jar
        .remove(Cookie::build(SESSION_COOKIE).path("/"))
        .remove(Cookie::build(ID_TOKEN_COOKIE).path("/"));
    let home = format!("{}/docs", state.settings.server.public_base());
    let target = match discovered(&state, |document| document.end_session_endpoint.clone()).await {
        Some(mut end_session) => {
            {
                let mut pairs = end_session.query_pairs_mut();
                pairs.append_pair("post_logout_redirect_uri", &home);
                if let Some(hint) = &id_token {
                    pairs.append_pair("id_token_hint", hint);
                }
                if let Some(client_id) = &state.verifier.spec().client_id {
                    pairs.append_pair("client_id", client_id);
                }
            }
            end_session.to_string()
        }
        None => home,
    };
    (jar, Redirect::to(&target)).into_response()
}

/// `next` as the path (and query) it resolves to against `public_url`, when it has the same origin;
/// `None` for anything else.
///
/// Browsers read `\` as `/` and drop tabs and newlines while parsing a URL (WHATWG URL Standard), so
/// `/\evil.example` and `/<TAB>/evil.example` leave the site although they start with a single `/`;
/// a CR or LF would also break the `Location` header. Those characters, and every other control
/// character, are refused outright, before and after percent-decoding (the target may be decoded
/// once more on its way). What remains is resolved with the same WHATWG parser browsers use and must
/// keep the public URL's origin (RFC 6454); the answer is re-serialised by that parser, so it is
/// always a valid header value.
fn same_origin_target(public_url: &Url, next: &str) -> Option<String> {
    let suspicious = |text: &str| text.chars().any(|c| c == '\\' || c.is_control());
    let decoded = percent_encoding::percent_decode_str(next).decode_utf8_lossy();
    if next.is_empty() || suspicious(next) || suspicious(&decoded) {
        return None;
    }
    let target = public_url.join(next).ok()?;
    // Opaque origins (`javascript:`, `data:`) are never equal to a tuple origin. A path that resolves
    // to `//host…` (`/.//host`, `/%2e//host`, `x/..//host`) stays on this origin as a full URL, but
    // returned alone it is a scheme-relative reference to `host` (RFC 3986 §4.2): refused too.
    (target.origin() == public_url.origin() && !target.path().starts_with("//"))
        .then(|| target[Position::BeforePath..].to_owned())
}

async fn discovered(
    state: &AppState,
    pick: impl Fn(&crate::auth::DiscoveryDocument) -> Option<Url>,
) -> Option<Url> {
    let document = state.discovery.as_ref()?.document().await.ok()?;
    pick(&document)
}

fn callback_url(state: &AppState) -> String {
    format!("{}/auth-callback", state.settings.server.public_base())
}

fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age: Option<i64>,
) -> Cookie<'static> {
    let mut cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.settings.server.secure_cookies())
        .path(path)
        .build();
    if let Some(seconds) = max_age {
        cookie.set_max_age(time::Duration::seconds(seconds));
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_targets_on_the_public_origin_are_kept() {
        let public = Url::parse("https://api.example.com/base/").unwrap();
        let kept = [
            ("/api/private", "/api/private"),
            ("/api/private?a=b#top", "/api/private?a=b#top"),
            ("https://api.example.com/x", "/x"),
            ("x/y", "/base/x/y"),
            ("/a b", "/a%20b"),
            // Under the base path, the double slash is harmless: the path starts with `/base`.
            ("x/..//evil.example", "/base//evil.example"),
        ];
        for (next, expected) in kept {
            assert_eq!(
                same_origin_target(&public, next).as_deref(),
                Some(expected),
                "{next:?}"
            );
        }
        let refused = [
            "",
            "//evil.example",
            "/.//evil.example/x",
            "/..//evil.example",
            "/%2e//evil.example",
            "/%2E%2E//evil.example",
            "../..//evil.example",
            "/\\evil.example",
            "/%5Cevil.example",
            "/%5cevil.example",
            "/\t/evil.example",
            "/%09/evil.example",
            "/x\r\nSet-Cookie: a=b",
            "/x%0d%0aSet-Cookie: a=b",
            "/x\u{85}y",
            "http://api.example.com/x",
            "https://api.example.com:8443/x",
            "https://evil.example",
            "javascript:alert(1)",
            "data:text/html,hi",
        ];
        for next in refused {
            assert_eq!(same_origin_target(&public, next), None, "{next:?}");
        }
    }
}
