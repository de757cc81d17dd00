//! The validated problem: everything the optimizer needs, in resolved units, nothing raw.
//!
//! Built once from a design file by [`crate::design::Design::to_problem`]; the numerical code
//! below this point never sees TOML or strings.

use crate::design::MeshFormat;
use crate::fem::SolverParams;
use crate::grid::Grid;
use crate::mesh::PartParams;

/// Linear elastic isotropic material.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Material {
    /// Young's modulus of the solid in MPa (N/mm²).
    pub youngs_modulus_mpa: f64,
    /// Poisson's ratio, in (−1, 0.5).
    pub poisson_ratio: f64,
    /// Mass density in g/cm³, when known (for the part's mass).
    pub density_g_cm3: Option<f64>,
}

/// One load case: a force on every DOF.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadCase {
    /// Name from the design file.
    pub name: String,
    /// Weight of this case's compliance in the objective.
    pub weight: f64,
    /// Nodal forces in newtons, one per DOF (zero on most).
    pub forces_n: Vec<f64>,
}

/// The design-variable update method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Optimality criteria with bisection on the volume multiplier (Sigmund 2001; top3d).
    Oc {
        /// Largest change of a design variable per iteration.
        move_limit: f64,
    },
}

/// Settings of the optimization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizationParams {
    /// Target mean physical density (the volume constraint), in (0, 1].
    pub volume_fraction: f64,
    /// SIMP penalization exponent p in `E = Emin + ρᵖ (E0 − Emin)`.
    pub penalization: f64,
    /// Density-filter radius in millimetres.
    pub filter_radius_mm: f64,
    /// Update method.
    pub optimizer: Optimizer,
    /// Most design iterations.
    pub max_iterations: usize,
    /// Stop when the largest design-variable change of an iteration is at most this.
    pub change_tolerance: f64,
    /// `Emin / E0`, the stiffness of void (1e-9 as in top88/top3d).
    pub min_stiffness_ratio: f64,
}

/// A validated topology-optimization problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    /// Design name (used for the default output folder).
    pub name: String,
    /// The voxel grid.
    pub grid: Grid,
    /// The material.
    pub material: Material,
    /// One flag per DOF: `true` where the displacement is held at zero.
    pub fixed_dofs: Vec<bool>,
    /// The load cases (at least one).
    pub load_cases: Vec<LoadCase>,
    /// Optimization settings.
    pub optimization: OptimizationParams,
    /// Linear-solver settings.
    pub solver: SolverParams,
    /// Part export settings.
    pub part: PartParams,
    /// Mesh files to write (at least one).
    pub formats: Vec<MeshFormat>,
}

impl Problem {
    /// Young's modulus of void, `Emin = ratio · E0`, in MPa.
    pub fn min_youngs_modulus_mpa(&self) -> f64 {
        self.optimization.min_stiffness_ratio * self.material.youngs_modulus_mpa
    }

    /// Positions (mm) of the nodes that are supported or loaded: a part's material must connect
    /// to them, anything else is a floating island.
    pub fn anchor_positions_mm(&self) -> Vec<[f64; 3]> {
        (0..self.grid.node_count())
            .filter(|&n| {
                (0..3).any(|a| {
                    let dof = 3 * n + a;
                    self.fixed_dofs[dof] || self.load_cases.iter().any(|c| c.forces_n[dof] != 0.0)
                })
            })
            .map(|n| self.grid.node_position_mm(n))
            .collect()
    }

    /// Mass in grams of a physical density field, when the material density is known.
    pub fn mass_g(&self, density: &[f64]) -> Option<f64> {
        let volume_mm3 = crate::reduce::sum(density) * self.grid.element_volume_mm3();
        // 1 cm³ = 1000 mm³.
        self.material
            .density_g_cm3
            .map(|rho| rho * volume_mm3 / 1000.0)
    }
}
