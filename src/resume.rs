//! Runs that survive being stopped: the checkpoint a run keeps in its folder, going on from it,
//! and the lock that keeps two runs out of one folder.
//!
//! While the loop runs, its state ([`crate::optimize::checkpoint`]) is written to
//! `checkpoint.bin` in the output folder at a fixed interval ([`CheckpointInterval`], a minute by
//! default) and when the run is cancelled (Ctrl-C, SIGTERM), each time under a temporary name
//! renamed when complete, so a kill at any moment leaves the previous checkpoint or the new one.
//! The file records what it was made by: the design (after command-line overrides) and the
//! formwerk binary (its version and a digest of its bytes). Going on from it with another design
//! or binary would not give the uninterrupted run's result, so it is refused, naming what
//! differs, unless forced. A finished run removes its checkpoint.

use std::fs::File;
use std::io::{BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::design::Design;
use crate::optimize::checkpoint::{self, CheckpointError, Header, LoopState, digest_bytes};
use crate::optimize::{IterationRecord, Observer};
use crate::output::atomic::write_atomically;

/// The checkpoint's name in the output folder.
pub const CHECKPOINT_FILE: &str = "checkpoint.bin";
/// The lock's name in the output folder.
pub const LOCK_FILE: &str = ".formwerk.lock";

/// How often a run keeps its state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CheckpointInterval {
    /// After the first iteration that ends this long after the last checkpoint (or the start).
    Every(Duration),
    /// After every this many iterations.
    Iterations(usize),
    /// Never (a cancelled run still keeps its state).
    Never,
}

impl Default for CheckpointInterval {
    /// About every minute: a run loses at most a minute and an iteration, and the writes cost
    /// well under 1 % of the time (the state is a few vectors of the grid's size).
    fn default() -> Self {
        Self::Every(Duration::from_secs(60))
    }
}

impl std::str::FromStr for CheckpointInterval {
    type Err = String;

    /// `60s`, `5m` (seconds or minutes), `10` (iterations) or `never`.
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let bad = || {
            format!(
                "`{text}` is not an interval: give seconds (`90s`), minutes (`5m`), iterations (`10`) or `never`"
            )
        };
        if text == "never" {
            return Ok(Self::Never);
        }
        let time = |digits: &str, unit: f64| {
            let value: f64 = digits.parse().map_err(|_| bad())?;
            if value.is_finite() && value > 0.0 && value * unit < 1e9 {
                Ok(Self::Every(Duration::from_secs_f64(value * unit)))
            } else {
                Err(bad())
            }
        };
        if let Some(seconds) = text.strip_suffix('s') {
            time(seconds, 1.0)
        } else if let Some(minutes) = text.strip_suffix('m') {
            time(minutes, 60.0)
        } else {
            match text.parse::<usize>() {
                Ok(n) if n > 0 => Ok(Self::Iterations(n)),
                _ => Err(bad()),
            }
        }
    }
}

/// Whether and how a run goes on from a checkpoint in its folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resume {
    /// Start from iteration 0; a checkpoint there is replaced.
    #[default]
    No,
    /// Go on from the checkpoint if there is one; refuse one made by another design or binary
    /// unless `force`. Without a checkpoint, start from iteration 0.
    Yes {
        /// Go on from a checkpoint even if the design or the binary changed since.
        force: bool,
    },
    /// Go on from a checkpoint made by the same design and binary; start from iteration 0
    /// without one or with another's (a sweep run again).
    IfUnchanged,
}

