//! Printability checks for triangle meshes.
//!
//! A slicer needs a closed 2-manifold with consistent orientation: every
//! edge shared by exactly two triangles that traverse it in opposite
//! directions, every vertex surrounded by a single fan of triangles, and no
//! zero-area triangles. These are the standard edge- and vertex-incidence
//! tests (see Botsch et al., "Polygon Mesh Processing", A K Peters 2010,
//! ch. 2). They are computed by bucketing half-edges under their smaller
//! vertex (a counting sort) instead of hashing, which keeps the check
//! linear-time and fast on the multi-million-triangle meshes that voxel
//! fields produce; triangles and the corners around each vertex are then
//! grouped with union-find.
//!
//! The surface is also split into shells, the pieces connected through
//! shared edges, each with its volume, Euler characteristic and genus, so a
//! caller can spot floating islands, inverted or inner shells and
//! unexpected holes and handles.

use serde::Serialize;

use super::intersect::{pair_location, self_intersecting_pairs};
use super::{TriangleMesh, cross, dot, sub};

/// A triangle whose area is at most this times the square of the mesh's bounding-box diagonal
/// is degenerate: its normal is rounding noise.
pub(crate) const DEGENERATE_AREA_PER_DIAGONAL_SQUARED: f64 = 1e-12;

/// Result of [`check_mesh`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MeshReport {
    /// Number of triangles.
    pub triangles: usize,
    /// Number of vertices stored, referenced or not.
    pub vertices: usize,
    /// Edges used by exactly one triangle: holes in the surface.
    pub boundary_edges: usize,
    /// Edges used by more than two triangles.
    pub non_manifold_edges: usize,
    /// Edges used by exactly two triangles that both traverse it in the same
    /// direction, i.e. with opposite orientations.
    pub inconsistent_edges: usize,
    /// Vertices whose triangles form more than one fan (a set of triangles
    /// linked through edges at that vertex): pinch points such as two shells
    /// touching at a corner (a bow-tie), which slicers repair unpredictably.
    /// Triangles around a non-manifold edge count as one fan, since that
    /// defect is reported in [`non_manifold_edges`](Self::non_manifold_edges).
    pub non_manifold_vertices: usize,
    /// Triangles with area ≤ 1e-12 · (bounding-box diagonal)², a repeated
    /// vertex, or a vertex index out of range.
    pub degenerate_triangles: usize,
    /// Enclosed volume in mm³ ([`TriangleMesh::signed_volume`]); positive for
    /// a closed outward-oriented mesh.
    pub signed_volume_mm3: f64,
    /// Total area of the triangles in mm², skipping those with a vertex
    /// index out of range.
    pub surface_area_mm2: f64,
    /// `V - E + F` over referenced vertices, distinct edges and triangles:
    /// 2 per closed sphere-like shell, minus 2 per handle.
    pub euler_characteristic: i64,
    /// `[min, max]` corner of the referenced vertices in mm; all zeros for a
    /// mesh without valid triangles.
    pub bounding_box_mm: [[f64; 3]; 2],
    /// The connected pieces of the surface, in the order of [`shells`].
    pub shells: Vec<ShellReport>,
    /// Pairs of triangles that intersect where they should not: the surface passes through or
    /// touches itself, so it bounds no solid (see [`super::intersect`]).
    pub self_intersections: usize,
    /// Near where the first of them lie (at most [`LISTED_INTERSECTIONS`]), in mm: the midpoint
    /// of the two triangles' centroids, pairs in increasing order of their triangle indices.
    pub self_intersection_locations_mm: Vec<[f64; 3]>,
}

/// How many self-intersections a [`MeshReport`] locates.
pub const LISTED_INTERSECTIONS: usize = 10;

/// One shell of a mesh: a maximal set of triangles connected through shared
/// edges (triangles that only touch at a vertex are in different shells).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShellReport {
    /// Number of triangles in the shell.
    pub triangles: usize,
    /// Volume enclosed by the shell in mm³: positive for an outward-oriented
    /// closed shell, negative for an inverted one, such as the inner wall of
    /// a cavity.
    pub signed_volume_mm3: f64,
    /// `V - E + F` of the shell alone; a vertex the shell shares with
    /// another shell counts in both.
    pub euler_characteristic: i64,
    /// Number of handles, `(2 - χ) / 2`, when the shell is a closed
    /// orientable surface: no boundary or non-manifold edges, no pinched
    /// vertex within the shell, no triangle with a repeated or missing
    /// vertex, and its triangles can be oriented consistently (they need not
    /// be). `None` otherwise, since χ then does not determine a genus.
    pub genus: Option<i64>,
}

