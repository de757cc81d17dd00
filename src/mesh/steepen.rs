//! Overhang correction: downward faces of the exported surface are made at least as steep as
//! the printer's overhang angle by moving vertices along the build direction.
//!
//! The AM filter makes the density self-supporting element by element: every solid element
//! stands on the one below it or on a side neighbour of that one, a 45° staircase at the
//! steepest. The surface through such a staircase, interpolated across the element centres
//! (marching tetrahedra) and smoothed, runs at 45° *on average* but wobbles around it by a few
//! degrees: the tetrahedra's diagonals cut one of the two staircase orientations into vertical
//! and horizontal pieces, and grey elements move the crossings along the edges. Half the faces
//! of a 45° slope then lie just below the limit, several percent of the area of a part made
//! for a 45° printer.
//!
//! Each such face is made steep by moving its vertices along the build direction only. With
//! the horizontal positions fixed, a face's height is linear over its projection, and its slope
//! along the current downhill direction `u` is the linear function `Σ cₖ hₖ` of its vertex
//! heights (`cₖ = ∇φₖ · u`, the barycentric gradients). The least change of the three heights
//! that brings it to `tan θ` is the projection onto that plane, `Δhₖ = cₖ (tan θ − s) / Σ c²`,
//! which raises the upper vertex as much as it lowers the lower ones. Faces are projected one
//! after the other and the sweep repeats until none is too flat, a Gauss–Seidel iteration over
//! the constraints as in position-based dynamics (Müller, Heidelberger, Hennix & Ratcliff,
//! "Position based dynamics", J. Vis. Commun. Image R. 18, 2007). Slopes are computed in a
//! fixed order, so the result does not depend on the thread count.
//!
//! Keels get the same rule. Where two downward faces meet at a convex edge and both slope down
//! towards it, as under a beam whose cross-section points down, a slicer sees the edge as the
//! corner of each layer's outline, and that corner steps out by the edge's run per layer: faces
//! at slope `s` whose downhill directions are `2φ` apart meet in an edge of slope `s cos φ`,
//! flatter than either. Such an edge is projected onto `tan θ` in the same sweeps, its upper end
//! raised and its lower end lowered by the same amount. On the examples measured with
//! PrusaSlicer this cut its support by a fifth to 37 % (README, "Printing without supports").
//!
//! The foot is mended first. Where the part stands on the plate, the surface runs from the
//! plate up to the first layer of element centres half an element higher: a bevel that hangs
//! over the plate. Downward vertices within reach of the plate go onto it, so the first layer
//! stands upright (unless a wall seen edge-on would lose its area, where the bevel stays).
//!
//! Moving along the build direction never changes a face's projection, so no face turns over
//! and downward faces stay downward. Vertices on the plate stay there, no vertex leaves the
//! part's extent along the build direction, and none moves more than `max_shift_mm` (half an
//! element in the exported part, below the resolution the design was made at): a real
//! overhang in the density, a flat ceiling for instance, stays as it is and is reported by
//! [`printability`](super::printability::printability) like any other.

use super::check::DEGENERATE_AREA_PER_DIAGONAL_SQUARED;
use super::{TriangleMesh, dot, horizontal_frame};

/// Faces are made this much steeper than the overhang angle, degrees. PrusaSlicer supports
/// slopes up to a degree steeper than its threshold (measured with a straight chamfer at a
/// 45° threshold: 45.75° gets support, 46° does not), and STL rounds vertices to single
/// precision; 1.5° clears both.
const MARGIN_DEG: f64 = 1.5;

/// Sweeps over the downward faces at most. A part usually settles in a few dozen; where
/// neighbouring faces pull a vertex to and fro (a small dome of faces all too flat, say), the
/// moves shrink but may not vanish, and the sweeps stop here.
const MAX_SWEEPS: usize = 200;

