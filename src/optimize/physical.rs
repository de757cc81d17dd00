//! From design variables to the physical density, and the chain rule back.
//!
//! Forward: density filter → symmetry → kept values → (with overhang control) Langelaar's AM
//! filter → symmetry → kept values → (with a minimum member size) the robust threshold
//! projection. The kept values are imposed before the AM filter so that keep-solid regions
//! support what is printed on them and the optimizer builds material under them; and again
//! after it, because a keep-solid region stays solid even where it would need a support
//! structure. The projection comes last: it maps 0 and 1 to themselves and preserves order, so
//! the kept values, the symmetry and the AM filter's layer-by-layer support all survive it.
//! Backward: the transposes in reverse order, dropping the kept elements' entries wherever their
//! values were imposed.
//!
//! Without a minimum member size the analysed density (whose stiffness is solved) and the
//! constrained density (whose volume is bounded) are the same field. With one they are the
//! eroded and the dilated projection ([`crate::filters::projection`]), so each gradient says which of the
//! two fields it is taken with respect to.

use rayon::prelude::*;

use super::checkpoint::{CheckpointError, ProjectionMemory};
use super::design_space::DesignSpace;
use crate::filters::am::AmFilter;
use crate::filters::density::DensityFilter;
use crate::filters::projection::{
    BLUEPRINT_THRESHOLD, Continuation, DILATED_THRESHOLD, ERODED_THRESHOLD, project,
    project_derivative,
};
use crate::grid::Grid;
use crate::problem::Problem;

/// The field a gradient is taken with respect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// The analysed density (eroded design with a minimum member size).
    Analysed,
    /// The density whose volume is constrained (dilated design, scaled to the blueprint).
    Volume,
}

/// The robust projection's state.
#[derive(Debug, Clone)]
struct Robust {
    continuation: Continuation,
    /// The density before projection, ρ̃, of the last design applied.
    smooth: Vec<f64>,
    /// Blueprint volume over dilated volume: the dilated design's volume is multiplied by it so
    /// that the constraint bounds the blueprint's volume (Wang et al. 2011, §5.2, who update
    /// the dilated design's volume target the same way every few iterations).
    volume_scale: f64,
}

/// Iterations between updates of the robust volume scale (and at each raise of β).
const VOLUME_SCALE_INTERVAL: usize = 20;

/// The physical-density map of a problem.
#[derive(Debug, Clone)]
pub struct PhysicalDensity {
    filter: DensityFilter,
    am: Option<AmFilter>,
    robust: Option<Robust>,
    blueprint: Vec<f64>,
}

impl PhysicalDensity {
    /// The map of `problem`: its density filter, with a build direction its AM filter, and with
    /// a minimum member size the robust projection.
    pub fn new(problem: &Problem) -> Self {
        let grid: Grid = problem.grid;
        let n = grid.element_count();
        let am = problem.manufacturing.build_direction.map(|direction| {
            AmFilter::new(grid, direction)
                .with_layers_per_step(problem.manufacturing.layers_per_step)
        });
        let robust = problem.manufacturing.min_member_mm.map(|_| Robust {
            continuation: Continuation::for_run(problem.optimization.max_iterations),
            smooth: vec![0.0; n],
            volume_scale: 1.0,
        });
        let radius = problem.optimization.filter_radius_mm;
        // With a minimum member size, members on the domain's faces must be as thick as inside
        // it, so the filter sees void beyond the faces, except where the part must reach them.
        let filter = if robust.is_some() {
            DensityFilter::with_void_outside(grid, radius, &void_faces(problem, radius))
        } else {
            DensityFilter::new(grid, radius)
        };
        Self {
            filter,
            blueprint: if am.is_some() {
                vec![0.0; n]
            } else {
                Vec::new()
            },
            am,
            robust,
        }
    }

    /// A map with only a density filter (no overhang control, no projection).
    pub fn from_filter(filter: DensityFilter) -> Self {
        Self {
            filter,
            am: None,
            robust: None,
            blueprint: Vec::new(),
        }
    }

    /// Whether the map is costly to apply (it has an AM filter or a projection), so that its
    /// callers should apply it as few times as they can.
    pub fn is_costly(&self) -> bool {
        self.am.is_some() || self.robust.is_some()
    }

    /// Whether the map projects (has a minimum member size).
    pub fn is_robust(&self) -> bool {
        self.robust.is_some()
    }

