//! The linear solver used by the optimization loop: `K(E) u = f` for every load case.
//!
//! Two methods, chosen by [`SolverParams::method`]:
//! - **multigrid**: CG preconditioned by a geometric-multigrid V-cycle ([`super::multigrid`]),
//!   matrix-free on the fine grid, warm-started from the previous design iteration. Its cost
//!   grows linearly with the grid; it is the method for large grids.
//! - **direct**: sparse Cholesky of the assembled matrix with iterative refinement, exact but
//!   with fill-in that grows faster than the grid; the reference, and the default for small grids.
//!
//! Either way, the reported residual is the true `‖f − K u‖ / ‖f‖`, recomputed with the
//! matrix-free operator after the solve.
//!
//! [`LinearSolver`] holds only what [`LinearSolver::set_stiffness`] builds (operator,
//! factorization or multigrid hierarchy); a solve reads it and writes its displacement and a
//! [`SolveWorkspace`] (from [`LinearSolver::workspace`]). Load cases are independent systems with
//! the same matrix, so [`LinearSolver::solve_all`] solves them concurrently, one workspace each,
//! each warm-started from its own previous displacement. Every solve is a fixed sequence of
//! operations with fixed-order reductions, so its result does not depend on the thread count or
//! on which other solves run beside it.

use rayon::prelude::*;

use super::cg::{CgError, CgParams, CgWorkspace, pcg};
use super::direct::{DirectError, DirectSolver};
use super::hex8::ElementStiffness;
use super::multigrid::{Multigrid, MultigridParams, MultigridWorkspace, level_count};
use super::operator::StiffnessOperator;
use crate::grid::Grid;

/// Which method solves the linear systems.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SolverMethod {
    /// Direct up to [`AUTO_DIRECT_MAX_DOFS`] DOFs, multigrid above.
    #[default]
    Auto,
    /// Sparse Cholesky.
    Direct,
    /// Multigrid-preconditioned CG.
    Multigrid,
}

/// Grids up to this many DOFs are solved directly by [`SolverMethod::Auto`].
pub const AUTO_DIRECT_MAX_DOFS: usize = 30_000;

/// The Cholesky factor of a grid's stiffness has about `FACTOR_FILL · unknowns^FACTOR_EXPONENT`
/// entries ([`LinearSolver::planned_memory_bytes`]): fitted to faer's factors of 4,131 and
/// 12,675 unknowns (0.95 and 5.6 million entries), the direct solver's range. Nested dissection
/// would grow as `unknowns^{4/3}` (George 1973); the fitted growth is steeper, so it errs high on
/// larger grids.
pub const FACTOR_FILL: f64 = 1.85;
/// See [`FACTOR_FILL`].
pub const FACTOR_EXPONENT: f64 = 1.58;

/// Settings of the linear solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolverParams {
    /// The method.
    pub method: SolverMethod,
    /// Required relative residual `‖f − K u‖ / ‖f‖`; `None` means 1e-10 for the direct solver
    /// and 1e-6 for multigrid.
    pub tolerance: Option<f64>,
    /// Most CG iterations per solve (default 500), or refinement steps for the direct solver.
    pub max_iterations: usize,
    /// Multigrid hierarchy settings.
    pub multigrid: MultigridParams,
}

impl Default for SolverParams {
    fn default() -> Self {
        Self {
            method: SolverMethod::Auto,
            tolerance: None,
            max_iterations: 500,
            multigrid: MultigridParams::default(),
        }
    }
}

/// Default tolerance of the direct solver.
pub const DIRECT_TOLERANCE: f64 = 1e-10;
/// Default tolerance of multigrid-CG.
pub const MULTIGRID_TOLERANCE: f64 = 1e-6;
/// Most refinement steps of the direct solver.
const MAX_REFINEMENTS: usize = 5;

/// What one solve did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveInfo {
    /// CG iterations, or triangular solve passes (1 + refinement steps) for the direct solver.
    pub iterations: usize,
    /// Final true relative residual `‖f − K u‖ / ‖f‖`.
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
    /// Conjugate gradients failed.
    #[error(transparent)]
    Cg(#[from] CgError),
    /// The displacement or residual is not finite.
    #[error("the solve produced non-finite values (relative residual {relative_residual})")]
    NonFinite {
        /// The residual seen.
        relative_residual: f64,
    },
}

