//! `IssuerState`: what the local issuer's handlers share, opened once at start from the settings.

use axum::extract::FromRef;

use super::login::FailedLogins;
use super::{ClientCredentials, CredentialsOrigin, IssuerError, LocalIssuer};
use crate::auth::{DpopVerifier, Verifier};
use crate::config::{Secret, Settings};
use crate::store::AccountStore;

/// What the issuer's routes need. Cheap to clone: every field is a handle or a short list.
#[derive(Debug, Clone)]
pub struct IssuerState {
    /// The signer.
    pub issuer: LocalIssuer,
    /// The one confidential client allowed to use `client_credentials`.
    pub client: ClientCredentials,
    /// Scopes granted to the confidential client when it asks for none: `[AUTH] SCOPE` and `PERMISSION`.
    pub default_scopes: Vec<String>,
    /// Scopes a person may be granted: `openid profile email` and `[AUTH] SCOPE`.
    pub user_scopes: Vec<String>,
    /// Where `/authorize` may redirect to (exact match).
    pub redirect_uris: Vec<String>,
    /// Checks access tokens presented to `/userinfo`.
    pub verifier: Verifier,
    /// Checks DPoP proofs: at `/userinfo`, and at `/oauth/token` to bind a token to a key.
    pub dpop: DpopVerifier,
    /// Local accounts.
    pub accounts: AccountStore,
    /// Per-client-address failed-login counts (password grant and login form).
    pub failures: FailedLogins,
    /// Whether the login form's cookie gets `Secure`: [`crate::config::ServerSettings::secure_cookies`].
    pub secure_cookies: bool,
}

impl FromRef<IssuerState> for Verifier {
    fn from_ref(state: &IssuerState) -> Self {
        state.verifier.clone()
    }
}

impl FromRef<IssuerState> for DpopVerifier {
    fn from_ref(state: &IssuerState) -> Self {
        state.dpop.clone()
    }
}

impl IssuerState {
    /// Opens the accounts database and the client credentials named by `settings`, around `issuer`
    /// (already opened: its keys are the verifier's), the `verifier` that checks its tokens and the
    /// service's `dpop` proof checker (one replay store for the whole service).
    ///
    /// # Errors
    /// When the database cannot be opened or migrated, or the credentials file read or written.
    pub async fn open(
        settings: &Settings,
        issuer: LocalIssuer,
        verifier: Verifier,
        dpop: DpopVerifier,
    ) -> Result<Self, IssuerError> {
        let accounts = AccountStore::open(&settings.local.database_url).await?;
        let configured = settings
            .local
            .client_id
            .as_deref()
            .zip(settings.local.client_secret.as_ref().map(Secret::expose));
        let file = settings.local.data_dir.join("client.json");
        let (client, origin) = ClientCredentials::load_or_create(configured, &file)?;
        match origin {
            // The secret stays in the 0600 file: logs are collected, shipped and kept where anyone on
            // the team may read them.
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
        let redirect_uris = redirect_uris(settings, &issuer);
        Ok(Self {
            issuer,
            client,
            default_scopes,
            user_scopes,
            redirect_uris,
            verifier,
            dpop,
            accounts,
            failures: FailedLogins::default(),
            secure_cookies: settings.server.secure_cookies(),
        })
    }
}

/// The redirect URIs the local issuer accepts. Beside other issuers, its browser logins come back to
/// `/auth-callback/N`, never to `/auth-callback`: that one belongs to the first issuer, and a code
/// sent there would be redeemed at the first issuer's token endpoint (a mix-up, RFC 9700 §4.4).
fn redirect_uris(settings: &Settings, issuer: &LocalIssuer) -> Vec<String> {
    let mut uris = settings.local.redirect_uris.clone();
    let base = settings.server.public_base();
    let first_issuers = format!("{base}/auth-callback");
    let position = settings
        .providers()
        .position(|spec| spec.issuer == issuer.issuer());
    if let Some(position) = position.filter(|position| *position != 0)
        && uris.contains(&first_issuers)
    {
        uris.retain(|uri| *uri != first_issuers);
        uris.push(format!("{base}{}", crate::auth::callback_path(position)));
    }
    uris
}
