//! The design space: which elements are free, which are held solid or empty, and the mirror
//! symmetry of the free ones.
//!
//! Passive elements are fixed after filtering (the physical density of a keep-solid element is
//! 1, of a keep-empty element 0), so the filter still sees them and members grow smoothly into
//! them; their sensitivities are dropped before the filter's chain rule, because their physical
//! density does not depend on the design variables.
//!
//! Symmetry is enforced on the design variables by averaging the sensitivities over each orbit of
//! mirror images: every update is then identical on the orbit, so the design stays exactly
//! symmetric. The physical density is averaged too, which removes the last rounding
//! difference of the filter's sums. Each orbit is summed in ascending element order, so all its
//! members get bitwise the same value.

use rayon::prelude::*;

use crate::filters::density::DensityFilter;
use crate::grid::Grid;
use crate::problem::{ElementRole, Problem};
use crate::reduce;

/// Free and passive elements and the symmetry of a problem.
#[derive(Debug, Clone)]
pub struct DesignSpace {
    grid: Grid,
    roles: Vec<ElementRole>,
    symmetry: [bool; 3],
    has_passive: bool,
    design_count: usize,
}

impl DesignSpace {
    /// The design space of `problem`.
    pub fn new(problem: &Problem) -> Self {
        Self::from_parts(
            problem.grid,
            problem.element_roles.clone(),
            problem.optimization.symmetry,
        )
    }

    /// A design space from element roles and mirror planes (normal to x, y, z).
    pub fn from_parts(grid: Grid, roles: Vec<ElementRole>, symmetry: [bool; 3]) -> Self {
        let design_count = roles.iter().filter(|&&r| r == ElementRole::Design).count();
        Self {
            grid,
            has_passive: design_count < roles.len(),
            roles,
            symmetry,
            design_count,
        }
    }

    /// Number of free elements.
    pub fn design_count(&self) -> usize {
        self.design_count
    }

    /// Whether element `e` is free.
    #[inline]
    pub fn is_design(&self, e: usize) -> bool {
        self.roles[e] == ElementRole::Design
    }

    /// The fixed density of a passive element, `None` for a free one.
    #[inline]
    pub fn fixed_value(&self, e: usize) -> Option<f64> {
        match self.roles[e] {
            ElementRole::Design => None,
            ElementRole::Solid => Some(1.0),
            ElementRole::Empty => Some(0.0),
        }
    }

    /// The starting design: `fraction` on free elements, the fixed values on passive ones.
    pub fn initial(&self, fraction: f64) -> Vec<f64> {
        (0..self.roles.len())
            .map(|e| self.fixed_value(e).unwrap_or(fraction))
            .collect()
    }

    /// Lower and upper bounds of every variable: [0, 1] when free, the fixed value when passive.
    pub fn bounds(&self) -> (Vec<f64>, Vec<f64>) {
        let lower = (0..self.roles.len())
            .map(|e| self.fixed_value(e).unwrap_or(0.0))
            .collect();
        let upper = (0..self.roles.len())
            .map(|e| self.fixed_value(e).unwrap_or(1.0))
            .collect();
        (lower, upper)
    }

    /// The physical density of design `x`: filtered, symmetrized, passive values imposed.
    pub fn physical(
        &self,
        filter: &DensityFilter,
        x: &[f64],
        x_phys: &mut [f64],
        scratch: &mut [f64],
    ) {
        filter.apply(x, x_phys);
        self.symmetrize_and_keep(x_phys, scratch);
    }

    /// Makes a density symmetric and imposes the kept elements' values.
    pub fn symmetrize_and_keep(&self, x_phys: &mut [f64], scratch: &mut [f64]) {
        if self.is_symmetric() {
            self.symmetrize(x_phys, scratch);
            x_phys.copy_from_slice(scratch);
        }
        if self.has_passive {
            x_phys.par_iter_mut().enumerate().for_each(|(e, v)| {
                if let Some(fixed) = self.fixed_value(e) {
                    *v = fixed;
                }
            });
        }
    }

    /// Drops the entries of passive elements from a gradient with respect to the physical density.
    pub fn drop_passive(&self, gradient: &mut [f64]) {
        if self.has_passive {
            gradient.par_iter_mut().enumerate().for_each(|(e, g)| {
                if !self.is_design(e) {
                    *g = 0.0;
                }
            });
        }
    }

