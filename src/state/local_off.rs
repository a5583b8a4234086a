//! The local issuer's part of [`AppState`](super::AppState) in a build without the `local-issuer`
//! feature: the same names as `state/local.rs`, so `AppState::new` reads the same in every build.
//!
//! The config refuses `PROVIDER = local` in this build, so a provider whose keys are the local
//! issuer's only arrives in a `Settings` edited by hand, and is refused by name.

use super::StartError;
use crate::auth::{DpopVerifier, KeyStore, Verifier};
use crate::config::Settings;

/// No local issuer in this build: the type has no values, so [`super::Handles::issuer`] is `None`.
#[derive(Debug, Clone)]
pub enum IssuerState {}

/// Nothing to open in this build. Braced rather than a unit struct, so `PendingIssuer::default()`
/// is written the same in both builds (clippy asks for the bare name of a unit struct).
#[derive(Debug, Default)]
pub(super) struct PendingIssuer {}

impl PendingIssuer {
    /// The local issuer's keys, which this build does not have.
    ///
    /// # Errors
    /// Always [`StartError::NoLocalIssuer`].
    pub(super) fn key_store(&mut self, _: &Settings, _: usize) -> Result<KeyStore, StartError> {
        Err(StartError::NoLocalIssuer)
    }

    /// No issuer was opened, so there are no routes to give a state.
    ///
    /// # Errors
    /// Never; the signature is the one `state/local.rs` has.
    pub(super) async fn open(
        self,
        _: &Settings,
        _: &Verifier,
        _: &DpopVerifier,
    ) -> Result<Option<IssuerState>, StartError> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::providers::KeySource;
    use crate::config::Settings;
    use crate::state::{AppState, StartError};

    #[tokio::test]
    async fn a_provider_keyed_by_the_local_issuer_is_refused_by_name() {
        let mut settings = Settings::from_pairs([
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", "https://idp.example.com"),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap();
        settings.provider.keys = KeySource::Local;
        let error = AppState::new(settings).await.unwrap_err();
        assert!(matches!(error, StartError::NoLocalIssuer), "{error:?}");
        assert_eq!(
            error.to_string(),
            "the local issuer's keys need the local-issuer feature, which this binary was built \
             without"
        );
    }
}
