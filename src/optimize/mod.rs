//! Topology optimization by SIMP: the loop ([`driver`]), the design space with its passive
//! elements and symmetry ([`design_space`]), the structural responses ([`responses`]), the
//! updates (`update.rs` choosing between [`oc`] and [`mma`]) and the records.
//!
//! argmin's `Executor` is not used for the loop: it owns iteration and state, keeps several copies
//! of the design vector, and would hide the stages (filter → solve per load case → sensitivities →
//! chain rule → update) that [`driver::optimize`] lists explicitly. MMA is an argmin `Solver`
//! ([`mma::MmaSolver`]) for library users with their own constrained problems; the loop calls
//! the same update directly. The OC update keeps the classic bisection (not argmin's
//! `BrentRoot`) because reproducing the classic codes exactly requires the same λ sequence.

pub mod checkpoint;
pub mod design_space;
pub mod driver;
pub mod mma;
pub mod oc;
pub mod physical;
pub mod responses;
mod update;

pub use driver::{optimize, optimize_from};

use crate::fem::SolveError;

/// One design iteration, as recorded in the history.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct IterationRecord {
    /// Iteration number, from 1.
    pub iter: usize,
    /// Weighted compliance of the design analysed in this iteration, N·mm (with a minimum
    /// member size: of the eroded design, the one optimized).
    pub compliance_nmm: f64,
    /// Mean physical density of the free elements after this iteration's update (with a
    /// minimum member size: of the blueprint).
    pub volume_fraction: f64,
    /// Sharpness β of the threshold projection, with a minimum member size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub projection_beta: Option<f64>,
    /// Largest change of a design variable in this iteration.
    pub change: f64,
    /// Wall-clock seconds of this iteration.
    pub seconds: f64,
    /// Linear-solver iterations summed over this iteration's load cases.
    pub solver_iterations: usize,
    /// Largest relative residual of this iteration's solves.
    pub relative_residual: f64,
}

/// Why the loop stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminationReason {
    /// The largest design change fell to the tolerance.
    Converged,
    /// The iteration limit was reached first.
    MaxIterations,
}

impl std::fmt::Display for TerminationReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Converged => "converged",
            Self::MaxIterations => "stopped at the iteration limit",
        })
    }
}

/// Seconds spent per stage over the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timings {
    /// Total wall-clock seconds of the loop.
    pub total_s: f64,
    /// Mean seconds per design iteration.
    pub per_iteration_s: f64,
    /// Linear-solver setup: factorization, or the multigrid coarse operators.
    pub solver_setup_s: f64,
    /// Linear solves.
    pub solve_s: f64,
    /// Filtering (forward and chain rule).
    pub filter_s: f64,
    /// Design update (including the filter applications of its bisection).
    pub update_s: f64,
}

/// Linear-solver statistics over the whole run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SolverStats {
    /// The method.
    pub kind: String,
    /// Multigrid levels (1 for the direct solver).
    pub levels: usize,
    /// Relative residual each solve aims for.
    pub tolerance: f64,
    /// Iterations summed over all solves.
    pub iterations_total: usize,
    /// Number of solves.
    pub solves: usize,
    /// Largest relative residual of any solve.
    pub max_relative_residual: f64,
    /// Solves that did not reach the tolerance.
    pub unconverged_solves: usize,
}

/// The result of an optimization.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Physical density of the final design: the last one analysed, so that its compliance is
    /// exact (the classic codes report the same pair).
    pub density: Vec<f64>,
    /// Weighted compliance of `density`, N·mm.
    pub compliance_nmm: f64,
    /// Compliance of each load case for `density`, N·mm.
    pub load_case_compliance_nmm: Vec<f64>,
    /// Displacements (mm, one per DOF) of each load case for `density`.
    pub displacements: Vec<Vec<f64>>,
    /// Mean of `density` over the free elements.
    pub volume_fraction: f64,
    /// Design iterations run.
    pub iterations: usize,
    /// Why the loop stopped.
    pub termination: TerminationReason,
    /// Per-iteration records.
    pub history: Vec<IterationRecord>,
    /// Time per stage.
    pub timings: Timings,
    /// Linear-solver statistics.
    pub solver: SolverStats,
}

/// Watches the loop: progress display, logs. Called once per iteration.
pub trait Observer {
    /// Called after each design iteration.
    fn observe(&mut self, record: &IterationRecord, max_iterations: usize);

    /// Asked before each design iteration: `true` stops the loop with
    /// [`OptimizeError::Cancelled`] (Ctrl-C in a sweep). Default: never.
    fn cancelled(&self) -> bool {
        false
    }

    /// Asked after each design iteration with the number done: `true` asks for a
    /// [`Self::checkpoint`] of the loop's state now. Default: never.
    fn checkpoint_due(&mut self, _iterations_done: usize) -> bool {
        false
    }

    /// Keeps the loop's state, to go on from later ([`checkpoint`]); called when
    /// [`Self::checkpoint_due`] asks and when the loop is cancelled. The header's `identity`
    /// is the observer's to fill. An error stops the run. Default: keeps nothing.
    fn checkpoint(
        &mut self,
        _header: checkpoint::Header,
        _arrays: &[(String, &[f64])],
    ) -> Result<(), String> {
        Ok(())
    }
}

/// An observer that does nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Silent;

impl Observer for Silent {
    fn observe(&mut self, _: &IterationRecord, _: usize) {}
}

/// What a compliance that is not a positive number says about its cause.
fn bad_compliance(compliance: f64) -> String {
    if compliance.is_finite() {
        format!(
            "compliance is {compliance}: no load does work on the structure (are the loads on held nodes, or on empty space?)"
        )
    } else {
        format!(
            "compliance is {compliance}: the solve gave non-finite displacements although loads and material are within their bounds; please report this with the design file"
        )
    }
}

/// Why an optimization failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OptimizeError {
    /// The linear solve failed.
    #[error("iteration {iteration}: {source}")]
    Solve {
        /// Design iteration.
        iteration: usize,
        /// The solver failure.
        source: SolveError,
    },
    /// The design update failed.
    #[error("iteration {iteration}: design update failed: {message}")]
    Update {
        /// Design iteration.
        iteration: usize,
        /// What went wrong.
        message: String,
    },
    /// The observer asked to stop (e.g. Ctrl-C); nothing of the run should be kept.
    #[error("cancelled before iteration {iteration}")]
    Cancelled {
        /// The design iteration that did not start.
        iteration: usize,
    },
    /// The loop's state could not be kept ([`Observer::checkpoint`]).
    #[error("after iteration {iteration}: cannot write the checkpoint: {message}")]
    Checkpoint {
        /// Iterations done.
        iteration: usize,
        /// What went wrong.
        message: String,
    },
    /// The checkpoint given to go on from does not fit the problem.
    #[error("cannot resume from the checkpoint: {0}")]
    Resume(String),
    /// The compliance is not finite or not positive.
    #[error("iteration {iteration}: {}", bad_compliance(*compliance))]
    BadCompliance {
        /// Design iteration.
        iteration: usize,
        /// The value seen.
        compliance: f64,
    },
}
