//! Self-intersections of a triangle mesh: where a surface passes through itself.
//!
//! A closed, manifold, consistently oriented mesh can still fold through itself, and then it
//! bounds no solid: tet meshers (gmsh, TetGen), CAD booleans and slicers' repair passes refuse it
//! or change it silently. Two triangles intersect here when
//!
//! * they share no vertex and have any point in common (touching counts: a point contact is a
//!   pinch that no solid has);
//! * they share one vertex and have a point in common other than that vertex;
//! * they share an edge and overlap beyond it, which for two flat triangles means they are
//!   coplanar and lie on the same side of the edge (one folded onto the other);
//! * they use the same three vertices.
//!
//! Every decision is made with Shewchuk's adaptive exact predicates `orient3d` and `orient2d`
//! (Shewchuk, "Adaptive precision floating-point arithmetic and fast robust geometric
//! predicates", Discrete Comput. Geom. 18, 1997; the `robust` crate), so a pair is never
//! misjudged by rounding, coplanar and touching cases included. For two triangles that are not
//! coplanar the intersection is a segment whose ends lie on edges of the two triangles, so they
//! intersect exactly when an edge of one meets the other (the classic reduction, e.g. Möller,
//! "A fast triangle-triangle intersection test", J. Graphics Tools 2, 1997, with its rejection
//! by plane sides first); coplanar pairs are decided in a projection onto an axis plane, which
//! keeps incidences exactly.
//!
//! Candidate pairs come from a uniform grid of cells about as large as a typical triangle: each
//! triangle is listed in the cells its bounding box covers, and a pair is tested only in the
//! cell holding the lowest corner of the overlap of their boxes, so it is tested once. Cells are
//! processed in parallel and the pairs sorted, so the result does not depend on the thread
//! count. Degenerate triangles (collinear corners) and triangles with an index out of range are
//! left out: [`check_mesh`](super::check_mesh) reports them as degenerate.

use rayon::prelude::*;
use robust::{Coord, Coord3D, orient2d, orient3d};

use super::{TriangleMesh, cross, dot, horizontal_frame, sub};

type Point = [f64; 3];

/// All pairs `[s, t]` (`s < t`) of triangles of `mesh` that intersect, in increasing order.
pub fn self_intersecting_pairs(mesh: &TriangleMesh) -> Vec<[u32; 2]> {
    let Some(triangles) = Prepared::new(mesh) else {
        return Vec::new();
    };
    let entries = triangles.cell_entries();
    let mut starts: Vec<usize> = (0..entries.len())
        .filter(|&i| i == 0 || entries[i] >> 32 != entries[i - 1] >> 32)
        .collect();
    starts.push(entries.len());
    let mut pairs: Vec<[u32; 2]> = starts
        .par_windows(2)
        .map_init(Vec::new, |candidates: &mut Vec<Candidate>, w| {
            let group = &entries[w[0]..w[1]];
            let cell = (group[0] >> 32) as u32;
            // The group's triangles side by side with what the loop reads of them: it runs over
            // tens of millions of candidates, nearly all rejected by their boxes or as
            // neighbours in an embedded fan.
            candidates.clear();
            candidates.extend(group.iter().filter_map(|&x| {
                let t = x as u32 as usize;
                let shape = triangles.shapes[t]?;
                Some(Candidate {
                    bounds: triangles.boxes[t],
                    low_cell: triangles.low_cells[t],
                    shape,
                    triangle: t as u32,
                })
            }));
            let mut found = Vec::new();
            for (i, a) in candidates.iter().enumerate() {
                for b in &candidates[i + 1..] {
                    if !boxes_overlap(&a.bounds, &b.bounds) {
                        continue;
                    }
                    // The cell of the overlap's low corner, from the cells of the boxes' low
                    // corners (the cell index grows with the coordinate).
                    let low = std::array::from_fn(|k| a.low_cell[k].max(b.low_cell[k]));
                    if triangles.grid.linear(low) == cell
                        && !a.shape.in_an_embedded_fan_with(&b.shape)
                        && triangles.meet(a.triangle as usize, b.triangle as usize)
                    {
                        let (s, t) = (a.triangle, b.triangle);
                        found.push([s.min(t), s.max(t)]);
                    }
                }
            }
            found
        })
        .flatten_iter()
        .collect();
    pairs.par_sort_unstable();
    pairs
}

/// A point near where the triangles `pair` of `mesh` intersect: the midpoint of their centroids.
pub fn pair_location(mesh: &TriangleMesh, pair: [u32; 2]) -> Point {
    let centroid = |t: u32| {
        let [a, b, c] = mesh.triangles[t as usize].map(|v| mesh.vertices[v as usize]);
        std::array::from_fn::<f64, 3, _>(|k| (a[k] + b[k] + c[k]) / 3.0)
    };
    let (p, q) = (centroid(pair[0]), centroid(pair[1]));
    std::array::from_fn(|k| 0.5 * (p[k] + q[k]))
}

/// Without short-circuits, so that it compiles to straight-line code.
fn boxes_overlap(a: &Bounds, b: &Bounds) -> bool {
    (a[0][0] <= b[1][0])
        & (b[0][0] <= a[1][0])
        & (a[0][1] <= b[1][1])
        & (b[0][1] <= a[1][1])
        & (a[0][2] <= b[1][2])
        & (b[0][2] <= a[1][2])
}

