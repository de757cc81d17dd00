//! Structural responses of a design and their sensitivities with respect to the physical density:
//! the compliance of each load case and, where a case limits it, its largest displacement.
//!
//! Compliance `cᵢ = fᵢᵀuᵢ = Σₑ Eₑ h uₑᵀK̂uₑ` with modified SIMP `Eₑ = Emin + ρ̃ₑᵖ (E0 − Emin)`
//! (Sigmund 2007; top3d). Self-weight makes the load design-dependent, `f = f₀ + Σₑ ρ̃ₑ wₑ`, which
//! adds `2 uₑᵀwₑ` to the usual `−p ρ̃ₑᵖ⁻¹ (E0 − Emin) h uₑᵀK̂uₑ` (Bruyneel & Duysinx 2005,
//! "Note on topology optimization of continuum structures including self-weight", eq. 8).
//!
//! The largest displacement is not differentiable, so it is measured by the p-norm of the nodal
//! displacement magnitudes, `δ = (Σₙ |uₙ|^q)^{1/q}` with q = 8, scaled each iteration by the
//! ratio of the true maximum to δ so that the constraint acts on the real value (the adaptive
//! normalization of Le, Norato, Bruns, Ha & Tortorelli 2010, "Stress-based topology optimization
//! for continua", §3.3). Its sensitivity needs one adjoint solve `K λ = ∂δ/∂u`, then
//! `dδ/dρ̃ₑ = −p ρ̃ₑᵖ⁻¹ (E0 − Emin) h λₑᵀK̂uₑ + λₑᵀwₑ`.
//!
//! The stress of a case that limits it is measured the same way, on the relaxed stresses
//! `σ̂ₑ꜀ = ρ̃ₑ^q σ_vm,ₑ꜀` at the 8 corners `c` of every element that touches no loaded or supported
//! node (the solid-material stress of [`crate::fem::stress`]; corners, because the bending
//! stress of a member is largest at its surface, where the reported nodal stresses of the part
//! are). The relaxation with `q = ½ < p` (the qp-approach: Bruggi 2008, "On an alternative
//! approach to stress constraints relaxation in topology optimization", SMO 36; Le et al. 2010
//! use `ρ^½` too) lets the stress of a vanishing element vanish, so void does not hold the
//! design. The aggregate is the p-norm `σ_PN = (Σ σ̂ᵏ)^{1/k}` with k = 8, scaled each iteration by
//! `max σ̂ / σ_PN` (Le et al. 2010, §3.3, with their damping α = 1). Its sensitivity is
//! `dσ_PN/dρ̃ₑ = Σ꜀ (σ̂ₑ꜀/σ_PN)^{k−1} q σ̂ₑ꜀/ρ̃ₑ − p ρ̃ₑᵖ⁻¹ (E0 − Emin) h λₑᵀK̂uₑ + λₑᵀwₑ` with
//! one adjoint solve `K λ = ∂σ_PN/∂u`, `∂σ_PN/∂uₑ = Σ꜀ (σ̂ₑ꜀/σ_PN)^{k−1} ρ̃ₑ^q ∂σ_vm,ₑ꜀/∂uₑ`.
//!
//! The load cases share `K` but are otherwise independent, so they are solved together
//! ([`LinearSolver::solve_all`]), each warm-started from its own previous displacement with its
//! own workspace; the adjoint solves follow as a second batch, since each needs its case's `u`.
//! Each solve's result is the same as solving the cases one by one.

use rayon::prelude::*;

use super::checkpoint::{CheckpointError, LoopState};
use crate::fem::stress::{SolidStress, StressPoint, element_displacements, von_mises};
use crate::fem::{LinearSolver, SolveError, SolveInfo, SolveWorkspace};
use crate::problem::Problem;
use crate::reduce;

/// Exponent of the displacement p-norm: high enough to track the maximum, low enough to stay
/// smooth (Le et al. 2010 use 8 for stresses).
const DISPLACEMENT_NORM_EXPONENT: i32 = 8;
/// Exponent of the stress p-norm, as Le et al. (2010).
const STRESS_NORM_EXPONENT: i32 = 8;
/// Exponent `q` of the stress relaxation `ρ̃^q σ` (qp-approach, `q < p`).
const STRESS_RELAXATION: f64 = 0.5;

