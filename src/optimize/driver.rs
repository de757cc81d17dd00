//! The optimization loop: minimize the weighted compliance `Σᵢ wᵢ fᵢᵀuᵢ` subject to
//! `mean(ρ̃) ≤ V*`, with modified SIMP `E(ρ̃) = Emin + ρ̃ᵖ (E0 − Emin)` (Sigmund 2007) on the
//! filtered density ρ̃ (top88/top3d structure: analyse, sensitivities, filter chain rule, OC).
//!
//! Each iteration lists its stages below; all state is visible in the loop.

use std::time::Instant;

use super::oc::{OcParams, oc_update};
use super::{
    IterationRecord, Observer, OptimizeError, Outcome, SolverStats, TerminationReason, Timings,
};
use crate::fem::{ElementStiffness, LinearSolver, SolveError, StiffnessOperator};
use crate::filter::DensityFilter;
use crate::problem::{Optimizer, Problem};
use crate::reduce;

/// Runs the optimization of `problem`, reporting each iteration to `observer`.
pub fn optimize(problem: &Problem, observer: &mut dyn Observer) -> Result<Outcome, OptimizeError> {
    let start = Instant::now();
    let grid = problem.grid;
    let n = grid.element_count();
    let opt = &problem.optimization;
    let ke = ElementStiffness::new(problem.material.poisson_ratio);
    let setup_error = |source| OptimizeError::Solve {
        iteration: 0,
        source,
    };
    let mut solver =
        LinearSolver::new(grid, ke, &problem.fixed_dofs, &problem.solver).map_err(setup_error)?;
    let mut filter = DensityFilter::new(grid, opt.filter_radius_mm);
    let Optimizer::Oc { move_limit } = opt.optimizer;
    let oc = OcParams {
        move_limit,
        volume_fraction: opt.volume_fraction,
    };

    let mut x = vec![opt.volume_fraction; n];
    let mut x_new = vec![0.0; n];
    let mut x_phys = vec![0.0; n];
    filter.apply(&x, &mut x_phys);
    let mut displacements = vec![vec![0.0; grid.dof_count()]; problem.load_cases.len()];
    let (mut stiffness, mut energies, mut dc, mut dv, mut filtered) = (
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
        vec![0.0; n],
    );
    let mut analysed = x_phys.clone();
    let mut case_compliance = vec![0.0; problem.load_cases.len()];
    let mut history = Vec::new();
    let mut timings = Timings::default();
    let mut stats = SolverStats {
        kind: solver.kind().to_string(),
        levels: solver.levels(),
        tolerance: solver.tolerance(),
        iterations_total: 0,
        solves: 0,
        max_relative_residual: 0.0,
        unconverged_solves: 0,
    };

    let termination = loop {
        let iteration = history.len() + 1;
        let iteration_start = Instant::now();
        let solve_error = |source| OptimizeError::Solve { iteration, source };
        // 1. Stiffness of the current physical design: factorize, or rebuild the coarse levels.
        simp_stiffness(problem, &x_phys, &mut stiffness);
        let clock = Instant::now();
        solver.set_stiffness(&stiffness).map_err(solve_error)?;
        timings.solver_setup_s += clock.elapsed().as_secs_f64();
        // 2. One solve per load case, warm-started from the previous design's displacement.
        let clock = Instant::now();
        let solves =
            solve_load_cases(problem, &mut solver, &mut displacements).map_err(solve_error)?;
        timings.solve_s += clock.elapsed().as_secs_f64();
        // 3. Compliance and its sensitivity with respect to the physical density.
        let compliance = compliance_sensitivities(
            problem,
            solver.operator(),
            &x_phys,
            &displacements,
            &mut energies,
            &mut case_compliance,
            &mut dc,
        );
        if !compliance.is_finite() || compliance <= 0.0 {
            return Err(OptimizeError::BadCompliance {
                iteration,
                compliance,
            });
        }
        // 4. Chain rule back through the density filter.
        let clock = Instant::now();
        filter.apply_transpose(&dc, &mut filtered);
        std::mem::swap(&mut dc, &mut filtered);
        dv.fill(1.0);
        filter.apply_transpose(&dv, &mut filtered);
        std::mem::swap(&mut dv, &mut filtered);
        timings.filter_s += clock.elapsed().as_secs_f64();
        // 5. Update the design variables (and their physical density).
        let clock = Instant::now();
        analysed.copy_from_slice(&x_phys);
        oc_update(&x, &dc, &dv, &filter, &oc, &mut x_new, &mut x_phys);
        let change = reduce::max_map(n, |e| (x_new[e] - x[e]).abs());
        std::mem::swap(&mut x, &mut x_new);
        timings.update_s += clock.elapsed().as_secs_f64();
        // 6. Record and observe.
        let record = IterationRecord {
            iter: iteration,
            compliance_nmm: compliance,
            volume_fraction: reduce::sum(&x_phys) / n as f64,
            change,
            seconds: iteration_start.elapsed().as_secs_f64(),
            solver_iterations: solves.iter().map(|s| s.iterations).sum(),
            relative_residual: solves
                .iter()
                .map(|s| s.relative_residual)
                .fold(0.0, f64::max),
        };
        stats.solves += solves.len();
        stats.iterations_total += record.solver_iterations;
        stats.max_relative_residual = stats.max_relative_residual.max(record.relative_residual);
        stats.unconverged_solves += solves.iter().filter(|s| !s.converged).count();
        observer.observe(&record, opt.max_iterations);
        history.push(record);
        // 7. Terminate.
        if change <= opt.change_tolerance {
            break TerminationReason::Converged;
        }
        if iteration >= opt.max_iterations {
            break TerminationReason::MaxIterations;
        }
    };

    timings.total_s = start.elapsed().as_secs_f64();
    timings.per_iteration_s = timings.total_s / history.len() as f64;
    let last = history.last().map_or(0.0, |r| r.compliance_nmm);
    Ok(Outcome {
        volume_fraction: reduce::sum(&analysed) / n as f64,
        density: analysed,
        compliance_nmm: last,
        load_case_compliance_nmm: case_compliance,
        iterations: history.len(),
        termination,
        history,
        timings,
        solver: stats,
    })
}

