//! `result.json`: the inputs echoed back, the history, the final metrics, timings and solver
//! statistics of one run.

use serde::Serialize;

use crate::analysis::{DesignAnalysis, LoadCaseAnalysis};
use crate::design::Design;
use crate::mesh::{MeshReport, Part};
use crate::optimize::design_space::DesignSpace;
use crate::optimize::{IterationRecord, SolverStats, TerminationReason, Timings};
use crate::problem::{Material, Problem, RegionReport};

/// Densities strictly inside this band count as grey (neither material nor void).
pub const GREY_BAND: (f64, f64) = (0.1, 0.9);

/// The share of `density` strictly inside [`GREY_BAND`] (0 for no elements).
pub fn grey_share(density: &[f64]) -> f64 {
    let grey = density
        .iter()
        .filter(|&&d| d > GREY_BAND.0 && d < GREY_BAND.1)
        .count();
    grey as f64 / density.len().max(1) as f64
}

/// One load case of the final design: its weight, compliance, displacement and stress.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LoadCaseResult {
    /// Its weight in the objective.
    pub weight: f64,
    /// Compliance, displacement, stress and safety factor.
    #[serde(flatten)]
    pub analysis: LoadCaseAnalysis,
}

/// What a design achieves: compliance, mass, displacement, stress (the common part of
/// `result.json` and `analysis.json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Performance {
    /// Weighted compliance (the objective of `min_compliance`), `Σ weight · compliance` over the
    /// load cases, N·mm.
    pub compliance_nmm: f64,
    /// Per load case.
    pub load_cases: Vec<LoadCaseResult>,
    /// Mean physical density over the free elements.
    pub volume_fraction: f64,
    /// Share of all elements with a physical density strictly between
    /// [`GREY_BAND`]`.0` and `.1`: how much of the part depends on where the surface's
    /// threshold is drawn (0 for a black-and-white design).
    pub grey_share: f64,
    /// Mass in grams, keep-solid regions included (when the material density is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mass_g: Option<f64>,
    /// Largest displacement over the load cases, mm.
    pub max_displacement_mm: f64,
    /// Smallest safety factor over the load cases (when the yield strength is known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub safety_factor: Option<f64>,
    /// The material as used.
    pub material: Material,
}

impl Performance {
    /// The performance of the physical `density` of `problem`, with `compliance_nmm` per load
    /// case and their `analysis`.
    pub fn new(
        problem: &Problem,
        density: &[f64],
        compliance_nmm: &[f64],
        analysis: &DesignAnalysis,
    ) -> Self {
        let space = DesignSpace::new(problem);
        Self {
            compliance_nmm: problem
                .load_cases
                .iter()
                .zip(compliance_nmm)
                .map(|(case, c)| case.weight * c)
                .sum(),
            load_cases: problem
                .load_cases
                .iter()
                .zip(&analysis.load_cases)
                .map(|(case, a)| LoadCaseResult {
                    weight: case.weight,
                    analysis: a.clone(),
                })
                .collect(),
            volume_fraction: space.design_volume(density) / space.design_count() as f64,
            grey_share: grey_share(density),
            mass_g: problem.mass_g(density),
            max_displacement_mm: analysis.max_displacement_mm(),
            safety_factor: analysis.safety_factor(),
            material: problem.material.clone(),
        }
    }
}

/// How the elements were used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ElementCounts {
    /// Free for the optimizer.
    pub design: usize,
    /// Held solid by `keep_solid`.
    pub keep_solid: usize,
    /// Held empty by `keep_empty`.
    pub keep_empty: usize,
}

