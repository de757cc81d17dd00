//! What a sweep produced: one row per variant from its `result.json`, the Pareto front of mass
//! against compliance, and `summary.csv`, `summary.json` and `pareto.svg`.
//!
//! The same reading serves `formwerk sweep` (at its end) and `formwerk collect` (after a
//! cluster run), so both give the same summary for the same results.

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::plan::{SweepIndex, VariantEntry};
use super::spec::value_text;
use super::{SweepError, write_error};
use crate::design::{Design, MeshFormat};
use crate::output::atomic::write_atomically;
use crate::output::pareto::{ParetoPoint, write_pareto_svg};
use crate::output::report::{SweepRow, sweep_page};

/// How far a variant got.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Its results are complete and belong to its design.
    Ok,
    /// It ran and failed (its `error.txt`, or results without the part).
    Failed,
    /// It has not run, was interrupted, or its folder holds another design's results.
    Missing,
}

/// The numbers of a finished variant, from its `result.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    /// Whether the design change met its tolerance.
    pub converged: bool,
    /// Design iterations.
    pub iterations: u64,
    /// Weighted compliance, N·mm.
    pub compliance_nmm: f64,
    /// Mean density of the free elements.
    pub volume_fraction: f64,
    /// Mass, g (when the material density is known).
    pub mass_g: Option<f64>,
    /// Largest displacement, mm.
    pub max_displacement_mm: f64,
    /// Smallest safety factor (when the yield strength is known).
    pub safety_factor: Option<f64>,
    /// Unsupported overhang, % of the part's surface (with a build direction).
    pub overhang_percent: Option<f64>,
    /// Area a slicer would support, layer by layer, mm² (with a build direction).
    pub support_area_mm2: Option<f64>,
    /// Volume under it, mm³ (with a build direction).
    pub support_volume_mm3: Option<f64>,
    /// Share of elements neither material nor void (`result.json` `grey_share`).
    pub grey_share: Option<f64>,
    /// The slicer's estimated print time with supports, s (when a slicer judged the part).
    pub print_time_s: Option<f64>,
    /// The slicer's support filament, g (when a slicer judged the part and the material's
    /// density is known).
    pub support_filament_g: Option<f64>,
    /// Seconds of optimization and meshing.
    pub runtime_s: f64,
}

/// One variant's line of the summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The variant.
    pub entry: VariantEntry,
    /// How far it got.
    pub status: Status,
    /// Why it failed or is missing (empty when ok).
    pub message: String,
    /// Its numbers, when ok.
    pub metrics: Option<Metrics>,
    /// Whether it is on the Pareto front (no other variant is as light and as stiff, and
    /// lighter or stiffer).
    pub pareto_optimal: bool,
}

/// The summary of a sweep folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The index it was read from.
    pub index: SweepIndex,
    /// One row per variant, in index order.
    pub rows: Vec<Row>,
    /// Whether the Pareto front uses mass (else volume fraction: some material has no density).
    pub by_mass: bool,
}

