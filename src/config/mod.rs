//! `Settings`: built-in defaults < INI file < `SECTION_KEY` environment variables, parsed once into typed values.
//!
//! The leaf modules (`raw`, `error`, `urls`, `secret`) are all a provider's file needs to read its
//! section; this file puts the sections together, so it is the one place that knows every provider and
//! which Cargo features this binary was built with. `[LOCAL]` comes from `local.rs`, or from
//! `local_off.rs` in a build without the embedded issuer.

pub(crate) mod error;
#[cfg(feature = "local-issuer")]
mod local;
#[cfg(not(feature = "local-issuer"))]
#[path = "local_off.rs"]
mod local;
pub(crate) mod raw;
pub(crate) mod secret;
mod select;
pub(crate) mod urls;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use url::Url;

use crate::auth::DpopMode;
use crate::auth::providers::ProviderSpec;
use crate::server::ServerLimits;

pub use error::ConfigError;
pub use raw::{KNOWN_KEYS, RawSettings};
pub use secret::Secret;
pub use urls::{is_loopback, parse_http_url, require_https_or_loopback};

/// Where the log lines go and in which shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[SERVER]`: where the service listens and how it is reached.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// Address to bind.
    pub addr: SocketAddr,
    /// The URL clients use to reach the service (no trailing slash when rendered by [`Self::public_base`]).
    pub public_url: Url,
    /// Browser origins allowed by CORS; empty means CORS is off.
    pub cors_origins: Vec<String>,
    /// Whether `/metrics` is served and requests are counted.
    pub metrics: bool,
    /// Header-read timeout, connection cap and graceful-shutdown bound.
    pub limits: ServerLimits,
}

impl ServerSettings {
    /// `public_url` without its trailing slash, ready to have paths appended.
    pub fn public_base(&self) -> String {
        self.public_url.as_str().trim_end_matches('/').to_owned()
    }

    /// Whether cookies get `Secure`: when browsers reach the service over https (`public_url`), so a
    /// network attacker can neither read nor plant them over plain http. Every cookie the service
    /// sets follows this one rule.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }
}

/// `[AUTH]`: rules every provider shares.
#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// Clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: Duration,
    /// Tokens longer than this are refused before any parsing.
    pub max_token_bytes: usize,
    /// How long a fetched key set is trusted; `None` follows the IdP's `Cache-Control: max-age`, else 600 s.
    pub jwks_ttl: Option<Duration>,
    /// Least time between two fetches caused by an unknown `kid`.
    pub jwks_min_refresh: Duration,
    /// The scope `/api/private-scoped` needs.
    pub scope: String,
    /// The permission `/api/admin` needs.
    pub permission: String,
    /// Accept only access tokens typed `at+jwt` (RFC 9068), so an ID token never passes as one.
    pub require_at_jwt: bool,
    /// `[AUTH] DPOP`: whether `Authorization: DPoP` (RFC 9449) is accepted, or required.
    pub dpop: DpopMode,
}

/// `[CACHE]`: the user-info and introspection caches.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// `redis://…` to share the cache between replicas; `None` keeps it in process.
    pub url: Option<Url>,
    /// Longest time a userinfo answer is reused.
    pub userinfo_ttl: Duration,
    /// Longest time a token introspection answer (RFC 7662) is reused; never past the token's `exp`.
    pub introspection_ttl: Duration,
}

/// Every setting, typed and checked. Once a `Settings` exists, it is valid.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[SERVER]`.
    pub server: ServerSettings,
    /// `[AUTH]`.
    pub auth: AuthSettings,
    /// The first trusted issuer (the only one, unless `[AUTH] PROVIDER` or an `ISSUER` lists several),
    /// resolved into issuer, audience, keys and claim names. Browser login uses it by default.
    pub provider: ProviderSpec,
    /// The other trusted issuers, in the order configured; empty with one issuer. Each token is checked
    /// by the one issuer its `iss` names: see [`Settings::providers`].
    pub extra_providers: Vec<ProviderSpec>,
    /// `[LOCAL]` (used when the provider is `local`, and by the `token` command); empty in a build
    /// without the `local-issuer` feature.
    pub local: local::LocalSettings,
    /// `[CACHE]`.
    pub cache: CacheSettings,
    /// `[LOG] FORMAT`.
    pub log_format: LogFormat,
}

