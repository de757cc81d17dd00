//! The sweep commands: `formwerk sweep` (local run or cluster plan), `formwerk collect`, and
//! `formwerk check` of a sweep file, with a multi-progress display.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use formwerk::optimize::{IterationRecord, Observer, Silent};
use formwerk::sweep::local::{LocalParams, SweepMonitor, VariantOutcome, run_local};
use formwerk::sweep::plan::write_plan;
use formwerk::sweep::summary::{Status, Summary, collect};
use formwerk::sweep::{Sweep, SweepError, Variant};

use super::failure::Failure;

/// Options of `formwerk sweep`.
pub struct SweepArgs {
    pub design: PathBuf,
    pub out: Option<PathBuf>,
    pub plan: Option<PathBuf>,
    pub jobs: Option<usize>,
    pub threads_per_job: Option<usize>,
    pub max_iterations: Option<usize>,
    pub quiet: bool,
    /// The slicer that judges each variant's part, and a note when none does.
    pub slicer: (Option<formwerk::slicer::Slicer>, Option<String>),
}

fn sweep_error(e: SweepError) -> Failure {
    if e.is_input_error() {
        Failure::Input(e.into())
    } else {
        Failure::Internal(e.into())
    }
}

/// `formwerk sweep`: validates every variant, then writes a plan or runs them here.
pub fn sweep(args: SweepArgs) -> Result<(), Failure> {
    for (flag, value) in [
        ("--jobs", args.jobs),
        ("--threads-per-job", args.threads_per_job),
        ("--max-iterations", args.max_iterations),
    ] {
        if value == Some(0) {
            return Err(Failure::Input(anyhow::anyhow!("{flag} must be at least 1")));
        }
    }
    let sweep =
        Sweep::load(&args.design, args.max_iterations).map_err(|e| Failure::Input(e.into()))?;
    if let Some(dir) = &args.plan {
        let exe = std::env::current_exe()
            .context("cannot find the path of this formwerk binary")
            .map_err(Failure::Internal)?;
        let threads = args.threads_per_job.unwrap_or(1);
        let index = write_plan(&sweep, dir, &exe, threads).map_err(sweep_error)?;
        if !args.quiet {
            let n = index.variants.len();
            println!(
                "{}: {n} variants planned in {} (array 0-{}, {threads} thread(s) each)",
                args.design.display(),
                dir.display(),
                n - 1
            );
            println!(
                "  Slurm:        sbatch {}",
                dir.join("slurm.sbatch").display()
            );
            println!(
                "  GNU parallel: parallel -j 4 < {}",
                dir.join("tasks.txt").display()
            );
            println!("  then:         formwerk collect {}", dir.display());
        }
        return Ok(());
    }

    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| Path::new("runs").join(format!("{}-sweep", sweep.name)));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let params = LocalParams::choose(sweep.variants.len(), cores, args.jobs, args.threads_per_job);
    if !args.quiet {
        eprintln!(
            "{}: {} variants into {}, {} at a time with {} thread(s) each; Ctrl-C stops cleanly, a rerun continues",
            args.design.display(),
            sweep.variants.len(),
            dir.display(),
            params.jobs,
            params.threads_per_job
        );
    }
    crate::interrupt::listen(
        "interrupted: stopping the running variants at their next iteration, keeping their checkpoints (again to abort now)",
        args.quiet,
    )
    .map_err(Failure::Internal)?;

    let monitor = SweepProgress::new(sweep.variants.len(), args.quiet);
    let (slicer, no_slicer_note) = args.slicer.clone();
    if let (Some(note), false) = (no_slicer_note, args.quiet) {
        eprintln!("note: {note}");
    }
    let options = formwerk::run::RunOptions {
        slicer,
        resume: formwerk::resume::Resume::IfUnchanged,
        ..Default::default()
    };
    let outcomes = run_local(
        &sweep,
        &dir,
        params,
        &monitor,
        &crate::interrupt::STOP,
        &options,
    )
    .map_err(sweep_error)?;
    drop(monitor);
    let summary = collect(&dir).map_err(sweep_error)?;
    summary.write(&dir).map_err(sweep_error)?;

    let count = |f: fn(&VariantOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    let skipped = count(|o| matches!(o, VariantOutcome::Skipped));
    let finished = count(|o| matches!(o, VariantOutcome::Finished { .. }));
    if !args.quiet {
        println!(
            "{} variants: {finished} run, {skipped} skipped (finished earlier), {} failed, {} not finished",
            outcomes.len(),
            count(|o| matches!(o, VariantOutcome::Failed { .. })),
            count(|o| matches!(o, VariantOutcome::Cancelled | VariantOutcome::NotStarted)),
        );
        print_summary(&summary, &dir);
    }
    if crate::interrupt::requested() {
        return Err(Failure::Interrupted(anyhow::anyhow!(
            "interrupted: {} variants finished; rerun the same command to run the rest (stopped variants go on from their checkpoints)",
            finished + skipped
        )));
    }
    incomplete(&summary)
}

