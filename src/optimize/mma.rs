//! Method of moving asymptotes (MMA): Svanberg's update for many variables and few constraints.
//!
//! The problem, in the form of Svanberg's notes (2007, eq. 1.1), is
//!
//! $$\min_{x,y,z}\ f_0(x) + a_0 z + \sum_{i=1}^m \left(c_i y_i + \tfrac12 d_i y_i^2\right)
//! \quad\text{s.t.}\quad f_i(x) - a_i z - y_i \le 0,\ \ x^{\min} \le x \le x^{\max},\ \ y, z \ge 0,$$
//!
//! where the caller has already normalised each constraint to $f_i(x) \le 0$ (for example
//! $V/V^* - 1$). The artificial variables $y_i$ (cost $c_i$, default 1000) keep every subproblem
//! feasible; with $a_i = 0$ the variable $z$ is inert. Each iteration $k$ replaces every $f_i$ by
//! the convex separable approximation (2007, eqs. 3.2–3.5; 1987, eqs. 2–5)
//!
//! $$\tilde f_i(x) = f_i(x^k) + \sum_j \left(\frac{p_{ij}}{U_j - x_j} - \frac{p_{ij}}{U_j - x^k_j} +
//! \frac{q_{ij}}{x_j - L_j} - \frac{q_{ij}}{x^k_j - L_j}\right),$$
//! $$p_{ij} = (U_j - x^k_j)^2\left(1.001\,(\partial_j f_i)^+ + 0.001\,(\partial_j f_i)^- +
//! \frac{10^{-5}}{x^{\max}_j - x^{\min}_j}\right),$$
//!
//! and $q_{ij}$ alike with $(x^k_j - L_j)^2$ and the parts swapped. The sum is kept in this
//! difference form, $\sum_j (x_j - x^k_j)\,(p_{ij}/((U_j-x_j)(U_j-x^k_j)) - q_{ij}/((x_j-L_j)(x^k_j-L_j)))$,
//! rather than as $r_i + \sum_j(\dots)$, because $r_i$ cancels sums over all $n$ variables.
//! The subproblem is solved within $\alpha_j \le x_j \le \beta_j$ (eqs. 3.6–3.7):
//! $\alpha_j = \max(x^{\min}_j,\ L_j + 0.1(x^k_j - L_j),\ x^k_j - \mu_{\text{move}}(x^{\max}_j - x^{\min}_j))$
//! and $\beta_j$ symmetrically ($\mu_{\text{move}}$ = `move_limit`). The asymptotes start at
//! $x^k \mp s_0 (x^{\max} - x^{\min})$ ($s_0$ = `asymptote_initial`) in the first two iterations
//! and then move by (eqs. 3.11–3.14)
//! $L_j = x^k_j - \gamma_j (x^{k-1}_j - L^{k-1}_j)$, $U_j = x^k_j + \gamma_j (U^{k-1}_j - x^{k-1}_j)$,
//! with $\gamma_j$ = 0.7 where $x_j$ oscillates, 1.2 where it moves steadily and 1 otherwise, and
//! $x^k_j - 10\,\Delta_j \le L_j \le x^k_j - 0.01\,\Delta_j$ (and $U_j$ alike) for
//! $\Delta_j = x^{\max}_j - x^{\min}_j$.
//!
//! The subproblem is solved by the primal-dual interior-point method of the notes (section 5,
//! Svanberg's `subsolv`): Newton steps on the relaxed KKT conditions with barrier parameter
//! $\varepsilon = 1, 0.1, \dots, 10^{-7}$, each reduced to an $(m+1)\times(m+1)$ system in the
//! multipliers $\lambda$ and $z$, with step halving until the residual norm decreases. One
//! change of ours: after those levels, $\lceil\log_{10} n\rceil$ more keep $\varepsilon = 10^{-7}$
//! for the $m$-sized conditions but lower the bounds' barrier,
//! $\xi_j(x_j - \alpha_j) = \eta_j(\beta_j - x_j) = \varepsilon/\sigma$ with
//! $\sigma = 10, 100, \dots \ge n$, and weight those rows by $\sigma$ in the residual. With $f_i$
//! scaled to 1–100 in total each $\partial_j f_i$ is $O(1/n)$, and `subsolv`'s uniform
//! $\varepsilon$ leaves a variable at its bound $O(n\varepsilon)$ inside it and biases the
//! multipliers (measured at $n = 10^5$: offsets 10⁻⁵ instead of 10⁻⁹, objective 4·10⁻⁶ off the
//! optimum instead of 2·10⁻⁹), at a cost of about one Newton step per extra level.
//!
//! Conventions:
//! - A variable with $x^{\min}_j = x^{\max}_j$ is fixed: it is returned exactly at that value and
//!   takes no part in the subproblem (nor does one whose range is too small for the asymptotes to
//!   separate from $x^k_j$ in floating point; it stays at $x^k_j$).
//! - Every $O(n)$ and $O(nm)$ loop runs on rayon over fixed chunks of 4096 variables, and
//!   every sum over the variables is added per chunk and then over the chunks in order, so the
//!   result is bitwise the same for any number of threads.
//! - Scaling: like the notes (section 2), MMA expects variable ranges of about 0.1–100 and an
//!   objective of about 1–100 at the start; the constraint cost $c_i = 1000$ presumes multipliers
//!   well below 1000, which that scaling gives.
//! - Limitation of MMA itself: the nearest asymptote is 0.01 of the range away, so a function
//!   far more curved than that near a bound (w/x with its optimum at 0.002 on [0.001, 1]) is
//!   under-modelled and those variables oscillate; GCMMA (not implemented) would fix that.
//!
//! [`Mma::update`] is one iteration and is what the crate's own loop calls, directly, for speed
//! (no copies of the design vector). [`MmaSolver`] wraps it as an argmin `Solver`, for users
//! who want argmin's `Executor` and observers around a [`ConstrainedProblem`].
//!
//! References: K. Svanberg (1987), "The method of moving asymptotes—a new method for structural
//! optimization", *Int. J. Numer. Meth. Engng* 24:359–373; K. Svanberg (2007), "MMA and GCMMA –
//! two methods for nonlinear optimization", notes, KTH Stockholm.