impl Settings {
    /// Every trusted issuer: [`Settings::provider`], then [`Settings::extra_providers`].
    pub fn providers(&self) -> impl Iterator<Item = &ProviderSpec> {
        std::iter::once(&self.provider).chain(&self.extra_providers)
    }

    /// Defaults, then `file` (or `.config` in the working directory when it exists), then the process
    /// environment.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first key that is missing, unknown or malformed.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let default_file = Path::new(".config");
        let file = file.or_else(|| default_file.is_file().then_some(default_file));
        Self::load_from(file, std::env::vars())
    }

    /// Like [`Settings::load`], with the environment given as pairs (tests pass their own).
    ///
    /// # Errors
    /// A [`ConfigError`] naming the first key that is missing, unknown or malformed.
    pub fn load_from(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut raw = RawSettings::default();
        if let Some(path) = file {
            raw.read_ini(path)?;
        }
        raw.read_env(env);
        raw.parse()
    }

    /// Settings from `SECTION_KEY` pairs alone, as if they were the environment and no file existed.
    ///
    /// # Errors
    /// As [`Settings::load`].
    pub fn from_pairs<K: ToString, V: ToString>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<Self, ConfigError> {
        Self::load_from(
            None,
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }
}

/// The sections, typed and checked; the wings' settings behind their features.
impl RawSettings {
    fn parse(&self) -> Result<Settings, ConfigError> {
        let server = self.server()?;
        let auth = self.auth()?;
        let local = local::parse(self, &server)?;
        let mut providers = self.providers(&server, &local)?.into_iter();
        let Some(provider) = providers.next() else {
            return Err(ConfigError::key("AUTH", "PROVIDER", "empty"));
        };
        Ok(Settings {
            local,
            server,
            auth,
            provider,
            extra_providers: providers.collect(),
            cache: CacheSettings {
                url: self.cache_url()?,
                userinfo_ttl: self.seconds_or("CACHE", "USERINFO_TTL", 300)?,
                introspection_ttl: self.seconds_or("CACHE", "INTROSPECTION_TTL", 60)?,
            },
            log_format: match self
                .get("LOG", "FORMAT")
                .map(str::to_ascii_lowercase)
                .as_deref()
            {
                None | Some("pretty") | Some("text") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError::key(
                        "LOG",
                        "FORMAT",
                        format!("expected pretty or json, got {other:?}"),
                    ));
                }
            },
        })
    }

    /// `[SERVER] METRICS`: on unless turned off.
    #[cfg(feature = "metrics")]
    fn metrics(&self) -> Result<bool, ConfigError> {
        self.flag_or("SERVER", "METRICS", true)
    }

    /// `[SERVER] METRICS` without the metrics feature: off, and asking for it is an error rather than a
    /// `/metrics` that silently is not there.
    #[cfg(not(feature = "metrics"))]
    fn metrics(&self) -> Result<bool, ConfigError> {
        if self.flag_or("SERVER", "METRICS", false)? {
            return Err(ConfigError::needs_feature(
                "SERVER", "METRICS", "true", "metrics",
            ));
        }
        Ok(false)
    }

    fn server(&self) -> Result<ServerSettings, ConfigError> {
        let host = match self.get("SERVER", "HOST") {
            None | Some("localhost") => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Some(host) => host.trim_matches(['[', ']']).parse().map_err(|_| {
                ConfigError::key(
                    "SERVER",
                    "HOST",
                    format!("expected an IP address such as 0.0.0.0, got {host:?}"),
                )
            })?,
        };
        let port: u16 = self.parse_or("SERVER", "PORT", "a port number (0-65535)", 8000)?;
        let addr = SocketAddr::new(host, port);
        let public_url = match self.url("SERVER", "PUBLIC_URL")? {
            Some(url) => url,
            None => {
                // A wildcard bind is not an address a browser can use: advertise loopback instead.
                let shown = if host.is_unspecified() {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                } else {
                    host
                };
                let shown = SocketAddr::new(shown, port);
                parse_http_url("SERVER", "PUBLIC_URL", &format!("http://{shown}"))?
            }
        };
        let mut cors_origins = Vec::new();
        for origin in self
            .get("SERVER", "CORS_ORIGINS")
            .unwrap_or("")
            .split([',', ' '])
        {
            match origin {
                "" => {}
                "*" => cors_origins.push(origin.to_owned()),
                // An origin is scheme://host[:port], nothing more (RFC 6454).
                _ => {
                    let url = parse_http_url("SERVER", "CORS_ORIGINS", origin)?;
                    if url.path() != "/" || url.query().is_some() || origin.ends_with('/') {
                        let problem =
                            format!("{origin:?} is not an origin (scheme://host[:port], no path)");
                        return Err(ConfigError::key("SERVER", "CORS_ORIGINS", problem));
                    }
                    cors_origins.push(origin.to_owned());
                }
            }
        }
        let metrics = self.metrics()?;
        Ok(ServerSettings {
            addr,
            public_url,
            cors_origins,
            metrics,
            limits: self.server_limits()?,
        })
    }

    fn server_limits(&self) -> Result<ServerLimits, ConfigError> {
        let default = ServerLimits::default();
        let limits = ServerLimits {
            // Zero would close every connection before its first request.
            header_timeout: self.seconds_up_to_a_day(
                "SERVER",
                "HEADER_TIMEOUT",
                1,
                default.header_timeout.as_secs(),
            )?,
            max_connections: self.parse_or(
                "SERVER",
                "MAX_CONNECTIONS",
                "a number of connections",
                default.max_connections,
            )?,
            shutdown_timeout: self.seconds_up_to_a_day(
                "SERVER",
                "SHUTDOWN_TIMEOUT",
                0,
                default.shutdown_timeout.as_secs(),
            )?,
        };
        // Zero would accept no connection at all.
        if limits.max_connections == 0 {
            return Err(ConfigError::key(
                "SERVER",
                "MAX_CONNECTIONS",
                "must be at least 1",
            ));
        }
        Ok(limits)
    }

    /// A whole number of seconds from `min` to one day, or `default` when unset.
    ///
    /// The server adds its timeouts to a clock reading (hyper's header timer, the write timer), which
    /// panics past the clock's range; a day is far more than any client needs, and far from that.
    fn seconds_up_to_a_day(
        &self,
        section: &str,
        key: &str,
        min: u64,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        const DAY: u64 = 24 * 60 * 60;
        let seconds = self.seconds_or(section, key, default)?.as_secs();
        if !(min..=DAY).contains(&seconds) {
            return Err(ConfigError::key(
                section,
                key,
                format!("must be from {min} to {DAY} seconds (1 day), got {seconds}"),
            ));
        }
        Ok(Duration::from_secs(seconds))
    }

    fn auth(&self) -> Result<AuthSettings, ConfigError> {
        let max_token_bytes: usize =
            self.parse_or("AUTH", "MAX_TOKEN_BYTES", "a number of bytes", 8192)?;
        if max_token_bytes < 256 {
            return Err(ConfigError::key(
                "AUTH",
                "MAX_TOKEN_BYTES",
                "must be at least 256",
            ));
        }
        let jwks_ttl = match self.get("AUTH", "JWKS_TTL") {
            None => None,
            Some(_) => Some(self.seconds_or("AUTH", "JWKS_TTL", 600)?),
        };
        Ok(AuthSettings {
            leeway: self.seconds_or("AUTH", "LEEWAY", 30)?,
            max_token_bytes,
            jwks_ttl,
            jwks_min_refresh: self.seconds_or("AUTH", "JWKS_MIN_REFRESH", 10)?,
            scope: self
                .get("AUTH", "SCOPE")
                .unwrap_or("read:messages")
                .to_owned(),
            permission: self
                .get("AUTH", "PERMISSION")
                .unwrap_or("read:admin")
                .to_owned(),
            require_at_jwt: self.flag_or("AUTH", "REQUIRE_AT_JWT", false)?,
            dpop: self.dpop_mode()?,
        })
    }

    /// `[AUTH] DPOP = allowed | required | off`, any case; `allowed` when unset.
    fn dpop_mode(&self) -> Result<DpopMode, ConfigError> {
        match self
            .get("AUTH", "DPOP")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("allowed") => Ok(DpopMode::Allowed),
            Some("required") => Ok(DpopMode::Required),
            Some("off") => Ok(DpopMode::Off),
            Some(other) => Err(ConfigError::key(
                "AUTH",
                "DPOP",
                format!("expected allowed, required or off, got {other:?}"),
            )),
        }
    }

    fn cache_url(&self) -> Result<Option<Url>, ConfigError> {
        let Some(value) = self.get("CACHE", "URL") else {
            return Ok(None);
        };
        let url = Url::parse(value)
            .map_err(|error| ConfigError::key("CACHE", "URL", error.to_string()))?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err(ConfigError::key(
                "CACHE",
                "URL",
                format!("expected redis:// or rediss://, got {value:?}"),
            ));
        }
        redis_cache(url).map(Some)
    }
}

