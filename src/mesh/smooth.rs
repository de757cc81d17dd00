//! Taubin λ|μ smoothing: removes the voxel staircase without shrinking the part.
//!
//! Each iteration moves every vertex towards the mean of its neighbours by λ (a Laplacian step,
//! which alone would shrink the part), then away from it by μ < −λ (which inflates it back);
//! together the two steps are a low-pass filter that keeps the volume (Taubin, "A signal
//! processing approach to fair surface design", SIGGRAPH 1995). λ = 0.5, μ = −0.53.
//!
//! Taubin keeps smooth, large shapes' volume, but thin members (one or two elements thick) are
//! high frequencies and lose some. So after smoothing, the surface is offset along its vertex
//! normals by the uniform distance `ΔV / area` that restores the unsmoothed volume (a few
//! Newton steps), which keeps the part's mass as optimized.
//!
//! Vertices that lie on a face of the design domain (within `margin_mm`) do not move off it,
//! so faces where the part touches the domain, such as a clamped base, stay flat. The topology never changes.
//! Every vertex is updated from the previous positions by one task: deterministic in parallel.

use rayon::prelude::*;

use super::TriangleMesh;

/// Laplacian step towards the neighbour mean.
const LAMBDA: f64 = 0.5;
/// Inflating step, |μ| slightly larger than λ (Taubin's pass-band 0.1).
const MU: f64 = -0.53;

/// Vertex neighbours in compressed rows.
struct Neighbours {
    offsets: Vec<usize>,
    indices: Vec<u32>,
}

impl Neighbours {
    fn new(mesh: &TriangleMesh) -> Self {
        let mut edges: Vec<(u32, u32)> = Vec::with_capacity(mesh.triangles.len() * 6);
        for t in &mesh.triangles {
            for (a, b) in [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])] {
                edges.push((a, b));
                edges.push((b, a));
            }
        }
        edges.par_sort_unstable();
        edges.dedup();
        let mut offsets = vec![0; mesh.vertices.len() + 1];
        for &(a, _) in &edges {
            offsets[a as usize + 1] += 1;
        }
        for v in 0..mesh.vertices.len() {
            offsets[v + 1] += offsets[v];
        }
        Self {
            offsets,
            indices: edges.into_iter().map(|(_, b)| b).collect(),
        }
    }

    fn of(&self, v: usize) -> &[u32] {
        &self.indices[self.offsets[v]..self.offsets[v + 1]]
    }
}

/// Smooths `mesh` in place with `iterations` Taubin λ|μ pairs; vertices within `margin_mm` of a
/// face of the box `[0, domain_mm]` keep their coordinate across that face.
pub fn taubin_smooth(
    mesh: &mut TriangleMesh,
    iterations: usize,
    domain_mm: [f64; 3],
    margin_mm: f64,
) {
    if iterations == 0 || mesh.vertices.is_empty() {
        return;
    }
    let neighbours = Neighbours::new(mesh);
    // 1.0 where a vertex may move along an axis, 0.0 where it is held on a domain face.
    let freedom: Vec<[f64; 3]> = mesh
        .vertices
        .iter()
        .map(|p| {
            std::array::from_fn(|a| {
                f64::from(u8::from(
                    p[a] > margin_mm && p[a] < domain_mm[a] - margin_mm,
                ))
            })
        })
        .collect();
    let volume = mesh.signed_volume();
    let mut next = mesh.vertices.clone();
    for _ in 0..iterations {
        for factor in [LAMBDA, MU] {
            let current = &mesh.vertices;
            next.par_iter_mut().enumerate().for_each(|(v, out)| {
                let around = neighbours.of(v);
                let p = current[v];
                if around.is_empty() {
                    *out = p;
                    return;
                }
                let mut mean = [0.0; 3];
                for &n in around {
                    for a in 0..3 {
                        mean[a] += current[n as usize][a];
                    }
                }
                let count = around.len() as f64;
                *out = std::array::from_fn(|a| {
                    p[a] + factor * freedom[v][a] * (mean[a] / count - p[a])
                });
            });
            std::mem::swap(&mut mesh.vertices, &mut next);
        }
    }
    restore_volume(mesh, volume, &freedom);
}

