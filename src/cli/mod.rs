//! The `formwerk` command line: the arguments, and the dispatch to one file per command. The
//! command files share only [`failure`] (how a command fails) and call each other without
//! circles: `check` → `sweep` (a sweep file), `analyze` and `inspect` → `run` (the summary
//! lines); nothing calls back into this module.

mod analyze;
mod bench;
mod check;
mod failure;
mod inspect;
mod lists;
mod run;
mod sweep;

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};

pub use failure::Failure;

const EXAMPLES: &str = "\
Examples:
  formwerk run designs/cantilever.toml
  formwerk run designs/top3d_cantilever.toml --out runs/top3d --threads 2
  formwerk check designs/wall_bracket.toml
  formwerk sweep designs/bracket_sweep.toml
  formwerk analyze designs/wall_bracket.toml --density runs/wall_bracket/density.vti
  formwerk materials
  formwerk inspect runs/cantilever/part.stl";

const SWEEP_EXAMPLES: &str = "\
Examples:
  formwerk sweep designs/bracket_sweep.toml --jobs 2 --threads-per-job 1
  formwerk sweep designs/bracket_sweep.toml --plan runs/plan
  sbatch runs/plan/slurm.sbatch            # or: parallel -j 4 < runs/plan/tasks.txt
  formwerk collect runs/plan";

