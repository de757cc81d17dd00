//! Threshold projection for a minimum member size: the robust formulation of Wang, Lazarov &
//! Sigmund (2011), "On projection methods, convergence and robust formulations in topology
//! optimization", Struct. Multidisc. Optim. 43:767–784.
//!
//! The filtered density ρ̃ is projected three times with the smoothed Heaviside step
//!
//! `ρ̄ = (tanh(βη) + tanh(β(ρ̃ − η))) / (tanh(βη) + tanh(β(1 − η)))`   (their eq. 6)
//!
//! at the thresholds η = 0.75 (eroded design), 0.5 (blueprint, the part that is made) and 0.25
//! (dilated design). For compliance the eroded design is the worst case (their §5.2), so the
//! optimizer minimizes the eroded design's compliance and constrains the dilated design's
//! volume, scaled so that the blueprint meets the volume target. A member thinner than the
//! length scale vanishes from the eroded design, and a gap narrower than it closes in the
//! dilated one, so neither survives the optimization: both phases get a minimum size.
//!
//! The length scale follows from the filter. For a plate (the thinnest kind of member) the
//! cone filter of radius R acts across the plate as the one-dimensional kernel
//! `k(s) ∝ R³/6 − R s²/2 + |s|³/3` (the cone integrated over the plate's plane). The thinnest
//! plate whose filtered density still reaches the eroded threshold 0.75 is 0.885 R thick, and
//! its blueprint (ρ̃ ≥ 0.5) is 0.882 R thick; a bar, filtered in two directions, must be thicker.
//! So `min_member_mm = m` sets R = m / 0.88 ([`MEMBER_SIZE_PER_FILTER_RADIUS`]); by symmetry of
//! the thresholds the same m is the minimum gap between members.
//!
//! β starts at 1 (a mild projection the optimizer can move through) and doubles up to 32 by
//! continuation (their §4.2), once the design settles at the current β or after a fixed number
//! of iterations, whichever comes first.

/// Threshold of the eroded design, the one whose compliance is minimized.
pub const ERODED_THRESHOLD: f64 = 0.75;
/// Threshold of the blueprint, the design that is exported.
pub const BLUEPRINT_THRESHOLD: f64 = 0.5;
/// Threshold of the dilated design, the one whose volume is constrained.
pub const DILATED_THRESHOLD: f64 = 0.25;
/// Thinnest blueprint plate per unit filter radius at the thresholds above (module docs).
pub const MEMBER_SIZE_PER_FILTER_RADIUS: f64 = 0.88;
/// First projection sharpness of the continuation.
pub const BETA_START: f64 = 1.0;
/// Last projection sharpness of the continuation.
pub const BETA_MAX: f64 = 32.0;

/// The filter radius (mm) that gives a minimum member size of `min_member_mm`.
pub fn filter_radius_for_member(min_member_mm: f64) -> f64 {
    min_member_mm / MEMBER_SIZE_PER_FILTER_RADIUS
}

/// The smoothed Heaviside projection of `rho` at sharpness `beta` and threshold `eta`.
#[inline]
pub fn project(beta: f64, eta: f64, rho: f64) -> f64 {
    let a = (beta * eta).tanh();
    (a + (beta * (rho - eta)).tanh()) / (a + (beta * (1.0 - eta)).tanh())
}

/// `d project / d rho`.
#[inline]
pub fn project_derivative(beta: f64, eta: f64, rho: f64) -> f64 {
    // sech² as 1/cosh², which stays positive where 1 − tanh² rounds to 0.
    let cosh = (beta * (rho - eta)).cosh();
    beta / (cosh * cosh) / ((beta * eta).tanh() + (beta * (1.0 - eta)).tanh())
}

/// β continuation: doubles β from [`BETA_START`] to [`BETA_MAX`] when the design has settled at
/// the current β or `interval` iterations after the last raise.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Continuation {
    /// Current sharpness.
    pub beta: f64,
    interval: usize,
    raised_at: usize,
}

impl Continuation {
    /// A continuation that spends at most `interval` iterations at each β below the last.
    pub fn new(interval: usize) -> Self {
        Self {
            beta: BETA_START,
            interval: interval.max(1),
            raised_at: 0,
        }
    }

    /// The schedule for a run of `max_iterations`: an eighth of the run at each β, so that the
    /// five raises to β = 32 leave the last three eighths to the sharp design, but no fewer than
    /// 20 iterations (OC and MMA need about that many to follow a raise) and no more than 50
    /// (Wang et al.'s interval).
    pub fn for_run(max_iterations: usize) -> Self {
        Self::new((max_iterations / 8).clamp(20, 50))
    }

    /// Whether the continuation has reached its last β.
    pub fn is_final(&self) -> bool {
        self.beta >= BETA_MAX
    }

