//! Bounded HTTP requests for JSON documents (JWKS, discovery, introspection): timeouts, a size cap,
//! https or loopback only.

use std::time::Duration;

use axum::http::header::CACHE_CONTROL;
use url::Url;

use super::keys::KeySet;
use crate::config::secret::Secret;
use crate::config::urls::is_loopback;

/// Largest key set or discovery document accepted. Real ones are a few KiB.
const MAX_DOCUMENT_BYTES: usize = 512 * 1024;

/// Why a document could not be fetched. The text is for logs; clients only ever see 503.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Connecting, sending or reading failed (timeouts included).
    #[error("request to {url} failed: {source}")]
    Http {
        /// Where the request went.
        url: Url,
        /// What went wrong.
        source: reqwest::Error,
    },
    /// The server answered with a non-2xx status.
    #[error("{url} answered {status}")]
    Status {
        /// Where the request went.
        url: Url,
        /// The status it answered.
        status: reqwest::StatusCode,
    },
    /// The body was larger than the cap.
    #[error("{url} sent more than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge {
        /// Where the request went.
        url: Url,
    },
    /// The body is not the JSON expected.
    #[error("{url} sent an invalid document: {problem}")]
    Invalid {
        /// Where the request went.
        url: Url,
        /// What is wrong with it.
        problem: String,
    },
    /// The last fetch failed a moment ago; not asked again yet.
    #[error("{url} failed a moment ago, not asked again yet: {problem}")]
    RecentlyFailed {
        /// Where the failed request went.
        url: Url,
        /// Why it failed.
        problem: String,
    },
}

/// A document and how long its server says it may be cached.
#[derive(Debug)]
pub struct Fetched {
    /// The raw body.
    pub body: Vec<u8>,
    /// `Cache-Control: max-age`, when the server sent one.
    pub max_age: Option<Duration>,
}

/// An HTTP client for the identity provider's documents. Cheap to clone (one connection pool).
#[derive(Debug, Clone)]
pub struct HttpFetcher {
    client: reqwest::Client,
}