#[derive(Debug)]
enum Method {
    Direct(Box<DirectSolver>),
    Multigrid(Box<Multigrid>),
}

/// Solver for `K(E) u = f` on one grid with fixed supports. Solves take `&self`, so one solver
/// serves concurrent solves, each with its own [`SolveWorkspace`].
#[derive(Debug)]
pub struct LinearSolver {
    operator: StiffnessOperator,
    method: Method,
    tolerance: f64,
    max_iterations: usize,
}

/// Everything one solve writes besides its displacement: the masked right-hand side, the
/// residual, and the method's scratch (the triangular solves' right-hand side and the refinement
/// correction, or CG's vectors and the V-cycle's vectors on every level).
///
/// Made by [`LinearSolver::workspace`] for that solver; one per concurrent solve. It carries
/// nothing from one solve to the next (the warm start is the displacement itself), so which
/// workspace a solve gets never changes its result.
#[derive(Debug, Clone)]
pub struct SolveWorkspace {
    f_masked: Vec<f64>,
    residual: Vec<f64>,
    method: MethodWorkspace,
}

#[derive(Debug, Clone)]
enum MethodWorkspace {
    Direct {
        rhs: Vec<f64>,
        correction: Vec<f64>,
    },
    Multigrid {
        cg: CgWorkspace,
        vcycle: MultigridWorkspace,
    },
}

impl LinearSolver {
    /// Prepares the solver for `grid` with DOFs `fixed`: the multigrid hierarchy, or the
    /// pattern and symbolic factorization of the direct solver.
    pub fn new(
        grid: Grid,
        ke: ElementStiffness,
        fixed: &[bool],
        params: &SolverParams,
    ) -> Result<Self, SolveError> {
        let operator = StiffnessOperator::new(grid, ke, fixed);
        let levels = level_count(&grid, &params.multigrid);
        let (method, tolerance) = if Self::uses_multigrid(&grid, levels, params) {
            let mg = Multigrid::new(&operator, fixed, &params.multigrid)?;
            (
                Method::Multigrid(Box::new(mg)),
                params.tolerance.unwrap_or(MULTIGRID_TOLERANCE),
            )
        } else {
            (
                Method::Direct(Box::new(DirectSolver::new(grid, fixed)?)),
                params.tolerance.unwrap_or(DIRECT_TOLERANCE),
            )
        };
        Ok(Self {
            operator,
            method,
            tolerance,
            max_iterations: params.max_iterations,
        })
    }

    /// Scratch for one solve at a time with this solver (see [`SolveWorkspace`]).
    pub fn workspace(&self) -> SolveWorkspace {
        let dofs = self.operator.grid().dof_count();
        let method = match &self.method {
            Method::Direct(direct) => MethodWorkspace::Direct {
                rhs: vec![0.0; direct.unknowns()],
                correction: vec![0.0; dofs],
            },
            Method::Multigrid(mg) => MethodWorkspace::Multigrid {
                cg: CgWorkspace::new(dofs),
                vcycle: mg.workspace(),
            },
        };
        SolveWorkspace {
            f_masked: vec![0.0; dofs],
            residual: vec![0.0; dofs],
            method,
        }
    }

    /// Bytes held by one [`SolveWorkspace`] of this solver.
    pub fn workspace_bytes(&self) -> usize {
        let dofs = self.operator.grid().dof_count();
        let method = match &self.method {
            Method::Direct(direct) => 8 * (direct.unknowns() + dofs),
            Method::Multigrid(mg) => 8 * 4 * dofs + mg.workspace_bytes(),
        };
        8 * 2 * dofs + method
    }

    /// The matrix-free operator (for energies and residuals).
    pub fn operator(&self) -> &StiffnessOperator {
        &self.operator
    }

