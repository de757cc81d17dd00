//! Post-processing of one solved load case: von Mises stress, displacement magnitudes and the
//! safety factor against yield.
//!
//! Stresses come from the one kernel of [`crate::fem::stress`]: the stress of the solid material
//! the density stands for, at the element centre for element fields and at the nodes (corner
//! stresses averaged over the solid elements around a node) for the figures of the exported part.
//!
//! **Singularities.** A force on one node or a support on one node is a point load on the
//! continuum, where the exact stress is unbounded; the stress of the elements touching such nodes
//! grows as the mesh is refined and says nothing about the part. [`analyse_load_case`] therefore
//! reports the maximum away from those elements, and the peak including them separately.

use std::cmp::Ordering;

use rayon::prelude::*;
use serde::Serialize;

use crate::fem::stress::SolidStress;
use crate::fem::{ElementStiffness, LinearSolver, SolveError};
use crate::grid::Grid;
use crate::mesh::kept::{KeptGeometry, part_fractions};
use crate::optimize::driver::simp_stiffness;
use crate::optimize::responses::Responses;
use crate::problem::Problem;

/// Elements with at least this physical density count as the part: halfway between void and
/// solid. The exported surface may be drawn at another iso-density (`PartParams::threshold`), but
/// for a converged, nearly 0/1 design the two select almost the same elements.
const PART_DENSITY: f64 = 0.5;

/// Per element, the von Mises stress in MPa at the element centre of the solid material.
///
/// `displacements` are the nodal displacements in mm, one per DOF (`grid.dof_count()`), and
/// `youngs_modulus_mpa`, `poisson_ratio` are those of the solid; the density of the element plays
/// no part (see the module documentation). `out` receives one value per element in element order.
/// Runs in parallel over elements; each value depends on its own element only, so the result is
/// the same for any thread count.
///
/// # Panics
///
/// If `displacements.len()` is not `grid.dof_count()` or `out.len()` is not
/// `grid.element_count()`.
pub fn von_mises_stresses(
    grid: &Grid,
    youngs_modulus_mpa: f64,
    poisson_ratio: f64,
    displacements: &[f64],
    out: &mut [f64],
) {
    assert_eq!(
        displacements.len(),
        grid.dof_count(),
        "one displacement per DOF"
    );
    assert_eq!(out.len(), grid.element_count(), "one stress per element");
    SolidStress::new(grid.element_size_mm, youngs_modulus_mpa, poisson_ratio).element_von_mises(
        grid,
        displacements,
        out,
    );
}

/// Per node, the length of its displacement vector: `out[n] = |(u[3n], u[3n+1], u[3n+2])|`.
///
/// # Panics
///
/// If `displacements.len()` is not `3 · out.len()`.
pub fn node_displacement_magnitudes(displacements: &[f64], out: &mut [f64]) {
    assert_eq!(
        displacements.len(),
        3 * out.len(),
        "three displacements per node"
    );
    out.par_iter_mut()
        .enumerate()
        .for_each(|(n, magnitude)| *magnitude = node_magnitude(displacements, n));
}

/// Stress and displacement summary of one load case of the final design.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadCaseAnalysis {
    /// Name of the load case.
    pub name: String,
    /// Compliance `fᵀu` of this case in N·mm.
    pub compliance_nmm: f64,
    /// Largest nodal displacement over the nodes of part elements, mm.
    pub max_displacement_mm: f64,
    /// Position of that node, mm.
    pub max_displacement_at_mm: [f64; 3],
    /// Largest von Mises stress over part elements that touch no loaded or supported node, MPa.
    /// The value to design against: it converges under mesh refinement, unlike the peak.
    pub max_von_mises_mpa: f64,
    /// Centre of that element, mm.
    pub max_von_mises_at_mm: [f64; 3],
    /// Largest von Mises stress over all part elements, including those at point loads and
    /// supports, MPa. Mesh-dependent where a load or support acts on single nodes.
    pub peak_von_mises_mpa: f64,
    /// `yield strength / max_von_mises_mpa`, when a yield strength is known and the part is
    /// stressed; below 1 the part yields.
    pub safety_factor: Option<f64>,
    /// `yield strength / peak_von_mises_mpa`, under the same conditions.
    pub peak_safety_factor: Option<f64>,
}

