//! The part cut into layers as a slicer cuts it, and the support a slicer would put under it.
//!
//! The facet count of [`printability`](super::printability) judges the surface; a slicer judges
//! layers. Here the part, turned so that the build direction points up, is cut at the middle of
//! every layer of the printer's height, each cut filled on a square pixel grid (scanlines with
//! the even-odd rule; a crossing counts where `y₁ ≤ y < y₂`, so a ray through a vertex or along
//! an edge counts once), and a pixel of a layer needs support when no pixel of the layer below
//! lies within the step a layer may stick out:
//!
//! `d = h / tan(θ + 1°)`
//!
//! with `h` the layer height and `θ` the overhang angle from the build plane. This is
//! PrusaSlicer's rule (`SupportMaterial.cpp`: the lower layer grown by
//! `lower_layer.height / tan(threshold_rad)`, the threshold bumped by a degree to include
//! surfaces at exactly the angle), so a surface at exactly θ steps out `h / tan θ > d` and needs
//! support as it does there. The first layer lies on the plate. Bridges are not told apart:
//! PrusaSlicer leaves a span anchored on both sides unsupported by default, so this count is
//! an upper bound where a part bridges.
//!
//! Whether a pixel is supported is decided exactly for its centre: inside the lower layer's
//! cut, or within `d` of one of its segments. Only the areas are sampled: the pixel is half of
//! `d`, coarser only where a layer would pass 10⁶ pixels, so a strip narrower than a pixel (a
//! slope just past the threshold) is counted in the share of rows whose centres it holds.
//!
//! The support volume is what lies under the unsupported pixels down to the part or the plate:
//! the columns a slicer fills with support (its filament is a share of this volume set by its
//! infill density and interface layers). Counts are integers summed in layer order, so the
//! result does not depend on the thread count.

use rayon::prelude::*;
use serde::Serialize;

use super::TriangleMesh;
use crate::printer::BuildDirection;

/// Most pixels of one layer's grid.
const PIXEL_BUDGET: f64 = 1.0e6;

/// The support a slicer would add under a part, layer by layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSupport {
    /// The direction the part was cut along (up in the printer).
    pub build_direction: BuildDirection,
    /// Layer height, mm.
    pub layer_height_mm: f64,
    /// Flattest printable slope, degrees from the build plane.
    pub overhang_angle_deg: f64,
    /// How far a layer may stick out beyond the one below, mm (`h / tan(θ + 1°)`).
    pub allowed_step_mm: f64,
    /// Edge of the square pixels the layers were filled on, mm.
    pub pixel_mm: f64,
    /// Layers cut.
    pub layers: usize,
    /// Layers with some area that needs support.
    pub supported_layers: usize,
    /// Area of the layers beyond the allowed step of the layer below, mm².
    pub overhang_area_mm2: f64,
    /// Width around an overhang that is supported with it, mm: a slicer supports at least an
    /// extrusion's width, so a strip thinner than that costs a strip that wide.
    pub contact_width_mm: f64,
    /// Area supported: each layer's part not over the layer below and within the contact width
    /// of its overhang, mm².
    pub support_area_mm2: f64,
    /// Volume under that area down to the part or the plate, mm³.
    pub support_volume_mm3: f64,
}

/// Why a part could not be cut into layers.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayerError {
    /// The layer height is not positive and finite.
    #[error("layer height {0} mm is not a positive length")]
    LayerHeight(f64),
    /// The contact width is negative or not finite.
    #[error("contact width {0} mm is not a length of at least 0")]
    ContactWidth(f64),
    /// The overhang angle is not strictly between 0° and 89°.
    #[error("overhang angle {0}° is not strictly between 0° and 89°")]
    Angle(f64),
    /// The mesh has no finite extent (empty, or a coordinate that is not finite).
    #[error("the mesh has no finite, non-empty extent")]
    Extent,
    /// More layers than can be judged (a layer height far too small for the part).
    #[error("{0} layers are too many; use a larger layer height")]
    TooManyLayers(f64),
}

