//! Geometric multigrid V-cycle, used as the preconditioner of CG (Amir, Aage & Lazarov 2014;
//! Aage, Andreassen & Lazarov 2015).
//!
//! - Levels: the fine grid is halved (odd axes rounded up, [`super::transfer`]) while every axis
//!   keeps at least two elements and the coarse grid keeps at
//!   least [`MultigridParams::min_coarse_elements`] elements, or a 64th of the fine grid when
//!   that is fewer ([`level_count`]; or exactly `levels` when given).
//! - Coarse operators: exact element-wise Galerkin products ([`super::stencil`]), rebuilt every
//!   design iteration, robust at the 10⁹ stiffness contrast of SIMP.
//! - Smoother: Chebyshev polynomial of degree 2 in `D⁻¹A` (first kind), the same polynomial before
//!   and after the coarse correction so the V-cycle is symmetric. On the fine level the upper
//!   end of the spectrum is the a-priori bound `λmax(diag(K̂)⁻¹K̂)`, which holds for any density
//!   field; on coarse levels it is estimated by power iteration. The interval is
//!   `[λ/10, λ]` on the fine level and `[λ̂/10, 1.2 λ̂]` on coarse ones (MULTIGRID.md §4).
//!   The smoother's products with the fine operator run in single precision
//!   ([`StiffnessOperator::apply_single`]) and the smoothed coarse levels store their stencils
//!   in single precision; vectors, CG's own products and the factored coarsest level stay in
//!   double precision, so the preconditioner changes at rounding level while CG converges to
//!   the same tolerance.
//! - Coarsest level: sparse Cholesky, refactored every design iteration.
//!
//! [`Multigrid`] holds what [`Multigrid::update`] builds (operators, inverse diagonals, bounds,
//! the coarsest factor) and is only read by a V-cycle; everything a V-cycle writes lives in a
//! [`MultigridWorkspace`], so independent right-hand sides can run V-cycles concurrently.

use nalgebra::DMatrix;
use rayon::prelude::*;

use super::direct::{DirectError, DirectSolver};
use super::hex8::ElementStiffness;
use super::operator::StiffnessOperator;
use super::stencil::{Precision, StencilOperator, SubcellStiffness};
use super::transfer::{can_coarsen, coarse_fixed, coarsen, prolong, restrict};
use crate::grid::Grid;

/// Settings of the multigrid hierarchy.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MultigridParams {
    /// Number of levels including the fine one; `None` chooses automatically.
    pub levels: Option<usize>,
    /// Automatic choice: coarsen only while the coarse grid keeps at least this many elements
    /// (default 1000; a coarsest grid that cannot resolve the members costs CG iterations), or a
    /// 64th of the fine grid (two halvings) when that is fewer; see [`level_count`].
    pub min_coarse_elements: usize,
    /// Degree of the Chebyshev smoother (default 2).
    pub smoother_degree: usize,
}

impl Default for MultigridParams {
    fn default() -> Self {
        Self {
            levels: None,
            min_coarse_elements: 1000,
            smoother_degree: 2,
        }
    }
}

/// Fine elements per coarsest element at least, two halvings, when that allows a coarsest grid
/// smaller than [`MultigridParams::min_coarse_elements`].
const SMALL_GRID_RATIO: usize = 64;