/// A face whose slope is below this fraction of the limit has no reliable downhill direction
/// (a flat ceiling): it is not a wobble around the limit and is left alone.
const FLAT_SLOPE_FRACTION: f64 = 1e-6;

/// What the correction did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct SteepenReport {
    /// Vertices moved along the build direction.
    pub vertices_moved: usize,
    /// The largest move, mm.
    pub largest_shift_mm: f64,
    /// Sweeps over the downward faces, the last one moving nothing unless the limit was hit.
    pub sweeps: usize,
}

/// Steepens the downward faces of `mesh` that are flatter than `overhang_angle_deg` above the
/// build plane (normal to the unit vector `direction`), moving vertices along `direction` by at
/// most `max_shift_mm`. Vertices within `plate_tolerance_mm` of the lowest plane are on the
/// plate and do not move, and faces lying entirely on it are not overhangs.
pub fn steepen_overhangs(
    mesh: &mut TriangleMesh,
    direction: [f64; 3],
    overhang_angle_deg: f64,
    max_shift_mm: f64,
    plate_tolerance_mm: f64,
) -> SteepenReport {
    let (across, along) = horizontal_frame(direction);
    let plan: Vec<[f64; 2]> = (mesh.vertices.iter())
        .map(|&p| [dot(p, across), dot(p, along)])
        .collect();
    let start: Vec<f64> = mesh.vertices.iter().map(|&p| dot(p, direction)).collect();
    let lowest = start.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = start.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let triangles: Vec<[usize; 3]> = (mesh.triangles.iter())
        .map(|t| t.map(|i| i as usize))
        .collect();
    let mut surface = Surface {
        height: start.clone(),
        last_moved: vec![0; start.len()],
        sweep: 0,
        moved: false,
        lowest,
        highest,
        max_shift_mm,
        plate_tolerance_mm,
        // The sweeps converge linearly; once no move exceeds a millionth of the allowed shift,
        // what is left is far below the angle margin and the sweep that makes none is the last.
        negligible: 1e-6 * max_shift_mm,
        plan,
        start,
        faces_around: FacesAround::new(&triangles, mesh.vertices.len()),
        start_normal: Vec::new(),
        triangles,
    };
    surface.start_normal = (0..surface.triangles.len())
        .map(|f| surface.normal(surface.triangles[f]))
        .collect();
    let plan_area: Vec<f64> = (surface.triangles.iter())
        .map(|&t| signed_plan_area(&surface.plan, t))
        .collect();
    // Whether any of a vertex's faces looks down (negative plan area), and whether none looks up.
    let mut any_down = vec![false; surface.height.len()];
    let mut none_up = vec![true; surface.height.len()];
    for (t, &area) in surface.triangles.iter().zip(&plan_area) {
        for &i in t {
            any_down[i] |= area < 0.0;
            none_up[i] &= area <= 0.0;
        }
    }
    // The foot: where the part meets the plate, the surface runs from the plate up to the
    // first layer of element centres half an element higher, a bevel that would hang over
    // the plate. Its downward vertices within reach go onto the plate, so the first layer
    // stands on it with upright sides. Only vertices with no upward face move, so no face that
    // looks up is laid flat on the plate.
    for i in 0..any_down.len() {
        if any_down[i] && none_up[i] && surface.start[i] - lowest <= max_shift_mm {
            surface.height[i] = lowest;
        }
    }
    // A face seen edge-on (a wall) keeps its area and its side only through the heights of its
    // corners; one whose corners all went onto the plate would have no area, and one whose
    // corners passed each other would lie folded onto its neighbours, so they come back up.
    // Twice the area below which `check_mesh` calls a triangle degenerate, with a margin of 50.
    let extent = diagonal(&mesh.vertices);
    let degenerate = 100.0 * DEGENERATE_AREA_PER_DIAGONAL_SQUARED * extent * extent;
    surface.restore_turned(degenerate);
    // Only downward faces with a vertex off the plate can be overhangs; upward and vertical
    // ones are never moved into being one, since their projections do not change.
    let faces: Vec<[usize; 3]> = (surface.triangles.iter().zip(&plan_area))
        .filter(|&(&t, &area)| area < 0.0 && !surface.all_on_plate(t))
        .map(|(&t, _)| t)
        .collect();

    let keels = keels(&surface, &faces);
    let target = (overhang_angle_deg + MARGIN_DEG).to_radians().tan();
    while surface.sweep < MAX_SWEEPS {
        surface.sweep += 1;
        surface.moved = false;
        for &t in &faces {
            surface.steepen_face(t, target);
        }
        for &[a, b] in &keels {
            surface.steepen_keel(a, b, target);
        }
        if !surface.moved {
            break;
        }
    }

    // The sweeps may also have brought the corners of an edge-on face to one height (against the
    // plate, where the moves stop). A degenerate triangle would make the part unwritable; the
    // corners of one go back to where they were, at the price of a face too flat nearby, which
    // the report counts.
    surface.restore_turned(degenerate);

    let mut vertices_moved = 0;
    let mut largest_shift_mm: f64 = 0.0;
    for ((p, &h), &h0) in (mesh.vertices.iter_mut())
        .zip(&surface.height)
        .zip(&surface.start)
    {
        let shift = h - h0;
        if shift != 0.0 {
            vertices_moved += 1;
            largest_shift_mm = largest_shift_mm.max(shift.abs());
            *p = std::array::from_fn(|a| p[a] + shift * direction[a]);
        }
    }
    SteepenReport {
        vertices_moved,
        largest_shift_mm,
        sweeps: surface.sweep,
    }
}

