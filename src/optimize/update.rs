//! The design update of one iteration: the objective and constraints in the form each method
//! wants, and the OC or MMA step.
//!
//! - `min_compliance` by OC: the weighted compliance gradient and OC's volume sensitivity (ones).
//! - `min_compliance` by MMA: the compliance scaled to 10 at the first iteration (Svanberg's
//!   advice: an objective of order 1–100), and `mean(ρ̃)/V* − 1 ≤ 0`.
//! - `min_mass` by MMA: `10 · mean(ρ̃)` over the free elements, and per load case
//!   `cᵢ/c̄ᵢ − 1 ≤ 0`, `max|uᵢ|/δ̄ᵢ − 1 ≤ 0` and `max σ̂ᵢ/σ̄ᵢ − 1 ≤ 0` with
//!   `σ̄ᵢ = yield strength / min_safety_factor`.

use super::checkpoint::{CheckpointError, LoopState, UpdateMemory};
use super::design_space::DesignSpace;
use super::mma::{Mma, MmaParams};
use super::oc::{OcParams, oc_update};
use super::physical::{Field, PhysicalDensity};
use super::responses::Responses;
use crate::problem::{Objective, Optimizer, Problem};

/// The values an update needs: objective and constraints (`gᵢ ≤ 0`), gradients with respect to
/// ρ̃ until step 4 turns them into gradients with respect to the design variables.
pub(super) struct Functions {
    objective: f64,
    objective_gradient: Vec<f64>,
    constraints: Vec<f64>,
    constraint_gradients: Vec<Vec<f64>>,
    /// The field each gradient is taken with respect to: the objective's, then the constraints'.
    fields: Vec<Field>,
}

impl Functions {
    /// The gradients, each with the field it is taken with respect to.
    pub(super) fn gradients_mut(&mut self) -> Vec<(&mut Vec<f64>, Field)> {
        std::iter::once(&mut self.objective_gradient)
            .chain(self.constraint_gradients.iter_mut())
            .zip(self.fields.iter().copied())
            .collect()
    }
}

/// The update method with its state.
pub(super) enum Update {
    Oc(OcParams),
    Mma {
        mma: Box<Mma>,
        x_min: Vec<f64>,
        x_max: Vec<f64>,
    },
}

impl Update {
    pub(super) fn new(problem: &Problem, space: &DesignSpace) -> Self {
        let opt = &problem.optimization;
        match opt.optimizer {
            Optimizer::Oc { move_limit } => Self::Oc(OcParams {
                move_limit,
                volume_fraction: opt.volume_fraction,
                lambda_hint: None,
            }),
            Optimizer::Mma { move_limit } => {
                let constraints = match opt.objective {
                    Objective::MinCompliance | Objective::MinStress => 1,
                    Objective::MinMass => problem
                        .load_cases
                        .iter()
                        .map(|c| {
                            usize::from(c.max_compliance_nmm.is_some())
                                + usize::from(c.max_displacement_mm.is_some())
                                + usize::from(c.max_von_mises_mpa.is_some())
                        })
                        .sum(),
                };
                let (x_min, x_max) = space.bounds();
                let params = MmaParams {
                    move_limit,
                    ..MmaParams::default()
                };
                Self::Mma {
                    mma: Box::new(Mma::new(x_min.len(), constraints, params)),
                    x_min,
                    x_max,
                }
            }
        }
    }

    /// The update's memory, for a checkpoint.
    pub(super) fn memory(&self) -> (UpdateMemory, Vec<(String, &[f64])>) {
        match self {
            Self::Oc(params) => (
                UpdateMemory::Oc {
                    lambda_hint: params.lambda_hint,
                },
                Vec::new(),
            ),
            Self::Mma { mma, .. } => {
                let (updates, arrays) = mma.memory();
                let arrays = arrays.map(|(name, values)| (format!("mma.{name}"), values));
                (UpdateMemory::Mma { updates }, arrays.into())
            }
        }
    }

