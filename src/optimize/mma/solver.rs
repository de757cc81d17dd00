//! MMA as an argmin [`Solver`]: [`MmaSolver`] runs [`Mma::update`] on a user's
//! [`ConstrainedProblem`], for argmin's `Executor` and observers.
//!
//! Each iteration evaluates the problem once, at the new point, and stops when no variable moved
//! by more than the tolerance times its range, $\max_j |x^{k+1}_j - x^k_j| / (x^{\max}_j -
//! x^{\min}_j) \le$ `tolerance`. The crate's own loop calls [`Mma::update`] directly instead.

use argmin::core::{
    ArgminError, IterState, KV, Problem, Solver, TerminationReason, TerminationStatus,
};

use super::{Mma, MmaParams};

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
        let mut x_new = vec![0.0; x.len()];
        let info = mma.update_from(&x, e, x_min, x_max, &mut x_new)?;
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
    use super::super::tests::{toy, toy_optimum};
    use super::*;

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
}
