//! `formwerk analyze`: re-analyse a density field under a design's load cases.

use std::path::{Path, PathBuf};

use formwerk::run::{analyze_density, load_problem};

use super::failure::Failure;
use super::run::{print_analysis, print_part_analysis};

pub(super) fn analyze(design: &Path, density: &Path, out: Option<PathBuf>) -> Result<(), Failure> {
    let (_, problem) = load_problem(design).map_err(|e| Failure::Input(e.into()))?;
    let out_dir = out.unwrap_or_else(|| {
        density
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    let (result, analysis) = analyze_density(design, &problem, density, &out_dir).map_err(|e| {
        if e.is_input_error() {
            Failure::Input(e.into())
        } else {
            Failure::Internal(e.into())
        }
    })?;
    println!(
        "{}: compliance {:.6} N·mm, volume fraction {:.4}{}",
        problem.name,
        result.performance.compliance_nmm,
        result.performance.volume_fraction,
        result
            .performance
            .mass_g
            .map_or(String::new(), |m| format!(", mass {m:.2} g"))
    );
    print_analysis(&analysis);
    print_part_analysis(&result.part_analysis);
    println!("results in {}", out_dir.join("analysis.json").display());
    Ok(())
}
