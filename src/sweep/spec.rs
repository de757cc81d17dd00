//! The `[sweep]` table of a design file and its expansion into variants.
//!
//! ```toml
//! [sweep]
//! mode = "grid"            # or "list"
//! vary = { "optimization.volume_fraction" = [0.15, 0.2], material = ["PLA", "PETG"] }
//! ```
//!
//! The file is read as a TOML table, `sweep` is taken out, and for each variant every varied
//! key path is set in a copy of the rest (missing intermediate tables are created), which is
//! then parsed and validated exactly as a design file is. So a misspelt path or a bad value is
//! caught by the same checks, before anything runs, and the error names the `sweep.vary` entry
//! and the variant.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::design::{Design, DesignError, Region};

/// Most variants a sweep may expand to: beyond it a typo (a long list in grid mode) is likelier
/// than intent, and the plan files alone would fill a disk.
const MAX_VARIANTS: usize = 100_000;

/// How the lists of `sweep.vary` combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepMode {
    /// Every combination (the Cartesian product); the first key varies slowest.
    Grid,
    /// Explicit rows: all lists have the same length and row i takes element i of each.
    List,
}

impl SweepMode {
    /// The mode as written in design files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grid => "grid",
            Self::List => "list",
        }
    }
}

/// A design file with a `[sweep]` table, expanded and validated.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The design file.
    pub file: PathBuf,
    /// The design's name (every variant keeps it unless `name` is varied).
    pub name: String,
    /// How the lists combine.
    pub mode: SweepMode,
    /// The varied key paths, in the order of the file, e.g. `optimization.volume_fraction`.
    pub keys: Vec<String>,
    /// The variants, in expansion order.
    pub variants: Vec<Variant>,
}

/// One fully resolved design of a sweep.
#[derive(Debug, Clone)]
pub struct Variant {
    /// Position in the expansion, from 0.
    pub index: usize,
    /// Stable id: 12 hex digits of a hash of the resolved design (see [`variant_id`]).
    pub id: String,
    /// Readable label, e.g. `volume_fraction=0.2 material=PLA`.
    pub label: String,
    /// The value of each varied key, in the order of [`Sweep::keys`].
    pub values: Vec<toml::Value>,
    /// The resolved design, with STL paths made absolute so that it runs from anywhere.
    pub design: Design,
}

impl Sweep {
    /// Reads a sweep design file; `max_iterations` overrides `optimization.max_iterations` of
    /// every variant (it is part of the resolved design, hence of the id).
    pub fn load(path: &Path, max_iterations: Option<usize>) -> Result<Self, DesignError> {
        let text = std::fs::read_to_string(path).map_err(|source| DesignError::Io {
            file: path.to_path_buf(),
            source: std::sync::Arc::new(source),
        })?;
        Self::from_toml(&text, path, max_iterations)
    }

    /// Parses and expands a sweep from TOML text; `file` names it in errors and anchors
    /// relative STL paths.
    pub fn from_toml(
        text: &str,
        file: &Path,
        max_iterations: Option<usize>,
    ) -> Result<Self, DesignError> {
        let invalid = |key: String, message: String| DesignError::Invalid {
            file: file.to_path_buf(),
            key,
            message,
        };
        let mut base: toml::Table = text
            .parse()
            .map_err(|e| DesignError::parse(file, text, "", &e))?;
        let spec = base.remove("sweep").ok_or_else(|| {
            invalid(
                "sweep".into(),
                "missing: a sweep needs a [sweep] table with `vary` (use `formwerk run` for a single design)".into(),
            )
        })?;
        let (mode, axes) = parse_spec(spec).map_err(|(key, m)| invalid(key, m))?;
        let rows = expand(mode, &axes).map_err(|(key, m)| invalid(key, m))?;
        let keys: Vec<String> = axes.iter().map(|a| a.key.clone()).collect();
        let base_dir = file.parent().unwrap_or(Path::new("."));

        // Resolve every variant (in parallel: each builds a whole problem), then report the
        // first error in expansion order so that the message does not depend on scheduling.
        let resolved: Vec<Result<Variant, DesignError>> = rows
            .par_iter()
            .enumerate()
            .map(|(index, row)| {
                resolve(
                    &base,
                    &axes,
                    row,
                    index,
                    rows.len(),
                    max_iterations,
                    file,
                    base_dir,
                )
            })
            .collect();
        let variants: Vec<Variant> = resolved.into_iter().collect::<Result<_, _>>()?;
        for (i, a) in variants.iter().enumerate() {
            if let Some(b) = variants[..i].iter().find(|b| b.id == a.id) {
                return Err(invalid(
                    "sweep.vary".into(),
                    format!(
                        "variants {} ({}) and {} ({}) resolve to the same design; remove the repeated value",
                        b.index + 1,
                        b.label,
                        a.index + 1,
                        a.label
                    ),
                ));
            }
        }
        Ok(Self {
            file: file.to_path_buf(),
            name: variants[0].design.name.clone(),
            mode,
            keys,
            variants,
        })
    }
}

