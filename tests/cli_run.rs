//! `formwerk run` and `formwerk check` end to end.
// See: issue 2

use formwerk::mesh::{TriangleMesh, check_mesh};

use crate::common::{SMALL_DESIGN, formwerk, read_json, run_design, stderr, write_design};

#[test]
fn run_writes_every_output_and_a_consistent_result() {
    let (_dir, out, output) = run_design(SMALL_DESIGN, &["--threads", "2"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("compliance"), "{stdout}");
    // The stop reason in words, not a Rust name.
    let result = read_json(&out.join("result.json"));
    let reason = match result["termination"].as_str().unwrap() {
        "converged" => "(converged)",
        _ => "(stopped at the iteration limit)",
    };
    assert!(stdout.contains(reason), "{stdout}");
    assert!(!stdout.contains("MaxIterations") && !stdout.contains("Converged"));

    assert_eq!(result["elements"], serde_json::json!([12, 4, 4]));
    assert_eq!(result["dofs"], 3 * 13 * 5 * 5);
    assert_eq!(result["design"]["name"], "small");
    assert_eq!(result["design"]["optimization"]["volume_fraction"], 0.3);
    let history = result["history"].as_array().unwrap();
    let iterations = result["iterations"].as_u64().unwrap() as usize;
    assert_eq!(history.len(), iterations);
    assert!((2..=30).contains(&iterations));
    let converged = result["converged"].as_bool().unwrap();
    let last = &history[iterations - 1];
    assert_eq!(converged, last["change"].as_f64().unwrap() <= 0.01);
    // The final compliance is that of the last analysed design, and it fell from the start.
    let compliance = result["compliance_nmm"].as_f64().unwrap();
    assert_eq!(compliance, last["compliance_nmm"].as_f64().unwrap());
    assert!(compliance < history[0]["compliance_nmm"].as_f64().unwrap());
    let volume = result["volume_fraction"].as_f64().unwrap();
    assert!((volume - 0.3).abs() < 2e-3, "volume {volume}");
    // mass = volume fraction × 192 mm³ × 1.24 g/cm³ / 1000.
    let mass = result["mass_g"].as_f64().unwrap();
    assert!((mass - volume * 192.0 * 1.24 / 1000.0).abs() < 1e-9);
    for key in [
        "total_s",
        "per_iteration_s",
        "solve_s",
        "filter_s",
        "update_s",
    ] {
        assert!(result["timings"][key].as_f64().unwrap() >= 0.0, "{key}");
    }
    // Everything after the loop includes making the part.
    let after_loop = result["after_loop_s"].as_f64().unwrap();
    assert!(after_loop >= result["mesh"]["seconds"].as_f64().unwrap() && after_loop > 0.0);
    assert_eq!(result["solver"]["kind"], "sparse-cholesky");
    assert!(result["solver"]["max_relative_residual"].as_f64().unwrap() <= 1e-10);
    assert!(result["solver"]["iterations_total"].as_u64().unwrap() >= iterations as u64);
    assert_eq!(result["formwerk_version"], env!("CARGO_PKG_VERSION"));

    // density.vti: one value per element in [0, 1].
    let vti = std::fs::read(out.join("density.vti")).unwrap();
    let header = String::from_utf8_lossy(&vti[..1000.min(vti.len())]).into_owned();
    assert!(
        header.contains("<ImageData WholeExtent=\"0 12 0 4 0 4\""),
        "{header}"
    );
    let spacing = header
        .split("Spacing=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let spacing: Vec<f64> = spacing
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    assert_eq!(spacing, [1.0, 1.0, 1.0]);
    let image = formwerk::output::vtk::read_vti_bytes(&vti).unwrap();
    let values = image.cell_field("density").unwrap();
    // Displacement and stress fields of the load case travel with the density.
    assert!(image.point_field("displacement_mm_0_tip").is_some());
    assert!(image.cell_field("von_mises_mpa_0_tip").is_some());
    assert_eq!(values.len(), 192);
    assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
    // part.stl: a closed mesh inside the domain.
    let mut file = std::fs::File::open(out.join("part.stl")).unwrap();
    let stl = stl_io::read_stl(&mut file).unwrap();
    let mesh = TriangleMesh {
        vertices: stl
            .vertices
            .iter()
            .map(|v| [v[0] as f64, v[1] as f64, v[2] as f64])
            .collect(),
        triangles: stl
            .faces
            .iter()
            .map(|f| f.vertices.map(|i| i as u32))
            .collect(),
    };
    let report = check_mesh(&mesh);
    assert!(report.triangles > 0);
    assert!(report.is_watertight(), "{report:?}");
    assert!(report.bounding_box_mm[1][0] <= 12.0 + 1e-4 && report.bounding_box_mm[0][0] >= -1e-4);
    // convergence.svg
    let svg = std::fs::read_to_string(out.join("convergence.svg")).unwrap();
    assert!(svg.contains("<svg") && svg.contains("iteration"));
    // Nothing temporary is left behind.
    for entry in std::fs::read_dir(&out).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(!name.contains(".tmp"), "left over: {name}");
    }
}

#[test]
fn results_are_identical_for_one_and_two_threads() {
    let dir = tempfile::tempdir().unwrap();
    let design = write_design(
        dir.path(),
        "small.toml",
        &SMALL_DESIGN.replace("max_iterations = 30", "max_iterations = 8"),
    );
    let mut histories = Vec::new();
    for threads in ["1", "2"] {
        let out = dir.path().join(threads);
        let output = formwerk(&[
            "run",
            design.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--threads",
            threads,
            "--quiet",
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let result = read_json(&out.join("result.json"));
        let values: Vec<(f64, f64, f64)> = result["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["compliance_nmm"].as_f64().unwrap(),
                    r["volume_fraction"].as_f64().unwrap(),
                    r["change"].as_f64().unwrap(),
                )
            })
            .collect();
        histories.push((values, std::fs::read(out.join("density.vti")).unwrap()));
    }
    assert_eq!(histories[0], histories[1]);
}

#[test]
fn max_iterations_override_quiet_and_default_folder() {
    let dir = tempfile::tempdir().unwrap();
    let design = write_design(dir.path(), "small.toml", SMALL_DESIGN);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_formwerk"))
        .args([
            "run",
            design.to_str().unwrap(),
            "--max-iterations",
            "3",
            "--quiet",
        ])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        output.stdout.is_empty() && output.stderr.is_empty(),
        "--quiet printed something"
    );
    let result = read_json(&dir.path().join("runs/small/result.json"));
    assert_eq!(result["iterations"], 3);
    assert_eq!(result["converged"], false);
    assert_eq!(result["termination"], "max_iterations");
    assert!(
        result["warnings"][0]
            .as_str()
            .unwrap()
            .contains("iteration limit")
    );
}

