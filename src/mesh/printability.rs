//! Printability of a closed part for a chosen build direction: unsupported
//! overhangs, the area resting on the build plate, and the thinnest wall.
//!
//! # Overhangs
//!
//! Layers stack along the unit build direction `d`; the plate lies below.
//! A facet with outward unit normal `n` faces down when `n·d < 0`, and its
//! slope above the build plane is then `β = arccos(−n·d)`: 0° for a ceiling,
//! 90° for a vertical wall. As in PrusaSlicer's "overhang threshold", the
//! overhang angle `θ` is measured from the build plane and is the flattest
//! slope that prints unsupported: a facet needs support when `β < θ`, i.e.
//! `−n·d > cos θ`. With the usual 45°, a 45° facet is just printable and a
//! 30° one is not. (Cura's "support overhang angle" `θ_c` is measured from
//! the vertical: `θ = 90° − θ_c`.) Downward facets whose three vertices lie
//! on the lowest plane `min v·d` rest on the plate and are never overhang.
//! Overhang facets sharing an edge form a patch; the largest patch tells one
//! large supported region from many small ones.
//!
//! # Thin walls
//!
//! The thinnest wall is measured on a voxelisation of the part, across its medial ridge
//! ([`super::thickness`]).

use rayon::prelude::*;
use serde::Serialize;

use super::thickness::{VOXEL_BUDGET, min_wall_thickness};
use super::{TriangleMesh, cross, dot, sub};

/// The usual overhang angle in degrees above the build plane: 45° is the
/// flattest slope most FDM and powder-bed machines print without support.
pub const DEFAULT_OVERHANG_ANGLE_DEG: f64 = 45.0;

/// "On the lowest plane" tolerance, relative to the part's size plus its
/// distance from the origin: well above the rounding of STL's `f32`
/// coordinates (6·10⁻⁸ relative), well below any real feature.
const PLATE_TOLERANCE: f64 = 1e-6;

/// Slack on `cos θ` so that a facet exactly at the overhang angle is
/// printable despite rounding (10⁻⁹ in the cosine is ~10⁻⁷ degrees).
const SLOPE_TOLERANCE: f64 = 1e-9;

/// Triangles per partial sum; fixed chunks make the area sums independent
/// of the thread count.
const SUM_CHUNK: usize = 4096;

/// The result of [`printability`]. Areas are in mm², lengths in mm.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PrintabilityReport {
    /// Unit build direction: layers stack along it, the plate is below.
    pub build_direction: [f64; 3],
    /// Flattest printable slope, in degrees above the build plane.
    pub overhang_angle_deg: f64,
    /// Area of all triangles.
    pub total_area_mm2: f64,
    /// Area of the downward facets flatter than the overhang angle, base
    /// plate excluded: what needs support.
    pub overhang_area_mm2: f64,
    /// `overhang_area_mm2` as a percentage of `total_area_mm2`.
    pub overhang_percent: f64,
    /// Area of the largest set of overhang facets connected through shared
    /// edges, found by vertex index, so the mesh must be welded as
    /// [`read_stl`](super::stl::read_stl) leaves it.
    pub largest_overhang_patch_mm2: f64,
    /// Area of the downward facets on the lowest plane, which the plate
    /// supports.
    pub base_plate_area_mm2: f64,
    /// Estimated thinnest wall, measured across the medial ridge of the
    /// voxelised part (see the module documentation): within about one
    /// voxel; 0 if no voxel centre lies inside the part.
    pub min_wall_thickness_mm: f64,
    /// Edge of the cubic voxels used for the thickness: the finest that
    /// keeps the bounding box, padded by one voxel per side, within 10⁷
    /// voxels, but no finer than the box diagonal / 3162 (√10⁷).
    pub thickness_voxel_mm: f64,
    /// The part cut into the printer's layers along the build direction, and the support a
    /// slicer would add ([`layer_support`](super::layers::layer_support)); filled in where a
    /// layer height is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<super::layers::LayerSupport>,
}