/// Vertex heights along the build direction as the sweeps change them; plan positions fixed.
struct Surface {
    /// Positions across the build direction.
    plan: Vec<[f64; 2]>,
    /// Heights before the correction.
    start: Vec<f64>,
    /// Heights now.
    height: Vec<f64>,
    /// The sweep in which each vertex last moved: a face none of whose vertices moved since the
    /// sweep before is as it was when last looked at and needs no new look.
    last_moved: Vec<usize>,
    /// The current sweep, from 1.
    sweep: usize,
    /// Whether this sweep moved a vertex by more than `negligible`.
    moved: bool,
    /// The plate.
    lowest: f64,
    /// The top of the part: nothing moves above it.
    highest: f64,
    max_shift_mm: f64,
    plate_tolerance_mm: f64,
    negligible: f64,
    /// All faces of the mesh.
    triangles: Vec<[usize; 3]>,
    /// The faces at each vertex.
    faces_around: FacesAround,
    /// Each face's normal before the correction (twice its area long).
    start_normal: Vec<[f64; 3]>,
}

/// The faces at each vertex, in compressed rows.
struct FacesAround {
    offsets: Vec<usize>,
    faces: Vec<usize>,
}

impl FacesAround {
    fn new(triangles: &[[usize; 3]], vertex_count: usize) -> Self {
        let mut offsets = vec![0; vertex_count + 1];
        for &i in triangles.iter().flatten() {
            offsets[i + 1] += 1;
        }
        for i in 0..vertex_count {
            offsets[i + 1] += offsets[i];
        }
        let mut fill = offsets.clone();
        let mut faces = vec![0; offsets[vertex_count]];
        for (f, t) in triangles.iter().enumerate() {
            for &i in t {
                faces[fill[i]] = f;
                fill[i] += 1;
            }
        }
        Self { offsets, faces }
    }

    fn of(&self, i: usize) -> &[usize] {
        &self.faces[self.offsets[i]..self.offsets[i + 1]]
    }
}

/// A move may leave no face at a moved vertex facing less than this share of its start normal
/// (`n · n₀ ≥ FACING |n₀|²`). Downward and upward faces keep their projection and cannot turn
/// over, but a wall seen edge-on can: its corners, moving up and down within its plane, can pass
/// each other, and the wall then folds onto its neighbours, a surface through itself.
const FACING: f64 = 0.01;

