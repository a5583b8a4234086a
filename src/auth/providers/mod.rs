//! Identity providers: each module maps its `[SECTION]` to a [`ProviderSpec`] (issuer, audience, keys,
//! algorithms, claim names) plus the extra token rules that provider needs.

mod auth0;
mod cognito;
mod fief;
mod firebase;
mod oidc;

use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use url::Url;

use crate::auth::error::TokenError;
use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;
use crate::config::secret::Secret;
use crate::config::urls::{parse_http_url, require_https_or_loopback};

/// Which identity provider issues the tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    /// The embedded development issuer.
    #[cfg(feature = "local-issuer")]
    Local,
    /// Auth0.
    Auth0,
    /// AWS Cognito user pools.
    Cognito,
    /// Firebase Authentication (Google securetoken).
    Firebase,
    /// Fief.
    Fief,
    /// Any OpenID Connect provider found by discovery (Keycloak, Okta, Zitadel, Entra ID…).
    Oidc,
}

/// Where the verification keys come from. Never from the token itself (RFC 8725 §3.10).
#[derive(Debug, Clone)]
pub enum KeySource {
    /// The embedded issuer's own key set, held in process. A build without the `local-issuer`
    /// feature refuses to start with it (`StartError::NoLocalIssuer`).
    Local,
    /// A configured JWKS URI.
    JwksUri(Url),
    /// The `jwks_uri` of the issuer's OpenID discovery document.
    Discover(Url),
}

/// Extra checks a provider needs beyond `iss`, `aud`, `exp`, `nbf` and `iat`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderRules {
    /// Nothing beyond the registered claims.
    Standard,
    /// Cognito: `token_use` is `access` and `client_id` is the app client.
    Cognito {
        /// The app client id (`[COGNITO] CLIENT_ID`).
        client_id: String,
    },
    /// Firebase: `sub` non-empty and `auth_time` not in the future.
    Firebase,
}

/// A dotted path into the token payload, such as `realm_access.roles`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimPath(Vec<String>);

impl ClaimPath {
    /// Splits `path` on dots.
    pub fn new(path: &str) -> Self {
        Self(path.split('.').map(str::to_owned).collect())
    }

    /// The value at this path, if every step exists. A whole key that contains dots (as namespaced claims
    /// such as `https://example.com/roles` do) is tried first.
    pub fn lookup<'a>(&self, payload: &'a Map<String, Value>) -> Option<&'a Value> {
        if let Some(value) = payload.get(&self.0.join(".")) {
            return Some(value);
        }
        let (first, rest) = self.0.split_first()?;
        rest.iter()
            .try_fold(payload.get(first)?, |value, step| value.get(step))
    }
}

impl std::fmt::Display for ClaimPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("."))
    }
}

/// The provider's endpoints a browser or Swagger UI uses to log in; `None` where it has none or they are
/// discovered at run time.
#[derive(Debug, Clone, Default)]
pub struct LoginEndpoints {
    /// Authorization endpoint (implicit and code flows).
    pub authorize: Option<Url>,
    /// Token endpoint (code exchange).
    pub token: Option<Url>,
    /// OpenID userinfo endpoint.
    pub userinfo: Option<Url>,
    /// Extra query parameters for the authorization request (Auth0's `audience`).
    pub authorize_params: Vec<(String, String)>,
}

/// Everything the verifier and the login flows need to know about the configured provider.
#[derive(Debug, Clone)]
pub struct ProviderSpec {
    /// Which provider this is.
    pub kind: ProviderKind,
    /// The exact `iss` tokens must carry.
    pub issuer: String,
    /// `aud` must contain one of these; empty when the provider's rules check the client instead (Cognito).
    pub audiences: Vec<String>,
    /// Algorithms accepted in the token header (asymmetric only).
    pub algorithms: Vec<Algorithm>,
    /// Where keys come from.
    pub keys: KeySource,
    /// Claim holding scopes (`scope`, space-separated); `scp` is always tried as well.
    pub scope_claim: ClaimPath,
    /// Claim holding permissions (Auth0 `permissions`, Cognito `cognito:groups`, …).
    pub permissions_claim: ClaimPath,
    /// Extra checks.
    pub rules: ProviderRules,
    /// OAuth client id for browser login and Swagger UI, when configured.
    pub client_id: Option<String>,
    /// The client secret for the code exchange of the browser login (a confidential client, as Fief's).
    pub client_secret: Option<Secret>,
    /// Login endpoints, when known from configuration.
    pub login: LoginEndpoints,
    /// How this issuer's opaque (non-JWT) access tokens are introspected (RFC 7662); `None` when it
    /// has no introspection configured, so such tokens are refused.
    pub introspection: Option<IntrospectionSettings>,
}

