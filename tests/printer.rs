//! Printer profiles and the slicer as a judge (issue 14): `[printer]` tables and presets, their
//! errors, `formwerk printers`, the `printer`, `grey_share` and `slicer` sections of
//! `result.json`, `inspect --slice`, a failing slicer, and the sweep summary's slicer columns.
//! The tests that slice need PrusaSlicer (`apt-get install -y prusa-slicer`): under `CI=true` a
//! missing one fails, elsewhere they are skipped loudly.

use std::path::Path;

use serde_json::Value;

use crate::common::{SMALL_DESIGN, formwerk, read_json, run_design, run_sweep, stderr};
use crate::slicers::slicers_installed;

/// The small design printed along +z with the given `[printer]` table body.
fn printed(table: &str) -> String {
    format!("{SMALL_DESIGN}\n[printer]\n{table}\n")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn printers_lists_the_presets_as_text_and_json() {
    let output = formwerk(&["printers"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stdout(&output);
    for preset in formwerk::printer::PRESETS {
        assert!(text.contains(preset.name), "{text}");
        assert!(text.contains(preset.source), "{text}");
    }
    let output = formwerk(&["printers", "--json"]);
    let listed: Vec<Value> = serde_json::from_slice(&output.stdout).expect("JSON list");
    let names: Vec<&str> = listed.iter().map(|p| p["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = formwerk::printer::PRESETS.iter().map(|p| p.name).collect();
    assert_eq!(names, expected);
    assert_eq!(listed[0]["nozzle_mm"], 0.4);
}

#[test]
fn bad_printer_tables_name_the_key_and_write_nothing() {
    let cases = [
        ("preset = \"ender3\"", "printer.preset", "prusa_mk3s_0.4"),
        ("nozzle_mm = -0.4", "printer.nozzle_mm", "(0, 5]"),
        ("layer_height_mm = 0.5", "printer.layer_height_mm", "nozzle"),
        (
            "overhang_angle_deg = 95",
            "printer.overhang_angle_deg",
            "(0, 90)",
        ),
        (
            "overhang_angle_deg = 70",
            "printer.overhang_angle_deg",
            "63.4",
        ),
        ("min_wall_mm = 0.2", "printer.min_wall_mm", "nozzle"),
        ("build_direction = \"up\"", "printer.build_direction", "+z"),
        ("nozzle = 0.4", "nozzle", "unknown key"),
    ];
    for (table, key, allowed) in cases {
        let (_dir, out, output) = run_design(&printed(table), &[]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{table}: {message}");
        assert!(message.contains(key), "{table}: {message}");
        assert!(message.contains(allowed), "{table}: {message}");
        assert!(!out.exists(), "{table}: output written");
    }
    // Both tables may not set the same thing.
    let both = printed("preset = \"generic_0.4\"") + "[manufacturing]\nbuild_direction = \"+z\"\n";
    let (_dir, _out, output) = run_design(&both, &[]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("manufacturing.build_direction")
            && stderr(&output).contains("printer.build_direction"),
        "{}",
        stderr(&output)
    );
    // A flat threshold is fine for a part that is only judged.
    let (_dir, _out, output) = run_design(
        &printed("overhang_angle_deg = 70\noverhang_control = false"),
        &["--max-iterations", "2"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

#[test]
fn a_printer_profile_is_resolved_into_result_json() {
    let design = printed("preset = \"prusa_mk3s_0.6\"\nlayer_height_mm = 0.2")
        .replace("element_size_mm = 1.0", "element_size_mm = 0.5")
        .replace("filter_radius_mm = 1.5", "");
    let (_dir, out, output) = run_design(&design, &["--max-iterations", "8"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    let printer = &result["printer"];
    assert_eq!(printer["preset"], "prusa_mk3s_0.6");
    assert_eq!(printer["nozzle_mm"], 0.6);
    assert_eq!(printer["layer_height_mm"], 0.2);
    assert_eq!(printer["overhang_angle_deg"], 45.0);
    assert_eq!(printer["build_direction"], "+z");
    assert_eq!(printer["overhang_control"], true);
    // The thinnest wall (2 nozzles = 1.2 mm, over two 0.5 mm elements) sets the member size.
    let min_wall = printer["min_wall_mm"].as_f64().unwrap();
    assert!((min_wall - 1.2).abs() < 1e-12, "{min_wall}");
    assert_eq!(result["member_size"]["min_member_mm"], min_wall);
    // Overhang control is on, and the part is judged along the printer's direction.
    assert!(
        result["mesh"]["overhang_correction"].is_object(),
        "{result}"
    );
    assert!(result["printability"]["overhang_percent"].is_number());
    // Cut into the printer's layers along its direction.
    let layers = &result["printability"]["layers"];
    assert_eq!(layers["layer_height_mm"], 0.2);
    assert_eq!(layers["build_direction"], "+z");
    assert_eq!(layers["contact_width_mm"], 0.6);
    let count = layers["layers"].as_u64().unwrap();
    assert!(
        (1..=20).contains(&count),
        "at most 4 mm in 0.2 mm layers: {layers}"
    );
    let grey = result["grey_share"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&grey), "{grey}");
    assert!(result.get("slicer").is_none(), "--no-slicer");
}

/// A box from `low` to `high`: corner `c` takes `high` along the axes of its set bits, and each
/// face is two triangles, counter-clockwise from outside.
fn block(low: [f64; 3], high: [f64; 3]) -> formwerk::mesh::TriangleMesh {
    let vertices = (0..8)
        .map(|c: u32| std::array::from_fn(|a| if (c >> a) & 1 == 1 { high[a] } else { low[a] }))
        .collect();
    let mut triangles = Vec::new();
    for axis in 0..3 {
        let (u, v) = (1u32 << ((axis + 1) % 3), 1u32 << ((axis + 2) % 3));
        for side in [0, 1u32 << axis] {
            // (u, v, axis) is right-handed, so u then v turns counter-clockwise seen from +axis.
            let [a, b, c, d] = [side, side | u, side | u | v, side | v];
            if side == 0 {
                triangles.extend([[a, c, b], [a, d, c]]);
            } else {
                triangles.extend([[a, b, c], [a, c, d]]);
            }
        }
    }
    formwerk::mesh::TriangleMesh {
        vertices,
        triangles,
    }
}

#[test]
fn inspect_cuts_layers_of_the_printer_and_finds_the_support_under_a_slab() {
    // A 4 × 4 column 10 high under a 10 × 10 slab 2 thick, as two touching boxes: built up,
    // the slab's underside beside the column (84 mm²) needs support 10 mm tall; built down,
    // nothing does.
    let column = block([3.0, 3.0, 0.0], [7.0, 7.0, 10.0]);
    let slab = block([0.0, 0.0, 10.0], [10.0, 10.0, 12.0]);
    assert!((column.signed_volume() - 160.0).abs() < 1e-9);
    assert!(formwerk::mesh::check_mesh(&slab).is_watertight());
    let mut part = column.clone();
    part.vertices.extend(&slab.vertices);
    part.triangles
        .extend(slab.triangles.iter().map(|t| t.map(|v| v + 8)));
    let dir = tempfile::tempdir().unwrap();
    let stl = dir.path().join("t.stl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&stl).unwrap());
    formwerk::mesh::stl::write_binary_stl(&part, &mut file).unwrap();
    drop(file);
    let layers = |direction: &str, printer: &str| {
        let output = formwerk(&[
            "inspect",
            stl.to_str().unwrap(),
            "--json",
            "--build-direction",
            direction,
            "--printer",
            printer,
        ]);
        let report: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        report["printability"]["layers"].clone()
    };
    let up = layers("+z", "prusa_mk3s_0.4");
    assert_eq!(up["layer_height_mm"], 0.15);
    assert_eq!(up["layers"], 80);
    let area = up["support_area_mm2"].as_f64().unwrap();
    let volume = up["support_volume_mm3"].as_f64().unwrap();
    assert!((area - 84.0).abs() < 3.0, "{up}");
    assert!((volume - 840.0).abs() < 40.0, "{up}");
    let down = layers("-z", "generic_0.4");
    assert_eq!(down["layer_height_mm"], 0.2);
    assert_eq!(down["support_area_mm2"], 0.0, "{down}");
    // The text report has the same line.
    let output = formwerk(&["inspect", stl.to_str().unwrap(), "--build-direction", "+z"]);
    assert!(
        stdout(&output).contains("layers of 0.2 mm"),
        "{}",
        stdout(&output)
    );
}

#[test]
fn the_free_twin_is_judged_without_being_controlled() {
    let (_dir, out, output) = run_design(
        &printed("overhang_control = false"),
        &["--max-iterations", "4"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    assert_eq!(result["printer"]["overhang_control"], false);
    assert!(result["mesh"].get("overhang_correction").is_none());
    assert!(result["printability"]["overhang_percent"].is_number());
    // 0.8 mm walls are below two 1 mm elements: the grid keeps members thicker, no projection.
    assert!(result.get("member_size").is_none());
}

/// Checks a `slicer` section against the profile it was sliced with.
fn check_slicer_section(slicer: &Value, nozzle_mm: f64, layer_mm: f64, density: Option<f64>) {
    assert!(
        slicer["slicer_version"]
            .as_str()
            .unwrap()
            .starts_with("PrusaSlicer"),
        "{slicer}"
    );
    assert_eq!(slicer["settings"]["nozzle_mm"], nozzle_mm);
    assert_eq!(slicer["settings"]["layer_height_mm"], layer_mm);
    let part_mm = slicer["part_filament_mm"].as_f64().unwrap();
    assert!(part_mm > 0.0, "{slicer}");
    let support_mm = slicer["support_filament_mm"].as_f64().unwrap();
    assert!(support_mm >= 0.0);
    let share = slicer["support_share"].as_f64().unwrap();
    assert!((share - support_mm / part_mm).abs() < 1e-9);
    assert!(slicer["print_time_s"].as_f64().unwrap() > 0.0);
    assert!(
        slicer["print_time_s"].as_f64().unwrap()
            >= slicer["print_time_without_supports_s"].as_f64().unwrap()
    );
    match density {
        // Grams from 1.75 mm filament of the material's density.
        Some(density) => {
            let grams = slicer["part_filament_g"].as_f64().unwrap();
            let expected = part_mm * std::f64::consts::PI * 0.875f64.powi(2) * density / 1000.0;
            assert!(
                (grams - expected).abs() < 0.02 * expected + 0.01,
                "{grams} g, expected {expected} g"
            );
        }
        None => assert!(slicer.get("part_filament_g").is_none()),
    }
}

#[test]
fn the_slicer_judges_a_run_and_inspect_slices_on_demand() {
    if !slicers_installed() {
        return;
    }
    let design = printed("preset = \"prusa_mk3s_0.4\"");
    let (_dir, out, output) = run_design(&design, &["--max-iterations", "6", "--with-slicer"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("PrusaSlicer") && stdout(&output).contains("supports"),
        "{}",
        stdout(&output)
    );
    let result = read_json(&out.join("result.json"));
    check_slicer_section(&result["slicer"], 0.4, 0.15, Some(1.24));
    assert_eq!(result["slicer"]["settings"]["support_threshold_deg"], 45.0);
    // No temporary file is left behind (the folder's lock stays, released).
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with('.') && name != formwerk::resume::LOCK_FILE)
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // `inspect --slice` of the same part, turned to print along +x.
    let stl = out.join("part.stl");
    let output = formwerk(&[
        "inspect",
        stl.to_str().unwrap(),
        "--json",
        "--slice",
        "--printer",
        "generic_0.6",
        "--build-direction",
        "+x",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    check_slicer_section(&report["slicer"], 0.6, 0.3, None);
    assert_eq!(report["slicer"]["settings"]["build_direction"], "+x");
    // The same filament whatever the orientation, within what layers and supports change.
    let along_z = result["slicer"]["part_filament_mm"].as_f64().unwrap();
    let along_x = report["slicer"]["part_filament_mm"].as_f64().unwrap();
    assert!(
        (along_x / along_z - 1.0).abs() < 0.3,
        "{along_x} mm along x, {along_z} mm along z"
    );
}

#[test]
fn a_failing_slicer_leaves_a_warning_and_every_other_output() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("broken-slicer");
    std::fs::write(
        &fake,
        "#!/bin/sh\necho 'segmentation fault' >&2\nexit 139\n",
    )
    .unwrap();
    make_executable(&fake);
    let (_dir, out, output) = run_design(
        SMALL_DESIGN,
        &["--max-iterations", "3", "--slicer", fake.to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    assert!(result.get("slicer").is_none());
    let warnings = result["warnings"].to_string();
    assert!(
        warnings.contains("slicer gave no verdict") && warnings.contains("segmentation fault"),
        "{warnings}"
    );
    for file in ["part.stl", "density.vti", "preview.png", "convergence.svg"] {
        assert!(out.join(file).exists(), "{file}");
    }
    // A slicer path that is not a file is bad input.
    let (_dir, out, output) = run_design(
        SMALL_DESIGN,
        &["--slicer", dir.path().join("none").to_str().unwrap()],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--slicer"), "{}", stderr(&output));
    assert!(!out.exists());
}

#[test]
fn without_a_slicer_on_path_a_run_says_so_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let design = crate::common::write_design(dir.path(), "d.toml", SMALL_DESIGN);
    let out = dir.path().join("out");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_formwerk"))
        .args(["run", design.to_str().unwrap(), "--out"])
        .arg(&out)
        .args(["--max-iterations", "2"])
        .env("PATH", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let notes: Vec<String> = stdout(&output)
        .lines()
        .filter(|l| l.contains("prusa-slicer"))
        .map(String::from)
        .collect();
    assert_eq!(notes.len(), 1, "{}", stdout(&output));
    assert!(notes[0].starts_with("note: prusa-slicer is not on PATH"));
}

#[test]
fn a_sweep_summary_has_print_time_and_support_per_variant() {
    if !slicers_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = printed("preset = \"generic_0.4\"")
        + "[sweep]\nvary = { \"optimization.volume_fraction\" = [0.3, 0.4] }\n";
    let design = crate::common::write_design(dir.path(), "s.toml", &text);
    let out = dir.path().join("sweep");
    let output = run_sweep(&design, &out, &["--max-iterations", "4", "--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let summary = read_json(&out.join("summary.json"));
    let rows = summary["variants"].as_array().expect("variants");
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert!(row["print_time_s"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["support_filament_g"].as_f64().unwrap() >= 0.0, "{row}");
        assert!(row["grey_share"].is_number(), "{row}");
        assert!(row["support_volume_mm3"].as_f64().unwrap() >= 0.0, "{row}");
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
