//! Preconditioned conjugate gradients (Hestenes & Stiefel 1952) for `A u = f`, warm-started.
//!
//! All vectors and dot products are f64; dot products are fixed-order sums, so the iteration is
//! bitwise identical for any thread count. A warm start is kept only when its residual is below
//! `‖f‖` (the check of Liu et al. 2018), otherwise the solve starts from zero.

use rayon::prelude::*;

use crate::reduce;

/// Settings of a CG solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgParams {
    /// Required relative residual `‖f − A u‖ / ‖f‖`.
    pub tolerance: f64,
    /// Most iterations.
    pub max_iterations: usize,
}

/// What a CG solve did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CgInfo {
    /// Iterations run.
    pub iterations: usize,
    /// Final relative residual (of the recursively updated residual).
    pub relative_residual: f64,
    /// Whether the tolerance was met.
    pub converged: bool,
}

/// A CG solve that cannot continue.
#[derive(Debug, Clone, Copy, PartialEq, thiserror::Error)]
pub enum CgError {
    /// A non-finite value appeared (NaN or infinity in the operator, preconditioner or data).
    #[error("conjugate gradients produced a non-finite value at iteration {iteration}")]
    NonFinite {
        /// The iteration.
        iteration: usize,
    },
    /// `pᵀAp ≤ 0` or `rᵀz ≤ 0`: the operator or preconditioner is not positive definite.
    #[error(
        "conjugate gradients broke down at iteration {iteration} (operator or preconditioner not positive definite)"
    )]
    Breakdown {
        /// The iteration.
        iteration: usize,
    },
}

/// Scratch vectors of one size.
#[derive(Debug, Clone)]
pub struct CgWorkspace {
    r: Vec<f64>,
    z: Vec<f64>,
    p: Vec<f64>,
    q: Vec<f64>,
}

impl CgWorkspace {
    /// Scratch for vectors of length `n`.
    pub fn new(n: usize) -> Self {
        Self {
            r: vec![0.0; n],
            z: vec![0.0; n],
            p: vec![0.0; n],
            q: vec![0.0; n],
        }
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    reduce::sum_map(a.len(), |i| a[i] * b[i])
}

/// `value` if it is finite and positive, as CG's curvatures `rᵀz` and `pᵀAp` must be.
fn positive(value: f64, iteration: usize) -> Result<f64, CgError> {
    if !value.is_finite() {
        Err(CgError::NonFinite { iteration })
    } else if value <= 0.0 {
        Err(CgError::Breakdown { iteration })
    } else {
        Ok(value)
    }
}

/// Solves `A u = f` from the initial guess in `u`; `apply(x, y)` computes `y = A x` and
/// `precondition(r, z)` computes `z ≈ A⁻¹ r`.
pub fn pcg(
    mut apply: impl FnMut(&[f64], &mut [f64]),
    mut precondition: impl FnMut(&[f64], &mut [f64]),
    f: &[f64],
    u: &mut [f64],
    params: &CgParams,
    ws: &mut CgWorkspace,
) -> Result<CgInfo, CgError> {
    let CgWorkspace { r, z, p, q } = ws;
    let f_norm = dot(f, f).sqrt();
    if f_norm == 0.0 {
        u.fill(0.0);
        return Ok(CgInfo {
            iterations: 0,
            relative_residual: 0.0,
            converged: true,
        });
    }
    apply(u, q);
    r.par_iter_mut()
        .zip(f)
        .zip(&*q)
        .for_each(|((r, f), q)| *r = f - q);
    let mut r_norm = dot(r, r).sqrt();
    if r_norm.is_nan() || r_norm >= f_norm {
        // The warm start is worse than zero (or not finite): start from zero.
        u.fill(0.0);
        r.copy_from_slice(f);
        r_norm = f_norm;
    }
    let mut iterations = 0;
    let mut rz = 0.0;
    loop {
        let relative_residual = r_norm / f_norm;
        if !relative_residual.is_finite() {
            return Err(CgError::NonFinite {
                iteration: iterations,
            });
        }
        if relative_residual <= params.tolerance || iterations >= params.max_iterations {
            return Ok(CgInfo {
                iterations,
                relative_residual,
                converged: relative_residual <= params.tolerance,
            });
        }
        precondition(r, z);
        let rz_new = positive(dot(r, z), iterations)?;
        if iterations == 0 {
            p.copy_from_slice(z);
        } else {
            let beta = rz_new / rz;
            p.par_iter_mut()
                .zip(&*z)
                .for_each(|(p, z)| *p = z + beta * *p);
        }
        rz = rz_new;
        apply(p, q);
        let alpha = rz / positive(dot(p, q), iterations)?;
        u.par_iter_mut().zip(&*p).for_each(|(u, p)| *u += alpha * p);
        r.par_iter_mut().zip(&*q).for_each(|(r, q)| *r -= alpha * q);
        r_norm = dot(r, r).sqrt();
        iterations += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1D Laplacian, tridiagonal (−1, 2, −1).
    fn laplacian(x: &[f64], y: &mut [f64]) {
        let n = x.len();
        for i in 0..n {
            let left = if i > 0 { x[i - 1] } else { 0.0 };
            let right = if i + 1 < n { x[i + 1] } else { 0.0 };
            y[i] = 2.0 * x[i] - left - right;
        }
    }

    #[test]
    fn solves_a_laplacian_in_at_most_n_iterations() {
        let n = 50;
        let f: Vec<f64> = (0..n).map(|i| (i as f64).sin()).collect();
        let mut u = vec![0.0; n];
        let params = CgParams {
            tolerance: 1e-12,
            max_iterations: 200,
        };
        let info = pcg(
            laplacian,
            |r, z| z.copy_from_slice(r),
            &f,
            &mut u,
            &params,
            &mut CgWorkspace::new(n),
        )
        .unwrap();
        assert!(info.converged && info.iterations <= n + 1, "{info:?}");
        let mut au = vec![0.0; n];
        laplacian(&u, &mut au);
        let err: f64 = au
            .iter()
            .zip(&f)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        assert!(err < 1e-10);
    }

    #[test]
    fn reports_non_convergence_and_non_finite_values() {
        let n = 50;
        let f = vec![1.0; n];
        let params = CgParams {
            tolerance: 1e-12,
            max_iterations: 3,
        };
        let mut u = vec![0.0; n];
        let info = pcg(
            laplacian,
            |r, z| z.copy_from_slice(r),
            &f,
            &mut u,
            &params,
            &mut CgWorkspace::new(n),
        )
        .unwrap();
        assert!(!info.converged && info.iterations == 3);
        let mut u = vec![0.0; n];
        let nan = |_: &[f64], y: &mut [f64]| y.fill(f64::NAN);
        let err = pcg(
            nan,
            |r, z| z.copy_from_slice(r),
            &f,
            &mut u,
            &params,
            &mut CgWorkspace::new(n),
        );
        assert!(matches!(err, Err(CgError::NonFinite { .. })), "{err:?}");
        let negative = |x: &[f64], y: &mut [f64]| y.iter_mut().zip(x).for_each(|(y, x)| *y = -x);
        let err = pcg(
            negative,
            |r, z| z.copy_from_slice(r),
            &f,
            &mut vec![0.0; n],
            &params,
            &mut CgWorkspace::new(n),
        );
        assert!(matches!(err, Err(CgError::Breakdown { .. })), "{err:?}");
    }
}
