//! Bad input: every case exits with code 1 and its message names the file and the key.
// See: issue 2

use crate::common::{SMALL_DESIGN, formwerk, stderr, write_design};

/// Checks `formwerk check` and `formwerk run` both reject `text` naming `key` (and `hint`).
fn rejects(text: &str, key: &str, hint: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = write_design(dir.path(), "bad.toml", text);
    let out_dir = dir.path().join("out");
    for args in [
        vec!["check", path.to_str().unwrap()],
        vec![
            "run",
            path.to_str().unwrap(),
            "--quiet",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    ] {
        let output = formwerk(&args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert!(message.contains("bad.toml"), "no file name in: {message}");
        assert!(message.contains(key), "no key `{key}` in: {message}");
        assert!(message.contains(hint), "no hint `{hint}` in: {message}");
        assert!(!message.contains("panicked"), "{message}");
    }
    assert!(!out_dir.exists(), "nothing may be written for a bad design");
}

fn edit(from: &str, to: &str) -> String {
    assert!(
        SMALL_DESIGN.contains(from),
        "test edit `{from}` does not apply"
    );
    SMALL_DESIGN.replace(from, to)
}

#[test]
fn unknown_keys() {
    rejects(
        &format!("colour = \"red\"\n{SMALL_DESIGN}"),
        "colour",
        "unknown key",
    );
    rejects(
        &edit("penalization = 3.0", "penalisation = 3.0"),
        "penalisation",
        "did you mean `penalization`?",
    );
    rejects(
        &edit(
            "force_n = [0.0, -10.0, 0.0]",
            "force_n = [0.0, -10.0, 0.0]\nmoment = 1.0",
        ),
        "moment",
        "unknown key",
    );
}

#[test]
fn wrong_types_and_missing_keys() {
    rejects(
        &edit("volume_fraction = 0.3", "volume_fraction = \"high\""),
        "optimization.volume_fraction",
        "invalid type",
    );
    rejects(
        &edit("max_iterations = 30", "max_iterations = -3"),
        "optimization.max_iterations",
        "",
    );
    rejects(
        &edit("volume_fraction = 0.3\n", ""),
        "optimization",
        "volume_fraction",
    );
    rejects(
        &edit("size_mm = [12.0, 4.0, 4.0]", "size_mm = [12.0, 4.0]"),
        "domain.size_mm",
        "",
    );
    rejects(
        &edit("optimizer = \"oc\"", "optimizer = \"newton\""),
        "optimization.optimizer",
        "oc",
    );
    rejects(
        &edit("face = \"x_min\"", "face = \"x_middle\""),
        "supports[0].region",
        "x_min",
    );
    rejects(
        &edit("fixed = [\"x\", \"y\", \"z\"]", "fixed = [\"w\"]"),
        "supports[0].fixed",
        "x",
    );
}

#[test]
fn syntax_errors_keep_line_and_column() {
    let text = edit("penalization = 3.0", "penalization = = 3.0");
    let line = text.lines().position(|l| l.contains("= = 3.0")).unwrap() + 1;
    rejects(&text, &format!("bad.toml:{line}:"), "");
}

#[test]
fn out_of_range_values() {
    rejects(
        &edit("volume_fraction = 0.3", "volume_fraction = 1.5"),
        "optimization.volume_fraction",
        "(0, 1]",
    );
    rejects(
        &edit("volume_fraction = 0.3", "volume_fraction = 0.0"),
        "optimization.volume_fraction",
        "(0, 1]",
    );
    rejects(
        &edit("poisson_ratio = 0.36", "poisson_ratio = 0.5"),
        "material.poisson_ratio",
        "(-1, 0.5)",
    );
    rejects(
        &edit("poisson_ratio = 0.36", "poisson_ratio = -1.0"),
        "material.poisson_ratio",
        "(-1, 0.5)",
    );
    rejects(
        &edit("youngs_modulus_mpa = 2400.0", "youngs_modulus_mpa = -5.0"),
        "material.youngs_modulus_mpa",
        "-5 must lie in [1e-6, 1e9] MPa",
    );
    rejects(
        &edit("density_g_cm3 = 1.24", "density_g_cm3 = nan"),
        "material.density_g_cm3",
        "NaN must lie in (0, 100]",
    );
    rejects(
        &edit("penalization = 3.0", "penalization = 0.5"),
        "optimization.penalization",
        "[1, 10]",
    );
    rejects(
        &edit("filter_radius_mm = 1.5", "filter_radius_mm = 0.0"),
        "optimization.filter_radius_mm",
        "positive",
    );
    rejects(
        &edit("move_limit = 0.2", "move_limit = 0.0"),
        "optimization.move_limit",
        "(0, 1]",
    );
    rejects(
        &edit("max_iterations = 30", "max_iterations = 0"),
        "optimization.max_iterations",
        "at least 1",
    );
    rejects(
        &edit("change_tolerance = 0.01", "change_tolerance = 1.0"),
        "optimization.change_tolerance",
        "[0, 1)",
    );
    rejects(
        &edit("name = \"small\"", "name = \"../escape\""),
        "name",
        "letters",
    );
}

#[test]
fn bad_domains() {
    rejects(
        &edit("size_mm = [12.0, 4.0, 4.0]", "size_mm = [12.0, -4.0, 4.0]"),
        "domain.size_mm",
        "positive",
    );
    rejects(
        &edit("element_size_mm = 1.0", "element_size_mm = 0.0"),
        "domain.element_size_mm",
        "positive",
    );
    rejects(
        &edit("element_size_mm = 1.0", "element_size_mm = 0.7"),
        "domain.element_size_mm",
        "whole elements",
    );
    rejects(
        &edit(
            "element_size_mm = 1.0",
            "element_size_mm = 1.0\nelements = [12, 4, 4]",
        ),
        "domain",
        "exactly one of",
    );
    rejects(
        &edit("element_size_mm = 1.0", "elements = [12, 4, 2]"),
        "domain.elements",
        "cubic",
    );
    rejects(
        &edit("element_size_mm = 1.0", "elements = [12, 0, 4]"),
        "domain.elements",
        "≥ 1",
    );
}

#[test]
fn regions_that_select_nothing() {
    rejects(
        &edit(
            "min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0]",
            "min_mm = [12.0, 0.5, 0.0], max_mm = [12.0, 0.5, 4.0]",
        ),
        "load_cases[0].loads[0].region",
        "selects no node",
    );
    rejects(
        &edit(
            "min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0]",
            "min_mm = [12.0, 2.0, 0.0], max_mm = [12.0, 0.0, 4.0]",
        ),
        "load_cases[0].loads[0].region",
        "must not exceed",
    );
    rejects(
        &edit(
            "min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0]",
            "min_mm = [20.0, 0.0, 0.0], max_mm = [30.0, 4.0, 4.0]",
        ),
        "load_cases[0].loads[0].region",
        "selects no node",
    );
}

#[test]
fn forces_only_on_fixed_nodes() {
    rejects(
        &edit(
            "min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0]",
            "min_mm = [0.0, 0.0, 0.0], max_mm = [0.0, 4.0, 4.0]",
        ),
        "load_cases[0].loads[0].region",
        "held by the supports",
    );
    rejects(
        &edit("force_n = [0.0, -10.0, 0.0]", "force_n = [0.0, 0.0, 0.0]"),
        "load_cases[0].loads[0].force_n",
        "non-zero",
    );
}

#[test]
fn missing_or_insufficient_supports() {
    let no_supports = edit(
        "[[supports]]\nregion = { face = \"x_min\" }\nfixed = [\"x\", \"y\", \"z\"]\n",
        "",
    );
    rejects(&no_supports, "supports", "at least one");
    rejects(
        &edit("fixed = [\"x\", \"y\", \"z\"]", "fixed = [\"x\"]"),
        "supports",
        "rigid-body motion",
    );
    rejects(
        &edit("fixed = [\"x\", \"y\", \"z\"]", "fixed = []"),
        "supports[0].fixed",
        "at least one",
    );
    let one_node = edit(
        "region = { face = \"x_min\" }",
        "region = { box = { min_mm = [0.0, 0.0, 0.0], max_mm = [0.0, 0.0, 0.0] } }",
    );
    rejects(&one_node, "supports", "rotation");
}

#[test]
fn missing_load_cases() {
    let text = SMALL_DESIGN
        .split("[[load_cases]]")
        .next()
        .unwrap()
        .to_string()
        + "[optimization]\nvolume_fraction = 0.3\n";
    rejects(&text, "load_cases", "at least one");
}

#[test]
fn missing_file_and_bad_arguments() {
    let output = formwerk(&["check", "/nonexistent/design.toml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("/nonexistent/design.toml"));
    let output = formwerk(&["run"]);
    assert_eq!(output.status.code(), Some(1));
    let output = formwerk(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(1));
    let dir = tempfile::tempdir().unwrap();
    let path = write_design(dir.path(), "ok.toml", SMALL_DESIGN);
    let output = formwerk(&["run", path.to_str().unwrap(), "--threads", "0"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--threads"));
}

#[test]
fn bad_solver_settings() {
    // See: issue 3
    let with_solver = |section: &str| format!("{SMALL_DESIGN}[solver]\n{section}\n");
    rejects(
        &with_solver("tolerance = 2.0"),
        "solver.tolerance",
        "(0, 1)",
    );
    rejects(
        &with_solver("tolerance = 0.0"),
        "solver.tolerance",
        "(0, 1)",
    );
    rejects(
        &with_solver("max_iterations = 0"),
        "solver.max_iterations",
        "at least 1",
    );
    rejects(&with_solver("levels = 5"), "solver.levels", "[2, 3]");
    rejects(&with_solver("levels = 1"), "solver.levels", "[2, 3]");
    rejects(
        &with_solver("method = \"cholesky\""),
        "solver.method",
        "multigrid",
    );
    rejects(
        &with_solver("smoother = \"jacobi\""),
        "smoother",
        "unknown key",
    );
}

#[test]
fn bad_bench_arguments() {
    // See: issue 3
    for args in [
        vec!["bench", "--sizes", "64x32"],
        vec!["bench", "--sizes", "0x8x8"],
        vec!["bench", "--iterations", "0"],
        vec!["bench", "--threads", "0"],
    ] {
        let output = formwerk(&args);
        assert_eq!(
            output.status.code(),
            Some(1),
            "{args:?}: {}",
            stderr(&output)
        );
    }
}

#[test]
fn loads_beyond_any_printed_part_are_refused_before_the_solve_overflows() {
    // See: issue 16. A force of 1e308 N used to overflow the first solve into NaN (exit 2, the
    // same message three times, no key named).
    rejects(
        &edit(
            "force_n = [0.0, -10.0, 0.0]",
            "force_n = [0.0, -1e308, 0.0]",
        ),
        "load_cases[0].loads[0].force_n",
        "1e308 N is more than 1e12 N",
    );
    rejects(
        &edit("force_n = [0.0, -10.0, 0.0]", "pressure_mpa = 1e9"),
        "load_cases[0].loads[0].pressure_mpa",
        "more than 1e6 MPa",
    );
    rejects(
        &edit(
            "force_n = [0.0, -10.0, 0.0]",
            "torque_nmm = -1e20\naxis = [1.0, 0.0, 0.0]",
        ),
        "load_cases[0].loads[0].torque_nmm",
        "more than 1e15 N·mm",
    );
    let heavy = format!(
        "{}\n[[load_cases.loads]]\ngravity_m_s2 = [0.0, 0.0, -1e300]\n",
        SMALL_DESIGN.split("[optimization]").next().unwrap()
    ) + "[optimization]"
        + SMALL_DESIGN.split("[optimization]").nth(1).unwrap();
    rejects(
        &heavy,
        "load_cases[0].loads[1].gravity_m_s2",
        "more than 1e6 m/s²",
    );
}

#[test]
fn an_error_and_its_cause_are_said_once() {
    // The output folder cannot be made: the OS error is quoted in the message, not repeated.
    let dir = tempfile::tempdir().unwrap();
    let path = write_design(dir.path(), "d.toml", SMALL_DESIGN);
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let out = blocker.join("out");
    let output = formwerk(&[
        "run",
        path.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-slicer",
    ]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("cannot write"), "{message}");
    let cause = "Not a directory";
    assert_eq!(message.matches(cause).count(), 1, "{message}");
}

/// The memory guard (issue 16): a design whose run cannot fit is refused at once, naming what
/// it needs, what there is and how to get there, before anything of its grid's size exists.
#[test]
fn a_billion_elements_are_refused_in_under_a_second_without_allocating() {
    let huge = edit(
        "size_mm = [12.0, 4.0, 4.0]",
        "size_mm = [1000.0, 1000.0, 1000.0]",
    );
    rejects(
        &huge,
        "domain.element_size_mm",
        "for [1000, 1000, 1000] = 1000000000 elements, more than the",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write_design(dir.path(), "huge.toml", &huge);
    let start = std::time::Instant::now();
    let output = formwerk(&["run", path.to_str().unwrap(), "--quiet"]);
    let seconds = start.elapsed().as_secs_f64();
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(seconds < 1.0, "{seconds} s");
    for part in ["GiB available on this machine", "optimization.symmetry"] {
        assert!(message.contains(part), "no `{part}` in: {message}");
    }
    assert_eq!(
        message.matches("the run needs about").count(),
        1,
        "{message}"
    );
}

#[test]
fn max_memory_bounds_a_run_and_check_reports_both_figures() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_design(dir.path(), "small.toml", SMALL_DESIGN);
    let out_dir = dir.path().join("out");
    let output = formwerk(&[
        "run",
        path.to_str().unwrap(),
        "--max-memory",
        "100K",
        "--out",
        out_dir.to_str().unwrap(),
    ]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("MiB given by --max-memory"), "{message}");
    assert!(!out_dir.exists());
    let output = formwerk(&["check", path.to_str().unwrap(), "--max-memory", "2G"]);
    let said = String::from_utf8_lossy(&output.stdout).into_owned();
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(
        said.contains("MiB (of 2.0 GiB given by --max-memory)"),
        "{said}"
    );
    let output = formwerk(&["check", path.to_str().unwrap(), "--max-memory", "lots"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("is not a size"),
        "{}",
        stderr(&output)
    );
}

/// Issue 16: the weaker messages name the keys at fault, in the design file's words.
#[test]
fn regions_keep_regions_materials_and_types_are_named_plainly() {
    rejects(
        &edit(
            "region = { face = \"x_min\" }",
            "region = { face = \"x_min\", box = { min_mm = [0.0, 0.0, 0.0], max_mm = [1.0, 1.0, 1.0] } }",
        ),
        "supports[0].region",
        "a region has one kind, this one has 2: `face` and `box`",
    );
    rejects(
        &edit("region = { face = \"x_min\" }", "region = {}"),
        "supports[0].region",
        "a region needs one kind: face, box, cylinder",
    );
    rejects(
        &format!(
            "{SMALL_DESIGN}\n[[keep_empty]]\nregion = {{ box = {{ min_mm = [0.0, 0.0, 0.0], max_mm = [12.0, 4.0, 4.0] }} }}\n"
        ),
        "keep_empty",
        "keep_empty covers the whole domain",
    );
    rejects(
        &edit("youngs_modulus_mpa = 2400.0", "youngs_modulus_mpa = 1e300"),
        "material.youngs_modulus_mpa",
        "1e300 must lie in [1e-6, 1e9] MPa",
    );
    rejects(
        &edit("youngs_modulus_mpa = 2400.0", "youngs_modulus_mpa = 1e-300"),
        "material.youngs_modulus_mpa",
        "1e-300 must lie in",
    );
    rejects(
        &edit("density_g_cm3 = 1.24", "density_g_cm3 = 1e300"),
        "material.density_g_cm3",
        "must lie in (0, 100] g/cm³",
    );
    rejects(
        &edit("volume_fraction = 0.3", "volume_fraction = \"high\""),
        "optimization.volume_fraction",
        "expected a number",
    );
    rejects(
        &edit("max_iterations = 30", "max_iterations = 2.5"),
        "optimization.max_iterations",
        "expected a whole number",
    );
}

/// `formwerk schema | head -1`: a reader that stops early closes the pipe, and the command ends
/// quietly as other command-line tools do, not with a panic and exit code 101.
#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    for args in [["schema"], ["man"], ["materials"]] {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_formwerk"))
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Closed before the command has written anything.
        drop(child.stdout.take());
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(output.status.code(), Some(101), "{args:?}: {stderr}");
    }
}
