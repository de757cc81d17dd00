//! Meshes and random numbers shared by the mesh module's tests.

use super::TriangleMesh;

/// Cube `[0, side]³ + offset` as 12 outward (counter-clockwise from outside) triangles.
pub fn cube(side: f64, offset: [f64; 3]) -> TriangleMesh {
    let vertices = (0..8)
        .map(|c| std::array::from_fn(|axis| f64::from((c >> axis) & 1) * side + offset[axis]))
        .collect();
    let triangles = vec![
        [0, 2, 1],
        [1, 2, 3],
        [4, 5, 6],
        [5, 7, 6],
        [0, 1, 4],
        [1, 5, 4],
        [2, 6, 3],
        [3, 6, 7],
        [0, 4, 2],
        [2, 4, 6],
        [1, 3, 5],
        [3, 7, 5],
    ];
    TriangleMesh {
        vertices,
        triangles,
    }
}

/// A tetrahedron with outward faces (legs of 3 along the axes).
pub fn tetrahedron() -> TriangleMesh {
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

/// Deterministic uniform numbers in [0, 1) from Knuth's MMIX LCG, so the "random" fields are the
/// same on every run and platform.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next number.
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
