//! The MMA subproblem and its primal-dual interior-point solver (Svanberg 2007, section 5;
//! his `subsolv`).
//!
//! Around $x^k$, with $\tilde f_i$, $\alpha$, $\beta$ of the parent module, the subproblem is
//!
//! $$\min_{x,y,z}\ \tilde f_0(x) + a_0 z + \sum_i \left(c_i y_i + \tfrac12 d_i y_i^2\right)
//! \quad\text{s.t.}\quad \tilde f_i(x) - a_i z - y_i \le 0,\ \ \alpha \le x \le \beta,\ \ y, z \ge 0.$$
//!
//! With $\psi = \tilde f_0 + \sum_i \lambda_i \tilde f_i$, its relaxed KKT conditions (notes,
//! eq. 5.5, with our bounds' barrier $\varepsilon/\sigma$, see [`Level`]) are
//!
//! $$\partial_j\psi - \xi_j + \eta_j = 0,\quad c_i + d_i y_i - \mu_i - \lambda_i = 0,\quad
//! a_0 - \zeta - \textstyle\sum_i a_i\lambda_i = 0,\quad \tilde f_i - a_i z - y_i + s_i = 0,$$
//! $$\xi_j (x_j - \alpha_j) = \eta_j (\beta_j - x_j) = \varepsilon/\sigma,\quad
//! \mu_i y_i = \lambda_i s_i = \zeta z = \varepsilon,$$
//!
//! all multipliers and slacks positive. Each Newton step eliminates the $n$-sized unknowns
//! ($x$, $\xi$, $\eta$: diagonal) and the $m$-sized $y$, $\mu$, $s$, leaving an
//! $(m+1)\times(m+1)$ system in $\Delta\lambda$, $\Delta z$ (section 5.3), solved densely.
//! Every $O(n)$ pass runs over chunks of [`CHUNK`] variables, one row of partial sums per
//! chunk, added in chunk order (bitwise the same for any number of threads).

use rayon::prelude::*;

use super::{CHUNK, MmaError, MmaInfo, MmaParams};

/// The 10⁻⁵ of $p_{ij}$, $q_{ij}$ (eqs. 3.3–3.4): keeps the approximations strictly convex.
const RAA0: f64 = 1e-5;
/// Floor on $x^{\max} - x^{\min}$ in that term, so narrow ranges do not blow it up.
const RANGE_FLOOR: f64 = 1e-5;
/// subsolv's barrier parameters ε = 10⁻ᵏ, k = 0 … 7.
const EPSILON_LEVELS: i32 = 7;
/// Newton steps allowed per barrier parameter, and step halvings per Newton step (`subsolv`).
const NEWTON_STEPS_PER_LEVEL: usize = 200;
const STEP_HALVINGS: usize = 50;

/// The MMA subproblem around xᵏ, read-only while it is solved.
pub(super) struct Subproblem<'a> {
    /// The current point xᵏ.
    pub xk: &'a [f64],
    /// ∂f₀/∂x at xᵏ.
    pub objective_gradient: &'a [f64],
    /// ∂fᵢ/∂x at xᵏ, m slices.
    pub constraint_gradients: &'a [&'a [f64]],
    /// fᵢ(xᵏ).
    pub constraints: &'a [f64],
    /// Variable bounds (for the 10⁻⁵/(x^max − x^min) term).
    pub x_min: &'a [f64],
    pub x_max: &'a [f64],
    /// Asymptotes L, U.
    pub low: &'a [f64],
    pub upp: &'a [f64],
    /// Subproblem bounds α, β; α = β marks a variable out of the subproblem.
    pub alpha: &'a [f64],
    pub beta: &'a [f64],
    pub params: &'a MmaParams,
    /// Number of variables in the subproblem (not fixed).
    pub free: usize,
}

