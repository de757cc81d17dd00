//! `formwerk bench`: the fixed benchmark at several sizes, each in its own process.

use std::path::Path;

use anyhow::Context;

use formwerk::bench::{BenchCase, BenchReport, parse_size, stream_triad_gb_s};
use formwerk::output::atomic::write_atomically;

use super::failure::Failure;

pub(super) fn bench(
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
        "{:>14} {:>10} {:>10} {:>8} {:>7} {:>7} {:>9} {:>10} {:>8} {:>8}   s/iter in setup + solve + filter + update + other",
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
        let split = case.split;
        println!(
            "{:>14} {:>10} {:>10} {:>8.3} {:>7.1} {:>7} {:>9.0} {:>10.2} {:>8.1} {:>8.1}   {:.3} + {:.3} + {:.3} + {:.3} + {:.3}",
            format!("{}x{}x{}", size[0], size[1], size[2]),
            case.elements,
            case.dofs,
            case.seconds_per_iteration,
            case.cg_iterations_per_solve,
            case.levels,
            case.peak_rss_bytes as f64 / (1024.0 * 1024.0),
            case.operator_apply_seconds * 1e3,
            case.operator_gflops,
            case.operator_gb_s,
            split.solver_setup_s,
            split.solve_s,
            split.filter_s,
            split.update_s,
            split.other_s
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
