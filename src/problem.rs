//! The validated problem: everything the optimizer needs, in resolved units, nothing raw.
//!
//! Built once from a design file by [`crate::design::Design::to_problem`]; the numerical code
//! below this point never sees TOML or strings.

use crate::design::MeshFormat;
use crate::fem::SolverParams;
use crate::grid::Grid;
use crate::mesh::{KeptGeometry, PartParams};

/// Linear elastic isotropic material.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Material {
    /// Library name, or the name given in the design file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Young's modulus of the solid in MPa (N/mm²).
    pub youngs_modulus_mpa: f64,
    /// Poisson's ratio, in (−1, 0.5).
    pub poisson_ratio: f64,
    /// Mass density in g/cm³, when known (for the part's mass).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub density_g_cm3: Option<f64>,
    /// Yield strength in MPa, when known (for the safety factor).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub yield_strength_mpa: Option<f64>,
}

/// One load case: fixed nodal forces plus, optionally, the part's own weight.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadCase {
    /// Name from the design file.
    pub name: String,
    /// Weight of this case's compliance in the objective.
    pub weight: f64,
    /// Design-independent nodal forces in newtons, one per DOF (zero on most).
    pub forces_n: Vec<f64>,
    /// Weight in newtons of one fully solid element, [x, y, z], when the case includes
    /// gravity: element e adds `ρ̃ₑ · self_weight_n / 8` to each of its nodes.
    pub self_weight_n: Option<[f64; 3]>,
    /// Largest compliance allowed (N·mm), for `min_mass`.
    pub max_compliance_nmm: Option<f64>,
    /// Largest displacement allowed (mm), for `min_mass`.
    pub max_displacement_mm: Option<f64>,
    /// Largest von Mises stress allowed (MPa), for `min_mass`: the yield strength over the
    /// case's `min_safety_factor`.
    pub max_von_mises_mpa: Option<f64>,
}

/// What each element is: free for the optimizer, or held solid or empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementRole {
    /// A design variable.
    Design,
    /// Kept solid (physical density 1).
    Solid,
    /// Kept empty (physical density 0).
    Empty,
}

/// What the optimization minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// Weighted compliance at a volume fraction of the design elements.
    MinCompliance,
    /// Mass, with the load cases' compliance, displacement and stress limits as constraints.
    MinMass,
    /// The largest von Mises stress over the load cases at a volume fraction of the design
    /// elements.
    MinStress,
}

/// Additive-manufacturing constraints of a problem.
#[derive(Debug, Clone, PartialEq)]
pub struct Manufacturing {
    /// Build direction of overhang control (Langelaar's AM filter), if any.
    pub build_direction: Option<crate::printer::BuildDirection>,
    /// Flattest overhang the printer builds unsupported, degrees from the build plane (what the
    /// printability report counts against).
    pub overhang_angle_deg: f64,
    /// Layers per one-element lateral step the AM filter allows: 1 (45°) or 2 (63.4°).
    pub layers_per_step: usize,
    /// Minimum member size (and gap) in mm, imposed by the robust projection; it sets the
    /// filter radius ([`crate::filters::projection`]).
    pub min_member_mm: Option<f64>,
    /// The printer profile of a `[printer]` table: the slicer's settings and the direction the
    /// part is judged in even without overhang control.
    pub printer: Option<crate::printer::PrinterProfile>,
}

impl Manufacturing {
    /// The direction the part is printed in: the overhang control's, else the printer's.
    pub fn print_direction(&self) -> Option<crate::printer::BuildDirection> {
        self.build_direction
            .or(self.printer.as_ref().map(|p| p.build_direction))
    }
}

/// How many nodes and elements a region of the design file selected.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RegionReport {
    /// Key path in the design file, e.g. `keep_empty[0].region`.
    pub key: String,
    /// What the region is, e.g. `cylinder r=4 mm, length 10 mm`.
    pub description: String,
    /// Nodes selected (for supports and loads).
    pub nodes: usize,
    /// Elements selected (for keep regions).
    pub elements: usize,
}

/// The design-variable update method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Optimizer {
    /// Optimality criteria with bisection on the volume multiplier (Sigmund 2001; top3d).
    Oc {
        /// Largest change of a design variable per iteration.
        move_limit: f64,
    },
    /// Method of moving asymptotes (Svanberg 1987, 2007).
    Mma {
        /// Largest change of a design variable per iteration.
        move_limit: f64,
    },
}

