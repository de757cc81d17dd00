//! Errors in design files: each names the file, the key path and what is allowed.

use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A design file that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DesignError {
    /// The file cannot be read.
    #[error("{}: cannot read the design file: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: Arc<std::io::Error>,
    },
    /// The TOML is malformed or does not match the schema (unknown key, wrong type, missing key).
    #[error("{}:{line}:{column}: {}{message}", file.display(), key_prefix(key))]
    Parse {
        /// The file.
        file: PathBuf,
        /// Key path where the problem was found (empty at the top level).
        key: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A value is out of range or inconsistent with others.
    #[error("{}: `{key}`: {message}", file.display())]
    Invalid {
        /// The file.
        file: PathBuf,
        /// Key path of the offending value, e.g. `optimization.volume_fraction`.
        key: String,
        /// What is wrong and what is allowed.
        message: String,
    },
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() || key == "." {
        String::new()
    } else {
        format!("`{key}`: ")
    }
}

impl DesignError {
    /// A parse error at the span of a toml error.
    pub(crate) fn parse(file: &Path, text: &str, key: &str, error: &toml::de::Error) -> Self {
        let offset = error.span().map_or(0, |s| s.start).min(text.len());
        let before = &text[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Self::Parse {
            file: file.to_path_buf(),
            key: key.to_string(),
            line,
            column,
            message: error.message().trim().to_string(),
        }
    }

    /// The key path the error refers to (empty for I/O errors).
    pub fn key(&self) -> &str {
        match self {
            Self::Io { .. } => "",
            Self::Parse { key, .. } | Self::Invalid { key, .. } => key,
        }
    }
}
