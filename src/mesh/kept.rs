//! Kept regions in their exact form: parts to size.
//!
//! The optimizer sees keep-solid and keep-empty regions as voxels (the elements whose centre
//! lies inside), and the density's isosurface alone would export them as rounded staircases
//! whose size depends on the grid: a Ø5 mm bolt hole at 2 mm elements came out between Ø4.0 and
//! Ø4.96. A hole, bore or mounting face must come out as written in the design file, so the
//! exported part is
//!
//! ```text
//! part = (organic ∪ S₁ ∪ … ∪ Sₘ) ∖ (E₁ ∪ … ∪ Eₙ)
//! ```
//!
//! with each keep-solid shape `Sᵢ` (clipped to the design domain) and keep-empty shape `Eⱼ` in
//! its exact form, tessellated so that no point of a facet lies farther than the chordal
//! tolerance from the true surface. Two steps make it:
//!
//! 1. **The organic shape runs into the kept regions** ([`extended_density`]). Before the surface
//!    is extracted, each element held by an exact region takes the largest density of its face
//!    neighbours, layer by layer, two layers deep: a discrete extension of the field across the
//!    region's boundary, as level-set methods extend a speed across an interface (Adalsteinsson
//!    & Sethian, "The fast construction of extension velocities in level set methods", J. Comput.
//!    Phys. 148, 1999). A strut that meets a kept shape runs two elements into it, so it
//!    overlaps the exact shape and joins it without a gap or a step; where no material meets the
//!    shape, the voxel staircase is gone and only the exact surface is left. The walls around a
//!    keep-empty hole run into the hole the same way, and the exact cut leaves the hole at its
//!    size, with whatever smoothing pushed into it cut off too.
//! 2. **Booleans** of the finished organic surface (smoothed, simplified, overhang-corrected)
//!    with the exact shapes ([`join_kept`]), by Manifold (E. Lalish, github.com/elalish/manifold,
//!    as ported to Rust by `manifold-rust`), whose results are manifold by construction:
//!    intersections are computed once per edge–face pair and coincident faces are decided by
//!    symbolic perturbation, so a kept face flush with a domain face joins it cleanly.
//!
//! A kept region is exact when every part of it is a box with volume, a cylinder or tube, a
//! sphere, an STL body or a domain face (the layer of elements along it, as the grid sees it).
//! A `surface_of` region is defined on the voxels themselves, so a region that contains one
//! stays as voxels, as before.

use manifold_rust::linalg::{Mat3x4, Vec3};
use manifold_rust::manifold::Manifold;
use manifold_rust::types::{Error as ManifoldError, MeshGL64, OpType};

use parry3d_f64::math::Vector;
use parry3d_f64::query::PointQuery;
use parry3d_f64::shape::{TriMesh, TriMeshFlags};
use rayon::prelude::*;

use super::check::check_mesh_knowing;
use super::intersect::self_intersecting_pairs;
use super::{TriangleMesh, cross, dot, horizontal_frame, sub, winding_number};
use crate::grid::Grid;

/// A kept shape in its exact form, in millimetres.
#[derive(Debug, Clone, PartialEq)]
pub enum KeptShape {
    /// An axis-aligned box with volume.
    Box {
        /// Lower corner.
        min_mm: [f64; 3],
        /// Upper corner.
        max_mm: [f64; 3],
    },
    /// A cylinder, or a tube when `inner_radius_mm > 0`.
    Cylinder {
        /// Midpoint of the axis segment.
        center_mm: [f64; 3],
        /// Unit axis direction.
        axis: [f64; 3],
        /// Outer radius.
        radius_mm: f64,
        /// Inner radius (0 for a solid cylinder).
        inner_radius_mm: f64,
        /// Half the length along the axis.
        half_length_mm: f64,
    },
    /// A ball.
    Sphere {
        /// Centre.
        center_mm: [f64; 3],
        /// Radius.
        radius_mm: f64,
    },
    /// A closed, outward-oriented triangle mesh, used as it is.
    Body(TriangleMesh),
    /// Everything in any of the parts.
    Union(Vec<KeptShape>),
}

/// The exact kept regions of a design and the elements they hold.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KeptGeometry {
    /// Keep-solid shapes, in design-file order.
    pub solid: Vec<KeptShape>,
    /// Keep-empty shapes, in design-file order.
    pub empty: Vec<KeptShape>,
    /// Per element: held by one of these shapes (solid or empty), so its density was fixed, not
    /// designed. Empty when there is no shape.
    pub held_elements: Vec<bool>,
    /// Per element: held solid by one of the keep-solid shapes (and by no keep-empty region).
    pub solid_elements: Vec<bool>,
}

impl KeptGeometry {
    /// Whether there is no exact shape: the part is the organic surface alone.
    pub fn is_empty(&self) -> bool {
        self.solid.is_empty() && self.empty.is_empty()
    }
}

/// What joining the exact kept shapes did, for `result.json`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeptReport {
    /// Exact keep-solid shapes joined (design-file regions).
    pub solid_regions: usize,
    /// Exact keep-empty shapes cut.
    pub empty_regions: usize,
    /// Largest distance of a facet from the exact surface, mm.
    pub chordal_tolerance_mm: f64,
    /// How close the organic surface was let come to a kept shape's surface or a domain face
    /// without meeting it, mm (vertices nearer were moved onto the face or this far into the
    /// shape).
    pub separation_mm: f64,
    /// Joins made: more than one when a join left slivers or a surface through itself and was
    /// made again with a larger separation.
    pub attempts: usize,
    /// Triangles of the organic surface before the join.
    pub organic_triangles: usize,
    /// Volume the join changed, mm³ (positive: added).
    pub volume_change_mm3: f64,
    /// Seconds the booleans took.
    pub seconds: f64,
}

/// Layers of elements into a kept region that the organic density is extended over.
const EXTENSION_LAYERS: usize = 2;

