//! The `htu` of a DPoP proof against the URL the request was sent to (RFC 9449 §4.3 point 9).

use url::Url;

/// Whether `htu`, as the client wrote it, names `expected`: the request URL built from
/// `[SERVER] PUBLIC_URL` and the request path (behind a proxy, PUBLIC_URL is what the client saw,
/// not the `Host` the proxy forwarded).
///
/// Both sides go through the WHATWG URL parser, which is the RFC 3986 §6.2.2 syntax-based
/// normalisation a client's library applies too: scheme and host lower-cased, the default port
/// dropped, dot segments removed. The query and fragment of `htu` are ignored (RFC 9449 §4.3 point 9:
/// "without query and fragment parts"); user information is not, so `https://user@host/…` never
/// matches. The request side never has dot segments to remove: [`request_url`] refuses them.
pub(crate) fn matches(htu: &str, expected: &Url) -> bool {
    let Ok(mut htu) = Url::parse(htu) else {
        return false;
    };
    htu.set_query(None);
    htu.set_fragment(None);
    htu == *expected
}

/// The URL a request for `path` was sent to: `public_base` (PUBLIC_URL without its trailing slash)
/// followed by the path, with no query. `None` when the two do not make a URL, and for a path with
/// a dot segment (`.`, `..`, `%2e` in any case): the parser would remove it, so `/a/b/%2e%2e` would
/// be compared as `/a/`, and a proof made for the parent URL would be accepted for this request,
/// which the router sends to another handler (`%2e%2e` as a path parameter). No client needs to
/// send one; a proof's own `htu` may still have them, as RFC 3986 §6.2.2.3 allows.
pub(crate) fn request_url(public_base: &str, path: &str) -> Option<Url> {
    // The parser takes `\` for `/` in an `http(s)` URL (WHATWG URL, path state): so does this.
    if path.split(['/', '\\']).any(is_dot_segment) {
        return None;
    }
    let mut url = Url::parse(&format!("{public_base}{path}")).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
}

/// `.` or `..`, each dot written as-is or percent-encoded (`%2e`, `%2E`): what the WHATWG URL
/// parser removes from a path (RFC 3986 §5.2.4).
fn is_dot_segment(segment: &str) -> bool {
    let mut rest = segment.as_bytes();
    let mut dots = 0;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix(b".") {
            rest = after;
        } else if rest.len() >= 3 && rest[..3].eq_ignore_ascii_case(b"%2e") {
            rest = &rest[3..];
        } else {
            return false;
        }
        dots += 1;
    }
    matches!(dots, 1 | 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expected(path: &str) -> Url {
        request_url("https://api.example.com", path).unwrap()
    }

    #[test]
    fn scheme_and_host_compare_case_insensitively_and_the_default_port_is_dropped() {
        let target = expected("/api/private");
        for htu in [
            "https://api.example.com/api/private",
            "HTTPS://API.Example.COM/api/private",
            "https://api.example.com:443/api/private",
        ] {
            assert!(matches(htu, &target), "{htu}");
        }
    }

    #[test]
    fn query_and_fragment_of_htu_are_ignored() {
        let target = expected("/api/private");
        assert!(matches(
            "https://api.example.com/api/private?x=1#frag",
            &target
        ));
    }

    #[test]
    fn another_path_host_scheme_port_or_user_is_another_url() {
        let target = expected("/api/private");
        for htu in [
            "https://api.example.com/api/private-scoped",
            "https://api.example.com/API/private",
            "https://evil.example.com/api/private",
            "http://api.example.com/api/private",
            "https://api.example.com:8443/api/private",
            "https://user@api.example.com/api/private",
            "/api/private",
            "not a url",
        ] {
            assert!(!matches(htu, &target), "{htu}");
        }
    }

    #[test]
    fn dot_segments_are_resolved_before_comparing() {
        assert!(matches(
            "https://api.example.com/api/x/../private",
            &expected("/api/private")
        ));
    }

    #[test]
    fn a_public_url_with_a_path_prefix_keeps_it() {
        let target = request_url("https://example.com/service", "/api/private").unwrap();
        assert!(matches("https://example.com/service/api/private", &target));
        assert!(!matches("https://example.com/api/private", &target));
    }

    #[test]
    fn a_request_path_with_dot_segments_has_no_url_to_match() {
        for path in [
            "/api/profile/%2e%2e",
            "/api/profile/%2E%2e",
            "/api/profile/.%2E",
            "/api/profile/..",
            "/api/./private",
            "/api/%2e/private",
            "/api/x/../private",
            "/api/x\\..",
        ] {
            assert_eq!(request_url("https://api.example.com", path), None, "{path}");
        }
        for path in [
            "/api/...",
            "/api/.well",
            "/api/a.b",
            "/api/%2e%2e%2e",
            "/api/%2f",
        ] {
            assert!(
                request_url("https://api.example.com", path).is_some(),
                "{path}"
            );
        }
    }
}
