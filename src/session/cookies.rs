//! The session's `Set-Cookie` values: HttpOnly (no script reads a token), SameSite=Lax (sent on the
//! provider's redirect back, not on cross-site posts), Secure when the public URL is https.

use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};

use super::flow::{FLOW_COOKIE, FLOW_MAX_AGE, FLOW_PATH, PendingLogin};
use crate::auth::{ID_TOKEN_COOKIE, SESSION_COOKIE};
use crate::config::{ServerSettings, Settings};

/// What a session holds: the tokens of a successful code exchange. `Debug` leaves the tokens out.
pub(super) struct SessionTokens {
    /// The access token, which stands in for the bearer header.
    pub(super) access_token: String,
    /// The ID token, which stands in for `X-Id-Token`.
    pub(super) id_token: Option<String>,
    /// The access token's lifetime in seconds (RFC 6749 §5.1), which the cookies get too.
    pub(super) expires_in: Option<i64>,
}

impl std::fmt::Debug for SessionTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionTokens")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

/// Remembers `login` until `/auth-callback`, for ten minutes at most.
pub(super) fn begin_login(jar: CookieJar, settings: &Settings, login: &PendingLogin) -> CookieJar {
    let server = &settings.server;
    let value = login.cookie_value(settings);
    jar.add(cookie(
        server,
        FLOW_COOKIE,
        value,
        FLOW_PATH,
        Some(FLOW_MAX_AGE),
    ))
}

/// Ends the login in progress (its cookie is spent) and starts the session.
pub(super) fn start_session(
    jar: CookieJar,
    server: &ServerSettings,
    tokens: SessionTokens,
) -> CookieJar {
    let max_age = tokens.expires_in.filter(|seconds| *seconds > 0);
    let mut jar = jar.remove(Cookie::build(FLOW_COOKIE).path(FLOW_PATH));
    if let Some(id_token) = tokens.id_token {
        jar = jar.add(cookie(server, ID_TOKEN_COOKIE, id_token, "/", max_age));
    }
    jar.add(cookie(
        server,
        SESSION_COOKIE,
        tokens.access_token,
        "/",
        max_age,
    ))
}

/// Removes the session's cookies.
pub(super) fn end_session(jar: CookieJar) -> CookieJar {
    jar.remove(Cookie::build(SESSION_COOKIE).path("/"))
        .remove(Cookie::build(ID_TOKEN_COOKIE).path("/"))
}

fn cookie(
    server: &ServerSettings,
    name: &'static str,
    value: String,
    path: &'static str,
    max_age: Option<i64>,
) -> Cookie<'static> {
    let mut cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(server.secure_cookies())
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
    fn debug_leaves_the_tokens_out() {
        let tokens = SessionTokens {
            access_token: "access-secret".to_owned(),
            id_token: Some("id-secret".to_owned()),
            expires_in: Some(60),
        };
        let printed = format!("{tokens:?}");
        assert!(!printed.contains("secret"), "{printed}");
    }
}