/// `[OIDC] INTROSPECTION_*`: the issuer's token introspection endpoint (RFC 7662) and the client
/// credentials this API presents to it.
#[derive(Debug, Clone)]
pub struct IntrospectionSettings {
    /// `INTROSPECTION_URI`; `None` to use the discovered `introspection_endpoint`.
    pub endpoint: Option<Url>,
    /// `INTROSPECTION_CLIENT_ID`.
    pub client_id: String,
    /// `INTROSPECTION_CLIENT_SECRET`, sent with HTTP Basic (RFC 7662 §2.1), never logged.
    pub client_secret: Secret,
}

impl ProviderSpec {
    /// The provider's name as `[AUTH] PROVIDER` spells it.
    pub fn name(&self) -> &'static str {
        match self.kind {
            #[cfg(feature = "local-issuer")]
            ProviderKind::Local => "local",
            ProviderKind::Auth0 => "auth0",
            ProviderKind::Cognito => "cognito",
            ProviderKind::Firebase => "firebase",
            ProviderKind::Fief => "fief",
            ProviderKind::Oidc => "oidc",
        }
    }

    /// Applies the provider's extra rules to a payload whose signature and registered claims are valid.
    ///
    /// # Errors
    /// The [`TokenError`] naming the rule that failed.
    pub fn check_rules(
        &self,
        payload: &Map<String, Value>,
        purpose: TokenPurpose,
        now: u64,
        leeway: u64,
    ) -> Result<(), TokenError> {
        match (&self.rules, purpose) {
            (ProviderRules::Standard, _) => Ok(()),
            (ProviderRules::Cognito { client_id }, TokenPurpose::Access) => {
                cognito::check_access_token(payload, client_id)
            }
            (ProviderRules::Cognito { .. }, TokenPurpose::Id) => cognito::check_id_token(payload),
            (ProviderRules::Firebase, _) => firebase::check(payload, now, leeway),
        }
    }

    /// The audience an ID token must name: the provider's client id (Firebase: the project id).
    pub fn id_token_audience(&self) -> Option<&str> {
        match self.kind {
            ProviderKind::Firebase => self.audiences.first().map(String::as_str),
            _ => self.client_id.as_deref(),
        }
    }
}

/// What a token is presented as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenPurpose {
    /// An access token for this API (`Authorization: Bearer`).
    Access,
    /// An OpenID Connect ID token describing the user (`X-Id-Token`).
    Id,
}

/// Every name `[AUTH] PROVIDER` takes in this build, for the error that lists them.
#[cfg(feature = "local-issuer")]
const PROVIDER_NAMES: &str = "local, auth0, cognito, firebase, fief or oidc";
/// Every name `[AUTH] PROVIDER` takes in this build, for the error that lists them.
#[cfg(not(feature = "local-issuer"))]
const PROVIDER_NAMES: &str = "auth0, cognito, firebase, fief or oidc";

/// Builds the specs of the identity provider `name` from its section: one per issuer, several when its
/// `ISSUER` is a list (`auth0`, `oidc`). The embedded issuer (`local`) is not one of them: its spec
/// comes from `crate::issuer::provider`, so this module never reaches into it.
///
/// # Errors
/// An unknown provider, or the first missing or malformed key of its section.
pub fn specs(name: &str, raw: &RawSettings) -> Result<Vec<ProviderSpec>, ConfigError> {
    match name {
        "auth0" => auth0::specs(raw),
        "cognito" => cognito::spec(raw).map(|spec| vec![spec]),
        "firebase" => firebase::spec(raw).map(|spec| vec![spec]),
        "fief" => fief::spec(raw).map(|spec| vec![spec]),
        "oidc" => oidc::specs(raw),
        other => Err(ConfigError::key(
            "AUTH",
            "PROVIDER",
            format!("unknown provider {other:?}; expected {PROVIDER_NAMES}"),
        )),
    }
}

