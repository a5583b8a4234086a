//! URL settings: absolute `http(s)` URLs, and the rule that plain `http` is for loopback only.

use url::Url;

use super::error::ConfigError;

/// Parses an absolute `http` or `https` URL for `[section] key`.
///
/// # Errors
/// `[SECTION] KEY: …` when it is not one.
pub fn parse_http_url(section: &str, key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value)
        .map_err(|error| ConfigError::key(section, key, format!("{error}: {value:?}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::key(
            section,
            key,
            format!("expected an http(s) URL, got {value:?}"),
        ));
    }
    Ok(url)
}

/// Requires `https`, except on loopback hosts (127.0.0.0/8, ::1, localhost) where tests and local IdPs run.
///
/// # Errors
/// `[SECTION] KEY: must be https …` for plain `http` elsewhere.
pub fn require_https_or_loopback(section: &str, key: &str, url: &Url) -> Result<(), ConfigError> {
    if url.scheme() == "https" || is_loopback(url) {
        return Ok(());
    }
    Err(ConfigError::key(
        section,
        key,
        format!("must be https (plain http is allowed on loopback only), got {url}"),
    ))
}

/// Whether `url` points at this machine's loopback interface.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection_covers_the_whole_range_and_localhost() {
        for url in [
            "http://127.0.0.1/",
            "http://127.3.4.5:9/",
            "http://[::1]/",
            "http://LOCALHOST:1/",
        ] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://10.0.0.1/",
            "http://example.com/",
            "http://localhost.example.com/",
        ] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }
}
