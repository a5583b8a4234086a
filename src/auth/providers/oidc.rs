//! Any OpenID Connect provider: keys and login endpoints from `ISSUER/.well-known/openid-configuration`
//! unless configured. `ISSUER` may list several issuers (two Keycloak realms) sharing the other keys.
//! With `INTROSPECTION_CLIENT_ID`, opaque access tokens are introspected (RFC 7662): at
//! `INTROSPECTION_URI` with one issuer, else at each issuer's discovered `introspection_endpoint`.

use super::{
    ClaimPath, IntrospectionSettings, KeySource, LoginEndpoints, ProviderKind, ProviderRules,
    ProviderSpec, algorithms, issuer_list, jwks_uri, single_issuer_only,
};
use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;
use crate::config::secret::Secret;
use crate::config::urls::{parse_http_url, require_https_or_loopback};

pub(super) fn specs(raw: &RawSettings) -> Result<Vec<ProviderSpec>, ConfigError> {
    let issuers =
        issuer_list(raw, "OIDC")?.ok_or_else(|| ConfigError::key("OIDC", "ISSUER", "missing"))?;
    if issuers.len() > 1 {
        single_issuer_only(raw, "OIDC", "JWKS_URI")?;
        single_issuer_only(raw, "OIDC", "USERINFO_URI")?;
        // Each issuer answers for its own tokens at its own discovered endpoint.
        single_issuer_only(raw, "OIDC", "INTROSPECTION_URI")?;
    }
    let introspection = introspection(raw)?;
    issuers
        .into_iter()
        .map(|issuer| spec(raw, issuer, introspection.clone()))
        .collect()
}

/// `INTROSPECTION_*`: introspection is on once a client id is set (RFC 7662 §2.1: the endpoint
/// requires the caller to authenticate, so there is no introspection without credentials).
fn introspection(raw: &RawSettings) -> Result<Option<IntrospectionSettings>, ConfigError> {
    let endpoint = raw.url("OIDC", "INTROSPECTION_URI")?;
    if let Some(url) = &endpoint {
        // The token and the client secret travel in this request: never over plain http elsewhere.
        require_https_or_loopback("OIDC", "INTROSPECTION_URI", url)?;
    }
    let Some(client_id) = raw.get("OIDC", "INTROSPECTION_CLIENT_ID") else {
        if endpoint.is_some() {
            return Err(ConfigError::key(
                "OIDC",
                "INTROSPECTION_CLIENT_ID",
                "missing: the introspection endpoint needs client credentials (RFC 7662 §2.1)",
            ));
        }
        if raw.get("OIDC", "INTROSPECTION_CLIENT_SECRET").is_some() {
            return Err(ConfigError::key(
                "OIDC",
                "INTROSPECTION_CLIENT_ID",
                "missing: INTROSPECTION_CLIENT_SECRET is set without it",
            ));
        }
        return Ok(None);
    };
    let client_secret = raw.required("OIDC", "INTROSPECTION_CLIENT_SECRET")?;
    Ok(Some(IntrospectionSettings {
        endpoint,
        client_id: client_id.to_owned(),
        client_secret: Secret::new(client_secret),
    }))
}

fn spec(
    raw: &RawSettings,
    issuer: String,
    introspection: Option<IntrospectionSettings>,
) -> Result<ProviderSpec, ConfigError> {
    let issuer_url = parse_http_url("OIDC", "ISSUER", &issuer)?;
    if introspection
        .as_ref()
        .is_some_and(|settings| settings.endpoint.is_none())
    {
        // The introspection endpoint is then discovered over the issuer URL.
        require_https_or_loopback("OIDC", "ISSUER", &issuer_url)?;
    }
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
        introspection,
    })
}