/// `ALGORITHMS` as a list of asymmetric algorithms, `RS256` when unset.
fn algorithms(raw: &RawSettings, section: &str) -> Result<Vec<Algorithm>, ConfigError> {
    let Some(list) = raw.get(section, "ALGORITHMS") else {
        return Ok(vec![Algorithm::RS256]);
    };
    let mut algorithms = Vec::new();
    for name in list.split([',', ' ']).filter(|name| !name.is_empty()) {
        let algorithm: Algorithm = name.parse().map_err(|_| {
            ConfigError::key(section, "ALGORITHMS", format!("unknown algorithm {name:?}"))
        })?;
        if matches!(
            algorithm,
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
        ) {
            // RFC 8725 §3.1: a verifier holding public keys must never accept HMAC.
            return Err(ConfigError::key(
                section,
                "ALGORITHMS",
                format!("{name} is symmetric; use RS/PS/ES/EdDSA"),
            ));
        }
        algorithms.push(algorithm);
    }
    if algorithms.is_empty() {
        return Err(ConfigError::key(section, "ALGORITHMS", "empty"));
    }
    Ok(algorithms)
}

/// `JWKS_URI` when set, else `default`; either must be https or loopback.
fn jwks_uri(raw: &RawSettings, section: &str, default: &str) -> Result<KeySource, ConfigError> {
    let url = match raw.url(section, "JWKS_URI")? {
        Some(url) => url,
        None => parse_http_url(section, "JWKS_URI", default)?,
    };
    require_https_or_loopback(section, "JWKS_URI", &url)?;
    Ok(KeySource::JwksUri(url))
}

/// `ISSUER` when set, else `default`, as written (issuers are compared as exact strings).
fn issuer(raw: &RawSettings, section: &str, default: String) -> Result<String, ConfigError> {
    match raw.get(section, "ISSUER") {
        Some(value) => {
            parse_http_url(section, "ISSUER", value)?;
            Ok(value.to_owned())
        }
        None => Ok(default),
    }
}

/// `[section] ISSUER` as a comma-separated list of exact issuers, each an http(s) URL; `None` when
/// unset. Several realms or tenants share the section's other settings.
///
/// # Errors
/// An empty entry, a malformed URL, or an issuer listed twice.
fn issuer_list(raw: &RawSettings, section: &str) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(list) = raw.get(section, "ISSUER") else {
        return Ok(None);
    };
    let mut issuers: Vec<String> = Vec::new();
    for issuer in list.split(',').map(str::trim) {
        if issuer.is_empty() {
            return Err(ConfigError::key(
                section,
                "ISSUER",
                "empty entry in the list (a stray comma?)",
            ));
        }
        parse_http_url(section, "ISSUER", issuer)?;
        // `https://a` and `https://a/` are two strings to the `iss` check but one provider to a
        // person: listing both is a typo, not a second issuer.
        let same = |earlier: &String| earlier.trim_end_matches('/') == issuer.trim_end_matches('/');
        if issuers.iter().any(same) {
            return Err(ConfigError::key(
                section,
                "ISSUER",
                format!("{issuer:?} is listed twice"),
            ));
        }
        issuers.push(issuer.to_owned());
    }
    Ok(Some(issuers))
}

/// A key that names one endpoint cannot serve several issuers: each has its own.
fn single_issuer_only(raw: &RawSettings, section: &str, key: &str) -> Result<(), ConfigError> {
    if raw.get(section, key).is_some() {
        return Err(ConfigError::key(
            section,
            key,
            "cannot be set with several ISSUERs: each issuer's own is used",
        ));
    }
    Ok(())
}

/// A URL under `base` (which may or may not end in a slash).
fn endpoint(base: &str, path: &str) -> Option<Url> {
    Url::parse(&format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    ))
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn claim_paths_follow_dots_and_prefer_whole_namespaced_keys() {
        let payload = json!({"realm_access": {"roles": ["admin"]}, "https://x.io/roles": ["r"]});
        let payload = payload.as_object().unwrap();
        assert_eq!(
            ClaimPath::new("realm_access.roles").lookup(payload),
            Some(&json!(["admin"]))
        );
        assert_eq!(
            ClaimPath::new("https://x.io/roles").lookup(payload),
            Some(&json!(["r"]))
        );
        assert_eq!(ClaimPath::new("realm_access.missing").lookup(payload), None);
    }
}
