//! Auth0: `[AUTH0] DOMAIN` and `API_AUDIENCE`, as in Auth0's own FastAPI tutorial. `ISSUER` may list
//! several issuers of one tenant (a custom domain next to the tenant domain, during a migration).

use super::{
    ClaimPath, LoginEndpoints, ProviderKind, ProviderRules, ProviderSpec, algorithms, endpoint,
    issuer_list, jwks_uri, single_issuer_only,
};
use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;

pub(super) fn specs(raw: &RawSettings) -> Result<Vec<ProviderSpec>, ConfigError> {
    // Accept `your.domain.auth0.com` as the tutorial writes it, or a pasted `https://…/`.
    let domain = raw.required("AUTH0", "DOMAIN")?;
    let domain = domain.trim_start_matches("https://").trim_end_matches('/');
    if domain.is_empty() || domain.contains(['/', ' ']) {
        return Err(ConfigError::key(
            "AUTH0",
            "DOMAIN",
            format!("expected a host name such as tenant.eu.auth0.com, got {domain:?}"),
        ));
    }
    let base = format!("https://{domain}");
    match issuer_list(raw, "AUTH0")? {
        None => Ok(vec![spec(raw, &base, format!("{base}/"), &base)?]),
        Some(issuers) if issuers.len() == 1 => {
            Ok(vec![spec(raw, &base, issuers[0].clone(), &base)?])
        }
        Some(issuers) => {
            // Auth0 serves the tenant's keys, login pages and userinfo under each of its domains,
            // and names as `iss` the domain the login went through: each issuer is asked at its
            // own, so keys never cross issuers and a login's tokens come from the issuer chosen.
            single_issuer_only(raw, "AUTH0", "JWKS_URI")?;
            issuers
                .into_iter()
                .map(|issuer| {
                    let own = issuer.trim_end_matches('/').to_owned();
                    spec(raw, &own, issuer, &own)
                })
                .collect()
        }
    }
}

/// The spec of one `issuer` of the tenant: its login pages under `base`, keys and userinfo under
/// `keys_base`.
fn spec(
    raw: &RawSettings,
    base: &str,
    issuer: String,
    keys_base: &str,
) -> Result<ProviderSpec, ConfigError> {
    let audience = raw.required("AUTH0", "API_AUDIENCE")?.to_owned();
    Ok(ProviderSpec {
        kind: ProviderKind::Auth0,
        issuer,
        audiences: vec![audience.clone()],
        algorithms: algorithms(raw, "AUTH0")?,
        keys: jwks_uri(raw, "AUTH0", &format!("{keys_base}/.well-known/jwks.json"))?,
        scope_claim: ClaimPath::new("scope"),
        permissions_claim: ClaimPath::new("permissions"),
        rules: ProviderRules::Standard,
        client_id: raw.get("AUTH0", "CLIENT_ID").map(str::to_owned),
        client_secret: None,
        introspection: None,
        login: LoginEndpoints {
            authorize: endpoint(base, "authorize"),
            token: endpoint(base, "oauth/token"),
            userinfo: endpoint(keys_base, "userinfo"),
            // Without `audience`, Auth0 issues an opaque token that no API can verify.
            authorize_params: vec![("audience".to_owned(), audience)],
        },
    })
}