/// A triangle listed in a grid cell, with what the search needs of it.
struct Candidate {
    bounds: Bounds,
    low_cell: [u32; 3],
    shape: Shape,
    triangle: u32,
}

/// Triangles per parallel task when the cell entries are written.
const ENTRY_BLOCK: usize = 4096;

/// A usable triangle as the tests need it: its vertex indices and the axis to drop for an
/// exact 2D projection.
#[derive(Clone, Copy)]
struct Shape {
    ids: [u32; 3],
    axis: u8,
    /// Bit `i` is set when the fan around corner `i` is certainly embedded ([`embedded_fans`]).
    embedded_corners: u8,
}

impl Shape {
    /// Whether the two triangles share a vertex whose fan is known to be embedded, so that they
    /// meet only where they share a vertex or an edge, which does not count.
    fn in_an_embedded_fan_with(&self, other: &Shape) -> bool {
        (0..3).any(|i| self.embedded_corners & (1 << i) != 0 && other.ids.contains(&self.ids[i]))
    }
}

/// A bounding box in single precision, rounded outwards so that it holds the triangle: a
/// conservative first filter at half the memory of a double-precision box.
type Bounds = [[f32; 3]; 2];

fn bounds_of([a, b, c]: [Point; 3]) -> Bounds {
    let low = |x: f64| {
        let y = x as f32;
        if f64::from(y) > x { y.next_down() } else { y }
    };
    let high = |x: f64| {
        let y = x as f32;
        if f64::from(y) < x { y.next_up() } else { y }
    };
    [
        std::array::from_fn(|k| low(a[k].min(b[k]).min(c[k]))),
        std::array::from_fn(|k| high(a[k].max(b[k]).max(c[k]))),
    ]
}

/// The triangles as the tests need them, in the mesh's order (a surface from marching cubes
/// lists neighbouring triangles close together already). Unusable triangles (an index out of
/// range, a repeated or non-finite corner, collinear corners) have no shape and are in no cell.
struct Prepared<'a> {
    shapes: Vec<Option<Shape>>,
    /// Each usable triangle's bounding box.
    boxes: Vec<Bounds>,
    /// The grid cell of each usable box's low corner, as three indices.
    low_cells: Vec<[u32; 3]>,
    grid: CellGrid,
    vertices: &'a [Point],
}

impl<'a> Prepared<'a> {
    /// `None` when no triangle is usable.
    fn new(mesh: &'a TriangleMesh) -> Option<Self> {
        let n = mesh.vertices.len();
        let embedded_fan = embedded_fans(mesh);
        let usable = |t: &[u32; 3]| -> Option<([Point; 3], usize)> {
            if t.iter().any(|&v| v as usize >= n) || t[0] == t[1] || t[1] == t[2] || t[2] == t[0] {
                return None;
            }
            let corners = t.map(|v| mesh.vertices[v as usize]);
            if corners.iter().flatten().any(|x| !x.is_finite()) {
                return None;
            }
            Some((corners, projection_axis(corners)?))
        };
        let (shapes, boxes): (Vec<Option<Shape>>, Vec<Bounds>) = mesh
            .triangles
            .par_iter()
            .map(|t| match usable(t) {
                Some((corners, axis)) => {
                    let embedded = (0..3).filter(|&i| embedded_fan[t[i] as usize]);
                    let shape = Shape {
                        ids: *t,
                        axis: axis as u8,
                        embedded_corners: embedded.map(|i| 1 << i).sum(),
                    };
                    (Some(shape), bounds_of(corners))
                }
                None => (None, [[0.0; 3]; 2]),
            })
            .unzip();
        let usable_boxes = (boxes.iter().zip(&shapes)).filter_map(|(b, s)| s.map(|_| b));
        let grid = CellGrid::new(usable_boxes)?;
        Some(Self {
            low_cells: boxes.par_iter().map(|b| grid.index(b[0])).collect(),
            shapes,
            boxes,
            grid,
            vertices: &mesh.vertices,
        })
    }

    /// Every triangle listed in every grid cell its box covers, as `cell << 32 | triangle`,
    /// sorted, so that the triangles of a cell come together.
    fn cell_entries(&self) -> Vec<u64> {
        // Counted first, so that each block of triangles writes its entries in parallel into
        // a place of its own.
        let counts: Vec<usize> = (self.boxes.par_iter().zip(&self.low_cells))
            .zip(&self.shapes)
            .map(|((b, low), shape)| {
                let high = self.grid.index(b[1]);
                let cells = (0..3).map(|k| (high[k] - low[k] + 1) as usize).product();
                if shape.is_some() { cells } else { 0 }
            })
            .collect();
        let mut offsets = Vec::with_capacity(counts.len() + 1);
        offsets.push(0);
        for count in &counts {
            offsets.push(offsets[offsets.len() - 1] + count);
        }
        let mut entries = vec![0u64; offsets[counts.len()]];
        let mut rest = entries.as_mut_slice();
        let mut blocks = Vec::new();
        for first in (0..counts.len()).step_by(ENTRY_BLOCK) {
            let end = (first + ENTRY_BLOCK).min(counts.len());
            let (block, tail) = rest.split_at_mut(offsets[end] - offsets[first]);
            blocks.push((first..end, block));
            rest = tail;
        }
        blocks.into_par_iter().for_each(|(triangles, block)| {
            let usable = triangles.filter(|&t| self.shapes[t].is_some());
            let listed = usable.flat_map(|t| {
                (self.grid.cells_of(&self.boxes[t]))
                    .map(move |cell| (u64::from(cell) << 32) | t as u64)
            });
            for (slot, entry) in block.iter_mut().zip(listed) {
                *slot = entry;
            }
        });
        entries.par_sort_unstable();
        entries
    }

