//! Regions, keep-solid/keep-empty, materials and load types: what they select and produce
//! (through the library), and their errors and reports (through the command line).
// See: issue 5

use formwerk::Design;
use formwerk::mesh::stl::write_binary_stl;
use formwerk::problem::ElementRole;

use crate::common::{SMALL_DESIGN, box_mesh, formwerk, stderr, write_design};

/// Exit code 1 from `check`, naming the file, `key` and `hint`.
fn rejects_in(dir: &std::path::Path, text: &str, key: &str, hint: &str) {
    let path = write_design(dir, "bad.toml", text);
    let output = formwerk(&["check", path.to_str().unwrap()]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("bad.toml"), "no file in: {message}");
    assert!(message.contains(key), "no key `{key}` in: {message}");
    assert!(message.contains(hint), "no hint `{hint}` in: {message}");
}

fn rejects(text: &str, key: &str, hint: &str) {
    rejects_in(tempfile::tempdir().unwrap().path(), text, key, hint);
}

fn with(extra: &str) -> String {
    format!("{SMALL_DESIGN}\n{extra}")
}

fn problem(text: &str) -> formwerk::Problem {
    let path = std::path::Path::new("design.toml");
    Design::from_toml(text, path)
        .and_then(|d| d.to_problem(path))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn bad_regions_name_their_key() {
    rejects(
        &with(
            "[[keep_empty]]\nregion = { cylinder = { center_mm = [6, 2, 2], axis = [0, 0, 1], radius_mm = -1, length_mm = 4 } }",
        ),
        "keep_empty[0].region.cylinder.radius_mm",
        "positive",
    );
    rejects(
        &with(
            "[[keep_solid]]\nregion = { cylinder = { center_mm = [6, 2, 2], axis = [0, 0, 0], radius_mm = 1, length_mm = 4 } }",
        ),
        "keep_solid[0].region.cylinder.axis",
        "non-zero",
    );
    rejects(
        &with("[[keep_empty]]\nregion = { sphere = { center_mm = [6, 2, 2] } }"),
        "keep_empty[0].region",
        "radius_mm",
    );
    rejects(
        &with("[[keep_empty]]\nregion = { union = [] }"),
        "keep_empty[0].region.union",
        "at least one",
    );
    rejects(
        &with("[[keep_empty]]\nregion = { surface_of = { point_mm = [1, 1, 1] } }"),
        "keep_empty[0].region.surface_of",
        "volume",
    );
    rejects(
        &with("[[keep_empty]]\nregion = { blob = 3 }"),
        "keep_empty[0].region",
        "unknown variant",
    );
}

#[test]
fn bad_stl_bodies_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    rejects_in(
        dir.path(),
        &with("[[keep_empty]]\nregion = { stl = \"missing.stl\" }"),
        "keep_empty[0].region.stl",
        "missing.stl",
    );
    // A cube with one triangle missing is open.
    let mut mesh = box_mesh([4.0, 1.0, 1.0], [6.0, 3.0, 3.0]);
    let last = mesh.triangles.pop().unwrap();
    let mut file = std::fs::File::create(dir.path().join("open.stl")).unwrap();
    write_binary_stl(&mesh, &mut file).unwrap();
    rejects_in(
        dir.path(),
        &with("[[keep_empty]]\nregion = { stl = \"open.stl\" }"),
        "keep_empty[0].region.stl",
        "open",
    );
    // The closed cube (relative to the design file) is accepted and selects its 8 elements.
    let mut closed = mesh.clone();
    closed.triangles.push(last);
    let mut file = std::fs::File::create(dir.path().join("cube.stl")).unwrap();
    write_binary_stl(&closed, &mut file).unwrap();
    let path = write_design(
        dir.path(),
        "good.toml",
        &with("[[keep_empty]]\nregion = { stl = \"cube.stl\" }"),
    );
    let p = formwerk::run::load_problem(&path).unwrap().1;
    let empty = p
        .element_roles
        .iter()
        .filter(|&&r| r == ElementRole::Empty)
        .count();
    assert_eq!(empty, 8);
}