/// Analyses one solved load case: stresses, largest displacement, safety factors.
///
/// - `youngs_modulus_mpa`, `poisson_ratio`: the solid material; `yield_strength_mpa`: its yield
///   strength in MPa, if known (without it both safety factors are `None`).
/// - `name`, `compliance_nmm`: copied into the result.
/// - `density`: the physical density per element; elements with `ρ ≥ 0.5` are the part.
/// - `displacements`: nodal displacements in mm, one per DOF.
/// - `excluded`: per element, whether to leave it out of `max_von_mises_mpa`; normally
///   [`Grid::elements_touching`] the loaded and supported nodes.
/// - `von_mises_out`: receives the von Mises stress of every element (void ones included), for
///   output fields.
///
/// The displacement maximum is taken over nodes of part elements only: nodes surrounded by void
/// carry no material and their displacement means nothing. Fallbacks, so that every field is
/// always defined: if no element reaches `ρ ≥ 0.5`, the whole domain counts as the part; if every
/// part element is excluded, `max_von_mises_mpa` is taken over all part elements (and equals the
/// peak). Ties go to the lowest element or node index, and a NaN (from a failed solve) counts as
/// the largest value so that it shows, which makes the result independent of the thread count.
///
/// # Panics
///
/// If `density`, `excluded` or `von_mises_out` do not hold one value per element, or
/// `displacements` one per DOF.
#[expect(
    clippy::too_many_arguments,
    reason = "material, case and fields are separate inputs; a bundle would hide which are used"
)]
pub fn analyse_load_case(
    grid: &Grid,
    youngs_modulus_mpa: f64,
    poisson_ratio: f64,
    yield_strength_mpa: Option<f64>,
    name: &str,
    compliance_nmm: f64,
    density: &[f64],
    displacements: &[f64],
    excluded: &[bool],
    von_mises_out: &mut [f64],
) -> LoadCaseAnalysis {
    let elements = grid.element_count();
    assert_eq!(density.len(), elements, "one density per element");
    assert_eq!(excluded.len(), elements, "one exclusion flag per element");
    von_mises_stresses(
        grid,
        youngs_modulus_mpa,
        poisson_ratio,
        displacements,
        von_mises_out,
    );
    let stress = &*von_mises_out;

    let any_solid = density.par_iter().any(|&rho| rho >= PART_DENSITY);
    let in_part = |e: usize| !any_solid || density[e] >= PART_DENSITY;
    let largest_stress = |keep: &(dyn Fn(usize) -> bool + Sync)| {
        (0..elements)
            .into_par_iter()
            .filter(|&e| keep(e))
            .map(|e| (stress[e], e))
            .reduce_with(larger)
    };
    // `in_part` keeps at least one element whenever the grid has any.
    let peak = largest_stress(&in_part);
    let away_from_loads = largest_stress(&|e| in_part(e) && !excluded[e]).or(peak);
    // Only an empty grid has no candidate; it reports zeros at the origin.
    let max_von_mises_mpa = away_from_loads.map_or(0.0, |(value, _)| value);
    let max_von_mises_at_mm = away_from_loads.map_or([0.0; 3], |(_, e)| grid.element_center_mm(e));
    let peak_von_mises_mpa = peak.map_or(0.0, |(value, _)| value);

    let (max_displacement_mm, max_node) = (0..elements)
        .into_par_iter()
        .filter(|&e| in_part(e))
        .flat_map_iter(|e| grid.element_nodes(grid.element_coords(e)))
        .map(|n| (node_magnitude(displacements, n), n))
        .reduce_with(larger)
        .unwrap_or((0.0, 0));

    let safety = |stress_mpa: f64| {
        yield_strength_mpa
            .filter(|_| stress_mpa > 0.0)
            .map(|yield_mpa| yield_mpa / stress_mpa)
    };
    LoadCaseAnalysis {
        name: name.to_owned(),
        compliance_nmm,
        max_displacement_mm,
        max_displacement_at_mm: grid.node_position_mm(max_node),
        max_von_mises_mpa,
        max_von_mises_at_mm,
        peak_von_mises_mpa,
        safety_factor: safety(max_von_mises_mpa),
        peak_safety_factor: safety(peak_von_mises_mpa),
    }
}

