//! `[LOCAL]`: the development issuer's settings, and the rule that keeps its open sign-up off the network.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::error::ConfigError;
use crate::config::raw::RawSettings;
use crate::config::secret::Secret;
use crate::config::urls::parse_http_url;

/// `[LOCAL]`: the embedded development issuer.
#[derive(Debug, Clone)]
pub struct LocalSettings {
    /// `iss` of the tokens it signs.
    pub issuer: String,
    /// `aud` of the tokens it signs.
    pub audience: String,
    /// PEM file of the RSA signing key (created on first start).
    pub key_file: PathBuf,
    /// Lifetime of the tokens it signs.
    pub token_ttl: Duration,
    /// Where local state lives (key, client credentials, database).
    pub data_dir: PathBuf,
    /// SQLite URL for local accounts.
    pub database_url: String,
    /// The `client_credentials` client id; generated and stored in `data_dir` when unset.
    pub client_id: Option<String>,
    /// The `client_credentials` client secret; generated and stored in `data_dir` when unset.
    pub client_secret: Option<Secret>,
    /// Where `/authorize` may send codes and tokens (exact match).
    pub redirect_uris: Vec<String>,
    /// Whether the issuer (open sign-up) may serve a non-loopback address.
    pub allow_network: bool,
    /// What its access tokens look like: signed JWTs, or random strings kept in the accounts database.
    pub token_format: TokenFormat,
}

/// `[LOCAL] TOKEN_FORMAT`: the shape of the access tokens the local issuer hands out. ID tokens are
/// JWTs either way (OpenID Connect Core §2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TokenFormat {
    /// RS256 JWTs (RFC 9068) any resource server can check with the published keys.
    #[default]
    Jwt,
    /// 256-bit random strings that mean nothing outside the issuer: a resource server asks
    /// `POST /oauth/introspect` (RFC 7662) what they grant, as with Ory Hydra or Zitadel.
    Opaque,
}

impl std::str::FromStr for TokenFormat {
    type Err = ();

    fn from_str(value: &str) -> Result<Self, ()> {
        match value.to_ascii_lowercase().as_str() {
            "jwt" => Ok(Self::Jwt),
            "opaque" => Ok(Self::Opaque),
            _ => Err(()),
        }
    }
}

/// `[LOCAL]`, typed and checked. `public_base` is `[SERVER] PUBLIC_URL` without its trailing slash: the
/// default issuer, and the base of the default redirect URIs.
///
/// # Errors
/// The first `[LOCAL]` key that is malformed.
pub fn parse(raw: &RawSettings, public_base: &str) -> Result<LocalSettings, ConfigError> {
    let data_dir = PathBuf::from(raw.get("LOCAL", "DATA_DIR").unwrap_or(".data"));
    let key_file = raw
        .get("LOCAL", "KEY_FILE")
        .map_or_else(|| data_dir.join("signing-key.pem"), PathBuf::from);
    let database_url = raw.get("LOCAL", "DATABASE_URL").map_or_else(
        || {
            format!(
                "sqlite://{}?mode=rwc",
                data_dir.join("accounts.db").display()
            )
        },
        str::to_owned,
    );
    let issuer = match raw.url("LOCAL", "ISSUER")? {
        Some(url) => url.as_str().trim_end_matches('/').to_owned(),
        None => public_base.to_owned(),
    };
    let token_ttl = raw.seconds_or("LOCAL", "TOKEN_TTL", 3600)?;
    if token_ttl.is_zero() {
        return Err(ConfigError::key(
            "LOCAL",
            "TOKEN_TTL",
            "must be at least 1 second",
        ));
    }
    let client_id = raw.get("LOCAL", "CLIENT_ID").map(str::to_owned);
    let client_secret = raw.get("LOCAL", "CLIENT_SECRET").map(Secret::new);
    if client_id.is_some() != client_secret.is_some() {
        let missing = if client_id.is_some() {
            "CLIENT_SECRET"
        } else {
            "CLIENT_ID"
        };
        return Err(ConfigError::key(
            "LOCAL",
            missing,
            "CLIENT_ID and CLIENT_SECRET are set together",
        ));
    }
    let redirect_uris = match raw.get("LOCAL", "REDIRECT_URIS") {
        Some(list) => list
            .split([',', ' '])
            .filter(|uri| !uri.is_empty())
            .map(|uri| parse_http_url("LOCAL", "REDIRECT_URIS", uri).map(|_| uri.to_owned()))
            .collect::<Result<_, _>>()?,
        None => vec![
            format!("{public_base}/docs/oauth2-redirect"),
            format!("{public_base}/auth-callback"),
        ],
    };
    Ok(LocalSettings {
        redirect_uris,
        allow_network: raw.flag_or("LOCAL", "ALLOW_NETWORK", false)?,
        token_format: raw.parse_or("LOCAL", "TOKEN_FORMAT", "jwt or opaque", TokenFormat::Jwt)?,
        issuer,
        audience: raw
            .get("LOCAL", "AUDIENCE")
            .unwrap_or("protected-api")
            .to_owned(),
        key_file,
        token_ttl,
        data_dir,
        database_url,
        client_id,
        client_secret,
    })
}

