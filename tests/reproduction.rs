//! The classic 3D code (Liu & Tovar 2014, `top3d(60,20,4,0.3,3,1.5)`) reproduced.
// See: issue 2

use formwerk::optimize::{Silent, optimize};
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
    for (record, &(iter, c, vol, change)) in outcome.history.iter().zip(&reference) {
        assert_eq!(record.iter, iter);
        let rel = (record.compliance_nmm - c).abs() / c;
        println!(
            "{iter} {rel:e} {:e} {:e}",
            (record.volume_fraction - vol).abs(),
            (record.change - change).abs()
        );
    }
    println!(
        "iterations {} final {}",
        outcome.iterations, outcome.compliance_nmm
    );
}