    /// Short name of the method, for reports.
    pub fn kind(&self) -> &'static str {
        match self.method {
            Method::Direct(_) => "sparse-cholesky",
            Method::Multigrid(..) => "multigrid-cg",
        }
    }

    /// Number of multigrid levels (1 for the direct solver).
    pub fn levels(&self) -> usize {
        match &self.method {
            Method::Direct(_) => 1,
            Method::Multigrid(mg) => mg.level_count(),
        }
    }

    /// Estimated bytes of a whole optimization run with `load_cases` load cases: this solver,
    /// the operator, one workspace, force and displacement vector per case, ~12 element fields,
    /// and the operator's single-precision copy of the element stiffnesses (4 bytes each).
    pub fn memory_bytes(&self, load_cases: usize) -> usize {
        let grid = self.operator.grid();
        let method = match &self.method {
            Method::Direct(direct) => direct.memory_bytes(),
            Method::Multigrid(mg) => mg.memory_bytes(),
        };
        method
            + load_cases * self.workspace_bytes()
            + 8 * (grid.dof_count() * (1 + 2 * load_cases) + 12 * grid.element_count())
            + 4 * grid.element_count()
    }

    /// [`Self::memory_bytes`] before anything is built or allocated: the same sum from the
    /// grid's sizes alone, with the Cholesky factors (the direct solver's, or the coarsest
    /// level's) taken at [`FACTOR_FILL`]` · unknowns^`[`FACTOR_EXPONENT`] entries. In floating
    /// point, so that a grid of any size gives a number instead of an overflow.
    pub fn planned_memory_bytes(grid: &Grid, load_cases: usize, params: &SolverParams) -> f64 {
        let dofs = grid.dof_count() as f64;
        let cases = load_cases as f64;
        let factor = |unknowns: f64| {
            8.0 * (FACTOR_FILL * unknowns.powf(FACTOR_EXPONENT) + 2.0 * 81.0 * unknowns)
        };
        let levels = level_count(grid, &params.multigrid);
        let (method, workspace) = if Self::uses_multigrid(grid, levels, params) {
            let (mut coarse, mut level_dofs, mut g) = (0.0, 0.0, *grid);
            // As `Multigrid::memory_bytes` and `workspace_bytes` count them, level by level.
            for level in 1..levels {
                g = super::transfer::coarsen(&g);
                let d = g.dof_count() as f64;
                let subcells = f64::from(1u32 << level.min(20)).powi(3);
                coarse += 8.0 * (83.0 * d + subcells * 576.0);
                level_dofs += d;
                if level + 1 == levels {
                    coarse += factor(d);
                }
            }
            let coarsest = g.dof_count() as f64;
            let first = super::transfer::coarsen(grid).dof_count() as f64;
            (
                coarse + 8.0 * (dofs + 2.0 * first),
                8.0 * (7.0 * dofs + 5.0 * level_dofs + coarsest),
            )
        } else {
            (factor(dofs), 8.0 * 2.0 * dofs)
        };
        // Per case: the solve's masked load and residual besides the method's scratch.
        let per_case = workspace + 8.0 * 2.0 * dofs;
        method
            + cases * per_case
            + 8.0 * (dofs * (1.0 + 2.0 * cases) + 12.0 * grid.element_count() as f64)
            + 4.0 * grid.element_count() as f64
    }

    /// Whether a solver for `grid` with `levels` possible multigrid levels is multigrid.
    fn uses_multigrid(grid: &Grid, levels: usize, params: &SolverParams) -> bool {
        levels >= 2
            && match params.method {
                SolverMethod::Direct => false,
                SolverMethod::Multigrid => true,
                SolverMethod::Auto => grid.dof_count() > AUTO_DIRECT_MAX_DOFS,
            }
    }

    /// The relative residual the solves aim for.
    pub fn tolerance(&self) -> f64 {
        self.tolerance
    }

    /// Sets the element stiffnesses `Eₑ·h` of the current design (factorizes, or rebuilds the
    /// coarse levels).
    pub fn set_stiffness(&mut self, stiffness: &[f64]) -> Result<(), SolveError> {
        self.operator.set_stiffness(stiffness);
        match &mut self.method {
            Method::Direct(direct) => {
                direct.factorize(self.operator.element_stiffness(), stiffness)?
            }
            Method::Multigrid(mg) => mg.update(&self.operator)?,
        }
        Ok(())
    }

    /// Solves `K u = f` for the stiffness last set, starting from `u` (warm start); `f` on
    /// fixed DOFs is ignored (reactions). `workspace` must come from this solver's
    /// [`workspace`](Self::workspace).
    pub fn solve(
        &self,
        f: &[f64],
        u: &mut [f64],
        workspace: &mut SolveWorkspace,
    ) -> Result<SolveInfo, SolveError> {
        let mask = self.operator.free_mask();
        assert!(
            f.len() == mask.len() && u.len() == mask.len(),
            "one force and one displacement per DOF"
        );
        let SolveWorkspace {
            f_masked,
            residual,
            method,
        } = workspace;
        for ((fm, &fi), &m) in f_masked.iter_mut().zip(f).zip(mask) {
            *fm = m * fi;
        }
        let f_norm = norm(f_masked);
        match (&self.method, method) {
            (Method::Direct(direct), MethodWorkspace::Direct { rhs, correction }) => {
                direct.solve(f_masked, u, rhs);
                let mut iterations = 1;
                loop {
                    let relative_residual =
                        self.relative_residual(u, f_masked, f_norm, residual)?;
                    let converged = relative_residual <= self.tolerance;
                    if converged || iterations > MAX_REFINEMENTS.min(self.max_iterations) {
                        return Ok(SolveInfo {
                            iterations,
                            relative_residual,
                            converged,
                        });
                    }
                    direct.solve(residual, correction, rhs);
                    for (x, d) in u.iter_mut().zip(correction.iter()) {
                        *x += d;
                    }
                    iterations += 1;
                }
            }
            (Method::Multigrid(mg), MethodWorkspace::Multigrid { cg, vcycle }) => {
                let operator = &self.operator;
                let params = CgParams {
                    tolerance: self.tolerance,
                    max_iterations: self.max_iterations,
                };
                let info = pcg(
                    |x, y| operator.apply(x, y),
                    |r, z| mg.apply(operator, r, z, vcycle),
                    f_masked,
                    u,
                    &params,
                    cg,
                )?;
                let relative_residual = self.relative_residual(u, f_masked, f_norm, residual)?;
                Ok(SolveInfo {
                    iterations: info.iterations,
                    relative_residual,
                    // The true residual may sit a little above CG's recursive one.
                    converged: info.converged && relative_residual <= 10.0 * self.tolerance,
                })
            }
            _ => panic!("the workspace belongs to a solver of another method"),
        }
    }

    /// Solves independent systems `K u = f` concurrently, one per job `(f, u, workspace)`, each
    /// as [`solve`](Self::solve) does (warm-started from its `u`). The jobs must not share a
    /// workspace, which the borrows already ensure. Each result is bitwise that of solving the
    /// job alone, for any thread count. Every job runs; the infos come back in job order, or
    /// the first error in job order.
    pub fn solve_all(
        &self,
        jobs: &mut [(&[f64], &mut [f64], &mut SolveWorkspace)],
    ) -> Result<Vec<SolveInfo>, SolveError> {
        let results: Vec<Result<SolveInfo, SolveError>> = jobs
            .par_iter_mut()
            .map(|(f, u, workspace)| self.solve(f, u, workspace))
            .collect();
        results.into_iter().collect()
    }

    /// Leaves `f − K u` in `residual` and returns its norm relative to `f_norm`.
    fn relative_residual(
        &self,
        u: &[f64],
        f: &[f64],
        f_norm: f64,
        residual: &mut [f64],
    ) -> Result<f64, SolveError> {
        self.operator.apply(u, residual);
        for (r, &f) in residual.iter_mut().zip(f) {
            *r = f - *r;
        }
        let relative_residual = if f_norm == 0.0 {
            norm(residual)
        } else {
            norm(residual) / f_norm
        };
        if relative_residual.is_finite() {
            Ok(relative_residual)
        } else {
            Err(SolveError::NonFinite { relative_residual })
        }
    }
}