/// Why a run cannot go on from its checkpoint, or cannot start in its folder.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    /// The checkpoint is unreadable or damaged.
    #[error("{}: {source}; delete it to start again from iteration 0", path.display())]
    Unreadable {
        /// The checkpoint.
        path: PathBuf,
        /// What is wrong.
        source: CheckpointError,
    },
    /// The design or the binary changed since the checkpoint was written.
    #[error(
        "{}: the checkpoint was made by another {what}; going on from it would not give that run's result ({differences}). Run without --resume to start again, or add --force to go on anyway",
        path.display()
    )]
    Changed {
        /// The checkpoint.
        path: PathBuf,
        /// `design`, `formwerk binary`, or both.
        what: String,
        /// What differs.
        differences: String,
    },
    /// Another run holds the folder.
    #[error(
        "{}: another formwerk run is writing into this folder; wait for it to end or choose another output folder",
        path.display()
    )]
    Busy {
        /// The folder.
        path: PathBuf,
    },
    /// The lock cannot be taken for another reason.
    #[error("{}: cannot lock the output folder: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// The output folder's lock, held until dropped (or the process ends, however it ends: the
/// operating system releases it).
#[derive(Debug)]
pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Locks `out_dir` (which must exist) for this process.
    pub fn take(out_dir: &Path) -> Result<Self, ResumeError> {
        let path = out_dir.join(LOCK_FILE);
        let lock_error = |source| ResumeError::Lock {
            path: path.clone(),
            source,
        };
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(lock_error)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(ResumeError::Busy {
                path: out_dir.to_path_buf(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(lock_error(e)),
        }
    }
}

/// What a checkpoint records of its maker: the design and the binary.
pub fn identity(design: &Design) -> Value {
    serde_json::json!({
        "design": serde_json::to_value(design).unwrap_or(Value::Null),
        "formwerk_version": env!("CARGO_PKG_VERSION"),
        "binary_digest": binary_digest(),
    })
}

/// FNV-1a of the running executable's bytes, in hex: another build, even of the same version,
/// may round differently. Computed once per process.
fn binary_digest() -> String {
    static DIGEST: OnceLock<String> = OnceLock::new();
    DIGEST
        .get_or_init(|| {
            std::env::current_exe().and_then(std::fs::read).map_or_else(
                |e| format!("unknown ({e})"),
                |bytes| format!("{:016x}", digest_bytes(&bytes)),
            )
        })
        .clone()
}

/// The checkpoint in `out_dir` to go on from, for a run of `design`: `None` without one.
pub fn load_checkpoint(
    out_dir: &Path,
    design: &Design,
    force: bool,
) -> Result<Option<LoopState>, ResumeError> {
    let path = out_dir.join(CHECKPOINT_FILE);
    let unreadable = |source| ResumeError::Unreadable {
        path: path.clone(),
        source,
    };
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(unreadable(e.into())),
    };
    let state = LoopState::read(BufReader::new(file)).map_err(unreadable)?;
    let (then, now) = (&state.header.identity, identity(design));
    let mut what = Vec::new();
    let mut differences = Vec::new();
    if then["design"] != now["design"] {
        what.push("design");
        let mut changed = Vec::new();
        compare("", &then["design"], &now["design"], &mut changed);
        differences.push(describe(&changed));
    }
    for key in ["formwerk_version", "binary_digest"] {
        if then[key] != now[key] {
            what.push("formwerk binary");
            differences.push(format!(
                "formwerk {} ({}) then, {} ({}) now",
                then["formwerk_version"],
                then["binary_digest"],
                now["formwerk_version"],
                now["binary_digest"]
            ));
            break;
        }
    }
    if !what.is_empty() && !force {
        return Err(ResumeError::Changed {
            path,
            what: what.join(" and "),
            differences: differences.join("; "),
        });
    }
    Ok(Some(state))
}