/// The content of `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    /// Layout version of the file ([`crate::output::SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Version of formwerk that produced the file.
    pub formwerk_version: String,
    /// The design as used, with every default filled in.
    pub design: Design,
    /// Elements along x, y, z.
    pub elements: [usize; 3],
    /// Degrees of freedom (3 per node, supports included).
    pub dofs: usize,
    /// Design iterations run.
    pub iterations: usize,
    /// Whether the design-change tolerance was met.
    pub converged: bool,
    /// Why the run stopped.
    pub termination: TerminationReason,
    /// Compliance, mass, displacement and safety factor of the final design: the grey density
    /// the optimizer ended with.
    #[serde(flatten)]
    pub performance: Performance,
    /// Compliance, displacement, stress and safety factor of the exported part: the elements at
    /// or above the part's iso-density solid, the others void, solved again.
    pub part_analysis: crate::analysis::PartAnalysis,
    /// Free, kept-solid and kept-empty elements.
    pub element_counts: ElementCounts,
    /// What each region of the design selected.
    pub regions: Vec<RegionReport>,
    /// Per-iteration history.
    pub history: Vec<IterationRecord>,
    /// Time per stage of the loop.
    pub timings: Timings,
    /// Wall-clock seconds after the last iteration until the part files and the preview are
    /// written: analyses, density field, plot, the part with its checks, printability. The
    /// report page and the slicer's verdict come after it.
    pub after_loop_s: f64,
    /// Linear-solver statistics.
    pub solver: SolverStats,
    /// The exported part: how it was made and its inspection.
    pub mesh: MeshSummary,
    /// Overhang and wall thickness of the exported part for the build direction, when
    /// `[manufacturing] build_direction` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub printability: Option<crate::mesh::printability::PrintabilityReport>,
    /// The minimum member size asked for and the thinnest wall of the exported part, when
    /// `[manufacturing] min_member_mm` is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member_size: Option<MemberSize>,
    /// The printer profile of the design's `[printer]` table, as used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub printer: Option<crate::printer::PrinterProfile>,
    /// What PrusaSlicer says about the exported part (support and part filament, print time),
    /// when a slicer judged it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub slicer: Option<crate::slicer::SlicerReport>,
    /// Things the user should know (e.g. solves that missed their tolerance).
    pub warnings: Vec<String>,
}

/// The minimum member size of a run and what the exported part has.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct MemberSize {
    /// `[manufacturing] min_member_mm`.
    pub min_member_mm: f64,
    /// The density-filter radius it set (`min_member_mm / 0.88`).
    pub filter_radius_mm: f64,
    /// Thinnest wall of the exported part (the printability report's estimate, within about a
    /// voxel of the thickness grid).
    pub min_wall_thickness_mm: f64,
    /// Edge of the voxels the thickness was measured on.
    pub thickness_voxel_mm: f64,
}

/// How the part was made from the density field, and its inspection.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeshSummary {
    /// Iso-density of the surface.
    pub threshold: f64,
    /// Material volume of the density field `Σ ρₑ h³`, mm³.
    pub density_volume_mm3: f64,
    /// `(mesh volume − density volume) / density volume`.
    pub volume_difference: f64,
    /// Floating shells dropped (connected to no support or load).
    pub dropped_islands: usize,
    /// Their volume, mm³.
    pub dropped_volume_mm3: f64,
    /// Taubin smoothing iterations applied.
    pub smoothing_iterations: usize,
    /// Seconds to make and check the mesh.
    pub seconds: f64,
    /// Triangles before simplification (`output.max_triangles`).
    pub triangles_before_simplification: usize,
    /// The overhang correction along the build direction, when `[manufacturing]` sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overhang_correction: Option<crate::mesh::steepen::SteepenReport>,
    /// What was done to keep the surface from passing through itself.
    pub folds: crate::mesh::part::FoldRepair,
    /// The exact keep-solid and keep-empty shapes joined to the part, when the design has any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_shapes: Option<crate::mesh::kept::KeptReport>,
    /// The inspection of the exported mesh (the same as `formwerk inspect`).
    pub inspection: MeshReport,
}

impl MeshSummary {
    /// The summary of `part`, smoothed with `smoothing_iterations`, made in `seconds`.
    pub fn new(part: &Part, smoothing_iterations: usize, seconds: f64) -> Self {
        Self {
            threshold: part.threshold,
            density_volume_mm3: part.density_volume_mm3,
            volume_difference: part.volume_difference(),
            dropped_islands: part.dropped_islands,
            dropped_volume_mm3: part.dropped_volume_mm3,
            smoothing_iterations,
            seconds,
            triangles_before_simplification: part.triangles_before_simplification,
            overhang_correction: part.overhang_correction,
            folds: part.folds,
            kept_shapes: part.kept_shapes.clone().and_then(Result::ok),
            inspection: part.report.clone(),
        }
    }
}
