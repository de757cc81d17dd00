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
//! least is always taken next. A tiny term in the fourth power of the edge
//! length decides between equal costs, as on exactly flat faces where all
//! are zero, in favour of the shorter edge, which thins a flat region evenly
//! instead of letting one vertex swallow it; remaining ties go by vertex
//! index.
//!
//! The priority queue is a binary heap with lazy invalidation. Each edge's
//! cost is cached on its two half-edges and recomputed only when an endpoint
//! changes. The heap holds one entry per vertex, keyed by the cheapest edge
//! at that vertex when it was queued; the vertex remembers that key as its
//! version stamp, so an entry is stale once its vertex is gone or has been
//! queued again under another key. A popped key that has become too low is
//! queued again at the right one, and an edge whose cost fell is covered by
//! the entry of its other endpoint, which was requeued when it changed. That
//! keeps the heap at about one entry per vertex and a few heap operations
//! per collapse; a heap of all edges, refilled with every edge around each
//! merged vertex, spent most of its time on stale entries and was several
//! times slower.
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
//!   or shrinks below `1e-10 · diagonal²` in area, and no two of them that
//!   share an edge fold onto each other by more than about 154°, so the
//!   surface neither folds over nor gains slivers or zero-thickness fins
//!   that a slicer would choke on.
//!
//! The merged vertex goes to the quadric optimum when its linear system is
//! well conditioned and the point lies near the edge, otherwise to the best
//! of the two endpoints and the midpoint; if the cheapest position fails the
//! checks, the next one is tried at its own cost.
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
//! no valid collapse is left. Everything runs in a fixed order, so the result
//! does not vary between runs or with the number of threads.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rayon::prelude::*;

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

/// Cosine of the largest turn of a triangle's normal a collapse may cause
/// (60°): larger turns are where a surface starts to fold over itself.
const MIN_NORMAL_COSINE: f64 = 0.5;

/// Largest cosine of the angle by which two triangles around a merged
/// vertex that share an edge may fold onto each other (about 154°, a fold
/// to a thin wedge; 180° would be a fin of zero thickness).
const MAX_FOLD_COSINE: f64 = 0.9;

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

/// Weight of `|e|⁴`, `|e|` the edge length, added to each edge's error so
/// that equal errors, as on exactly flat faces, go to the shorter edge. It
/// scales like the area-weighted error, and at this weight costs about as
/// much as moving a vertex `2e-5 · |e|` off the planes of its triangles, far
/// below any error that shapes the surface.
const LENGTH_WEIGHT: f64 = 1e-9;

/// Room each vertex's list of triangles has beyond its initial degree.
const FAN_SLACK: u32 = 4;

/// Edge key of an edge that can never be collapsed; also marks a vertex
/// without an entry in the heap.
const NEVER: u32 = u32::MAX;

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
/// vertices, edges shared by more than two triangles, triangles with a
/// repeated vertex) are left as they are while the rest is simplified.
///
/// # Panics
///
/// If the mesh has `u32::MAX` triangles or more, which the simplifier
/// numbers with `u32`.
pub fn simplify(
    mesh: &mut TriangleMesh,
    max_triangles: usize,
    domain_mm: [f64; 3],
    margin_mm: f64,
) -> SimplifyInfo {
    simplify_except(mesh, max_triangles, domain_mm, margin_mm, &[])
}

/// [`simplify`], but no edge at a vertex `v` with `frozen[v]` collapses, so triangles whose
/// corners are all frozen stay as they are (`frozen` may be empty: none is).
///
/// # Panics
///
/// As [`simplify`], and if `frozen` is neither empty nor one flag per vertex.
pub fn simplify_except(
    mesh: &mut TriangleMesh,
    max_triangles: usize,
    domain_mm: [f64; 3],
    margin_mm: f64,
    frozen: &[bool],
) -> SimplifyInfo {
    assert!(
        frozen.is_empty() || frozen.len() == mesh.vertices.len(),
        "one frozen flag per vertex"
    );
    let triangles_before = mesh.triangles.len();
    assert!(
        triangles_before < u32::MAX as usize,
        "{triangles_before} triangles are more than the simplifier supports"
    );
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
    let mut simplifier = Simplifier::new(std::mem::take(mesh), domain_mm, margin_mm, frozen);
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
        if length == 0.0 || !length.is_finite() {
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
        let ax = self.matrix().map(|row| dot(row, x));
        dot(x, ax) + 2.0 * dot(self.b, x) + self.c
    }
}

/// The order in which edges are collapsed: the quadric error plus the
/// length term ([`LENGTH_WEIGHT`]) as `f32` bits, which order like the
/// non-negative values they encode. Rounding can leave a tiny negative
/// error where the true one is zero, which counts as zero.
fn edge_key(cost: f64, length_sq: f64) -> u32 {
    let cost = cost.max(0.0) + LENGTH_WEIGHT * length_sq * length_sq;
    // Adding zero turns a negative zero into a positive one.
    ((cost as f32) + 0.0).to_bits()
}

