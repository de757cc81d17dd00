//! A sweep on disk: one design file per variant, an index, and the commands that run them.
//!
//! ```text
//! DIR/variants.json              index: per variant its index, id, label, values, file, out dir
//! DIR/variants/<index>-<id>.toml a complete design file (STL paths absolute)
//! DIR/tasks.txt                  one `formwerk run` per line (GNU parallel, xargs -P)
//! DIR/slurm.sbatch               a Slurm job array, task i runs line i+1 of tasks.txt
//! DIR/logs/                      the array tasks' output
//! DIR/<id>/                      each variant's results, as `formwerk run` writes them
//! ```
//!
//! Every command uses absolute paths, so the plan runs from any working directory of a machine
//! that sees the same file system.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::spec::{Sweep, SweepMode, toml_to_json};
use super::{SweepError, write_error};
use crate::output::atomic::write_atomically;

/// The index of a sweep folder, `variants.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepIndex {
    /// Layout version of the file ([`crate::output::SCHEMA_VERSION`]).
    #[serde(default = "crate::output::schema_version")]
    pub schema_version: u32,
    /// Version of formwerk that wrote it.
    pub formwerk_version: String,
    /// The sweep's design file, absolute.
    pub design_file: PathBuf,
    /// The design's name.
    pub name: String,
    /// How the lists combined.
    pub mode: SweepMode,
    /// The varied key paths, in order: the value columns of the summary.
    pub keys: Vec<String>,
    /// The variants, in expansion order.
    pub variants: Vec<VariantEntry>,
}

/// One variant in `variants.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantEntry {
    /// Position in the expansion, from 0 (the Slurm array index).
    pub index: usize,
    /// Stable id (hash of the resolved design).
    pub id: String,
    /// Readable label, e.g. `volume_fraction=0.2 material=PLA`.
    pub label: String,
    /// The value of each varied key.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// Its design file, relative to the sweep folder.
    pub file: PathBuf,
    /// Its output folder, relative to the sweep folder.
    pub out_dir: PathBuf,
}

/// The index file of a sweep folder.
pub const INDEX_FILE: &str = "variants.json";

impl SweepIndex {
    /// The index of `sweep` (paths relative to its folder).
    pub fn new(sweep: &Sweep) -> Self {
        let design_file = std::path::absolute(&sweep.file).unwrap_or_else(|_| sweep.file.clone());
        Self {
            schema_version: crate::output::SCHEMA_VERSION,
            formwerk_version: env!("CARGO_PKG_VERSION").to_string(),
            design_file,
            name: sweep.name.clone(),
            mode: sweep.mode,
            keys: sweep.keys.clone(),
            variants: sweep
                .variants
                .iter()
                .map(|v| VariantEntry {
                    index: v.index,
                    id: v.id.clone(),
                    label: v.label.clone(),
                    values: sweep
                        .keys
                        .iter()
                        .cloned()
                        .zip(v.values.iter().map(toml_to_json))
                        .collect(),
                    file: Path::new("variants").join(format!(
                        "{:0width$}-{}.toml",
                        v.index,
                        v.id,
                        width = index_width(sweep.variants.len())
                    )),
                    out_dir: PathBuf::from(&v.id),
                })
                .collect(),
        }
    }

