//! Mesh simplification to a triangle budget that keeps the part printable.
//!
//! Iso-surfaces of fine voxel fields have millions of triangles, most of them
//! on flat or gently curved stretches where a few large triangles would do;
//! slicers and viewers are slow on such files and some services cap the
//! triangle count. [`simplify`] reduces the mesh to a budget while keeping
//! what [`check_mesh`](super::check_mesh) demands, a closed, consistently
//! oriented 2-manifold without degenerate triangles, and the topology (genus
//! and shells) of the input.
//!
//! The method is iterative edge collapse ordered by quadric error (Garland &
//! Heckbert, "Surface simplification using quadric error metrics", SIGGRAPH
//! 1997). Each vertex carries the sum of the squared-distance quadrics of the
//! planes of its triangles, weighted by area so that slivers count for
//! little; collapsing an edge merges its endpoints into one vertex placed
//! where the summed quadric is smallest, and the edge whose collapse costs
//! least is always taken next, from a binary heap whose stale entries are
//! recognised by per-vertex version stamps rather than removed.
//!
//! A collapse is only done when the result stays valid:
//!
//! * both endpoints are surrounded by a single closed fan, so defects already
//!   in the input are left alone rather than spread;
//! * the link condition holds (Dey, Edelsbrunner, Guha & Nekhayev,
//!   "Topology preserving edge contraction", Publ. Inst. Math. 66, 1999):
//!   the endpoints share exactly two neighbours, the far corners of the
//!   edge's two triangles, which on a closed 2-manifold is what keeps it one;
//! * the merged vertex keeps at least three neighbours, which rules out
//!   collapsing a tetrahedron, the smallest closed shell, into a flat pair;
//! * no remaining triangle around the merged vertex turns by more than 60°
//!   or shrinks below `1e-10 · diagonal²` in area, so the surface neither
//!   folds over nor gains slivers that a slicer would reject.
//!
//! Vertices within `margin_mm` of a face of the design domain are held on
//! that face, as in [`taubin_smooth`](super::smooth::taubin_smooth): a
//! collapse may only place the merged vertex at their coordinate across the
//! face, so flat faces where the part touches the domain, such as a clamped
//! base, stay flat and in place. No vertex is moved further out of the domain
//! than the edge it came from.
//!
//! Edges refused because of their neighbourhood are retried in further
//! passes until a pass collapses nothing, so the budget is missed only when
//! no valid collapse is left. Everything runs in a fixed order, with ties
//! broken by vertex index, so the result does not vary between runs.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::{TriangleMesh, cross, dot, sub};

/// What [`simplify`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimplifyInfo {
    /// Number of triangles of the input mesh.
    pub triangles_before: usize,
    /// Number of triangles of the result: at most the budget, unless no
    /// valid collapse was left before reaching it.
    pub triangles_after: usize,
}

pub static POPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
pub static REP: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
/// Cosine of the largest turn of a triangle's normal a collapse may cause
/// (60°): larger turns are where a surface starts to fold over itself.
const MIN_NORMAL_COSINE: f64 = 0.5;

/// Smallest triangle area a collapse may leave, relative to the squared
/// bounding-box diagonal: a hundred times the threshold at which
/// [`check_mesh`](super::check_mesh) counts a triangle as degenerate, so that
/// rounding never brings a kept triangle near it.
const MIN_AREA_FACTOR: f64 = 1e-10;

/// The quadric-optimal position is only used when the determinant of its
/// linear system exceeds this fraction of `‖A‖ᵐ` (`m` free coordinates);
/// below that the system is nearly singular, as on flat or creased
/// stretches, and the solution is dominated by rounding.
const MIN_RELATIVE_DETERMINANT: f64 = 1e-6;

/// Simplifies `mesh` in place to at most `max_triangles` triangles by
/// quadric-error edge collapse, keeping it closed, manifold, consistently
/// oriented and free of degenerate triangles, with the topology of every
/// shell unchanged; see the [module documentation](self).
///
/// Vertices within `margin_mm` of a face of the box `[0, domain_mm]` keep
/// their coordinate across that face. Collapses stop at the budget or when
/// none is valid any more, whichever comes first; the result then has more
/// triangles than asked for, as [`SimplifyInfo::triangles_after`] shows.
/// Each collapse removes two triangles, so an odd budget may end one below.
///
/// The vertex and triangle arrays are compacted afterwards (unused vertices
/// dropped, order otherwise kept). A mesh already within the budget, and a
/// mesh with a triangle that refers to a missing vertex, are left untouched.
/// Parts of the mesh that are not a closed manifold (holes, pinched
/// vertices, edges shared by more than two triangles) are left as they are
/// while the rest is simplified.
pub fn simplify(
    mesh: &mut TriangleMesh,
    max_triangles: usize,
    domain_mm: [f64; 3],
    margin_mm: f64,
) -> SimplifyInfo {
    let triangles_before = mesh.triangles.len();
    let vertex_count = mesh.vertices.len();
    let broken = mesh
        .triangles
        .iter()
        .flatten()
        .any(|&v| v as usize >= vertex_count);
    if triangles_before <= max_triangles || broken {
        return SimplifyInfo {
            triangles_before,
            triangles_after: triangles_before,
        };
    }
    let mut simplifier = Simplifier::new(std::mem::take(mesh), domain_mm, margin_mm);
    simplifier.run(max_triangles);
    *mesh = simplifier.into_mesh();
    SimplifyInfo {
        triangles_before,
        triangles_after: mesh.triangles.len(),
    }
}

/// A symmetric quadric `Q(x) = xᵀAx + 2bᵀx + c`, the weighted sum of squared
/// distances of `x` from a set of planes.
#[derive(Debug, Clone, Copy, Default)]
struct Quadric {
    /// `A` as `[xx, xy, xz, yy, yz, zz]`.
    a: [f64; 6],
    b: [f64; 3],
    c: f64,
}