use argmin::core::{
    ArgminError, IterState, KV, Problem, Solver, TerminationReason, TerminationStatus,
};
use rayon::prelude::*;

/// Variables per parallel work item and per partial sum.
const CHUNK: usize = 4096;
/// The 10⁻⁵ of $p_{ij}$, $q_{ij}$ (eqs. 3.3–3.4): keeps the approximations strictly convex.
const RAA0: f64 = 1e-5;
/// Floor on $x^{\max} - x^{\min}$ in that term, so narrow ranges do not blow it up.
const RANGE_FLOOR: f64 = 1e-5;
/// Fraction of the distance to an asymptote that $\alpha$, $\beta$ keep free (eqs. 3.6–3.7).
const ALBEFA: f64 = 0.1;
/// Nearest and farthest asymptote distance, in ranges (eq. 3.14).
const ASYMPTOTE_NEAREST: f64 = 0.01;
const ASYMPTOTE_FARTHEST: f64 = 10.0;
/// subsolv's barrier parameters ε = 10⁻ᵏ, k = 0 … 7.
const EPSILON_LEVELS: i32 = 7;
/// Newton steps allowed per barrier parameter, and step halvings per Newton step (`subsolv`).
const NEWTON_STEPS_PER_LEVEL: usize = 200;
const STEP_HALVINGS: usize = 50;

/// Settings of the MMA update. Defaults are those of Svanberg's notes (2007).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmaParams {
    /// Largest step of a variable per iteration, as a fraction of its range x_max − x_min
    /// (default 0.5; topology optimization commonly uses 0.2). Smaller → slower, steadier.
    pub move_limit: f64,
    /// Initial distance of the asymptotes from x, as a fraction of the range (default 0.5).
    /// Smaller → more conservative first steps.
    pub asymptote_initial: f64,
    /// Factor by which the asymptotes approach x where a variable oscillates (default 0.7).
    pub asymptote_decrease: f64,
    /// Factor by which the asymptotes recede where a variable moves steadily (default 1.2).
    pub asymptote_increase: f64,
    /// Cost a₀ of the min-max variable z (default 1; must be > 0).
    pub a0: f64,
    /// Weight aᵢ of z in every constraint (default 0: z unused; 1 turns the constraints into a
    /// min-max formulation).
    pub a: f64,
    /// Linear cost cᵢ of the relaxation yᵢ of each constraint (default 1000). Must exceed the
    /// constraint multipliers, or constraints are traded for objective.
    pub c: f64,
    /// Quadratic cost dᵢ of the relaxation yᵢ (default 1).
    pub d: f64,
}

impl Default for MmaParams {
    fn default() -> Self {
        Self {
            move_limit: 0.5,
            asymptote_initial: 0.5,
            asymptote_decrease: 0.7,
            asymptote_increase: 1.2,
            a0: 1.0,
            a: 0.0,
            c: 1000.0,
            d: 1.0,
        }
    }
}

impl MmaParams {
    /// The first parameter out of its valid range, with its value.
    fn invalid(&self) -> Option<(MmaParameter, f64)> {
        let p = self;
        [
            (MmaParameter::MoveLimit, p.move_limit, p.move_limit > 0.0),
            (
                MmaParameter::AsymptoteInitial,
                p.asymptote_initial,
                p.asymptote_initial > 0.0,
            ),
            (
                MmaParameter::AsymptoteDecrease,
                p.asymptote_decrease,
                p.asymptote_decrease > 0.0 && p.asymptote_decrease <= 1.0,
            ),
            (
                MmaParameter::AsymptoteIncrease,
                p.asymptote_increase,
                p.asymptote_increase >= 1.0,
            ),
            (MmaParameter::A0, p.a0, p.a0 > 0.0),
            (MmaParameter::A, p.a, p.a >= 0.0),
            (MmaParameter::C, p.c, p.c >= 0.0),
            // c + d > 0 keeps each yᵢ bounded in the subproblem.
            (MmaParameter::D, p.d, p.d >= 0.0 && p.c + p.d > 0.0),
        ]
        .into_iter()
        .find(|&(_, value, ok)| !(ok && value.is_finite()))
        .map(|(parameter, value, _)| (parameter, value))
    }
}

/// What one MMA update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MmaInfo {
    /// Newton steps of the subproblem's interior-point method.
    pub subproblem_iterations: usize,
    /// Largest residual of the subproblem's relaxed KKT conditions at the returned point:
    /// below 0.9 · 10⁻⁷ when the subproblem converged. Above it, a level ran out of Newton
    /// steps (200); the point is still within the bounds and the move limit.
    pub subproblem_residual: f64,
    /// Largest relaxation yᵢ used: near 0 when the subproblem's constraints could be met.
    pub max_relaxation: f64,
    /// The min-max variable z (near 0 unless `a > 0`).
    pub z: f64,
}

/// Which input of [`Mma::update`] an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmaInput {
    /// `x`.
    Design,
    /// `objective`.
    Objective,
    /// `objective_gradient`.
    ObjectiveGradient,
    /// `constraints`.
    Constraints,
    /// `constraint_gradients` (the list itself).
    ConstraintGradients,
    /// `constraint_gradients[i]`.
    ConstraintGradient(usize),
    /// `x_min`.
    LowerBounds,
    /// `x_max`.
    UpperBounds,
    /// `x_new`.
    NewDesign,
}

/// A field of [`MmaParams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MmaParameter {
    /// [`MmaParams::move_limit`] (> 0).
    MoveLimit,
    /// [`MmaParams::asymptote_initial`] (> 0).
    AsymptoteInitial,
    /// [`MmaParams::asymptote_decrease`] (in (0, 1]).
    AsymptoteDecrease,
    /// [`MmaParams::asymptote_increase`] (≥ 1).
    AsymptoteIncrease,
    /// [`MmaParams::a0`] (> 0).
    A0,
    /// [`MmaParams::a`] (≥ 0).
    A,
    /// [`MmaParams::c`] (≥ 0).
    C,
    /// [`MmaParams::d`] (≥ 0, with c + d > 0).
    D,
}

