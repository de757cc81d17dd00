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
//! The part is voxelised on a grid of cubic voxels by casting a ray along
//! `z` through every column of voxel centres and summing signed crossings:
//! the non-zero winding rule, which is the even–odd rule on a valid closed
//! mesh and takes the union of overlapping shells. A ray through an edge or
//! vertex is moved symbolically off it, using edge functions that are
//! exactly antisymmetric between the two triangles of an edge (Woop, Benthin
//! & Wald, "Watertight ray/triangle intersection", JCGT 2(1), 2013), so each
//! crossing counts once.
//!
//! The exact Euclidean feature transform, the nearest outside voxel centre
//! `o(p)` of every voxel `p`, is computed with one lower-envelope-of-
//! parabolas pass per axis (Felzenszwalb & Huttenlocher, "Distance
//! transforms of sampled functions", Theory of Computing 8, 2012, Alg. 1)
//! carrying the argmin. `d(p) = |p − o(p)|` in voxels exceeds the distance
//! to the surface by the offset `δ` of `o(p)` beyond it: uniform in (0, 1]
//! with mean ½ for a wall facing an axis, about 0.3 on average for oblique
//! walls, whose lattice planes lie closer together. So `φ(p) = d(p) − δ`
//! with `δ = ½` when `p − o(p)` is along an axis and 0.3 otherwise.
//!
//! Thickness is measured across the medial ridge. The local thickness of
//! Hildebrand & Rüegsegger (J. Microscopy 185, 1997), the largest inscribed
//! ball containing each point, is not used: it tends to zero at every convex
//! edge, so its minimum says nothing about walls. Instead `p` is a ridge
//! voxel when no voxel within 3 voxels of it is deeper. The ridge of a wall,
//! rod or ball is level along it and keeps such maxima; the medial branch
//! running into a convex edge of angle `α` deepens by `sin(α/2)` voxel per
//! voxel along it, which over 3 voxels outgrows the at most `√3/2` voxel by
//! which lattice rounding disturbs `d` unless `α` is below about 35°. At a
//! ridge voxel, with inward normal `n = (p − o(p)) / d(p)`, `s` the lattice
//! step closest in direction to `n` and `q = p + s`, the thickness is
//! `t(p) = φ(p) + φ(q) + s·n`: `p`'s wall, the step, and the wall that `q`,
//! no deeper than `p`, measures to, which on a wall is the opposite one.
//! The minimum wall thickness is the least `t` over the ridge voxels.
//!
//! Accuracy: for a wall facing an axis, `t` is the number of voxel centres
//! across it, whatever its parity, so it is within one voxel of the truth.
//! Oblique plates, rods and rotated cubes read between 1.1 voxels thin and
//! 0.4 voxel thick over 180 random orientations and resolutions (the tests
//! check eight). A sheet thinner than a voxel reads as one voxel where a
//! voxel centre falls inside it and is missed where none does; an edge
//! sharper than about 35°, or a corner as pointed, reads as thin near its
//! tip, as the tips of a tetrahedron do.
//!
//! Memory is two `u32` per voxel, features stored as packed coordinates.

use rayon::prelude::*;
use serde::Serialize;

use super::{TriangleMesh, cross, dot, sub};

/// The usual overhang angle in degrees above the build plane: 45° is the
/// flattest slope most FDM and powder-bed machines print without support.
pub const DEFAULT_OVERHANG_ANGLE_DEG: f64 = 45.0;

/// Most voxels of the thickness grid: 10⁷ costs 80 MB and about half a
/// second on two cores, and resolves 1/215 of a cube-shaped part's size.
const VOXEL_BUDGET: usize = 10_000_000;

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

/// Radius in voxels of the neighbourhood in which a ridge voxel is deepest;
/// larger rejects blunter edges' medial branches but also short ridges.
const RIDGE_WINDOW: i64 = 3;

