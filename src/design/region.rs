//! Regions of the design domain: which nodes a support or load acts on.
//!
//! A region is closed: nodes on its boundary belong to it (to within 10⁻⁶ of an element size,
//! so that coordinates written in millimetres hit grid nodes despite rounding).

use serde::{Deserialize, Serialize};

/// A displacement direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

/// A closed region of space, in millimetres.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
}

impl Region {
    /// Whether `point` (mm) lies in the region, in a domain of size `domain_mm`, with tolerance `tol` (mm).
    pub fn contains(&self, point: [f64; 3], domain_mm: [f64; 3], tol: f64) -> bool {
        match self {
            Self::Face(face) => {
                let (axis, at_max) = match face {
                    Face::XMin => (0, false),
                    Face::XMax => (0, true),
                    Face::YMin => (1, false),
                    Face::YMax => (1, true),
                    Face::ZMin => (2, false),
                    Face::ZMax => (2, true),
                };
                let plane = if at_max { domain_mm[axis] } else { 0.0 };
                (point[axis] - plane).abs() <= tol
            }
            Self::Box { min_mm, max_mm } => {
                (0..3).all(|a| point[a] >= min_mm[a] - tol && point[a] <= max_mm[a] + tol)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faces_and_flat_boxes_are_closed() {
        let domain = [10.0, 4.0, 2.0];
        assert!(Region::Face(Face::XMax).contains([10.0, 1.0, 1.0], domain, 1e-9));
        assert!(!Region::Face(Face::XMax).contains([9.5, 1.0, 1.0], domain, 1e-9));
        let line = Region::Box {
            min_mm: [10.0, 0.0, 0.0],
            max_mm: [10.0, 0.0, 2.0],
        };
        assert!(line.contains([10.0, 0.0, 2.0], domain, 1e-9));
        assert!(!line.contains([10.0, 0.5, 1.0], domain, 1e-9));
    }
}
