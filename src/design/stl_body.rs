//! Closed triangle meshes used as regions of a design: "keep this volume empty", "support on this
//! body". A design file names one as `{ stl = "bodies/pipe.stl" }`, relative to the design file.
//!
//! A body is checked once, on loading, with [`check_mesh`]: containment is only meaningful for a
//! closed, edge- and vertex-manifold, consistently oriented surface without zero-area triangles,
//! so anything else is refused with the defect's count and one location, rather than voxelised
//! into a region that silently leaks.
//!
//! Containment is answered by parry3d's oriented triangle mesh: the point is projected onto the
//! nearest surface feature (face, edge or vertex, found through a bounding-volume hierarchy), and
//! it is inside when it lies behind that feature's angle-weighted pseudo-normal (Bærentzen &
//! Aanæs, "Signed distance computation using the angle weighted pseudonormal", IEEE TVCG 11(3),
//! 2005). Unlike ray parity, this does not break on rays grazing an edge or vertex.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parry3d_f64::math::Vector;
use parry3d_f64::query::PointQuery;
use parry3d_f64::shape::{TopologyError, TriMesh, TriMeshFlags};

use crate::mesh::stl::read_stl;
use crate::mesh::{MeshReport, TriangleMesh, check_mesh, cross, dot, sub};

/// A closed triangle mesh whose inside is a region of space, in millimetres.
///
/// Immutable once built and `Send + Sync`, so it can be shared (e.g. in an `Arc`) and queried
/// from many threads at once.
#[derive(Debug, Clone)]
pub struct StlBody {
    /// Outward-oriented, with pseudo-normals ([`TriMeshFlags::ORIENTED`]): without them parry's
    /// `contains_point` on a triangle mesh is always false.
    mesh: TriMesh,
    /// `[min, max]` corner of the vertices in mm, to answer most outside points without a
    /// hierarchy traversal.
    aabb_mm: [[f64; 3]; 2],
}

impl StlBody {
    /// Reads and checks a body from an STL file (binary or ASCII, in mm).
    ///
    /// Vertices with identical coordinates are merged, so triangles that only meet at equal
    /// coordinates are connected. Errors name the file and what is wrong: see [`StlBodyError`].
    pub fn load(path: &Path) -> Result<Self, StlBodyError> {
        let read = || -> std::io::Result<TriangleMesh> {
            let file = std::fs::File::open(path)?;
            read_stl(&mut std::io::BufReader::new(file))
        };
        let mesh = read().map_err(|error| StlBodyError::Read {
            file: path.to_path_buf(),
            error: Arc::new(error),
        })?;
        Self::from_mesh(&mesh).map_err(|defect| StlBodyError::WithPath {
            file: path.to_path_buf(),
            defect: Box::new(defect),
        })
    }