/// Cuts the closed part `mesh` into layers of `layer_height_mm` along `direction` and finds
/// where each overhangs the one below by more than a slicer with the support threshold
/// `overhang_angle_deg` allows (see the module documentation).
pub fn layer_support(
    mesh: &TriangleMesh,
    direction: BuildDirection,
    overhang_angle_deg: f64,
    layer_height_mm: f64,
    contact_width_mm: f64,
) -> Result<LayerSupport, LayerError> {
    if !(layer_height_mm.is_finite() && layer_height_mm > 0.0) {
        return Err(LayerError::LayerHeight(layer_height_mm));
    }
    if !(contact_width_mm.is_finite() && contact_width_mm >= 0.0) {
        return Err(LayerError::ContactWidth(contact_width_mm));
    }
    if !(overhang_angle_deg > 0.0 && overhang_angle_deg < 89.0) {
        return Err(LayerError::Angle(overhang_angle_deg));
    }
    let up = mesh.turned_up(direction);
    let used = || {
        up.triangles
            .iter()
            .flatten()
            .map(|&v| up.vertices.get(v as usize))
    };
    let mut low = [f64::INFINITY; 3];
    let mut high = [f64::NEG_INFINITY; 3];
    for v in used() {
        let v = v.ok_or(LayerError::Extent)?;
        for k in 0..3 {
            low[k] = low[k].min(v[k]);
            high[k] = high[k].max(v[k]);
        }
    }
    let extent = [0, 1, 2].map(|k| high[k] - low[k]);
    if !extent.iter().all(|e| e.is_finite() && *e > 0.0) {
        return Err(LayerError::Extent);
    }
    let layer_count = (extent[2] / layer_height_mm).ceil();
    if layer_count > 1e6 {
        return Err(LayerError::TooManyLayers(layer_count));
    }
    let layer_count = layer_count as usize;
    let allowed_step_mm = layer_height_mm / (overhang_angle_deg + 1.0).to_radians().tan();
    let pixel_mm = (allowed_step_mm / 2.0).max((extent[0] * extent[1] / PIXEL_BUDGET).sqrt());
    let grid = PixelGrid {
        origin: [low[0] - pixel_mm, low[1] - pixel_mm],
        pixel_mm,
        n: [0, 1].map(|k| (extent[k] / pixel_mm).ceil() as usize + 2),
    };

    // Triangles by their lowest layer, so each layer sees only those crossing it.
    let z_of = |k: usize| low[2] + (k as f64 + 0.5) * layer_height_mm;
    let mut by_start: Vec<(usize, usize)> = up
        .triangles
        .iter()
        .enumerate()
        .map(|(t, tri)| {
            let z = tri
                .iter()
                .map(|&v| up.vertices[v as usize][2])
                .fold(f64::INFINITY, f64::min);
            let first = ((z - low[2]) / layer_height_mm - 0.5).ceil().max(0.0) as usize;
            (first, t)
        })
        .collect();
    by_start.sort_unstable();

    let pixels = grid.n[0] * grid.n[1];
    let mut below = vec![false; pixels];
    let mut below_cut = SegmentIndex::new(Vec::new(), allowed_step_mm);
    // Per pixel: one more than the last layer that was solid there (0: only the plate).
    let mut floor = vec![0u32; pixels];
    let mut active: Vec<usize> = Vec::new();
    let mut next = 0;
    let (mut overhanging, mut unsupported, mut column_layers, mut supported_layers) =
        (0u64, 0u64, 0u64, 0usize);
    // Pixel offsets within one contact width, the least a slicer supports around an overhang.
    let reach = contact_width_mm / pixel_mm;
    let r = reach.ceil() as i64;
    let contact: Vec<(i64, i64)> = (-r..=r)
        .flat_map(|j| (-r..=r).map(move |i| (i, j)))
        .filter(|&(i, j)| ((i * i + j * j) as f64).sqrt() <= reach)
        .collect();
    for k in 0..layer_count {
        let z = z_of(k);
        while next < by_start.len() && by_start[next].0 <= k {
            active.push(by_start[next].1);
            next += 1;
        }
        active.retain(|&t| {
            up.triangles[t]
                .iter()
                .any(|&v| up.vertices[v as usize][2] >= z)
        });
        let segments = cut(&up, &active, z);
        let layer = grid.fill(&segments);
        if k > 0 {
            let n = grid.n[0];
            let new = |p: usize| layer[p] && !below[p];
            let (flagged, strict) =
                grid.overhang(&layer, &below, &below_cut, &segments, allowed_step_mm);
            // Supported: the new pixels within one contact width of a flagged one.
            let count: Vec<(u64, u64)> = if !flagged.contains(&true) {
                Vec::new()
            } else {
                (0..grid.n[1])
                    .into_par_iter()
                    .map(|j| {
                        let (mut area, mut column) = (0u64, 0u64);
                        for i in 0..n {
                            let p = j * n + i;
                            if new(p) && grid.near(&flagged, i, j, &contact) {
                                area += 1;
                                column += k as u64 - u64::from(floor[p]);
                            }
                        }
                        (area, column)
                    })
                    .collect()
            };
            let (area, column) = count.iter().fold((0, 0), |(a, c), &(x, y)| (a + x, c + y));
            overhanging += strict;
            unsupported += area;
            column_layers += column;
            supported_layers += usize::from(area > 0);
        }
        for (p, &solid) in layer.iter().enumerate() {
            if solid {
                floor[p] = k as u32 + 1;
            }
        }
        below = layer;
        below_cut = SegmentIndex::new(segments, allowed_step_mm);
    }
    let pixel_area = pixel_mm * pixel_mm;
    Ok(LayerSupport {
        build_direction: direction,
        layer_height_mm,
        overhang_angle_deg,
        allowed_step_mm,
        pixel_mm,
        layers: layer_count,
        supported_layers,
        overhang_area_mm2: overhanging as f64 * pixel_area,
        contact_width_mm,
        support_area_mm2: unsupported as f64 * pixel_area,
        support_volume_mm3: column_layers as f64 * pixel_area * layer_height_mm,
    })
}

