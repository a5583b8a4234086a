//! `Settings`: built-in defaults < INI file < `SECTION_KEY` environment variables, parsed once into typed values.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use url::Url;

use crate::auth::providers::{self, ProviderSpec};
use crate::server::ServerLimits;

/// Every section and key the service reads. An INI key outside this table is an error (a typo must not
/// pass silently); an environment variable outside it is ignored (the environment is shared).
pub const KNOWN_KEYS: &[(&str, &[&str])] = &[
    (
        "SERVER",
        &[
            "HOST",
            "PORT",
            "PUBLIC_URL",
            "CORS_ORIGINS",
            "METRICS",
            "HEADER_TIMEOUT",
            "MAX_CONNECTIONS",
            "SHUTDOWN_TIMEOUT",
        ],
    ),
    (
        "AUTH",
        &[
            "PROVIDER",
            "LEEWAY",
            "MAX_TOKEN_BYTES",
            "JWKS_TTL",
            "JWKS_MIN_REFRESH",
            "SCOPE",
            "PERMISSION",
            "REQUIRE_AT_JWT",
        ],
    ),
    (
        "AUTH0",
        &[
            "DOMAIN",
            "API_AUDIENCE",
            "ALGORITHMS",
            "ISSUER",
            "JWKS_URI",
            "CLIENT_ID",
        ],
    ),
    (
        "COGNITO",
        &[
            "REGION",
            "USER_POOL_ID",
            "CLIENT_ID",
            "ISSUER",
            "JWKS_URI",
            "DOMAIN",
        ],
    ),
    ("FIREBASE", &["PROJECT_ID", "ISSUER", "JWKS_URI"]),
    (
        "FIEF",
        &[
            "BASE_URL",
            "CLIENT_ID",
            "CLIENT_SECRET",
            "ISSUER",
            "JWKS_URI",
        ],
    ),
    (
        "OIDC",
        &[
            "ISSUER",
            "AUDIENCE",
            "ALGORITHMS",
            "JWKS_URI",
            "CLIENT_ID",
            "USERINFO_URI",
            "SCOPE_CLAIM",
            "PERMISSIONS_CLAIM",
        ],
    ),
    (
        "LOCAL",
        &[
            "ISSUER",
            "AUDIENCE",
            "KEY_FILE",
            "TOKEN_TTL",
            "DATABASE_URL",
            "DATA_DIR",
            "CLIENT_ID",
            "CLIENT_SECRET",
            "REDIRECT_URIS",
            "ALLOW_NETWORK",
        ],
    ),
    ("CACHE", &["URL", "USERINFO_TTL"]),
    ("LOG", &["FORMAT"]),
];

/// Sections that select an identity provider, in the spelling `[AUTH] PROVIDER` takes.
const PROVIDER_SECTIONS: &[&str] = &["AUTH0", "COGNITO", "FIREBASE", "FIEF", "OIDC"];

/// A configuration problem, named by its key so the one-line message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key is missing, unknown or malformed: `[AUTH0] DOMAIN: missing`.
    #[error("{key}: {problem}")]
    Key {
        /// The key as `[SECTION] KEY`.
        key: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The INI file could not be read or parsed.
    #[error("{path}: {problem}")]
    File {
        /// The file that was asked for.
        path: PathBuf,
        /// What went wrong reading it.
        problem: String,
    },
}

impl ConfigError {
    /// An error about `[section] key`.
    pub fn key(section: &str, key: &str, problem: impl Into<String>) -> Self {
        Self::Key {
            key: format!("[{section}] {key}"),
            problem: problem.into(),
        }
    }
}

/// A secret setting: printed as `[redacted]` by `Debug`, read with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

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
}

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
    pub client_secret: Option<String>,
    /// Where `/authorize` may send codes and tokens (exact match).
    pub redirect_uris: Vec<String>,
    /// Whether the issuer (open sign-up) may serve a non-loopback address.
    pub allow_network: bool,
}

/// `[CACHE]`: the user-info cache.
#[derive(Debug, Clone)]
pub struct CacheSettings {
    /// `redis://…` to share the cache between replicas; `None` keeps it in process.
    pub url: Option<Url>,
    /// Longest time a userinfo answer is reused.
    pub userinfo_ttl: Duration,
}

