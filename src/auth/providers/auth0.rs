//! Auth0: `[AUTH0] DOMAIN` and `API_AUDIENCE`, as in Auth0's own FastAPI tutorial.

use super::{
    ClaimPath, LoginEndpoints, ProviderKind, ProviderRules, ProviderSpec, algorithms, endpoint,
    issuer, jwks_uri,
};
use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;

pub(super) fn spec(raw: &RawSettings) -> Result<ProviderSpec, ConfigError> {
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
    let audience = raw.required("AUTH0", "API_AUDIENCE")?.to_owned();
    Ok(ProviderSpec {
        kind: ProviderKind::Auth0,
        issuer: issuer(raw, "AUTH0", format!("{base}/"))?,
        audiences: vec![audience.clone()],
        algorithms: algorithms(raw, "AUTH0")?,
        keys: jwks_uri(raw, "AUTH0", &format!("{base}/.well-known/jwks.json"))?,
        scope_claim: ClaimPath::new("scope"),
        permissions_claim: ClaimPath::new("permissions"),
        rules: ProviderRules::Standard,
        client_id: raw.get("AUTH0", "CLIENT_ID").map(str::to_owned),
        client_secret: None,
        login: LoginEndpoints {
            authorize: endpoint(&base, "authorize"),
            token: endpoint(&base, "oauth/token"),
            userinfo: endpoint(&base, "userinfo"),
            // Without `audience`, Auth0 issues an opaque token that no API can verify.
            authorize_params: vec![("audience".to_owned(), audience)],
        },
    })
}
