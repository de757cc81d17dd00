//! MMA beside OC, and the minimum-mass formulations, through the command line.
// See: issue 5

use crate::common::{formwerk, read_json, repo_root, run_design, stderr};

/// A cantilever of 32 × 8 × 8 elements: big enough for a real layout, quick to optimize.
const CANTILEVER: &str = r#"
name = "cantilever"
material = "PETG"
[domain]
size_mm = [64.0, 16.0, 16.0]
element_size_mm = 2.0
[[supports]]
region = { face = "x_min" }
[[load_cases]]
name = "tip"
[[load_cases.loads]]
region = { box = { min_mm = [64.0, 0.0, 0.0], max_mm = [64.0, 16.0, 0.0] } }
force_n = [0.0, 0.0, -100.0]
[optimization]
volume_fraction = 0.3
filter_radius_mm = 3.0
max_iterations = 80
"#;

fn compliance(text: &str) -> (f64, serde_json::Value) {
    let (_dir, out, output) = run_design(text, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    (result["compliance_nmm"].as_f64().unwrap(), result)
}

#[test]
fn mma_and_oc_reach_the_same_compliance_on_the_example_cantilever() {
    let design = std::fs::read_to_string(repo_root().join("designs/cantilever.toml")).unwrap();
    let with_mma = design.replace("[optimization]", "[optimization]\noptimizer = \"mma\"");
    let limit = ["--max-iterations", "100"];
    let run = |text: &str| {
        let (_dir, out, output) = run_design(text, &limit);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        read_json(&out.join("result.json"))["compliance_nmm"]
            .as_f64()
            .unwrap()
    };
    let (oc, mma) = (run(&design), run(&with_mma));
    assert!((oc - mma).abs() <= 0.02 * oc, "OC {oc} vs MMA {mma}");
}

#[test]
fn min_mass_meets_a_compliance_limit_with_the_mass_min_compliance_needs() {
    let (reference, reference_result) = compliance(CANTILEVER);
    let reference_fraction = reference_result["volume_fraction"].as_f64().unwrap();
    let min_mass = CANTILEVER
        .replace("volume_fraction = 0.3", "objective = \"min_mass\"")
        .replace(
            "name = \"tip\"",
            &format!("name = \"tip\"\nmax_compliance_nmm = {reference}"),
        );
    let (c, result) = compliance(&min_mass);
    assert!(c <= 1.01 * reference, "{c} > {reference}");
    let fraction = result["volume_fraction"].as_f64().unwrap();
    assert!(
        (fraction - reference_fraction).abs() <= 0.05 * reference_fraction,
        "min_mass found {fraction}, min_compliance used {reference_fraction}"
    );
    assert!(
        result["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|w| !w.as_str().unwrap().contains("exceeds its limit"))
    );
}

#[test]
fn min_mass_meets_a_displacement_limit() {
    let limit = 2.0;
    let text = CANTILEVER
        .replace("volume_fraction = 0.3", "objective = \"min_mass\"")
        .replace(
            "name = \"tip\"",
            &format!("name = \"tip\"\nmax_displacement_mm = {limit}"),
        );
    let (_, result) = compliance(&text);
    let displacement = result["load_cases"][0]["max_displacement_mm"]
        .as_f64()
        .unwrap();
    assert!(displacement <= 1.01 * limit, "{displacement}");
    // The limit binds: the part is not needlessly stiff.
    assert!(displacement >= 0.9 * limit, "{displacement}");
    let fraction = result["volume_fraction"].as_f64().unwrap();
    assert!(fraction > 0.05 && fraction < 0.9, "{fraction}");
}

#[test]
fn mass_target_sets_the_volume() {
    // PETG: 1.27 g/cm³; the domain holds 64·16·16 mm³ = 16.384 cm³ = 20.8 g solid.
    let text = CANTILEVER.replace("volume_fraction = 0.3", "mass_target_g = 5.0");
    let (_, result) = compliance(&text);
    let mass = result["mass_g"].as_f64().unwrap();
    assert!((mass - 5.0).abs() < 0.05, "{mass}");
}

#[test]
fn materials_are_listed_with_their_sources() {
    let output = formwerk(&["materials"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for name in [
        "PLA", "PETG", "ABS", "PA12", "Ti6Al4V", "AlSi10Mg", "316L", "17-4PH",
    ] {
        assert!(text.contains(name), "{name} missing");
    }
    assert!(text.contains("sources:"));
    let json = formwerk(&["materials", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 8);
    assert!(list[0]["yield_strength_mpa"].as_f64().unwrap() > 0.0);
}
