//! The multigrid solver through the CLI: its statistics, its agreement with the direct solver,
//! determinism, missed tolerances, and `formwerk bench`.
// See: issue 3

use crate::common::{SMALL_DESIGN, formwerk, read_json, run_design, stderr};

/// The small design on a grid that coarsens twice (16 × 8 × 8), with a `[solver]` section.
fn design(solver: &str) -> String {
    SMALL_DESIGN
        .replace("size_mm = [12.0, 4.0, 4.0]", "size_mm = [16.0, 8.0, 8.0]")
        .replace(
            "min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0]",
            "min_mm = [16.0, 0.0, 0.0], max_mm = [16.0, 0.0, 8.0]",
        )
        .replace("max_iterations = 30", "max_iterations = 6")
        + "[solver]\n"
        + solver
        + "\n"
}

fn history(result: &serde_json::Value) -> Vec<f64> {
    result["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["compliance_nmm"].as_f64().unwrap())
        .collect()
}

/// `result.json` of a run with the `[solver]` section `direct` and of one with `multigrid`,
/// after checking that both succeeded and that their compliance histories agree to 1e-8.
fn direct_and_multigrid(direct: &str, multigrid: &str) -> (serde_json::Value, serde_json::Value) {
    let (_d1, direct_out, output) = run_design(direct, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let (_d2, mg_out, output) = run_design(multigrid, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let direct = read_json(&direct_out.join("result.json"));
    let mg = read_json(&mg_out.join("result.json"));
    for (a, b) in history(&direct).iter().zip(history(&mg)) {
        assert!((a - b).abs() <= 1e-8 * a, "direct {a} vs multigrid {b}");
    }
    (direct, mg)
}

#[test]
fn multigrid_run_agrees_with_the_direct_solver() {
    let (direct, mg) = direct_and_multigrid(
        &design("method = \"direct\""),
        &design("method = \"multigrid\"\nlevels = 3\ntolerance = 1e-10"),
    );
    assert_eq!(direct["solver"]["kind"], "sparse-cholesky");
    assert_eq!(mg["solver"]["kind"], "multigrid-cg");
    assert_eq!(mg["solver"]["levels"], 3);
    assert_eq!(mg["solver"]["tolerance"], 1e-10);
    assert_eq!(mg["solver"]["unconverged_solves"], 0);
    assert!(mg["solver"]["max_relative_residual"].as_f64().unwrap() <= 1e-9);
    // Per-solve CG iterations are reported, and warm starts keep them few.
    for record in mg["history"].as_array().unwrap() {
        let its = record["solver_iterations"].as_u64().unwrap();
        assert!((1..=60).contains(&its), "{its} CG iterations");
    }
}

/// A grid none of whose sides halves evenly (15 × 7 × 9) still gets multigrid levels (odd sides
/// coarsen to half rounded up) and the same design as the direct solver.
#[test]
fn multigrid_runs_on_a_grid_with_odd_sides_as_the_direct_solver_does() {
    let odd = |solver: &str| {
        design(solver)
            .replace("size_mm = [16.0, 8.0, 8.0]", "size_mm = [15.0, 7.0, 9.0]")
            .replace(
                "min_mm = [16.0, 0.0, 0.0], max_mm = [16.0, 0.0, 8.0]",
                "min_mm = [15.0, 0.0, 0.0], max_mm = [15.0, 0.0, 9.0]",
            )
    };
    let (_, mg) = direct_and_multigrid(
        &odd("method = \"direct\""),
        &odd("method = \"multigrid\"\ntolerance = 1e-10"),
    );
    assert_eq!(mg["solver"]["kind"], "multigrid-cg");
    // 15×7×9 → 8×4×5 → 4×2×3: a 64th of 945 elements is 14, and 4×2×3 keeps 24.
    assert_eq!(mg["solver"]["levels"], 3);
    assert_eq!(mg["solver"]["unconverged_solves"], 0);
}

#[test]
fn multigrid_run_is_identical_for_one_and_two_threads() {
    let text = design("method = \"multigrid\"\nlevels = 2");
    let (_d1, one, o1) = run_design(&text, &["--quiet", "--threads", "1"]);
    let (_d2, two, o2) = run_design(&text, &["--quiet", "--threads", "2"]);
    assert_eq!(o1.status.code(), Some(0), "{}", stderr(&o1));
    assert_eq!(o2.status.code(), Some(0), "{}", stderr(&o2));
    let (a, b) = (
        read_json(&one.join("result.json")),
        read_json(&two.join("result.json")),
    );
    assert_eq!(history(&a), history(&b));
    assert_eq!(
        std::fs::read(one.join("density.vti")).unwrap(),
        std::fs::read(two.join("density.vti")).unwrap()
    );
}

#[test]
fn a_missed_tolerance_is_a_warning_not_a_silent_result() {
    let text = design("method = \"multigrid\"\nlevels = 2\ntolerance = 1e-14\nmax_iterations = 2");
    let (_dir, out, output) = run_design(&text, &["--max-iterations", "2"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("missed the residual tolerance"),
        "{}",
        stderr(&output)
    );
    let result = read_json(&out.join("result.json"));
    assert_eq!(result["solver"]["unconverged_solves"], 2);
    let warnings = result["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| {
        w.as_str()
            .unwrap()
            .contains("missed the residual tolerance")
    }));
}

#[test]
fn bench_writes_its_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bench.json");
    let output = formwerk(&[
        "bench",
        "--sizes",
        "16x8x8,32x16x16",
        "--iterations",
        "2",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("32x16x16") && stdout.contains("s/iter"),
        "{stdout}"
    );
    let report = read_json(&out);
    assert!(report["stream_triad_gb_s"].as_f64().unwrap() > 0.0);
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    let big = &cases[1];
    assert_eq!(big["size"], serde_json::json!([32, 16, 16]));
    assert_eq!(big["elements"], 8192);
    assert_eq!(big["dofs"], 3 * 33 * 17 * 17);
    assert_eq!(big["threads"], 1);
    // 32×16×16 → 16×8×8 → 8×4×4: a grid under 64,000 elements may coarsen down to a 64th.
    assert_eq!(big["levels"], 3);
    for key in [
        "seconds_per_iteration",
        "cg_iterations_per_solve",
        "operator_apply_seconds",
        "operator_gflops",
    ] {
        assert!(big[key].as_f64().unwrap() > 0.0, "{key}");
    }
    assert!(big["peak_rss_bytes"].as_u64().unwrap() > 1 << 20);
    // Where the time goes: the solve is part of every iteration.
    assert!(big["split"]["solve_s"].as_f64().unwrap() > 0.0);
    assert!(
        stdout.contains("setup + solve + filter + update + other"),
        "{stdout}"
    );
}