/// Length of the displacement of node `n`.
fn node_magnitude(displacements: &[f64], n: usize) -> f64 {
    let [x, y, z] = [0, 1, 2].map(|axis| displacements[3 * n + axis]);
    (x * x + y * y + z * z).sqrt()
}

/// The larger of two `(value, index)` candidates: NaN above everything, then by value, ties to
/// the lower index. A strict total order, so a parallel reduction picks the same candidate for
/// any split of the work.
fn larger(a: (f64, usize), b: (f64, usize)) -> (f64, usize) {
    let order =
        a.0.is_nan()
            .cmp(&b.0.is_nan())
            .then_with(|| a.0.total_cmp(&b.0))
            .then_with(|| b.1.cmp(&a.1));
    if order == Ordering::Less { b } else { a }
}

/// The analysis of a whole design: one summary and one stress field per load case.
#[derive(Debug, Clone, PartialEq)]
pub struct DesignAnalysis {
    /// Per load case, in design-file order.
    pub load_cases: Vec<LoadCaseAnalysis>,
    /// Per load case, the von Mises stress of every element, MPa.
    pub von_mises_mpa: Vec<Vec<f64>>,
}

impl DesignAnalysis {
    /// The largest displacement over the load cases, mm.
    pub fn max_displacement_mm(&self) -> f64 {
        self.load_cases
            .iter()
            .map(|c| c.max_displacement_mm)
            .fold(0.0, f64::max)
    }

    /// The smallest safety factor over the load cases (away from point loads and supports).
    pub fn safety_factor(&self) -> Option<f64> {
        self.load_cases
            .iter()
            .filter_map(|c| c.safety_factor)
            .min_by(f64::total_cmp)
    }
}

/// Analyses every load case of `problem` for the physical `density` and its `displacements`
/// (one vector per case) with compliances `compliance_nmm`. Stress peaks are excluded at the
/// elements touching the case's loaded nodes and every supported node.
pub fn analyse_design(
    problem: &Problem,
    density: &[f64],
    displacements: &[Vec<f64>],
    compliance_nmm: &[f64],
) -> DesignAnalysis {
    let grid = &problem.grid;
    let material = &problem.material;
    let mut load_cases = Vec::new();
    let mut von_mises_mpa = Vec::new();
    for ((case, u), &compliance) in problem
        .load_cases
        .iter()
        .zip(displacements)
        .zip(compliance_nmm)
    {
        let excluded = problem.elements_at_loads_and_supports(case);
        let mut stress = vec![0.0; grid.element_count()];
        load_cases.push(analyse_load_case(
            grid,
            material.youngs_modulus_mpa,
            material.poisson_ratio,
            material.yield_strength_mpa,
            &case.name,
            compliance,
            density,
            u,
            &excluded,
            &mut stress,
        ));
        von_mises_mpa.push(stress);
    }
    DesignAnalysis {
        load_cases,
        von_mises_mpa,
    }
}

/// Solves every load case of `problem` (concurrently) for a given physical `density` (e.g. read
/// back from a `density.vti`): the compliance and the displacements of each case.
pub fn solve_design(
    problem: &Problem,
    density: &[f64],
) -> Result<(Vec<f64>, Vec<Vec<f64>>), SolveError> {
    let ke = ElementStiffness::new(problem.material.poisson_ratio);
    let mut solver = LinearSolver::new(problem.grid, ke, &problem.fixed_dofs, &problem.solver)?;
    let mut stiffness = vec![0.0; density.len()];
    simp_stiffness(problem, density, &mut stiffness);
    solver.set_stiffness(&stiffness)?;
    let mut responses = Responses::new(problem, &solver);
    responses.evaluate(problem, &solver, density)?;
    Ok((responses.compliance, responses.displacements))
}

