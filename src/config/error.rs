//! `ConfigError`: what is wrong with the configuration, named by its key so the message says what to fix.

use std::path::PathBuf;

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

    /// `[section] key` asks for a part of the service this binary was built without:
    /// `[AUTH] PROVIDER: local needs the local-issuer feature, which this binary was built without`.
    ///
    /// `what` is the value as the reader wrote it; `feature` is the Cargo feature that brings it back.
    pub fn needs_feature(section: &str, key: &str, what: &str, feature: &str) -> Self {
        Self::key(
            section,
            key,
            format!("{what} needs the {feature} feature, which this binary was built without"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_feature_is_one_line_naming_the_setting_and_the_feature() {
        let error = ConfigError::needs_feature("AUTH", "PROVIDER", "local", "local-issuer");
        assert_eq!(
            error.to_string(),
            "[AUTH] PROVIDER: local needs the local-issuer feature, which this binary was built without"
        );
    }
}