impl Quadric {
    /// Area-weighted squared distance from the plane of the triangle
    /// `p0 p1 p2`; zero for a triangle without area.
    fn of_triangle(p0: [f64; 3], p1: [f64; 3], p2: [f64; 3]) -> Self {
        let n = cross(sub(p1, p0), sub(p2, p0));
        let length = dot(n, n).sqrt();
        if !(length > 0.0) {
            return Self::default();
        }
        // With the unnormalised normal n (|n| = 2 · area) the area-weighted
        // plane quadric area · (n̂ · x + d̂)² is (n · x + d)² / (2 |n|).
        let d = -dot(n, p0);
        let w = 0.5 / length;
        Self {
            a: [
                w * n[0] * n[0],
                w * n[0] * n[1],
                w * n[0] * n[2],
                w * n[1] * n[1],
                w * n[1] * n[2],
                w * n[2] * n[2],
            ],
            b: [w * n[0] * d, w * n[1] * d, w * n[2] * d],
            c: w * d * d,
        }
    }

    fn add(&mut self, other: &Self) {
        for (x, y) in self.a.iter_mut().zip(&other.a) {
            *x += y;
        }
        for (x, y) in self.b.iter_mut().zip(&other.b) {
            *x += y;
        }
        self.c += other.c;
    }

    fn sum(&self, other: &Self) -> Self {
        let mut sum = *self;
        sum.add(other);
        sum
    }

    fn matrix(&self) -> [[f64; 3]; 3] {
        let [xx, xy, xz, yy, yz, zz] = self.a;
        [[xx, xy, xz], [xy, yy, yz], [xz, yz, zz]]
    }

    fn eval(&self, x: [f64; 3]) -> f64 {
        let m = self.matrix();
        let ax = m.map(|row| dot(row, x));
        dot(x, ax) + 2.0 * dot(self.b, x) + self.c
    }
}

/// A possible collapse of the edge `u`–`w` (`u < w`) in the heap, valid
/// while the versions of both vertices still add up to `stamp`.
///
/// Packed into one integer, cost (as `f32` bits, which order like the
/// non-negative numbers they encode), `u`, `w`, `stamp` from the most
/// significant end, so that the heap, which is large and mostly out of
/// cache, compares in one step and holds four entries per cache line; the
/// order is reversed so that the cheapest collapse comes out first and equal
/// costs go by vertex index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Entry(Reverse<u128>);

impl Entry {
    fn new(cost: u32, u: u32, w: u32, stamp: u32) -> Self {
        let key = u128::from(cost) << 96
            | u128::from(u) << 64
            | u128::from(w) << 32
            | u128::from(stamp);
        Self(Reverse(key))
    }

    fn cost(self) -> u32 {
        (self.0.0 >> 96) as u32
    }

    fn u(self) -> u32 {
        (self.0.0 >> 64) as u32
    }

    fn w(self) -> u32 {
        (self.0.0 >> 32) as u32
    }

    fn stamp(self) -> u32 {
        self.0.0 as u32
    }
}

/// A quadric error as the heap orders it: rounded to `f32`, whose bit
/// patterns order like the non-negative values; rounding can leave a tiny
/// negative error where the true one is zero, which counts as zero.
fn cost_key(cost: f64) -> u32 {
    // Adding zero turns a negative zero into a positive one.
    ((cost as f32).max(0.0) + 0.0).to_bits()
}

/// Up to four merge positions for one edge with their quadric errors,
/// cheapest first.
#[derive(Debug, Clone, Copy, Default)]
struct Placements {
    items: [(f64, [f64; 3]); 4],
    len: usize,
}

impl Placements {
    /// Inserts keeping the order by cost; earlier insertions win ties.
    fn insert(&mut self, cost: f64, p: [f64; 3]) {
        let mut i = self.len;
        while i > 0 && self.items[i - 1].0 > cost {
            self.items[i] = self.items[i - 1];
            i -= 1;
        }
        self.items[i] = (cost, p);
        self.len += 1;
    }

    fn as_slice(&self) -> &[(f64, [f64; 3])] {
        &self.items[..self.len]
    }
}

/// An edge that passed the topological checks: `gone` merges into `keep`,
/// removing the triangles `t1` (`keep → gone → c`) and `t2` (`gone → keep →
/// d`).
#[derive(Debug, Clone, Copy)]
struct Collapse {
    keep: u32,
    gone: u32,
    t1: u32,
    t2: u32,
    c: u32,
    d: u32,
}

/// The mesh being simplified, with the adjacency and state the collapses
/// need.
struct Simplifier {
    positions: Vec<[f64; 3]>,
    triangles: Vec<[u32; 3]>,
    triangle_alive: Vec<bool>,
    live_triangles: usize,
    /// Triangles around each vertex, in no particular order.
    incident: Vec<Vec<u32>>,
    quadrics: Vec<Quadric>,
    /// Bit `k` set: coordinate `k` is held on a domain face.
    held: Vec<u8>,
    /// Vertex surrounded by a single closed, consistently oriented fan of at
    /// least three triangles. Collapses keep this true, so it is computed
    /// once; vertices without it are never collapsed.
    manifold: Vec<bool>,
    alive: Vec<bool>,
    /// Bumped whenever a vertex moves or gains a quadric, which makes the
    /// heap entries of its edges stale.
    version: Vec<u32>,
    /// Scratch marks for the link condition: `mark[v] == stamp` flags `v`.
    mark: Vec<u32>,
    stamp: u32,
    /// Centre of the bounding box; quadrics work relative to it, which keeps
    /// their constant terms small and the errors accurate.
    origin: [f64; 3],
    /// `(2 · smallest allowed area)²`, compared with `|n|²` of a triangle.
    min_normal_sq: f64,
    domain: [f64; 3],
}