fn norm(v: &[f64]) -> f64 {
    crate::reduce::sum_map(v.len(), |i| v[i] * v[i]).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cantilever with SIMP contrast: void (1e-9) checkerboard pockets inside solid.
    fn contrast_problem(grid: Grid) -> (Vec<bool>, Vec<f64>, Vec<f64>) {
        let fixed: Vec<bool> = (0..grid.dof_count())
            .map(|d| grid.node_coords(d / 3)[0] == 0)
            .collect();
        let stiffness: Vec<f64> = (0..grid.element_count())
            .map(|e| {
                let [i, j, k] = grid.element_coords(e);
                if (i / 2 + j / 2 + k / 2) % 2 == 0 && i > 1 {
                    1e-9
                } else {
                    1.0
                }
            })
            .collect();
        let mut f = vec![0.0; grid.dof_count()];
        let [nx, _, nz] = grid.elements;
        for k in 0..=nz {
            f[3 * grid.node_index([nx, 0, k]) + 1] = -1.0;
        }
        (fixed, stiffness, f)
    }

    #[test]
    fn planned_memory_matches_the_built_solver() {
        for (elements, method) in [
            ([16, 8, 8], SolverMethod::Direct),
            ([24, 12, 12], SolverMethod::Direct),
            ([32, 16, 16], SolverMethod::Multigrid),
            ([40, 40, 8], SolverMethod::Multigrid),
            ([20, 10, 13], SolverMethod::Multigrid),
            ([64, 32, 32], SolverMethod::Multigrid),
        ] {
            let grid = Grid::new(elements, 1.0);
            let params = SolverParams {
                method,
                ..SolverParams::default()
            };
            let (fixed, stiffness, _) = contrast_problem(grid);
            let mut solver =
                LinearSolver::new(grid, ElementStiffness::new(0.3), &fixed, &params).unwrap();
            solver.set_stiffness(&stiffness).unwrap();
            let built = solver.memory_bytes(2) as f64;
            let planned = LinearSolver::planned_memory_bytes(&grid, 2, &params);
            let ratio = planned / built;
            assert!(
                (0.8..1.25).contains(&ratio),
                "{elements:?}: {planned} planned, {built} built"
            );
        }
    }

    fn solve(grid: Grid, params: SolverParams) -> (Vec<f64>, SolveInfo, &'static str) {
        let (fixed, stiffness, f) = contrast_problem(grid);
        let mut solver =
            LinearSolver::new(grid, ElementStiffness::new(0.3), &fixed, &params).unwrap();
        solver.set_stiffness(&stiffness).unwrap();
        let mut u = vec![0.0; f.len()];
        let info = solver.solve(&f, &mut u, &mut solver.workspace()).unwrap();
        (u, info, solver.kind())
    }

    #[test]
    fn direct_refinement_reaches_the_tolerance_at_full_simp_contrast() {
        let params = SolverParams {
            method: SolverMethod::Direct,
            ..Default::default()
        };
        let (_, info, kind) = solve(Grid::new([8, 4, 4], 1.0), params);
        assert_eq!(kind, "sparse-cholesky");
        assert!(
            info.converged && info.relative_residual <= 1e-10,
            "{info:?}"
        );
    }

    #[test]
    fn multigrid_matches_the_direct_solve() {
        multigrid_matches_the_direct_solve_on(Grid::new([16, 8, 8], 1.0), 3);
    }

    /// Odd axes coarsen to half rounded up: 15 × 7 × 9 → 8 × 4 × 5 → 4 × 2 × 3, and the
    /// hierarchy is as good a preconditioner as on even grids.
    #[test]
    fn multigrid_on_odd_grids_matches_the_direct_solve() {
        let iterations = multigrid_matches_the_direct_solve_on(Grid::new([15, 7, 9], 1.0), 3);
        let even = multigrid_matches_the_direct_solve_on(Grid::new([16, 8, 8], 1.0), 3);
        assert!(
            iterations as f64 <= 1.5 * even as f64,
            "{iterations} CG iterations on the odd grid, {even} on the even one"
        );
    }

    /// CG iterations of the multigrid solve at a tolerance of 1e-10, after checking it against
    /// the direct solve.
    fn multigrid_matches_the_direct_solve_on(grid: Grid, levels: usize) -> usize {
        let direct = SolverParams {
            method: SolverMethod::Direct,
            tolerance: Some(1e-12),
            ..Default::default()
        };
        let multigrid = SolverParams {
            method: SolverMethod::Multigrid,
            tolerance: Some(1e-10),
            multigrid: MultigridParams {
                levels: Some(levels),
                ..Default::default()
            },
            ..Default::default()
        };
        let (u_direct, _, _) = solve(grid, direct);
        let (u_mg, info, kind) = solve(grid, multigrid);
        assert_eq!(kind, "multigrid-cg");
        assert!(info.converged, "{info:?}");
        let diff = norm(
            &u_direct
                .iter()
                .zip(&u_mg)
                .map(|(a, b)| a - b)
                .collect::<Vec<_>>(),
        );
        assert!(
            diff / norm(&u_direct) <= 1e-8,
            "relative difference {}",
            diff / norm(&u_direct)
        );
        info.iterations
    }

    #[test]
    fn multigrid_is_identical_for_one_and_two_threads() {
        let grid = Grid::new([8, 4, 4], 1.0);
        let params = SolverParams {
            method: SolverMethod::Multigrid,
            multigrid: MultigridParams {
                levels: Some(2),
                ..Default::default()
            },
            ..Default::default()
        };
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| solve(grid, params))
        };
        let (a, b) = (run(1), run(2));
        assert_eq!(a.0, b.0);
        assert_eq!(a.1, b.1);
    }

    #[test]
    fn solve_all_is_bitwise_the_sequential_solves_for_one_and_two_threads() {
        let grid = Grid::new([8, 4, 4], 1.0);
        let (fixed, stiffness, tip) = contrast_problem(grid);
        let n = grid.dof_count();
        let at_tip = |d: usize| grid.node_coords(d / 3)[0] == grid.elements[0];
        let sideways: Vec<f64> = (0..n)
            .map(|d| if d % 3 == 2 && at_tip(d) { 0.5 } else { 0.0 })
            .collect();
        let body: Vec<f64> = (0..n).map(|d| (0.37 * d as f64).sin()).collect();
        let forces = [tip, sideways, body];
        // Zero, zero and a non-zero warm start.
        let starts = [
            vec![0.0; n],
            vec![0.0; n],
            (0..n).map(|d| 1e-3 * (d as f64).cos()).collect(),
        ];
        for (method, kind) in [
            (SolverMethod::Direct, "sparse-cholesky"),
            (SolverMethod::Multigrid, "multigrid-cg"),
        ] {
            let params = SolverParams {
                method,
                multigrid: MultigridParams {
                    levels: Some(2),
                    ..Default::default()
                },
                ..Default::default()
            };
            let mut solver =
                LinearSolver::new(grid, ElementStiffness::new(0.3), &fixed, &params).unwrap();
            solver.set_stiffness(&stiffness).unwrap();
            assert_eq!(solver.kind(), kind);
            // One after the other, all through one workspace.
            let mut workspace = solver.workspace();
            let mut expected = starts.clone();
            let expected_infos: Vec<SolveInfo> = forces
                .iter()
                .zip(&mut expected)
                .map(|(f, u)| solver.solve(f, u, &mut workspace).unwrap())
                .collect();
            assert!(
                expected_infos.iter().all(|i| i.converged),
                "{expected_infos:?}"
            );
            for threads in [1, 2] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut u = starts.clone();
                let mut workspaces: Vec<SolveWorkspace> =
                    forces.iter().map(|_| solver.workspace()).collect();
                let infos = pool
                    .install(|| {
                        let mut jobs: Vec<_> = forces
                            .iter()
                            .zip(&mut u)
                            .zip(&mut workspaces)
                            .map(|((f, u), w)| (f.as_slice(), u.as_mut_slice(), w))
                            .collect();
                        solver.solve_all(&mut jobs)
                    })
                    .unwrap();
                assert_eq!(infos, expected_infos, "{kind}, {threads} thread(s)");
                assert_eq!(u, expected, "{kind}, {threads} thread(s)");
            }
        }
    }
}
