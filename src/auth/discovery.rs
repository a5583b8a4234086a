//! OpenID Connect discovery (`ISSUER/.well-known/openid-configuration`), checked at start, fetched
//! lazily and cached; a document naming another issuer is refused and reported.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use serde::Deserialize;
use tokio::sync::Mutex;
use url::Url;

use super::fetch::{FetchError, HttpFetcher};
use crate::config::urls::is_loopback;

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
    /// Token introspection (RFC 7662; RFC 8414 §2).
    #[serde(default)]
    pub introspection_endpoint: Option<Url>,
    /// RFC 9207 §3: the provider names itself (`iss`) in every authorization response.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// The configured issuer and the one a discovery document names, when they differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerMismatch {
    /// `ISSUER` as configured, which tokens' `iss` must equal.
    pub configured_issuer: String,
    /// The `issuer` of the provider's discovery document.
    pub discovered_issuer: String,
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
    /// Set by a document that names another issuer, cleared by one that names ours.
    mismatch: RwLock<Option<IssuerMismatch>>,
    /// The last failed fetch and why: no new fetch before `retry_after` has passed, so pages that
    /// consult the document (`/login`, `/docs`, `/api/user`) cannot turn an outage or a
    /// misconfiguration into one request to the provider each.
    failure: RwLock<Option<(Instant, String)>>,
    retry_after: Duration,
    fetching: Mutex<()>,
}

impl Discovery {
    /// Discovery for `issuer`, the configured string as written (tokens' `iss` must equal it), whose
    /// parsed form is `issuer_url`. The document lives under `issuer` + `/.well-known/openid-configuration`.
    /// After a failed fetch, the next one waits `retry_after` (`[AUTH] JWKS_MIN_REFRESH`).
    pub fn new(issuer: &str, issuer_url: &Url, http: HttpFetcher, retry_after: Duration) -> Self {
        let base = issuer_url.as_str().trim_end_matches('/');
        let url = Url::parse(&format!("{base}/.well-known/openid-configuration"))
            .unwrap_or_else(|_| issuer_url.clone());
        Self {
            inner: Arc::new(Inner {
                issuer: issuer.to_owned(),
                url,
                http,
                document: RwLock::new(None),
                mismatch: RwLock::new(None),
                failure: RwLock::new(None),
                retry_after,
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

    /// The configured and the discovered issuer, when the last document fetched named another issuer
    /// than the configured one (for `/readyz`).
    pub fn issuer_mismatch(&self) -> Option<IssuerMismatch> {
        self.inner
            .mismatch
            .read()
            .ok()
            .and_then(|mismatch| mismatch.clone())
    }

    /// Fetches the document once at start, without holding start-up up, so that a configuration
    /// mistake shows in the first lines of the log, before any request needs keys. An
    /// unreachable provider is only noted: it is normal at start, keys are fetched when needed, and
    /// `/readyz` tells.
    pub async fn check_at_start(self) {
        match self.document().await {
            Ok(_) => {}
            Err(_) if self.issuer_mismatch().is_some() => {} // `document` logged both strings
            Err(error) => {
                tracing::warn!(
                    %error,
                    "the discovery document could not be fetched at start; retrying when keys are needed"
                );
            }
        }
    }

    /// The document, fetched now if it has not been yet.
    ///
    /// # Errors
    /// When it cannot be fetched, does not parse, names another issuer, or points at plain-http keys;
    /// [`FetchError::RecentlyFailed`] without asking again while the last failure is recent.
    pub async fn document(&self) -> Result<Arc<DiscoveryDocument>, FetchError> {
        if let Some(document) = self.cached() {
            return Ok(document);
        }
        let _one_at_a_time = self.inner.fetching.lock().await;
        if let Some(document) = self.cached() {
            return Ok(document);
        }
        // Checked under the lock, so requests that queued behind a failing fetch do not each
        // repeat it.
        self.recent_failure()?;
        let document = match self.fetch().await {
            Ok(document) => document,
            Err(error) => {
                if let Ok(mut slot) = self.inner.failure.write() {
                    *slot = Some((Instant::now(), error.to_string()));
                }
                return Err(error);
            }
        };
        if let Ok(mut slot) = self.inner.failure.write() {
            *slot = None;
        }
        let document = Arc::new(document);
        if let Ok(mut slot) = self.inner.document.write() {
            *slot = Some(document.clone());
        }
        tracing::info!(jwks_uri = %document.jwks_uri, "OpenID discovery document loaded");
        Ok(document)
    }

    fn recent_failure(&self) -> Result<(), FetchError> {
        let failure = self.inner.failure.read().ok().and_then(|slot| slot.clone());
        match failure {
            Some((at, problem)) if at.elapsed() < self.inner.retry_after => {
                Err(FetchError::RecentlyFailed {
                    url: self.inner.url.clone(),
                    problem,
                })
            }
            _ => Ok(()),
        }
    }

    async fn fetch(&self) -> Result<DiscoveryDocument, FetchError> {
        let (document, _) = self
            .inner
            .http
            .get_json::<DiscoveryDocument>(&self.inner.url)
            .await?;
        self.check_issuer(&document)?;
        self.check(&document)?;
        Ok(document)
    }

    /// OpenID Connect Discovery §4.3: the document's `issuer` must be identical to the issuer asked
    /// about, or the document must not be used. Compared exactly, as tokens' `iss` is (RFC 7519
    /// §4.1.1): a trailing slash on one side only is a mismatch, and every token would fail.
    fn check_issuer(&self, document: &DiscoveryDocument) -> Result<(), FetchError> {
        let mismatch = (document.issuer != self.inner.issuer).then(|| IssuerMismatch {
            configured_issuer: self.inner.issuer.clone(),
            discovered_issuer: document.issuer.clone(),
        });
        if let Ok(mut slot) = self.inner.mismatch.write() {
            slot.clone_from(&mismatch);
        }
        let Some(mismatch) = mismatch else {
            return Ok(());
        };
        tracing::error!(
            configured_issuer = %mismatch.configured_issuer,
            discovered_issuer = %mismatch.discovered_issuer,
            "the discovery document names another issuer than ISSUER; set ISSUER to the discovered one"
        );
        Err(FetchError::Invalid {
            url: self.inner.url.clone(),
            problem: format!(
                "issuer {:?} is not the configured {:?}",
                mismatch.discovered_issuer, mismatch.configured_issuer
            ),
        })
    }

    fn check(&self, document: &DiscoveryDocument) -> Result<(), FetchError> {
        let invalid = |problem: String| FetchError::Invalid {
            url: self.inner.url.clone(),
            problem,
        };
        if document.jwks_uri.scheme() != "https" && !is_loopback(&document.jwks_uri) {
            return Err(invalid(format!(
                "jwks_uri {} is not https",
                document.jwks_uri
            )));
        }
        Ok(())
    }
}