/// The segments where the plane at height `z` cuts the triangles `active` of `mesh`.
fn cut(mesh: &TriangleMesh, active: &[usize], z: f64) -> Vec<[[f64; 2]; 2]> {
    let mut segments = Vec::new();
    for &t in active {
        let p = mesh.triangles[t].map(|v| mesh.vertices[v as usize]);
        // A vertex exactly at z counts as above, so every edge is cut at most once and a
        // closed surface gives closed loops.
        let above = p.map(|v| v[2] >= z);
        let mut ends = [[0.0; 2]; 2];
        let mut count = 0;
        for e in 0..3 {
            let (a, b) = (p[e], p[(e + 1) % 3]);
            if above[e] != above[(e + 1) % 3] && count < 2 {
                let s = (z - a[2]) / (b[2] - a[2]);
                ends[count] = [a[0] + s * (b[0] - a[0]), a[1] + s * (b[1] - a[1])];
                count += 1;
            }
        }
        if count == 2 {
            segments.push(ends);
        }
    }
    segments
}

/// The square pixels of one layer.
struct PixelGrid {
    /// Corner of pixel (0, 0).
    origin: [f64; 2],
    pixel_mm: f64,
    /// Pixels along x and y.
    n: [usize; 2],
}

impl PixelGrid {
    /// The pixels whose centres lie inside the closed loops `segments` (even-odd rule).
    fn fill(&self, segments: &[[[f64; 2]; 2]]) -> Vec<bool> {
        let [nx, ny] = self.n;
        // Each segment's crossings of the rows of pixel centres, by row.
        let mut crossings: Vec<Vec<f64>> = vec![Vec::new(); ny];
        for &[a, b] in segments {
            let (a, b) = if a[1] <= b[1] { (a, b) } else { (b, a) };
            let first = ((a[1] - self.origin[1]) / self.pixel_mm - 0.5)
                .ceil()
                .max(0.0) as usize;
            let mut j = first;
            while j < ny && self.centre(1, j) < b[1] {
                let y = self.centre(1, j);
                if y >= a[1] {
                    let s = (y - a[1]) / (b[1] - a[1]);
                    crossings[j].push(a[0] + s * (b[0] - a[0]));
                }
                j += 1;
            }
        }
        let mut inside = vec![false; nx * ny];
        inside
            .par_chunks_mut(nx)
            .zip(crossings.par_iter_mut())
            .for_each(|(row, xs)| {
                xs.sort_unstable_by(f64::total_cmp);
                for pair in xs.chunks_exact(2) {
                    let from = ((pair[0] - self.origin[0]) / self.pixel_mm - 0.5).ceil();
                    let to = ((pair[1] - self.origin[0]) / self.pixel_mm - 0.5).ceil();
                    let (from, to) = (from.max(0.0) as usize, (to.max(0.0) as usize).min(nx));
                    for cell in row.iter_mut().take(to).skip(from) {
                        *cell = true;
                    }
                }
            });
        inside
    }