/// Feature of an inside voxel whose nearest outside voxel is not yet known.
const UNKNOWN: u32 = u32::MAX;

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

    let grid = VoxelGrid::fit(&bounds, voxel_budget);
    let field = feature_transform(&voxelize(mesh, &grid), &grid);

    Ok(PrintabilityReport {
        build_direction: direction,
        overhang_angle_deg,
        total_area_mm2,
        overhang_area_mm2,
        overhang_percent: 100.0 * overhang_area_mm2 / total_area_mm2,
        largest_overhang_patch_mm2: largest_overhang_patch(mesh, &facets),
        base_plate_area_mm2: ordered_sum(&facets, |class| class == Class::Plate),
        min_wall_thickness_mm: min_thickness_voxels(&field, &grid) * grid.h,
        thickness_voxel_mm: grid.h,
    })
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

/// A grid of cubic voxels over the part with at least one voxel of outside
/// padding on every side, so every grid line starts and ends outside.
#[derive(Debug, Clone, Copy)]
struct VoxelGrid {
    /// Corner of voxel `(0, 0, 0)`.
    origin: [f64; 3],
    /// Voxel edge in mm.
    h: f64,
    /// Voxels per axis.
    n: [usize; 3],
}

impl VoxelGrid {
    /// The finest grid over `bounds` with at most `budget` voxels, centred
    /// on the box.
    fn fit(bounds: &Bounds, budget: usize) -> Self {
        let extent = bounds.extent();
        let voxels = |h: f64| extent.map(|e| (e / h).ceil() + 2.0);
        let budget = budget as f64;
        // The box volume sets the size; the diagonal bound stops flat or
        // needle-like parts starting absurdly fine, and also caps every axis
        // at √budget voxels.
        let mut h = (extent.iter().product::<f64>() / budget)
            .cbrt()
            .max(bounds.diagonal() / budget.sqrt());
        while voxels(h).iter().product::<f64>() > budget {
            h *= 1.01;
        }
        let n = voxels(h).map(|v| v as usize);
        let origin =
            std::array::from_fn(|a| 0.5 * (bounds.min[a] + bounds.max[a] - n[a] as f64 * h));
        Self { origin, h, n }
    }

    /// Centre of voxel `c` along `axis`.
    fn centre(&self, axis: usize, c: usize) -> f64 {
        self.origin[axis] + (c as f64 + 0.5) * self.h
    }

    /// Voxel coordinates packed into a `u32`, `⌈log₂ n⌉` bits per axis: at
    /// most `log₂(budget) + 3 ≤ 27` bits, so never [`UNKNOWN`].
    fn pack(&self, c: [usize; 3]) -> u32 {
        let [bx, by, _] = self.n.map(bits);
        (c[0] | (c[1] << bx) | (c[2] << (bx + by))) as u32
    }

    /// Inverse of [`pack`](Self::pack).
    fn unpack(&self, packed: u32) -> [usize; 3] {
        let [bx, by, _] = self.n.map(bits);
        let p = packed as usize;
        [
            p & ((1 << bx) - 1),
            (p >> bx) & ((1 << by) - 1),
            p >> (bx + by),
        ]
    }

    /// `c + step` if it lies in the grid.
    fn offset(&self, c: [usize; 3], step: [i64; 3]) -> Option<[usize; 3]> {
        let mut q = [0; 3];
        for axis in 0..3 {
            q[axis] = usize::try_from(c[axis] as i64 + step[axis]).ok()?;
            if q[axis] >= self.n[axis] {
                return None;
            }
        }
        Some(q)
    }
}

/// Bits that hold `0..n`.
fn bits(n: usize) -> usize {
    (usize::BITS - (n - 1).leading_zeros()) as usize
}

/// The order in which a voxel array stores the axes, fastest first.
#[derive(Debug, Clone, Copy)]
struct Layout {
    order: [usize; 3],
    n: [usize; 3],
}

impl Layout {
    fn index(&self, c: [usize; 3]) -> usize {
        let [a, b, d] = self.order;
        c[a] + self.n[a] * (c[b] + self.n[b] * c[d])
    }

    /// Coordinates of line `line` along `order[0]`, at position 0.
    fn line_start(&self, line: usize) -> [usize; 3] {
        let mut c = [0; 3];
        c[self.order[1]] = line % self.n[self.order[1]];
        c[self.order[2]] = line / self.n[self.order[1]];
        c
    }
}

