//! Design files (TOML): the serde types exactly as written, and loading with precise errors.
//!
//! Every table denies unknown keys. Defaults are filled in on parsing, so a [`Design`] serialized
//! back (into `result.json`) shows every value that was used. Conversion into a validated
//! [`crate::Problem`] lives in [`validate`].

pub mod error;
mod loads;
pub mod region;
pub mod selection;
pub mod stl_body;
pub mod validate;

use std::path::Path;

use crate::output::vtk::VtiEncoding;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

pub use error::DesignError;
pub(crate) use error::plain_words;

/// The JSON Schema (draft 2020-12) of design files, generated from the types that parse them,
/// pretty-printed: editors (Taplo / Even Better TOML) use it for completion and checks.
pub fn json_schema() -> String {
    let mut schema = schemars::schema_for!(Design);
    schema.insert(
        "$id".into(),
        "https://formwerk.dev/schema/design.json".into(),
    );
    serde_json::to_string_pretty(&schema).expect("a schema is JSON")
}
pub use region::{Axis, Face, Region};

/// A design file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Design {
    /// Name of the design; the default output folder is `runs/<name>`.
    pub name: String,
    /// The design space.
    pub domain: Domain,
    /// The material.
    pub material: MaterialSpec,
    /// Where the part is held (at least one).
    #[serde(default)]
    pub supports: Vec<Support>,
    /// What it must carry (at least one).
    #[serde(default)]
    pub load_cases: Vec<LoadCaseSpec>,
    /// Regions that must stay solid (bosses, bolt eyes, mounting pads).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep_solid: Vec<KeepRegion>,
    /// Regions that must stay empty (clearances, shafts, bolt holes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keep_empty: Vec<KeepRegion>,
    /// Optimization settings.
    pub optimization: OptimizationSpec,
    /// Linear-solver settings (all optional).
    #[serde(default)]
    pub solver: SolverSpec,
    /// Part export settings (all optional).
    #[serde(default)]
    pub output: OutputSpec,
    /// How the part will be made (all optional).
    #[serde(default)]
    pub manufacturing: ManufacturingSpec,
    /// The printer the part is made for (optional): overhang control to its angle, the
    /// minimum member size from its thinnest wall, and the slicer's settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub printer: Option<PrinterSpec>,
}

/// A `[printer]` table: a preset and/or explicit values (explicit keys override the preset;
/// see [`crate::printer`]).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PrinterSpec {
    /// A preset from `formwerk printers`, e.g. `"prusa_mk3s_0.4"` (default `"generic_0.4"`'s
    /// values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
    /// Nozzle diameter, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nozzle_mm: Option<f64>,
    /// Layer height, mm (at most the nozzle diameter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_height_mm: Option<f64>,
    /// Flattest overhang printed without support, degrees from the build plane, as the
    /// slicer's support threshold (default 45).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhang_angle_deg: Option<f64>,
    /// Thinnest wall, mm (default two nozzle diameters); the minimum member size follows it
    /// unless `manufacturing.min_member_mm` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_wall_mm: Option<f64>,
    /// Direction the layers grow in: `"+x"` … `"-z"` (default `"+z"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_direction: Option<crate::printer::BuildDirection>,
    /// Keep overhangs within the angle while optimizing (default true; false makes the free
    /// twin, judged against the same printer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overhang_control: Option<bool>,
}

impl PrinterSpec {
    /// The keys as [`crate::printer::PrinterProfile::from_keys`] takes them.
    pub fn keys(&self) -> crate::printer::PrinterKeys<'_> {
        crate::printer::PrinterKeys {
            preset: self.preset.as_deref(),
            nozzle_mm: self.nozzle_mm,
            layer_height_mm: self.layer_height_mm,
            overhang_angle_deg: self.overhang_angle_deg,
            min_wall_mm: self.min_wall_mm,
            build_direction: self.build_direction,
            overhang_control: self.overhang_control,
        }
    }
}

