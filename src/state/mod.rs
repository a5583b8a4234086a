//! `AppState`, made of cheap handles, and the `FromRef` parts handlers ask for.
//!
//! The local issuer's part comes from `local.rs`, or from `local_off.rs` in a build without it.

#[cfg(feature = "local-issuer")]
mod local;
#[cfg(not(feature = "local-issuer"))]
#[path = "local_off.rs"]
mod local;

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;

use crate::auth::providers::KeySource;
use crate::auth::{
    Discovery, DpopVerifier, Endpoints, HttpFetcher, IntrospectionCache, KeyStore,
    RemoteIntrospector, Verifier,
};
use crate::config::Settings;
use crate::store::{CacheUrlError, UserInfoStore};
use local::{IssuerState, PendingIssuer};

/// Why the service could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The local issuer's key, client credentials or accounts database.
    #[cfg(feature = "local-issuer")]
    #[error(transparent)]
    Issuer(#[from] crate::issuer::IssuerError),
    /// The HTTP client for the provider's documents.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// No provider to trust (a `Settings` built by hand with none).
    #[error("no provider configured")]
    NoProvider,
    /// A provider whose keys are the local issuer's, in a binary built without it (a `Settings`
    /// edited by hand: the config refuses `PROVIDER = local` in such a build).
    #[cfg(not(feature = "local-issuer"))]
    #[error(
        "the local issuer's keys need the local-issuer feature, which this binary was built without"
    )]
    NoLocalIssuer,
    /// The user-info cache's URL.
    #[error(transparent)]
    Cache(#[from] CacheUrlError),
}

/// Everything handlers share, behind one `Arc`: axum clones the state for every request, and one
/// reference count costs less than one per handle. Read the handles as fields (`state.verifier`), or
/// ask for one with `State<Verifier>` and the like.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Handles>);

/// The handles inside [`AppState`]. Each is cheap to clone on its own.
#[derive(Debug)]
pub struct Handles {
    /// Verifies bearer tokens against the configured provider.
    pub verifier: Verifier,
    /// Checks DPoP proofs (RFC 9449) and remembers their `jti`.
    pub dpop: DpopVerifier,
    /// The settings the service started with.
    pub settings: Arc<Settings>,
    /// Every trusted issuer's discovery and endpoints, in the order of [`Settings::providers`]; never
    /// empty (read one with [`AppState::issuer`]).
    pub issuers: Vec<IssuerHandles>,
    /// The embedded issuer, when `[AUTH] PROVIDER = local`; always `None` in a build without the
    /// `local-issuer` feature.
    pub issuer: Option<IssuerState>,
    /// Answers of the provider's userinfo endpoint, cached.
    pub userinfo: UserInfoStore,
    /// The HTTP client for calls to the provider.
    pub http: HttpFetcher,
}

/// What the service holds about one trusted issuer besides its keys (those are in the [`Verifier`]).
#[derive(Debug, Clone)]
pub struct IssuerHandles {
    /// Its discovery document (OIDC), fetched lazily.
    pub discovery: Option<Discovery>,
    /// Its login, token, userinfo and logout endpoints: configured, else discovered.
    pub endpoints: Endpoints,
}

impl AppState {
    /// The handles of the issuer at `index` in [`Settings::providers`] (a token's
    /// [`crate::auth::Verified::issuer_index`]); the first issuer's for an index out of range.
    pub fn issuer(&self, index: usize) -> &IssuerHandles {
        // `new` refuses to build a state without an issuer, so there is always a first one.
        self.issuers.get(index).unwrap_or(&self.issuers[0])
    }
}

impl Deref for AppState {
    type Target = Handles;

    fn deref(&self) -> &Handles {
        &self.0
    }
}

/// `State<T>` for each handle: `FromRef<AppState>` that clones the one field.
macro_rules! handles_from_state {
    ($($field:ident: $handle:ty),* $(,)?) => {
        $(impl FromRef<AppState> for $handle {
            fn from_ref(state: &AppState) -> Self {
                state.$field.clone()
            }
        })*
    };
}

handles_from_state! {
    verifier: Verifier,
    dpop: DpopVerifier,
    settings: Arc<Settings>,
    userinfo: UserInfoStore,
    http: HttpFetcher,
    issuer: Option<IssuerState>,
}

impl AppState {
    /// Opens the local issuer (when selected) and sets up the key cache. Does not wait for the provider:
    /// its discovery document is checked in the background, the service starts while it is
    /// unreachable, and `/readyz` tells.
    ///
    /// # Errors
    /// When the local issuer's files cannot be read or created, or no HTTP client can be built.
    pub async fn new(settings: Settings) -> Result<Self, StartError> {
        let http = HttpFetcher::new()?;
        let ttl = settings.auth.jwks_ttl;
        let min_refresh = settings.auth.jwks_min_refresh;
        let mut local = PendingIssuer::default();
        let mut trusted = Vec::new();
        let mut issuers = Vec::new();
        let mut introspectors = Vec::new();
        for spec in settings.providers() {
            let mut discovery = None;
            // Each issuer gets its own key store: keys never cross issuers, even with equal `kid`s.
            let keys = match &spec.keys {
                KeySource::Local => local.key_store(&settings, trusted.len())?,
                KeySource::JwksUri(uri) => {
                    KeyStore::remote(uri.clone(), http.clone(), ttl, min_refresh)
                }
                KeySource::Discover(issuer_url) => {
                    let found = Discovery::new(&spec.issuer, issuer_url, http.clone(), min_refresh);
                    tokio::spawn(found.clone().check_at_start());
                    discovery = Some(found.clone());
                    KeyStore::discovered(found, http.clone(), ttl, min_refresh)
                }
            };
            if let Some(introspection) = &spec.introspection {
                // Keys from a configured JWKS_URI leave no discovery to read the endpoint from: one is
                // made for it (the config checked that the issuer is an http(s) URL).
                let found = match &discovery {
                    Some(found) => Some(found.clone()),
                    None => url::Url::parse(&spec.issuer).ok().map(|issuer_url| {
                        Discovery::new(&spec.issuer, &issuer_url, http.clone(), min_refresh)
                    }),
                };
                if let Some(found) = found {
                    let remote = RemoteIntrospector::new(introspection, found, http.clone());
                    introspectors.push((trusted.len(), Arc::new(remote)));
                }
            }
            let endpoints = Endpoints::new(spec.login.clone(), discovery.clone());
            issuers.push(IssuerHandles {
                discovery,
                endpoints,
            });
            trusted.push((spec.clone(), keys));
        }
        let mut trusted = trusted.into_iter();
        let Some(first) = trusted.next() else {
            // `Settings` always holds one provider; this keeps that promise out of the panic path.
            return Err(StartError::NoProvider);
        };
        let introspections = IntrospectionCache::new(&settings.cache)?;
        let verifier = Verifier::trusting_with(
            settings.auth.clone(),
            first,
            trusted.collect(),
            introspections,
        );
        for (index, introspector) in introspectors {
            // Each index is attached once, to an issuer that exists: this cannot fail.
            let _ = verifier.attach_introspector(index, introspector);
        }
        let dpop = DpopVerifier::new(&settings)?;
        let issuer = local.open(&settings, &verifier, &dpop).await?;
        let userinfo = UserInfoStore::new(&settings.cache, http.clone())?;
        Ok(Self(Arc::new(Handles {
            verifier,
            dpop,
            settings: Arc::new(settings),
            issuers,
            issuer,
            userinfo,
            http,
        })))
    }
}