    /// The pixels of `layer` that overhang `below` (whose cut is `below_cut`) by more than
    /// `step`, and how many of them do at their centres (the sampled overhang area). The outline
    /// (`segments`) is sampled too: its farthest points from the layer below lie on it, and a
    /// strip narrower than a pixel may hold no centre. A point more than the step (over two
    /// pixels) from the lower cut lies on the side of it that its pixel lies on, so the raster
    /// says whether it is over the part.
    fn overhang(
        &self,
        layer: &[bool],
        below: &[bool],
        below_cut: &SegmentIndex,
        segments: &[[[f64; 2]; 2]],
        step: f64,
    ) -> (Vec<bool>, u64) {
        let n = self.n[0];
        let mut flagged: Vec<bool> = (0..layer.len())
            .into_par_iter()
            .map(|p| {
                let centre = [self.centre(0, p % n), self.centre(1, p / n)];
                layer[p] && !below[p] && !below_cut.within(centre, step)
            })
            .collect();
        let at_centres = flagged.iter().filter(|&&f| f).count() as u64;
        let outline: Vec<usize> = segments
            .par_iter()
            .flat_map_iter(|&[a, b]| {
                let length = (b[0] - a[0]).hypot(b[1] - a[1]);
                let steps = (2.0 * length / self.pixel_mm).ceil().max(1.0) as usize;
                (0..=steps).filter_map(move |s| {
                    let t = s as f64 / steps as f64;
                    let q = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
                    let p = self.pixel_of(q);
                    (!below[p] && !below_cut.within(q, step)).then_some(p)
                })
            })
            .collect();
        for p in outline {
            flagged[p] = true;
        }
        (flagged, at_centres)
    }

    /// Whether a pixel of `layer` lies at one of the offsets `disk` from pixel `(i, j)`.
    fn near(&self, layer: &[bool], i: usize, j: usize, disk: &[(i64, i64)]) -> bool {
        let [nx, ny] = self.n.map(|n| n as i64);
        disk.iter().any(|&(di, dj)| {
            let (x, y) = (i as i64 + di, j as i64 + dj);
            x >= 0 && y >= 0 && x < nx && y < ny && layer[(y * nx + x) as usize]
        })
    }

    /// The pixel (as an index) holding the point `q`, or the nearest on the border.
    fn pixel_of(&self, q: [f64; 2]) -> usize {
        let [i, j] = [0, 1].map(|a| {
            let i = ((q[a] - self.origin[a]) / self.pixel_mm).floor().max(0.0) as usize;
            i.min(self.n[a] - 1)
        });
        j * self.n[0] + i
    }

    /// The centre of pixel `i` along axis `a`.
    fn centre(&self, a: usize, i: usize) -> f64 {
        self.origin[a] + (i as f64 + 0.5) * self.pixel_mm
    }
}

/// A layer's cut segments in square buckets of the allowed step, each segment listed in every
/// bucket within that distance of its box, so one bucket answers "is a segment this near".
struct SegmentIndex {
    segments: Vec<[[f64; 2]; 2]>,
    origin: [f64; 2],
    bucket_mm: f64,
    dims: [usize; 2],
    /// Per bucket (row-major), the segments near it.
    buckets: Vec<Vec<u32>>,
}