impl Simplifier {
    fn new(mesh: TriangleMesh, domain: [f64; 3], margin: f64) -> Self {
        let TriangleMesh {
            vertices: positions,
            triangles,
        } = mesh;
        let n = positions.len();

        let mut degree = vec![0usize; n];
        for &v in triangles.iter().flatten() {
            degree[v as usize] += 1;
        }
        let mut incident: Vec<Vec<u32>> = degree.iter().map(|&d| Vec::with_capacity(d)).collect();
        for (t, tri) in triangles.iter().enumerate() {
            for &v in tri {
                incident[v as usize].push(t as u32);
            }
        }

        let mut min = [f64::INFINITY; 3];
        let mut max = [f64::NEG_INFINITY; 3];
        for (p, _) in positions.iter().zip(&degree).filter(|(_, d)| **d > 0) {
            for k in 0..3 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        let origin = std::array::from_fn(|k| 0.5 * (min[k] + max[k]));
        let diagonal = sub(max, min);
        let min_area = MIN_AREA_FACTOR * dot(diagonal, diagonal);

        let mut quadrics = vec![Quadric::default(); n];
        for tri in &triangles {
            let [p0, p1, p2] = tri.map(|v| sub(positions[v as usize], origin));
            let q = Quadric::of_triangle(p0, p1, p2);
            for &v in tri {
                quadrics[v as usize].add(&q);
            }
        }

        let held = positions
            .iter()
            .map(|p| {
                (0..3)
                    .filter(|&k| !(p[k] > margin && p[k] < domain[k] - margin))
                    .fold(0u8, |bits, k| bits | 1 << k)
            })
            .collect();

        let live_triangles = triangles.len();
        let mut simplifier = Self {
            positions,
            triangle_alive: vec![true; live_triangles],
            live_triangles,
            triangles,
            incident,
            quadrics,
            held,
            manifold: Vec::new(),
            alive: vec![true; n],
            version: vec![0; n],
            mark: vec![0; n],
            stamp: 0,
            origin,
            min_normal_sq: (2.0 * min_area).powi(2),
            domain,
        };
        simplifier.manifold = (0..n as u32).map(|v| simplifier.is_fan(v)).collect();
        simplifier
    }

    /// Whether the triangles around `v` form one closed fan of at least
    /// three triangles in which every edge at `v` is used once in each
    /// direction.
    fn is_fan(&self, v: u32) -> bool {
        let around = &self.incident[v as usize];
        if around.len() < 3 {
            return false;
        }
        // Each triangle as (next, previous) vertex, counter-clockwise
        // around v.
        let mut corners = Vec::with_capacity(around.len());
        for &t in around {
            let Some((next, prev)) = self.corner(t, v) else {
                return false;
            };
            if next == v || prev == v || next == prev {
                return false;
            }
            corners.push((next, prev));
        }
        for (i, a) in corners.iter().enumerate() {
            if corners[i + 1..].iter().any(|b| b.0 == a.0) {
                return false;
            }
        }
        // With distinct `next` vertices the walk is deterministic; one
        // closed fan means it returns to the start after visiting all.
        let mut at = 0;
        for step in 1..=corners.len() {
            let Some(following) = corners.iter().position(|c| c.0 == corners[at].1) else {
                return false;
            };
            if following == 0 {
                return step == corners.len();
            }
            at = following;
        }
        false
    }

    /// The vertices after and before `v` in triangle `t`, or `None` if `v`
    /// is not in it.
    fn corner(&self, t: u32, v: u32) -> Option<(u32, u32)> {
        let [a, b, c] = self.triangles[t as usize];
        if a == v {
            Some((b, c))
        } else if b == v {
            Some((c, a))
        } else if c == v {
            Some((a, b))
        } else {
            None
        }
    }

    fn run(&mut self, max_triangles: usize) {
        let mut pending: Vec<(u32, u32)> = Vec::with_capacity(3 * self.triangles.len() / 2);
        for tri in &self.triangles {
            for slot in 0..3 {
                let (x, y) = (tri[slot], tri[(slot + 1) % 3]);
                // Each edge of a closed mesh is used once in each direction.
                if x < y {
                    pending.push((x, y));
                }
            }
        }
        loop {
            pending.sort_unstable();
            pending.dedup();
            let entries: Vec<Entry> = pending.iter().filter_map(|&(u, w)| self.entry(u, w)).collect();
            pending.clear();
            let mut heap = BinaryHeap::from(entries);
            let hl = heap.len();
            let collapsed = self.drain(&mut heap, max_triangles, &mut pending);
            eprintln!("pass: heap {hl} collapsed {collapsed} refused {} live {}", pending.len(), self.live_triangles);
            if self.live_triangles <= max_triangles || collapsed == 0 {
                break;
            }
        }
    }

    /// Collapses edges from `heap`, cheapest first, until the budget is met
    /// or the heap is empty; edges refused because of their surroundings go
    /// to `refused` for the next pass. Returns the number of collapses.
    fn drain(
        &mut self,
        heap: &mut BinaryHeap<Entry>,
        max_triangles: usize,
        refused: &mut Vec<(u32, u32)>,
    ) -> usize {
        let mut collapsed = 0;
        while self.live_triangles > max_triangles {
            POPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(entry) = heap.pop() else {
                break;
            };
            let (u, w) = (entry.u(), entry.w());
            if !self.alive[u as usize] || !self.alive[w as usize] || entry.stamp() != self.stamp(u, w)
            {
                continue;
            }
            let Some(collapse) = self.topology(u, w) else {
                refused.push((u, w));
                continue;
            };
            let placements = self.placements(u, w);
            let chosen = placements
                .as_slice()
                .iter()
                .find(|(_, p)| self.keeps_shape(&collapse, *p));
            match chosen {
                None => refused.push((u, w)),
                // The cheapest position would fold the surface; a dearer one
                // works, so the edge waits its turn at that cost.
                Some(&(cost, _)) if cost_key(cost) > entry.cost() => {
                    heap.push(Entry::new(cost_key(cost), u, w, entry.stamp()));
                }
                Some(&(_, p)) => {
                    self.collapse(&collapse, p);
                    collapsed += 1;
                    self.push_edges(collapse.keep, heap);
                }
            }
        }
        collapsed
    }

    /// The heap entry of edge `u`–`w` at its cheapest admissible position,
    /// or `None` if it can never be collapsed.
    fn entry(&self, u: u32, w: u32) -> Option<Entry> {
        let (u, w) = (u.min(w), u.max(w));
        if !(self.alive[u as usize]
            && self.alive[w as usize]
            && self.manifold[u as usize]
            && self.manifold[w as usize])
        {
            return None;
        }
        let &(cost, _) = self.placements(u, w).as_slice().first()?;
        Some(Entry::new(cost_key(cost), u, w, self.stamp(u, w)))
    }

    /// The sum of the versions of `u` and `w`, which changes whenever either
    /// does, since versions only grow.
    fn stamp(&self, u: u32, w: u32) -> u32 {
        self.version[u as usize].wrapping_add(self.version[w as usize])
    }

    /// Pushes every edge at `v` with its current cost.
    fn push_edges(&self, v: u32, heap: &mut BinaryHeap<Entry>) {
        for &t in &self.incident[v as usize] {
            // In a closed fan every neighbour follows v in exactly one
            // triangle.
            if let Some((next, _)) = self.corner(t, v)
                && let Some(entry) = self.entry(v, next)
            {
                heap.push(entry);
            }
        }
    }

    /// The admissible positions for merging `u` and `w`, cheapest first:
    /// the quadric optimum (when well defined and near the edge), the two
    /// endpoints and the midpoint, each with its coordinates on held axes
    /// set to the held value. Empty when the endpoints are held on the same
    /// axis at different coordinates, which no position satisfies.
    fn placements(&self, u: u32, w: u32) -> Placements {
        let mut out = Placements::default();
        let (pu, pw) = (self.positions[u as usize], self.positions[w as usize]);
        let (hu, hw) = (self.held[u as usize], self.held[w as usize]);
        let mut fixed = [None; 3];
        for (k, slot) in fixed.iter_mut().enumerate() {
            let bit = 1 << k;
            *slot = match (hu & bit != 0, hw & bit != 0) {
                (true, true) if pu[k] != pw[k] => return out,
                (true, _) => Some(pu[k]),
                (_, true) => Some(pw[k]),
                _ => None,
            };
        }
        let q = self.quadrics[u as usize].sum(&self.quadrics[w as usize]);
        let mid = std::array::from_fn(|k| 0.5 * (pu[k] + pw[k]));
        let edge = sub(pw, pu);
        let optimum = self.optimum(&q, fixed).filter(|p| {
            let off = sub(*p, mid);
            dot(off, off) <= dot(edge, edge)
        });
        for p in optimum.into_iter().chain([pu, pw, mid]) {
            let p: [f64; 3] = std::array::from_fn(|k| fixed[k].unwrap_or(p[k]));
            // Never further out of the domain than the edge already is.
            let inside = (0..3).all(|k| {
                fixed[k].is_some()
                    || (p[k] >= pu[k].min(pw[k]).min(0.0)
                        && p[k] <= pu[k].max(pw[k]).max(self.domain[k]))
            });
            // Rounding can leave a tiny negative error where the true one
            // is zero.
            let cost = q.eval(sub(p, self.origin));
            if inside && cost.is_finite() {
                out.insert(cost.max(0.0), p);
            }
        }
        out
    }

    /// The minimiser of `q` with the `fixed` coordinates held, or `None` if
    /// the reduced linear system is nearly singular.
    fn optimum(&self, q: &Quadric, fixed: [Option<f64>; 3]) -> Option<[f64; 3]> {
        let a = q.matrix();
        let held: [Option<f64>; 3] = std::array::from_fn(|k| fixed[k].map(|x| x - self.origin[k]));
        let free: Vec<usize> = (0..3).filter(|&k| held[k].is_none()).collect();
        let m = free.len();
        // ∂Q/∂x_i = 0 for the free coordinates: Σ_j A_ij x_j = -b_i, with
        // the held coordinates moved to the right-hand side.
        let mut system = [[0.0; 3]; 3];
        let mut rhs = [0.0; 3];
        for (r, &i) in free.iter().enumerate() {
            for (s, &j) in free.iter().enumerate() {
                system[r][s] = a[i][j];
            }
            rhs[r] = -q.b[i]
                - (0..3)
                    .filter_map(|j| held[j].map(|x| a[i][j] * x))
                    .sum::<f64>();
        }
        let norm = a.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
        let solution = solve(system, rhs, m, norm)?;
        let mut x = [0.0; 3];
        for k in 0..3 {
            x[k] = held[k].unwrap_or(0.0);
        }
        for (r, &k) in free.iter().enumerate() {
            x[k] = solution[r];
        }
        Some(std::array::from_fn(|k| x[k] + self.origin[k]))
    }

    /// The topological checks for collapsing `u`–`w` (see the module
    /// documentation), with the triangles the collapse removes.
    fn topology(&mut self, u: u32, w: u32) -> Option<Collapse> {
        let (ui, wi) = (u as usize, w as usize);
        if !(self.manifold[ui] && self.manifold[wi]) {
            return None;
        }
        // The merged vertex has deg(u) + deg(w) - 4 neighbours; a vertex
        // with fewer than three means the shell was a tetrahedron.
        if self.incident[ui].len() + self.incident[wi].len() < 7 {
            return None;
        }
        let (mut t1, mut t2) = (None, None);
        for &t in &self.incident[ui] {
            match self.corner(t, u) {
                Some((next, prev)) if next == w => t1 = Some((t, prev)),
                Some((next, prev)) if prev == w => t2 = Some((t, next)),
                _ => {}
            }
        }
        let ((t1, c), (t2, d)) = (t1?, t2?);
        if c == d {
            return None;
        }
        if self.stamp == u32::MAX {
            self.mark.fill(0);
            self.stamp = 0;
        }
        self.stamp += 1;
        for &t in &self.incident[ui] {
            if let Some((next, _)) = self.corner(t, u) {
                self.mark[next as usize] = self.stamp;
            }
        }
        let shared = self.incident[wi]
            .iter()
            .filter_map(|&t| self.corner(t, w))
            .filter(|&(next, _)| self.mark[next as usize] == self.stamp)
            .count();
        (shared == 2).then_some(Collapse {
            keep: u,
            gone: w,
            t1,
            t2,
            c,
            d,
        })
    }

    /// Whether moving both endpoints of `collapse` to `p` leaves every
    /// remaining triangle around them with enough area and its normal within
    /// 60° of where it was.
    fn keeps_shape(&self, collapse: &Collapse, p: [f64; 3]) -> bool {
        let Collapse {
            keep, gone, t1, t2, ..
        } = *collapse;
        [keep, gone]
            .iter()
            .flat_map(|&v| &self.incident[v as usize])
            .filter(|&&t| t != t1 && t != t2)
            .all(|&t| {
                let tri = self.triangles[t as usize];
                let old = tri.map(|v| self.positions[v as usize]);
                let new = tri.map(|v| {
                    if v == keep || v == gone {
                        p
                    } else {
                        self.positions[v as usize]
                    }
                });
                let n_old = cross(sub(old[1], old[0]), sub(old[2], old[0]));
                let n_new = cross(sub(new[1], new[0]), sub(new[2], new[0]));
                let new_sq = dot(n_new, n_new);
                let along = dot(n_old, n_new);
                // cos(turn) ≥ cos 60°, squared to avoid roots; written so
                // that NaN fails.
                new_sq > self.min_normal_sq
                    && along > 0.0
                    && along * along
                        >= MIN_NORMAL_COSINE * MIN_NORMAL_COSINE * dot(n_old, n_old) * new_sq
            })
    }

    /// Merges `collapse.gone` into `collapse.keep` at `p`.
    fn collapse(&mut self, collapse: &Collapse, p: [f64; 3]) {
        let Collapse {
            keep,
            gone,
            t1,
            t2,
            c,
            d,
        } = *collapse;
        let (k, g) = (keep as usize, gone as usize);
        for t in [t1, t2] {
            self.triangle_alive[t as usize] = false;
        }
        self.live_triangles -= 2;
        self.incident[k].retain(|&t| t != t1 && t != t2);
        let moved = std::mem::take(&mut self.incident[g]);
        for &t in &moved {
            if t == t1 || t == t2 {
                continue;
            }
            for v in &mut self.triangles[t as usize] {
                if *v == gone {
                    *v = keep;
                }
            }
            self.incident[k].push(t);
        }
        for (v, t) in [(c, t1), (d, t2)] {
            let around = &mut self.incident[v as usize];
            if let Some(i) = around.iter().position(|&x| x == t) {
                around.swap_remove(i);
            }
        }
        self.positions[k] = p;
        let q = self.quadrics[g];
        self.quadrics[k].add(&q);
        self.held[k] |= self.held[g];
        self.alive[g] = false;
        self.version[k] = self.version[k].wrapping_add(1);
    }

    /// The remaining triangles in their original order over the vertices
    /// they use, renumbered in their original order.
    fn into_mesh(self) -> TriangleMesh {
        let mut index = vec![u32::MAX; self.positions.len()];
        let mut vertices = Vec::new();
        for (v, p) in self.positions.iter().enumerate() {
            if self.alive[v] && !self.incident[v].is_empty() {
                index[v] = vertices.len() as u32;
                vertices.push(*p);
            }
        }
        let triangles = self
            .triangles
            .iter()
            .zip(&self.triangle_alive)
            .filter(|(_, alive)| **alive)
            .map(|(tri, _)| tri.map(|v| index[v as usize]))
            .collect();
        TriangleMesh {
            vertices,
            triangles,
        }
    }
}

/// Solves the leading `m × m` block of `a x = r` by Gaussian elimination
/// with partial pivoting, or returns `None` when `|det|` is at most
/// [`MIN_RELATIVE_DETERMINANT`]` · scaleᵐ`.
fn solve(mut a: [[f64; 3]; 3], mut r: [f64; 3], m: usize, scale: f64) -> Option<[f64; 3]> {
    let mut determinant = 1.0;
    for col in 0..m {
        let pivot = (col..m).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        a.swap(col, pivot);
        r.swap(col, pivot);
        determinant *= a[col][col];
        if a[col][col] == 0.0 {
            return None;
        }
        for row in col + 1..m {
            let f = a[row][col] / a[col][col];
            for k in col..m {
                a[row][k] -= f * a[col][k];
            }
            r[row] -= f * r[col];
        }
    }
    if !(determinant.abs() > MIN_RELATIVE_DETERMINANT * scale.powi(m as i32)) {
        return None;
    }
    let mut x = [0.0; 3];
    for row in (0..m).rev() {
        let known: f64 = (row + 1..m).map(|k| a[row][k] * x[k]).sum();
        x[row] = (r[row] - known) / a[row][row];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::{MeshReport, check_mesh, extract_isosurface};

    /// Deterministic uniform numbers in [0, 1) from Knuth's MMIX LCG.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    /// A field over `n` elements of size 1 whose value falls off linearly
    /// with `distance(centre of element)`, crossing 0.5 where it is zero, so
    /// the iso-surface is a smooth approximation of that zero set.
    fn signed_field(n: [usize; 3], distance: impl Fn([f64; 3]) -> f64) -> Vec<f64> {
        (0..n[0] * n[1] * n[2])
            .map(|e| {
                let p = [e % n[0], (e / n[0]) % n[1], e / (n[0] * n[1])].map(|i| i as f64 + 0.5);
                (0.5 - distance(p)).clamp(0.0, 1.0)
            })
            .collect()
    }

    fn sphere(n: usize, radius: f64) -> TriangleMesh {
        let c = 0.5 * n as f64;
        let field = signed_field([n; 3], |p| {
            let d = sub(p, [c; 3]);
            dot(d, d).sqrt() - radius
        });
        extract_isosurface(&field, [n; 3], 1.0, 0.5)
    }

    /// A torus around z with tube radius `minor` around the circle of radius
    /// `major`.
    fn torus(major: f64, minor: f64) -> TriangleMesh {
        let n = [32, 32, 14];
        let field = signed_field(n, |p| {
            let (x, y, z) = (p[0] - 16.0, p[1] - 16.0, p[2] - 7.0);
            let ring = (x * x + y * y).sqrt() - major;
            (ring * ring + z * z).sqrt() - minor
        });
        extract_isosurface(&field, n, 1.0, 0.5)
    }

    fn noise(n: usize, seed: u64) -> Vec<f64> {
        let mut lcg = Lcg(seed);
        (0..n * n * n).map(|_| lcg.next()).collect()
    }

    /// A domain so large that no vertex is held.
    const FREE: [f64; 3] = [1e6; 3];

    /// Asserts that `after` is printable and has the shells, Euler
    /// characteristic and genera of `before`.
    fn assert_same_topology(before: &MeshReport, after: &TriangleMesh) -> MeshReport {
        let report = check_mesh(after);
        assert!(report.is_watertight(), "{report:?}");
        assert_eq!(report.euler_characteristic, before.euler_characteristic);
        assert_eq!(report.shells.len(), before.shells.len());
        let genera = |r: &MeshReport| {
            let mut g: Vec<_> = r.shells.iter().map(|s| s.genus).collect();
            g.sort_unstable();
            g
        };
        assert_eq!(genera(&report), genera(before));
        assert!(
            after
                .triangles
                .iter()
                .flatten()
                .all(|&v| (v as usize) < after.vertices.len())
        );
        let mut used = vec![false; after.vertices.len()];
        for &v in after.triangles.iter().flatten() {
            used[v as usize] = true;
        }
        assert!(used.iter().all(|&u| u), "unused vertices left");
        report
    }

    #[test]
    fn sphere_at_a_quarter_keeps_shape_volume_and_topology() {
        let original = sphere(32, 11.0);
        let mut mesh = original.clone();
        let before = check_mesh(&mesh);
        assert!(before.is_watertight() && before.triangles > 10_000);
        let budget = before.triangles / 4;
        let info = simplify(&mut mesh, budget, FREE, 0.5);
        assert_eq!(info.triangles_before, before.triangles);
        assert_eq!(info.triangles_after, mesh.triangles.len());
        assert!(info.triangles_after <= budget, "{info:?}");
        let after = assert_same_topology(&before, &mesh);
        assert_eq!(after.euler_characteristic, 2);
        let change = (after.signed_volume_mm3 - before.signed_volume_mm3).abs()
            / before.signed_volume_mm3;
        assert!(change < 0.02, "volume changed by {change}");
        // No vertex strays further from the sphere than the input's did.
        let off_sphere = |m: &TriangleMesh| {
            m.vertices
                .iter()
                .map(|p| (dot(sub(*p, [16.0; 3]), sub(*p, [16.0; 3])).sqrt() - 11.0).abs())
                .fold(0.0, f64::max)
        };
        let (was, is) = (off_sphere(&original), off_sphere(&mesh));
        assert!(is <= was + 0.05, "{is} from the sphere, input {was}");
    }

    #[test]
    fn sphere_can_go_far_below_a_quarter() {
        let mut mesh = sphere(24, 8.0);
        let before = check_mesh(&mesh);
        let info = simplify(&mut mesh, 200, FREE, 0.5);
        assert!(info.triangles_after <= 200, "{info:?}");
        let after = assert_same_topology(&before, &mesh);
        let change = (after.signed_volume_mm3 - before.signed_volume_mm3).abs()
            / before.signed_volume_mm3;
        assert!(change < 0.05, "volume changed by {change}");
    }

    #[test]
    fn torus_keeps_its_handle() {
        let mut mesh = torus(9.0, 3.5);
        let before = check_mesh(&mesh);
        assert_eq!(before.shells.len(), 1);
        assert_eq!(before.shells[0].genus, Some(1));
        let budget = before.triangles / 10;
        let info = simplify(&mut mesh, budget, FREE, 0.5);
        assert!(info.triangles_after <= budget, "{info:?}");
        let after = assert_same_topology(&before, &mesh);
        assert_eq!(after.euler_characteristic, 0);
        assert_eq!(after.shells[0].genus, Some(1));
        let change = (after.signed_volume_mm3 - before.signed_volume_mm3).abs()
            / before.signed_volume_mm3;
        assert!(change < 0.03, "volume changed by {change}");
    }

    /// The coordinates of the six domain faces (low x, high x, low y, ...)
    /// as the iso-surface computed them, infinite for a face the part does
    /// not touch, asserting that every vertex of `mesh` within `margin` of a
    /// face lies exactly on it.
    fn face_coordinates(mesh: &TriangleMesh, domain: [f64; 3], margin: f64) -> [f64; 6] {
        let faces: [f64; 6] = std::array::from_fn(|f| {
            let (k, high) = (f / 2, f % 2 == 1);
            let near = mesh.vertices.iter().map(|p| p[k]).filter(|&x| {
                if high {
                    x >= domain[k] - margin
                } else {
                    x <= margin
                }
            });
            if high {
                near.fold(f64::NEG_INFINITY, f64::max)
            } else {
                near.fold(f64::INFINITY, f64::min)
            }
        });
        for p in &mesh.vertices {
            for k in 0..3 {
                if p[k] <= margin {
                    assert_eq!(p[k], faces[2 * k], "{p:?}");
                }
                if p[k] >= domain[k] - margin {
                    assert_eq!(p[k], faces[2 * k + 1], "{p:?}");
                }
            }
        }
        faces
    }

    /// Area of the triangles of `mesh` lying in each face.
    fn face_areas(mesh: &TriangleMesh, faces: [f64; 6]) -> [f64; 6] {
        let mut area = [0.0; 6];
        for tri in &mesh.triangles {
            let corners = tri.map(|v| mesh.vertices[v as usize]);
            let n = cross(sub(corners[1], corners[0]), sub(corners[2], corners[0]));
            for (f, area) in area.iter_mut().enumerate() {
                if corners.iter().all(|p| p[f / 2] == faces[f]) {
                    *area += 0.5 * dot(n, n).sqrt();
                }
            }
        }
        area
    }

    /// Simplifies `original` as [`simplify`] does and checks, through the
    /// simplifier's own bookkeeping, that every vertex held on a face at the
    /// start is still there: a surviving vertex keeps its coordinate across
    /// each face it was on, and a vertex merged into a survivor passed its
    /// faces on, whose coordinates the survivor then has.
    fn simplify_on_faces(
        original: &TriangleMesh,
        budget: usize,
        domain: [f64; 3],
        margin: f64,
    ) -> TriangleMesh {
        let faces = face_coordinates(original, domain, margin);
        let mut simplifier = Simplifier::new(original.clone(), domain, margin);
        simplifier.run(budget);
        let survivors: Vec<usize> = (0..original.vertices.len())
            .filter(|&v| simplifier.alive[v] && !simplifier.incident[v].is_empty())
            .collect();
        let held: Vec<u8> = survivors.iter().map(|&v| simplifier.held[v]).collect();
        let mesh = simplifier.into_mesh();
        assert_eq!(survivors.len(), mesh.vertices.len());
        for ((&v, p), held) in survivors.iter().zip(&mesh.vertices).zip(held) {
            let was = original.vertices[v];
            for k in 0..3 {
                let on_face = was[k] <= margin || was[k] >= domain[k] - margin;
                if on_face {
                    assert!((p[k] - was[k]).abs() <= 1e-12, "{was:?} moved to {p:?}");
                }
                if held & 1 << k != 0 {
                    assert!(
                        p[k] == faces[2 * k] || p[k] == faces[2 * k + 1],
                        "{p:?} is off the face it holds on axis {k}"
                    );
                }
            }
        }
        let mut public = original.clone();
        simplify(&mut public, budget, domain, margin);
        assert_eq!(public, mesh);
        mesh
    }

    #[test]
    fn vertices_on_domain_faces_stay_on_them() {
        // A block in the low corner of the domain, touching the faces x = 0,
        // y = 0 and z = 0, with a dome on top so that there is something to
        // simplify besides flat faces.
        let n = [16, 12, 10];
        let h = 1.5;
        let domain = n.map(|n| n as f64 * h);
        let margin = 0.25 * h;
        let field = signed_field(n, |p| {
            let block = (p[0] - 11.0).max(p[1] - 9.0).max(p[2] - 5.0);
            let dome = sub(p, [5.5, 4.5, 5.0]);
            block.min(dot(dome, dome).sqrt() - 3.5)
        });
        let original = extract_isosurface(&field, n, h, 0.5);
        let before = check_mesh(&original);
        let faces = face_coordinates(&original, domain, margin);
        let areas_before = face_areas(&original, faces);
        assert!(areas_before[0] > 0.0 && areas_before[2] > 0.0 && areas_before[4] > 0.0);

        let budget = before.triangles / 5;
        let mesh = simplify_on_faces(&original, budget, domain, margin);
        assert!(mesh.triangles.len() <= budget, "{}", mesh.triangles.len());
        let after = assert_same_topology(&before, &mesh);
        for (a, b) in face_areas(&mesh, faces).iter().zip(&areas_before) {
            assert!((a - b).abs() <= 0.02 * b, "face area {a} was {b}");
        }
        let change = (after.signed_volume_mm3 - before.signed_volume_mm3).abs()
            / before.signed_volume_mm3;
        assert!(change < 0.02, "volume changed by {change}");
    }

    #[test]
    fn block_filling_the_domain_keeps_all_six_faces() {
        let n = [12, 9, 7];
        let h = 0.75;
        let domain = n.map(|n| n as f64 * h);
        let margin = 0.25 * h;
        let original = extract_isosurface(&vec![1.0; 12 * 9 * 7], n, h, 0.5);
        let before = check_mesh(&original);
        let faces = face_coordinates(&original, domain, margin);
        let areas_before = face_areas(&original, faces);
        let mesh = simplify_on_faces(&original, 100, domain, margin);
        assert!(mesh.triangles.len() <= 100, "{}", mesh.triangles.len());
        let after = assert_same_topology(&before, &mesh);
        assert_eq!(after.bounding_box_mm, before.bounding_box_mm);
        for (a, b) in face_areas(&mesh, faces).iter().zip(&areas_before) {
            assert!((a - b).abs() <= 1e-9 * b, "face area {a} was {b}");
        }
        let change = (after.signed_volume_mm3 - before.signed_volume_mm3).abs()
            / before.signed_volume_mm3;
        assert!(change < 0.01, "volume changed by {change}");
    }

    #[test]
    fn noisy_fields_stay_printable_at_thirty_percent() {
        for (seed, iso) in [(1, 0.3), (2, 0.5), (3, 0.5), (4, 0.7)] {
            let n = 16;
            let original = extract_isosurface(&noise(n, seed), [n; 3], 1.0, iso);
            let before = check_mesh(&original);
            assert!(before.is_watertight());
            let mut mesh = original.clone();
            let budget = 3 * before.triangles / 10;
            let info = simplify(&mut mesh, budget, [n as f64; 3], 0.5);
            assert_same_topology(&before, &mesh);
            // Tiny shells cannot shrink below a tetrahedron, so the budget
            // may be out of reach, but most of the way there must be done.
            assert!(
                info.triangles_after < before.triangles / 2,
                "seed {seed}, iso {iso}: {info:?}"
            );
        }
    }

    #[test]
    fn runs_are_identical() {
        let original = extract_isosurface(&noise(14, 7), [14; 3], 1.0, 0.45);
        let run = || {
            let mut mesh = original.clone();
            let info = simplify(&mut mesh, original.triangles.len() / 4, [14.0; 3], 0.5);
            (mesh, info)
        };
        let (first, info) = run();
        assert!(info.triangles_after < info.triangles_before);
        let (second, _) = run();
        assert_eq!(first.triangles, second.triangles);
        let bits = |m: &TriangleMesh| -> Vec<u64> {
            m.vertices.iter().flatten().map(|x| x.to_bits()).collect()
        };
        assert_eq!(bits(&first), bits(&second));
    }

    #[test]
    fn mesh_within_budget_is_unchanged() {
        let original = sphere(10, 3.0);
        let mut mesh = original.clone();
        let n = mesh.triangles.len();
        let info = simplify(&mut mesh, n, FREE, 0.5);
        assert_eq!(
            info,
            SimplifyInfo {
                triangles_before: n,
                triangles_after: n
            }
        );
        assert_eq!(mesh, original);
        simplify(&mut mesh, 10 * n, FREE, 0.5);
        assert_eq!(mesh, original);
    }

    #[test]
    fn empty_mesh_is_fine() {
        let mut mesh = TriangleMesh::default();
        let info = simplify(&mut mesh, 0, FREE, 0.5);
        assert_eq!(info.triangles_before, 0);
        assert_eq!(info.triangles_after, 0);
        assert_eq!(mesh, TriangleMesh::default());
    }

    /// A tetrahedron with outward faces.
    fn tetrahedron() -> TriangleMesh {
        TriangleMesh {
            vertices: vec![
                [0.0, 0.0, 0.0],
                [3.0, 0.0, 0.0],
                [0.0, 3.0, 0.0],
                [0.0, 0.0, 3.0],
            ],
            triangles: vec![[0, 2, 1], [0, 1, 3], [0, 3, 2], [1, 2, 3]],
        }
    }

    #[test]
    fn tetrahedron_is_as_small_as_a_shell_gets() {
        let original = tetrahedron();
        let mut mesh = original.clone();
        let info = simplify(&mut mesh, 0, FREE, 0.5);
        assert_eq!(info.triangles_after, 4);
        assert_eq!(mesh, original);
    }

    #[test]
    fn unreachable_budget_stops_at_the_smallest_valid_mesh() {
        // Single voxels mesh as 24-triangle shells that end as tetrahedra.
        let n = 7;
        let mut density = vec![0.0; n * n * n];
        for e in [1, 3, 5].map(|i| i * (1 + n + n * n)) {
            density[e] = 1.0;
        }
        let mut mesh = extract_isosurface(&density, [n; 3], 1.0, 0.5);
        let before = check_mesh(&mesh);
        assert_eq!(before.shells.len(), 3);
        let info = simplify(&mut mesh, 0, FREE, 0.5);
        assert_eq!(info.triangles_before, 72);
        assert_eq!(info.triangles_after, 12);
        assert_same_topology(&before, &mesh);
    }

    #[test]
    fn defects_are_left_alone_and_bad_indices_refused() {
        // A pinched pair of spheres: the pinch vertex is not a closed fan, so
        // nothing at it collapses, and the rest still simplifies.
        let single = sphere(12, 4.0);
        let count = single.vertices.len() as u32;
        let apex = (0..count)
            .max_by(|&a, &b| single.vertices[a as usize][2].total_cmp(&single.vertices[b as usize][2]))
            .unwrap();
        let top = single.vertices[apex as usize];
        let mut mesh = single.clone();
        // The mirror image through the top vertex, reoriented, sharing it.
        mesh.vertices
            .extend(single.vertices.iter().map(|p| [p[0], p[1], 2.0 * top[2] - p[2]]));
        mesh.triangles.extend(single.triangles.iter().map(|t| {
            let [a, b, c] = t.map(|v| if v == apex { apex } else { v + count });
            [a, c, b]
        }));
        let before = check_mesh(&mesh);
        assert_eq!(before.non_manifold_vertices, 1);
        let info = simplify(&mut mesh, before.triangles / 4, FREE, 0.5);
        assert!(info.triangles_after <= before.triangles / 4, "{info:?}");
        let after = check_mesh(&mesh);
        assert_eq!(after.non_manifold_vertices, 1);
        assert_eq!(after.boundary_edges, 0);
        assert_eq!(after.non_manifold_edges, 0);
        assert_eq!(after.inconsistent_edges, 0);
        assert_eq!(after.degenerate_triangles, 0);
        assert_eq!(after.euler_characteristic, before.euler_characteristic);

        let mut broken = tetrahedron();
        broken.triangles.push([0, 1, 9]);
        let copy = broken.clone();
        let info = simplify(&mut broken, 1, FREE, 0.5);
        assert_eq!(info.triangles_after, 5);
        assert_eq!(broken, copy);
    }
}
