//! A planned sweep run as a job array on a real Slurm cluster, then collected: the summary
//! equals the local sweep's. `.ci/slurm.sh start` sets up a one-node cluster on this machine;
//! under CI (`CI=true`) an unreachable cluster fails the test, elsewhere it is skipped loudly.
// See: issue 7

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{SMALL_DESIGN, formwerk, read_json, stderr, write_design};

/// Whether `sinfo` reaches a Slurm controller.
fn slurm_available() -> bool {
    let reachable = Command::new("sinfo")
        .arg("-h")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if reachable {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but no Slurm cluster answers; run `.ci/slurm.sh start`"
    );
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n*** SKIPPED: no Slurm cluster answers `sinfo`; `.ci/slurm.sh start` sets one up ***\n"
    );
    false
}

fn summary_rows(dir: &Path) -> Vec<Value> {
    read_json(&dir.join("summary.json"))["variants"]
        .as_array()
        .unwrap()
        .clone()
}

/// Runs a command and returns its stdout, failing the test on a non-zero exit.
fn checked(command: &mut Command) -> String {
    let output = command.output().expect("command runs");
    assert!(output.status.success(), "{command:?}: {}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_planned_sweep_runs_as_a_slurm_job_array_and_collects_like_a_local_one() {
    if !slurm_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "{SMALL_DESIGN}\n[sweep]\nvary = {{ \"optimization.volume_fraction\" = [0.2, 0.3], material = [\"PLA\", \"PETG\"] }}\n"
    );
    let design = write_design(dir.path(), "s.toml", &text);
    let design = design.to_str().unwrap();

    let local = dir.path().join("local");
    let output = formwerk(&[
        "sweep",
        design,
        "--out",
        local.to_str().unwrap(),
        "--max-iterations",
        "8",
        "--quiet",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    let plan = dir.path().join("plan");
    let output = formwerk(&[
        "sweep",
        design,
        "--plan",
        plan.to_str().unwrap(),
        "--max-iterations",
        "8",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));

    // Submit the array and wait until it has left the queue (polling: `sbatch --wait` polls
    // only every 10 s).
    let job = checked(
        Command::new("sbatch")
            .arg("--parsable")
            .arg(plan.join("slurm.sbatch"))
            .current_dir(&plan),
    );
    let job = job.trim().split(';').next().unwrap().to_string();
    let start = Instant::now();
    loop {
        let queued = Command::new("squeue")
            .args(["-h", "-j", &job])
            .stderr(Stdio::null())
            .output()
            .expect("squeue runs");
        if queued.stdout.iter().all(u8::is_ascii_whitespace) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "job {job} still queued after 300 s"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every task of the array ran and exited 0.
    let tasks = checked(Command::new("scontrol").args(["-o", "show", "job", &job]));
    let tasks: Vec<&str> = tasks.lines().collect();
    assert_eq!(tasks.len(), 4, "{tasks:?}");
    for task in &tasks {
        assert!(
            task.contains("JobState=COMPLETED") && task.contains("ExitCode=0:0"),
            "{task}"
        );
    }

    let output = formwerk(&["collect", plan.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let (local_rows, planned_rows) = (summary_rows(&local), summary_rows(&plan));
    assert_eq!(local_rows.len(), 4);
    assert_eq!(planned_rows.len(), 4);
    for (a, b) in local_rows.iter().zip(&planned_rows) {
        assert_eq!(b["status"], "ok", "{b}");
        for key in ["id", "label", "compliance_nmm", "mass_g", "iterations"] {
            assert_eq!(a[key], b[key], "{key}");
        }
        // Bitwise: the same density field from the cluster as from the local sweep.
        let id = a["id"].as_str().unwrap();
        assert_eq!(
            std::fs::read(local.join(id).join("density.vti")).unwrap(),
            std::fs::read(plan.join(id).join("density.vti")).unwrap(),
            "{id}"
        );
    }
}
