//! Result files: density fields, convergence plots, and safe writing.
//!
//! Every file is written through [`atomic::write_atomically`] (write to a
//! temporary file, sync, rename), so a crash or a full disk part-way through
//! a long optimisation never leaves a truncated result that looks valid.
//! [`vtk`] writes the density field as VTK XML ImageData for ParaView, and
//! [`plot`] draws the compliance and volume-fraction history as SVG, [`pareto`] a sweep's
//! Pareto front.

/// Version of the layout of formwerk's JSON outputs (`result.json`, `analysis.json`,
/// `summary.json`, `variants.json`, `bench.json`, `inspect --json`), written in each as
/// `schema_version`: raised when a key is renamed or removed or changes meaning; new keys keep it.
pub const SCHEMA_VERSION: u32 = 1;

/// [`SCHEMA_VERSION`], as serde's default for files written before it was recorded.
pub fn schema_version() -> u32 {
    SCHEMA_VERSION
}

pub mod atomic;
pub mod pareto;
pub mod plot;
pub mod preview;
pub mod report;
pub mod result;
pub mod vtk;
