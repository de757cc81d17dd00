//! Regions of space as written in design files: faces, boxes, cylinders, spheres, points, STL
//! bodies, surfaces of other regions, and unions. Where they are used (supports, loads,
//! keep-solid, keep-empty) they become node and element sets through [`super::selection`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A displacement direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Axis {
    /// x
    X,
    /// y
    Y,
    /// z
    Z,
}

impl Axis {
    /// 0, 1 or 2.
    pub fn index(self) -> usize {
        match self {
            Self::X => 0,
            Self::Y => 1,
            Self::Z => 2,
        }
    }
}

/// One of the six faces of the domain box.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Face {
    /// x = 0
    XMin,
    /// x = size x
    XMax,
    /// y = 0
    YMin,
    /// y = size y
    YMax,
    /// z = 0
    ZMin,
    /// z = size z
    ZMax,
}

impl Face {
    /// The axis normal to the face and whether the face is at the upper end of it.
    pub fn axis_and_side(self) -> (usize, bool) {
        match self {
            Self::XMin => (0, false),
            Self::XMax => (0, true),
            Self::YMin => (1, false),
            Self::YMax => (1, true),
            Self::ZMin => (2, false),
            Self::ZMax => (2, true),
        }
    }
}

/// A region of space, in millimetres, exactly as written in a design file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Region {
    /// A face of the domain: `{ face = "x_min" }`.
    Face(Face),
    /// An axis-aligned box, possibly flat (a patch, a line or a point):
    /// `{ box = { min_mm = [..], max_mm = [..] } }`.
    Box {
        /// Lower corner in mm.
        min_mm: [f64; 3],
        /// Upper corner in mm.
        max_mm: [f64; 3],
    },
    /// A solid cylinder, or a tube when `inner_radius_mm` is given:
    /// `{ cylinder = { center_mm = [..], axis = [0, 0, 1], radius_mm = 5, length_mm = 20 } }`.
    Cylinder {
        /// Midpoint of the axis segment, mm.
        center_mm: [f64; 3],
        /// Direction of the axis (any length but zero).
        axis: [f64; 3],
        /// Outer radius, mm.
        radius_mm: f64,
        /// Full length along the axis, mm.
        length_mm: f64,
        /// Inner radius of a tube, mm (default: solid cylinder).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        inner_radius_mm: Option<f64>,
    },
    /// A ball: `{ sphere = { center_mm = [..], radius_mm = 4 } }`.
    Sphere {
        /// Centre, mm.
        center_mm: [f64; 3],
        /// Radius, mm.
        radius_mm: f64,
    },
    /// The grid node nearest to a point: `{ point_mm = [x, y, z] }`.
    PointMm([f64; 3]),
    /// The inside of a closed triangle mesh, path relative to the design file:
    /// `{ stl = "bodies/pipe.stl" }`.
    Stl(PathBuf),
    /// The boundary of another region inside the domain, e.g. the bore of a bolt hole:
    /// `{ surface_of = { cylinder = { .. } } }`.
    SurfaceOf(std::boxed::Box<Region>),
    /// Everything in any of several regions: `{ union = [ {..}, {..} ] }`.
    Union(Vec<Region>),
}

impl Region {
    /// A short description for reports, e.g. `cylinder r=5 mm`.
    pub fn describe(&self) -> String {
        match self {
            Self::Face(face) => format!("face {}", face_name(*face)),
            Self::Box { min_mm, max_mm } => format!("box {min_mm:?}..{max_mm:?} mm"),
            Self::Cylinder {
                radius_mm,
                length_mm,
                inner_radius_mm,
                ..
            } => match inner_radius_mm {
                Some(inner) => format!("tube r={inner}..{radius_mm} mm, length {length_mm} mm"),
                None => format!("cylinder r={radius_mm} mm, length {length_mm} mm"),
            },
            Self::Sphere { radius_mm, .. } => format!("sphere r={radius_mm} mm"),
            Self::PointMm(p) => format!("point {p:?} mm"),
            Self::Stl(path) => format!("stl {}", path.display()),
            Self::SurfaceOf(inner) => format!("surface of {}", inner.describe()),
            Self::Union(parts) => format!("union of {}", parts.len()),
        }
    }
}

fn face_name(face: Face) -> &'static str {
    match face {
        Face::XMin => "x_min",
        Face::XMax => "x_max",
        Face::YMin => "y_min",
        Face::YMax => "y_max",
        Face::ZMin => "z_min",
        Face::ZMax => "z_max",
    }
}
