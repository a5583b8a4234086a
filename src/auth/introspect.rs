//! Token introspection (RFC 7662): the [`Introspect`] trait through which the verifier asks an issuer
//! about an opaque access token, and [`RemoteIntrospector`], which asks the issuer's introspection
//! endpoint over HTTP.
//!
//! An introspector only fetches the answer. What the answer must say to be accepted (`active`, `iss`,
//! `aud`, `exp`, `nbf`), how long it is cached and how concurrent requests share one call are the
//! verifier's, so they hold for every introspector alike, the remote one and one plugged in by code.

use std::fmt::Debug;
use std::future::Future;
use std::pin::Pin;

use serde_json::{Map, Value};
use url::Url;

use super::discovery::Discovery;
use super::fetch::{FetchError, HttpFetcher};
use super::providers::IntrospectionSettings;
use crate::config::secret::Secret;
use crate::config::urls::is_loopback;

/// What [`Introspect::introspect`] returns: the introspection answer, a JSON object.
pub type IntrospectFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Map<String, Value>, IntrospectError>> + Send + 'a>>;

/// Asks an issuer whether an opaque access token is active and what it grants (RFC 7662 §2).
///
/// Implemented by [`RemoteIntrospector`]; the embedded issuer, or any code of yours, can answer in
/// process instead and be attached with [`crate::auth::Verifier::attach_introspector`]. The answer is
/// returned as the issuer gave it: the verifier then requires `active: true` (a JSON boolean) and
/// checks `iss`, `aud`, `exp` and `nbf`, and caches it, the same for every implementation.
pub trait Introspect: Send + Sync + Debug {
    /// The introspection answer for `token` (RFC 7662 §2.2): a JSON object with at least `active`.
    ///
    /// # Errors
    /// An [`IntrospectError`] when no answer can be had; the request is then refused with 503 and
    /// nothing is cached.
    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectFuture<'a>;

    /// Whether asking costs a call to another service. A remote introspector is held to a bound on
    /// calls under way at once, so a flood of made-up tokens cannot make this service flood the
    /// issuer; one answering in process (a database lookup) returns `false` and is never queued.
    fn is_remote(&self) -> bool {
        true
    }
}

/// Why an introspection answer could not be had: 503 for the caller, the text for the log only.
#[derive(Debug, thiserror::Error)]
pub enum IntrospectError {
    /// The endpoint (or the discovery document naming it) could not be fetched, answered non-2xx,
    /// too much, or something that is not a JSON object.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The discovery document names no usable `introspection_endpoint`.
    #[error("the discovery document of {issuer} names no https introspection_endpoint")]
    NoEndpoint {
        /// The issuer whose discovery document was read.
        issuer: String,
    },
    /// Too many introspections were under way and none finished in time to make room: this service's
    /// bound on outbound calls, not the issuer's failure.
    #[error("too many token introspections under way")]
    Busy,
    /// An in-process introspector failed (its database, say).
    #[error("introspection failed: {0}")]
    Failed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Where [`RemoteIntrospector`] sends its requests.
#[derive(Debug)]
enum EndpointSource {
    /// `[OIDC] INTROSPECTION_URI`.
    Configured(Url),
    /// The `introspection_endpoint` of the issuer's discovery document.
    Discovered(Discovery),
}

/// Introspects tokens at an issuer's introspection endpoint: `POST token=…&token_type_hint=access_token`
/// authenticated with the configured client's credentials in HTTP Basic (RFC 7662 §2.1), with the
/// timeouts and size cap of [`HttpFetcher`].
#[derive(Debug)]
pub struct RemoteIntrospector {
    endpoint: EndpointSource,
    client_id: String,
    client_secret: Secret,
    http: HttpFetcher,
}

impl RemoteIntrospector {
    /// An introspector for `settings`: its configured endpoint, else the one `discovery` names.
    pub fn new(settings: &IntrospectionSettings, discovery: Discovery, http: HttpFetcher) -> Self {
        let endpoint = match &settings.endpoint {
            Some(url) => EndpointSource::Configured(url.clone()),
            None => EndpointSource::Discovered(discovery),
        };
        Self {
            endpoint,
            client_id: settings.client_id.clone(),
            client_secret: settings.client_secret.clone(),
            http,
        }
    }

    /// The endpoint to ask: configured, or read from the (cached) discovery document.
    async fn endpoint(&self) -> Result<Url, IntrospectError> {
        match &self.endpoint {
            EndpointSource::Configured(url) => Ok(url.clone()),
            EndpointSource::Discovered(discovery) => {
                let document = discovery.document().await?;
                // The token and the client secret go there: https, or loopback for local IdPs, as
                // for every URL configured by hand.
                document
                    .introspection_endpoint
                    .clone()
                    .filter(|url| url.scheme() == "https" || is_loopback(url))
                    .ok_or_else(|| IntrospectError::NoEndpoint {
                        issuer: document.issuer.clone(),
                    })
            }
        }
    }

    async fn ask(&self, token: &str) -> Result<Map<String, Value>, IntrospectError> {
        let url = self.endpoint().await?;
        // RFC 7662 §2.1: the token, with a hint that it is an access token.
        let form = [("token", token), ("token_type_hint", "access_token")];
        let body = self
            .http
            .post_form_basic(&url, &form, &self.client_id, &self.client_secret)
            .await?;
        serde_json::from_slice(&body).map_err(|error| {
            IntrospectError::Fetch(FetchError::Invalid {
                url,
                problem: error.to_string(),
            })
        })
    }
}

impl Introspect for RemoteIntrospector {
    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectFuture<'a> {
        Box::pin(self.ask(token))
    }
}