/// How the part will be made: additive-manufacturing constraints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ManufacturingSpec {
    /// Build direction for overhang control: `"+x"`, `"-x"`, `"+y"`, `"-y"`, `"+z"`, `"-z"`, or
    /// `"none"` (default: no overhang control). The base plate is at the start of the direction.
    #[serde(default, with = "build_direction_or_none")]
    #[schemars(schema_with = "build_direction_or_none::schema")]
    pub build_direction: Option<crate::printer::BuildDirection>,
    /// Flattest overhang the printer builds without support, degrees from the build plane
    /// (default 45): what the printability report counts against.
    #[serde(default = "default_overhang_angle")]
    pub overhang_angle_deg: f64,
    /// The overhang angle the design is made to: 45 (one element out per layer) or 63.4 (one
    /// element per two layers, a margin over a 45° printer). Default: the smaller of the two
    /// that is at least `overhang_angle_deg`.
    #[serde(default)]
    pub design_overhang_angle_deg: Option<f64>,
    /// Thinnest member and narrowest gap of the part, mm (default: none). Imposed by the
    /// robust projection (Wang, Lazarov & Sigmund 2011), which sets the filter radius to
    /// `min_member_mm / 0.88`; leave `optimization.filter_radius_mm` out when it is given.
    #[serde(default)]
    pub min_member_mm: Option<f64>,
}

impl Default for ManufacturingSpec {
    fn default() -> Self {
        Self {
            build_direction: None,
            overhang_angle_deg: default_overhang_angle(),
            design_overhang_angle_deg: None,
            min_member_mm: None,
        }
    }
}

pub(crate) fn default_overhang_angle() -> f64 {
    45.0
}

/// `"none"` or a build direction (`"+x"` … `"-z"`) in design files.
mod build_direction_or_none {
    use serde::{Deserialize, Deserializer, Serializer};

    use crate::printer::BuildDirection;

    pub fn serialize<S: Serializer>(
        direction: &Option<BuildDirection>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match direction {
            None => serializer.serialize_str("none"),
            Some(d) => serializer.serialize_str(&d.to_string()),
        }
    }

    /// `"none"` or one of the six directions.
    pub fn schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "enum": ["none", "+x", "-x", "+y", "-y", "+z", "-z"],
        })
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<BuildDirection>, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text == "none" {
            return Ok(None);
        }
        text.parse().map(Some).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown variant `{text}`, expected one of \"none\", \"+x\", \"-x\", \"+y\", \"-y\", \"+z\", \"-z\""
            ))
        })
    }
}

/// Part export settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// Iso-density of the surface in (0, 1); default: the value that makes the part's volume
    /// equal the optimized material volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Taubin smoothing iterations, 0 to 100 (default 10; 0 keeps the raw surface).
    #[serde(default = "default_smoothing")]
    pub smoothing_iterations: usize,
    /// Mesh files to write: `"stl"` (`part.stl`) and/or `"3mf"` (`part.3mf`); default `["stl"]`.
    #[serde(default = "default_formats")]
    pub formats: Vec<MeshFormat>,
    /// Simplify the mesh to at most this many triangles, ≥ 100 (default: no simplification).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_triangles: Option<usize>,
    /// Largest distance in mm of a facet of an exact kept shape (a bore, a bolt hole, a kept
    /// face) from its true surface, in [0.0001, 1] (default 0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chordal_tolerance_mm: Option<f64>,
    /// How `density.vti` and `analysis.vti` store their arrays: `"binary"` (default),
    /// `"compressed"` (zlib) or `"ascii"`.
    #[serde(default, skip_serializing_if = "VtiEncoding::is_default")]
    pub vti_encoding: VtiEncoding,
}

impl Default for OutputSpec {
    fn default() -> Self {
        Self {
            threshold: None,
            smoothing_iterations: default_smoothing(),
            formats: default_formats(),
            max_triangles: None,
            chordal_tolerance_mm: None,
            vti_encoding: VtiEncoding::default(),
        }
    }
}

fn default_smoothing() -> usize {
    10
}

fn default_formats() -> Vec<MeshFormat> {
    vec![MeshFormat::Stl]
}

/// A mesh file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MeshFormat {
    /// Binary STL, millimetres.
    Stl,
    /// 3MF, unit millimetre.
    #[serde(rename = "3mf")]
    ThreeMf,
}

