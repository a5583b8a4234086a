//! Any OpenID Connect provider: keys and login endpoints from `ISSUER/.well-known/openid-configuration`
//! unless configured. `ISSUER` may list several issuers (two Keycloak realms) sharing the other keys.

use super::{
    ClaimPath, KeySource, LoginEndpoints, ProviderKind, ProviderRules, ProviderSpec, algorithms,
    issuer_list, jwks_uri, single_issuer_only,
};
use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;
use crate::config::urls::{parse_http_url, require_https_or_loopback};

pub(super) fn specs(raw: &RawSettings) -> Result<Vec<ProviderSpec>, ConfigError> {
    let issuers =
        issuer_list(raw, "OIDC")?.ok_or_else(|| ConfigError::key("OIDC", "ISSUER", "missing"))?;
    if issuers.len() > 1 {
        single_issuer_only(raw, "OIDC", "JWKS_URI")?;
        single_issuer_only(raw, "OIDC", "USERINFO_URI")?;
    }
    issuers
        .into_iter()
        .map(|issuer| spec(raw, issuer))
        .collect()
}

fn spec(raw: &RawSettings, issuer: String) -> Result<ProviderSpec, ConfigError> {
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
