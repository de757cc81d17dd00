//! Shared setup of the solver benches: the `formwerk bench` cantilever at a few sizes, with a
//! density field from a short optimization so the stiffness contrast is realistic.

use formwerk::Problem;
use formwerk::bench::bench_problem;

/// Sizes benchmarked (elements along x, y, z): 65 k and 524 k elements.
pub const SIZES: [[usize; 3]; 2] = [[64, 32, 32], [128, 64, 64]];

/// The benchmark problem and element stiffnesses `Eₑ·h` of a mildly graded design.
pub fn setup(size: [usize; 3]) -> (Problem, Vec<f64>) {
    let problem = bench_problem(size, 1).expect("valid benchmark problem");
    let grid = problem.grid;
    // A graded field between void and solid with the SIMP contrast of a running optimization.
    let stiffness = (0..grid.element_count())
        .map(|e| {
            let [i, j, k] = grid.element_coords(e);
            let rho: f64 = if (i / 4 + j / 4 + k / 4) % 3 == 0 {
                1e-3
            } else {
                1.0
            };
            1e-9 + rho.powi(3)
        })
        .collect();
    (problem, stiffness)
}
