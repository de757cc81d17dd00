//! From a parsed [`Design`] to a validated [`Problem`]: units resolved, regions turned into node
//! sets, every value range-checked. Each error names the key path and what is allowed.

use std::path::Path;

use nalgebra::{SMatrix, SymmetricEigen};

use super::{Design, DesignError, OptimizerKind, Region, SolverMethodKind};
use crate::fem::multigrid::level_count;
use crate::fem::{MultigridParams, SolverMethod, SolverParams};
use crate::grid::Grid;
use crate::mesh::PartParams;
use crate::problem::{LoadCase, Material, OptimizationParams, Optimizer, Problem};

/// Largest grid accepted (elements); beyond it memory, not patience, runs out.
const MAX_ELEMENTS: usize = 200_000_000;

impl Design {
    /// Checks the design and builds the problem; `file` names the design file in errors.
    pub fn to_problem(&self, file: &Path) -> Result<Problem, DesignError> {
        let invalid = |key: &str, message: String| DesignError::Invalid {
            file: file.to_path_buf(),
            key: key.to_string(),
            message,
        };
        check_name(&self.name).map_err(|m| invalid("name", m))?;
        let grid = self.grid().map_err(|(key, m)| invalid(key, m))?;
        let material = self.material().map_err(|(key, m)| invalid(key, m))?;
        let fixed_dofs = self
            .fixed_dofs(&grid)
            .map_err(|(key, m)| invalid(&key, m))?;
        let load_cases = self
            .load_cases(&grid, &fixed_dofs)
            .map_err(|(key, m)| invalid(&key, m))?;
        let optimization = self
            .optimization(&grid)
            .map_err(|(key, m)| invalid(key, m))?;
        let solver = self.solver(&grid).map_err(|(key, m)| invalid(key, m))?;
        let part = self.part().map_err(|(key, m)| invalid(key, m))?;
        Ok(Problem {
            name: self.name.clone(),
            grid,
            material,
            fixed_dofs,
            load_cases,
            optimization,
            solver,
            part,
            formats: self.output.formats.clone(),
        })
    }

    fn part(&self) -> Result<PartParams, (&'static str, String)> {
        let o = &self.output;
        if let Some(t) = o.threshold
            && !(t > 0.0 && t < 1.0)
        {
            return Err(("output.threshold", format!("{t} must lie in (0, 1)")));
        }
        if o.smoothing_iterations > 100 {
            return Err((
                "output.smoothing_iterations",
                format!("{} must lie in [0, 100]", o.smoothing_iterations),
            ));
        }
        if o.formats.is_empty() {
            return Err((
                "output.formats",
                "list at least one of \"stl\", \"3mf\"".into(),
            ));
        }
        if let Some(n) = o.max_triangles
            && n < 100
        {
            return Err(("output.max_triangles", format!("{n} must be at least 100")));
        }
        Ok(PartParams {
            threshold: o.threshold,
            smoothing_iterations: o.smoothing_iterations,
            max_triangles: o.max_triangles,
        })
    }

    fn solver(&self, grid: &Grid) -> Result<SolverParams, (&'static str, String)> {
        let s = &self.solver;
        if let Some(t) = s.tolerance
            && !(t > 0.0 && t < 1.0)
        {
            return Err(("solver.tolerance", format!("{t} must lie in (0, 1)")));
        }
        if s.max_iterations == 0 {
            return Err(("solver.max_iterations", "must be at least 1".into()));
        }
        let multigrid = MultigridParams {
            levels: s.levels,
            ..MultigridParams::default()
        };
        if let Some(levels) = s.levels {
            let possible = level_count(
                grid,
                &MultigridParams {
                    levels: Some(usize::MAX),
                    ..multigrid
                },
            );
            if levels < 2 || levels > possible {
                return Err((
                    "solver.levels",
                    format!(
                        "{levels} must lie in [2, {possible}]: {:?} elements can be halved {} time(s) while every axis stays even",
                        grid.elements,
                        possible - 1
                    ),
                ));
            }
        }
        let method = match s.method {
            SolverMethodKind::Auto => SolverMethod::Auto,
            SolverMethodKind::Direct => SolverMethod::Direct,
            SolverMethodKind::Multigrid => SolverMethod::Multigrid,
        };
        Ok(SolverParams {
            method,
            tolerance: s.tolerance,
            max_iterations: s.max_iterations,
            multigrid,
        })
    }