impl Subproblem<'_> {
    fn is_free(&self, j: usize) -> bool {
        self.alpha[j] < self.beta[j]
    }

    /// The ratios (Uⱼ − xⱼᵏ)/(Uⱼ − x) and (xⱼᵏ − Lⱼ)/(x − Lⱼ), in which the approximations'
    /// terms are written below: pᵢⱼ/(Uⱼ − x)² = p̂ᵢⱼ ru², pᵢⱼ/((Uⱼ − x)(Uⱼ − xⱼᵏ)) = p̂ᵢⱼ ru,
    /// with p̂ᵢⱼ = pᵢⱼ/(Uⱼ − xⱼᵏ)². Two divisions per variable instead of two per term.
    #[inline]
    fn ratios(&self, j: usize, x: f64) -> (f64, f64) {
        (
            (self.upp[j] - self.xk[j]) / (self.upp[j] - x),
            (self.xk[j] - self.low[j]) / (x - self.low[j]),
        )
    }

    /// Walks the approximations of f₀…fₘ at variable j: calls `each(i, p̂, q̂)` with the
    /// coefficients of constraint i (0-based, so f_{i+1}) and returns those of the Lagrangian
    /// ψ = f̃₀ + Σ λᵢ f̃ᵢ. p̂ᵢⱼ = 1.001 g⁺ + 0.001 g⁻ + 10⁻⁵/(x^max − x^min) = g⁺ + 0.001|g| + …
    /// for g = ∂fᵢ/∂xⱼ is pᵢⱼ of eq. 3.3 without its factor (Uⱼ − xⱼᵏ)², likewise q̂ᵢⱼ (eq. 3.4).
    #[inline]
    fn lagrangian(
        &self,
        j: usize,
        lam: &[f64],
        mut each: impl FnMut(usize, f64, f64),
    ) -> (f64, f64) {
        let raa = RAA0 / (self.x_max[j] - self.x_min[j]).max(RANGE_FLOOR);
        let pq = |g: f64| {
            let base = 0.001 * g.abs() + raa;
            (g.max(0.0) + base, (-g).max(0.0) + base)
        };
        let (mut plam, mut qlam) = pq(self.objective_gradient[j]);
        for (i, gradient) in self.constraint_gradients.iter().enumerate() {
            let (p, q) = pq(gradient[j]);
            plam += lam[i] * p;
            qlam += lam[i] * q;
            each(i, p, q);
        }
        (plam, qlam)
    }

    /// The Newton terms of variable j: δₓ (∂ψ/∂xⱼ with the bounds' barrier), the diagonal Dₓ
    /// (∂²ψ/∂xⱼ² plus the barrier's), and ∂f̃ᵢ/∂xⱼ into `gg` (`subsolv`'s delx, diagx, GG).
    #[inline]
    fn newton_terms(
        &self,
        j: usize,
        point: &Point,
        lam: &[f64],
        level: Level,
        gg: &mut [f64],
    ) -> (f64, f64) {
        let x = point.x;
        let (ru, rl) = self.ratios(j, x);
        let (ru2, rl2) = (ru * ru, rl * rl);
        let (plam, qlam) = self.lagrangian(j, lam, |i, p, q| gg[i] = p * ru2 - q * rl2);
        let dpsidx = plam * ru2 - qlam * rl2;
        let d2psi = 2.0 * (plam * ru2 / (self.upp[j] - x) + qlam * rl2 / (x - self.low[j]));
        let (rxa, rbx) = (1.0 / (x - self.alpha[j]), 1.0 / (self.beta[j] - x));
        let barrier = level.bounds();
        let delx = dpsidx - barrier * rxa + barrier * rbx;
        let diagx = d2psi + point.xsi * rxa + point.eta * rbx;
        (delx, diagx)
    }
}

/// Primal variables of the subproblem at one design variable: xⱼ and the multipliers ξⱼ, ηⱼ of
/// its bounds αⱼ ≤ xⱼ ≤ βⱼ.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Point {
    x: f64,
    xsi: f64,
    eta: f64,
}