/// Why [`printability`] could not analyse a mesh.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PrintabilityError {
    /// The build direction is zero or not finite.
    #[error("build direction {direction:?} is not a finite non-zero vector")]
    InvalidBuildDirection {
        /// The direction as given.
        direction: [f64; 3],
    },
    /// The overhang angle is not strictly between 0° and 90°.
    #[error("overhang angle {degrees}° is not strictly between 0° and 90°")]
    InvalidOverhangAngle {
        /// The angle as given, in degrees.
        degrees: f64,
    },
    /// A triangle refers to a vertex that does not exist.
    #[error("triangle {triangle} refers to vertex {vertex} of {vertex_count}")]
    VertexOutOfRange {
        /// Index of the triangle.
        triangle: usize,
        /// The missing vertex index.
        vertex: u32,
        /// Number of vertices in the mesh.
        vertex_count: usize,
    },
    /// A vertex used by a triangle has a NaN or infinite coordinate.
    #[error("vertex {vertex} has a non-finite coordinate")]
    NonFiniteVertex {
        /// Index of the vertex.
        vertex: usize,
    },
    /// The mesh has no triangle of positive area.
    #[error("the mesh has no triangle of positive area")]
    EmptyMesh,
}

/// Reports overhangs, base plate and thinnest wall of the closed part
/// `mesh` built along `build_direction` (any finite non-zero vector; it is
/// normalised), with `overhang_angle_deg` the flattest printable slope in
/// degrees above the build plane, strictly between 0 and 90
/// ([`DEFAULT_OVERHANG_ANGLE_DEG`] is usual). See the module documentation.
///
/// The overhang analysis is linear in the triangles; the thickness grid has
/// at most 10⁷ voxels whatever the mesh. The result does not depend on the
/// number of threads.
pub fn printability(
    mesh: &TriangleMesh,
    build_direction: [f64; 3],
    overhang_angle_deg: f64,
) -> Result<PrintabilityReport, PrintabilityError> {
    printability_with_budget(mesh, build_direction, overhang_angle_deg, VOXEL_BUDGET)
}

/// [`printability`] on a thickness grid of at most `voxel_budget` voxels.
fn printability_with_budget(
    mesh: &TriangleMesh,
    build_direction: [f64; 3],
    overhang_angle_deg: f64,
    voxel_budget: usize,
) -> Result<PrintabilityReport, PrintabilityError> {
    let norm = dot(build_direction, build_direction).sqrt();
    if !norm.is_finite() || norm == 0.0 {
        return Err(PrintabilityError::InvalidBuildDirection {
            direction: build_direction,
        });
    }
    if !(overhang_angle_deg > 0.0 && overhang_angle_deg < 90.0) {
        return Err(PrintabilityError::InvalidOverhangAngle {
            degrees: overhang_angle_deg,
        });
    }
    let bounds = validated_bounds(mesh)?;
    let direction = build_direction.map(|c| c / norm);

    let facets = classify_facets(mesh, direction, overhang_angle_deg, &bounds);
    let total_area_mm2 = ordered_sum(&facets, |_| true);
    if total_area_mm2 <= 0.0 {
        return Err(PrintabilityError::EmptyMesh);
    }
    let overhang_area_mm2 = ordered_sum(&facets, |class| class == Class::Overhang);

    let (min_wall_thickness_mm, thickness_voxel_mm) =
        min_wall_thickness(mesh, bounds.min, bounds.max, voxel_budget);

    Ok(PrintabilityReport {
        build_direction: direction,
        overhang_angle_deg,
        total_area_mm2,
        overhang_area_mm2,
        overhang_percent: 100.0 * overhang_area_mm2 / total_area_mm2,
        largest_overhang_patch_mm2: largest_overhang_patch(mesh, &facets),
        base_plate_area_mm2: ordered_sum(&facets, |class| class == Class::Plate),
        min_wall_thickness_mm,
        thickness_voxel_mm,
        layers: None,
    })
}