/// Per-case responses and the buffers to compute them.
#[derive(Debug)]
pub struct Responses {
    forces: Vec<Vec<f64>>,
    /// Displacements of each load case for the design last evaluated, mm.
    pub displacements: Vec<Vec<f64>>,
    adjoints: Vec<Option<Vec<f64>>>,
    /// Scratch of each case's solve, reused by its adjoint solve (a later batch).
    workspaces: Vec<SolveWorkspace>,
    /// Compliance of each case, N·mm.
    pub compliance: Vec<f64>,
    /// `∂cᵢ/∂ρ̃` of each case.
    pub compliance_gradient: Vec<Vec<f64>>,
    /// Largest nodal displacement magnitude of each case, mm.
    pub max_displacement: Vec<f64>,
    /// Adaptively scaled p-norm of the displacement (equal to `max_displacement` in value) and
    /// its gradient, for the cases that limit it.
    pub displacement_gradient: Vec<Option<Vec<f64>>>,
    /// The solid-material stress of the elements, shared by the cases whose stress counts.
    stress_kernel: SolidStress,
    /// The stress limit's state for the cases that have one.
    stress: Vec<Option<StressLimit>>,
    /// Largest relaxed corner stress of each case that limits it, MPa (0 for the others).
    pub max_stress: Vec<f64>,
    /// Gradient of the adaptively scaled stress p-norm (equal to `max_stress` in value).
    pub stress_gradient: Vec<Option<Vec<f64>>>,
    scratch: Scratch,
}

/// Scratch of the element energies and of [`adjoint_term`]: two DOF vectors, two element
/// vectors.
#[derive(Debug)]
struct Scratch {
    energies: Vec<f64>,
    plus: Vec<f64>,
    minus: Vec<f64>,
    energies_minus: Vec<f64>,
}

/// What a case's stress limit needs between iterations.
#[derive(Debug)]
struct StressLimit {
    /// Per element, whether its stress counts (it touches no loaded or supported node).
    counted: Vec<bool>,
    adjoint: Vec<f64>,
    workspace: SolveWorkspace,
}

impl Responses {
    /// The objective of `min_compliance`: `Σ weight · compliance` over the load cases, N·mm.
    pub fn weighted_compliance(&self, problem: &Problem) -> f64 {
        problem
            .load_cases
            .iter()
            .zip(&self.compliance)
            .map(|(case, c)| case.weight * c)
            .sum()
    }

    /// The starting vectors of the next solves, named for a checkpoint: each case's
    /// displacement and, where it has one, its adjoint.
    pub(super) fn warm_starts(&self) -> Vec<(String, &[f64])> {
        let displacements = (self.displacements.iter().enumerate())
            .map(|(i, u)| (format!("displacement.{i}"), u.as_slice()));
        let adjoints = (self.adjoints.iter().enumerate())
            .filter_map(|(i, a)| Some((format!("adjoint.{i}"), a.as_deref()?)));
        let stress = (self.stress.iter().enumerate()).filter_map(|(i, s)| {
            Some((
                format!("stress_adjoint.{i}"),
                s.as_ref()?.adjoint.as_slice(),
            ))
        });
        displacements.chain(adjoints).chain(stress).collect()
    }

    /// Takes the starting vectors of the next solves from a checkpoint.
    pub(super) fn resume_warm_starts(
        &mut self,
        state: &mut LoopState,
    ) -> Result<(), CheckpointError> {
        for (i, u) in self.displacements.iter_mut().enumerate() {
            *u = state.take(&format!("displacement.{i}"), u.len())?;
        }
        for (i, a) in self.adjoints.iter_mut().enumerate() {
            if let Some(a) = a {
                *a = state.take(&format!("adjoint.{i}"), a.len())?;
            }
        }
        for (i, s) in self.stress.iter_mut().enumerate() {
            if let Some(s) = s {
                s.adjoint = state.take(&format!("stress_adjoint.{i}"), s.adjoint.len())?;
            }
        }
        Ok(())
    }