/// Barrier parameters of one level of the interior-point continuation: ε for the m-sized
/// complementarity conditions (μᵢyᵢ, λᵢsᵢ, ζz) and ε/σ for the bounds (ξⱼ(xⱼ − αⱼ),
/// ηⱼ(βⱼ − xⱼ)), whose x, ξ, η residual rows are weighted by σ.
///
/// subsolv uses σ = 1, ε = 1 … 10⁻⁷. With f scaled to 1–100 in total, each ∂ψ/∂xⱼ is O(1/n),
/// so that leaves a variable at its bound ε/ξⱼ = O(nε) inside it and biases the multipliers:
/// at n = 10⁶, f ≈ 10, offsets of 10⁻² of the range. After subsolv's levels, further levels keep
/// ε = 10⁻⁷ and raise σ tenfold until σ ≥ n, which brings the offsets to O(ε). (Weighting rows
/// leaves Newton directions unchanged; it moves the central path and the stopping test.)
/// Starting with σ = n instead made the first subproblems take up to 10× more Newton steps.
#[derive(Debug, Clone, Copy)]
struct Level {
    epsilon: f64,
    sigma: f64,
}

impl Level {
    /// The bounds' barrier parameter ε/σ.
    fn bounds(&self) -> f64 {
        self.epsilon / self.sigma
    }
}

/// The subproblem's m-sized unknowns: relaxations y, their multipliers μ, constraint multipliers
/// λ and slacks s, and the scalars z, ζ.
#[derive(Debug, Clone, Default, PartialEq)]
struct Multipliers {
    y: Vec<f64>,
    lam: Vec<f64>,
    mu: Vec<f64>,
    s: Vec<f64>,
    z: f64,
    zet: f64,
}

impl Multipliers {
    fn new(m: usize) -> Self {
        Self {
            y: vec![0.0; m],
            lam: vec![0.0; m],
            mu: vec![0.0; m],
            s: vec![0.0; m],
            z: 0.0,
            zet: 0.0,
        }
    }

    /// `self = base + step · direction`, without allocating.
    fn set_step(&mut self, base: &Self, step: f64, direction: &Self) {
        let fields = [
            (&mut self.y, &base.y, &direction.y),
            (&mut self.lam, &base.lam, &direction.lam),
            (&mut self.mu, &base.mu, &direction.mu),
            (&mut self.s, &base.s, &direction.s),
        ];
        for (out, b, d) in fields {
            for ((o, b), d) in out.iter_mut().zip(b).zip(d) {
                *o = b + step * d;
            }
        }
        self.z = base.z + step * direction.z;
        self.zet = base.zet + step * direction.zet;
    }

    /// Largest −dv/v over all unknowns: the step 1/that reaches a zero.
    fn step_bound(&self, direction: &Self) -> f64 {
        let pairs = [
            (&self.y, &direction.y),
            (&self.lam, &direction.lam),
            (&self.mu, &direction.mu),
            (&self.s, &direction.s),
        ];
        let vectors = pairs
            .into_iter()
            .flat_map(|(v, d)| v.iter().zip(d.iter()).map(|(v, d)| -d / v));
        [-direction.z / self.z, -direction.zet / self.zet]
            .into_iter()
            .chain(vectors)
            .fold(0.0, f64::max)
    }
}

/// Scratch of the interior-point method, sized once.
#[derive(Debug, Clone)]
pub(super) struct InteriorPoint {
    point: Vec<Point>,
    trial: Vec<Point>,
    dx: Vec<f64>,
    /// One row per chunk: partial sums, then scratch for ∂f̃ᵢ/∂xⱼ.
    rows: Vec<f64>,
    dual: Multipliers,
    dual_trial: Multipliers,
    direction: Multipliers,
    /// The (m+1)² Newton system in (Δλ, Δz) and its right-hand side.
    system: Vec<f64>,
    rhs: Vec<f64>,
    /// f̃ᵢ where the residual was last evaluated.
    ftilde: Vec<f64>,
}

