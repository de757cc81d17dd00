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

use super::{TriangleMesh, cross, sub};

type Point = [f64; 3];

/// All pairs `[s, t]` (`s < t`) of triangles of `mesh` that intersect, in increasing order.
pub fn self_intersecting_pairs(mesh: &TriangleMesh) -> Vec<[u32; 2]> {
    let triangles = Prepared::new(mesh);
    let Some(grid) = CellGrid::new(&triangles) else {
        return Vec::new();
    };
    // Each entry is `cell << 32 | triangle`: one sort groups the triangles by cell.
    let mut entries: Vec<u64> = triangles
        .boxes
        .par_iter()
        .enumerate()
        .filter(|(t, _)| triangles.axis[*t].is_some())
        .flat_map_iter(|(t, bounds)| {
            grid.cells_of(bounds)
                .map(move |cell| (u64::from(cell) << 32) | t as u64)
        })
        .collect();
    entries.par_sort_unstable();
    let mut starts: Vec<usize> = (0..entries.len())
        .filter(|&i| i == 0 || entries[i] >> 32 != entries[i - 1] >> 32)
        .collect();
    starts.push(entries.len());
    let mut pairs: Vec<[u32; 2]> = starts
        .par_windows(2)
        .flat_map_iter(|w| {
            let group = &entries[w[0]..w[1]];
            let cell = (group[0] >> 32) as u32;
            let mut found = Vec::new();
            for (i, &x) in group.iter().enumerate() {
                let s = x as u32;
                for &y in &group[i + 1..] {
                    let t = y as u32;
                    let (a, b) = (&triangles.boxes[s as usize], &triangles.boxes[t as usize]);
                    if !boxes_overlap(a, b) {
                        continue;
                    }
                    let low: Point = std::array::from_fn(|k| a[0][k].max(b[0][k]));
                    if grid.cell_of(low) == cell && triangles.intersect(s, t) {
                        found.push([s.min(t), s.max(t)]);
                    }
                }
            }
            found
        })
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

fn boxes_overlap(a: &[Point; 2], b: &[Point; 2]) -> bool {
    (0..3).all(|k| a[0][k] <= b[1][k] && b[0][k] <= a[1][k])
}

/// The triangles with what the tests need: bounding boxes and, for each usable triangle, the
/// axis to drop for an exact 2D projection (`None` for unusable ones).
struct Prepared<'a> {
    mesh: &'a TriangleMesh,
    boxes: Vec<[Point; 2]>,
    axis: Vec<Option<usize>>,
}

impl<'a> Prepared<'a> {
    fn new(mesh: &'a TriangleMesh) -> Self {
        let n = mesh.vertices.len();
        let (boxes, axis) = mesh
            .triangles
            .par_iter()
            .map(|t| {
                if t.iter().any(|&v| v as usize >= n)
                    || t[0] == t[1]
                    || t[1] == t[2]
                    || t[2] == t[0]
                {
                    return ([[0.0; 3]; 2], None);
                }
                let [a, b, c] = t.map(|v| mesh.vertices[v as usize]);
                if [a, b, c].iter().flatten().any(|x| !x.is_finite()) {
                    return ([[0.0; 3]; 2], None);
                }
                let bounds = [
                    std::array::from_fn(|k| a[k].min(b[k]).min(c[k])),
                    std::array::from_fn(|k| a[k].max(b[k]).max(c[k])),
                ];
                (bounds, projection_axis([a, b, c]))
            })
            .unzip();
        Self { mesh, boxes, axis }
    }

    fn corners(&self, t: u32) -> [Point; 3] {
        self.mesh.triangles[t as usize].map(|v| self.mesh.vertices[v as usize])
    }

