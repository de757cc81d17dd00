//! From regions to node and element sets on the grid.
//!
//! Nodes belong to a region when they lie in it (regions are closed, to within 10⁻⁶ of an
//! element size, so coordinates written in millimetres hit grid nodes despite rounding).
//! Elements belong to a region when their centre lies in it; a domain face selects the layer of
//! elements that touches it. `surface_of` is defined on the voxelized region, so that it is what
//! the finite-element model sees: its nodes are those shared by an element inside the region and
//! one outside (the bore of a bolt hole: the nodes of the material around the hole), and its
//! elements are the one-element skin outside the region that touches it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;

use super::region::Region;
use super::stl_body::StlBody;
use crate::grid::Grid;
use crate::mesh::KeptShape;

/// A region with its parameters checked and its STL bodies loaded.
#[derive(Debug, Clone)]
pub enum Shape {
    /// A face of the domain: axis and whether at its upper end.
    Face(usize, bool),
    /// An axis-aligned box, mm.
    Box([f64; 3], [f64; 3]),
    /// A cylinder or tube.
    Cylinder {
        /// Midpoint of the axis, mm.
        center: [f64; 3],
        /// Unit axis direction.
        axis: [f64; 3],
        /// Outer radius, mm.
        radius: f64,
        /// Inner radius, mm (0 for a solid cylinder).
        inner_radius: f64,
        /// Half the length, mm.
        half_length: f64,
    },
    /// A ball: centre and radius, mm.
    Sphere([f64; 3], f64),
    /// The node nearest to a point, mm.
    Point([f64; 3]),
    /// The inside of a closed mesh.
    Body(Arc<StlBody>),
    /// The surface of the voxelized region.
    SurfaceOf(Box<Shape>),
    /// Any of the parts.
    Union(Vec<Shape>),
}

/// Resolves regions, loading each STL body once; paths are relative to `base_dir`.
#[derive(Debug)]
pub struct Resolver {
    base_dir: PathBuf,
    bodies: HashMap<PathBuf, Arc<StlBody>>,
}

/// A region error: the key below the region (e.g. `.cylinder.radius_mm`) and what is wrong.
pub type RegionError = (String, String);

impl Resolver {
    /// A resolver for a design file in `base_dir`.
    pub fn new(base_dir: &Path) -> Self {
        Self {
            base_dir: base_dir.to_path_buf(),
            bodies: HashMap::new(),
        }
    }

    /// Checks `region` and loads its bodies.
    pub fn resolve(&mut self, region: &Region) -> Result<Shape, RegionError> {
        let err = |key: &str, message: String| Err((key.to_string(), message));
        match region {
            Region::Face(face) => {
                let (axis, at_max) = face.axis_and_side();
                Ok(Shape::Face(axis, at_max))
            }
            Region::Box { min_mm, max_mm } => {
                if min_mm.iter().chain(max_mm).any(|v| !v.is_finite()) {
                    return err(".box", "corners must be finite numbers (mm)".into());
                }
                if (0..3).any(|a| min_mm[a] > max_mm[a]) {
                    return err(
                        ".box",
                        format!("min_mm {min_mm:?} must not exceed max_mm {max_mm:?} on any axis"),
                    );
                }
                Ok(Shape::Box(*min_mm, *max_mm))
            }
            Region::Cylinder {
                center_mm,
                axis,
                radius_mm,
                length_mm,
                inner_radius_mm,
            } => {
                finite_point(center_mm).map_err(|m| (".cylinder.center_mm".into(), m))?;
                let norm = axis.iter().map(|a| a * a).sum::<f64>().sqrt();
                if !(norm.is_finite() && norm > 0.0) {
                    return err(
                        ".cylinder.axis",
                        format!("{axis:?} must be a finite, non-zero direction"),
                    );
                }
                positive(*radius_mm).map_err(|m| (".cylinder.radius_mm".into(), m))?;
                positive(*length_mm).map_err(|m| (".cylinder.length_mm".into(), m))?;
                let inner_radius = inner_radius_mm.unwrap_or(0.0);
                if !(inner_radius.is_finite() && inner_radius >= 0.0 && inner_radius < *radius_mm) {
                    return err(
                        ".cylinder.inner_radius_mm",
                        format!("{inner_radius} must lie in [0, radius_mm = {radius_mm}) mm"),
                    );
                }
                Ok(Shape::Cylinder {
                    center: *center_mm,
                    axis: axis.map(|a| a / norm),
                    radius: *radius_mm,
                    inner_radius,
                    half_length: 0.5 * length_mm,
                })
            }
            Region::Sphere {
                center_mm,
                radius_mm,
            } => {
                finite_point(center_mm).map_err(|m| (".sphere.center_mm".into(), m))?;
                positive(*radius_mm).map_err(|m| (".sphere.radius_mm".into(), m))?;
                Ok(Shape::Sphere(*center_mm, *radius_mm))
            }
            Region::PointMm(p) => {
                finite_point(p).map_err(|m| (".point_mm".into(), m))?;
                Ok(Shape::Point(*p))
            }
            Region::Stl(path) => {
                let full = self.base_dir.join(path);
                if let Some(body) = self.bodies.get(&full) {
                    return Ok(Shape::Body(body.clone()));
                }
                let body =
                    Arc::new(StlBody::load(&full).map_err(|e| (".stl".into(), e.to_string()))?);
                self.bodies.insert(full, body.clone());
                Ok(Shape::Body(body))
            }
            Region::SurfaceOf(inner) => {
                if matches!(**inner, Region::Face(_) | Region::PointMm(_)) {
                    return err(
                        ".surface_of",
                        "needs a region with volume (box, cylinder, sphere, stl or union); a face or point is already a surface".into(),
                    );
                }
                let shape = self
                    .resolve(inner)
                    .map_err(|(k, m)| (format!(".surface_of{k}"), m))?;
                Ok(Shape::SurfaceOf(Box::new(shape)))
            }
            Region::Union(parts) => {
                if parts.is_empty() {
                    return err(".union", "list at least one region".into());
                }
                let shapes = parts
                    .iter()
                    .enumerate()
                    .map(|(i, part)| {
                        self.resolve(part)
                            .map_err(|(k, m)| (format!(".union[{i}]{k}"), m))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Shape::Union(shapes))
            }
        }
    }
}

fn finite_point(p: &[f64; 3]) -> Result<(), String> {
    if p.iter().all(|v| v.is_finite()) {
        Ok(())
    } else {
        Err(format!("{p:?} must be three finite coordinates (mm)"))
    }
}

fn positive(v: f64) -> Result<(), String> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(format!("{v} must be a positive length (mm)"))
    }
}

