//! The fixed benchmark of `formwerk bench`: a clamped cantilever with a line load at its free end
//! (volume fraction 0.12, filter radius 1.5 elements, multigrid-CG to a relative residual of 1e-5,
//! as the peer codes are run), timed per design iteration, plus the machine's STREAM-triad
//! bandwidth measured in the same run for the roofline of the operator apply.

use std::path::Path;
use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::design::{Design, DesignError};
use crate::fem::{ElementStiffness, StiffnessOperator};
use crate::optimize::{OptimizeError, Silent, optimize};
use crate::problem::Problem;

/// Floating-point operations of one element in the matrix-free apply (24 × 24 multiply-adds).
pub const FLOPS_PER_ELEMENT: f64 = 2.0 * 576.0;
/// Bytes per element an ideal apply must move: displacement in, result out, mask (3 f64 per
/// node each, ~1 node per element) and the element stiffness.
pub const BYTES_PER_ELEMENT: f64 = 8.0 * (3.0 + 3.0 + 3.0 + 1.0);

/// The benchmark problem on `elements` unit voxels.
pub fn bench_problem(elements: [usize; 3], iterations: usize) -> Result<Problem, DesignError> {
    let [nx, ny, nz] = elements;
    let text = format!(
        r#"
name = "bench"
[domain]
size_mm = [{nx}.0, {ny}.0, {nz}.0]
element_size_mm = 1.0
[material]
youngs_modulus_mpa = 1.0
poisson_ratio = 0.3
[[supports]]
region = {{ face = "x_min" }}
[[load_cases]]
name = "tip"
[[load_cases.loads]]
region = {{ box = {{ min_mm = [{nx}.0, 0.0, 0.0], max_mm = [{nx}.0, 0.0, {nz}.0] }} }}
force_n = [0.0, -{force}.0, 0.0]
[optimization]
volume_fraction = 0.12
filter_radius_mm = 1.5
max_iterations = {iterations}
change_tolerance = 0.0
[solver]
method = "multigrid"
tolerance = 1e-5
"#,
        force = nz + 1
    );
    let path = Path::new("<bench>");
    Design::from_toml(&text, path)?.to_problem(path)
}

/// Measurements of one benchmark size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchCase {
    /// Elements along x, y, z.
    pub size: [usize; 3],
    /// Number of elements.
    pub elements: usize,
    /// Degrees of freedom.
    pub dofs: usize,
    /// Median wall-clock seconds of a design iteration.
    pub seconds_per_iteration: f64,
    /// Mean CG iterations per solve.
    pub cg_iterations_per_solve: f64,
    /// Multigrid levels.
    pub levels: usize,
    /// Peak resident memory of the process that ran this case, in bytes (0 if unknown).
    pub peak_rss_bytes: u64,
    /// Median seconds of one fine-grid operator apply.
    pub operator_apply_seconds: f64,
    /// Achieved floating-point rate of the apply, GFLOP/s.
    pub operator_gflops: f64,
    /// Achieved effective bandwidth of the apply (ideal traffic / time), GB/s.
    pub operator_gb_s: f64,
    /// Worker threads.
    pub threads: usize,
    /// Where a design iteration's time goes, in mean seconds per iteration.
    pub split: IterationSplit,
}

/// Mean seconds per design iteration by stage (the loop's [`crate::optimize::Timings`] over
/// the iterations).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct IterationSplit {
    /// Multigrid coarse operators.
    pub solver_setup_s: f64,
    /// Linear solves (multigrid-preconditioned CG).
    pub solve_s: f64,
    /// Density filter, forward and chain rule.
    pub filter_s: f64,
    /// Design update.
    pub update_s: f64,
    /// The rest: sensitivities, volume, bookkeeping.
    pub other_s: f64,
}

/// Runs one size for `iterations` design iterations.
pub fn run_case(size: [usize; 3], iterations: usize) -> Result<BenchCase, BenchError> {
    let problem = bench_problem(size, iterations)?;
    let outcome = optimize(&problem, &mut Silent)?;
    let mut seconds: Vec<f64> = outcome.history.iter().map(|r| r.seconds).collect();
    let cg = outcome.solver.iterations_total as f64 / outcome.solver.solves.max(1) as f64;
    let grid = problem.grid;
    let elements = grid.element_count();
    let operator_apply_seconds = time_apply(&problem);
    let t = outcome.timings;
    let per_iteration = |seconds: f64| seconds / outcome.history.len().max(1) as f64;
    let split = IterationSplit {
        solver_setup_s: per_iteration(t.solver_setup_s),
        solve_s: per_iteration(t.solve_s),
        filter_s: per_iteration(t.filter_s),
        update_s: per_iteration(t.update_s),
        other_s: per_iteration(
            (t.total_s - t.solver_setup_s - t.solve_s - t.filter_s - t.update_s).max(0.0),
        ),
    };
    Ok(BenchCase {
        size,
        elements,
        dofs: grid.dof_count(),
        seconds_per_iteration: median(&mut seconds),
        cg_iterations_per_solve: cg,
        levels: outcome.solver.levels,
        peak_rss_bytes: peak_rss_bytes().unwrap_or(0),
        operator_apply_seconds,
        operator_gflops: FLOPS_PER_ELEMENT * elements as f64 / operator_apply_seconds / 1e9,
        operator_gb_s: BYTES_PER_ELEMENT * elements as f64 / operator_apply_seconds / 1e9,
        threads: rayon::current_num_threads(),
        split,
    })
}