impl Surface {
    fn on_plate(&self, i: usize) -> bool {
        self.height[i] - self.lowest <= self.plate_tolerance_mm
    }

    fn all_on_plate(&self, t: [usize; 3]) -> bool {
        t.iter().all(|&i| self.on_plate(i))
    }

    /// The normal of face `t` at the current heights, twice its area long, in the frame of the
    /// plan and the build direction.
    fn normal(&self, t: [usize; 3]) -> [f64; 3] {
        let point = |i: usize| [self.plan[i][0], self.plan[i][1], self.height[i]];
        let [a, b, c] = t.map(point);
        super::cross(super::sub(b, a), super::sub(c, a))
    }

    /// Puts back the corners of every face that has turned over (or lost its area) until none
    /// has; see [`FACING`].
    fn restore_turned(&mut self, degenerate: f64) {
        let triangles = std::mem::take(&mut self.triangles);
        self.restore_where(&triangles, |s, f, t| {
            let n = s.normal(t);
            dot(n, s.start_normal[f]) <= 0.0 || dot(n, n).sqrt() <= degenerate
        });
        self.triangles = triangles;
    }

    /// Puts the corners of every face in `faces` for which `bad` holds back where they started,
    /// until it holds for none (each round restores at least one vertex, so this ends).
    fn restore_where(
        &mut self,
        faces: &[[usize; 3]],
        bad: impl Fn(&Self, usize, [usize; 3]) -> bool,
    ) {
        loop {
            let mut restored = false;
            for (f, &t) in faces.iter().enumerate() {
                if bad(self, f, t) {
                    for i in t {
                        if self.height[i] != self.start[i] {
                            self.height[i] = self.start[i];
                            restored = true;
                        }
                    }
                }
            }
            if !restored {
                break;
            }
        }
    }

    /// Whether none of `vertices` moved since the sweep before this one.
    fn settled(&self, vertices: impl IntoIterator<Item = usize>) -> bool {
        self.sweep > 1
            && vertices
                .into_iter()
                .all(|i| self.last_moved[i] + 1 < self.sweep)
    }

    /// Moves vertex `i` towards `wanted` as far as its limits allow; the plate holds what is on it,
    /// and no face at `i` may turn away from its start normal (see [`FACING`]).
    fn move_towards(&mut self, i: usize, wanted: f64) {
        if self.on_plate(i) {
            return;
        }
        let lo = (self.start[i] - self.max_shift_mm).max(self.lowest);
        let hi = (self.start[i] + self.max_shift_mm).min(self.highest);
        let mut new = wanted.clamp(lo, hi);
        let current = self.height[i];
        for &f in self.faces_around.of(i) {
            let t = self.triangles[f];
            let k = (0..3).find(|&k| t[k] == i).unwrap_or(0);
            let (b, c) = (self.plan[t[(k + 1) % 3]], self.plan[t[(k + 2) % 3]]);
            let n0 = self.start_normal[f];
            // n · n₀ is affine in this vertex's height: the normal changes by
            // Δh · (ẑ × (b − c)) when the corner opposite edge bc moves by Δh along ẑ.
            let facing = dot(self.normal(t), n0);
            let rate = dot([c[1] - b[1], b[0] - c[0], 0.0], n0);
            let floor = (FACING * dot(n0, n0)).min(facing);
            if facing + (new - current) * rate < floor {
                new = current + (floor - facing) / rate;
            }
        }
        if new != self.height[i] {
            self.last_moved[i] = self.sweep;
            self.moved |= (new - self.height[i]).abs() > self.negligible;
            self.height[i] = new;
        }
    }

