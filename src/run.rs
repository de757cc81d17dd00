//! One design run end to end: design → problem → optimization → files in the output folder.
//!
//! Every file is written under a temporary name and renamed when complete, so a folder never
//! holds a half-written result. The density field and `result.json` are written before the
//! mesh, so they survive a mesh that fails its checks.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::analysis::{DesignAnalysis, PartAnalysis, analyse_design, analyse_part};
use crate::design::{Design, DesignError, MeshFormat};
use crate::mesh::layers::layer_support;
use crate::mesh::printability::{self, DEFAULT_OVERHANG_ANGLE_DEG};
use crate::mesh::three_mf::write_3mf;
use crate::mesh::{MeshReport, make_part, stl::write_binary_stl};
use crate::optimize::{Observer, OptimizeError, Outcome, TerminationReason, optimize_from};
use crate::output::atomic::write_atomically;
use crate::output::plot::write_convergence_svg;
use crate::output::preview::{PreviewParams, write_preview_png};
use crate::output::result::{ElementCounts, MemberSize, MeshSummary, Performance, RunResult};
use crate::output::vtk::{Field, write_vti_fields};
use crate::printer::BuildDirection;
use crate::printer::PrinterProfile;
use crate::problem::{ElementRole, Problem};
use crate::resume::{
    CHECKPOINT_FILE, CheckpointInterval, Checkpointing, FolderLock, Resume, ResumeError,
    load_checkpoint, remove_checkpoint,
};
use crate::slicer::{Slicer, SlicerReport};

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The design file is unusable (the user's input).
    #[error(transparent)]
    Design(#[from] DesignError),
    /// The optimization failed.
    #[error("optimization failed: {0}")]
    Optimize(#[from] OptimizeError),
    /// An output could not be written.
    #[error("{}: cannot write: {source}", path.display())]
    Output {
        /// The file or folder.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A density file given for re-analysis is unusable (the user's input).
    #[error("{}: {message}", path.display())]
    Density {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A linear solve of the analysis failed.
    #[error("analysis failed: {0}")]
    Analysis(#[from] crate::fem::SolveError),
    /// The exported surface failed its checks (the density field was still written).
    #[error(
        "the part's surface failed its checks ({} boundary, {} non-manifold, {} inconsistent edges, {} degenerate triangles); density.vti and result.json were written, the mesh was not",
        report.boundary_edges, report.non_manifold_edges, report.inconsistent_edges, report.degenerate_triangles
    )]
    Mesh {
        /// The failed inspection.
        report: Box<MeshReport>,
    },
    /// The run cannot go on from its checkpoint, or its folder is taken by another run.
    #[error(transparent)]
    Resume(#[from] ResumeError),
    /// The exported surface passes through itself, so it bounds no solid.
    #[error(
        "the part's surface passes through itself ({} intersecting triangle pairs, the first near {}); density.vti and result.json were written, the mesh was not. Fewer smoothing iterations (`output.smoothing_iterations`), a larger `output.max_triangles` or a finer grid usually avoid it",
        report.self_intersections, first_location_mm(report)
    )]
    SelfIntersecting {
        /// The failed inspection.
        report: Box<MeshReport>,
    },
}

/// `(x, y, z) mm` of the first self-intersection a report locates.
fn first_location_mm(report: &MeshReport) -> String {
    report
        .self_intersection_locations_mm
        .first()
        .map_or("an unknown place".to_string(), |p| {
            format!("({:.2}, {:.2}, {:.2}) mm", p[0], p[1], p[2])
        })
}

impl RunError {
    /// Whether the error is the user's input (exit code 1) rather than an internal failure (2).
    pub fn is_input_error(&self) -> bool {
        matches!(
            self,
            Self::Design(_)
                | Self::Density { .. }
                | Self::Resume(
                    ResumeError::Changed { .. }
                        | ResumeError::Busy { .. }
                        | ResumeError::Unreadable { .. }
                )
        )
    }
}

/// What a finished run produced.
#[derive(Debug)]
pub struct RunReport {
    /// The optimization outcome.
    pub outcome: Outcome,
    /// The folder holding the files.
    pub out_dir: PathBuf,
    /// The surface mesh's inspection.
    pub mesh: MeshReport,
    /// Displacement, stress and safety factor of each load case of the optimized density.
    pub analysis: DesignAnalysis,
    /// The same of the exported part ([`PartAnalysis`]).
    pub part_analysis: PartAnalysis,
    /// What the slicer said about the part, when one judged it.
    pub slicer: Option<SlicerReport>,
    /// Warnings also recorded in `result.json`.
    pub warnings: Vec<String>,
    /// The iterations done before this run went on from a checkpoint, if it did.
    pub resumed_after: Option<usize>,
}

/// A part whose thinnest wall is below this share of `min_member_mm` gets a warning; the
/// thickness estimate is good to about a voxel, and a projection at finite β rounds corners.
const MEMBER_SIZE_WARNING: f64 = 0.8;

/// Reads, validates and builds the problem for a design file.
pub fn load_problem(path: &Path) -> Result<(Design, Problem), DesignError> {
    let design = Design::load(path)?;
    let problem = design.to_problem(path)?;
    Ok((design, problem))
}

/// Choices of a run beyond the design file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The slicer that judges the exported part (its figures go into `result.json`'s
    /// `slicer` section); `None`: no slicing.
    pub slicer: Option<Slicer>,
    /// How often the loop's state is kept in the folder's `checkpoint.bin`.
    pub checkpoint: CheckpointInterval,
    /// Whether to go on from that checkpoint.
    pub resume: Resume,
}

/// Optimizes `problem` (from `design`) and writes `density.vti`, `convergence.svg`,
/// `result.json` and the part (`part.stl` and/or `part.3mf`) into `out_dir`.
pub fn run_problem(
    design: &Design,
    problem: &Problem,
    out_dir: &Path,
    observer: &mut dyn Observer,
) -> Result<RunReport, RunError> {
    run_problem_with(design, problem, out_dir, observer, &RunOptions::default())
}

/// The printer profile the part is sliced with: the design's `[printer]`, else the generic
/// one along the build direction of `[manufacturing]` (+z without one) at its overhang angle.
pub fn slicing_profile(problem: &Problem) -> PrinterProfile {
    let m = &problem.manufacturing;
    m.printer.clone().unwrap_or_else(|| PrinterProfile {
        preset: None,
        build_direction: m.print_direction().unwrap_or(BuildDirection::PlusZ),
        overhang_angle_deg: m.overhang_angle_deg,
        overhang_control: m.build_direction.is_some(),
        ..PrinterProfile::generic()
    })
}

/// [`run_problem`] with `options`: the folder is locked against other runs; the loop keeps its
/// state in `checkpoint.bin` and goes on from it as `options` ask ([`crate::resume`]); after the
/// part is written, the slicer (if any) judges it and `result.json` is written again with its
/// figures (a slicer that fails leaves a warning there and every other output as it was). The
/// checkpoint is removed once the outputs are written, or their making failed.
pub fn run_problem_with(
    design: &Design,
    problem: &Problem,
    out_dir: &Path,
    observer: &mut dyn Observer,
    options: &RunOptions,
) -> Result<RunReport, RunError> {
    std::fs::create_dir_all(out_dir).map_err(output_error(out_dir))?;
    let _lock = FolderLock::take(out_dir)?;
    let start = match options.resume {
        Resume::No => {
            remove_checkpoint(out_dir).map_err(output_error(&out_dir.join(CHECKPOINT_FILE)))?;
            None
        }
        Resume::Yes { force } => load_checkpoint(out_dir, design, force)?,
        Resume::IfUnchanged => match load_checkpoint(out_dir, design, false) {
            Ok(state) => state,
            Err(ResumeError::Changed { .. } | ResumeError::Unreadable { .. }) => None,
            Err(e) => return Err(e.into()),
        },
    };
    let resumed_after = start.as_ref().map(|s| s.header.iterations_done);
    let mut checkpointing = Checkpointing {
        inner: observer,
        path: out_dir.join(CHECKPOINT_FILE),
        design,
        identity: None,
        interval: options.checkpoint,
        last: std::time::Instant::now(),
    };
    let outcome = optimize_from(problem, &mut checkpointing, start)?;
    let report = write_outputs(design, problem, out_dir, outcome, options);
    remove_checkpoint(out_dir).map_err(output_error(&out_dir.join(CHECKPOINT_FILE)))?;
    report.map(|report| RunReport {
        resumed_after,
        ..report
    })
}

/// Everything after the loop: analysis, density field, convergence plot, `result.json`, the
/// part and its checks, the preview and the slicer's verdict.
fn write_outputs(
    design: &Design,
    problem: &Problem,
    out_dir: &Path,
    outcome: Outcome,
    options: &RunOptions,
) -> Result<RunReport, RunError> {
    let after_loop = std::time::Instant::now();
    let grid = problem.grid;
    let analysis = analyse_design(
        problem,
        &outcome.density,
        &outcome.displacements,
        &outcome.load_case_compliance_nmm,
    );

    let vti = out_dir.join("density.vti");
    write_analysis_vti(
        &vti,
        problem,
        &outcome.density,
        &outcome.displacements,
        &analysis,
    )
    .map_err(output_error(&vti))?;
    let svg = out_dir.join("convergence.svg");
    let iterations: Vec<usize> = outcome.history.iter().map(|r| r.iter).collect();
    let compliance: Vec<f64> = outcome.history.iter().map(|r| r.compliance_nmm).collect();
    let volume: Vec<f64> = outcome.history.iter().map(|r| r.volume_fraction).collect();
    write_convergence_svg(&svg, &iterations, &compliance, &volume).map_err(output_error(&svg))?;

    let clock = std::time::Instant::now();
    let part = make_part(
        &outcome.density,
        &grid,
        &problem.part_anchor_positions_mm(),
        &problem.part,
        &problem.kept_geometry,
    );
    let mesh_seconds = clock.elapsed().as_secs_f64();
    let part_analysis = analyse_part(
        problem,
        &outcome.density,
        part.threshold,
        matches!(part.kept_shapes, Some(Ok(_))),
    )?;
    // The report needs a closed mesh; a mesh that failed its checks is reported below instead.
    let printability = match problem.manufacturing.print_direction() {
        Some(direction) if part.report.is_watertight() => printability::printability(
            &part.mesh,
            direction.vector(),
            problem.manufacturing.overhang_angle_deg,
        )
        .ok()
        .map(|mut report| {
            let profile = slicing_profile(problem);
            report.layers = layer_support(
                &part.mesh,
                direction,
                profile.overhang_angle_deg,
                profile.layer_height_mm,
                profile.nozzle_mm,
            )
            .ok();
            report
        }),
        _ => None,
    };
    let member_size = problem
        .manufacturing
        .min_member_mm
        .and_then(|min_member_mm| {
            // The thickness does not depend on the build direction; without one, any will do.
            let report = match &printability {
                Some(report) => Some(report.clone()),
                None if part.report.is_watertight() => printability::printability(
                    &part.mesh,
                    [0.0, 0.0, 1.0],
                    DEFAULT_OVERHANG_ANGLE_DEG,
                )
                .ok(),
                None => None,
            }?;
            Some(MemberSize {
                min_member_mm,
                filter_radius_mm: problem.optimization.filter_radius_mm,
                min_wall_thickness_mm: report.min_wall_thickness_mm,
                thickness_voxel_mm: report.thickness_voxel_mm,
            })
        });
    let mut warnings = warnings(
        problem,
        &outcome,
        &analysis,
        part.dropped_islands,
        part.dropped_volume_mm3,
    );
    warnings.extend(safety_factor_warnings(problem, &part_analysis));
    match (&part.kept_shapes, problem.part.max_triangles) {
        (Some(Err(error)), _) => warnings.push(format!(
            "{error}; the part is exported with its kept regions as voxels"
        )),
        (Some(Ok(_)), Some(budget)) if part.report.triangles > budget => warnings.push(format!(
            "the exact kept shapes bring the part to {} triangles, above output.max_triangles = {budget} (which the organic surface meets); a larger output.chordal_tolerance_mm gives them fewer",
            part.report.triangles
        )),
        _ => {}
    }
    let pieces = part.report.shells.len();
    if pieces > 1 {
        warnings.push(format!(
            "the part is {pieces} separate pieces: material kept solid or near a support or load that nothing connects"
        ));
    }
    if let Some(size) = member_size
        && size.min_wall_thickness_mm < MEMBER_SIZE_WARNING * size.min_member_mm
    {
        warnings.push(format!(
            "the thinnest wall of the part, {:.2} mm (± {:.2} mm), is below {MEMBER_SIZE_WARNING} × min_member_mm = {:.2} mm",
            size.min_wall_thickness_mm,
            size.thickness_voxel_mm,
            MEMBER_SIZE_WARNING * size.min_member_mm
        ));
    }
    let mut result = RunResult {
        schema_version: crate::output::SCHEMA_VERSION,
        formwerk_version: env!("CARGO_PKG_VERSION").to_string(),
        design: design.clone(),
        elements: grid.elements,
        dofs: grid.dof_count(),
        iterations: outcome.iterations,
        converged: outcome.termination == TerminationReason::Converged,
        termination: outcome.termination,
        performance: Performance::new(
            problem,
            &outcome.density,
            &outcome.load_case_compliance_nmm,
            &analysis,
        ),
        element_counts: element_counts(problem),
        regions: problem.regions.clone(),
        history: outcome.history.clone(),
        timings: outcome.timings,
        after_loop_s: after_loop.elapsed().as_secs_f64(),
        solver: outcome.solver.clone(),
        part_analysis: part_analysis.clone(),
        mesh: MeshSummary::new(&part, problem.part.smoothing_iterations, mesh_seconds),
        printability,
        member_size,
        printer: problem.manufacturing.printer.clone(),
        slicer: None,
        warnings: warnings.clone(),
    };
    write_result(out_dir, &result)?;

    if !part.report.is_watertight() {
        return Err(RunError::Mesh {
            report: Box::new(part.report),
        });
    }
    if !part.report.is_solid() {
        return Err(RunError::SelfIntersecting {
            report: Box::new(part.report),
        });
    }
    for format in &problem.formats {
        let path = out_dir.join(match format {
            MeshFormat::Stl => "part.stl",
            MeshFormat::ThreeMf => "part.3mf",
        });
        let write = |w: &mut BufWriter<File>| match format {
            MeshFormat::Stl => write_binary_stl(&part.mesh, w),
            MeshFormat::ThreeMf => write_3mf(&part.mesh, w),
        };
        write_atomically(&path, write).map_err(output_error(&path))?;
    }
    let preview = out_dir.join("preview.png");
    write_atomically(&preview, |w| {
        write_preview_png(&part.mesh, &PreviewParams::default(), w)
    })
    .map_err(output_error(&preview))?;
    result.after_loop_s = after_loop.elapsed().as_secs_f64();
    write_result(out_dir, &result)?;

    if let Some(slicer) = &options.slicer {
        let profile = slicing_profile(problem);
        match slicer.judge(
            &part.mesh,
            &profile,
            problem.material.density_g_cm3,
            out_dir,
        ) {
            Ok(report) => result.slicer = Some(report),
            Err(e) => {
                warnings.push(format!(
                    "the slicer gave no verdict: {e}; the other outputs are complete"
                ));
                result.warnings = warnings.clone();
            }
        }
        write_result(out_dir, &result)?;
    }
    write_report(out_dir, design, problem, &part.mesh, &analysis, &result)?;

    Ok(RunReport {
        outcome,
        out_dir: out_dir.to_path_buf(),
        mesh: part.report,
        analysis,
        part_analysis,
        slicer: result.slicer,
        warnings,
        resumed_after: None,
    })
}

/// A warning for each load case whose exported part misses its `min_safety_factor` by more than
/// 1 % (MMA approaches its constraints from either side within that): the limit could not be
/// met, and the run says what was reached instead of passing silently.
fn safety_factor_warnings(problem: &Problem, part: &PartAnalysis) -> Vec<String> {
    let yield_mpa = problem.material.yield_strength_mpa;
    problem
        .load_cases
        .iter()
        .zip(&part.load_cases)
        .filter_map(|(case, analysed)| {
            let asked = yield_mpa? / case.max_von_mises_mpa?;
            let reached = analysed.safety_factor.unwrap_or(f64::INFINITY);
            (reached < 0.99 * asked).then(|| {
                format!(
                    "load case {:?}: the exported part reaches a safety factor of {reached:.3}, below the min_safety_factor of {asked} asked (largest von Mises {:.2} MPa at {:?} mm)",
                    case.name, analysed.max_von_mises_mpa, analysed.max_von_mises_at_mm
                )
            })
        })
        .collect()
}

/// Writes `report.html` ([`crate::output::report`]) from the outputs already written.
fn write_report(
    out_dir: &Path,
    design: &Design,
    problem: &Problem,
    mesh: &crate::mesh::TriangleMesh,
    analysis: &DesignAnalysis,
    result: &RunResult,
) -> Result<(), RunError> {
    let path = out_dir.join("report.html");
    let svg_path = out_dir.join("convergence.svg");
    let convergence_svg = std::fs::read_to_string(&svg_path).map_err(output_error(&svg_path))?;
    let mut stl = Vec::new();
    write_binary_stl(mesh, &mut stl).map_err(output_error(&path))?;
    let facet_stress_mpa = facet_stress_mpa(problem, mesh, analysis);
    let facet_overhang = problem
        .manufacturing
        .print_direction()
        .and_then(|direction| {
            printability::overhang_facets(
                mesh,
                direction.vector(),
                slicing_profile(problem).overhang_angle_deg,
            )
            .ok()
        });
    let result = serde_json::to_value(result).map_err(|e| output_error(&path)(e.into()))?;
    let html = crate::output::report::run_page(&crate::output::report::RunPage {
        result: &result,
        design_toml: &toml::to_string(design).unwrap_or_default(),
        convergence_svg: &convergence_svg,
        stl: &stl,
        facet_stress_mpa: &facet_stress_mpa,
        facet_overhang: facet_overhang.as_deref(),
    });
    write_atomically(&path, |w| std::io::Write::write_all(w, html.as_bytes()))
        .map_err(output_error(&path))
}

/// Per facet of `mesh`, the von Mises stress (largest over the load cases, MPa) of the element
/// half an element inside the surface from the facet's centre: the material the facet bounds.
fn facet_stress_mpa(
    problem: &Problem,
    mesh: &crate::mesh::TriangleMesh,
    analysis: &DesignAnalysis,
) -> Vec<f32> {
    let grid = problem.grid;
    let h = grid.element_size_mm;
    mesh.triangles
        .iter()
        .map(|t| {
            let [a, b, c] = t.map(|v| mesh.vertices[v as usize]);
            let normal = crate::mesh::cross(crate::mesh::sub(b, a), crate::mesh::sub(c, a));
            let length = crate::mesh::dot(normal, normal)
                .sqrt()
                .max(f64::MIN_POSITIVE);
            let inside: [usize; 3] = std::array::from_fn(|k| {
                let x = (a[k] + b[k] + c[k]) / 3.0 - 0.5 * h * normal[k] / length;
                ((x / h).floor().max(0.0) as usize).min(grid.elements[k] - 1)
            });
            let e = grid.element_index(inside);
            analysis
                .von_mises_mpa
                .iter()
                .map(|case| case[e])
                .fold(0.0, f64::max) as f32
        })
        .collect()
}

fn write_result(out_dir: &Path, result: &RunResult) -> Result<(), RunError> {
    let json = out_dir.join("result.json");
    write_atomically(&json, |w| {
        serde_json::to_writer_pretty(&mut *w, result)?;
        std::io::Write::write_all(w, b"\n")
    })
    .map_err(output_error(&json))
}

/// The content of `analysis.json`, written by `formwerk analyze`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct AnalysisResult {
    /// Layout version of the file ([`crate::output::SCHEMA_VERSION`]).
    pub schema_version: u32,
    /// Version of formwerk that produced the file.
    pub formwerk_version: String,
    /// The design file analysed.
    pub design_file: PathBuf,
    /// The density field analysed.
    pub density_file: PathBuf,
    /// Compliance, mass, displacement and safety factor of the density.
    #[serde(flatten)]
    pub performance: Performance,
    /// The same of the part the density exports, drawn at the iso-density `formwerk run` would
    /// use ([`crate::mesh::part::part_threshold`]).
    pub part_analysis: PartAnalysis,
}