    /// The analysed physical density of design `x`. The map remembers this design for the next
    /// [`Self::chain`], so the last call must be on the design analysed.
    pub fn apply(
        &mut self,
        space: &DesignSpace,
        x: &[f64],
        x_phys: &mut [f64],
        scratch: &mut [f64],
    ) {
        let unprojected = match &mut self.robust {
            None => &mut *x_phys,
            Some(robust) => &mut robust.smooth,
        };
        match &mut self.am {
            None => space.physical(&self.filter, x, unprojected, scratch),
            Some(am) => {
                space.physical(&self.filter, x, &mut self.blueprint, scratch);
                am.apply(&self.blueprint, unprojected);
                space.symmetrize_and_keep(unprojected, scratch);
            }
        }
        if let Some(robust) = &self.robust {
            project_into(space, robust, ERODED_THRESHOLD, x_phys);
        }
    }

    /// Volume (in elements) that the volume constraint bounds, of the last design applied,
    /// whose analysed density is `x_phys`.
    pub fn constrained_volume(
        &self,
        space: &DesignSpace,
        x_phys: &[f64],
        scratch: &mut [f64],
    ) -> f64 {
        match &self.robust {
            None => space.design_volume(x_phys),
            Some(robust) => {
                project_into(space, robust, DILATED_THRESHOLD, scratch);
                robust.volume_scale * space.design_volume(scratch)
            }
        }
    }

    /// The density to export, of the last design applied (whose analysed density is
    /// `x_phys`): the blueprint with a minimum member size, else the analysed density.
    pub fn blueprint(&self, space: &DesignSpace, x_phys: &[f64], out: &mut [f64]) {
        match &self.robust {
            None => out.copy_from_slice(x_phys),
            Some(robust) => project_into(space, robust, BLUEPRINT_THRESHOLD, out),
        }
    }

    /// Volume (in elements) of the free elements of [`Self::blueprint`].
    pub fn blueprint_volume(
        &self,
        space: &DesignSpace,
        x_phys: &[f64],
        scratch: &mut [f64],
    ) -> f64 {
        match &self.robust {
            None => space.design_volume(x_phys),
            Some(robust) => {
                project_into(space, robust, BLUEPRINT_THRESHOLD, scratch);
                space.design_volume(scratch)
            }
        }
    }

    /// The projection sharpness β, if the map projects.
    pub fn beta(&self) -> Option<f64> {
        self.robust.as_ref().map(|r| r.continuation.beta)
    }

    /// Whether the optimization may stop: always without projection, else once β is final.
    pub fn may_stop(&self) -> bool {
        self.robust
            .as_ref()
            .is_none_or(|r| r.continuation.is_final())
    }

    /// Called after each `iteration` (of the last design applied): raises β when due and
    /// updates the volume scale. Returns whether the map changed, in which case the current
    /// design must be applied again.
    pub fn advance(
        &mut self,
        space: &DesignSpace,
        iteration: usize,
        settled: bool,
        scratch: &mut [f64],
    ) -> bool {
        let Some(robust) = &mut self.robust else {
            return false;
        };
        let raised = robust.continuation.advance(iteration, settled);
        if raised || iteration.is_multiple_of(VOLUME_SCALE_INTERVAL) {
            robust.volume_scale = volume_scale(space, robust, scratch);
        }
        raised
    }

    /// The projection's memory, for a checkpoint.
    pub fn projection_memory(&self) -> Option<ProjectionMemory> {
        self.robust.as_ref().map(|r| ProjectionMemory {
            continuation: r.continuation,
            volume_scale: r.volume_scale,
        })
    }

    /// Takes the projection's memory from a checkpoint (instead of [`Self::start`]); apply the
    /// design again afterwards.
    pub fn resume_projection(
        &mut self,
        memory: Option<ProjectionMemory>,
    ) -> Result<(), CheckpointError> {
        match (&mut self.robust, memory) {
            (None, None) => Ok(()),
            (Some(robust), Some(memory)) => {
                robust.continuation = memory.continuation;
                robust.volume_scale = memory.volume_scale;
                Ok(())
            }
            (robust, _) => Err(CheckpointError::Mismatch(format!(
                "it was written {} a minimum member size",
                if robust.is_some() { "without" } else { "with" }
            ))),
        }
    }

    /// Sets the volume scale for the starting design (call after the first [`Self::apply`]).
    pub fn start(&mut self, space: &DesignSpace, scratch: &mut [f64]) {
        if let Some(robust) = &mut self.robust {
            robust.volume_scale = volume_scale(space, robust, scratch);
        }
    }