/// How many levels a grid gets: `levels` if possible, else automatic: halve (odd axes rounded
/// up) while every axis has at least two elements and the coarse grid keeps at least
/// `min(min_coarse_elements, fine / 64)` elements.
///
/// The coarsest grid is factored again every design iteration, at a cost that grows faster
/// than its size, while CG iterations grow as the coarsest grid loses sight of the members
/// (MULTIGRID.md, "coarsest grid too coarse"). On large grids 1000 elements balance the two; on
/// a grid under 64,000 elements a coarsest grid of 1000 is an eighth of the fine one and its
/// factorization outweighs everything else, so two halvings are made there when the axes allow.
/// On `designs/cantilever.toml` (48 × 16 × 16) that took the run from 12.8 to 8.1 s on 2 cores
/// (CG iterations per solve 9.9 → 13.9); a third halving (coarsest 6 × 2 × 2) doubles the CG
/// iterations and is slower again (README, "Performance").
pub fn level_count(grid: &Grid, params: &MultigridParams) -> usize {
    let floor = params
        .min_coarse_elements
        .min(grid.element_count() / SMALL_GRID_RATIO);
    let mut count = 1;
    let mut g = *grid;
    loop {
        if let Some(levels) = params.levels
            && count >= levels
        {
            return count;
        }
        if !can_coarsen(&g) {
            return count;
        }
        let coarse = coarsen(&g);
        if params.levels.is_none() && coarse.element_count() < floor {
            return count;
        }
        g = coarse;
        count += 1;
    }
}

/// Scratch of the smoother on one level.
#[derive(Debug, Clone)]
struct Scratch {
    r: Vec<f64>,
    d: Vec<f64>,
    ad: Vec<f64>,
}

impl Scratch {
    fn new(n: usize) -> Self {
        Self {
            r: vec![0.0; n],
            d: vec![0.0; n],
            ad: vec![0.0; n],
        }
    }
}

/// A coarse level: its Galerkin operator and smoother data.
#[derive(Debug)]
struct CoarseLevel {
    operator: StencilOperator,
    subcells: SubcellStiffness,
    inv_diagonal: Vec<f64>,
    upper: f64,
}

impl CoarseLevel {
    /// Chebyshev smoothing of `A x = b` on this level, on `[λ̂/10, 1.2 λ̂]` (`upper` = 1.2 λ̂),
    /// with `b` and `x` in `work`.
    fn smooth(&self, degree: usize, x_is_zero: bool, work: &mut LevelWork) {
        let op = &self.operator;
        let bounds = (self.upper / 12.0, self.upper);
        let apply = |u: &[f64], y: &mut [f64]| op.apply(u, y);
        chebyshev(
            apply,
            &self.inv_diagonal,
            bounds,
            degree,
            &work.b,
            &mut work.x,
            x_is_zero,
            &mut work.scratch,
        );
    }
}

/// What a V-cycle writes on one coarse level: right-hand side, correction, smoother scratch.
#[derive(Debug, Clone)]
struct LevelWork {
    b: Vec<f64>,
    x: Vec<f64>,
    scratch: Scratch,
}

/// Everything one V-cycle writes besides its output, sized for one hierarchy by
/// [`Multigrid::workspace`]: smoother scratch on every level, the coarse right-hand sides and
/// corrections, and the coarsest solve's right-hand side. It carries nothing from one V-cycle
/// to the next.
#[derive(Debug, Clone)]
pub struct MultigridWorkspace {
    fine: Scratch,
    levels: Vec<LevelWork>,
    coarsest_rhs: Vec<f64>,
}

/// The multigrid preconditioner of one fine grid with its supports.
#[derive(Debug)]
pub struct Multigrid {
    fine_inv_diagonal: Vec<f64>,
    fine_upper: f64,
    levels: Vec<CoarseLevel>,
    coarsest: DirectSolver,
    degree: usize,
    /// Power-iteration vectors of [`update`](Self::update), sized for the largest coarse level.
    power_x: Vec<f64>,
    power_ad: Vec<f64>,
}

