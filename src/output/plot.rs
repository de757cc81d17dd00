//! Convergence plot of an optimisation run as SVG.
//!
//! Compliance (the objective) and volume fraction (the constraint) are drawn
//! against iteration on one chart, compliance on the left axis and volume
//! fraction on a secondary right axis, the usual way of judging whether an
//! optimality-criteria or MMA run has settled (compare Sigmund, "A 99 line
//! topology optimization code written in Matlab", Struct. Multidisc. Optim.
//! 21, 2001, which prints the same two quantities each iteration). Drawing
//! uses plotters' SVG backend, which emits text as SVG `<text>` elements
//! sized by a built-in estimate, so no font files or font-rendering features
//! are needed. The SVG is rendered in memory and then written atomically.

use std::io::{Error, Write};
use std::ops::Range;
use std::path::Path;

use plotters::prelude::*;

use super::atomic::write_atomically;

/// Width and height of the SVG in pixels.
const SIZE: (u32, u32) = (960, 540);

/// Values beyond this magnitude are skipped like non-finite ones: an axis
/// spanning them would overflow when padded.
const PLOTTABLE_LIMIT: f64 = 1e300;

/// Colour of the compliance series (matplotlib's default blue).
const COMPLIANCE_COLOUR: RGBColor = RGBColor(31, 119, 180);
/// Colour of the volume-fraction series (matplotlib's default orange), far
/// enough from the blue for readers with the common colour deficiencies.
const VOLUME_COLOUR: RGBColor = RGBColor(255, 127, 14);

/// Writes the convergence history as an SVG line chart at `path`.
///
/// `compliance[n]` and `volume_fraction[n]` are plotted at iteration
/// `iterations[n]`; each series uses as many points as both it and
/// `iterations` have. Compliance (N·mm) goes on the left axis, volume
/// fraction on the right. Points with a non-finite or absurdly large
/// (beyond ±1e300) value are skipped, so a diverged iteration does not
/// wreck the plot; empty input gives empty axes. The file is written
/// atomically ([`write_atomically`]).
///
/// Plotting errors are returned as [`std::io::ErrorKind::Other`]; errors
/// writing the file are passed on as they are.
pub fn write_convergence_svg(
    path: &Path,
    iterations: &[usize],
    compliance: &[f64],
    volume_fraction: &[f64],
) -> std::io::Result<()> {
    let svg = render(iterations, compliance, volume_fraction)?;
    write_atomically(path, |w| w.write_all(svg.as_bytes()))
}

/// Renders the chart to an SVG string.
fn render(
    iterations: &[usize],
    compliance: &[f64],
    volume_fraction: &[f64],
) -> std::io::Result<String> {
    let points = |values: &[f64]| -> Vec<(usize, f64)> {
        iterations
            .iter()
            .zip(values)
            .map(|(&i, &v)| (i, v))
            .filter(|&(_, v)| v.is_finite() && v.abs() <= PLOTTABLE_LIMIT)
            .collect()
    };
    let compliance = points(compliance);
    let volume = points(volume_fraction);

    let x_range = iteration_range(compliance.iter().chain(&volume).map(|p| p.0));
    let compliance_range = padded_range(compliance.iter().map(|p| p.1), 0.05);
    // A volume fraction held to its target varies in the 7th digit: at least 0.02 of the axis,
    // so that it shows as the flat line it is, between distinct ticks.
    let volume_range = at_least(padded_range(volume.iter().map(|p| p.1), 0.05), 0.02);
    let volume_decimals = decimals(&volume_range);
    let compliance_decimals = decimals(&compliance_range);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("Convergence", ("sans-serif", 24))
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(80)
            .right_y_label_area_size(80)
            .build_cartesian_2d(x_range.clone(), compliance_range)
            .map_err(plot_error)?
            .set_secondary_coord(x_range, volume_range);
        chart
            .configure_mesh()
            .x_desc("iteration")
            .y_desc("compliance (N·mm)")
            .y_label_formatter(&|y| tick_label(*y, compliance_decimals))
            .draw()
            .map_err(plot_error)?;
        chart
            .configure_secondary_axes()
            .y_desc("volume fraction")
            .y_label_formatter(&|y| format!("{y:.volume_decimals$}"))
            .draw()
            .map_err(plot_error)?;
        // A lone point would be an invisible zero-length line: mark it.
        let marker = |points: &[(usize, f64)], colour: RGBColor| {
            let lone = if points.len() == 1 { points } else { &[] };
            lone.iter()
                .map(move |&p| Circle::new(p, 4, colour.filled()))
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(marker(&compliance, COMPLIANCE_COLOUR))
            .map_err(plot_error)?;
        chart
            .draw_secondary_series(marker(&volume, VOLUME_COLOUR))
            .map_err(plot_error)?;
        chart
            .draw_series(LineSeries::new(
                compliance,
                COMPLIANCE_COLOUR.stroke_width(2),
            ))
            .map_err(plot_error)?
            .label("compliance")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], COMPLIANCE_COLOUR));
        chart
            .draw_secondary_series(LineSeries::new(volume, VOLUME_COLOUR.stroke_width(2)))
            .map_err(plot_error)?
            .label("volume fraction")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], VOLUME_COLOUR));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()
            .map_err(plot_error)?;
        root.present().map_err(plot_error)?;
    }
    Ok(svg)
}

