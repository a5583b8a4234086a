//! Extractors over a [`Verifier`]: `Verified`, `Claims<T>`, `Option<Claims<T>>` and `AccessToken`. The
//! token is verified once per request; the result waits in the request extensions for the next
//! extractor.

use std::borrow::Cow;

use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::claims::{Claims, Verified};
use super::error::TokenError;
use super::verify::Verifier;
use crate::error::ApiError;

/// The cookie holding the access token of a browser session (set by `/auth-callback`).
pub const SESSION_COOKIE: &str = "session";
/// The cookie holding the ID token of a browser session.
pub const ID_TOKEN_COOKIE: &str = "id_token";

/// The access token of a request: the bearer header, else the session cookie. A header with another
/// scheme means no bearer credentials; the cookie is then not consulted either.
///
/// # Errors
/// As [`bearer_token`].
pub fn request_token(parts: &Parts) -> Result<Option<Cow<'_, str>>, ApiError> {
    if let Some(token) = bearer_token(parts)? {
        return Ok(Some(Cow::Borrowed(token)));
    }
    if parts.headers.contains_key(AUTHORIZATION) {
        return Ok(None);
    }
    let jar = axum_extra::extract::CookieJar::from_headers(&parts.headers);
    Ok(jar
        .get(SESSION_COOKIE)
        .map(|cookie| Cow::Owned(cookie.value().to_owned())))
}

/// The bearer token of a request (RFC 6750 §2.1), `None` when the request carries no bearer credentials
/// (no `Authorization` header, or another scheme such as `Basic`). The scheme name is case-insensitive.
///
/// # Errors
/// [`ApiError::InvalidRequest`] for an empty value, a value with spaces or characters outside
/// `b64token`, or several `Authorization` headers.
pub fn bearer_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let mut values = parts.headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidRequest("several Authorization headers"));
    }
    // Bytes, not `to_str()`: the b64token check below is stricter than visible ASCII, so one pass
    // over a token that is often over a kilobyte is enough.
    let value = value.as_bytes();
    let (scheme, credentials) = match value.iter().position(|&b| b == b' ') {
        Some(space) => (&value[..space], &value[space + 1..]),
        None => (value, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Ok(None);
    }
    let start = credentials
        .iter()
        .position(|&b| b != b' ')
        .unwrap_or(credentials.len());
    let token = &credentials[start..];
    if token.is_empty() {
        return Err(ApiError::InvalidRequest("empty bearer token"));
    }
    match std::str::from_utf8(token) {
        Ok(token) if is_b64token(token) => Ok(Some(token)),
        _ => Err(ApiError::InvalidRequest("malformed bearer token")),
    }
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| B64TOKEN_CHARS[usize::from(b)])
}

/// Which bytes `b64token` allows before its `=` padding: one table lookup per byte, since every
/// request's token (often over a kilobyte) passes through here.
const B64TOKEN_CHARS: [bool; 256] = {
    let mut allowed = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        allowed[byte] =
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/');
        byte += 1;
    }
    allowed
};

/// Verifies the request's token, or reuses the verification another extractor already did.
async fn verified<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<Option<Verified>, ApiError>
where
    Verifier: FromRef<S>,
{
    if let Some(verified) = parts.extensions.get::<Verified>() {
        return Ok(Some(verified.clone()));
    }
    let Some(token) = request_token(parts)? else {
        return Ok(None);
    };
    let verified = Verifier::from_ref(state).verify(&token).await?;
    if let Some(sub) = verified.sub() {
        tracing::Span::current().record("sub", sub);
    }
    parts.extensions.insert(verified.clone());
    Ok(Some(verified))
}

fn view<T: DeserializeOwned>(verified: Verified) -> Result<Claims<T>, ApiError> {
    Claims::from_verified(verified).map_err(|error| {
        tracing::debug!(%error, "token claims do not fit the handler's claims type");
        ApiError::InvalidToken(TokenError::MalformedClaims)
    })
}