/// Voxelises `mesh` on `grid`, `z` fastest, then `x`, then `y`: an outside
/// voxel holds its own packed coordinates (it is its nearest outside
/// voxel), an inside one [`UNKNOWN`].
fn voxelize(mesh: &TriangleMesh, grid: &VoxelGrid) -> Vec<u32> {
    let [nx, ny, nz] = grid.n;
    let rows = rows_of_triangles(mesh, grid);
    let mut voxels = vec![0; nx * ny * nz];
    let by_crossing =
        |a: &(usize, f64, i32), b: &(usize, f64, i32)| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1));
    (voxels.par_chunks_mut(nx * nz).enumerate()).for_each_init(Vec::new, |crossings, (j, row)| {
        crossings.clear();
        for &t in &rows.triangles[rows.start[j]..rows.start[j + 1]] {
            let tri = mesh.triangles[t as usize].map(|i| mesh.vertices[i as usize]);
            row_crossings(grid, tri, grid.centre(1, j), crossings);
        }
        crossings.sort_unstable_by(by_crossing);
        let mut next = crossings.iter().peekable();
        for (i, column) in row.chunks_mut(nz).enumerate() {
            let mut winding = 0;
            for (k, voxel) in column.iter_mut().enumerate() {
                // A crossing exactly at a centre counts as below it.
                while let Some(c) = next.next_if(|c| c.0 == i && c.1 <= grid.centre(2, k)) {
                    winding += c.2;
                }
                *voxel = if winding == 0 {
                    grid.pack([i, j, k])
                } else {
                    UNKNOWN
                };
            }
            while next.next_if(|c| c.0 == i).is_some() {}
        }
    });
    voxels
}

/// Triangles bucketed by the rows of rays (`y` centres) their projections
/// span: row `j` holds `triangles[start[j]..start[j + 1]]`.
struct Rows {
    start: Vec<usize>,
    triangles: Vec<u32>,
}

/// Buckets the triangles by row with a counting sort.
fn rows_of_triangles(mesh: &TriangleMesh, grid: &VoxelGrid) -> Rows {
    let ny = grid.n[1];
    let span = |tri: &[u32; 3]| {
        let y = tri.map(|i| mesh.vertices[i as usize][1]);
        centres_within(grid, 1, y)
    };
    let mut start = vec![0; ny + 1];
    for tri in &mesh.triangles {
        span(tri).for_each(|j| start[j + 1] += 1);
    }
    for j in 0..ny {
        start[j + 1] += start[j];
    }
    let mut fill = start.clone();
    let mut triangles = vec![0; start[ny]];
    for (t, tri) in mesh.triangles.iter().enumerate() {
        for j in span(tri) {
            triangles[fill[j]] = t as u32;
            fill[j] += 1;
        }
    }
    Rows { start, triangles }
}

/// Voxels whose centre along `axis` lies within the range of `values`.
fn centres_within(grid: &VoxelGrid, axis: usize, values: [f64; 3]) -> std::ops::Range<usize> {
    let [lo, hi] = [f64::min, f64::max].map(|pick| pick(values[0], pick(values[1], values[2])));
    let position = |x: f64| (x - grid.origin[axis]) / grid.h - 0.5;
    let first = position(lo).ceil().max(0.0) as usize;
    let end = (position(hi).floor() + 1.0).clamp(0.0, grid.n[axis] as f64) as usize;
    first..end
}