    /// Makes a gradient with respect to the design variables symmetric (orbit averages).
    pub fn symmetrize_gradient(&self, gradient: &mut [f64], scratch: &mut [f64]) {
        if self.is_symmetric() {
            self.symmetrize(gradient, scratch);
            gradient.copy_from_slice(scratch);
        }
    }

    /// Sum of the physical density over the free elements (their material volume in elements).
    pub fn design_volume(&self, x_phys: &[f64]) -> f64 {
        if self.has_passive {
            reduce::sum_map(x_phys.len(), |e| {
                if self.is_design(e) { x_phys[e] } else { 0.0 }
            })
        } else {
            // The classic codes' sum, kept identical so their histories are reproduced.
            reduce::sum(x_phys)
        }
    }

    /// Largest change of a free variable.
    pub fn max_change(&self, x_new: &[f64], x: &[f64]) -> f64 {
        reduce::max_map(x.len(), |e| {
            if self.is_design(e) {
                (x_new[e] - x[e]).abs()
            } else {
                0.0
            }
        })
    }

    fn is_symmetric(&self) -> bool {
        self.symmetry.iter().any(|&s| s)
    }

    /// `out[e]` = mean of `values` over the mirror orbit of e, summed in ascending order.
    fn symmetrize(&self, values: &[f64], out: &mut [f64]) {
        let grid = self.grid;
        let symmetry = self.symmetry;
        out.par_iter_mut().enumerate().for_each(|(e, o)| {
            let c = grid.element_coords(e);
            let mut orbit = [0usize; 8];
            let mut count = 0;
            for mask in 0..8usize {
                if (0..3).any(|a| mask >> a & 1 == 1 && !symmetry[a]) {
                    continue;
                }
                let image: [usize; 3] = std::array::from_fn(|a| {
                    if mask >> a & 1 == 1 {
                        grid.elements[a] - 1 - c[a]
                    } else {
                        c[a]
                    }
                });
                orbit[count] = grid.element_index(image);
                count += 1;
            }
            let orbit = &mut orbit[..count];
            orbit.sort_unstable();
            *o = orbit.iter().map(|&m| values[m]).sum::<f64>() / count as f64;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetrized_values_are_bitwise_mirror_images() {
        let grid = Grid::new([5, 4, 3], 1.0);
        let s = DesignSpace::from_parts(grid, vec![ElementRole::Design; 60], [true, false, true]);
        let values: Vec<f64> = (0..60).map(|e| (e as f64 * 0.731).sin() / 3.0).collect();
        let mut out = vec![0.0; 60];
        s.symmetrize(&values, &mut out);
        for e in 0..60 {
            let [i, j, k] = grid.element_coords(e);
            let mirror_x = grid.element_index([4 - i, j, k]);
            let mirror_z = grid.element_index([i, j, 2 - k]);
            assert_eq!(out[e].to_bits(), out[mirror_x].to_bits());
            assert_eq!(out[e].to_bits(), out[mirror_z].to_bits());
        }
        // Averaging keeps the total.
        let (a, b): (f64, f64) = (values.iter().sum(), out.iter().sum());
        assert!((a - b).abs() < 1e-12);
    }

    #[test]
    fn passive_elements_keep_their_values() {
        let grid = Grid::new([4, 2, 2], 1.0);
        let mut roles = vec![ElementRole::Design; 16];
        roles[0] = ElementRole::Solid;
        roles[15] = ElementRole::Empty;
        let s = DesignSpace::from_parts(grid, roles, [false; 3]);
        let filter = DensityFilter::new(grid, 1.5);
        let x = s.initial(0.3);
        assert_eq!((x[0], x[15], x[5]), (1.0, 0.0, 0.3));
        let (mut x_phys, mut scratch) = (vec![0.0; 16], vec![0.0; 16]);
        s.physical(&filter, &x, &mut x_phys, &mut scratch);
        assert_eq!((x_phys[0], x_phys[15]), (1.0, 0.0));
        assert_eq!(s.design_count(), 14);
        let mut g = vec![1.0; 16];
        s.drop_passive(&mut g);
        assert_eq!((g[0], g[15], g[1]), (0.0, 0.0, 1.0));
        assert!((s.design_volume(&x_phys) - x_phys[1..15].iter().sum::<f64>()).abs() < 1e-12);
    }
}