    /// The exact test of whether triangles `s` and `t` intersect.
    fn meet(&self, s: usize, t: usize) -> bool {
        let (Some(shape_s), Some(shape_t)) = (&self.shapes[s], &self.shapes[t]) else {
            return false;
        };
        let (ts, tt) = (shape_s.ids, shape_t.ids);
        let (axis_s, axis_t) = (shape_s.axis as usize, shape_t.axis as usize);
        let corners = |ids: [u32; 3]| ids.map(|v| self.vertices[v as usize]);
        let (ps, pt) = (corners(ts), corners(tt));
        // Shared corners as (slot in s, slot in t), without allocating: this runs for every
        // pair of neighbouring triangles.
        let mut shared = [(0, 0); 3];
        let mut count = 0;
        for (i, a) in ts.iter().enumerate() {
            for (j, b) in tt.iter().enumerate() {
                if a == b {
                    shared[count] = (i, j);
                    count += 1;
                }
            }
        }
        // Both in one plane normal to an axis, as on the faces of the design domain: coplanar
        // without asking `orient3d`, whose exact zero is its slowest answer.
        let flat = (0..3).find(|&k| ps.iter().chain(&pt).all(|p| p[k] == ps[0][k]));
        match (count, flat) {
            (0, Some(k)) => coplanar_triangles_meet(ps, pt, k),
            (0, None) => disjoint_triangles_meet(ps, axis_s, pt, axis_t),
            (1, _) => {
                // Rotate both so that the shared vertex comes first.
                let (i, j) = shared[0];
                let s = [ps[i], ps[(i + 1) % 3], ps[(i + 2) % 3]];
                let t = [pt[j], pt[(j + 1) % 3], pt[(j + 2) % 3]];
                triangles_at_a_vertex_meet(s, axis_s, t, axis_t, flat)
            }
            (2, _) => {
                let [(i0, j0), (i1, j1)] = [shared[0], shared[1]];
                let (apex_s, apex_t) = (ps[3 - i0 - i1], pt[3 - j0 - j1]);
                let (u, v) = (ps[i0], ps[i1]);
                let axis = match flat {
                    Some(k) => k,
                    None if sign(o3(u, v, apex_s, apex_t)) == 0 => axis_s,
                    None => return false,
                };
                sign(o2(u, v, apex_s, axis)) == sign(o2(u, v, apex_t, axis))
            }
            _ => true,
        }
    }
}

/// Smallest sine of a sector angle of a fan seen along its vertex normal that [`embedded_fans`]
/// trusts: far above the rounding of the projection (about 1e-15), so a sector certified as
/// positive is positive for the projection as computed.
const MIN_SECTOR_SINE: f64 = 1e-9;

