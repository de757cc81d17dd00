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

/// Torus of major radius 3 and minor radius 1 around z, outward.
pub(crate) fn torus(n: u32, m: u32) -> TriangleMesh {
    let vertices = (0..m)
        .flat_map(|j| (0..n).map(move |i| (i, j)))
        .map(|(i, j)| {
            let u = std::f64::consts::TAU * f64::from(i) / f64::from(n);
            let v = std::f64::consts::TAU * f64::from(j) / f64::from(m);
            let r = 3.0 + v.cos();
            [r * u.cos(), r * u.sin(), v.sin()]
        })
        .collect();
    // Grid direction i runs around z and j around the tube, so the
    // right-hand normal of (i, j) → (i + 1, j) → (i + 1, j + 1) points out.
    let triangles = quad_grid(n, m, |i, j| i % n + n * (j % m));
    TriangleMesh {
        vertices,
        triangles,
    }
}

/// A quad grid of `n × m` vertices `(i, j)`, each quad split into two
/// triangles, with `index(i, j)` saying which vertex sits at grid point
/// `(i, j)` for `i ≤ n`, `j ≤ m`; the wrap-around decides the topology.
pub(crate) fn quad_grid(n: u32, m: u32, index: impl Fn(u32, u32) -> u32) -> Vec<[u32; 3]> {
    let mut triangles = Vec::new();
    for j in 0..m {
        for i in 0..n {
            let [a, b, c, d] =
                [(i, j), (i + 1, j), (i + 1, j + 1), (i, j + 1)].map(|(i, j)| index(i, j));
            triangles.push([a, b, c]);
            triangles.push([a, c, d]);
        }
    }
    triangles
}

/// `b` appended to `a`, its indices shifted past `a`'s vertices.
pub(crate) fn merged(a: &TriangleMesh, b: &TriangleMesh) -> TriangleMesh {
    let shift = a.vertices.len() as u32;
    let mut mesh = a.clone();
    mesh.vertices.extend(&b.vertices);
    mesh.triangles
        .extend(b.triangles.iter().map(|t| t.map(|i| i + shift)));
    mesh
}
