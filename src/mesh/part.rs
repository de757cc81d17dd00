//! From a density field to a printable part: threshold, surface, islands, smoothing, checks.
//!
//! 1. **Threshold.** By default the iso-density is chosen so that the part's volume equals the
//!    optimized material volume `Σ ρₑ h³`: a first guess from the density quantile (the value
//!    above which as many elements lie as there is material), then secant steps on the real
//!    surface volume. A fixed value can be given instead.
//! 2. **Surface** by marching tetrahedra ([`super::isosurface`]), closed by construction.
//! 3. **Islands.** Shells of material that come nowhere near a support or load (within two
//!    element sizes) carry nothing and are dropped, and so are specks smaller than half an
//!    element anywhere; their number and volume are reported. Inner shells
//!    (cavities, negative volume) are kept with the material around them.
//!    Vertices are then kept inside the design domain.
//! 4. **Smoothing** ([`super::smooth`]), Taubin, volume-preserving, flat on domain faces; where
//!    it pushed the surface through itself, its moves are taken back ([`super::unfold`]).
//! 5. **Simplification** to `max_triangles` when asked ([`super::simplify`]); where the result
//!    passes through itself, it runs again with the surface around those places left as it was.
//! 6. **Overhang correction** when the part is made for a printer ([`super::steepen`]): the
//!    downward faces that smoothing left a little flatter than the overhang angle are steepened
//!    by moving vertices at most half an element along the build direction, and the bevel where
//!    the part meets the plate goes onto it. Moves that fold the surface are taken back.
//! 7. **Exact kept shapes** ([`super::kept`]), when the design has any: the keep-solid shapes
//!    joined and the keep-empty shapes cut out, as written in the design file. The surface of
//!    step 2 is then extracted from the density extended into the kept regions.
//! 8. **Checks** ([`super::check`]): the caller refuses to write a mesh that is not watertight
//!    or that passes through itself.

use std::collections::HashSet;

use super::TriangleMesh;
use super::check::{MeshReport, check_mesh_knowing, shells};
use super::intersect::self_intersecting_pairs;
use super::isosurface::extract_isosurface;
use super::kept::{JoinError, KeptGeometry, KeptReport, extended_density, join_kept};
use super::simplify::simplify_except;
use super::smooth::taubin_smooth;
use super::steepen::{SteepenReport, steepen_overhangs};
use super::unfold::{Unfolding, take_back_folds};
use crate::grid::Grid;

/// Settings of the part export.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartParams {
    /// Iso-density of the surface; `None` matches the optimized volume.
    pub threshold: Option<f64>,
    /// Taubin iterations (0: none).
    pub smoothing_iterations: usize,
    /// Simplify to at most this many triangles (`None`: keep all).
    pub max_triangles: Option<usize>,
    /// The printer's overhang limit the surface is corrected to (`None`: no correction).
    pub overhang: Option<OverhangLimit>,
    /// Largest distance of a facet of an exact kept shape from its true surface, mm.
    pub chordal_tolerance_mm: f64,
}

/// How the part will be printed, for the overhang correction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OverhangLimit {
    /// Unit vector along which layers stack; the plate is at the part's lowest plane.
    pub build_direction: [f64; 3],
    /// Flattest slope printed without support, degrees above the build plane.
    pub overhang_angle_deg: f64,
}

impl Default for PartParams {
    fn default() -> Self {
        Self {
            threshold: None,
            smoothing_iterations: 10,
            max_triangles: None,
            overhang: None,
            chordal_tolerance_mm: DEFAULT_CHORDAL_TOLERANCE_MM,
        }
    }
}

