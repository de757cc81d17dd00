//! The example studies in `designs/` run end to end and show what they model: kept regions are
//! solid or empty in the density and the part, symmetry is exact, per-case compliances add up to
//! the objective, mass and safety factor are reported, and `formwerk analyze` agrees with the run.
// See: issue 5

use std::path::{Path, PathBuf};

use formwerk::design::stl_body::StlBody;
use formwerk::mesh::stl::read_stl;
use formwerk::output::vtk::read_vti_bytes;
use formwerk::problem::ElementRole;
use formwerk::run::load_problem;
use serde_json::Value;

use crate::common::{formwerk, read_json, repo_root, run_example, stderr};

/// Design iterations per study in the tests: enough for a clear layout, few enough for CI.
const ITERATIONS: &str = "30";

fn run_study(name: &str) -> (tempfile::TempDir, PathBuf, Value) {
    run_example(name, ITERATIONS)
}

fn density(out: &Path) -> Vec<f64> {
    let text = std::fs::read(out.join("density.vti")).unwrap();
    read_vti_bytes(&text)
        .unwrap()
        .cell_field("density")
        .unwrap()
        .to_vec()
}

/// Checks every study's common promises; returns the roles and density for further checks.
/// Also returns how many deep keep-empty points were sampled in the part.
fn check_study(name: &str, out: &Path, result: &Value) -> (formwerk::Problem, Vec<f64>, usize) {
    let (_, problem) = load_problem(&repo_root().join(format!("designs/{name}.toml"))).unwrap();
    let density = density(out);
    // Kept regions hold their values exactly.
    for (e, role) in problem.element_roles.iter().enumerate() {
        match role {
            ElementRole::Solid => assert_eq!(density[e], 1.0, "{name}: keep-solid element {e}"),
            ElementRole::Empty => assert_eq!(density[e], 0.0, "{name}: keep-empty element {e}"),
            ElementRole::Design => {}
        }
    }
    // The objective is the weighted sum of the cases' compliances.
    let cases = result["load_cases"].as_array().unwrap();
    assert_eq!(cases.len(), problem.load_cases.len());
    let weighted: f64 = cases
        .iter()
        .map(|c| c["weight"].as_f64().unwrap() * c["compliance_nmm"].as_f64().unwrap())
        .sum();
    let objective = result["compliance_nmm"].as_f64().unwrap();
    assert!(
        (weighted - objective).abs() <= 1e-12 * objective,
        "{name}: {weighted} vs {objective}"
    );
    // Mass, displacement, stress and safety factor are reported.
    assert!(result["mass_g"].as_f64().unwrap() > 0.0, "{name}: mass");
    assert!(result["safety_factor"].as_f64().unwrap() > 0.0, "{name}");
    for case in cases {
        assert!(case["max_displacement_mm"].as_f64().unwrap() > 0.0);
        let max = case["max_von_mises_mpa"].as_f64().unwrap();
        let peak = case["peak_von_mises_mpa"].as_f64().unwrap();
        assert!(max > 0.0 && peak >= max, "{name}: {max} {peak}");
        assert!(case["safety_factor"].as_f64().unwrap() > 0.0);
    }
    assert_eq!(
        result["element_counts"]["design"].as_u64().unwrap() as usize,
        problem.design_element_count()
    );
    // No material of the part lies deep inside a keep-empty region: sample the centres of
    // keep-empty elements whose six neighbours are empty too (or outside the domain), which lie
    // at least one element from the nearest material.
    let part = StlBody::from_mesh(
        &read_stl(&mut std::fs::File::open(out.join("part.stl")).unwrap()).unwrap(),
    )
    .unwrap();
    let grid = problem.grid;
    let empty = |c: [i64; 3]| {
        (0..3).any(|a| c[a] < 0 || c[a] >= grid.elements[a] as i64)
            || problem.element_roles[grid.element_index(c.map(|v| v as usize))]
                == ElementRole::Empty
    };
    let mut samples = 0;
    for e in (0..grid.element_count()).filter(|&e| problem.element_roles[e] == ElementRole::Empty) {
        let c = grid.element_coords(e).map(|v| v as i64);
        let deep = (0..3).all(|a| {
            [-1, 1].iter().all(|&d| {
                let mut n = c;
                n[a] += d;
                empty(n)
            })
        });
        if deep {
            samples += 1;
            let p = grid.element_center_mm(e);
            assert!(
                !part.contains(p),
                "{name}: part material at {p:?} mm, inside keep-empty"
            );
        }
    }
    (problem, density, samples)
}

fn mirror_pairs(problem: &formwerk::Problem, axis: usize) -> Vec<(usize, usize)> {
    let grid = problem.grid;
    (0..grid.element_count())
        .map(|e| {
            let mut c = grid.element_coords(e);
            c[axis] = grid.elements[axis] - 1 - c[axis];
            (e, grid.element_index(c))
        })
        .collect()
}