/// Per triangle, whether it is an overhang (downward, flatter than `overhang_angle_deg` from the
/// build plane, and not on the base plate), as [`printability`] counts them.
pub fn overhang_facets(
    mesh: &TriangleMesh,
    build_direction: [f64; 3],
    overhang_angle_deg: f64,
) -> Result<Vec<bool>, PrintabilityError> {
    let norm = dot(build_direction, build_direction).sqrt();
    if !(norm.is_finite() && norm > 0.0) {
        return Err(PrintabilityError::InvalidBuildDirection {
            direction: build_direction,
        });
    }
    let bounds = validated_bounds(mesh)?;
    let direction = build_direction.map(|c| c / norm);
    Ok(
        classify_facets(mesh, direction, overhang_angle_deg, &bounds)
            .into_iter()
            .map(|(_, class)| class == Class::Overhang)
            .collect(),
    )
}

/// Axis-aligned bounds of the vertices the triangles use.
struct Bounds {
    min: [f64; 3],
    max: [f64; 3],
}

impl Bounds {
    fn extent(&self) -> [f64; 3] {
        sub(self.max, self.min)
    }

    fn diagonal(&self) -> f64 {
        dot(self.extent(), self.extent()).sqrt()
    }
}

/// Checks every index and used coordinate; returns the used vertices' bounds.
fn validated_bounds(mesh: &TriangleMesh) -> Result<Bounds, PrintabilityError> {
    if mesh.triangles.is_empty() {
        return Err(PrintabilityError::EmptyMesh);
    }
    let mut bounds = Bounds {
        min: [f64::INFINITY; 3],
        max: [f64::NEG_INFINITY; 3],
    };
    for (triangle, tri) in mesh.triangles.iter().enumerate() {
        for &vertex in tri {
            let Some(v) = mesh.vertices.get(vertex as usize) else {
                return Err(PrintabilityError::VertexOutOfRange {
                    triangle,
                    vertex,
                    vertex_count: mesh.vertices.len(),
                });
            };
            if !v.iter().all(|c| c.is_finite()) {
                let vertex = vertex as usize;
                return Err(PrintabilityError::NonFiniteVertex { vertex });
            }
            bounds.min = std::array::from_fn(|a| bounds.min[a].min(v[a]));
            bounds.max = std::array::from_fn(|a| bounds.max[a].max(v[a]));
        }
    }
    Ok(bounds)
}

/// How a facet prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Downward facet on the lowest plane, carried by the plate.
    Plate,
    /// Downward facet flatter than the overhang angle.
    Overhang,
    /// Everything else, zero-area facets included.
    Printable,
}

/// Area and class of every triangle, in triangle order.
fn classify_facets(
    mesh: &TriangleMesh,
    direction: [f64; 3],
    overhang_angle_deg: f64,
    bounds: &Bounds,
) -> Vec<(f64, Class)> {
    let v = |i: u32| mesh.vertices[i as usize];
    let height = |i: u32| dot(v(i), direction);
    let lowest = (mesh.triangles.iter().flatten())
        .map(|&i| height(i))
        .fold(f64::INFINITY, f64::min);
    let reach = (bounds.min.iter().chain(&bounds.max)).fold(0.0, |r: f64, c| r.max(c.abs()));
    let tolerance = PLATE_TOLERANCE * (bounds.diagonal() + reach);
    let on_plate = |i: u32| height(i) - lowest <= tolerance;
    let cos_limit = overhang_angle_deg.to_radians().cos() + SLOPE_TOLERANCE;
    mesh.triangles
        .par_iter()
        .map(|&[a, b, c]| {
            let normal = cross(sub(v(b), v(a)), sub(v(c), v(a)));
            let twice_area = dot(normal, normal).sqrt();
            let downward = -dot(normal, direction) / twice_area;
            let class = if twice_area == 0.0 || downward <= 0.0 {
                Class::Printable
            } else if [a, b, c].into_iter().all(on_plate) {
                Class::Plate
            } else if downward > cos_limit {
                Class::Overhang
            } else {
                Class::Printable
            };
            (0.5 * twice_area, class)
        })
        .collect()
}

