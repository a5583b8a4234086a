//! `[LOCAL]` in a build with the embedded issuer: the section is parsed once, kept in
//! [`Settings::local`](super::Settings::local), and made the issuer's provider spec when `[AUTH]
//! PROVIDER` names `local`, or names nothing.

use super::ServerSettings;
use super::error::ConfigError;
use super::raw::RawSettings;
use crate::auth::providers::ProviderSpec;
pub(super) use crate::issuer::LocalSettings;

/// `[LOCAL]`, typed and checked, whatever the provider: a malformed key is reported even while
/// another provider is selected.
///
/// # Errors
/// The first `[LOCAL]` key that is malformed.
pub(super) fn parse(
    raw: &RawSettings,
    server: &ServerSettings,
) -> Result<LocalSettings, ConfigError> {
    crate::issuer::settings::parse(raw, &server.public_base())
}

/// `[AUTH] PROVIDER = local`: the embedded issuer, on loopback unless `[LOCAL] ALLOW_NETWORK`.
///
/// # Errors
/// `[LOCAL] ALLOW_NETWORK` when the service binds a network address without it.
pub(super) fn local_provider(
    local: &LocalSettings,
    server: &ServerSettings,
) -> Result<ProviderSpec, ConfigError> {
    local.check_bind_address(server.addr.ip())?;
    Ok(crate::issuer::provider::spec(local))
}

/// No provider named: the embedded development issuer, so a fresh clone runs with no settings.
///
/// # Errors
/// As [`local_provider`].
pub(super) fn default_provider(
    local: &LocalSettings,
    server: &ServerSettings,
) -> Result<ProviderSpec, ConfigError> {
    local_provider(local, server)
}