/// Appends `(ray, z, winding change)` for each ray of the row at `y` that
/// crosses the triangle with vertices `p`.
fn row_crossings(
    grid: &VoxelGrid,
    p: [[f64; 3]; 3],
    y: f64,
    crossings: &mut Vec<(usize, f64, i32)>,
) {
    let z = p.map(|v| v[2]);
    let [z_lo, z_hi] = [f64::min, f64::max].map(|pick| pick(z[0], pick(z[1], z[2])));
    for i in centres_within(grid, 0, p.map(|v| v[0])) {
        let x = grid.centre(0, i);
        // Vertices relative to the ray: the two triangles of an edge then
        // compute its edge function from the same numbers, exactly negated.
        let r = p.map(|v| [v[0] - x, v[1] - y]);
        let edge = |a: [f64; 2], b: [f64; 2]| {
            let e = a[0] * b[1] - a[1] * b[0];
            let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
            // On the edge's line, move the ray by (ε, ε²), which changes e
            // by −(b_y − a_y)·ε + (b_x − a_x)·ε².
            let sign = if e != 0.0 {
                e.signum()
            } else if dy != 0.0 {
                -dy.signum()
            } else if dx != 0.0 {
                dx.signum()
            } else {
                0.0
            };
            (e, sign)
        };
        let (w0, s0) = edge(r[1], r[2]);
        let (w1, s1) = edge(r[2], r[0]);
        let (w2, s2) = edge(r[0], r[1]);
        let sum = w0 + w1 + w2;
        if s0 == 0.0 || s0 != s1 || s1 != s2 || sum == 0.0 {
            continue;
        }
        let z = (w0 * p[0][2] + w1 * p[1][2] + w2 * p[2][2]) / sum;
        // Counter-clockwise seen from +z: the normal points up and the ray
        // leaves the solid.
        crossings.push((i, z.clamp(z_lo, z_hi), -(s0 as i32)));
    }
}

/// Nearest outside voxel of every voxel.
struct FeatureField {
    /// Packed coordinates of the nearest outside voxel centre.
    nearest: Vec<u32>,
    /// Layout of `nearest`.
    layout: Layout,
}

impl FeatureField {
    /// Squared distance in voxels² from `c` to its nearest outside voxel.
    fn depth2(&self, grid: &VoxelGrid, c: [usize; 3]) -> i64 {
        match self.nearest[self.layout.index(c)] {
            UNKNOWN => i64::MAX,
            f => squared_distance(c, grid.unpack(f)),
        }
    }
}

/// Exact Euclidean feature transform of a voxelisation from [`voxelize`].
fn feature_transform(voxels: &[u32], grid: &VoxelGrid) -> FeatureField {
    // Each pass writes lines along its axis contiguously, ordered by the
    // previous pass's fastest axis, so that consecutive lines read
    // neighbouring memory.
    let along_z = Layout {
        order: [2, 0, 1],
        n: grid.n,
    };
    let along_x = Layout {
        order: [0, 2, 1],
        ..along_z
    };
    let along_y = Layout {
        order: [1, 0, 2],
        ..along_z
    };
    let mut a = vec![0; voxels.len()];
    let mut b = vec![0; voxels.len()];
    envelope_pass(voxels, along_z, along_z, grid, &mut a);
    envelope_pass(&a, along_z, along_x, grid, &mut b);
    envelope_pass(&b, along_x, along_y, grid, &mut a);
    FeatureField {
        nearest: a,
        layout: along_y,
    }
}

/// Scratch for one line of [`envelope_pass`], sized to the line.
struct LineScratch {
    /// Squared distance from each sample to its feature; `i64::MAX` if none.
    f: Vec<i64>,
    /// Feature of each sample.
    feature: Vec<u32>,
    /// Samples whose parabolas form the lower envelope.
    v: Vec<usize>,
    /// Boundaries between the envelope's parabolas.
    z: Vec<f64>,
}

/// One Felzenszwalb–Huttenlocher pass along `to.order[0]`: each voxel of
/// `output` (layout `to`) gets the feature of the sample `q` on its line
/// that minimises `(p − q)² + f(q)`, `f(q)` being the squared distance from
/// `q` to its feature in `input` (layout `from`).
fn envelope_pass(input: &[u32], from: Layout, to: Layout, grid: &VoxelGrid, output: &mut [u32]) {
    let axis = to.order[0];
    let len = to.n[axis];
    let scratch = || LineScratch {
        f: vec![0; len],
        feature: vec![0; len],
        v: vec![0; len],
        z: vec![0.0; len + 1],
    };
    (output.par_chunks_mut(len).enumerate().with_min_len(64)).for_each_init(
        scratch,
        |s, (line, out)| {
            let mut c = to.line_start(line);
            for q in 0..len {
                c[axis] = q;
                s.feature[q] = input[from.index(c)];
                s.f[q] = match s.feature[q] {
                    UNKNOWN => i64::MAX,
                    f => squared_distance(grid.unpack(f), c),
                };
            }
            lower_envelope(s, out);
        },
    );
}