impl SegmentIndex {
    fn new(segments: Vec<[[f64; 2]; 2]>, reach: f64) -> Self {
        let mut low = [f64::INFINITY; 2];
        let mut high = [f64::NEG_INFINITY; 2];
        for s in &segments {
            for p in s {
                for a in 0..2 {
                    low[a] = low[a].min(p[a]);
                    high[a] = high[a].max(p[a]);
                }
            }
        }
        if segments.is_empty() {
            return Self {
                segments,
                origin: [0.0; 2],
                bucket_mm: 1.0,
                dims: [0, 0],
                buckets: Vec::new(),
            };
        }
        // No finer than a thousandth of the cut's extent per axis, to bound the buckets.
        let span = (high[0] - low[0]).max(high[1] - low[1]);
        let bucket_mm = reach.max(span / 1000.0);
        let origin = [low[0] - reach, low[1] - reach];
        let dims = [0, 1].map(|a| ((high[a] - low[a] + 2.0 * reach) / bucket_mm) as usize + 1);
        let mut buckets = vec![Vec::new(); dims[0] * dims[1]];
        for (n, [p, q]) in segments.iter().enumerate() {
            let range = |a: usize| {
                let lo = ((p[a].min(q[a]) - reach - origin[a]) / bucket_mm)
                    .floor()
                    .max(0.0);
                let hi = ((p[a].max(q[a]) + reach - origin[a]) / bucket_mm).floor();
                lo as usize..=(hi as usize).min(dims[a] - 1)
            };
            for j in range(1) {
                for i in range(0) {
                    buckets[j * dims[0] + i].push(n as u32);
                }
            }
        }
        Self {
            segments,
            origin,
            bucket_mm,
            dims,
            buckets,
        }
    }

    /// Whether a segment lies within `reach` of `c`.
    fn within(&self, c: [f64; 2], reach: f64) -> bool {
        let index = |a: usize| ((c[a] - self.origin[a]) / self.bucket_mm).floor();
        let (i, j) = (index(0), index(1));
        if !(i >= 0.0 && j >= 0.0 && (i as usize) < self.dims[0] && (j as usize) < self.dims[1]) {
            return false;
        }
        self.buckets[j as usize * self.dims[0] + i as usize]
            .iter()
            .any(|&n| distance_to_segment(c, self.segments[n as usize]) <= reach)
    }
}