/// The density to extract the organic surface from: `density`, with each element of
/// `kept.held_elements` given the largest density among its face neighbours, over
/// [`EXTENSION_LAYERS`] layers from the region's boundary (step 1 of the module doc). Held
/// elements deeper than that are void.
pub fn extended_density(density: &[f64], grid: &Grid, kept: &KeptGeometry) -> Vec<f64> {
    let held = &kept.held_elements;
    if held.len() != density.len() || !held.contains(&true) {
        return density.to_vec();
    }
    let mut known: Vec<bool> = held.iter().map(|h| !h).collect();
    let mut field: Vec<f64> = density
        .iter()
        .zip(held)
        .map(|(&rho, &h)| if h { 0.0 } else { rho })
        .collect();
    let [nx, ny, nz] = grid.elements;
    for _ in 0..EXTENSION_LAYERS {
        // Each layer reads only what the layers before it set: the result does not depend on
        // the order of the elements.
        let layer: Vec<(usize, f64)> = (0..field.len())
            .filter(|&e| !known[e])
            .filter_map(|e| {
                let [i, j, k] = grid.element_coords(e);
                let mut best: Option<f64> = None;
                let mut visit = |c: [usize; 3]| {
                    let n = grid.element_index(c);
                    if known[n] {
                        best = Some(best.map_or(field[n], |b: f64| b.max(field[n])));
                    }
                };
                if i > 0 {
                    visit([i - 1, j, k]);
                }
                if i + 1 < nx {
                    visit([i + 1, j, k]);
                }
                if j > 0 {
                    visit([i, j - 1, k]);
                }
                if j + 1 < ny {
                    visit([i, j + 1, k]);
                }
                if k > 0 {
                    visit([i, j, k - 1]);
                }
                if k + 1 < nz {
                    visit([i, j, k + 1]);
                }
                best.map(|b| (e, b))
            })
            .collect();
        for (e, value) in layer {
            field[e] = value;
            known[e] = true;
        }
    }
    field
}

/// Samples per element edge for [`part_fractions`]: 64 per element, so a share is exact to 1/64.
const FRACTION_SAMPLES: usize = 4;

/// Per element, the share of its volume that the exported part fills, for re-analysing the part
/// with its exact kept features rather than their voxels.
///
/// An element that no kept shape's surface passes through is full or empty as the density says
/// (`density ≥ threshold`, kept regions imposed). In one that a surface crosses, the share is
/// counted at 4 × 4 × 4 points in the element: a point is material when it lies in no keep-empty
/// shape and either in a keep-solid shape or in organic material, the element being organic
/// when the density extended into the kept regions ([`extended_density`], the field the organic
/// surface is drawn from) reaches `threshold`. This is the part's equation of the module doc,
/// evaluated element by element.
pub fn part_fractions(
    density: &[f64],
    threshold: f64,
    grid: &Grid,
    kept: &KeptGeometry,
) -> Vec<f64> {
    let voxel = |rho: f64| f64::from(u8::from(rho >= threshold));
    if kept.is_empty() {
        return density.iter().map(|&rho| voxel(rho)).collect();
    }
    let organic = extended_density(density, grid, kept);
    let solid: Vec<Locator> = kept.solid.iter().map(Locator::new).collect();
    let empty: Vec<Locator> = kept.empty.iter().map(Locator::new).collect();
    let h = grid.element_size_mm;
    // Distances are exact, so an element whose centre is farther than half its diagonal from
    // every shape's surface is crossed by none.
    let reach = 0.5 * 3f64.sqrt() * h;
    (0..density.len())
        .into_par_iter()
        .map(|e| {
            let centre = grid.element_center_mm(e);
            let crossed = (solid.iter().chain(&empty)).any(|shape| shape.within(centre, reach));
            if !crossed {
                return voxel(density[e]);
            }
            let is_organic = organic[e] >= threshold;
            let step = h / FRACTION_SAMPLES as f64;
            let offset = |i: usize| (i as f64 + 0.5) * step - 0.5 * h;
            let mut inside = 0usize;
            for i in 0..FRACTION_SAMPLES {
                for j in 0..FRACTION_SAMPLES {
                    for k in 0..FRACTION_SAMPLES {
                        let q = [
                            centre[0] + offset(i),
                            centre[1] + offset(j),
                            centre[2] + offset(k),
                        ];
                        let material = !empty.iter().any(|s| s.contains(q))
                            && (is_organic || solid.iter().any(|s| s.contains(q)));
                        inside += usize::from(material);
                    }
                }
            }
            inside as f64 / FRACTION_SAMPLES.pow(3) as f64
        })
        .collect()
}