/// Median seconds of a fine-grid apply on the problem (11 repetitions after a warm-up).
fn time_apply(problem: &Problem) -> f64 {
    let grid = problem.grid;
    let mut op = StiffnessOperator::new(grid, ElementStiffness::new(0.3), &problem.fixed_dofs);
    let stiffness: Vec<f64> = (0..grid.element_count())
        .map(|e| 0.1 + (e % 7) as f64 * 0.1)
        .collect();
    op.set_stiffness(&stiffness);
    let u: Vec<f64> = (0..grid.dof_count())
        .map(|d| (d % 13) as f64 * 0.01)
        .collect();
    let mut y = vec![0.0; u.len()];
    op.apply(&u, &mut y);
    let mut times: Vec<f64> = (0..11)
        .map(|_| {
            let start = Instant::now();
            op.apply(&u, &mut y);
            start.elapsed().as_secs_f64()
        })
        .collect();
    median(&mut times)
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// STREAM triad `a = b + s·c` over 3 × 64 MiB arrays with all threads: best of 5, in GB/s
/// (counting 24 bytes per entry as STREAM does).
pub fn stream_triad_gb_s() -> f64 {
    let n = 8 << 20;
    let (mut a, b, c) = (vec![0.0f64; n], vec![1.0f64; n], vec![2.0f64; n]);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        a.par_chunks_mut(1 << 16)
            .zip(b.par_chunks(1 << 16))
            .zip(c.par_chunks(1 << 16))
            .for_each(|((a, b), c)| {
                for i in 0..a.len() {
                    a[i] = b[i] + 3.0 * c[i];
                }
            });
        best = best.min(start.elapsed().as_secs_f64());
    }
    std::hint::black_box(&a);
    24.0 * n as f64 / best / 1e9
}

/// Peak resident set size of this process (Linux `VmHWM`), in bytes.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Parses `64x32x32` into element counts.
pub fn parse_size(text: &str) -> Option<[usize; 3]> {
    let parts: Vec<usize> = text
        .split('x')
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    match parts[..] {
        [x, y, z] if x > 0 && y > 0 && z > 0 => Some([x, y, z]),
        _ => None,
    }
}

/// Why a benchmark case failed.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The generated problem is invalid (e.g. an odd size).
    #[error(transparent)]
    Design(#[from] DesignError),
    /// The optimization failed.
    #[error(transparent)]
    Optimize(#[from] OptimizeError),
}

/// The content of `bench.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Layout version of the file ([`crate::output::SCHEMA_VERSION`]).
    #[serde(default = "crate::output::schema_version")]
    pub schema_version: u32,
    /// Version of formwerk.
    pub formwerk_version: String,
    /// Design iterations per case.
    pub iterations: usize,
    /// STREAM-triad bandwidth of this machine with the same threads, GB/s.
    pub stream_triad_gb_s: f64,
    /// One entry per size.
    pub cases: Vec<BenchCase>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("64x32x32"), Some([64, 32, 32]));
        assert_eq!(parse_size("64x32"), None);
        assert_eq!(parse_size("0x3x3"), None);
        assert_eq!(parse_size("ax3x3"), None);
    }

    #[test]
    fn a_small_case_runs() {
        let case = run_case([16, 8, 8], 2).unwrap();
        assert_eq!(case.elements, 1024);
        assert!(case.seconds_per_iteration > 0.0 && case.operator_apply_seconds > 0.0);
        assert!(case.cg_iterations_per_solve >= 1.0);
        let s = case.split;
        let parts = s.solver_setup_s + s.solve_s + s.filter_s + s.update_s + s.other_s;
        assert!(s.solve_s > 0.0 && s.filter_s > 0.0 && s.update_s > 0.0);
        // The stages add up to the mean iteration, which the median is close to.
        assert!(
            parts > 0.5 * case.seconds_per_iteration && parts < 2.0 * case.seconds_per_iteration
        );
    }
}