    /// Checks a mesh and builds the body; the mesh is copied.
    ///
    /// The mesh must be closed and consistently oriented. If it is inside out (negative enclosed
    /// volume) it is flipped and accepted. Inner shells oriented inwards are kept as cavities.
    pub fn from_mesh(mesh: &TriangleMesh) -> Result<Self, StlBodyError> {
        if mesh.triangles.is_empty() {
            return Err(StlBodyError::Empty);
        }
        let non_finite = mesh
            .vertices
            .iter()
            .filter(|v| !v.iter().all(|x| x.is_finite()));
        if let Some(&first) = non_finite.clone().next() {
            return Err(StlBodyError::NonFinite {
                count: non_finite.count(),
                example: first,
            });
        }
        let vertex_count = mesh.vertices.len();
        for (triangle, tri) in mesh.triangles.iter().enumerate() {
            if let Some(&index) = tri.iter().find(|&&i| i as usize >= vertex_count) {
                return Err(StlBodyError::MissingVertex {
                    triangle,
                    index,
                    vertices: vertex_count,
                });
            }
        }
        // Every index is now valid, so the locators below may index the vertices directly.

        let report = check_mesh(mesh);
        if let Some(defect) = first_defect(mesh, &report) {
            return Err(defect);
        }

        let [min, max] = report.bounding_box_mm;
        let diagonal = sub(max, min);
        let size = dot(diagonal, diagonal).sqrt();
        // A closed surface of non-degenerate triangles can still enclose nothing, e.g. a sheet
        // covered on both sides; relative to the box so that the test does not depend on units.
        let volume_mm3 = report.signed_volume_mm3;
        if volume_mm3.abs() <= 1e-9 * size.powi(3) {
            return Err(StlBodyError::NoVolume { volume_mm3 });
        }
        // A closed, consistently oriented mesh with negative volume is inside out, as some
        // exporters write it. Its meaning is still clear, so it is flipped rather than refused;
        // orientation decides inside and outside for the pseudo-normal test.
        let flip = volume_mm3 < 0.0;
        let vertices = mesh
            .vertices
            .iter()
            .map(|&[x, y, z]| Vector::new(x, y, z))
            .collect();
        let indices = mesh
            .triangles
            .iter()
            .map(|&[a, b, c]| if flip { [a, c, b] } else { [a, b, c] })
            .collect();
        // The only builder error is an empty index buffer, refused above.
        let mut trimesh = TriMesh::new(vertices, indices).map_err(|_| StlBodyError::Empty)?;
        // `set_flags`, not `TriMesh::with_flags`, which drops the result. Only parry's half-edge
        // topology can fail, and it is not requested since `check_mesh` covered it; the error is
        // still passed on so that a parry that validates more is heard, not ignored.
        trimesh.set_flags(TriMeshFlags::ORIENTED)?;
        Ok(StlBody {
            mesh: trimesh,
            aabb_mm: [min, max],
        })
    }

    /// Whether a point (mm) is inside the body. Points within about 1e-9 mm of the surface may
    /// go either way; a point with a NaN coordinate is outside.
    pub fn contains(&self, point_mm: [f64; 3]) -> bool {
        let [min, max] = self.aabb_mm;
        // Written so that NaN compares false and is outside.
        let in_box = (0..3).all(|axis| min[axis] <= point_mm[axis] && point_mm[axis] <= max[axis]);
        in_box && {
            let [x, y, z] = point_mm;
            self.mesh.contains_local_point(Vector::new(x, y, z))
        }
    }

    /// `(min, max)` corners of the body's axis-aligned bounding box in mm.
    pub fn bounding_box_mm(&self) -> ([f64; 3], [f64; 3]) {
        (self.aabb_mm[0], self.aabb_mm[1])
    }

    /// The body's surface, oriented outwards, in mm.
    pub fn surface(&self) -> TriangleMesh {
        TriangleMesh {
            vertices: self
                .mesh
                .vertices()
                .iter()
                .map(|v| [v.x, v.y, v.z])
                .collect(),
            triangles: self.mesh.indices().to_vec(),
        }
    }

    /// Number of triangles of the surface.
    pub fn triangle_count(&self) -> usize {
        self.mesh.indices().len()
    }
}

