//! Stress of the solid material in a hexahedral element: the one von Mises kernel that the
//! stress constraint of the optimizer and every reported stress use.
//!
//! **Stress in the solid.** Under SIMP an element of density `ρ` has stiffness `ρᵖ E₀`, but what
//! fails is the solid material that the density stands for, not a fictitious porous continuum.
//! As in stress-based topology optimisation (Duysinx & Bendsøe 1998, "Topology optimization of
//! continuum structures with local stress constraints", IJNME 43; Le et al. 2010, "Stress-based
//! topology optimization for continua", SMO 41), the stress is that of the solid material under
//! the element's displacements,
//!
//! ```text
//! σ(ξ) = E₀ · D̂(ν) · B(ξ) · uₑ / h,
//! ```
//!
//! with `B(ξ)` the strain–displacement matrix of the unit cube at the local point `ξ`
//! ([`super::hex8::strain_displacement`]), `uₑ` the 24 element displacements in mm, `h` the
//! element edge in mm and `E₀` in MPa, so `σ` is in MPa. `D̂ B u` is applied in Lamé form,
//! `σ = λ tr(ε) I + 2μ ε` with `τ = μ γ` for the engineering shear strains, the same isotropic
//! law as the element stiffness.
//!
//! **Where.** Two sampling rules, both from this kernel:
//!
//! * [`StressPoint::Centre`], one value per element: the optimal stress point of the trilinear
//!   brick (Barlow 1976, "Optimal stress locations in finite element models", IJNME 10), where
//!   the parasitic shear of a bending mode vanishes. The optimizer's stress constraint and the
//!   per-element output fields use it.
//! * [`nodal_von_mises`]: at the nodes, from the corner stresses of the solid elements around
//!   each node, averaged before taking the von Mises value (nodal averaging, as CalculiX and
//!   most FE post-processors extrapolate to nodes). Bending stress is largest at the surface,
//!   half an element outside the outermost element centres, so the centre value of a member
//!   two or three elements thick reads a third to a half low; the corners sit on the surface.
//!   The parasitic shear at the corners has opposite signs in the two elements that share a
//!   corner along the bending axis and cancels in the average. The figures of an exported part
//!   use it.
//!
//! **Von Mises.** The equivalent stress (von Mises 1913, "Mechanik der festen Körper im
//! plastisch-deformablen Zustand", Nachr. Ges. Wiss. Göttingen) is
//!
//! ```text
//! σ_vm = √( ½[(σxx − σyy)² + (σyy − σzz)² + (σzz − σxx)²] + 3(τxy² + τyz² + τzx²) ) = √(σᵀVσ),
//! ```
//!
//! and its derivative with respect to the element displacements, for adjoint loads, is
//! `∂σ_vm/∂uₑ = Bᵀ D (Vσ) / σ_vm`.

use nalgebra::{SMatrix, SVector};
use rayon::prelude::*;

use super::hex8::strain_displacement;
use crate::grid::Grid;

/// A stress in Voigt order (σxx, σyy, σzz, τxy, τyz, τzx), MPa.
pub type Stress = [f64; 6];

/// Where in the element a stress is sampled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StressPoint {
    /// The element centre, ξ = (½, ½, ½).
    Centre,
    /// Corner `c` (0–7) in the order of [`Grid::element_nodes`]: ξ = (c & 1, c >> 1 & 1, c >> 2).
    Corner(usize),
}

/// The stress kernel of the solid material on elements of one size, with the strain matrices of
/// every sampling point computed once.
#[derive(Debug, Clone)]
pub struct SolidStress {
    /// `B(ξ) / h` for the centre (index 8) and the corners (0–7): element displacements in mm
    /// to engineering strains.
    strain: [SMatrix<f64, 6, 24>; 9],
    /// Lamé's first parameter `λ` of the solid, MPa.
    lambda: f64,
    /// Shear modulus `μ` of the solid, MPa.
    mu: f64,
}

