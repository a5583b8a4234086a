//! `[LOCAL]` in a build without the `local-issuer` feature: the same names as `config/local.rs`, so
//! `Settings` is put together the same way in every build. There is no issuer to configure, so
//! naming `local`, or naming no provider at all, is refused with one line that says what to set.

use super::ServerSettings;
use super::error::ConfigError;
use super::raw::RawSettings;
use crate::auth::providers::ProviderSpec;

/// `[LOCAL]` in a binary built without the embedded issuer: nothing is read from it.
#[derive(Debug, Clone)]
pub struct LocalSettings;

/// Nothing to read: the section's keys configure an issuer this binary does not have.
///
/// # Errors
/// Never; the signature is the one `config/local.rs` has.
pub(super) fn parse(_: &RawSettings, _: &ServerSettings) -> Result<LocalSettings, ConfigError> {
    Ok(LocalSettings)
}

/// `[AUTH] PROVIDER = local` in a binary built without the issuer.
///
/// # Errors
/// Always: the setting and the feature that brings it back.
pub(super) fn local_provider(
    _: &LocalSettings,
    _: &ServerSettings,
) -> Result<ProviderSpec, ConfigError> {
    Err(ConfigError::needs_feature(
        "AUTH",
        "PROVIDER",
        "local",
        "local-issuer",
    ))
}

/// No provider named, and no development issuer to fall back on: the reader has to name one.
///
/// # Errors
/// Always: `[AUTH] PROVIDER: missing`, with the names it takes.
pub(super) fn default_provider(
    _: &LocalSettings,
    _: &ServerSettings,
) -> Result<ProviderSpec, ConfigError> {
    Err(ConfigError::key(
        "AUTH",
        "PROVIDER",
        "missing; this binary has no local issuer (feature local-issuer), so name a provider: \
         auth0, cognito, firebase, fief or oidc",
    ))
}
