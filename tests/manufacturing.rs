//! Overhang control and minimum member size: their design-file keys and errors, a part printed
//! without supports, and a part with no wall thinner than asked.
// See: issue 6

use crate::common::{
    SMALL_DESIGN, box_mesh, formwerk, read_json, run_design, run_example, stderr, write_design,
};

fn check_fails(text: &str, key: &str, hint: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_design(dir.path(), "bad.toml", text);
    let output = formwerk(&["check", path.to_str().unwrap()]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains(key) && message.contains(hint), "{message}");
}

#[test]
fn manufacturing_keys_are_checked() {
    check_fails(
        &format!("{SMALL_DESIGN}\n[manufacturing]\nbuild_direction = \"up\""),
        "manufacturing.build_direction",
        "unknown variant",
    );
    check_fails(
        &format!(
            "{SMALL_DESIGN}\n[manufacturing]\nbuild_direction = \"+z\"\noverhang_angle_deg = 70.0"
        ),
        "manufacturing.overhang_angle_deg",
        "63.4",
    );
    check_fails(
        &format!(
            "{SMALL_DESIGN}\n[manufacturing]\nbuild_direction = \"+z\"\ndesign_overhang_angle_deg = 50.0"
        ),
        "manufacturing.design_overhang_angle_deg",
        "grid angle",
    );
    check_fails(
        &format!(
            "{SMALL_DESIGN}\n[manufacturing]\nbuild_direction = \"+z\"\noverhang_angle_deg = 50.0\ndesign_overhang_angle_deg = 45.0"
        ),
        "manufacturing.design_overhang_angle_deg",
        "flatter",
    );
    check_fails(
        &format!(
            "{}\n[manufacturing]\nbuild_direction = \"-y\"",
            SMALL_DESIGN.replace(
                "volume_fraction = 0.3",
                "volume_fraction = 0.3\nsymmetry = [\"y\"]"
            )
        ),
        "manufacturing.build_direction",
        "symmetr",
    );
}