/// The figures of the exported part, not of the grey density the optimizer ended with: the
/// design re-analysed as the elements at or above the part's iso-density `threshold` (the one
/// its surface is drawn at, [`crate::mesh::Part::threshold`]) made solid and the others void,
/// and exact kept shapes counted by the share of each element they fill ([`analyse_part`]).
/// A grey element is half as stiff as solid material under SIMP but becomes solid or void in the
/// part, so the grey design's deflection overstates the part's (for `designs/cantilever.toml`
/// by half, against CalculiX on the exported STL). Stresses are taken at the nodes
/// ([`SolidStress::nodal_von_mises`]), where the surface of the part is.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartAnalysis {
    /// The iso-density that separates the part's elements from the void.
    pub threshold: f64,
    /// Elements in the part, wholly or partly.
    pub elements: usize,
    /// The part's volume on the grid, mm³.
    pub volume_mm3: f64,
    /// Largest displacement over the load cases, mm.
    pub max_displacement_mm: f64,
    /// Smallest safety factor over the load cases (when the yield strength is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_factor: Option<f64>,
    /// Per load case, in design-file order.
    pub load_cases: Vec<PartLoadCase>,
}

/// One load case of the exported part ([`PartAnalysis`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartLoadCase {
    /// Name of the load case.
    pub name: String,
    /// Compliance `fᵀu`, N·mm.
    pub compliance_nmm: f64,
    /// Largest displacement over the part's nodes, mm.
    pub max_displacement_mm: f64,
    /// Where, mm.
    pub max_displacement_at_mm: [f64; 3],
    /// Largest von Mises stress over the part's nodes that belong to no element touching a
    /// loaded or supported node, MPa: the value to design against.
    pub max_von_mises_mpa: f64,
    /// Where, mm.
    pub max_von_mises_at_mm: [f64; 3],
    /// The 99.9th percentile of the same nodal stresses, MPa: a peak that one node cannot set.
    pub von_mises_p999_mpa: f64,
    /// Largest von Mises stress over all the part's nodes, at loads and supports included, MPa.
    pub peak_von_mises_mpa: f64,
    /// `yield strength / max_von_mises_mpa`, when the yield strength is known and the part is
    /// stressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_factor: Option<f64>,
}