    /// Reads `DIR/variants.json`.
    pub fn read(dir: &Path) -> Result<Self, SweepError> {
        let path = dir.join(INDEX_FILE);
        let bad = |message: String| SweepError::Read {
            path: path.clone(),
            message,
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            bad(format!(
                "cannot read ({e}); is {} a folder written by `formwerk sweep`?",
                dir.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| bad(format!("not a sweep index: {e}")))
    }
}

/// Digits of the largest index, so that variant files sort in order.
fn index_width(count: usize) -> usize {
    count.saturating_sub(1).max(1).to_string().len()
}

/// Writes every variant's design file and `variants.json` into `dir` (created if needed).
pub fn write_variants(sweep: &Sweep, dir: &Path) -> Result<SweepIndex, SweepError> {
    let index = SweepIndex::new(sweep);
    let variants_dir = dir.join("variants");
    std::fs::create_dir_all(&variants_dir).map_err(write_error(&variants_dir))?;
    for (variant, entry) in sweep.variants.iter().zip(&index.variants) {
        let design = toml::to_string(&variant.design).expect("a design always serializes");
        let header = format!(
            "# Variant {} of {} of {} (formwerk sweep, mode {}), id {}:\n#   {}\n# Run it alone: formwerk run <this file> --out <sweep folder>/{}\n\n",
            variant.index + 1,
            sweep.variants.len(),
            index.design_file.display(),
            sweep.mode.as_str(),
            variant.id,
            variant.label,
            variant.id,
        );
        let path = dir.join(&entry.file);
        write_atomically(&path, |w| {
            w.write_all(header.as_bytes())?;
            w.write_all(design.as_bytes())
        })
        .map_err(write_error(&path))?;
    }
    // Variant files of an earlier, different sweep into the same folder would mislead a user
    // running them by hand; the index never lists them, so they go.
    let current: Vec<&Path> = index.variants.iter().map(|v| v.file.as_path()).collect();
    for entry in std::fs::read_dir(&variants_dir).map_err(write_error(&variants_dir))? {
        let path = entry.map_err(write_error(&variants_dir))?.path();
        let stale = path.extension().is_some_and(|e| e == "toml")
            && path
                .strip_prefix(dir)
                .is_ok_and(|relative| !current.contains(&relative));
        if stale {
            std::fs::remove_file(&path).map_err(write_error(&path))?;
        }
    }
    let path = dir.join(INDEX_FILE);
    write_atomically(&path, |w| {
        serde_json::to_writer_pretty(&mut *w, &index)?;
        w.write_all(b"\n")
    })
    .map_err(write_error(&path))?;
    Ok(index)
}

/// Writes a cluster plan into `dir`: the variants and their index, `tasks.txt` (task i runs
/// `formwerk run` on variant i with `threads` threads) and `slurm.sbatch`; `formwerk` is the
/// absolute path of the binary the tasks run.
pub fn write_plan(
    sweep: &Sweep,
    dir: &Path,
    formwerk: &Path,
    threads: usize,
) -> Result<SweepIndex, SweepError> {
    let index = write_variants(sweep, dir)?;
    let root = std::path::absolute(dir).map_err(write_error(dir))?;
    let logs = root.join("logs");
    std::fs::create_dir_all(&logs).map_err(write_error(&logs))?;
    let commands: Vec<String> = index
        .variants
        .iter()
        .map(|v| {
            task_command(
                formwerk,
                &root.join(&v.file),
                &root.join(&v.out_dir),
                threads,
            )
        })
        .collect();
    let tasks = root.join("tasks.txt");
    write_atomically(&tasks, |w| {
        commands.iter().try_for_each(|c| writeln!(w, "{c}"))
    })
    .map_err(write_error(&tasks))?;
    let script = slurm_script(&index, &root, &commands, threads);
    let sbatch = root.join("slurm.sbatch");
    write_atomically(&sbatch, |w| w.write_all(script.as_bytes())).map_err(write_error(&sbatch))?;
    Ok(index)
}

/// The command that runs one variant: the same as a user would type. With `--resume`, a task
/// that was preempted or killed and runs again (Slurm's requeue, a rerun of tasks.txt) goes on
/// from its checkpoint.
fn task_command(formwerk: &Path, file: &Path, out_dir: &Path, threads: usize) -> String {
    format!(
        "{} run {} --out {} --threads {threads} --quiet --resume",
        shell_quote(&formwerk.to_string_lossy()),
        shell_quote(&file.to_string_lossy()),
        shell_quote(&out_dir.to_string_lossy()),
    )
}

/// A Slurm job array with one task per variant; task i runs command i.
fn slurm_script(index: &SweepIndex, root: &Path, commands: &[String], threads: usize) -> String {
    let mut script = format!(
        "#!/bin/bash\n\
         # Written by formwerk {} for {} ({} variants).\n\
         # Submit with `sbatch {}`; when every task has ended, `formwerk collect {}` writes the\n\
         # summary and lists what is missing. Add --time, --mem or --partition as your site needs.\n\
         # A task stopped by SIGTERM (preemption, scancel) keeps its checkpoint; run again, it goes on.\n\
         #SBATCH --job-name={}-sweep\n\
         #SBATCH --array=0-{}\n\
         #SBATCH --ntasks=1\n\
         #SBATCH --cpus-per-task={threads}\n\
         #SBATCH --output={}/%A_%a.out\n\
         set -euo pipefail\n\
         case \"$SLURM_ARRAY_TASK_ID\" in\n",
        index.formwerk_version,
        index.design_file.display(),
        commands.len(),
        shell_quote(&root.join("slurm.sbatch").to_string_lossy()),
        shell_quote(&root.to_string_lossy()),
        index.name,
        commands.len() - 1,
        root.join("logs").display(),
    );
    for (entry, command) in index.variants.iter().zip(commands) {
        script.push_str(&format!(
            "  {})\n    # {}\n    exec {command} ;;\n",
            entry.index, entry.label
        ));
    }
    script.push_str(
        "  *)\n    echo \"no variant for array task $SLURM_ARRAY_TASK_ID\" >&2\n    exit 1 ;;\nesac\n",
    );
    script
}

/// `text` as one word for a POSIX shell: bare when it is plainly safe, else single-quoted.
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_quote("/a/b-c_d.toml"), "/a/b-c_d.toml");
        assert_eq!(shell_quote("/my dir/x"), "'/my dir/x'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn a_plan_lists_every_variant_and_drops_stale_files() {
        let base = "name = \"p\"\nmaterial = \"PLA\"\n[domain]\nsize_mm = [4.0, 2.0, 2.0]\nelement_size_mm = 1.0\n[[supports]]\nregion = { face = \"x_min\" }\n[[load_cases]]\nname = \"tip\"\n[[load_cases.loads]]\nregion = { face = \"x_max\" }\nforce_n = [0.0, -1.0, 0.0]\n[optimization]\nvolume_fraction = 0.3\n";
        let sweep = |values: &str| {
            let text = format!(
                "{base}[sweep]\nvary = {{ \"optimization.volume_fraction\" = [{values}] }}\n"
            );
            Sweep::from_toml(&text, Path::new("p.toml"), None).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let exe = Path::new("/opt/formwerk bin/formwerk");
        write_plan(&sweep("0.2, 0.3, 0.4"), dir.path(), exe, 2).unwrap();
        let index = write_plan(&sweep("0.2, 0.5"), dir.path(), exe, 2).unwrap();
        assert_eq!(SweepIndex::read(dir.path()).unwrap(), index);
        let mut files: Vec<_> = std::fs::read_dir(dir.path().join("variants"))
            .unwrap()
            .map(|e| PathBuf::from("variants").join(e.unwrap().file_name()))
            .collect();
        files.sort();
        let listed: Vec<_> = index.variants.iter().map(|v| v.file.clone()).collect();
        assert_eq!(files, listed);
        let tasks = std::fs::read_to_string(dir.path().join("tasks.txt")).unwrap();
        assert_eq!(tasks.lines().count(), 2);
        assert!(
            tasks.starts_with("'/opt/formwerk bin/formwerk' run /"),
            "{tasks}"
        );
        assert!(tasks.contains("--threads 2 --quiet"), "{tasks}");
        let sbatch = std::fs::read_to_string(dir.path().join("slurm.sbatch")).unwrap();
        assert!(sbatch.contains("#SBATCH --array=0-1\n"), "{sbatch}");
        assert!(sbatch.contains("#SBATCH --cpus-per-task=2\n"), "{sbatch}");
        assert!(dir.path().join("logs").is_dir());
    }

    #[test]
    fn index_width_sorts_files() {
        assert_eq!(index_width(1), 1);
        assert_eq!(index_width(10), 1);
        assert_eq!(index_width(11), 2);
        assert_eq!(index_width(101), 3);
    }
}