/// Whether a design file's text has a `[sweep]` table (`formwerk run` refuses those).
pub fn has_sweep(text: &str) -> bool {
    text.parse::<toml::Table>()
        .is_ok_and(|t| t.contains_key("sweep"))
}

/// One varied key: its path and its values.
#[derive(Debug)]
struct Axis {
    key: String,
    path: Vec<Segment>,
    values: Vec<toml::Value>,
}

/// One step of a key path: a table key, optionally indexing an array of tables.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    name: String,
    index: Option<usize>,
}

type KeyError = (String, String);

fn vary_key(key: &str) -> String {
    format!("sweep.vary.{key:?}")
}

/// Reads `mode` and `vary` from the `[sweep]` table.
fn parse_spec(spec: toml::Value) -> Result<(SweepMode, Vec<Axis>), KeyError> {
    let toml::Value::Table(mut spec) = spec else {
        return Err((
            "sweep".into(),
            "must be a table with `vary` (and optionally `mode`)".into(),
        ));
    };
    let mode = match spec.remove("mode") {
        None => SweepMode::Grid,
        Some(toml::Value::String(s)) if s == "grid" => SweepMode::Grid,
        Some(toml::Value::String(s)) if s == "list" => SweepMode::List,
        Some(other) => {
            return Err((
                "sweep.mode".into(),
                format!(
                    "{other} is not a mode; allowed: \"grid\" (every combination, the default) or \"list\" (row i takes element i of every list)"
                ),
            ));
        }
    };
    let vary = spec.remove("vary");
    if let Some(unknown) = spec.keys().next() {
        return Err((
            format!("sweep.{unknown}"),
            "unknown key; allowed in [sweep]: `vary`, `mode`".into(),
        ));
    }
    let Some(toml::Value::Table(vary)) = vary else {
        return Err((
            "sweep.vary".into(),
            "missing or not a table: give `vary = { \"optimization.volume_fraction\" = [0.2, 0.3], ... }`, key paths into the design, each with a list of values".into(),
        ));
    };
    if vary.is_empty() {
        return Err((
            "sweep.vary".into(),
            "is empty; give at least one key path with a list of values".into(),
        ));
    }
    let mut axes: Vec<Axis> = Vec::new();
    for (key, values) in vary {
        let path = parse_path(&key).ok_or_else(|| {
            (
                vary_key(&key),
                "is not a key path; write dotted keys such as \"optimization.volume_fraction\", \"material\" or \"load_cases[0].weight\"".to_string(),
            )
        })?;
        if path[0].name == "sweep" {
            return Err((vary_key(&key), "a sweep cannot vary itself".into()));
        }
        let toml::Value::Array(values) = values else {
            return Err((
                vary_key(&key),
                format!("must be a list of values, e.g. [{values}]"),
            ));
        };
        if values.is_empty() {
            return Err((
                vary_key(&key),
                "is an empty list; give at least one value".into(),
            ));
        }
        if let Some(other) = axes
            .iter()
            .find(|a| a.path.starts_with(&path) || path.starts_with(&a.path))
        {
            return Err((
                vary_key(&key),
                format!(
                    "overlaps {:?}: one key path lies inside the other; vary each value once",
                    other.key
                ),
            ));
        }
        let key = display_path(&path);
        axes.push(Axis { key, path, values });
    }
    Ok((mode, axes))
}

/// Parses `a.b[2].c`; `None` if it is not a key path.
fn parse_path(key: &str) -> Option<Vec<Segment>> {
    key.split('.')
        .map(|part| {
            let (name, index) = match part.split_once('[') {
                None => (part, None),
                Some((name, rest)) => (name, Some(rest.strip_suffix(']')?.parse().ok()?)),
            };
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            valid.then(|| Segment {
                name: name.to_string(),
                index,
            })
        })
        .collect()
}