impl Multigrid {
    /// Builds the hierarchy (`level_count(grid) ≥ 2` levels) for the fine operator `fine`.
    pub fn new(
        fine: &StiffnessOperator,
        fixed: &[bool],
        params: &MultigridParams,
    ) -> Result<Self, DirectError> {
        let grid = *fine.grid();
        let count = level_count(&grid, params);
        assert!(count >= 2, "multigrid needs at least two levels");
        let mut levels = Vec::new();
        let (mut g, mut g_fixed) = (grid, fixed.to_vec());
        for l in 1..count {
            let coarse = coarsen(&g);
            let fixed_c = coarse_fixed(&g, &g_fixed, &coarse);
            // The last level is factored, not smoothed (see `super::stencil`).
            let precision = if l + 1 == count {
                Precision::Double
            } else {
                Precision::Single
            };
            levels.push(CoarseLevel {
                operator: StencilOperator::new(coarse, &fixed_c, precision),
                subcells: SubcellStiffness::new(fine.element_stiffness(), 1 << l),
                inv_diagonal: vec![0.0; coarse.dof_count()],
                upper: 0.0,
            });
            (g, g_fixed) = (coarse, fixed_c);
        }
        let coarsest = DirectSolver::new(g, &g_fixed)?;
        let largest = levels[0].inv_diagonal.len();
        Ok(Self {
            fine_inv_diagonal: vec![0.0; grid.dof_count()],
            fine_upper: spectral_bound(fine.element_stiffness()),
            levels,
            coarsest,
            degree: params.smoother_degree.max(1),
            power_x: vec![0.0; largest],
            power_ad: vec![0.0; largest],
        })
    }

    /// Scratch for V-cycles of this hierarchy; one per concurrent V-cycle.
    pub fn workspace(&self) -> MultigridWorkspace {
        MultigridWorkspace {
            fine: Scratch::new(self.fine_inv_diagonal.len()),
            levels: self
                .levels
                .iter()
                .map(|level| {
                    let n = level.inv_diagonal.len();
                    LevelWork {
                        b: vec![0.0; n],
                        x: vec![0.0; n],
                        scratch: Scratch::new(n),
                    }
                })
                .collect(),
            coarsest_rhs: vec![0.0; self.coarsest.unknowns()],
        }
    }

    /// Bytes held by one [`MultigridWorkspace`] of this hierarchy.
    pub fn workspace_bytes(&self) -> usize {
        let coarse: usize = self.levels.iter().map(|l| 5 * l.inv_diagonal.len()).sum();
        8 * (3 * self.fine_inv_diagonal.len() + coarse + self.coarsest.unknowns())
    }

    /// Bytes held by the hierarchy (coarse operators, smoother data, coarsest factor), not
    /// counting the V-cycles' [`MultigridWorkspace`]s.
    pub fn memory_bytes(&self) -> usize {
        let coarse: usize = self
            .levels
            .iter()
            .map(|l| {
                let dofs = l.operator.grid().dof_count();
                l.operator.coefficient_bytes() + 8 * (2 * dofs + l.subcells.factor().pow(3) * 576)
            })
            .sum();
        coarse
            + 8 * (self.fine_inv_diagonal.len() + self.power_x.len() + self.power_ad.len())
            + self.coarsest.memory_bytes()
    }

    /// Number of levels including the fine one.
    pub fn level_count(&self) -> usize {
        self.levels.len() + 1
    }

    /// Grid of the coarsest level.
    pub fn coarsest_grid(&self) -> Grid {
        *self
            .levels
            .last()
            .map_or_else(|| unreachable!(), |l| l.operator.grid())
    }

    /// Rebuilds the coarse operators, smoothers and coarsest factorization for the fine
    /// operator's current element stiffnesses.
    pub fn update(&mut self, fine: &StiffnessOperator) -> Result<(), DirectError> {
        fine.diagonal(&mut self.fine_inv_diagonal);
        invert(&mut self.fine_inv_diagonal);
        let (x, ad) = (&mut self.power_x, &mut self.power_ad);
        for level in &mut self.levels {
            level
                .operator
                .assemble_galerkin(fine.grid(), fine.stiffness(), &level.subcells);
            level.operator.diagonal(&mut level.inv_diagonal);
            invert(&mut level.inv_diagonal);
            let n = level.inv_diagonal.len();
            level.upper = 1.2
                * estimate_lambda_max(
                    &level.operator,
                    &level.inv_diagonal,
                    &mut x[..n],
                    &mut ad[..n],
                );
        }
        let last = &self.levels[self.levels.len() - 1].operator;
        self.coarsest
            .factorize_with(|row, col| last.entry(row, col))
    }