/// Every setting, typed and checked. Once a `Settings` exists, it is valid.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `[SERVER]`.
    pub server: ServerSettings,
    /// `[AUTH]`.
    pub auth: AuthSettings,
    /// The selected provider, resolved into issuer, audience, keys and claim names.
    pub provider: ProviderSpec,
    /// `[LOCAL]` (used when the provider is `local`, and by the `token` command).
    pub local: LocalSettings,
    /// `[CACHE]`.
    pub cache: CacheSettings,
    /// `[LOG] FORMAT`.
    pub log_format: LogFormat,
}

impl Settings {
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

/// Settings as written: `(SECTION, KEY) -> value`, upper-cased names, later sources overriding earlier ones.
#[derive(Debug, Default, Clone)]
pub struct RawSettings {
    values: BTreeMap<(String, String), String>,
}

impl RawSettings {
    fn read_ini(&mut self, path: &Path) -> Result<(), ConfigError> {
        let file_error = |problem: String| ConfigError::File {
            path: path.to_owned(),
            problem,
        };
        if !path.is_file() {
            return Err(file_error("no such file".into()));
        }
        let parsed = config::Config::builder()
            .add_source(config::File::from(path).format(config::FileFormat::Ini))
            .build()
            .map_err(|error| file_error(error.to_string()))?;
        let sections: BTreeMap<String, config::Value> = parsed
            .try_deserialize()
            .map_err(|error| file_error(error.to_string()))?;
        for (section, table) in sections {
            let section = section.to_ascii_uppercase();
            let table = table
                .into_table()
                .map_err(|_| ConfigError::key(&section, "", "a key outside any [SECTION]"))?;
            let Some(known) = known_keys(&section) else {
                return Err(ConfigError::File {
                    path: path.to_owned(),
                    problem: format!("unknown section [{section}]"),
                });
            };
            for (key, value) in table {
                let key = key.to_ascii_uppercase();
                if !known.contains(&key.as_str()) {
                    return Err(ConfigError::key(&section, &key, "unknown key"));
                }
                let value = value
                    .into_string()
                    .map_err(|error| ConfigError::key(&section, &key, error.to_string()))?;
                self.values.insert((section.clone(), key), value);
            }
        }
        Ok(())
    }

    /// Takes `SECTION_KEY` variables for known keys. The section is matched by its known prefix, so
    /// `AUTH0_API_AUDIENCE` is `[AUTH0] API_AUDIENCE`, not `[AUTH0] API` + `AUDIENCE`.
    fn read_env(&mut self, env: impl IntoIterator<Item = (String, String)>) {
        for (name, value) in env {
            let name = name.to_ascii_uppercase();
            for (section, keys) in KNOWN_KEYS {
                let Some(key) = name
                    .strip_prefix(section)
                    .and_then(|rest| rest.strip_prefix('_'))
                else {
                    continue;
                };
                if keys.contains(&key) {
                    self.values
                        .insert(((*section).to_owned(), key.to_owned()), value.clone());
                }
            }
        }
    }

    /// The value of `[section] key`, trimmed; an empty value counts as unset.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.values
            .get(&(section.to_owned(), key.to_owned()))
            .map(|value| value.trim())
            .filter(|value| !value.is_empty())
    }

    /// The value of `[section] key`, or an error saying it is missing.
    ///
    /// # Errors
    /// `[SECTION] KEY: missing`.
    pub fn required(&self, section: &str, key: &str) -> Result<&str, ConfigError> {
        self.get(section, key)
            .ok_or_else(|| ConfigError::key(section, key, "missing"))
    }