/// Why an MMA update failed.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum MmaError {
    /// An input has the wrong length.
    #[error("MMA input {input:?} has length {found}, expected {expected}")]
    Length {
        /// The input.
        input: MmaInput,
        /// Length it must have.
        expected: usize,
        /// Length it has.
        found: usize,
    },
    /// An input holds NaN or ±∞.
    #[error("MMA input {input:?} is not finite at index {index}")]
    NonFinite {
        /// The input.
        input: MmaInput,
        /// First offending index (0 for a scalar).
        index: usize,
    },
    /// A variable lies outside its bounds, or its bounds are reversed.
    #[error("MMA variable {index}: x = {x} is not within [{x_min}, {x_max}]")]
    OutOfBounds {
        /// The variable.
        index: usize,
        /// Its value.
        x: f64,
        /// Its lower bound.
        x_min: f64,
        /// Its upper bound.
        x_max: f64,
    },
    /// A parameter is out of its valid range.
    #[error("MMA parameter {parameter:?} = {value} is out of range")]
    Parameter {
        /// The parameter.
        parameter: MmaParameter,
        /// Its value.
        value: f64,
    },
    /// The subproblem's interior-point iteration produced a non-finite residual or point.
    #[error("MMA subproblem failed: residual {residual}")]
    Subproblem {
        /// Residual norm when it failed.
        residual: f64,
    },
}

/// Svanberg's MMA: the asymptotes and history it carries between iterations, and its scratch.
#[derive(Debug, Clone)]
pub struct Mma {
    n: usize,
    m: usize,
    params: MmaParams,
    /// Updates done so far.
    iteration: usize,
    /// Asymptotes L, U.
    low: Vec<f64>,
    upp: Vec<f64>,
    /// x of the previous two iterations, for the oscillation test of eqs. 3.11–3.13.
    xold1: Vec<f64>,
    xold2: Vec<f64>,
    /// Subproblem bounds α, β (eqs. 3.6–3.7); α = β marks a variable out of the subproblem.
    alpha: Vec<f64>,
    beta: Vec<f64>,
    ip: InteriorPoint,
}

impl Mma {
    /// MMA for `variables` design variables and `constraints` constraints, with all scratch
    /// allocated here: 13 vectors of length `variables` (104 bytes per variable).
    pub fn new(variables: usize, constraints: usize, params: MmaParams) -> Self {
        let n = variables;
        Self {
            n,
            m: constraints,
            params,
            iteration: 0,
            low: vec![0.0; n],
            upp: vec![0.0; n],
            xold1: vec![0.0; n],
            xold2: vec![0.0; n],
            alpha: vec![0.0; n],
            beta: vec![0.0; n],
            ip: InteriorPoint::new(n, constraints),
        }
    }

    /// Number of design variables.
    pub fn variables(&self) -> usize {
        self.n
    }

    /// Number of constraints.
    pub fn constraints(&self) -> usize {
        self.m
    }

    /// Updates done so far.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// The constraint multipliers λᵢ of the last subproblem (KKT multipliers of the constraints
    /// at convergence).
    pub fn multipliers(&self) -> &[f64] {
        &self.ip.dual.lam
    }

    /// One MMA iteration: from the current point `x` and the function values and gradients
    /// there, the new point `x_new`. `constraints[i]` is fᵢ(x) ≤ 0 and `constraint_gradients[i]`
    /// its gradient; `x` must be the previous call's `x_new` for the asymptotes to adapt.
    #[allow(clippy::too_many_arguments)] // The field's mmasub signature; each argument is a distinct input.
    pub fn update(
        &mut self,
        x: &[f64],
        objective: f64,
        objective_gradient: &[f64],
        constraints: &[f64],
        constraint_gradients: &[&[f64]],
        x_min: &[f64],
        x_max: &[f64],
        x_new: &mut [f64],
    ) -> Result<MmaInfo, MmaError> {
        if let Some((parameter, value)) = self.params.invalid() {
            return Err(MmaError::Parameter { parameter, value });
        }
        self.check(
            x,
            objective,
            objective_gradient,
            constraints,
            constraint_gradients,
            x_min,
            x_max,
            x_new,
        )?;
        self.move_asymptotes(x, x_min, x_max);
        let (alpha, beta) = (&self.alpha, &self.beta);
        let free = (0..self.n)
            .into_par_iter()
            .filter(|&j| alpha[j] < beta[j])
            .count();
        let subproblem = Subproblem {
            xk: x,
            objective_gradient,
            constraint_gradients,
            constraints,
            x_min,
            x_max,
            low: &self.low,
            upp: &self.upp,
            alpha: &self.alpha,
            beta: &self.beta,
            params: &self.params,
            free,
        };
        let info = self.ip.solve(&subproblem)?;
        let points = &self.ip.point;
        x_new
            .par_iter_mut()
            .enumerate()
            .for_each(|(j, xn)| *xn = points[j].x);
        self.xold2.copy_from_slice(&self.xold1);
        self.xold1.copy_from_slice(x);
        self.iteration += 1;
        Ok(info)
    }