impl SolidStress {
    /// The kernel for elements of edge `element_size_mm` of a solid with Young's modulus
    /// `youngs_modulus_mpa` and Poisson's ratio `poisson_ratio`.
    pub fn new(element_size_mm: f64, youngs_modulus_mpa: f64, poisson_ratio: f64) -> Self {
        let (e, nu) = (youngs_modulus_mpa, poisson_ratio);
        let at = |xi: [f64; 3]| strain_displacement(xi) / element_size_mm;
        Self {
            strain: std::array::from_fn(|k| {
                if k == 8 {
                    at([0.5; 3])
                } else {
                    at([k & 1, (k >> 1) & 1, k >> 2].map(|c| c as f64))
                }
            }),
            lambda: e * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)),
            mu: e / (2.0 * (1.0 + nu)),
        }
    }

    fn matrix(&self, point: StressPoint) -> &SMatrix<f64, 6, 24> {
        match point {
            StressPoint::Centre => &self.strain[8],
            StressPoint::Corner(c) => &self.strain[c],
        }
    }

    /// `D̂`: engineering strains to stress (also applied to `Vσ` for the gradient, `D̂` being
    /// symmetric).
    fn material(&self, strain: &[f64; 6]) -> Stress {
        let volumetric = self.lambda * (strain[0] + strain[1] + strain[2]);
        std::array::from_fn(|row| {
            if row < 3 {
                volumetric + 2.0 * self.mu * strain[row]
            } else {
                // Engineering shear strain γ = 2ε, so τ = μ·γ.
                self.mu * strain[row]
            }
        })
    }

    /// The stress at `point` of an element with displacements `ue` (mm, local DOF order
    /// `3·corner + axis`), MPa.
    pub fn stress(&self, ue: &[f64; 24], point: StressPoint) -> Stress {
        let strain = self.matrix(point) * SVector::<f64, 24>::from_column_slice(ue);
        self.material(&strain.into())
    }

    /// `∂σ_vm/∂uₑ` at `point`, for an element with displacements `ue`; zero where the stress is
    /// zero (the von Mises value is not differentiable there, and zero is a subgradient).
    pub fn von_mises_gradient(&self, ue: &[f64; 24], point: StressPoint) -> [f64; 24] {
        let stress = self.stress(ue, point);
        let vm = von_mises(&stress);
        if vm <= 0.0 {
            return [0.0; 24];
        }
        let [sxx, syy, szz, txy, tyz, tzx] = stress;
        // Vσ / σ_vm.
        let direction = [
            (sxx - 0.5 * (syy + szz)) / vm,
            (syy - 0.5 * (szz + sxx)) / vm,
            (szz - 0.5 * (sxx + syy)) / vm,
            3.0 * txy / vm,
            3.0 * tyz / vm,
            3.0 * tzx / vm,
        ];
        let d = SVector::<f64, 6>::from(self.material(&direction));
        (self.matrix(point).transpose() * d).into()
    }

    /// The von Mises stress at every element centre of `grid` for nodal displacements `u` (mm,
    /// one per DOF) into `out` (one per element), in parallel; each value depends on its own
    /// element only, so the result is the same for any thread count.
    ///
    /// # Panics
    ///
    /// If `u.len()` is not `grid.dof_count()` or `out.len()` is not `grid.element_count()`.
    pub fn element_von_mises(&self, grid: &Grid, u: &[f64], out: &mut [f64]) {
        assert_eq!(u.len(), grid.dof_count(), "one displacement per DOF");
        assert_eq!(out.len(), grid.element_count(), "one stress per element");
        out.par_iter_mut().enumerate().for_each(|(e, stress)| {
            *stress =
                von_mises(&self.stress(&element_displacements(grid, u, e), StressPoint::Centre));
        });
    }

    /// The von Mises stress at every node of `grid` from the corner stresses of the elements
    /// around it with `solid[e]` set, averaged as tensors ([module documentation](self)); nodes
    /// with no solid element around them get 0.
    ///
    /// # Panics
    ///
    /// If `u.len()` is not `grid.dof_count()` or `solid.len()` is not `grid.element_count()`.
    pub fn nodal_von_mises(&self, grid: &Grid, u: &[f64], solid: &[bool]) -> Vec<f64> {
        assert_eq!(u.len(), grid.dof_count(), "one displacement per DOF");
        assert_eq!(solid.len(), grid.element_count(), "one flag per element");
        (0..grid.node_count())
            .into_par_iter()
            .map(|n| {
                let mut sum = [0.0; 6];
                let mut count = 0usize;
                for (c, e) in grid.elements_at_node(n).filter(|&(_, e)| solid[e]) {
                    let s = self.stress(&element_displacements(grid, u, e), StressPoint::Corner(c));
                    for (total, value) in sum.iter_mut().zip(s) {
                        *total += value;
                    }
                    count += 1;
                }
                if count == 0 {
                    0.0
                } else {
                    von_mises(&sum.map(|s| s / count as f64))
                }
            })
            .collect()
    }
}