    /// Buffers for `problem` solved by `solver`.
    pub fn new(problem: &Problem, solver: &LinearSolver) -> Self {
        let (n, dofs) = (problem.grid.element_count(), problem.grid.dof_count());
        let cases = &problem.load_cases;
        let limited = |c: &crate::problem::LoadCase| c.max_displacement_mm.is_some();
        let adjoint = |c: &crate::problem::LoadCase| limited(c) || problem.stress_counts(c);
        Self {
            forces: cases.iter().map(|c| c.forces_n.clone()).collect(),
            displacements: vec![vec![0.0; dofs]; cases.len()],
            adjoints: cases
                .iter()
                .map(|c| limited(c).then(|| vec![0.0; dofs]))
                .collect(),
            workspaces: cases.iter().map(|_| solver.workspace()).collect(),
            compliance: vec![0.0; cases.len()],
            compliance_gradient: vec![vec![0.0; n]; cases.len()],
            stress_kernel: SolidStress::new(
                problem.grid.element_size_mm,
                problem.material.youngs_modulus_mpa,
                problem.material.poisson_ratio,
            ),
            stress: cases
                .iter()
                .map(|c| {
                    problem.stress_counts(c).then(|| StressLimit {
                        counted: problem
                            .elements_at_loads_and_supports(c)
                            .iter()
                            .map(|&at| !at)
                            .collect(),
                        adjoint: vec![0.0; dofs],
                        workspace: solver.workspace(),
                    })
                })
                .collect(),
            max_stress: vec![0.0; cases.len()],
            stress_gradient: cases
                .iter()
                .map(|c| problem.stress_counts(c).then(|| vec![0.0; n]))
                .collect(),
            max_displacement: vec![0.0; cases.len()],
            displacement_gradient: cases
                .iter()
                .map(|c| limited(c).then(|| vec![0.0; n]))
                .collect(),
            scratch: Scratch {
                energies: vec![0.0; n],
                plus: if cases.iter().any(adjoint) {
                    vec![0.0; dofs]
                } else {
                    Vec::new()
                },
                minus: if cases.iter().any(adjoint) {
                    vec![0.0; dofs]
                } else {
                    Vec::new()
                },
                energies_minus: if cases.iter().any(adjoint) {
                    vec![0.0; n]
                } else {
                    Vec::new()
                },
            },
        }
    }

    /// Solves every load case for the stiffness already set in `solver` (all cases at once, each
    /// warm-started from its previous displacement) and computes the responses of `x_phys`.
    /// Returns the infos of the case solves in case order, then those of the adjoint solves.
    pub fn evaluate(
        &mut self,
        problem: &Problem,
        solver: &LinearSolver,
        x_phys: &[f64],
    ) -> Result<Vec<SolveInfo>, SolveError> {
        for (case, forces) in problem.load_cases.iter().zip(&mut self.forces) {
            if let Some(w) = case.self_weight_n {
                add_self_weight(problem, x_phys, w, &case.forces_n, forces);
            }
        }
        let mut jobs: Vec<_> = self
            .forces
            .iter()
            .zip(&mut self.displacements)
            .zip(&mut self.workspaces)
            .map(|((f, u), workspace)| (f.as_slice(), u.as_mut_slice(), workspace))
            .collect();
        let mut infos = solver.solve_all(&mut jobs)?;
        let mut adjoint_loads = Vec::new();
        let mut stress_loads = Vec::new();
        for i in 0..problem.load_cases.len() {
            self.case_responses(problem, solver, x_phys, i);
            if self.adjoints[i].is_some() {
                let u = &self.displacements[i];
                adjoint_loads.push((i, displacement_norm(u, self.max_displacement[i])));
            }
            if let Some(limit) = &self.stress[i] {
                let measure = stress_norm(
                    problem,
                    &self.stress_kernel,
                    limit,
                    &self.displacements[i],
                    x_phys,
                );
                self.max_stress[i] = measure.max;
                stress_loads.push((i, measure));
            }
        }
        if adjoint_loads.is_empty() && stress_loads.is_empty() {
            return Ok(infos);
        }
        let displacement_jobs = self
            .adjoints
            .iter_mut()
            .zip(&mut self.workspaces)
            .filter_map(|(adjoint, workspace)| Some((adjoint.as_mut()?, workspace)))
            .zip(&adjoint_loads)
            .map(|((adjoint, workspace), (_, (_, rhs)))| {
                (rhs.as_slice(), adjoint.as_mut_slice(), workspace)
            });
        let stress_jobs = self
            .stress
            .iter_mut()
            .filter_map(Option::as_mut)
            .zip(&stress_loads)
            .map(|(limit, (_, measure))| {
                (
                    measure.rhs.as_slice(),
                    limit.adjoint.as_mut_slice(),
                    &mut limit.workspace,
                )
            });
        let mut jobs: Vec<_> = displacement_jobs.chain(stress_jobs).collect();
        infos.extend(solver.solve_all(&mut jobs)?);
        for &(i, (measure, _)) in &adjoint_loads {
            self.displacement_sensitivity(problem, solver, x_phys, i, measure);
        }
        for (i, measure) in &stress_loads {
            self.stress_sensitivity(problem, solver, x_phys, *i, measure);
        }
        Ok(infos)
    }