    /// Turns gradients with respect to the physical density (each with respect to its field)
    /// into gradients with respect to the design variables, in place.
    pub fn chain(
        &mut self,
        space: &DesignSpace,
        gradients: &mut [(&mut Vec<f64>, Field)],
        scratch: &mut [f64],
    ) {
        if let Some(robust) = &self.robust {
            let beta = robust.continuation.beta;
            for (gradient, field) in gradients.iter_mut() {
                let (eta, scale) = match field {
                    Field::Analysed => (ERODED_THRESHOLD, 1.0),
                    Field::Volume => (DILATED_THRESHOLD, robust.volume_scale),
                };
                gradient
                    .par_iter_mut()
                    .zip(&robust.smooth)
                    .for_each(|(g, &rho)| *g *= scale * project_derivative(beta, eta, rho));
            }
        }
        if let Some(am) = &mut self.am {
            for (gradient, _) in gradients.iter_mut() {
                space.drop_passive(gradient);
            }
            am.apply_transpose(gradients.iter_mut().map(|(g, _)| g.as_mut_slice()));
        }
        for (gradient, _) in gradients.iter_mut() {
            space.drop_passive(gradient);
            self.filter.apply_transpose(gradient, scratch);
            gradient.copy_from_slice(scratch);
            space.symmetrize_gradient(gradient, scratch);
        }
    }
}

/// For each element, the faces of the domain beyond which the filter sees void (bit
/// `2·axis + side`): all faces within the filter radius, except where a supported or loaded node
/// on that face lies within the radius. There the part must reach the face, and a filter that
/// saw void beyond it would erode the connection away.
fn void_faces(problem: &Problem, radius_mm: f64) -> Vec<u8> {
    let grid = problem.grid;
    let h = grid.element_size_mm;
    let nodes = grid.nodes_per_axis();
    let anchor = problem.anchor_nodes();
    let r = radius_mm / h;
    (0..grid.element_count())
        .into_par_iter()
        .map(|e| {
            let centre = grid.element_coords(e).map(|c| c as f64 + 0.5);
            let mut void = 0u8;
            for axis in 0..3 {
                for side in 0..2 {
                    let depth = if side == 0 {
                        centre[axis]
                    } else {
                        grid.elements[axis] as f64 - centre[axis]
                    };
                    if depth >= r {
                        continue;
                    }
                    let layer = side * (nodes[axis] - 1);
                    if !anchor_on_face_within(&anchor, nodes, axis, layer, centre, r) {
                        void |= 1 << (2 * axis + side);
                    }
                }
            }
            void
        })
        .collect()
}

/// Whether an anchor node on the grid plane `axis = layer` lies within `r` (elements) of
/// `centre`.
fn anchor_on_face_within(
    anchor: &[bool],
    nodes: [usize; 3],
    axis: usize,
    layer: usize,
    centre: [f64; 3],
    r: f64,
) -> bool {
    let (u, v) = ((axis + 1) % 3, (axis + 2) % 3);
    let range = |a: usize| {
        let lo = (centre[a] - r).floor().max(0.0) as usize;
        let hi = ((centre[a] + r).ceil() as usize).min(nodes[a] - 1);
        lo..=hi
    };
    let d_axis = (layer as f64 - centre[axis]).powi(2);
    for p in range(u) {
        for q in range(v) {
            let mut index = [0; 3];
            index[axis] = layer;
            index[u] = p;
            index[v] = q;
            let d2 = d_axis + (p as f64 - centre[u]).powi(2) + (q as f64 - centre[v]).powi(2);
            if d2 <= r * r && anchor[index[0] + nodes[0] * (index[1] + nodes[1] * index[2])] {
                return true;
            }
        }
    }
    false
}

/// Projects the robust state's unprojected density at threshold `eta` into `out`, the kept
/// elements' values imposed (the projection maps 0 and 1 to themselves; this makes it exact).
fn project_into(space: &DesignSpace, robust: &Robust, eta: f64, out: &mut [f64]) {
    let beta = robust.continuation.beta;
    out.par_iter_mut()
        .zip(&robust.smooth)
        .enumerate()
        .for_each(|(e, (value, &rho))| {
            *value = space
                .fixed_value(e)
                .unwrap_or_else(|| project(beta, eta, rho));
        });
}

/// Blueprint volume over dilated volume of the robust state's design.
fn volume_scale(space: &DesignSpace, robust: &Robust, scratch: &mut [f64]) -> f64 {
    project_into(space, robust, BLUEPRINT_THRESHOLD, scratch);
    let blueprint = space.design_volume(scratch);
    project_into(space, robust, DILATED_THRESHOLD, scratch);
    let dilated = space.design_volume(scratch);
    if dilated > 0.0 {
        blueprint / dilated
    } else {
        1.0
    }
}
