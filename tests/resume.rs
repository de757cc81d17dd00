//! Checkpoint and resume (issue 16): a run killed at any moment and resumed gives the
//! uninterrupted run's files bit for bit; SIGTERM keeps the checkpoint and exits 143; a changed
//! design is refused naming what changed; two runs cannot share a folder; sweeps go on from a
//! variant's checkpoint.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use formwerk::optimize::checkpoint::LoopState;
use formwerk::optimize::{IterationRecord, Observer, OptimizeError, Silent};
use formwerk::resume::{CHECKPOINT_FILE, CheckpointInterval, Resume};
use formwerk::run::{RunError, RunOptions, load_problem, run_problem_with};

use crate::common::{SMALL_DESIGN, formwerk, read_json, signal_and_wait, stderr, write_design};

/// The small design on a finer grid (1,536 elements), so that a run lasts long enough to be
/// killed at chosen iterations.
fn design(extra: &str, iterations: usize) -> String {
    SMALL_DESIGN
        .replace("element_size_mm = 1.0", "element_size_mm = 0.5")
        .replace(
            "max_iterations = 30",
            &format!("max_iterations = {iterations}"),
        )
        .replace("change_tolerance = 0.01", "change_tolerance = 0.0001")
        + extra
}

/// OC; MMA with the overhang filter and the robust projection (β continuation, volume scale);
/// minimum mass under a displacement limit by MMA (adjoint solves, warm-started too); minimum
/// mass under a safety factor (the stress adjoint, warm-started too).
fn designs() -> Vec<(&'static str, String)> {
    let mma = |text: String| text.replace("optimizer = \"oc\"", "optimizer = \"mma\"");
    vec![
        ("oc", design("", 30)),
        (
            "mma_projected_printed",
            mma(design(
                "[manufacturing]\nbuild_direction = \"+z\"\nmin_member_mm = 1.5\n",
                45,
            ))
            .replace("filter_radius_mm = 1.5\n", ""),
        ),
        (
            "min_mass",
            mma(design("", 30))
                .replace("volume_fraction = 0.3", "objective = \"min_mass\"")
                .replace(
                    "name = \"tip\"",
                    "name = \"tip\"\nmax_displacement_mm = 2.0",
                ),
        ),
        (
            "min_mass_stress",
            mma(design("", 30))
                .replace("volume_fraction = 0.3", "objective = \"min_mass\"")
                .replace("move_limit = 0.2", "move_limit = 0.05")
                .replace(
                    "density_g_cm3 = 1.24",
                    "density_g_cm3 = 1.24\nyield_strength_mpa = 40.0",
                )
                .replace("name = \"tip\"", "name = \"tip\"\nmin_safety_factor = 2.0"),
        ),
    ]
}