    /// Compliance, its gradient and the largest displacement of case `i`, from its displacement.
    fn case_responses(
        &mut self,
        problem: &Problem,
        solver: &LinearSolver,
        x_phys: &[f64],
        i: usize,
    ) {
        let grid = problem.grid;
        let e0 = problem.material.youngs_modulus_mpa;
        let emin = problem.min_youngs_modulus_mpa();
        let p = problem.optimization.penalization;
        let h = grid.element_size_mm;
        let case = &problem.load_cases[i];
        let u = &self.displacements[i];
        solver
            .operator()
            .element_energies(u, &mut self.scratch.energies);
        let energies = &self.scratch.energies;
        self.compliance[i] = reduce::sum_map(x_phys.len(), |e| {
            (emin + x_phys[e].powf(p) * (e0 - emin)) * h * energies[e]
        });
        let gradient = &mut self.compliance_gradient[i];
        for ((g, &rho), &ce) in gradient.iter_mut().zip(x_phys).zip(energies) {
            *g = -p * rho.powf(p - 1.0) * (e0 - emin) * h * ce;
        }
        if let Some(w) = case.self_weight_n {
            add_load_sensitivity(problem, w, u, 2.0, gradient);
        }
        self.max_displacement[i] = reduce::max_map(grid.node_count(), |n| node_norm(u, n));
    }

    /// Gradient of case `i`'s scaled displacement p-norm (value `measure`), from its displacement
    /// and adjoint.
    fn displacement_sensitivity(
        &mut self,
        problem: &Problem,
        solver: &LinearSolver,
        x_phys: &[f64],
        i: usize,
        measure: f64,
    ) {
        let (Some(adjoint), Some(gradient)) =
            (&self.adjoints[i], &mut self.displacement_gradient[i])
        else {
            return;
        };
        // Scaled so that the constraint acts on the true maximum (adaptive normalization).
        let scale = if measure > 0.0 {
            self.max_displacement[i] / measure
        } else {
            1.0
        };
        adjoint_term(
            problem,
            solver,
            x_phys,
            i,
            &self.displacements[i],
            adjoint,
            scale,
            &mut self.scratch,
            gradient,
        );
    }

    /// Gradient of case `i`'s scaled stress p-norm ([`StressNorm`]), from its displacement and
    /// adjoint.
    fn stress_sensitivity(
        &mut self,
        problem: &Problem,
        solver: &LinearSolver,
        x_phys: &[f64],
        i: usize,
        measure: &StressNorm,
    ) {
        let (Some(limit), Some(gradient)) = (&self.stress[i], &mut self.stress_gradient[i]) else {
            return;
        };
        let scale = if measure.norm > 0.0 {
            measure.max / measure.norm
        } else {
            1.0
        };
        adjoint_term(
            problem,
            solver,
            x_phys,
            i,
            &self.displacements[i],
            &limit.adjoint,
            scale,
            &mut self.scratch,
            gradient,
        );
        for (g, explicit) in gradient.iter_mut().zip(&measure.explicit) {
            *g += scale * explicit;
        }
    }
}

