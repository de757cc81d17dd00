//! `formwerk sweep`, `--plan` and `collect` end to end: validation, results, failures, resume,
//! Ctrl-C, and a planned run equal to a local one.
// See: issue 7

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{
    SMALL_DESIGN, formwerk, read_json, run_sweep, signal_and_wait, stderr, write_design,
};

/// SMALL_DESIGN with a `[sweep]` table.
fn sweep_design(sweep: &str) -> String {
    format!("{SMALL_DESIGN}\n[sweep]\n{sweep}\n")
}

/// Four variants: two volume fractions × two materials.
const FOUR: &str =
    r#"vary = { "optimization.volume_fraction" = [0.2, 0.3], material = ["PLA", "PETG"] }"#;

/// A slower sweep (6 variants of 1536 elements, 25 iterations) for interrupting.
fn slow_design() -> String {
    sweep_design(r#"vary = { "optimization.volume_fraction" = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45] }"#)
        .replace("size_mm = [12.0, 4.0, 4.0]", "size_mm = [24.0, 8.0, 8.0]")
        .replace("max_mm = [12.0, 0.0, 4.0]", "max_mm = [24.0, 0.0, 8.0]")
        .replace("min_mm = [12.0, 0.0, 0.0]", "min_mm = [24.0, 0.0, 0.0]")
        .replace("max_iterations = 30", "max_iterations = 25")
        .replace("change_tolerance = 0.01", "change_tolerance = 0.0")
}

/// Writes the plan of `design` into `plan`, each variant at `iterations` iterations.
fn plan_sweep(design: &Path, plan: &Path, iterations: &str) {
    let output = formwerk(&[
        "sweep",
        design.to_str().unwrap(),
        "--plan",
        plan.to_str().unwrap(),
        "--max-iterations",
        iterations,
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}

/// Variants by id from `summary.json`.
fn summary_rows(dir: &Path) -> Vec<Value> {
    read_json(&dir.join("summary.json"))["variants"]
        .as_array()
        .unwrap()
        .clone()
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Folders of `dir` holding a complete variant (result.json and preview.png, the last file).
fn complete_variants(dir: &Path) -> Vec<PathBuf> {
    let mut done: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("result.json").is_file() && p.join("preview.png").is_file())
        .collect();
    done.sort();
    done
}

/// Starts a sweep in the background.
fn spawn_sweep(design: &Path, out: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_formwerk"))
        .args([
            "sweep",
            design.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--jobs", "1", "--threads-per-job", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits until at least one variant of `out` is complete; panics after a minute.
fn wait_for_a_variant(child: &mut Child, out: &Path) {
    let start = Instant::now();
    while complete_variants(out).is_empty() {
        assert!(child.try_wait().unwrap().is_none(), "the sweep ended early");
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no variant finished"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn invalid_sweeps_name_the_key_and_run_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            r#"vary = { "optimization.volume_fractio" = [0.2] }"#,
            r#"sweep.vary."optimization.volume_fractio"[0]"#,
            "did you mean `volume_fraction`?",
        ),
        (
            r#"vary = { "optimization.volume_fraction" = [0.2, 1.5] }"#,
            r#"sweep.vary."optimization.volume_fraction"[1]"#,
            "(0, 1]",
        ),
        (
            r#"vary = { "optimization.volume_fraction" = ["high"] }"#,
            r#"sweep.vary."optimization.volume_fraction"[0]"#,
            "expected a number",
        ),
        (
            r#"vary = { "optimization.volume_fraction" = [] }"#,
            r#"sweep.vary."optimization.volume_fraction""#,
            "at least one value",
        ),
        (
            "mode = \"list\"\nvary = { \"optimization.volume_fraction\" = [0.2, 0.3], material = [\"PLA\"] }",
            r#"sweep.vary."material""#,
            "same length",
        ),
        (
            "mode = \"random\"\nvary = { material = [\"PLA\"] }",
            "sweep.mode",
            "allowed: \"grid\"",
        ),
        (
            r#"vary = { material = ["PLA", "Unobtainium"] }"#,
            r#"sweep.vary."material"[1]"#,
            "built-in material",
        ),
    ];
    for (i, (sweep, key, allowed)) in cases.iter().enumerate() {
        let name = format!("bad{i}.toml");
        let design = write_design(dir.path(), &name, &sweep_design(sweep));
        let out = dir.path().join(format!("out{i}"));
        let output = run_sweep(&design, &out, &[]);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{sweep}: {text}");
        assert!(text.contains(&name), "{sweep}: file not named: {text}");
        assert!(
            text.contains(&format!("`{key}`")),
            "{sweep}: key {key} not named: {text}"
        );
        assert!(text.contains(allowed), "{sweep}: no {allowed:?}: {text}");
        assert!(!out.exists(), "{sweep}: wrote {}", out.display());
        // The plan validates the same way.
        let plan = dir.path().join(format!("plan{i}"));
        let output = formwerk(&[
            "sweep",
            design.to_str().unwrap(),
            "--plan",
            plan.to_str().unwrap(),
        ]);
        assert_eq!(output.status.code(), Some(1));
        assert!(!plan.exists());
    }
}

#[test]
fn run_refuses_a_sweep_file_and_check_lists_its_variants() {
    let dir = tempfile::tempdir().unwrap();
    let design = write_design(dir.path(), "s.toml", &sweep_design(FOUR));
    let out = dir.path().join("out");
    let output = formwerk(&[
        "run",
        design.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("formwerk sweep"),
        "{}",
        stderr(&output)
    );
    assert!(!out.exists());
    let output = formwerk(&["check", design.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("4 variants"), "{text}");
    assert!(text.contains("volume_fraction=0.3 material=PETG"), "{text}");
}

#[test]
fn local_sweep_equals_single_runs_and_a_collected_plan() {
    let dir = tempfile::tempdir().unwrap();
    let design = write_design(dir.path(), "s.toml", &sweep_design(FOUR));
    let local = dir.path().join("local");
    let output = run_sweep(
        &design,
        &local,
        &[
            "--jobs",
            "2",
            "--threads-per-job",
            "1",
            "--max-iterations",
            "6",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Pareto-optimal"), "{stdout}");

    // One folder per id with the outputs of `formwerk run`; rows and columns of the summary.
    let rows = summary_rows(&local);
    for file in ["summary.json", "variants.json"] {
        assert_eq!(read_json(&local.join(file))["schema_version"], 1, "{file}");
    }
    assert_eq!(rows.len(), 4);
    for row in &rows {
        let id = row["id"].as_str().unwrap();
        assert_eq!(id.len(), 12);
        assert_eq!(row["status"], "ok", "{row}");
        for file in ["result.json", "density.vti", "part.stl", "preview.png"] {
            assert!(local.join(id).join(file).is_file(), "{id}/{file}");
        }
        let result = read_json(&local.join(id).join("result.json"));
        assert_eq!(row["compliance_nmm"], result["compliance_nmm"]);
        assert_eq!(row["mass_g"], result["mass_g"]);
        assert_eq!(row["iterations"], 6);
    }
    assert_eq!(rows[3]["label"], "volume_fraction=0.3 material=PETG");
    assert_eq!(rows[3]["optimization.volume_fraction"], 0.3);
    assert_eq!(rows[3]["material"], "PETG");
    let csv = std::fs::read_to_string(local.join("summary.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for column in [
        "id",
        "label",
        "optimization.volume_fraction",
        "material",
        "converged",
        "iterations",
        "compliance_nmm",
        "volume_fraction",
        "mass_g",
        "max_displacement_mm",
        "safety_factor",
        "overhang_percent",
        "runtime_s",
        "status",
    ] {
        assert!(header.contains(&column), "no column {column}: {header:?}");
    }
    assert_eq!(lines.count(), 4);
    // The plot labels the front.
    let svg = std::fs::read_to_string(local.join("pareto.svg")).unwrap();
    let front: Vec<&Value> = rows
        .iter()
        .filter(|r| r["pareto_optimal"] == true)
        .collect();
    assert!(!front.is_empty());
    for row in &front {
        assert!(svg.contains(row["label"].as_str().unwrap()), "{row}");
    }

    // A variant file run alone gives the same bits, with another thread count.
    let index = read_json(&local.join("variants.json"));
    let first = &index["variants"][1];
    let alone = dir.path().join("alone");
    let file = local.join(first["file"].as_str().unwrap());
    let output = formwerk(&[
        "run",
        file.to_str().unwrap(),
        "--out",
        alone.to_str().unwrap(),
        "--threads",
        "2",
        "--quiet",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let id = first["id"].as_str().unwrap();
    let swept = read_json(&local.join(id).join("result.json"));
    let single = read_json(&alone.join("result.json"));
    assert_eq!(
        swept["compliance_nmm"].as_f64().unwrap().to_bits(),
        single["compliance_nmm"].as_f64().unwrap().to_bits()
    );
    assert_eq!(swept["design"], single["design"]);
    assert_eq!(
        std::fs::read(local.join(id).join("density.vti")).unwrap(),
        std::fs::read(alone.join("density.vti")).unwrap()
    );

    // The same sweep as a plan: a job array and a task list.
    let plan = dir.path().join("plan");
    plan_sweep(&design, &plan, "6");
    let sbatch = std::fs::read_to_string(plan.join("slurm.sbatch")).unwrap();
    for line in [
        "#SBATCH --array=0-3",
        "#SBATCH --cpus-per-task=1",
        "/logs/%A_%a.out",
        env!("CARGO_BIN_EXE_formwerk"),
    ] {
        assert!(sbatch.contains(line), "{line} missing: {sbatch}");
    }
    let tasks = std::fs::read_to_string(plan.join("tasks.txt")).unwrap();
    let tasks: Vec<&str> = tasks.lines().collect();
    assert_eq!(tasks.len(), 4);
    assert_eq!(
        read_json(&plan.join("variants.json"))["variants"],
        index["variants"]
    );

    // Nothing run yet, then half: collect lists what is missing and fails.
    let collect = || formwerk(&["collect", plan.to_str().unwrap()]);
    let run_task = |line: &str| {
        let status = Command::new("sh").args(["-c", line]).status().unwrap();
        assert!(status.success(), "{line}");
    };
    run_task(tasks[0]);
    run_task(tasks[2]);
    let output = collect();
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    for row in [&rows[1], &rows[3]] {
        assert!(text.contains(row["id"].as_str().unwrap()), "{text}");
    }
    assert!(text.contains("missing"), "{text}");
    let partial = summary_rows(&plan);
    assert_eq!(partial[1]["status"], "missing");
    assert_eq!(partial[0]["status"], "ok");
    run_task(tasks[1]);
    run_task(tasks[3]);
    let output = collect();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    // Same ids, same compliances, bit for bit (runtimes differ).
    let planned = summary_rows(&plan);
    for (a, b) in rows.iter().zip(&planned) {
        for key in [
            "id",
            "label",
            "status",
            "compliance_nmm",
            "mass_g",
            "iterations",
            "pareto_optimal",
        ] {
            assert_eq!(a[key], b[key], "{key}");
        }
    }
}

#[test]
fn a_failing_variant_is_recorded_and_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let design = write_design(dir.path(), "s.toml", &sweep_design(FOUR));
    let out = dir.path().join("out");
    // Learn the ids from a plan, then put a folder where one variant's result.json must go:
    // that variant runs and then cannot write its result.
    let plan = dir.path().join("plan");
    plan_sweep(&design, &plan, "3");
    let index = read_json(&plan.join("variants.json"));
    let bad = index["variants"][2]["id"].as_str().unwrap();
    std::fs::create_dir_all(out.join(bad).join("result.json")).unwrap();

    let output = run_sweep(&design, &out, &["--max-iterations", "3"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains(&format!("{bad} failed")), "{text}");
    let error = std::fs::read_to_string(out.join(bad).join("error.txt")).unwrap();
    assert!(error.contains("result.json"), "{error}");
    let rows = summary_rows(&out);
    for row in &rows {
        let expected = if row["id"] == bad { "failed" } else { "ok" };
        assert_eq!(row["status"], expected, "{row}");
    }
}

#[test]
fn a_killed_sweep_resumes_without_recomputing() {
    let dir = tempfile::tempdir().unwrap();
    let design = write_design(dir.path(), "slow.toml", &slow_design());
    let out = dir.path().join("out");
    let mut child = spawn_sweep(&design, &out);
    wait_for_a_variant(&mut child, &out);
    child.kill().unwrap();
    child.wait().unwrap();
    let done = complete_variants(&out);
    assert!(!done.is_empty() && done.len() < 6, "{} done", done.len());
    let before: Vec<(PathBuf, Vec<u8>, std::time::SystemTime)> = done
        .iter()
        .map(|d| {
            let file = d.join("result.json");
            let modified = std::fs::metadata(&file).unwrap().modified().unwrap();
            (file.clone(), std::fs::read(&file).unwrap(), modified)
        })
        .collect();

    let output = run_sweep(&design, &out, &["--jobs", "2", "--threads-per-job", "1"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = stderr(&output);
    assert_eq!(text.matches("skipped").count(), before.len(), "{text}");
    for (file, bytes, modified) in before {
        assert_eq!(std::fs::read(&file).unwrap(), bytes, "{}", file.display());
        assert_eq!(
            std::fs::metadata(&file).unwrap().modified().unwrap(),
            modified
        );
    }
    let rows = summary_rows(&out);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r["status"] == "ok"));
}

#[test]
fn ctrl_c_stops_cleanly_with_exit_code_130() {
    let dir = tempfile::tempdir().unwrap();
    let design = write_design(dir.path(), "slow.toml", &slow_design());
    let out = dir.path().join("out");
    let mut child = spawn_sweep(&design, &out);
    wait_for_a_variant(&mut child, &out);
    let output = signal_and_wait(child, "-INT");
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    // No temporary file anywhere, every result.json complete, and a summary of what finished.
    let files = files_under(&out);
    assert!(
        files.iter().all(|f| !f.to_string_lossy().ends_with(".tmp")),
        "{files:?}"
    );
    for file in files.iter().filter(|f| f.ends_with("result.json")) {
        let result = read_json(file);
        assert!(result["compliance_nmm"].is_number());
    }
    let rows = summary_rows(&out);
    let ok = rows.iter().filter(|r| r["status"] == "ok").count();
    assert!((1..6).contains(&ok), "{ok} ok");
    assert_eq!(ok, complete_variants(&out).len());
    assert!(rows.iter().all(|r| r["status"] != "failed"));
}

#[test]
fn stl_bodies_resolve_from_variant_files_anywhere() {
    let dir = tempfile::tempdir().unwrap();
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("bodies")).unwrap();
    // A 2 × 2 × 2 mm hole: the 8 elements whose centres lie inside are kept empty.
    let hole = crate::common::box_mesh([5.0, 1.0, 1.0], [7.0, 3.0, 3.0]);
    let mut file = std::fs::File::create(project.join("bodies/hole.stl")).unwrap();
    formwerk::mesh::stl::write_binary_stl(&hole, &mut file).unwrap();
    let text = format!(
        "{SMALL_DESIGN}\n[[keep_empty]]\nregion = {{ stl = \"bodies/hole.stl\" }}\n[sweep]\nvary = {{ \"optimization.volume_fraction\" = [0.2, 0.3] }}\n"
    );
    write_design(&project, "s.toml", &text);
    let formwerk_in = |cwd: &Path, args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_formwerk"))
            .args(args)
            .current_dir(cwd)
            .output()
            .unwrap()
    };
    // The ids do not depend on where the sweep is started from.
    let from_project = formwerk_in(&project, &["check", "s.toml"]);
    let from_root = formwerk_in(
        Path::new("/"),
        &["check", project.join("s.toml").to_str().unwrap()],
    );
    assert_eq!(
        from_project.status.code(),
        Some(0),
        "{}",
        stderr(&from_project)
    );
    let ids = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .skip(1)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&from_project), ids(&from_root));

    let plan = dir.path().join("plan");
    let output = formwerk_in(
        &project,
        &[
            "sweep",
            "s.toml",
            "--plan",
            plan.to_str().unwrap(),
            "--max-iterations",
            "2",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let index = read_json(&plan.join("variants.json"));
    let variant = plan.join(index["variants"][0]["file"].as_str().unwrap());
    let out = dir.path().join("out");
    let output = formwerk_in(
        Path::new("/"),
        &[
            "run",
            variant.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        read_json(&out.join("result.json"))["element_counts"]["keep_empty"],
        8
    );
}
