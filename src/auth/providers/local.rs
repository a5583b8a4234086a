//! The embedded development issuer as a provider: its own issuer, audience and in-process key set.

use jsonwebtoken::Algorithm;

use super::{
    ClaimPath, KeySource, LoginEndpoints, ProviderKind, ProviderRules, ProviderSpec, endpoint,
};
use crate::config::LocalSettings;

/// The local issuer signs RS256 tokens with `permissions` as Auth0 does.
pub(super) fn spec(local: &LocalSettings) -> ProviderSpec {
    ProviderSpec {
        kind: ProviderKind::Local,
        issuer: local.issuer.clone(),
        audiences: vec![local.audience.clone()],
        algorithms: vec![Algorithm::RS256],
        keys: KeySource::Local,
        scope_claim: ClaimPath::new("scope"),
        permissions_claim: ClaimPath::new("permissions"),
        rules: ProviderRules::Standard,
        client_id: Some(crate::issuer::WEB_CLIENT_ID.to_owned()),
        client_secret: None,
        login: LoginEndpoints {
            authorize: endpoint(&local.issuer, "authorize"),
            token: endpoint(&local.issuer, "oauth/token"),
            userinfo: endpoint(&local.issuer, "userinfo"),
            authorize_params: Vec::new(),
        },
    }
}