/// Solves and analyses the part that `density` exports at iso-density `threshold`
/// ([`PartAnalysis`]), with stress peaks excluded at the elements touching each case's loaded
/// nodes and every supported node, as in [`analyse_design`]. With `exact_kept` (the part was
/// exported with its kept shapes in their exact form), the elements that a kept shape's surface
/// crosses are filled by the share of their volume inside the exported part
/// ([`part_fractions`]), so a hole, bore or boss counts at its size, not as its voxels.
pub fn analyse_part(
    problem: &Problem,
    density: &[f64],
    threshold: f64,
    exact_kept: bool,
) -> Result<PartAnalysis, SolveError> {
    let grid = &problem.grid;
    let none = KeptGeometry::default();
    let kept = if exact_kept {
        &problem.kept_geometry
    } else {
        &none
    };
    let fraction = part_fractions(density, threshold, grid, kept);
    let solid: Vec<bool> = fraction.iter().map(|&f| f > 0.0).collect();
    // An element a share f full is as stiff as f of solid material (the rule of mixtures for
    // material and void side by side, the Voigt bound): the SIMP stiffness of f^(1/p).
    let p = problem.optimization.penalization;
    let part: Vec<f64> = fraction.iter().map(|&f| f.powf(1.0 / p)).collect();
    let (compliance, displacements) = solve_design(problem, &part)?;
    let material = &problem.material;
    let kernel = SolidStress::new(
        grid.element_size_mm,
        material.youngs_modulus_mpa,
        material.poisson_ratio,
    );
    let in_part = nodes_of(grid, &solid);
    let mut load_cases = Vec::new();
    for ((case, u), &compliance_nmm) in problem
        .load_cases
        .iter()
        .zip(&displacements)
        .zip(&compliance)
    {
        let excluded = problem.elements_at_loads_and_supports(case);
        let near = nodes_of(grid, &excluded);
        let stress = kernel.nodal_von_mises(grid, u, &solid);
        let largest = |keep: &(dyn Fn(usize) -> bool + Sync)| {
            (0..grid.node_count())
                .into_par_iter()
                .filter(|&n| keep(n))
                .map(|n| (stress[n], n))
                .reduce_with(larger)
        };
        let peak = largest(&|n| in_part[n]);
        let away = largest(&|n| in_part[n] && !near[n]).or(peak);
        let mut away_values: Vec<f64> = (0..grid.node_count())
            .filter(|&n| in_part[n] && !near[n])
            .map(|n| stress[n])
            .collect();
        if away_values.is_empty() {
            away_values = (0..grid.node_count())
                .filter(|&n| in_part[n])
                .map(|n| stress[n])
                .collect();
        }
        away_values.sort_unstable_by(f64::total_cmp);
        let p999 = away_values
            .get(((away_values.len().saturating_sub(1)) as f64 * 0.999).round() as usize)
            .copied()
            .unwrap_or(0.0);
        let (max_displacement_mm, max_node) = (0..grid.node_count())
            .into_par_iter()
            .filter(|&n| in_part[n])
            .map(|n| (node_magnitude(u, n), n))
            .reduce_with(larger)
            .unwrap_or((0.0, 0));
        let max_von_mises_mpa = away.map_or(0.0, |(value, _)| value);
        load_cases.push(PartLoadCase {
            name: case.name.clone(),
            compliance_nmm,
            max_displacement_mm,
            max_displacement_at_mm: grid.node_position_mm(max_node),
            max_von_mises_mpa,
            max_von_mises_at_mm: away.map_or([0.0; 3], |(_, n)| grid.node_position_mm(n)),
            von_mises_p999_mpa: p999,
            peak_von_mises_mpa: peak.map_or(0.0, |(value, _)| value),
            safety_factor: material
                .yield_strength_mpa
                .filter(|_| max_von_mises_mpa > 0.0)
                .map(|y| y / max_von_mises_mpa),
        });
    }
    Ok(PartAnalysis {
        threshold,
        elements: solid.iter().filter(|&&s| s).count(),
        volume_mm3: fraction.iter().sum::<f64>() * grid.element_volume_mm3(),
        max_displacement_mm: load_cases
            .iter()
            .map(|c| c.max_displacement_mm)
            .fold(0.0, f64::max),
        safety_factor: load_cases
            .iter()
            .filter_map(|c| c.safety_factor)
            .min_by(f64::total_cmp),
        load_cases,
    })
}