/// Distance from `c` to the segment `[p, q]`.
fn distance_to_segment(c: [f64; 2], [p, q]: [[f64; 2]; 2]) -> f64 {
    let (dx, dy) = (q[0] - p[0], q[1] - p[1]);
    let length2 = dx * dx + dy * dy;
    let s = if length2 > 0.0 {
        (((c[0] - p[0]) * dx + (c[1] - p[1]) * dy) / length2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    (c[0] - p[0] - s * dx).hypot(c[1] - p[1] - s * dy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::test_support::cube;

    /// A frustum of square cross-sections: half-width `bottom` at z = 0 growing to `top` at
    /// z = `height` (an overhang when it widens).
    fn frustum(bottom: f64, top: f64, height: f64) -> TriangleMesh {
        const CORNERS: [[f64; 2]; 4] = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];
        let mut vertices: Vec<[f64; 3]> =
            CORNERS.map(|[x, y]| [bottom * x, bottom * y, 0.0]).to_vec();
        vertices.extend(CORNERS.map(|[x, y]| [top * x, top * y, height]));
        let mut triangles = vec![[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7]];
        for k in 0..4u32 {
            let (a, b) = (k, (k + 1) % 4);
            triangles.push([a, b, b + 4]);
            triangles.push([a, b + 4, a + 4]);
        }
        TriangleMesh {
            vertices,
            triangles,
        }
    }

    /// The box from `low` to `high`.
    fn block(low: [f64; 3], high: [f64; 3]) -> TriangleMesh {
        let mut part = cube(1.0, [0.0; 3]);
        for v in &mut part.vertices {
            *v = std::array::from_fn(|a| low[a] + v[a] * (high[a] - low[a]));
        }
        part
    }

    #[test]
    fn a_cube_on_the_plate_needs_no_support_in_any_direction() {
        let part = cube(10.0, [0.0; 3]);
        for direction in BuildDirection::ALL {
            let s = layer_support(&part, direction, 45.0, 0.2, 0.4).unwrap();
            assert_eq!(s.layers, 50);
            assert_eq!(s.support_area_mm2, 0.0, "{direction}");
        }
    }

    #[test]
    fn a_slab_on_a_column_needs_support_under_its_overhang_down_to_the_plate() {
        // A 4 × 4 column 10 high under a 10 × 10 slab 2 thick, built up: the slab's underside
        // outside the column (100 − 16 mm²) needs support 10 mm tall.
        let column = block([3.0, 3.0, 0.0], [7.0, 7.0, 10.0]);
        let slab = block([0.0, 0.0, 10.0], [10.0, 10.0, 12.0]);
        let part = crate::mesh::test_support::merged(&column, &slab);
        let s = layer_support(&part, BuildDirection::PlusZ, 45.0, 0.2, 0.4).unwrap();
        assert!((s.support_area_mm2 - 84.0).abs() < 3.0, "{s:?}");
        assert!(
            (s.support_volume_mm3 - 840.0).abs() < 40.0,
            "{}",
            s.support_volume_mm3
        );
        assert_eq!(s.supported_layers, 1);
        // Built downwards, the slab lies on the plate and the column stands on it.
        let s = layer_support(&part, BuildDirection::MinusZ, 45.0, 0.2, 0.4).unwrap();
        assert_eq!(s.support_area_mm2, 0.0);
    }

    #[test]
    fn slopes_need_support_below_the_threshold_and_not_above() {
        // Sides rising at 60° from the plate print (their corners too, at 51°); at 40° they
        // need support all the way up.
        let steep = frustum(5.0, 5.0 + 10.0 / 60f64.to_radians().tan(), 10.0);
        let flat = frustum(5.0, 5.0 + 10.0 / 40f64.to_radians().tan(), 10.0);
        let s = layer_support(&steep, BuildDirection::PlusZ, 45.0, 0.2, 0.4).unwrap();
        assert_eq!(s.support_area_mm2, 0.0, "{s:?}");
        let s = layer_support(&flat, BuildDirection::PlusZ, 45.0, 0.2, 0.4).unwrap();
        assert!(s.supported_layers > 45, "{s:?}");
        // Each layer's square less the layer below grown by the allowed step (with rounded
        // corners): the strips beyond the slicer's rule.
        let half_width = |k: usize| 5.0 + (k as f64 + 0.5) * 0.2 / 40f64.to_radians().tan();
        let d = s.allowed_step_mm;
        let beyond: f64 = (1..50)
            .map(|k| {
                let (w, below) = (half_width(k), half_width(k - 1));
                let grown = 4.0 * below * below + 8.0 * below * d + std::f64::consts::PI * d * d;
                4.0 * w * w - grown
            })
            .sum();
        assert!(
            (s.overhang_area_mm2 / beyond - 1.0).abs() < 0.1,
            "{} against {beyond}",
            s.overhang_area_mm2
        );
        // Supported within a contact width of them: every layer's whole new strip, which
        // together are the sides' projection onto the plate.
        let projected = 4.0 * (half_width(49).powi(2) - half_width(0).powi(2));
        assert!(
            (s.support_area_mm2 / projected - 1.0).abs() < 0.05,
            "{} against {projected}",
            s.support_area_mm2
        );
        assert_eq!(s.supported_layers, 49);
    }

    #[test]
    fn bad_input_is_refused() {
        let part = cube(1.0, [0.0; 3]);
        let d = BuildDirection::PlusZ;
        assert!(matches!(
            layer_support(&part, d, 45.0, 0.0, 0.4),
            Err(LayerError::LayerHeight(_))
        ));
        assert!(matches!(
            layer_support(&part, d, 90.0, 0.2, 0.4),
            Err(LayerError::Angle(_))
        ));
        let empty = TriangleMesh {
            vertices: vec![],
            triangles: vec![],
        };
        assert!(matches!(
            layer_support(&empty, d, 45.0, 0.2, 0.4),
            Err(LayerError::Extent)
        ));
        assert!(matches!(
            layer_support(&part, d, 45.0, 1e-9, 0.4),
            Err(LayerError::TooManyLayers(_))
        ));
    }

    #[test]
    fn the_thread_count_does_not_change_the_result() {
        let part = frustum(3.0, 9.0, 6.0);
        let run = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| layer_support(&part, BuildDirection::PlusZ, 45.0, 0.15, 0.4).unwrap())
        };
        assert_eq!(run(1), run(3));
    }
}