    /// Lengths, finiteness and bounds of the inputs.
    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        x: &[f64],
        objective: f64,
        objective_gradient: &[f64],
        constraints: &[f64],
        constraint_gradients: &[&[f64]],
        x_min: &[f64],
        x_max: &[f64],
        x_new: &[f64],
    ) -> Result<(), MmaError> {
        let (n, m) = (self.n, self.m);
        if constraint_gradients.len() != m {
            return Err(MmaError::Length {
                input: MmaInput::ConstraintGradients,
                expected: m,
                found: constraint_gradients.len(),
            });
        }
        let gradients = constraint_gradients
            .iter()
            .enumerate()
            .map(|(i, g)| (MmaInput::ConstraintGradient(i), *g));
        // x_new is output only: its length is checked, its values are not.
        let inputs = [
            (MmaInput::Design, x),
            (MmaInput::ObjectiveGradient, objective_gradient),
            (MmaInput::Constraints, constraints),
            (MmaInput::LowerBounds, x_min),
            (MmaInput::UpperBounds, x_max),
        ];
        let outputs = [(MmaInput::NewDesign, x_new)];
        let all = inputs
            .iter()
            .chain(&outputs)
            .copied()
            .chain(gradients.clone());
        for (input, values) in all {
            let expected = if input == MmaInput::Constraints { m } else { n };
            if values.len() != expected {
                return Err(MmaError::Length {
                    input,
                    expected,
                    found: values.len(),
                });
            }
        }
        if !objective.is_finite() {
            return Err(MmaError::NonFinite {
                input: MmaInput::Objective,
                index: 0,
            });
        }
        for (input, values) in inputs.into_iter().chain(gradients) {
            if let Some(index) = values.par_iter().position_first(|v| !v.is_finite()) {
                return Err(MmaError::NonFinite { input, index });
            }
        }
        let outside = (0..n)
            .into_par_iter()
            .position_first(|j| !(x_min[j] <= x[j] && x[j] <= x_max[j]));
        match outside {
            Some(index) => Err(MmaError::OutOfBounds {
                index,
                x: x[index],
                x_min: x_min[index],
                x_max: x_max[index],
            }),
            None => Ok(()),
        }
    }

    /// New asymptotes L, U (eqs. 3.11–3.14) and subproblem bounds α, β (eqs. 3.6–3.7).
    fn move_asymptotes(&mut self, x: &[f64], x_min: &[f64], x_max: &[f64]) {
        let p = self.params;
        let early = self.iteration < 2;
        let (xold1, xold2) = (&self.xold1, &self.xold2);
        self.low
            .par_iter_mut()
            .zip(self.upp.par_iter_mut())
            .zip(self.alpha.par_iter_mut().zip(self.beta.par_iter_mut()))
            .enumerate()
            .for_each(|(j, ((low, upp), (alpha, beta)))| {
                let range = x_max[j] - x_min[j];
                if early {
                    *low = x[j] - p.asymptote_initial * range;
                    *upp = x[j] + p.asymptote_initial * range;
                } else {
                    // Oscillation (sign change of the step) pulls the asymptotes in; a steady
                    // direction pushes them out.
                    let trend = (x[j] - xold1[j]) * (xold1[j] - xold2[j]);
                    let gamma = if trend > 0.0 {
                        p.asymptote_increase
                    } else if trend < 0.0 {
                        p.asymptote_decrease
                    } else {
                        1.0
                    };
                    *low = (x[j] - gamma * (xold1[j] - *low))
                        .max(x[j] - ASYMPTOTE_FARTHEST * range)
                        .min(x[j] - ASYMPTOTE_NEAREST * range);
                    *upp = (x[j] + gamma * (*upp - xold1[j]))
                        .min(x[j] + ASYMPTOTE_FARTHEST * range)
                        .max(x[j] + ASYMPTOTE_NEAREST * range);
                }
                let a = x_min[j]
                    .max(*low + ALBEFA * (x[j] - *low))
                    .max(x[j] - p.move_limit * range);
                let b = x_max[j]
                    .min(*upp - ALBEFA * (*upp - x[j]))
                    .min(x[j] + p.move_limit * range);
                // A fixed variable (or one whose range is lost in rounding) has no room between
                // its asymptotes; it stays at x and leaves the subproblem.
                let free = *low < x[j] && x[j] < *upp && a < b;
                (*alpha, *beta) = if free { (a, b) } else { (x[j], x[j]) };
            });
    }
}

