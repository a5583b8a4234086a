//! `AppState`, made of cheap handles, and the `FromRef` parts handlers ask for.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;

use crate::auth::providers::KeySource;
use crate::auth::{Discovery, Endpoints, HttpFetcher, KeyStore, Verifier};
use crate::config::Settings;
use crate::issuer::routes::IssuerState;
use crate::issuer::{ClientCredentials, CredentialsOrigin, IssuerError, LocalIssuer};
use crate::store::{AccountStore, CacheUrlError, UserInfoStore};

/// Why the service could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The local issuer's key or client credentials.
    #[error(transparent)]
    Issuer(#[from] IssuerError),
    /// The HTTP client for the provider's documents.
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    /// The local accounts database.
    #[error("accounts database: {0}")]
    Database(#[from] sqlx::Error),
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
    /// The settings the service started with.
    pub settings: Arc<Settings>,
    /// The provider's discovery document (OIDC), fetched lazily.
    pub discovery: Option<Discovery>,
    /// The provider's login, token, userinfo and logout endpoints: configured, else discovered.
    pub endpoints: Endpoints,
    /// The embedded issuer, when `[AUTH] PROVIDER = local`.
    pub issuer: Option<IssuerState>,
    /// Local accounts, when `[AUTH] PROVIDER = local`.
    pub accounts: Option<AccountStore>,
    /// Answers of the provider's userinfo endpoint, cached.
    pub userinfo: UserInfoStore,
    /// The HTTP client for calls to the provider.
    pub http: HttpFetcher,
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
    settings: Arc<Settings>,
    discovery: Option<Discovery>,
    endpoints: Endpoints,
    issuer: Option<IssuerState>,
    accounts: Option<AccountStore>,
    userinfo: UserInfoStore,
    http: HttpFetcher,
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
        let spec = settings.provider.clone();
        let ttl = settings.auth.jwks_ttl;
        let min_refresh = settings.auth.jwks_min_refresh;
        let mut discovery = None;
        let mut local = None;
        let keys = match &spec.keys {
            KeySource::Local => {
                let issuer = LocalIssuer::open(&settings.local)?;
                let keys = KeyStore::fixed(issuer.key_set());
                local = Some(issuer);
                keys
            }
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
        let endpoints = Endpoints::new(spec.login.clone(), discovery.clone());
        let verifier = Verifier::new(spec, settings.auth.clone(), keys);
        let (issuer, accounts) = match local {
            Some(local) => {
                let accounts = AccountStore::open(&settings.local.database_url).await?;
                (
                    Some(local_issuer_state(
                        &settings,
                        local,
                        verifier.clone(),
                        accounts.clone(),
                    )?),
                    Some(accounts),
                )
            }
            None => (None, None),
        };
        let userinfo = UserInfoStore::new(&settings.cache, http.clone())?;
        Ok(Self(Arc::new(Handles {
            verifier,
            settings: Arc::new(settings),
            discovery,
            endpoints,
            issuer,
            accounts,
            userinfo,
            http,
        })))
    }
}

fn local_issuer_state(
    settings: &Settings,
    issuer: LocalIssuer,
    verifier: Verifier,
    accounts: AccountStore,
) -> Result<IssuerState, IssuerError> {
    let configured = settings
        .local
        .client_id
        .as_deref()
        .zip(settings.local.client_secret.as_deref());
    let file = settings.local.data_dir.join("client.json");
    let (client, origin) = ClientCredentials::load_or_create(configured, &file)?;
    match origin {
        // The secret stays in the 0600 file: logs are collected, shipped and kept where anyone on the
        // team may read them.
        CredentialsOrigin::Generated => tracing::warn!(
            client_id = %client.client_id,
            file = %file.display(),
            "generated the local issuer's client credentials; the secret is in the file"
        ),
        CredentialsOrigin::Stored => {
            tracing::info!(client_id = %client.client_id, file = %file.display(), "local client credentials loaded");
        }
        CredentialsOrigin::Configured => {
            tracing::info!(client_id = %client.client_id, "local client from configuration")
        }
    }
    let default_scopes = vec![
        settings.auth.scope.clone(),
        settings.auth.permission.clone(),
    ];
    let user_scopes = ["openid", "profile", "email", settings.auth.scope.as_str()]
        .map(str::to_owned)
        .to_vec();
    Ok(IssuerState {
        issuer,
        client,
        default_scopes,
        user_scopes,
        redirect_uris: settings.local.redirect_uris.clone(),
        verifier,
        accounts,
        failures: crate::issuer::routes::FailedLogins::default(),
        secure_cookies: settings.server.secure_cookies(),
    })
}