/// Answers inside and near for a kept shape: analytic shapes by their signed distance, STL
/// bodies through parry's oriented triangle mesh (a bounding-volume hierarchy and the
/// angle-weighted pseudo-normal test, as for STL regions in design files), so that a query
/// costs a tree descent rather than a pass over every triangle.
enum Locator<'a> {
    Analytic(&'a KeptShape),
    Body(Box<TriMesh>),
    Union(Vec<Locator<'a>>),
}

impl<'a> Locator<'a> {
    fn new(shape: &'a KeptShape) -> Self {
        match shape {
            KeptShape::Body(mesh) => match oriented_trimesh(mesh) {
                Some(trimesh) => Locator::Body(Box::new(trimesh)),
                // A body parry cannot index is answered triangle by triangle.
                None => Locator::Analytic(shape),
            },
            KeptShape::Union(parts) => Locator::Union(parts.iter().map(Locator::new).collect()),
            _ => Locator::Analytic(shape),
        }
    }

    fn contains(&self, p: [f64; 3]) -> bool {
        match self {
            Locator::Analytic(shape) => shape.contains(p),
            Locator::Body(trimesh) => trimesh.contains_local_point(Vector::new(p[0], p[1], p[2])),
            Locator::Union(parts) => parts.iter().any(|part| part.contains(p)),
        }
    }

    /// Whether the shape's surface may pass within `reach` of `p`.
    fn within(&self, p: [f64; 3], reach: f64) -> bool {
        match self {
            Locator::Analytic(KeptShape::Body(_)) => true,
            Locator::Analytic(shape) => shape.signed_distance(p).is_none_or(|d| d.abs() <= reach),
            Locator::Body(trimesh) => {
                let point = Vector::new(p[0], p[1], p[2]);
                // Negative inside an oriented mesh.
                trimesh.distance_to_local_point(point, false).abs() <= reach
            }
            Locator::Union(parts) => parts.iter().any(|part| part.within(p, reach)),
        }
    }
}

/// parry's triangle mesh of a closed, outward `mesh` with the pseudo-normals that its inside
/// test needs; `None` when parry refuses it.
fn oriented_trimesh(mesh: &TriangleMesh) -> Option<TriMesh> {
    let vertices = mesh
        .vertices
        .iter()
        .map(|&[x, y, z]| Vector::new(x, y, z))
        .collect();
    let mut trimesh = TriMesh::new(vertices, mesh.triangles.clone()).ok()?;
    trimesh.set_flags(TriMeshFlags::ORIENTED).ok()?;
    Some(trimesh)
}

impl KeptShape {
    /// Whether `p` (mm) is inside the shape; for an STL body by its winding number.
    pub fn contains(&self, p: [f64; 3]) -> bool {
        match self {
            KeptShape::Body(mesh) => winding_number(mesh, p) >= 0.5,
            KeptShape::Union(parts) => parts.iter().any(|part| part.contains(p)),
            _ => self.signed_distance(p).is_some_and(|d| d < 0.0),
        }
    }
}

/// How close, in elements, the organic surface may come to a kept shape's surface or a domain
/// face without meeting it: a fiftieth of an element, 0.04 mm at 2 mm elements.
const SEPARATION_PER_ELEMENT: f64 = 0.02;

/// Within how many times `gap_mm` of a kept shape a vertex counts as near it in [`separate`]
/// (one element at the first separation), and from how many times `gap_mm` such a vertex is
/// laid onto a domain face.
const NEAR_KEPT_GAPS: f64 = 50.0;
const NEAR_KEPT_FACE_GAPS: f64 = 4.0;

/// Moves the vertices of `organic` that lie within `gap_mm` of a kept shape's surface to
/// `gap_mm` inside the shape, and those within `gap_mm` of a domain face onto it. Where the
/// organic surface runs along a kept face (a kept box whose face lies on element faces, where
/// the density's isosurface lies too) or grazes a domain face, the booleans would cut it along
/// nearly coincident planes into slivers far thinner than the single precision of STL can keep
/// apart; separated, every intersection is a clean crossing at an angle of a few degrees at
/// least.
///
/// Near a kept shape ([`NEAR_KEPT_GAPS`]), vertices are laid onto a domain face from
/// [`NEAR_KEPT_FACE_GAPS`] times `gap_mm` (0.16 mm at 2 mm elements on the first separation).
/// Where the organic surface grazes a domain face just beyond `gap_mm` and runs into a kept
/// shape flush with that face, the join leaves a strip of the kept shape's face between the
/// crossing line and the face's edge, a few thousandths of a mm wide and tens of mm long,
/// triangulated as needles, on which gmsh 4.8.4's tet mesher aborts ("Could not recover boundary
/// mesh": `l_bracket_stress` at 27.86 g). Laid onto the face, the organic surface meets the kept
/// shape along its edge and leaves no strip. Laying vertices onto the faces from 0.1 mm
/// everywhere broke `bridge` for gmsh, so the wider reach is kept to the shapes' neighbourhood.
///
/// A vertex moves at most `NEAR_KEPT_FACE_GAPS · gap_mm` onto a domain face and `2 · gap_mm` off
/// a kept shape, and none leaves a domain face it lies on.
fn separate(organic: &mut TriangleMesh, kept: &KeptGeometry, size_mm: [f64; 3], gap_mm: f64) {
    let shapes: Vec<&KeptShape> = kept.solid.iter().chain(&kept.empty).collect();
    for p in &mut organic.vertices {
        let near_kept = shapes.iter().any(|shape| {
            shape
                .signed_distance(*p)
                .is_some_and(|d| d < NEAR_KEPT_GAPS * gap_mm)
        });
        let face_gap = if near_kept {
            NEAR_KEPT_FACE_GAPS * gap_mm
        } else {
            gap_mm
        };
        for a in 0..3 {
            if p[a] > 0.0 && p[a] < face_gap {
                p[a] = 0.0;
            } else if p[a] < size_mm[a] && p[a] > size_mm[a] - face_gap {
                p[a] = size_mm[a];
            }
        }
        let on_face: [bool; 3] = std::array::from_fn(|a| p[a] == 0.0 || p[a] == size_mm[a]);
        for shape in &shapes {
            let Some(distance) = shape.signed_distance(*p) else {
                continue;
            };
            if distance.abs() >= gap_mm {
                continue;
            }
            // The outward normal, by central differences of the distance.
            let step = 1e-3 * gap_mm;
            let mut normal = [0.0; 3];
            for (a, n) in normal.iter_mut().enumerate() {
                if on_face[a] {
                    continue;
                }
                let (mut ahead, mut behind) = (*p, *p);
                ahead[a] += step;
                behind[a] -= step;
                if let (Some(f), Some(b)) =
                    (shape.signed_distance(ahead), shape.signed_distance(behind))
                {
                    *n = (f - b) / (2.0 * step);
                }
            }
            let length = dot(normal, normal).sqrt();
            // A shape's distance has a unit gradient wherever it is smooth; on a crease (the
            // middle of a thin wall, the axis of a cylinder) the differences cancel, and where
            // they leave less than a tenth of one the way out is unknown: the vertex stays.
            if length.is_nan() || length <= 0.1 {
                continue;
            }
            for a in 0..3 {
                p[a] -= (distance + gap_mm) * normal[a] / length;
            }
        }
    }
}

impl KeptShape {
    /// Signed distance from `p` to the shape's surface, negative inside (mm); `None` for an STL
    /// body, whose distance is not computed here.
    fn signed_distance(&self, p: [f64; 3]) -> Option<f64> {
        // Distance for a shape whose inside is `q.x ≤ 0 and q.y ≤ 0` (and so on): exact for
        // boxes and capped cylinders, by the usual construction.
        fn from_extents(q: &[f64]) -> f64 {
            let outside = q.iter().map(|x| x.max(0.0).powi(2)).sum::<f64>().sqrt();
            let inside = q.iter().copied().fold(f64::NEG_INFINITY, f64::max).min(0.0);
            outside + inside
        }
        match self {
            KeptShape::Box { min_mm, max_mm } => {
                let q: [f64; 3] = std::array::from_fn(|a| {
                    let centre = 0.5 * (min_mm[a] + max_mm[a]);
                    (p[a] - centre).abs() - 0.5 * (max_mm[a] - min_mm[a])
                });
                Some(from_extents(&q))
            }
            KeptShape::Cylinder {
                center_mm,
                axis,
                radius_mm,
                inner_radius_mm,
                half_length_mm,
            } => {
                let d = sub(p, *center_mm);
                let along = dot(d, *axis);
                let radial = d.iter().zip(axis).map(|(x, n)| (x - along * n).powi(2));
                let r = radial.sum::<f64>().sqrt();
                let ring = if *inner_radius_mm > 0.0 {
                    (r - 0.5 * (radius_mm + inner_radius_mm)).abs()
                        - 0.5 * (radius_mm - inner_radius_mm)
                } else {
                    r - radius_mm
                };
                Some(from_extents(&[ring, along.abs() - half_length_mm]))
            }
            KeptShape::Sphere {
                center_mm,
                radius_mm,
            } => {
                let d = sub(p, *center_mm);
                Some(dot(d, d).sqrt() - radius_mm)
            }
            KeptShape::Body(_) => None,
            KeptShape::Union(parts) => parts
                .iter()
                .filter_map(|part| part.signed_distance(p))
                .reduce(f64::min),
        }
    }
}

/// Why the exact shapes could not be joined to the part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("the exact kept shapes could not be joined to the part: {0}")]
pub struct JoinError(String);

/// The part `organic` joined with `kept`'s keep-solid shapes (clipped to the domain
/// `[0, size_mm]`) and cut by its keep-empty shapes, each tessellated to
/// `chordal_tolerance_mm` (step 2 of the module doc).
///
/// Where the result would not be a true solid (a sliver, or a surface through itself), it is
/// made again with the organic surface kept further from the shapes ([`SEPARATIONS`]); the last
/// attempt is returned as it is, for the part's checks to refuse.
pub fn join_kept(
    organic: &TriangleMesh,
    kept: &KeptGeometry,
    size_mm: [f64; 3],
    element_size_mm: f64,
    chordal_tolerance_mm: f64,
) -> Result<Joined, JoinError> {
    let tessellation = Tessellation {
        tolerance_mm: chordal_tolerance_mm,
        domain_mm: size_mm,
        reach_mm: 2.0 * element_size_mm,
    };
    // Each separation with the needles collapsed first and, where that leaves a defect, without;
    // the last attempt is kept whatever it leaves.
    let mut last: Option<Joined> = None;
    for (s, share) in SEPARATIONS.iter().enumerate() {
        let separation_mm = share * element_size_mm;
        let mut separated = organic.clone();
        separate(&mut separated, kept, size_mm, separation_mm);
        for (c, collapse) in [true, false].into_iter().enumerate() {
            let mesh = join_once(&separated, kept, size_mm, &tessellation, collapse)?;
            let intersecting = self_intersecting_pairs(&mesh);
            let solid = check_mesh_knowing(&mesh, intersecting.clone()).is_solid();
            let joined = Joined {
                mesh,
                intersecting,
                separation_mm,
                attempts: 2 * s + c + 1,
            };
            if solid {
                return Ok(joined);
            }
            last = Some(joined);
        }
    }
    last.ok_or_else(|| JoinError("no join was attempted".into()))
}

/// The part [`join_kept`] made.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// The surface.
    pub mesh: TriangleMesh,
    /// Its intersecting triangle pairs (none unless every attempt left some).
    pub intersecting: Vec<[u32; 2]>,
    /// How close the organic surface was let come to the shapes, mm.
    pub separation_mm: f64,
    /// Joins made.
    pub attempts: usize,
}