/// The 24 displacements of element `e` in local DOF order.
pub fn element_displacements(grid: &Grid, u: &[f64], e: usize) -> [f64; 24] {
    grid.element_dofs(grid.element_coords(e)).map(|dof| u[dof])
}

/// Von Mises equivalent of a Voigt stress (σxx, σyy, σzz, τxy, τyz, τzx).
pub fn von_mises([sxx, syy, szz, txy, tyz, tzx]: &Stress) -> f64 {
    let normal = (sxx - syy).powi(2) + (syy - szz).powi(2) + (szz - sxx).powi(2);
    let shear = txy * txy + tyz * tyz + tzx * tzx;
    (0.5 * normal + 3.0 * shear).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn von_mises_gradient_matches_finite_differences() {
        let kernel = SolidStress::new(2.0, 2100.0, 0.38);
        let ue: [f64; 24] = std::array::from_fn(|i| ((i as f64) * 0.731).sin() * 1e-2);
        for point in [
            StressPoint::Centre,
            StressPoint::Corner(0),
            StressPoint::Corner(6),
        ] {
            let gradient = kernel.von_mises_gradient(&ue, point);
            for i in 0..24 {
                let step = 1e-7;
                let (mut plus, mut minus) = (ue, ue);
                plus[i] += step;
                minus[i] -= step;
                let fd = (von_mises(&kernel.stress(&plus, point))
                    - von_mises(&kernel.stress(&minus, point)))
                    / (2.0 * step);
                assert!(
                    (fd - gradient[i]).abs()
                        <= 1e-6 * gradient.iter().map(|g| g.abs()).fold(0.0, f64::max),
                    "{point:?} dof {i}: {fd} vs {}",
                    gradient[i]
                );
            }
        }
    }

    #[test]
    fn corners_of_a_bent_element_read_the_surface_stress_and_the_centre_none() {
        // Pure bending about z on one element: u_x = κ x (y − ½h), u_y = −κ x²/2 gives
        // ε_xx = κ (y − ½h), zero at the mid-plane and ±κh/2 on the faces y = 0, h.
        let h = 2.0;
        let kernel = SolidStress::new(h, 1000.0, 0.0);
        let kappa = 1e-3;
        let ue: [f64; 24] = std::array::from_fn(|dof| {
            let c = dof / 3;
            let [x, y] = [(c & 1) as f64 * h, ((c >> 1) & 1) as f64 * h];
            match dof % 3 {
                0 => kappa * x * (y - 0.5 * h),
                1 => -0.5 * kappa * x * x,
                _ => 0.0,
            }
        });
        assert!(von_mises(&kernel.stress(&ue, StressPoint::Centre)) < 1e-12);
        let sxx = kernel.stress(&ue, StressPoint::Corner(2))[0];
        assert!((sxx - 1000.0 * kappa * 0.5 * h).abs() < 1e-12, "{sxx}");
    }
}
