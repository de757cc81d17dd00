//! Trilinear 8-node hexahedron for linear elasticity.
//!
//! The element stiffness of a cube of edge `h` and Young's modulus `E` is
//! `K_e = E · h · K̂`, where `K̂ = ∫_{[0,1]³} Bᵀ D̂ B dV` is the stiffness of the unit cube with unit
//! modulus (Liu & Tovar 2014, `lk_H8`; Andreassen et al. 2011). It is integrated with 2×2×2 Gauss
//! points, which is exact for the trilinear element. `D̂` is the isotropic elasticity matrix in
//! Voigt order (xx, yy, zz, xy, yz, zx) with engineering shear strains.
//!
//! Local DOF `3·c + axis`; corner `c` sits at `(c & 1, (c >> 1) & 1, (c >> 2) & 1)` (see [`crate::grid`]).

use nalgebra::{SMatrix, SVector};

/// Number of DOFs of one element.
pub const ELEMENT_DOFS: usize = 24;

/// The 24×24 stiffness of the unit cube for unit Young's modulus, stored row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementStiffness {
    /// Row-major entries; a flat array is faster in the hot loops than `SMatrix` (CRATES.md).
    pub entries: [f64; ELEMENT_DOFS * ELEMENT_DOFS],
}

impl ElementStiffness {
    /// Integrates `K̂` for Poisson's ratio `poisson_ratio` (must lie in (−1, 0.5)).
    pub fn new(poisson_ratio: f64) -> Self {
        let d = elasticity_matrix(poisson_ratio);
        let gauss = 0.5 / 3f64.sqrt();
        let points = [0.5 - gauss, 0.5 + gauss];
        let mut k = SMatrix::<f64, 24, 24>::zeros();
        for &z in &points {
            for &y in &points {
                for &x in &points {
                    let b = strain_displacement([x, y, z]);
                    // Each of the 8 Gauss points carries weight 1/8 on the unit cube.
                    k += b.transpose() * d * b * 0.125;
                }
            }
        }
        let mut entries = [0.0; ELEMENT_DOFS * ELEMENT_DOFS];
        for r in 0..ELEMENT_DOFS {
            for c in 0..ELEMENT_DOFS {
                // Symmetrise exactly: the integrand is symmetric, rounding is not.
                entries[r * ELEMENT_DOFS + c] = 0.5 * (k[(r, c)] + k[(c, r)]);
            }
        }
        Self { entries }
    }

    /// Entry `(row, col)`.
    #[inline]
    pub fn get(&self, row: usize, col: usize) -> f64 {
        self.entries[row * ELEMENT_DOFS + col]
    }

    /// `uₑᵀ K̂ uₑ`: twice the strain energy of the unit element under local displacements `u`.
    #[inline]
    pub fn energy(&self, u: &[f64; ELEMENT_DOFS]) -> f64 {
        let mut total = 0.0;
        for (row, &ur) in self.entries.chunks_exact(ELEMENT_DOFS).zip(u) {
            let mut ku = 0.0;
            for (k, &uc) in row.iter().zip(u) {
                ku += k * uc;
            }
            total += ur * ku;
        }
        total
    }
}

/// Isotropic elasticity matrix for unit Young's modulus (Voigt, engineering shear).
fn elasticity_matrix(nu: f64) -> SMatrix<f64, 6, 6> {
    let scale = 1.0 / ((1.0 + nu) * (1.0 - 2.0 * nu));
    let mut d = SMatrix::<f64, 6, 6>::zeros();
    for i in 0..3 {
        for j in 0..3 {
            d[(i, j)] = scale * if i == j { 1.0 - nu } else { nu };
        }
        d[(i + 3, i + 3)] = scale * (1.0 - 2.0 * nu) / 2.0;
    }
    d
}

/// Strain–displacement matrix `B` (6×24) of the unit cube at local point `p ∈ [0,1]³`.
pub(crate) fn strain_displacement(p: [f64; 3]) -> SMatrix<f64, 6, 24> {
    let mut b = SMatrix::<f64, 6, 24>::zeros();
    for corner in 0..8 {
        let grad = shape_gradient(corner, p);
        let col = 3 * corner;
        for axis in 0..3 {
            b[(axis, col + axis)] = grad[axis];
        }
        // Shear rows: γxy, γyz, γzx.
        for (row, (a, c)) in [(0, 1), (1, 2), (2, 0)].into_iter().enumerate() {
            b[(3 + row, col + a)] = grad[c];
            b[(3 + row, col + c)] = grad[a];
        }
    }
    b
}