impl InteriorPoint {
    /// Scratch for `n` variables and `m` constraints: 56 bytes per variable (x, ξ, η at the
    /// point and the trial point, and Δx).
    pub(super) fn new(n: usize, m: usize) -> Self {
        let chunks = n.div_ceil(CHUNK);
        // Widest row: the Newton-system pass, m + m(m+1)/2 sums plus m scratch.
        let row = (2 * m + m * (m + 1) / 2).max(m + 2);
        Self {
            point: vec![Point::default(); n],
            trial: vec![Point::default(); n],
            dx: vec![0.0; n],
            rows: vec![0.0; chunks * row],
            dual: Multipliers::new(m),
            dual_trial: Multipliers::new(m),
            direction: Multipliers::new(m),
            system: vec![0.0; (m + 1) * (m + 1)],
            rhs: vec![0.0; m + 1],
            ftilde: vec![0.0; m],
        }
    }

    /// Solves the subproblem by the primal-dual interior-point method (Svanberg 2007, section
    /// 5); the solution is left in `self.point` and `self.dual`.
    pub(super) fn solve(&mut self, sub: &Subproblem) -> Result<MmaInfo, MmaError> {
        self.start(sub);
        let mut iterations = 0;
        let (mut norm, mut max) = (0.0, 0.0);
        // subsolv's levels ε = 10⁰ … 10⁻⁷ (σ = 1), then σ = 10, 100, … up to ≥ n (see Level).
        let extra = (sub.free.max(1) as f64).log10().ceil() as i32;
        for k in 0..=EPSILON_LEVELS + extra {
            let level = Level {
                epsilon: 10f64.powi(-k.min(EPSILON_LEVELS)),
                sigma: 10f64.powi((k - EPSILON_LEVELS).max(0)),
            };
            (norm, max) = self.residual(sub, level, None);
            let mut steps = 0;
            while max > 0.9 * level.epsilon && steps < NEWTON_STEPS_PER_LEVEL {
                steps += 1;
                iterations += 1;
                self.newton_direction(sub, level)?;
                // Stay strictly inside: at most 1/1.01 of the way to the nearest zero.
                let mut step = 1.0 / (1.01 * self.step_bound(sub, level)).max(1.0);
                // Halve until the residual norm decreases, as subsolv (at least one try).
                for halving in 1.. {
                    self.dual_trial.set_step(&self.dual, step, &self.direction);
                    let (trial_norm, trial_max) = self.residual(sub, level, Some(step));
                    if !trial_norm.is_finite() {
                        return Err(MmaError::Subproblem {
                            residual: trial_norm,
                        });
                    }
                    if trial_norm <= norm || halving >= STEP_HALVINGS {
                        (norm, max) = (trial_norm, trial_max);
                        break;
                    }
                    step *= 0.5;
                }
                std::mem::swap(&mut self.point, &mut self.trial);
                std::mem::swap(&mut self.dual, &mut self.dual_trial);
            }
        }
        if !norm.is_finite() {
            return Err(MmaError::Subproblem { residual: norm });
        }
        Ok(MmaInfo {
            subproblem_iterations: iterations,
            subproblem_residual: max,
            max_relaxation: self.dual.y.iter().copied().fold(0.0, f64::max),
            z: self.dual.z,
        })
    }

    /// The x part of the last solution, into `x_new`.
    pub(super) fn write_x(&self, x_new: &mut [f64]) {
        x_new
            .par_iter_mut()
            .zip(&self.point)
            .for_each(|(x, p)| *x = p.x);
    }

    /// The constraint multipliers λ of the last solution.
    pub(super) fn multipliers(&self) -> &[f64] {
        &self.dual.lam
    }

