//! Where the browser goes after logging in: only back to this service. An open redirect would send a
//! freshly logged-in user anywhere, with the provider's and this service's name on the link.

use url::{Position, Url};

/// Where the browser goes after logging in when `next` is absent or refused.
const DEFAULT_NEXT: &str = "/api/user";

/// `next` when it stays on the service at `public_url` (see [`same_origin_target`]), else `/api/user`.
pub(super) fn next_or_default(public_url: &Url, next: Option<&str>) -> String {
    next.and_then(|next| same_origin_target(public_url, next))
        .unwrap_or_else(|| DEFAULT_NEXT.to_owned())
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

    #[test]
    fn an_absent_or_refused_target_is_the_default() {
        let public = Url::parse("http://127.0.0.1:8000/").unwrap();
        assert_eq!(next_or_default(&public, None), "/api/user");
        assert_eq!(
            next_or_default(&public, Some("//evil.example")),
            "/api/user"
        );
        assert_eq!(
            next_or_default(&public, Some("/api/private")),
            "/api/private"
        );
    }
}