/// For each vertex, whether its fan of triangles is certainly embedded: a single closed fan
/// whose projection along the (area-weighted) vertex normal has every triangle counter-clockwise,
/// by a margin, and winds once around the vertex. The projection is then one-to-one on the fan,
/// so two of its triangles meet only where they share an edge or the vertex, and the pairs around
/// the vertex need no exact test. This holds for nearly every vertex of a smooth surface, and on
/// creases up to nearly 180°; the others are tested pair by pair.
fn embedded_fans(mesh: &TriangleMesh) -> Vec<bool> {
    let n = mesh.vertices.len();
    let mut offsets = vec![0usize; n + 1];
    for &v in mesh.triangles.iter().flatten() {
        if (v as usize) < n {
            offsets[v as usize + 1] += 1;
        }
    }
    for v in 0..n {
        offsets[v + 1] += offsets[v];
    }
    let mut fill = offsets.clone();
    let mut fans = vec![0u32; offsets[n]];
    for (t, tri) in mesh.triangles.iter().enumerate() {
        for &v in tri {
            if (v as usize) < n {
                fans[fill[v as usize]] = t as u32;
                fill[v as usize] += 1;
            }
        }
    }
    (0..n)
        .into_par_iter()
        .map(|v| {
            let fan = &fans[offsets[v]..offsets[v + 1]];
            // Each triangle as its two other corners in counter-clockwise order from v.
            let mut wings = [(0u32, 0u32); 16];
            if fan.len() < 3 || fan.len() > wings.len() {
                return false;
            }
            for (w, &t) in wings.iter_mut().zip(fan) {
                let tri = mesh.triangles[t as usize];
                let Some(k) = (0..3).find(|&k| tri[k] as usize == v) else {
                    return false;
                };
                *w = (tri[(k + 1) % 3], tri[(k + 2) % 3]);
            }
            let wings = &wings[..fan.len()];
            // One closed fan: every neighbour begins exactly one wing and ends exactly one.
            let closed = wings.iter().all(|&(a, b)| {
                a != b
                    && a as usize != v
                    && b as usize != v
                    && wings.iter().filter(|w| w.0 == a).count() == 1
                    && wings.iter().filter(|w| w.1 == a).count() == 1
                    && (a as usize) < n
                    && (b as usize) < n
            });
            if !closed {
                return false;
            }
            let p = mesh.vertices[v];
            let arm = |a: u32| sub(mesh.vertices[a as usize], p);
            let mut normal = [0.0; 3];
            for &(a, b) in wings {
                let c = cross(arm(a), arm(b));
                for k in 0..3 {
                    normal[k] += c[k];
                }
            }
            let length = dot(normal, normal).sqrt();
            if !(length.is_finite() && length > 0.0) {
                return false;
            }
            let (e1, e2) = horizontal_frame(normal.map(|x| x / length));
            let flat = |x: [f64; 3]| [dot(x, e1), dot(x, e2)];
            let mut turns = 0;
            for &(a, b) in wings {
                let (pa, pb) = (flat(arm(a)), flat(arm(b)));
                let sine = pa[0] * pb[1] - pa[1] * pb[0];
                // One square root instead of two `hypot`s: an overflow gives an infinite
                // scale, which fails the test below, so the fan is only left uncertified.
                let scale =
                    ((pa[0] * pa[0] + pa[1] * pa[1]) * (pb[0] * pb[0] + pb[1] * pb[1])).sqrt();
                // Written so that a NaN fails it too.
                if sine.partial_cmp(&(MIN_SECTOR_SINE * scale)) != Some(std::cmp::Ordering::Greater)
                {
                    return false;
                }
                // A counter-clockwise sector of less than half a turn that starts below the
                // first axis and ends on or above it crosses the axis's positive half once; no
                // other sector does, so these crossings count the turns around the vertex.
                if pa[1] < 0.0 && pb[1] >= 0.0 {
                    turns += 1;
                }
            }
            turns == 1
        })
        .collect()
}

/// The uniform grid of candidate cells.
struct CellGrid {
    origin: Point,
    cell_mm: f64,
    dims: [u32; 3],
}

impl CellGrid {
    /// A grid over the boxes of all usable triangles with cells of twice the median triangle's
    /// extent, but no more than about 64 cells per triangle (and 2·10⁹ in all, so that a cell
    /// number fits 32 bits). `None` without a box.
    fn new<'a>(boxes: impl Iterator<Item = &'a Bounds> + Clone) -> Option<Self> {
        let usable = || boxes.clone();
        let count = usable().count();
        if count == 0 {
            return None;
        }
        let mut origin = [f64::INFINITY; 3];
        let mut top = [f64::NEG_INFINITY; 3];
        for b in usable() {
            for k in 0..3 {
                origin[k] = origin[k].min(f64::from(b[0][k]));
                top[k] = top[k].max(f64::from(b[1][k]));
            }
        }
        let mut extents: Vec<f64> = usable()
            .map(|b| {
                (0..3)
                    .map(|k| f64::from(b[1][k] - b[0][k]))
                    .fold(0.0, f64::max)
            })
            .collect();
        let middle = extents.len() / 2;
        let (_, median, _) = extents.select_nth_unstable_by(middle, f64::total_cmp);
        let span = (0..3).map(|k| top[k] - origin[k]).fold(0.0, f64::max);
        let mut cell_mm = (2.0 * *median).max(span * 1e-9).max(f64::MIN_POSITIVE);
        let limit = (64.0 * count as f64 + 64.0).min(2e9);
        let cells = |size: f64| (0..3).map(move |k| ((top[k] - origin[k]) / size).floor() + 1.0);
        while cells(cell_mm).product::<f64>() > limit {
            cell_mm *= 1.25;
        }
        let dims = [0, 1, 2].map(|k| ((top[k] - origin[k]) / cell_mm).floor() as u32 + 1);
        Some(Self {
            origin,
            cell_mm,
            dims,
        })
    }

    fn index(&self, p: [f32; 3]) -> [u32; 3] {
        std::array::from_fn(|k| {
            let i = ((f64::from(p[k]) - self.origin[k]) / self.cell_mm).floor();
            (i.max(0.0) as u32).min(self.dims[k] - 1)
        })
    }

    fn linear(&self, [i, j, k]: [u32; 3]) -> u32 {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    fn cells_of(&self, bounds: &Bounds) -> impl Iterator<Item = u32> + '_ {
        let (lo, hi) = (self.index(bounds[0]), self.index(bounds[1]));
        (lo[2]..=hi[2]).flat_map(move |k| {
            (lo[1]..=hi[1]).flat_map(move |j| (lo[0]..=hi[0]).map(move |i| self.linear([i, j, k])))
        })
    }
}

fn sign(x: f64) -> i8 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

fn o3(a: Point, b: Point, c: Point, d: Point) -> f64 {
    let p = |p: Point| Coord3D {
        x: p[0],
        y: p[1],
        z: p[2],
    };
    orient3d(p(a), p(b), p(c), p(d))
}

