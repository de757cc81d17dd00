//! From design variables to the physical density, and the chain rule back.
//!
//! Forward: density filter → symmetry → kept values → (with overhang control) Langelaar's AM
//! filter → symmetry → kept values. The kept values are imposed before the AM filter so that
//! keep-solid regions support what is printed on them and the optimizer builds material under
//! them; and again after it, because a keep-solid region stays solid even where it would need a
//! support structure. Backward: the transposes in reverse order, dropping the kept elements'
//! entries wherever their values were imposed.

use super::design_space::DesignSpace;
use crate::am_filter::AmFilter;
use crate::filter::DensityFilter;
use crate::grid::Grid;
use crate::problem::Problem;

/// The physical-density map of a problem.
#[derive(Debug, Clone)]
pub struct PhysicalDensity {
    filter: DensityFilter,
    am: Option<AmFilter>,
    blueprint: Vec<f64>,
}

impl PhysicalDensity {
    /// The map of `problem`: its density filter and, with a build direction, its AM filter.
    pub fn new(problem: &Problem) -> Self {
        let grid: Grid = problem.grid;
        let am = problem
            .manufacturing
            .build_direction
            .map(|direction| AmFilter::new(grid, direction));
        Self {
            filter: DensityFilter::new(grid, problem.optimization.filter_radius_mm),
            blueprint: if am.is_some() {
                vec![0.0; grid.element_count()]
            } else {
                Vec::new()
            },
            am,
        }
    }

    /// A map with only a density filter (no overhang control).
    pub fn from_filter(filter: DensityFilter) -> Self {
        Self {
            filter,
            am: None,
            blueprint: Vec::new(),
        }
    }

    /// The physical density of design `x`. With overhang control, the AM filter remembers this
    /// design for the next [`Self::chain`], so the last call must be on the design analysed.
    pub fn apply(
        &mut self,
        space: &DesignSpace,
        x: &[f64],
        x_phys: &mut [f64],
        scratch: &mut [f64],
    ) {
        match &mut self.am {
            None => space.physical(&self.filter, x, x_phys, scratch),
            Some(am) => {
                space.physical(&self.filter, x, &mut self.blueprint, scratch);
                am.apply(&self.blueprint, x_phys);
                space.symmetrize_and_keep(x_phys, scratch);
            }
        }
    }

    /// Turns gradients with respect to the physical density into gradients with respect to the
    /// design variables, in place.
    pub fn chain(
        &mut self,
        space: &DesignSpace,
        gradients: &mut [&mut Vec<f64>],
        scratch: &mut [f64],
    ) {
        if let Some(am) = &mut self.am {
            for gradient in gradients.iter_mut() {
                space.drop_passive(gradient);
            }
            am.apply_transpose(gradients.iter_mut().map(|g| g.as_mut_slice()));
        }
        for gradient in gradients.iter_mut() {
            space.drop_passive(gradient);
            self.filter.apply_transpose(gradient, scratch);
            gradient.copy_from_slice(scratch);
            space.symmetrize_gradient(gradient, scratch);
        }
    }
}