    /// Whether usable triangles `s` and `t` intersect (see the module documentation).
    fn intersect(&self, s: u32, t: u32) -> bool {
        let (ts, tt) = (
            self.mesh.triangles[s as usize],
            self.mesh.triangles[t as usize],
        );
        let (Some(axis_s), Some(axis_t)) = (self.axis[s as usize], self.axis[t as usize]) else {
            return false;
        };
        let (ps, pt) = (self.corners(s), self.corners(t));
        let shared: Vec<(usize, usize)> = (0..3)
            .flat_map(|i| (0..3).map(move |j| (i, j)))
            .filter(|&(i, j)| ts[i] == tt[j])
            .collect();
        match shared[..] {
            [] => disjoint_triangles_meet(ps, pt, axis_s),
            [(i, j)] => {
                // Rotate both so that the shared vertex comes first.
                let s = [ps[i], ps[(i + 1) % 3], ps[(i + 2) % 3]];
                let t = [pt[j], pt[(j + 1) % 3], pt[(j + 2) % 3]];
                triangles_at_a_vertex_meet(s, axis_s, t, axis_t)
            }
            [(i0, j0), (i1, j1)] => {
                let (apex_s, apex_t) = (ps[3 - i0 - i1], pt[3 - j0 - j1]);
                let (u, v) = (ps[i0], ps[i1]);
                sign(o3(u, v, apex_s, apex_t)) == 0
                    && sign(o2(u, v, apex_s, axis_s)) == sign(o2(u, v, apex_t, axis_s))
            }
            _ => true,
        }
    }
}

/// The uniform grid of candidate cells.
struct CellGrid {
    origin: Point,
    cell_mm: f64,
    dims: [u32; 3],
}

