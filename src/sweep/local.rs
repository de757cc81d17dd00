//! Runs a sweep on this machine: `jobs` variants at a time, each inside its own rayon thread
//! pool of `threads_per_job` threads, so the threads are split between variants and inside each
//! solve.
//!
//! Variants whose folder already holds their complete results are skipped, so a rerun after a
//! crash or Ctrl-C continues where it stopped. A failing variant leaves its message in
//! `<id>/error.txt` and the others go on. Cancellation (a flag set by Ctrl-C) stops each running
//! optimization before its next iteration; a cancelled variant writes nothing, because
//! [`run_problem_with`] writes its files only after the optimization, each atomically.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use super::plan::write_variants;
use super::spec::{Sweep, Variant};
use super::summary::{Status, variant_state};
use super::{SweepError, write_error};
use crate::optimize::{IterationRecord, Observer, OptimizeError};
use crate::output::atomic::write_atomically;
use crate::run::{RunError, RunOptions, run_problem_with};

/// How a local sweep shares the cores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalParams {
    /// Variants run at the same time (≥ 1).
    pub jobs: usize,
    /// Threads inside each variant's solves (≥ 1).
    pub threads_per_job: usize,
}

impl LocalParams {
    /// The split for `variants` variants on `cores` cores, with the user's `jobs` and
    /// `threads_per_job` where given. By default one thread per variant when there are at least
    /// as many variants as cores, else the cores shared out among the variants, and as many
    /// jobs as fit: independent variants scale perfectly (nothing shared, no synchronization),
    /// whereas one solve on two threads is ~1.84× faster than on one (README, Performance).
    pub fn choose(
        variants: usize,
        cores: usize,
        jobs: Option<usize>,
        threads_per_job: Option<usize>,
    ) -> Self {
        let cores = cores.max(1);
        let (jobs, threads_per_job) = match (jobs, threads_per_job) {
            (Some(n), Some(m)) => (n, m),
            (Some(n), None) => (n, cores / n),
            (None, Some(m)) => (cores / m, m),
            (None, None) => {
                let m = if variants >= cores {
                    1
                } else {
                    cores / variants.max(1)
                };
                (cores / m.max(1), m)
            }
        };
        Self {
            jobs: jobs.max(1),
            threads_per_job: threads_per_job.max(1),
        }
    }
}

/// What happened to one variant.
#[derive(Debug, Clone, PartialEq)]
pub enum VariantOutcome {
    /// Its complete results were already there.
    Skipped,
    /// It ran to the end.
    Finished {
        /// Wall-clock seconds.
        seconds: f64,
        /// Its weighted compliance, N·mm.
        compliance_nmm: f64,
    },
    /// It failed; the message is also in its `error.txt`.
    Failed {
        /// What went wrong.
        message: String,
    },
    /// It was stopped by cancellation and left nothing.
    Cancelled,
    /// Cancellation came before it started.
    NotStarted,
}

/// Watches a local sweep: progress display and log lines. Called from several threads.
pub trait SweepMonitor: Sync {
    /// The observer of one variant's iterations, made when it starts.
    fn variant_observer<'a>(&'a self, variant: &Variant) -> Box<dyn Observer + 'a>;
    /// Called when a variant is skipped, finishes, fails or is cancelled.
    fn variant_ended(&self, variant: &Variant, outcome: &VariantOutcome);
}

/// Runs the variants of `sweep` into `dir` (one folder per id, plus the variant files and
/// `variants.json`); returns one outcome per variant, in order. Stops starting variants, and
/// stops running ones at their next iteration, once `cancel` is set.
pub fn run_local(
    sweep: &Sweep,
    dir: &Path,
    params: LocalParams,
    monitor: &dyn SweepMonitor,
    cancel: &AtomicBool,
    options: &RunOptions,
) -> Result<Vec<VariantOutcome>, SweepError> {
    std::fs::create_dir_all(dir).map_err(write_error(dir))?;
    write_variants(sweep, dir)?;
    let mut outcomes = vec![VariantOutcome::NotStarted; sweep.variants.len()];
    let mut pending = Vec::new();
    for variant in &sweep.variants {
        let (status, _, _) = variant_state(&dir.join(&variant.id), &variant.design);
        if status == Status::Ok {
            outcomes[variant.index] = VariantOutcome::Skipped;
            monitor.variant_ended(variant, &VariantOutcome::Skipped);
        } else {
            pending.push(variant);
        }
    }
    let workers = params.jobs.min(pending.len());
    let pools = (0..workers)
        .map(|_| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(params.threads_per_job)
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| SweepError::Write {
            path: dir.to_path_buf(),
            source: std::io::Error::other(format!("cannot start a thread pool: {e}")),
        })?;
    let next = AtomicUsize::new(0);
    let finished = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for pool in &pools {
            scope.spawn(|| {
                while !cancel.load(Ordering::SeqCst) {
                    let Some(&variant) = pending.get(next.fetch_add(1, Ordering::SeqCst)) else {
                        break;
                    };
                    let outcome =
                        pool.install(|| run_variant(sweep, variant, dir, monitor, cancel, options));
                    monitor.variant_ended(variant, &outcome);
                    finished
                        .lock()
                        .expect("no worker panics while holding the lock")
                        .push((variant.index, outcome));
                }
            });
        }
    });
    for (index, outcome) in finished.into_inner().expect("workers have ended") {
        outcomes[index] = outcome;
    }
    Ok(outcomes)
}

