//! `formwerk check`: validate a design (or every variant of a sweep) and print its size, solver,
//! memory and regions.

use std::path::Path;

use anyhow::Context;

use formwerk::fem::{ElementStiffness, LinearSolver};

use super::failure::Failure;

pub(super) fn check_design(
    path: &Path,
    max_memory: Option<u64>,
    json: bool,
) -> Result<(), Failure> {
    if std::fs::read_to_string(path).is_ok_and(|text| formwerk::sweep::spec::has_sweep(&text)) {
        return super::sweep::check_sweep(path);
    }
    let input = |e: formwerk::DesignError| Failure::Input(e.into());
    let design = formwerk::Design::load(path).map_err(input)?;
    let limit = formwerk::memory::MemoryLimit::current(max_memory);
    let needed_bytes =
        formwerk::memory::check_fits(&design, path, limit.as_ref()).map_err(input)?;
    let problem = design.to_problem_within(path, None).map_err(input)?;
    let grid = problem.grid;
    let fixed = problem.fixed_dofs.iter().filter(|&&f| f).count();
    let ke = ElementStiffness::new(problem.material.poisson_ratio);
    let solver = LinearSolver::new(grid, ke, &problem.fixed_dofs, &problem.solver)
        .context("cannot plan the linear solver")
        .map_err(Failure::Internal)?;
    let design_elements = problem.design_element_count();
    if json {
        let report = serde_json::json!({
            "schema_version": formwerk::output::SCHEMA_VERSION,
            "file": path,
            "valid": true,
            "name": problem.name,
            "elements": grid.elements,
            "element_count": grid.element_count(),
            "element_size_mm": grid.element_size_mm,
            "dofs": grid.dof_count(),
            "fixed_dofs": fixed,
            "load_cases": problem.load_cases.len(),
            "filter_radius_mm": problem.optimization.filter_radius_mm,
            "solver": {
                "kind": solver.kind(),
                "levels": solver.levels(),
                "tolerance": solver.tolerance(),
            },
            "estimated_memory_bytes": needed_bytes,
            "memory_limit_bytes": limit.as_ref().map(|l| l.bytes),
            "memory_limit_source": limit.as_ref().map(|l| l.source.clone()),
            "design_elements": design_elements,
            "regions": problem.regions.iter().map(|r| serde_json::json!({
                "key": r.key,
                "description": r.description,
                "nodes": r.nodes,
                "elements": r.elements,
            })).collect::<Vec<_>>(),
            "warnings": problem.warnings,
        });
        println!("{report}");
        return Ok(());
    }
    println!("{}: valid", path.display());
    println!("  name:               {}", problem.name);
    println!(
        "  elements:           {:?} = {} of {} mm",
        grid.elements,
        grid.element_count(),
        grid.element_size_mm
    );
    println!(
        "  degrees of freedom: {} ({} fixed)",
        grid.dof_count(),
        fixed
    );
    println!("  load cases:         {}", problem.load_cases.len());
    println!(
        "  filter radius:      {} mm",
        problem.optimization.filter_radius_mm
    );
    println!(
        "  linear solver:      {} ({} level(s), tolerance {:e})",
        solver.kind(),
        solver.levels(),
        solver.tolerance()
    );
    println!(
        "  estimated memory:   {:.1} MiB{}",
        needed_bytes / (1024.0 * 1024.0),
        limit.map_or(String::new(), |l| format!(
            " (of {:.1} GiB {})",
            l.bytes as f64 / (1024.0 * 1024.0 * 1024.0),
            l.source
        ))
    );
    println!(
        "  design elements:    {design_elements} ({} kept solid or empty)",
        grid.element_count() - design_elements
    );
    println!("  regions:");
    for region in &problem.regions {
        let selected = if region.nodes > 0 {
            format!("{} nodes", region.nodes)
        } else {
            format!("{} elements", region.elements)
        };
        println!(
            "    {:<32} {:>14}  {}",
            region.key, selected, region.description
        );
    }
    for warning in &problem.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}
