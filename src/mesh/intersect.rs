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
//! Most of a part's surface is skipped whole: [`charts`] proves pieces of it free of
//! self-intersections at once, from their boundaries in an axis projection, and only the
//! triangles near another piece are searched. Candidate pairs among those come from a uniform
//! grid of cells about as large as a typical triangle: each triangle is listed in the cells its
//! bounding box covers, and a pair is tested only in the cell holding the lowest corner of the
//! overlap of their boxes, so it is tested once, and not at all when both lie in one chart.
//! Cells are processed in parallel and the pairs sorted, so the result does not depend on the
//! thread count. Degenerate triangles (collinear corners) and triangles with an index out of
//! range are left out: [`check_mesh`](super::check_mesh) reports them as degenerate.

use rayon::prelude::*;
use robust::{Coord, Coord3D, orient2d, orient3d};

use super::{TriangleMesh, sub};

mod charts;
use charts::NO_CHART;

type Point = [f64; 3];

/// All pairs `[s, t]` (`s < t`) of triangles of `mesh` that intersect, in increasing order.
pub fn self_intersecting_pairs(mesh: &TriangleMesh) -> Vec<[u32; 2]> {
    let Some(triangles) = Prepared::new(mesh) else {
        return Vec::new();
    };
    let listed = charts::listed(&triangles);
    let entries = triangles.cell_entries(&listed);
    let starts = runs(&entries);
    let mut pairs: Vec<[u32; 2]> = starts
        .par_windows(2)
        .map_init(Vec::new, |candidates: &mut Vec<Candidate>, w| {
            let group = &entries[w[0]..w[1]];
            let cell = (group[0] >> 32) as u32;
            // The cell's triangles side by side.
            candidates.clear();
            candidates.extend(group.iter().map(|&x| listed[x as u32 as usize]));
            let mut found = Vec::new();
            for (i, a) in candidates.iter().enumerate() {
                for b in &candidates[i + 1..] {
                    if !boxes_overlap(&a.bounds, &b.bounds)
                        || (a.chart == b.chart && a.chart != NO_CHART)
                    {
                        continue;
                    }
                    // The cell of the overlap's low corner, from the cells of the boxes' low
                    // corners (the cell index grows with the coordinate).
                    let low = std::array::from_fn(|k| a.low_cell[k].max(b.low_cell[k]));
                    if triangles.grid.linear(low) == cell && triangles.meet(&a.shape, &b.shape) {
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

/// Boxes (low and high corners) in single precision or exact: without short-circuits, so that
/// it compiles to straight-line code.
fn boxes_overlap<T: PartialOrd>(a: &[[T; 3]; 2], b: &[[T; 3]; 2]) -> bool {
    (a[0][0] <= b[1][0])
        & (b[0][0] <= a[1][0])
        & (a[0][1] <= b[1][1])
        & (b[0][1] <= a[1][1])
        & (a[0][2] <= b[1][2])
        & (b[0][2] <= a[1][2])
}

/// A triangle the search lists in the grid cells, with what it needs of it.
#[derive(Clone, Copy)]
struct Candidate {
    bounds: Bounds,
    low_cell: [u32; 3],
    shape: Shape,
    triangle: u32,
    /// Its chart ([`charts`]), or [`NO_CHART`].
    chart: u32,
}

/// The shape and corners of the triangle with corner indices `ids`, `None` when it is
/// unusable.
fn shape_of(ids: [u32; 3], vertices: &[Point]) -> Option<(Shape, [Point; 3])> {
    let n = vertices.len();
    if ids.iter().any(|&v| v as usize >= n)
        || ids[0] == ids[1]
        || ids[1] == ids[2]
        || ids[2] == ids[0]
    {
        return None;
    }
    let corners = ids.map(|v| vertices[v as usize]);
    if corners.iter().flatten().any(|x| !x.is_finite()) {
        return None;
    }
    let (axis, positive) = projection_axis(corners)?;
    let shape = Shape {
        ids,
        axis: axis as u8,
        facing: 2 * axis as u8 + u8::from(positive),
    };
    Some((shape, corners))
}

/// The exact box of a triangle's corners, low and high.
fn hull([a, b, c]: [Point; 3]) -> [Point; 2] {
    [
        std::array::from_fn(|k| a[k].min(b[k]).min(c[k])),
        std::array::from_fn(|k| a[k].max(b[k]).max(c[k])),
    ]
}

/// The facing of an unusable triangle.
const NO_FACING: u8 = u8::MAX;

/// Triangles per parallel task when the cell entries are written.
const ENTRY_BLOCK: usize = 4096;

/// A usable triangle as the tests need it: its vertex indices and the axis to drop for an
/// exact 2D projection.
#[derive(Clone, Copy)]
struct Shape {
    ids: [u32; 3],
    axis: u8,
    /// The side the triangle faces: `2 · axis`, plus one when its area projected along that
    /// axis is positive.
    facing: u8,
}

/// A bounding box in single precision, rounded outwards so that it holds the triangle: a
/// conservative first filter at half the memory of a double-precision box.
type Bounds = [[f32; 3]; 2];

fn bounds_of([a, b, c]: [Point; 3]) -> Bounds {
    // Moved outwards by two units in the last place of single precision before rounding to
    // it, which then lands on the outer side; the absolute term covers subnormals, and the
    // clamps keep coordinates beyond single precision's range conservative. No branch.
    const RELATIVE: f64 = 1.0 / (1u64 << 23) as f64;
    const ABSOLUTE: f64 = f32::MIN_POSITIVE as f64;
    const LARGEST: f64 = f32::MAX as f64;
    let low = |x: f64| (x - x.abs() * RELATIVE - ABSOLUTE).min(LARGEST) as f32;
    let high = |x: f64| (x + x.abs() * RELATIVE + ABSOLUTE).max(-LARGEST) as f32;
    [
        std::array::from_fn(|k| low(a[k].min(b[k]).min(c[k]))),
        std::array::from_fn(|k| high(a[k].max(b[k]).max(c[k]))),
    ]
}

/// The mesh as the tests need it: the side each triangle faces, in the mesh's order, the grid
/// of cells, and the triangles by chart group ([`charts::group_key`]). Boxes are computed from
/// the corners where they are needed: on a 2 M-triangle part, writing them all once and reading
/// them back in group order cost more time than computing them twice.
/// Unusable triangles (an index out of range, a repeated or non-finite corner, collinear
/// corners) face no side and are in no group.
struct Prepared<'a> {
    triangles: &'a [[u32; 3]],
    vertices: &'a [Point],
    facings: Vec<u8>,
    /// `group << 32 | triangle` for each usable triangle, sorted.
    groups: Vec<u64>,
    grid: CellGrid,
}

impl<'a> Prepared<'a> {
    /// `None` when the mesh has no finite vertex.
    fn new(mesh: &'a TriangleMesh) -> Option<Self> {
        let grid = CellGrid::new(mesh)?;
        // Unusable triangles go in one group past the last, which the sort puts at the end.
        let unusable = charts::group_count(&grid);
        let (facings, keys): (Vec<u8>, Vec<u64>) = (mesh.triangles.par_iter().enumerate())
            .map(|(t, &ids)| match shape_of(ids, &mesh.vertices) {
                Some((shape, corners)) => {
                    let low = hull(corners)[0];
                    let group = charts::group_key(&grid, shape.facing, low);
                    (shape.facing, group << 32 | t as u64)
                }
                None => (NO_FACING, unusable << 32 | t as u64),
            })
            .unzip();
        let mut groups = sorted_by_high_half(keys, unusable + 1);
        groups.truncate(groups.partition_point(|&key| key >> 32 < unusable));
        Some(Self {
            triangles: &mesh.triangles,
            vertices: &mesh.vertices,
            facings,
            groups,
            grid,
        })
    }

    /// Triangle `t`'s shape and box, `None` when it is unusable.
    fn triangle(&self, t: usize) -> Option<(Shape, Bounds)> {
        let facing = self.facings[t];
        let shape = Shape {
            ids: self.triangles[t],
            axis: facing / 2,
            facing,
        };
        (facing != NO_FACING).then(|| (shape, self.bounds(t)))
    }

    /// The box of the usable triangle `t`.
    fn bounds(&self, t: usize) -> Bounds {
        bounds_of(self.corners(t))
    }

    /// The corners of the usable triangle `t`.
    fn corners(&self, t: usize) -> [Point; 3] {
        self.triangles[t].map(|v| self.vertices[v as usize])
    }

    /// Triangle `t` as the search lists it, `None` when it is unusable.
    fn candidate(&self, t: usize, chart: u32) -> Option<Candidate> {
        let (shape, bounds) = self.triangle(t)?;
        Some(Candidate {
            bounds,
            low_cell: self.grid.index(bounds[0]),
            shape,
            triangle: t as u32,
            chart,
        })
    }

    /// Every listed triangle in every grid cell its box covers, as `cell << 32 | place` (its
    /// place in `listed`), sorted, so that the triangles of a cell come together.
    fn cell_entries(&self, listed: &[Candidate]) -> Vec<u64> {
        // Counted first, so that each block of triangles writes its entries in parallel into
        // a place of its own.
        let counts: Vec<usize> = listed
            .par_iter()
            .map(|c| {
                let high = self.grid.index(c.bounds[1]);
                (0..3)
                    .map(|k| (high[k] - c.low_cell[k] + 1) as usize)
                    .product()
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
        blocks.into_par_iter().for_each(|(places, block)| {
            let listed = places.flat_map(|place| {
                (self.grid.cells_of(&listed[place].bounds))
                    .map(move |cell| (u64::from(cell) << 32) | place as u64)
            });
            for (slot, entry) in block.iter_mut().zip(listed) {
                *slot = entry;
            }
        });
        let cells = self.grid.dims.iter().map(|&d| u64::from(d)).product();
        sorted_by_high_half(entries, cells)
    }

    /// The exact test of whether two usable triangles intersect.
    fn meet(&self, shape_s: &Shape, shape_t: &Shape) -> bool {
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

/// Where the runs of equal high halves start in the sorted `keys`, and their end: the bounds of
/// each cell's entries or each group's triangles.
fn runs(keys: &[u64]) -> Vec<usize> {
    let mut starts: Vec<usize> = (0..keys.len())
        .into_par_iter()
        .filter(|&i| i == 0 || keys[i] >> 32 != keys[i - 1] >> 32)
        .collect();
    starts.push(keys.len());
    starts
}

/// Most bits of the high half sorted in one pass of [`sorted_by_high_half`]: at most 65,536
/// counters, which stay in the second-level cache.
const RADIX_BITS: u32 = 16;

/// `keys`, whose low halves do not decrease, sorted by their high halves (all below `bound`),
/// so that they come out in increasing order: a least-significant-digit radix sort (Knuth,
/// TAOCP vol. 3, 5.2.5), whose stable passes keep the low halves in order within a high half.
/// The high halves' bits are shared evenly among the fewest passes of at most [`RADIX_BITS`]
/// (measured on a 2 M-triangle part with 4,356 chart groups: one pass of 13 bits took 0.0066 s,
/// two of 12 and 1 bits 0.010 s, a comparison sort on two threads 0.03 s). Each pass is split
/// over the threads by chunks of keys, each writing its keys into places of its own (the same
/// part: the pass over the triangles with the sort took 6 % less, the cell entries with theirs
/// 17 % less; split by ranges of digits instead, it was slower, each thread reading every key).
fn sorted_by_high_half(keys: Vec<u64>, bound: u64) -> Vec<u64> {
    let bits = 64 - bound.saturating_sub(1).leading_zeros();
    if bits == 0 {
        return keys;
    }
    let width = bits.div_ceil(bits.div_ceil(RADIX_BITS));
    let digits = 1usize << width;
    let chunk = keys
        .len()
        .div_ceil(rayon::current_num_threads())
        .max(SORT_CHUNK)
        .max(4 * digits);
    let mut to = vec![0; keys.len()];
    let mut from = keys;
    for shift in (32..32 + bits).step_by(width as usize) {
        let digit = |key: u64| ((key >> shift) & (digits as u64 - 1)) as usize;
        // Each chunk of keys counts its digits, and gets for each digit the part of the output
        // that its keys of that digit fill: after the earlier digits, and within its digit after
        // the earlier chunks, so that the pass is stable whatever the chunks are.
        let counts: Vec<Vec<usize>> = from
            .par_chunks(chunk)
            .map(|keys| {
                let mut count = vec![0usize; digits];
                for &key in keys {
                    count[digit(key)] += 1;
                }
                count
            })
            .collect();
        let mut places: Vec<Vec<&mut [u64]>> = counts.iter().map(|_| Vec::new()).collect();
        let mut rest = to.as_mut_slice();
        for d in 0..digits {
            for (count, place) in counts.iter().zip(&mut places) {
                let (part, tail) = std::mem::take(&mut rest).split_at_mut(count[d]);
                place.push(part);
                rest = tail;
            }
        }
        (from.par_chunks(chunk).zip(places)).for_each(|(keys, mut place)| {
            for &key in keys {
                let part = &mut place[digit(key)];
                let (slot, tail) = std::mem::take(part)
                    .split_first_mut()
                    .expect("room counted for each key");
                *slot = key;
                *part = tail;
            }
        });
        std::mem::swap(&mut from, &mut to);
    }
    from
}

/// Fewest keys a thread sorts in [`sorted_by_high_half`]: below this, one thread does it all.
/// A chunk also has at least four keys per digit, so that handing out a place per digit and
/// chunk costs less than the keys it places, however many threads there are.
const SORT_CHUNK: usize = 1 << 16;

/// Triangles whose extents set the grid's cell size at most: the median of an even sample of
/// this many is as good a size as the median of all.
const EXTENT_SAMPLES: usize = 1 << 16;

/// The uniform grid of candidate cells.
#[derive(Default)]
struct CellGrid {
    origin: Point,
    /// Cells per mm: a product is cheaper than a division, and as monotone, which is all the
    /// search needs of the cell index (measured on a 2 M-triangle part: the pass over the
    /// triangles with its sort took 11 % less, the whole check 5 % less).
    cells_per_mm: f64,
    dims: [u32; 3],
}

impl CellGrid {
    /// A grid over the finite vertices with cells of twice the median triangle's extent (over
    /// at most [`EXTENT_SAMPLES`] usable triangles, evenly spread), but no more than about 64
    /// cells per triangle (and 2·10⁹ in all, so that a cell number fits 32 bits). `None`
    /// without a finite vertex.
    fn new(mesh: &TriangleMesh) -> Option<Self> {
        let finite = mesh
            .vertices
            .par_iter()
            .filter(|p| p.iter().all(|x| x.is_finite()));
        let (origin, top) = finite
            .fold(
                || ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]),
                |(low, high), p| {
                    (
                        std::array::from_fn(|k| low[k].min(p[k])),
                        std::array::from_fn(|k| high[k].max(p[k])),
                    )
                },
            )
            .reduce(
                || ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]),
                |(l1, h1), (l2, h2)| {
                    (
                        std::array::from_fn(|k| l1[k].min(l2[k])),
                        std::array::from_fn(|k| h1[k].max(h2[k])),
                    )
                },
            );
        if origin[0] > top[0] {
            return None;
        }
        // The boxes are rounded outwards to single precision, so the grid is too.
        let origin = bounds_of([origin; 3])[0].map(f64::from);
        let top = bounds_of([top; 3])[1].map(f64::from);
        let count = mesh.triangles.len();
        let stride = count.div_ceil(EXTENT_SAMPLES).max(1);
        let mut extents: Vec<f64> = (0..count.div_ceil(stride))
            .into_par_iter()
            .map(|i| i * stride)
            .filter_map(|t| shape_of(mesh.triangles[t], &mesh.vertices))
            .map(|(_, corners)| {
                let b = bounds_of(corners);
                (0..3)
                    .map(|k| f64::from(b[1][k] - b[0][k]))
                    .fold(0.0, f64::max)
            })
            .collect();
        let span = (0..3).map(|k| top[k] - origin[k]).fold(0.0, f64::max);
        let median = if extents.is_empty() {
            span
        } else {
            let middle = extents.len() / 2;
            *extents.select_nth_unstable_by(middle, f64::total_cmp).1
        };
        let mut cell_mm = (2.0 * median).max(span * 1e-9).max(f64::MIN_POSITIVE);
        let limit = (64.0 * count as f64 + 64.0).min(2e9);
        let cells = |size: f64| (0..3).map(move |k| ((top[k] - origin[k]) / size).floor() + 1.0);
        while cells(cell_mm).product::<f64>() > limit {
            cell_mm *= 1.25;
        }
        let dims = [0, 1, 2].map(|k| ((top[k] - origin[k]) / cell_mm).floor() as u32 + 1);
        Some(Self {
            origin,
            cells_per_mm: 1.0 / cell_mm,
            dims,
        })
    }

    fn index(&self, p: [f32; 3]) -> [u32; 3] {
        self.index_of_point(p.map(f64::from))
    }

    fn index_of_point(&self, p: Point) -> [u32; 3] {
        // A cast truncates towards zero and saturates, which is the floor for what is not
        // below zero (the rest is clamped to 0 anyway): no call to the library's `floor`.
        std::array::from_fn(|k| {
            let i = (p[k] - self.origin[k]) * self.cells_per_mm;
            ((i.max(0.0)) as u32).min(self.dims[k] - 1)
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

/// `orient3d(a, b, c, d)`, or a number of the same sign: Shewchuk's first stage, inlined,
/// decides nearly every call of the search, and the crate's adaptive stages the rest.
#[inline]
fn o3(a: Point, b: Point, c: Point, d: Point) -> f64 {
    let (ad, bd, cd) = (sub(a, d), sub(b, d), sub(c, d));
    let (bdx_cdy, cdx_bdy) = (bd[0] * cd[1], cd[0] * bd[1]);
    let (cdx_ady, adx_cdy) = (cd[0] * ad[1], ad[0] * cd[1]);
    let (adx_bdy, bdx_ady) = (ad[0] * bd[1], bd[0] * ad[1]);
    let det =
        ad[2] * (bdx_cdy - cdx_bdy) + bd[2] * (cdx_ady - adx_cdy) + cd[2] * (adx_bdy - bdx_ady);
    let permanent = (bdx_cdy.abs() + cdx_bdy.abs()) * ad[2].abs()
        + (cdx_ady.abs() + adx_cdy.abs()) * bd[2].abs()
        + (adx_bdy.abs() + bdx_ady.abs()) * cd[2].abs();
    if det.abs() > ORIENT3D_ERROR * permanent {
        return det;
    }
    exact_o3(a, b, c, d)
}

/// Shewchuk's bound on the rounding of `orient3d`'s first stage relative to its permanent,
/// `(7 + 56ε)ε` with `ε = 2⁻⁵³`.
const ORIENT3D_ERROR: f64 = (7.0 + 56.0 * f64::EPSILON / 2.0) * f64::EPSILON / 2.0;

fn exact_o3(a: Point, b: Point, c: Point, d: Point) -> f64 {
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
/// largest component first, and whether that area is positive; `None` for collinear corners.
fn projection_axis(t: [Point; 3]) -> Option<(usize, bool)> {
    // The area projected along axis `k` is component `k` of `(a − c) × (b − c)`, each the
    // difference of two products as `orient2d` forms them; all three at once, picked by value
    // rather than by a computed index, which went through memory (measured on a 2 M-triangle
    // part: the pass over the triangles with its sort took 7 % less, the whole check 3 % less).
    let (ac, bc) = (sub(t[0], t[2]), sub(t[1], t[2]));
    let left = [ac[1] * bc[2], ac[2] * bc[0], ac[0] * bc[1]];
    let right = [ac[2] * bc[1], ac[0] * bc[2], ac[1] * bc[0]];
    let n: [f64; 3] = std::array::from_fn(|k| left[k] - right[k]);
    let m = n.map(f64::abs);
    let (first, area, magnitude) = if m[0] >= m[1] && m[0] >= m[2] {
        (0, n[0], left[0].abs() + right[0].abs())
    } else if m[1] >= m[2] {
        (1, n[1], left[1].abs() + right[1].abs())
    } else {
        (2, n[2], left[2].abs() + right[2].abs())
    };
    // `orient2d`'s own first stage, inlined: on a part's triangles it decides nearly all.
    if area.abs() > ORIENT2D_ERROR * magnitude {
        return Some((first, area > 0.0));
    }
    [first, (first + 1) % 3, (first + 2) % 3]
        .into_iter()
        .find_map(|k| {
            let area = o2(t[0], t[1], t[2], k);
            (area != 0.0).then_some((k, area > 0.0))
        })
}

/// Shewchuk's bound on the rounding of a 2D orientation in floating point relative to the sum
/// of its two products' magnitudes, `(3 + 16ε)ε` with `ε = 2⁻⁵³`: an orientation larger than
/// this has its sign.
const ORIENT2D_ERROR: f64 = (3.0 + 16.0 * f64::EPSILON / 2.0) * f64::EPSILON / 2.0;

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
        let n = prepared.facings.len();
        let mut pairs = Vec::new();
        for s in 0..n {
            for t in s + 1..n {
                if let (Some((a, _)), Some((b, _))) = (prepared.triangle(s), prepared.triangle(t))
                    && prepared.meet(&a, &b)
                {
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
    fn the_radix_sort_gives_the_sorted_keys_on_any_number_of_threads() {
        // Low halves in increasing order, high halves from a simple generator, below `bound`:
        // one pass, one with every bit, and two passes; a few keys and more than one chunk.
        let mut random = crate::mesh::test_support::Lcg(12345);
        for (len, bound) in [
            (0, 7),
            (5, 1),
            (5, 300),
            (200_000, 1 << 16),
            (150_001, 1 << 20),
        ] {
            let keys: Vec<u64> = (0..len)
                .map(|i| ((random.next() * bound as f64) as u64) << 32 | i)
                .collect();
            let mut expected = keys.clone();
            expected.sort_unstable();
            for threads in [1, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .expect("a thread pool");
                let sorted = pool.install(|| sorted_by_high_half(keys.clone(), bound));
                assert_eq!(
                    sorted, expected,
                    "{len} keys below {bound}, {threads} threads"
                );
            }
        }
    }

    #[test]
    fn unusable_triangles_are_left_out_wherever_they_are() {
        let through = merged(&cube(1.0, [0.0; 3]), &cube(1.0, [0.5, 0.2, 0.3]));
        let expected = self_intersecting_pairs(&through);
        assert!(!expected.is_empty());
        // Before, among and after the usable ones: a repeated corner, an index out of range, a
        // corner at NaN, collinear corners.
        let mut mixed = through.clone();
        let nan = mixed.vertices.len() as u32;
        mixed.vertices.push([f64::NAN; 3]);
        mixed.vertices.push([0.5, 0.0, 0.0]);
        let unusable = [[0, 0, 1], [0, 1, 10_000], [0, 1, nan], [0, 1, nan + 1]];
        let cut = [0, through.triangles.len() / 2, through.triangles.len()];
        for &c in cut.iter().rev() {
            for ids in unusable {
                mixed.triangles.insert(c, ids);
            }
        }
        // Where each triangle of `through` went.
        let moved: Vec<u32> = (0..mixed.triangles.len() as u32)
            .filter(|&t| !unusable.contains(&mixed.triangles[t as usize]))
            .collect();
        let mapped: Vec<[u32; 2]> = expected
            .iter()
            .map(|p| p.map(|t| moved[t as usize]))
            .collect();
        assert_eq!(self_intersecting_pairs(&mixed), mapped);
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
            let (Some((axis_s, _)), Some((axis_t, _))) = (projection_axis(s), projection_axis(t))
            else {
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
    /// in places: the search with its charts finds exactly the brute-force pairs.
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
