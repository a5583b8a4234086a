//! Fief: tokens for a client of a Fief tenant at `[FIEF] BASE_URL`.

use jsonwebtoken::Algorithm;

use super::{
    ClaimPath, LoginEndpoints, ProviderKind, ProviderRules, ProviderSpec, endpoint, issuer,
    jwks_uri,
};
use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;
use crate::config::secret::Secret;
use crate::config::urls::parse_http_url;

pub(super) fn spec(raw: &RawSettings) -> Result<ProviderSpec, ConfigError> {
    let base = parse_http_url("FIEF", "BASE_URL", raw.required("FIEF", "BASE_URL")?)?;
    let base = base.as_str().trim_end_matches('/').to_owned();
    let client_id = raw.required("FIEF", "CLIENT_ID")?.to_owned();
    Ok(ProviderSpec {
        kind: ProviderKind::Fief,
        issuer: issuer(raw, "FIEF", base.clone())?,
        // Fief access tokens name the client they were issued to as audience.
        audiences: vec![client_id.clone()],
        algorithms: vec![Algorithm::RS256],
        keys: jwks_uri(raw, "FIEF", &format!("{base}/.well-known/jwks.json"))?,
        scope_claim: ClaimPath::new("scope"),
        permissions_claim: ClaimPath::new("permissions"),
        rules: ProviderRules::Standard,
        client_id: Some(client_id),
        client_secret: raw.get("FIEF", "CLIENT_SECRET").map(Secret::new),
        introspection: None,
        login: LoginEndpoints {
            authorize: endpoint(&base, "authorize"),
            token: endpoint(&base, "api/token"),
            userinfo: endpoint(&base, "api/userinfo"),
            authorize_params: Vec::new(),
        },
    })
}