impl MeshReport {
    /// True when the mesh is closed, manifold along every edge and at every
    /// vertex, consistently oriented and free of degenerate triangles, i.e.
    /// fit to slice.
    pub fn is_watertight(&self) -> bool {
        self.boundary_edges == 0
            && self.non_manifold_edges == 0
            && self.non_manifold_vertices == 0
            && self.inconsistent_edges == 0
            && self.degenerate_triangles == 0
    }

    /// True when the mesh is watertight ([`is_watertight`](Self::is_watertight)) and does not
    /// intersect itself: the boundary of a solid, which tet meshers and CAD accept.
    pub fn is_solid(&self) -> bool {
        self.is_watertight() && self.self_intersections == 0
    }
}

/// Meshes with more triangles than this are refused: corners (three per
/// triangle) are numbered with `u32` to halve the memory of the check.
const MAX_TRIANGLES: usize = u32::MAX as usize / 3;

/// Checks a mesh for the defects that break slicing; see [`MeshReport`].
///
/// Runs in time close to linear in the mesh size (a fraction of a second per
/// million triangles) and never panics, whatever the indices in the mesh.
///
/// # Panics
///
/// If the mesh has more than `u32::MAX / 3` (about 1.4 billion) triangles,
/// far more than any slicer loads.
pub fn check_mesh(mesh: &TriangleMesh) -> MeshReport {
    check_mesh_knowing(mesh, self_intersecting_pairs(mesh))
}

/// [`check_mesh`] for a caller that has just found the mesh's self-intersecting pairs
/// ([`self_intersecting_pairs`]), so that they are not searched for twice.
pub(crate) fn check_mesh_knowing(mesh: &TriangleMesh, intersecting: Vec<[u32; 2]>) -> MeshReport {
    let vertex_count = mesh.vertices.len();
    let valid = |tri: &[u32; 3]| is_valid(tri, vertex_count);

    let mut referenced = vec![false; vertex_count];
    let mut min = [f64::INFINITY; 3];
    let mut max = [f64::NEG_INFINITY; 3];
    for tri in mesh.triangles.iter().filter(|t| valid(t)) {
        for &i in tri {
            let i = i as usize;
            if !referenced[i] {
                referenced[i] = true;
                let v = mesh.vertices[i];
                for axis in 0..3 {
                    min[axis] = min[axis].min(v[axis]);
                    max[axis] = max[axis].max(v[axis]);
                }
            }
        }
    }
    let referenced_count = referenced.iter().filter(|&&r| r).count();
    let bounding_box_mm = if referenced_count == 0 {
        [[0.0; 3]; 2]
    } else {
        [min, max]
    };
    let diagonal = sub(bounding_box_mm[1], bounding_box_mm[0]);
    let area_threshold = DEGENERATE_AREA_PER_DIAGONAL_SQUARED * dot(diagonal, diagonal);

    let edges = EdgeTable::new(mesh);
    let (mut forest, conflicts) = join_triangles(&edges, mesh.triangles.len());
    let (shell_of, shell_count) = label_shells(&mut forest);
    let mut tally = vec![ShellTally::default(); shell_count];
    for t in conflicts {
        tally[shell_of[t as usize] as usize].closed_manifold = false;
    }

    let mut degenerate_triangles = 0;
    let mut surface_area_mm2 = 0.0;
    for (tri, &shell) in mesh.triangles.iter().zip(&shell_of) {
        let tally = &mut tally[shell as usize];
        tally.triangles += 1;
        if !valid(tri) {
            degenerate_triangles += 1;
            tally.closed_manifold = false;
            continue;
        }
        let [a, b, c] = tri.map(|i| mesh.vertices[i as usize]);
        tally.six_volume += dot(a, cross(b, c));
        let n = cross(sub(b, a), sub(c, a));
        let area = 0.5 * dot(n, n).sqrt();
        surface_area_mm2 += area;
        let repeated = tri[0] == tri[1] || tri[1] == tri[2] || tri[2] == tri[0];
        if repeated {
            tally.closed_manifold = false;
        }
        // A NaN area (from NaN coordinates) also counts as degenerate.
        if repeated || area.is_nan() || area <= area_threshold {
            degenerate_triangles += 1;
        }
    }

    let mut boundary_edges = 0;
    let mut non_manifold_edges = 0;
    let mut inconsistent_edges = 0;
    let mut distinct_edges = 0usize;
    // Corners (3 · triangle + slot) of one vertex are joined through each
    // edge at that vertex, so the sets at a vertex are its fans.
    let mut corners = Forest::new(3 * mesh.triangles.len());
    for group in edges.groups() {
        distinct_edges += 1;
        let tally = &mut tally[shell_of[group[0].triangle as usize] as usize];
        tally.edges += 1;
        match group {
            [_] => {
                boundary_edges += 1;
                tally.closed_manifold = false;
            }
            [x, y] => {
                if x.forward == y.forward {
                    inconsistent_edges += 1;
                }
            }
            _ => {
                non_manifold_edges += 1;
                tally.closed_manifold = false;
            }
        }
        let (low, high) = group[0].corners();
        for other in &group[1..] {
            let (other_low, other_high) = other.corners();
            corners.union(low, other_low, false);
            corners.union(high, other_high, false);
        }
    }

    let non_manifold_vertices = count_vertices(mesh, &corners, &shell_of, &mut tally);

    let euler_characteristic =
        referenced_count as i64 - distinct_edges as i64 + mesh.triangles.len() as i64;
    MeshReport {
        triangles: mesh.triangles.len(),
        vertices: vertex_count,
        boundary_edges,
        non_manifold_edges,
        inconsistent_edges,
        non_manifold_vertices,
        degenerate_triangles,
        signed_volume_mm3: mesh.signed_volume(),
        surface_area_mm2,
        euler_characteristic,
        bounding_box_mm,
        shells: tally.iter().map(ShellTally::report).collect(),
        self_intersections: intersecting.len(),
        self_intersection_locations_mm: intersecting
            .iter()
            .take(LISTED_INTERSECTIONS)
            .map(|&pair| pair_location(mesh, pair))
            .collect(),
    }
}