impl Shape {
    /// Whether `p` (mm) lies in the shape, with tolerance `tol` (mm); `None` for shapes defined
    /// on the grid rather than in space (point, surface).
    fn contains(&self, p: [f64; 3], domain: [f64; 3], tol: f64) -> Option<bool> {
        Some(match self {
            Self::Face(axis, at_max) => {
                let plane = if *at_max { domain[*axis] } else { 0.0 };
                (p[*axis] - plane).abs() <= tol
            }
            Self::Box(min, max) => (0..3).all(|a| p[a] >= min[a] - tol && p[a] <= max[a] + tol),
            Self::Cylinder {
                center,
                axis,
                radius,
                inner_radius,
                half_length,
            } => {
                let d: [f64; 3] = std::array::from_fn(|a| p[a] - center[a]);
                let along = d[0] * axis[0] + d[1] * axis[1] + d[2] * axis[2];
                let radial2 = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2] - along * along).max(0.0);
                let r = radial2.sqrt();
                along.abs() <= half_length + tol
                    && r <= radius + tol
                    && (*inner_radius == 0.0 || r >= inner_radius - tol)
            }
            Self::Sphere(c, radius) => {
                let d2: f64 = (0..3).map(|a| (p[a] - c[a]) * (p[a] - c[a])).sum();
                d2.sqrt() <= radius + tol
            }
            Self::Body(body) => body.contains(p),
            Self::Point(_) | Self::SurfaceOf(_) => return None,
            Self::Union(parts) => {
                for part in parts {
                    if part.contains(p, domain, tol)? {
                        return Some(true);
                    }
                }
                false
            }
        })
    }

    /// The shape in its exact form for the exported part, when it has one: boxes with volume,
    /// cylinders, tubes, spheres, STL bodies, and a domain face as the layer of elements along
    /// it. `None` for points, flat boxes (they hold no volume) and anything defined on the
    /// voxels (`surface_of`), alone or in a union.
    pub fn exact(&self, grid: &Grid) -> Option<KeptShape> {
        match self {
            Self::Face(axis, at_max) => {
                let size = grid.size_mm();
                let mut min_mm = [0.0; 3];
                let mut max_mm = size;
                if *at_max {
                    min_mm[*axis] = size[*axis] - grid.element_size_mm;
                } else {
                    max_mm[*axis] = grid.element_size_mm;
                }
                Some(KeptShape::Box { min_mm, max_mm })
            }
            Self::Box(min_mm, max_mm) => {
                (0..3)
                    .all(|a| max_mm[a] > min_mm[a])
                    .then_some(KeptShape::Box {
                        min_mm: *min_mm,
                        max_mm: *max_mm,
                    })
            }
            Self::Cylinder {
                center,
                axis,
                radius,
                inner_radius,
                half_length,
            } => Some(KeptShape::Cylinder {
                center_mm: *center,
                axis: *axis,
                radius_mm: *radius,
                inner_radius_mm: *inner_radius,
                half_length_mm: *half_length,
            }),
            Self::Sphere(center_mm, radius_mm) => Some(KeptShape::Sphere {
                center_mm: *center_mm,
                radius_mm: *radius_mm,
            }),
            Self::Body(body) => Some(KeptShape::Body(body.surface())),
            Self::Union(parts) => parts
                .iter()
                .map(|p| p.exact(grid))
                .collect::<Option<Vec<_>>>()
                .map(KeptShape::Union),
            Self::Point(_) | Self::SurfaceOf(_) => None,
        }
    }

    /// One flag per grid node: the nodes in the shape.
    pub fn nodes(&self, grid: &Grid) -> Vec<bool> {
        let domain = grid.size_mm();
        let tol = 1e-6 * grid.element_size_mm;
        match self {
            Self::Point(p) => {
                let mut flags = vec![false; grid.node_count()];
                // The nearest node, clamped into the grid.
                let coords: [usize; 3] = std::array::from_fn(|a| {
                    (p[a] / grid.element_size_mm)
                        .round()
                        .clamp(0.0, grid.elements[a] as f64) as usize
                });
                flags[grid.node_index(coords)] = true;
                flags
            }
            Self::SurfaceOf(inner) => {
                let inside = inner.elements(grid);
                let mut has_inside = vec![false; grid.node_count()];
                let mut has_outside = vec![false; grid.node_count()];
                for (e, &is_inside) in inside.iter().enumerate() {
                    let target = if is_inside {
                        &mut has_inside
                    } else {
                        &mut has_outside
                    };
                    for n in grid.element_nodes(grid.element_coords(e)) {
                        target[n] = true;
                    }
                }
                has_inside
                    .iter()
                    .zip(&has_outside)
                    .map(|(&a, &b)| a && b)
                    .collect()
            }
            Self::Union(parts) => any_of(parts, grid.node_count(), |p| p.nodes(grid)),
            _ => self.points_inside(grid.node_count(), |n| grid.node_position_mm(n), domain, tol),
        }
    }

    /// One flag per element: the elements whose centre is in the shape (see the module doc for
    /// faces, points and surfaces).
    pub fn elements(&self, grid: &Grid) -> Vec<bool> {
        let domain = grid.size_mm();
        let tol = 1e-6 * grid.element_size_mm;
        match self {
            Self::Face(axis, at_max) => (0..grid.element_count())
                .map(|e| {
                    let c = grid.element_coords(e)[*axis];
                    if *at_max {
                        c + 1 == grid.elements[*axis]
                    } else {
                        c == 0
                    }
                })
                .collect(),
            Self::Point(_) => vec![false; grid.element_count()],
            Self::SurfaceOf(inner) => {
                let inside = inner.elements(grid);
                let mut touched = vec![false; grid.node_count()];
                for e in (0..grid.element_count()).filter(|&e| inside[e]) {
                    for n in grid.element_nodes(grid.element_coords(e)) {
                        touched[n] = true;
                    }
                }
                (0..grid.element_count())
                    .map(|e| {
                        !inside[e]
                            && grid
                                .element_nodes(grid.element_coords(e))
                                .iter()
                                .any(|&n| touched[n])
                    })
                    .collect()
            }
            Self::Union(parts) => any_of(parts, grid.element_count(), |p| p.elements(grid)),
            _ => self.points_inside(
                grid.element_count(),
                |e| grid.element_center_mm(e),
                domain,
                tol,
            ),
        }
    }
}

