//! The embedded development issuer as a provider: its own issuer, audience and in-process key set.

use jsonwebtoken::Algorithm;
use url::Url;

use super::WEB_CLIENT_ID;
use super::settings::LocalSettings;
use crate::auth::providers::{
    ClaimPath, KeySource, LoginEndpoints, ProviderKind, ProviderRules, ProviderSpec,
};

/// The local issuer signs RS256 tokens with `permissions` as Auth0 does.
pub fn spec(local: &LocalSettings) -> ProviderSpec {
    // `local.issuer` has no trailing slash (see `settings::parse`), so the routes append as written.
    let endpoint = |path: &str| Url::parse(&format!("{}/{path}", local.issuer)).ok();
    ProviderSpec {
        kind: ProviderKind::Local,
        issuer: local.issuer.clone(),
        audiences: vec![local.audience.clone()],
        algorithms: vec![Algorithm::RS256],
        keys: KeySource::Local,
        scope_claim: ClaimPath::new("scope"),
        permissions_claim: ClaimPath::new("permissions"),
        rules: ProviderRules::Standard,
        client_id: Some(WEB_CLIENT_ID.to_owned()),
        client_secret: None,
        introspection: None,
        login: LoginEndpoints {
            authorize: endpoint("authorize"),
            token: endpoint("oauth/token"),
            userinfo: endpoint("userinfo"),
            authorize_params: Vec::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_endpoints_are_the_issuers_own_routes() {
        let local = crate::issuer::settings::parse(&Default::default(), "http://127.0.0.1:8000");
        let spec = spec(&local.unwrap());
        assert_eq!(spec.issuer, "http://127.0.0.1:8000");
        let url = |endpoint: Option<Url>| endpoint.map(String::from);
        assert_eq!(
            url(spec.login.authorize).as_deref(),
            Some("http://127.0.0.1:8000/authorize")
        );
        assert_eq!(
            url(spec.login.token).as_deref(),
            Some("http://127.0.0.1:8000/oauth/token")
        );
        assert_eq!(
            url(spec.login.userinfo).as_deref(),
            Some("http://127.0.0.1:8000/userinfo")
        );
    }
}