/// Settings of the optimization.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimizationParams {
    /// What is minimized.
    pub objective: Objective,
    /// Target mean physical density of the design elements (the volume constraint), in (0, 1];
    /// the starting density for `MinMass`.
    pub volume_fraction: f64,
    /// Mirror symmetry of the design about the mid-plane normal to x, y, z.
    pub symmetry: [bool; 3],
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
    /// The role of each element (design, keep-solid, keep-empty).
    pub element_roles: Vec<ElementRole>,
    /// The load cases (at least one).
    pub load_cases: Vec<LoadCase>,
    /// Optimization settings.
    pub optimization: OptimizationParams,
    /// Linear-solver settings.
    pub solver: SolverParams,
    /// Part export settings.
    pub part: PartParams,
    /// The kept regions in their exact form, joined to the exported part.
    pub kept_geometry: KeptGeometry,
    /// Mesh files to write (at least one).
    pub formats: Vec<MeshFormat>,
    /// How field files store their arrays.
    pub vti_encoding: crate::output::vtk::VtiEncoding,
    /// Additive-manufacturing constraints.
    pub manufacturing: Manufacturing,
    /// What each region of the design file selected, in file order.
    pub regions: Vec<RegionReport>,
    /// Things about the design the user should know (e.g. a region selecting half the domain).
    pub warnings: Vec<String>,
}

impl Problem {
    /// Whether the stress of `case` enters the optimization: it has a `min_safety_factor`, or
    /// the objective is the stress itself.
    pub fn stress_counts(&self, case: &LoadCase) -> bool {
        case.max_von_mises_mpa.is_some() || self.optimization.objective == Objective::MinStress
    }

    /// Per element, whether it touches a supported node or a node loaded in `case`. A force or
    /// support on single nodes is a point load on the continuum, where the exact stress is
    /// unbounded and the elements around grow more stressed as the mesh is refined; their stress
    /// says nothing about the part, so reported maxima and the stress constraint leave them out.
    pub fn elements_at_loads_and_supports(&self, case: &LoadCase) -> Vec<bool> {
        elements_at_loads_and_supports(&self.grid, &self.fixed_dofs, case)
    }

    /// Young's modulus of void, `Emin = ratio · E0`, in MPa.
    pub fn min_youngs_modulus_mpa(&self) -> f64 {
        self.optimization.min_stiffness_ratio * self.material.youngs_modulus_mpa
    }

    /// Positions (mm) of the nodes that are supported or loaded: a part's material must connect
    /// to them, anything else is a floating island.
    pub fn anchor_positions_mm(&self) -> Vec<[f64; 3]> {
        let anchors = self.anchor_nodes();
        (0..self.grid.node_count())
            .filter(|&n| anchors[n])
            .map(|n| self.grid.node_position_mm(n))
            .collect()
    }

    /// Per node: whether it is supported or loaded (see [`Self::anchor_positions_mm`]).
    pub fn anchor_nodes(&self) -> Vec<bool> {
        (0..self.grid.node_count())
            .map(|n| {
                (0..3).any(|a| {
                    let dof = 3 * n + a;
                    self.fixed_dofs[dof] || self.load_cases.iter().any(|c| c.forces_n[dof] != 0.0)
                })
            })
            .collect()
    }

    /// Positions (mm) that keep a piece of the exported part: the supported and loaded nodes, and
    /// the centres of the kept-solid elements, which belong to the part even where nothing
    /// connects them to the rest.
    pub fn part_anchor_positions_mm(&self) -> Vec<[f64; 3]> {
        let mut anchors = self.anchor_positions_mm();
        anchors.extend(
            (0..self.grid.element_count())
                .filter(|&e| self.element_roles[e] == ElementRole::Solid)
                .map(|e| self.grid.element_center_mm(e)),
        );
        anchors
    }

    /// Number of design elements (neither kept solid nor kept empty).
    pub fn design_element_count(&self) -> usize {
        self.element_roles
            .iter()
            .filter(|&&r| r == ElementRole::Design)
            .count()
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

/// [`Problem::elements_at_loads_and_supports`] for a grid, its fixed DOFs and a load case.
pub fn elements_at_loads_and_supports(
    grid: &Grid,
    fixed_dofs: &[bool],
    case: &LoadCase,
) -> Vec<bool> {
    let flagged: Vec<bool> = (0..grid.node_count())
        .map(|n| (0..3).any(|a| fixed_dofs[3 * n + a] || case.forces_n[3 * n + a] != 0.0))
        .collect();
    grid.elements_touching(&flagged)
}