/// The side of the plane of triangle `t` that `x` lies on: the sign of `orient3d(t, x)`.
///
/// For a triangle in a plane normal to axis `k`, as on the faces of the design domain,
/// `orient3d(a, b, c, x) = (c₀ − x_k) · orient2d_k(a, b, c)`, where `c₀` is its coordinate `k`:
/// a comparison and a 2D orientation. Points in such planes are common, and for them `orient3d`
/// would have to prove an exact zero in its slowest stage (measured: the check takes 15 % longer
/// without this rule).
fn side(t: [Point; 3], x: Point) -> i8 {
    if let Some(k) = (0..3).find(|&k| t[0][k] == t[1][k] && t[1][k] == t[2][k]) {
        return sign(t[0][k] - x[k]) * sign(o2(t[0], t[1], t[2], k));
    }
    sign(o3(t[0], t[1], t[2], x))
}

/// `orient2d` of the projections that drop coordinate `axis`: exact, since dropping a
/// coordinate is.
fn o2(a: Point, b: Point, c: Point, axis: usize) -> f64 {
    let p = |p: Point| Coord {
        x: p[(axis + 1) % 3],
        y: p[(axis + 2) % 3],
    };
    orient2d(p(a), p(b), p(c))
}

/// An axis whose projection keeps the triangle's area (exactly non-zero), trying the normal's
/// largest component first; `None` for collinear corners.
fn projection_axis(t: [Point; 3]) -> Option<usize> {
    let n = cross(sub(t[1], t[0]), sub(t[2], t[0])).map(f64::abs);
    let first = if n[0] >= n[1] && n[0] >= n[2] {
        0
    } else if n[1] >= n[2] {
        1
    } else {
        2
    };
    [first, (first + 1) % 3, (first + 2) % 3]
        .into_iter()
        .find(|&k| o2(t[0], t[1], t[2], k) != 0.0)
}

/// Whether `x`, known to be collinear with `p` and `q` in the projection, lies between them.
fn between(p: Point, q: Point, x: Point, axis: usize) -> bool {
    [(axis + 1) % 3, (axis + 2) % 3]
        .iter()
        .all(|&k| p[k].min(q[k]) <= x[k] && x[k] <= p[k].max(q[k]))
}

/// Closed segments `pq` and `ab` meet, in the projection dropping `axis`.
fn segments_meet_2d(p: Point, q: Point, a: Point, b: Point, axis: usize) -> bool {
    let d1 = sign(o2(a, b, p, axis));
    let d2 = sign(o2(a, b, q, axis));
    let d3 = sign(o2(p, q, a, axis));
    let d4 = sign(o2(p, q, b, axis));
    if d1 * d2 < 0 && d3 * d4 < 0 {
        return true;
    }
    (d1 == 0 && between(a, b, p, axis))
        || (d2 == 0 && between(a, b, q, axis))
        || (d3 == 0 && between(p, q, a, axis))
        || (d4 == 0 && between(p, q, b, axis))
}

/// `x` lies in the closed triangle `t` (non-degenerate in the projection dropping `axis`).
fn point_in_triangle_2d(x: Point, t: [Point; 3], axis: usize) -> bool {
    let s = [(0, 1), (1, 2), (2, 0)].map(|(i, j)| sign(o2(t[i], t[j], x, axis)));
    !(s.contains(&1) && s.contains(&-1))
}

fn edges(t: [Point; 3]) -> [(Point, Point); 3] {
    [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])]
}

/// The closed segment `pq` meets the closed triangle `t`, all in one plane.
fn segment_meets_triangle_2d(p: Point, q: Point, t: [Point; 3], axis: usize) -> bool {
    point_in_triangle_2d(p, t, axis)
        || point_in_triangle_2d(q, t, axis)
        || edges(t)
            .iter()
            .any(|&(a, b)| segments_meet_2d(p, q, a, b, axis))
}

/// The closed segment `pq` meets the closed triangle `t` (`axis`: its projection axis).
fn segment_meets_triangle(p: Point, q: Point, t: [Point; 3], axis: usize) -> bool {
    let [a, b, c] = t;
    let (sp, sq) = (side(t, p), side(t, q));
    if sp * sq > 0 {
        return false;
    }
    if sp == 0 && sq == 0 {
        return segment_meets_triangle_2d(p, q, t, axis);
    }
    // The segment reaches the plane at one point; it is in the triangle when the line passes
    // on the same side of all three edges (signed volumes, i.e. Plücker coordinates).
    let s = [o3(p, q, a, b), o3(p, q, b, c), o3(p, q, c, a)].map(sign);
    !(s.contains(&1) && s.contains(&-1))
}

/// All three signs strictly positive or strictly negative.
fn one_strict_side(s: [i8; 3]) -> bool {
    s.iter().all(|&x| x > 0) || s.iter().all(|&x| x < 0)
}

/// Triangles `s` and `t` in one plane, kept by the projection dropping `axis`, have a point in
/// common.
///
/// Two convex polygons are apart exactly when a line along one of their edges has the other
/// polygon strictly outside it (the separating axis theorem), so six edges decide it, most
/// pairs after the first one or two.
fn coplanar_triangles_meet(s: [Point; 3], t: [Point; 3], axis: usize) -> bool {
    let separates = |p: [Point; 3], q: [Point; 3]| {
        (0..3).any(|i| {
            let (a, b) = (p[i], p[(i + 1) % 3]);
            let inside = sign(o2(a, b, p[(i + 2) % 3], axis));
            q.iter().all(|&x| sign(o2(a, b, x, axis)) == -inside)
        })
    };
    !separates(s, t) && !separates(t, s)
}

