//! `formwerk run`: one design end to end, with progress, checkpoints and the summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};

use formwerk::analysis::DesignAnalysis;
use formwerk::optimize::{IterationRecord, Observer, OptimizeError, Silent};
use formwerk::run::{RunError, run_problem_with};

use super::failure::Failure;

/// `formwerk run`'s choices besides the design and the folder.
pub(super) struct RunChoices {
    pub(super) max_iterations: Option<usize>,
    pub(super) quiet: bool,
    pub(super) slicer: (Option<formwerk::slicer::Slicer>, Option<String>),
    pub(super) resume: formwerk::resume::Resume,
    pub(super) checkpoint: formwerk::resume::CheckpointInterval,
    pub(super) max_memory: Option<u64>,
    pub(super) verbose: bool,
    pub(super) json: bool,
}

pub(super) fn run_design(
    path: &Path,
    out: Option<PathBuf>,
    choices: RunChoices,
) -> Result<(), Failure> {
    let RunChoices {
        max_iterations,
        quiet,
        slicer: (slicer, no_slicer_note),
        resume,
        checkpoint,
        max_memory,
        verbose,
        json,
    } = choices;
    let input = |e: formwerk::DesignError| Failure::Input(e.into());
    let mut design = formwerk::Design::load(path).map_err(input)?;
    if let Some(n) = max_iterations {
        design.optimization.max_iterations = n;
    }
    let limit = formwerk::memory::MemoryLimit::current(max_memory);
    let problem = design
        .to_problem_within(path, limit.as_ref())
        .map_err(input)?;
    let out_dir = out.unwrap_or_else(|| Path::new("runs").join(&problem.name));
    let mut progress = UntilSignal(if quiet {
        Box::new(Silent)
    } else {
        Box::new(Progress::new(verbose))
    });
    crate::interrupt::listen(
        "interrupted: stopping before the next iteration and keeping the checkpoint (again to abort now)",
        quiet,
    )
    .map_err(Failure::Internal)?;
    let options = formwerk::run::RunOptions {
        slicer,
        checkpoint,
        resume,
    };
    let report = run_problem_with(&design, &problem, &out_dir, &mut progress, &options)
        .map_err(|e| match e {
            RunError::Optimize(OptimizeError::Cancelled { iteration }) => {
                let kept = if iteration > 1 {
                    format!(
                        "{} keeps the {} iterations done; add --resume to the same command to go on",
                        out_dir.join(formwerk::resume::CHECKPOINT_FILE).display(),
                        iteration - 1
                    )
                } else {
                    "no iteration was done".to_string()
                };
                Failure::Interrupted(anyhow::anyhow!("interrupted: {kept}"))
            }
            e if e.is_input_error() => Failure::Input(e.into()),
            e => Failure::Internal(e.into()),
        })?;
    drop(progress);
    if json {
        let result_file = report.out_dir.join("result.json");
        let mut result: serde_json::Value = std::fs::read(&result_file)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(serde_json::from_slice(&bytes)?))
            .with_context(|| format!("cannot read {}", result_file.display()))
            .map_err(Failure::Internal)?;
        result["out_dir"] = report.out_dir.to_string_lossy().into_owned().into();
        result["resumed_after"] = report.resumed_after.into();
        println!("{result}");
    } else if !quiet {
        let outcome = &report.outcome;
        for warning in &report.warnings {
            eprintln!("warning: {warning}");
        }
        println!(
            "{}: {} iterations ({}), compliance {:.6} N·mm, volume fraction {:.4}{}",
            problem.name,
            outcome.iterations,
            outcome.termination,
            outcome.compliance_nmm,
            outcome.volume_fraction,
            problem
                .mass_g(&outcome.density)
                .map_or(String::new(), |m| format!(", mass {m:.2} g")),
        );
        print_analysis(&report.analysis);
        print_part_analysis(&report.part_analysis);
        println!(
            "{:.1} s ({:.3} s per iteration); part.stl: {} triangles, {:.1} mm³",
            outcome.timings.total_s,
            outcome.timings.per_iteration_s,
            report.mesh.triangles,
            report.mesh.signed_volume_mm3
        );
        match (&report.slicer, no_slicer_note) {
            (Some(slicer), _) => println!("{}", slicer_line(slicer)),
            (None, Some(note)) => println!("note: {note}"),
            (None, None) => {}
        }
        if let Some(done) = report.resumed_after {
            println!("went on from the checkpoint after iteration {done}");
        }
        println!("results in {}", report.out_dir.display());
    }
    Ok(())
}

pub(super) fn print_analysis(analysis: &DesignAnalysis) {
    for case in &analysis.load_cases {
        println!(
            "  {}: compliance {:.6} N·mm, max displacement {:.4} mm, max von Mises {:.2} MPa (peak {:.2}){}",
            case.name,
            case.compliance_nmm,
            case.max_displacement_mm,
            case.max_von_mises_mpa,
            case.peak_von_mises_mpa,
            case.safety_factor
                .map_or(String::new(), |sf| format!(", safety factor {sf:.2}")),
        );
    }
}

