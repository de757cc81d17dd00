//! `formwerk materials` and `formwerk printers`: the built-in tables.

use anyhow::Context;

use super::failure::Failure;

pub(super) fn materials(json: bool) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string_pretty(formwerk::materials::LIBRARY)
            .context("cannot format the library")
            .map_err(Failure::Internal)?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{:<10} {:>10} {:>6} {:>8} {:>10}  description",
        "name", "E (MPa)", "ν", "ρ (g/cm³)", "yield (MPa)"
    );
    for m in formwerk::materials::LIBRARY {
        println!(
            "{:<10} {:>10} {:>6} {:>8} {:>10}  {}",
            m.name,
            m.youngs_modulus_mpa,
            m.poisson_ratio,
            m.density_g_cm3,
            m.yield_strength_mpa,
            m.description
        );
    }
    println!();
    println!("sources:");
    for m in formwerk::materials::LIBRARY {
        println!("  {}: {}", m.name, m.source);
    }
    println!();
    println!(
        "Use one with `material = \"PLA\"`, or give youngs_modulus_mpa, poisson_ratio, density_g_cm3 and yield_strength_mpa in a [material] table."
    );
    Ok(())
}

pub(super) fn printers(json: bool) -> Result<(), Failure> {
    use formwerk::printer::{DEFAULT_WALL_NOZZLES, PRESETS};
    if json {
        let text = serde_json::to_string_pretty(PRESETS)
            .context("cannot format the presets")
            .map_err(Failure::Internal)?;
        println!("{text}");
        return Ok(());
    }
    println!(
        "{:<16} {:>10} {:>10} {:>10} {:>12}  description",
        "preset", "nozzle mm", "layer mm", "angle °", "min wall mm"
    );
    for p in PRESETS {
        println!(
            "{:<16} {:>10} {:>10} {:>10} {:>12}  {}",
            p.name,
            p.nozzle_mm,
            p.layer_height_mm,
            p.overhang_angle_deg,
            DEFAULT_WALL_NOZZLES * p.nozzle_mm,
            p.description
        );
    }
    println!();
    println!("sources:");
    for p in PRESETS {
        println!("  {}: {}", p.name, p.source);
    }
    println!();
    println!(
        "Use one with `[printer] preset = \"prusa_mk3s_0.4\"`; nozzle_mm, layer_height_mm, overhang_angle_deg, min_wall_mm (default {DEFAULT_WALL_NOZZLES} nozzles), build_direction and overhang_control override it."
    );
    Ok(())
}