/// Re-analyses the density field in `density_path` (a `density.vti` of an earlier run) under
/// the load cases of `problem`, and writes `analysis.json` and `analysis.vti` into `out_dir`.
pub fn analyze_density(
    design_path: &Path,
    problem: &Problem,
    density_path: &Path,
    out_dir: &Path,
) -> Result<(AnalysisResult, DesignAnalysis), RunError> {
    let bad = |message: String| RunError::Density {
        path: density_path.to_path_buf(),
        message,
    };
    let bytes = std::fs::read(density_path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let image = crate::output::vtk::read_vti_bytes(&bytes).map_err(|e| bad(e.to_string()))?;
    let grid = problem.grid;
    if image.elements != grid.elements
        || (image.element_size_mm - grid.element_size_mm).abs() > 1e-9 * grid.element_size_mm
    {
        return Err(bad(format!(
            "its grid ({:?} elements of {} mm) is not the design's ({:?} of {} mm)",
            image.elements, image.element_size_mm, grid.elements, grid.element_size_mm
        )));
    }
    let density = image
        .cell_field("density")
        .ok_or_else(|| bad("has no cell field named \"density\"".into()))?
        .to_vec();
    if let Some(e) = density.iter().position(|d| !(0.0..=1.0).contains(d)) {
        return Err(bad(format!(
            "density of element {e} is {}, outside [0, 1]",
            density[e]
        )));
    }
    let (compliance, displacements) = crate::analysis::solve_design(problem, &density)?;
    let analysis = analyse_design(problem, &density, &displacements, &compliance);
    let threshold = crate::mesh::part::part_threshold(&density, &grid, &problem.part);
    // Parts are exported with their kept shapes exact unless the join fails, which `analyze`
    // cannot know without making the part again; the exact shapes are the rule.
    let exact_kept = !problem.kept_geometry.is_empty();
    let part_analysis = analyse_part(problem, &density, threshold, exact_kept)?;
    let result = AnalysisResult {
        schema_version: crate::output::SCHEMA_VERSION,
        formwerk_version: env!("CARGO_PKG_VERSION").to_string(),
        design_file: design_path.to_path_buf(),
        density_file: density_path.to_path_buf(),
        performance: Performance::new(problem, &density, &compliance, &analysis),
        part_analysis,
    };
    std::fs::create_dir_all(out_dir).map_err(output_error(out_dir))?;
    let vti = out_dir.join("analysis.vti");
    write_analysis_vti(&vti, problem, &density, &displacements, &analysis)
        .map_err(output_error(&vti))?;
    let json = out_dir.join("analysis.json");
    write_atomically(&json, |w| {
        serde_json::to_writer_pretty(&mut *w, &result)?;
        std::io::Write::write_all(w, b"\n")
    })
    .map_err(output_error(&json))?;
    Ok((result, analysis))
}

/// The error for an output at `path` that cannot be written.
fn output_error(path: &Path) -> impl FnOnce(std::io::Error) -> RunError {
    let path = path.to_path_buf();
    move |source| RunError::Output { path, source }
}

/// Free, kept-solid and kept-empty element counts.
pub fn element_counts(problem: &Problem) -> ElementCounts {
    let count = |role| problem.element_roles.iter().filter(|&&r| r == role).count();
    ElementCounts {
        design: count(ElementRole::Design),
        keep_solid: count(ElementRole::Solid),
        keep_empty: count(ElementRole::Empty),
    }
}

/// Writes the density with, per load case, the displacement (point vectors, mm) and the von
/// Mises stress (cells, MPa), named after the case.
pub fn write_analysis_vti(
    path: &Path,
    problem: &Problem,
    density: &[f64],
    displacements: &[Vec<f64>],
    analysis: &DesignAnalysis,
) -> std::io::Result<()> {
    let grid = problem.grid;
    let names: Vec<String> = problem
        .load_cases
        .iter()
        .enumerate()
        .map(|(i, case)| field_name(i, &case.name))
        .collect();
    let stress_names: Vec<String> = names.iter().map(|n| format!("von_mises_mpa_{n}")).collect();
    let displacement_names: Vec<String> = names
        .iter()
        .map(|n| format!("displacement_mm_{n}"))
        .collect();
    let mut cells = vec![Field::scalar("density", density)];
    cells.extend(
        stress_names
            .iter()
            .zip(&analysis.von_mises_mpa)
            .map(|(name, values)| Field::scalar(name, values)),
    );
    let points: Vec<Field> = displacement_names
        .iter()
        .zip(displacements)
        .map(|(name, values)| Field::vector(name, values))
        .collect();
    write_atomically(path, |w| {
        write_vti_fields(
            w,
            grid.elements,
            grid.element_size_mm,
            &cells,
            &points,
            problem.vti_encoding,
        )
    })
}

/// A VTK-safe field suffix for load case `index` called `name`: its letters, digits, `-` and
/// `_`, with the case number first so that two names never collide.
fn field_name(index: usize, name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{index}_{safe}")
}

/// What the user should know about a finished run.
fn warnings(
    problem: &Problem,
    outcome: &Outcome,
    analysis: &DesignAnalysis,
    dropped_islands: usize,
    dropped_volume_mm3: f64,
) -> Vec<String> {
    let mut warnings = problem.warnings.clone();
    for case in &analysis.load_cases {
        if let Some(sf) = case.safety_factor
            && sf < 1.0
        {
            warnings.push(format!(
                "load case {:?}: safety factor {sf:.2} < 1, the part yields (max von Mises {:.1} MPa at {:?} mm)",
                case.name, case.max_von_mises_mpa, case.max_von_mises_at_mm
            ));
        }
    }
    for ((case, &compliance), analysed) in problem
        .load_cases
        .iter()
        .zip(&outcome.load_case_compliance_nmm)
        .zip(&analysis.load_cases)
    {
        // 1 % slack: MMA approaches its constraints from either side within that.
        if let Some(limit) = case.max_compliance_nmm
            && compliance > 1.01 * limit
        {
            warnings.push(format!(
                "load case {:?}: compliance {compliance:.4} N·mm exceeds its limit of {limit} N·mm",
                case.name
            ));
        }
        if let Some(limit) = case.max_displacement_mm
            && analysed.max_displacement_mm > 1.01 * limit
        {
            warnings.push(format!(
                "load case {:?}: displacement {:.4} mm exceeds its limit of {limit} mm",
                case.name, analysed.max_displacement_mm
            ));
        }
    }
    if outcome.solver.unconverged_solves > 0 {
        warnings.push(format!(
            "{} linear solves missed the residual tolerance (largest relative residual {:.2e})",
            outcome.solver.unconverged_solves, outcome.solver.max_relative_residual
        ));
    }
    if outcome.termination == TerminationReason::MaxIterations {
        warnings.push(format!(
            "stopped at the iteration limit ({}) before the design change fell to {}",
            problem.optimization.max_iterations, problem.optimization.change_tolerance
        ));
    }
    if dropped_islands > 0 {
        warnings.push(format!(
            "dropped {dropped_islands} floating island(s) of {dropped_volume_mm3:.1} mm³ not connected to any support or load"
        ));
    }
    warnings
}
