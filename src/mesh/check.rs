//! Printability checks for triangle meshes.
//!
//! A slicer needs a closed 2-manifold with consistent orientation: every
//! edge shared by exactly two triangles that traverse it in opposite
//! directions, and no zero-area triangles. These are the standard
//! edge-incidence tests (see Botsch et al., "Polygon Mesh Processing",
//! A K Peters 2010, ch. 2). They are computed by bucketing half-edges under
//! their smaller vertex (a counting sort) instead of hashing, which keeps the
//! check linear-time and fast on the multi-million-triangle meshes that
//! voxel fields produce. The Euler
//! characteristic and signed volume are reported alongside so a caller can
//! spot inverted shells or unexpected holes and handles.

use super::{TriangleMesh, cross, sub};

/// Result of [`check_mesh`].
#[derive(Debug, Clone, PartialEq)]
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
    /// Triangles with area ≤ 1e-12 · (bounding-box diagonal)², a repeated
    /// vertex, or a vertex index out of range.
    pub degenerate_triangles: usize,
    /// Enclosed volume in mm³ ([`TriangleMesh::signed_volume`]); positive for
    /// a closed outward-oriented mesh.
    pub signed_volume_mm3: f64,
    /// `V - E + F` over referenced vertices, distinct edges and triangles:
    /// 2 per closed sphere-like shell, minus 2 per handle.
    pub euler_characteristic: i64,
    /// `[min, max]` corner of the referenced vertices in mm; all zeros for a
    /// mesh without valid triangles.
    pub bounding_box_mm: [[f64; 3]; 2],
}

impl MeshReport {
    /// True when the mesh is closed, manifold along every edge, consistently
    /// oriented and free of degenerate triangles, i.e. fit to slice.
    pub fn is_watertight(&self) -> bool {
        self.boundary_edges == 0
            && self.non_manifold_edges == 0
            && self.inconsistent_edges == 0
            && self.degenerate_triangles == 0
    }
}

/// Checks a mesh for the defects that break slicing; see [`MeshReport`].
///
/// Runs in time linear in the mesh size and never panics, whatever the
/// indices in the mesh.
pub fn check_mesh(mesh: &TriangleMesh) -> MeshReport {
    let vertex_count = mesh.vertices.len();
    let valid = |tri: &[u32; 3]| tri.iter().all(|&i| (i as usize) < vertex_count);

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
    let area_threshold = 1e-12 * (diagonal[0].powi(2) + diagonal[1].powi(2) + diagonal[2].powi(2));

    let mut degenerate_triangles = 0;
    for tri in &mesh.triangles {
        if !valid(tri) {
            degenerate_triangles += 1;
            continue;
        }
        let [a, b, c] = tri.map(|i| mesh.vertices[i as usize]);
        let n = cross(sub(b, a), sub(c, a));
        let area = 0.5 * (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
        let repeated = tri[0] == tri[1] || tri[1] == tri[2] || tri[2] == tri[0];
        // A NaN area (from NaN coordinates) also counts as degenerate.
        if repeated || area.is_nan() || area <= area_threshold {
            degenerate_triangles += 1;
        }
    }

    // Bucket every half-edge under its smaller vertex (a counting sort), so
    // each edge's uses end up in one short run without sorting 3T entries.
    let half_edges = || {
        mesh.triangles
            .iter()
            .filter(|t| valid(t))
            .flat_map(|t| [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])])
            // A collapsed edge joins nothing; its triangle is already counted.
            .filter(|(from, to)| from != to)
    };
    let mut start = vec![0usize; vertex_count + 1];
    for (from, to) in half_edges() {
        start[from.min(to) as usize + 1] += 1;
    }
    for v in 0..vertex_count {
        start[v + 1] += start[v];
    }
    let mut fill = start.clone();
    // Each entry is the larger vertex and whether the half-edge runs from
    // the smaller one.
    let mut buckets = vec![(0u32, false); start[vertex_count]];
    for (from, to) in half_edges() {
        let slot = &mut fill[from.min(to) as usize];
        buckets[*slot] = (from.max(to), from < to);
        *slot += 1;
    }

    let mut boundary_edges = 0;
    let mut non_manifold_edges = 0;
    let mut inconsistent_edges = 0;
    let mut distinct_edges = 0usize;
    for v in 0..vertex_count {
        let bucket = &mut buckets[start[v]..start[v + 1]];
        bucket.sort_unstable();
        for group in bucket.chunk_by(|x, y| x.0 == y.0) {
            distinct_edges += 1;
            match group {
                [_] => boundary_edges += 1,
                [x, y] => {
                    if x.1 == y.1 {
                        inconsistent_edges += 1;
                    }
                }
                _ => non_manifold_edges += 1,
            }
        }
    }

    let euler_characteristic =
        referenced_count as i64 - distinct_edges as i64 + mesh.triangles.len() as i64;
    MeshReport {
        triangles: mesh.triangles.len(),
        vertices: vertex_count,
        boundary_edges,
        non_manifold_edges,
        inconsistent_edges,
        degenerate_triangles,
        signed_volume_mm3: mesh.signed_volume(),
        euler_characteristic,
        bounding_box_mm,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regular-ish tetrahedron with outward faces.
    fn tetrahedron() -> TriangleMesh {
        TriangleMesh {
            vertices: vec![
                [0.0, 0.0, 0.0],
                [3.0, 0.0, 0.0],
                [0.0, 3.0, 0.0],
                [0.0, 0.0, 3.0],
            ],
            triangles: vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        }
    }

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
}