    /// Takes the update's memory from a checkpoint.
    pub(super) fn resume(&mut self, state: &mut LoopState) -> Result<(), CheckpointError> {
        match (self, state.header.update) {
            (Self::Oc(params), UpdateMemory::Oc { lambda_hint }) => {
                params.lambda_hint = lambda_hint;
            }
            (Self::Mma { mma, .. }, UpdateMemory::Mma { updates }) => {
                let n = mma.variables();
                let mut take = |name: &str| state.take(&format!("mma.{name}"), n);
                let arrays = [take("low")?, take("upp")?, take("xold1")?, take("xold2")?];
                mma.resume(updates, arrays);
            }
            (update, _) => {
                let (this, other) = match update {
                    Self::Oc(_) => ("OC", "MMA"),
                    Self::Mma { .. } => ("MMA", "OC"),
                };
                return Err(CheckpointError::Mismatch(format!(
                    "it was written by {other}, this design is optimized by {this}"
                )));
            }
        }
        Ok(())
    }

    /// The value the objective is scaled by, taken at the first iteration: the weighted
    /// compliance, or for `min_stress` the aggregate stress ([`stress_objective`]).
    pub(super) fn reference_value(problem: &Problem, responses: &Responses) -> f64 {
        match problem.optimization.objective {
            Objective::MinStress => stress_objective(problem, responses, 1.0).0,
            _ => responses.weighted_compliance(problem),
        }
    }

    /// Objective and constraints of the problem at `x_phys`, in the scaling the method wants.
    /// `constrained_volume` is the volume (in elements) the volume constraint bounds
    /// ([`PhysicalDensity::constrained_volume`]).
    pub(super) fn functions(
        &self,
        problem: &Problem,
        space: &DesignSpace,
        constrained_volume: f64,
        responses: &Responses,
        reference: f64,
    ) -> Functions {
        let n = problem.grid.element_count();
        let cases = &problem.load_cases;
        let weighted_gradient = || {
            let mut gradient = vec![0.0; n];
            for (case, g) in cases.iter().zip(&responses.compliance_gradient) {
                for (total, gi) in gradient.iter_mut().zip(g) {
                    *total += case.weight * gi;
                }
            }
            gradient
        };
        let design = space.design_count() as f64;
        // Mean constrained density of the free elements (its gradient with respect to that
        // field is 1/design everywhere).
        let volume = constrained_volume / design;
        let compliance = responses.weighted_compliance(problem);
        match (self, problem.optimization.objective) {
            (Self::Oc(_), _) => Functions {
                objective: compliance,
                objective_gradient: weighted_gradient(),
                constraints: Vec::new(),
                // OC's volume sensitivity: ones, as top88/top3d.
                constraint_gradients: vec![vec![1.0; n]],
                fields: vec![Field::Analysed, Field::Volume],
            },
            (Self::Mma { .. }, Objective::MinCompliance) => {
                // Svanberg's advice: an objective of order 1–100; the compliance falls by orders
                // of magnitude, so it is scaled by its first value.
                let scale = 10.0 / reference;
                let target = problem.optimization.volume_fraction;
                Functions {
                    objective: scale * compliance,
                    objective_gradient: weighted_gradient().iter().map(|g| scale * g).collect(),
                    constraints: vec![volume / target - 1.0],
                    constraint_gradients: vec![vec![1.0 / (design * target); n]],
                    fields: vec![Field::Analysed, Field::Volume],
                }
            }
            (Self::Mma { .. }, Objective::MinStress) => {
                let target = problem.optimization.volume_fraction;
                let (objective, objective_gradient) =
                    stress_objective(problem, responses, 10.0 / reference);
                Functions {
                    objective,
                    objective_gradient,
                    constraints: vec![volume / target - 1.0],
                    constraint_gradients: vec![vec![1.0 / (design * target); n]],
                    fields: vec![Field::Analysed, Field::Volume],
                }
            }
            (Self::Mma { .. }, Objective::MinMass) => {
                let mut constraints = Vec::new();
                let mut constraint_gradients = Vec::new();
                for (i, case) in cases.iter().enumerate() {
                    if let Some(limit) = case.max_compliance_nmm {
                        constraints.push(responses.compliance[i] / limit - 1.0);
                        constraint_gradients.push(
                            responses.compliance_gradient[i]
                                .iter()
                                .map(|g| g / limit)
                                .collect(),
                        );
                    }
                    if let (Some(limit), Some(gradient)) = (
                        case.max_displacement_mm,
                        &responses.displacement_gradient[i],
                    ) {
                        constraints.push(responses.max_displacement[i] / limit - 1.0);
                        constraint_gradients.push(gradient.iter().map(|g| g / limit).collect());
                    }
                    if let (Some(limit), Some(gradient)) =
                        (case.max_von_mises_mpa, &responses.stress_gradient[i])
                    {
                        constraints.push(responses.max_stress[i] / limit - 1.0);
                        constraint_gradients.push(gradient.iter().map(|g| g / limit).collect());
                    }
                }
                let mut fields = vec![Field::Volume];
                fields.resize(1 + constraints.len(), Field::Analysed);
                Functions {
                    objective: 10.0 * volume,
                    objective_gradient: vec![10.0 / design; n],
                    constraints,
                    constraint_gradients,
                    fields,
                }
            }
        }
    }

