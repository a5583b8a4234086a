//! The login in progress between `/login` and `/auth-callback`. Its secrets (`state`, the PKCE
//! verifier, the nonce) and where to go next wait in a short-lived HttpOnly cookie scoped to
//! `/auth-callback`, so nothing is kept on the server and any replica can serve the callback.

use std::sync::Arc;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum_extra::extract::CookieJar;
use serde::Deserialize;

use super::redirect::next_or_default;
use crate::auth::{RandomError, random_token};
use crate::config::Settings;
use crate::error::ApiError;
use crate::extract::Query;

/// The cookie holding the login in progress.
pub(super) const FLOW_COOKIE: &str = "login_flow";
/// The only path the flow cookie is sent to: every issuer's callback (`/auth-callback/N` is under
/// it, RFC 6265 §5.1.4).
pub(super) const FLOW_PATH: &str = "/auth-callback";
/// How long a person may take to log in at the provider, in seconds.
pub(super) const FLOW_MAX_AGE: i64 = 600;

/// What `/login` remembers for `/auth-callback`. `Debug` shows only `next`.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct PendingLogin {
    /// RFC 6749 §10.12: binds the callback to this browser's login (CSRF).
    pub(super) state: String,
    /// RFC 7636: the PKCE code verifier, sent only with the code exchange.
    pub(super) verifier: String,
    /// OpenID Connect Core §3.1.2.1: must come back in the ID token (replay).
    pub(super) nonce: String,
    /// Where to go once logged in: a path on this service.
    pub(super) next: String,
    /// The chosen issuer's position in [`crate::Settings::providers`] (`/login?provider=NAME`); the
    /// cookie names the issuer by its identifier, so a reordered list never switches issuers.
    pub(super) issuer: usize,
}

impl PendingLogin {
    /// Fresh secrets for a login with the issuer at `issuer` that ends at `next`.
    pub(super) fn new(next: String, issuer: usize) -> Result<Self, RandomError> {
        Ok(Self {
            state: random_token()?,
            verifier: random_token()?,
            nonce: random_token()?,
            next,
            issuer,
        })
    }

    /// The flow cookie's value (form-encoded), the issuer named as `settings` lists it.
    pub(super) fn cookie_value(&self, settings: &Settings) -> String {
        let mut value = url::form_urlencoded::Serializer::new(String::new());
        value
            .append_pair("state", &self.state)
            .append_pair("verifier", &self.verifier)
            .append_pair("nonce", &self.nonce)
            .append_pair("next", &self.next);
        // The default issuer is left out, so a single-provider cookie is what it always was.
        if let Some(spec) = settings
            .providers()
            .nth(self.issuer)
            .filter(|_| self.issuer != 0)
        {
            value.append_pair("issuer", &spec.issuer);
        }
        value.finish()
    }

    /// The login a flow cookie holds; `None` unless every part is there, the secrets non-empty and
    /// the issuer one `settings` trusts (a tampered or stale cookie is no login, never the first's).
    fn from_cookie_value(value: &str, settings: &Settings) -> Option<Self> {
        let (mut state, mut verifier, mut nonce, mut next, mut issuer) =
            (None, None, None, None, None);
        for (name, value) in url::form_urlencoded::parse(value.as_bytes()) {
            let slot = match &*name {
                "state" => &mut state,
                "verifier" => &mut verifier,
                "nonce" => &mut nonce,
                "next" => &mut next,
                "issuer" => &mut issuer,
                _ => continue,
            };
            *slot = Some(value.into_owned());
        }
        let secret = |value: Option<String>| value.filter(|value| !value.is_empty());
        Some(Self {
            state: secret(state)?,
            verifier: secret(verifier)?,
            nonce: secret(nonce)?,
            next: next?,
            issuer: match issuer {
                None => 0,
                Some(named) => settings.providers().position(|spec| spec.issuer == named)?,
            },
        })
    }
}

impl std::fmt::Debug for PendingLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingLogin")
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}

/// The provider's answer at `/auth-callback` (RFC 6749 §4.1.2 and §4.1.2.1).
#[derive(Debug, Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    /// RFC 9207 §2: the issuer that answered, when it says so.
    iss: Option<String>,
}

/// A callback that belongs to the login in progress in this browser: the provider said yes, the
/// flow cookie is there, and the `state` it sent back is the one `/login` made. `Debug` leaves the
/// code out.
pub(super) struct LoginFlow {
    /// The authorization code to exchange.
    pub(super) code: String,
    /// The login's secrets; its `next` checked again, since the cookie came back from the browser.
    pub(super) login: PendingLogin,
    /// The `iss` the provider put in its answer (RFC 9207), if any.
    pub(super) iss: Option<String>,
}