/// `gradient = scale · (−p ρ̃ₑᵖ⁻¹ (E0 − Emin) h λₑᵀK̂uₑ + λₑᵀwₑ)`: the implicit part of the
/// sensitivity of a response of case `i`'s displacement `u` with adjoint `λ`, using `buffers`
/// (two DOF vectors, two element vectors) as scratch.
#[expect(
    clippy::too_many_arguments,
    reason = "the case, its two fields and the scratch buffers are separate borrows of Responses"
)]
fn adjoint_term(
    problem: &Problem,
    solver: &LinearSolver,
    x_phys: &[f64],
    i: usize,
    u: &[f64],
    adjoint: &[f64],
    scale: f64,
    scratch: &mut Scratch,
    gradient: &mut [f64],
) {
    let e0 = problem.material.youngs_modulus_mpa;
    let emin = problem.min_youngs_modulus_mpa();
    let p = problem.optimization.penalization;
    let h = problem.grid.element_size_mm;
    let Scratch {
        energies,
        plus,
        minus,
        energies_minus,
    } = scratch;
    // λₑᵀK̂uₑ by polarization, with λ scaled to u's size so nothing cancels.
    let (un, ln) = (norm(u), norm(adjoint));
    let s = if ln > 0.0 { un / ln } else { 1.0 };
    for ((pl, mi), (&a, &b)) in plus
        .iter_mut()
        .zip(minus.iter_mut())
        .zip(u.iter().zip(adjoint))
    {
        *pl = a + s * b;
        *mi = a - s * b;
    }
    solver.operator().element_energies(plus, energies);
    solver.operator().element_energies(minus, energies_minus);
    for e in 0..gradient.len() {
        let cross = (energies[e] - energies_minus[e]) / (4.0 * s);
        gradient[e] = -scale * p * x_phys[e].powf(p - 1.0) * (e0 - emin) * h * cross;
    }
    if let Some(w) = problem.load_cases[i].self_weight_n {
        add_load_sensitivity(problem, w, adjoint, scale, gradient);
    }
}

/// The stress p-norm of one case and what its sensitivity needs.
#[derive(Debug)]
struct StressNorm {
    /// Largest relaxed corner stress, MPa.
    max: f64,
    /// The p-norm `σ_PN`, MPa.
    norm: f64,
    /// `∂σ_PN/∂u`, the adjoint load.
    rhs: Vec<f64>,
    /// `∂σ_PN/∂ρ̃ₑ` at fixed displacements (through the relaxation).
    explicit: Vec<f64>,
}

/// The p-norm of the relaxed corner stresses (by `kernel`) of the counted elements of `limit`
/// for the displacement `u` and physical density `x_phys` (see the module documentation),
/// computed relative to the largest so that the powers cannot overflow.
fn stress_norm(
    problem: &Problem,
    kernel: &SolidStress,
    limit: &StressLimit,
    u: &[f64],
    x_phys: &[f64],
) -> StressNorm {
    let grid = &problem.grid;
    let k = STRESS_NORM_EXPONENT;
    let q = STRESS_RELAXATION;
    let relaxed = |e: usize| -> [f64; 8] {
        if !limit.counted[e] || x_phys[e] <= 0.0 {
            return [0.0; 8];
        }
        let ue = element_displacements(grid, u, e);
        let factor = x_phys[e].powf(q);
        std::array::from_fn(|c| factor * von_mises(&kernel.stress(&ue, StressPoint::Corner(c))))
    };
    let values: Vec<[f64; 8]> = (0..grid.element_count())
        .into_par_iter()
        .map(relaxed)
        .collect();
    let max = reduce::max_map(values.len(), |e| {
        values[e].iter().copied().fold(0.0, f64::max)
    });
    let n = grid.element_count();
    if max <= 0.0 || !max.is_finite() {
        return StressNorm {
            max: max.max(0.0),
            norm: 0.0,
            rhs: vec![0.0; grid.dof_count()],
            explicit: vec![0.0; n],
        };
    }
    let sum = reduce::sum_map(n, |e| values[e].iter().map(|v| (v / max).powi(k)).sum());
    let norm = max * sum.powf(1.0 / f64::from(k));
    // (σ̂ₑ꜀/σ_PN)^{k−1}, the weight of each corner in the aggregate's derivative.
    let weight = |v: f64| (v / norm).powi(k - 1);
    let explicit: Vec<f64> = (0..n)
        .into_par_iter()
        .map(|e| {
            if x_phys[e] <= 0.0 {
                return 0.0;
            }
            values[e]
                .iter()
                .map(|&v| weight(v) * q * v / x_phys[e])
                .sum()
        })
        .collect();
    // Per element, ∂σ_PN/∂uₑ; then gathered per node from the elements around it (in a fixed
    // order, so the sum does not depend on the thread count).
    let element_rhs: Vec<[f64; 24]> = (0..n)
        .into_par_iter()
        .map(|e| {
            let mut g = [0.0; 24];
            if values[e].iter().all(|&v| v <= 0.0) {
                return g;
            }
            let ue = element_displacements(grid, u, e);
            let factor = x_phys[e].powf(q);
            for (c, &v) in values[e].iter().enumerate() {
                let dv = kernel.von_mises_gradient(&ue, StressPoint::Corner(c));
                let w = weight(v) * factor;
                for (gi, di) in g.iter_mut().zip(dv) {
                    *gi += w * di;
                }
            }
            g
        })
        .collect();
    let mut rhs = vec![0.0; grid.dof_count()];
    rhs.par_chunks_mut(3).enumerate().for_each(|(node, out)| {
        for (c, e) in grid.elements_at_node(node) {
            for a in 0..3 {
                out[a] += element_rhs[e][3 * c + a];
            }
        }
    });
    StressNorm {
        max,
        norm,
        rhs,
        explicit,
    }
}

