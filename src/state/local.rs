//! The local issuer's part of [`AppState`](super::AppState): opened for its keys while the verifier
//! is put together, then given its routes' state around that verifier.

use std::sync::Arc;

use super::StartError;
use crate::auth::{DpopVerifier, KeyStore, Verifier};
use crate::config::Settings;
pub(super) use crate::issuer::IssuerState;
use crate::issuer::{LocalIssuer, StoredTokens, TokenFormat};

/// The local issuer between the two steps: opened when a provider's keys are its own
/// ([`crate::auth::providers::KeySource::Local`]), waiting for the verifier its routes need.
#[derive(Debug, Default)]
pub(super) struct PendingIssuer {
    /// The issuer, and its index in [`Settings::providers`].
    opened: Option<(usize, LocalIssuer)>,
}

impl PendingIssuer {
    /// Opens the local issuer (its signing key, created on first start) and returns its key set for
    /// the provider at `index`.
    ///
    /// # Errors
    /// When the key file cannot be read, written or parsed.
    pub(super) fn key_store(
        &mut self,
        settings: &Settings,
        index: usize,
    ) -> Result<KeyStore, StartError> {
        let issuer = LocalIssuer::open(&settings.local)?;
        let keys = KeyStore::fixed(issuer.key_set());
        self.opened = Some((index, issuer));
        Ok(keys)
    }

    /// The state of the issuer's routes, when one was opened: its accounts database and client
    /// credentials, with `verifier` checking its tokens and `dpop` its proofs.
    ///
    /// # Errors
    /// When the database cannot be opened or migrated, or the credentials file read or written.
    pub(super) async fn open(
        self,
        settings: &Settings,
        verifier: &Verifier,
        dpop: &DpopVerifier,
    ) -> Result<Option<IssuerState>, StartError> {
        let Some((index, issuer)) = self.opened else {
            return Ok(None);
        };
        let state = IssuerState::open(settings, issuer, verifier.clone(), dpop.clone()).await?;
        if state.issuer.token_format() == TokenFormat::Opaque {
            // Its own tokens are looked up in its database, not fetched from its own endpoint.
            let stored = Arc::new(StoredTokens(state.accounts.clone()));
            // The index is the issuer's own, in the verifier just built: this cannot fail.
            let _ = verifier.attach_introspector(index, stored);
        }
        Ok(Some(state))
    }
}
