//! The optimization loop, SIMP on the filtered density ρ̃ with modified SIMP
//! `E(ρ̃) = Emin + ρ̃ᵖ (E0 − Emin)` (Sigmund 2007), in the top88/top3d structure: analyse,
//! sensitivities, filter chain rule, update.
//!
//! - `min_compliance`: minimize `Σᵢ wᵢ cᵢ` subject to `mean(ρ̃) ≤ V*` over the free elements, by
//!   OC or MMA.
//! - `min_mass`: minimize `mean(ρ̃)` over the free elements subject to `cᵢ ≤ c̄ᵢ` and
//!   `max|uᵢ| ≤ δ̄ᵢ` and `max σ̂ᵢ ≤ yield / min_safety_factor` per load case, by MMA.
//!
//! Each iteration lists its stages below; all state is visible in the loop.

use std::time::Instant;

use super::checkpoint::{CheckpointError, Header, LoopState, digest_f64};
use super::design_space::DesignSpace;
use super::physical::PhysicalDensity;
use super::responses::Responses;
use super::update::Update;
use super::{
    IterationRecord, Observer, OptimizeError, Outcome, SolverStats, TerminationReason, Timings,
};
use crate::fem::{ElementStiffness, LinearSolver};
use crate::problem::Problem;

/// Runs the optimization of `problem`, reporting each iteration to `observer`.
pub fn optimize(problem: &Problem, observer: &mut dyn Observer) -> Result<Outcome, OptimizeError> {
    optimize_from(problem, observer, None)
}

