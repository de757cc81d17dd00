//! One design run end to end: design → problem → optimization → files in the output folder.
//!
//! Every file is written under a temporary name and renamed when complete, so a folder never
//! holds a half-written result. The density field and `result.json` are written before the
//! mesh, so they survive a mesh that fails its checks.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use crate::design::{Design, DesignError, MeshFormat};
use crate::mesh::three_mf::write_3mf;
use crate::mesh::{MeshReport, make_part, stl::write_binary_stl};
use crate::optimize::{Observer, OptimizeError, Outcome, TerminationReason, optimize};
use crate::output::atomic::write_atomically;
use crate::output::plot::write_convergence_svg;
use crate::output::preview::{PreviewParams, write_preview_png};
use crate::output::result::{LoadCaseResult, MeshSummary, RunResult};
use crate::output::vtk::write_vti;
use crate::problem::Problem;

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
    /// The exported surface failed its checks (the density field was still written).
    #[error(
        "the part's surface failed its checks ({} boundary, {} non-manifold, {} inconsistent edges, {} degenerate triangles); density.vti and result.json were written, the mesh was not",
        report.boundary_edges, report.non_manifold_edges, report.inconsistent_edges, report.degenerate_triangles
    )]
    Mesh {
        /// The failed inspection.
        report: Box<MeshReport>,
    },
}

impl RunError {
    /// Whether the error is the user's input (exit code 1) rather than an internal failure (2).
    pub fn is_input_error(&self) -> bool {
        matches!(self, Self::Design(_))
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
    /// Warnings also recorded in `result.json`.
    pub warnings: Vec<String>,
}

/// Reads, validates and builds the problem for a design file.
pub fn load_problem(path: &Path) -> Result<(Design, Problem), DesignError> {
    let design = Design::load(path)?;
    let problem = design.to_problem(path)?;
    Ok((design, problem))
}

/// Optimizes `problem` (from `design`) and writes `density.vti`, `convergence.svg`,
/// `result.json` and the part (`part.stl` and/or `part.3mf`) into `out_dir`.
pub fn run_problem(
    design: &Design,
    problem: &Problem,
    out_dir: &Path,
    observer: &mut dyn Observer,
) -> Result<RunReport, RunError> {
    let output_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| RunError::Output { path, source }
    };
    std::fs::create_dir_all(out_dir).map_err(output_error(out_dir))?;
    let outcome = optimize(problem, observer)?;
    let grid = problem.grid;

    let vti = out_dir.join("density.vti");
    write_atomically(&vti, |w| {
        write_vti(w, &outcome.density, grid.elements, grid.element_size_mm)
    })
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
        &problem.anchor_positions_mm(),
        &problem.part,
    );
    let mesh_seconds = clock.elapsed().as_secs_f64();
    let warnings = warnings(
        problem,
        &outcome,
        part.dropped_islands,
        part.dropped_volume_mm3,
    );
    let result = RunResult {
        formwerk_version: env!("CARGO_PKG_VERSION").to_string(),
        design: design.clone(),
        elements: grid.elements,
        dofs: grid.dof_count(),
        iterations: outcome.iterations,
        converged: outcome.termination == TerminationReason::Converged,
        termination: outcome.termination,
        compliance_nmm: outcome.compliance_nmm,
        load_cases: problem
            .load_cases
            .iter()
            .zip(&outcome.load_case_compliance_nmm)
            .map(|(case, &c)| LoadCaseResult {
                name: case.name.clone(),
                weight: case.weight,
                compliance_nmm: c,
            })
            .collect(),
        volume_fraction: outcome.volume_fraction,
        mass_g: problem.mass_g(&outcome.density),
        history: outcome.history.clone(),
        timings: outcome.timings,
        solver: outcome.solver.clone(),
        mesh: MeshSummary::new(&part, problem.part.smoothing_iterations, mesh_seconds),
        warnings: warnings.clone(),
    };
    let json = out_dir.join("result.json");
    write_atomically(&json, |w| {
        serde_json::to_writer_pretty(&mut *w, &result)?;
        std::io::Write::write_all(w, b"\n")
    })
    .map_err(output_error(&json))?;

    if !part.report.is_watertight() {
        return Err(RunError::Mesh {
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

    Ok(RunReport {
        outcome,
        out_dir: out_dir.to_path_buf(),
        mesh: part.report,
        warnings,
    })
}

/// What the user should know about a finished run.
fn warnings(
    problem: &Problem,
    outcome: &Outcome,
    dropped_islands: usize,
    dropped_volume_mm3: f64,
) -> Vec<String> {
    let mut warnings = Vec::new();
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