/// The request's access token as sent, for handlers that pass it on (to the provider's userinfo
/// endpoint): taken exactly as [`Claims`] takes it ([`request_token`]: the bearer header, else the
/// session cookie), and verified first, so it is never a token the service refused.
#[derive(Clone)]
pub struct AccessToken(pub String);

/// Never the token itself in logs.
impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(..)")
    }
}

impl<S> FromRequestParts<S> for AccessToken
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        verified(parts, state)
            .await?
            .ok_or(ApiError::MissingToken)?;
        let token = request_token(parts)?.ok_or(ApiError::MissingToken)?;
        Ok(Self(token.into_owned()))
    }
}

/// The verified token itself, with no view of its claims: for handlers that only need to know the
/// caller is authenticated, or that echo the claims as signed. Costs no deserialization.
impl<S> FromRequestParts<S> for Verified
where
    Verifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        verified(parts, state).await?.ok_or(ApiError::MissingToken)
    }
}

impl<S, T> FromRequestParts<S> for Claims<T>
where
    Verifier: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let verified = verified(parts, state)
            .await?
            .ok_or(ApiError::MissingToken)?;
        view(verified)
    }
}

/// `Option<Claims<T>>` is `None` only when no credentials were sent; a bad token is still refused.
impl<S, T> OptionalFromRequestParts<S> for Claims<T>
where
    Verifier: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Option<Self>, ApiError> {
        verified(parts, state).await?.map(view).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Request;

    fn parts(authorization: &[&str]) -> Parts {
        let mut request = Request::builder();
        for value in authorization {
            request = request.header(AUTHORIZATION, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        assert_eq!(bearer_token(&parts(&["bearer abc"])).unwrap(), Some("abc"));
        assert_eq!(
            bearer_token(&parts(&["BEARER a.b.c"])).unwrap(),
            Some("a.b.c")
        );
    }

    #[test]
    fn other_schemes_and_no_header_are_no_credentials() {
        assert_eq!(bearer_token(&parts(&[])).unwrap(), None);
        assert_eq!(bearer_token(&parts(&["Basic dXNlcjpwYXNz"])).unwrap(), None);
    }

    #[test]
    fn empty_spaced_or_odd_values_are_invalid_requests() {
        for value in [
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a,b",
            "Bearer ===",
        ] {
            assert!(
                matches!(
                    bearer_token(&parts(&[value])),
                    Err(ApiError::InvalidRequest(_))
                ),
                "{value}"
            );
        }
        assert!(bearer_token(&parts(&["Bearer a", "Bearer b"])).is_err());
    }

    #[test]
    fn bytes_outside_ascii_make_a_bearer_token_malformed_and_leave_other_schemes_alone() {
        let header = |bytes: &[u8]| {
            let mut request = Request::builder().body(()).unwrap();
            request.headers_mut().insert(
                AUTHORIZATION,
                axum::http::HeaderValue::from_bytes(bytes).unwrap(),
            );
            request.into_parts().0
        };
        assert!(matches!(
            bearer_token(&header(b"Bearer ab\xc3\xa9")),
            Err(ApiError::InvalidRequest("malformed bearer token"))
        ));
        assert_eq!(bearer_token(&header(b"Basic \xc3\xa9")).unwrap(), None);
        assert_eq!(bearer_token(&header(b"Bearer   a.b")).unwrap(), Some("a.b"));
    }

    #[test]
    fn the_b64token_table_allows_exactly_the_rfc_6750_characters() {
        let grammar = |b: u8| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b);
        for b in 0..=u8::MAX {
            assert_eq!(B64TOKEN_CHARS[usize::from(b)], grammar(b), "byte {b:#04x}");
        }
        assert!(is_b64token("a.b-c_d~e+f/g=="));
        assert!(!is_b64token("a=b"), "padding only at the end");
    }
}
