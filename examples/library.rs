//! Using formwerk as a library: a design written in code, optimized, and its part exported.
//!
//! Run with `cargo run --release --example library`.

use std::path::Path;

use formwerk::mesh::{make_part, stl::write_binary_stl};
use formwerk::optimize::{IterationRecord, Observer, optimize};
use formwerk::output::atomic::write_atomically;
use formwerk::{Design, Problem};

/// Prints every tenth iteration.
struct Every10;

impl Observer for Every10 {
    fn observe(&mut self, r: &IterationRecord, _max_iterations: usize) {
        if r.iter.is_multiple_of(10) {
            println!(
                "iter {:>3}: compliance {:.4} N·mm, change {:.4}",
                r.iter, r.compliance_nmm, r.change
            );
        }
    }
}

const DESIGN: &str = r#"
name = "short_beam"
[domain]
size_mm = [40.0, 20.0, 10.0]
element_size_mm = 1.0
[material]
youngs_modulus_mpa = 2400.0
poisson_ratio = 0.36
density_g_cm3 = 1.24
[[supports]]
region = { face = "x_min" }
[[load_cases]]
name = "tip"
[[load_cases.loads]]
region = { box = { min_mm = [40.0, 0.0, 0.0], max_mm = [40.0, 0.0, 10.0] } }
force_n = [0.0, -50.0, 0.0]
[optimization]
volume_fraction = 0.3
max_iterations = 60
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let design = Design::from_toml(DESIGN, Path::new("<example>"))?;
    let problem: Problem = design.to_problem(Path::new("<example>"))?;
    let outcome = optimize(&problem, &mut Every10)?;
    println!(
        "{} iterations, compliance {:.4} N·mm, mass {:.2} g",
        outcome.iterations,
        outcome.compliance_nmm,
        problem.mass_g(&outcome.density).unwrap_or(0.0)
    );
    // Threshold matching the optimized volume, islands dropped, Taubin-smoothed, inspected: a
    // true solid (closed, manifold, never passing through itself).
    let part = make_part(
        &outcome.density,
        &problem.grid,
        &problem.anchor_positions_mm(),
        &problem.part,
        &problem.kept_geometry,
    );
    assert!(part.report.is_solid(), "{:?}", part.report);
    let path = std::env::temp_dir().join("short_beam.stl");
    write_atomically(&path, |w| write_binary_stl(&part.mesh, w))?;
    println!(
        "{} triangles ({:+.2} % volume against the density) written to {}",
        part.report.triangles,
        100.0 * part.volume_difference(),
        path.display()
    );
    Ok(())
}