/// `formwerk collect DIR`: the summary of whatever finished.
pub fn collect_dir(dir: &Path, quiet: bool) -> Result<(), Failure> {
    let summary = collect(dir).map_err(sweep_error)?;
    summary.write(dir).map_err(sweep_error)?;
    if !quiet {
        let [ok, failed, missing] = summary.counts();
        println!(
            "{}: {} variants, {ok} ok, {failed} failed, {missing} missing",
            dir.display(),
            summary.rows.len()
        );
        print_summary(&summary, dir);
    }
    incomplete(&summary)
}

/// `formwerk check` of a sweep file: every variant is validated.
pub fn check_sweep(path: &Path) -> Result<(), Failure> {
    let sweep = Sweep::load(path, None).map_err(|e| Failure::Input(e.into()))?;
    println!(
        "{}: valid sweep of {} variants ({} mode over {})",
        path.display(),
        sweep.variants.len(),
        sweep.mode.as_str(),
        sweep.keys.join(", ")
    );
    for v in &sweep.variants {
        println!("  {:>4}  {}  {}", v.index, v.id, v.label);
    }
    Ok(())
}

/// Exit 2 with the list of failed and missing variants, if any.
fn incomplete(summary: &Summary) -> Result<(), Failure> {
    let bad: Vec<String> = summary
        .rows
        .iter()
        .filter(|r| r.status != Status::Ok)
        .map(|r| {
            let status = if r.status == Status::Failed {
                "failed"
            } else {
                "missing"
            };
            format!(
                "  {} {status} ({}): {}",
                r.entry.id, r.entry.label, r.message
            )
        })
        .collect();
    if bad.is_empty() {
        return Ok(());
    }
    Err(Failure::Internal(anyhow::anyhow!(
        "{} of {} variants did not finish:\n{}",
        bad.len(),
        summary.rows.len(),
        bad.join("\n")
    )))
}

fn print_summary(summary: &Summary, dir: &Path) {
    if summary.rows.iter().any(|r| r.pareto_optimal) {
        println!(
            "Pareto-optimal variants ({} against compliance):",
            summary.x_column()
        );
        print!("{}", summary.pareto_table());
    }
    println!(
        "summary in {} and {}, plot in {}",
        dir.join("summary.csv").display(),
        dir.join("summary.json").display(),
        dir.join("pareto.svg").display()
    );
}

/// Progress of a local sweep: on a terminal one bar for the sweep and one per running variant;
/// otherwise (indicatif would hide everything) plain lines.
struct SweepProgress {
    quiet: bool,
    multi: Option<MultiProgress>,
    total: Option<ProgressBar>,
    count: usize,
    ended: AtomicUsize,
    /// Serializes plain lines from the workers.
    lines: Mutex<()>,
}