/// Algorithm 1 of Felzenszwalb & Huttenlocher (2012), giving each sample
/// the feature of the argmin instead of the distance.
fn lower_envelope(s: &mut LineScratch, out: &mut [u32]) {
    let mut k: Option<usize> = None;
    for q in 0..out.len() {
        if s.f[q] == i64::MAX {
            continue;
        }
        let qq = q as i64;
        let mut crossing = f64::NEG_INFINITY;
        while let Some(top) = k {
            let v = s.v[top] as i64;
            // Where the parabolas rooted at q and v[top] cross.
            crossing =
                ((s.f[q] + qq * qq) - (s.f[v as usize] + v * v)) as f64 / (2 * (qq - v)) as f64;
            if crossing > s.z[top] {
                break;
            }
            k = top.checked_sub(1);
            crossing = f64::NEG_INFINITY;
        }
        let top = k.map_or(0, |top| top + 1);
        s.v[top] = q;
        s.z[top] = crossing;
        s.z[top + 1] = f64::INFINITY;
        k = Some(top);
    }
    if k.is_none() {
        out.fill(UNKNOWN);
        return;
    }
    let mut top = 0;
    for (p, o) in out.iter_mut().enumerate() {
        while s.z[top + 1] < p as f64 {
            top += 1;
        }
        *o = s.feature[s.v[top]];
    }
}

/// `|a − b|²` in voxels².
fn squared_distance(a: [usize; 3], b: [usize; 3]) -> i64 {
    (0..3)
        .map(|axis| (a[axis] as i64 - b[axis] as i64).pow(2))
        .sum()
}

/// Least wall thickness in voxels over the ridge voxels, 0 if no voxel is
/// inside (see the module documentation).
fn min_thickness_voxels(field: &FeatureField, grid: &VoxelGrid) -> f64 {
    let axis = field.layout.order[0];
    let len = field.layout.n[axis];
    // The minimum is exact, so any reduction order gives the same result.
    let least = (field.nearest.par_chunks(len).enumerate())
        .map(|(line, features)| {
            let mut c = field.layout.line_start(line);
            let mut least = f64::INFINITY;
            for (position, &feature) in features.iter().enumerate() {
                c[axis] = position;
                let thickness = ridge_thickness(field, grid, c, grid.unpack(feature));
                least = least.min(thickness.unwrap_or(f64::INFINITY));
            }
            least
        })
        .reduce(|| f64::INFINITY, f64::min);
    if least.is_finite() { least } else { 0.0 }
}

/// Wall thickness in voxels across the ridge at voxel `p` with nearest
/// outside voxel `o`, or `None` unless `p` is an inside ridge voxel.
fn ridge_thickness(
    field: &FeatureField,
    grid: &VoxelGrid,
    p: [usize; 3],
    o: [usize; 3],
) -> Option<f64> {
    let d2 = squared_distance(p, o);
    if d2 == 0 {
        return None;
    }
    let d = (d2 as f64).sqrt();
    let normal: [f64; 3] = std::array::from_fn(|a| (p[a] as f64 - o[a] as f64) / d);
    let largest = normal.iter().fold(0.0, |m: f64, c| m.max(c.abs()));
    let step = normal.map(|c| (c / largest).round() as i64);
    let q = grid.offset(p, step)?;
    let dq2 = field.depth2(grid, q);
    // The window test implies dq2 ≤ d2; checking that first is far cheaper.
    if dq2 > d2 || !is_window_maximum(field, grid, p, d2) {
        return None;
    }
    let offset = if largest == 1.0 { 0.5 } else { 0.3 };
    let along: f64 = (0..3).map(|a| step[a] as f64 * normal[a]).sum();
    Some((d - offset) + ((dq2 as f64).sqrt() - offset) + along)
}

/// Whether no voxel within [`RIDGE_WINDOW`] of `p` is deeper than `d2`.
fn is_window_maximum(field: &FeatureField, grid: &VoxelGrid, p: [usize; 3], d2: i64) -> bool {
    let r = RIDGE_WINDOW;
    let window =
        (-r..=r).flat_map(|x| (-r..=r).flat_map(move |y| (-r..=r).map(move |z| [x, y, z])));
    window
        .filter(|s| s.iter().map(|c| c * c).sum::<i64>() <= r * r)
        .filter_map(|s| grid.offset(p, s))
        .all(|q| field.depth2(grid, q) <= d2)
}