/// Why a mesh cannot be used as a body. Locations are in mm and name one example of the defect.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StlBodyError {
    /// The file cannot be opened, or is not STL; binary STL shorter than its triangle count says
    /// reads as an unexpected end of file.
    ///
    /// The cause is part of the message and deliberately not a `source` field, so that printing
    /// the error chain (anyhow's `{:#}`) does not repeat it; the same holds for `WithPath`.
    #[error("{}: cannot read it as STL (binary or ASCII): {error}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// Why.
        error: Arc<std::io::Error>,
    },
    /// The mesh read from `file` is unusable.
    #[error("{}: {defect}", file.display())]
    WithPath {
        /// The file.
        file: PathBuf,
        /// What is wrong with its mesh.
        defect: Box<StlBodyError>,
    },
    /// The mesh has no triangles.
    #[error("the mesh has no triangles")]
    Empty,
    /// Some vertices have a NaN or infinite coordinate.
    #[error("{count} vertices have a NaN or infinite coordinate, e.g. {example:?}")]
    NonFinite {
        /// Number of such vertices.
        count: usize,
        /// The first of them.
        example: [f64; 3],
    },
    /// A triangle refers to a vertex that does not exist.
    #[error("triangle {triangle} refers to vertex {index}, but there are only {vertices} vertices")]
    MissingVertex {
        /// Index of the triangle.
        triangle: usize,
        /// The vertex index it holds.
        index: u32,
        /// Number of vertices.
        vertices: usize,
    },
    /// Triangles with (near) zero area or a repeated vertex.
    #[error(
        "the mesh has {count} degenerate (zero-area) triangles{}",
        near(near_mm)
    )]
    Degenerate {
        /// Number of such triangles.
        count: usize,
        /// Centroid of the one with the smallest area.
        near_mm: Option<[f64; 3]>,
    },
    /// Edges used by one triangle only: holes in the surface.
    #[error("the mesh is open: {count} boundary edges{}", near(near_mm))]
    Open {
        /// Number of boundary edges.
        count: usize,
        /// Midpoint of one of them.
        near_mm: Option<[f64; 3]>,
    },
    /// Edges used by more than two triangles, e.g. bodies touching along an edge or a
    /// duplicated triangle.
    #[error(
        "the mesh is not manifold: {count} edges are shared by more than two triangles{}",
        near(near_mm)
    )]
    NonManifoldEdges {
        /// Number of such edges.
        count: usize,
        /// Midpoint of one of them.
        near_mm: Option<[f64; 3]>,
    },
    /// Edges whose two triangles traverse them in the same direction, i.e. face opposite ways.
    #[error(
        "the triangles are not consistently oriented: {count} edges join triangles that face \
         opposite ways{}",
        near(near_mm)
    )]
    InconsistentWinding {
        /// Number of such edges.
        count: usize,
        /// Midpoint of one of them.
        near_mm: Option<[f64; 3]>,
    },
    /// Vertices where separate fans of triangles meet, e.g. bodies touching at a corner.
    #[error(
        "the mesh is pinched: {count} vertices are shared by separate parts of the surface \
         (bow-tie){}",
        near(near_mm)
    )]
    BowTieVertices {
        /// Number of such vertices.
        count: usize,
        /// One of them.
        near_mm: Option<[f64; 3]>,
    },
    /// The closed surface encloses no volume.
    #[error("the mesh encloses no volume ({volume_mm3:e} mm³)")]
    NoVolume {
        /// Signed enclosed volume in mm³.
        volume_mm3: f64,
    },
    /// parry3d refused the mesh's topology.
    #[error("parry3d rejected the mesh topology: {0}")]
    Topology(#[from] TopologyError),
}

/// `", e.g. near (x, y, z) mm"` with coordinates to 1 µm, or nothing without a location.
fn near(point_mm: &Option<[f64; 3]>) -> String {
    // Adding 0.0 turns a rounded -0 into 0.
    let round = |x: f64| (x * 1e3).round() / 1e3 + 0.0;
    match point_mm {
        Some(p) => format!(
            ", e.g. near ({}, {}, {}) mm",
            round(p[0]),
            round(p[1]),
            round(p[2])
        ),
        None => String::new(),
    }
}

/// The first defect of `report`, in the order in which each makes the next meaningful, with one
/// location found in `mesh`. Every triangle of `mesh` must refer to existing vertices.
fn first_defect(mesh: &TriangleMesh, report: &MeshReport) -> Option<StlBodyError> {
    // With no degenerate triangle there is no collapsed edge; with only two-triangle edges
    // consistently oriented, the fans around each vertex are cycles (see `pinched_vertex`).
    let error = if report.degenerate_triangles > 0 {
        StlBodyError::Degenerate {
            count: report.degenerate_triangles,
            near_mm: smallest_triangle(mesh),
        }
    } else if report.boundary_edges > 0 {
        StlBodyError::Open {
            count: report.boundary_edges,
            near_mm: find_edge(mesh, |uses| uses.len() == 1),
        }
    } else if report.non_manifold_edges > 0 {
        StlBodyError::NonManifoldEdges {
            count: report.non_manifold_edges,
            near_mm: find_edge(mesh, |uses| uses.len() > 2),
        }
    } else if report.inconsistent_edges > 0 {
        StlBodyError::InconsistentWinding {
            count: report.inconsistent_edges,
            near_mm: find_edge(mesh, |uses| matches!(uses, [a, b] if a.2 == b.2)),
        }
    } else if report.non_manifold_vertices > 0 {
        StlBodyError::BowTieVertices {
            count: report.non_manifold_vertices,
            near_mm: pinched_vertex(mesh),
        }
    } else {
        return None;
    };
    Some(error)
}

