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
/// matches.
pub(crate) fn matches(htu: &str, expected: &Url) -> bool {
    let Ok(mut htu) = Url::parse(htu) else {
        return false;
    };
    htu.set_query(None);
    htu.set_fragment(None);
    htu == *expected
}

/// The URL a request for `path` was sent to: `public_base` (PUBLIC_URL without its trailing slash)
/// followed by the path, with no query. `None` when the two do not make a URL.
pub(crate) fn request_url(public_base: &str, path: &str) -> Option<Url> {
    let mut url = Url::parse(&format!("{public_base}{path}")).ok()?;
    url.set_query(None);
    url.set_fragment(None);
    Some(url)
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
}