/// Runs one variant into `dir/<id>`, recording a failure in its `error.txt`.
fn run_variant(
    sweep: &Sweep,
    variant: &Variant,
    dir: &Path,
    monitor: &dyn SweepMonitor,
    cancel: &AtomicBool,
    options: &RunOptions,
) -> VariantOutcome {
    let out = dir.join(&variant.id);
    let error_file = out.join("error.txt");
    // An earlier attempt's error must not outlive a success now.
    let _ = std::fs::remove_file(&error_file);
    let clock = Instant::now();
    let result = variant
        .design
        .to_problem(&sweep.file)
        .map_err(RunError::from)
        .and_then(|problem| {
            let mut observer = Cancellable {
                inner: monitor.variant_observer(variant),
                cancel,
            };
            run_problem_with(&variant.design, &problem, &out, &mut observer, options)
        });
    match result {
        Ok(report) => VariantOutcome::Finished {
            seconds: clock.elapsed().as_secs_f64(),
            compliance_nmm: report.outcome.compliance_nmm,
        },
        Err(RunError::Optimize(OptimizeError::Cancelled { .. })) => {
            // Only the empty folder run_problem made; a folder with earlier files stays.
            let _ = std::fs::remove_dir(&out);
            VariantOutcome::Cancelled
        }
        Err(e) => {
            let mut message = e.to_string();
            let text = format!(
                "{message}\n\nvariant {} of the sweep {} ({}), id {}\n",
                variant.index,
                sweep.file.display(),
                variant.label,
                variant.id
            );
            let written = std::fs::create_dir_all(&out)
                .and_then(|()| write_atomically(&error_file, |w| w.write_all(text.as_bytes())));
            if let Err(w) = written {
                message.push_str(&format!(
                    " (and {} could not be written: {w})",
                    error_file.display()
                ));
            }
            VariantOutcome::Failed { message }
        }
    }
}

/// Passes iterations on to the display and asks the cancellation flag before each one.
struct Cancellable<'a> {
    inner: Box<dyn Observer + 'a>,
    cancel: &'a AtomicBool,
}

impl Observer for Cancellable<'_> {
    fn observe(&mut self, record: &IterationRecord, max_iterations: usize) {
        self.inner.observe(record, max_iterations);
    }

    fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst) || self.inner.cancelled()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_split_fills_the_cores() {
        let choose = |v, c| LocalParams::choose(v, c, None, None);
        // At least as many variants as cores: one thread each, one job per core.
        assert_eq!(
            choose(12, 2),
            LocalParams {
                jobs: 2,
                threads_per_job: 1
            }
        );
        assert_eq!(
            choose(2, 2),
            LocalParams {
                jobs: 2,
                threads_per_job: 1
            }
        );
        // Fewer variants than cores: the cores shared among them.
        assert_eq!(
            choose(2, 16),
            LocalParams {
                jobs: 2,
                threads_per_job: 8
            }
        );
        assert_eq!(
            choose(3, 16),
            LocalParams {
                jobs: 3,
                threads_per_job: 5
            }
        );
        assert_eq!(
            choose(1, 4),
            LocalParams {
                jobs: 1,
                threads_per_job: 4
            }
        );
        // What the user gives wins; the other fills the cores.
        assert_eq!(
            LocalParams::choose(12, 8, Some(2), None),
            LocalParams {
                jobs: 2,
                threads_per_job: 4
            }
        );
        assert_eq!(
            LocalParams::choose(12, 8, None, Some(8)),
            LocalParams {
                jobs: 1,
                threads_per_job: 8
            }
        );
        assert_eq!(
            LocalParams::choose(12, 2, Some(4), None),
            LocalParams {
                jobs: 4,
                threads_per_job: 1
            }
        );
    }
}
