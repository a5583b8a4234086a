//! The provider's endpoints for browser login, code exchange, userinfo and logout: the configured one,
//! else the one its discovery document names. Resolved here, once, for every caller.

use std::sync::Arc;

use url::Url;

use super::discovery::{Discovery, DiscoveryDocument};
use super::providers::LoginEndpoints;

/// One of the provider's endpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Authorization endpoint (RFC 6749 §3.1): browser login.
    Authorize,
    /// Token endpoint (RFC 6749 §3.2): code exchange.
    Token,
    /// UserInfo endpoint (OpenID Connect Core §5.3).
    Userinfo,
    /// End-session endpoint (OpenID Connect RP-Initiated Logout §2). Never configured, only discovered.
    EndSession,
}

/// Where each [`Endpoint`] is: configured in the provider's settings, else discovered. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Endpoints {
    configured: Arc<LoginEndpoints>,
    discovery: Option<Discovery>,
}

impl Endpoints {
    /// The `configured` endpoints, falling back on `discovery` (OIDC) for the others.
    pub fn new(configured: LoginEndpoints, discovery: Option<Discovery>) -> Self {
        Self {
            configured: Arc::new(configured),
            discovery,
        }
    }

    /// The endpoint, configured or discovered; `None` when the provider has none, or its discovery
    /// document cannot be had now (the fetch is then not repeated for a while: see [`Discovery`]).
    /// The document is only fetched when the endpoint is not configured.
    pub async fn get(&self, endpoint: Endpoint) -> Option<Url> {
        if let Some(url) = self.configured(endpoint) {
            return Some(url.clone());
        }
        let document = self.discovery.as_ref()?.document().await.ok()?;
        discovered(&document, endpoint).cloned()
    }

    /// The endpoint, configured, else named in `document` (a discovery document the caller already
    /// holds, or `None`).
    pub fn configured_or(
        &self,
        endpoint: Endpoint,
        document: Option<&DiscoveryDocument>,
    ) -> Option<Url> {
        self.configured(endpoint)
            .or_else(|| discovered(document?, endpoint))
            .cloned()
    }

    fn configured(&self, endpoint: Endpoint) -> Option<&Url> {
        match endpoint {
            Endpoint::Authorize => self.configured.authorize.as_ref(),
            Endpoint::Token => self.configured.token.as_ref(),
            Endpoint::Userinfo => self.configured.userinfo.as_ref(),
            Endpoint::EndSession => None,
        }
    }
}

fn discovered(document: &DiscoveryDocument, endpoint: Endpoint) -> Option<&Url> {
    match endpoint {
        Endpoint::Authorize => document.authorization_endpoint.as_ref(),
        Endpoint::Token => document.token_endpoint.as_ref(),
        Endpoint::Userinfo => document.userinfo_endpoint.as_ref(),
        Endpoint::EndSession => document.end_session_endpoint.as_ref(),
    }
}

/// The path the issuer at `index` in [`crate::Settings::providers`] sends the browser back to:
/// `/auth-callback` for the first (so one issuer's setup never changes), `/auth-callback/N` for the
/// others. One redirect URI per issuer tells the callback which issuer answered before any code is
/// sent anywhere (RFC 9700 §4.4.2: a mix-up defence).
pub fn callback_path(index: usize) -> String {
    if index == 0 {
        "/auth-callback".to_owned()
    } else {
        format!("/auth-callback/{index}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn a_configured_endpoint_wins_over_the_discovered_one() {
        let endpoints = Endpoints::new(
            LoginEndpoints {
                token: Some(url("https://configured.example/token")),
                ..LoginEndpoints::default()
            },
            None,
        );
        let document: DiscoveryDocument = serde_json::from_value(serde_json::json!({
            "issuer": "https://idp.example",
            "jwks_uri": "https://idp.example/jwks",
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
            "end_session_endpoint": "https://idp.example/logout",
        }))
        .unwrap();
        let pick = |endpoint| endpoints.configured_or(endpoint, Some(&document));
        assert_eq!(
            pick(Endpoint::Token),
            Some(url("https://configured.example/token"))
        );
        assert_eq!(
            pick(Endpoint::Authorize),
            Some(url("https://idp.example/authorize"))
        );
        assert_eq!(
            pick(Endpoint::EndSession),
            Some(url("https://idp.example/logout"))
        );
        assert_eq!(pick(Endpoint::Userinfo), None);
        assert_eq!(endpoints.configured_or(Endpoint::Authorize, None), None);
    }

    #[tokio::test]
    async fn without_discovery_only_the_configured_endpoints_exist() {
        let endpoints = Endpoints::new(
            LoginEndpoints {
                userinfo: Some(url("https://configured.example/userinfo")),
                ..LoginEndpoints::default()
            },
            None,
        );
        assert!(endpoints.get(Endpoint::Userinfo).await.is_some());
        assert_eq!(endpoints.get(Endpoint::Authorize).await, None);
    }
}