impl SweepProgress {
    const LINE_INTERVAL: Duration = Duration::from_secs(10);

    fn new(count: usize, quiet: bool) -> Self {
        let terminal = !quiet
            && std::io::stderr().is_terminal()
            && std::env::var("TERM").is_ok_and(|t| t != "dumb");
        let multi = terminal.then(MultiProgress::new);
        let total = multi.as_ref().map(|m| {
            let bar = m.add(ProgressBar::new(count as u64));
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} sweep [{bar:30}] {pos}/{len} variants",
                )
                .expect("static template")
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            quiet,
            multi,
            total,
            count,
            ended: AtomicUsize::new(0),
            lines: Mutex::new(()),
        }
    }

    fn line(&self, text: &str) {
        if self.quiet {
            return;
        }
        match &self.multi {
            Some(m) => {
                let _ = m.println(text);
            }
            None => {
                let _guard = self.lines.lock();
                eprintln!("{text}");
            }
        }
    }
}

impl SweepMonitor for SweepProgress {
    fn variant_observer<'a>(&'a self, variant: &Variant) -> Box<dyn Observer + 'a> {
        if self.quiet {
            return Box::new(Silent);
        }
        let name = format!("{} {}", variant.id, variant.label);
        match &self.multi {
            Some(m) => {
                let bar = m.add(ProgressBar::new(1));
                bar.set_style(
                    ProgressStyle::with_template("  {prefix} [{bar:20}] {pos}/{len} {msg}")
                        .expect("static template")
                        .progress_chars("=> "),
                );
                bar.set_prefix(name);
                Box::new(VariantBar { bar })
            }
            None => {
                self.line(&format!("started {name}"));
                Box::new(VariantLines {
                    name,
                    monitor: self,
                    last: Instant::now(),
                })
            }
        }
    }

    fn variant_ended(&self, variant: &Variant, outcome: &VariantOutcome) {
        let done = self.ended.fetch_add(1, Ordering::SeqCst) + 1;
        if let Some(total) = &self.total {
            total.set_position(done as u64);
        }
        let what = match outcome {
            VariantOutcome::Skipped => "skipped (finished earlier)".to_string(),
            VariantOutcome::Finished {
                seconds,
                compliance_nmm,
            } => format!("done in {seconds:.1} s, compliance {compliance_nmm:.6} N·mm"),
            VariantOutcome::Failed { message } => format!("FAILED: {message}"),
            VariantOutcome::Cancelled => "stopped, nothing written".to_string(),
            VariantOutcome::NotStarted => "not started".to_string(),
        };
        self.line(&format!(
            "[{done}/{}] {} {}: {what}",
            self.count, variant.id, variant.label
        ));
    }
}

impl Drop for SweepProgress {
    fn drop(&mut self) {
        if let Some(total) = &self.total {
            total.finish_and_clear();
        }
    }
}

/// One running variant's bar.
struct VariantBar {
    bar: ProgressBar,
}

impl Observer for VariantBar {
    fn observe(&mut self, r: &IterationRecord, max_iterations: usize) {
        self.bar.set_length(max_iterations as u64);
        self.bar.set_position(r.iter as u64);
        self.bar.set_message(format!(
            "compliance {:.4e}  change {:.3}",
            r.compliance_nmm, r.change
        ));
    }
}

impl Drop for VariantBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// One running variant's plain progress line every few seconds.
struct VariantLines<'a> {
    name: String,
    monitor: &'a SweepProgress,
    last: Instant,
}

impl Observer for VariantLines<'_> {
    fn observe(&mut self, r: &IterationRecord, max_iterations: usize) {
        if self.last.elapsed() >= SweepProgress::LINE_INTERVAL {
            self.monitor.line(&format!(
                "  {} iter {}/{max_iterations} compliance {:.5e}",
                self.name, r.iter, r.compliance_nmm
            ));
            self.last = Instant::now();
        }
    }
}