impl Shape {
    /// Flags of the `count` points at `position(i)` that lie in the (spatial) shape.
    fn points_inside(
        &self,
        count: usize,
        position: impl Fn(usize) -> [f64; 3] + Sync,
        domain: [f64; 3],
        tol: f64,
    ) -> Vec<bool> {
        (0..count)
            .into_par_iter()
            .map(|i| self.contains(position(i), domain, tol).unwrap_or(false))
            .collect()
    }
}

/// Flags set where any part's flags are set.
fn any_of(parts: &[Shape], count: usize, flags_of: impl Fn(&Shape) -> Vec<bool>) -> Vec<bool> {
    let mut flags = vec![false; count];
    for part in parts {
        for (f, p) in flags.iter_mut().zip(flags_of(part)) {
            *f |= p;
        }
    }
    flags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(text: &str) -> Shape {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            region: Region,
        }
        let w: Wrapper = toml::from_str(text).expect("region parses");
        Resolver::new(Path::new("."))
            .resolve(&w.region)
            .expect("valid")
    }

    fn count(flags: &[bool]) -> usize {
        flags.iter().filter(|&&f| f).count()
    }

    #[test]
    fn cylinder_and_tube_select_by_centre() {
        let grid = Grid::new([10, 10, 4], 1.0);
        let rod = shape(
            "region = { cylinder = { center_mm = [5, 5, 2], axis = [0, 0, 2], radius_mm = 2, length_mm = 4 } }",
        );
        // Element centres (i+½, j+½) within 2 of (5, 5): 12 per layer.
        assert_eq!(count(&rod.elements(&grid)), 12 * 4);
        let tube = shape(
            "region = { cylinder = { center_mm = [5, 5, 2], axis = [0, 0, 1], radius_mm = 2, length_mm = 4, inner_radius_mm = 1 } }",
        );
        assert_eq!(count(&tube.elements(&grid)), 8 * 4);
        // Nodes (integer) within 2 of (5, 5): 13 per layer of nodes, 5 layers.
        assert_eq!(count(&rod.nodes(&grid)), 13 * 5);
    }

    #[test]
    fn sphere_point_face_and_union() {
        let grid = Grid::new([6, 6, 6], 1.0);
        let ball = shape("region = { sphere = { center_mm = [3, 3, 3], radius_mm = 1 } }");
        assert_eq!(count(&ball.nodes(&grid)), 7);
        assert_eq!(count(&ball.elements(&grid)), 8);
        let point = shape("region = { point_mm = [2.4, 2.6, 9.0] }");
        let nodes = point.nodes(&grid);
        assert_eq!(count(&nodes), 1);
        assert!(nodes[grid.node_index([2, 3, 6])]);
        assert_eq!(count(&point.elements(&grid)), 0);
        let face = shape("region = { face = \"z_max\" }");
        assert_eq!(count(&face.elements(&grid)), 36);
        assert_eq!(count(&face.nodes(&grid)), 49);
        let union =
            shape("region = { union = [ { face = \"z_max\" }, { point_mm = [0, 0, 0] } ] }");
        assert_eq!(count(&union.nodes(&grid)), 50);
    }

    #[test]
    fn surface_of_a_hole_is_the_ring_of_material_around_it() {
        let grid = Grid::new([6, 6, 2], 1.0);
        let hole =
            shape("region = { surface_of = { box = { min_mm = [2, 2, 0], max_mm = [4, 4, 2] } } }");
        // The 2×2 hole's nodes shared with outside elements: the 8 boundary nodes of the
        // 3×3 node square, on 3 node layers.
        assert_eq!(count(&hole.nodes(&grid)), 8 * 3);
        // The skin: the ring of 12 elements around the 2×2 hole, on 2 layers.
        assert_eq!(count(&hole.elements(&grid)), 12 * 2);
    }

    #[test]
    fn bad_parameters_name_the_key() {
        #[derive(serde::Deserialize)]
        struct Wrapper {
            region: Region,
        }
        let cases = [
            (
                "region = { cylinder = { center_mm = [0, 0, 0], axis = [0, 0, 0], radius_mm = 1, length_mm = 1 } }",
                ".cylinder.axis",
            ),
            (
                "region = { cylinder = { center_mm = [0, 0, 0], axis = [0, 0, 1], radius_mm = 1, length_mm = 1, inner_radius_mm = 2 } }",
                ".cylinder.inner_radius_mm",
            ),
            (
                "region = { sphere = { center_mm = [0, 0, 0], radius_mm = -1 } }",
                ".sphere.radius_mm",
            ),
            ("region = { union = [] }", ".union"),
            (
                "region = { surface_of = { face = \"x_min\" } }",
                ".surface_of",
            ),
            (
                "region = { union = [ { sphere = { center_mm = [0, 0, 0], radius_mm = 0 } } ] }",
                ".union[0].sphere.radius_mm",
            ),
            ("region = { stl = \"does/not/exist.stl\" }", ".stl"),
        ];
        for (text, key) in cases {
            let w: Wrapper = toml::from_str(text).expect(text);
            let (k, message) = Resolver::new(Path::new("."))
                .resolve(&w.region)
                .expect_err(text);
            assert_eq!(k, key, "{text}: {message}");
        }
    }
}
