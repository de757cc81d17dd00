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
    /// The run would need more memory than it may use.
    #[error(
        "{}: the run needs about {} for {elements} elements, more than the {} {limit}. Larger elements (`domain.element_size_mm`: twice as large needs about an eighth) or symmetry planes (`optimization.symmetry`: each halves it) make it fit",
        file.display(), in_binary_units(*needed_bytes), in_binary_units(*limit_bytes as f64)
    )]
    TooLarge {
        /// The file.
        file: PathBuf,
        /// The grid, e.g. `[1000, 1000, 1000] = 1000000000`.
        elements: String,
        /// Estimated peak bytes of the run.
        needed_bytes: f64,
        /// Bytes it may use.
        limit_bytes: u64,
        /// Where that limit comes from, e.g. `available on this machine`.
        limit: String,
    },
}

/// `bytes` in GiB from 1 GiB up, else in MiB.
fn in_binary_units(bytes: f64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1024.0 * MIB {
        format!("{:.1} GiB", bytes / (1024.0 * MIB))
    } else {
        format!("{:.1} MiB", bytes / MIB)
    }
}

/// The kinds a region can have, as its one key.
const REGION_KINDS: &str = "face, box, cylinder, sphere, point_mm, stl, surface_of or union";

/// serde's and toml's messages in the words of a design file: a region with several kinds or
/// none names them (`span` is the text the error points at), and type errors say "a number"
/// rather than "f64".
pub(crate) fn plain_words(message: &str, span: &str) -> String {
    if message.starts_with("wanted exactly 1 element") {
        let keys: Vec<String> = toml::from_str::<toml::Table>(&format!("region = {span}"))
            .ok()
            .and_then(|t| {
                t.get("region")?
                    .as_table()
                    .map(|r| r.keys().cloned().collect())
            })
            .unwrap_or_default();
        return match keys.len() {
            0 => format!("a region needs one kind: {REGION_KINDS}"),
            _ => format!(
                "a region has one kind, this one has {}: {}; keep one, or combine them with `union = [{{ .. }}, {{ .. }}]`",
                keys.len(),
                keys.iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some((unknown, expected)) = rest.split_once('`')
    {
        let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
        let hint = did_you_mean(unknown, &candidates)
            .map_or(String::new(), |close| format!("did you mean `{close}`? "));
        return format!(
            "unknown key `{unknown}`; {hint}the keys here are {}",
            candidates
                .iter()
                .map(|c| format!("`{c}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut text = message.to_string();
    for (serde_word, ours) in [
        ("expected f64", "expected a number"),
        ("expected usize", "expected a whole number ≥ 0"),
        ("expected u32", "expected a whole number ≥ 0"),
        ("expected u64", "expected a whole number ≥ 0"),
        ("expected a boolean", "expected true or false"),
        (
            "expected an array of length 3",
            "expected three numbers [x, y, z]",
        ),
    ] {
        text = text.replace(serde_word, ours);
    }
    text
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a typo: at
/// most a third of the word's letters changed.
pub fn did_you_mean<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::damerau_levenshtein(word, c), *c))
        .filter(|&(distance, c)| distance <= c.chars().count().max(3) / 3)
        .min()
        .map(|(_, c)| c)
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
        let span = error.span().map_or("", |s| text.get(s).unwrap_or(""));
        Self::Parse {
            file: file.to_path_buf(),
            key: key.to_string(),
            line,
            column,
            message: plain_words(error.message().trim(), span),
        }
    }

    /// The key path the error refers to (empty for I/O errors).
    pub fn key(&self) -> &str {
        match self {
            Self::Io { .. } => "",
            Self::TooLarge { .. } => "domain",
            Self::Parse { key, .. } | Self::Invalid { key, .. } => key,
        }
    }
}