/// The exported part and what was done to get it.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// The surface, in millimetres.
    pub mesh: TriangleMesh,
    /// The iso-density used.
    pub threshold: f64,
    /// Material volume of the density field, `Σ ρₑ h³`, mm³.
    pub density_volume_mm3: f64,
    /// Shells dropped as unconnected islands.
    pub dropped_islands: usize,
    /// Their volume, mm³.
    pub dropped_volume_mm3: f64,
    /// Triangles before simplification (equal to the final count when none was asked for).
    pub triangles_before_simplification: usize,
    /// What the overhang correction did, when there was one.
    pub overhang_correction: Option<SteepenReport>,
    /// What was done to keep the surface from passing through itself.
    pub folds: FoldRepair,
    /// The exact kept shapes joined to the part ([`super::kept`]), when the design has any; an
    /// error leaves the part without them.
    pub kept_shapes: Option<Result<KeptReport, JoinError>>,
    /// Inspection of the final mesh.
    pub report: MeshReport,
}

impl Part {
    /// `(mesh volume − density volume) / density volume`.
    pub fn volume_difference(&self) -> f64 {
        (self.report.signed_volume_mm3 - self.density_volume_mm3) / self.density_volume_mm3
    }
}

/// Default of `output.chordal_tolerance_mm`: far below a printer's resolution (a 0.4 mm nozzle),
/// and a fifth of the 0.05 mm a fit such as a bearing seat allows.
pub const DEFAULT_CHORDAL_TOLERANCE_MM: f64 = 0.01;

/// Relative volume error below which the threshold search stops.
const VOLUME_TOLERANCE: f64 = 0.002;
/// The threshold stays inside this range: outside it the surface follows noise.
const THRESHOLD_RANGE: (f64, f64) = (0.05, 0.95);

/// Builds the part from physical densities on `grid`; `anchors` are the positions (mm) of
/// supported and loaded nodes.
pub fn make_part(
    density: &[f64],
    grid: &Grid,
    anchors: &[[f64; 3]],
    params: &PartParams,
    kept: &KeptGeometry,
) -> Part {
    let h = grid.element_size_mm;
    let density_volume_mm3 = crate::reduce::sum(density) * grid.element_volume_mm3();
    let size = grid.size_mm();
    let (threshold, mut mesh) = raw_surface(density, grid, params);
    let mut anchors = anchors.to_vec();
    if !kept.is_empty() {
        // The organic shape runs into the exact kept shapes, which replace their voxels; a
        // piece of it that meets a keep-solid shape is held by it.
        let extended = extended_density(density, grid, kept);
        mesh = extract_isosurface(&extended, grid.elements, h, threshold);
        clamp_to_domain(&mut mesh, size);
        anchors.extend(
            (kept.solid_elements.iter().enumerate())
                .filter(|(_, solid)| **solid)
                .map(|(e, _)| grid.element_center_mm(e)),
        );
    }
    let (mut mesh, dropped_islands, dropped_volume_mm3) =
        drop_islands(mesh, &anchors, 2.0 * h, 0.5 * grid.element_volume_mm3());
    // Vertices exactly on a domain face (clamped above) stay on it; the rest are smoothed and
    // kept inside the domain. Moves that pushed the surface through itself are taken back.
    let mut folds = FoldRepair::default();
    let unsmoothed = mesh.vertices.clone();
    taubin_smooth(&mut mesh, params.smoothing_iterations, size, 1e-9 * h);
    clamp_to_domain(&mut mesh, size);
    let (unfolding, mut intersecting) = take_back_folds(&mut mesh, &unsmoothed);
    folds.add(unfolding);
    let triangles_before_simplification = mesh.triangles.len();
    if let Some(budget) = params.max_triangles {
        let retries;
        (retries, intersecting) = simplify_without_folds(&mut mesh, budget, size, h);
        folds.simplification_retries = retries;
    }
    // Last, so that nothing after it can flatten a face again. Half an element is below the
    // resolution the design was made at.
    let overhang_correction = params.overhang.map(|limit| {
        let unsteepened = mesh.vertices.clone();
        let report = steepen_overhangs(
            &mut mesh,
            limit.build_direction,
            limit.overhang_angle_deg,
            0.5 * h,
            1e-9 * h,
        );
        let unfolding;
        (unfolding, intersecting) = take_back_folds(&mut mesh, &unsteepened);
        folds.add(unfolding);
        report
    });
    let kept_shapes = (!kept.is_empty()).then(|| {
        let clock = std::time::Instant::now();
        let organic_volume = mesh.signed_volume();
        let organic_triangles = mesh.triangles.len();
        let joined = join_kept(&mesh, kept, size, h, params.chordal_tolerance_mm);
        match joined {
            Ok(joined) => {
                mesh = joined.mesh;
                intersecting = joined.intersecting;
                Ok(KeptReport {
                    separation_mm: joined.separation_mm,
                    attempts: joined.attempts,
                    solid_regions: kept.solid.len(),
                    empty_regions: kept.empty.len(),
                    chordal_tolerance_mm: params.chordal_tolerance_mm,
                    organic_triangles,
                    volume_change_mm3: mesh.signed_volume() - organic_volume,
                    seconds: clock.elapsed().as_secs_f64(),
                })
            }
            Err(error) => Err(error),
        }
    });
    // Every stage that moved a vertex ended with the search for self-intersections.
    let report = check_mesh_knowing(&mesh, intersecting);
    Part {
        mesh,
        threshold,
        density_volume_mm3,
        dropped_islands,
        dropped_volume_mm3,
        triangles_before_simplification,
        overhang_correction,
        folds,
        kept_shapes,
        report,
    }
}