/// Sum of the areas whose class passes `keep`, in a fixed order.
fn ordered_sum(facets: &[(f64, Class)], keep: impl Fn(Class) -> bool + Sync) -> f64 {
    let add = |sum: f64, &(area, class): &(f64, Class)| if keep(class) { sum + area } else { sum };
    let partial: Vec<f64> = (facets.par_chunks(SUM_CHUNK))
        .map(|chunk| chunk.iter().fold(0.0, add))
        .collect();
    partial.iter().fold(0.0, |sum, part| sum + part)
}

/// Area of the largest edge-connected set of overhang facets.
fn largest_overhang_patch(mesh: &TriangleMesh, facets: &[(f64, Class)]) -> f64 {
    let overhangs: Vec<u32> = (0..facets.len() as u32)
        .filter(|&t| facets[t as usize].1 == Class::Overhang)
        .collect();
    // Each edge keyed by its sorted vertex pair; equal neighbours in the
    // sorted list are one edge of two overhang facets, which then join.
    let mut edges: Vec<(u64, u32)> = (overhangs.par_iter())
        .flat_map_iter(|&t| {
            let [a, b, c] = mesh.triangles[t as usize];
            [(a, b), (b, c), (c, a)]
                .map(|(u, v)| ((u64::from(u.min(v)) << 32) | u64::from(u.max(v)), t))
        })
        .collect();
    edges.par_sort_unstable();
    let mut parent: Vec<u32> = (0..facets.len() as u32).collect();
    for pair in edges.windows(2) {
        if pair[0].0 == pair[1].0 {
            let (a, b) = (find(&mut parent, pair[0].1), find(&mut parent, pair[1].1));
            parent[a.max(b) as usize] = a.min(b);
        }
    }
    // Added in triangle order, so the sums are reproducible.
    let mut patch_area = vec![0.0; facets.len()];
    for &t in &overhangs {
        patch_area[find(&mut parent, t) as usize] += facets[t as usize].0;
    }
    patch_area.into_iter().fold(0.0, f64::max)
}