#[test]
fn an_unsupported_tip_load_gets_material_under_it() {
    // A beam clamped at x = 0 and loaded on top of its free end, printed along +z: without
    // overhang control the optimum hangs material in the air; with it every layer rests on the
    // one below, so the density never rises from one layer to the next by more than the 45°
    // support allows.
    let text = SMALL_DESIGN
        .replace(
            "min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0]",
            "min_mm = [12.0, 0.0, 4.0], max_mm = [12.0, 4.0, 4.0]",
        )
        .replace("force_n = [0.0, -10.0, 0.0]", "force_n = [0.0, 0.0, -10.0]");
    let printable = format!("{text}\n[manufacturing]\nbuild_direction = \"+z\"");
    let (_dir, out, output) = run_design(&printable, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    assert_eq!(result["design"]["manufacturing"]["build_direction"], "+z");
    let vti = std::fs::read(out.join("density.vti")).unwrap();
    let image = formwerk::output::vtk::read_vti_bytes(&vti).unwrap();
    let density = image.cell_field("density").unwrap();
    let [nx, ny, nz] = image.elements;
    let at = |i: usize, j: usize, k: usize| density[i + nx * (j + ny * k)];
    // Every element above the first layer is (smoothly) at most the largest of its supports.
    for k in 1..nz {
        for j in 0..ny {
            for i in 0..nx {
                let mut support = at(i, j, k - 1);
                for (di, dj) in [(-1i64, 0i64), (1, 0), (0, -1), (0, 1)] {
                    let (a, b) = (i as i64 + di, j as i64 + dj);
                    if a >= 0 && b >= 0 && (a as usize) < nx && (b as usize) < ny {
                        support = support.max(at(a as usize, b as usize, k - 1));
                    }
                }
                assert!(at(i, j, k) <= support + 0.05, "({i}, {j}, {k}) floats");
            }
        }
    }
}

#[test]
fn inspect_reports_overhangs_for_a_build_direction() {
    // A 10 mm cube standing on the plate: nothing overhangs, its bottom is on the plate.
    let dir = tempfile::tempdir().unwrap();
    let cube = box_mesh([0.0; 3], [10.0; 3]);
    let path = dir.path().join("cube.stl");
    formwerk::mesh::stl::write_binary_stl(&cube, &mut std::fs::File::create(&path).unwrap())
        .unwrap();
    let inspect = |direction: &str| {
        let output = formwerk(&[
            "inspect",
            path.to_str().unwrap(),
            "--json",
            "--build-direction",
            direction,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        serde_json::from_slice::<serde_json::Value>(&output.stdout).unwrap()["printability"].clone()
    };
    let up = inspect("+z");
    assert_eq!(up["overhang_area_mm2"].as_f64().unwrap(), 0.0);
    assert!((up["base_plate_area_mm2"].as_f64().unwrap() - 100.0).abs() < 1e-9);
    // Sideways, the cube's y-facing bottom face is the one on the plate.
    let sideways = inspect("-y");
    assert_eq!(sideways["overhang_area_mm2"].as_f64().unwrap(), 0.0);
    let wall = up["min_wall_thickness_mm"].as_f64().unwrap();
    assert!((wall - 10.0).abs() <= up["thickness_voxel_mm"].as_f64().unwrap() + 1e-9);
}

#[test]
fn the_printable_bracket_has_far_less_overhang_than_its_twin() {
    let overhang = |name: &str| {
        let (_dir, out, result) = run_example(name, "60");
        let part = out.join("part.stl");
        let inspected = formwerk(&[
            "inspect",
            part.to_str().unwrap(),
            "--json",
            "--build-direction",
            "+z",
        ]);
        let report: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
        (
            report["printability"]["overhang_percent"].as_f64().unwrap(),
            result,
        )
    };
    let (controlled, result) = overhang("printable_bracket");
    let (free, free_result) = overhang("printable_bracket_free");
    // result.json carries the same report along the printer's direction (on the mesh before
    // STL's f32 rounding), for the twin without overhang control too.
    let reported = result["printability"]["overhang_percent"].as_f64().unwrap();
    assert!((reported - controlled).abs() <= 1e-6 * controlled.max(1.0));
    let reported_free = free_result["printability"]["overhang_percent"]
        .as_f64()
        .unwrap();
    assert!((reported_free - free).abs() <= 1e-6 * free.max(1.0));
    // The issue's target: at most 1 % of the exported surface needs support, several times less
    // than the twin made without overhang control.
    assert!(controlled <= 1.0, "controlled {controlled} %");
    assert!(free >= 5.0, "free {free} %");
    // The overhang correction moved the surface by at most half an element (2 mm here).
    let correction = &result["mesh"]["overhang_correction"];
    assert!(correction["vertices_moved"].as_u64().unwrap() > 0);
    assert!(correction["largest_shift_mm"].as_f64().unwrap() <= 1.0);
    assert!(free_result["mesh"].get("overhang_correction").is_none());
}

#[test]
fn min_member_keys_are_checked() {
    let with = |extra: &str| format!("{SMALL_DESIGN}\n[manufacturing]\n{extra}");
    let no_radius = SMALL_DESIGN.replace("filter_radius_mm = 1.5\n", "");
    check_fails(
        &with("min_member_mm = -1.0"),
        "manufacturing.min_member_mm",
        "positive",
    );
    check_fails(
        &format!("{no_radius}\n[manufacturing]\nmin_member_mm = 1.5"),
        "manufacturing.min_member_mm",
        "two elements",
    );
    check_fails(
        &format!("{no_radius}\n[manufacturing]\nmin_member_mm = 3.0"),
        "manufacturing.min_member_mm",
        "half the domain",
    );
    check_fails(
        &with("min_member_mm = 2.0"),
        "optimization.filter_radius_mm",
        "min_member_mm / 0.88",
    );
}

/// A 120 × 40 × 40 mm cantilever on 2.5 mm voxels with its load on a kept-solid pad.
const PAD_CANTILEVER: &str = r#"
name = "pad"
[domain]
size_mm = [120.0, 40.0, 40.0]
element_size_mm = 2.5
[material]
youngs_modulus_mpa = 2100.0
poisson_ratio = 0.38
density_g_cm3 = 1.27
[[supports]]
region = { face = "x_min" }
fixed = ["x", "y", "z"]
[[load_cases]]
name = "tip"
[[load_cases.loads]]
region = { box = { min_mm = [120.0, 0.0, 12.0], max_mm = [120.0, 10.0, 28.0] } }
force_n = [0.0, -100.0, 0.0]
[[keep_solid]]
region = { box = { min_mm = [110.0, 0.0, 12.0], max_mm = [120.0, 10.0, 28.0] } }
[optimization]
volume_fraction = 0.15
"#;

fn thinnest_wall_mm(part: &std::path::Path) -> f64 {
    let output = formwerk(&[
        "inspect",
        part.to_str().unwrap(),
        "--build-direction",
        "+z",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    report["printability"]["min_wall_thickness_mm"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_minimum_member_size_keeps_every_wall_at_least_that_thick() {
    let member = 10.0;
    let sized = format!(
        "{}max_iterations = 120\n[manufacturing]\nmin_member_mm = {member}\n",
        PAD_CANTILEVER
    );
    let (_dir, out, output) = run_design(&sized, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    let size = &result["member_size"];
    assert_eq!(size["min_member_mm"], member);
    assert!((size["filter_radius_mm"].as_f64().unwrap() - member / 0.88).abs() < 1e-12);
    let wall = size["min_wall_thickness_mm"].as_f64().unwrap();
    assert!(wall >= 0.8 * member, "thinnest wall {wall} mm");
    // The same estimate as `inspect` on the written STL (whose f32 coordinates round).
    assert!((wall - thinnest_wall_mm(&out.join("part.stl"))).abs() < 1e-6 * wall);
    // β doubled from 1 to 32; the run reports the blueprint, not the eroded design it optimized.
    let history = result["history"].as_array().unwrap();
    assert_eq!(history[0]["projection_beta"], 1.0);
    assert_eq!(history.last().unwrap()["projection_beta"], 32.0);
    let compliance = result["compliance_nmm"].as_f64().unwrap();
    let eroded = history.last().unwrap()["compliance_nmm"].as_f64().unwrap();
    assert!(
        compliance.is_finite() && compliance < eroded,
        "{compliance} vs {eroded}"
    );
    let fraction = result["volume_fraction"].as_f64().unwrap();
    assert!((fraction - 0.15).abs() < 0.01, "{fraction}");

    // The same design without it has walls of a voxel or two.
    let free = format!("{PAD_CANTILEVER}max_iterations = 60\nfilter_radius_mm = 3.75\n");
    let (_dir, out, output) = run_design(&free, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let free_wall = thinnest_wall_mm(&out.join("part.stl"));
    assert!(
        free_wall < 0.5 * member,
        "free thinnest wall {free_wall} mm"
    );
    assert!(
        read_json(&out.join("result.json"))
            .get("member_size")
            .is_none()
    );
}

#[test]
fn a_63_degree_design_steps_out_only_on_every_other_layer() {
    // The tip-loaded beam printed along +z, designed to 63.4°: on odd layers an element rests on
    // the element directly below alone, so the density never exceeds it there.
    let text = SMALL_DESIGN
        .replace(
            "min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0]",
            "min_mm = [12.0, 0.0, 4.0], max_mm = [12.0, 4.0, 4.0]",
        )
        .replace("force_n = [0.0, -10.0, 0.0]", "force_n = [0.0, 0.0, -10.0]");
    let design = format!(
        "{text}\n[manufacturing]\nbuild_direction = \"+z\"\ndesign_overhang_angle_deg = 63.4"
    );
    let (_dir, out, output) = run_design(&design, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let vti = std::fs::read(out.join("density.vti")).unwrap();
    let image = formwerk::output::vtk::read_vti_bytes(&vti).unwrap();
    let density = image.cell_field("density").unwrap();
    let [nx, ny, nz] = image.elements;
    let at = |i: usize, j: usize, k: usize| density[i + nx * (j + ny * k)];
    let mut largest_step = 0.0f64;
    for k in (1..nz).step_by(2) {
        for j in 0..ny {
            for i in 0..nx {
                largest_step = largest_step.max(at(i, j, k) - at(i, j, k - 1));
            }
        }
    }
    assert!(
        largest_step <= 0.05,
        "an odd layer overhangs by {largest_step}"
    );
    // The same design at 45° does step out on odd layers.
    let (_dir, out, output) = run_design(
        &format!("{text}\n[manufacturing]\nbuild_direction = \"+z\""),
        &["--quiet"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let vti = std::fs::read(out.join("density.vti")).unwrap();
    let density = formwerk::output::vtk::read_vti_bytes(&vti)
        .unwrap()
        .cell_field("density")
        .unwrap()
        .to_vec();
    let at = |i: usize, j: usize, k: usize| density[i + nx * (j + ny * k)];
    let mut free_step = 0.0f64;
    for k in (1..nz).step_by(2) {
        for j in 0..ny {
            for i in 0..nx {
                free_step = free_step.max(at(i, j, k) - at(i, j, k - 1));
            }
        }
    }
    assert!(
        free_step > 0.05,
        "the 45° design never steps out on odd layers"
    );
}