/// [`optimize`], going on from the checkpoint `resume` when there is one (see [`checkpoint`]:
/// the result is bit for bit that of the uninterrupted run, timings aside).
///
/// [`checkpoint`]: super::checkpoint
pub fn optimize_from(
    problem: &Problem,
    observer: &mut dyn Observer,
    resume: Option<LoopState>,
) -> Result<Outcome, OptimizeError> {
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
    let mut physical = PhysicalDensity::new(problem);
    let space = DesignSpace::new(problem);
    let mut update = Update::new(problem, &space);

    let mut x = space.initial(opt.volume_fraction);
    let mut x_new = vec![0.0; n];
    let mut x_phys = vec![0.0; n];
    let mut scratch = vec![0.0; n];
    physical.apply(&space, &x, &mut x_phys, &mut scratch);
    physical.start(&space, &mut scratch);
    let mut responses = Responses::new(problem, &solver);
    let mut stiffness = vec![0.0; n];
    let mut analysed = x_phys.clone();
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
    let mut first_compliance = None;
    let mut saved = 0;
    if let Some(mut state) = resume {
        let resume_error = |e: CheckpointError| OptimizeError::Resume(e.to_string());
        x = state.take("x", n).map_err(resume_error)?;
        responses
            .resume_warm_starts(&mut state)
            .map_err(resume_error)?;
        update.resume(&mut state).map_err(resume_error)?;
        physical
            .resume_projection(state.header.projection)
            .map_err(resume_error)?;
        physical.apply(&space, &x, &mut x_phys, &mut scratch);
        if digest_f64(&x_phys) != state.header.physical_digest {
            return Err(OptimizeError::Resume(
                "the design's physical density comes out different from when it was saved".into(),
            ));
        }
        let header = state.header;
        (first_compliance, history, stats, timings) = (
            header.first_compliance,
            header.history,
            header.solver,
            header.timings,
        );
        saved = history.len();
    }
    let earlier_s = timings.total_s;

    let termination = loop {
        let iteration = history.len() + 1;
        // 0. Keep the state reached (that of the end of the last iteration) when asked to, and
        //    when cancelled, so that a resumed run goes on from here.
        let cancelled = observer.cancelled();
        if history.len() > saved && (cancelled || observer.checkpoint_due(history.len())) {
            let (memory, mut arrays) = update.memory();
            arrays.push(("x".into(), &x));
            arrays.extend(responses.warm_starts());
            let header = Header {
                format: 0,
                identity: serde_json::Value::Null,
                iterations_done: history.len(),
                first_compliance,
                history: history.clone(),
                solver: stats.clone(),
                timings: Timings {
                    total_s: earlier_s + start.elapsed().as_secs_f64(),
                    ..timings
                },
                update: memory,
                projection: physical.projection_memory(),
                physical_digest: digest_f64(&x_phys),
                arrays: Vec::new(),
            };
            observer
                .checkpoint(header, &arrays)
                .map_err(|message| OptimizeError::Checkpoint {
                    iteration: iteration - 1,
                    message,
                })?;
            saved = history.len();
        }
        if cancelled {
            return Err(OptimizeError::Cancelled { iteration });
        }
        let iteration_start = Instant::now();
        let solve_error = |source| OptimizeError::Solve { iteration, source };
        // 1. Stiffness of the current physical design: factorize, or rebuild the coarse levels.
        simp_stiffness(problem, &x_phys, &mut stiffness);
        let clock = Instant::now();
        solver.set_stiffness(&stiffness).map_err(solve_error)?;
        timings.solver_setup_s += clock.elapsed().as_secs_f64();
        // 2. Solve the load cases concurrently (then the displacement limits' adjoints), each
        //    warm-started from its previous solution.
        let clock = Instant::now();
        let solves = responses
            .evaluate(problem, &solver, &x_phys)
            .map_err(solve_error)?;
        timings.solve_s += clock.elapsed().as_secs_f64();
        // 3. Objective, constraints and their sensitivities with respect to ρ̃.
        let compliance = responses.weighted_compliance(problem);
        if !compliance.is_finite() || compliance <= 0.0 {
            return Err(OptimizeError::BadCompliance {
                iteration,
                compliance,
            });
        }
        let reference =
            *first_compliance.get_or_insert_with(|| Update::reference_value(problem, &responses));
        let constrained_volume = physical.constrained_volume(&space, &x_phys, &mut scratch);
        let mut functions =
            update.functions(problem, &space, constrained_volume, &responses, reference);
        // 4. Chain rule back through the projection, the filters and the symmetry.
        let clock = Instant::now();
        let mut gradients = functions.gradients_mut();
        physical.chain(&space, &mut gradients, &mut scratch);
        timings.filter_s += clock.elapsed().as_secs_f64();
        // 5. Update the design variables (and their physical density).
        let clock = Instant::now();
        analysed.copy_from_slice(&x_phys);
        update
            .step(
                &x,
                &functions,
                &space,
                &mut physical,
                &mut x_new,
                &mut x_phys,
                &mut scratch,
            )
            .map_err(|message| OptimizeError::Update { iteration, message })?;
        let change = space.max_change(&x_new, &x);
        std::mem::swap(&mut x, &mut x_new);
        timings.update_s += clock.elapsed().as_secs_f64();
        // 6. Record and observe.
        let record = IterationRecord {
            iter: iteration,
            compliance_nmm: compliance,
            volume_fraction: physical.blueprint_volume(&space, &x_phys, &mut scratch)
                / space.design_count() as f64,
            projection_beta: physical.beta(),
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
        // 7. Terminate, or sharpen the projection (β continuation) once the design settles.
        let settled = change <= opt.change_tolerance;
        if settled && physical.may_stop() {
            break TerminationReason::Converged;
        }
        if iteration >= opt.max_iterations {
            break TerminationReason::MaxIterations;
        }
        if physical.advance(&space, iteration, settled, &mut scratch) {
            physical.apply(&space, &x, &mut x_phys, &mut scratch);
        }
    };
    // With a minimum member size the loop analysed the eroded design; the part is the
    // blueprint of the last design, analysed here once.
    if physical.is_robust() {
        physical.blueprint(&space, &x_phys, &mut analysed);
        let solve_error = |source| OptimizeError::Solve {
            iteration: history.len(),
            source,
        };
        simp_stiffness(problem, &analysed, &mut stiffness);
        solver.set_stiffness(&stiffness).map_err(solve_error)?;
        responses
            .evaluate(problem, &solver, &analysed)
            .map_err(solve_error)?;
    }

    timings.total_s = earlier_s + start.elapsed().as_secs_f64();
    timings.per_iteration_s = timings.total_s / history.len() as f64;
    let last = if physical.is_robust() {
        responses.weighted_compliance(problem)
    } else {
        history.last().map_or(0.0, |r| r.compliance_nmm)
    };
    Ok(Outcome {
        volume_fraction: space.design_volume(&analysed) / space.design_count() as f64,
        density: analysed,
        compliance_nmm: last,
        load_case_compliance_nmm: responses.compliance.clone(),
        displacements: responses.displacements,
        iterations: history.len(),
        termination,
        history,
        timings,
        solver: stats,
    })
}

/// `stiffness[e] = (Emin + ρ̃ₑᵖ (E0 − Emin)) · h`: element modulus times edge length (N/mm).
pub(crate) fn simp_stiffness(problem: &Problem, x_phys: &[f64], stiffness: &mut [f64]) {
    let e0 = problem.material.youngs_modulus_mpa;
    let emin = problem.min_youngs_modulus_mpa();
    let p = problem.optimization.penalization;
    let h = problem.grid.element_size_mm;
    for (s, &rho) in stiffness.iter_mut().zip(x_phys) {
        *s = (emin + rho.powf(p) * (e0 - emin)) * h;
    }
}