    /// subsolv's starting point: x in the middle of [α, β], ξ, η ≥ 1, unit y, z, λ, s, ζ.
    fn start(&mut self, sub: &Subproblem) {
        self.point.par_iter_mut().enumerate().for_each(|(j, p)| {
            let (alpha, beta) = (sub.alpha[j], sub.beta[j]);
            let x = 0.5 * (alpha + beta);
            *p = if sub.is_free(j) {
                Point {
                    x,
                    xsi: (1.0 / (x - alpha)).max(1.0),
                    eta: (1.0 / (beta - x)).max(1.0),
                }
            } else {
                Point {
                    x: alpha,
                    xsi: 0.0,
                    eta: 0.0,
                }
            };
        });
        let d = &mut self.dual;
        d.y.fill(1.0);
        d.lam.fill(1.0);
        d.mu.fill((0.5 * sub.params.c).max(1.0));
        d.s.fill(1.0);
        (d.z, d.zet) = (1.0, 1.0);
    }

    /// Norm and largest entry of the relaxed KKT residual (subsolv's residu), with f̃ᵢ left in
    /// `self.ftilde`. With `Some(step)` it is taken at the trial point, written in the same pass
    /// as `trial = point + step·(Δx, Δξ, Δη)`, and `dual_trial`; otherwise at `point`, `dual`.
    fn residual(&mut self, sub: &Subproblem, level: Level, step: Option<f64>) -> (f64, f64) {
        let m = sub.constraints.len();
        let width = m + 2;
        let chunks = self.point.len().div_ceil(CHUNK);
        let rows = &mut self.rows[..chunks * width];
        let (point, dx) = (&self.point, &self.dx);
        let dual = if step.is_some() {
            &self.dual_trial
        } else {
            &self.dual
        };
        let (barrier, sigma, epsilon) = (level.bounds(), level.sigma, level.epsilon);
        self.trial
            .par_chunks_mut(CHUNK)
            .zip(rows.par_chunks_mut(width))
            .enumerate()
            .for_each(|(c, (trial, row))| {
                row.fill(0.0);
                let (ftilde, norms) = row.split_at_mut(m);
                for (k, t) in trial.iter_mut().enumerate() {
                    let j = c * CHUNK + k;
                    let p = point[j];
                    if !sub.is_free(j) {
                        *t = p;
                        continue;
                    }
                    let (xa, bx) = (p.x - sub.alpha[j], sub.beta[j] - p.x);
                    let at = match step {
                        Some(step) => {
                            // Δξ, Δη from Δx by the linearized complementarity ξ(x − α) = ε/σ,
                            // η(β − x) = ε/σ (subsolv's dxsi, deta).
                            let dxsi = -p.xsi + barrier / xa - p.xsi * dx[j] / xa;
                            let deta = -p.eta + barrier / bx + p.eta * dx[j] / bx;
                            *t = Point {
                                x: p.x + step * dx[j],
                                xsi: p.xsi + step * dxsi,
                                eta: p.eta + step * deta,
                            };
                            *t
                        }
                        None => p,
                    };
                    let x = at.x;
                    let (ru, rl) = sub.ratios(j, x);
                    let shift = x - sub.xk[j];
                    let (plam, qlam) = sub.lagrangian(j, &dual.lam, |i, p, q| {
                        // f̃ᵢ(x) − fᵢ(xᵏ) in difference form (module doc).
                        ftilde[i] += shift * (p * ru - q * rl);
                    });
                    let dpsidx = plam * ru * ru - qlam * rl * rl;
                    let residuals = [
                        sigma * (dpsidx - at.xsi + at.eta),
                        sigma * (at.xsi * (x - sub.alpha[j]) - barrier),
                        sigma * (at.eta * (sub.beta[j] - x) - barrier),
                    ];
                    for r in residuals {
                        norms[0] += r * r;
                        norms[1] = norms[1].max(r.abs());
                    }
                }
            });
        self.ftilde.copy_from_slice(sub.constraints);
        let (mut sum, mut max) = (0.0, 0.0f64);
        for row in rows.chunks(width) {
            for (f, r) in self.ftilde.iter_mut().zip(row) {
                *f += r;
            }
            sum += row[m];
            max = max.max(row[m + 1]);
        }
        let (p, d) = (sub.params, dual);
        let sum_lam: f64 = d.lam.iter().sum();
        let scalars = [p.a0 - d.zet - p.a * sum_lam, d.zet * d.z - epsilon];
        let per_constraint = self.ftilde.iter().enumerate().flat_map(|(i, f)| {
            [
                p.c + p.d * d.y[i] - d.mu[i] - d.lam[i],
                f - p.a * d.z - d.y[i] + d.s[i],
                d.mu[i] * d.y[i] - epsilon,
                d.lam[i] * d.s[i] - epsilon,
            ]
        });
        for r in per_constraint.chain(scalars) {
            sum += r * r;
            max = max.max(r.abs());
        }
        (sum.sqrt(), max)
    }