    /// Computes the next design `x_new` and its physical density.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn step(
        &mut self,
        x: &[f64],
        functions: &Functions,
        space: &DesignSpace,
        physical: &mut PhysicalDensity,
        x_new: &mut [f64],
        x_phys: &mut [f64],
        scratch: &mut [f64],
    ) -> Result<(), String> {
        match self {
            Self::Oc(params) => {
                let info = oc_update(
                    x,
                    &functions.objective_gradient,
                    &functions.constraint_gradients[0],
                    space,
                    physical,
                    params,
                    x_new,
                    x_phys,
                    scratch,
                );
                // The classic bisection is kept where it is cheap, so the classic codes'
                // histories are reproduced; elsewhere the next search starts from this λ.
                if physical.is_costly() {
                    params.lambda_hint = Some(info.lambda);
                }
            }
            Self::Mma { mma, x_min, x_max } => {
                let gradients: Vec<&[f64]> = functions
                    .constraint_gradients
                    .iter()
                    .map(Vec::as_slice)
                    .collect();
                mma.update(
                    x,
                    functions.objective,
                    &functions.objective_gradient,
                    &functions.constraints,
                    &gradients,
                    x_min,
                    x_max,
                    x_new,
                )
                .map_err(|e| e.to_string())?;
                physical.apply(space, x_new, x_phys, scratch);
            }
        }
        Ok(())
    }
}

/// Exponent of the p-norm over the load cases of `min_stress`: close to their maximum, smooth.
const CASE_NORM_EXPONENT: i32 = 8;

/// The objective of `min_stress` times `scale`, and its gradient with respect to ρ̃: the p-norm
/// over the load cases of each case's (adaptively scaled) stress measure,
/// `S = (Σᵢ σᵢ⁸)^{1/8}`, `dS = Σᵢ (σᵢ/S)⁷ dσᵢ`.
fn stress_objective(problem: &Problem, responses: &Responses, scale: f64) -> (f64, Vec<f64>) {
    let n = problem.grid.element_count();
    let k = CASE_NORM_EXPONENT;
    let largest = responses.max_stress.iter().copied().fold(0.0, f64::max);
    if largest <= 0.0 {
        return (0.0, vec![0.0; n]);
    }
    let value = largest
        * (responses.max_stress.iter())
            .map(|s| (s / largest).powi(k))
            .sum::<f64>()
            .powf(1.0 / f64::from(k));
    let mut gradient = vec![0.0; n];
    for (s, g) in responses.max_stress.iter().zip(&responses.stress_gradient) {
        let Some(g) = g else { continue };
        let weight = scale * (s / value).powi(k - 1);
        for (total, gi) in gradient.iter_mut().zip(g) {
            *total += weight * gi;
        }
    }
    (scale * value, gradient)
}