/// The exported part's figures, a line per load case.
pub(super) fn print_part_analysis(part: &formwerk::analysis::PartAnalysis) {
    println!(
        "exported part ({} elements at density ≥ {:.3}, solved again):",
        part.elements, part.threshold
    );
    for case in &part.load_cases {
        println!(
            "  {}: max displacement {:.4} mm, max von Mises {:.2} MPa (99.9 % {:.2}, peak {:.2}){}",
            case.name,
            case.max_displacement_mm,
            case.max_von_mises_mpa,
            case.von_mises_p999_mpa,
            case.peak_von_mises_mpa,
            case.safety_factor
                .map_or(String::new(), |sf| format!(", safety factor {sf:.2}")),
        );
    }
}

/// One line of what the slicer said.
pub(super) fn slicer_line(s: &formwerk::slicer::SlicerReport) -> String {
    let grams = |g: Option<f64>| g.map_or(String::new(), |g| format!(", {g:.1} g"));
    format!(
        "{} at {}° along {}: supports {:.0} mm of filament{} = {:.1} % of the part's {:.0} mm{}; print {} ({} without supports)",
        s.slicer_version,
        s.settings.support_threshold_deg,
        s.settings.build_direction,
        s.support_filament_mm,
        grams(s.support_filament_g),
        100.0 * s.support_share,
        s.part_filament_mm,
        grams(s.part_filament_g),
        hours_minutes(s.print_time_s),
        hours_minutes(s.print_time_without_supports_s),
    )
}

/// `1 h 05 min` or `12 min`.
fn hours_minutes(seconds: f64) -> String {
    let minutes = (seconds / 60.0).round() as u64;
    if minutes >= 60 {
        format!("{} h {:02} min", minutes / 60, minutes % 60)
    } else {
        format!("{minutes} min")
    }
}

/// Passes the iterations on, and asks the loop to stop once Ctrl-C or SIGTERM came.
struct UntilSignal(Box<dyn Observer>);

impl Observer for UntilSignal {
    fn observe(&mut self, record: &IterationRecord, max_iterations: usize) {
        self.0.observe(record, max_iterations);
    }

    fn cancelled(&self) -> bool {
        crate::interrupt::requested()
    }
}

/// Progress: a bar with elapsed time and ETA on a terminal, a plain line every few seconds
/// otherwise, or (verbose) a line per iteration with the solver's figures.
struct Progress {
    bar: Option<ProgressBar>,
    last_line: Option<Instant>,
    verbose: bool,
    started: Instant,
    /// The first iteration seen (a resumed run starts past 1).
    first: Option<usize>,
}

impl Progress {
    const LINE_INTERVAL: Duration = Duration::from_secs(5);

    fn new(verbose: bool) -> Self {
        // indicatif hides everything when stderr is not a terminal (CRATES.md), so plain lines then.
        let terminal =
            std::io::stderr().is_terminal() && std::env::var("TERM").is_ok_and(|t| t != "dumb");
        Self {
            bar: (terminal && !verbose).then(ProgressBar::hidden),
            last_line: None,
            verbose,
            started: Instant::now(),
            first: None,
        }
    }

    /// Elapsed time and the time left to `max_iterations` at the pace so far, as `12s, ETA 40s`.
    fn timing(&mut self, iteration: usize, max_iterations: usize) -> String {
        let first = *self.first.get_or_insert(iteration);
        let elapsed = self.started.elapsed().as_secs_f64();
        let done = (iteration + 1).saturating_sub(first).max(1) as f64;
        let left = elapsed / done * max_iterations.saturating_sub(iteration) as f64;
        format!("{elapsed:.0}s, ETA {left:.0}s")
    }
}

impl Observer for Progress {
    fn observe(&mut self, r: &IterationRecord, max_iterations: usize) {
        let message = format!(
            "compliance {:.5e} N·mm  volume {:.4}  change {:.4}",
            r.compliance_nmm, r.volume_fraction, r.change
        );
        if let Some(bar) = &mut self.bar {
            if bar.is_hidden() {
                *bar = ProgressBar::new(max_iterations as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{elapsed_precise} [{bar:30}] iter {pos}/{len} ETA {eta}  {msg}",
                    )
                    .expect("static template")
                    .progress_chars("=> "),
                );
            }
            bar.set_position(r.iter as u64);
            bar.set_message(message);
        } else if self.verbose {
            let timing = self.timing(r.iter, max_iterations);
            eprintln!(
                "iter {:>4}/{max_iterations}  {message}  CG {} it, residual {:.1e}, {:.2} s  ({timing})",
                r.iter, r.solver_iterations, r.relative_residual, r.seconds
            );
        } else if self
            .last_line
            .is_none_or(|t| t.elapsed() >= Self::LINE_INTERVAL)
        {
            let timing = self.timing(r.iter, max_iterations);
            eprintln!("iter {:>4}/{max_iterations}  {message}  ({timing})", r.iter);
            self.last_line = Some(Instant::now());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