/// Centroid of the triangle with the smallest area: a degenerate one when there is any, since
/// [`check_mesh`] calls a triangle degenerate exactly when its area is below a threshold or it
/// repeats a vertex (area zero).
fn smallest_triangle(mesh: &TriangleMesh) -> Option<[f64; 3]> {
    let corners = |tri: &[u32; 3]| tri.map(|i| mesh.vertices[i as usize]);
    let area2 = |tri: &[u32; 3]| {
        let [a, b, c] = corners(tri);
        let n = cross(sub(b, a), sub(c, a));
        dot(n, n)
    };
    let smallest = mesh
        .triangles
        .iter()
        .min_by(|s, t| area2(s).total_cmp(&area2(t)))?;
    let [a, b, c] = corners(smallest);
    Some(std::array::from_fn(|axis| {
        (a[axis] + b[axis] + c[axis]) / 3.0
    }))
}

/// Midpoint of the first edge whose uses satisfy `defective`. Each use is `(low, high,
/// forward)`: the edge's vertex indices in increasing order and whether the triangle traverses
/// it from low to high, as [`check_mesh`] classifies edges.
fn find_edge(
    mesh: &TriangleMesh,
    defective: impl Fn(&[(u32, u32, bool)]) -> bool,
) -> Option<[f64; 3]> {
    let mut uses: Vec<(u32, u32, bool)> = mesh
        .triangles
        .iter()
        .flat_map(|tri| (0..3).map(move |k| (tri[k], tri[(k + 1) % 3])))
        .map(|(from, to)| (from.min(to), from.max(to), from < to))
        .collect();
    uses.sort_unstable();
    let edge = uses
        .chunk_by(|s, t| (s.0, s.1) == (t.0, t.1))
        .find(|edge| defective(edge))?;
    let (a, b) = (
        mesh.vertices[edge[0].0 as usize],
        mesh.vertices[edge[0].1 as usize],
    );
    Some(std::array::from_fn(|axis| 0.5 * (a[axis] + b[axis])))
}

/// A vertex surrounded by more than one fan of triangles.
///
/// Only valid for a mesh whose edges are each used by two triangles in opposite directions.
/// Then at vertex `v` each triangle, rotated to `(v, a, b)`, is followed around `v` by the one
/// that starts with `(v, b)`, so the map `a → b` is a permutation of `v`'s neighbours, and its
/// cycles are the fans.
fn pinched_vertex(mesh: &TriangleMesh) -> Option<[f64; 3]> {
    let mut corners: Vec<(u32, u32, u32)> = mesh
        .triangles
        .iter()
        .flat_map(|t| [(t[0], t[1], t[2]), (t[1], t[2], t[0]), (t[2], t[0], t[1])])
        .collect();
    corners.sort_unstable();
    let fan = corners.chunk_by(|s, t| s.0 == t.0).find(|fan| {
        // Follow one cycle from the first corner; it covers all corners iff there is one fan.
        let mut length = 0;
        let mut a = fan[0].1;
        loop {
            let Ok(k) = fan.binary_search_by_key(&a, |c| c.1) else {
                return false;
            };
            length += 1;
            a = fan[k].2;
            if a == fan[0].1 || length > fan.len() {
                return length < fan.len();
            }
        }
    })?;
    Some(mesh.vertices[fan[0].0 as usize])
}

