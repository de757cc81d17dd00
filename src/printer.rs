//! Printer profiles: the nozzle, layer height, overhang threshold and thinnest wall a part is
//! made for, from a `[printer]` table in the design file or a named preset.
//!
//! A profile ties the design to the machine that prints it: the overhang control works to its
//! angle along its build direction, the minimum member size follows its thinnest wall, and the
//! slicer that judges the exported part ([`crate::slicer`]) runs with its nozzle, layer height and
//! support threshold.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The direction in which the printer stacks layers. The base plate lies at the start of the
/// direction: for `+z` layer `k = 0` is on the plate, for `-z` layer `k = nz − 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum BuildDirection {
    /// Layers grow towards +x; the plate is at x = 0. Written `"+x"`.
    #[serde(rename = "+x")]
    PlusX,
    /// Layers grow towards −x; the plate is at the largest x. Written `"-x"`.
    #[serde(rename = "-x")]
    MinusX,
    /// Layers grow towards +y; the plate is at y = 0. Written `"+y"`.
    #[serde(rename = "+y")]
    PlusY,
    /// Layers grow towards −y; the plate is at the largest y. Written `"-y"`.
    #[serde(rename = "-y")]
    MinusY,
    /// Layers grow towards +z; the plate is at z = 0. Written `"+z"`.
    #[serde(rename = "+z")]
    PlusZ,
    /// Layers grow towards −z; the plate is at the largest z. Written `"-z"`.
    #[serde(rename = "-z")]
    MinusZ,
}

impl BuildDirection {
    /// All six directions: +x, −x, +y, −y, +z, −z.
    pub const ALL: [Self; 6] = [
        Self::PlusX,
        Self::MinusX,
        Self::PlusY,
        Self::MinusY,
        Self::PlusZ,
        Self::MinusZ,
    ];

    /// The grid axis along which layers stack (0 = x, 1 = y, 2 = z).
    pub fn axis(self) -> usize {
        match self {
            Self::PlusX | Self::MinusX => 0,
            Self::PlusY | Self::MinusY => 1,
            Self::PlusZ | Self::MinusZ => 2,
        }
    }

    /// The unit vector of the direction, e.g. `[0, 0, 1]` for `+z`.
    pub fn vector(self) -> [f64; 3] {
        let mut v = [0.0; 3];
        v[self.axis()] = if self.is_positive() { 1.0 } else { -1.0 };
        v
    }

    /// Whether layers stack towards increasing coordinates.
    pub fn is_positive(self) -> bool {
        matches!(self, Self::PlusX | Self::PlusY | Self::PlusZ)
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::PlusX => "+x",
            Self::MinusX => "-x",
            Self::PlusY => "+y",
            Self::MinusY => "-y",
            Self::PlusZ => "+z",
            Self::MinusZ => "-z",
        }
    }
}

