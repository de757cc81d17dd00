//! Overhang control: its design-file keys and errors, and a part printed without supports.
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
            "{SMALL_DESIGN}\n[manufacturing]\nbuild_direction = \"+z\"\noverhang_angle_deg = 30.0"
        ),
        "manufacturing.overhang_angle_deg",
        "45",
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
    let vti = std::fs::read_to_string(out.join("density.vti")).unwrap();
    let image = formwerk::output::vtk::read_vti(&vti).unwrap();
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
    // result.json carries the same report when [manufacturing] asks for it (on the mesh before
    // STL's f32 rounding).
    let reported = result["printability"]["overhang_percent"].as_f64().unwrap();
    assert!((reported - controlled).abs() <= 1e-6 * controlled.max(1.0));
    assert!(free_result.get("printability").is_none());
    assert!(
        controlled * 2.0 < free,
        "controlled {controlled} %, free {free} %"
    );
}