#[cfg(test)]
mod tests {
    use super::*;

    use rayon::prelude::*;

    use crate::mesh::stl::write_binary_stl;
    use crate::mesh::test_support::{Lcg, cube, merged, torus};
    use crate::mesh::winding_number;

    /// Icosahedron subdivided `levels` times, vertices on the sphere of `radius` around the
    /// origin, outward.
    fn icosphere(radius: f64, levels: u32) -> TriangleMesh {
        let g = (1.0 + 5f64.sqrt()) / 2.0;
        let mut vertices: Vec<[f64; 3]> = [
            [-1.0, g, 0.0],
            [1.0, g, 0.0],
            [-1.0, -g, 0.0],
            [1.0, -g, 0.0],
            [0.0, -1.0, g],
            [0.0, 1.0, g],
            [0.0, -1.0, -g],
            [0.0, 1.0, -g],
            [g, 0.0, -1.0],
            [g, 0.0, 1.0],
            [-g, 0.0, -1.0],
            [-g, 0.0, 1.0],
        ]
        .to_vec();
        let mut triangles: Vec<[u32; 3]> = vec![
            [0, 11, 5],
            [0, 5, 1],
            [0, 1, 7],
            [0, 7, 10],
            [0, 10, 11],
            [1, 5, 9],
            [5, 11, 4],
            [11, 10, 2],
            [10, 7, 6],
            [7, 1, 8],
            [3, 9, 4],
            [3, 4, 2],
            [3, 2, 6],
            [3, 6, 8],
            [3, 8, 9],
            [4, 9, 5],
            [2, 4, 11],
            [6, 2, 10],
            [8, 6, 7],
            [9, 8, 1],
        ];
        for _ in 0..levels {
            let mut midpoints = std::collections::HashMap::new();
            let mut midpoint = |a: u32, b: u32, vertices: &mut Vec<[f64; 3]>| {
                *midpoints.entry((a.min(b), a.max(b))).or_insert_with(|| {
                    let (p, q) = (vertices[a as usize], vertices[b as usize]);
                    vertices.push(std::array::from_fn(|k| 0.5 * (p[k] + q[k])));
                    vertices.len() as u32 - 1
                })
            };
            triangles = triangles
                .iter()
                .flat_map(|&[a, b, c]| {
                    let ab = midpoint(a, b, &mut vertices);
                    let bc = midpoint(b, c, &mut vertices);
                    let ca = midpoint(c, a, &mut vertices);
                    [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
                })
                .collect();
        }
        for v in &mut vertices {
            let scale = radius / dot(*v, *v).sqrt();
            *v = v.map(|x| x * scale);
        }
        TriangleMesh {
            vertices,
            triangles,
        }
    }

    /// `count` points uniform in the box `[min, max]`, from a fixed seed.
    fn random_points(seed: u64, count: usize, min: [f64; 3], max: [f64; 3]) -> Vec<[f64; 3]> {
        let mut rng = Lcg(seed);
        (0..count)
            .map(|_| std::array::from_fn(|k| min[k] + (max[k] - min[k]) * rng.next()))
            .collect()
    }

    /// Writes `mesh` as binary STL into a temporary directory, returning both.
    fn stl_file(mesh: &TriangleMesh) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("body.stl");
        let mut bytes = Vec::new();
        write_binary_stl(mesh, &mut bytes).unwrap();
        std::fs::write(&path, bytes).unwrap();
        (dir, path)
    }

