//! formwerk: generative design by topology optimization.
//!
//! The data path, one module per stage:
//!
//! ```text
//! design (TOML) ──▶ regions ──▶ Problem (grid, material, supports, loads, keep-solid/empty)
//!     ──▶ optimize: filter ──▶ fem solve per load case ──▶ responses + sensitivities
//!                   ──▶ filter chain rule ──▶ OC or MMA update ──▶ observers
//!     ──▶ Outcome ──▶ analysis (displacement, stress, safety factor)
//!     ──▶ output (result.json, density.vti, convergence.svg) + mesh (part.stl)
//!
//! sweep: a design with a [sweep] table ──▶ variants, each run as above ──▶ summary, Pareto front
//! ```
//!
//! The library is used by the `formwerk` binary; `examples/library.rs` shows direct use.
#![warn(missing_docs)]

pub mod analysis;
pub mod bench;
pub mod design;
pub mod fem;
pub mod filters;
pub mod grid;
pub mod materials;
pub mod memory;
pub mod mesh;
pub mod optimize;
pub mod output;
pub mod printer;
pub mod problem;
pub mod reduce;
pub mod resume;
pub mod run;
pub mod slicer;
pub mod sweep;

pub use design::{Design, DesignError};
pub use grid::Grid;
pub use optimize::{IterationRecord, Observer, Outcome, TerminationReason};
pub use problem::{LoadCase, Material, OptimizationParams, Problem};