    /// The Newton direction of the relaxed KKT system into `direction` (λ, z, y, μ, s, ζ parts;
    /// Δx follows in `step_bound`). The n-sized unknowns are eliminated, leaving
    /// `[Aλ a; aᵀ −ζ/z] [Δλ; Δz] = [bλ; δz]` with `Aλ = diag(s/λ + 1/D_y) + G D_x⁻¹ Gᵀ`.
    fn newton_direction(&mut self, sub: &Subproblem, level: Level) -> Result<(), MmaError> {
        let epsilon = level.epsilon;
        let m = sub.constraints.len();
        let pairs = m * (m + 1) / 2;
        // At least 1 so that the chunking is defined for m = 0.
        let (width, row_len) = (m + pairs, (2 * m + pairs).max(1));
        let chunks = self.point.len().div_ceil(CHUNK);
        let rows = &mut self.rows[..chunks * row_len];
        let (point, lam) = (&self.point, &self.dual.lam);
        rows.par_chunks_mut(row_len)
            .enumerate()
            .for_each(|(c, row)| {
                let (acc, gg) = row.split_at_mut(width);
                acc.fill(0.0);
                let (gdelx, ggt) = acc.split_at_mut(m);
                let start = c * CHUNK;
                let chunk = &point[start..(start + CHUNK).min(point.len())];
                for (k, p) in chunk.iter().enumerate() {
                    let j = start + k;
                    if !sub.is_free(j) {
                        continue;
                    }
                    let (delx, diagx) = sub.newton_terms(j, p, lam, level, gg);
                    for i in 0..m {
                        gdelx[i] += gg[i] * delx / diagx;
                        let scaled = gg[i] / diagx;
                        for k in 0..=i {
                            ggt[i * (i + 1) / 2 + k] += scaled * gg[k];
                        }
                    }
                }
            });
        let (p, d, size) = (sub.params, &self.dual, m + 1);
        self.system.fill(0.0);
        self.rhs.fill(0.0);
        for row in rows.chunks(row_len) {
            for i in 0..m {
                self.rhs[i] -= row[i];
                for k in 0..=i {
                    self.system[i * size + k] += row[m + i * (i + 1) / 2 + k];
                }
            }
        }
        let sum_lam: f64 = d.lam.iter().sum();
        for i in 0..m {
            let dely = p.c + p.d * d.y[i] - d.lam[i] - epsilon / d.y[i];
            let diagy = p.d + d.mu[i] / d.y[i];
            let dellam = self.ftilde[i] - p.a * d.z - d.y[i] + epsilon / d.lam[i];
            self.rhs[i] += dellam + dely / diagy;
            self.system[i * size + i] += d.s[i] / d.lam[i] + 1.0 / diagy;
            for k in 0..i {
                self.system[k * size + i] = self.system[i * size + k];
            }
            self.system[i * size + m] = p.a;
            self.system[m * size + i] = p.a;
        }
        self.system[m * size + m] = -d.zet / d.z;
        self.rhs[m] = p.a0 - p.a * sum_lam - epsilon / d.z;
        if !solve_dense(&mut self.system, &mut self.rhs, size) {
            return Err(MmaError::Subproblem { residual: f64::NAN });
        }
        let dir = &mut self.direction;
        dir.lam.copy_from_slice(&self.rhs[..m]);
        dir.z = self.rhs[m];
        for i in 0..m {
            let dely = p.c + p.d * d.y[i] - d.lam[i] - epsilon / d.y[i];
            let diagy = p.d + d.mu[i] / d.y[i];
            dir.y[i] = (dir.lam[i] - dely) / diagy;
            dir.mu[i] = -d.mu[i] + epsilon / d.y[i] - d.mu[i] * dir.y[i] / d.y[i];
            dir.s[i] = -d.s[i] + epsilon / d.lam[i] - d.s[i] * dir.lam[i] / d.lam[i];
        }
        dir.zet = -d.zet + epsilon / d.z - d.zet * dir.z / d.z;
        Ok(())
    }