/// Triangle indices of each shell of `mesh` (see [`ShellReport`]), shells
/// in order of their first triangle and triangles in increasing order.
///
/// Every triangle is in exactly one shell; one with a vertex index out of
/// range shares no edge and is a shell of its own. The shells are those of
/// [`MeshReport::shells`], in the same order.
///
/// # Panics
///
/// If the mesh has more than `u32::MAX / 3` triangles, like [`check_mesh`].
pub fn shells(mesh: &TriangleMesh) -> Vec<Vec<u32>> {
    let (mut forest, _) = join_triangles(&EdgeTable::new(mesh), mesh.triangles.len());
    let (shell_of, shell_count) = label_shells(&mut forest);
    let mut shells = vec![Vec::new(); shell_count];
    for (t, &shell) in shell_of.iter().enumerate() {
        shells[shell as usize].push(t as u32);
    }
    shells
}

/// Counts each shell's vertices into `tally`, once per shell they are in,
/// marks shells pinched at a vertex as not closed manifolds, and returns the
/// number of vertices with more than one fan. `corners` holds the corners
/// joined through the edges at their vertex, so its sets are the fans.
fn count_vertices(
    mesh: &TriangleMesh,
    corners: &Forest,
    shell_of: &[u32],
    tally: &mut [ShellTally],
) -> usize {
    // Each fan's root corner stands for the fan; a vertex with one fan (the
    // usual case) is in one shell, and only pinched vertices need sorting to
    // count each once per shell.
    let fan_roots = || {
        mesh.triangles
            .iter()
            .enumerate()
            .filter(|(_, tri)| is_valid(tri, mesh.vertices.len()))
            .flat_map(|(t, tri)| (0..3).map(move |slot| (3 * t + slot, tri[slot], t)))
            .filter(|&(corner, ..)| corners.is_root(corner))
    };
    let mut fans = vec![0u32; mesh.vertices.len()];
    for (_, vertex, _) in fan_roots() {
        fans[vertex as usize] += 1;
    }
    let mut pinched = Vec::new();
    for (_, vertex, t) in fan_roots() {
        let shell = shell_of[t];
        if fans[vertex as usize] == 1 {
            tally[shell as usize].vertices += 1;
        } else {
            pinched.push((vertex, shell));
        }
    }
    pinched.sort_unstable();
    for group in pinched.chunk_by(|a, b| a == b) {
        let tally = &mut tally[group[0].1 as usize];
        tally.vertices += 1;
        if group.len() > 1 {
            tally.closed_manifold = false;
        }
    }
    fans.iter().filter(|&&f| f > 1).count()
}