/// Linear-solver settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SolverSpec {
    /// `"auto"` (default: direct up to 30 000 DOFs, multigrid above), `"direct"` or `"multigrid"`.
    #[serde(default)]
    pub method: SolverMethodKind,
    /// Relative residual `‖f − K u‖/‖f‖` to reach, in (0, 1) (default 1e-10 direct, 1e-6 multigrid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance: Option<f64>,
    /// Most CG iterations per solve, ≥ 1 (default 500).
    #[serde(default = "default_solver_iterations")]
    pub max_iterations: usize,
    /// Multigrid levels including the fine grid, ≥ 2 (default: automatic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub levels: Option<usize>,
}

impl Default for SolverSpec {
    fn default() -> Self {
        Self {
            method: SolverMethodKind::Auto,
            tolerance: None,
            max_iterations: default_solver_iterations(),
            levels: None,
        }
    }
}

fn default_solver_iterations() -> usize {
    500
}

/// The linear-solver method.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SolverMethodKind {
    /// Direct for small grids, multigrid for large ones.
    #[default]
    Auto,
    /// Sparse Cholesky.
    Direct,
    /// Multigrid-preconditioned conjugate gradients.
    Multigrid,
}

/// The design space: a box from the origin, cut into cubic voxels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Domain {
    /// Size of the box in mm along x, y, z.
    pub size_mm: [f64; 3],
    /// Edge of one cubic voxel in mm (give this or `elements`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element_size_mm: Option<f64>,
    /// Number of voxels along x, y, z (give this or `element_size_mm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elements: Option<[usize; 3]>,
}

/// The material: a library name such as `"PLA"` (see `formwerk materials`) or custom values.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum MaterialSpec {
    /// A built-in material, by name.
    Named(String),
    /// Values given in the design file.
    Custom(CustomMaterial),
}

impl<'de> Deserialize<'de> for MaterialSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Hand-written so that a bad table reports its own error (unknown key, missing field)
        // instead of serde's "did not match any variant".
        struct MaterialVisitor;
        impl<'de> Visitor<'de> for MaterialVisitor {
            type Value = MaterialSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a material name such as \"PLA\", or a table with youngs_modulus_mpa and poisson_ratio",
                )
            }
            fn visit_str<E: de::Error>(self, name: &str) -> Result<MaterialSpec, E> {
                Ok(MaterialSpec::Named(name.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<MaterialSpec, A::Error> {
                CustomMaterial::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(MaterialSpec::Custom)
            }
        }
        deserializer.deserialize_any(MaterialVisitor)
    }
}

/// Linear elastic isotropic material given by its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomMaterial {
    /// Name for reports (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Young's modulus in MPa.
    pub youngs_modulus_mpa: f64,
    /// Poisson's ratio, in (−1, 0.5).
    pub poisson_ratio: f64,
    /// Density in g/cm³ (optional; gives the part's mass; needed for gravity and mass targets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub density_g_cm3: Option<f64>,
    /// Yield strength in MPa (optional; gives the safety factor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yield_strength_mpa: Option<f64>,
}

/// A region whose elements are held at a fixed density.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KeepRegion {
    /// The elements (those whose centre lies in the region).
    pub region: Region,
}

/// A support: the listed displacement components are zero on every node of the region.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Support {
    /// The nodes held.
    pub region: Region,
    /// Directions held (default: all three).
    #[serde(default = "all_axes")]
    pub fixed: Vec<Axis>,
}

fn all_axes() -> Vec<Axis> {
    vec![Axis::X, Axis::Y, Axis::Z]
}

/// A load case: loads acting together.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadCaseSpec {
    /// Name of the case.
    pub name: String,
    /// Weight of this case's compliance in the objective (default 1).
    #[serde(default = "one")]
    pub weight: f64,
    /// The loads (at least one).
    #[serde(default)]
    pub loads: Vec<LoadSpec>,
    /// With `objective = "min_mass"`: the largest compliance allowed for this case, N·mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_compliance_nmm: Option<f64>,
    /// With `objective = "min_mass"`: the largest displacement allowed for this case, mm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_displacement_mm: Option<f64>,
    /// With `objective = "min_mass"`: the smallest safety factor against yield allowed for this
    /// case, `yield_strength_mpa / max von Mises` (the material needs a yield strength).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_safety_factor: Option<f64>,
}

fn one() -> f64 {
    1.0
}