#[test]
fn wall_bracket_keeps_its_bosses_and_holes_and_analyze_agrees() {
    let (_dir, out, result) = run_study("wall_bracket");
    let (problem, _, _) = check_study("wall_bracket", &out, &result);
    assert_eq!(problem.load_cases.len(), 2);
    // The bolt and pin holes are empty along their axes.
    let part = StlBody::from_mesh(
        &read_stl(&mut std::fs::File::open(out.join("part.stl")).unwrap()).unwrap(),
    )
    .unwrap();
    for t in 1..8 {
        let t = t as f64;
        for p in [[t, 8.0, 10.0], [t, 8.0, 54.0], [84.0, 2.0 * t, 40.0]] {
            assert!(!part.contains(p), "material in a hole at {p:?}");
        }
    }
    // …and the bosses around them are material.
    assert!(part.contains([4.0, 8.0, 16.0]));
    assert!(part.contains([84.0, 8.0, 47.0]));

    // Re-analysis of the written density reproduces the run's numbers.
    let again = out.join("again");
    let output = formwerk(&[
        "analyze",
        repo_root()
            .join("designs/wall_bracket.toml")
            .to_str()
            .unwrap(),
        "--density",
        out.join("density.vti").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let analysis = read_json(&again.join("analysis.json"));
    for key in [
        "compliance_nmm",
        "mass_g",
        "max_displacement_mm",
        "safety_factor",
    ] {
        let (a, b) = (
            analysis[key].as_f64().unwrap(),
            result[key].as_f64().unwrap(),
        );
        assert!((a - b).abs() <= 1e-4 * b.abs(), "{key}: {a} vs {b}");
    }
    let vti = read_vti_bytes(&std::fs::read(again.join("analysis.vti")).unwrap()).unwrap();
    let stress = vti.cell_field("von_mises_mpa_0_vertical").unwrap();
    let max = stress.iter().copied().fold(0.0, f64::max);
    assert!(
        max >= analysis["load_cases"][0]["peak_von_mises_mpa"]
            .as_f64()
            .unwrap()
    );
    assert!(vti.point_field("displacement_mm_1_horizontal").is_some());
    // The run's own density.vti carries the same fields.
    let run_vti = read_vti_bytes(&std::fs::read(out.join("density.vti")).unwrap()).unwrap();
    assert!(run_vti.cell_field("von_mises_mpa_1_horizontal").is_some());
}

#[test]
fn bridge_keeps_the_deck_and_the_road_and_is_symmetric() {
    let (_dir, out, result) = run_study("bridge");
    let (problem, density, samples) = check_study("bridge", &out, &result);
    assert!(samples > 1000, "{samples}");
    for axis in [0, 1] {
        for (a, b) in mirror_pairs(&problem, axis) {
            assert_eq!(density[a].to_bits(), density[b].to_bits(), "axis {axis}");
        }
    }
    // Self-weight is part of the traffic case.
    assert!(problem.load_cases[0].self_weight_n.is_some());
}

#[test]
fn motor_mount_carries_torque_around_its_shaft() {
    let (_dir, out, result) = run_study("motor_mount");
    let (_, _, samples) = check_study("motor_mount", &out, &result);
    assert!(samples > 10, "{samples}");
    assert_eq!(result["load_cases"][0]["name"], "torque");
}

#[test]
fn bike_stem_is_exactly_symmetric() {
    let (_dir, out, result) = run_study("bike_stem");
    let (problem, density, samples) = check_study("bike_stem", &out, &result);
    assert!(samples > 1000, "{samples}");
    for (a, b) in mirror_pairs(&problem, 1) {
        assert_eq!(density[a].to_bits(), density[b].to_bits());
    }
}

#[test]
fn pipe_clearance_routes_around_the_stl_body() {
    let (_dir, out, result) = run_study("pipe_clearance");
    let (_, _, samples) = check_study("pipe_clearance", &out, &result);
    assert!(samples > 100, "{samples}");
    // Along the pipe's axis, inside the domain, there is no material.
    let part = StlBody::from_mesh(
        &read_stl(&mut std::fs::File::open(out.join("part.stl")).unwrap()).unwrap(),
    )
    .unwrap();
    for i in 0..=20 {
        let t = i as f64 / 20.0;
        let p = [-5.0 + 90.0 * t, 20.0, 12.0 + 22.0 * t];
        if p[0] > 0.0 && p[0] < 80.0 {
            assert!(!part.contains(p), "material on the pipe axis at {p:?}");
        }
    }
    assert_eq!(result["regions"][0]["key"], "keep_empty[0].region");
    assert!(result["regions"][0]["elements"].as_u64().unwrap() > 1000);
}