/// Whether every vertex index of `tri` is below `vertex_count`.
fn is_valid(tri: &[u32; 3], vertex_count: usize) -> bool {
    tri.iter().all(|&i| (i as usize) < vertex_count)
}

/// What [`check_mesh`] gathers about one shell.
#[derive(Debug, Clone)]
struct ShellTally {
    triangles: usize,
    /// Distinct vertices, see [`count_vertices`].
    vertices: i64,
    edges: i64,
    six_volume: f64,
    /// No boundary or non-manifold edge, pinched vertex, broken triangle or
    /// orientation conflict seen so far.
    closed_manifold: bool,
}

impl Default for ShellTally {
    fn default() -> Self {
        ShellTally {
            triangles: 0,
            vertices: 0,
            edges: 0,
            six_volume: 0.0,
            closed_manifold: true,
        }
    }
}

impl ShellTally {
    fn report(&self) -> ShellReport {
        let euler_characteristic = self.vertices - self.edges + self.triangles as i64;
        ShellReport {
            triangles: self.triangles,
            signed_volume_mm3: self.six_volume / 6.0,
            euler_characteristic,
            genus: self
                .closed_manifold
                .then_some((2 - euler_characteristic) / 2),
        }
    }
}

/// One triangle's use of an edge, filed under the edge's smaller vertex.
#[derive(Debug, Clone, Copy)]
struct EdgeUse {
    /// The edge's larger vertex.
    other: u32,
    triangle: u32,
    /// Position in the triangle (0..3) of the vertex the half-edge leaves.
    from_slot: u8,
    /// Whether the half-edge runs from the smaller vertex to the larger.
    forward: bool,
}

impl EdgeUse {
    /// The triangle's corners `3 · triangle + slot` at the edge's smaller
    /// and larger vertex.
    fn corners(self) -> (usize, usize) {
        let base = 3 * self.triangle as usize;
        let from = base + self.from_slot as usize;
        let to = base + (self.from_slot as usize + 1) % 3;
        if self.forward { (from, to) } else { (to, from) }
    }
}

/// The edge uses of all triangles whose vertices exist, grouped by edge:
/// bucketed under the smaller vertex by a counting sort, so that only the
/// few uses per bucket need sorting rather than all `3T` of them.
struct EdgeTable {
    /// Uses filed under vertex `v` are `uses[start[v]..start[v + 1]]`.
    start: Vec<usize>,
    uses: Vec<EdgeUse>,
}

impl EdgeTable {
    fn new(mesh: &TriangleMesh) -> Self {
        assert!(
            mesh.triangles.len() <= MAX_TRIANGLES,
            "{} triangles are more than the mesh check supports ({MAX_TRIANGLES})",
            mesh.triangles.len()
        );
        let vertex_count = mesh.vertices.len();
        let half_edges = || {
            mesh.triangles
                .iter()
                .enumerate()
                .filter(|(_, tri)| is_valid(tri, vertex_count))
                .flat_map(|(t, tri)| {
                    (0..3).map(move |slot| (t as u32, slot as u8, tri[slot], tri[(slot + 1) % 3]))
                })
                // A collapsed edge joins nothing; its triangle is counted as
                // degenerate.
                .filter(|&(_, _, from, to)| from != to)
        };
        let mut start = vec![0usize; vertex_count + 1];
        for (_, _, from, to) in half_edges() {
            start[from.min(to) as usize + 1] += 1;
        }
        for v in 0..vertex_count {
            start[v + 1] += start[v];
        }
        let mut fill = start.clone();
        let placeholder = EdgeUse {
            other: 0,
            triangle: 0,
            from_slot: 0,
            forward: false,
        };
        let mut uses = vec![placeholder; start[vertex_count]];
        for (triangle, from_slot, from, to) in half_edges() {
            let slot = &mut fill[from.min(to) as usize];
            uses[*slot] = EdgeUse {
                other: from.max(to),
                triangle,
                from_slot,
                forward: from < to,
            };
            *slot += 1;
        }
        for bucket in start.windows(2) {
            uses[bucket[0]..bucket[1]].sort_unstable_by_key(|u| u.other);
        }
        EdgeTable { start, uses }
    }