/// The separations tried in turn, in elements: [`SEPARATION_PER_ELEMENT`] first.
const SEPARATIONS: [f64; 4] = [SEPARATION_PER_ELEMENT, 0.05, 0.1, 0.2];

/// One join of [`join_kept`], with the organic surface already separated from the shapes.
fn join_once(
    organic: &TriangleMesh,
    kept: &KeptGeometry,
    size_mm: [f64; 3],
    tessellation: &Tessellation,
    collapse: bool,
) -> Result<TriangleMesh, JoinError> {
    let sliver_mm = SLIVER_SHARE * tessellation.tolerance_mm;
    let needle_mm = sliver_mm.max(NEEDLE_PER_ELEMENT * 0.5 * tessellation.reach_mm);
    let mut part = if organic.triangles.is_empty() {
        Manifold::empty()
    } else {
        checked(manifold_of(organic), "the organic surface")?
    };
    if !kept.solid.is_empty() {
        let domain = Manifold::cube(Vec3::new(size_mm[0], size_mm[1], size_mm[2]), false);
        let mut pieces = vec![part];
        for shape in &kept.solid {
            let exact = checked(tessellation.solid(shape), "a keep-solid shape")?;
            pieces.push(exact.intersection(&domain));
        }
        part = checked(
            Manifold::batch_boolean(&pieces, OpType::Add),
            "the union with the keep-solid shapes",
        )?;
    }
    if !kept.empty.is_empty() {
        let mut pieces = vec![part];
        for shape in &kept.empty {
            pieces.push(checked(tessellation.cutter(shape), "a keep-empty shape")?);
        }
        part = checked(
            Manifold::batch_boolean(&pieces, OpType::Subtract),
            "the cut by the keep-empty shapes",
        )?;
    }
    // Where a shape's facet meets the organic surface at a grazing angle, the booleans leave
    // slivers of nearly no area: their normals are rounding noise, and rounding to the single
    // precision of STL can turn them over. The part is rounded to single precision as STL
    // stores it and read back with a tenth of the chordal tolerance as the precision of its
    // geometry: Manifold then collapses the edges shorter than that and swaps the edges of
    // triangles thinner than that, moving the surface by no more.
    let mut single = part.get_mesh_gl(-1);
    single.tolerance = sliver_mm as f32;
    let part = checked(
        Manifold::from_mesh_gl(&single),
        "the joined part, cleaned of slivers",
    )?;
    let single = part.get_mesh_gl(-1);
    let mut mesh = TriangleMesh {
        vertices: (0..single.num_vert())
            .map(|v| single.get_vert_pos(v).map(f64::from))
            .collect(),
        triangles: (0..single.num_tri())
            .map(|t| single.get_tri_verts(t))
            .collect(),
    };
    if collapse {
        collapse_needles(&mut mesh, needle_mm);
    }
    flip_caps(&mut mesh, sliver_mm);
    Ok(mesh)
}