/// The path as serde_path_to_error writes it (`load_cases[0].weight`), so errors match.
fn display_path(path: &[Segment]) -> String {
    path.iter()
        .map(|s| match s.index {
            Some(i) => format!("{}[{i}]", s.name),
            None => s.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(".")
}

/// The rows of the sweep: for each variant, the index of its value in every list.
fn expand(mode: SweepMode, axes: &[Axis]) -> Result<Vec<Vec<usize>>, KeyError> {
    match mode {
        SweepMode::List => {
            let first = &axes[0];
            if let Some(other) = axes.iter().find(|a| a.values.len() != first.values.len()) {
                return Err((
                    vary_key(&other.key),
                    format!(
                        "has {} values but {:?} has {}; in list mode every list has the same length (row i takes element i of each)",
                        other.values.len(),
                        first.key,
                        first.values.len()
                    ),
                ));
            }
            Ok((0..first.values.len())
                .map(|i| vec![i; axes.len()])
                .collect())
        }
        SweepMode::Grid => {
            let count = axes
                .iter()
                .try_fold(1usize, |n, a| n.checked_mul(a.values.len()))
                .filter(|&n| n <= MAX_VARIANTS)
                .ok_or_else(|| {
                    (
                        "sweep.vary".to_string(),
                        format!("expands to more than {MAX_VARIANTS} variants; split the sweep"),
                    )
                })?;
            // Mixed-radix counting with the last key fastest, like nested loops in file order.
            Ok((0..count)
                .map(|mut n| {
                    let mut row = vec![0; axes.len()];
                    for (slot, axis) in row.iter_mut().zip(axes).rev() {
                        *slot = n % axis.values.len();
                        n /= axis.values.len();
                    }
                    row
                })
                .collect())
        }
    }
}

/// Builds, checks and identifies one variant.
#[allow(clippy::too_many_arguments)]
fn resolve(
    base: &toml::Table,
    axes: &[Axis],
    row: &[usize],
    index: usize,
    count: usize,
    max_iterations: Option<usize>,
    file: &Path,
    base_dir: &Path,
) -> Result<Variant, DesignError> {
    let values: Vec<toml::Value> = axes
        .iter()
        .zip(row)
        .map(|(a, &i)| a.values[i].clone())
        .collect();
    let keys: Vec<&str> = axes.iter().map(|a| a.key.as_str()).collect();
    let label = variant_label(&keys, &values);
    // An error found in this variant, attributed to the varied value it comes from when its key
    // path lies on one (else to the design key itself).
    let error = |key: &str, message: &str| {
        let path = key.trim_start_matches('.');
        // An unknown key may be reported at its parent table; the key itself is in the message.
        let inner = match message
            .strip_prefix("unknown key `")
            .or_else(|| message.strip_prefix("unknown field `"))
            .and_then(|rest| rest.split_once('`'))
        {
            Some((field, _)) if path.is_empty() => field.to_string(),
            Some((field, _)) if path != field && !path.ends_with(&format!(".{field}")) => {
                format!("{path}.{field}")
            }
            _ => path.to_string(),
        };
        let axis = axes.iter().zip(row).find(|(a, _)| {
            inner == a.key
                || inner.starts_with(&format!("{}.", a.key))
                || inner.starts_with(&format!("{}[", a.key))
                || (!inner.is_empty() && a.key.starts_with(&format!("{inner}.")))
        });
        let context = format!("(variant {} of {count}: {label})", index + 1);
        match axis {
            Some((a, &i)) => DesignError::Invalid {
                file: file.to_path_buf(),
                key: format!("{}[{i}]", vary_key(&a.key)),
                message: format!(
                    "{message} (value {} of variant {} of {count}: {label})",
                    a.values[i],
                    index + 1
                ),
            },
            None => DesignError::Invalid {
                file: file.to_path_buf(),
                key: if inner.is_empty() {
                    "sweep.vary".into()
                } else {
                    inner
                },
                message: format!("{message} {context}"),
            },
        }
    };
    let mut table = base.clone();
    for (axis, value) in axes.iter().zip(&values) {
        set_path(&mut table, &axis.path, value.clone()).map_err(|m| error(&axis.key, &m))?;
    }
    if let Some(n) = max_iterations {
        let n = i64::try_from(n).unwrap_or(i64::MAX);
        set_path(
            &mut table,
            &parse_path("optimization.max_iterations").expect("a valid path"),
            toml::Value::Integer(n),
        )
        .map_err(|m| error("optimization", &m))?;
    }
    let mut design: Design =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let message = crate::design::plain_words(e.inner().message().trim(), "");
            error(&e.path().to_string(), &message)
        })?;
    let id = variant_id(&design);
    absolute_stl_paths(&mut design, base_dir);
    design.to_problem(file).map_err(|e| match e {
        DesignError::Invalid { key, message, .. } => error(&key, &message),
        other => other,
    })?;
    Ok(Variant {
        index,
        id,
        label,
        values,
        design,
    })
}

