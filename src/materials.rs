//! The built-in material library: nominal values for design studies.
//!
//! Each entry names its source. Printed parts are anisotropic and depend on the machine, the
//! orientation and the heat treatment; these are the datasheet or standard values an engineer
//! starts a study with, not a substitute for the supplier's data of the actual process. A design
//! file can always give its own values instead of a name.

use serde::Serialize;

/// A named material with the values a study needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LibraryMaterial {
    /// Name as written in design files, e.g. `"PLA"`.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Young's modulus, MPa.
    pub youngs_modulus_mpa: f64,
    /// Poisson's ratio.
    pub poisson_ratio: f64,
    /// Density, g/cm³.
    pub density_g_cm3: f64,
    /// Yield strength (0.2 % offset, or tensile strength at yield for polymers), MPa.
    pub yield_strength_mpa: f64,
    /// Where the values come from.
    pub source: &'static str,
}

/// All built-in materials.
pub const LIBRARY: &[LibraryMaterial] = &[
    LibraryMaterial {
        name: "PLA",
        description: "polylactic acid, FFF filament",
        youngs_modulus_mpa: 3500.0,
        poisson_ratio: 0.36,
        density_g_cm3: 1.24,
        yield_strength_mpa: 60.0,
        source: "NatureWorks Ingeo 4043D technical data sheet (tensile modulus 3.6 GPa, yield 60 MPa, 1.24 g/cm³); ν from Farah et al. 2016, Adv. Drug Deliv. Rev. 107",
    },
    LibraryMaterial {
        name: "PETG",
        description: "glycol-modified PET, FFF filament",
        youngs_modulus_mpa: 2100.0,
        poisson_ratio: 0.38,
        density_g_cm3: 1.27,
        yield_strength_mpa: 50.0,
        source: "Eastman Eastar 6763 copolyester data sheet (tensile modulus 2.1 GPa, yield 50 MPa, 1.27 g/cm³)",
    },
    LibraryMaterial {
        name: "ABS",
        description: "acrylonitrile butadiene styrene, FFF filament",
        youngs_modulus_mpa: 2300.0,
        poisson_ratio: 0.35,
        density_g_cm3: 1.04,
        yield_strength_mpa: 44.0,
        source: "INEOS Styrolution Terluran GP-35 data sheet (tensile modulus 2.3 GPa, yield 44 MPa, 1.04 g/cm³)",
    },
    LibraryMaterial {
        name: "PA12",
        description: "polyamide 12, laser sintered",
        youngs_modulus_mpa: 1650.0,
        poisson_ratio: 0.39,
        density_g_cm3: 0.93,
        yield_strength_mpa: 48.0,
        source: "EOS PA 2200 material data sheet (tensile modulus 1650 MPa, tensile strength 48 MPa, part density 0.93 g/cm³)",
    },
    LibraryMaterial {
        name: "Ti6Al4V",
        description: "titanium alloy Ti-6Al-4V, laser powder bed fusion, stress relieved",
        youngs_modulus_mpa: 110_000.0,
        poisson_ratio: 0.34,
        density_g_cm3: 4.43,
        yield_strength_mpa: 825.0,
        source: "ASTM F2924 (minimum yield 825 MPa); E and density from EOS Titanium Ti64 data sheet (110 GPa, 4.41–4.43 g/cm³)",
    },
    LibraryMaterial {
        name: "AlSi10Mg",
        description: "aluminium alloy AlSi10Mg, laser powder bed fusion, stress relieved",
        youngs_modulus_mpa: 70_000.0,
        poisson_ratio: 0.33,
        density_g_cm3: 2.67,
        yield_strength_mpa: 230.0,
        source: "EOS Aluminium AlSi10Mg material data sheet, stress-relieved condition (yield 230 MPa, E 70 GPa, 2.67 g/cm³)",
    },
    LibraryMaterial {
        name: "316L",
        description: "austenitic stainless steel 316L, laser powder bed fusion",
        youngs_modulus_mpa: 193_000.0,
        poisson_ratio: 0.30,
        density_g_cm3: 7.99,
        yield_strength_mpa: 205.0,
        source: "ASTM F3184 (minimum yield 205 MPa); E, ν and density from ASM Handbook vol. 1, type 316L",
    },
    LibraryMaterial {
        name: "17-4PH",
        description: "precipitation-hardening stainless steel 17-4PH, condition H1025",
        youngs_modulus_mpa: 197_000.0,
        poisson_ratio: 0.27,
        density_g_cm3: 7.80,
        yield_strength_mpa: 1000.0,
        source: "ASTM A564 condition H1025 (minimum yield 1000 MPa); E, ν and density from AK Steel 17-4 PH product data bulletin",
    },
];

/// The library entry called `name` (case-insensitive).
pub fn find(name: &str) -> Option<&'static LibraryMaterial> {
    LIBRARY.iter().find(|m| m.name.eq_ignore_ascii_case(name))
}

/// The names of all built-in materials, for error messages.
pub fn names() -> String {
    LIBRARY
        .iter()
        .map(|m| format!("\"{}\"", m.name))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_values_are_physical_and_names_unique() {
        for (i, m) in LIBRARY.iter().enumerate() {
            assert!(m.youngs_modulus_mpa > 500.0 && m.youngs_modulus_mpa < 250_000.0);
            assert!(m.poisson_ratio > 0.2 && m.poisson_ratio < 0.5);
            assert!(m.density_g_cm3 > 0.5 && m.density_g_cm3 < 9.0);
            assert!(m.yield_strength_mpa > 10.0 && m.yield_strength_mpa < 1500.0);
            assert!(!m.source.is_empty());
            assert!(
                LIBRARY[..i]
                    .iter()
                    .all(|o| !o.name.eq_ignore_ascii_case(m.name))
            );
        }
        assert_eq!(find("pla").map(|m| m.name), Some("PLA"));
        assert!(find("unobtainium").is_none());
    }
}