    /// Called after `iteration`; raises β if due and says whether it did.
    pub fn advance(&mut self, iteration: usize, settled: bool) -> bool {
        if self.is_final() || !(settled || iteration - self.raised_at >= self.interval) {
            return false;
        }
        self.beta = (2.0 * self.beta).min(BETA_MAX);
        self.raised_at = iteration;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_keeps_void_and_solid_exactly_and_is_monotone() {
        for beta in [1.0, 2.0, 8.0, 32.0, 64.0] {
            for eta in [ERODED_THRESHOLD, BLUEPRINT_THRESHOLD, DILATED_THRESHOLD] {
                assert_eq!(project(beta, eta, 0.0), 0.0);
                assert_eq!(project(beta, eta, 1.0), 1.0);
                let mut last = 0.0;
                for i in 1..=100 {
                    let value = project(beta, eta, f64::from(i) / 100.0);
                    assert!(value >= last, "β {beta} η {eta}");
                    last = value;
                }
            }
        }
        // The eroded design is below the blueprint, the dilated above it.
        let rho = 0.4;
        assert!(project(8.0, ERODED_THRESHOLD, rho) < project(8.0, BLUEPRINT_THRESHOLD, rho));
        assert!(project(8.0, DILATED_THRESHOLD, rho) > project(8.0, BLUEPRINT_THRESHOLD, rho));
        // A sharp projection is a step at η.
        assert!(project(64.0, 0.5, 0.45) < 0.01 && project(64.0, 0.5, 0.55) > 0.99);
    }

    #[test]
    fn derivative_matches_finite_differences() {
        for beta in [1.0, 4.0, 32.0] {
            for eta in [ERODED_THRESHOLD, DILATED_THRESHOLD] {
                for rho in [0.05, 0.3, 0.5, 0.74, 0.9] {
                    let h = 1e-6;
                    let fd =
                        (project(beta, eta, rho + h) - project(beta, eta, rho - h)) / (2.0 * h);
                    let exact = project_derivative(beta, eta, rho);
                    assert!(
                        (fd - exact).abs() <= 1e-6 * exact.abs().max(1e-3),
                        "β {beta} η {eta} ρ {rho}: {fd} vs {exact}"
                    );
                }
            }
        }
        // Far from the threshold the derivative is tiny but not zero.
        assert!(project_derivative(64.0, DILATED_THRESHOLD, 1.0) > 0.0);
    }

    #[test]
    fn continuation_doubles_on_settling_or_interval_and_stops_at_the_last_beta() {
        let mut c = Continuation::new(10);
        assert!(!c.advance(3, false));
        assert!(c.advance(4, true));
        assert_eq!(c.beta, 2.0);
        assert!(!c.advance(13, false));
        assert!(c.advance(14, false));
        assert_eq!(c.beta, 4.0);
        for iteration in 15..18 {
            assert!(c.advance(iteration, true));
        }
        assert_eq!(c.beta, BETA_MAX);
        assert!(c.is_final());
        assert!(!c.advance(100, true));
    }

    #[test]
    fn member_size_relation_holds_for_the_plate_kernel() {
        // Re-derive the 0.88 of the module docs numerically: the cone filter's plate kernel,
        // the thinnest block whose filtered peak reaches the eroded threshold, and the width
        // of its blueprint.
        let radius = 1.0;
        let ds = 1e-3;
        let kernel = |s: f64| {
            let s = s.abs();
            if s < radius {
                radius.powi(3) / 6.0 - radius * s * s / 2.0 + s.powi(3) / 3.0
            } else {
                0.0
            }
        };
        let steps = (radius / ds) as i64;
        let total: f64 = (-steps..=steps).map(|i| kernel(i as f64 * ds)).sum();
        let filtered = |width: f64, at: f64| {
            (-steps..=steps)
                .map(|i| {
                    let s = i as f64 * ds;
                    if (at - s).abs() <= width / 2.0 {
                        kernel(s)
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
                / total
        };
        let (mut lo, mut hi) = (0.0, 2.0 * radius);
        for _ in 0..30 {
            let mid = 0.5 * (lo + hi);
            if filtered(mid, 0.0) >= ERODED_THRESHOLD {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        let (mut inner, mut outer) = (0.0, radius);
        for _ in 0..30 {
            let mid = 0.5 * (inner + outer);
            if filtered(hi, mid) >= BLUEPRINT_THRESHOLD {
                inner = mid;
            } else {
                outer = mid;
            }
        }
        let blueprint = 2.0 * inner;
        assert!(
            (blueprint - MEMBER_SIZE_PER_FILTER_RADIUS * radius).abs() < 0.01,
            "{blueprint}"
        );
    }
}
