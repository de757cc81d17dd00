//! Sweeps: one design file with a `[sweep]` table, many resolved designs ("variants").
//!
//! - [`spec`]: the `[sweep]` table, its expansion (grid or list) and validation, variant ids.
//! - [`plan`]: the files that describe a sweep on disk: `variants/<index>-<id>.toml` (each a
//!   complete design file), `variants.json` (the index), and for clusters `tasks.txt` (one
//!   `formwerk run` per line) and `slurm.sbatch` (a job array).
//! - [`local`]: runs the variants on this machine, several at a time, each in its own thread
//!   pool, skipping finished ones and recording failures.
//! - [`summary`]: reads whatever finished into `summary.csv`, `summary.json` and `pareto.svg`,
//!   the same for a local sweep and a planned one.
//!
//! A sweep folder holds one folder per variant, named by its id, written exactly as
//! `formwerk run` writes it; so a variant run alone, inside a local sweep or as a cluster task
//! gives the same bytes (the optimization is deterministic for any thread count).

pub mod local;
pub mod plan;
pub mod spec;
pub mod summary;

use std::path::PathBuf;

pub use spec::{Sweep, SweepMode, Variant, variant_id};

/// Why sweep files could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// A file or folder could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Write {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file of the sweep folder is missing or unreadable.
    #[error("{}: {message}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl SweepError {
    /// Whether the error is the user's input (a folder that is not a sweep; exit code 1).
    pub fn is_input_error(&self) -> bool {
        matches!(self, Self::Read { .. })
    }
}

/// The error for an output at `path` that cannot be written.
fn write_error(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> SweepError {
    let path = path.to_path_buf();
    move |source| SweepError::Write { path, source }
}
