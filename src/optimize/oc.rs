//! Optimality-criteria update with bisection on the volume multiplier.
//!
//! `x_new = clamp(x · sqrt(−dc / (λ dv)), max(0, x − m), min(1, x + m))` (Sigmund 2001 eq. 3;
//! Andreassen et al. 2011; Liu & Tovar 2014), where λ is found by bisection on (0, 10⁹) until
//! `(λ₂ − λ₁)/(λ₁ + λ₂) ≤ 10⁻³`, testing the filtered volume `mean(H x_new / Hs) > V*`. This is the
//! classic scheme kept exactly, so the classic codes' histories are reproduced.

use rayon::prelude::*;

use super::design_space::DesignSpace;
use super::physical::PhysicalDensity;

/// Settings of the OC update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OcParams {
    /// Largest change of a design variable per iteration (classic: 0.2).
    pub move_limit: f64,
    /// Target mean physical density of the free elements.
    pub volume_fraction: f64,
    /// Start the search for λ around this value (the previous iteration's) instead of over
    /// (0, 10⁹): about 12 volume evaluations instead of 40, for physical densities that are
    /// costly to evaluate (the AM filter, the projection). `None` keeps the classic bisection.
    pub lambda_hint: Option<f64>,
}

/// What one OC update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OcInfo {
    /// The volume multiplier found.
    pub lambda: f64,
    /// Bisection steps taken.
    pub bisection_steps: usize,
}

/// Computes `x_new` and its physical density `x_phys` from `x` and the filtered sensitivities
/// `dc` and `dv` (> 0); passive variables keep their values. A positive `dc` (possible under
/// self-weight) is treated as zero: OC's fixed point needs a descent direction, and such an
/// element gets less material, which is where the gradient points.
#[allow(clippy::too_many_arguments)]
pub fn oc_update(
    x: &[f64],
    dc: &[f64],
    dv: &[f64],
    space: &DesignSpace,
    physical: &mut PhysicalDensity,
    params: &OcParams,
    x_new: &mut [f64],
    x_phys: &mut [f64],
    scratch: &mut [f64],
) -> OcInfo {
    let target = params.volume_fraction * space.design_count() as f64;
    let mut bisection_steps = 0;
    // Whether the design at multiplier λ has more material than the target (volume falls as λ
    // grows); leaves that design in `x_new` and `x_phys`.
    let mut too_much = |lambda: f64| {
        x_new.par_iter_mut().enumerate().for_each(|(e, xn)| {
            *xn = space
                .fixed_value(e)
                .unwrap_or_else(|| oc_candidate(x[e], dc[e], dv[e], lambda, params.move_limit))
        });
        physical.apply(space, x_new, x_phys, scratch);
        bisection_steps += 1;
        physical.constrained_volume(space, x_phys, scratch) > target
    };
    let (mut l1, mut l2) = match params.lambda_hint {
        None => (0.0f64, 1e9f64),
        Some(hint) => {
            // Widen [hint/2, 2·hint] by factors of 4 until it brackets the target.
            let (mut low, mut high) = (0.5 * hint, 2.0 * hint);
            while low > 1e-300 && !too_much(low) {
                (low, high) = (0.25 * low, low);
            }
            while high < 1e300 && too_much(high) {
                (low, high) = (high, 4.0 * high);
            }
            (low, high)
        }
    };
    while (l2 - l1) / (l1 + l2) > 1e-3 {
        let lambda = 0.5 * (l1 + l2);
        if too_much(lambda) {
            l1 = lambda;
        } else {
            l2 = lambda;
        }
    }
    OcInfo {
        lambda: 0.5 * (l1 + l2),
        bisection_steps,
    }
}

/// The OC fixed-point step for one variable, within the move limit and [0, 1].
#[inline]
fn oc_candidate(x: f64, dc: f64, dv: f64, lambda: f64, move_limit: f64) -> f64 {
    let step = x * ((-dc).max(0.0) / dv / lambda).sqrt();
    // Same nesting as the classic codes: max(0, max(x − m, min(1, min(x + m, step)))).
    0f64.max((x - move_limit).max(1f64.min((x + move_limit).min(step))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grid::Grid;
    use crate::problem::ElementRole;

    #[test]
    fn candidate_respects_move_limit_and_bounds() {
        assert_eq!(oc_candidate(0.5, -100.0, 1.0, 1.0, 0.2), 0.7);
        assert_eq!(oc_candidate(0.5, -1e-6, 1.0, 1.0, 0.2), 0.3);
        assert_eq!(oc_candidate(0.95, -100.0, 1.0, 1.0, 0.2), 1.0);
        assert_eq!(oc_candidate(0.1, 0.0, 1.0, 1.0, 0.2), 0.0);
        // Interior: x·sqrt(−dc/(λ dv)) = 0.4·sqrt(1.21) = 0.44.
        assert!((oc_candidate(0.4, -1.21, 1.0, 1.0, 0.2) - 0.44).abs() < 1e-15);
    }

    #[test]
    fn bisection_meets_the_volume_target() {
        let grid = Grid::new([8, 4, 2], 1.0);
        let mut physical =
            PhysicalDensity::from_filter(crate::filters::density::DensityFilter::new(grid, 1.5));
        let n = grid.element_count();
        let x = vec![0.3; n];
        let dc: Vec<f64> = (0..n)
            .map(|e| -1.0 - (e as f64 * 0.3).sin().abs() * 5.0)
            .collect();
        let dv = vec![1.0; n];
        let (mut x_new, mut x_phys) = (vec![0.0; n], vec![0.0; n]);
        let params = OcParams {
            move_limit: 0.2,
            volume_fraction: 0.3,
            lambda_hint: None,
        };
        let space = DesignSpace::from_parts(grid, vec![ElementRole::Design; n], [false; 3]);
        let mut scratch = vec![0.0; n];
        let info = oc_update(
            &x,
            &dc,
            &dv,
            &space,
            &mut physical,
            &params,
            &mut x_new,
            &mut x_phys,
            &mut scratch,
        );
        let volume = x_phys.iter().sum::<f64>() / n as f64;
        // The bisection stops at a relative λ interval of 1e-3, so the volume is met to ~1e-3.
        assert!((volume - 0.3).abs() < 2e-3, "volume {volume}");
        assert!(info.bisection_steps > 10 && info.bisection_steps < 80);
        // Larger |dc| gets more material.
        let most = (0..n).max_by(|&a, &b| dc[b].total_cmp(&dc[a])).unwrap();
        let least = (0..n).min_by(|&a, &b| dc[b].total_cmp(&dc[a])).unwrap();
        assert!(x_new[most] >= x_new[least]);
        assert!(
            x_new
                .iter()
                .zip(&x)
                .all(|(a, b)| (a - b).abs() <= 0.2 + 1e-15)
        );
    }
}
