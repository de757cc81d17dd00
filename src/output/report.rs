//! `report.html`: one self-contained page per run and per sweep, for a person to open.
//!
//! A run's page shows the part in 3D (own WebGL code, no library: orbit, zoom, a section plane,
//! coloured by von Mises stress with a legend in MPa, or by overhang), the convergence curves,
//! the metrics of `result.json` and the design as used. The part travels as its binary STL,
//! base64-encoded, with one Float32 stress and (for a printed part) one overhang byte per
//! facet; nothing is loaded from the network. A sweep's page has the variants' table (a click on
//! a header sorts), the Pareto plot, and the selected variant's own page below (a click on a row
//! or a point selects; `report.html#<id>` opens with that variant).

use std::fmt::Write as _;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;

const STYLE: &str = include_str!("report/style.css");
const COMMON_JS: &str = include_str!("report/common.js");
const RUN_JS: &str = include_str!("report/run.js");
const SWEEP_JS: &str = include_str!("report/sweep.js");

/// What a run's page shows.
pub struct RunPage<'a> {
    /// `result.json` as written.
    pub result: &'a Value,
    /// The design as used, as TOML.
    pub design_toml: &'a str,
    /// `convergence.svg` as written.
    pub convergence_svg: &'a str,
    /// The part as binary STL.
    pub stl: &'a [u8],
    /// Per facet, the von Mises stress there (largest over the load cases), MPa.
    pub facet_stress_mpa: &'a [f32],
    /// Per facet, whether it overhangs (with a build direction).
    pub facet_overhang: Option<&'a [bool]>,
}

/// The metrics shown, as (label, JSON pointer into `result.json`, unit).
const METRICS: [(&str, &str, &str); 14] = [
    ("compliance", "/compliance_nmm", "N·mm"),
    ("volume fraction", "/volume_fraction", ""),
    ("mass", "/mass_g", "g"),
    ("largest displacement", "/max_displacement_mm", "mm"),
    ("safety factor", "/safety_factor", ""),
    (
        "exported part: largest displacement",
        "/part_analysis/max_displacement_mm",
        "mm",
    ),
    (
        "exported part: safety factor",
        "/part_analysis/safety_factor",
        "",
    ),
    ("iterations", "/iterations", ""),
    ("grey share", "/grey_share", ""),
    ("triangles", "/mesh/inspection/triangles", ""),
    ("overhang", "/printability/overhang_percent", "%"),
    ("thinnest wall", "/printability/min_wall_thickness_mm", "mm"),
    (
        "slicer: support filament",
        "/slicer/support_filament_g",
        "g",
    ),
    ("slicer: print time", "/slicer/print_time_s", "s"),
];

/// Per load case, as (label, key, unit).
const CASE_METRICS: [(&str, &str, &str); 4] = [
    ("compliance", "compliance_nmm", "N·mm"),
    ("largest displacement", "max_displacement_mm", "mm"),
    ("largest von Mises stress", "max_von_mises_mpa", "MPa"),
    ("safety factor", "safety_factor", ""),
];