/// Triangles `s` and `t` with no vertex in common have a point in common (`axis_s`, `axis_t`:
/// their projection axes).
fn disjoint_triangles_meet(s: [Point; 3], axis_s: usize, t: [Point; 3], axis_t: usize) -> bool {
    let t_against_s = t.map(|p| side(s, p));
    if one_strict_side(t_against_s) {
        return false;
    }
    let s_against_t = s.map(|p| side(t, p));
    if one_strict_side(s_against_t) {
        return false;
    }
    if t_against_s == [0; 3] {
        return coplanar_triangles_meet(s, t, axis_s);
    }
    if !t_against_s.contains(&0) && !s_against_t.contains(&0) {
        return crossing_triangles_meet(s, s_against_t, t, t_against_s);
    }
    edges(s)
        .iter()
        .any(|&(p, q)| segment_meets_triangle(p, q, t, axis_t))
        || edges(t)
            .iter()
            .any(|&(p, q)| segment_meets_triangle(p, q, s, axis_s))
}

/// Triangles `s` and `t` whose planes each cut the other triangle, no corner in the other's
/// plane (`s_against_t`: the sides of `t`'s plane that `s`'s corners lie on, and the other way
/// round), have a point in common.
///
/// Each plane cuts the other triangle in a segment on the line where the planes meet, and the
/// triangles meet when the two segments overlap. Guigue and Devillers ("Faster
/// triangle-triangle intersection tests", J. Graphics Tools 8, 2003, section 3) decide that by
/// two orientations once each triangle starts with the corner that is alone on its side and
/// both are oriented so that this corner lies above the other's plane: two predicates instead of
/// the edge-by-edge test's twelve or more.
fn crossing_triangles_meet(
    s: [Point; 3],
    s_against_t: [i8; 3],
    t: [Point; 3],
    t_against_s: [i8; 3],
) -> bool {
    // The corner alone on its side: the one whose sign differs from both others.
    let alone = |signs: [i8; 3]| {
        (0..3)
            .find(|&i| signs[i] != signs[(i + 1) % 3] && signs[i] != signs[(i + 2) % 3])
            .unwrap_or(0)
    };
    let (i, j) = (alone(s_against_t), alone(t_against_s));
    let [p1, mut p2, mut p3] = [s[i], s[(i + 1) % 3], s[(i + 2) % 3]];
    let [q1, mut q2, mut q3] = [t[j], t[(j + 1) % 3], t[(j + 2) % 3]];
    // Above a plane is `orient3d < 0` here; turning a triangle over flips its plane.
    if s_against_t[i] > 0 {
        std::mem::swap(&mut q2, &mut q3);
    }
    if t_against_s[j] > 0 {
        std::mem::swap(&mut p2, &mut p3);
    }
    sign(o3(p1, p2, q1, q2)) >= 0 && sign(o3(p1, p3, q3, q1)) >= 0
}

/// Triangles `s = [v, b, c]` and `t = [v, e, f]` sharing only the vertex `v` have another point
/// in common.
///
/// Their common part is a segment from `v` or nothing more. Its far end lies on an edge of one
/// of them: on the edge opposite `v`, which is tested directly, or on an edge through `v`, and
/// then that whole edge runs from `v` into the other triangle, in its plane and inside its
/// corner at `v`.
fn triangles_at_a_vertex_meet(
    s: [Point; 3],
    axis_s: usize,
    t: [Point; 3],
    axis_t: usize,
    flat: Option<usize>,
) -> bool {
    if let Some(k) = flat {
        // All in one axis plane: decided there alone.
        return segment_meets_triangle_2d(s[1], s[2], t, k)
            || segment_meets_triangle_2d(t[1], t[2], s, k)
            || [s[1], s[2]].iter().any(|&x| in_corner_2d(x, t, k))
            || [t[1], t[2]].iter().any(|&x| in_corner_2d(x, s, k));
    }
    // Both far corners of one strictly on one side of the other's plane: they meet at v alone.
    // This settles nearly every pair of neighbours on a smooth surface.
    let (e, f) = (side(s, t[1]), side(s, t[2]));
    if e * f > 0 {
        return false;
    }
    let (b, c) = (side(t, s[1]), side(t, s[2]));
    if b * c > 0 {
        return false;
    }
    segment_meets_triangle(s[1], s[2], t, axis_t)
        || segment_meets_triangle(t[1], t[2], s, axis_s)
        || (b == 0 && in_corner_2d(s[1], t, axis_t))
        || (c == 0 && in_corner_2d(s[2], t, axis_t))
        || (e == 0 && in_corner_2d(t[1], s, axis_s))
        || (f == 0 && in_corner_2d(t[2], s, axis_s))
}