impl LocalSettings {
    /// Refuses to serve the issuer on `bind` unless it is a loopback address or `[LOCAL] ALLOW_NETWORK`
    /// is set: anyone who reaches the issuer can sign up and get tokens this API accepts.
    ///
    /// # Errors
    /// `[LOCAL] ALLOW_NETWORK: …`, one line saying which settings to pass instead.
    pub fn check_bind_address(&self, bind: IpAddr) -> Result<(), ConfigError> {
        if bind.is_loopback() || self.allow_network {
            return Ok(());
        }
        Err(ConfigError::key(
            "LOCAL",
            "ALLOW_NETWORK",
            format!(
                "the local development issuer lets anyone sign up, so it serves loopback only, \
                 not {bind}; configure a real provider (e.g. AUTH_PROVIDER=auth0 with AUTH0_DOMAIN \
                 and AUTH0_API_AUDIENCE, or AUTH_PROVIDER=oidc with OIDC_ISSUER and \
                 OIDC_AUDIENCE), or set LOCAL_ALLOW_NETWORK=true to expose it anyway"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(feature = "local-issuer")]
    fn the_local_issuer_refuses_a_network_address_unless_asked_by_name() {
        use crate::config::Settings;

        for host in ["0.0.0.0", "::", "192.0.2.10"] {
            let error = Settings::from_pairs([("SERVER_HOST", host)]).unwrap_err();
            let message = error.to_string();
            assert!(message.starts_with("[LOCAL] ALLOW_NETWORK: "), "{message}");
            assert!(!message.contains('\n'), "one line: {message}");
            let error = Settings::from_pairs([("SERVER_HOST", host), ("AUTH_PROVIDER", "LOCAL")]);
            assert!(error.is_err(), "{host}, provider named explicitly");
            let allowed =
                Settings::from_pairs([("SERVER_HOST", host), ("LOCAL_ALLOW_NETWORK", "true")]);
            assert!(allowed.is_ok(), "{host}: {allowed:?}");
        }
        for host in ["127.0.0.1", "127.1.2.3", "::1", "localhost"] {
            let settings = Settings::from_pairs([("SERVER_HOST", host)]);
            assert!(settings.is_ok(), "{host}: {settings:?}");
        }
        let real_provider = Settings::from_pairs([
            ("SERVER_HOST", "0.0.0.0"),
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", "https://idp.example.com"),
            ("OIDC_AUDIENCE", "api"),
        ]);
        assert!(real_provider.is_ok(), "{real_provider:?}");
        let typo =
            Settings::from_pairs([("SERVER_HOST", "0.0.0.0"), ("LOCAL_ALLOW_NETWORK", "ja")]);
        assert_eq!(
            typo.unwrap_err().to_string(),
            r#"[LOCAL] ALLOW_NETWORK: expected true or false, got "ja""#
        );
    }

    #[test]
    #[cfg(feature = "local-issuer")]
    fn debug_leaves_the_client_secret_out() {
        let settings = crate::config::Settings::from_pairs([
            ("LOCAL_CLIENT_ID", "client"),
            ("LOCAL_CLIENT_SECRET", "client-secret"),
        ])
        .unwrap();
        let printed = format!("{:?}", settings.local);
        assert!(!printed.contains("client-secret"), "{printed}");
        assert!(printed.contains("client"), "{printed}");
    }

    #[test]
    fn the_issuer_and_redirect_uris_default_to_the_public_url() {
        let local = super::parse(&Default::default(), "http://127.0.0.1:8000").unwrap();
        assert_eq!(local.issuer, "http://127.0.0.1:8000");
        assert_eq!(
            local.redirect_uris,
            [
                "http://127.0.0.1:8000/docs/oauth2-redirect",
                "http://127.0.0.1:8000/auth-callback"
            ]
        );
        assert!(!local.allow_network);
        assert_eq!(local.token_format, super::TokenFormat::Jwt);
    }

    #[test]
    #[cfg(feature = "local-issuer")]
    fn the_token_format_is_jwt_or_opaque_and_anything_else_is_refused_by_name() {
        use crate::config::Settings;

        let opaque = Settings::from_pairs([("LOCAL_TOKEN_FORMAT", "Opaque")]).unwrap();
        assert_eq!(opaque.local.token_format, super::TokenFormat::Opaque);
        let error = Settings::from_pairs([("LOCAL_TOKEN_FORMAT", "bogus")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"[LOCAL] TOKEN_FORMAT: expected jwt or opaque, got "bogus""#
        );
    }
}
