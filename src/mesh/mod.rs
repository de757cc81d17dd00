//! Triangle surface meshes: the printable-part end of the pipeline.
//!
//! The optimiser produces a voxel density field; a slicer wants a closed,
//! consistently oriented triangle surface. This module holds the shared mesh
//! type and the three steps between the two:
//!
//! * [`isosurface`] turns the density field into a surface by marching
//!   tetrahedra (Doi & Koide, "An efficient method of triangulating
//!   equi-valued surfaces by using tetrahedral cells", IEICE Trans. E74, 1991)
//!   on a Freudenthal/Kuhn split of the sample lattice, which is watertight by
//!   construction, unlike classic marching cubes with its ambiguous faces;
//! * [`check`] verifies the result (boundary, non-manifold and inconsistently
//!   oriented edges, degenerate triangles, volume, Euler characteristic) and
//!   [`intersect`] finds where it passes through itself, so a defect is
//!   reported before a print fails rather than after;
//! * [`stl`] writes binary STL, the format every slicer reads.
//!
//! Coordinates are millimetres throughout.

pub mod check;
pub mod intersect;
pub mod isosurface;
pub mod kept;
pub mod layers;
pub mod part;
pub mod printability;
pub mod simplify;
pub mod smooth;
pub mod steepen;
pub mod stl;
#[cfg(test)]
pub(crate) mod test_support;
mod thickness;
pub mod three_mf;
pub mod unfold;

pub use check::{MeshReport, check_mesh};
pub use isosurface::extract_isosurface;
pub use kept::{KeptGeometry, KeptShape};
pub use part::{OverhangLimit, Part, PartParams, make_part};

/// An indexed triangle mesh in millimetres.
///
/// Triangles list vertex indices counter-clockwise when seen from outside, so
/// the right-hand normal points out of the solid and a closed mesh has a
/// positive [`signed_volume`](Self::signed_volume).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TriangleMesh {
    /// Vertex positions `[x, y, z]` in millimetres.
    pub vertices: Vec<[f64; 3]>,
    /// Triangles as indices into `vertices`, counter-clockwise from outside.
    pub triangles: Vec<[u32; 3]>,
}

impl TriangleMesh {
    /// The mesh turned rigidly so that `direction` points along +z, as a slicer stacks layers.
    pub fn turned_up(&self, direction: crate::printer::BuildDirection) -> TriangleMesh {
        use crate::printer::BuildDirection as D;
        // Proper rotations (determinant +1), so the facets stay outward.
        let turn = |[x, y, z]: [f64; 3]| match direction {
            D::PlusZ => [x, y, z],
            D::MinusZ => [x, -y, -z],
            D::PlusX => [-z, y, x],
            D::MinusX => [z, y, -x],
            D::PlusY => [x, -z, y],
            D::MinusY => [x, z, -y],
        };
        TriangleMesh {
            vertices: self.vertices.iter().map(|&v| turn(v)).collect(),
            triangles: self.triangles.clone(),
        }
    }

    /// Volume enclosed by the mesh in mm³, by the divergence theorem.
    ///
    /// Each triangle contributes the signed volume of the tetrahedron it
    /// spans with the origin, `a · (b × c) / 6`; on a closed surface the
    /// contributions outside the solid cancel and the sum is the enclosed
    /// volume (see e.g. Zhang & Chen, "Efficient feature extraction for 2D/3D
    /// objects in mesh representation", ICIP 2001). It is positive for an
    /// outward-oriented closed mesh, negative if the mesh is inside out, and
    /// depends on the origin if the mesh is open. Triangles that refer to a
    /// vertex that does not exist are skipped rather than panicking, since
    /// this is also used to report on meshes that may be broken.
    pub fn signed_volume(&self) -> f64 {
        let mut six_volume = 0.0;
        for tri in &self.triangles {
            let [Some(a), Some(b), Some(c)] = tri.map(|i| self.vertices.get(i as usize)) else {
                continue;
            };
            six_volume += dot(*a, cross(*b, *c));
        }
        six_volume / 6.0
    }
}

/// `a - b`.
pub(crate) fn sub(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [a[0] - b[0], a[1] - b[1], a[2] - b[2]]
}

/// Cross product `a × b`.
pub(crate) fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}

/// Two unit vectors that with the unit vector `direction` form a right-handed orthonormal frame,
/// so that a face's normal points along `direction` exactly when its projection onto them is
/// counter-clockwise.
pub(crate) fn horizontal_frame(direction: [f64; 3]) -> ([f64; 3], [f64; 3]) {
    // Start from the axis least aligned with the direction, for a well-conditioned frame.
    let axis = (0..3)
        .min_by(|&a, &b| direction[a].abs().total_cmp(&direction[b].abs()))
        .unwrap_or(0);
    let mut e = [0.0; 3];
    e[axis] = 1.0;
    let along_d = dot(e, direction);
    let across = std::array::from_fn(|a| e[a] - along_d * direction[a]);
    let norm = dot(across, across).sqrt();
    let across = across.map(|x| x / norm);
    let along = cross(direction, across);
    (across, along)
}

/// Dot product `a · b`.
/// Generalised winding number of `mesh` around `p`: the sum of the signed solid angles of its
/// triangles over 4π (Van Oosterom & Strackee, IEEE Trans. Biomed. Eng. 30(2), 1983), 1 inside
/// and 0 outside a closed outward mesh. Needs no spatial index and does not break on rays that
/// graze an edge, at a cost linear in the triangles.
pub(crate) fn winding_number(mesh: &TriangleMesh, p: [f64; 3]) -> f64 {
    let solid_angle: f64 = mesh
        .triangles
        .iter()
        .map(|tri| {
            let [a, b, c] = tri.map(|i| sub(mesh.vertices[i as usize], p));
            let [la, lb, lc] = [a, b, c].map(|v| dot(v, v).sqrt());
            let numerator = dot(a, cross(b, c));
            let denominator = la * lb * lc + dot(a, b) * lc + dot(b, c) * la + dot(c, a) * lb;
            2.0 * numerator.atan2(denominator)
        })
        .sum();
    solid_angle / (4.0 * std::f64::consts::PI)
}

pub(crate) fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cube(s: f64) -> TriangleMesh {
        super::test_support::cube(s, [0.0; 3])
    }

    #[test]
    fn cube_volume_is_side_cubed_and_flips_sign_when_inverted() {
        let mut mesh = cube(2.0);
        // Exact in binary floating point: every term is a small integer.
        assert_eq!(mesh.signed_volume(), 8.0);
        for tri in &mut mesh.triangles {
            tri.swap(1, 2);
        }
        assert_eq!(mesh.signed_volume(), -8.0);
    }

    #[test]
    fn volume_does_not_depend_on_position_for_a_closed_mesh() {
        let mut mesh = cube(1.5);
        for v in &mut mesh.vertices {
            *v = [v[0] + 100.0, v[1] - 37.0, v[2] + 12.5];
        }
        // Translation only adds cancelling terms; 1e-9 allows their rounding.
        assert!((mesh.signed_volume() - 3.375).abs() < 1e-9);
    }

    #[test]
    fn empty_and_broken_meshes_do_not_panic() {
        assert_eq!(TriangleMesh::default().signed_volume(), 0.0);
        let broken = TriangleMesh {
            vertices: vec![[0.0; 3]],
            triangles: vec![[0, 1, 2]],
        };
        assert_eq!(broken.signed_volume(), 0.0);
    }
}