/// How the surface was kept from passing through itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct FoldRepair {
    /// Intersecting triangle pairs that smoothing and the overhang correction made, all taken
    /// back ([`super::unfold`]).
    pub pairs_found: usize,
    /// Vertices whose move was shortened or taken back for that.
    pub vertices_held_back: usize,
    /// Times simplification was run again with more of the surface left as it was, because the
    /// simplified surface passed through itself.
    pub simplification_retries: usize,
}

impl FoldRepair {
    fn add(&mut self, unfolding: Unfolding) {
        self.pairs_found += unfolding.pairs_found;
        self.vertices_held_back += unfolding.vertices_held_back;
    }
}

/// Simplification attempts before the last one is kept, folds or not.
const SIMPLIFICATION_ATTEMPTS: usize = 4;

/// Simplifies `mesh` to `budget` triangles ([`simplify_except`]) so that it does not pass
/// through itself: where the simplified surface does, the original vertices within reach of the
/// intersecting triangles are frozen and simplification runs again from the start, the reach
/// growing by one element (`h` mm) each time. Returns the number of reruns and the intersecting
/// pairs left after the last attempt (none, unless all attempts failed).
fn simplify_without_folds(
    mesh: &mut TriangleMesh,
    budget: usize,
    size: [f64; 3],
    h: f64,
) -> (usize, Vec<[u32; 2]>) {
    let original = mesh.clone();
    let mut frozen = vec![false; original.vertices.len()];
    let mut attempt = 0;
    loop {
        *mesh = original.clone();
        simplify_except(mesh, budget, size, 1e-9 * h, &frozen);
        let pairs = self_intersecting_pairs(mesh);
        if pairs.is_empty() || attempt + 1 == SIMPLIFICATION_ATTEMPTS {
            return (attempt, pairs);
        }
        attempt += 1;
        // Original vertices within a cell or so (`reach` mm, growing) of a corner of an
        // intersecting triangle stay as they are in the next attempt.
        let reach = attempt as f64 * h;
        let cell = |p: &[f64; 3]| p.map(|c| (c / reach).floor() as i64);
        let mut near: HashSet<[i64; 3]> = HashSet::new();
        for &t in pairs.iter().flatten() {
            for &v in &mesh.triangles[t as usize] {
                let c = cell(&mesh.vertices[v as usize]);
                for d in 0..27 {
                    near.insert([c[0] + d % 3 - 1, c[1] + (d / 3) % 3 - 1, c[2] + d / 9 - 1]);
                }
            }
        }
        for (f, p) in frozen.iter_mut().zip(&original.vertices) {
            *f |= near.contains(&cell(p));
        }
    }
}