/// Removes needles: edges shorter than `min_edge_mm`, which the booleans leave where an
/// organic edge crosses a shape's edge close to one of its corners. Each is collapsed onto one
/// of its ends (moving the surface by less than its length) when that keeps the surface a
/// closed manifold (the link condition: the ends share no neighbour but the two corners across
/// the edge; Dey et al., "Topology preserving edge contraction", 1999) and turns no triangle
/// over.
fn collapse_needles(mesh: &mut TriangleMesh, min_edge_mm: f64) {
    use std::collections::BTreeSet;
    for _ in 0..CAP_PASSES {
        let n = mesh.vertices.len();
        let mut fans: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (t, tri) in mesh.triangles.iter().enumerate() {
            for &v in tri {
                fans[v as usize].push(t);
            }
        }
        let mut removed = vec![false; mesh.triangles.len()];
        let mut locked = vec![false; n];
        let mut collapsed = false;
        for t in 0..mesh.triangles.len() {
            let tri = mesh.triangles[t];
            for k in 0..3 {
                let (u, v) = (tri[k] as usize, tri[(k + 1) % 3] as usize);
                if removed[t] || locked[u] || locked[v] {
                    continue;
                }
                let d = sub(mesh.vertices[u], mesh.vertices[v]);
                if dot(d, d) >= min_edge_mm * min_edge_mm {
                    continue;
                }
                let ring = |w: usize| -> BTreeSet<u32> {
                    fans[w]
                        .iter()
                        .flat_map(|&f| mesh.triangles[f])
                        .filter(|&x| x as usize != w)
                        .collect()
                };
                let across: BTreeSet<u32> = fans[u]
                    .iter()
                    .filter(|&&f| mesh.triangles[f].contains(&(v as u32)))
                    .flat_map(|&f| mesh.triangles[f])
                    .filter(|&x| x as usize != u && x as usize != v)
                    .collect();
                let (ring_u, ring_v) = (ring(u), ring(v));
                let common: BTreeSet<u32> = ring_u.intersection(&ring_v).copied().collect();
                if across.len() != 2 || common != across {
                    continue;
                }
                // v moves onto u: no triangle of v's that stays may turn over.
                let position = |w: u32| mesh.vertices[w as usize];
                let turns_over = fans[v].iter().any(|&f| {
                    let old = mesh.triangles[f];
                    if old.contains(&(u as u32)) {
                        return false;
                    }
                    let new = old.map(|w| if w as usize == v { u as u32 } else { w });
                    let normal = |tri: [u32; 3]| {
                        let [a, b, c] = tri.map(position);
                        cross(sub(b, a), sub(c, a))
                    };
                    dot(normal(old), normal(new)) <= 0.0
                });
                if turns_over {
                    continue;
                }
                for &f in &fans[v] {
                    if mesh.triangles[f].contains(&(u as u32)) {
                        removed[f] = true;
                    } else {
                        for w in &mut mesh.triangles[f] {
                            if *w as usize == v {
                                *w = u as u32;
                            }
                        }
                    }
                }
                for w in ring_u.iter().chain(&ring_v) {
                    locked[*w as usize] = true;
                }
                locked[u] = true;
                locked[v] = true;
                collapsed = true;
            }
        }
        if !collapsed {
            return;
        }
        let mut t = 0;
        mesh.triangles.retain(|_| {
            t += 1;
            !removed[t - 1]
        });
        // Vertices no triangle uses any more are dropped and the rest renumbered.
        let mut map = vec![u32::MAX; n];
        let mut vertices = Vec::new();
        for tri in &mut mesh.triangles {
            for w in tri.iter_mut() {
                if map[*w as usize] == u32::MAX {
                    map[*w as usize] = vertices.len() as u32;
                    vertices.push(mesh.vertices[*w as usize]);
                }
                *w = map[*w as usize];
            }
        }
        mesh.vertices = vertices;
    }
}

/// Passes of [`flip_caps`] at most.
const CAP_PASSES: usize = 8;

/// Removes caps: triangles whose corner lies within `min_height_mm` of their longest edge,
/// which Manifold's triangulation of a flat face with many points along one line leaves (three
/// nearly collinear points; once rounded, such a sliver can cross its neighbours). The longest
/// edge is flipped with the neighbour across it, which splits that neighbour at the corner
/// instead (Lawson's edge flip). A flip that would turn a triangle over or repeat an edge is
/// not made.
fn flip_caps(mesh: &mut TriangleMesh, min_height_mm: f64) {
    use std::collections::HashMap;
    for _ in 0..CAP_PASSES {
        let mut owner: HashMap<(u32, u32), usize> = HashMap::new();
        for (t, tri) in mesh.triangles.iter().enumerate() {
            for k in 0..3 {
                owner.insert((tri[k], tri[(k + 1) % 3]), t);
            }
        }
        let position = |v: u32| mesh.vertices[v as usize];
        let normal = |tri: [u32; 3]| {
            let [a, b, c] = tri.map(position);
            cross(sub(b, a), sub(c, a))
        };
        let mut touched = vec![false; mesh.triangles.len()];
        let mut flips = Vec::new();
        let mut created = std::collections::HashSet::new();
        for (t, &tri) in mesh.triangles.iter().enumerate() {
            // The longest edge b → c, opposite corner a.
            let k = (0..3)
                .max_by(|&i, &j| {
                    let length = |i: usize| {
                        let d = sub(position(tri[(i + 2) % 3]), position(tri[(i + 1) % 3]));
                        dot(d, d)
                    };
                    length(i).total_cmp(&length(j))
                })
                .unwrap_or(0);
            let [a, b, c] = [tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]];
            let n = normal(tri);
            let base = sub(position(c), position(b));
            let height = dot(n, n).sqrt() / dot(base, base).sqrt();
            if height.is_nan() || height >= min_height_mm || touched[t] {
                continue;
            }
            let Some(&other) = owner.get(&(c, b)) else {
                continue;
            };
            let x = mesh.triangles[other]
                .into_iter()
                .find(|&v| v != b && v != c)
                .unwrap_or(a);
            let exists = |e: (u32, u32)| owner.contains_key(&e) || created.contains(&e);
            if touched[other] || x == a || exists((a, x)) || exists((x, a)) {
                continue;
            }
            let (first, second) = ([a, b, x], [a, x, c]);
            let reference = normal(mesh.triangles[other]);
            if dot(normal(first), reference) <= 0.0 || dot(normal(second), reference) <= 0.0 {
                continue;
            }
            touched[t] = true;
            touched[other] = true;
            created.insert((a, x));
            flips.push((t, first, other, second));
        }
        if flips.is_empty() {
            return;
        }
        for (t, first, other, second) in flips {
            mesh.triangles[t] = first;
            mesh.triangles[other] = second;
        }
    }
}