    /// Brings the keel edge `(a, b)` to `slope = target` when it is flatter (and not level),
    /// raising its upper end and lowering its lower end by the same amount, as the least change.
    fn steepen_keel(&mut self, a: usize, b: usize, target: f64) {
        if self.settled([a, b]) {
            return;
        }
        let (pa, pb) = (self.plan[a], self.plan[b]);
        let run = (pb[0] - pa[0]).hypot(pb[1] - pa[1]);
        let (upper, lower) = if self.height[a] >= self.height[b] {
            (a, b)
        } else {
            (b, a)
        };
        let rise = self.height[upper] - self.height[lower];
        if run == 0.0 || rise >= target * run || rise < FLAT_SLOPE_FRACTION * target * run {
            return;
        }
        let missing = target * run - rise;
        match (self.on_plate(upper), self.on_plate(lower)) {
            (false, false) => {
                self.move_towards(upper, self.height[upper] + 0.5 * missing);
                self.move_towards(lower, self.height[lower] - 0.5 * missing);
            }
            (false, true) => self.move_towards(upper, self.height[upper] + missing),
            (true, false) => self.move_towards(lower, self.height[lower] - missing),
            (true, true) => {}
        }
    }

    /// Projects face `t` onto `slope = target` when it is flatter (and not flat).
    fn steepen_face(&mut self, t: [usize; 3], target: f64) {
        if self.settled(t) || self.all_on_plate(t) {
            return;
        }
        let Some((slope, c)) = slope_along_downhill(&self.plan, &self.height, t) else {
            return;
        };
        if slope >= target || slope < FLAT_SLOPE_FRACTION * target {
            return;
        }
        let free = t.map(|i| !self.on_plate(i));
        let norm2: f64 = (0..3).filter(|&k| free[k]).map(|k| c[k] * c[k]).sum();
        if norm2 == 0.0 {
            return;
        }
        let step = (target - slope) / norm2;
        for k in (0..3).filter(|&k| free[k]) {
            let i = t[k];
            self.move_towards(i, self.height[i] + c[k] * step);
        }
    }
}

/// The keels among the downward faces: edges where two of them meet at a convex angle, both
/// sloping down towards the edge from either side, as under a beam whose cross-section points
/// down. A slicer sees a keel as the corner of each layer's outline, and the corner steps out by
/// the keel's own run per layer, which is more than either face's: two faces at slope `s` whose
/// downhill directions make an angle `2φ` meet in a keel of slope `s cos φ`. So a keel needs the
/// slope a face needs.
fn keels(surface: &Surface, faces: &[[usize; 3]]) -> Vec<[usize; 2]> {
    // Each directed edge's face; the neighbour across it holds it reversed.
    let mut edges: std::collections::HashMap<(usize, usize), usize> =
        std::collections::HashMap::new();
    let mut pairs = Vec::new();
    for (f, t) in faces.iter().enumerate() {
        for k in 0..3 {
            let (a, b) = (t[k], t[(k + 1) % 3]);
            if let Some(&g) = edges.get(&(b, a)) {
                pairs.push((g, f, [b, a]));
            } else {
                edges.insert((a, b), f);
            }
        }
    }
    let point = |i: usize| [surface.plan[i][0], surface.plan[i][1], surface.start[i]];
    let apex =
        |t: [usize; 3], [a, b]: [usize; 2]| t.into_iter().find(|&i| i != a && i != b).unwrap_or(a);
    let mut keels: Vec<[usize; 2]> = pairs
        .into_iter()
        .filter(|&(g, f, edge)| {
            let (tg, tf) = (faces[g], faces[f]);
            let [a, b] = edge;
            let (c, d) = (apex(tg, edge), apex(tf, edge));
            // Convex: the far corner of one face lies behind the other face's plane.
            let normal = super::cross(
                super::sub(point(tg[1]), point(tg[0])),
                super::sub(point(tg[2]), point(tg[0])),
            );
            if dot(normal, super::sub(point(d), point(a))) >= 0.0 {
                return false;
            }
            // Both faces slope down towards the edge: along the edge's normal in the plan, the
            // apex of each face lies higher than the edge at that point.
            let (pa, pb) = (surface.plan[a], surface.plan[b]);
            let e = [pb[0] - pa[0], pb[1] - pa[1]];
            let length2 = e[0] * e[0] + e[1] * e[1];
            if length2 == 0.0 {
                return false;
            }
            let above_edge = |x: usize| {
                let q = surface.plan[x];
                let along = ((q[0] - pa[0]) * e[0] + (q[1] - pa[1]) * e[1]) / length2;
                let edge_height = surface.start[a] + along * (surface.start[b] - surface.start[a]);
                surface.start[x] > edge_height
            };
            above_edge(c) && above_edge(d)
        })
        .map(|(_, _, edge)| edge)
        .collect();
    keels.sort_unstable();
    keels
}