/// Root of `x`'s set in the union-find forest `parent`, halving the path.
fn find(parent: &mut [u32], mut x: u32) -> u32 {
    while parent[x as usize] != x {
        let grandparent = parent[parent[x as usize] as usize];
        parent[x as usize] = grandparent;
        x = grandparent;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::super::check::check_mesh;
    use super::super::test_support::{Lcg, cube};
    use super::*;

    /// Grid size for the thickness tests: fine enough for ~20 voxels across
    /// the thinnest test walls, coarse enough to run fast unoptimised.
    const TEST_BUDGET: usize = 1_000_000;

    /// A solid of square cross-sections centred on the `z` axis: ring `r`
    /// is the square of half-width `rings[r].1` at height `rings[r].0`,
    /// consecutive rings are joined by quads (vertical walls, horizontal
    /// ledges or slopes), and the first and last rings are capped. `z` must
    /// not decrease.
    fn square_stack(rings: &[(f64, f64)]) -> TriangleMesh {
        const CORNERS: [[f64; 2]; 4] = [[-1.0, -1.0], [1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]];
        let vertices = (rings.iter())
            .flat_map(|&(z, w)| CORNERS.map(|[x, y]| [w * x, w * y, z]))
            .collect();
        let last = 4 * (rings.len() as u32 - 1);
        let mut triangles = vec![
            [0, 2, 1],
            [0, 3, 2],
            [last, last + 1, last + 2],
            [last, last + 2, last + 3],
        ];
        for r in 0..rings.len() as u32 - 1 {
            for k in 0..4 {
                let [a, b] = [k, (k + 1) % 4].map(|c| 4 * r + c);
                triangles.push([a, b, b + 4]);
                triangles.push([a, b + 4, a + 4]);
            }
        }
        let mesh = TriangleMesh {
            vertices,
            triangles,
        };
        assert!(check_mesh(&mesh).is_watertight());
        assert!(mesh.signed_volume() > 0.0);
        mesh
    }

    /// `mesh` rotated by `angle` radians about unit `axis` (Rodrigues) and
    /// moved by `shift`.
    fn rotated(mesh: &TriangleMesh, axis: [f64; 3], angle: f64, shift: [f64; 3]) -> TriangleMesh {
        let (sin, cos) = angle.sin_cos();
        let mut out = mesh.clone();
        for v in &mut out.vertices {
            let k_cross_v = cross(axis, *v);
            let k_dot_v = dot(axis, *v);
            *v = std::array::from_fn(|i| {
                v[i] * cos + k_cross_v[i] * sin + axis[i] * k_dot_v * (1.0 - cos) + shift[i]
            });
        }
        out
    }

    /// [`printability`] on the test grid.
    fn report(mesh: &TriangleMesh, direction: [f64; 3], angle: f64) -> PrintabilityReport {
        printability_with_budget(mesh, direction, angle, TEST_BUDGET).expect("valid input")
    }

    /// A column 4 × 4 × 10 under a slab 10 × 10 × 2.
    fn t_shape() -> TriangleMesh {
        square_stack(&[(0.0, 2.0), (10.0, 2.0), (10.0, 5.0), (12.0, 5.0)])
    }

    /// A 10 × 10 foot, then faces sloping out at `slope_deg` above the
    /// horizontal for a height of 4, then a vertical rim of 2.
    fn flared(slope_deg: f64) -> TriangleMesh {
        let top = 5.0 + 4.0 / slope_deg.to_radians().tan();
        square_stack(&[(0.0, 5.0), (4.0, top), (6.0, top)])
    }

    /// Area of the four sloped faces of [`flared`].
    fn flare_area(slope_deg: f64) -> f64 {
        let run = 4.0 / slope_deg.to_radians().tan();
        let width = 10.0 + run;
        4.0 * width * (4.0 / slope_deg.to_radians().sin())
    }

    #[test]
    fn cube_on_the_plate_has_no_overhang_and_its_bottom_on_the_plate() {
        let r = report(&cube(10.0, [3.0, -2.0, 7.0]), [0.0, 0.0, 1.0], 45.0);
        assert_eq!(r.total_area_mm2, 600.0);
        assert_eq!(r.base_plate_area_mm2, 100.0);
        assert_eq!(r.overhang_area_mm2, 0.0);
        assert_eq!(r.overhang_percent, 0.0);
        assert_eq!(r.largest_overhang_patch_mm2, 0.0);
    }

    #[test]
    fn t_shape_overhang_is_the_slab_underside_outside_the_column() {
        let r = report(&t_shape(), [0.0, 0.0, 1.0], 45.0);
        // Every area is a sum of small integers, so exact.
        assert_eq!(r.overhang_area_mm2, 100.0 - 16.0);
        assert_eq!(r.largest_overhang_patch_mm2, 84.0);
        assert_eq!(r.base_plate_area_mm2, 16.0);
        let total = 16.0 + 4.0 * 4.0 * 10.0 + 84.0 + 4.0 * 10.0 * 2.0 + 100.0;
        assert_eq!(r.total_area_mm2, total);
        assert!((r.overhang_percent - 100.0 * 84.0 / total).abs() < 1e-12);
    }

    #[test]
    fn building_downwards_puts_the_slab_on_the_plate() {
        let r = report(&t_shape(), [0.0, 0.0, -1.0], 45.0);
        assert_eq!(r.base_plate_area_mm2, 100.0);
        assert_eq!(r.overhang_area_mm2, 0.0);
        assert_eq!(r.build_direction, [0.0, 0.0, -1.0]);

        // The flare overhangs upwards and rests on its rim downwards.
        let up = report(&flared(30.0), [0.0, 0.0, 1.0], 45.0);
        let down = report(&flared(30.0), [0.0, 0.0, -1.0], 45.0);
        assert!((up.overhang_area_mm2 - flare_area(30.0)).abs() < 1e-9);
        assert_eq!(up.base_plate_area_mm2, 100.0);
        assert_eq!(down.overhang_area_mm2, 0.0);
        assert!((down.base_plate_area_mm2 - (10.0 + 8.0 * 3f64.sqrt()).powi(2)).abs() < 1e-9);
    }

    #[test]
    fn slopes_flatter_than_the_overhang_angle_need_support() {
        let at = |slope: f64, angle: f64| report(&flared(slope), [0.0, 0.0, 1.0], angle);
        let shallow = at(30.0, 45.0);
        assert!((shallow.overhang_area_mm2 - flare_area(30.0)).abs() < 1e-9);
        // The four sloped faces share their corner edges: one patch.
        assert!((shallow.largest_overhang_patch_mm2 - flare_area(30.0)).abs() < 1e-9);
        assert_eq!(at(60.0, 45.0).overhang_area_mm2, 0.0);
        // Exactly at the angle is just printable; the angle is measured
        // from the build plane, so a lower angle is more permissive.
        assert_eq!(at(45.0, 45.0).overhang_area_mm2, 0.0);
        assert_eq!(at(30.0, 20.0).overhang_area_mm2, 0.0);
        assert!(at(45.0, 50.0).overhang_area_mm2 > 0.0);
    }

    #[test]
    fn separate_overhangs_are_separate_patches() {
        let mesh = square_stack(&[
            (0.0, 2.0),
            (10.0, 2.0),
            (10.0, 4.0),
            (12.0, 4.0),
            (12.0, 6.0),
            (14.0, 6.0),
        ]);
        let r = report(&mesh, [0.0, 0.0, 1.0], 45.0);
        assert_eq!(r.overhang_area_mm2, 48.0 + 80.0);
        assert_eq!(r.largest_overhang_patch_mm2, 80.0);
    }

    #[test]
    fn any_direction_is_normalised_and_sideways_builds_see_other_faces() {
        // Built along +x, the plate holds the slab's -x face (10 × 2), and
        // the column's -x face (4 × 10) faces straight down above it.
        let r = report(&t_shape(), [3.0, 0.0, 0.0], 45.0);
        assert_eq!(r.build_direction, [1.0, 0.0, 0.0]);
        assert_eq!(r.base_plate_area_mm2, 20.0);
        assert_eq!(r.overhang_area_mm2, 40.0);
    }

    #[test]
    fn invalid_input_is_rejected() {
        let mesh = cube(1.0, [0.0; 3]);
        for direction in [[0.0; 3], [f64::NAN, 0.0, 1.0], [f64::INFINITY, 0.0, 0.0]] {
            assert!(matches!(
                printability(&mesh, direction, 45.0),
                Err(PrintabilityError::InvalidBuildDirection { .. })
            ));
        }
        for degrees in [f64::NAN, 0.0, 90.0, -10.0, 120.0] {
            assert!(matches!(
                printability(&mesh, [0.0, 0.0, 1.0], degrees),
                Err(PrintabilityError::InvalidOverhangAngle { .. })
            ));
        }
        let z = [0.0, 0.0, 1.0];
        assert_eq!(
            printability(&TriangleMesh::default(), z, 45.0),
            Err(PrintabilityError::EmptyMesh)
        );
        let flat = TriangleMesh {
            vertices: vec![[0.0; 3], [1.0, 0.0, 0.0], [2.0, 0.0, 0.0]],
            triangles: vec![[0, 1, 2]],
        };
        assert_eq!(
            printability(&flat, z, 45.0),
            Err(PrintabilityError::EmptyMesh)
        );
        let mut broken = mesh.clone();
        broken.triangles[3][1] = 8;
        assert_eq!(
            printability(&broken, z, 45.0),
            Err(PrintabilityError::VertexOutOfRange {
                triangle: 3,
                vertex: 8,
                vertex_count: 8
            })
        );
        let mut nan = mesh;
        nan.vertices[5][2] = f64::NAN;
        assert_eq!(
            printability(&nan, z, 45.0),
            Err(PrintabilityError::NonFiniteVertex { vertex: 5 })
        );
    }

    /// Cylinder of `radius` around the `z` axis from 0 to `height`, as a
    /// `sides`-gon prism.
    fn rod(radius: f64, height: f64, sides: u32) -> TriangleMesh {
        let ring = |z: f64| {
            (0..sides).map(move |k| {
                let a = std::f64::consts::TAU * f64::from(k) / f64::from(sides);
                [radius * a.cos(), radius * a.sin(), z]
            })
        };
        let mut vertices: Vec<[f64; 3]> = ring(0.0).chain(ring(height)).collect();
        vertices.extend([[0.0, 0.0, 0.0], [0.0, 0.0, height]]);
        let (bottom, top) = (2 * sides, 2 * sides + 1);
        let mut triangles = Vec::new();
        for k in 0..sides {
            let next = (k + 1) % sides;
            triangles.push([bottom, next, k]);
            triangles.push([top, sides + k, sides + next]);
            triangles.push([k, next, sides + next]);
            triangles.push([k, sides + next, sides + k]);
        }
        let mesh = TriangleMesh {
            vertices,
            triangles,
        };
        assert!(check_mesh(&mesh).is_watertight());
        mesh
    }

    /// Error of the minimum wall thickness in voxels.
    fn thickness_error_voxels(mesh: &TriangleMesh, budget: usize, expected: f64) -> f64 {
        let r = printability_with_budget(mesh, [0.0, 0.0, 1.0], 45.0, budget).expect("valid");
        (r.min_wall_thickness_mm - expected) / r.thickness_voxel_mm
    }

    #[test]
    fn plate_and_cube_thickness_is_within_one_voxel_whatever_the_alignment() {
        let plate = square_stack(&[(0.0, 10.0), (2.0, 10.0)]);
        let cube = cube(10.0, [0.3, 0.1, -4.0]);
        // Different budgets move the voxel centres relative to the faces.
        for budget in [300_000, 420_000, 550_000, 700_000, 1_000_000] {
            let plate_error = thickness_error_voxels(&plate, budget, 2.0);
            let cube_error = thickness_error_voxels(&cube, budget, 10.0);
            assert!(plate_error.abs() <= 1.0, "{plate_error}");
            assert!(cube_error.abs() <= 1.0, "{cube_error}");
        }
    }

    #[test]
    fn the_thinnest_member_sets_the_wall_thickness() {
        // The T's column is 4 thick, its slab 2.
        let error = thickness_error_voxels(&t_shape(), TEST_BUDGET, 2.0);
        assert!(error.abs() <= 1.0, "{error}");
        let error = thickness_error_voxels(&rod(1.5, 20.0, 96), TEST_BUDGET, 3.0);
        assert!(error.abs() <= 1.0, "{error}");
    }

    #[test]
    fn oblique_walls_read_at_most_about_one_voxel_thin() {
        let mut rng = Lcg(11);
        for _ in 0..8 {
            let a = [rng.next() - 0.5, rng.next() - 0.5, rng.next() - 0.5];
            let axis = a.map(|c| c / dot(a, a).sqrt());
            let angle = 3.0 * rng.next();
            let plate = square_stack(&[(0.0, 10.0), (2.0, 10.0)]);
            let plate = rotated(&plate, axis, angle, [0.0; 3]);
            let cube = rotated(&cube(10.0, [-5.0; 3]), axis, angle, [0.0; 3]);
            let plate_error = thickness_error_voxels(&plate, TEST_BUDGET, 2.0);
            let cube_error = thickness_error_voxels(&cube, TEST_BUDGET, 10.0);
            // A rotated cube must not read thin at its edges and corners.
            assert!((-1.25..=0.5).contains(&plate_error), "{plate_error}");
            assert!((-1.25..=0.5).contains(&cube_error), "{cube_error}");
        }
    }

    #[test]
    fn result_does_not_depend_on_the_thread_count() {
        let mesh = rotated(&t_shape(), [0.6, 0.0, 0.8], 0.7, [0.1, 0.2, 0.3]);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| report(&mesh, [0.0, 1.0, 0.0], 40.0))
        };
        assert_eq!(run(1), run(3));
    }
}