/// `stiffness[e] = (Emin + ρ̃ₑᵖ (E0 − Emin)) · h`: element modulus times edge length (N/mm).
fn simp_stiffness(problem: &Problem, x_phys: &[f64], stiffness: &mut [f64]) {
    let e0 = problem.material.youngs_modulus_mpa;
    let emin = problem.min_youngs_modulus_mpa();
    let p = problem.optimization.penalization;
    let h = problem.grid.element_size_mm;
    for (s, &rho) in stiffness.iter_mut().zip(x_phys) {
        *s = (emin + rho.powf(p) * (e0 - emin)) * h;
    }
}

/// Solves every load case, each from its previous displacement.
fn solve_load_cases(
    problem: &Problem,
    solver: &mut LinearSolver,
    displacements: &mut [Vec<f64>],
) -> Result<Vec<crate::fem::SolveInfo>, SolveError> {
    problem
        .load_cases
        .iter()
        .zip(displacements.iter_mut())
        .map(|(case, u)| solver.solve(&case.forces_n, u))
        .collect()
}

/// Weighted compliance `c = Σᵢ wᵢ Σₑ Eₑ h uₑᵀK̂uₑ` and `∂c/∂ρ̃ₑ = −Σᵢ wᵢ p ρ̃ₑᵖ⁻¹ (E0 − Emin) h uₑᵀK̂uₑ`
/// (top3d's `ce`, `c`, `dc`); per-case compliances go to `case_compliance`.
fn compliance_sensitivities(
    problem: &Problem,
    operator: &StiffnessOperator,
    x_phys: &[f64],
    displacements: &[Vec<f64>],
    energies: &mut [f64],
    case_compliance: &mut [f64],
    dc: &mut [f64],
) -> f64 {
    let e0 = problem.material.youngs_modulus_mpa;
    let emin = problem.min_youngs_modulus_mpa();
    let p = problem.optimization.penalization;
    let h = problem.grid.element_size_mm;
    dc.fill(0.0);
    let mut total = 0.0;
    for ((case, u), case_c) in problem
        .load_cases
        .iter()
        .zip(displacements)
        .zip(case_compliance.iter_mut())
    {
        operator.element_energies(u, energies);
        *case_c = reduce::sum_map(x_phys.len(), |e| {
            (emin + x_phys[e].powf(p) * (e0 - emin)) * h * energies[e]
        });
        total += case.weight * *case_c;
        for ((d, &rho), &ce) in dc.iter_mut().zip(x_phys).zip(energies.iter()) {
            *d -= case.weight * p * rho.powf(p - 1.0) * (e0 - emin) * h * ce;
        }
    }
    total
}