    /// The uses of each distinct edge, one slice per edge.
    fn groups(&self) -> impl Iterator<Item = &[EdgeUse]> {
        self.start
            .windows(2)
            .flat_map(|bucket| self.uses[bucket[0]..bucket[1]].chunk_by(|a, b| a.other == b.other))
    }
}

/// Joins the triangles that share an edge into shells. Also returns one
/// triangle of each orientation conflict: a cycle of manifold edges along
/// which the triangles cannot all be oriented consistently, which makes the
/// shell non-orientable (mere inconsistently oriented triangles can be
/// flipped and cause none).
fn join_triangles(edges: &EdgeTable, triangle_count: usize) -> (Forest, Vec<u32>) {
    let mut forest = Forest::new(triangle_count);
    let mut conflicts = Vec::new();
    for group in edges.groups() {
        let first = group[0];
        for other in &group[1..] {
            // Two triangles traversing the edge the same way are oriented
            // oppositely. Around a non-manifold edge orientation has no
            // meaning, and the shell gets no genus anyway.
            let opposed = group.len() == 2 && first.forward == other.forward;
            let consistent =
                forest.union(first.triangle as usize, other.triangle as usize, opposed);
            if !consistent && group.len() == 2 {
                conflicts.push(first.triangle);
            }
        }
    }
    (forest, conflicts)
}

/// Shell number of every triangle, numbered in order of first triangle,
/// and the number of shells.
fn label_shells(forest: &mut Forest) -> (Vec<u32>, usize) {
    let count = forest.parent.len();
    let mut shell_of = vec![0u32; count];
    let mut shells = 0;
    for t in 0..count {
        let (root, _) = forest.find(t);
        // Roots are smallest members, so `root ≤ t` is labelled already.
        shell_of[t] = if root == t {
            shells += 1;
            shells - 1
        } else {
            shell_of[root]
        };
    }
    (shell_of, shells as usize)
}

/// Disjoint sets over `0..n` (union-find with path halving) that also track
/// whether each member is flipped relative to its set's root, for the
/// orientability test. Every root is the smallest member of its set, so sets
/// numbered in order of their roots are numbered in order of first member.
struct Forest {
    parent: Vec<u32>,
    /// Relative to the parent; always false at a root.
    flipped: Vec<bool>,
}

impl Forest {
    fn new(n: usize) -> Self {
        Forest {
            parent: (0..n as u32).collect(),
            flipped: vec![false; n],
        }
    }

    fn is_root(&self, x: usize) -> bool {
        self.parent[x] as usize == x
    }

    /// The root of `x`'s set and whether `x` is flipped relative to it.
    fn find(&mut self, mut x: usize) -> (usize, bool) {
        let mut flipped = false;
        loop {
            let parent = self.parent[x] as usize;
            if parent == x {
                return (x, flipped);
            }
            // Hop to the grandparent, composing the two flips.
            self.flipped[x] ^= self.flipped[parent];
            self.parent[x] = self.parent[parent];
            flipped ^= self.flipped[x];
            x = self.parent[x] as usize;
        }
    }