/// The diagonal of the bounding box of `points`.
fn diagonal(points: &[[f64; 3]]) -> f64 {
    let mut low = [f64::INFINITY; 3];
    let mut high = [f64::NEG_INFINITY; 3];
    for p in points {
        for a in 0..3 {
            low[a] = low[a].min(p[a]);
            high[a] = high[a].max(p[a]);
        }
    }
    (0..3)
        .map(|a| (high[a] - low[a]).max(0.0).powi(2))
        .sum::<f64>()
        .sqrt()
}

/// Twice the signed area of the face's projection on the build plane: negative for a face
/// whose outward normal points against the build direction.
fn signed_plan_area(plan: &[[f64; 2]], [a, b, c]: [usize; 3]) -> f64 {
    let (pa, pb, pc) = (plan[a], plan[b], plan[c]);
    (pb[0] - pa[0]) * (pc[1] - pa[1]) - (pb[1] - pa[1]) * (pc[0] - pa[0])
}

/// The face's slope `|∇h|` over its projection and the coefficients `cₖ` with
/// `slope = Σ cₖ hₖ` along the downhill direction; `None` for a face seen edge-on.
fn slope_along_downhill(
    plan: &[[f64; 2]],
    height: &[f64],
    t: [usize; 3],
) -> Option<(f64, [f64; 3])> {
    let twice_area = signed_plan_area(plan, t);
    if twice_area == 0.0 {
        return None;
    }
    // ∇φₖ = perp(p₍ₖ₊₂₎ − p₍ₖ₊₁₎) / (2A), perp(x, y) = (−y, x): the barycentric gradients.
    let basis: [[f64; 2]; 3] = std::array::from_fn(|k| {
        let (p, q) = (plan[t[(k + 1) % 3]], plan[t[(k + 2) % 3]]);
        [-(q[1] - p[1]) / twice_area, (q[0] - p[0]) / twice_area]
    });
    let gradient: [f64; 2] =
        std::array::from_fn(|a| (0..3).map(|k| height[t[k]] * basis[k][a]).sum());
    let slope = gradient[0].hypot(gradient[1]);
    if !slope.is_finite() {
        return None;
    }
    if slope == 0.0 {
        return Some((0.0, [0.0; 3]));
    }
    let c = basis.map(|g| (g[0] * gradient[0] + g[1] * gradient[1]) / slope);
    Some((slope, c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::check_mesh;
    use crate::mesh::printability::printability;

    /// A closed prism along `y` (length 10) whose cross-section is the polygon `profile` of
    /// `[x, z]` points, counter-clockwise seen from −y.
    fn prism(profile: &[[f64; 2]]) -> TriangleMesh {
        let n = profile.len() as u32;
        let mut vertices = Vec::new();
        for y in [0.0, 10.0] {
            vertices.extend(profile.iter().map(|&[x, z]| [x, y, z]));
        }
        let mut triangles = Vec::new();
        for i in 0..n {
            let j = (i + 1) % n;
            // Side quad of the edge (i, j), outward for a counter-clockwise profile.
            triangles.push([i, j + n, j]);
            triangles.push([i, i + n, j + n]);
        }
        // Caps as fans: consistently wound, so the mesh is closed and its volume right even
        // where a fan triangle of a non-convex profile reaches outside it.
        for i in 1..n - 1 {
            triangles.push([0, i, i + 1]);
            triangles.push([n, n + i + 1, n + i]);
        }
        TriangleMesh {
            vertices,
            triangles,
        }
    }

    fn overhang_percent(mesh: &TriangleMesh) -> f64 {
        printability(mesh, [0.0, 0.0, 1.0], 45.0)
            .expect("closed mesh")
            .overhang_percent
    }

    #[test]
    fn the_prism_helper_is_closed_and_outward() {
        let mesh = prism(&[[0.0, 0.0], [4.0, 0.0], [4.0, 4.0], [0.0, 4.0]]);
        let report = check_mesh(&mesh);
        assert!(report.is_watertight(), "{report:?}");
        assert!((report.signed_volume_mm3 - 160.0).abs() < 1e-9);
    }

    #[test]
    fn keels_are_brought_to_the_limit_like_faces() {
        // An inverted square pyramid on its apex under a block: faces at 50°, steep enough,
        // but the four hips between them at atan(tan 50° / √2) = 40.1°, each layer's corner
        // stepping out past the slicer's limit.
        let (a, height, top) = (4.0, 4.0 * 50f64.to_radians().tan(), 10.0);
        let mut vertices = vec![[0.0, 0.0, 0.0]];
        for z in [height, top] {
            vertices.extend([[a, a, z], [-a, a, z], [-a, -a, z], [a, -a, z]]);
        }
        let mut triangles = vec![
            [0, 2, 1],
            [0, 3, 2],
            [0, 4, 3],
            [0, 1, 4],
            [5, 6, 7],
            [5, 7, 8],
        ];
        for i in 1..5u32 {
            let j = i % 4 + 1;
            triangles.extend([[i, j, j + 4], [i, j + 4, i + 4]]);
        }
        let mut mesh = TriangleMesh {
            vertices,
            triangles,
        };
        assert!(check_mesh(&mesh).is_watertight());
        let hip_deg = |mesh: &TriangleMesh| {
            let [x, y, z] = mesh.vertices[1];
            z.atan2(x.hypot(y)).to_degrees()
        };
        assert!((hip_deg(&mesh) - 40.1).abs() < 0.05);
        steepen_overhangs(&mut mesh, [0.0, 0.0, 1.0], 45.0, 2.0, 1e-6);
        for corner in 1..5 {
            let [x, y, z] = mesh.vertices[corner];
            let slope = z.atan2(x.hypot(y)).to_degrees();
            assert!(slope >= 45.0 + MARGIN_DEG - 1e-6, "hip at {slope}°");
        }
        assert_eq!(
            mesh.vertices[0],
            [0.0, 0.0, 0.0],
            "the apex stays on the plate"
        );
        assert!(check_mesh(&mesh).is_watertight());
    }

    #[test]
    fn a_slightly_flat_chamfer_is_steepened_to_the_limit() {
        // Standing on the plate, with a 40° chamfer under an overhanging top: 5° too flat.
        let run = 6.0;
        let drop = run * 40f64.to_radians().tan();
        let mut mesh = prism(&[
            [0.0, 0.0],
            [2.0, 0.0],
            [2.0, 4.0],
            [2.0 + run, 4.0 + drop],
            [2.0 + run, 12.0],
            [0.0, 12.0],
        ]);
        assert!(overhang_percent(&mesh) > 10.0);
        let before = mesh.clone();
        let report = steepen_overhangs(&mut mesh, [0.0, 0.0, 1.0], 45.0, 2.0, 1e-9);
        assert_eq!(overhang_percent(&mesh), 0.0);
        assert!(report.largest_shift_mm > 0.0 && report.largest_shift_mm <= 2.0);
        assert!(check_mesh(&mesh).is_watertight());
        // Only heights change, and the plate does not move.
        for (p, q) in mesh.vertices.iter().zip(&before.vertices) {
            assert_eq!([p[0], p[1]], [q[0], q[1]]);
            if q[2] == 0.0 {
                assert_eq!(p[2], 0.0);
            }
        }
    }

    #[test]
    fn a_flat_ceiling_is_left_for_the_report() {
        // A T: the slab's underside is a real overhang, not a wobble; nothing moves.
        let mut mesh = prism(&[
            [3.0, 0.0],
            [5.0, 0.0],
            [5.0, 6.0],
            [8.0, 6.0],
            [8.0, 8.0],
            [0.0, 8.0],
            [0.0, 6.0],
            [3.0, 6.0],
        ]);
        let before = mesh.clone();
        let report = steepen_overhangs(&mut mesh, [0.0, 0.0, 1.0], 45.0, 1.0, 1e-9);
        assert_eq!(report.vertices_moved, 0);
        assert_eq!(mesh, before);
    }

    #[test]
    fn moves_are_limited_and_along_the_build_direction() {
        // Built along −x, a 30° chamfer needs more than the allowed 0.1 mm: moves stop there.
        let mut mesh = prism(&[
            [0.0, 0.0],
            [10.0, 0.0],
            [10.0, 2.0],
            [10.0 - 6.0 * 30f64.to_radians().tan(), 8.0],
            [0.0, 8.0],
        ]);
        let before = mesh.clone();
        let report = steepen_overhangs(&mut mesh, [-1.0, 0.0, 0.0], 45.0, 0.1, 1e-9);
        assert!(report.vertices_moved > 0);
        assert!((report.largest_shift_mm - 0.1).abs() < 1e-12);
        for (p, q) in mesh.vertices.iter().zip(&before.vertices) {
            assert_eq!([p[1], p[2]], [q[1], q[2]]);
            assert!((p[0] - q[0]).abs() <= 0.1 + 1e-12);
        }
    }

    #[test]
    fn a_bevel_at_the_foot_goes_onto_the_plate() {
        // The surface of a part standing on the plate meets it through a bevel half an element
        // high (38.7°, an overhang over the plate): its upper edge goes down onto the plate and
        // the sides stand upright on a larger footprint. (The end caps fan out from the top
        // corner, so none of their triangles lies along the plate.)
        let mut mesh = prism(&[
            [0.0, 10.0],
            [0.0, 0.8],
            [1.0, 0.0],
            [9.0, 0.0],
            [10.0, 0.8],
            [10.0, 10.0],
        ]);
        let before = printability(&mesh, [0.0, 0.0, 1.0], 45.0).expect("closed mesh");
        assert!(before.overhang_percent > 1.0);
        let report = steepen_overhangs(&mut mesh, [0.0, 0.0, 1.0], 45.0, 1.0, 1e-9);
        let after = printability(&mesh, [0.0, 0.0, 1.0], 45.0).expect("closed mesh");
        assert_eq!(after.overhang_percent, 0.0);
        assert!((after.base_plate_area_mm2 - 100.0).abs() < 1e-9);
        assert!((report.largest_shift_mm - 0.8).abs() < 1e-12);
        assert!(check_mesh(&mesh).is_watertight());

        // Fanned from the first plate corner instead, an end cap has a triangle along the
        // plate that would lose its area: its corners stay, and so does the bevel there.
        let mut mesh = prism(&[
            [1.0, 0.0],
            [9.0, 0.0],
            [10.0, 0.8],
            [10.0, 10.0],
            [0.0, 10.0],
            [0.0, 0.8],
        ]);
        steepen_overhangs(&mut mesh, [0.0, 0.0, 1.0], 45.0, 1.0, 1e-9);
        let report = check_mesh(&mesh);
        assert!(report.is_watertight(), "{report:?}");
    }
}