/// A heap entry: vertex `v` queued under edge key `key`, ordered so that the
/// smallest key, then the smallest vertex index, comes out first. Packed
/// into one integer so that the heap, large and mostly out of cache, holds
/// eight entries per cache line and compares in one step.
fn heap_entry(key: u32, v: u32) -> Reverse<u64> {
    Reverse(u64::from(key) << 32 | u64::from(v))
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

/// What became of an attempted collapse.
enum Attempt {
    /// Done; the merged vertex is `keep`.
    Collapsed(u32),
    /// The edge's neighbourhood forbids it for now.
    Refused,
    /// Only a dearer position than the cached cost passes the checks; the
    /// edge's key was raised to it.
    Raised,
}

/// What a collapse reads about a vertex, kept in one place so that it costs
/// one or two cache misses rather than one per array: the simplification
/// visits the mesh in order of cost, all over the place, so nearly every
/// access misses the cache. Laid out as two cache lines, the first with
/// everything but most of the quadric, which only the costs need.
#[derive(Debug, Clone)]
#[repr(C, align(64))]
struct Vertex {
    position: [f64; 3],
    /// The triangles around the vertex, in no particular order, are
    /// `fans[fan_start..][..fan_len]`, with room for `fan_capacity`.
    fan_start: usize,
    fan_len: u32,
    fan_capacity: u32,
    /// The key the vertex is queued under in the heap, or [`NEVER`].
    queued: u32,
    /// Bit `k` set: coordinate `k` is held on a domain face.
    held: u8,
    /// [`ALIVE`], [`MANIFOLD`], [`REFUSED`] and [`MARKED`].
    flags: u8,
    quadric: Quadric,
}

// A third cache line per vertex would cost a miss on most accesses.
const _: () = assert!(size_of::<Vertex>() == 128);

/// Flag of a vertex not merged into another.
const ALIVE: u8 = 1;
/// Flag of a vertex surrounded by a single closed, consistently oriented fan
/// of at least three triangles, and not frozen by the caller. Collapses keep
/// this true, so it is computed once; vertices without it are never
/// collapsed.
const MANIFOLD: u8 = 2;
/// Flag of a vertex with edges refused in this pass, listed in
/// [`Simplifier::refused`].
const REFUSED: u8 = 4;
/// Scratch flag for the link condition.
const MARKED: u8 = 8;

impl Vertex {
    fn is(&self, flag: u8) -> bool {
        self.flags & flag != 0
    }

    fn set(&mut self, flag: u8, on: bool) {
        if on {
            self.flags |= flag;
        } else {
            self.flags &= !flag;
        }
    }
}

/// A triangle with the key ([`edge_key`]) of the edge from each corner to
/// the next; both half-edges of an edge hold its key.
#[derive(Debug, Clone, Copy)]
struct Triangle {
    corners: [u32; 3],
    keys: [u32; 3],
}

/// The mesh being simplified, with the adjacency and state the collapses
/// need.
struct Simplifier {
    vertices: Vec<Vertex>,
    triangles: Vec<Triangle>,
    triangle_alive: Vec<bool>,
    live_triangles: usize,
    /// The triangles around each vertex ([`Vertex::fan_start`]), in one
    /// array rather than a vector per vertex, which would cost another
    /// cache miss per vertex; a fan that outgrows its room moves to the end.
    fans: Vec<u32>,
    /// Neighbours each vertex failed to collapse with in this pass.
    refused: Vec<Vec<u32>>,
    /// Reused buffer of neighbours and edge keys.
    scratch: Vec<(u32, u32)>,
    /// Centre of the bounding box; quadrics work relative to it, which keeps
    /// their constant terms small and the errors accurate.
    origin: [f64; 3],
    /// `(2 · smallest allowed area)²`, compared with `|n|²` of a triangle.
    min_normal_sq: f64,
    domain: [f64; 3],
}

impl Simplifier {
    fn new(mesh: TriangleMesh, domain: [f64; 3], margin: f64, frozen: &[bool]) -> Self {
        let n = mesh.vertices.len();
        let mut degree = vec![0u32; n];
        for &v in mesh.triangles.iter().flatten() {
            degree[v as usize] += 1;
        }
        // Room for a few more triangles than each vertex has, which is
        // what a merged vertex usually gains.
        let capacity = |degree: u32| degree + FAN_SLACK;
        let mut fan_start = Vec::with_capacity(n);
        let mut total = 0;
        for &d in &degree {
            fan_start.push(total);
            total += capacity(d) as usize;
        }
        let mut fans = vec![0; total];
        let mut fill = fan_start.clone();
        for (t, tri) in mesh.triangles.iter().enumerate() {
            for &v in tri {
                fans[fill[v as usize]] = t as u32;
                fill[v as usize] += 1;
            }
        }

        let mut min = [f64::INFINITY; 3];
        let mut max = [f64::NEG_INFINITY; 3];
        for (p, _) in mesh.vertices.iter().zip(&degree).filter(|(_, d)| **d > 0) {
            for k in 0..3 {
                min[k] = min[k].min(p[k]);
                max[k] = max[k].max(p[k]);
            }
        }
        let origin = std::array::from_fn(|k| 0.5 * (min[k] + max[k]));
        let diagonal = sub(max, min);
        let min_area = MIN_AREA_FACTOR * dot(diagonal, diagonal);

        let mut vertices: Vec<Vertex> = mesh
            .vertices
            .iter()
            .zip(degree.iter().zip(fan_start))
            .map(|(&position, (&degree, fan_start))| Vertex {
                quadric: Quadric::default(),
                position,
                queued: NEVER,
                held: (0..3)
                    .filter(|&k| !(position[k] > margin && position[k] < domain[k] - margin))
                    .fold(0, |bits, k| bits | 1 << k),
                flags: ALIVE,
                fan_start,
                fan_len: degree,
                fan_capacity: capacity(degree),
            })
            .collect();
        for tri in &mesh.triangles {
            let [p0, p1, p2] = tri.map(|v| sub(mesh.vertices[v as usize], origin));
            let q = Quadric::of_triangle(p0, p1, p2);
            for &v in tri {
                vertices[v as usize].quadric.add(&q);
            }
        }

        let live_triangles = mesh.triangles.len();
        let mut simplifier = Self {
            vertices,
            triangles: mesh
                .triangles
                .iter()
                .map(|&corners| Triangle {
                    corners,
                    keys: [NEVER; 3],
                })
                .collect(),
            triangle_alive: vec![true; live_triangles],
            live_triangles,
            fans,
            refused: vec![Vec::new(); n],
            scratch: Vec::new(),
            origin,
            min_normal_sq: (2.0 * min_area).powi(2),
            domain,
        };
        // Each vertex and edge on its own, so the results are the same for
        // any number of threads.
        let this = &simplifier;
        let manifold: Vec<bool> = (0..n as u32)
            .into_par_iter()
            .map(|v| this.is_fan(v) && !frozen.get(v as usize).is_some_and(|&f| f))
            .collect();
        for (vertex, manifold) in simplifier.vertices.iter_mut().zip(manifold) {
            vertex.set(MANIFOLD, manifold);
        }
        // Each edge's key from its half-edge that runs up in index, then
        // copied to the twin, which runs down.
        let this = &simplifier;
        let upward: Vec<[u32; 3]> = this
            .triangles
            .par_iter()
            .map(|tri| {
                let c = tri.corners;
                std::array::from_fn(|i| match (c[i], c[(i + 1) % 3]) {
                    (u, w) if u < w => this.key_of(u, w),
                    _ => NEVER,
                })
            })
            .collect();
        let keys: Vec<[u32; 3]> = this
            .triangles
            .par_iter()
            .zip(&upward)
            .map(|(tri, up)| {
                let c = tri.corners;
                std::array::from_fn(|i| match (c[i], c[(i + 1) % 3]) {
                    (u, _) if !this.vertices[u as usize].is(MANIFOLD) => NEVER,
                    (u, w) if u > w => this
                        .fan(w)
                        .iter()
                        .find(|&&t| this.corner(t, w).0 == u)
                        .map_or(NEVER, |&t| upward[t as usize][this.slot(t, w)]),
                    _ => up[i],
                })
            })
            .collect();
        for (tri, keys) in simplifier.triangles.iter_mut().zip(keys) {
            tri.keys = keys;
        }
        simplifier
    }

    /// Whether the triangles around `v` form one closed fan of at least
    /// three triangles in which every edge at `v` is used once in each
    /// direction.
    fn is_fan(&self, v: u32) -> bool {
        let around = self.fan(v);
        if around.len() < 3 {
            return false;
        }
        // Each triangle as (next, previous) vertex, counter-clockwise
        // around v.
        let mut corners = Vec::with_capacity(around.len());
        for &t in around {
            let [a, b, c] = self.triangles[t as usize].corners;
            if a == b || b == c || c == a {
                return false;
            }
            corners.push(self.corner(t, v));
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

    /// The triangles around `v`.
    fn fan(&self, v: u32) -> &[u32] {
        let vertex = &self.vertices[v as usize];
        &self.fans[vertex.fan_start..][..vertex.fan_len as usize]
    }

    /// The first position of `v` in triangle `t`, which must contain it.
    fn slot(&self, t: u32, v: u32) -> usize {
        let c = self.triangles[t as usize].corners;
        debug_assert!(c.contains(&v));
        if c[0] == v {
            0
        } else if c[1] == v {
            1
        } else {
            2
        }
    }

    /// The vertices after and before `v` in triangle `t`, which must
    /// contain it.
    fn corner(&self, t: u32, v: u32) -> (u32, u32) {
        let c = self.triangles[t as usize].corners;
        let i = self.slot(t, v);
        (c[(i + 1) % 3], c[(i + 2) % 3])
    }

    /// The key of collapsing edge `u`–`w` at its cheapest admissible
    /// position, or [`NEVER`].
    fn key_of(&self, u: u32, w: u32) -> u32 {
        let (a, b) = (&self.vertices[u as usize], &self.vertices[w as usize]);
        if !(a.is(MANIFOLD) && b.is(MANIFOLD)) {
            return NEVER;
        }
        match self.placements(u, w, true).as_slice().first() {
            Some(&(cost, _)) => {
                let edge = sub(b.position, a.position);
                edge_key(cost, dot(edge, edge))
            }
            None => NEVER,
        }
    }

    /// The cheapest edge at `v` not refused in this pass, as its key and
    /// other endpoint, ties going to the smaller endpoint.
    fn best(&self, v: u32) -> Option<(u32, u32)> {
        let vertex = &self.vertices[v as usize];
        if !vertex.is(MANIFOLD) {
            return None;
        }
        let refused: &[u32] = if vertex.is(REFUSED) {
            &self.refused[v as usize]
        } else {
            &[]
        };
        let mut best: Option<(u32, u32)> = None;
        for &t in self.fan(v) {
            let tri = &self.triangles[t as usize];
            let i = self.slot(t, v);
            // In a closed fan every neighbour follows v in exactly one
            // triangle.
            let next = tri.corners[(i + 1) % 3];
            let key = tri.keys[i];
            if key != NEVER && best.is_none_or(|b| (key, next) < b) && !refused.contains(&next) {
                best = Some((key, next));
            }
        }
        best
    }

    /// Queues `v` under the key of its cheapest edge, unless it is queued
    /// under that key already.
    fn enqueue(&mut self, v: u32, heap: &mut BinaryHeap<Reverse<u64>>) {
        if !self.vertices[v as usize].is(ALIVE) {
            return;
        }
        if let Some((key, _)) = self.best(v)
            && self.vertices[v as usize].queued != key
        {
            self.vertices[v as usize].queued = key;
            heap.push(heap_entry(key, v));
        }
    }

    fn run(&mut self, max_triangles: usize) {
        loop {
            let mut entries = Vec::with_capacity(self.vertices.len());
            for v in 0..self.vertices.len() as u32 {
                self.refused[v as usize].clear();
                let vertex = &mut self.vertices[v as usize];
                vertex.set(REFUSED, false);
                vertex.queued = NEVER;
                if vertex.is(ALIVE)
                    && let Some((key, _)) = self.best(v)
                {
                    self.vertices[v as usize].queued = key;
                    entries.push(heap_entry(key, v));
                }
            }
            let mut heap = BinaryHeap::from(entries);
            let (collapsed, refused) = self.drain(&mut heap, max_triangles);
            if self.live_triangles <= max_triangles || collapsed == 0 || refused == 0 {
                break;
            }
        }
    }

    /// Collapses edges, cheapest first, until the budget is met or the heap
    /// is empty. Returns the numbers of collapses and of refused edges,
    /// which the next pass retries.
    fn drain(
        &mut self,
        heap: &mut BinaryHeap<Reverse<u64>>,
        max_triangles: usize,
    ) -> (usize, usize) {
        let (mut collapsed, mut refused) = (0, 0);
        while self.live_triangles > max_triangles {
            let Some(Reverse(entry)) = heap.pop() else {
                break;
            };
            let (key, v) = ((entry >> 32) as u32, entry as u32);
            let vertex = &mut self.vertices[v as usize];
            if !vertex.is(ALIVE) || vertex.queued != key {
                continue;
            }
            vertex.queued = NEVER;
            let Some((best, other)) = self.best(v) else {
                continue;
            };
            // The vertex's edges changed since it was queued; an edge that
            // became cheaper is covered by its other endpoint's entry.
            if best != key {
                self.enqueue(v, heap);
                continue;
            }
            match self.attempt(v, other, key) {
                Attempt::Collapsed(keep) => {
                    collapsed += 1;
                    self.enqueue(keep, heap);
                }
                Attempt::Refused => {
                    refused += 1;
                    for (a, b) in [(v, other), (other, v)] {
                        self.refused[a as usize].push(b);
                        self.vertices[a as usize].set(REFUSED, true);
                    }
                    self.enqueue(v, heap);
                }
                Attempt::Raised => self.enqueue(v, heap),
            }
        }
        (collapsed, refused)
    }

    /// Collapses edge `u`–`w`, cached under `key`, if the checks allow.
    fn attempt(&mut self, u: u32, w: u32, key: u32) -> Attempt {
        // Merging into the smaller index keeps the choice independent of
        // which endpoint's entry came up.
        let (keep, gone) = (u.min(w), u.max(w));
        let Some(collapse) = self.topology(keep, gone) else {
            return Attempt::Refused;
        };
        let placements = self.placements(keep, gone, false);
        let Some(&(cost, p)) = placements
            .as_slice()
            .iter()
            .find(|(_, p)| self.keeps_shape(&collapse, *p))
        else {
            return Attempt::Refused;
        };
        let edge = sub(
            self.vertices[gone as usize].position,
            self.vertices[keep as usize].position,
        );
        let raised = edge_key(cost, dot(edge, edge));
        if raised > key {
            // The cheapest position would fold the surface; a dearer one
            // works, so the edge waits its turn at that cost.
            let Collapse { t1, t2, .. } = collapse;
            let (slot1, slot2) = (self.slot(t1, keep), self.slot(t2, gone));
            self.triangles[t1 as usize].keys[slot1] = raised;
            self.triangles[t2 as usize].keys[slot2] = raised;
            return Attempt::Raised;
        }
        self.collapse(&collapse, p);
        self.update_keys(keep);
        Attempt::Collapsed(keep)
    }

    /// The admissible positions for merging `u` and `w`, cheapest first:
    /// the quadric optimum (when well defined and near the edge), the two
    /// endpoints and the midpoint, each with its coordinates on held axes
    /// set to the held value. Empty when the endpoints are held on the same
    /// axis at different coordinates, which no position satisfies. With
    /// `cheapest_only`, an admissible optimum is returned alone, since none
    /// of the others can cost less.
    fn placements(&self, u: u32, w: u32, cheapest_only: bool) -> Placements {
        let mut out = Placements::default();
        let (a, b) = (&self.vertices[u as usize], &self.vertices[w as usize]);
        let (pu, pw) = (a.position, b.position);
        let mut fixed = [None; 3];
        for (k, slot) in fixed.iter_mut().enumerate() {
            let bit = 1 << k;
            *slot = match (a.held & bit != 0, b.held & bit != 0) {
                (true, true) if pu[k] != pw[k] => return out,
                (true, _) => Some(pu[k]),
                (_, true) => Some(pw[k]),
                _ => None,
            };
        }
        let q = a.quadric.sum(&b.quadric);
        let mid = std::array::from_fn(|k| 0.5 * (pu[k] + pw[k]));
        let edge = sub(pw, pu);
        let optimum = self.optimum(&q, fixed).filter(|p| {
            let off = sub(*p, mid);
            dot(off, off) <= dot(edge, edge)
        });
        for (i, p) in optimum.into_iter().chain([pu, pw, mid]).enumerate() {
            let p: [f64; 3] = std::array::from_fn(|k| fixed[k].unwrap_or(p[k]));
            // Never further out of the domain than the edge already is.
            let inside = (0..3).all(|k| {
                fixed[k].is_some()
                    || (p[k] >= pu[k].min(pw[k]).min(0.0)
                        && p[k] <= pu[k].max(pw[k]).max(self.domain[k]))
            });
            let cost = q.eval(sub(p, self.origin));
            if inside && cost.is_finite() {
                out.insert(cost, p);
                if cheapest_only && i == 0 && optimum.is_some() {
                    break;
                }
            }
        }
        out
    }

    /// The minimiser of `q` with the `fixed` coordinates held, or `None` if
    /// the reduced linear system is nearly singular.
    fn optimum(&self, q: &Quadric, fixed: [Option<f64>; 3]) -> Option<[f64; 3]> {
        let a = q.matrix();
        let held: [Option<f64>; 3] = std::array::from_fn(|k| fixed[k].map(|x| x - self.origin[k]));
        let mut free = [0; 3];
        let mut m = 0;
        for k in (0..3).filter(|&k| held[k].is_none()) {
            free[m] = k;
            m += 1;
        }
        // ∂Q/∂x_i = 0 for the free coordinates: Σ_j A_ij x_j = -b_i, with
        // the held coordinates moved to the right-hand side.
        let mut system = [[0.0; 3]; 3];
        let mut rhs = [0.0; 3];
        for (r, &i) in free[..m].iter().enumerate() {
            for (s, &j) in free[..m].iter().enumerate() {
                system[r][s] = a[i][j];
            }
            rhs[r] = -q.b[i]
                - (0..3)
                    .filter_map(|j| held[j].map(|x| a[i][j] * x))
                    .sum::<f64>();
        }
        let norm = a.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
        let solution = solve(system, rhs, m, norm)?;
        let mut x = held.map(|h| h.unwrap_or(0.0));
        for (r, &k) in free[..m].iter().enumerate() {
            x[k] = solution[r];
        }
        Some(std::array::from_fn(|k| x[k] + self.origin[k]))
    }

    /// The topological checks for collapsing `u`–`w` (see the module
    /// documentation), with the triangles the collapse removes.
    fn topology(&mut self, u: u32, w: u32) -> Option<Collapse> {
        let (ui, wi) = (u as usize, w as usize);
        if !(self.vertices[ui].is(MANIFOLD) && self.vertices[wi].is(MANIFOLD)) {
            return None;
        }
        // The merged vertex has deg(u) + deg(w) - 4 neighbours; a vertex
        // with fewer than three means the shell was a tetrahedron.
        if self.fan(u).len() + self.fan(w).len() < 7 {
            return None;
        }
        let (mut t1, mut t2) = (None, None);
        for &t in self.fan(u) {
            match self.corner(t, u) {
                (next, prev) if next == w => t1 = Some((t, prev)),
                (next, prev) if prev == w => t2 = Some((t, next)),
                _ => {}
            }
        }
        let ((t1, c), (t2, d)) = (t1?, t2?);
        if c == d {
            return None;
        }
        let mark = |this: &mut Self, on: bool| {
            for i in 0..this.fan(u).len() {
                let (next, _) = this.corner(this.fan(u)[i], u);
                this.vertices[next as usize].set(MARKED, on);
            }
        };
        mark(self, true);
        let shared = self
            .fan(w)
            .iter()
            .filter(|&&t| self.vertices[self.corner(t, w).0 as usize].is(MARKED))
            .count();
        mark(self, false);
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
    /// 60° of where it was, and no two of them that share an edge folded
    /// onto each other.
    fn keeps_shape(&self, collapse: &Collapse, p: [f64; 3]) -> bool {
        let Collapse {
            keep, gone, t1, t2, ..
        } = *collapse;
        // Each triangle around the merged vertex as the vertices after and
        // before it and the new normal.
        let mut around: Vec<(u32, u32, [f64; 3])> = Vec::with_capacity(16);
        for &t in [keep, gone].iter().flat_map(|&v| self.fan(v)) {
            if t == t1 || t == t2 {
                continue;
            }
            let corners = self.triangles[t as usize].corners;
            let old = corners.map(|v| self.vertices[v as usize].position);
            let merged = |i: usize| corners[i] == keep || corners[i] == gone;
            let new: [[f64; 3]; 3] = std::array::from_fn(|i| if merged(i) { p } else { old[i] });
            let n_old = cross(sub(old[1], old[0]), sub(old[2], old[0]));
            let n_new = cross(sub(new[1], new[0]), sub(new[2], new[0]));
            let new_sq = dot(n_new, n_new);
            let along = dot(n_old, n_new);
            // cos(turn) ≥ cos 60°, squared to avoid roots; written so that
            // NaN fails.
            let turns_little = along > 0.0
                && along * along
                    >= MIN_NORMAL_COSINE * MIN_NORMAL_COSINE * dot(n_old, n_old) * new_sq;
            if !(new_sq > self.min_normal_sq && turns_little) {
                return false;
            }
            let i = (0..3).find(|&i| merged(i)).unwrap_or(0);
            around.push((corners[(i + 1) % 3], corners[(i + 2) % 3], n_new));
        }
        // The 60° limit alone lets a steep triangle fold flat onto its
        // neighbour over a few collapses, leaving a zero-thickness fin.
        around.iter().all(|&(next, _, n)| {
            around.iter().filter(|other| other.1 == next).all(|other| {
                let along = dot(n, other.2);
                along >= 0.0
                    || along * along
                        <= MAX_FOLD_COSINE * MAX_FOLD_COSINE * dot(n, n) * dot(other.2, other.2)
            })
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
        // The fan of keep without t1 and t2, then gone's, relabelled.
        let (mut start, kept) = (
            self.vertices[k].fan_start,
            self.vertices[k].fan_len as usize,
        );
        let mut len = 0;
        for i in 0..kept {
            let t = self.fans[start + i];
            if t != t1 && t != t2 {
                self.fans[start + len] = t;
                len += 1;
            }
        }
        let (moved_start, moved) = (
            self.vertices[g].fan_start,
            self.vertices[g].fan_len as usize,
        );
        // Gone's fan holds t1 and t2 once each.
        let needed = (len + moved - 2) as u32;
        if needed > self.vertices[k].fan_capacity {
            let capacity = needed.max(2 * self.vertices[k].fan_capacity);
            let moved_to = self.fans.len();
            self.fans.extend_from_within(start..start + len);
            self.fans.resize(moved_to + capacity as usize, 0);
            start = moved_to;
            self.vertices[k].fan_start = start;
            self.vertices[k].fan_capacity = capacity;
        }
        for i in 0..moved {
            let t = self.fans[moved_start + i];
            if t == t1 || t == t2 {
                continue;
            }
            for v in &mut self.triangles[t as usize].corners {
                if *v == gone {
                    *v = keep;
                }
            }
            self.fans[start + len] = t;
            len += 1;
        }
        self.vertices[k].fan_len = len as u32;
        self.vertices[g].fan_len = 0;
        for (v, t) in [(c, t1), (d, t2)] {
            let vertex = &mut self.vertices[v as usize];
            let around = &mut self.fans[vertex.fan_start..][..vertex.fan_len as usize];
            if let Some(i) = around.iter().position(|&x| x == t) {
                around[i] = around[around.len() - 1];
                vertex.fan_len -= 1;
            }
        }
        let gone_vertex = &mut self.vertices[g];
        gone_vertex.set(ALIVE, false);
        let (q, held) = (gone_vertex.quadric, gone_vertex.held);
        let merged = &mut self.vertices[k];
        merged.position = p;
        merged.quadric.add(&q);
        merged.held |= held;
        // The merged vertex's edges are new: give them another chance.
        merged.set(REFUSED, false);
        self.refused[k].clear();
        self.refused[g] = Vec::new();
    }

    /// Recomputes the keys of the edges at `v`, which has just moved.
    fn update_keys(&mut self, v: u32) {
        let mut keys = std::mem::take(&mut self.scratch);
        keys.clear();
        keys.extend(self.fan(v).iter().map(|&t| {
            let (next, _) = self.corner(t, v);
            (next, self.key_of(v, next))
        }));
        let key = |x: u32| keys.iter().find(|(n, _)| *n == x).map_or(NEVER, |k| k.1);
        for i in 0..self.fan(v).len() {
            let t = self.fan(v)[i];
            let slot = self.slot(t, v);
            let (next, prev) = self.corner(t, v);
            // Both half-edges at v: v → next and prev → v.
            let tri = &mut self.triangles[t as usize];
            tri.keys[slot] = key(next);
            tri.keys[(slot + 2) % 3] = key(prev);
        }
        self.scratch = keys;
    }

    /// The remaining triangles in their original order over the vertices
    /// they use, renumbered in their original order.
    fn into_mesh(self) -> TriangleMesh {
        let mut index = vec![u32::MAX; self.vertices.len()];
        let mut vertices = Vec::new();
        for (v, vertex) in self.vertices.iter().enumerate() {
            if vertex.is(ALIVE) && vertex.fan_len > 0 {
                index[v] = vertices.len() as u32;
                vertices.push(vertex.position);
            }
        }
        let triangles = self
            .triangles
            .iter()
            .zip(&self.triangle_alive)
            .filter(|(_, alive)| **alive)
            .map(|(tri, _)| tri.corners.map(|v| index[v as usize]))
            .collect();
        TriangleMesh {
            vertices,
            triangles,
        }
    }
}

/// Solves the leading `m × m` block of `a x = r` by Gaussian elimination
/// with partial pivoting, or returns `None` when `|det a|` is at most
/// `scaleᵐ` times [`MIN_RELATIVE_DETERMINANT`].
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
        let pivot_row = a[col];
        for row in col + 1..m {
            let f = a[row][col] / pivot_row[col];
            for (x, p) in a[row][col..m].iter_mut().zip(&pivot_row[col..m]) {
                *x -= f * p;
            }
            r[row] -= f * r[col];
        }
    }
    if determinant.is_nan() || determinant.abs() <= MIN_RELATIVE_DETERMINANT * scale.powi(m as i32)
    {
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

    use crate::mesh::test_support::Lcg;

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
        let change =
            (after.signed_volume_mm3 - before.signed_volume_mm3).abs() / before.signed_volume_mm3;
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
        assert_facing_out(&mesh, |p| sub(p, [16.0; 3]));
    }

    #[test]
    fn sphere_can_go_far_below_a_quarter() {
        let mut mesh = sphere(24, 8.0);
        let before = check_mesh(&mesh);
        let info = simplify(&mut mesh, 200, FREE, 0.5);
        assert!(info.triangles_after <= 200, "{info:?}");
        let after = assert_same_topology(&before, &mesh);
        let change =
            (after.signed_volume_mm3 - before.signed_volume_mm3).abs() / before.signed_volume_mm3;
        assert!(change < 0.05, "volume changed by {change}");
        assert_facing_out(&mesh, |p| sub(p, [12.0; 3]));
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
        let change =
            (after.signed_volume_mm3 - before.signed_volume_mm3).abs() / before.signed_volume_mm3;
        assert!(change < 0.03, "volume changed by {change}");
        // Outward from the nearest point of the tube's centre circle.
        assert_facing_out(&mesh, |p| {
            let (x, y) = (p[0] - 16.0, p[1] - 16.0);
            let r = (x * x + y * y).sqrt();
            [x - 9.0 * x / r, y - 9.0 * y / r, p[2] - 7.0]
        });
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

    /// Area of the triangles of `mesh` lying in each face, asserting that
    /// they all face out of the domain.
    fn face_areas(mesh: &TriangleMesh, faces: [f64; 6]) -> [f64; 6] {
        let mut area = [0.0; 6];
        for tri in &mesh.triangles {
            let corners = tri.map(|v| mesh.vertices[v as usize]);
            let n = cross(sub(corners[1], corners[0]), sub(corners[2], corners[0]));
            for (f, area) in area.iter_mut().enumerate() {
                if corners.iter().all(|p| p[f / 2] == faces[f]) {
                    let outward = if f % 2 == 1 { n[f / 2] } else { -n[f / 2] };
                    assert!(outward > 0.0, "{corners:?} faces into the domain");
                    *area += 0.5 * outward;
                }
            }
        }
        area
    }

    /// Asserts that every triangle of `mesh` faces away from the solid,
    /// whose outward direction at `p` is `outward(p)`: a collapse that
    /// folded the surface over would leave triangles facing in.
    fn assert_facing_out(mesh: &TriangleMesh, outward: impl Fn([f64; 3]) -> [f64; 3]) {
        for tri in &mesh.triangles {
            let [a, b, c] = tri.map(|v| mesh.vertices[v as usize]);
            let centre = std::array::from_fn(|k| (a[k] + b[k] + c[k]) / 3.0);
            let n = cross(sub(b, a), sub(c, a));
            assert!(dot(n, outward(centre)) > 0.0, "{:?} faces in", [a, b, c]);
        }
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
        let mut simplifier = Simplifier::new(original.clone(), domain, margin, &[]);
        simplifier.run(budget);
        let survivors: Vec<usize> = (0..original.vertices.len())
            .filter(|&v| simplifier.vertices[v].is(ALIVE) && simplifier.vertices[v].fan_len > 0)
            .collect();
        let held: Vec<u8> = survivors
            .iter()
            .map(|&v| simplifier.vertices[v].held)
            .collect();
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
        let change =
            (after.signed_volume_mm3 - before.signed_volume_mm3).abs() / before.signed_volume_mm3;
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
        let change =
            (after.signed_volume_mm3 - before.signed_volume_mm3).abs() / before.signed_volume_mm3;
        assert!(change < 0.01, "volume changed by {change}");
    }

    #[test]
    fn noisy_fields_stay_printable_at_thirty_percent() {
        let (mut folds_before, mut folds_after) = (0, 0);
        for (seed, iso) in [(1, 0.3), (2, 0.5), (3, 0.5), (4, 0.7)] {
            let n = 16;
            let original = extract_isosurface(&noise(n, seed), [n; 3], 1.0, iso);
            let before = check_mesh(&original);
            assert!(before.is_watertight());
            let mut mesh = original.clone();
            let budget = 3 * before.triangles / 10;
            let info = simplify(&mut mesh, budget, [n as f64; 3], 0.5);
            assert!(
                info.triangles_after <= budget,
                "seed {seed}, iso {iso}: {info:?}"
            );
            assert_same_topology(&before, &mesh);
            folds_before += folds(&original);
            folds_after += folds(&mesh);
        }
        // Noise has thin spikes whose sides nearly touch; simplification
        // must not add to them.
        assert!(
            folds_after <= folds_before,
            "{folds_after} folds, {folds_before} before"
        );
    }

    /// The number of edges whose two triangles fold onto each other by more
    /// than about 154° (normals at cosine below -0.9).
    fn folds(mesh: &TriangleMesh) -> usize {
        let normal = |t: usize| {
            let [a, b, c] = mesh.triangles[t].map(|v| mesh.vertices[v as usize]);
            let n = cross(sub(b, a), sub(c, a));
            n.map(|x| x / dot(n, n).sqrt())
        };
        let mut edges: Vec<(u32, u32, usize)> = Vec::new();
        for (t, tri) in mesh.triangles.iter().enumerate() {
            for i in 0..3 {
                let (a, b) = (tri[i], tri[(i + 1) % 3]);
                edges.push((a.min(b), a.max(b), t));
            }
        }
        edges.sort_unstable();
        edges
            .windows(2)
            .filter(|w| (w[0].0, w[0].1) == (w[1].0, w[1].1))
            .filter(|w| dot(normal(w[0].2), normal(w[1].2)) < -0.9)
            .count()
    }

    #[test]
    fn collapses_that_tilt_a_triangle_too_far_or_flatten_one_are_refused() {
        // An octahedron around (10, 10, 10), clear of the domain faces, with
        // vertices +x, -x, +y, -y, +z, -z.
        let at = |p: [f64; 3]| p.map(|x| x + 10.0);
        let mesh = TriangleMesh {
            vertices: (0..6)
                .map(|v| {
                    let mut p = [0.0; 3];
                    p[v / 2] = if v % 2 == 0 { 1.0 } else { -1.0 };
                    at(p)
                })
                .collect(),
            triangles: vec![
                [0, 2, 4],
                [0, 5, 2],
                [0, 4, 3],
                [0, 3, 5],
                [1, 4, 2],
                [1, 2, 5],
                [1, 3, 4],
                [1, 5, 3],
            ],
        };
        assert!(check_mesh(&mesh).is_watertight());
        let mut simplifier = Simplifier::new(mesh, FREE, 0.5, &[]);
        let collapse = simplifier.topology(0, 2).expect("a valid edge");
        // Merging +x and +y at their midpoint turns no triangle by more than
        // 30°; at (-0.2, -0.2, 0) one turns by 74° without any fold, and at
        // +z the triangle +x, +z, -y loses all area.
        assert!(simplifier.keeps_shape(&collapse, at([0.5, 0.5, 0.0])));
        assert!(!simplifier.keeps_shape(&collapse, at([-0.2, -0.2, 0.0])));
        assert!(!simplifier.keeps_shape(&collapse, at([0.0, 0.0, 1.0])));
    }

    #[test]
    fn runs_are_identical_for_any_thread_count() {
        let original = extract_isosurface(&noise(14, 7), [14; 3], 1.0, 0.45);
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut mesh = original.clone();
            let budget = original.triangles.len() / 4;
            let info = pool.install(|| simplify(&mut mesh, budget, [14.0; 3], 0.5));
            (mesh, info)
        };
        let (first, info) = run(2);
        assert!(info.triangles_after < info.triangles_before);
        let bits = |m: &TriangleMesh| -> Vec<u64> {
            m.vertices.iter().flatten().map(|x| x.to_bits()).collect()
        };
        for threads in [2, 1, 3] {
            let (again, _) = run(threads);
            assert_eq!(first.triangles, again.triangles);
            assert_eq!(bits(&first), bits(&again));
        }
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

    use crate::mesh::test_support::tetrahedron;

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
            .max_by(|&a, &b| {
                single.vertices[a as usize][2].total_cmp(&single.vertices[b as usize][2])
            })
            .unwrap();
        let top = single.vertices[apex as usize];
        let mut mesh = single.clone();
        // The mirror image through the top vertex, reoriented, sharing it.
        mesh.vertices.extend(
            single
                .vertices
                .iter()
                .map(|p| [p[0], p[1], 2.0 * top[2] - p[2]]),
        );
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

        // A triangle with a repeated vertex, hung on two vertices of a
        // sphere: those stay as they are, the rest simplifies.
        let mut mesh = sphere(12, 4.0);
        mesh.triangles.push([1, 0, 0]);
        let budget = mesh.triangles.len() / 4;
        let info = simplify(&mut mesh, budget, FREE, 0.5);
        assert!(info.triangles_after <= budget, "{info:?}");
        assert_eq!(mesh.triangles.iter().filter(|t| t[1] == t[2]).count(), 1);
        let after = check_mesh(&mesh);
        assert_eq!(after.boundary_edges, 0);
        assert_eq!(after.inconsistent_edges, 0);
        assert_eq!(after.degenerate_triangles, 1);

        let mut broken = tetrahedron();
        broken.triangles.push([0, 1, 9]);
        let copy = broken.clone();
        let info = simplify(&mut broken, 1, FREE, 0.5);
        assert_eq!(info.triangles_after, 5);
        assert_eq!(broken, copy);
    }
}
