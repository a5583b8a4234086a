//! Any OpenID Connect provider: keys and login endpoints from `ISSUER/.well-known/openid-configuration`
//! unless configured.

use super::{
    ClaimPath, KeySource, LoginEndpoints, ProviderKind, ProviderRules, ProviderSpec, algorithms,
    jwks_uri,
};
use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;
use crate::config::urls::{parse_http_url, require_https_or_loopback};

pub(super) fn spec(raw: &RawSettings) -> Result<ProviderSpec, ConfigError> {
    let issuer = raw.required("OIDC", "ISSUER")?.to_owned();
    let issuer_url = parse_http_url("OIDC", "ISSUER", &issuer)?;
    let keys = if raw.get("OIDC", "JWKS_URI").is_some() {
        jwks_uri(raw, "OIDC", "")?
    } else {
        // Discovery happens over the issuer URL, so it too must be https or loopback.
        require_https_or_loopback("OIDC", "ISSUER", &issuer_url)?;
        KeySource::Discover(issuer_url)
    };
    let userinfo = raw.url("OIDC", "USERINFO_URI")?;
    if let Some(url) = &userinfo {
        require_https_or_loopback("OIDC", "USERINFO_URI", url)?;
    }
    Ok(ProviderSpec {
        kind: ProviderKind::Oidc,
        issuer,
        audiences: vec![raw.required("OIDC", "AUDIENCE")?.to_owned()],
        algorithms: algorithms(raw, "OIDC")?,
        keys,
        scope_claim: ClaimPath::new(raw.get("OIDC", "SCOPE_CLAIM").unwrap_or("scope")),
        permissions_claim: ClaimPath::new(
            raw.get("OIDC", "PERMISSIONS_CLAIM")
                .unwrap_or("permissions"),
        ),
        rules: ProviderRules::Standard,
        client_id: raw.get("OIDC", "CLIENT_ID").map(str::to_owned),
        client_secret: None,
        login: LoginEndpoints {
            userinfo,
            ..LoginEndpoints::default()
        },
    })
}