/// The MMA subproblem around xᵏ, read-only while it is solved.
struct Subproblem<'a> {
    xk: &'a [f64],
    objective_gradient: &'a [f64],
    constraint_gradients: &'a [&'a [f64]],
    constraints: &'a [f64],
    x_min: &'a [f64],
    x_max: &'a [f64],
    low: &'a [f64],
    upp: &'a [f64],
    alpha: &'a [f64],
    beta: &'a [f64],
    params: &'a MmaParams,
    /// Number of variables in the subproblem (not fixed).
    free: usize,
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
struct InteriorPoint {
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
    fn new(n: usize, m: usize) -> Self {
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
    fn solve(&mut self, sub: &Subproblem) -> Result<MmaInfo, MmaError> {
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

/// A problem for [`MmaSolver`]: bounds, constraint count, and values with gradients.
pub trait ConstrainedProblem {
    /// Lower and upper bounds `(x_min, x_max)` of the variables (equal for a fixed variable).
    fn bounds(&self) -> (Vec<f64>, Vec<f64>);
    /// Number m of constraints fᵢ(x) ≤ 0.
    fn constraint_count(&self) -> usize;
    /// Objective, constraints and their gradients at `x`.
    fn evaluate(&mut self, x: &[f64]) -> Result<Evaluation, argmin::core::Error>;
}

/// Function values and gradients at one point.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluation {
    /// f₀(x).
    pub objective: f64,
    /// ∇f₀(x), length n.
    pub objective_gradient: Vec<f64>,
    /// fᵢ(x), i = 1…m, each normalised so that ≤ 0 is feasible.
    pub constraints: Vec<f64>,
    /// ∇fᵢ(x), m vectors of length n.
    pub constraint_gradients: Vec<Vec<f64>>,
}

/// The argmin state [`MmaSolver`] runs on: parameters `Vec<f64>`, cost f₀ as `f64`. The
/// gradient slot stays empty; the solver keeps the last [`Evaluation`] itself.
pub type MmaState = IterState<Vec<f64>, Vec<f64>, (), (), (), f64>;

/// MMA as an argmin solver: `Executor::new(problem, MmaSolver::new(params))
/// .configure(|s| s.param(x0).max_iters(100)).run()`.
///
/// Take the result from the state's `param` (the last point), not `best_param`: argmin's
/// "best" compares costs only and can pick an infeasible point.
#[derive(Debug, Clone)]
pub struct MmaSolver {
    params: MmaParams,
    tolerance: f64,
    mma: Option<Mma>,
    bounds: (Vec<f64>, Vec<f64>),
    evaluation: Option<Evaluation>,
    change: f64,
}

impl MmaSolver {
    /// A solver with the given MMA settings and design-change tolerance 10⁻⁶.
    pub fn new(params: MmaParams) -> Self {
        Self {
            params,
            tolerance: 1e-6,
            mma: None,
            bounds: (Vec::new(), Vec::new()),
            evaluation: None,
            change: f64::INFINITY,
        }
    }

    /// Stops once no variable moves by more than `tolerance` times its range in an iteration
    /// (default 10⁻⁶). Larger → earlier stop, less accurate point.
    pub fn with_tolerance(mut self, tolerance: f64) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// Largest change of a variable in the last iteration, relative to its range.
    pub fn change(&self) -> f64 {
        self.change
    }
}

/// Evaluates the user's problem, counting evaluations as argmin's own operators do.
fn evaluate<O: ConstrainedProblem>(
    problem: &mut Problem<O>,
    x: &[f64],
) -> Result<Evaluation, argmin::core::Error> {
    *problem.counts.entry("evaluate_count").or_insert(0) += 1;
    let user = problem
        .problem
        .as_mut()
        .ok_or(ArgminError::NotInitialized {
            text: "MmaSolver: the problem was taken".into(),
        })?;
    user.evaluate(x)
}

impl<O: ConstrainedProblem> Solver<O, MmaState> for MmaSolver {
    fn name(&self) -> &str {
        "MMA"
    }

    fn init(
        &mut self,
        problem: &mut Problem<O>,
        mut state: MmaState,
    ) -> Result<(MmaState, Option<KV>), argmin::core::Error> {
        let x = state.take_param().ok_or(ArgminError::NotInitialized {
            text: "MmaSolver needs a start point: configure(|s| s.param(x0))".into(),
        })?;
        let user = problem
            .problem
            .as_ref()
            .ok_or(ArgminError::NotInitialized {
                text: "MmaSolver: the problem was taken".into(),
            })?;
        self.bounds = user.bounds();
        self.mma = Some(Mma::new(x.len(), user.constraint_count(), self.params));
        let evaluation = evaluate(problem, &x)?;
        let cost = evaluation.objective;
        self.evaluation = Some(evaluation);
        self.change = f64::INFINITY;
        Ok((state.param(x).cost(cost), None))
    }

    fn next_iter(
        &mut self,
        problem: &mut Problem<O>,
        mut state: MmaState,
    ) -> Result<(MmaState, Option<KV>), argmin::core::Error> {
        let not_initialized = || ArgminError::NotInitialized {
            text: "MmaSolver::init was not called".into(),
        };
        let mma = self.mma.as_mut().ok_or_else(not_initialized)?;
        let e = self.evaluation.as_ref().ok_or_else(not_initialized)?;
        let x = state.take_param().ok_or_else(not_initialized)?;
        let (x_min, x_max) = (&self.bounds.0, &self.bounds.1);
        let gradients: Vec<&[f64]> = e.constraint_gradients.iter().map(Vec::as_slice).collect();
        let mut x_new = vec![0.0; x.len()];
        let info = mma.update(
            &x,
            e.objective,
            &e.objective_gradient,
            &e.constraints,
            &gradients,
            x_min,
            x_max,
            &mut x_new,
        )?;
        self.change = crate::reduce::max_map(x.len(), |j| {
            let range = x_max[j] - x_min[j];
            if range > 0.0 {
                (x_new[j] - x[j]).abs() / range
            } else {
                0.0
            }
        });
        let evaluation = evaluate(problem, &x_new)?;
        let cost = evaluation.objective;
        let max_constraint = evaluation
            .constraints
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        self.evaluation = Some(evaluation);
        let kv = argmin::kv!(
            "change" => self.change;
            "max_constraint" => max_constraint;
            "subproblem_iterations" => info.subproblem_iterations as u64;
            "max_relaxation" => info.max_relaxation;
        );
        // Keep x as the previous parameter (IterState::param shifts it there).
        state.param = Some(x);
        Ok((state.param(x_new).cost(cost), Some(kv)))
    }

    fn terminate(&mut self, _state: &MmaState) -> TerminationStatus {
        if self.change <= self.tolerance {
            TerminationStatus::Terminated(TerminationReason::SolverConverged)
        } else {
            TerminationStatus::NotTerminated
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A test problem as a closure from x to values and gradients.
    type Functions<'a> = &'a dyn Fn(&[f64]) -> Evaluation;

    /// Runs MMA from `x0` until no variable moves by more than `tolerance` of its range or
    /// `max_iterations` pass; returns the point and the iterations used.
    fn minimize(
        functions: Functions,
        x0: &[f64],
        (x_min, x_max): (&[f64], &[f64]),
        m: usize,
        params: MmaParams,
        tolerance: f64,
        max_iterations: usize,
    ) -> (Vec<f64>, usize) {
        let mut mma = Mma::new(x0.len(), m, params);
        let (mut x, mut x_new) = (x0.to_vec(), vec![0.0; x0.len()]);
        for iteration in 1..=max_iterations {
            let e = functions(&x);
            let gradients: Vec<&[f64]> = e.constraint_gradients.iter().map(Vec::as_slice).collect();
            let info = mma
                .update(
                    &x,
                    e.objective,
                    &e.objective_gradient,
                    &e.constraints,
                    &gradients,
                    x_min,
                    x_max,
                    &mut x_new,
                )
                .unwrap();
            assert!(info.subproblem_residual < 0.9e-7, "{info:?}");
            let change = (0..x.len())
                .map(|j| (x_new[j] - x[j]).abs() / (x_max[j] - x_min[j]).max(f64::MIN_POSITIVE))
                .fold(0.0, f64::max);
            std::mem::swap(&mut x, &mut x_new);
            if change <= tolerance {
                return (x, iteration);
            }
        }
        (x, max_iterations)
    }

    /// Svanberg's toy problem: min |x|² s.t. two balls of radius 3, 0 ≤ x ≤ 5.
    fn toy(x: &[f64]) -> Evaluation {
        let ball = |c: [f64; 3]| {
            let value = (0..3).map(|j| (x[j] - c[j]).powi(2)).sum::<f64>() - 9.0;
            (
                value,
                (0..3).map(|j| 2.0 * (x[j] - c[j])).collect::<Vec<_>>(),
            )
        };
        let (f1, g1) = ball([5.0, 2.0, 1.0]);
        let (f2, g2) = ball([3.0, 4.0, 3.0]);
        Evaluation {
            objective: x.iter().map(|v| v * v).sum(),
            objective_gradient: x.iter().map(|v| 2.0 * v).collect(),
            constraints: vec![f1, f2],
            constraint_gradients: vec![g1, g2],
        }
    }

    /// The toy problem's optimum: the point of the two spheres' intersection circle (centre
    /// (4, 3, 2), radius √6, in the plane −x₁ + x₂ + x₃ = 1) nearest the origin, which lies
    /// along (−13, −8, −5) from the centre: ≈ (2.0175, 1.7800, 1.2375).
    fn toy_optimum() -> [f64; 3] {
        let scale = (6.0f64 / 258.0).sqrt();
        [4.0 - 13.0 * scale, 3.0 - 8.0 * scale, 2.0 - 5.0 * scale]
    }

    #[test]
    fn toy_problem_reaches_its_optimum() {
        let (lo, hi) = (vec![0.0; 3], vec![5.0; 3]);
        let (x, iterations) = minimize(
            &toy,
            &[4.0, 3.0, 2.0],
            (&lo, &hi),
            2,
            MmaParams::default(),
            1e-9,
            200,
        );
        let exact = toy_optimum();
        assert!((exact[0] - 2.0175).abs() < 1e-4 && (exact[2] - 1.2375).abs() < 1e-4);
        for j in 0..3 {
            assert!(
                (x[j] - exact[j]).abs() < 1e-6,
                "x = {x:?}, {iterations} iterations"
            );
        }
        assert!(iterations <= 20, "{iterations} iterations");
    }

    /// Svanberg's (1987) cantilever beam: min 0.0624 Σ xⱼ s.t. Σ cⱼ/xⱼ³ ≤ 1. KKT gives
    /// xⱼ = k cⱼ^¼ with k = (Σ cⱼ^¼)^⅓, so x ≈ (6.016, 5.309, 4.494, 3.502, 2.153).
    #[test]
    fn cantilever_beam_reaches_its_optimum() {
        let c = [61.0, 37.0, 19.0, 7.0, 1.0];
        let beam = |x: &[f64]| Evaluation {
            objective: 0.0624 * x.iter().sum::<f64>(),
            objective_gradient: vec![0.0624; 5],
            constraints: vec![(0..5).map(|j| c[j] / x[j].powi(3)).sum::<f64>() - 1.0],
            constraint_gradients: vec![(0..5).map(|j| -3.0 * c[j] / x[j].powi(4)).collect()],
        };
        let (lo, hi) = (vec![1.0; 5], vec![10.0; 5]);
        let (x, iterations) = minimize(
            &beam,
            &[5.0; 5],
            (&lo, &hi),
            1,
            MmaParams::default(),
            1e-9,
            200,
        );
        let k = c.iter().map(|c: &f64| c.powf(0.25)).sum::<f64>().cbrt();
        for j in 0..5 {
            let exact = k * c[j].powf(0.25);
            assert!((x[j] - exact).abs() < 1e-6 * exact, "x = {x:?}");
        }
        assert!(
            (x[0] - 6.016).abs() < 1e-3 && iterations <= 25,
            "{iterations}"
        );
    }

    /// Weights of the separable problem: every tenth 10⁻⁹ (its variable ends at the lower
    /// bound), the others 0.1…1 log-uniformly by a golden-ratio sequence (the largest end at
    /// the upper bound). No optimum lies just above the lower bound, where MMA's nearest
    /// asymptote, 0.01 of the range away, is too far to model w/x and the iterates oscillate.
    fn weights(n: usize) -> Vec<f64> {
        let golden = 0.5 * (5f64.sqrt() - 1.0);
        (0..n)
            .map(|j| {
                if j % 10 == 3 {
                    1e-9
                } else {
                    10f64.powf(-(j as f64 * golden).fract())
                }
            })
            .collect()
    }

    /// min (s/n) Σ wⱼ/xⱼ s.t. Σ xⱼ/V − 1 ≤ 0; s puts f₀ near 10 at the start.
    fn separable(w: &[f64], volume: f64, scale: f64, x: &[f64]) -> Evaluation {
        let n = w.len() as f64;
        Evaluation {
            objective: scale / n * x.iter().zip(w).map(|(x, w)| w / x).sum::<f64>(),
            objective_gradient: x
                .iter()
                .zip(w)
                .map(|(x, w)| -scale / n * w / (x * x))
                .collect(),
            constraints: vec![x.iter().sum::<f64>() / volume - 1.0],
            constraint_gradients: vec![vec![1.0 / volume; x.len()]],
        }
    }

    /// The separable problem's optimum: xⱼ = clamp(t √wⱼ, lo, hi) with Σ x = V, t by bisection.
    fn separable_optimum(w: &[f64], volume: f64, lo: &[f64], hi: &[f64]) -> Vec<f64> {
        let at = |t: f64| -> Vec<f64> {
            (0..w.len())
                .map(|j| {
                    if lo[j] == hi[j] {
                        lo[j]
                    } else {
                        (t * w[j].sqrt()).clamp(lo[j], hi[j])
                    }
                })
                .collect()
        };
        let (mut a, mut b) = (0.0, 1e6);
        for _ in 0..200 {
            let t = 0.5 * (a + b);
            if at(t).iter().sum::<f64>() > volume {
                b = t;
            } else {
                a = t;
            }
        }
        at(0.5 * (a + b))
    }

    #[test]
    fn large_separable_problem_reaches_its_closed_form_optimum() {
        let n = 100_000;
        let w = weights(n);
        let volume = 0.6 * n as f64;
        let (lo, hi) = (vec![1e-3; n], vec![1.0; n]);
        let exact = separable_optimum(&w, volume, &lo, &hi);
        // Both bounds are active somewhere, so the test covers them.
        assert!(exact.contains(&1e-3) && exact.contains(&1.0));
        let scale = 100.0;
        let best = separable(&w, volume, scale, &exact).objective;
        let functions = |x: &[f64]| separable(&w, volume, scale, x);
        let params = MmaParams {
            move_limit: 0.2,
            ..MmaParams::default()
        };
        let mut mma = Mma::new(n, 1, params);
        let (mut x, mut x_new) = (vec![0.6; n], vec![0.0; n]);
        let mut reached = None;
        for iteration in 1..=60 {
            let e = functions(&x);
            let relative = (e.objective - best) / best;
            if relative.abs() < 1e-4 && e.constraints[0] < 1e-6 {
                reached = Some(iteration - 1);
                break;
            }
            let g = [e.constraint_gradients[0].as_slice()];
            mma.update(
                &x,
                e.objective,
                &e.objective_gradient,
                &e.constraints,
                &g,
                &lo,
                &hi,
                &mut x_new,
            )
            .unwrap();
            std::mem::swap(&mut x, &mut x_new);
        }
        let iterations = reached.expect("not within 1e-4 of the optimum in 60 iterations");
        assert!(iterations <= 15, "{iterations} iterations");
        // λ of Σx/V − 1 ≤ 0 is s t⁻²·V/n at the optimum (KKT of the closed form).
        assert!(mma.multipliers()[0] > 0.0);
    }

    #[test]
    fn fixed_variables_stay_exactly_put() {
        let n = 2 * CHUNK + 77;
        let w = weights(n);
        let volume = 0.3 * n as f64;
        let fixed_value = 0.123456789;
        let mut lo = vec![1e-3; n];
        let mut hi = vec![1.0; n];
        for j in (0..n).step_by(7) {
            (lo[j], hi[j]) = (fixed_value, fixed_value);
        }
        let exact = separable_optimum(&w, volume, &lo, &hi);
        let mut mma = Mma::new(n, 1, MmaParams::default());
        let mut x: Vec<f64> = (0..n)
            .map(|j| if lo[j] == hi[j] { lo[j] } else { 0.3 })
            .collect();
        let mut x_new = vec![0.0; n];
        for _ in 0..60 {
            let e = separable(&w, volume, 100.0, &x);
            let g = [e.constraint_gradients[0].as_slice()];
            mma.update(
                &x,
                e.objective,
                &e.objective_gradient,
                &e.constraints,
                &g,
                &lo,
                &hi,
                &mut x_new,
            )
            .unwrap();
            for j in (0..n).step_by(7) {
                assert_eq!(x_new[j].to_bits(), fixed_value.to_bits());
            }
            std::mem::swap(&mut x, &mut x_new);
        }
        let objective = |x: &[f64]| separable(&w, volume, 100.0, x).objective;
        assert!((objective(&x) - objective(&exact)).abs() < 1e-4 * objective(&exact));
    }

    /// One update of a problem with two constraints over several chunks, in a pool of `threads`.
    fn updates_in_pool(threads: usize) -> Vec<u64> {
        let n = 3 * CHUNK + 123;
        let w = weights(n);
        let (lo, hi) = (vec![1e-3; n], vec![1.0; n]);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let mut mma = Mma::new(n, 2, MmaParams::default());
            let (mut x, mut x_new) = (vec![0.5; n], vec![0.0; n]);
            for _ in 0..4 {
                let mut e = separable(&w, 0.3 * n as f64, 10.0, &x);
                // A second, non-uniform linear constraint.
                let v: Vec<f64> = (0..n).map(|j| 1.0 + (j % 13) as f64).collect();
                let budget = 0.25 * v.iter().sum::<f64>();
                e.constraints
                    .push(x.iter().zip(&v).map(|(x, v)| x * v).sum::<f64>() / budget - 1.0);
                e.constraint_gradients
                    .push(v.iter().map(|v| v / budget).collect());
                let g: Vec<&[f64]> = e.constraint_gradients.iter().map(Vec::as_slice).collect();
                mma.update(
                    &x,
                    e.objective,
                    &e.objective_gradient,
                    &e.constraints,
                    &g,
                    &lo,
                    &hi,
                    &mut x_new,
                )
                .unwrap();
                std::mem::swap(&mut x, &mut x_new);
            }
            x.iter()
                .chain(mma.multipliers())
                .map(|v| v.to_bits())
                .collect()
        })
    }

    #[test]
    fn bitwise_identical_for_one_and_two_threads() {
        assert_eq!(updates_in_pool(1), updates_in_pool(2));
    }

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
        let g = [e.constraint_gradients[0].as_slice()];
        let mut mma = Mma::new(n, 1, MmaParams::default());
        let mut x_new = vec![0.0; n];
        mma.update(
            &x,
            e.objective,
            &e.objective_gradient,
            &e.constraints,
            &g,
            &lo,
            &hi,
            &mut x_new,
        )
        .unwrap();
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
                    let (p1, q1) = pq(g[0][j], j);
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
                (x_new[j] - reference[j]).abs() < 1e-7,
                "j = {j}: {} vs {}",
                x_new[j],
                reference[j]
            );
        }
        assert!((mma.multipliers()[0] - lam).abs() < 1e-7 * lam);
    }

    struct Toy;

    impl ConstrainedProblem for Toy {
        fn bounds(&self) -> (Vec<f64>, Vec<f64>) {
            (vec![0.0; 3], vec![5.0; 3])
        }
        fn constraint_count(&self) -> usize {
            2
        }
        fn evaluate(&mut self, x: &[f64]) -> Result<Evaluation, argmin::core::Error> {
            Ok(toy(x))
        }
    }

    #[test]
    fn argmin_executor_solves_the_toy_problem() {
        use argmin::core::{Executor, State};
        let result = Executor::new(
            Toy,
            MmaSolver::new(MmaParams::default()).with_tolerance(1e-9),
        )
        .configure(|s| s.param(vec![4.0, 3.0, 2.0]).max_iters(200))
        .run()
        .unwrap();
        let state = result.state();
        assert_eq!(
            state.get_termination_reason(),
            Some(&TerminationReason::SolverConverged)
        );
        let x = state.get_param().unwrap();
        let exact = toy_optimum();
        for j in 0..3 {
            assert!((x[j] - exact[j]).abs() < 1e-6, "x = {x:?}");
        }
        assert!(state.get_iter() <= 20);
    }

    #[test]
    fn argmin_executor_reports_a_missing_start_point() {
        use argmin::core::Executor;
        let run = Executor::new(Toy, MmaSolver::new(MmaParams::default()))
            .configure(|s| s.max_iters(5))
            .run();
        assert!(run.is_err());
    }

    #[test]
    fn bad_inputs_are_errors_not_panics() {
        let mut mma = Mma::new(3, 2, MmaParams::default());
        let x = [1.0, 2.0, 3.0];
        let (lo, hi) = ([0.0; 3], [5.0; 3]);
        let mut out = [0.0; 3];
        let g = [1.0; 3];
        let nan = [1.0, 1.0, f64::NAN];
        let mut call = |x: &[f64], grad: &[f64], cons: &[f64], cg: &[&[f64]], lo: &[f64]| {
            mma.update(x, 1.0, grad, cons, cg, lo, &hi, &mut out)
        };
        assert_eq!(
            call(&x, &g[..2], &[0.0; 2], &[&g, &g], &lo),
            Err(MmaError::Length {
                input: MmaInput::ObjectiveGradient,
                expected: 3,
                found: 2
            })
        );
        assert_eq!(
            call(&x, &g, &[0.0; 2], &[&g], &lo),
            Err(MmaError::Length {
                input: MmaInput::ConstraintGradients,
                expected: 2,
                found: 1
            })
        );
        assert_eq!(
            call(&x, &g, &[0.0; 2], &[&g, &g[..1]], &lo),
            Err(MmaError::Length {
                input: MmaInput::ConstraintGradient(1),
                expected: 3,
                found: 1
            })
        );
        assert_eq!(
            call(&x, &g, &[0.0; 2], &[&g, &nan], &lo),
            Err(MmaError::NonFinite {
                input: MmaInput::ConstraintGradient(1),
                index: 2
            })
        );
        assert_eq!(
            call(&x, &nan, &[0.0; 2], &[&g, &g], &lo),
            Err(MmaError::NonFinite {
                input: MmaInput::ObjectiveGradient,
                index: 2
            })
        );
        assert_eq!(
            call(&x, &g, &[0.0, f64::INFINITY], &[&g, &g], &lo),
            Err(MmaError::NonFinite {
                input: MmaInput::Constraints,
                index: 1
            })
        );
        assert_eq!(
            call(&[1.0, 6.0, 3.0], &g, &[0.0; 2], &[&g, &g], &lo),
            Err(MmaError::OutOfBounds {
                index: 1,
                x: 6.0,
                x_min: 0.0,
                x_max: 5.0
            })
        );
        let mut bad = Mma::new(
            3,
            0,
            MmaParams {
                move_limit: -0.1,
                ..MmaParams::default()
            },
        );
        assert_eq!(
            bad.update(&x, 1.0, &g, &[], &[], &lo, &hi, &mut out),
            Err(MmaError::Parameter {
                parameter: MmaParameter::MoveLimit,
                value: -0.1
            })
        );
        assert_eq!(
            bad.update(&x, f64::NAN, &g, &[], &[], &lo, &hi, &mut out)
                .map_err(|e| matches!(e, MmaError::Parameter { .. })),
            Err(true)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig {
            cases: 64,
            failure_persistence: None,
            ..ProptestConfig::default()
        })]

        /// Any update stays within the bounds and the move limit, on arbitrary gradients
        /// (also with no constraint, and with fixed variables).
        #[test]
        fn updates_respect_bounds_and_move_limit(
            columns in prop::collection::vec(
                (0.0f64..1.0, 0.0f64..1.0, -10.0f64..10.0, -10.0f64..10.0, -10.0f64..10.0, 0u8..5),
                1..40,
            ),
            constraints in prop::collection::vec(-1.0f64..1.0, 0..3),
            move_limit in 0.05f64..0.6,
        ) {
            let n = columns.len();
            let m = constraints.len();
            let lo: Vec<f64> = columns.iter().map(|c| -1.0 - c.0).collect();
            let hi: Vec<f64> = columns.iter().zip(&lo).map(|(c, lo)| if c.5 == 0 { *lo } else { 1.0 + c.1 }).collect();
            let x: Vec<f64> = (0..n).map(|j| lo[j] + (hi[j] - lo[j]) * columns[j].1).collect();
            let g0: Vec<f64> = columns.iter().map(|c| c.2).collect();
            let gs: Vec<Vec<f64>> = (0..m).map(|i| columns.iter().map(|c| if i == 0 { c.3 } else { c.4 }).collect()).collect();
            let grads: Vec<&[f64]> = gs.iter().map(Vec::as_slice).collect();
            let params = MmaParams { move_limit, ..MmaParams::default() };
            let mut mma = Mma::new(n, m, params);
            let mut x_new = vec![0.0; n];
            let info = mma.update(&x, 1.0, &g0, &constraints, &grads, &lo, &hi, &mut x_new).unwrap();
            prop_assert!(info.subproblem_residual < 0.9e-7);
            for j in 0..n {
                prop_assert!(lo[j] <= x_new[j] && x_new[j] <= hi[j]);
                prop_assert!((x_new[j] - x[j]).abs() <= move_limit * (hi[j] - lo[j]) * (1.0 + 1e-12));
                if lo[j] == hi[j] {
                    prop_assert_eq!(x_new[j].to_bits(), lo[j].to_bits());
                }
            }
        }
    }
}
