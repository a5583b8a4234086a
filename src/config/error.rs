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
}