#[test]
fn bad_loads_and_materials_are_refused() {
    rejects(
        &SMALL_DESIGN
            .replace(
                "[material]\nyoungs_modulus_mpa = 2400.0\npoisson_ratio = 0.36\ndensity_g_cm3 = 1.24\n",
                "",
            )
            .replace("name = \"small\"", "name = \"small\"\nmaterial = \"unobtainium\""),
        "material",
        "\"PLA\"",
    );
    rejects(
        &SMALL_DESIGN.replace("force_n = [0.0, -10.0, 0.0]", "pressure_mpa = 1.0"),
        "load_cases[0].loads[0].region",
        "whole element face",
    );
    rejects(
        &SMALL_DESIGN
            .replace("force_n = [0.0, -10.0, 0.0]", "pressure_mpa = 1.0")
            .replace(
                "min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0]",
                "min_mm = [5.0, 1.0, 1.0], max_mm = [7.0, 3.0, 3.0]",
            ),
        "load_cases[0].loads[0].region",
        "face of the domain",
    );
    rejects(
        &SMALL_DESIGN.replace("force_n = [0.0, -10.0, 0.0]", "torque_nmm = 10.0"),
        "load_cases[0].loads[0].axis",
        "axis",
    );
    rejects(
        &SMALL_DESIGN.replace(
            "force_n = [0.0, -10.0, 0.0]",
            "force_n = [0.0, -10.0, 0.0]\npressure_mpa = 1.0",
        ),
        "load_cases[0].loads[0]",
        "exactly one",
    );
    rejects(
        &SMALL_DESIGN.replace("density_g_cm3 = 1.24\n", "").replace(
            "force_n = [0.0, -10.0, 0.0]",
            "force_n = [0.0, -10.0, 0.0]\n[[load_cases.loads]]\ngravity_m_s2 = [0.0, 0.0, -9.81]",
        ),
        "load_cases[0].loads[1].gravity_m_s2",
        "density",
    );
    // A load on the far edge, inside a keep-empty box around it.
    rejects(
        &with("[[keep_empty]]\nregion = { box = { min_mm = [10, 0, 0], max_mm = [12, 2, 4] } }"),
        "load_cases[0].loads[0].region",
        "keep_empty",
    );
}

#[test]
fn bad_objectives_are_refused() {
    rejects(
        &SMALL_DESIGN.replace("volume_fraction = 0.3", "objective = \"min_mass\""),
        "optimization.objective",
        "max_compliance_nmm",
    );
    rejects(
        &SMALL_DESIGN.replace("volume_fraction = 0.3", "mass_target_g = 1000.0"),
        "optimization.mass_target_g",
        "full part",
    );
    rejects(
        &SMALL_DESIGN.replace(
            "volume_fraction = 0.3",
            "volume_fraction = 0.3\nsymmetry = [\"x\", \"x\"]",
        ),
        "optimization.symmetry",
        "twice",
    );
    rejects(
        &SMALL_DESIGN
            .replace("volume_fraction = 0.3", "objective = \"min_mass\"")
            .replace("name = \"tip\"", "name = \"tip\"\nmax_compliance_nmm = 5.0"),
        "optimization.optimizer",
        "mma",
    );
}

#[test]
fn pressure_torque_and_gravity_produce_their_resultants() {
    let text = SMALL_DESIGN.replace(
        "force_n = [0.0, -10.0, 0.0]",
        "force_n = [0.0, -10.0, 0.0]\n\
         [[load_cases]]\nname = \"pressure\"\n[[load_cases.loads]]\nregion = { face = \"z_max\" }\npressure_mpa = 0.5\n\
         [[load_cases]]\nname = \"torque\"\n[[load_cases.loads]]\nregion = { face = \"x_max\" }\ntorque_nmm = 40.0\naxis = [1.0, 0.0, 0.0]\n\
         [[load_cases]]\nname = \"weight\"\n[[load_cases.loads]]\ngravity_m_s2 = [0.0, 0.0, -9.81]",
    );
    let p = problem(&text);
    let grid = p.grid;
    let total =
        |f: &[f64], axis: usize| -> f64 { (0..grid.node_count()).map(|n| f[3 * n + axis]).sum() };
    // Pressure: 0.5 MPa on the 12 × 4 mm top face pushes down with 24 N.
    assert!((total(&p.load_cases[1].forces_n, 2) + 24.0).abs() < 1e-12);
    // Torque about the x axis through the face centre (y = z = 2): moment 40 N·mm, no net force.
    let f = &p.load_cases[2].forces_n;
    let moment: f64 = (0..grid.node_count())
        .map(|n| {
            let q = grid.node_position_mm(n);
            (q[1] - 2.0) * f[3 * n + 2] - (q[2] - 2.0) * f[3 * n + 1]
        })
        .sum();
    assert!((moment - 40.0).abs() < 1e-10, "{moment}");
    assert!(total(f, 1).abs() < 1e-12 && total(f, 2).abs() < 1e-12);
    // Gravity: one solid 1 mm³ element of 1.24 g/cm³ weighs 1.24e-6 kg · 9.81 m/s².
    let w = p.load_cases[3].self_weight_n.unwrap();
    assert!((w[2] + 1.24e-6 * 9.81).abs() < 1e-18);
    assert!(p.load_cases[3].forces_n.iter().all(|&v| v == 0.0));
}