/// Text for HTML content and attribute values.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A number as shown: up to 6 significant digits.
fn shown(value: &Value) -> String {
    match value {
        Value::Number(n) => match n.as_f64() {
            Some(x) if n.is_f64() => {
                let digits = if x == 0.0 {
                    0
                } else {
                    (5 - x.abs().log10().floor() as i32).clamp(0, 9) as usize
                };
                format!("{x:.digits$}")
            }
            _ => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A table row for the value at `pointer`, if present; `data-pointer` and `data-value` carry
/// the exact JSON value for the tests.
fn metric_row(html: &mut String, result: &Value, label: &str, pointer: &str, unit: &str) {
    let Some(value) = result.pointer(pointer).filter(|v| !v.is_null()) else {
        return;
    };
    let _ = writeln!(
        html,
        "<tr><th>{}</th><td class=\"metric\" data-pointer=\"{}\" data-value=\"{}\">{} {}</td></tr>",
        escape(label),
        escape(pointer),
        escape(&value.to_string()),
        escape(&shown(value)),
        escape(unit)
    );
}

fn page_start(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>\n{STYLE}</style>\n<script>\n{COMMON_JS}</script>\n</head>\n<body>\n<pre id=\"errors\" hidden></pre>\n",
        escape(title)
    )
}

/// The page of one run.
pub fn run_page(page: &RunPage<'_>) -> String {
    let name = page
        .result
        .pointer("/design/name")
        .and_then(Value::as_str)
        .unwrap_or("run");
    let mut html = page_start(&format!("{name}: formwerk report"));
    let _ = writeln!(html, "<h1>{}</h1>", escape(name));
    let mut sorted: Vec<f32> = page
        .facet_stress_mpa
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .collect();
    sorted.sort_by(f32::total_cmp);
    // The colour scale ends at the 99th percentile: the point-load peaks would wash out the rest.
    let scale = sorted
        .get(sorted.len().saturating_sub(1) * 99 / 100)
        .copied()
        .filter(|s| *s > 0.0)
        .unwrap_or(1.0);
    let overhang_option = if page.facet_overhang.is_some() {
        "<option value=\"overhang\">overhang</option>"
    } else {
        ""
    };
    let _ = writeln!(
        html,
        "<section id=\"part\">\n<div class=\"controls\">colour <select id=\"mode\"><option value=\"stress\">von Mises stress</option>{overhang_option}</select>\n\
         section <select id=\"section-axis\"><option value=\"0\">x</option><option value=\"1\">y</option><option value=\"2\" selected>z</option></select>\n\
         <input id=\"section\" type=\"range\" min=\"0\" max=\"1000\" value=\"1000\"></div>\n\
         <canvas id=\"view\" width=\"800\" height=\"560\"></canvas>\n\
         <div id=\"legend\" data-max=\"{scale}\"><div id=\"legend-stress\"><span>0 MPa</span><span class=\"ramp\"></span><span>{} MPa</span> (99th percentile of the surface; above it red)</div>\
         <div id=\"legend-overhang\" hidden><span class=\"swatch overhang\"></span> needs support <span class=\"swatch\"></span> self-supporting</div></div>\n\
         <p id=\"status\">drawing…</p>\n</section>",
        shown(&Value::from(f64::from(scale)))
    );
    html.push_str("<section id=\"metrics\"><h2>Metrics</h2>\n<table>\n");
    for (label, pointer, unit) in METRICS {
        metric_row(&mut html, page.result, label, pointer, unit);
    }
    let cases = page.result["load_cases"].as_array().map_or(0, Vec::len);
    for i in 0..cases {
        let case = page.result["load_cases"][i]["name"].as_str().unwrap_or("");
        for (label, key, unit) in CASE_METRICS {
            let pointer = format!("/load_cases/{i}/{key}");
            metric_row(
                &mut html,
                page.result,
                &format!("{case}: {label}"),
                &pointer,
                unit,
            );
        }
    }
    html.push_str("</table>\n</section>\n");
    let _ = writeln!(
        html,
        "<section id=\"convergence\"><h2>Convergence</h2>\n{}\n</section>",
        strip_xml_declaration(page.convergence_svg)
    );
    let _ = writeln!(
        html,
        "<section id=\"design\"><h2>Design as used</h2>\n<pre>{}</pre>\n</section>",
        escape(page.design_toml)
    );
    let stress_bytes: Vec<u8> = page
        .facet_stress_mpa
        .iter()
        .flat_map(|s| s.to_le_bytes())
        .collect();
    let _ = writeln!(
        html,
        "<script type=\"application/octet-stream\" id=\"stl\">{}</script>\n<script type=\"application/octet-stream\" id=\"stress\">{}</script>",
        STANDARD.encode(page.stl),
        STANDARD.encode(&stress_bytes)
    );
    if let Some(overhang) = page.facet_overhang {
        let flags: Vec<u8> = overhang.iter().map(|&o| u8::from(o)).collect();
        let _ = writeln!(
            html,
            "<script type=\"application/octet-stream\" id=\"overhang\">{}</script>",
            STANDARD.encode(&flags)
        );
    }
    let _ = write!(html, "<script>\n{RUN_JS}</script>\n</body>\n</html>\n");
    html
}

fn strip_xml_declaration(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(start) => &svg[start..],
        None => svg,
    }
}

/// One variant of a sweep's page.
pub struct SweepRow<'a> {
    /// The variant's id (its folder).
    pub id: &'a str,
    /// Whether its results are complete (it has a page to show).
    pub ok: bool,
    /// The cells, in the order of the columns.
    pub cells: Vec<Value>,
    /// Its point on the Pareto plot (x, compliance), when it has one, and whether it is on the
    /// front.
    pub point: Option<(f64, f64, bool)>,
}