/// `[CACHE] URL`, checked: Redis, shared between replicas.
#[cfg(feature = "redis")]
fn redis_cache(url: Url) -> Result<Url, ConfigError> {
    Ok(url)
}

/// `[CACHE] URL` in a binary built without Redis: an error, not a cache that quietly stays per process.
#[cfg(not(feature = "redis"))]
fn redis_cache(url: Url) -> Result<Url, ConfigError> {
    Err(ConfigError::needs_feature(
        "CACHE",
        "URL",
        &format!("{}://", url.scheme()),
        "redis",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings from `pairs`, with a real provider named so the core is tested in every build.
    fn with_oidc(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let oidc = [
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", "https://idp.example.com"),
            ("OIDC_AUDIENCE", "api"),
        ];
        Settings::from_pairs(oidc.iter().chain(pairs).copied())
    }

    #[test]
    #[cfg(feature = "local-issuer")]
    fn defaults_give_the_local_provider_on_loopback_8000() {
        let settings = Settings::from_pairs(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(settings.server.addr.to_string(), "127.0.0.1:8000");
        assert_eq!(settings.server.public_base(), "http://127.0.0.1:8000");
        assert_eq!(settings.provider.name(), "local");
        assert_eq!(settings.auth.leeway, Duration::from_secs(30));
        assert_eq!(settings.auth.max_token_bytes, 8192);
        assert_eq!(settings.local.issuer, "http://127.0.0.1:8000");
    }

    #[test]
    fn dpop_is_allowed_by_default_any_case_is_read_and_a_bad_value_names_the_key() {
        assert_eq!(with_oidc(&[]).unwrap().auth.dpop, DpopMode::Allowed);
        for (value, mode) in [
            ("allowed", DpopMode::Allowed),
            ("Required", DpopMode::Required),
            ("OFF", DpopMode::Off),
        ] {
            assert_eq!(with_oidc(&[("AUTH_DPOP", value)]).unwrap().auth.dpop, mode);
        }
        let error = with_oidc(&[("AUTH_DPOP", "yes")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"[AUTH] DPOP: expected allowed, required or off, got "yes""#
        );
    }

    #[test]
    fn a_malformed_number_names_its_key() {
        let error = with_oidc(&[("SERVER_PORT", "eighty")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"[SERVER] PORT: expected a port number (0-65535), got "eighty""#
        );
    }

    #[test]
    fn server_limits_default_to_the_contract_and_refuse_zero() {
        let settings = with_oidc(&[]).unwrap();
        assert_eq!(settings.server.limits, ServerLimits::default());
        assert_eq!(
            settings.server.limits.shutdown_timeout,
            Duration::from_secs(25)
        );
        let settings = with_oidc(&[
            ("SERVER_HEADER_TIMEOUT", "3"),
            ("SERVER_MAX_CONNECTIONS", "64"),
            ("SERVER_SHUTDOWN_TIMEOUT", "0"),
        ])
        .unwrap();
        assert_eq!(
            settings.server.limits.header_timeout,
            Duration::from_secs(3)
        );
        assert_eq!(settings.server.limits.max_connections, 64);
        assert_eq!(settings.server.limits.shutdown_timeout, Duration::ZERO);
        let error = with_oidc(&[("SERVER_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert!(error.to_string().ends_with("must be at least 1"), "{error}");
    }

    #[test]
    fn server_timeouts_past_a_day_are_refused_before_they_overflow_a_clock() {
        const U64_MAX: &str = "18446744073709551615";
        for (key, value, range) in [
            ("SERVER_HEADER_TIMEOUT", "0", "1 to 86400"),
            ("SERVER_HEADER_TIMEOUT", "86401", "1 to 86400"),
            ("SERVER_HEADER_TIMEOUT", U64_MAX, "1 to 86400"),
            ("SERVER_SHUTDOWN_TIMEOUT", U64_MAX, "0 to 86400"),
        ] {
            let error = with_oidc(&[(key, value)]).unwrap_err().to_string();
            let name = key.replacen('_', "] ", 1);
            assert_eq!(
                error,
                format!("[{name}: must be from {range} seconds (1 day), got {value}")
            );
        }
        let settings = with_oidc(&[
            ("SERVER_HEADER_TIMEOUT", "86400"),
            ("SERVER_SHUTDOWN_TIMEOUT", "86400"),
        ])
        .unwrap();
        assert_eq!(
            settings.server.limits.header_timeout,
            Duration::from_secs(86400)
        );
    }

    #[test]
    fn a_wildcard_host_advertises_loopback() {
        let settings = with_oidc(&[("SERVER_HOST", "0.0.0.0"), ("SERVER_PORT", "9000")]).unwrap();
        assert_eq!(settings.server.addr.to_string(), "0.0.0.0:9000");
        assert_eq!(settings.server.public_base(), "http://127.0.0.1:9000");
    }

    #[test]
    #[cfg(feature = "metrics")]
    fn metrics_are_on_unless_turned_off() {
        assert!(with_oidc(&[]).unwrap().server.metrics);
        let off = with_oidc(&[("SERVER_METRICS", "false")]).unwrap();
        assert!(!off.server.metrics);
    }

    #[test]
    #[cfg(not(feature = "local-issuer"))]
    fn without_the_issuer_an_unnamed_provider_is_missing_and_local_names_the_feature() {
        let error = Settings::from_pairs(Vec::<(String, String)>::new()).unwrap_err();
        assert_eq!(
            error.to_string(),
            "[AUTH] PROVIDER: missing; this binary has no local issuer (feature local-issuer), so \
             name a provider: auth0, cognito, firebase, fief or oidc"
        );
        for local in ["local", "LOCAL"] {
            let error = Settings::from_pairs([("AUTH_PROVIDER", local)]).unwrap_err();
            assert_eq!(
                error.to_string(),
                "[AUTH] PROVIDER: local needs the local-issuer feature, which this binary was \
                 built without"
            );
        }
        // `[LOCAL]` keys stay known, so one `.config` serves both builds.
        assert!(with_oidc(&[("LOCAL_TOKEN_TTL", "60")]).is_ok());
        let error = Settings::from_pairs([("AUTH_PROVIDER", "okta")]).unwrap_err();
        assert!(
            error
                .to_string()
                .ends_with("expected auth0, cognito, firebase, fief or oidc"),
            "{error}"
        );
    }

    #[test]
    #[cfg(not(feature = "redis"))]
    fn without_redis_a_cache_url_names_the_feature() {
        for (url, scheme) in [
            ("redis://127.0.0.1:6379", "redis://"),
            ("rediss://cache.example.com", "rediss://"),
        ] {
            let error = with_oidc(&[("CACHE_URL", url)]).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!(
                    "[CACHE] URL: {scheme} needs the redis feature, which this binary was built \
                     without"
                )
            );
        }
        let malformed = with_oidc(&[("CACHE_URL", "http://cache")]).unwrap_err();
        assert!(
            malformed
                .to_string()
                .starts_with("[CACHE] URL: expected redis://"),
            "{malformed}"
        );
        assert!(with_oidc(&[]).unwrap().cache.url.is_none());
    }

    #[test]
    #[cfg(not(feature = "metrics"))]
    fn without_metrics_they_default_off_and_asking_for_them_names_the_feature() {
        assert!(!with_oidc(&[]).unwrap().server.metrics);
        assert!(
            !with_oidc(&[("SERVER_METRICS", "false")])
                .unwrap()
                .server
                .metrics
        );
        let error = with_oidc(&[("SERVER_METRICS", "yes")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "[SERVER] METRICS: true needs the metrics feature, which this binary was built without"
        );
    }

    #[test]
    fn introspection_is_on_with_a_client_and_its_bad_values_name_their_key() {
        let client = [
            ("OIDC_INTROSPECTION_CLIENT_ID", "api"),
            ("OIDC_INTROSPECTION_CLIENT_SECRET", "s"),
        ];
        let on = with_oidc(&client).unwrap();
        let introspection = on.provider.introspection.as_ref().unwrap();
        assert!(introspection.endpoint.is_none(), "discovered by default");
        assert_eq!(format!("{:?}", introspection.client_secret), "[redacted]");
        assert_eq!(on.cache.introspection_ttl, Duration::from_secs(60));
        assert!(with_oidc(&[]).unwrap().provider.introspection.is_none());

        let refused = |pairs: &[(&str, &str)]| with_oidc(pairs).unwrap_err().to_string();
        let with = |extra: (&'static str, &'static str)| [client[0], client[1], extra];
        assert!(
            refused(&with((
                "OIDC_INTROSPECTION_URI",
                "http://idp.example.com/introspect"
            )))
            .starts_with("[OIDC] INTROSPECTION_URI: must be https")
        );
        assert!(
            refused(&with(("OIDC_INTROSPECTION_URI", "not a url")))
                .starts_with("[OIDC] INTROSPECTION_URI:")
        );
        assert!(
            refused(&[("OIDC_INTROSPECTION_URI", "https://idp.example.com/i")])
                .starts_with("[OIDC] INTROSPECTION_CLIENT_ID: missing")
        );
        assert!(
            refused(&[("OIDC_INTROSPECTION_CLIENT_SECRET", "s")])
                .starts_with("[OIDC] INTROSPECTION_CLIENT_ID: missing")
        );
        assert!(refused(&client[..1]).starts_with("[OIDC] INTROSPECTION_CLIENT_SECRET: missing"));
        assert!(
            refused(&with(("CACHE_INTROSPECTION_TTL", "a minute")))
                .starts_with("[CACHE] INTROSPECTION_TTL:")
        );
        let two = with_oidc(&with((
            "OIDC_ISSUER",
            "https://a.example.com, https://b.example.com",
        )))
        .unwrap();
        assert!(
            two.providers().all(|spec| spec.introspection.is_some()),
            "each issuer introspects at its own discovered endpoint"
        );
        let several = [
            client[0],
            client[1],
            (
                "OIDC_ISSUER",
                "https://a.example.com, https://b.example.com",
            ),
            ("OIDC_INTROSPECTION_URI", "https://a.example.com/introspect"),
        ];
        assert!(
            refused(&several).starts_with("[OIDC] INTROSPECTION_URI: cannot be set with several")
        );
        let plain_issuer = with(("OIDC_ISSUER", "http://idp.example.com"));
        assert!(
            refused(&plain_issuer).starts_with("[OIDC] ISSUER: must be https"),
            "the endpoint is discovered over the issuer URL"
        );
    }
}