/// Keeps every vertex inside the design domain `[0, size]`. Below a threshold of 0.5 the surface
/// of a solid boundary element would bulge up to half an element out of the design space; this
/// puts it on the domain face instead.
fn clamp_to_domain(mesh: &mut TriangleMesh, size: [f64; 3]) {
    for p in &mut mesh.vertices {
        for a in 0..3 {
            p[a] = p[a].clamp(0.0, size[a]);
        }
    }
}

/// The iso-density [`make_part`] draws the part of `density` at (its [`Part::threshold`]),
/// without making the part: `params.threshold`, or the one whose surface encloses the
/// density's material volume.
pub fn part_threshold(density: &[f64], grid: &Grid, params: &PartParams) -> f64 {
    raw_surface(density, grid, params).0
}

/// The iso-density of the part and its surface as extracted, clamped to the domain.
fn raw_surface(density: &[f64], grid: &Grid, params: &PartParams) -> (f64, TriangleMesh) {
    let density_volume_mm3 = crate::reduce::sum(density) * grid.element_volume_mm3();
    let size = grid.size_mm();
    let extract = |iso: f64| {
        let mut mesh = extract_isosurface(density, grid.elements, grid.element_size_mm, iso);
        clamp_to_domain(&mut mesh, size);
        mesh
    };
    match params.threshold {
        Some(iso) => (iso, extract(iso)),
        None => match_volume(density, density_volume_mm3, extract),
    }
}

/// Secant search for the iso-density whose surface encloses `target` mm³.
fn match_volume(
    density: &[f64],
    target: f64,
    extract: impl Fn(f64) -> TriangleMesh,
) -> (f64, TriangleMesh) {
    let (low, high) = THRESHOLD_RANGE;
    let mut sorted: Vec<f64> = density
        .iter()
        .map(|v| if v.is_finite() { *v } else { 0.0 })
        .collect();
    sorted.sort_unstable_by(|a, b| b.total_cmp(a));
    let material = sorted.iter().sum::<f64>().round() as usize;
    let guess = sorted
        .get(material.min(sorted.len().saturating_sub(1)))
        .copied()
        .unwrap_or(0.5);
    let mut iso = if guess.is_finite() {
        guess.clamp(low, high)
    } else {
        0.5
    };
    let mut mesh = extract(iso);
    let mut volume = mesh.signed_volume();
    if target <= 0.0 {
        return (iso, mesh);
    }
    let mut previous: Option<(f64, f64)> = None;
    for _ in 0..6 {
        let error = (volume - target) / target;
        if error.abs() <= VOLUME_TOLERANCE {
            break;
        }
        // Volume falls as the threshold rises. Secant step once two points are known, else a
        // fixed nudge in the right direction.
        let next = match previous {
            Some((iso0, v0)) if (volume - v0).abs() > 1e-12 * target => {
                iso + (target - volume) * (iso - iso0) / (volume - v0)
            }
            _ => iso + if error > 0.0 { 0.05 } else { -0.05 },
        };
        let next = next.clamp(low, high);
        if next == iso {
            break;
        }
        previous = Some((iso, volume));
        iso = next;
        mesh = extract(iso);
        volume = mesh.signed_volume();
    }
    (iso, mesh)
}

