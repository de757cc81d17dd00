//! Every example design in `designs/` is valid.
// See: issue 2

use formwerk::run::load_problem;

use crate::common::repo_root;

#[test]
fn example_designs_are_valid() {
    let mut count = 0;
    for entry in std::fs::read_dir(repo_root().join("designs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            // Sweep files are checked variant by variant (issue 7).
            let text = std::fs::read_to_string(&path).unwrap();
            if formwerk::sweep::spec::has_sweep(&text) {
                let sweep =
                    formwerk::sweep::Sweep::load(&path, None).unwrap_or_else(|e| panic!("{e}"));
                assert!(!sweep.variants.is_empty());
                continue;
            }
            let (design, problem) = load_problem(&path).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(design.name, problem.name);
            count += 1;
        }
    }
    assert!(
        count >= 3,
        "cantilever, top3d_cantilever and mbb_beam at least"
    );
}

#[test]
fn top3d_design_states_the_classic_problem() {
    let (_, problem) = load_problem(&repo_root().join("designs/top3d_cantilever.toml")).unwrap();
    let grid = problem.grid;
    assert_eq!(grid.elements, [60, 20, 4]);
    // All DOFs of the 21 × 5 nodes on x = 0 are fixed.
    assert_eq!(
        problem.fixed_dofs.iter().filter(|&&f| f).count(),
        3 * 21 * 5
    );
    // −1 N in y on the 5 nodes of the line x = 60, y = 0.
    let forces = &problem.load_cases[0].forces_n;
    let loaded: Vec<usize> = (0..forces.len()).filter(|&d| forces[d] != 0.0).collect();
    assert_eq!(loaded.len(), 5);
    for d in loaded {
        assert_eq!(forces[d], -1.0);
        assert_eq!(d % 3, 1);
        let [i, j, _] = grid.node_coords(d / 3);
        assert_eq!((i, j), (60, 0));
    }
}