/// Offsets the surface along area-weighted vertex normals until it encloses `target` again.
fn restore_volume(mesh: &mut TriangleMesh, target: f64, freedom: &[[f64; 3]]) {
    for _ in 0..3 {
        let mut normals = vec![[0.0; 3]; mesh.vertices.len()];
        let mut area = 0.0;
        for t in &mesh.triangles {
            let [a, b, c] = t.map(|v| mesh.vertices[v as usize]);
            let u: [f64; 3] = std::array::from_fn(|k| b[k] - a[k]);
            let w: [f64; 3] = std::array::from_fn(|k| c[k] - a[k]);
            // Twice the area times the unit normal.
            let n = [
                u[1] * w[2] - u[2] * w[1],
                u[2] * w[0] - u[0] * w[2],
                u[0] * w[1] - u[1] * w[0],
            ];
            area += 0.5 * (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            for &v in t {
                for k in 0..3 {
                    normals[v as usize][k] += n[k];
                }
            }
        }
        let missing = target - mesh.signed_volume();
        if area <= 0.0 || missing.abs() <= 1e-6 * target.abs() {
            return;
        }
        let offset = missing / area;
        for ((p, n), f) in mesh.vertices.iter_mut().zip(&normals).zip(freedom) {
            let length = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
            if length > 0.0 {
                for k in 0..3 {
                    p[k] += offset * f[k] * n[k] / length;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::{check_mesh, extract_isosurface};

    fn sphere_field(n: usize) -> Vec<f64> {
        let c = n as f64 / 2.0;
        (0..n * n * n)
            .map(|e| {
                let p = [e % n, (e / n) % n, e / (n * n)].map(|v| v as f64 + 0.5 - c);
                let r = (p[0] * p[0] + p[1] * p[1] + p[2] * p[2]).sqrt();
                if r < 0.35 * n as f64 { 1.0 } else { 0.0 }
            })
            .collect()
    }

    #[test]
    fn keeps_volume_and_topology_and_reduces_roughness() {
        let n = 20;
        let mut mesh = extract_isosurface(&sphere_field(n), [n, n, n], 1.0, 0.5);
        let before = check_mesh(&mesh);
        let radius_spread = |m: &TriangleMesh| {
            let c = n as f64 / 2.0;
            let r: Vec<f64> = m
                .vertices
                .iter()
                .map(|p| ((p[0] - c).powi(2) + (p[1] - c).powi(2) + (p[2] - c).powi(2)).sqrt())
                .collect();
            let mean = r.iter().sum::<f64>() / r.len() as f64;
            (r.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / r.len() as f64).sqrt()
        };
        let rough = radius_spread(&mesh);
        taubin_smooth(&mut mesh, 10, [n as f64; 3], 0.5);
        let after = check_mesh(&mesh);
        assert!(after.is_watertight(), "{after:?}");
        assert_eq!(after.euler_characteristic, before.euler_characteristic);
        let change =
            (after.signed_volume_mm3 - before.signed_volume_mm3).abs() / before.signed_volume_mm3;
        assert!(change < 0.01, "volume changed by {change}");
        assert!(
            radius_spread(&mesh) < 0.8 * rough,
            "not smoother: {} vs {rough}",
            radius_spread(&mesh)
        );
    }

    #[test]
    fn faces_on_the_domain_boundary_stay_flat() {
        // A solid block filling the domain: its faces lie on the domain faces and must stay there.
        let dims = [6, 4, 3];
        let mut mesh = extract_isosurface(&[1.0; 72], dims, 2.0, 0.5);
        let domain = [12.0, 8.0, 6.0];
        let before = mesh.vertices.clone();
        taubin_smooth(&mut mesh, 10, domain, 1e-9);
        let mut on_faces = 0;
        for (p, q) in before.iter().zip(&mesh.vertices) {
            for a in 0..3 {
                if p[a] == 0.0 || p[a] == domain[a] {
                    on_faces += 1;
                    assert_eq!(p[a], q[a], "vertex {p:?} left its face");
                }
            }
        }
        assert!(on_faces > 0);
        assert!(check_mesh(&mesh).is_watertight());
    }

    #[test]
    fn thin_members_keep_their_volume() {
        // A one-voxel-thick plate: Taubin alone shrinks it by several per cent.
        let dims = [10, 10, 3];
        let density: Vec<f64> = (0..300)
            .map(|e| if e / 100 == 1 { 1.0 } else { 0.0 })
            .collect();
        let mut mesh = extract_isosurface(&density, dims, 1.0, 0.5);
        let before = mesh.signed_volume();
        taubin_smooth(&mut mesh, 10, [10.0, 10.0, 3.0], 0.5);
        let change = (mesh.signed_volume() - before).abs() / before;
        assert!(change < 0.01, "volume changed by {change}");
        assert!(check_mesh(&mesh).is_watertight());
    }
}