#[cfg(test)]
mod tests {
    use super::super::check::check_mesh;
    use super::super::test_support::{Lcg, cube, merged, tetrahedron, torus};
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

    /// Every voxel of `grid` with its index in the layout of axis `order`.
    fn voxels_of(grid: &VoxelGrid, order: [usize; 3]) -> Vec<([usize; 3], usize)> {
        let layout = Layout { order, n: grid.n };
        let [nx, ny, nz] = grid.n;
        (0..nz)
            .flat_map(|k| (0..ny).flat_map(move |j| (0..nx).map(move |i| [i, j, k])))
            .map(|c| (c, layout.index(c)))
            .collect()
    }

    #[test]
    fn voxelisation_counts_rays_through_vertices_and_edges_once() {
        // Rays at integer x, y run exactly along the cube's edges and face
        // diagonals; the perturbation puts them just inside the faces at 1
        // and just outside those at 3, and a centre on a face counts as
        // above the crossing, so the inside is [1, 3)³.
        let grid = VoxelGrid {
            origin: [-0.5; 3],
            h: 1.0,
            n: [5; 3],
        };
        let voxels = voxelize(&cube(2.0, [1.0; 3]), &grid);
        for (c, index) in voxels_of(&grid, [2, 0, 1]) {
            let inside = c.iter().all(|c| (1..3).contains(c));
            let expected = if inside { UNKNOWN } else { grid.pack(c) };
            assert_eq!(voxels[index], expected, "{c:?}");
        }
    }

    #[test]
    fn voxelised_volume_matches_the_mesh() {
        let ring = torus(96, 48);
        let ring_volume = ring.signed_volume();
        let inverted = {
            let mut t = tetrahedron();
            t.triangles.iter_mut().for_each(|t| t.swap(1, 2));
            t
        };
        // Two overlapping cubes: the non-zero rule takes their union.
        let union = merged(&cube(2.0, [0.0; 3]), &cube(2.0, [1.0; 3]));
        for (mesh, volume) in [(ring, ring_volume), (inverted, 4.5), (union, 15.0)] {
            let bounds = validated_bounds(&mesh).expect("valid");
            let grid = VoxelGrid::fit(&bounds, 1_000_000);
            let inside = voxelize(&mesh, &grid)
                .iter()
                .filter(|&&v| v == UNKNOWN)
                .count();
            let error = (inside as f64 * grid.h.powi(3) - volume).abs();
            // Sampling each ray at voxel centres misplaces each crossing by at
            // most h/2, and the crossings' columns cover at most the area.
            let area: f64 = (mesh.triangles.iter())
                .map(|t| t.map(|i| mesh.vertices[i as usize]))
                .map(|[a, b, c]| cross(sub(b, a), sub(c, a)))
                .map(|normal| 0.5 * dot(normal, normal).sqrt())
                .sum();
            assert!(
                error < 0.5 * area * grid.h,
                "{error} vs {}",
                0.5 * area * grid.h
            );
        }
    }

    #[test]
    fn feature_transform_matches_brute_force() {
        let mut rng = Lcg(3);
        let grid = VoxelGrid {
            origin: [0.0; 3],
            h: 1.0,
            n: [9, 6, 7],
        };
        let mut voxels = vec![UNKNOWN; 9 * 6 * 7];
        let mut outside = Vec::new();
        for (c, index) in voxels_of(&grid, [2, 0, 1]) {
            let border = (0..3).any(|a| c[a] == 0 || c[a] == grid.n[a] - 1);
            if border || rng.next() < 0.3 {
                voxels[index] = grid.pack(c);
                outside.push(c);
            }
        }
        let field = feature_transform(&voxels, &grid);
        for (p, _) in voxels_of(&grid, [0, 1, 2]) {
            let brute = outside.iter().map(|&o| squared_distance(p, o)).min();
            assert_eq!(Some(field.depth2(&grid, p)), brute, "{p:?}");
            let feature = grid.unpack(field.nearest[field.layout.index(p)]);
            assert!(outside.contains(&feature));
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