/// `x`, in the plane of `t = [v, e, f]`, lies in the closed corner of `t` at `v`, so the segment
/// from `v` to `x` starts into `t` (`axis`: the projection that keeps `t`'s area).
fn in_corner_2d(x: Point, [v, e, f]: [Point; 3], axis: usize) -> bool {
    let turn = sign(o2(v, e, f, axis));
    turn * sign(o2(v, e, x, axis)) >= 0 && turn * sign(o2(v, x, f, axis)) >= 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::test_support::{cube, merged};

    /// Every pair by brute force, with the same exact pair test but no shortcut.
    fn brute_force(mesh: &TriangleMesh) -> Vec<[u32; 2]> {
        let Some(prepared) = Prepared::new(mesh) else {
            return Vec::new();
        };
        let n = prepared.shapes.len();
        let mut pairs = Vec::new();
        for s in 0..n {
            for t in s + 1..n {
                if prepared.meet(s, t) {
                    pairs.push([s as u32, t as u32]);
                }
            }
        }
        pairs.sort_unstable();
        pairs
    }

    fn mesh(vertices: Vec<Point>, triangles: Vec<[u32; 3]>) -> TriangleMesh {
        TriangleMesh {
            vertices,
            triangles,
        }
    }

    #[test]
    fn a_closed_cube_does_not_intersect_itself() {
        assert!(self_intersecting_pairs(&cube(2.0, [0.0; 3])).is_empty());
        assert!(self_intersecting_pairs(&TriangleMesh::default()).is_empty());
    }

    #[test]
    fn two_interpenetrating_cubes_intersect_and_two_apart_do_not() {
        let apart = merged(&cube(1.0, [0.0; 3]), &cube(1.0, [1.5, 0.2, 0.3]));
        assert!(self_intersecting_pairs(&apart).is_empty());
        let through = merged(&cube(1.0, [0.0; 3]), &cube(1.0, [0.5, 0.2, 0.3]));
        let pairs = self_intersecting_pairs(&through);
        assert!(!pairs.is_empty());
        assert_eq!(pairs, brute_force(&through));
        // Touching face to face, no vertex shared: coplanar overlap.
        let touching = merged(&cube(1.0, [0.0; 3]), &cube(1.0, [1.0, 0.2, 0.3]));
        assert!(!self_intersecting_pairs(&touching).is_empty());
    }

    #[test]
    fn pairs_sharing_a_vertex_or_an_edge() {
        let v = vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [1.0, 1.0, 0.0],
            [0.2, 0.2, 0.0],
            [0.5, -1.0, 0.0],
            [0.3, 0.3, 1.0],
            [0.3, 0.3, -1.0],
        ];
        // A flat pair across their edge: fine. Folded onto each other: overlap.
        assert!(self_intersecting_pairs(&mesh(v.clone(), vec![[0, 1, 2], [1, 3, 2]])).is_empty());
        assert_eq!(
            self_intersecting_pairs(&mesh(v.clone(), vec![[0, 1, 2], [1, 4, 2]])),
            vec![[0, 1]]
        );
        // A shared vertex, the other triangle in another plane, apart: fine.
        assert!(self_intersecting_pairs(&mesh(v.clone(), vec![[0, 1, 2], [0, 5, 6]])).is_empty());
        // A shared vertex, an edge piercing the other triangle.
        assert_eq!(
            self_intersecting_pairs(&mesh(v.clone(), vec![[0, 1, 2], [3, 6, 7]])),
            vec![[0, 1]]
        );
        // A shared vertex, coplanar, one inside the other's corner.
        assert_eq!(
            self_intersecting_pairs(&mesh(v.clone(), vec![[0, 1, 2], [0, 4, 5]])),
            vec![[0, 1]]
        );
        // A shared vertex, the opposite edge through the other triangle.
        assert_eq!(
            self_intersecting_pairs(&mesh(v.clone(), vec![[0, 1, 2], [0, 6, 7]])),
            vec![[0, 1]]
        );
        // The same triangle twice.
        assert_eq!(
            self_intersecting_pairs(&mesh(v.clone(), vec![[0, 1, 2], [2, 0, 1]])),
            vec![[0, 1]]
        );
        // Degenerate triangles are left to the degeneracy check.
        let collinear = vec![[0.0; 3], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0], [1.0, 0.0, 0.0]];
        assert!(self_intersecting_pairs(&mesh(collinear, vec![[0, 1, 2], [0, 3, 2]])).is_empty());
    }

    #[test]
    fn touching_at_a_point_counts_and_nearly_touching_does_not() {
        let v = vec![
            [0.0, 0.0, 0.0],
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [0.25, 0.25, 0.0],
            [0.25, 1.0, 1.0],
            [1.0, 0.25, 1.0],
            [0.25, 0.25, 1e-300],
        ];
        let touch = mesh(v.clone(), vec![[0, 1, 2], [3, 4, 5]]);
        assert_eq!(self_intersecting_pairs(&touch), vec![[0, 1]]);
        let above = mesh(v, vec![[0, 1, 2], [6, 4, 5]]);
        assert!(self_intersecting_pairs(&above).is_empty());
    }

    /// Random triangles in a small box: the grid finds exactly the brute-force pairs.
    #[test]
    fn separating_edges_decide_coplanar_pairs_as_edge_crossings_do() {
        // The direct definition: two closed triangles in a plane meet when an edge of one
        // crosses or touches an edge of the other, or one lies inside the other.
        let by_edges = |s: [Point; 3], t: [Point; 3]| {
            edges(s).iter().any(|&(p, q)| {
                edges(t)
                    .iter()
                    .any(|&(a, b)| segments_meet_2d(p, q, a, b, 2))
            }) || point_in_triangle_2d(s[0], t, 2)
                || point_in_triangle_2d(t[0], s, 2)
        };
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // A coarse lattice, so shared corners, collinear edges and touching are common.
            ((state >> 11) % 7) as f64
        };
        let (mut meeting, mut apart) = (0, 0);
        for _ in 0..20_000 {
            let mut corners = || -> [Point; 3] { std::array::from_fn(|_| [next(), next(), 1.5]) };
            let (s, t) = (corners(), corners());
            if [s, t].iter().any(|x| o2(x[0], x[1], x[2], 2) == 0.0) {
                continue;
            }
            let expected = by_edges(s, t);
            assert_eq!(coplanar_triangles_meet(s, t, 2), expected, "{s:?} {t:?}");
            if expected { meeting += 1 } else { apart += 1 }
        }
        assert!(meeting > 1000 && apart > 1000, "{meeting} {apart}");
    }

    #[test]
    fn crossing_pairs_are_decided_as_the_edge_test_decides() {
        // Random triangles in a small box, so that about half the crossing pairs meet; a coarse
        // lattice gives corners in the other plane, which the fast decision must leave alone.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move |lattice: bool| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let x = (state >> 11) as f64 / (1u64 << 53) as f64;
            if lattice { (x * 5.0).floor() } else { 4.0 * x }
        };
        let (mut meeting, mut apart, mut in_plane) = (0, 0, 0);
        for round in 0..40_000 {
            let lattice = round % 2 == 1;
            let mut corners = || -> [Point; 3] {
                std::array::from_fn(|_| std::array::from_fn(|_| next(lattice)))
            };
            let (s, t) = (corners(), corners());
            let (Some(axis_s), Some(axis_t)) = (projection_axis(s), projection_axis(t)) else {
                continue;
            };
            let by_edges = edges(s)
                .iter()
                .any(|&(p, q)| segment_meets_triangle(p, q, t, axis_t))
                || edges(t)
                    .iter()
                    .any(|&(p, q)| segment_meets_triangle(p, q, s, axis_s));
            let t_against_s = t.map(|p| side(s, p));
            let s_against_t = s.map(|p| side(t, p));
            if one_strict_side(t_against_s) || one_strict_side(s_against_t) {
                assert!(!by_edges);
                continue;
            }
            if t_against_s.contains(&0) || s_against_t.contains(&0) {
                in_plane += 1;
            } else {
                let fast = crossing_triangles_meet(s, s_against_t, t, t_against_s);
                assert_eq!(fast, by_edges, "{s:?} {t:?}");
                if fast { meeting += 1 } else { apart += 1 }
            }
            assert_eq!(
                disjoint_triangles_meet(s, axis_s, t, axis_t),
                by_edges,
                "{s:?} {t:?}"
            );
        }
        assert!(
            meeting > 1000 && apart > 1000 && in_plane > 100,
            "{meeting} {apart} {in_plane}"
        );
    }

    #[test]
    fn the_grid_finds_what_brute_force_finds() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        for round in 0..20 {
            let count = 30 + 10 * round;
            let mut vertices = Vec::new();
            // Quantised coordinates make exact coincidences, touching and coplanar cases common.
            for _ in 0..count {
                vertices.push(std::array::from_fn(|_| (next() * 8.0).round() / 2.0));
            }
            let mut triangles = Vec::new();
            for _ in 0..count {
                let pick = |r: f64| ((r * count as f64) as u32).min(count as u32 - 1);
                triangles.push([pick(next()), pick(next()), pick(next())]);
            }
            let m = mesh(vertices, triangles);
            assert_eq!(
                self_intersecting_pairs(&m),
                brute_force(&m),
                "round {round}"
            );
        }
    }

    /// Closed surfaces of random fields, their vertices shaken hard enough to fold the surface
    /// in places: the grid with its embedded-fan shortcut finds exactly the brute-force pairs.
    #[test]
    fn shaken_surfaces_agree_with_brute_force() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let mut folded = 0;
        for round in 0..6 {
            let n = [7, 6, 5];
            let field: Vec<f64> = (0..n.iter().product()).map(|_| next()).collect();
            let mut m = crate::mesh::extract_isosurface(&field, n, 1.0, 0.5);
            let amplitude = 0.1 * round as f64;
            for p in &mut m.vertices {
                for c in p.iter_mut() {
                    *c += amplitude * (next() - 0.5);
                }
            }
            let pairs = self_intersecting_pairs(&m);
            assert_eq!(pairs, brute_force(&m), "round {round}");
            assert!(round > 0 || pairs.is_empty(), "{pairs:?}");
            folded += usize::from(!pairs.is_empty());
        }
        // The test means something: some surfaces fold, and the unshaken one does not.
        assert!(folded >= 2, "{folded}");
    }

    #[test]
    fn thread_count_does_not_change_the_pairs() {
        let m = merged(&cube(1.0, [0.0; 3]), &cube(1.0, [0.5, 0.5, 0.5]));
        let with = |threads| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| self_intersecting_pairs(&m))
        };
        assert_eq!(with(1), with(3));
    }
}