/// `forces = base + Σₑ ρ̃ₑ w/8` on the 8 nodes of every element.
fn add_self_weight(
    problem: &Problem,
    x_phys: &[f64],
    w: [f64; 3],
    base: &[f64],
    forces: &mut [f64],
) {
    let grid = problem.grid;
    forces.copy_from_slice(base);
    for (e, &rho) in x_phys.iter().enumerate() {
        for n in grid.element_nodes(grid.element_coords(e)) {
            for a in 0..3 {
                forces[3 * n + a] += rho * w[a] / 8.0;
            }
        }
    }
}

/// `gradient[e] += factor · vₑᵀ wₑ` with `wₑ = w/8` on each node of element e.
fn add_load_sensitivity(
    problem: &Problem,
    w: [f64; 3],
    v: &[f64],
    factor: f64,
    gradient: &mut [f64],
) {
    let grid = problem.grid;
    for (e, g) in gradient.iter_mut().enumerate() {
        let mut dot = 0.0;
        for n in grid.element_nodes(grid.element_coords(e)) {
            for a in 0..3 {
                dot += v[3 * n + a] * w[a] / 8.0;
            }
        }
        *g += factor * dot;
    }
}

fn node_norm(u: &[f64], n: usize) -> f64 {
    (u[3 * n] * u[3 * n] + u[3 * n + 1] * u[3 * n + 1] + u[3 * n + 2] * u[3 * n + 2]).sqrt()
}

fn norm(v: &[f64]) -> f64 {
    reduce::sum_map(v.len(), |i| v[i] * v[i]).sqrt()
}