/// The page of a sweep: `columns` head the table of `rows`; the plot has `x_label` across.
pub fn sweep_page(name: &str, columns: &[String], rows: &[SweepRow<'_>], x_label: &str) -> String {
    let mut html = page_start(&format!("{name}: formwerk sweep report"));
    let _ = writeln!(
        html,
        "<h1>{} <small>{} variants</small></h1>",
        escape(name),
        rows.len()
    );
    html.push_str("<section id=\"pareto\"><h2>Pareto front</h2>\n");
    html.push_str(&pareto_svg(rows, x_label));
    html.push_str("</section>\n<section id=\"selected\"><h2>Selected variant</h2>\n<p id=\"status\">none selected</p>\n<iframe id=\"variant-view\" title=\"the selected variant's report\"></iframe>\n</section>\n");
    html.push_str("<section id=\"table\"><h2>Variants</h2>\n<table id=\"variants\">\n<thead><tr>");
    for column in columns {
        let _ = write!(html, "<th>{}</th>", escape(column));
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        let _ = write!(
            html,
            "<tr data-id=\"{}\" data-ok=\"{}\">",
            escape(row.id),
            row.ok
        );
        for cell in &row.cells {
            let value = match cell {
                Value::Number(_) => cell.to_string(),
                _ => String::new(),
            };
            let _ = write!(
                html,
                "<td data-value=\"{}\">{}</td>",
                escape(&value),
                escape(&shown(cell))
            );
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n</section>\n");
    let _ = write!(html, "<script>\n{SWEEP_JS}</script>\n</body>\n</html>\n");
    html
}

/// The Pareto plot as SVG, each point clickable (`data-id`).
fn pareto_svg(rows: &[SweepRow<'_>], x_label: &str) -> String {
    let (width, height, margin) = (640.0, 360.0, 56.0);
    let points: Vec<(&str, f64, f64, bool)> = rows
        .iter()
        .filter_map(|r| r.point.map(|(x, y, front)| (r.id, x, y, front)))
        .filter(|(_, x, y, _)| x.is_finite() && y.is_finite())
        .collect();
    let range = |values: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        if lo > hi {
            (0.0, 1.0)
        } else if hi - lo < 1e-12 * hi.abs().max(1e-300) {
            (lo - 0.5 * lo.abs().max(1e-9), hi + 0.5 * hi.abs().max(1e-9))
        } else {
            // Masses and compliances are positive: the axis need not go below 0.
            let pad = 0.05 * (hi - lo);
            let low = if lo >= 0.0 {
                (lo - pad).max(0.0)
            } else {
                lo - pad
            };
            (low, hi + pad)
        }
    };
    let (x0, x1) = range(&mut points.iter().map(|p| p.1));
    let (y0, y1) = range(&mut points.iter().map(|p| p.2));
    let sx = |x: f64| margin + (x - x0) / (x1 - x0) * (width - 2.0 * margin);
    let sy = |y: f64| height - margin - (y - y0) / (y1 - y0) * (height - 2.0 * margin);
    let mut svg = format!(
        "<svg id=\"pareto-plot\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" xmlns=\"http://www.w3.org/2000/svg\">\n\
         <rect x=\"{margin}\" y=\"{margin}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n\
         <text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n\
         <text x=\"14\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 14 {})\">compliance (N·mm)</text>\n",
        width - 2.0 * margin,
        height - 2.0 * margin,
        width / 2.0,
        height - 12.0,
        escape(x_label),
        height / 2.0,
        height / 2.0
    );
    for (value, x, anchor) in [(x0, margin, "start"), (x1, width - margin, "end")] {
        let _ = writeln!(
            svg,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
            height - margin + 16.0,
            shown(&Value::from(value))
        );
    }
    for (value, y) in [(y0, height - margin), (y1, margin + 12.0)] {
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{y}\" text-anchor=\"start\">{}</text>",
            margin + 4.0,
            shown(&Value::from(value))
        );
    }
    for (id, x, y, front) in points {
        let _ = writeln!(
            svg,
            "<circle data-id=\"{}\" cx=\"{:.2}\" cy=\"{:.2}\" r=\"{}\" class=\"{}\"><title>{}</title></circle>",
            escape(id),
            sx(x),
            sy(y),
            if front { 7 } else { 5 },
            if front { "front" } else { "dominated" },
            escape(id)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_and_json_are_escaped_and_numbers_shown_readably() {
        assert_eq!(escape("<a & \"b\">"), "&lt;a &amp; &quot;b&quot;&gt;");
        assert_eq!(shown(&Value::from(1234.56789)), "1234.57");
        assert_eq!(shown(&Value::from(0.000123456)), "0.000123456");
        assert_eq!(shown(&Value::from(42)), "42");
    }
}
