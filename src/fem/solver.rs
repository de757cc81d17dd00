//! The linear solver used by the optimization loop: `K(E) u = f` for every load case.
//!
//! Today this is the sparse direct solver with iterative refinement, checked against the
//! matrix-free operator: after each solve the true residual `‖f − K u‖ / ‖f‖` is computed with an
//! independent code path, and refinement steps `u += K⁻¹ (f − K u)` run until it meets
//! [`SolverParams::tolerance`].

use super::direct::{DirectError, DirectSolver};
use super::hex8::ElementStiffness;
use super::operator::StiffnessOperator;
use crate::grid::Grid;

/// Settings of the linear solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverParams {
    /// Required relative residual `‖f − K u‖ / ‖f‖` (default 1e-10).
    pub tolerance: f64,
    /// Most refinement steps after the first solve (default 5).
    pub max_refinements: usize,
}

impl Default for SolverParams {
    fn default() -> Self {
        Self {
            tolerance: 1e-10,
            max_refinements: 5,
        }
    }
}

/// What one solve did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveInfo {
    /// Triangular solve passes (1 + refinement steps).
    pub iterations: usize,
    /// Final relative residual `‖f − K u‖ / ‖f‖`.
    pub relative_residual: f64,
    /// Whether the tolerance was met.
    pub converged: bool,
}

/// A failed solve: the run must stop, there is no usable displacement.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SolveError {
    /// The direct solver failed.
    #[error(transparent)]
    Direct(#[from] DirectError),
    /// The displacement or residual is not finite.
    #[error("the solve produced non-finite values (relative residual {relative_residual})")]
    NonFinite {
        /// The residual seen.
        relative_residual: f64,
    },
}

/// Solver for `K(E) u = f` on one grid with fixed supports.
#[derive(Debug)]
pub struct LinearSolver {
    operator: StiffnessOperator,
    direct: DirectSolver,
    params: SolverParams,
    /// `Eₑ·h` of the design last set.
    stiffness: Vec<f64>,
    residual: Vec<f64>,
    correction: Vec<f64>,
}

impl LinearSolver {
    /// Prepares the solver (pattern and symbolic factorization) for `grid` with DOFs `fixed`.
    pub fn new(
        grid: Grid,
        ke: ElementStiffness,
        fixed: &[bool],
        params: SolverParams,
    ) -> Result<Self, SolveError> {
        let direct = DirectSolver::new(grid, ke.clone(), fixed)?;
        let dofs = grid.dof_count();
        Ok(Self {
            operator: StiffnessOperator::new(grid, ke, fixed),
            direct,
            params,
            stiffness: vec![0.0; grid.element_count()],
            residual: vec![0.0; dofs],
            correction: vec![0.0; dofs],
        })
    }

    /// The matrix-free operator (for energies and residuals).
    pub fn operator(&self) -> &StiffnessOperator {
        &self.operator
    }

    /// Short name of the method, for reports.
    pub fn kind(&self) -> &'static str {
        "sparse-cholesky"
    }

    /// Sets the element stiffnesses `Eₑ·h` of the current design (factorizes).
    pub fn set_stiffness(&mut self, stiffness: &[f64]) -> Result<(), SolveError> {
        self.stiffness.copy_from_slice(stiffness);
        Ok(self.direct.factorize(stiffness)?)
    }

    /// Solves `K u = f` for the stiffness last set; `f` on fixed DOFs is ignored (reactions).
    pub fn solve(&mut self, f: &[f64], u: &mut [f64]) -> Result<SolveInfo, SolveError> {
        self.direct.solve(f, u);
        let f_norm = masked_norm(f, self.operator.free_mask());
        let mut iterations = 1;
        loop {
            let relative_residual = self.relative_residual(f, u, f_norm);
            if !relative_residual.is_finite() {
                return Err(SolveError::NonFinite { relative_residual });
            }
            let converged = relative_residual <= self.params.tolerance;
            if converged || iterations > self.params.max_refinements {
                return Ok(SolveInfo {
                    iterations,
                    relative_residual,
                    converged,
                });
            }
            self.direct.solve(&self.residual, &mut self.correction);
            for (x, d) in u.iter_mut().zip(&self.correction) {
                *x += d;
            }
            iterations += 1;
        }
    }

    /// Leaves `f − K u` (free DOFs) in `self.residual` and returns its norm relative to `f_norm`.
    fn relative_residual(&mut self, f: &[f64], u: &[f64], f_norm: f64) -> f64 {
        self.operator.apply(&self.stiffness, u, &mut self.residual);
        let mask = self.operator.free_mask();
        for ((r, &fi), &m) in self.residual.iter_mut().zip(f).zip(mask) {
            *r = m * (fi - *r);
        }
        let norm = masked_norm(&self.residual, mask);
        if f_norm == 0.0 { norm } else { norm / f_norm }
    }
}

fn masked_norm(v: &[f64], mask: &[f64]) -> f64 {
    v.iter()
        .zip(mask)
        .map(|(x, m)| m * x * x)
        .sum::<f64>()
        .sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refinement_reaches_the_tolerance_at_full_simp_contrast() {
        let grid = Grid::new([8, 4, 3], 1.0);
        let fixed: Vec<bool> = (0..grid.dof_count())
            .map(|d| grid.node_coords(d / 3)[0] == 0)
            .collect();
        // Void (1e-9) checkerboard pockets inside solid: the contrast of a SIMP design.
        let stiffness: Vec<f64> = (0..grid.element_count())
            .map(|e| {
                let [i, j, k] = grid.element_coords(e);
                if (i + j + k) % 2 == 0 && i > 1 {
                    1e-9
                } else {
                    1.0
                }
            })
            .collect();
        let mut solver = LinearSolver::new(
            grid,
            ElementStiffness::new(0.3),
            &fixed,
            SolverParams::default(),
        )
        .unwrap();
        solver.set_stiffness(&stiffness).unwrap();
        let mut f = vec![0.0; grid.dof_count()];
        f[3 * grid.node_index([8, 0, 0]) + 1] = -1.0;
        let mut u = vec![0.0; f.len()];
        let info = solver.solve(&f, &mut u).unwrap();
        assert!(
            info.converged && info.relative_residual <= 1e-10,
            "{info:?}"
        );
    }
}