/// Sets the value at `path` in `table`, creating missing intermediate tables.
fn set_path(table: &mut toml::Table, path: &[Segment], value: toml::Value) -> Result<(), String> {
    let (last, parents) = path.split_last().expect("paths are never empty");
    let mut table = table;
    for (depth, segment) in parents.iter().enumerate() {
        let here = display_path(&path[..=depth]);
        let slot = match segment.index {
            None => table
                .entry(segment.name.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new())),
            Some(i) => element(table, segment, i, &here)?,
        };
        table = match slot {
            toml::Value::Table(t) => t,
            other => {
                return Err(format!(
                    "`{here}` is a {}, not a table, so it has no keys",
                    other.type_str()
                ));
            }
        };
    }
    match last.index {
        None => {
            table.insert(last.name.clone(), value);
        }
        Some(i) => *element(table, last, i, &display_path(path))? = value,
    }
    Ok(())
}

/// Element `i` of the array `segment.name` of `table` (which must exist).
fn element<'a>(
    table: &'a mut toml::Table,
    segment: &Segment,
    i: usize,
    here: &str,
) -> Result<&'a mut toml::Value, String> {
    match table.get_mut(&segment.name) {
        Some(toml::Value::Array(items)) => {
            let len = items.len();
            items.get_mut(i).ok_or_else(|| {
                format!(
                    "`{here}` does not exist: the design has {len} entries in `{}` (indices from 0)",
                    segment.name
                )
            })
        }
        Some(other) => Err(format!(
            "`{}` is a {}, not a list",
            segment.name,
            other.type_str()
        )),
        None => Err(format!(
            "`{here}` does not exist: the design has no `{}`",
            segment.name
        )),
    }
}

/// A readable label: `name=value` for each varied key, the name being the last part of the key
/// path unless two keys share it.
pub fn variant_label(keys: &[&str], values: &[toml::Value]) -> String {
    let json: Vec<serde_json::Value> = values.iter().map(toml_to_json).collect();
    label_from_json(keys, &json)
}