impl fmt::Display for BuildDirection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that is none of `+x`, `-x`, `+y`, `-y`, `+z`, `-z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a build direction is one of +x, -x, +y, -y, +z, -z")]
pub struct UnknownBuildDirection;

impl FromStr for BuildDirection {
    type Err = UnknownBuildDirection;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or(UnknownBuildDirection)
    }
}

/// A named printer and nozzle with the values a design needs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Preset {
    /// Name as written in design files, e.g. `"prusa_mk3s_0.4"`.
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// Nozzle diameter, mm.
    pub nozzle_mm: f64,
    /// Layer height, mm.
    pub layer_height_mm: f64,
    /// Flattest overhang printed without support, degrees from the build plane.
    pub overhang_angle_deg: f64,
    /// Where the values come from.
    pub source: &'static str,
}

/// PrusaSlicer's bundled vendor profiles, read from the copy Debian 12 installs with
/// PrusaSlicer 2.5.0 (`/usr/share/PrusaSlicer/profiles/PrusaResearch.ini`).
const PRUSA_PROFILES: &str = "PrusaSlicer 2.5.0 bundled profile PrusaResearch.ini";

/// The overhang angle every preset uses: the common 45° rule, stricter than the 50° to 60°
/// thresholds of PrusaSlicer's own print profiles, so a part made to it needs no support there.
const RULE_OF_THUMB_DEG: f64 = 45.0;

/// All presets.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "generic_0.4",
        description: "any FFF printer with a 0.4 mm nozzle at 0.2 mm layers",
        nozzle_mm: 0.4,
        layer_height_mm: 0.2,
        overhang_angle_deg: RULE_OF_THUMB_DEG,
        source: "the most common nozzle and layer height of desktop FFF printers",
    },
    Preset {
        name: "generic_0.6",
        description: "any FFF printer with a 0.6 mm nozzle at 0.3 mm layers",
        nozzle_mm: 0.6,
        layer_height_mm: 0.3,
        overhang_angle_deg: RULE_OF_THUMB_DEG,
        source: "layer height half the nozzle, the usual rule for FFF",
    },
    Preset {
        name: "prusa_mk3s_0.4",
        description: "Original Prusa i3 MK3S/MK3S+, 0.4 mm nozzle, 0.15mm QUALITY",
        nozzle_mm: 0.4,
        layer_height_mm: 0.15,
        overhang_angle_deg: RULE_OF_THUMB_DEG,
        source: PRUSA_PROFILES,
    },
    Preset {
        name: "prusa_mk3s_0.25",
        description: "Original Prusa i3 MK3S/MK3S+, 0.25 mm nozzle, 0.10mm DETAIL",
        nozzle_mm: 0.25,
        layer_height_mm: 0.1,
        overhang_angle_deg: RULE_OF_THUMB_DEG,
        source: PRUSA_PROFILES,
    },
    Preset {
        name: "prusa_mk3s_0.6",
        description: "Original Prusa i3 MK3S/MK3S+, 0.6 mm nozzle, 0.30mm QUALITY",
        nozzle_mm: 0.6,
        layer_height_mm: 0.3,
        overhang_angle_deg: RULE_OF_THUMB_DEG,
        source: PRUSA_PROFILES,
    },
    Preset {
        name: "prusa_mini_0.4",
        description: "Original Prusa MINI/MINI+, 0.4 mm nozzle, 0.15mm QUALITY",
        nozzle_mm: 0.4,
        layer_height_mm: 0.15,
        overhang_angle_deg: RULE_OF_THUMB_DEG,
        source: PRUSA_PROFILES,
    },
];

/// The preset called `name`.
pub fn preset(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The names of all presets, quoted and separated by commas, for messages.
pub fn preset_names() -> String {
    PRESETS
        .iter()
        .map(|p| format!("\"{}\"", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The thinnest wall a profile asks for by default, in nozzle diameters: two perimeters, the
/// least a slicer prints as a solid wall of its own.
pub const DEFAULT_WALL_NOZZLES: f64 = 2.0;

/// A validated printer profile.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrinterProfile {
    /// The preset it started from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Nozzle diameter, mm.
    pub nozzle_mm: f64,
    /// Layer height, mm.
    pub layer_height_mm: f64,
    /// Flattest overhang printed without support, degrees from the build plane: the slicer's
    /// support threshold.
    pub overhang_angle_deg: f64,
    /// Thinnest wall the part may have, mm.
    pub min_wall_mm: f64,
    /// The direction the part grows in on the printer; the build plate is at its start.
    pub build_direction: BuildDirection,
    /// Whether the optimization keeps overhangs within the angle (off: the free twin).
    pub overhang_control: bool,
}

/// The keys of a `[printer]` table as written (see [`crate::design::PrinterSpec`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrinterKeys<'a> {
    /// `preset`.
    pub preset: Option<&'a str>,
    /// `nozzle_mm`.
    pub nozzle_mm: Option<f64>,
    /// `layer_height_mm`.
    pub layer_height_mm: Option<f64>,
    /// `overhang_angle_deg`.
    pub overhang_angle_deg: Option<f64>,
    /// `min_wall_mm`.
    pub min_wall_mm: Option<f64>,
    /// `build_direction`.
    pub build_direction: Option<BuildDirection>,
    /// `overhang_control`.
    pub overhang_control: Option<bool>,
}

impl PrinterProfile {
    /// The profile of an empty `[printer]` table: `generic_0.4` along +z with overhang control.
    pub fn generic() -> Self {
        Self::from_keys(&PrinterKeys::default()).expect("the generic preset is valid")
    }

    /// The profile of a `[printer]` table: the preset's values (or `generic_0.4`'s) under the
    /// explicit keys. An error names the key (`printer.…`) and what is allowed.
    pub fn from_keys(keys: &PrinterKeys) -> Result<Self, (&'static str, String)> {
        let base = match keys.preset {
            None => &PRESETS[0],
            Some(name) => preset(name).ok_or_else(|| {
                (
                    "printer.preset",
                    format!(
                        "unknown preset \"{name}\"; the presets are {} (`formwerk printers` lists them)",
                        preset_names()
                    ),
                )
            })?,
        };
        let nozzle_mm = keys.nozzle_mm.unwrap_or(base.nozzle_mm);
        if !(nozzle_mm.is_finite() && nozzle_mm > 0.0 && nozzle_mm <= 5.0) {
            return Err((
                "printer.nozzle_mm",
                format!("{nozzle_mm} must be a nozzle diameter in (0, 5] mm"),
            ));
        }
        let layer_height_mm = keys.layer_height_mm.unwrap_or(base.layer_height_mm);
        if !(layer_height_mm.is_finite() && layer_height_mm > 0.0) {
            return Err((
                "printer.layer_height_mm",
                format!("{layer_height_mm} must be a positive height in mm"),
            ));
        }
        if layer_height_mm > nozzle_mm {
            return Err((
                "printer.layer_height_mm",
                format!(
                    "{layer_height_mm} mm is thicker than the nozzle ({nozzle_mm} mm): a layer can be at most one nozzle diameter, usually half"
                ),
            ));
        }
        let overhang_angle_deg = keys.overhang_angle_deg.unwrap_or(base.overhang_angle_deg);
        if !(overhang_angle_deg > 0.0 && overhang_angle_deg < 90.0) {
            return Err((
                "printer.overhang_angle_deg",
                format!(
                    "{overhang_angle_deg} must lie in (0, 90): degrees from the build plane, as the slicer's support threshold"
                ),
            ));
        }
        let min_wall_mm = keys.min_wall_mm.unwrap_or(DEFAULT_WALL_NOZZLES * nozzle_mm);
        if !(min_wall_mm.is_finite() && min_wall_mm >= nozzle_mm) {
            return Err((
                "printer.min_wall_mm",
                format!(
                    "{min_wall_mm} mm is below one nozzle diameter ({nozzle_mm} mm): no slicer prints a wall that thin"
                ),
            ));
        }
        Ok(Self {
            preset: keys.preset.map(str::to_string),
            nozzle_mm,
            layer_height_mm,
            overhang_angle_deg,
            min_wall_mm,
            build_direction: keys.build_direction.unwrap_or(BuildDirection::PlusZ),
            overhang_control: keys.overhang_control.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_direction_text_round_trips() {
        for direction in BuildDirection::ALL {
            let text = direction.to_string();
            assert_eq!(text.parse::<BuildDirection>(), Ok(direction));
            let json = serde_json::to_string(&direction).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(
                serde_json::from_str::<BuildDirection>(&json).unwrap(),
                direction
            );
        }
        assert_eq!("z".parse::<BuildDirection>(), Err(UnknownBuildDirection));
        assert!(serde_json::from_str::<BuildDirection>("\"up\"").is_err());
    }

    #[test]
    fn explicit_keys_override_the_preset() {
        let profile = PrinterProfile::from_keys(&PrinterKeys {
            preset: Some("prusa_mk3s_0.6"),
            layer_height_mm: Some(0.2),
            ..PrinterKeys::default()
        })
        .unwrap();
        assert_eq!(profile.nozzle_mm, 0.6);
        assert_eq!(profile.layer_height_mm, 0.2);
        assert!((profile.min_wall_mm - 1.2).abs() < 1e-12);
        assert_eq!(profile.build_direction, BuildDirection::PlusZ);
        assert!(profile.overhang_control);
    }

    #[test]
    fn every_preset_is_a_valid_profile() {
        for p in PRESETS {
            let profile = PrinterProfile::from_keys(&PrinterKeys {
                preset: Some(p.name),
                ..PrinterKeys::default()
            })
            .unwrap_or_else(|e| panic!("{}: {e:?}", p.name));
            assert!(profile.layer_height_mm <= profile.nozzle_mm / 2.0 + 1e-12);
        }
    }

    #[test]
    fn bad_values_name_their_key() {
        let key = |keys: PrinterKeys| PrinterProfile::from_keys(&keys).unwrap_err().0;
        let with = |f: fn(&mut PrinterKeys)| {
            let mut keys = PrinterKeys::default();
            f(&mut keys);
            key(keys)
        };
        assert_eq!(with(|k| k.preset = Some("ender")), "printer.preset");
        assert_eq!(with(|k| k.nozzle_mm = Some(0.0)), "printer.nozzle_mm");
        assert_eq!(
            with(|k| k.layer_height_mm = Some(0.5)),
            "printer.layer_height_mm"
        );
        assert_eq!(
            with(|k| k.overhang_angle_deg = Some(90.0)),
            "printer.overhang_angle_deg"
        );
        assert_eq!(with(|k| k.min_wall_mm = Some(0.3)), "printer.min_wall_mm");
        assert_eq!(
            with(|k| k.overhang_angle_deg = Some(f64::NAN)),
            "printer.overhang_angle_deg"
        );
    }
}