/// One load; give exactly one of `force_n`, `pressure_mpa`, `torque_nmm`, `gravity_m_s2`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadSpec {
    /// The nodes loaded (every load but gravity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// Total force in newtons, [x, y, z], shared equally by the region's nodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_n: Option<[f64; 3]>,
    /// Pressure in MPa on a face region, pushing into the part (negative pulls).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure_mpa: Option<f64>,
    /// Torque in N·mm about `axis` (right-hand rule), as tangential nodal forces ∝ radius.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torque_nmm: Option<f64>,
    /// Axis direction of a torque.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub axis: Option<[f64; 3]>,
    /// A point on the torque axis, mm (default: the centroid of the region's nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub center_mm: Option<[f64; 3]>,
    /// Self-weight: gravitational acceleration in m/s², [x, y, z], e.g. [0, 0, -9.81].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gravity_m_s2: Option<[f64; 3]>,
}

/// Optimization settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OptimizationSpec {
    /// What to optimize: `"min_compliance"` (default) or `"min_mass"`.
    #[serde(default)]
    pub objective: ObjectiveKind,
    /// Share of the design elements (those not kept solid or empty) filled with material, in
    /// (0, 1]. For `min_mass`, the starting density (default 0.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_fraction: Option<f64>,
    /// Target mass of the whole part in grams (instead of `volume_fraction`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mass_target_g: Option<f64>,
    /// Mirror planes through the domain centre, normal to these axes: `["x"]`, up to three.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symmetry: Vec<Axis>,
    /// SIMP penalization exponent, in [1, 10] (default 3).
    #[serde(default = "default_penalization")]
    pub penalization: f64,
    /// Density-filter radius in mm (default 1.5 × element size); larger gives thicker members.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter_radius_mm: Option<f64>,
    /// Update method: `"oc"` or `"mma"` (default: OC for `min_compliance`, MMA for `min_mass`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<OptimizerKind>,
    /// Largest change of a design variable per iteration, in (0, 1] (default 0.2; 0.05 when a
    /// load case has `min_safety_factor`, whose stresses change sharply with the layout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub move_limit: Option<f64>,
    /// Most design iterations, ≥ 1 (default 200).
    #[serde(default = "default_max_iterations")]
    pub max_iterations: usize,
    /// Stop when no design variable changes by more than this, in [0, 1) (default 0.01).
    #[serde(default = "default_change_tolerance")]
    pub change_tolerance: f64,
}

fn default_penalization() -> f64 {
    3.0
}
fn default_max_iterations() -> usize {
    200
}
fn default_change_tolerance() -> f64 {
    0.01
}

/// The update method.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// Optimality criteria (top88/top3d).
    #[default]
    Oc,
    /// Method of moving asymptotes (Svanberg 1987).
    Mma,
}

/// What the optimization minimizes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ObjectiveKind {
    /// The weighted compliance, at a given volume or mass.
    #[default]
    MinCompliance,
    /// The mass, with each load case's compliance, displacement or safety factor limited.
    MinMass,
    /// The largest von Mises stress over the load cases, at a given volume or mass.
    MinStress,
}

impl Design {
    /// Parses a design from TOML text; `file` names it in errors.
    pub fn from_toml(text: &str, file: &Path) -> Result<Self, DesignError> {
        let deserializer =
            toml::Deserializer::parse(text).map_err(|e| DesignError::parse(file, text, "", &e))?;
        serde_path_to_error::deserialize(deserializer).map_err(|e| {
            let key = e.path().to_string();
            if key == "sweep" && e.inner().message().starts_with("unknown field `sweep`") {
                return DesignError::Invalid {
                    file: file.to_path_buf(),
                    key: "sweep".into(),
                    message: "this file defines a sweep of several designs; run them with `formwerk sweep FILE`, or write a cluster plan with `formwerk sweep FILE --plan DIR` (`run` takes one design)".into(),
                };
            }
            DesignError::parse(file, text, &key, e.inner())
        })
    }

    /// Reads and parses a design file.
    pub fn load(path: &Path) -> Result<Self, DesignError> {
        let text = std::fs::read_to_string(path).map_err(|source| DesignError::Io {
            file: path.to_path_buf(),
            source: std::sync::Arc::new(source),
        })?;
        Self::from_toml(&text, path)
    }
}
