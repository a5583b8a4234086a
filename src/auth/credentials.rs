//! Where a request's credentials are read, in one place: the `Authorization` header, `Bearer`
//! (RFC 6750 §2.1) or `DPoP` with its proof header (RFC 9449 §7.1), strictly, else the browser
//! session's cookie; and the ID token, from `X-Id-Token` or the session.

use std::borrow::Cow;

use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::cookie::{session_id_token, session_token};
use super::dpop::{DpopMode, proof_header};
use super::error::{IdTokenError, ProofError, TokenError, VerifyError};
use crate::ID_TOKEN_HEADER;
use crate::error::ApiError;

/// The credentials a request carries. Its `Debug` shows the scheme only, never the token or proof.
pub enum Credentials<'a> {
    /// `Authorization: Bearer <token>`, or the session cookie when there is no `Authorization`.
    Bearer(Cow<'a, str>),
    /// `Authorization: DPoP <token>` and its one `DPoP` proof header (RFC 9449 §7.1).
    Dpop {
        /// The access token.
        token: &'a str,
        /// The proof JWT, not yet checked.
        proof: &'a str,
    },
}

/// Only the scheme: a token or a proof in a log line is a credential anyone reading logs may use.
impl std::fmt::Debug for Credentials<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Bearer(_) => "Bearer(..)",
            Self::Dpop { .. } => "Dpop { .. }",
        })
    }
}

/// The credentials of a request under `mode`, `None` when it carries none: no `Authorization` and
/// no session cookie, or a scheme this service does not take (`Basic`; `DPoP` when `mode` is off).
/// A header with a scheme this service does not take means no credentials: the cookie is then not
/// consulted either.
///
/// # Errors
/// As [`bearer_token`] for the token's form (answered with the `DPoP` challenge under that scheme);
/// [`ApiError::InvalidDpopProof`] for the `DPoP` scheme with no proof or several, or a proof with
/// no token.
pub fn credentials(parts: &Parts, mode: DpopMode) -> Result<Option<Credentials<'_>>, ApiError> {
    match authorization(parts)? {
        Some((Scheme::Bearer, token)) => Ok(Some(Credentials::Bearer(Cow::Borrowed(token?)))),
        Some((Scheme::Dpop, token)) if mode.accepts_dpop() => {
            let token = token.map_err(ApiError::dpop)?;
            match proof_header(&parts.headers)? {
                Some(proof) if !proof.is_empty() => Ok(Some(Credentials::Dpop { token, proof })),
                _ => Err(ProofError::Missing.into()),
            }
        }
        Some(_) => Ok(None),
        None => {
            if mode.accepts_dpop() && proof_header(&parts.headers)?.is_some() {
                // RFC 9449 §7.1: a proof is for a token; one without is a client mistake to name.
                return Err(ProofError::WithoutToken.into());
            }
            Ok(session_token(&parts.headers).map(Credentials::Bearer))
        }
    }
}

/// The access token of a request as sent, whatever its scheme (`Bearer` or `DPoP` header, else the
/// session cookie), for handlers that pass it on. Call it after the request was verified: it
/// applies none of the rules [`credentials`] does.
///
/// # Errors
/// As [`bearer_token`].
pub fn request_token(parts: &Parts) -> Result<Option<Cow<'_, str>>, ApiError> {
    match authorization(parts)? {
        Some((Scheme::Bearer | Scheme::Dpop, token)) => Ok(Some(Cow::Borrowed(token?))),
        Some(_) => Ok(None),
        None => Ok(session_token(&parts.headers)),
    }
}

/// The ID token of a request: the `X-Id-Token` header, else the session's ID-token cookie. A header
/// that was sent is the one meant, so a malformed one is refused rather than passed over for the
/// cookie.
///
/// # Errors
/// [`ApiError::InvalidRequest`] for several `X-Id-Token` headers; [`ApiError::InvalidIdToken`] for
/// one that is not visible ASCII.
pub fn id_token(parts: &Parts) -> Result<Option<Cow<'_, str>>, ApiError> {
    let mut values = parts.headers.get_all(ID_TOKEN_HEADER).iter();
    let Some(value) = values.next() else {
        return Ok(session_id_token(&parts.headers));
    };
    if values.next().is_some() {
        return Err(ApiError::InvalidRequest("several X-Id-Token headers"));
    }
    match value.to_str() {
        Ok(token) => Ok(Some(Cow::Borrowed(token.trim()))),
        Err(_) => Err(IdTokenError(VerifyError::Token(TokenError::Malformed)).into()),
    }
}

/// The bearer token of a request (RFC 6750 §2.1), `None` when the request carries no bearer credentials
/// (no `Authorization` header, or another scheme such as `Basic` or `DPoP`). The scheme name is
/// case-insensitive.
///
/// # Errors
/// [`ApiError::InvalidRequest`] for an empty value, a value with spaces or characters outside
/// `b64token`, or several `Authorization` headers.
pub fn bearer_token(parts: &Parts) -> Result<Option<&str>, ApiError> {
    match authorization(parts)? {
        Some((Scheme::Bearer, token)) => token.map(Some),
        _ => Ok(None),
    }
}

/// The `Authorization` schemes this service reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scheme {
    Bearer,
    /// RFC 9449 §7.1.
    Dpop,
    Other,
}

/// The token of an `Authorization` header, or why its form is refused.
type Token<'a> = Result<&'a str, ApiError>;

