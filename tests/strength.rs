//! Designing for strength: `min_safety_factor` on a load case of a `min_mass` design, and the
//! `min_stress` objective. A small L-bracket must come out meeting its safety factor, as the
//! exported part is analysed by formwerk and as `analyze` finds it on the run's own density;
//! `min_stress` must beat `min_compliance` on safety at the same volume; an unreachable safety
//! factor ends in a warning with the factor reached; bad strength keys are refused naming the
//! key.
// See: issue 15

use crate::common::{formwerk, read_json, run_design, stderr, write_design};

/// An L-bracket of PETG (yield 50 MPa): a 60 × 60 mm plate, 6 mm thick, with its upper-right
/// 36 × 36 mm square cut away, clamped along the top of the upright arm and loaded on the end
/// plate of the lower arm; the flange and the end plate are kept solid.
const L_BRACKET: &str = r#"
name = "small_l_bracket"
material = "PETG"

[domain]
size_mm = [60.0, 6.0, 60.0]
element_size_mm = 2.0

[[keep_empty]]
region = { box = { min_mm = [24.0, 0.0, 24.0], max_mm = [60.0, 6.0, 60.0] } }

[[keep_solid]]
region = { box = { min_mm = [0.0, 0.0, 56.0], max_mm = [24.0, 6.0, 60.0] } }
[[keep_solid]]
region = { box = { min_mm = [56.0, 0.0, 0.0], max_mm = [60.0, 6.0, 24.0] } }

[[supports]]
region = { box = { min_mm = [0.0, 0.0, 60.0], max_mm = [24.0, 6.0, 60.0] } }
fixed = ["x", "y", "z"]

[[load_cases]]
name = "tip"
min_safety_factor = 2.0
[[load_cases.loads]]
region = { box = { min_mm = [60.0, 0.0, 0.0], max_mm = [60.0, 6.0, 24.0] } }
force_n = [0.0, 0.0, -60.0]

[optimization]
objective = "min_mass"
filter_radius_mm = 3.0
max_iterations = 100
"#;

#[test]
fn a_stress_limited_l_bracket_meets_its_safety_factor() {
    let (dir, out, output) = run_design(L_BRACKET, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    let factor = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("{result:#}"));
    let part = factor(&result["part_analysis"]["safety_factor"]);
    let density = factor(&result["safety_factor"]);
    let mass_fraction = factor(&result["volume_fraction"]);
    eprintln!(
        "safety factor 2 asked: exported part {part:.3}, density {density:.3}, volume fraction {mass_fraction:.3}"
    );
    // The limit is met to MMA's tolerance and the aggregate's: within 10 % of what was asked.
    assert!(part >= 1.8, "exported part's safety factor {part}");
    // Material was taken away: the full plate is about three times as safe.
    assert!(mass_fraction < 0.6, "volume fraction {mass_fraction}");

    let design = dir.path().join("design.toml");
    let analysed = dir.path().join("analysed");
    let output = formwerk(&[
        "analyze",
        design.to_str().unwrap(),
        "--density",
        out.join("density.vti").to_str().unwrap(),
        "--out",
        analysed.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let analysis = read_json(&analysed.join("analysis.json"));
    let analysed_factor = analysis["safety_factor"].as_f64().unwrap();
    assert!(
        (analysed_factor - density).abs() <= 1e-9 * density,
        "analyze {analysed_factor} vs run {density}"
    );
    assert!(
        analysed_factor >= 1.8,
        "analyze's safety factor {analysed_factor}"
    );
    // analyze describes the exported part as the run did.
    assert_eq!(analysis["part_analysis"], result["part_analysis"]);
}

/// `min_stress` at the volume of a compliance design comes out safer than that design.
#[test]
fn min_stress_is_safer_than_min_compliance_at_the_same_volume() {
    let at_volume = |objective: &str| {
        let text = L_BRACKET.replace("min_safety_factor = 2.0\n", "").replace(
            "objective = \"min_mass\"",
            &format!("objective = \"{objective}\"\nvolume_fraction = 0.4"),
        );
        let (_dir, out, output) = run_design(&text, &["--quiet"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let result = read_json(&out.join("result.json"));
        let part = &result["part_analysis"];
        (
            result["volume_fraction"].as_f64().unwrap(),
            part["safety_factor"].as_f64().unwrap(),
        )
    };
    let (stress_volume, stress_safety) = at_volume("min_stress");
    let (compliance_volume, compliance_safety) = at_volume("min_compliance");
    eprintln!(
        "volume fraction 0.4: min_stress {stress_volume:.3} safety factor {stress_safety:.3}, min_compliance {compliance_volume:.3} safety factor {compliance_safety:.3}"
    );
    assert!((stress_volume - 0.4).abs() < 0.01 && (compliance_volume - 0.4).abs() < 0.01);
    assert!(
        stress_safety >= 1.2 * compliance_safety,
        "min_stress {stress_safety}, min_compliance {compliance_safety}"
    );
}

/// A safety factor the design space cannot reach ends the run with a warning that says what was
/// reached, never a silent pass.
#[test]
fn an_unreachable_safety_factor_is_a_warning_with_the_factor_reached() {
    let text = L_BRACKET
        .replace("min_safety_factor = 2.0", "min_safety_factor = 100.0")
        .replace("max_iterations = 100", "max_iterations = 20");
    let (_dir, out, output) = run_design(&text, &["--quiet"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let result = read_json(&out.join("result.json"));
    let reached = result["part_analysis"]["safety_factor"].as_f64().unwrap();
    assert!(reached < 99.0, "{reached}");
    let warnings = result["warnings"].to_string();
    assert!(
        warnings.contains("below the min_safety_factor of 100 asked")
            && warnings.contains(&format!("{reached:.3}")),
        "{warnings}"
    );
}

#[test]
fn bad_strength_keys_are_refused_naming_the_key() {
    let cases = [
        (
            L_BRACKET.replace("min_safety_factor = 2.0", "min_safety_factor = 0.0"),
            "load_cases[0].min_safety_factor",
            "must be positive",
        ),
        (
            L_BRACKET.replace(
                "material = \"PETG\"",
                "[material]\nyoungs_modulus_mpa = 2100.0\npoisson_ratio = 0.38",
            ),
            "load_cases[0].min_safety_factor",
            "yield strength",
        ),
        (
            L_BRACKET.replace("objective = \"min_mass\"", "objective = \"min_compliance\""),
            "optimization.objective",
            "min_safety_factor",
        ),
        (
            L_BRACKET.replace(
                "objective = \"min_mass\"",
                "objective = \"min_stress\"\nvolume_fraction = 0.4",
            ),
            "optimization.objective",
            "remove min_safety_factor",
        ),
        (
            L_BRACKET.replace("min_safety_factor = 2.0\n", "").replace(
                "objective = \"min_mass\"",
                "objective = \"min_stress\"\nvolume_fraction = 0.4\noptimizer = \"oc\"",
            ),
            "optimization.optimizer",
            "needs \"mma\"",
        ),
    ];
    for (text, key, hint) in cases {
        let dir = tempfile::tempdir().unwrap();
        let path = write_design(dir.path(), "bad.toml", &text);
        let output = formwerk(&["check", path.to_str().unwrap()]);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{message}");
        assert!(
            message.contains(key) && message.contains(hint),
            "{key}: {message}"
        );
    }
}