    /// Computes Δx = −(δₓ + Gᵀ Δλ)/Dₓ into `dx` and returns the largest −Δv/v over all
    /// unknowns that must stay positive (x − α, β − x, ξ, η and the m-sized ones): the step
    /// 1/that reaches the boundary.
    fn step_bound(&mut self, sub: &Subproblem, level: Level) -> f64 {
        let m = sub.constraints.len();
        let row_len = 1 + m;
        let chunks = self.point.len().div_ceil(CHUNK);
        let rows = &mut self.rows[..chunks * row_len];
        let (point, lam, dlam) = (&self.point, &self.dual.lam, &self.direction.lam);
        let barrier = level.bounds();
        self.dx
            .par_chunks_mut(CHUNK)
            .zip(rows.par_chunks_mut(row_len))
            .enumerate()
            .for_each(|(c, (dx, row))| {
                let (acc, gg) = row.split_at_mut(1);
                acc[0] = 0.0;
                for (k, dx) in dx.iter_mut().enumerate() {
                    let j = c * CHUNK + k;
                    if !sub.is_free(j) {
                        *dx = 0.0;
                        continue;
                    }
                    let p = &point[j];
                    let (delx, diagx) = sub.newton_terms(j, p, lam, level, gg);
                    let gt_dlam: f64 = gg.iter().zip(dlam).map(|(g, l)| g * l).sum();
                    *dx = -(delx + gt_dlam) / diagx;
                    let (xa, bx) = (p.x - sub.alpha[j], sub.beta[j] - p.x);
                    let dxsi = -p.xsi + barrier / xa - p.xsi * *dx / xa;
                    let deta = -p.eta + barrier / bx + p.eta * *dx / bx;
                    acc[0] = acc[0]
                        .max(-*dx / xa)
                        .max(*dx / bx)
                        .max(-dxsi / p.xsi)
                        .max(-deta / p.eta);
                }
            });
        // Max is exact and order-free, so any folding order gives the same bits.
        rows.chunks(row_len)
            .map(|row| row[0])
            .fold(self.dual.step_bound(&self.direction), f64::max)
    }
}