/// Removes the checkpoint of a finished run (a missing one is fine).
pub fn remove_checkpoint(out_dir: &Path) -> std::io::Result<()> {
    match std::fs::remove_file(out_dir.join(CHECKPOINT_FILE)) {
        Err(e) if e.kind() != ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The keys (as dotted paths) whose values differ between `then` and `now`, with both values.
fn compare(path: &str, then: &Value, now: &Value, changed: &mut Vec<(String, String, String)>) {
    match (then, now) {
        (Value::Object(a), Value::Object(b)) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for key in keys {
                let path = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                compare(
                    &path,
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                    changed,
                );
            }
        }
        (a, b) if a != b => changed.push((path.to_string(), a.to_string(), b.to_string())),
        _ => {}
    }
}

/// A few changed keys in words.
fn describe(changed: &[(String, String, String)]) -> String {
    const SHOWN: usize = 4;
    let mut text: Vec<String> = changed
        .iter()
        .take(SHOWN)
        .map(|(key, then, now)| format!("`{key}` was {then}, is {now}"))
        .collect();
    if changed.len() > SHOWN {
        text.push(format!("and {} more", changed.len() - SHOWN));
    }
    text.join(", ")
}

/// An observer that keeps the loop's state in `out_dir` as [`CheckpointInterval`] asks, and
/// passes everything else on to `inner`.
pub(crate) struct Checkpointing<'a> {
    pub inner: &'a mut dyn Observer,
    pub path: PathBuf,
    pub design: &'a Design,
    /// [`identity`] of `design`, made at the first checkpoint (it reads the binary).
    pub identity: Option<Value>,
    pub interval: CheckpointInterval,
    pub last: Instant,
}

impl Observer for Checkpointing<'_> {
    fn observe(&mut self, record: &IterationRecord, max_iterations: usize) {
        self.inner.observe(record, max_iterations);
    }

    fn cancelled(&self) -> bool {
        self.inner.cancelled()
    }

    fn checkpoint_due(&mut self, iterations_done: usize) -> bool {
        match self.interval {
            CheckpointInterval::Every(interval) => self.last.elapsed() >= interval,
            CheckpointInterval::Iterations(n) => iterations_done.is_multiple_of(n),
            CheckpointInterval::Never => false,
        }
    }

    fn checkpoint(
        &mut self,
        mut header: Header,
        arrays: &[(String, &[f64])],
    ) -> Result<(), String> {
        header.identity = (self.identity)
            .get_or_insert_with(|| identity(self.design))
            .clone();
        write_atomically(&self.path, |w| {
            checkpoint::write(w, &header, arrays).map_err(|e| match e {
                CheckpointError::Io(e) => e,
                other => std::io::Error::other(other),
            })
        })
        .map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.last = Instant::now();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_in_seconds_minutes_iterations_or_never() {
        let parse = |s: &str| s.parse::<CheckpointInterval>();
        assert_eq!(
            parse("90s"),
            Ok(CheckpointInterval::Every(Duration::from_secs(90)))
        );
        assert_eq!(
            parse("1.5m"),
            Ok(CheckpointInterval::Every(Duration::from_secs(90)))
        );
        assert_eq!(parse("10"), Ok(CheckpointInterval::Iterations(10)));
        assert_eq!(parse("never"), Ok(CheckpointInterval::Never));
        for bad in ["0", "-1s", "NaNs", "infm", "ten", "", "5h", "0s"] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("is not an interval"), "{bad}: {e}");
        }
    }

    #[test]
    fn changed_keys_are_named_with_both_values() {
        let then = serde_json::json!({"optimization": {"volume_fraction": 0.3, "max_iterations": 50}, "name": "a"});
        let now = serde_json::json!({"optimization": {"volume_fraction": 0.25, "max_iterations": 50}, "name": "a"});
        let mut changed = Vec::new();
        compare("", &then, &now, &mut changed);
        assert_eq!(
            describe(&changed),
            "`optimization.volume_fraction` was 0.3, is 0.25"
        );
    }

    #[test]
    fn a_second_lock_on_a_folder_is_refused_until_the_first_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = FolderLock::take(dir.path()).unwrap();
        let e = FolderLock::take(dir.path()).unwrap_err();
        assert!(matches!(e, ResumeError::Busy { .. }), "{e}");
        assert!(e.to_string().contains("another formwerk run"));
        drop(first);
        FolderLock::take(dir.path()).unwrap();
    }
}
