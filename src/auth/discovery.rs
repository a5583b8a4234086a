//! OpenID Connect discovery (`ISSUER/.well-known/openid-configuration`), fetched lazily and cached.

use std::sync::{Arc, RwLock};

use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::fetch::{FetchError, HttpFetcher};
use crate::config::is_loopback;

/// The parts of a discovery document this service uses (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Clone, Deserialize)]
pub struct DiscoveryDocument {
    /// Must equal the configured issuer.
    pub issuer: String,
    /// Where the provider publishes its keys.
    pub jwks_uri: Url,
    /// Browser login.
    pub authorization_endpoint: Option<Url>,
    /// Code exchange.
    pub token_endpoint: Option<Url>,
    /// The current user's claims.
    pub userinfo_endpoint: Option<Url>,
    /// RP-initiated logout.
    pub end_session_endpoint: Option<Url>,
}

/// The issuer's discovery document, fetched on first use and kept; one fetch in flight at a time.
#[derive(Debug, Clone)]
pub struct Discovery {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    issuer: String,
    url: Url,
    http: HttpFetcher,
    document: RwLock<Option<Arc<DiscoveryDocument>>>,
    fetching: Mutex<()>,
}

impl Discovery {
    /// Discovery for `issuer` (the document lives under `issuer` + `/.well-known/openid-configuration`).
    pub fn new(issuer: &Url, http: HttpFetcher) -> Self {
        let base = issuer.as_str().trim_end_matches('/');
        let url = Url::parse(&format!("{base}/.well-known/openid-configuration"))
            .unwrap_or_else(|_| issuer.clone());
        Self {
            inner: Arc::new(Inner {
                issuer: issuer.as_str().to_owned(),
                url,
                http,
                document: RwLock::new(None),
                fetching: Mutex::new(()),
            }),
        }
    }

    /// The cached document, if it has been fetched.
    pub fn cached(&self) -> Option<Arc<DiscoveryDocument>> {
        self.inner
            .document
            .read()
            .ok()
            .and_then(|guard| guard.clone())
    }

    /// The document, fetched now if it has not been yet.
    ///
    /// # Errors
    /// When it cannot be fetched, does not parse, names another issuer, or points at plain-http keys.
    pub async fn document(&self) -> Result<Arc<DiscoveryDocument>, FetchError> {
        if let Some(document) = self.cached() {
            return Ok(document);
        }
        let _one_at_a_time = self.inner.fetching.lock().await;
        if let Some(document) = self.cached() {
            return Ok(document);
        }
        let (document, _) = self
            .inner
            .http
            .get_json::<DiscoveryDocument>(&self.inner.url)
            .await?;
        self.check(&document)?;
        let document = Arc::new(document);
        if let Ok(mut slot) = self.inner.document.write() {
            *slot = Some(document.clone());
        }
        tracing::info!(jwks_uri = %document.jwks_uri, "OpenID discovery document loaded");
        Ok(document)
    }

    fn check(&self, document: &DiscoveryDocument) -> Result<(), FetchError> {
        let invalid = |problem: String| FetchError::Invalid {
            url: self.inner.url.clone(),
            problem,
        };
        // OpenID Connect Discovery §4.3: the issuer in the document must be the one asked about.
        if document.issuer.trim_end_matches('/') != self.inner.issuer.trim_end_matches('/') {
            return Err(invalid(format!(
                "issuer {:?} is not the configured {:?}",
                document.issuer, self.inner.issuer
            )));
        }
        if document.jwks_uri.scheme() != "https" && !is_loopback(&document.jwks_uri) {
            return Err(invalid(format!(
                "jwks_uri {} is not https",
                document.jwks_uri
            )));
        }
        Ok(())
    }
}