/// The state of one variant folder, given the design it must hold: complete results of that
/// design are `Ok`.
pub fn variant_state(dir: &Path, design: &Design) -> (Status, String, Option<Metrics>) {
    let error = std::fs::read_to_string(dir.join("error.txt")).ok();
    let failed = |message: String| (Status::Failed, message, None);
    let result = std::fs::read(dir.join("result.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let Some(result) = result else {
        return match error {
            Some(e) => failed(first_line(&e)),
            None => (
                Status::Missing,
                "no results: not run yet, still running, or stopped (a planned task's output is in logs/)".into(),
                None,
            ),
        };
    };
    let expected = serde_json::to_value(design).expect("a design always serializes");
    if result.get("design") != Some(&expected) {
        return (
            Status::Missing,
            "its result.json is from another design (an older sweep?)".into(),
            None,
        );
    }
    // The run writes result.json, then the part files, then preview.png: all must be there.
    let mut files: Vec<&str> = design
        .output
        .formats
        .iter()
        .map(|f| match f {
            MeshFormat::Stl => "part.stl",
            MeshFormat::ThreeMf => "part.3mf",
        })
        .collect();
    files.push("preview.png");
    if let Some(absent) = files.iter().find(|f| !dir.join(f).is_file()) {
        return failed(error.map(|e| first_line(&e)).unwrap_or_else(|| {
            format!("result.json is there but {absent} is not: the mesh failed its checks or the run was stopped")
        }));
    }
    match metrics(&result) {
        Some(m) => (Status::Ok, String::new(), Some(m)),
        None => failed("result.json lacks the expected numbers".into()),
    }
}

fn first_line(text: &str) -> String {
    text.lines().next().unwrap_or("").trim().to_string()
}

/// The summary numbers of a `result.json`.
fn metrics(result: &Value) -> Option<Metrics> {
    let f = |key: &str| result.get(key).and_then(Value::as_f64);
    let at = |pointer: &str| result.pointer(pointer).and_then(Value::as_f64);
    Some(Metrics {
        converged: result.get("converged")?.as_bool()?,
        iterations: result.get("iterations")?.as_u64()?,
        compliance_nmm: f("compliance_nmm")?,
        volume_fraction: f("volume_fraction")?,
        mass_g: f("mass_g"),
        max_displacement_mm: f("max_displacement_mm")?,
        safety_factor: f("safety_factor"),
        overhang_percent: at("/printability/overhang_percent"),
        support_area_mm2: at("/printability/layers/support_area_mm2"),
        support_volume_mm3: at("/printability/layers/support_volume_mm3"),
        grey_share: f("grey_share"),
        print_time_s: at("/slicer/print_time_s"),
        support_filament_g: at("/slicer/support_filament_g"),
        runtime_s: result.pointer("/timings/total_s")?.as_f64()?
            + at("/mesh/seconds").unwrap_or(0.0),
    })
}

/// Reads every variant of the sweep folder `dir`.
pub fn collect(dir: &Path) -> Result<Summary, SweepError> {
    let index = SweepIndex::read(dir)?;
    let mut rows = Vec::with_capacity(index.variants.len());
    for entry in &index.variants {
        let file = dir.join(&entry.file);
        let design = Design::load(&file).map_err(|e| SweepError::Read {
            path: file.clone(),
            message: format!("variant {} ({}): {e}", entry.index, entry.label),
        })?;
        let (status, message, metrics) = variant_state(&dir.join(&entry.out_dir), &design);
        rows.push(Row {
            entry: entry.clone(),
            status,
            message,
            metrics,
            pareto_optimal: false,
        });
    }
    let by_mass = rows
        .iter()
        .filter_map(|r| r.metrics.as_ref())
        .all(|m| m.mass_g.is_some());
    let points: Vec<Option<[f64; 2]>> = rows
        .iter()
        .map(|r| {
            r.metrics
                .as_ref()
                .and_then(|m| pareto_x(m, by_mass).map(|x| [x, m.compliance_nmm]))
        })
        .collect();
    let front = pareto_front(&points);
    for (row, on) in rows.iter_mut().zip(front) {
        row.pareto_optimal = on;
    }
    Ok(Summary {
        index,
        rows,
        by_mass,
    })
}

fn pareto_x(m: &Metrics, by_mass: bool) -> Option<f64> {
    if by_mass {
        m.mass_g
    } else {
        Some(m.volume_fraction)
    }
}

/// Which points are Pareto-optimal when both coordinates are minimized: those that no other
/// point dominates (no worse in both, better in one). Equal points do not dominate each other,
/// so both stay on the front; absent or non-finite points are never on it.
pub fn pareto_front(points: &[Option<[f64; 2]>]) -> Vec<bool> {
    let finite = |p: &Option<[f64; 2]>| p.filter(|p| p.iter().all(|v| v.is_finite()));
    points
        .iter()
        .map(|p| {
            let Some(p) = finite(p) else {
                return false;
            };
            !points
                .iter()
                .filter_map(finite)
                .any(|q| q[0] <= p[0] && q[1] <= p[1] && (q[0] < p[0] || q[1] < p[1]))
        })
        .collect()
}

impl Summary {
    /// How many variants are ok, failed and missing.
    pub fn counts(&self) -> [usize; 3] {
        [Status::Ok, Status::Failed, Status::Missing]
            .map(|s| self.rows.iter().filter(|r| r.status == s).count())
    }

    /// The column names, in order: index, id, label, the varied keys, the numbers, status.
    pub fn columns(&self) -> Vec<String> {
        let mut columns: Vec<String> = ["index", "id", "label"].map(String::from).to_vec();
        columns.extend(self.index.keys.iter().cloned());
        columns.extend(
            [
                "converged",
                "iterations",
                "compliance_nmm",
                "volume_fraction",
                "mass_g",
                "max_displacement_mm",
                "safety_factor",
                "overhang_percent",
                "support_area_mm2",
                "support_volume_mm3",
                "grey_share",
                "print_time_s",
                "support_filament_g",
                "runtime_s",
                "status",
                "pareto_optimal",
                "message",
            ]
            .map(String::from),
        );
        columns
    }

    /// A row's cells, in the order of [`Summary::columns`]; JSON null where there is no value.
    pub fn cells(&self, row: &Row) -> Vec<Value> {
        let e = &row.entry;
        let mut cells = vec![e.index.into(), e.id.clone().into(), e.label.clone().into()];
        cells.extend(
            self.index
                .keys
                .iter()
                .map(|k| e.values.get(k).cloned().unwrap_or(Value::Null)),
        );
        let m = row.metrics.as_ref();
        let number = |v: Option<f64>| v.map_or(Value::Null, Value::from);
        cells.extend([
            m.map_or(Value::Null, |m| m.converged.into()),
            m.map_or(Value::Null, |m| m.iterations.into()),
            number(m.map(|m| m.compliance_nmm)),
            number(m.map(|m| m.volume_fraction)),
            number(m.and_then(|m| m.mass_g)),
            number(m.map(|m| m.max_displacement_mm)),
            number(m.and_then(|m| m.safety_factor)),
            number(m.and_then(|m| m.overhang_percent)),
            number(m.and_then(|m| m.support_area_mm2)),
            number(m.and_then(|m| m.support_volume_mm3)),
            number(m.and_then(|m| m.grey_share)),
            number(m.and_then(|m| m.print_time_s)),
            number(m.and_then(|m| m.support_filament_g)),
            number(m.map(|m| m.runtime_s)),
            serde_json::to_value(row.status).expect("a status serializes"),
            row.pareto_optimal.into(),
            row.message.clone().into(),
        ]);
        cells
    }

    /// Writes `summary.csv`, `summary.json` and `pareto.svg` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), SweepError> {
        let columns = self.columns();
        let csv = dir.join("summary.csv");
        write_atomically(&csv, |w| {
            let header: Vec<String> = columns.iter().map(|c| csv_field(c)).collect();
            writeln!(w, "{}", header.join(","))?;
            for row in &self.rows {
                let cells: Vec<String> = self
                    .cells(row)
                    .iter()
                    .map(|v| match v {
                        Value::Null => String::new(),
                        v => csv_field(&value_text(v)),
                    })
                    .collect();
                writeln!(w, "{}", cells.join(","))?;
            }
            Ok(())
        })
        .map_err(write_error(&csv))?;

        let [ok, failed, missing] = self.counts();
        let rows: Vec<OrderedRow> = self
            .rows
            .iter()
            .map(|r| OrderedRow(columns.iter().cloned().zip(self.cells(r)).collect()))
            .collect();
        let json = serde_json::json!({
            "schema_version": crate::output::SCHEMA_VERSION,
            "formwerk_version": env!("CARGO_PKG_VERSION"),
            "design_file": self.index.design_file,
            "name": self.index.name,
            "mode": self.index.mode,
            "keys": self.index.keys,
            "counts": { "ok": ok, "failed": failed, "missing": missing },
            "pareto_axes": [self.x_column(), "compliance_nmm"],
            "variants": rows,
        });
        let path = dir.join("summary.json");
        write_atomically(&path, |w| {
            serde_json::to_writer_pretty(&mut *w, &json)?;
            w.write_all(b"\n")
        })
        .map_err(write_error(&path))?;

        let points: Vec<ParetoPoint> = self
            .rows
            .iter()
            .filter_map(|r| {
                let m = r.metrics.as_ref()?;
                Some(ParetoPoint {
                    x: pareto_x(m, self.by_mass)?,
                    y: m.compliance_nmm,
                    label: &r.entry.label,
                    on_front: r.pareto_optimal,
                })
            })
            .collect();
        let x_label = if self.by_mass {
            "mass (g)"
        } else {
            "volume fraction (mass unknown: a material has no density)"
        };
        let svg = dir.join("pareto.svg");
        write_pareto_svg(&svg, &points, x_label, "compliance (N·mm)").map_err(write_error(&svg))?;

        let rows: Vec<SweepRow> = self
            .rows
            .iter()
            .map(|r| SweepRow {
                id: &r.entry.id,
                ok: r.status == Status::Ok,
                cells: self.cells(r),
                point: r.metrics.as_ref().and_then(|m| {
                    Some((
                        pareto_x(m, self.by_mass)?,
                        m.compliance_nmm,
                        r.pareto_optimal,
                    ))
                }),
            })
            .collect();
        let html = sweep_page(&self.index.name, &columns, &rows, x_label);
        let report = dir.join("report.html");
        write_atomically(&report, |w| w.write_all(html.as_bytes())).map_err(write_error(&report))
    }

    /// The summary column on the Pareto plot's x axis.
    pub fn x_column(&self) -> &'static str {
        if self.by_mass {
            "mass_g"
        } else {
            "volume_fraction"
        }
    }

    /// A plain-text table of the Pareto-optimal variants, lightest first.
    pub fn pareto_table(&self) -> String {
        let mut front: Vec<(&Row, &Metrics)> = self
            .rows
            .iter()
            .filter(|r| r.pareto_optimal)
            .filter_map(|r| Some((r, r.metrics.as_ref()?)))
            .collect();
        front.sort_by(|a, b| {
            let x = |m: &Metrics| pareto_x(m, self.by_mass).unwrap_or(f64::NAN);
            x(a.1).total_cmp(&x(b.1))
        });
        let mut text = format!(
            "{:<12} {:>10} {:>16} {:>10} {:>10}  label\n",
            "id",
            if self.by_mass { "mass g" } else { "volume" },
            "compliance N·mm",
            "max u mm",
            "overhang %"
        );
        for (row, m) in front {
            text.push_str(&format!(
                "{:<12} {:>10.4} {:>16.6} {:>10.4} {:>10}  {}\n",
                row.entry.id,
                pareto_x(m, self.by_mass).unwrap_or(f64::NAN),
                m.compliance_nmm,
                m.max_displacement_mm,
                m.overhang_percent
                    .map_or("-".to_string(), |o| format!("{o:.2}")),
                row.entry.label
            ));
        }
        text
    }
}