/// Share of the chordal tolerance within which the joined surface is cleaned of slivers.
const SLIVER_SHARE: f64 = 0.1;

/// Edges shorter than this share of an element are collapsed after the join (0.004 mm at 2 mm
/// elements): a tet mesher makes flat tetrahedra on them, which CalculiX refuses ("nonpositive
/// jacobian"). Ten times more left gmsh unable to recover the boundary of some parts.
const NEEDLE_PER_ELEMENT: f64 = 0.002;

/// `manifold` when its status is fine, else an error naming `what`.
fn checked(manifold: Manifold, what: &str) -> Result<Manifold, JoinError> {
    match manifold.status() {
        ManifoldError::NoError => Ok(manifold),
        status => Err(JoinError(format!(
            "{what} is not a valid solid ({status:?})"
        ))),
    }
}

/// How the exact shapes are turned into triangles.
struct Tessellation {
    /// Largest distance of a facet from the exact surface, mm.
    tolerance_mm: f64,
    /// The design domain's size, mm.
    domain_mm: [f64; 3],
    /// How far a keep-empty shape is carried on past a domain face it ends on, mm.
    reach_mm: f64,
}

/// At most this many segments around a circle, whatever the tolerance asks.
const MAX_SEGMENTS: f64 = 4096.0;

impl Tessellation {
    /// Segments around a circle of `radius_mm` so that a chord strays at most the tolerance
    /// from the arc: the sagitta of a chord spanning the angle `2π/n` is `r (1 − cos(π/n))`.
    /// A multiple of 4, so that the polygon is as symmetric as the axes.
    fn segments(&self, radius_mm: f64) -> i32 {
        let ratio = (1.0 - self.tolerance_mm / radius_mm).clamp(-1.0, 1.0);
        let n = (std::f64::consts::PI / ratio.acos()).ceil();
        let n = if n.is_finite() {
            n.clamp(8.0, MAX_SEGMENTS)
        } else {
            MAX_SEGMENTS
        };
        (4.0 * (n / 4.0).ceil()) as i32
    }

    /// A keep-solid shape as a solid.
    fn solid(&self, shape: &KeptShape) -> Manifold {
        match shape {
            KeptShape::Box { min_mm, max_mm } => cuboid(*min_mm, *max_mm),
            KeptShape::Cylinder {
                center_mm,
                axis,
                radius_mm,
                inner_radius_mm,
                half_length_mm,
            } => {
                let outer = self.cylinder(*center_mm, *axis, *radius_mm, [*half_length_mm; 2]);
                if *inner_radius_mm > 0.0 {
                    // The bore runs past both ends, so that no face of it lies in a cap.
                    let longer = [2.0 * half_length_mm; 2];
                    outer.difference(&self.cylinder(*center_mm, *axis, *inner_radius_mm, longer))
                } else {
                    outer
                }
            }
            KeptShape::Sphere {
                center_mm,
                radius_mm,
            } => {
                Manifold::sphere(*radius_mm, self.segments(*radius_mm)).translate(vec3(*center_mm))
            }
            KeptShape::Body(mesh) => manifold_of(mesh),
            KeptShape::Union(parts) => {
                let solids: Vec<Manifold> = parts.iter().map(|p| self.solid(p)).collect();
                Manifold::batch_boolean(&solids, OpType::Add)
            }
        }
    }

    /// A keep-empty shape as a cutter. Where it ends on a face of the domain (or beyond), it is
    /// carried on past the face, so that the cut leaves no skin of zero thickness where the
    /// part's face and the shape's end lie in one plane. Outside the domain there is no part,
    /// so this changes nothing else.
    fn cutter(&self, shape: &KeptShape) -> Manifold {
        let on_face = |x: f64, a: usize| {
            let slack = 1e-9 * self.domain_mm[a].max(1.0);
            x <= slack || x >= self.domain_mm[a] - slack
        };
        match shape {
            KeptShape::Box { min_mm, max_mm } => {
                let low = std::array::from_fn(|a| {
                    min_mm[a]
                        - if on_face(min_mm[a], a) {
                            self.reach_mm
                        } else {
                            0.0
                        }
                });
                let high = std::array::from_fn(|a| {
                    max_mm[a]
                        + if on_face(max_mm[a], a) {
                            self.reach_mm
                        } else {
                            0.0
                        }
                });
                cuboid(low, high)
            }
            KeptShape::Cylinder {
                center_mm,
                axis,
                radius_mm,
                inner_radius_mm,
                half_length_mm,
            } => {
                // An end whose centre lies on or outside a domain face reaches further.
                let end = |sign: f64| -> f64 {
                    let c: [f64; 3] =
                        std::array::from_fn(|a| center_mm[a] + sign * half_length_mm * axis[a]);
                    let outside = (0..3).any(|a| on_face(c[a], a));
                    half_length_mm + if outside { self.reach_mm } else { 0.0 }
                };
                let reach = [end(-1.0), end(1.0)];
                let outer = self.cylinder(*center_mm, *axis, *radius_mm, reach);
                if *inner_radius_mm > 0.0 {
                    let longer = reach.map(|r| 2.0 * r);
                    outer.difference(&self.cylinder(*center_mm, *axis, *inner_radius_mm, longer))
                } else {
                    outer
                }
            }
            KeptShape::Union(parts) => {
                let cutters: Vec<Manifold> = parts.iter().map(|p| self.cutter(p)).collect();
                Manifold::batch_boolean(&cutters, OpType::Add)
            }
            KeptShape::Sphere { .. } | KeptShape::Body(_) => self.solid(shape),
        }
    }