impl HttpFetcher {
    /// A client with connect and overall timeouts that follows redirects only to https or loopback URLs.
    ///
    /// # Errors
    /// When the TLS backend cannot be set up.
    pub fn new() -> Result<Self, reqwest::Error> {
        let redirects = reqwest::redirect::Policy::custom(|attempt| {
            if attempt.previous().len() >= 5 {
                attempt.error("too many redirects")
            } else if attempt.url().scheme() == "https" || is_loopback(attempt.url()) {
                attempt.follow()
            } else {
                attempt.error("redirect to plain http refused")
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(10))
            .redirect(redirects)
            .user_agent(concat!("protected-api/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client })
    }

    /// GETs `url`, reading at most 512 KiB (`MAX_DOCUMENT_BYTES`).
    ///
    /// # Errors
    /// A [`FetchError`] for network failures, non-2xx answers and oversized bodies.
    pub async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.send(url, self.client.get(url.clone())).await
    }

    /// GETs the JWK set at `url` and keeps its usable keys.
    ///
    /// # Errors
    /// As [`HttpFetcher::get`], plus [`FetchError::Invalid`] when the body is not a JWK set.
    pub async fn get_key_set(&self, url: &Url) -> Result<(KeySet, Option<Duration>), FetchError> {
        let fetched = self.get(url).await?;
        let set = KeySet::from_json(&fetched.body).map_err(|problem| FetchError::Invalid {
            url: url.clone(),
            problem,
        })?;
        if set.is_empty() {
            // A valid answer, if an odd one: tokens will be refused as signed by unknown keys.
            tracing::warn!(%url, "the provider's key set holds no usable signing key");
        }
        Ok((set, fetched.max_age))
    }

    /// GETs `url` with `token` as bearer (a userinfo request) and parses the JSON answer.
    ///
    /// # Errors
    /// As [`HttpFetcher::get_json`].
    pub async fn get_json_as<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        token: &str,
    ) -> Result<T, FetchError> {
        let fetched = self
            .send(url, self.client.get(url.clone()).bearer_auth(token))
            .await?;
        parse(url, &fetched.body)
    }

    /// POSTs a form to `url` (a token request) and parses the JSON answer, whatever its status: OAuth
    /// errors come as JSON with 4xx.
    ///
    /// # Errors
    /// Network failures, oversized or non-JSON bodies.
    pub async fn post_form<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<(reqwest::StatusCode, T), FetchError> {
        let request = self.client.post(url.clone()).form(form);
        let (status, body) = self.read(url, request).await?;
        Ok((status, parse(url, &body)?))
    }

    /// POSTs a form to `url` as the client `client_id` with HTTP Basic authentication, both parts
    /// form-encoded first as RFC 6749 §2.3.1 requires, and returns the body of a 2xx answer.
    ///
    /// # Errors
    /// As [`HttpFetcher::get`].
    pub async fn post_form_basic(
        &self,
        url: &Url,
        form: &[(&str, &str)],
        client_id: &str,
        client_secret: &Secret,
    ) -> Result<Vec<u8>, FetchError> {
        // RFC 6749 §2.3.1: `application/x-www-form-urlencoded` before Basic, so a `:` or `%` in
        // either part cannot be misread by the server.
        let encode = |value: &str| url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
        let user: String = encode(client_id);
        let password: String = encode(client_secret.expose());
        let request = self
            .client
            .post(url.clone())
            .basic_auth(user, Some(password))
            .form(form);
        Ok(self.send(url, request).await?.body)
    }

    async fn send(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<Fetched, FetchError> {
        let (status, max_age, body) = self.read_with_age(url, request).await?;
        if !status.is_success() {
            return Err(FetchError::Status {
                url: url.clone(),
                status,
            });
        }
        Ok(Fetched { body, max_age })
    }

    async fn read(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Vec<u8>), FetchError> {
        let (status, _, body) = self.read_with_age(url, request).await?;
        Ok((status, body))
    }

    /// Sends `request` and reads at most [`MAX_DOCUMENT_BYTES`] of its answer.
    async fn read_with_age(
        &self,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<(reqwest::StatusCode, Option<Duration>, Vec<u8>), FetchError> {
        let http = |source| FetchError::Http {
            url: url.clone(),
            source,
        };
        let mut response = request
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(http)?;
        if response
            .content_length()
            .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(FetchError::TooLarge { url: url.clone() });
        }
        let max_age = response
            .headers()
            .get(CACHE_CONTROL)
            .and_then(|value| value.to_str().ok())
            .and_then(max_age);
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
                return Err(FetchError::TooLarge { url: url.clone() });
            }
            body.extend_from_slice(&chunk);
        }
        Ok((response.status(), max_age, body))
    }

    /// GETs `url` and parses the body as `T`.
    ///
    /// # Errors
    /// As [`HttpFetcher::get`], plus [`FetchError::Invalid`] when the body is not a `T`.
    pub async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
    ) -> Result<(T, Option<Duration>), FetchError> {
        let fetched = self.get(url).await?;
        let value = serde_json::from_slice(&fetched.body).map_err(|error| FetchError::Invalid {
            url: url.clone(),
            problem: error.to_string(),
        })?;
        Ok((value, fetched.max_age))
    }
}

fn parse<T: serde::de::DeserializeOwned>(url: &Url, body: &[u8]) -> Result<T, FetchError> {
    serde_json::from_slice(body).map_err(|error| FetchError::Invalid {
        url: url.clone(),
        problem: error.to_string(),
    })
}

/// `max-age` from a `Cache-Control` value; `no-store`/`no-cache` count as zero.
pub(super) fn max_age(cache_control: &str) -> Option<Duration> {
    let mut age = None;
    for directive in cache_control.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(Duration::ZERO);
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            age = seconds
                .trim_matches('"')
                .parse()
                .ok()
                .map(Duration::from_secs);
        }
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_age_is_read_from_cache_control() {
        assert_eq!(
            max_age("public, max-age=19800, must-revalidate"),
            Some(Duration::from_secs(19800))
        );
        assert_eq!(max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(max_age("public"), None);
        assert_eq!(max_age("max-age=abc"), None);
    }
}