/// [`variant_label`] for values read back as JSON (`variants.json`).
pub fn label_from_json(keys: &[&str], values: &[serde_json::Value]) -> String {
    let short = |key: &str| -> String {
        let last = key.rsplit('.').next().unwrap_or(key);
        let last = last.split('[').next().unwrap_or(last);
        let shared = keys
            .iter()
            .filter(|k| {
                let l = k.rsplit('.').next().unwrap_or(k);
                l.split('[').next().unwrap_or(l) == last
            })
            .count();
        if shared > 1 {
            key.to_string()
        } else {
            last.to_string()
        }
    };
    keys.iter()
        .zip(values)
        .map(|(k, v)| format!("{}={}", short(k), value_text(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// A value as it reads in labels and CSV cells: strings bare, everything else as JSON.
pub fn value_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A TOML value as JSON (dates become strings).
pub fn toml_to_json(value: &toml::Value) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()))
}

/// The id of a resolved design: the first 12 hex digits of the 64-bit FNV-1a hash of its
/// canonical JSON serialization. The struct fixes the key order and every default is filled in,
/// so the id depends on what the design means, not on how the file is written; STL paths count
/// as written (relative to the design file), so moving a project keeps its ids. 48 bits make a
/// collision in a sweep of 10⁴ variants a one-in-10⁶ event, and one would be reported as an
/// error, never silently merged.
pub fn variant_id(design: &Design) -> String {
    let canonical = serde_json::to_string(design).expect("a design always serializes");
    format!("{:016x}", fnv1a64(canonical.as_bytes()))[..12].to_string()
}

/// FNV-1a, 64 bits (Fowler, Noll, Vo; IETF draft-eastlake-fnv): small, stable across platforms
/// and Rust versions, unlike `std`'s `DefaultHasher`.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Rewrites every relative `stl` region path as absolute, anchored at `base_dir` (the design
/// file's folder), so that variant files written elsewhere still find their bodies.
fn absolute_stl_paths(design: &mut Design, base_dir: &Path) {
    fn visit(region: &mut Region, base_dir: &Path) {
        match region {
            Region::Stl(path) if path.is_relative() => {
                let joined = base_dir.join(&*path);
                *path = std::path::absolute(&joined).unwrap_or(joined);
            }
            Region::SurfaceOf(inner) => visit(inner, base_dir),
            Region::Union(parts) => parts.iter_mut().for_each(|p| visit(p, base_dir)),
            _ => {}
        }
    }
    let keep = design.keep_solid.iter_mut().chain(&mut design.keep_empty);
    for region in keep.map(|k| &mut k.region) {
        visit(region, base_dir);
    }
    for support in &mut design.supports {
        visit(&mut support.region, base_dir);
    }
    for case in &mut design.load_cases {
        for load in &mut case.loads {
            if let Some(region) = &mut load.region {
                visit(region, base_dir);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
name = "small"
[domain]
size_mm = [12.0, 4.0, 4.0]
element_size_mm = 1.0
[material]
youngs_modulus_mpa = 2400.0
poisson_ratio = 0.36
[[supports]]
region = { face = "x_min" }
[[load_cases]]
name = "tip"
[[load_cases.loads]]
region = { box = { min_mm = [12.0, 0.0, 0.0], max_mm = [12.0, 0.0, 4.0] } }
force_n = [0.0, -10.0, 0.0]
[optimization]
volume_fraction = 0.3
"#;

    fn sweep(vary: &str) -> Result<Sweep, DesignError> {
        Sweep::from_toml(
            &format!("{BASE}\n[sweep]\n{vary}\n"),
            Path::new("s.toml"),
            None,
        )
    }

    fn path(key: &str) -> Vec<Segment> {
        parse_path(key).unwrap()
    }

    #[test]
    fn dotted_paths_set_values_and_create_tables() {
        let mut table: toml::Table = BASE.parse().unwrap();
        set_path(
            &mut table,
            &path("optimization.volume_fraction"),
            toml::Value::Float(0.2),
        )
        .unwrap();
        set_path(
            &mut table,
            &path("manufacturing.build_direction"),
            "+z".into(),
        )
        .unwrap();
        set_path(&mut table, &path("load_cases[0].weight"), 2.0.into()).unwrap();
        assert_eq!(
            table["optimization"]["volume_fraction"].as_float(),
            Some(0.2)
        );
        assert_eq!(
            table["manufacturing"]["build_direction"].as_str(),
            Some("+z")
        );
        assert_eq!(table["load_cases"][0]["weight"].as_float(), Some(2.0));
        // Errors say what is there.
        let e = set_path(&mut table, &path("name.x"), 1.into()).unwrap_err();
        assert!(e.contains("`name` is a string"), "{e}");
        let e = set_path(&mut table, &path("load_cases[3].weight"), 1.into()).unwrap_err();
        assert!(e.contains("1 entries in `load_cases`"), "{e}");
        assert!(parse_path("a..b").is_none());
        assert!(parse_path("a[x]").is_none());
        assert_eq!(
            display_path(&path("load_cases[0].weight")),
            "load_cases[0].weight"
        );
    }

    #[test]
    fn grid_is_the_product_with_the_last_key_fastest() {
        let s = sweep(
            r#"vary = { "optimization.volume_fraction" = [0.2, 0.3, 0.4], "optimization.penalization" = [2.0, 3.0] }"#,
        )
        .unwrap();
        assert_eq!(s.mode, SweepMode::Grid);
        assert_eq!(
            s.keys,
            ["optimization.volume_fraction", "optimization.penalization"]
        );
        let pairs: Vec<(f64, f64)> = s
            .variants
            .iter()
            .map(|v| {
                (
                    v.design.optimization.volume_fraction.unwrap(),
                    v.design.optimization.penalization,
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [
                (0.2, 2.0),
                (0.2, 3.0),
                (0.3, 2.0),
                (0.3, 3.0),
                (0.4, 2.0),
                (0.4, 3.0)
            ]
        );
        assert_eq!(s.variants[3].label, "volume_fraction=0.3 penalization=3.0");
        assert_eq!(s.variants[3].index, 3);
    }

    #[test]
    fn list_takes_rows_and_checks_lengths() {
        let s = sweep(
            r#"mode = "list"
vary = { "optimization.volume_fraction" = [0.2, 0.3], material = ["PLA", "PETG"] }"#,
        )
        .unwrap();
        assert_eq!(s.variants.len(), 2);
        assert_eq!(s.variants[1].label, "volume_fraction=0.3 material=PETG");
        let e = sweep(
            r#"mode = "list"
vary = { "optimization.volume_fraction" = [0.2, 0.3], material = ["PLA"] }"#,
        )
        .unwrap_err();
        assert_eq!(e.key(), "sweep.vary.\"material\"");
        assert!(e.to_string().contains("same length"), "{e}");
    }

    #[test]
    fn bad_values_and_paths_name_the_sweep_entry() {
        let e = sweep(r#"vary = { "optimization.volume_fraction" = [0.2, 1.5] }"#).unwrap_err();
        assert_eq!(e.key(), "sweep.vary.\"optimization.volume_fraction\"[1]");
        assert!(e.to_string().contains("(0, 1]"), "{e}");
        let e = sweep(r#"vary = { "optimization.volume_fractio" = [0.2] }"#).unwrap_err();
        assert_eq!(e.key(), "sweep.vary.\"optimization.volume_fractio\"[0]");
        assert!(e.to_string().contains("volume_fraction"), "{e}");
        let e = sweep(r#"vary = { material = ["PLA", "Unobtainium"] }"#).unwrap_err();
        assert_eq!(e.key(), "sweep.vary.\"material\"[1]");
        let e = sweep(r#"vary = { "optimization.penalization" = ["high"] }"#).unwrap_err();
        assert_eq!(e.key(), "sweep.vary.\"optimization.penalization\"[0]");
        assert!(e.to_string().contains("expected a number"), "{e}");
        let e = sweep(r#"vary = { "optimization.volume_fraction" = [] }"#).unwrap_err();
        assert!(e.to_string().contains("empty list"), "{e}");
        let e = sweep(
            r#"mode = "random"
vary = { material = ["PLA"] }"#,
        )
        .unwrap_err();
        assert_eq!(e.key(), "sweep.mode");
        let e = sweep(r#"vary = { material = ["PLA", "PLA"] }"#).unwrap_err();
        assert!(e.to_string().contains("same design"), "{e}");
    }

    #[test]
    fn ids_are_stable_and_ignore_key_order() {
        let a = sweep(r#"vary = { "optimization.volume_fraction" = [0.2, 0.3] }"#).unwrap();
        let b = sweep(r#"vary = { "optimization.volume_fraction" = [0.3, 0.2] }"#).unwrap();
        assert_eq!(a.variants[0].id, b.variants[1].id);
        assert_ne!(a.variants[0].id, a.variants[1].id);
        assert_eq!(a.variants[0].id.len(), 12);
        // The same design written in another order, with a default spelt out, has the same id.
        let reordered = r#"
name = "small"
[optimization]
volume_fraction = 0.2
penalization = 3.0
[material]
poisson_ratio = 0.36
youngs_modulus_mpa = 2400.0
[domain]
element_size_mm = 1.0
size_mm = [12.0, 4.0, 4.0]
[[load_cases]]
name = "tip"
[[load_cases.loads]]
force_n = [0.0, -10.0, 0.0]
region = { box = { max_mm = [12.0, 0.0, 4.0], min_mm = [12.0, 0.0, 0.0] } }
[[supports]]
region = { face = "x_min" }
"#;
        let design = Design::from_toml(reordered, Path::new("r.toml")).unwrap();
        assert_eq!(variant_id(&design), a.variants[0].id);
        // Known value, so that ids never change silently between versions.
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn max_iterations_override_is_part_of_the_design() {
        let text = format!("{BASE}\n[sweep]\nvary = {{ material = [\"PLA\"] }}\n");
        let s = Sweep::from_toml(&text, Path::new("s.toml"), Some(3)).unwrap();
        assert_eq!(s.variants[0].design.optimization.max_iterations, 3);
        let t = Sweep::from_toml(&text, Path::new("s.toml"), None).unwrap();
        assert_ne!(s.variants[0].id, t.variants[0].id);
    }

    #[test]
    fn resolved_designs_survive_a_toml_round_trip() {
        let s = sweep(
            r#"vary = { "optimization.volume_fraction" = [0.15, 0.1234567890123], material = ["PLA", "PETG"], "manufacturing.build_direction" = ["+z", "none"] }"#,
        )
        .unwrap();
        assert_eq!(s.variants.len(), 8);
        for v in &s.variants {
            let text = toml::to_string(&v.design).unwrap();
            let back = Design::from_toml(&text, Path::new("v.toml")).unwrap();
            assert_eq!(back, v.design, "{text}");
        }
    }
}