/// Gradient of the trilinear shape function of `corner` at `p` on the unit cube.
fn shape_gradient(corner: usize, p: [f64; 3]) -> SVector<f64, 3> {
    let offsets = [corner & 1, (corner >> 1) & 1, corner >> 2];
    // 1D factors: N = x for the far corner, 1 − x for the near one; derivative ±1.
    let value = |axis: usize| {
        if offsets[axis] == 1 {
            p[axis]
        } else {
            1.0 - p[axis]
        }
    };
    let slope = |axis: usize| if offsets[axis] == 1 { 1.0 } else { -1.0 };
    SVector::<f64, 3>::new(
        slope(0) * value(1) * value(2),
        value(0) * slope(1) * value(2),
        value(0) * value(1) * slope(2),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use nalgebra::DMatrix;

    fn as_matrix(ke: &ElementStiffness) -> DMatrix<f64> {
        DMatrix::from_row_slice(24, 24, &ke.entries)
    }

    fn corner_position(c: usize) -> [f64; 3] {
        [(c & 1) as f64, ((c >> 1) & 1) as f64, (c >> 2) as f64]
    }

    #[test]
    fn stiffness_is_symmetric() {
        let ke = ElementStiffness::new(0.3);
        for r in 0..24 {
            for c in 0..24 {
                assert_eq!(ke.get(r, c), ke.get(c, r));
            }
        }
    }

    #[test]
    fn six_rigid_body_modes_have_zero_energy_and_nothing_else_does() {
        let ke = ElementStiffness::new(0.3);
        let k = as_matrix(&ke);
        // 3 translations and 3 infinitesimal rotations.
        let mut modes = Vec::new();
        for axis in 0..3 {
            modes.push(DMatrix::from_fn(24, 1, |r, _| {
                f64::from(u8::from(r % 3 == axis))
            }));
        }
        for (a, b) in [(0, 1), (1, 2), (2, 0)] {
            modes.push(DMatrix::from_fn(24, 1, |r, _| {
                let x = corner_position(r / 3);
                if r % 3 == a {
                    -x[b]
                } else if r % 3 == b {
                    x[a]
                } else {
                    0.0
                }
            }));
        }
        for mode in &modes {
            let residual = (&k * mode).norm() / mode.norm();
            assert!(residual < 1e-14, "rigid mode residual {residual}");
        }
        let eigenvalues = k.symmetric_eigenvalues();
        let mut sorted: Vec<f64> = eigenvalues.iter().copied().collect();
        sorted.sort_by(f64::total_cmp);
        let largest = sorted[23];
        assert!(sorted[..6].iter().all(|l| l.abs() < 1e-13 * largest));
        assert!(sorted[6] > 1e-3 * largest, "7th eigenvalue {}", sorted[6]);
    }

    #[test]
    fn positive_definite_once_a_face_is_clamped() {
        let ke = ElementStiffness::new(0.3);
        // Clamp the 4 corners on x = 0 (even corners): 12 DOFs remain.
        let free: Vec<usize> = (0..24).filter(|r| (r / 3) & 1 == 1).collect();
        let k = as_matrix(&ke).select_rows(&free).select_columns(&free);
        assert!(k.cholesky().is_some());
    }

    #[test]
    fn diagonal_matches_the_closed_form() {
        // K̂₀₀ = ∫ D₁₁ N₀,ₓ² + G (N₀,ᵧ² + N₀,₂²) dV with ∫ N₀,ₓ² dV = 1/9 on the unit cube:
        // s·((1 − ν) + (1 − 2ν))/9 with s = 1/((1 + ν)(1 − 2ν)).
        let nu = 0.3;
        let ke = ElementStiffness::new(nu);
        let expected = (2.0 - 3.0 * nu) / 9.0 / ((1.0 + nu) * (1.0 - 2.0 * nu));
        assert!((ke.get(0, 0) - expected).abs() < 1e-14);
    }

    #[test]
    fn energy_is_the_quadratic_form() {
        let ke = ElementStiffness::new(0.25);
        let u: [f64; 24] = std::array::from_fn(|i| (i as f64 * 0.37).sin());
        let k = as_matrix(&ke);
        let v = DMatrix::from_column_slice(24, 1, &u);
        let expected = (v.transpose() * k * &v)[(0, 0)];
        assert!((ke.energy(&u) - expected).abs() < 1e-13 * expected.abs());
    }
}