    /// Puts `a` and `b` in one set, flipped relative to each other exactly
    /// when `opposed`. Returns false, changing nothing, if they already share
    /// a set with the other relation.
    fn union(&mut self, a: usize, b: usize, opposed: bool) -> bool {
        let (root_a, flipped_a) = self.find(a);
        let (root_b, flipped_b) = self.find(b);
        if root_a == root_b {
            return flipped_a ^ flipped_b == opposed;
        }
        let (root, child) = (root_a.min(root_b), root_a.max(root_b));
        self.parent[child] = root as u32;
        self.flipped[child] = flipped_a ^ flipped_b ^ opposed;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::mesh::test_support::tetrahedron;

    #[test]
    fn closed_tetrahedron_is_watertight() {
        let report = check_mesh(&tetrahedron());
        assert!(report.is_watertight(), "{report:?}");
        assert_eq!(report.triangles, 4);
        assert_eq!(report.vertices, 4);
        assert_eq!(report.euler_characteristic, 2);
        // 3³/6 = 4.5, exact in floating point.
        assert_eq!(report.signed_volume_mm3, 4.5);
        assert_eq!(report.bounding_box_mm, [[0.0; 3], [3.0; 3]]);
    }

    #[test]
    fn missing_triangle_leaves_three_boundary_edges() {
        let mut mesh = tetrahedron();
        mesh.triangles.pop();
        let report = check_mesh(&mesh);
        assert_eq!(report.boundary_edges, 3);
        assert_eq!(report.euler_characteristic, 1);
        assert!(!report.is_watertight());
    }

    #[test]
    fn flipped_triangle_makes_its_three_edges_inconsistent() {
        let mut mesh = tetrahedron();
        mesh.triangles[3].swap(1, 2);
        let report = check_mesh(&mesh);
        assert_eq!(report.inconsistent_edges, 3);
        assert_eq!(report.boundary_edges, 0);
        assert!(!report.is_watertight());
    }

    #[test]
    fn fin_on_an_edge_is_non_manifold() {
        let mut mesh = tetrahedron();
        // A fourth vertex off the shape, hinged on edge 0-1.
        mesh.vertices.push([1.5, -2.0, -2.0]);
        mesh.triangles.push([0, 1, 4]);
        let report = check_mesh(&mesh);
        assert_eq!(report.non_manifold_edges, 1);
        assert_eq!(report.boundary_edges, 2);
        assert!(!report.is_watertight());
    }

    #[test]
    fn degenerate_and_out_of_range_triangles_are_counted_without_panicking() {
        let mut mesh = tetrahedron();
        // Collinear: zero area.
        mesh.vertices.push([1.5, 0.0, 0.0]);
        mesh.triangles.push([0, 4, 1]);
        // Repeated index.
        mesh.triangles.push([2, 2, 3]);
        // Index past the end.
        mesh.triangles.push([0, 1, 99]);
        let report = check_mesh(&mesh);
        assert_eq!(report.degenerate_triangles, 3);
        assert!(!report.is_watertight());
    }

    #[test]
    fn tiny_but_real_triangles_are_not_degenerate() {
        // The threshold scales with the mesh: a 5e-11 mm² triangle is fine
        // on its own (threshold 2e-22 mm²) but degenerate next to a vertex
        // 1000 mm away (threshold 3e-6 mm²).
        let mesh = TriangleMesh {
            vertices: vec![[0.0; 3], [1e-5, 0.0, 0.0], [0.0, 1e-5, 0.0]],
            triangles: vec![[0, 1, 2]],
        };
        let report = check_mesh(&mesh);
        assert_eq!(report.degenerate_triangles, 0);
        let mut big = mesh.clone();
        big.vertices.push([1000.0; 3]);
        big.triangles.push([1, 2, 3]);
        assert_eq!(check_mesh(&big).degenerate_triangles, 1);
    }

    #[test]
    fn empty_mesh_reports_zeros() {
        let report = check_mesh(&TriangleMesh::default());
        assert_eq!(report.triangles, 0);
        assert_eq!(report.euler_characteristic, 0);
        assert_eq!(report.bounding_box_mm, [[0.0; 3]; 2]);
        assert!(report.is_watertight());
    }

    use crate::mesh::test_support::{cube, merged, quad_grid, torus};

    #[test]
    fn cube_is_one_genus_zero_shell_with_the_right_area_and_volume() {
        let report = check_mesh(&cube(2.0, [1.0, -3.0, 0.5]));
        assert!(report.is_watertight(), "{report:?}");
        assert_eq!(report.triangles, 12);
        assert_eq!(report.euler_characteristic, 2);
        assert_eq!(report.non_manifold_vertices, 0);
        // 6 a² and a³; sums of small binary fractions, exact.
        assert_eq!(report.surface_area_mm2, 24.0);
        assert!((report.signed_volume_mm3 - 8.0).abs() < 1e-12);
        assert_eq!(report.shells.len(), 1);
        let shell = &report.shells[0];
        assert_eq!(shell.triangles, 12);
        assert_eq!(shell.euler_characteristic, 2);
        assert_eq!(shell.genus, Some(0));
        assert!((shell.signed_volume_mm3 - 8.0).abs() < 1e-12);
    }

    #[test]
    fn torus_has_genus_one() {
        let (n, m) = (24, 12);
        let mesh = torus(n, m);
        let report = check_mesh(&mesh);
        assert!(report.is_watertight(), "{report:?}");
        assert_eq!(report.euler_characteristic, 0);
        assert_eq!(report.shells.len(), 1);
        assert_eq!(report.shells[0].euler_characteristic, 0);
        assert_eq!(report.shells[0].genus, Some(1));
        // The polygonal torus lies inside the smooth one, 2π²Rr² ≈ 59.2
        // mm³ and 4π²Rr ≈ 118.4 mm²; its 12-gon cross-section alone has
        // 4.5 % less area than the circle.
        let volume = 2.0 * std::f64::consts::PI.powi(2) * 3.0;
        assert!(report.signed_volume_mm3 < volume, "{report:?}");
        assert!(report.signed_volume_mm3 > 0.9 * volume, "{report:?}");
        assert!(report.surface_area_mm2 < 2.0 * volume, "{report:?}");
        assert!(report.surface_area_mm2 > 0.95 * 2.0 * volume, "{report:?}");
    }

    #[test]
    fn disjoint_cubes_are_two_shells_in_order_of_first_triangle() {
        let mesh = merged(&cube(1.0, [0.0; 3]), &cube(2.0, [10.0, 0.0, 0.0]));
        let report = check_mesh(&mesh);
        assert!(report.is_watertight(), "{report:?}");
        assert_eq!(report.euler_characteristic, 4);
        assert_eq!(report.shells.len(), 2);
        for (shell, volume) in report.shells.iter().zip([1.0, 8.0]) {
            assert_eq!(shell.triangles, 12);
            assert_eq!(shell.genus, Some(0));
            assert!((shell.signed_volume_mm3 - volume).abs() < 1e-9, "{shell:?}");
        }
        assert!((report.signed_volume_mm3 - 9.0).abs() < 1e-9);

        // Interleaving the triangles changes which shell comes first.
        let mut interleaved = mesh.clone();
        interleaved.triangles = (0..12)
            .flat_map(|t| [mesh.triangles[t + 12], mesh.triangles[t]])
            .collect();
        let parts = shells(&interleaved);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], (0..24).step_by(2).collect::<Vec<u32>>());
        assert_eq!(parts[1], (1..24).step_by(2).collect::<Vec<u32>>());
        let report = check_mesh(&interleaved);
        assert!((report.shells[0].signed_volume_mm3 - 8.0).abs() < 1e-9);
    }

    #[test]
    fn bow_tie_has_one_pinched_vertex_between_two_shells() {
        // The tetrahedron and its point reflection, sharing vertex 0; the
        // reflection inverts orientation, so its triangles are reversed.
        let mut mesh = tetrahedron();
        mesh.vertices
            .extend([[-3.0, 0.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, -3.0]]);
        mesh.triangles
            .extend([[0, 4, 5], [0, 6, 4], [0, 5, 6], [4, 6, 5]]);
        let report = check_mesh(&mesh);
        assert_eq!(report.non_manifold_vertices, 1);
        assert_eq!(report.boundary_edges, 0);
        assert_eq!(report.non_manifold_edges, 0);
        assert_eq!(report.inconsistent_edges, 0);
        assert!(!report.is_watertight());
        // 7 vertices, 12 edges, 8 triangles; each shell alone is a sphere.
        assert_eq!(report.euler_characteristic, 3);
        assert_eq!(report.shells.len(), 2);
        for shell in &report.shells {
            assert_eq!(shell.triangles, 4);
            assert_eq!(shell.euler_characteristic, 2);
            assert_eq!(shell.genus, Some(0));
            assert_eq!(shell.signed_volume_mm3, 4.5);
        }
        assert_eq!(shells(&mesh), [vec![0, 1, 2, 3], vec![4, 5, 6, 7]]);
    }

    #[test]
    fn pinch_within_one_shell_leaves_it_without_genus() {
        // A tube whose two ends are both closed by fans to the same apex:
        // a sphere with its poles glued together, connected through edges.
        let (n, m) = (6, 3);
        let mut vertices: Vec<[f64; 3]> = (0..m)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .map(|(i, j)| {
                let angle = std::f64::consts::TAU * f64::from(i) / f64::from(n);
                [angle.cos(), angle.sin(), f64::from(j)]
            })
            .collect();
        let apex = vertices.len() as u32;
        vertices.push([0.0, 0.0, -1.0]);
        let mut triangles = quad_grid(n, m - 1, |i, j| i % n + n * j);
        for i in 0..n {
            let next = (i + 1) % n;
            triangles.push([apex, next, i]);
            triangles.push([apex, n * (m - 1) + i, n * (m - 1) + next]);
        }
        let report = check_mesh(&TriangleMesh {
            vertices,
            triangles,
        });
        assert_eq!(report.boundary_edges, 0);
        assert_eq!(report.non_manifold_edges, 0);
        assert_eq!(report.inconsistent_edges, 0);
        assert_eq!(report.non_manifold_vertices, 1);
        assert!(!report.is_watertight());
        assert_eq!(report.shells.len(), 1);
        assert_eq!(report.shells[0].euler_characteristic, 1);
        assert_eq!(report.shells[0].genus, None);
    }

    #[test]
    fn open_box_has_boundary_and_no_genus() {
        let mut mesh = cube(1.0, [0.0; 3]);
        // Drop the two triangles of the top face z = 1.
        mesh.triangles.retain(|t| !t.iter().all(|&v| v >= 4));
        assert_eq!(mesh.triangles.len(), 10);
        let report = check_mesh(&mesh);
        assert_eq!(report.boundary_edges, 4);
        assert_eq!(report.non_manifold_vertices, 0);
        assert!(!report.is_watertight());
        // 8 vertices, 17 edges, 10 triangles: a disc.
        assert_eq!(report.euler_characteristic, 1);
        assert_eq!(report.shells.len(), 1);
        assert_eq!(report.shells[0].euler_characteristic, 1);
        assert_eq!(report.shells[0].genus, None);
        assert_eq!(report.surface_area_mm2, 5.0);
    }

    #[test]
    fn inconsistent_but_orientable_shell_keeps_its_genus() {
        let mut mesh = cube(1.0, [0.0; 3]);
        mesh.triangles[5].swap(1, 2);
        let report = check_mesh(&mesh);
        assert_eq!(report.inconsistent_edges, 3);
        assert!(!report.is_watertight());
        assert_eq!(report.shells[0].genus, Some(0));
    }

    #[test]
    fn klein_bottle_is_closed_but_has_no_genus() {
        // The j wrap-around glues the grid's ends mirrored in i, so no
        // orientation of the triangles is consistent.
        let (n, m) = (6, 6);
        let triangles = quad_grid(n, m, |i, j| {
            let i = i % n;
            if j == m { (n - i) % n } else { i + n * j }
        });
        // Positions do not matter to the topology; keep triangles non-flat.
        let vertices = (0..n * m)
            .map(|v| [f64::from(v % n), f64::from(v / n), f64::from(v % 5)])
            .collect();
        let report = check_mesh(&TriangleMesh {
            vertices,
            triangles,
        });
        assert_eq!(report.boundary_edges, 0);
        assert_eq!(report.non_manifold_edges, 0);
        assert_eq!(report.non_manifold_vertices, 0);
        assert!(report.inconsistent_edges > 0);
        assert_eq!(report.euler_characteristic, 0);
        assert_eq!(report.shells.len(), 1);
        assert_eq!(report.shells[0].genus, None);
    }

    #[test]
    fn out_of_range_triangle_is_a_shell_of_its_own() {
        let mut mesh = tetrahedron();
        mesh.triangles.insert(0, [0, 1, 99]);
        let report = check_mesh(&mesh);
        assert_eq!(report.shells.len(), 2);
        assert_eq!(report.shells[0].triangles, 1);
        assert_eq!(report.shells[0].genus, None);
        assert_eq!(report.shells[1].genus, Some(0));
        assert_eq!(shells(&mesh), [vec![0], vec![1, 2, 3, 4]]);
    }

    #[test]
    fn report_serializes_with_its_shells() {
        let json = serde_json::to_value(check_mesh(&tetrahedron())).unwrap();
        assert_eq!(json["signed_volume_mm3"], 4.5);
        assert_eq!(json["non_manifold_vertices"], 0);
        assert_eq!(json["shells"][0]["genus"], 0);
        assert_eq!(json["shells"][0]["triangles"], 4);
        assert_eq!(json["bounding_box_mm"][1][2], 3.0);
    }
}
