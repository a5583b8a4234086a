//! The browser session's cookies, as the `auth` tree reads them: the access token stands in for the
//! bearer header, the ID token for `X-Id-Token`. The session wing (`/login`, `/auth-callback`,
//! `/logout`) writes them; nothing here depends on it.

use std::borrow::Cow;

use axum::http::HeaderMap;
use axum_extra::extract::CookieJar;

/// The cookie holding the access token of a browser session (set by `/auth-callback`).
pub const SESSION_COOKIE: &str = "session";
/// The cookie holding the ID token of a browser session.
pub const ID_TOKEN_COOKIE: &str = "id_token";

/// The session's access token, when the request carries a session cookie.
pub(super) fn session_token(headers: &HeaderMap) -> Option<Cow<'static, str>> {
    cookie(headers, SESSION_COOKIE)
}

/// The session's ID token, when the request carries one.
pub(super) fn session_id_token(headers: &HeaderMap) -> Option<Cow<'static, str>> {
    cookie(headers, ID_TOKEN_COOKIE)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<Cow<'static, str>> {
    CookieJar::from_headers(headers)
        .get(name)
        .map(|cookie| Cow::Owned(cookie.value().to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::header::COOKIE;

    #[test]
    fn each_reader_finds_its_own_cookie() {
        let mut headers = HeaderMap::new();
        headers.insert(COOKIE, "id_token=b; other=x; session=a".parse().unwrap());
        assert_eq!(session_token(&headers).as_deref(), Some("a"));
        assert_eq!(session_id_token(&headers).as_deref(), Some("b"));
        assert_eq!(session_token(&HeaderMap::new()), None);
    }
}