/// Removes shells of positive volume with no vertex within about `reach` of an anchor, and
/// specks smaller than `speck_mm3` anywhere (noise, not structure).
fn drop_islands(
    mesh: TriangleMesh,
    anchors: &[[f64; 3]],
    reach: f64,
    speck_mm3: f64,
) -> (TriangleMesh, usize, f64) {
    if mesh.triangles.is_empty() {
        return (mesh, 0, 0.0);
    }
    // Cells of size `reach` around the anchors, dilated by one cell: a vertex in one of them
    // is within ~2·reach of an anchor.
    let cell = |p: &[f64; 3]| p.map(|c| (c / reach).floor() as i64);
    let mut near: HashSet<[i64; 3]> = HashSet::new();
    for a in anchors {
        let c = cell(a);
        for d in 0..27 {
            near.insert([c[0] + d % 3 - 1, c[1] + (d / 3) % 3 - 1, c[2] + d / 9 - 1]);
        }
    }
    let mut keep = vec![true; mesh.triangles.len()];
    let (mut dropped, mut dropped_volume) = (0, 0.0);
    for shell in shells(&mesh) {
        let corners = |t: &u32| mesh.triangles[*t as usize].map(|v| mesh.vertices[v as usize]);
        let volume: f64 = shell
            .iter()
            .map(|t| {
                let [a, b, c] = corners(t);
                (a[0] * (b[1] * c[2] - b[2] * c[1])
                    + a[1] * (b[2] * c[0] - b[0] * c[2])
                    + a[2] * (b[0] * c[1] - b[1] * c[0]))
                    / 6.0
            })
            .sum();
        let anchored = shell
            .iter()
            .flat_map(corners)
            .any(|p| near.contains(&cell(&p)));
        if volume > 0.0 && (!anchored || volume < speck_mm3) {
            dropped += 1;
            dropped_volume += volume;
            for &t in &shell {
                keep[t as usize] = false;
            }
        }
    }
    if dropped == 0 {
        return (mesh, 0, 0.0);
    }
    (compact(&mesh, &keep), dropped, dropped_volume)
}