    /// One V-cycle: `z ≈ A⁻¹ r` on the fine level, writing only `z` and `work` (from
    /// [`workspace`](Self::workspace)).
    pub fn apply(
        &self,
        fine: &StiffnessOperator,
        r: &[f64],
        z: &mut [f64],
        work: &mut MultigridWorkspace,
    ) {
        assert_eq!(
            work.levels.len(),
            self.levels.len(),
            "workspace of another hierarchy"
        );
        let degree = self.degree;
        // The smoother's products in single precision (`apply_single`): CG's residuals stay in
        // double, and a preconditioner needs no more (MULTIGRID.md §5).
        let fine_apply = |x: &[f64], y: &mut [f64]| fine.apply_single(x, y);
        let fine_bounds = (self.fine_upper / 10.0, self.fine_upper);
        let fs = &mut work.fine;
        // Down: pre-smooth from zero, restrict the residual to the next level's right-hand side.
        z.fill(0.0);
        chebyshev(
            fine_apply,
            &self.fine_inv_diagonal,
            fine_bounds,
            degree,
            r,
            z,
            true,
            fs,
        );
        fine.apply_single(z, &mut fs.ad);
        residual(r, &fs.ad, &mut fs.r);
        let first = &self.levels[0];
        restrict(
            fine.grid(),
            first.operator.grid(),
            first.operator.free_mask(),
            &fs.r,
            &mut work.levels[0].b,
        );
        let count = self.levels.len();
        for l in 0..count - 1 {
            let (level, next) = (&self.levels[l], &self.levels[l + 1]);
            let (head, tail) = work.levels.split_at_mut(l + 1);
            let (lw, next_w) = (&mut head[l], &mut tail[0]);
            lw.x.fill(0.0);
            level.smooth(degree, true, lw);
            level.operator.apply(&lw.x, &mut lw.scratch.ad);
            residual(&lw.b, &lw.scratch.ad, &mut lw.scratch.r);
            let (grid, next_grid) = (level.operator.grid(), next.operator.grid());
            restrict(
                grid,
                next_grid,
                next.operator.free_mask(),
                &lw.scratch.r,
                &mut next_w.b,
            );
        }
        // Coarsest: exact solve.
        let last = &mut work.levels[count - 1];
        self.coarsest
            .solve(&last.b, &mut last.x, &mut work.coarsest_rhs);
        // Up: prolong the correction, post-smooth with the same polynomial (symmetric cycle).
        for l in (0..count - 1).rev() {
            let (level, next) = (&self.levels[l], &self.levels[l + 1]);
            let (head, tail) = work.levels.split_at_mut(l + 1);
            let (lw, next_w) = (&mut head[l], &tail[0]);
            let op = &level.operator;
            prolong(
                op.grid(),
                next.operator.grid(),
                op.free_mask(),
                &next_w.x,
                &mut lw.scratch.d,
            );
            add(&mut lw.x, &lw.scratch.d);
            level.smooth(degree, false, lw);
        }
        prolong(
            fine.grid(),
            first.operator.grid(),
            fine.free_mask(),
            &work.levels[0].x,
            &mut fs.d,
        );
        add(z, &fs.d);
        chebyshev(
            fine_apply,
            &self.fine_inv_diagonal,
            fine_bounds,
            degree,
            r,
            z,
            false,
            fs,
        );
    }
}

fn invert(diagonal: &mut [f64]) {
    diagonal.par_iter_mut().for_each(|d| *d = 1.0 / *d);
}