/// Iteration axis covering `iterations`, at least two iterations wide so
/// that a single point sits inside the plot rather than on its edge.
fn iteration_range(iterations: impl Iterator<Item = usize>) -> Range<usize> {
    let (low, high) = iterations.fold((usize::MAX, 0), |(lo, hi), i| (lo.min(i), hi.max(i)));
    if low > high {
        0..1
    } else if low == high {
        low.saturating_sub(1)..high.saturating_add(1)
    } else {
        low..high
    }
}

/// Axis range covering `values` with `margin` (a fraction of the span) on
/// each side, widened to a non-empty span so plotters never divides by zero.
fn padded_range(values: impl Iterator<Item = f64>, margin: f64) -> Range<f64> {
    let (low, high) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if low > high {
        return 0.0..1.0;
    }
    let span = high - low;
    let pad = if span > 0.0 {
        margin * span
    } else if low == 0.0 {
        1.0
    } else {
        // A constant series: centre it with a tenth of its size either side.
        0.1 * low.abs()
    };
    let (low, high) = (low - pad, high + pad);
    // Only a subnormal constant, whose tenth rounds to zero, gets here empty.
    if high > low {
        low..high
    } else {
        low..low + 1.0
    }
}

/// `range` widened about its middle to at least `span`.
fn at_least(range: Range<f64>, span: f64) -> Range<f64> {
    if range.end - range.start >= span {
        return range;
    }
    let middle = 0.5 * (range.start + range.end);
    middle - 0.5 * span..middle + 0.5 * span
}

/// Decimals that tell apart ticks about a tenth of `range` apart (plotters places about ten).
fn decimals(range: &Range<f64>) -> usize {
    let step = (range.end - range.start) / 10.0;
    if !(step.is_finite() && step > 0.0) {
        return 3;
    }
    (-step.log10()).ceil().clamp(0.0, 12.0) as usize
}

/// A tick label with `decimals` decimals, or in scientific notation for large or tiny values,
/// where decimals would be too many digits to read.
fn tick_label(y: f64, decimals: usize) -> String {
    if y != 0.0 && !(1e-3..1e6).contains(&y.abs()) {
        format!("{y:.3e}")
    } else {
        format!("{y:.decimals$}")
    }
}

