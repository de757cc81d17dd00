//! The classic 3D code (Liu & Tovar 2014, `top3d(60,20,4,0.3,3,1.5)`) reproduced.
// See: issue 2
//!
//! What can be reproduced, measured: the OC iteration on this problem is unstable between
//! iterations ~45 and ~65. Any difference at rounding level (a different solver ordering, a
//! change of 1e-14 in ν, or another correct implementation) grows by ~2.3× per iteration there,
//! then settles at ~1e-4 relative. An independent numpy/scipy implementation diverged from the
//! Octave reference at the same iteration and rate as formwerk, and from itself under a 1e-14
//! perturbation. So this test asserts what a correct implementation can meet: agreement to
//! 1e-9 until the unstable phase, 1e-6 into it, 5e-3 over the whole history, and convergence to
//! the reference's final compliance within 1e-3. The iteration at which the noisy design change
//! first dips below 0.01 (148 for the reference) is decided by rounding and is not asserted.

use formwerk::optimize::{Silent, TerminationReason, optimize};
use formwerk::run::load_problem;

use crate::common::repo_root;

/// `(iter, c, vol, change)` rows of the reference history.
fn reference() -> Vec<(usize, f64, f64, f64)> {
    let path = repo_root().join("tests/data/top3d_cantilever_60x20x4.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .skip(1)
        .map(|line| {
            let v: Vec<f64> = line.split(',').map(|x| x.parse().unwrap()).collect();
            (v[0] as usize, v[1], v[2], v[3])
        })
        .collect()
}

#[test]
fn top3d_cantilever_history() {
    let (_, problem) = load_problem(&repo_root().join("designs/top3d_cantilever.toml")).unwrap();
    let outcome = optimize(&problem, &mut Silent).unwrap();
    let reference = reference();
    assert_eq!(reference.len(), 148);
    assert_eq!(reference[0].1, 28354.7798587);
    let mut worst = 0.0f64;
    for (record, &(iter, c, vol, change)) in outcome.history.iter().zip(&reference) {
        assert_eq!(record.iter, iter);
        let relative = (record.compliance_nmm - c).abs() / c;
        worst = worst.max(relative);
        if iter <= 45 {
            assert!(
                relative <= 1e-9,
                "iteration {iter}: compliance {} vs {c}",
                record.compliance_nmm
            );
            assert!(
                (record.volume_fraction - vol).abs() <= 1e-9,
                "iteration {iter}: volume"
            );
            assert!(
                (record.change - change).abs() <= 1e-6,
                "iteration {iter}: change"
            );
        }
        if iter <= 55 {
            assert!(
                relative <= 1e-6,
                "iteration {iter}: compliance {} vs {c}",
                record.compliance_nmm
            );
        }
        assert!(
            relative <= 5e-3,
            "iteration {iter}: compliance {} vs {c}",
            record.compliance_nmm
        );
    }
    println!("largest relative compliance difference over the history: {worst:e}");
    assert_eq!(outcome.termination, TerminationReason::Converged);
    let final_reference = 2417.65580742;
    assert!(
        (outcome.compliance_nmm - final_reference).abs() <= 1e-3 * final_reference,
        "final compliance {} after {} iterations",
        outcome.compliance_nmm,
        outcome.iterations
    );
    assert!(outcome.solver.max_relative_residual <= 1e-10);
}
