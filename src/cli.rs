//! The `formwerk` command line: argument parsing, progress display and the commands.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{CommandFactory, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use formwerk::analysis::DesignAnalysis;
use formwerk::bench::{BenchCase, BenchReport, parse_size, stream_triad_gb_s};
use formwerk::fem::{ElementStiffness, LinearSolver};
use formwerk::mesh::check_mesh;
use formwerk::mesh::layers::layer_support;
use formwerk::mesh::printability::printability;
use formwerk::mesh::stl::read_stl;
use formwerk::optimize::OptimizeError;
use formwerk::optimize::{IterationRecord, Observer, Silent};
use formwerk::output::atomic::write_atomically;
use formwerk::run::{RunError, analyze_density, load_problem, run_problem_with};

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

/// How the process should end.
pub enum Failure {
    /// Bad input (exit code 1).
    Input(anyhow::Error),
    /// Internal failure (exit code 2).
    Internal(anyhow::Error),
    /// Stopped by Ctrl-C or SIGTERM (exit code 130 or 143, as a shell reports the signal).
    Interrupted(anyhow::Error),
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
            let options = RunChoices {
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
            in_pool(threads, || run_design(&design, out, options))
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
        } => crate::cli_sweep::sweep(crate::cli_sweep::SweepArgs {
            design,
            out,
            plan,
            jobs,
            threads_per_job,
            max_iterations,
            quiet,
            slicer: slicer.pick()?,
        }),
        Command::Collect { dir, quiet } => crate::cli_sweep::collect_dir(&dir, quiet),
        Command::Check {
            design,
            max_memory,
            json,
        } => check_design(&design, max_memory, json),
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
        } => in_pool(threads, || analyze(&design, &density, out)),
        Command::Materials { json } => materials(json),
        Command::Printers { json } => printers(json),
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
            inspect(&mesh, json, build_direction, &profile, slicer)
        }
        Command::Bench {
            sizes,
            threads,
            iterations,
            out,
        } => {
            check_threads(threads)?;
            bench(&sizes, threads, iterations, &out)
        }
        Command::BenchCase {
            size,
            iterations,
            threads,
        } => in_pool(threads, || {
            let size = parse_size(&size)
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

/// `formwerk run`'s choices besides the design and the folder.
struct RunChoices {
    max_iterations: Option<usize>,
    quiet: bool,
    slicer: (Option<formwerk::slicer::Slicer>, Option<String>),
    resume: formwerk::resume::Resume,
    checkpoint: formwerk::resume::CheckpointInterval,
    max_memory: Option<u64>,
    verbose: bool,
    json: bool,
}

fn run_design(path: &Path, out: Option<PathBuf>, choices: RunChoices) -> Result<(), Failure> {
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

fn bench(
    sizes: &str,
    threads: Option<usize>,
    iterations: usize,
    out: &Path,
) -> Result<(), Failure> {
    let sizes: Vec<[usize; 3]> = sizes
        .split(',')
        .map(|s| {
            parse_size(s).ok_or_else(|| {
                anyhow::anyhow!("--sizes: `{s}` is not NXxNYxNZ with positive counts")
            })
        })
        .collect::<Result<_, _>>()
        .map_err(Failure::Input)?;
    if iterations == 0 {
        return Err(Failure::Input(anyhow::anyhow!(
            "--iterations must be at least 1"
        )));
    }
    let threads = threads.unwrap_or_else(rayon::current_num_threads);
    let stream = stream_triad_gb_s();
    println!("STREAM triad: {stream:.1} GB/s with {threads} thread(s)");
    println!(
        "{:>14} {:>10} {:>10} {:>8} {:>7} {:>7} {:>9} {:>10} {:>8} {:>8}",
        "size",
        "elements",
        "dofs",
        "s/iter",
        "CG its",
        "levels",
        "RSS MiB",
        "apply ms",
        "GFLOP/s",
        "GB/s"
    );
    let mut cases = Vec::new();
    for size in sizes {
        // Each size runs in its own process so that its peak memory is its own.
        let output = std::process::Command::new(
            std::env::current_exe().map_err(|e| Failure::Internal(e.into()))?,
        )
        .args([
            "bench-case",
            "--size",
            &format!("{}x{}x{}", size[0], size[1], size[2]),
        ])
        .args(["--threads", &threads.to_string()])
        .args(["--iterations", &iterations.to_string()])
        .output()
        .map_err(|e| Failure::Internal(e.into()))?;
        if !output.status.success() {
            return Err(Failure::Internal(anyhow::anyhow!(
                "benchmark {size:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            )));
        }
        let case: BenchCase =
            serde_json::from_slice(&output.stdout).map_err(|e| Failure::Internal(e.into()))?;
        println!(
            "{:>14} {:>10} {:>10} {:>8.3} {:>7.1} {:>7} {:>9.0} {:>10.2} {:>8.1} {:>8.1}",
            format!("{}x{}x{}", size[0], size[1], size[2]),
            case.elements,
            case.dofs,
            case.seconds_per_iteration,
            case.cg_iterations_per_solve,
            case.levels,
            case.peak_rss_bytes as f64 / (1024.0 * 1024.0),
            case.operator_apply_seconds * 1e3,
            case.operator_gflops,
            case.operator_gb_s
        );
        cases.push(case);
    }
    let report = BenchReport {
        schema_version: formwerk::output::SCHEMA_VERSION,
        formwerk_version: env!("CARGO_PKG_VERSION").to_string(),
        iterations,
        stream_triad_gb_s: stream,
        cases,
    };
    write_atomically(out, |w| {
        serde_json::to_writer_pretty(&mut *w, &report)?;
        std::io::Write::write_all(w, b"\n")
    })
    .with_context(|| format!("cannot write {}", out.display()))
    .map_err(Failure::Internal)?;
    println!("written to {}", out.display());
    Ok(())
}

fn inspect(
    path: &Path,
    json: bool,
    build_direction: Option<formwerk::printer::BuildDirection>,
    profile: &formwerk::printer::PrinterProfile,
    slicer: Option<formwerk::slicer::Slicer>,
) -> Result<(), Failure> {
    let overhang_angle = profile.overhang_angle_deg;
    let mut file = std::fs::File::open(path)
        .with_context(|| format!("{}: cannot open", path.display()))
        .map_err(Failure::Input)?;
    let mesh = read_stl(&mut file)
        .with_context(|| format!("{}: not a readable STL file", path.display()))
        .map_err(Failure::Input)?;
    let report = check_mesh(&mesh);
    let bad =
        |e: &dyn std::fmt::Display| Failure::Input(anyhow::anyhow!("{}: {e}", path.display()));
    let printable = match build_direction {
        Some(d) => {
            let mut report =
                printability(&mesh, d.vector(), overhang_angle).map_err(|e| bad(&e))?;
            report.layers = Some(
                layer_support(
                    &mesh,
                    d,
                    overhang_angle,
                    profile.layer_height_mm,
                    profile.nozzle_mm,
                )
                .map_err(|e| bad(&e))?,
            );
            Some(report)
        }
        None => None,
    };
    let sliced = match slicer {
        Some(_) if !report.is_watertight() => {
            return Err(Failure::Input(anyhow::anyhow!(
                "{}: --slice needs a closed mesh; this one has {} boundary and {} non-manifold edges",
                path.display(),
                report.boundary_edges,
                report.non_manifold_edges
            )));
        }
        Some(slicer) => Some(
            slicer
                .judge(&mesh, profile, None, &std::env::temp_dir())
                .with_context(|| format!("{}: the slicer gave no verdict", path.display()))
                .map_err(Failure::Internal)?,
        ),
        None => None,
    };
    if json {
        let mut value = serde_json::to_value(&report).map_err(|e| Failure::Internal(e.into()))?;
        value["schema_version"] = formwerk::output::SCHEMA_VERSION.into();
        if let Some(p) = &printable {
            value["printability"] =
                serde_json::to_value(p).map_err(|e| Failure::Internal(e.into()))?;
        }
        if let Some(s) = &sliced {
            value["slicer"] = serde_json::to_value(s).map_err(|e| Failure::Internal(e.into()))?;
        }
        let text = serde_json::to_string_pretty(&value).map_err(|e| Failure::Internal(e.into()))?;
        println!("{text}");
        return not_solid(path, &report);
    }
    let [lo, hi] = report.bounding_box_mm;
    println!("{}", path.display());
    println!("  triangles:                 {}", report.triangles);
    println!("  vertices:                  {}", report.vertices);
    println!("  shells:                    {}", report.shells.len());
    println!("  boundary edges:            {}", report.boundary_edges);
    println!("  non-manifold edges:        {}", report.non_manifold_edges);
    println!(
        "  non-manifold vertices:     {}",
        report.non_manifold_vertices
    );
    println!("  inconsistent edges:        {}", report.inconsistent_edges);
    println!(
        "  degenerate triangles:      {}",
        report.degenerate_triangles
    );
    println!(
        "  signed volume:             {:.3} mm³",
        report.signed_volume_mm3
    );
    println!(
        "  surface area:              {:.3} mm²",
        report.surface_area_mm2
    );
    println!(
        "  bounding box:              [{:.3}, {:.3}, {:.3}] – [{:.3}, {:.3}, {:.3}] mm",
        lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]
    );
    println!(
        "  Euler characteristic:      {}",
        report.euler_characteristic
    );
    for (i, shell) in report.shells.iter().enumerate() {
        let genus = shell
            .genus
            .map_or("n/a (open or non-manifold)".to_string(), |g| g.to_string());
        println!(
            "  shell {i}: {} triangles, {:.3} mm³, χ = {}, genus {genus}",
            shell.triangles, shell.signed_volume_mm3, shell.euler_characteristic
        );
    }
    if let Some(p) = &printable {
        println!(
            "  printability ({} build, overhang {}°):",
            build_direction.map_or(String::new(), |d| d.to_string()),
            p.overhang_angle_deg
        );
        println!(
            "    unsupported overhang:    {:.1} mm² ({:.2} % of the surface), largest patch {:.1} mm²",
            p.overhang_area_mm2, p.overhang_percent, p.largest_overhang_patch_mm2
        );
        println!(
            "    on the base plate:       {:.1} mm²",
            p.base_plate_area_mm2
        );
        println!(
            "    thinnest wall:           {:.2} mm (voxels of {:.3} mm)",
            p.min_wall_thickness_mm, p.thickness_voxel_mm
        );
        if let Some(l) = &p.layers {
            println!(
                "    layers of {} mm:         {} of {} need support: {:.1} mm² over {:.1} mm³",
                l.layer_height_mm,
                l.supported_layers,
                l.layers,
                l.support_area_mm2,
                l.support_volume_mm3
            );
        }
    }
    if let Some(s) = &sliced {
        println!("  slicer:                    {}", slicer_line(s));
    }
    println!("  self-intersections:        {}", report.self_intersections);
    for p in &report.self_intersection_locations_mm {
        println!("    near ({:.3}, {:.3}, {:.3}) mm", p[0], p[1], p[2]);
    }
    println!(
        "  watertight:                {}",
        if report.is_watertight() { "yes" } else { "no" }
    );
    println!(
        "  solid:                     {}",
        if report.is_solid() { "yes" } else { "no" }
    );
    not_solid(path, &report)
}

/// `inspect`'s verdict: an error (exit code 1) naming the first defect when the mesh does not
/// bound a solid.
fn not_solid(path: &Path, report: &formwerk::mesh::MeshReport) -> Result<(), Failure> {
    if report.is_solid() {
        return Ok(());
    }
    let why = if let Some(p) = report.self_intersection_locations_mm.first() {
        format!(
            "the surface passes through itself ({} intersecting triangle pairs, the first near ({:.3}, {:.3}, {:.3}) mm)",
            report.self_intersections, p[0], p[1], p[2]
        )
    } else {
        format!(
            "the surface is not closed and manifold ({} boundary, {} non-manifold, {} inconsistent edges, {} non-manifold vertices, {} degenerate triangles)",
            report.boundary_edges,
            report.non_manifold_edges,
            report.inconsistent_edges,
            report.non_manifold_vertices,
            report.degenerate_triangles
        )
    };
    Err(Failure::Input(anyhow::anyhow!(
        "{}: not a solid: {why}",
        path.display()
    )))
}

fn check_design(path: &Path, max_memory: Option<u64>, json: bool) -> Result<(), Failure> {
    if std::fs::read_to_string(path).is_ok_and(|text| formwerk::sweep::spec::has_sweep(&text)) {
        return crate::cli_sweep::check_sweep(path);
    }
    let input = |e: formwerk::DesignError| Failure::Input(e.into());
    let design = formwerk::Design::load(path).map_err(input)?;
    let limit = formwerk::memory::MemoryLimit::current(max_memory);
    let needed_bytes =
        formwerk::memory::check_fits(&design, path, limit.as_ref()).map_err(input)?;
    let problem = design.to_problem_within(path, None).map_err(input)?;
    let grid = problem.grid;
    let fixed = problem.fixed_dofs.iter().filter(|&&f| f).count();
    let ke = ElementStiffness::new(problem.material.poisson_ratio);
    let solver = LinearSolver::new(grid, ke, &problem.fixed_dofs, &problem.solver)
        .context("cannot plan the linear solver")
        .map_err(Failure::Internal)?;
    let design_elements = problem.design_element_count();
    if json {
        let report = serde_json::json!({
            "schema_version": formwerk::output::SCHEMA_VERSION,
            "file": path,
            "valid": true,
            "name": problem.name,
            "elements": grid.elements,
            "element_count": grid.element_count(),
            "element_size_mm": grid.element_size_mm,
            "dofs": grid.dof_count(),
            "fixed_dofs": fixed,
            "load_cases": problem.load_cases.len(),
            "filter_radius_mm": problem.optimization.filter_radius_mm,
            "solver": {
                "kind": solver.kind(),
                "levels": solver.levels(),
                "tolerance": solver.tolerance(),
            },
            "estimated_memory_bytes": needed_bytes,
            "memory_limit_bytes": limit.as_ref().map(|l| l.bytes),
            "memory_limit_source": limit.as_ref().map(|l| l.source.clone()),
            "design_elements": design_elements,
            "regions": problem.regions.iter().map(|r| serde_json::json!({
                "key": r.key,
                "description": r.description,
                "nodes": r.nodes,
                "elements": r.elements,
            })).collect::<Vec<_>>(),
            "warnings": problem.warnings,
        });
        println!("{report}");
        return Ok(());
    }
    println!("{}: valid", path.display());
    println!("  name:               {}", problem.name);
    println!(
        "  elements:           {:?} = {} of {} mm",
        grid.elements,
        grid.element_count(),
        grid.element_size_mm
    );
    println!(
        "  degrees of freedom: {} ({} fixed)",
        grid.dof_count(),
        fixed
    );
    println!("  load cases:         {}", problem.load_cases.len());
    println!(
        "  filter radius:      {} mm",
        problem.optimization.filter_radius_mm
    );
    println!(
        "  linear solver:      {} ({} level(s), tolerance {:e})",
        solver.kind(),
        solver.levels(),
        solver.tolerance()
    );
    println!(
        "  estimated memory:   {:.1} MiB{}",
        needed_bytes / (1024.0 * 1024.0),
        limit.map_or(String::new(), |l| format!(
            " (of {:.1} GiB {})",
            l.bytes as f64 / (1024.0 * 1024.0 * 1024.0),
            l.source
        ))
    );
    println!(
        "  design elements:    {design_elements} ({} kept solid or empty)",
        grid.element_count() - design_elements
    );
    println!("  regions:");
    for region in &problem.regions {
        let selected = if region.nodes > 0 {
            format!("{} nodes", region.nodes)
        } else {
            format!("{} elements", region.elements)
        };
        println!(
            "    {:<32} {:>14}  {}",
            region.key, selected, region.description
        );
    }
    for warning in &problem.warnings {
        eprintln!("warning: {warning}");
    }
    Ok(())
}

fn print_analysis(analysis: &DesignAnalysis) {
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

fn analyze(design: &Path, density: &Path, out: Option<PathBuf>) -> Result<(), Failure> {
    let (_, problem) = load_problem(design).map_err(|e| Failure::Input(e.into()))?;
    let out_dir = out.unwrap_or_else(|| {
        density
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    let (result, analysis) = analyze_density(design, &problem, density, &out_dir).map_err(|e| {
        if e.is_input_error() {
            Failure::Input(e.into())
        } else {
            Failure::Internal(e.into())
        }
    })?;
    println!(
        "{}: compliance {:.6} N·mm, volume fraction {:.4}{}",
        problem.name,
        result.performance.compliance_nmm,
        result.performance.volume_fraction,
        result
            .performance
            .mass_g
            .map_or(String::new(), |m| format!(", mass {m:.2} g"))
    );
    print_analysis(&analysis);
    println!("results in {}", out_dir.join("analysis.json").display());
    Ok(())
}

fn materials(json: bool) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string_pretty(formwerk::materials::LIBRARY)
            .context("cannot format the library")
            .map_err(Failure::Internal)?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{:<10} {:>10} {:>6} {:>8} {:>10}  description",
        "name", "E (MPa)", "ν", "ρ (g/cm³)", "yield (MPa)"
    );
    for m in formwerk::materials::LIBRARY {
        println!(
            "{:<10} {:>10} {:>6} {:>8} {:>10}  {}",
            m.name,
            m.youngs_modulus_mpa,
            m.poisson_ratio,
            m.density_g_cm3,
            m.yield_strength_mpa,
            m.description
        );
    }
    println!();
    println!("sources:");
    for m in formwerk::materials::LIBRARY {
        println!("  {}: {}", m.name, m.source);
    }
    println!();
    println!(
        "Use one with `material = \"PLA\"`, or give youngs_modulus_mpa, poisson_ratio, density_g_cm3 and yield_strength_mpa in a [material] table."
    );
    Ok(())
}

/// One line of what the slicer said.
fn slicer_line(s: &formwerk::slicer::SlicerReport) -> String {
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

fn printers(json: bool) -> Result<(), Failure> {
    use formwerk::printer::{DEFAULT_WALL_NOZZLES, PRESETS};
    if json {
        let text = serde_json::to_string_pretty(PRESETS)
            .context("cannot format the presets")
            .map_err(Failure::Internal)?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>12}  description",
        "preset", "nozzle mm", "layer mm", "angle °", "min wall mm"
    );
    for p in PRESETS {
        println!(
            "{:<16} {:>10} {:>10} {:>10} {:>12}  {}",
            p.name,
            p.nozzle_mm,
            p.layer_height_mm,
            p.overhang_angle_deg,
            DEFAULT_WALL_NOZZLES * p.nozzle_mm,
            p.description
        );
    }
    println!();
    println!("sources:");
    for p in PRESETS {
        println!("  {}: {}", p.name, p.source);
    }
    println!();
    println!(
        "Use one with `[printer] preset = \"prusa_mk3s_0.4\"`; nozzle_mm, layer_height_mm, overhang_angle_deg, min_wall_mm (default {DEFAULT_WALL_NOZZLES} nozzles), build_direction and overhang_control override it."
    );
    Ok(())
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