impl CellGrid {
    /// A grid over all usable triangles with cells of about the median triangle's extent, but no
    /// more cells than about four per triangle. `None` when no triangle is usable.
    fn new(triangles: &Prepared) -> Option<Self> {
        let usable = || {
            triangles
                .boxes
                .iter()
                .zip(&triangles.axis)
                .filter(|(_, a)| a.is_some())
                .map(|(b, _)| b)
        };
        let count = usable().count();
        if count == 0 {
            return None;
        }
        let mut origin = [f64::INFINITY; 3];
        let mut top = [f64::NEG_INFINITY; 3];
        for b in usable() {
            for k in 0..3 {
                origin[k] = origin[k].min(b[0][k]);
                top[k] = top[k].max(b[1][k]);
            }
        }
        let mut extents: Vec<f64> = usable()
            .map(|b| (0..3).map(|k| b[1][k] - b[0][k]).fold(0.0, f64::max))
            .collect();
        let middle = extents.len() / 2;
        let (_, median, _) = extents.select_nth_unstable_by(middle, f64::total_cmp);
        let span = (0..3).map(|k| top[k] - origin[k]).fold(0.0, f64::max);
        let mut cell_mm = median.max(span * 1e-9).max(f64::MIN_POSITIVE);
        let limit = 4.0 * count as f64 + 64.0;
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

    fn index(&self, p: Point) -> [u32; 3] {
        std::array::from_fn(|k| {
            let i = ((p[k] - self.origin[k]) / self.cell_mm).floor();
            (i.max(0.0) as u32).min(self.dims[k] - 1)
        })
    }

    fn linear(&self, [i, j, k]: [u32; 3]) -> u32 {
        i + self.dims[0] * (j + self.dims[1] * k)
    }

    fn cell_of(&self, p: Point) -> u32 {
        self.linear(self.index(p))
    }

    fn cells_of(&self, bounds: &[Point; 2]) -> impl Iterator<Item = u32> + '_ {
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
    let n = cross(sub(t[1], t[0]), sub(t[2], t[0]));
    let mut axes = [0, 1, 2];
    axes.sort_by(|&i, &j| n[j].abs().total_cmp(&n[i].abs()));
    axes.into_iter().find(|&k| o2(t[0], t[1], t[2], k) != 0.0)
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
    let (sp, sq) = (sign(o3(a, b, c, p)), sign(o3(a, b, c, q)));
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

/// Triangles `s` and `t` with no vertex in common have a point in common.
fn disjoint_triangles_meet(s: [Point; 3], t: [Point; 3], axis_s: usize) -> bool {
    let t_against_s = t.map(|p| sign(o3(s[0], s[1], s[2], p)));
    if one_strict_side(t_against_s) {
        return false;
    }
    if one_strict_side(s.map(|p| sign(o3(t[0], t[1], t[2], p)))) {
        return false;
    }
    if t_against_s == [0; 3] {
        // Coplanar: an edge crossing, or one inside the other.
        return edges(s).iter().any(|&(p, q)| {
            edges(t)
                .iter()
                .any(|&(a, b)| segments_meet_2d(p, q, a, b, axis_s))
        }) || point_in_triangle_2d(s[0], t, axis_s)
            || point_in_triangle_2d(t[0], s, axis_s);
    }
    let axis_t = projection_axis(t).unwrap_or(axis_s);
    edges(s)
        .iter()
        .any(|&(p, q)| segment_meets_triangle(p, q, t, axis_t))
        || edges(t)
            .iter()
            .any(|&(p, q)| segment_meets_triangle(p, q, s, axis_s))
}

/// Triangles `s = [v, b, c]` and `t = [v, e, f]` sharing only the vertex `v` have another point
/// in common.
///
/// Their common part is a segment from `v` or nothing more. Its far end lies on an edge of one
/// of them: on the edge opposite `v`, which is tested directly, or on an edge through `v`, and
/// then that whole edge runs from `v` into the other triangle, in its plane and inside its
/// corner at `v`.
fn triangles_at_a_vertex_meet(s: [Point; 3], axis_s: usize, t: [Point; 3], axis_t: usize) -> bool {
    let into_corner = |x: Point, t: [Point; 3], axis: usize| {
        let [v, e, f] = t;
        if sign(o3(v, e, f, x)) != 0 {
            return false;
        }
        let turn = sign(o2(v, e, f, axis));
        turn * sign(o2(v, e, x, axis)) >= 0 && turn * sign(o2(v, x, f, axis)) >= 0
    };
    segment_meets_triangle(s[1], s[2], t, axis_t)
        || segment_meets_triangle(t[1], t[2], s, axis_s)
        || into_corner(s[1], t, axis_t)
        || into_corner(s[2], t, axis_t)
        || into_corner(t[1], s, axis_s)
        || into_corner(t[2], s, axis_s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::test_support::cube;

    /// Every pair by brute force, with the same exact pair test.
    fn brute_force(mesh: &TriangleMesh) -> Vec<[u32; 2]> {
        let prepared = Prepared::new(mesh);
        let n = mesh.triangles.len() as u32;
        let mut pairs = Vec::new();
        for s in 0..n {
            for t in s + 1..n {
                if prepared.axis[s as usize].is_some()
                    && prepared.axis[t as usize].is_some()
                    && prepared.intersect(s, t)
                {
                    pairs.push([s, t]);
                }
            }
        }
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
        let join = |a: TriangleMesh, b: TriangleMesh| {
            let offset = a.vertices.len() as u32;
            let mut m = a;
            m.vertices.extend(b.vertices);
            m.triangles
                .extend(b.triangles.iter().map(|t| t.map(|v| v + offset)));
            m
        };
        let apart = join(cube(1.0, [0.0; 3]), cube(1.0, [1.5, 0.2, 0.3]));
        assert!(self_intersecting_pairs(&apart).is_empty());
        let through = join(cube(1.0, [0.0; 3]), cube(1.0, [0.5, 0.2, 0.3]));
        let pairs = self_intersecting_pairs(&through);
        assert!(!pairs.is_empty());
        assert_eq!(pairs, brute_force(&through));
        // Touching face to face, no vertex shared: coplanar overlap.
        let touching = join(cube(1.0, [0.0; 3]), cube(1.0, [1.0, 0.2, 0.3]));
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

    #[test]
    fn thread_count_does_not_change_the_pairs() {
        let mut m = cube(1.0, [0.0; 3]);
        let other = cube(1.0, [0.5, 0.5, 0.5]);
        let offset = m.vertices.len() as u32;
        m.vertices.extend(other.vertices);
        m.triangles
            .extend(other.triangles.iter().map(|t| t.map(|v| v + offset)));
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