    #[test]
    fn cube_contains_inside_and_not_outside_points() {
        let body = StlBody::from_mesh(&cube(2.0, [1.0, -1.0, 0.0])).unwrap();
        assert_eq!(body.triangle_count(), 12);
        assert_eq!(body.bounding_box_mm(), ([1.0, -1.0, 0.0], [3.0, 1.0, 2.0]));
        for inside in [[2.0, 0.0, 1.0], [1.001, 0.999, 1.999], [2.9, -0.9, 0.1]] {
            assert!(body.contains(inside), "{inside:?}");
        }
        // 1e-6 mm off each face, inside and outside, away from and at edges and corners.
        let d = 1e-6;
        for axis in 0..3 {
            for (face, inward) in [(1.0, 1.0), (3.0, -1.0)] {
                let face = face + [0.0, -2.0, -1.0][axis];
                let mut p = [2.0, 0.0, 1.0];
                p[axis] = face + inward * d;
                assert!(body.contains(p), "{p:?}");
                p[axis] = face - inward * d;
                assert!(!body.contains(p), "{p:?}");
            }
        }
        for outside in [
            [0.0, 0.0, 1.0],
            [3.0 + d, 1.0 + d, 2.0 + d],
            [2.0, 0.0, -50.0],
            [2.0, f64::NAN, 1.0],
            [f64::INFINITY, 0.0, 1.0],
        ] {
            assert!(!body.contains(outside), "{outside:?}");
        }
        // Inside the bounding box but outside the solid: impossible for a box, so shear the top
        // face sideways and probe under the overhang.
        let mut sheared = cube(2.0, [0.0; 3]);
        for v in &mut sheared.vertices {
            v[0] += v[2];
        }
        let body = StlBody::from_mesh(&sheared).unwrap();
        assert!(!body.contains([0.5, 1.0, 1.5 - d]));
        assert!(body.contains([0.5, 1.0, 0.5 - d]));
    }

    #[test]
    fn icosphere_matches_the_analytic_sphere_away_from_the_surface() {
        let radius = 10.0;
        let mesh = icosphere(radius, 3);
        let body = StlBody::from_mesh(&mesh).unwrap();
        assert_eq!(body.triangle_count(), 1280);
        // The polyhedron lies between its inscribed sphere (the nearest face plane) and the
        // circumscribed one; points outside that shell have a known answer.
        let inradius = mesh
            .triangles
            .iter()
            .map(|tri| {
                let [a, b, c] = tri.map(|i| mesh.vertices[i as usize]);
                let n = cross(sub(b, a), sub(c, a));
                dot(a, n) / dot(n, n).sqrt()
            })
            .fold(f64::INFINITY, f64::min);
        assert!(inradius > 0.98 * radius && inradius < radius, "{inradius}");
        let (mut inside, mut outside) = (0, 0);
        for p in random_points(7, 20_000, [-12.0; 3], [12.0; 3]) {
            let r = dot(p, p).sqrt();
            if r < inradius - 1e-6 {
                assert!(body.contains(p), "{p:?} at r = {r}");
                inside += 1;
            } else if r > radius + 1e-6 {
                assert!(!body.contains(p), "{p:?} at r = {r}");
                outside += 1;
            }
        }
        // Both answers were exercised: (4/3)π·10³ / 24³ ≈ 30 % of the box is inside.
        assert!(inside > 5_000 && outside > 10_000, "{inside} {outside}");
    }

    #[test]
    fn torus_agrees_with_the_winding_number_everywhere_in_its_box() {
        // Non-convex, with a hole through the box: many points inside the box are outside.
        let mesh = torus(32, 16);
        let body = StlBody::from_mesh(&mesh).unwrap();
        let mut inside = 0;
        for p in random_points(11, 5_000, [-4.2, -4.2, -1.2], [4.2, 4.2, 1.2]) {
            let w = winding_number(&mesh, p);
            // Away from the surface the winding number is an integer to rounding.
            let expected = w > 0.5;
            assert!(
                (w - f64::from(u8::from(expected))).abs() < 1e-6,
                "{p:?}: {w}"
            );
            assert_eq!(body.contains(p), expected, "{p:?}: {w}");
            inside += usize::from(expected);
        }
        assert!(inside > 1_000 && inside < 4_000, "{inside}");
    }

    #[test]
    fn inside_out_cube_is_flipped_and_accepted() {
        let mut mesh = cube(1.0, [0.0; 3]);
        for tri in &mut mesh.triangles {
            tri.swap(1, 2);
        }
        assert!(mesh.signed_volume() < 0.0);
        let body = StlBody::from_mesh(&mesh).unwrap();
        assert!(body.contains([0.5; 3]));
        assert!(!body.contains([0.5, 0.5, 1.5]));
    }