/// The p-norm `δ` of the nodal displacement magnitudes and `∂δ/∂u`, computed relative to the
/// largest magnitude `max` so that the powers cannot overflow.
fn displacement_norm(u: &[f64], max: f64) -> (f64, Vec<f64>) {
    let q = DISPLACEMENT_NORM_EXPONENT;
    let nodes = u.len() / 3;
    if max <= 0.0 {
        return (0.0, vec![0.0; u.len()]);
    }
    let sum = reduce::sum_map(nodes, |n| (node_norm(u, n) / max).powi(q));
    let measure = max * sum.powf(1.0 / q as f64);
    // ∂δ/∂u_{n,a} = (|uₙ|/δ)^{q−2} u_{n,a} / δ.
    let mut rhs = vec![0.0; u.len()];
    for n in 0..nodes {
        let factor = (node_norm(u, n) / measure).powi(q - 2) / measure;
        for a in 0..3 {
            rhs[3 * n + a] = factor * u[3 * n + a];
        }
    }
    (measure, rhs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small cantilever with a stress limit, solved directly.
    fn stressed_problem() -> Problem {
        let text = r#"
            name = "stressed"
            [domain]
            size_mm = [12.0, 4.0, 4.0]
            element_size_mm = 1.0
            [material]
            youngs_modulus_mpa = 2000.0
            poisson_ratio = 0.3
            yield_strength_mpa = 40.0
            [[supports]]
            region = { face = "x_min" }
            fixed = ["x", "y", "z"]
            [[load_cases]]
            name = "tip"
            min_safety_factor = 2.0
            [[load_cases.loads]]
            region = { box = { min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0] } }
            force_n = [0.0, -10.0, 0.0]
            [optimization]
            objective = "min_mass"
            [solver]
            method = "direct"
        "#;
        let path = std::path::Path::new("stress.toml");
        crate::Design::from_toml(text, path)
            .unwrap()
            .to_problem(path)
            .unwrap()
    }

    /// The stress p-norm and its gradient by the adjoint, against central differences of the
    /// p-norm through a full re-solve.
    #[test]
    fn stress_norm_gradient_matches_finite_differences() {
        use crate::fem::ElementStiffness;
        let problem = stressed_problem();
        let n = problem.grid.element_count();
        let x: Vec<f64> = (0..n)
            .map(|e| 0.3 + 0.6 * ((e as f64) * 0.618).fract())
            .collect();
        let ke = ElementStiffness::new(problem.material.poisson_ratio);
        let mut solver =
            LinearSolver::new(problem.grid, ke, &problem.fixed_dofs, &problem.solver).unwrap();
        let mut stiffness = vec![0.0; n];
        let mut responses = Responses::new(&problem, &solver);
        let mut norm_at = |x: &[f64], responses: &mut Responses| {
            crate::optimize::driver::simp_stiffness(&problem, x, &mut stiffness);
            solver.set_stiffness(&stiffness).unwrap();
            responses.evaluate(&problem, &solver, x).unwrap();
            let limit = responses.stress[0].as_ref().unwrap();
            stress_norm(
                &problem,
                &responses.stress_kernel,
                limit,
                &responses.displacements[0],
                x,
            )
        };
        let measure = norm_at(&x, &mut responses);
        assert!(measure.norm > 0.0 && measure.max > 0.0);
        assert_eq!(responses.max_stress[0], measure.max);
        let scale = measure.max / measure.norm;
        let gradient: Vec<f64> = responses.stress_gradient[0]
            .as_ref()
            .unwrap()
            .iter()
            .map(|g| g / scale)
            .collect();
        let largest = gradient.iter().map(|g| g.abs()).fold(0.0, f64::max);
        let mut worst: f64 = 0.0;
        for e in (0..n).step_by(7) {
            let step = 1e-6;
            let (mut plus, mut minus) = (x.clone(), x.clone());
            plus[e] += step;
            minus[e] -= step;
            let fd = (norm_at(&plus, &mut responses).norm - norm_at(&minus, &mut responses).norm)
                / (2.0 * step);
            worst = worst.max((fd - gradient[e]).abs() / largest);
        }
        eprintln!("stress p-norm gradient: largest error {worst:.1e} of the largest derivative");
        assert!(
            worst < 1e-5,
            "largest error relative to the largest derivative: {worst:e}"
        );
    }

    #[test]
    fn displacement_norm_gradient_matches_finite_differences() {
        let u: Vec<f64> = (0..30).map(|i| ((i as f64) * 0.37).sin()).collect();
        let max = (0..10).map(|n| node_norm(&u, n)).fold(0.0, f64::max);
        let (measure, rhs) = displacement_norm(&u, max);
        assert!(measure >= max && measure <= max * 10f64.powf(1.0 / 8.0));
        for i in [0, 7, 13, 29] {
            let step = 1e-6;
            let mut up = u.clone();
            up[i] += step;
            let mut down = u.clone();
            down[i] -= step;
            let m = |v: &[f64]| {
                let max = (0..10).map(|n| node_norm(v, n)).fold(0.0, f64::max);
                displacement_norm(v, max).0
            };
            let fd = (m(&up) - m(&down)) / (2.0 * step);
            assert!((fd - rhs[i]).abs() < 1e-7, "dof {i}: {fd} vs {}", rhs[i]);
        }
    }
}
