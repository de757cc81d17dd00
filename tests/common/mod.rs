//! Helpers shared by the integration tests.

pub mod calculix;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small valid design; tests edit it with `str::replace`.
pub const SMALL_DESIGN: &str = r#"
name = "small"
[domain]
size_mm = [12.0, 4.0, 4.0]
element_size_mm = 1.0
[material]
youngs_modulus_mpa = 2400.0
poisson_ratio = 0.36
density_g_cm3 = 1.24
[[supports]]
region = { face = "x_min" }
fixed = ["x", "y", "z"]
[[load_cases]]
name = "tip"
[[load_cases.loads]]
region = { box = { min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0] } }
force_n = [0.0, -10.0, 0.0]
[optimization]
volume_fraction = 0.3
penalization = 3.0
filter_radius_mm = 1.5
optimizer = "oc"
move_limit = 0.2
max_iterations = 30
change_tolerance = 0.01
"#;

/// Runs the `formwerk` binary with `args`.
pub fn formwerk(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_formwerk"))
        .args(args)
        .output()
        .expect("the formwerk binary runs")
}

/// Writes `text` as `name` in `dir` and returns its path.
pub fn write_design(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temp file");
    path
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Text of stderr.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Writes `text` as a design in a fresh temporary folder and runs `formwerk run` on it with
/// `--out <tmp>/out` and `extra` arguments (see [`no_slicer_unless_asked`]). Returns the folder (kept alive), the output folder
/// and the process output.
pub fn run_design(text: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf, Output) {
    let dir = tempfile::tempdir().expect("temp dir");
    let design = write_design(dir.path(), "design.toml", text);
    let out = dir.path().join("out");
    let mut args = vec![
        "run",
        design.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    no_slicer_unless_asked(&mut args);
    let output = formwerk(&args);
    (dir, out, output)
}

/// Adds `--no-slicer` to the arguments of a run unless they name a slicer flag, and drops
/// `--with-slicer` (which asks for the default, prusa-slicer on PATH): slicing every test run
/// would cost seconds each, so only the tests of the slicer ask for it.
fn no_slicer_unless_asked(args: &mut Vec<&str>) {
    if !args
        .iter()
        .any(|a| matches!(*a, "--slicer" | "--no-slicer" | "--with-slicer"))
    {
        args.push("--no-slicer");
    }
    args.retain(|a| *a != "--with-slicer");
}

/// Runs `formwerk sweep DESIGN --out OUT` with `extra` arguments.
pub fn run_sweep(design: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "sweep",
        design.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    formwerk(&args)
}

/// Parses a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("json file")).expect("valid JSON")
}

/// An axis-aligned box from `min` to `max` (mm) as a closed, outward-oriented mesh; its last
/// triangle is `[3, 4, 7]` on the x = min face (tests drop it to make an open mesh).
pub fn box_mesh(min: [f64; 3], max: [f64; 3]) -> formwerk::mesh::TriangleMesh {
    let ([x0, y0, z0], [x1, y1, z1]) = (min, max);
    formwerk::mesh::TriangleMesh {
        vertices: vec![
            [x0, y0, z0],
            [x1, y0, z0],
            [x1, y1, z0],
            [x0, y1, z0],
            [x0, y0, z1],
            [x1, y0, z1],
            [x1, y1, z1],
            [x0, y1, z1],
        ],
        triangles: vec![
            [0, 2, 1],
            [0, 3, 2],
            [4, 5, 6],
            [4, 6, 7],
            [0, 1, 5],
            [0, 5, 4],
            [1, 2, 6],
            [1, 6, 5],
            [2, 3, 7],
            [2, 7, 6],
            [3, 0, 4],
            [3, 4, 7],
        ],
    }
}

/// Runs `designs/<name>.toml` with `--max-iterations iterations --quiet` into a fresh temporary
/// folder; returns the folder (kept alive), the output folder and its `result.json`.
pub fn run_example(
    name: &str,
    iterations: &str,
) -> (tempfile::TempDir, PathBuf, serde_json::Value) {
    run_example_with(name, &["--max-iterations", iterations])
}

/// Runs `designs/<name>.toml` with `extra` arguments and `--quiet` into a fresh temporary folder;
/// returns the folder (kept alive), the output folder and its `result.json`.
pub fn run_example_with(
    name: &str,
    extra: &[&str],
) -> (tempfile::TempDir, PathBuf, serde_json::Value) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join(name);
    let design = repo_root().join("designs").join(format!("{name}.toml"));
    let mut args = vec![
        "run",
        design.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push("--quiet");
    no_slicer_unless_asked(&mut args);
    let output = formwerk(&args);
    assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    (dir, out, result)
}

/// Sends `signal` (e.g. `-TERM`) to `child` with `kill` and waits for its output.
pub fn signal_and_wait(child: std::process::Child, signal: &str) -> Output {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal} failed");
    child.wait_with_output().expect("the child ends")
}

/// Whether an outside judge is present: `probe` runs and succeeds. Under CI (`CI=true`) a
/// missing one fails the test, since a check that is silently skipped there checks nothing;
/// elsewhere the skip is announced on stderr (written directly: the harness swallows
/// `eprintln!`). `what` names it, `install` says how to get it, `for_what` what it checks.
pub fn judge_present(probe: &mut Command, what: &str, install: &str, for_what: &str) -> bool {
    let found = probe
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {what} is missing; run `{install}`"
    );
    use std::io::Write as _;
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n*** SKIPPED: {what} is not installed; `{install}` to {for_what} ***\n"
    );
    false
}