#[test]
fn progress_lines_when_not_on_a_terminal() {
    let (_dir, _out, output) = run_design(SMALL_DESIGN, &["--max-iterations", "2"]);
    assert_eq!(output.status.code(), Some(0));
    // stderr is a pipe here: plain progress lines instead of a bar.
    assert!(
        stderr(&output).contains("iter    1/2"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn check_reports_the_size() {
    let dir = tempfile::tempdir().unwrap();
    let design = write_design(dir.path(), "small.toml", SMALL_DESIGN);
    let output = formwerk(&["check", design.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("valid"));
    assert!(stdout.contains("192"), "element count: {stdout}");
    assert!(stdout.contains("975"), "DOF count: {stdout}");
    assert!(stdout.contains("MiB"), "memory estimate: {stdout}");
}

#[test]
fn help_shows_an_example() {
    let output = formwerk(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("formwerk run designs/cantilever.toml")
    );
    let output = formwerk(&["run", "--help"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for flag in ["--out", "--threads", "--max-iterations", "--quiet"] {
        assert!(text.contains(flag), "{flag} missing from run --help");
    }
}

#[test]
fn every_json_output_states_its_schema_version() {
    let (_dir, out, output) = run_design(SMALL_DESIGN, &["--max-iterations", "3"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(read_json(&out.join("result.json"))["schema_version"], 1);
    let inspected = formwerk(&["inspect", out.join("part.stl").to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(report["schema_version"], 1);
    let design = write_design(&out, "design.toml", SMALL_DESIGN);
    let analysed = formwerk(&[
        "analyze",
        design.to_str().unwrap(),
        "--density",
        out.join("density.vti").to_str().unwrap(),
    ]);
    assert_eq!(analysed.status.code(), Some(0), "{}", stderr(&analysed));
    assert_eq!(read_json(&out.join("analysis.json"))["schema_version"], 1);
}

/// Issue 17, point 3: machine-readable output, completions, a man page, short flags and
/// suggestions for typos.
#[test]
fn json_output_completions_man_page_and_suggestions() {
    let dir = tempfile::tempdir().unwrap();
    let design = write_design(dir.path(), "small.toml", SMALL_DESIGN);
    let path = design.to_str().unwrap();

    let output = formwerk(&["check", path, "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["schema_version"], 1);
    assert_eq!(report["elements"], serde_json::json!([12, 4, 4]));
    assert_eq!(report["dofs"], 975);
    assert!(report["estimated_memory_bytes"].as_f64().unwrap() > 0.0);
    assert!(report["regions"].as_array().unwrap().len() >= 2);

    let out = dir.path().join("out");
    let output = formwerk(&[
        "run",
        path,
        "--out",
        out.to_str().unwrap(),
        "--json",
        "-q",
        "--no-slicer",
        "--max-iterations",
        "5",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let written = read_json(&out.join("result.json"));
    assert_eq!(result["compliance_nmm"], written["compliance_nmm"]);
    assert_eq!(result["iterations"], 5);
    assert_eq!(result["out_dir"], out.to_str().unwrap());
    assert!(output.stderr.is_empty(), "{}", stderr(&output));

    // -v: a line per iteration with the solver's figures, elapsed time and ETA.
    let output = formwerk(&[
        "run",
        path,
        "--out",
        out.to_str().unwrap(),
        "-v",
        "--no-slicer",
        "--max-iterations",
        "4",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let said = stderr(&output);
    assert_eq!(said.matches("CG ").count(), 4, "{said}");
    assert!(said.contains("ETA"), "{said}");

    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let output = formwerk(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(
            script.contains("formwerk") && script.contains("checkpoint-every"),
            "{shell}"
        );
    }
    let output = formwerk(&["man"]);
    assert_eq!(output.status.code(), Some(0));
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(
        page.contains(".TH formwerk 1") && page.contains("completions"),
        "{page}"
    );

    // Did you mean: design keys and material names.
    let typo = write_design(
        dir.path(),
        "typo.toml",
        &SMALL_DESIGN.replace("volume_fraction = 0.3", "volume_fractio = 0.3"),
    );
    let said = stderr(&formwerk(&["check", typo.to_str().unwrap()]));
    assert!(said.contains("did you mean `volume_fraction`?"), "{said}");
    let typo = write_design(
        dir.path(),
        "material.toml",
        &SMALL_DESIGN
            .replace(
                "[material]\nyoungs_modulus_mpa = 2400.0\npoisson_ratio = 0.36\ndensity_g_cm3 = 1.24\n",
                "",
            )
            .replace("name = \"small\"", "name = \"small\"\nmaterial = \"PTEG\""),
    );
    let said = stderr(&formwerk(&["check", typo.to_str().unwrap()]));
    assert!(said.contains("did you mean \"PETG\"?"), "{said}");
}

/// Issue 17: `formwerk schema` is a JSON Schema that every example design satisfies (checked by
/// Python's `jsonschema`, as an editor's validator would) and that catches an unknown key.
#[test]
fn the_design_schema_accepts_every_example_and_refuses_a_typo() {
    let output = formwerk(&["schema"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    let dir = tempfile::tempdir().unwrap();
    let schema_file = dir.path().join("design.schema.json");
    std::fs::write(&schema_file, &output.stdout).unwrap();
    let typo = write_design(
        dir.path(),
        "typo.toml",
        &SMALL_DESIGN.replace("volume_fraction = 0.3", "volume_fractio = 0.3"),
    );
    // Each file as `path: ok` or `path: <first error>`; a sweep's own table is not a design key.
    let script = r#"
import json, sys, tomllib, jsonschema
schema = json.load(open(sys.argv[1]))
validator = jsonschema.Draft202012Validator(schema)
for path in sys.argv[2:]:
    design = tomllib.load(open(path, "rb"))
    design.pop("sweep", None)
    errors = sorted(validator.iter_errors(design), key=str)
    print(path + ": " + ("ok" if not errors else errors[0].message.replace("\n", " ")))
"#;
    if !crate::common::judge_present(
        std::process::Command::new("python3").args(["-c", "import jsonschema"]),
        "the jsonschema Python package",
        "pip install jsonschema",
        "check the design schema",
    ) {
        return;
    }
    let mut files: Vec<String> = std::fs::read_dir(crate::common::repo_root().join("designs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert!(files.len() >= 11);
    files.push(typo.to_string_lossy().into_owned());
    let output = std::process::Command::new("python3")
        .args(["-c", script, schema_file.to_str().unwrap()])
        .args(&files)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let listed = String::from_utf8_lossy(&output.stdout).into_owned();
    for line in listed.lines() {
        if line.contains("typo.toml") {
            assert!(line.contains("volume_fractio"), "{line}");
        } else {
            assert!(line.ends_with(": ok"), "{line}");
        }
    }
    assert_eq!(listed.lines().count(), files.len());
}