    /// A solid cylinder about `axis` through `center_mm`, reaching `reach[0]` mm back along the
    /// axis and `reach[1]` mm forward.
    fn cylinder(
        &self,
        center_mm: [f64; 3],
        axis: [f64; 3],
        radius_mm: f64,
        reach: [f64; 2],
    ) -> Manifold {
        let (e1, e2) = horizontal_frame(axis);
        // Manifold's cylinder stands on the origin along +z; turn its z onto the axis, keeping
        // the frame right-handed so that its facets stay outward.
        let e2 = if dot(cross(e1, e2), axis) > 0.0 {
            e2
        } else {
            e2.map(|x| -x)
        };
        let start: [f64; 3] = std::array::from_fn(|a| center_mm[a] - reach[0] * axis[a]);
        let frame = Mat3x4::from_cols(vec3(e1), vec3(e2), vec3(axis), vec3(start));
        Manifold::cylinder(
            reach[0] + reach[1],
            radius_mm,
            radius_mm,
            self.segments(radius_mm),
        )
        .transform(&frame)
    }
}

fn vec3([x, y, z]: [f64; 3]) -> Vec3 {
    Vec3::new(x, y, z)
}

fn cuboid(min_mm: [f64; 3], max_mm: [f64; 3]) -> Manifold {
    let size: [f64; 3] = std::array::from_fn(|a| max_mm[a] - min_mm[a]);
    Manifold::cube(vec3(size), false).translate(vec3(min_mm))
}