/// Plotters' errors carry the backend's I/O error; keep its message.
pub(super) fn plot_error(e: impl std::error::Error) -> Error {
    Error::other(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Point counts of every `<polyline>` with the given stroke colour.
    fn polyline_lengths(svg: &str, colour: RGBColor) -> Vec<usize> {
        let stroke = format!(
            "stroke=\"#{:02X}{:02X}{:02X}\"",
            colour.0, colour.1, colour.2
        );
        svg.split("<polyline")
            .skip(1)
            .map(|tag| &tag[..tag.find("/>").expect("self-closing")])
            .filter(|tag| tag.contains(&stroke))
            .map(|tag| {
                let start = tag.find("points=\"").expect("points") + 8;
                let len = tag[start..].find('"').expect("end of points");
                tag[start..start + len].split_whitespace().count()
            })
            .collect()
    }

    #[test]
    fn writes_an_svg_with_both_series_axes_and_labels() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("convergence.svg");
        let iterations: Vec<usize> = (0..50).collect();
        let compliance: Vec<f64> = iterations
            .iter()
            .map(|&i| 100.0 / (1.0 + i as f64))
            .collect();
        let volume: Vec<f64> = iterations
            .iter()
            .map(|&i| 0.3 + 0.7 * 0.9f64.powi(i as i32))
            .collect();
        write_convergence_svg(&path, &iterations, &compliance, &volume).expect("plot");

        let svg = std::fs::read_to_string(&path).expect("read back");
        assert!(svg.starts_with("<svg"), "{}", &svg[..50.min(svg.len())]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for label in [
            "iteration",
            "compliance (N·mm)",
            "volume fraction",
            "Convergence",
        ] {
            assert!(
                svg.contains(&format!(">\n{label}\n</text>")),
                "missing text {label}"
            );
        }
        // Each series is one polyline through all its points; the legend
        // adds a two-point sample line in the same colour.
        assert_eq!(polyline_lengths(&svg, COMPLIANCE_COLOUR), [50, 2]);
        assert_eq!(polyline_lengths(&svg, VOLUME_COLOUR), [50, 2]);
    }

    #[test]
    fn non_finite_points_are_skipped() {
        let compliance = [5.0, f64::NAN, 4.0, f64::INFINITY, 3.0, 1e308];
        let volume = [0.5, 0.4, f64::NEG_INFINITY, 0.35, 0.3, 0.3];
        let svg = render(&[0, 1, 2, 3, 4, 5], &compliance, &volume).expect("plot");
        assert_eq!(polyline_lengths(&svg, COMPLIANCE_COLOUR), [3, 2]);
        assert_eq!(polyline_lengths(&svg, VOLUME_COLOUR), [5, 2]);
    }

    #[test]
    fn degenerate_inputs_do_not_panic() {
        let cases: [(&[usize], &[f64], &[f64]); 6] = [
            (&[], &[], &[]),
            (&[0], &[12.5], &[0.4]),
            (&[7], &[0.0], &[0.0]),
            (&[0, 1, 2], &[f64::NAN; 3], &[f64::INFINITY; 3]),
            (&[0, 1, 2, 3], &[1.0, 2.0], &[0.5]),
            (&[0, 1], &[-1e300, 1e300], &[-5.0, -5.0]),
        ];
        for (iterations, compliance, volume) in cases {
            let svg = render(iterations, compliance, volume).expect("plot");
            assert!(svg.contains("volume fraction"));
        }
        // A single point is drawn as a marker, not only as an invisible
        // one-point line.
        let svg = render(&[3], &[12.0], &[0.4]).expect("plot");
        assert_eq!(svg.matches("<circle").count(), 2);
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("empty.svg");
        write_convergence_svg(&path, &[], &[], &[]).expect("empty plot");
        assert!(path.exists());
    }

    /// The texts of the SVG's `<text>` elements.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim().to_string()))
            .collect()
    }

    #[test]
    fn a_volume_held_to_its_target_gets_distinct_readable_ticks() {
        let iterations: Vec<usize> = (1..=40).collect();
        let compliance: Vec<f64> = (1..=40).map(|i| 100.0 / f64::from(i)).collect();
        let volume: Vec<f64> = (0..40).map(|i| 0.25 + 1e-7 * f64::from(i % 3)).collect();
        let svg = render(&iterations, &compliance, &volume).unwrap();
        let labels = texts(&svg);
        let fractions: Vec<&String> = labels.iter().filter(|t| t.starts_with("0.2")).collect();
        assert!(fractions.len() >= 3, "{labels:?}");
        let distinct: std::collections::BTreeSet<&String> = fractions.iter().copied().collect();
        assert_eq!(distinct.len(), fractions.len(), "{fractions:?}");
        assert!(fractions.iter().all(|t| t.len() <= 6), "{fractions:?}");
        // Compliance ticks are distinct too, also for a nearly settled run.
        let settled: Vec<f64> = (1..=40).map(|i| 1234.5 + 1e-3 / f64::from(i)).collect();
        let labels = texts(&render(&iterations, &settled, &volume).unwrap());
        let ticks: Vec<&String> = labels.iter().filter(|t| t.starts_with("1234")).collect();
        let distinct: std::collections::BTreeSet<&String> = ticks.iter().copied().collect();
        assert!(
            ticks.len() >= 3 && distinct.len() == ticks.len(),
            "{ticks:?}"
        );
    }

    #[test]
    fn padded_range_is_never_empty() {
        assert_eq!(padded_range([].into_iter(), 0.05), 0.0..1.0);
        assert_eq!(padded_range([0.0].into_iter(), 0.05), -1.0..1.0);
        assert_eq!(padded_range([-2.0].into_iter(), 0.05), -2.2..-1.8);
        assert_eq!(padded_range([1.0, 3.0].into_iter(), 0.5), 0.0..4.0);
        // The plottable extremes pad without overflowing.
        let r = padded_range([-1e300, 1e300].into_iter(), 0.05);
        assert!(r.start.is_finite() && r.end.is_finite() && r.start < r.end);
    }

    #[test]
    fn iteration_range_always_contains_the_points() {
        assert_eq!(iteration_range([].into_iter()), 0..1);
        assert_eq!(iteration_range([0].into_iter()), 0..1);
        assert_eq!(iteration_range([7].into_iter()), 6..8);
        assert_eq!(iteration_range([3, 9, 5].into_iter()), 3..9);
    }

    #[test]
    fn unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("missing").join("plot.svg");
        assert!(write_convergence_svg(&path, &[0], &[1.0], &[0.5]).is_err());
    }
}
