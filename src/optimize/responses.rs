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
//! The load cases share `K` but are otherwise independent, so they are solved together
//! ([`LinearSolver::solve_all`]), each warm-started from its own previous displacement with its
//! own workspace; the adjoint solves follow as a second batch, since each needs its case's `u`.
//! Each solve's result is the same as solving the cases one by one.

use super::checkpoint::{CheckpointError, LoopState};
use crate::fem::{LinearSolver, SolveError, SolveInfo, SolveWorkspace};
use crate::problem::Problem;
use crate::reduce;

/// Exponent of the displacement p-norm: high enough to track the maximum, low enough to stay
/// smooth (Le et al. 2010 use 8 for stresses).
const DISPLACEMENT_NORM_EXPONENT: i32 = 8;

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
    energies: Vec<f64>,
    plus: Vec<f64>,
    minus: Vec<f64>,
    energies_minus: Vec<f64>,
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
        displacements.chain(adjoints).collect()
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
        Ok(())
    }

    /// Buffers for `problem` solved by `solver`.
    pub fn new(problem: &Problem, solver: &LinearSolver) -> Self {
        let (n, dofs) = (problem.grid.element_count(), problem.grid.dof_count());
        let cases = &problem.load_cases;
        let limited = |c: &crate::problem::LoadCase| c.max_displacement_mm.is_some();
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
            max_displacement: vec![0.0; cases.len()],
            displacement_gradient: cases
                .iter()
                .map(|c| limited(c).then(|| vec![0.0; n]))
                .collect(),
            energies: vec![0.0; n],
            plus: if cases.iter().any(limited) {
                vec![0.0; dofs]
            } else {
                Vec::new()
            },
            minus: if cases.iter().any(limited) {
                vec![0.0; dofs]
            } else {
                Vec::new()
            },
            energies_minus: if cases.iter().any(limited) {
                vec![0.0; n]
            } else {
                Vec::new()
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
        for i in 0..problem.load_cases.len() {
            self.case_responses(problem, solver, x_phys, i);
            if self.adjoints[i].is_some() {
                let u = &self.displacements[i];
                adjoint_loads.push((i, displacement_norm(u, self.max_displacement[i])));
            }
        }
        if adjoint_loads.is_empty() {
            return Ok(infos);
        }
        let mut jobs: Vec<_> = self
            .adjoints
            .iter_mut()
            .zip(&mut self.workspaces)
            .filter_map(|(adjoint, workspace)| Some((adjoint.as_mut()?, workspace)))
            .zip(&adjoint_loads)
            .map(|((adjoint, workspace), (_, (_, rhs)))| {
                (rhs.as_slice(), adjoint.as_mut_slice(), workspace)
            })
            .collect();
        infos.extend(solver.solve_all(&mut jobs)?);
        for &(i, (measure, _)) in &adjoint_loads {
            self.displacement_sensitivity(problem, solver, x_phys, i, measure);
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
        solver.operator().element_energies(u, &mut self.energies);
        let energies = &self.energies;
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
        let e0 = problem.material.youngs_modulus_mpa;
        let emin = problem.min_youngs_modulus_mpa();
        let p = problem.optimization.penalization;
        let h = problem.grid.element_size_mm;
        let u = &self.displacements[i];
        let (Some(adjoint), Some(gradient)) =
            (&self.adjoints[i], &mut self.displacement_gradient[i])
        else {
            return;
        };
        // λₑᵀK̂uₑ by polarization, with λ scaled to u's size so nothing cancels.
        let (un, ln) = (norm(u), norm(adjoint));
        let s = if ln > 0.0 { un / ln } else { 1.0 };
        for ((pl, mi), (&a, &b)) in self
            .plus
            .iter_mut()
            .zip(self.minus.iter_mut())
            .zip(u.iter().zip(adjoint.iter()))
        {
            *pl = a + s * b;
            *mi = a - s * b;
        }
        solver
            .operator()
            .element_energies(&self.plus, &mut self.energies);
        solver
            .operator()
            .element_energies(&self.minus, &mut self.energies_minus);
        // Scaled so that the constraint acts on the true maximum (adaptive normalization).
        let scale = if measure > 0.0 {
            self.max_displacement[i] / measure
        } else {
            1.0
        };
        for e in 0..gradient.len() {
            let cross = (self.energies[e] - self.energies_minus[e]) / (4.0 * s);
            gradient[e] = -scale * p * x_phys[e].powf(p - 1.0) * (e0 - emin) * h * cross;
        }
        if let Some(w) = problem.load_cases[i].self_weight_n {
            add_load_sensitivity(problem, w, adjoint, scale, gradient);
        }
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
