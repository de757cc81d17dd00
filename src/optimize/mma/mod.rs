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
//!
//! Files: this one holds [`Mma`] (inputs, asymptotes, subproblem bounds) with its params, info
//! and errors; `subproblem.rs` the interior-point solver of the subproblem; `solver.rs` the
//! argmin adapter [`MmaSolver`].

mod solver;
mod subproblem;

pub use solver::{ConstrainedProblem, Evaluation, MmaSolver, MmaState};

use rayon::prelude::*;
use subproblem::{InteriorPoint, Subproblem};

/// Variables per parallel work item and per partial sum.
const CHUNK: usize = 4096;
/// Fraction of the distance to an asymptote that $\alpha$, $\beta$ keep free (eqs. 3.6–3.7).
const ALBEFA: f64 = 0.1;
/// Nearest and farthest asymptote distance, in ranges (eq. 3.14).
const ASYMPTOTE_NEAREST: f64 = 0.01;
const ASYMPTOTE_FARTHEST: f64 = 10.0;

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

    /// What the next update remembers of the earlier ones: the number of updates done, and the
    /// asymptotes and the last two points by name (`low`, `upp`, `xold1`, `xold2`).
    pub fn memory(&self) -> (usize, [(&'static str, &[f64]); 4]) {
        (
            self.iteration,
            [
                ("low", &self.low),
                ("upp", &self.upp),
                ("xold1", &self.xold1),
                ("xold2", &self.xold2),
            ],
        )
    }

    /// Restores what [`Self::memory`] gave, so that the next update is the one that would have
    /// followed. Each vector must have [`Self::variables`] values.
    ///
    /// # Panics
    ///
    /// If a vector has another length.
    pub fn resume(&mut self, updates: usize, [low, upp, xold1, xold2]: [Vec<f64>; 4]) {
        for v in [&low, &upp, &xold1, &xold2] {
            assert_eq!(v.len(), self.n, "one value per variable");
        }
        (self.iteration, self.low, self.upp, self.xold1, self.xold2) =
            (updates, low, upp, xold1, xold2);
    }

    /// The constraint multipliers λᵢ of the last subproblem (KKT multipliers of the constraints
    /// at convergence).
    pub fn multipliers(&self) -> &[f64] {
        self.ip.multipliers()
    }

    /// [`Mma::update`] with the values and gradients of an [`Evaluation`].
    pub fn update_from(
        &mut self,
        x: &[f64],
        evaluation: &Evaluation,
        x_min: &[f64],
        x_max: &[f64],
        x_new: &mut [f64],
    ) -> Result<MmaInfo, MmaError> {
        let gradients: Vec<&[f64]> = evaluation
            .constraint_gradients
            .iter()
            .map(Vec::as_slice)
            .collect();
        self.update(
            x,
            evaluation.objective,
            &evaluation.objective_gradient,
            &evaluation.constraints,
            &gradients,
            x_min,
            x_max,
            x_new,
        )
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
        self.ip.write_x(x_new);
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
            let info = mma.update_from(&x, &e, x_min, x_max, &mut x_new).unwrap();
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
    pub(super) fn toy(x: &[f64]) -> Evaluation {
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
    pub(super) fn toy_optimum() -> [f64; 3] {
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
    pub(super) fn weights(n: usize) -> Vec<f64> {
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
    pub(super) fn separable(w: &[f64], volume: f64, scale: f64, x: &[f64]) -> Evaluation {
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
            mma.update_from(&x, &e, &lo, &hi, &mut x_new).unwrap();
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
            mma.update_from(&x, &e, &lo, &hi, &mut x_new).unwrap();
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
                mma.update_from(&x, &e, &lo, &hi, &mut x_new).unwrap();
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
        #![proptest_config(ProptestConfig::with_cases(64))]

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