fn spawn_run(design: &Path, out: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_formwerk"))
        .args([
            "run",
            design.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .args(["--no-slicer", "--quiet"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("formwerk starts")
}

/// Iterations done in the folder's checkpoint, if it has a readable one.
fn iterations_saved(out: &Path) -> Option<usize> {
    let file = File::open(out.join(CHECKPOINT_FILE)).ok()?;
    let state = LoopState::read(BufReader::new(file)).ok()?;
    Some(state.header.iterations_done)
}

#[derive(Debug, Clone, Copy)]
enum Moment {
    /// As soon as the process is started.
    Start,
    /// Once a checkpoint of at least this many iterations is on disk.
    Saved(usize),
    /// Once the loop ended and the outputs are being written (density.vti is there).
    Writing,
}

/// Runs `design` into `out` with a checkpoint every iteration and SIGKILLs it at `moment`.
/// Returns whether it was killed (it may finish before a late moment).
fn kill_at(design: &Path, out: &Path, moment: Moment, extra: &[&str]) -> bool {
    let mut args = vec!["--checkpoint-every", "1"];
    args.extend_from_slice(extra);
    let mut child = spawn_run(design, out, &args);
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        let reached = match moment {
            Moment::Start => true,
            Moment::Saved(k) => iterations_saved(out).is_some_and(|n| n >= k),
            Moment::Writing => out.join("density.vti").exists(),
        };
        if reached {
            child.kill().unwrap();
            child.wait().unwrap();
            return true;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{moment:?} not reached"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// `result.json` without what measures time.
fn result_without_timings(out: &Path) -> serde_json::Value {
    let mut result = read_json(&out.join("result.json"));
    result.as_object_mut().unwrap().remove("timings");
    result.as_object_mut().unwrap().remove("after_loop_s");
    result["mesh"].as_object_mut().unwrap().remove("seconds");
    for record in result["history"].as_array_mut().unwrap() {
        record.as_object_mut().unwrap().remove("seconds");
    }
    result
}

/// The files of `out` equal those of `reference`: density field and part bit for bit, and
/// `result.json` but for its timings.
fn assert_same_run(out: &Path, reference: &Path, what: &str) {
    for file in ["density.vti", "part.stl"] {
        assert!(
            std::fs::read(out.join(file)).unwrap() == std::fs::read(reference.join(file)).unwrap(),
            "{what}: {file} differs from the uninterrupted run's"
        );
    }
    assert_eq!(
        result_without_timings(out),
        result_without_timings(reference),
        "{what}: result.json"
    );
    assert!(
        !out.join(CHECKPOINT_FILE).exists(),
        "{what}: checkpoint left"
    );
}

fn resume(design: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        design.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-slicer",
        "--resume",
        "--checkpoint-every",
        "1",
    ];
    args.extend_from_slice(extra);
    formwerk(&args)
}

#[test]
fn runs_killed_at_any_moment_resume_to_the_uninterrupted_bits() {
    let dir = tempfile::tempdir().unwrap();
    let mut table = Vec::new();
    for (name, text) in designs() {
        let design = write_design(dir.path(), &format!("{name}.toml"), &text);
        let reference = dir.path().join(format!("{name}-reference"));
        let output = formwerk(&[
            "run",
            design.to_str().unwrap(),
            "--out",
            reference.to_str().unwrap(),
            "--no-slicer",
            "--quiet",
        ]);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        let iterations = read_json(&reference.join("result.json"))["iterations"]
            .as_u64()
            .unwrap() as usize;
        assert!(iterations >= 10, "{name}: {iterations} iterations");
        let moments = [
            Moment::Start,
            Moment::Saved(1),
            Moment::Saved(iterations / 2),
            Moment::Saved(iterations - 2),
            Moment::Writing,
        ];
        for (m, moment) in moments.into_iter().enumerate() {
            let out = dir.path().join(format!("{name}-{m}"));
            let killed = kill_at(&design, &out, moment, &[]);
            if !matches!(moment, Moment::Writing) {
                assert!(killed, "{name}: finished before {moment:?}");
            }
            let saved = iterations_saved(&out);
            let output = resume(&design, &out, &[]);
            assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
            let said = String::from_utf8_lossy(&output.stdout).into_owned();
            if let Some(k) = saved {
                assert!(
                    said.contains(&format!("went on from the checkpoint after iteration {k}")),
                    "{said}"
                );
            }
            assert_same_run(&out, &reference, &format!("{name}, killed at {moment:?}"));
            table.push(format!(
                "{name}: killed at {moment:?} (checkpoint {saved:?}): equal"
            ));
        }
        // Killed, resumed, killed again, resumed again.
        let out = dir.path().join(format!("{name}-twice"));
        assert!(kill_at(&design, &out, Moment::Saved(3), &[]));
        let first = iterations_saved(&out).unwrap();
        assert!(kill_at(
            &design,
            &out,
            Moment::Saved(first + 3),
            &["--resume"]
        ));
        let output = resume(&design, &out, &[]);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        assert_same_run(&out, &reference, &format!("{name}, killed twice"));
        // Another thread count on resume gives the same bits too.
        let out = dir.path().join(format!("{name}-threads"));
        assert!(kill_at(
            &design,
            &out,
            Moment::Saved(4),
            &["--threads", "1"]
        ));
        let output = resume(&design, &out, &["--threads", "2"]);
        assert_eq!(output.status.code(), Some(0), "{name}: {}", stderr(&output));
        assert_same_run(&out, &reference, &format!("{name}, 1 then 2 threads"));
    }
    eprintln!("{}", table.join("\n"));
}

/// A run of 400 iterations that does not settle before them.
fn long_design() -> String {
    design("", 400).replace("change_tolerance = 0.0001", "change_tolerance = 1e-12")
}

/// Waits until the run holding `out` has started (its lock file exists) and a little more.
fn wait_until_running(out: &Path) {
    let start = Instant::now();
    while !out.join(".formwerk.lock").exists() {
        assert!(start.elapsed() < Duration::from_secs(60), "never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn sigterm_keeps_the_checkpoint_exits_143_and_a_changed_design_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let text = long_design();
    let design_file = write_design(dir.path(), "long.toml", &text);
    let out = dir.path().join("out");
    let child = spawn_run(&design_file, &out, &["--checkpoint-every", "never"]);
    wait_until_running(&out);
    let output = signal_and_wait(child, "-TERM");
    assert_eq!(output.status.code(), Some(143), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(said.contains("add --resume"), "{said}");
    // The checkpoint and the lock, nothing half-written, no outputs of an unfinished run.
    assert_eq!(files_in(&out), [".formwerk.lock", CHECKPOINT_FILE]);
    let saved = iterations_saved(&out).expect("a readable checkpoint");
    assert!((1..400).contains(&saved), "{saved}");

    // The design changed: refused, naming the key with both values; --force goes on.
    let changed = write_design(
        dir.path(),
        "long.toml",
        &text.replace("volume_fraction = 0.3", "volume_fraction = 0.25"),
    );
    let forced = dir.path().join("forced");
    std::fs::create_dir(&forced).unwrap();
    std::fs::copy(out.join(CHECKPOINT_FILE), forced.join(CHECKPOINT_FILE)).unwrap();
    let output = resume(&changed, &out, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("`optimization.volume_fraction` was 0.3, is 0.25")
            && said.contains("--force")
            && said.contains(CHECKPOINT_FILE),
        "{said}"
    );
    assert_eq!(said.matches("volume_fraction").count(), 1, "{said}");
    let output = resume(&changed, &forced, &["--force", "--max-iterations", "20"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains(&format!(
        "went on from the checkpoint after iteration {saved}"
    )));

    // The same design goes on to the uninterrupted result.
    write_design(dir.path(), "long.toml", &text);
    let reference = dir.path().join("reference");
    let output = formwerk(&[
        "run",
        design_file.to_str().unwrap(),
        "--out",
        reference.to_str().unwrap(),
        "--no-slicer",
        "--quiet",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let output = resume(&design_file, &out, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_same_run(&out, &reference, "after SIGTERM");
}

#[test]
fn a_second_run_into_a_busy_folder_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let design_file = write_design(dir.path(), "long.toml", &long_design());
    let out = dir.path().join("out");
    let mut first = spawn_run(&design_file, &out, &["--checkpoint-every", "never"]);
    wait_until_running(&out);
    let output = formwerk(&[
        "run",
        design_file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--no-slicer",
    ]);
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("another formwerk run is writing into this folder"),
        "{said}"
    );
    assert_eq!(files_in(&out), [".formwerk.lock"]);
}

#[test]
fn damaged_or_missing_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let design_file = write_design(dir.path(), "small.toml", &design("", 12));
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    // No checkpoint: --resume starts from iteration 0.
    let output = resume(&design_file, &out, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(!String::from_utf8_lossy(&output.stdout).contains("went on"));
    // A damaged one is refused, saying how to start again.
    assert!(kill_at(&design_file, &out, Moment::Saved(3), &[]));
    let path = out.join(CHECKPOINT_FILE);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let output = resume(&design_file, &out, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("damaged") && said.contains("delete it"),
        "{said}"
    );
    std::fs::write(&path, b"not a checkpoint").unwrap();
    let said = stderr(&resume(&design_file, &out, &[]));
    assert!(said.contains("not a formwerk checkpoint"), "{said}");
    // A bad interval names the flag and what is allowed.
    let output = formwerk(&[
        "run",
        design_file.to_str().unwrap(),
        "--checkpoint-every",
        "soon",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("--checkpoint-every"));
    assert!(stderr(&output).contains("iterations (`10`)"));
}

/// Stops the loop (as Ctrl-C does) once `after` iterations are done.
struct StopAfter {
    after: usize,
    seen: usize,
}

impl Observer for StopAfter {
    fn observe(&mut self, _: &IterationRecord, _: usize) {
        self.seen += 1;
    }

    fn cancelled(&self) -> bool {
        self.seen >= self.after
    }
}

fn library_run(
    file: &Path,
    out: &Path,
    observer: &mut dyn Observer,
    resume: Resume,
) -> Result<formwerk::run::RunReport, RunError> {
    let (design, problem) = load_problem(file).unwrap();
    let options = RunOptions {
        checkpoint: CheckpointInterval::Never,
        resume,
        ..Default::default()
    };
    run_problem_with(&design, &problem, out, observer, &options)
}

#[test]
fn a_cancelled_library_run_keeps_its_state_and_a_sweep_variant_goes_on_from_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = design("", 25);
    let file = write_design(dir.path(), "d.toml", &text);
    let reference = library_run(
        &file,
        &dir.path().join("reference"),
        &mut Silent,
        Resume::No,
    )
    .unwrap();
    let out: PathBuf = dir.path().join("out");
    let mut stop = StopAfter { after: 7, seen: 0 };
    let e = library_run(&file, &out, &mut stop, Resume::No).unwrap_err();
    assert!(
        matches!(
            e,
            RunError::Optimize(OptimizeError::Cancelled { iteration: 8 })
        ),
        "{e}"
    );
    assert_eq!(iterations_saved(&out), Some(7));
    // What a sweep run again does: go on from a checkpoint of the same design.
    let report = library_run(&file, &out, &mut Silent, Resume::IfUnchanged).unwrap();
    assert_eq!(report.resumed_after, Some(7));
    assert_eq!(report.outcome.density, reference.outcome.density);
    assert_eq!(
        report.outcome.history.len(),
        reference.outcome.history.len()
    );
    // A checkpoint of another design is not gone on from: the variant starts again.
    let mut stop = StopAfter { after: 5, seen: 0 };
    library_run(&file, &out, &mut stop, Resume::No).unwrap_err();
    let other = write_design(
        dir.path(),
        "d.toml",
        &text.replace("volume_fraction = 0.3", "volume_fraction = 0.35"),
    );
    let report = library_run(&other, &out, &mut Silent, Resume::IfUnchanged).unwrap();
    assert_eq!(report.resumed_after, None);
}

#[test]
fn a_checkpoint_of_another_binary_is_refused_and_ctrl_c_exits_130() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_design(dir.path(), "long.toml", &long_design());
    let out = dir.path().join("out");
    let child = spawn_run(&file, &out, &["--checkpoint-every", "never"]);
    wait_until_running(&out);
    let output = signal_and_wait(child, "-INT");
    assert_eq!(output.status.code(), Some(130), "{}", stderr(&output));
    assert_eq!(files_in(&out), [".formwerk.lock", CHECKPOINT_FILE]);

    // The same checkpoint as another build would have written it.
    let path = out.join(CHECKPOINT_FILE);
    let mut state = LoopState::read(BufReader::new(File::open(&path).unwrap())).unwrap();
    state.header.identity["binary_digest"] = "0123456789abcdef".into();
    let arrays = state.clone().into_arrays();
    let named: Vec<(String, &[f64])> = arrays
        .iter()
        .map(|(name, values)| (name.clone(), values.as_slice()))
        .collect();
    let mut bytes = Vec::new();
    formwerk::optimize::checkpoint::write(&mut bytes, &state.header, &named).unwrap();
    std::fs::write(&path, bytes).unwrap();
    let output = resume(&file, &out, &[]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("made by another formwerk binary") && said.contains("0123456789abcdef"),
        "{said}"
    );
    let output = resume(&file, &out, &["--force"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
}