fn residual(b: &[f64], ax: &[f64], r: &mut [f64]) {
    r.par_iter_mut()
        .zip(b)
        .zip(ax)
        .for_each(|((r, b), ax)| *r = b - ax);
}

fn add(x: &mut [f64], d: &[f64]) {
    x.par_iter_mut().zip(d).for_each(|(x, d)| *x += d);
}

/// Chebyshev smoothing of `A x = b` in `D⁻¹A` on the interval `[lower, upper]` (first kind;
/// the three-term recurrence of Saad, "Iterative Methods for Sparse Linear Systems", alg. 12.1).
/// `x_is_zero` saves the first apply.
#[allow(clippy::too_many_arguments)]
fn chebyshev(
    apply: impl Fn(&[f64], &mut [f64]),
    inv_diagonal: &[f64],
    (lower, upper): (f64, f64),
    degree: usize,
    b: &[f64],
    x: &mut [f64],
    x_is_zero: bool,
    work: &mut Scratch,
) {
    let theta = 0.5 * (upper + lower);
    let delta = 0.5 * (upper - lower);
    let sigma = theta / delta;
    let mut rho = 1.0 / sigma;
    if x_is_zero {
        work.r.copy_from_slice(b);
    } else {
        apply(x, &mut work.ad);
        residual(b, &work.ad, &mut work.r);
    }
    work.d
        .par_iter_mut()
        .zip(&work.r)
        .zip(inv_diagonal)
        .for_each(|((d, r), m)| *d = m * r / theta);
    add(x, &work.d);
    for _ in 1..degree {
        apply(&work.d, &mut work.ad);
        work.r
            .par_iter_mut()
            .zip(&work.ad)
            .for_each(|(r, ad)| *r -= ad);
        let rho_next = 1.0 / (2.0 * sigma - rho);
        let (c1, c2) = (rho_next * rho, 2.0 * rho_next / delta);
        work.d
            .par_iter_mut()
            .zip(&work.r)
            .zip(inv_diagonal)
            .for_each(|((d, r), m)| *d = c1 * *d + c2 * m * r);
        add(x, &work.d);
        rho = rho_next;
    }
}

/// `λmax(diag(K̂)⁻¹ K̂)`: bounds `λmax(D⁻¹K)` for any positive element moduli, since each element
/// matrix is a multiple of `K̂` (MULTIGRID.md §4: 5.32 at ν = 0.3).
pub fn spectral_bound(ke: &ElementStiffness) -> f64 {
    let scale: Vec<f64> = (0..24).map(|i| 1.0 / ke.get(i, i).sqrt()).collect();
    let m = DMatrix::from_fn(24, 24, |r, c| scale[r] * ke.get(r, c) * scale[c]);
    m.symmetric_eigenvalues().max()
}

/// Power-iteration estimate of `λmax(D⁻¹A)` (deterministic start vector), using `x` and `ad`
/// as work space.
fn estimate_lambda_max(
    op: &StencilOperator,
    inv_diagonal: &[f64],
    x: &mut [f64],
    ad: &mut [f64],
) -> f64 {
    let n = inv_diagonal.len();
    for (i, v) in x.iter_mut().enumerate() {
        // A fixed, non-smooth start excites the high modes the smoother cares about.
        *v = ((i * 7919) % 113) as f64 / 113.0 - 0.5;
    }
    let mut lambda = 0.0;
    for _ in 0..15 {
        let norm = crate::reduce::sum_map(n, |i| x[i] * x[i]).sqrt();
        if norm == 0.0 {
            break;
        }
        x.iter_mut().for_each(|v| *v /= norm);
        op.apply(x, ad);
        for (a, m) in ad.iter_mut().zip(inv_diagonal) {
            *a *= m;
        }
        // ‖D⁻¹A x‖ for unit x converges to λmax from below.
        let ad = &*ad;
        lambda = crate::reduce::sum_map(n, |i| ad[i] * ad[i]).sqrt();
        x.copy_from_slice(ad);
    }
    lambda
}