    #[test]
    fn cavity_oriented_inwards_is_kept_empty() {
        let mut inner = cube(1.0, [1.0; 3]);
        for tri in &mut inner.triangles {
            tri.swap(1, 2);
        }
        let body = StlBody::from_mesh(&merged(&cube(3.0, [0.0; 3]), &inner)).unwrap();
        assert!(body.contains([0.5; 3]));
        assert!(!body.contains([1.5; 3]));
    }

    #[test]
    fn open_mesh_is_rejected_with_a_location_on_the_hole() {
        let mut mesh = cube(1.0, [0.0; 3]);
        // Drop the two triangles of the top face z = 1.
        mesh.triangles.retain(|t| !t.iter().all(|&v| v >= 4));
        let error = StlBody::from_mesh(&mesh).unwrap_err();
        let StlBodyError::Open {
            count: 4,
            near_mm: Some(near),
        } = error
        else {
            panic!("{error:?}");
        };
        assert_eq!(near[2], 1.0, "{near:?}");
        assert!(
            error
                .to_string()
                .starts_with("the mesh is open: 4 boundary edges, e.g. near (")
        );
    }

    #[test]
    fn duplicated_triangle_is_non_manifold() {
        let mut mesh = cube(1.0, [0.0; 3]);
        mesh.triangles.push(mesh.triangles[0]);
        let error = StlBody::from_mesh(&mesh).unwrap_err();
        assert!(
            matches!(error, StlBodyError::NonManifoldEdges { count: 3, near_mm: Some(p) } if p[2] == 0.0),
            "{error:?}"
        );
    }

    #[test]
    fn cubes_sharing_an_edge_in_a_file_are_non_manifold_and_named() {
        // Two unit cubes touching along the edge x = y = 1; the reader merges its vertices.
        let (_dir, path) = stl_file(&merged(&cube(1.0, [0.0; 3]), &cube(1.0, [1.0, 1.0, 0.0])));
        let error = StlBody::load(&path).unwrap_err();
        let StlBodyError::WithPath { file, defect } = &error else {
            panic!("{error:?}");
        };
        assert_eq!(file, &path);
        assert!(
            matches!(**defect, StlBodyError::NonManifoldEdges { count: 1, near_mm: Some([1.0, 1.0, z]) } if z == 0.5),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.starts_with(&format!("{}: the mesh is not manifold", path.display())));
        assert!(message.ends_with("e.g. near (1, 1, 0.5) mm"), "{message}");
    }