/// A JSON object whose keys keep the summary's column order.
struct OrderedRow(Vec<(String, Value)>);

impl Serialize for OrderedRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A CSV field (RFC 4180): quoted when it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn front(points: &[[f64; 2]]) -> Vec<bool> {
        pareto_front(&points.iter().copied().map(Some).collect::<Vec<_>>())
    }

    #[test]
    fn a_single_point_is_the_front() {
        assert_eq!(front(&[[1.0, 2.0]]), [true]);
        assert_eq!(front(&[]), Vec::<bool>::new());
    }

    #[test]
    fn dominated_points_are_off_the_front() {
        // (3, 3) is worse than (2, 2) in both; (2, 5) is as light as (2, 2) but less stiff.
        let points = [[1.0, 4.0], [2.0, 2.0], [3.0, 3.0], [4.0, 1.0], [2.0, 5.0]];
        assert_eq!(front(&points), [true, true, false, true, false]);
    }

    #[test]
    fn ties_stay_on_the_front_together() {
        assert_eq!(
            front(&[[1.0, 1.0], [1.0, 1.0], [2.0, 2.0]]),
            [true, true, false]
        );
        // Equal in one coordinate, better in the other: only the better one.
        assert_eq!(front(&[[1.0, 3.0], [1.0, 2.0]]), [false, true]);
    }

    #[test]
    fn missing_and_non_finite_points_are_never_on_it() {
        let points = [
            Some([1.0, 1.0]),
            None,
            Some([f64::NAN, 0.0]),
            Some([0.5, f64::INFINITY]),
        ];
        assert_eq!(pareto_front(&points), [true, false, false, false]);
    }

    #[test]
    fn variant_state_reads_complete_failed_foreign_and_missing_folders() {
        let text = "name = \"s\"\nmaterial = \"PLA\"\n[domain]\nsize_mm = [2.0, 1.0, 1.0]\nelement_size_mm = 1.0\n[optimization]\nvolume_fraction = 0.3\n";
        let design = Design::from_toml(text, Path::new("s.toml")).unwrap();
        let mut other = design.clone();
        other.optimization.volume_fraction = Some(0.4);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(variant_state(d, &design).0, Status::Missing);
        std::fs::write(
            d.join("error.txt"),
            "iteration 3: solve failed\n\nvariant 0",
        )
        .unwrap();
        let (status, message, _) = variant_state(d, &design);
        assert_eq!(
            (status, message.as_str()),
            (Status::Failed, "iteration 3: solve failed")
        );
        std::fs::remove_file(d.join("error.txt")).unwrap();
        let result = serde_json::json!({
            "design": design, "converged": false, "iterations": 3, "compliance_nmm": 12.5,
            "volume_fraction": 0.3, "mass_g": 1.5, "max_displacement_mm": 0.1,
            "timings": { "total_s": 2.0 }, "mesh": { "seconds": 0.5 },
            "printability": { "overhang_percent": 4.0 },
        });
        std::fs::write(d.join("result.json"), result.to_string()).unwrap();
        // Results without the part: the mesh failed or the run was stopped.
        assert_eq!(variant_state(d, &design).0, Status::Failed);
        std::fs::write(d.join("part.stl"), b"solid").unwrap();
        std::fs::write(d.join("preview.png"), b"png").unwrap();
        let (status, _, metrics) = variant_state(d, &design);
        assert_eq!(status, Status::Ok);
        let m = metrics.unwrap();
        assert_eq!(
            (m.compliance_nmm, m.runtime_s, m.overhang_percent),
            (12.5, 2.5, Some(4.0))
        );
        assert_eq!(m.safety_factor, None);
        // Another design's results are not this variant's.
        assert_eq!(variant_state(d, &other).0, Status::Missing);
        std::fs::write(d.join("result.json"), "{ \"design\": ").unwrap();
        assert_eq!(variant_state(d, &design).0, Status::Missing);
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(
            csv_field("volume_fraction=0.2 material=PLA"),
            "volume_fraction=0.2 material=PLA"
        );
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
    }
}
