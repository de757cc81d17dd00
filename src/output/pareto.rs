//! The Pareto plot of a sweep as SVG: every finished variant as a point of mass (or volume
//! fraction) against compliance, the Pareto-optimal ones highlighted, joined in order and
//! labelled. Drawn with plotters' SVG backend like [`super::plot`], so no fonts are needed.

use std::io::Write;

use plotters::prelude::*;

use super::atomic::write_atomically;
use super::plot::plot_error;

/// Width and height of the SVG in pixels.
const SIZE: (u32, u32) = (1100, 700);
/// Dominated variants: grey.
const OTHER_COLOUR: RGBColor = RGBColor(150, 150, 150);
/// The front (matplotlib's default red).
const FRONT_COLOUR: RGBColor = RGBColor(214, 39, 40);

/// One variant on the plot.
#[derive(Debug, Clone, Copy)]
pub struct ParetoPoint<'a> {
    /// Mass or volume fraction.
    pub x: f64,
    /// Compliance.
    pub y: f64,
    /// The variant's label, written next to front points.
    pub label: &'a str,
    /// Whether it is on the Pareto front.
    pub on_front: bool,
}

/// Writes the plot to `path` atomically; non-finite points are skipped.
pub fn write_pareto_svg(
    path: &std::path::Path,
    points: &[ParetoPoint],
    x_desc: &str,
    y_desc: &str,
) -> std::io::Result<()> {
    let svg = render(points, x_desc, y_desc)?;
    write_atomically(path, |w| w.write_all(svg.as_bytes()))
}

fn render(points: &[ParetoPoint], x_desc: &str, y_desc: &str) -> std::io::Result<String> {
    let points: Vec<&ParetoPoint> = points
        .iter()
        .filter(|p| p.x.is_finite() && p.y.is_finite())
        .collect();
    let range = |values: &mut dyn Iterator<Item = f64>| {
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
        if lo > hi {
            0.0..1.0
        } else {
            // Room for the labels on the right and above; a lone value gets a span of its own.
            let span = if hi > lo {
                hi - lo
            } else {
                lo.abs().max(1.0) * 0.2
            };
            (lo - 0.08 * span)..(hi + 0.3 * span)
        }
    };
    let x_range = range(&mut points.iter().map(|p| p.x));
    let y_range = range(&mut points.iter().map(|p| p.y));
    let label_range = x_range.clone();
    let mut front: Vec<(f64, f64)> = points
        .iter()
        .filter(|p| p.on_front)
        .map(|p| (p.x, p.y))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Sweep: Pareto front (lighter and stiffer is better)",
                ("sans-serif", 24),
            )
            .margin(16)
            .x_label_area_size(48)
            .y_label_area_size(96)
            .build_cartesian_2d(x_range, y_range)
            .map_err(plot_error)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(
                points
                    .iter()
                    .filter(|p| !p.on_front)
                    .map(|p| Circle::new((p.x, p.y), 4, OTHER_COLOUR.filled())),
            )
            .map_err(plot_error)?
            .label("dominated variant")
            .legend(|(x, y)| Circle::new((x + 10, y), 4, OTHER_COLOUR.filled()));
        chart
            .draw_series(LineSeries::new(front, FRONT_COLOUR.stroke_width(2)))
            .map_err(plot_error)?
            .label("Pareto front")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], FRONT_COLOUR));
        // Labels of points in the right part of the plot end at the point, so that they stay
        // inside it (plotters has no text measuring; ~6.5 px per character at this size).
        let right = label_range.start + 0.55 * (label_range.end - label_range.start);
        chart
            .draw_series(points.iter().filter(|p| p.on_front).map(|p| {
                let width = (6.5 * p.label.chars().count() as f64) as i32;
                let dx = if p.x > right { -8 - width } else { 8 };
                EmptyElement::at((p.x, p.y))
                    + Circle::new((0, 0), 6, FRONT_COLOUR.filled())
                    + Text::new(p.label.to_string(), (dx, -14), ("sans-serif", 13))
            }))
            .map_err(plot_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_points_are_labelled_and_others_are_not() {
        let points = [
            ParetoPoint {
                x: 1.0,
                y: 5.0,
                label: "vf=0.1",
                on_front: true,
            },
            ParetoPoint {
                x: 2.0,
                y: 2.0,
                label: "vf=0.2",
                on_front: true,
            },
            ParetoPoint {
                x: 3.0,
                y: 3.0,
                label: "vf=0.3",
                on_front: false,
            },
            ParetoPoint {
                x: f64::NAN,
                y: 3.0,
                label: "bad",
                on_front: false,
            },
        ];
        let svg = render(&points, "mass (g)", "compliance (N·mm)").unwrap();
        assert!(svg.contains("vf=0.1") && svg.contains("vf=0.2"));
        assert!(!svg.contains("vf=0.3") && !svg.contains("bad"));
        assert!(svg.contains("mass (g)") && svg.contains("Pareto front"));
    }

    #[test]
    fn empty_and_single_inputs_render() {
        assert!(render(&[], "x", "y").unwrap().contains("<svg"));
        let one = [ParetoPoint {
            x: 0.0,
            y: 0.0,
            label: "only",
            on_front: true,
        }];
        assert!(render(&one, "x", "y").unwrap().contains("only"));
    }
}