impl std::fmt::Debug for LoginFlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginFlow")
            .field("login", &self.login)
            .finish_non_exhaustive()
    }
}

impl<S> FromRequestParts<S> for LoginFlow
where
    Arc<Settings>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(query) = Query::<CallbackQuery>::from_request_parts(parts, state).await?;
        if let Some(error) = query.error {
            tracing::info!(%error, "the provider refused the login");
            return Err(ApiError::Forbidden("the provider refused the login"));
        }
        let settings = Arc::<Settings>::from_ref(state);
        let mut login = CookieJar::from_headers(&parts.headers)
            .get(FLOW_COOKIE)
            .and_then(|cookie| PendingLogin::from_cookie_value(cookie.value(), &settings))
            .ok_or(ApiError::InvalidRequest(
                "no login in progress (start at /login)",
            ))?;
        // Constant time: how much of a guess matches must not show in the answer's timing.
        let state_matches = query.state.is_some_and(|got| {
            verify_slices_are_equal(got.as_bytes(), login.state.as_bytes()).is_ok()
        });
        if !state_matches {
            return Err(ApiError::InvalidRequest(
                "state does not match the login in progress",
            ));
        }
        let code = query
            .code
            .ok_or(ApiError::InvalidRequest("no code in the callback"))?;
        login.next = next_or_default(&settings.server.public_url, Some(&login.next));
        Ok(Self {
            code,
            login,
            iss: query.iss,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two trusted issuers: `https://a.example.com` first, `https://b.example.com` second.
    fn two_issuers() -> Settings {
        Settings::from_pairs([
            ("AUTH_PROVIDER", "oidc"),
            (
                "OIDC_ISSUER",
                "https://a.example.com, https://b.example.com",
            ),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap()
    }

    #[test]
    fn a_pending_login_survives_its_cookie() {
        let settings = two_issuers();
        let login = PendingLogin::new("/api/private?a=b&c=d".to_owned(), 0).unwrap();
        let value = login.cookie_value(&settings);
        assert!(!value.contains("issuer"), "{value}");
        assert_eq!(
            PendingLogin::from_cookie_value(&value, &settings),
            Some(login)
        );
        let second = PendingLogin::new("/".to_owned(), 1).unwrap();
        let value = second.cookie_value(&settings);
        assert!(
            value.contains("issuer=https%3A%2F%2Fb.example.com"),
            "{value}"
        );
        assert_eq!(
            PendingLogin::from_cookie_value(&value, &settings),
            Some(second)
        );
    }

    #[test]
    fn a_tampered_or_stale_issuer_is_no_login_not_the_first_issuer() {
        let settings = two_issuers();
        let base = "state=s&verifier=v&nonce=n&next=%2F";
        for issuer in [
            "1",
            "9",
            "18446744073709551616",
            "https%3A%2F%2Fevil.example.com",
            "https%3A%2F%2Fb.example.com%2F",
            "",
        ] {
            let value = format!("{base}&issuer={issuer}");
            assert_eq!(
                PendingLogin::from_cookie_value(&value, &settings),
                None,
                "{value}"
            );
        }
    }

    #[test]
    fn a_cookie_missing_a_part_or_with_an_empty_secret_is_no_login() {
        for value in [
            "",
            "state=s&verifier=v&nonce=n",
            "state=&verifier=v&nonce=n&next=%2F",
            "state=s&verifier=&nonce=n&next=%2F",
            "state=s&verifier=v&nonce=&next=%2F",
            "state=s&verifier=v&nonce=n&next=%2F&issuer=x",
        ] {
            assert_eq!(
                PendingLogin::from_cookie_value(value, &two_issuers()),
                None,
                "{value:?}"
            );
        }
    }

    #[test]
    fn debug_leaves_the_secrets_and_the_code_out() {
        let login = PendingLogin {
            state: "state-secret".to_owned(),
            verifier: "verifier-secret".to_owned(),
            nonce: "nonce-secret".to_owned(),
            next: "/api/private".to_owned(),
            issuer: 0,
        };
        let flow = LoginFlow {
            code: "code-secret".to_owned(),
            login,
            iss: None,
        };
        let printed = format!("{flow:?}");
        assert!(!printed.contains("secret"), "{printed}");
        assert!(printed.contains("/api/private"), "{printed}");
    }
}