    #[test]
    fn cubes_sharing_a_corner_are_a_bow_tie() {
        let (_dir, path) = stl_file(&merged(&cube(1.0, [0.0; 3]), &cube(1.0, [1.0; 3])));
        let error = StlBody::load(&path).unwrap_err();
        let StlBodyError::WithPath { defect, .. } = &error else {
            panic!("{error:?}");
        };
        assert!(
            matches!(
                **defect,
                StlBodyError::BowTieVertices {
                    count: 1,
                    near_mm: Some([1.0, 1.0, 1.0])
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn inconsistent_winding_is_rejected() {
        let mut mesh = cube(1.0, [0.0; 3]);
        mesh.triangles[5].swap(1, 2);
        let error = StlBody::from_mesh(&mesh).unwrap_err();
        assert!(
            matches!(
                error,
                StlBodyError::InconsistentWinding {
                    count: 3,
                    near_mm: Some(_)
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn degenerate_triangle_is_rejected_at_its_centroid() {
        let mut mesh = cube(3.0, [0.0; 3]);
        mesh.vertices.push([1.5, 0.0, 0.0]);
        mesh.triangles.push([0, 8, 1]);
        let error = StlBody::from_mesh(&mesh).unwrap_err();
        assert!(
            matches!(
                error,
                StlBodyError::Degenerate {
                    count: 1,
                    near_mm: Some([1.5, 0.0, 0.0])
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn broken_input_is_rejected_without_panicking() {
        assert!(matches!(
            StlBody::from_mesh(&TriangleMesh::default()),
            Err(StlBodyError::Empty)
        ));
        let mut mesh = cube(1.0, [0.0; 3]);
        mesh.vertices[3][1] = f64::NAN;
        assert!(matches!(
            StlBody::from_mesh(&mesh),
            Err(StlBodyError::NonFinite { count: 1, .. })
        ));
        let mut mesh = cube(1.0, [0.0; 3]);
        mesh.triangles[2][1] = 8;
        assert!(matches!(
            StlBody::from_mesh(&mesh),
            Err(StlBodyError::MissingVertex {
                triangle: 2,
                index: 8,
                vertices: 8
            })
        ));
        // Two triangles covering each other: closed and consistent, but enclosing nothing.
        let sheet = TriangleMesh {
            vertices: vec![[0.0; 3], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            triangles: vec![[0, 1, 2], [0, 2, 1]],
        };
        assert!(matches!(
            StlBody::from_mesh(&sheet),
            Err(StlBodyError::NoVolume { .. })
        ));
    }

    #[test]
    fn file_that_is_not_stl_is_rejected_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("notes.stl");
        std::fs::write(&path, "these are not the triangles you are looking for\n").unwrap();
        let error = StlBody::load(&path).unwrap_err();
        assert!(matches!(error, StlBodyError::Read { .. }), "{error:?}");
        assert!(
            error.to_string().starts_with(&format!(
                "{}: cannot read it as STL (binary or ASCII): ",
                path.display()
            )),
            "{error}"
        );
        let missing = dir.path().join("missing.stl");
        assert!(matches!(
            StlBody::load(&missing),
            Err(StlBodyError::Read { .. })
        ));
    }

    #[test]
    fn queries_from_rayon_threads_agree_with_sequential_ones() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<StlBody>();
        assert_send_sync::<StlBodyError>();
        let body = StlBody::from_mesh(&icosphere(5.0, 2)).unwrap();
        let points = random_points(3, 20_000, [-6.0; 3], [6.0; 3]);
        let sequential: Vec<bool> = points.iter().map(|&p| body.contains(p)).collect();
        let parallel: Vec<bool> = points.par_iter().map(|&p| body.contains(p)).collect();
        assert_eq!(sequential, parallel);
        assert!(sequential.iter().any(|&c| c) && !sequential.iter().all(|&c| c));
    }

    #[test]
    fn shipped_pipe_is_a_tilted_cylinder() {
        // designs/bodies/pipe.stl: radius 7 mm, 48 sides, axis (-5, 20, 12) → (85, 20, 34).
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("designs/bodies/pipe.stl");
        let body = StlBody::load(&path).unwrap();
        assert_eq!(body.triangle_count(), 4 * 48);
        let (start, end) = ([-5.0, 20.0, 12.0], [85.0, 20.0, 34.0]);
        let axis = sub(end, start);
        let length = dot(axis, axis).sqrt();
        let mut rng = Lcg(5);
        for _ in 0..2_000 {
            let p: [f64; 3] = std::array::from_fn(|k| {
                [-10.0, 10.0, 0.0][k] + [100.0, 20.0, 45.0][k] * rng.next()
            });
            let along = dot(sub(p, start), axis) / length;
            let offset = sub(sub(p, start), axis.map(|x| x * along / length));
            let radial = dot(offset, offset).sqrt();
            // The 48-gon lies between radius 7·cos(π/48) and 7; f32 storage moves it < 1e-5 mm.
            let inradius = 7.0 * (std::f64::consts::PI / 48.0).cos();
            let inside = along > 1e-4 && along < length - 1e-4 && radial < inradius - 1e-4;
            let outside = along < -1e-4 || along > length + 1e-4 || radial > 7.0 + 1e-4;
            if inside || outside {
                assert_eq!(body.contains(p), inside, "{p:?}: {along} {radial}");
            }
        }
    }
}