/// The one `Authorization` header's scheme and token, `None` without the header. The token's
/// form is judged only for `Bearer` and `DPoP`, whose `token68` values share `b64token`'s grammar.
///
/// # Errors
/// [`ApiError::InvalidRequest`] for several `Authorization` headers.
fn authorization(parts: &Parts) -> Result<Option<(Scheme, Token<'_>)>, ApiError> {
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
    let scheme = if scheme.eq_ignore_ascii_case(b"bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case(b"dpop") {
        Scheme::Dpop
    } else {
        return Ok(Some((Scheme::Other, Ok(""))));
    };
    Ok(Some((scheme, token(scheme, credentials))))
}

/// The token after the scheme's space: one `b64token`, padded with spaces at most before it.
fn token(scheme: Scheme, credentials: &[u8]) -> Token<'_> {
    let start = credentials
        .iter()
        .position(|&b| b != b' ')
        .unwrap_or(credentials.len());
    let token = &credentials[start..];
    let (empty, malformed) = match scheme {
        Scheme::Dpop => ("empty DPoP token", "malformed DPoP token"),
        _ => ("empty bearer token", "malformed bearer token"),
    };
    if token.is_empty() {
        return Err(ApiError::InvalidRequest(empty));
    }
    match std::str::from_utf8(token) {
        Ok(token) if is_b64token(token) => Ok(token),
        _ => Err(ApiError::InvalidRequest(malformed)),
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

    fn dpop_parts(pairs: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder();
        for (name, value) in pairs {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_dpop_scheme_needs_one_proof_and_is_unknown_when_off() {
        let sent = dpop_parts(&[("authorization", "DPoP a.b.c"), ("dpop", "x.y.z")]);
        assert!(matches!(
            credentials(&sent, DpopMode::Allowed),
            Ok(Some(Credentials::Dpop {
                token: "a.b.c",
                proof: "x.y.z"
            }))
        ));
        assert!(matches!(credentials(&sent, DpopMode::Off), Ok(None)));
        assert_eq!(bearer_token(&sent).unwrap(), None, "DPoP is not Bearer");
        let refused =
            |pairs: &[(&str, &str)]| match credentials(&dpop_parts(pairs), DpopMode::Allowed) {
                Err(ApiError::InvalidDpopProof(error)) => error,
                other => panic!("{other:?}"),
            };
        assert_eq!(
            refused(&[("authorization", "DPoP a.b.c")]),
            ProofError::Missing
        );
        assert_eq!(
            refused(&[
                ("authorization", "DPoP a.b.c"),
                ("dpop", "1"),
                ("dpop", "2")
            ]),
            ProofError::Several
        );
        assert_eq!(refused(&[("dpop", "x.y.z")]), ProofError::WithoutToken);
    }

    #[test]
    fn debug_shows_the_scheme_and_neither_the_token_nor_the_proof() {
        let bearer = Credentials::Bearer(Cow::Borrowed("secret-token"));
        assert_eq!(format!("{bearer:?}"), "Bearer(..)");
        let dpop = Credentials::Dpop {
            token: "secret-token",
            proof: "secret-proof",
        };
        let shown = format!("{dpop:?} {dpop:#?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.starts_with("Dpop"), "{shown}");
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

    #[cfg(feature = "sessions")]
    fn with_headers(pairs: &[(&str, &str)]) -> Parts {
        let mut request = Request::builder();
        for (name, value) in pairs {
            request = request.header(*name, *value);
        }
        request.body(()).unwrap().into_parts().0
    }

    #[cfg(feature = "sessions")]
    #[test]
    fn the_session_cookie_stands_in_for_a_missing_bearer_header_only() {
        let cookie = ("cookie", "session=from-cookie");
        let token = |pairs: &[(&str, &str)]| {
            request_token(&with_headers(pairs))
                .unwrap()
                .map(Cow::into_owned)
        };
        assert_eq!(token(&[cookie]).as_deref(), Some("from-cookie"));
        assert_eq!(
            token(&[cookie, ("authorization", "Bearer from-header")]).as_deref(),
            Some("from-header")
        );
        assert_eq!(
            token(&[cookie, ("authorization", "Basic dXNlcjpwYXNz")]),
            None
        );
    }

    #[cfg(feature = "sessions")]
    #[test]
    fn the_id_token_header_comes_before_the_session_cookie() {
        let cookie = ("cookie", "id_token=from-cookie");
        let id =
            |pairs: &[(&str, &str)]| id_token(&with_headers(pairs)).unwrap().map(Cow::into_owned);
        assert_eq!(id(&[cookie]).as_deref(), Some("from-cookie"));
        assert_eq!(
            id(&[cookie, ("x-id-token", "from-header")]).as_deref(),
            Some("from-header")
        );
        assert_eq!(id(&[]), None);
        assert!(matches!(
            id_token(&with_headers(&[("x-id-token", "a"), ("x-id-token", "b")])),
            Err(ApiError::InvalidRequest(_))
        ));
        let mut parts = with_headers(&[cookie]);
        parts.headers.insert(
            ID_TOKEN_HEADER,
            axum::http::HeaderValue::from_bytes(b"ab\xc3\xa9").unwrap(),
        );
        assert!(matches!(id_token(&parts), Err(ApiError::InvalidIdToken(_))));
    }
}