/// Solves the dense `size`×`size` system `a · u = b` in place (u into `b`) by Gaussian
/// elimination with partial pivoting; false if it is singular or not finite.
fn solve_dense(a: &mut [f64], b: &mut [f64], size: usize) -> bool {
    for col in 0..size {
        let pivot = (col..size)
            .max_by(|&r, &s| a[r * size + col].abs().total_cmp(&a[s * size + col].abs()))
            .unwrap_or(col);
        let value = a[pivot * size + col];
        if value == 0.0 || !value.is_finite() {
            return false;
        }
        if pivot != col {
            for k in 0..size {
                a.swap(col * size + k, pivot * size + k);
            }
            b.swap(col, pivot);
        }
        for r in col + 1..size {
            let factor = a[r * size + col] / value;
            for k in col..size {
                a[r * size + k] -= factor * a[col * size + k];
            }
            b[r] -= factor * b[col];
        }
    }
    for col in (0..size).rev() {
        let tail: f64 = (col + 1..size).map(|k| a[col * size + k] * b[k]).sum();
        b[col] = (b[col] - tail) / a[col * size + col];
    }
    b.iter().all(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::super::tests::{separable, weights};
    use super::super::{Mma, MmaParams};

    /// The subproblem of one update with m = 1, solved the slow way: for a feasible subproblem
    /// y = z = 0 and each xⱼ(λ) minimizes (p₀+λp₁)/(U−x) + (q₀+λq₁)/(x−L) on [α, β] in closed
    /// form; λ by bisection on f̃₁(x(λ)) = 0 (the dual method of Svanberg 1987, section 4).
    #[test]
    fn interior_point_matches_the_dual_method() {
        let n = 1000;
        let w = weights(n);
        let (lo, hi) = (vec![1e-3; n], vec![1.0; n]);
        let x: Vec<f64> = (0..n)
            .map(|j| 0.2 + 0.6 * (j as f64 * 0.37).sin().abs())
            .collect();
        // x averages about 0.58: the volume 0.5 n is reachable within one step.
        let e = separable(&w, 0.5 * n as f64, 10.0, &x);
        let mut mma = Mma::new(n, 1, MmaParams::default());
        let mut x_new = vec![0.0; n];
        mma.update_from(&x, &e, &lo, &hi, &mut x_new).unwrap();
        let pq = |grad: f64, j: usize| {
            let (uxk, xlk) = (mma.upp[j] - x[j], x[j] - mma.low[j]);
            let base = 0.001 * grad.abs() + 1e-5 / (hi[j] - lo[j]);
            (
                (grad.max(0.0) + base) * uxk * uxk,
                ((-grad).max(0.0) + base) * xlk * xlk,
            )
        };
        let solve = |lam: f64| -> (Vec<f64>, f64) {
            let mut constraint = e.constraints[0];
            let xs = (0..n)
                .map(|j| {
                    let (p0, q0) = pq(e.objective_gradient[j], j);
                    let (p1, q1) = pq(e.constraint_gradients[0][j], j);
                    let (p, q) = ((p0 + lam * p1).sqrt(), (q0 + lam * q1).sqrt());
                    let xj = ((p * mma.low[j] + q * mma.upp[j]) / (p + q))
                        .clamp(mma.alpha[j], mma.beta[j]);
                    let (uxk, xlk) = (mma.upp[j] - x[j], x[j] - mma.low[j]);
                    constraint +=
                        p1 / (mma.upp[j] - xj) - p1 / uxk + q1 / (xj - mma.low[j]) - q1 / xlk;
                    xj
                })
                .collect();
            (xs, constraint)
        };
        let (mut a, mut b) = (0.0, 1000.0);
        for _ in 0..200 {
            let lam = 0.5 * (a + b);
            if solve(lam).1 > 0.0 {
                a = lam;
            } else {
                b = lam;
            }
        }
        let lam = 0.5 * (a + b);
        assert!(
            lam > 1e-3 && lam < 999.0,
            "the constraint must be active: λ = {lam}"
        );
        let (reference, _) = solve(lam);
        for j in 0..n {
            assert!(
                (x_new[j] - reference[j]).abs() < 2e-7,
                "j = {j}: {} vs {}",
                x_new[j],
                reference[j]
            );
        }
        // Measured 4e-8 in x and 5e-8 in λ (relative): the last ε = 10⁻⁷ leaves s = ε/λ of slack.
        // subsolv's uniform barrier instead leaves the variables at a bound 10⁻⁵ off.
        assert!((mma.multipliers()[0] - lam).abs() < 5e-7 * lam);
    }
}