/// The mesh with only the kept triangles and the vertices they use.
fn compact(mesh: &TriangleMesh, keep: &[bool]) -> TriangleMesh {
    let mut map = vec![u32::MAX; mesh.vertices.len()];
    let mut out = TriangleMesh::default();
    for (t, _) in mesh.triangles.iter().zip(keep).filter(|(_, k)| **k) {
        let tri = t.map(|v| {
            if map[v as usize] == u32::MAX {
                map[v as usize] = out.vertices.len() as u32;
                out.vertices.push(mesh.vertices[v as usize]);
            }
            map[v as usize]
        });
        out.triangles.push(tri);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 12 × 4 × 4 beam clamped at x = 0 and a floating 2³ block in the far corner.
    fn beam_with_island() -> (Grid, Vec<f64>, Vec<[f64; 3]>) {
        let grid = Grid::new([16, 6, 6], 1.0);
        let density = (0..grid.element_count())
            .map(|e| {
                let [i, j, k] = grid.element_coords(e);
                let beam = i < 12 && (1..5).contains(&j) && (1..5).contains(&k);
                let island = (14..16).contains(&i) && j < 2 && k < 2;
                if beam || island { 1.0 } else { 0.0 }
            })
            .collect();
        let anchors = (0..=6)
            .flat_map(|j| (0..=6).map(move |k| [0.0, j as f64, k as f64]))
            .collect();
        (grid, density, anchors)
    }

    /// The part with the default settings and no exact kept shapes.
    fn plain_part(density: &[f64], grid: &Grid, anchors: &[[f64; 3]]) -> Part {
        make_part(
            density,
            grid,
            anchors,
            &PartParams::default(),
            &KeptGeometry::default(),
        )
    }

    #[test]
    fn islands_are_dropped_and_reported() {
        let (grid, density, anchors) = beam_with_island();
        let part = plain_part(&density, &grid, &anchors);
        assert_eq!(part.dropped_islands, 1);
        assert!(
            (part.dropped_volume_mm3 - 8.0).abs() < 1.0,
            "{}",
            part.dropped_volume_mm3
        );
        assert_eq!(part.report.shells.len(), 1);
        assert!(part.report.is_watertight());
        // The island's corner of the domain is empty now.
        assert!(part.mesh.vertices.iter().all(|p| p[0] < 13.0));
    }

    #[test]
    fn default_threshold_matches_the_density_volume() {
        let (grid, mut density, anchors) = beam_with_island();
        // Grey skin around the beam: the volume-matching threshold must account for it.
        for (e, rho) in density.iter_mut().enumerate() {
            let [i, j, k] = grid.element_coords(e);
            if *rho == 0.0 && i < 12 && j < 6 && k < 6 {
                *rho = 0.3;
            }
        }
        let part = plain_part(&density, &grid, &anchors);
        let target = part.density_volume_mm3 - part.dropped_volume_mm3;
        let error = (part.report.signed_volume_mm3 - target).abs() / target;
        assert!(
            error < 0.02,
            "volume error {error} at threshold {}",
            part.threshold
        );
        let fixed = make_part(
            &density,
            &grid,
            &anchors,
            &PartParams {
                threshold: Some(0.5),
                smoothing_iterations: 0,
                ..PartParams::default()
            },
            &KeptGeometry::default(),
        );
        assert_eq!(fixed.threshold, 0.5);
    }

    #[test]
    fn simplified_part_meets_its_budget_and_stays_watertight() {
        let (grid, density, anchors) = beam_with_island();
        let full = plain_part(&density, &grid, &anchors);
        let budget = full.report.triangles / 3;
        let params = PartParams {
            max_triangles: Some(budget),
            ..PartParams::default()
        };
        let part = make_part(&density, &grid, &anchors, &params, &KeptGeometry::default());
        assert_eq!(part.triangles_before_simplification, full.report.triangles);
        assert!(
            part.report.triangles <= budget,
            "{} > {budget}",
            part.report.triangles
        );
        assert!(part.report.is_watertight(), "{:?}", part.report);
        let change = (part.report.signed_volume_mm3 - full.report.signed_volume_mm3).abs()
            / full.report.signed_volume_mm3;
        assert!(change < 0.02, "volume changed by {change}");
    }

    use proptest::prelude::*;

    /// A density field of kind `kind` from `seed`: 0 smooth blobs, 1 white noise, 2 single
    /// voxels, 3 checkerboard, 4 noise that touches every domain face.
    fn field(kind: u8, seed: u64, dims: [usize; 3]) -> Vec<f64> {
        let mut state = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let n = dims.iter().product::<usize>();
        let coords = |e: usize| {
            [
                e % dims[0],
                (e / dims[0]) % dims[1],
                e / (dims[0] * dims[1]),
            ]
        };
        match kind {
            0 => {
                let blobs: Vec<[f64; 4]> = (0..4)
                    .map(|_| {
                        [
                            next() * dims[0] as f64,
                            next() * dims[1] as f64,
                            next() * dims[2] as f64,
                            1.0 + 3.0 * next(),
                        ]
                    })
                    .collect();
                (0..n)
                    .map(|e| {
                        let c = coords(e).map(|v| v as f64 + 0.5);
                        blobs
                            .iter()
                            .map(|b| {
                                (-((c[0] - b[0]).powi(2)
                                    + (c[1] - b[1]).powi(2)
                                    + (c[2] - b[2]).powi(2))
                                    / (b[3] * b[3]))
                                    .exp()
                            })
                            .sum::<f64>()
                            .min(1.0)
                    })
                    .collect()
            }
            2 => (0..n)
                .map(|_| if next() < 0.08 { 1.0 } else { 0.0 })
                .collect(),
            3 => (0..n)
                .map(|e| f64::from(u8::from(coords(e).iter().sum::<usize>() % 2 == 0)))
                .collect(),
            4 => (0..n)
                .map(|e| {
                    let c = coords(e);
                    let on_face = (0..3).any(|a| c[a] == 0 || c[a] + 1 == dims[a]);
                    if on_face { 0.6 + 0.4 * next() } else { next() }
                })
                .collect(),
            _ => (0..n).map(|_| next()).collect(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Any field gives a printable part: watertight, manifold, never passing through itself,
        /// inside the domain; with or without smoothing, simplification and overhang correction.
        #[test]
        fn every_field_gives_a_solid_part(kind in 0u8..5, seed in any::<u64>(), nx in 3usize..10, ny in 3usize..8, nz in 2usize..7, smoothing in 0usize..40, simplify in any::<bool>(), build in 0usize..4) {
            let grid = Grid::new([nx, ny, nz], 1.5);
            let density = field(kind, seed, grid.elements);
            let anchors: Vec<[f64; 3]> = (0..grid.node_count()).filter(|n| n % 3 == 0).map(|n| grid.node_position_mm(n)).collect();
            let overhang = [[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]].get(build).map(|&d| OverhangLimit { build_direction: d, overhang_angle_deg: 45.0 });
            let params = PartParams {
                smoothing_iterations: smoothing,
                max_triangles: simplify.then_some(100),
                overhang,
                ..PartParams::default()
            };
            let part = make_part(&density, &grid, &anchors, &params, &KeptGeometry::default());
            prop_assert!(part.report.is_solid(), "{:?}", part.report);
            let size = grid.size_mm();
            prop_assert!(part.mesh.vertices.iter().all(|p| (0..3).all(|a| p[a] >= 0.0 && p[a] <= size[a])));
        }
    }

    #[test]
    fn a_part_made_for_a_printer_has_no_face_flatter_than_its_overhang_angle() {
        // A "Y" of voxels standing on the plate: a column, then arms stepping out one element
        // per layer to both sides, the steepest overhang the AM filter lets through. The
        // tetrahedra's diagonals make one arm's underside a staircase of flat pieces, which
        // smoothing leaves close to 45°, on both sides of it.
        let grid = Grid::new([24, 4, 14], 1.0);
        let density: Vec<f64> = (0..grid.element_count())
            .map(|e| {
                let [i, _, k] = grid.element_coords(e);
                let half_width = 2.0 + k.saturating_sub(4) as f64;
                f64::from(u8::from((i as f64 + 0.5 - 12.0).abs() < half_width))
            })
            .collect();
        let anchors: Vec<[f64; 3]> = vec![[12.0, 2.0, 0.0]];
        let overhang = |part: &Part| {
            crate::mesh::printability::printability(&part.mesh, [0.0, 0.0, 1.0], 45.0)
                .expect("closed part")
                .overhang_percent
        };
        let free = plain_part(&density, &grid, &anchors);
        let limit = OverhangLimit {
            build_direction: [0.0, 0.0, 1.0],
            overhang_angle_deg: 45.0,
        };
        let params = PartParams {
            overhang: Some(limit),
            ..PartParams::default()
        };
        let printable = make_part(&density, &grid, &anchors, &params, &KeptGeometry::default());
        assert!(overhang(&free) > 1.0, "{}", overhang(&free));
        // Where the arms meet the domain's side faces, a corner of a downward face can only go
        // as far as the wall it also belongs to lets it without folding (a few slivers of the
        // wall's triangulation): a trace of overhang stays there, and no fold.
        assert!(overhang(&printable) < 0.25, "{}", overhang(&printable));
        assert!(printable.report.is_solid(), "{:?}", printable.report);
        assert_eq!(printable.folds.pairs_found, 0);
        assert!(printable.report.is_watertight(), "{:?}", printable.report);
        let correction = printable.overhang_correction.expect("corrected");
        assert!(correction.vertices_moved > 0 && correction.largest_shift_mm <= 0.5);
        // The mass stays as optimized, within a fraction of a percent.
        assert!(
            printable.volume_difference().abs() < 0.005,
            "{}",
            printable.volume_difference()
        );
        assert!(free.overhang_correction.is_none());
    }
}