#[test]
fn library_materials_fill_in_their_values() {
    let text = SMALL_DESIGN
        .replace(
            "[material]\nyoungs_modulus_mpa = 2400.0\npoisson_ratio = 0.36\ndensity_g_cm3 = 1.24\n",
            "",
        )
        .replace(
            "name = \"small\"",
            "name = \"small\"\nmaterial = \"Ti6Al4V\"",
        );
    let p = problem(&text);
    assert_eq!(p.material.name.as_deref(), Some("Ti6Al4V"));
    assert_eq!(p.material.youngs_modulus_mpa, 110_000.0);
    assert!(p.material.yield_strength_mpa.is_some() && p.material.density_g_cm3.is_some());
}

#[test]
fn check_reports_what_each_region_selects_and_warns() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_design(
        dir.path(),
        "design.toml",
        &with(
            "[[keep_solid]]\nregion = { sphere = { center_mm = [6, 2, 2], radius_mm = 0.1 } }\n\
             [[keep_empty]]\nregion = { box = { min_mm = [1, 0, 0], max_mm = [9, 4, 4] } }",
        ),
    );
    let output = formwerk(&["check", path.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&output.stdout);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{err}");
    assert!(out.contains("supports[0].region"), "{out}");
    assert!(out.contains("25 nodes"), "{out}");
    assert!(out.contains("128 elements"), "{out}");
    assert!(
        err.contains("keep_solid[0].region") && err.contains("selects no element"),
        "{err}"
    );
    assert!(
        err.contains("keep_empty[0].region") && err.contains("67 %"),
        "{err}"
    );
}