    fn grid(&self) -> Result<Grid, (&'static str, String)> {
        let d = &self.domain;
        if d.size_mm.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err((
                "domain.size_mm",
                format!("{:?} must be three positive sizes in mm", d.size_mm),
            ));
        }
        let (elements, h) = match (d.element_size_mm, d.elements) {
            (Some(_), Some(_)) | (None, None) => {
                return Err((
                    "domain",
                    "give exactly one of `element_size_mm` and `elements`".into(),
                ));
            }
            (Some(h), None) => {
                if !(h.is_finite() && h > 0.0) {
                    return Err((
                        "domain.element_size_mm",
                        format!("{h} must be a positive size in mm"),
                    ));
                }
                let counts = d.size_mm.map(|s| (s / h).round());
                for axis in 0..3 {
                    if counts[axis] < 1.0
                        || (counts[axis] * h - d.size_mm[axis]).abs() > 1e-6 * d.size_mm[axis]
                    {
                        return Err((
                            "domain.element_size_mm",
                            format!(
                                "{h} mm does not divide the domain size {} mm along {} into whole elements",
                                d.size_mm[axis],
                                ["x", "y", "z"][axis]
                            ),
                        ));
                    }
                }
                (counts.map(|c| c as usize), h)
            }
            (None, Some(elements)) => {
                if elements.contains(&0) {
                    return Err((
                        "domain.elements",
                        format!("{elements:?} must be three counts ≥ 1"),
                    ));
                }
                let sizes: Vec<f64> = (0..3).map(|a| d.size_mm[a] / elements[a] as f64).collect();
                if sizes.iter().any(|s| (s - sizes[0]).abs() > 1e-9 * sizes[0]) {
                    return Err((
                        "domain.elements",
                        format!("voxels must be cubic, but size_mm / elements gives {sizes:?} mm"),
                    ));
                }
                (elements, sizes[0])
            }
        };
        let count = elements
            .iter()
            .try_fold(1usize, |acc, &n| acc.checked_mul(n));
        if count.is_none_or(|c| c > MAX_ELEMENTS) {
            return Err((
                "domain",
                format!("{elements:?} elements is more than the {MAX_ELEMENTS} allowed"),
            ));
        }
        Ok(Grid::new(elements, h))
    }

    fn material(&self) -> Result<Material, (&'static str, String)> {
        let m = &self.material;
        if !(m.youngs_modulus_mpa.is_finite() && m.youngs_modulus_mpa > 0.0) {
            return Err((
                "material.youngs_modulus_mpa",
                format!("{} must be positive (MPa)", m.youngs_modulus_mpa),
            ));
        }
        if !(m.poisson_ratio > -1.0 && m.poisson_ratio < 0.5) {
            return Err((
                "material.poisson_ratio",
                format!("{} must lie in (-1, 0.5)", m.poisson_ratio),
            ));
        }
        if let Some(rho) = m.density_g_cm3
            && !(rho.is_finite() && rho > 0.0)
        {
            return Err((
                "material.density_g_cm3",
                format!("{rho} must be positive (g/cm³)"),
            ));
        }
        Ok(Material {
            youngs_modulus_mpa: m.youngs_modulus_mpa,
            poisson_ratio: m.poisson_ratio,
            density_g_cm3: m.density_g_cm3,
        })
    }

    fn fixed_dofs(&self, grid: &Grid) -> Result<Vec<bool>, (String, String)> {
        if self.supports.is_empty() {
            return Err((
                "supports".into(),
                "at least one [[supports]] table is required".into(),
            ));
        }
        let mut fixed = vec![false; grid.dof_count()];
        for (i, support) in self.supports.iter().enumerate() {
            let key = format!("supports[{i}]");
            if support.fixed.is_empty() {
                return Err((
                    format!("{key}.fixed"),
                    "list at least one of \"x\", \"y\", \"z\"".into(),
                ));
            }
            for node in
                select_nodes(&support.region, grid).map_err(|m| (format!("{key}.region"), m))?
            {
                for axis in &support.fixed {
                    fixed[3 * node + axis.index()] = true;
                }
            }
        }
        if let Some(free) = free_rigid_body_motions(grid, &fixed) {
            return Err((
                "supports".into(),
                format!(
                    "the supports do not prevent rigid-body motion ({free} is free); hold more nodes or directions"
                ),
            ));
        }
        Ok(fixed)
    }

    fn load_cases(&self, grid: &Grid, fixed: &[bool]) -> Result<Vec<LoadCase>, (String, String)> {
        if self.load_cases.is_empty() {
            return Err((
                "load_cases".into(),
                "at least one [[load_cases]] table is required".into(),
            ));
        }
        let mut cases: Vec<LoadCase> = Vec::new();
        for (c, spec) in self.load_cases.iter().enumerate() {
            let key = format!("load_cases[{c}]");
            if spec.name.trim().is_empty() || cases.iter().any(|other| other.name == spec.name) {
                return Err((
                    format!("{key}.name"),
                    format!("{:?} must be a non-empty name used once", spec.name),
                ));
            }
            if !(spec.weight.is_finite() && spec.weight > 0.0) {
                return Err((
                    format!("{key}.weight"),
                    format!("{} must be positive", spec.weight),
                ));
            }
            if spec.loads.is_empty() {
                return Err((
                    format!("{key}.loads"),
                    "at least one [[load_cases.loads]] table is required".into(),
                ));
            }
            let mut forces_n = vec![0.0; grid.dof_count()];
            for (l, load) in spec.loads.iter().enumerate() {
                let key = format!("{key}.loads[{l}]");
                let force = load.force_n;
                if force.iter().any(|f| !f.is_finite()) || force == [0.0; 3] {
                    return Err((
                        format!("{key}.force_n"),
                        format!("{force:?} must be a finite, non-zero force in N"),
                    ));
                }
                let nodes =
                    select_nodes(&load.region, grid).map_err(|m| (format!("{key}.region"), m))?;
                for axis in (0..3).filter(|&a| force[a] != 0.0) {
                    if nodes.iter().all(|&n| fixed[3 * n + axis]) {
                        return Err((
                            format!("{key}.region"),
                            format!(
                                "every selected node is held in {} by the supports, so the force would act on the supports only",
                                ["x", "y", "z"][axis]
                            ),
                        ));
                    }
                }
                // The total force is shared equally by the region's nodes.
                for &n in &nodes {
                    for axis in 0..3 {
                        forces_n[3 * n + axis] += force[axis] / nodes.len() as f64;
                    }
                }
            }
            cases.push(LoadCase {
                name: spec.name.clone(),
                weight: spec.weight,
                forces_n,
            });
        }
        Ok(cases)
    }

    fn optimization(&self, grid: &Grid) -> Result<OptimizationParams, (&'static str, String)> {
        let o = &self.optimization;
        if !(o.volume_fraction > 0.0 && o.volume_fraction <= 1.0) {
            return Err((
                "optimization.volume_fraction",
                format!("{} must lie in (0, 1]", o.volume_fraction),
            ));
        }
        if !(1.0..=10.0).contains(&o.penalization) {
            return Err((
                "optimization.penalization",
                format!("{} must lie in [1, 10]", o.penalization),
            ));
        }
        let filter_radius_mm = o.filter_radius_mm.unwrap_or(1.5 * grid.element_size_mm);
        if !(filter_radius_mm.is_finite() && filter_radius_mm > 0.0) {
            return Err((
                "optimization.filter_radius_mm",
                format!("{filter_radius_mm} must be a positive radius in mm"),
            ));
        }
        if !(o.move_limit > 0.0 && o.move_limit <= 1.0) {
            return Err((
                "optimization.move_limit",
                format!("{} must lie in (0, 1]", o.move_limit),
            ));
        }
        if o.max_iterations == 0 {
            return Err(("optimization.max_iterations", "must be at least 1".into()));
        }
        if !(o.change_tolerance >= 0.0 && o.change_tolerance < 1.0) {
            return Err((
                "optimization.change_tolerance",
                format!("{} must lie in [0, 1)", o.change_tolerance),
            ));
        }
        let optimizer = match o.optimizer {
            OptimizerKind::Oc => Optimizer::Oc {
                move_limit: o.move_limit,
            },
        };
        Ok(OptimizationParams {
            volume_fraction: o.volume_fraction,
            penalization: o.penalization,
            filter_radius_mm,
            optimizer,
            max_iterations: o.max_iterations,
            change_tolerance: o.change_tolerance,
            min_stiffness_ratio: 1e-9,
        })
    }
}

fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} must be non-empty and use only letters, digits, '-', '_' and '.' (it names the output folder)"
        ))
    }
}

/// Nodes inside a region, or a message saying why there are none.
fn select_nodes(region: &Region, grid: &Grid) -> Result<Vec<usize>, String> {
    if let Region::Box { min_mm, max_mm } = region {
        if min_mm.iter().chain(max_mm).any(|v| !v.is_finite()) {
            return Err("box corners must be finite numbers (mm)".into());
        }
        if (0..3).any(|a| min_mm[a] > max_mm[a]) {
            return Err(format!(
                "box min_mm {min_mm:?} must not exceed max_mm {max_mm:?} on any axis"
            ));
        }
    }
    let domain = grid.size_mm();
    let tol = 1e-6 * grid.element_size_mm;
    let nodes: Vec<usize> = (0..grid.node_count())
        .filter(|&n| region.contains(grid.node_position_mm(n), domain, tol))
        .collect();
    if nodes.is_empty() {
        return Err(format!(
            "selects no node of the grid (domain {domain:?} mm, nodes every {} mm); regions are closed, so a flat box must lie on grid nodes",
            grid.element_size_mm
        ));
    }
    Ok(nodes)
}

/// Names a rigid-body motion that the fixed DOFs leave free, if any.
///
/// The six rigid modes (3 translations, 3 rotations about the domain centre) are all blocked iff
/// the 6×6 Gram matrix of their values on the fixed DOFs is non-singular.
fn free_rigid_body_motions(grid: &Grid, fixed: &[bool]) -> Option<&'static str> {
    let size = grid.size_mm();
    let scale = size.iter().copied().fold(0.0, f64::max);
    let mut gram = SMatrix::<f64, 6, 6>::zeros();
    for dof in (0..fixed.len()).filter(|&d| fixed[d]) {
        let p = grid.node_position_mm(dof / 3);
        let q: [f64; 3] = std::array::from_fn(|a| (p[a] - 0.5 * size[a]) / scale);
        let axis = dof % 3;
        let mut m = SMatrix::<f64, 6, 1>::zeros();
        m[axis] = 1.0;
        // Rotation about x: (0, −z, y); about y: (z, 0, −x); about z: (−y, x, 0).
        let rotations = [[0.0, -q[2], q[1]], [q[2], 0.0, -q[0]], [-q[1], q[0], 0.0]];
        for (r, rotation) in rotations.iter().enumerate() {
            m[3 + r] = rotation[axis];
        }
        gram += m * m.transpose();
    }
    let eigen = SymmetricEigen::new(gram);
    let largest = eigen.eigenvalues.max();
    let (index, smallest) = eigen.eigenvalues.argmin();
    if largest > 0.0 && smallest > 1e-10 * largest {
        return None;
    }
    let mode = eigen.eigenvectors.column(index).iamax();
    Some(
        [
            "translation along x",
            "translation along y",
            "translation along z",
            "rotation about x",
            "rotation about y",
            "rotation about z",
        ][mode],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clamp(grid: &Grid, select: impl Fn([usize; 3], usize) -> bool) -> Vec<bool> {
        (0..grid.dof_count())
            .map(|d| select(grid.node_coords(d / 3), d % 3))
            .collect()
    }

    #[test]
    fn rigid_body_check() {
        let grid = Grid::new([4, 2, 2], 1.0);
        assert_eq!(
            free_rigid_body_motions(&grid, &clamp(&grid, |n, _| n[0] == 0)),
            None
        );
        // Only x held on x = 0: free to slide along y and z.
        assert!(
            free_rigid_body_motions(&grid, &clamp(&grid, |n, a| n[0] == 0 && a == 0)).is_some()
        );
        // One node fully held: free to rotate about it.
        let one = free_rigid_body_motions(&grid, &clamp(&grid, |n, _| n == [0, 0, 0]));
        assert!(one.is_some_and(|m| m.starts_with("rotation")), "{one:?}");
        // MBB: symmetry on x = 0 and z = 0, roller line at the far bottom edge.
        let mbb = clamp(&grid, |n, a| {
            (n[0] == 0 && a == 0) || (n[2] == 0 && a == 2) || (n[0] == 4 && n[1] == 0 && a == 1)
        });
        assert_eq!(free_rigid_body_motions(&grid, &mbb), None);
    }
}
