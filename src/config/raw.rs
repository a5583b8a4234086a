//! `RawSettings`: the settings as written, from the INI file and the environment, before any parsing.
//!
//! A leaf: it knows the table of keys and how to read one value, not what any section means.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use url::Url;

use super::error::ConfigError;
use super::urls::parse_http_url;

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
            "DPOP",
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
            "INTROSPECTION_URI",
            "INTROSPECTION_CLIENT_ID",
            "INTROSPECTION_CLIENT_SECRET",
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
            "TOKEN_FORMAT",
        ],
    ),
    ("CACHE", &["URL", "USERINFO_TTL", "INTROSPECTION_TTL"]),
    ("LOG", &["FORMAT"]),
];

/// Sections that select an identity provider, in the spelling `[AUTH] PROVIDER` takes.
const PROVIDER_SECTIONS: &[&str] = &["AUTH0", "COGNITO", "FIREBASE", "FIEF", "OIDC"];

/// Settings as written: `(SECTION, KEY) -> value`, upper-cased names, later sources overriding earlier ones.
#[derive(Debug, Default, Clone)]
pub struct RawSettings {
    values: BTreeMap<(String, String), String>,
}

impl RawSettings {
    /// Takes the keys of the INI file at `path`; an unknown section or key is an error.
    pub(super) fn read_ini(&mut self, path: &Path) -> Result<(), ConfigError> {
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
    pub(super) fn read_env(&mut self, env: impl IntoIterator<Item = (String, String)>) {
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

    /// Which provider `[AUTH] PROVIDER` names, lower-cased. When it is unset and exactly one provider
    /// section has values (a `.config` copied from a provider's tutorial), that provider; else `None`.
    pub(super) fn provider_name(&self) -> Option<String> {
        if let Some(name) = self.get("AUTH", "PROVIDER") {
            return Some(name.to_ascii_lowercase());
        }
        let configured: Vec<&str> = PROVIDER_SECTIONS
            .iter()
            .copied()
            .filter(|section| self.values.keys().any(|(s, _)| s == section))
            .collect();
        match configured.as_slice() {
            [only] => Some(only.to_ascii_lowercase()),
            _ => None,
        }
    }
}

fn known_keys(section: &str) -> Option<&'static [&'static str]> {
    KNOWN_KEYS
        .iter()
        .find(|(name, _)| *name == section)
        .map(|(_, keys)| *keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_map_to_known_sections_even_with_underscores_in_the_key() {
        let mut raw = RawSettings::default();
        raw.read_env(
            [
                ("AUTH0_API_AUDIENCE", "https://api"),
                ("AUTH_PROVIDER", "auth0"),
                ("PATH", "/bin"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        assert_eq!(raw.get("AUTH0", "API_AUDIENCE"), Some("https://api"));
        assert_eq!(raw.get("AUTH", "PROVIDER"), Some("auth0"));
        assert_eq!(raw.values.len(), 2);
    }
}
