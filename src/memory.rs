//! The memory guard: a design whose run cannot fit in memory is refused before anything of its
//! grid's size is allocated, instead of being found out by the allocator (or the kernel's
//! out-of-memory killer) minutes into the run.
//!
//! The need is [`Design::planned_memory_bytes`], computed from the grid's sizes; the limit is the
//! memory the kernel says is available (`MemAvailable` of `/proc/meminfo`, which counts the page
//! cache that can be dropped), lowered to what the process's cgroup may still use (a Slurm job's
//! or a container's limit, cgroup v2 `memory.max` − `memory.current`), or the limit given
//! (`--max-memory`). Where none is known the design passes.

use std::path::Path;

use crate::design::{Design, DesignError};

/// The memory a run may use, and where that figure comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryLimit {
    /// Bytes.
    pub bytes: u64,
    /// Where it comes from, as the refusal says it: `available on this machine`, …
    pub source: String,
}

impl MemoryLimit {
    /// `given` bytes if set (from `--max-memory`), else what this machine and this process's
    /// cgroup have available; `None` where that is unknown.
    pub fn current(given: Option<u64>) -> Option<Self> {
        if let Some(bytes) = given {
            return Some(Self {
                bytes,
                source: "given by --max-memory".into(),
            });
        }
        let machine = mem_available().map(|bytes| Self {
            bytes,
            source: "available on this machine".into(),
        });
        let cgroup = cgroup_room().map(|bytes| Self {
            bytes,
            source: "left to this process's cgroup (a job's or container's memory limit)".into(),
        });
        match (machine, cgroup) {
            (Some(m), Some(c)) => Some(if c.bytes < m.bytes { c } else { m }),
            (m, c) => m.or(c),
        }
    }
}

/// Refuses `design` (read from `file`) when its run needs more than `limit`.
pub fn check_fits(
    design: &Design,
    file: &Path,
    limit: Option<&MemoryLimit>,
) -> Result<f64, DesignError> {
    let needed_bytes = design.planned_memory_bytes(file)?;
    match limit {
        Some(limit) if needed_bytes > limit.bytes as f64 => Err(DesignError::TooLarge {
            file: file.to_path_buf(),
            elements: design.grid_description(),
            needed_bytes,
            limit_bytes: limit.bytes,
            limit: limit.source.clone(),
        }),
        _ => Ok(needed_bytes),
    }
}

/// Parses a size such as `8G`, `512M`, `1.5GiB` or `2000000000` (bytes).
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kib" | "kb" => 1024.0,
        "m" | "mib" | "mb" => 1024.0 * 1024.0,
        "g" | "gib" | "gb" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tib" | "tb" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => f64::NAN,
    };
    match number.parse::<f64>() {
        Ok(value)
            if (value * scale).is_finite() && value * scale >= 1.0 && value * scale < 1.8e19 =>
        {
            Ok((value * scale) as u64)
        }
        _ => Err(format!(
            "`{text}` is not a size: give bytes, or a number with K, M, G or T (binary units), e.g. `8G`"
        )),
    }
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
fn mem_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// What this process's cgroup (v2) may still allocate: `memory.max − memory.current`.
fn cgroup_room() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    // cgroup v2: the one line `0::/path`.
    let path = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?; // "max" (no limit) fails here
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_bytes_and_binary_units() {
        assert_eq!(parse_bytes("8G"), Ok(8 << 30));
        assert_eq!(parse_bytes("512 MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("2000"), Ok(2000));
        for bad in ["", "G", "-1G", "8X", "1e400", "0", "NaN"] {
            assert!(
                parse_bytes(bad).unwrap_err().contains("is not a size"),
                "{bad}"
            );
        }
    }

    #[test]
    fn this_machine_has_a_limit() {
        // Linux always has /proc/meminfo; the figure is positive.
        if cfg!(target_os = "linux") {
            let limit = MemoryLimit::current(None).expect("a limit on Linux");
            assert!(limit.bytes > 0);
        }
        let given = MemoryLimit::current(Some(123)).unwrap();
        assert_eq!(
            (given.bytes, given.source.as_str()),
            (123, "given by --max-memory")
        );
    }
}