#[test]
fn analyze_refuses_a_density_that_does_not_fit() {
    let (dir, out, output) = crate::common::run_design(SMALL_DESIGN, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let density = out.join("density.vti");
    // The same design re-analysed: fine.
    let design = dir.path().join("design.toml");
    let ok = formwerk(&[
        "analyze",
        design.to_str().unwrap(),
        "--density",
        density.to_str().unwrap(),
    ]);
    assert_eq!(ok.status.code(), Some(0), "{}", stderr(&ok));
    assert!(out.join("analysis.json").exists() && out.join("analysis.vti").exists());
    // Another grid: refused, naming the density file.
    let other = write_design(
        dir.path(),
        "other.toml",
        &SMALL_DESIGN.replace("element_size_mm = 1.0", "element_size_mm = 2.0"),
    );
    let bad = formwerk(&[
        "analyze",
        other.to_str().unwrap(),
        "--density",
        density.to_str().unwrap(),
        "--out",
        dir.path().join("never").to_str().unwrap(),
    ]);
    let message = stderr(&bad);
    assert_eq!(bad.status.code(), Some(1), "{message}");
    assert!(
        message.contains("density.vti") && message.contains("grid"),
        "{message}"
    );
    assert!(!dir.path().join("never").exists());
    // Not a VTK file at all.
    let junk = formwerk(&[
        "analyze",
        design.to_str().unwrap(),
        "--density",
        design.to_str().unwrap(),
    ]);
    assert_eq!(junk.status.code(), Some(1), "{}", stderr(&junk));
}

#[test]
fn a_point_loads_its_nearest_node_and_a_torque_turns_about_its_center() {
    // point_mm: the node nearest to (11.6, 0.3, 2.4) is (12, 0, 2).
    let text = SMALL_DESIGN
        .replace(
            "region = { box = { min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0] } }",
            "region = { point_mm = [11.6, 0.3, 2.4] }",
        )
        .replace(
            "force_n = [0.0, -10.0, 0.0]",
            "force_n = [0.0, -10.0, 0.0]\n\
             [[load_cases]]\nname = \"twist\"\n[[load_cases.loads]]\n\
             region = { face = \"x_max\" }\ntorque_nmm = 30.0\naxis = [1.0, 0.0, 0.0]\ncenter_mm = [12.0, 0.0, 0.0]",
        );
    let p = problem(&text);
    let grid = p.grid;
    let loaded: Vec<usize> = (0..grid.dof_count())
        .filter(|&d| p.load_cases[0].forces_n[d] != 0.0)
        .collect();
    assert_eq!(loaded, [3 * grid.node_index([12, 0, 2]) + 1]);
    // About an axis through the face's corner the moment is still exactly T, and the forces
    // no longer cancel (the axis misses the centroid).
    let f = &p.load_cases[1].forces_n;
    let moment: f64 = (0..grid.node_count())
        .map(|n| {
            let q = grid.node_position_mm(n);
            q[1] * f[3 * n + 2] - q[2] * f[3 * n + 1]
        })
        .sum();
    assert!((moment - 30.0).abs() < 1e-10, "{moment}");
    let net_z: f64 = (0..grid.node_count()).map(|n| f[3 * n + 2]).sum();
    assert!(net_z.abs() > 1.0, "{net_z}");
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);

    // A point outside the domain still selects its nearest node, with a warning naming both.
    let outside = text.replace(
        "point_mm = [11.6, 0.3, 2.4]",
        "point_mm = [15.0, -1.0, 2.2]",
    );
    let p = problem(&outside);
    let loaded: Vec<usize> = (0..grid.dof_count())
        .filter(|&d| p.load_cases[0].forces_n[d] != 0.0)
        .collect();
    assert_eq!(loaded, [3 * grid.node_index([12, 0, 2]) + 1]);
    let warning = p.warnings.join("\n");
    assert!(
        warning.contains("load_cases[0].loads[0].region")
            && warning.contains("outside the domain")
            && warning.contains("[12.0, 0.0, 2.0]"),
        "{warning}"
    );
}

#[test]
fn a_kept_solid_block_that_nothing_connects_stays_in_the_part() {
    // A 2 mm cube kept solid inside a shell kept empty: the optimizer cannot connect it, and
    // the part keeps it as a second piece (with a warning) instead of dropping it as an island.
    let text = r#"
name = "island"
[domain]
size_mm = [16.0, 8.0, 8.0]
element_size_mm = 1.0
[material]
youngs_modulus_mpa = 2400.0
poisson_ratio = 0.36
[[supports]]
region = { face = "x_min" }
fixed = ["x", "y", "z"]
[[load_cases]]
name = "tip"
[[load_cases.loads]]
region = { box = { min_mm = [16.0, 0.0, 0.0], max_mm = [16.0, 0.0, 8.0] } }
force_n = [0.0, -10.0, 0.0]
[[keep_solid]]
region = { box = { min_mm = [10.0, 5.0, 5.0], max_mm = [12.0, 7.0, 7.0] } }
[[keep_empty]]
region = { union = [
  { box = { min_mm = [9.0, 4.0, 4.0], max_mm = [10.0, 8.0, 8.0] } },
  { box = { min_mm = [12.0, 4.0, 4.0], max_mm = [13.0, 8.0, 8.0] } },
  { box = { min_mm = [10.0, 4.0, 4.0], max_mm = [12.0, 5.0, 8.0] } },
  { box = { min_mm = [10.0, 7.0, 4.0], max_mm = [12.0, 8.0, 8.0] } },
  { box = { min_mm = [10.0, 5.0, 4.0], max_mm = [12.0, 7.0, 5.0] } },
  { box = { min_mm = [10.0, 5.0, 7.0], max_mm = [12.0, 7.0, 8.0] } },
] }
[optimization]
volume_fraction = 0.3
max_iterations = 10
"#;
    let (_dir, out, output) = crate::common::run_design(text, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = crate::common::read_json(&out.join("result.json"));
    assert_eq!(result["mesh"]["dropped_islands"], 0);
    assert_eq!(
        result["mesh"]["inspection"]["shells"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let warnings = result["warnings"].to_string();
    assert!(warnings.contains("2 separate pieces"), "{warnings}");
}