/// Generative design by topology optimization: a design file in, a printable part out.
#[derive(Debug, Parser)]
#[command(name = "formwerk", version, about, after_help = EXAMPLES)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Optimize a design and write result.json, density.vti, part.stl and convergence.svg.
    #[command(after_help = EXAMPLES)]
    Run {
        /// The design file (TOML).
        design: PathBuf,
        /// Output folder (default: runs/<name>).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Override `optimization.max_iterations`.
        #[arg(long)]
        max_iterations: Option<usize>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        slicer: SlicerArgs,
        /// Go on from the checkpoint in the output folder (kept by a run that was stopped or
        /// killed); without one, start from iteration 0.
        #[arg(long)]
        resume: bool,
        /// With --resume: go on even if the design file or formwerk changed since the checkpoint
        /// (the result is then not the uninterrupted run's).
        #[arg(long, requires = "resume")]
        force: bool,
        /// How often to keep the loop's state in <out>/checkpoint.bin: seconds (`90s`), minutes
        /// (`5m`), iterations (`10`) or `never`.
        #[arg(long, default_value = "60s", value_name = "INTERVAL")]
        checkpoint_every: formwerk::resume::CheckpointInterval,
        /// The memory the run may use, e.g. `8G` (default: what this machine has available);
        /// a design that needs more is refused before anything is allocated.
        #[arg(long, value_name = "SIZE", value_parser = formwerk::memory::parse_bytes)]
        max_memory: Option<u64>,
        /// A line per iteration with the solver's iterations, residual and time, instead of the
        /// progress bar.
        #[arg(long, short, conflicts_with = "quiet")]
        verbose: bool,
        /// Print the result (result.json, with `out_dir`) as one JSON document on stdout instead
        /// of the summary lines.
        #[arg(long)]
        json: bool,
    },
    /// Run every variant of a design file's [sweep] here (or write a cluster plan with --plan),
    /// then summary.csv, summary.json and pareto.svg.
    #[command(after_help = SWEEP_EXAMPLES)]
    Sweep {
        /// The design file (TOML) with a [sweep] table.
        design: PathBuf,
        /// Output folder (default: runs/<name>-sweep).
        #[arg(long, conflicts_with = "plan")]
        out: Option<PathBuf>,
        /// Write a plan into this folder (variant files, tasks.txt, slurm.sbatch) instead of running.
        #[arg(long)]
        plan: Option<PathBuf>,
        /// Variants run at the same time (default: cores / threads per job).
        #[arg(long, conflicts_with = "plan")]
        jobs: Option<usize>,
        /// Threads inside each variant (default: 1 when there are at least as many variants as
        /// cores, else the cores shared among the variants; with --plan: 1).
        #[arg(long)]
        threads_per_job: Option<usize>,
        /// Override `optimization.max_iterations` of every variant (part of its id).
        #[arg(long)]
        max_iterations: Option<usize>,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
        #[command(flatten)]
        slicer: SlicerArgs,
    },
    /// Summarize a sweep folder (local or planned): summary.csv, summary.json, pareto.svg;
    /// lists missing and failed variants (exit 2 if any).
    #[command(after_help = SWEEP_EXAMPLES)]
    Collect {
        /// The sweep folder (holding variants.json).
        dir: PathBuf,
        /// Print nothing but errors.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Print a completion script for a shell, e.g.
    /// `formwerk completions bash > ~/.local/share/bash-completion/completions/formwerk`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `formwerk man > ~/.local/share/man/man1/formwerk.1`.
    Man,
    /// Print the JSON Schema of design files (for completion and checks in an editor).
    Schema,
    /// Validate a design and print its size and estimated memory; exit 0 if it is usable.
    #[command(after_help = EXAMPLES)]
    Check {
        /// The design file (TOML).
        design: PathBuf,
        /// The memory a run may use, e.g. `8G` (default: what this machine has available).
        #[arg(long, value_name = "SIZE", value_parser = formwerk::memory::parse_bytes)]
        max_memory: Option<u64>,
        /// Print the same as one JSON document on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Time the fixed cantilever benchmark at several sizes; print a table and write JSON.
    #[command(
        after_help = "Example:\n  formwerk bench --sizes 64x32x32,128x64x64 --threads 2 --out bench.json"
    )]
    Bench {
        /// Comma-separated sizes in elements, e.g. 64x32x32,128x64x64 (default: 65 k to 1 M elements).
        #[arg(long, default_value = "64x32x32,96x48x48,128x64x64,160x80x80")]
        sizes: String,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
        /// Design iterations per size.
        #[arg(long, default_value_t = 10)]
        iterations: usize,
        /// Where to write the JSON report.
        #[arg(long, default_value = "bench.json")]
        out: PathBuf,
    },
    /// Re-analyse a density field (e.g. an earlier run's density.vti) under a design's load
    /// cases: displacement, von Mises stress, safety factor; writes analysis.json and analysis.vti.
    #[command(after_help = EXAMPLES)]
    Analyze {
        /// The design file (TOML) with the load cases and material.
        design: PathBuf,
        /// The density field (`density.vti` written by `formwerk run`).
        #[arg(long)]
        density: PathBuf,
        /// Output folder (default: the density file's folder).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Worker threads (default: all cores).
        #[arg(long)]
        threads: Option<usize>,
    },
    /// List the built-in materials with their values and sources.
    Materials {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the printer presets (`[printer] preset = "..."`) with their values and sources.
    Printers {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Inspect a mesh file: topology, orientation, volume, area, shells, self-intersections;
    /// `watertight` and `solid: yes/no` (exit code 1 when it is not a solid).
    #[command(after_help = "Example:\n  formwerk inspect runs/cantilever/part.stl --json")]
    Inspect {
        /// The mesh (STL, binary or ASCII).
        mesh: PathBuf,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Add a printability report for this build direction: +x, -x, +y, -y, +z or -z.
        #[arg(long, allow_hyphen_values = true)]
        build_direction: Option<formwerk::printer::BuildDirection>,
        /// Steepest printable overhang, degrees from the build plane (with --build-direction).
        #[arg(long, default_value_t = 45.0)]
        overhang_angle: f64,
        /// Slice the part with PrusaSlicer, with and without automatic supports, along
        /// --build-direction (default +z) at --overhang-angle: support and part filament, print
        /// time.
        #[arg(long)]
        slice: bool,
        /// The printer preset whose layer height the printability report cuts layers at, and
        /// that --slice slices for (`formwerk printers` lists them).
        #[arg(long, default_value = "generic_0.4")]
        printer: String,
        /// The slicer program (with --slice; default: prusa-slicer on PATH).
        #[arg(long, requires = "slice")]
        slicer: Option<PathBuf>,
    },
    /// One benchmark size in this process (used by `bench` to measure each size's peak memory).
    #[command(hide = true)]
    BenchCase {
        #[arg(long)]
        size: String,
        #[arg(long)]
        iterations: usize,
        #[arg(long)]
        threads: Option<usize>,
    },
}

/// How a run's part is judged by a slicer.
#[derive(Debug, clap::Args)]
struct SlicerArgs {
    /// The slicer that judges the exported part (default: prusa-slicer when it is on PATH).
    #[arg(long, conflicts_with = "no_slicer")]
    slicer: Option<PathBuf>,
    /// Do not slice the exported part.
    #[arg(long)]
    no_slicer: bool,
}

impl SlicerArgs {
    /// The slicer to use, and a note when none is used though none was declined.
    fn pick(&self) -> Result<(Option<formwerk::slicer::Slicer>, Option<String>), Failure> {
        if self.no_slicer {
            return Ok((None, None));
        }
        match &self.slicer {
            Some(path) => slicer_at(path).map(|s| (Some(s), None)),
            None => Ok(match formwerk::slicer::Slicer::find() {
                Some(slicer) => (Some(slicer), None),
                None => (
                    None,
                    Some(format!(
                        "{} is not on PATH, so the part was not sliced (--slicer PATH to name one, --no-slicer to say nothing)",
                        formwerk::slicer::PROGRAM
                    )),
                ),
            }),
        }
    }
}

/// The slicer at `path`, which must be a file.
fn slicer_at(path: &Path) -> Result<formwerk::slicer::Slicer, Failure> {
    if path.is_file() {
        Ok(formwerk::slicer::Slicer::at(path))
    } else {
        Err(Failure::Input(anyhow::anyhow!(
            "--slicer: {} is not a file (give the path of prusa-slicer)",
            path.display()
        )))
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Run {
            design,
            out,
            threads,
            max_iterations,
            quiet,
            slicer,
            resume,
            force,
            checkpoint_every,
            max_memory,
            verbose,
            json,
        } => {
            let slicer = slicer.pick()?;
            let options = run::RunChoices {
                max_iterations,
                quiet,
                slicer,
                resume: if resume {
                    formwerk::resume::Resume::Yes { force }
                } else {
                    formwerk::resume::Resume::No
                },
                checkpoint: checkpoint_every,
                max_memory,
                verbose,
                json,
            };
            in_pool(threads, || run::run_design(&design, out, options))
        }
        Command::Sweep {
            design,
            out,
            plan,
            jobs,
            threads_per_job,
            max_iterations,
            quiet,
            slicer,
        } => sweep::sweep(sweep::SweepArgs {
            design,
            out,
            plan,
            jobs,
            threads_per_job,
            max_iterations,
            quiet,
            slicer: slicer.pick()?,
        }),
        Command::Collect { dir, quiet } => sweep::collect_dir(&dir, quiet),
        Command::Check {
            design,
            max_memory,
            json,
        } => check::check_design(&design, max_memory, json),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "formwerk",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Schema => {
            println!("{}", formwerk::design::json_schema());
            Ok(())
        }
        Command::Man => {
            match clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout()) {
                // `formwerk man | head` closes the pipe early: not a failure.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                other => other
                    .context("cannot write the man page")
                    .map_err(Failure::Internal),
            }
        }
        Command::Analyze {
            design,
            density,
            out,
            threads,
        } => in_pool(threads, || analyze::analyze(&design, &density, out)),
        Command::Materials { json } => lists::materials(json),
        Command::Printers { json } => lists::printers(json),
        Command::Inspect {
            mesh,
            json,
            build_direction,
            overhang_angle,
            slice,
            printer,
            slicer,
        } => {
            let profile =
                formwerk::printer::PrinterProfile::from_keys(&formwerk::printer::PrinterKeys {
                    preset: Some(&printer),
                    overhang_angle_deg: Some(overhang_angle),
                    build_direction,
                    ..Default::default()
                })
                .map_err(|(key, message)| {
                    let flag = match key {
                        "printer.preset" => "--printer",
                        "printer.overhang_angle_deg" => "--overhang-angle",
                        other => other,
                    };
                    Failure::Input(anyhow::anyhow!("{flag}: {message}"))
                })?;
            let slicer = if slice {
                Some(match &slicer {
                    Some(path) => slicer_at(path)?,
                    None => formwerk::slicer::Slicer::find().ok_or_else(|| {
                        Failure::Input(anyhow::anyhow!(
                            "--slice: {} is not on PATH (give it with --slicer PATH)",
                            formwerk::slicer::PROGRAM
                        ))
                    })?,
                })
            } else {
                None
            };
            inspect::inspect(&mesh, json, build_direction, &profile, slicer)
        }
        Command::Bench {
            sizes,
            threads,
            iterations,
            out,
        } => {
            check_threads(threads)?;
            bench::bench(&sizes, threads, iterations, &out)
        }
        Command::BenchCase {
            size,
            iterations,
            threads,
        } => in_pool(threads, || {
            let size = formwerk::bench::parse_size(&size)
                .ok_or_else(|| Failure::Input(anyhow::anyhow!("bad size {size}")))?;
            let case = formwerk::bench::run_case(size, iterations)
                .map_err(|e| Failure::Internal(e.into()))?;
            println!(
                "{}",
                serde_json::to_string(&case).map_err(|e| Failure::Internal(e.into()))?
            );
            Ok(())
        }),
    }
}

fn check_threads(threads: Option<usize>) -> Result<(), Failure> {
    if threads == Some(0) {
        return Err(Failure::Input(anyhow::anyhow!(
            "--threads must be at least 1"
        )));
    }
    Ok(())
}

/// Runs `work` on a pool of `threads` workers (default: one per core). Running it on a worker,
/// not on the main thread, matters: every parallel loop called from outside a pool is handed to
/// the pool and waited for, which costs more than many of our small loops (an AM filter layer,
/// a coarse multigrid level) take; inside the pool they start at once.
fn in_pool(
    threads: Option<usize>,
    work: impl FnOnce() -> Result<(), Failure> + Send,
) -> Result<(), Failure> {
    check_threads(threads)?;
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(threads) = threads {
        builder = builder.num_threads(threads);
    }
    builder
        .build()
        .context("cannot start the thread pool")
        .map_err(Failure::Internal)?
        .install(work)
}