    /// `[section] key` parsed with `FromStr`, or `default` when unset.
    ///
    /// # Errors
    /// `[SECTION] KEY: expected …, got "…"`.
    pub fn parse_or<T: std::str::FromStr>(
        &self,
        section: &str,
        key: &str,
        expected: &str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.get(section, key) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|_| {
                ConfigError::key(section, key, format!("expected {expected}, got {value:?}"))
            }),
        }
    }

    /// A whole number of seconds, or `default` when unset.
    ///
    /// # Errors
    /// As [`RawSettings::parse_or`].
    pub fn seconds_or(
        &self,
        section: &str,
        key: &str,
        default: u64,
    ) -> Result<Duration, ConfigError> {
        self.parse_or(section, key, "a whole number of seconds", default)
            .map(Duration::from_secs)
    }

    /// A yes/no setting (`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`), or `default` when unset.
    ///
    /// # Errors
    /// `[SECTION] KEY: expected true or false, got "…"`.
    pub fn flag_or(&self, section: &str, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self
            .get(section, key)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => Ok(default),
            Some("true" | "yes" | "on" | "1") => Ok(true),
            Some("false" | "no" | "off" | "0") => Ok(false),
            Some(other) => Err(ConfigError::key(
                section,
                key,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }

    /// An absolute `http(s)` URL, or `None` when unset.
    ///
    /// # Errors
    /// `[SECTION] KEY: not a URL` or a scheme other than http/https.
    pub fn url(&self, section: &str, key: &str) -> Result<Option<Url>, ConfigError> {
        self.get(section, key)
            .map(|value| parse_http_url(section, key, value))
            .transpose()
    }

    /// Which provider `[AUTH] PROVIDER` names. When it is unset and exactly one provider section has
    /// values (a `.config` copied from a provider's tutorial), that provider; else `local`.
    fn provider_name(&self) -> String {
        if let Some(name) = self.get("AUTH", "PROVIDER") {
            return name.to_ascii_lowercase();
        }
        let configured: Vec<&str> = PROVIDER_SECTIONS
            .iter()
            .copied()
            .filter(|section| self.values.keys().any(|(s, _)| s == section))
            .collect();
        match configured.as_slice() {
            [only] => only.to_ascii_lowercase(),
            _ => "local".to_owned(),
        }
    }

    fn parse(&self) -> Result<Settings, ConfigError> {
        let server = self.server()?;
        let auth = self.auth()?;
        let local = self.local(&server)?;
        let provider = providers::spec(&self.provider_name(), self, &local)?;
        if provider.kind == providers::ProviderKind::Local
            && !server.addr.ip().is_loopback()
            && !local.allow_network
        {
            return Err(ConfigError::key(
                "LOCAL",
                "ALLOW_NETWORK",
                format!(
                    "the local development issuer lets anyone sign up, so it serves loopback only, \
                     not {}; configure a real provider (e.g. AUTH_PROVIDER=auth0 with AUTH0_DOMAIN \
                     and AUTH0_API_AUDIENCE, or AUTH_PROVIDER=oidc with OIDC_ISSUER and \
                     OIDC_AUDIENCE), or set LOCAL_ALLOW_NETWORK=true to expose it anyway",
                    server.addr.ip()
                ),
            ));
        }
        Ok(Settings {
            server,
            auth,
            provider,
            local,
            cache: CacheSettings {
                url: self.cache_url()?,
                userinfo_ttl: self.seconds_or("CACHE", "USERINFO_TTL", 300)?,
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
        let metrics = self.flag_or("SERVER", "METRICS", true)?;
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
        })
    }

    fn local(&self, server: &ServerSettings) -> Result<LocalSettings, ConfigError> {
        let data_dir = PathBuf::from(self.get("LOCAL", "DATA_DIR").unwrap_or(".data"));
        let key_file = self
            .get("LOCAL", "KEY_FILE")
            .map_or_else(|| data_dir.join("signing-key.pem"), PathBuf::from);
        let database_url = self.get("LOCAL", "DATABASE_URL").map_or_else(
            || {
                format!(
                    "sqlite://{}?mode=rwc",
                    data_dir.join("accounts.db").display()
                )
            },
            str::to_owned,
        );
        let issuer = match self.url("LOCAL", "ISSUER")? {
            Some(url) => url.as_str().trim_end_matches('/').to_owned(),
            None => server.public_base(),
        };
        let token_ttl = self.seconds_or("LOCAL", "TOKEN_TTL", 3600)?;
        if token_ttl.is_zero() {
            return Err(ConfigError::key(
                "LOCAL",
                "TOKEN_TTL",
                "must be at least 1 second",
            ));
        }
        let client_id = self.get("LOCAL", "CLIENT_ID").map(str::to_owned);
        let client_secret = self.get("LOCAL", "CLIENT_SECRET").map(str::to_owned);
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
        let redirect_uris = match self.get("LOCAL", "REDIRECT_URIS") {
            Some(list) => list
                .split([',', ' '])
                .filter(|uri| !uri.is_empty())
                .map(|uri| parse_http_url("LOCAL", "REDIRECT_URIS", uri).map(|_| uri.to_owned()))
                .collect::<Result<_, _>>()?,
            None => vec![
                format!("{}/docs/oauth2-redirect", server.public_base()),
                format!("{}/auth-callback", server.public_base()),
            ],
        };
        Ok(LocalSettings {
            redirect_uris,
            allow_network: self.flag_or("LOCAL", "ALLOW_NETWORK", false)?,
            issuer,
            audience: self
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
        Ok(Some(url))
    }
}

fn known_keys(section: &str) -> Option<&'static [&'static str]> {
    KNOWN_KEYS
        .iter()
        .find(|(name, _)| *name == section)
        .map(|(_, keys)| *keys)
}

/// Parses an absolute `http` or `https` URL for `[section] key`.
///
/// # Errors
/// `[SECTION] KEY: …` when it is not one.
pub fn parse_http_url(section: &str, key: &str, value: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(value)
        .map_err(|error| ConfigError::key(section, key, format!("{error}: {value:?}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::key(
            section,
            key,
            format!("expected an http(s) URL, got {value:?}"),
        ));
    }
    Ok(url)
}

/// Requires `https`, except on loopback hosts (127.0.0.0/8, ::1, localhost) where tests and local IdPs run.
///
/// # Errors
/// `[SECTION] KEY: must be https …` for plain `http` elsewhere.
pub fn require_https_or_loopback(section: &str, key: &str, url: &Url) -> Result<(), ConfigError> {
    if url.scheme() == "https" || is_loopback(url) {
        return Ok(());
    }
    Err(ConfigError::key(
        section,
        key,
        format!("must be https (plain http is allowed on loopback only), got {url}"),
    ))
}

/// Whether `url` points at this machine's loopback interface.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn env_names_map_to_known_sections_even_with_underscores_in_the_key() {
        let mut raw = RawSettings::default();
        raw.read_env(pairs(&[
            ("AUTH0_API_AUDIENCE", "https://api"),
            ("AUTH_PROVIDER", "auth0"),
            ("PATH", "/bin"),
        ]));
        assert_eq!(raw.get("AUTH0", "API_AUDIENCE"), Some("https://api"));
        assert_eq!(raw.get("AUTH", "PROVIDER"), Some("auth0"));
        assert_eq!(raw.values.len(), 2);
    }

    #[test]
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
    fn a_malformed_number_names_its_key() {
        let error = Settings::from_pairs([("SERVER_PORT", "eighty")]).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"[SERVER] PORT: expected a port number (0-65535), got "eighty""#
        );
    }

    #[test]
    fn server_limits_default_to_the_contract_and_refuse_zero() {
        let settings = Settings::from_pairs(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(settings.server.limits, ServerLimits::default());
        assert_eq!(
            settings.server.limits.shutdown_timeout,
            Duration::from_secs(25)
        );
        let settings = Settings::from_pairs([
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
        let error = Settings::from_pairs([("SERVER_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert!(error.to_string().ends_with("must be at least 1"), "{error}");
    }

    #[test]
    fn server_timeouts_past_a_day_are_refused_before_they_overflow_a_clock() {
        for (key, value, range) in [
            ("SERVER_HEADER_TIMEOUT", "0", "1 to 86400"),
            ("SERVER_HEADER_TIMEOUT", "86401", "1 to 86400"),
            (
                "SERVER_HEADER_TIMEOUT",
                "18446744073709551615",
                "1 to 86400",
            ),
            (
                "SERVER_SHUTDOWN_TIMEOUT",
                "18446744073709551615",
                "0 to 86400",
            ),
        ] {
            let error = Settings::from_pairs([(key, value)])
                .unwrap_err()
                .to_string();
            let name = key.replacen('_', "] ", 1);
            assert_eq!(
                error,
                format!("[{name}: must be from {range} seconds (1 day), got {value}")
            );
        }
        let settings = Settings::from_pairs([
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
        let settings = Settings::from_pairs([
            ("SERVER_HOST", "0.0.0.0"),
            ("SERVER_PORT", "9000"),
            ("LOCAL_ALLOW_NETWORK", "true"),
        ])
        .unwrap();
        assert_eq!(settings.server.addr.to_string(), "0.0.0.0:9000");
        assert_eq!(settings.server.public_base(), "http://127.0.0.1:9000");
    }

    #[test]
    fn the_local_issuer_refuses_a_network_address_unless_asked_by_name() {
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
    fn loopback_detection_covers_the_whole_range_and_localhost() {
        for url in [
            "http://127.0.0.1/",
            "http://127.3.4.5:9/",
            "http://[::1]/",
            "http://LOCALHOST:1/",
        ] {
            assert!(is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
        for url in [
            "http://10.0.0.1/",
            "http://example.com/",
            "http://localhost.example.com/",
        ] {
            assert!(!is_loopback(&Url::parse(url).unwrap()), "{url}");
        }
    }
}