/// A closed, manifold mesh as a Manifold solid (its status says when it is not one).
fn manifold_of(mesh: &TriangleMesh) -> Manifold {
    let gl = MeshGL64 {
        num_prop: 3,
        vert_properties: mesh.vertices.iter().flatten().copied().collect(),
        tri_verts: mesh
            .triangles
            .iter()
            .flatten()
            .map(|&v| u64::from(v))
            .collect(),
        ..MeshGL64::default()
    };
    Manifold::from_mesh_gl64(&gl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::check_mesh;
    use crate::mesh::test_support::cube;

    /// A cylinder of radius `r` along z through the middle of a 20 mm cube of 2 mm elements, its
    /// elements (those whose centre it holds) held, and the density `inside` there and
    /// `outside` elsewhere.
    fn cylinder_design(
        r: f64,
        inside: f64,
        outside: f64,
    ) -> (Grid, KeptShape, Vec<bool>, Vec<f64>) {
        let grid = Grid::new([10, 10, 10], 2.0);
        let shape = KeptShape::Cylinder {
            center_mm: [10.0, 10.0, 10.0],
            axis: [0.0, 0.0, 1.0],
            radius_mm: r,
            inner_radius_mm: 0.0,
            half_length_mm: 10.0,
        };
        let held: Vec<bool> = (0..grid.element_count())
            .map(|e| shape.contains(grid.element_center_mm(e)))
            .collect();
        let density = held
            .iter()
            .map(|&h| if h { inside } else { outside })
            .collect();
        (grid, shape, held, density)
    }

    #[test]
    fn part_fractions_count_kept_cylinders_at_their_size() {
        let r = 5.3;
        let cylinder = std::f64::consts::PI * r * r * 20.0;
        let volume = |f: &[f64]| f.iter().sum::<f64>() * 8.0;
        // A kept-solid cylinder standing in void.
        let (grid, shape, held, density) = cylinder_design(r, 1.0, 0.0);
        let kept = KeptGeometry {
            solid: vec![shape.clone()],
            empty: vec![],
            solid_elements: held.clone(),
            held_elements: held.clone(),
        };
        let fractions = part_fractions(&density, 0.5, &grid, &kept);
        let voxels = held.iter().filter(|&&h| h).count() as f64 * 8.0;
        // 1740 mm³ against 1765 (−1.4 %: 16 points per element across the axis, each standing
        // for a quarter square millimetre); the voxels make it 1920 (+8.8 %).
        assert!((volume(&fractions) / cylinder - 1.0).abs() < 0.02);
        assert!(
            (voxels / cylinder - 1.0).abs() > 0.05,
            "{voxels} {cylinder}"
        );
        assert!(fractions.iter().all(|f| (0.0..=1.0).contains(f)));
        // A kept-empty hole of the same size through solid material.
        let (grid, shape, held, density) = cylinder_design(r, 0.0, 1.0);
        let kept = KeptGeometry {
            solid: vec![],
            empty: vec![shape],
            solid_elements: vec![false; held.len()],
            held_elements: held,
        };
        let fractions = part_fractions(&density, 0.5, &grid, &kept);
        assert!((volume(&fractions) / (8000.0 - cylinder) - 1.0).abs() < 0.005);

        // No kept shape: the elements at or above the threshold, as before.
        let none = part_fractions(&density, 0.5, &grid, &KeptGeometry::default());
        assert_eq!(none, density);
    }

    #[test]
    fn a_body_contains_what_its_winding_number_says() {
        // The cube [1, 4] × [2, 5] × [3, 6].
        let body = KeptShape::Body(cube(3.0, [1.0, 2.0, 3.0]));
        assert!(body.contains([2.0, 3.0, 4.0]));
        assert!(!body.contains([0.5, 3.0, 4.0]));
        assert!(!body.contains([2.0, 3.0, 6.5]));
        // parry's locator agrees with the winding number, inside and out, and knows how near.
        let locator = Locator::new(&body);
        assert!(matches!(locator, Locator::Body(_)));
        for p in [
            [2.0, 3.0, 4.0],
            [0.5, 3.0, 4.0],
            [2.0, 3.0, 6.5],
            [3.9, 4.9, 5.9],
        ] {
            assert_eq!(locator.contains(p), body.contains(p), "{p:?}");
        }
        assert!(locator.within([0.5, 3.0, 4.0], 0.6));
        assert!(!locator.within([0.5, 3.0, 4.0], 0.4));
        assert!(!locator.within([2.5, 3.5, 4.5], 1.4));
    }

    #[test]
    fn segments_keep_every_chord_within_the_tolerance() {
        for tolerance_mm in [1e-4, 0.01, 0.1, 1.0] {
            let tessellation = Tessellation {
                tolerance_mm,
                domain_mm: [10.0; 3],
                reach_mm: 1.0,
            };
            for radius in [0.3, 2.5, 11.0, 100.0] {
                let n = tessellation.segments(radius);
                assert_eq!(n % 4, 0);
                let sagitta = radius * (1.0 - (std::f64::consts::PI / f64::from(n)).cos());
                assert!(
                    sagitta <= tolerance_mm || n == MAX_SEGMENTS as i32,
                    "r {radius}, tol {tolerance_mm}: {n} segments, sagitta {sagitta}"
                );
                // Not many more than needed: half as many would miss.
                let coarser = radius * (1.0 - (std::f64::consts::PI / f64::from(n / 2)).cos());
                assert!(coarser > tolerance_mm || n <= 8, "r {radius}: {n}");
            }
        }
    }

    #[test]
    fn the_density_runs_two_layers_into_held_elements() {
        // A row of 8 elements: material at the first two, the last five held.
        let grid = Grid::new([8, 1, 1], 1.0);
        let density = [1.0, 0.7, 0.2, 0.0, 0.0, 0.0, 0.0, 0.0];
        let mut held = vec![false; 8];
        held[3..].fill(true);
        let kept = KeptGeometry {
            held_elements: held,
            ..KeptGeometry::default()
        };
        let extended = extended_density(&density, &grid, &kept);
        assert_eq!(extended, [1.0, 0.7, 0.2, 0.2, 0.2, 0.0, 0.0, 0.0]);
        // Nothing held: the density as it is.
        assert_eq!(
            extended_density(&density, &grid, &KeptGeometry::default()),
            density
        );
    }

    /// A cylinder (inner radius 0) or tube along z, radii `[inner, outer]` mm.
    fn along_z(center_mm: [f64; 3], [inner, outer]: [f64; 2], half_length_mm: f64) -> KeptShape {
        KeptShape::Cylinder {
            center_mm,
            axis: [0.0, 0.0, 1.0],
            radius_mm: outer,
            inner_radius_mm: inner,
            half_length_mm,
        }
    }

    /// The unit-free figures of a cube of side 10 with a hole of radius 2 along z through it.
    fn drilled_cube(tolerance_mm: f64) -> TriangleMesh {
        let kept = KeptGeometry {
            empty: vec![along_z([5.0, 5.0, 5.0], [0.0, 2.0], 5.0)],
            ..KeptGeometry::default()
        };
        join_kept(&cube(10.0, [0.0; 3]), &kept, [10.0; 3], 1.0, tolerance_mm)
            .expect("joined")
            .mesh
    }

    #[test]
    fn a_hole_flush_with_the_domain_faces_is_cut_through_to_size() {
        let drilled = drilled_cube(0.01);
        let report = check_mesh(&drilled);
        assert!(report.is_solid(), "{report:?}");
        // A torus: genus 1.
        assert_eq!(report.euler_characteristic, 0, "{report:?}");
        let exact = 1000.0 - std::f64::consts::PI * 4.0 * 10.0;
        let error = (report.signed_volume_mm3 - exact) / exact;
        // The inscribed polygon leaves about 4/3 · tol / r of the hole's area uncut: 0.84 mm³
        // of the 874 mm³ here, 0.1 %.
        assert!(error > 0.0 && error < 0.0015, "{error}");
        for p in &drilled.vertices {
            let r = (p[0] - 5.0).hypot(p[1] - 5.0);
            // Rounded to single precision, as STL stores it.
            assert!(r >= 2.0 - 1e-6, "{p:?} inside the hole");
            if r < 3.0 {
                assert!((r - 2.0).abs() < 1e-6, "{p:?} off the circle");
            }
        }
    }

    /// Triangle 0 1 2 with corner 0 at `height` mm above its long edge 1–2, and triangle
    /// 2 1 3 across that edge.
    fn two_triangles(height: f64) -> TriangleMesh {
        TriangleMesh {
            vertices: vec![
                [1.0, height, 0.0],
                [0.0, 0.0, 0.0],
                [2.0, 0.0, 0.0],
                [1.0, -1.0, 0.0],
            ],
            triangles: vec![[0, 1, 2], [2, 1, 3]],
        }
    }

    #[test]
    fn a_cap_is_flipped_into_its_neighbour() {
        // The flip splits the neighbour at corner 0 instead.
        let mut mesh = two_triangles(1e-7);
        flip_caps(&mut mesh, 1e-4);
        assert_eq!(mesh.triangles, vec![[0, 1, 3], [0, 3, 2]]);
        // A triangle of real height is left alone.
        let mut fine = two_triangles(0.5);
        flip_caps(&mut fine, 1e-4);
        assert_eq!(fine.triangles, vec![[0, 1, 2], [2, 1, 3]]);
    }

    #[test]
    fn kept_solids_are_joined_and_clipped_to_the_domain() {
        // A boss of radius 3 on the cube's top face, reaching above the domain: clipped.
        let kept = KeptGeometry {
            solid: vec![along_z([5.0, 5.0, 10.0], [1.0, 3.0], 4.0)],
            ..KeptGeometry::default()
        };
        let organic = cube(8.0, [0.0; 3]);
        let joined = join_kept(&organic, &kept, [10.0, 10.0, 12.0], 1.0, 0.01)
            .expect("joined")
            .mesh;
        let report = check_mesh(&joined);
        assert!(report.is_solid(), "{report:?}");
        assert_eq!(report.shells.len(), 1);
        let top = joined
            .vertices
            .iter()
            .map(|p| p[2])
            .fold(f64::MIN, f64::max);
        assert_eq!(top, 12.0);
        // The cube fills the tube's bore where they overlap; above it, from z = 8 to the
        // domain's top at 12, the ring of radii 1 and 3 is added.
        let expected = 512.0 + std::f64::consts::PI * (9.0 - 1.0) * 4.0;
        let error = (report.signed_volume_mm3 - expected).abs() / expected;
        assert!(error < 0.01, "{} vs {expected}", report.signed_volume_mm3);
    }
}