/// Per node, whether it is a node of an element with `elements[e]` set.
fn nodes_of(grid: &Grid, elements: &[bool]) -> Vec<bool> {
    let mut nodes = vec![false; grid.node_count()];
    for e in (0..grid.element_count()).filter(|&e| elements[e]) {
        for n in grid.element_nodes(grid.element_coords(e)) {
            nodes[n] = true;
        }
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fem::stress::{StressPoint, element_displacements};

    const E: f64 = 210_000.0;
    const NU: f64 = 0.3;

    /// Nodal displacements `u(x)` sampled at every node of `grid`.
    fn field(grid: &Grid, u: impl Fn([f64; 3]) -> [f64; 3]) -> Vec<f64> {
        (0..grid.node_count())
            .flat_map(|n| u(grid.node_position_mm(n)))
            .collect()
    }

    fn stresses(grid: &Grid, displacements: &[f64]) -> Vec<f64> {
        let mut out = vec![f64::NAN; grid.element_count()];
        von_mises_stresses(grid, E, NU, displacements, &mut out);
        out
    }

    fn assert_close(actual: f64, expected: f64, relative: f64) {
        assert!(
            (actual - expected).abs() <= relative * expected.abs(),
            "{actual} vs {expected}"
        );
    }

    #[test]
    fn uniaxial_tension_gives_e_times_strain() {
        // u = (ε x, −ν ε y, −ν ε z) is the exact solution of a bar in uniaxial tension, and the
        // trilinear element reproduces linear fields exactly: σxx = E ε, all else zero.
        let grid = Grid::new([4, 2, 3], 2.5);
        let strain = 1e-3;
        let u = field(&grid, |[x, y, z]| {
            [strain * x, -NU * strain * y, -NU * strain * z]
        });
        let kernel = SolidStress::new(grid.element_size_mm, E, NU);
        for e in 0..grid.element_count() {
            let sigma = kernel.stress(&element_displacements(&grid, &u, e), StressPoint::Centre);
            assert_close(sigma[0], E * strain, 1e-12);
            for other in &sigma[1..] {
                assert!(other.abs() <= 1e-12 * E * strain, "{sigma:?}");
            }
        }
        for vm in stresses(&grid, &u) {
            assert_close(vm, E * strain, 1e-12);
        }
    }

    #[test]
    fn pure_shear_gives_root_three_tau_in_every_plane() {
        let grid = Grid::new([3, 3, 2], 1.5);
        let gamma = 2e-3;
        let tau = E / (2.0 * (1.0 + NU)) * gamma;
        // Simple shear u_a = γ x_b: shear strain γ in the (a, b) plane plus a rigid rotation.
        for (a, b) in [(0, 1), (1, 2), (2, 0)] {
            let u = field(&grid, |x| {
                let mut u = [0.0; 3];
                u[a] = gamma * x[b];
                u
            });
            for vm in stresses(&grid, &u) {
                assert_close(vm, 3f64.sqrt() * tau, 1e-12);
            }
        }
    }

    #[test]
    fn rigid_motion_is_stress_free() {
        let grid = Grid::new([2, 3, 2], 1.0);
        // Translation plus an infinitesimal rotation ω × x.
        let omega = [1e-3, -2e-3, 3e-3];
        let u = field(&grid, |[x, y, z]| {
            [
                0.1 + omega[1] * z - omega[2] * y,
                -0.2 + omega[2] * x - omega[0] * z,
                0.3 + omega[0] * y - omega[1] * x,
            ]
        });
        for vm in stresses(&grid, &u) {
            assert!(vm <= 1e-12 * E * 1e-3, "{vm}");
        }
    }

    #[test]
    fn bilinear_field_is_sampled_at_each_element_centre() {
        // u_x = κ x z lies in the trilinear span, so the centre strain is exact and differs per
        // element: εxx = κ z_c, γzx = κ x_c. A wrong gather or sampling point fails here, where
        // the uniform fields above cannot tell elements apart.
        let grid = Grid::new([3, 2, 4], 2.0);
        let kappa = 1e-4;
        let u = field(&grid, |[x, _, z]| [kappa * x * z, 0.0, 0.0]);
        let (lambda, mu) = (
            E * NU / ((1.0 + NU) * (1.0 - 2.0 * NU)),
            E / (2.0 * (1.0 + NU)),
        );
        let kernel = SolidStress::new(grid.element_size_mm, E, NU);
        for e in 0..grid.element_count() {
            let [xc, _, zc] = grid.element_center_mm(e);
            let exx = kappa * zc;
            let expected = [
                (lambda + 2.0 * mu) * exx,
                lambda * exx,
                lambda * exx,
                0.0,
                0.0,
                mu * kappa * xc,
            ];
            let sigma = kernel.stress(&element_displacements(&grid, &u, e), StressPoint::Centre);
            for (s, x) in sigma.iter().zip(expected) {
                assert!(
                    (s - x).abs() <= 1e-12 * E * kappa * 8.0,
                    "{sigma:?} vs {expected:?}"
                );
            }
        }
    }

    #[test]
    fn stress_scales_inversely_with_element_size() {
        // The same nodal displacements over elements twice as large are half the strain.
        let u: Vec<f64> = (0..Grid::new([3, 2, 2], 1.0).dof_count())
            .map(|i| (i as f64 * 0.731).sin() * 1e-3)
            .collect();
        let fine = stresses(&Grid::new([3, 2, 2], 1.5), &u);
        let coarse = stresses(&Grid::new([3, 2, 2], 3.0), &u);
        for (f, c) in fine.iter().zip(&coarse) {
            assert!(*f > 0.0);
            assert_close(*c, 0.5 * f, 1e-15);
        }
    }

    #[test]
    fn magnitudes_are_vector_lengths() {
        let mut out = [0.0; 2];
        node_displacement_magnitudes(&[3.0, 4.0, 12.0, 0.0, -1.0, 0.0], &mut out);
        assert_eq!(out, [13.0, 1.0]);
    }

    #[test]
    fn elements_touching_flagged_nodes() {
        let grid = Grid::new([3, 2, 1], 1.0);
        let mut flags = vec![false; grid.node_count()];
        assert_eq!(grid.elements_touching(&flags), vec![false; 6]);
        // An interior node of the bottom layer touches the four elements around it.
        flags[grid.node_index([1, 1, 0])] = true;
        assert_eq!(
            grid.elements_touching(&flags),
            [true, true, false, true, true, false]
        );
        // The far corner node touches only the far corner element.
        flags.fill(false);
        flags[grid.node_index([3, 2, 1])] = true;
        assert_eq!(
            grid.elements_touching(&flags),
            [false, false, false, false, false, true]
        );
    }

    /// A 1-element-thick bar along x where element `i` is stretched by `strains[i]`: uniaxial
    /// strain, so `σ_vm = 2μ |εᵢ|`, and `u_x` at node plane `i` is `h · Σ_{k<i} εₖ`.
    fn stepped_bar(strains: &[f64], h: f64) -> (Grid, Vec<f64>) {
        let grid = Grid::new([strains.len(), 1, 1], h);
        let mut u = vec![0.0; grid.dof_count()];
        for n in 0..grid.node_count() {
            let i = grid.node_coords(n)[0];
            u[3 * n] = h * strains[..i].iter().sum::<f64>();
        }
        (grid, u)
    }

    fn analyse(
        grid: &Grid,
        yield_mpa: Option<f64>,
        density: &[f64],
        u: &[f64],
        excluded: &[bool],
    ) -> (LoadCaseAnalysis, Vec<f64>) {
        let mut vm = vec![f64::NAN; grid.element_count()];
        let result = analyse_load_case(
            grid, E, NU, yield_mpa, "case", 12.5, density, u, excluded, &mut vm,
        );
        (result, vm)
    }

    #[test]
    fn analysis_skips_void_and_excluded_elements() {
        let h = 2.0;
        let strains = [1e-4, 4e-4, 2e-4, 3e-4, 9e-4];
        let (grid, u) = stepped_bar(&strains, h);
        // Element 4 is void (largest strain, ignored), element 1 touches a load (excluded from
        // the maximum, but the peak).
        let density = [1.0, 1.0, 0.5, 0.9, 0.1];
        let excluded = [false, true, false, false, false];
        let two_mu = E / (1.0 + NU);
        let (result, vm) = analyse(&grid, Some(250.0), &density, &u, &excluded);

        for (s, eps) in vm.iter().zip(strains) {
            assert_close(*s, two_mu * eps, 1e-12);
        }
        assert_eq!(result.name, "case");
        assert_eq!(result.compliance_nmm, 12.5);
        assert_eq!(result.max_von_mises_mpa, vm[3]);
        assert_eq!(result.max_von_mises_at_mm, [3.5 * h, 0.5 * h, 0.5 * h]);
        assert_eq!(result.peak_von_mises_mpa, vm[1]);
        assert_eq!(result.safety_factor, Some(250.0 / vm[3]));
        assert_eq!(result.peak_safety_factor, Some(250.0 / vm[1]));
        // The far face (plane 5) belongs to the void element only; the four nodes of plane 4
        // tie, and the lowest index, (4, 0, 0), wins.
        assert_close(result.max_displacement_mm, h * 10e-4, 1e-14);
        assert_eq!(result.max_displacement_at_mm, [4.0 * h, 0.0, 0.0]);

        let (without_yield, _) = analyse(&grid, None, &density, &u, &excluded);
        assert_eq!(without_yield.safety_factor, None);
        assert_eq!(without_yield.peak_safety_factor, None);
    }

    #[test]
    fn analysis_falls_back_when_nothing_remains() {
        let strains = [1e-4, 3e-4, 2e-4];
        let (grid, u) = stepped_bar(&strains, 1.0);
        let two_mu = E / (1.0 + NU);

        // Every part element excluded: the maximum is the peak over the part.
        let (all_excluded, _) = analyse(&grid, Some(100.0), &[1.0, 0.2, 1.0], &u, &[true; 3]);
        assert_close(all_excluded.max_von_mises_mpa, two_mu * 2e-4, 1e-12);
        assert_eq!(all_excluded.max_von_mises_at_mm, [2.5, 0.5, 0.5]);
        assert_eq!(
            all_excluded.peak_von_mises_mpa,
            all_excluded.max_von_mises_mpa
        );

        // No part at all: the whole domain counts.
        let (all_void, _) = analyse(&grid, Some(100.0), &[0.1; 3], &u, &[false; 3]);
        assert_close(all_void.max_von_mises_mpa, two_mu * 3e-4, 1e-12);
        assert_close(all_void.max_displacement_mm, 6e-4, 1e-14);
        assert_eq!(all_void.max_displacement_at_mm, [3.0, 0.0, 0.0]);

        // An unstressed part has no finite safety factor.
        let (unstressed, _) = analyse(
            &grid,
            Some(100.0),
            &[1.0; 3],
            &vec![0.0; u.len()],
            &[false; 3],
        );
        assert_eq!(unstressed.max_von_mises_mpa, 0.0);
        assert_eq!(unstressed.safety_factor, None);
    }

    #[test]
    fn ties_go_to_the_lowest_index_and_nan_shows() {
        assert_eq!(larger((1.0, 5), (1.0, 2)), (1.0, 2));
        assert_eq!(larger((1.0, 2), (1.0, 5)), (1.0, 2));
        assert_eq!(larger((1.0, 9), (2.0, 0)), (2.0, 0));
        assert!(larger((f64::NAN, 3), (f64::INFINITY, 0)).0.is_nan());
        // Equal stresses everywhere (a power of two keeps every sum exact): the first element.
        let (grid, u) = stepped_bar(&[2f64.powi(-12); 6], 1.0);
        let mut vm = vec![0.0; 6];
        von_mises_stresses(&grid, E, NU, &u, &mut vm);
        assert!(vm.iter().all(|s| s.to_bits() == vm[0].to_bits()));
        let (result, _) = analyse(&grid, None, &[1.0; 6], &u, &[false; 6]);
        assert_eq!(result.max_von_mises_at_mm, [0.5, 0.5, 0.5]);
    }

    #[test]
    fn identical_for_one_and_two_threads() {
        let grid = Grid::new([11, 9, 7], 0.8);
        let u: Vec<f64> = (0..grid.dof_count())
            .map(|i| (i as f64 * 0.377).sin() * 1e-2)
            .collect();
        let density: Vec<f64> = (0..grid.element_count())
            .map(|e| (e as f64 * 0.61).cos().abs())
            .collect();
        let excluded: Vec<bool> = (0..grid.element_count()).map(|e| e % 7 == 0).collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .expect("thread pool");
            pool.install(|| analyse(&grid, Some(300.0), &density, &u, &excluded))
        };
        let (one, vm_one) = run(1);
        let (two, vm_two) = run(2);
        assert_eq!(one, two);
        assert!(
            vm_one
                .iter()
                .zip(&vm_two)
                .all(|(a, b)| a.to_bits() == b.to_bits())
        );
        assert!(one.max_von_mises_mpa > 0.0 && one.peak_von_mises_mpa >= one.max_von_mises_mpa);
    }
}
