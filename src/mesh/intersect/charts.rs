//! Charts: pieces of the surface that provably do not pass through themselves, so that the
//! search never visits their triangles pair by pair.
//!
//! The triangles are grouped by a block of grid cells (by the low corner of their boxes) and by
//! the side they face: the axis their projection keeps and the exact sign of that projected
//! area. A group is split into pieces connected through shared edges, and a piece is a chart
//! when
//!
//! 1. every directed edge occurs at most once in the group (a consistently oriented surface),
//! 2. the piece's boundary as a chain (its directed edges whose reverse is not in it) is made of
//!    closed cycles, each corner starting one edge, and
//! 3. those cycles project along the group's axis to simple polygons apart from each other
//!    (non-adjacent edges have no point in common, adjacent ones only their shared corner), of
//!    which at most one turns the way the triangles do: an outer boundary, and holes that turn
//!    the other way.
//!
//! Then the projection is one-to-one on the piece. Every triangle projects with the same
//! orientation, so a generic point of the plane is covered by as many triangles as the projected
//! boundary winds around it (the boundary of a 2-chain carries its degree): the number of
//! cycles turning with the triangles around the point less those turning against, at most one,
//! and never negative, since it counts triangles. Two triangles whose projections overlapped would
//! cover some point twice; a triangle touching the projection of a vertex or edge it does not
//! share would cover points next to it twice, since the triangles around an interior vertex or
//! edge cover a whole neighbourhood of it and those at the boundary the whole inside next to it
//! (Volino and Magnenat-Thalmann, "Efficient self-collision detection on smoothly discretized
//! surface animations using geometrical shape regularity", Computer Graphics Forum 13, 1994,
//! state this criterion for a normal cone and a contour). So two triangles of a chart meet only
//! where they share a vertex or an edge, which does not count.
//!
//! Every decision is exact: integer ids for the chain, and Shewchuk's `orient2d` in an axis
//! projection for the areas and the polygon. A piece that fails a condition is searched pair by
//! pair. A triangle of a chart needs the search only where its box overlaps the box of another
//! piece: on a smooth surface that leaves the triangles near the charts' rims.
//!
//! Most rims are seams between charts of one facing in neighbouring blocks, where the surface
//! merely crosses a block's side. Two such charts that share edges are proven one chart together
//! ([`one_chart`]: the rest of their two boundaries is one simple cycle), and then neither's
//! triangles are searched for the other's sake.
//!
//! On a 2 M-triangle part the seams took the triangles listed from 222,566 to 125,237, and
//! letting charts have holes (a piece around a few triangles that face another way, where the
//! normal is near a diagonal) to 83,244, of which 212 are in no chart; what is left lies where
//! the surface turns to another facing and at the corners where four blocks meet.

use rayon::prelude::*;

use super::{
    Bounds, Candidate, CellGrid, Point, Prepared, bounds_of, boxes_overlap, hull, o2, runs,
    segments_meet_2d,
};

/// No chart: a triangle searched pair by pair with every other one near it.
pub(super) const NO_CHART: u32 = u32::MAX;

/// Grid cells per block side. Larger blocks leave fewer triangles on a rim, and larger groups
/// to split into pieces. Measured on a 2 M-triangle part, where three quarters of the listed
/// chart triangles lie at a block's faces: 32 is about 5 % faster than 24 in the best and the
/// middle of 25 runs (0.162–0.175 s against 0.174–0.180 s at best), 40 and 48 within the
/// machine's noise of 32.
const BLOCK_CELLS: u32 = 32;

/// The group of a usable triangle facing `facing` whose box has the low corner `low`: its block
/// of [`BLOCK_CELLS`]³ grid cells (by that corner) and its facing.
pub(super) fn group_key(grid: &CellGrid, facing: u8, low: Point) -> u64 {
    let blocks = blocks(grid);
    let [i, j, k] = grid.index_of_point(low).map(|c| u64::from(c / BLOCK_CELLS));
    (i + blocks[0] * (j + blocks[1] * k)) * 6 + u64::from(facing)
}

/// The number of groups [`group_key`] can give on `grid`.
pub(super) fn group_count(grid: &CellGrid) -> u64 {
    blocks(grid).iter().product::<u64>() * 6
}

/// Blocks along each side of `grid`.
fn blocks(grid: &CellGrid) -> [u64; 3] {
    grid.dims.map(|d| u64::from(d.div_ceil(BLOCK_CELLS)))
}

/// The triangle of a group key (`group << 32 | triangle`).
fn triangle(key: u64) -> usize {
    key as u32 as usize
}

/// A piece of a group, connected through its edges: a chart when conditions 1 to 3 of the
/// module doc hold for it.
#[derive(Clone, Copy)]
struct Piece {
    bounds: Bounds,
    chart: bool,
}

/// The triangles of `prepared` that the search must list: those of pieces that are no chart,
/// and those of charts whose boxes overlap the box of another piece not proven one chart with
/// theirs; group by group in a fixed order.
pub(super) fn listed(prepared: &Prepared) -> Vec<Candidate> {
    let keys = &prepared.groups;
    let starts = runs(keys);
    // Each group's pieces, and each of its triangles' piece among them.
    let split: Vec<Split> = starts
        .par_windows(2)
        .map_init(Scratch::default, |scratch, w| {
            scratch.split(&keys[w[0]..w[1]], prepared)
        })
        .collect();
    let mut first = Vec::with_capacity(split.len());
    let mut pieces = Vec::new();
    // Each piece's group, and its boundary edges (charts only) from `rims[rim_start[p]..]`.
    let mut group_of = Vec::new();
    let mut rims = Vec::new();
    let mut rim_start = vec![0];
    for (g, group) in split.iter().enumerate() {
        first.push(pieces.len());
        pieces.extend_from_slice(&group.pieces);
        group_of.extend(std::iter::repeat_n(
            keys[starts[g]] >> 32,
            group.pieces.len(),
        ));
        let mut rest = group.rims.as_slice();
        for p in 0..group.pieces.len() as u32 {
            let end = rest.partition_point(|e| e.0 == p);
            rims.extend(rest[..end].iter().map(|&(_, from, to)| [from, to]));
            rest = &rest[end..];
            rim_start.push(rims.len());
        }
    }
    let rim = |p: usize| &rims[rim_start[p]..rim_start[p + 1]];
    let near = overlapping(&pieces);
    // Pairs of charts of one facing in neighbouring blocks whose union is a chart too: their
    // triangles need not be searched against each other.
    let joined: Vec<(u32, u32)> = (0..pieces.len())
        .into_par_iter()
        .flat_map_iter(|p| {
            let (near, pieces, group_of) = (&near, &pieces, &group_of);
            near[p].iter().filter_map(move |&q| {
                let q = q as usize;
                // A group key is `block · 6 + facing`, and the facing is `2 · axis + sign`.
                let (facing, other_block) = (group_of[p] % 6, group_of[p] != group_of[q]);
                let proven = p < q
                    && pieces[p].chart
                    && pieces[q].chart
                    && other_block
                    && group_of[q] % 6 == facing
                    && one_chart(
                        rim(p),
                        rim(q),
                        [pieces[p].bounds, pieces[q].bounds],
                        prepared.vertices,
                        (facing / 2) as usize,
                    );
                proven.then_some((p as u32, q as u32))
            })
        })
        .collect();
    let mut partners = vec![Vec::new(); pieces.len()];
    for &(p, q) in &joined {
        partners[p as usize].push(q);
        partners[q as usize].push(p);
    }
    // What of the other pieces' boxes lies in each chart's box: a triangle of the chart meets
    // another piece's box exactly when it meets that part of it.
    let neighbours: Vec<Vec<[Point; 2]>> = near
        .into_iter()
        .enumerate()
        .map(|(p, near)| {
            let own = pieces[p].bounds;
            let partners = &partners[p];
            let clipped = near.iter().filter(|q| !partners.contains(q)).map(|&q| {
                let other = pieces[q as usize].bounds;
                [
                    std::array::from_fn(|k| f64::from(own[0][k].max(other[0][k]))),
                    std::array::from_fn(|k| f64::from(own[1][k].min(other[1][k]))),
                ]
            });
            if pieces[p].chart {
                clipped.collect()
            } else {
                Vec::new()
            }
        })
        .collect();
    let (split, first, pieces, neighbours) = (&split, &first, &pieces, &neighbours);
    starts
        .par_windows(2)
        .enumerate()
        .flat_map_iter(|(g, w)| {
            let local = &split[g].local;
            (keys[w[0]..w[1]].iter().zip(local)).filter_map(move |(&key, &l)| {
                let p = first[g] + l as usize;
                let t = triangle(key);
                if !pieces[p].chart {
                    return prepared.candidate(t, NO_CHART);
                }
                // The exact box is enough: a point the triangle shares with a triangle of the
                // other piece lies in both pieces' boxes. Without a short circuit, so that it
                // runs as straight-line code.
                let b = hull(prepared.corners(t));
                let near = neighbours[p]
                    .iter()
                    .fold(false, |hit, o| hit | boxes_overlap(&b, o));
                if near {
                    prepared.candidate(t, p as u32)
                } else {
                    None
                }
            })
        })
        .collect()
}

/// For each piece, the other pieces whose boxes overlap its box: a sweep along x.
fn overlapping(pieces: &[Piece]) -> Vec<Vec<u32>> {
    let low = |p: u32| pieces[p as usize].bounds[0][0];
    let mut order: Vec<u32> = (0..pieces.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| low(a).total_cmp(&low(b)));
    let mut neighbours = vec![Vec::new(); pieces.len()];
    for (x, &a) in order.iter().enumerate() {
        let box_a = &pieces[a as usize].bounds;
        for &b in &order[x + 1..] {
            let box_b = &pieces[b as usize].bounds;
            if box_b[0][0] > box_a[1][0] {
                break;
            }
            if boxes_overlap(box_a, box_b) {
                neighbours[a as usize].push(b);
                neighbours[b as usize].push(a);
            }
        }
    }
    neighbours
}

/// A group split into pieces ([`Scratch::split`]).
struct Split {
    pieces: Vec<Piece>,
    /// For each triangle of the group, its piece.
    local: Vec<u32>,
    /// The boundary edges of the charts among the pieces, `(piece, from, to)`, sorted.
    rims: Vec<(u32, u32, u32)>,
}

/// Buffers reused from group to group.
#[derive(Default)]
struct Scratch {
    /// The corners of the group's triangles.
    corners: Vec<[u32; 3]>,
    edges: EdgeSet,
    /// For each triangle of the group, the triangle across each of its edges (as
    /// [`directed`] lists them), or [`NO_TRIANGLE`].
    across: Vec<[u32; 3]>,
    stack: Vec<u32>,
    /// Boundary edges as `(piece, from, to)`.
    boundary: Vec<(u32, u32, u32)>,
    cycles: Cycles,
    /// The exact boxes of the pieces, and whether each may be a chart (not set aside).
    hulls: Vec<[Point; 2]>,
    charts: Vec<bool>,
}

/// No triangle: a boundary edge's neighbour, or a triangle not yet in a piece.
const NO_TRIANGLE: u32 = u32::MAX;

/// An empty slot of an [`EdgeSet`]: no edge, since its two vertices would be equal.
const NO_EDGE: u64 = u64::MAX;

/// An [`EdgeSet`] owner once the edge's reverse came.
const PAIRED: u32 = u32::MAX;

/// The edges of a group between two vertices `a < b`, `a << 32 | b`, each with the triangle (its
/// place in the group) that has it and in which direction, until the reverse comes: an
/// open-addressing hash table with linear probing, at most half full on a closed surface and
/// never overfull. Keyed by the undirected edge, so that each directed edge costs one probe,
/// whether it finds its reverse or waits for it (keyed by the directed edge, a waiting edge
/// cost two, one for its reverse and one to insert: measured, the split of a 2 M-triangle part
/// into charts took 7 % longer).
#[derive(Default)]
struct EdgeSet {
    slots: Vec<EdgeSlot>,
    bits: u32,
}

/// An edge of an [`EdgeSet`] with its owner, side by side: one read finds both.
#[derive(Clone, Copy)]
struct EdgeSlot {
    edge: u64,
    /// `triangle << 1`, plus one when the triangle has the edge from `a` to `b`; or [`PAIRED`].
    /// A group has fewer than 2³¹ triangles: a mesh of that many would take 100 GB.
    owner: u32,
}

/// What [`EdgeSet::pair`] found for an edge.
enum Pairing {
    /// The triangle with the reverse edge, which now has its pair.
    Across(usize),
    /// No reverse yet: the edge waits for it.
    Waiting,
    /// The edge, or its reverse with a pair already, was there before: a directed edge twice.
    Twice,
}

impl EdgeSet {
    /// Empty, with room for the edges of `triangles` triangles.
    fn reset(&mut self, triangles: usize) {
        // At most three edges per triangle are stored, so a probe always ends; 3/2 on a closed
        // surface, each edge once for its two directions. (Room for four per triangle was
        // slower: more to clear for each group.)
        self.bits = (3 * triangles).next_power_of_two().trailing_zeros();
        let empty = EdgeSlot {
            edge: NO_EDGE,
            owner: PAIRED,
        };
        self.slots.clear();
        self.slots.resize(1 << self.bits, empty);
    }

    /// Pairs the directed edge `e` (`from << 32 | to`) of triangle `owner` with its reverse if
    /// that is waiting, or lets it wait. A waiting edge stays in the table with its pair
    /// marked, so that a third edge between the same two vertices in either direction is seen.
    fn pair(&mut self, e: u64, owner: u32) -> Pairing {
        let forward = e >> 32 < e & 0xffff_ffff;
        let edge = if forward { e } else { e.rotate_left(32) };
        let mask = (1usize << self.bits) - 1;
        // Fibonacci hashing (Knuth, TAOCP vol. 3, 6.4): the top bits of the product.
        let mut s = (edge.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - self.bits)) as usize;
        loop {
            let slot = &mut self.slots[s];
            if slot.edge == NO_EDGE {
                *slot = EdgeSlot {
                    edge,
                    owner: owner << 1 | u32::from(forward),
                };
                return Pairing::Waiting;
            }
            if slot.edge == edge {
                if slot.owner == PAIRED || (slot.owner & 1 == 1) == forward {
                    return Pairing::Twice;
                }
                let across = slot.owner >> 1;
                slot.owner = PAIRED;
                return Pairing::Across(across as usize);
            }
            s = (s + 1) & mask;
        }
    }
}

/// The directed edges of a triangle with corners `ids` as [`EdgeSet`] keys, in their order.
fn directed(ids: &[u32; 3]) -> [u64; 3] {
    let [a, b, c] = ids.map(u64::from);
    [a << 32 | b, b << 32 | c, c << 32 | a]
}

/// No box: what [`enclose`] grows from.
const EMPTY_HULL: [Point; 2] = [[f64::INFINITY; 3], [f64::NEG_INFINITY; 3]];

/// Grows the exact box `hull` to hold the points `corners`.
fn enclose(hull: &mut [Point; 2], corners: &[Point; 3]) {
    for p in corners {
        for k in 0..3 {
            hull[0][k] = hull[0][k].min(p[k]);
            hull[1][k] = hull[1][k].max(p[k]);
        }
    }
}

/// The box of a piece whose corners have the exact box `hull`, rounded outwards.
fn rounded([low, high]: [Point; 2]) -> Bounds {
    bounds_of([low, high, low])
}

impl Scratch {
    /// The pieces of the group whose keys are `members` (a slice of [`Prepared::groups`]), and
    /// for each of its triangles its piece.
    fn split(&mut self, members: &[u64], prepared: &Prepared) -> Split {
        self.corners.clear();
        (self.corners).extend(members.iter().map(|&key| prepared.triangles[triangle(key)]));
        let m = self.corners.len();
        self.edges.reset(m);
        self.across.clear();
        self.across.resize(m, [NO_TRIANGLE; 3]);
        for (i, ids) in self.corners.iter().enumerate() {
            for (k, e) in directed(ids).into_iter().enumerate() {
                match self.edges.pair(e, i as u32) {
                    Pairing::Waiting => {}
                    Pairing::Across(j) => {
                        // The edge of `j` that is `e` reversed.
                        let reverse = e.rotate_left(32);
                        let l = directed(&self.corners[j])
                            .iter()
                            .position(|&d| d == reverse);
                        self.across[i][k] = j as u32;
                        self.across[j][l.unwrap_or_default()] = i as u32;
                    }
                    Pairing::Twice => {
                        // No consistently oriented surface: the whole group is searched.
                        let mut hull = EMPTY_HULL;
                        for &key in members {
                            enclose(&mut hull, &prepared.corners(triangle(key)));
                        }
                        let whole = Piece {
                            bounds: rounded(hull),
                            chart: false,
                        };
                        return Split {
                            pieces: vec![whole],
                            local: vec![0; m],
                            rims: Vec::new(),
                        };
                    }
                }
            }
        }
        // Pieces flooded across the interior edges, numbered by their first triangle; the
        // edges without a reverse in the piece are its boundary. Where a piece's boundary passes
        // a corner twice (its triangles around that corner in two separate fans), the triangles
        // at that corner are set aside and the rest flooded again: set aside, they are searched
        // pair by pair, and the piece around them can be a chart.
        let mut aside = vec![false; m];
        let mut round = 0;
        loop {
            let (pieces, local, pinched) = self.flood(members, &aside, prepared);
            if pinched.is_empty() || round == PINCH_ROUNDS {
                let rims = (self.boundary.iter())
                    .filter(|e| pieces[e.0 as usize].chart)
                    .copied()
                    .collect();
                return Split {
                    pieces,
                    local,
                    rims,
                };
            }
            for (i, ids) in self.corners.iter().enumerate() {
                if ids.iter().any(|v| pinched.binary_search(v).is_ok()) {
                    aside[i] = true;
                }
            }
            round += 1;
        }
    }

    /// One flood of [`Scratch::split`]: the pieces of the triangles not `aside` (charts where
    /// they pass conditions 2 and 3) and of those aside (never charts), each triangle's piece,
    /// and the corners, sorted, where a piece's boundary passes twice.
    fn flood(
        &mut self,
        members: &[u64],
        aside: &[bool],
        prepared: &Prepared,
    ) -> (Vec<Piece>, Vec<u32>, Vec<u32>) {
        let m = self.corners.len();
        self.boundary.clear();
        self.charts.clear();
        let mut local = vec![NO_TRIANGLE; m];
        for seed in 0..m {
            if local[seed] != NO_TRIANGLE {
                continue;
            }
            let p = self.charts.len() as u32;
            local[seed] = p;
            self.stack.clear();
            self.stack.push(seed as u32);
            while let Some(i) = self.stack.pop() {
                let i = i as usize;
                for (e, j) in directed(&self.corners[i]).into_iter().zip(self.across[i]) {
                    let across = (j != NO_TRIANGLE && aside[j as usize] == aside[seed])
                        .then_some(j as usize);
                    match across {
                        None => self.boundary.push((p, (e >> 32) as u32, e as u32)),
                        Some(j) if local[j] == NO_TRIANGLE => {
                            local[j] = p;
                            self.stack.push(j as u32);
                        }
                        Some(_) => {}
                    }
                }
            }
            self.charts.push(!aside[seed]);
        }
        // The boxes in the group's order, which is the mesh's: its corners are read nearly in
        // the order they are stored, not in the order of the flood.
        self.hulls.clear();
        self.hulls.resize(self.charts.len(), EMPTY_HULL);
        for (&key, &p) in members.iter().zip(&local) {
            enclose(
                &mut self.hulls[p as usize],
                &prepared.corners(triangle(key)),
            );
        }
        let mut pieces: Vec<Piece> = (self.hulls.iter().zip(&self.charts))
            .map(|(&hull, &chart)| Piece {
                bounds: rounded(hull),
                chart,
            })
            .collect();
        // Each piece's boundary, sorted by its first vertex.
        self.boundary.sort_unstable();
        let facing = members.first().map_or((0, false), |&key| {
            let facing = prepared.facings[triangle(key)];
            (usize::from(facing / 2), facing % 2 == 1)
        });
        let mut pinched = Vec::new();
        let mut start = 0;
        for (p, piece) in pieces.iter_mut().enumerate() {
            let end = start + self.boundary[start..].partition_point(|e| e.0 == p as u32);
            let edges = &self.boundary[start..end];
            start = end;
            if !piece.chart {
                continue;
            }
            let twice = edges
                .windows(2)
                .filter(|w| w[0].1 == w[1].1)
                .map(|w| w[0].1);
            let before = pinched.len();
            pinched.extend(twice);
            piece.chart =
                pinched.len() == before && simple_cycles(edges, prepared, facing, &mut self.cycles);
        }
        pinched.sort_unstable();
        pinched.dedup();
        (pieces, local, pinched)
    }
}

/// Rounds of setting aside the triangles at pinched corners ([`Scratch::split`]).
const PINCH_ROUNDS: usize = 3;

/// Whether the boundary `edges` of one piece (`(piece, from, to)`, sorted, no corner starting
/// two of them: [`Scratch::flood`] sets such pieces aside first) form closed cycles that are
/// simple polygons apart from each other in the projection dropping `axis`, of which at most one
/// turns the way the piece's triangles do (positively when `positive`).
fn simple_cycles(
    edges: &[(u32, u32, u32)],
    prepared: &Prepared,
    (axis, positive): (usize, bool),
    cycles: &mut Cycles,
) -> bool {
    cycles.points.clear();
    cycles.ends.clear();
    cycles.walked.clear();
    cycles.walked.resize(edges.len(), false);
    for first in 0..edges.len() {
        if cycles.walked[first] {
            continue;
        }
        let mut i = first;
        loop {
            cycles.walked[i] = true;
            cycles.points.push(prepared.vertices[edges[i].1 as usize]);
            let Ok(next) = edges.binary_search_by_key(&edges[i].2, |e| e.1) else {
                return false;
            };
            if next == first {
                break;
            }
            if cycles.walked[next] {
                return false;
            }
            i = next;
        }
        cycles.ends.push(cycles.points.len());
    }
    let mut start = 0;
    let mut turning_with = 0;
    for &end in &cycles.ends {
        let cycle = &cycles.points[start..end];
        start = end;
        if cycle.len() < 3 {
            return false;
        }
        // A simple polygon turns the way it turns at its least corner (by the two projected
        // coordinates), which is convex.
        let (u, w) = ((axis + 1) % 3, (axis + 2) % 3);
        let least = (0..cycle.len())
            .min_by(|&i, &j| {
                (cycle[i][u], cycle[i][w])
                    .partial_cmp(&(cycle[j][u], cycle[j][w]))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .unwrap_or(0);
        let l = cycle.len();
        let turn = o2(
            cycle[(least + l - 1) % l],
            cycle[least],
            cycle[(least + 1) % l],
            axis,
        );
        if (turn > 0.0) == positive && turn != 0.0 {
            turning_with += 1;
        }
    }
    turning_with <= 1 && simple_polygons(&cycles.points, &cycles.ends, axis)
}

/// The boundary cycles of a piece, walked: their corners one cycle after another, where each
/// cycle ends, and which edges were walked.
#[derive(Default)]
struct Cycles {
    points: Vec<Point>,
    ends: Vec<usize>,
    walked: Vec<bool>,
}

/// Whether the edges `a → b → c` of a polygon whose edge `a → b` has length meet at `b` alone in
/// the projection dropping `axis`: `c` neither at `b` nor turned back along `b → a`.
fn meet_at_corner(a: Point, b: Point, c: Point, axis: usize) -> bool {
    let (u, w) = ((axis + 1) % 3, (axis + 2) % 3);
    if b[u] == c[u] && b[w] == c[w] {
        return false;
    }
    // On one line, a ≠ b there, so along a coordinate in which they differ c lies on the other
    // side of b (comparisons are exact).
    let k = if a[u] != b[u] { u } else { w };
    o2(a, b, c, axis) != 0.0 || (c[k] > b[k]) != (a[k] > b[k])
}

/// Whether the charts with the boundary edges `a` and `b` (`[from, to]`, each sorted, no corner
/// starting two of one chart, each simple polygons in the projection dropping `axis`) and the
/// boxes `boxes`, facing one side, are one chart together: they share edges (an edge of one is
/// the reverse of an edge of the other), and what is left of their two boundaries is one cycle
/// that is a simple polygon.
///
/// The triangles of both project with one orientation, so the boundary of the union as a
/// 2-chain is the sum of the two boundaries with the shared edges cancelled (the boundary
/// operator is linear), and the module doc's argument holds for the union as for one chart:
/// a point covered twice would be wound around twice. The rest must be one cycle (a hole of one
/// chart that the other fills is gone from it; a hole left over, or a ring, fails), and the
/// polygon is checked in parts: each boundary was simple on its own, so only the corners where
/// one boundary hands over to the other, and the pairs of an edge of each near the other
/// chart's box, are left to decide.
fn one_chart(
    a: &[[u32; 2]],
    b: &[[u32; 2]],
    boxes: [Bounds; 2],
    vertices: &[Point],
    axis: usize,
) -> bool {
    let from = |edges: &[[u32; 2]], v: u32| edges.binary_search_by_key(&v, |e| e[0]).ok();
    let mut shared = [vec![false; a.len()], vec![false; b.len()]];
    for (j, &[f, t]) in b.iter().enumerate() {
        if let Some(i) = from(a, t).filter(|&i| a[i][1] == f) {
            shared[0][i] = true;
            shared[1][j] = true;
        }
    }
    let seam = shared[1].iter().filter(|&&s| s).count();
    let left = a.len() + b.len() - 2 * seam;
    let Some(start) = shared[0].iter().position(|&s| !s) else {
        return false;
    };
    if seam == 0 || left < 3 {
        return false;
    }
    let sides = [a, b];
    // The edge that leaves corner `v`: one of one boundary, or a pinch.
    let leaving = |v: u32| match [0, 1].map(|s| from(sides[s], v).filter(|&i| !shared[s][i])) {
        [Some(i), None] => Some((0, i)),
        [None, Some(j)] => Some((1, j)),
        _ => None,
    };
    let point = |v: u32| vertices[v as usize];
    let (mut side, mut i) = (0, start);
    for step in 1..=left {
        let [f, t] = sides[side][i];
        let Some((next_side, next)) = leaving(t) else {
            return false;
        };
        if next_side != side
            && !meet_at_corner(point(f), point(t), point(sides[next_side][next][1]), axis)
        {
            return false;
        }
        (side, i) = (next_side, next);
        if (side, i) == (0, start) {
            if step != left {
                return false;
            }
            break;
        }
        if step == left {
            return false;
        }
    }
    // Edges of one boundary within the other chart's box, in the projection.
    let (u, w) = ((axis + 1) % 3, (axis + 2) % 3);
    let near = |s: usize| -> Vec<[u32; 2]> {
        let other = &boxes[1 - s];
        (sides[s].iter().zip(&shared[s]))
            .filter(|&(&[f, t], &gone)| {
                let (p, q) = (point(f), point(t));
                !gone
                    && [u, w].iter().all(|&k| {
                        p[k].min(q[k]) <= f64::from(other[1][k])
                            && p[k].max(q[k]) >= f64::from(other[0][k])
                    })
            })
            .map(|(&e, _)| e)
            .collect()
    };
    let (near_a, near_b) = (near(0), near(1));
    near_a.iter().all(|&[f, t]| {
        near_b.iter().all(|&[g, h]| {
            t == g || h == f || !segments_meet_2d(point(f), point(t), point(g), point(h), axis)
        })
    })
}

/// Whether the closed polygons through `points[0..ends[0]]`, `points[ends[0]..ends[1]]`, … are
/// simple and apart from each other in the projection dropping `axis`.
fn simple_polygons(points: &[Point], ends: &[usize], axis: usize) -> bool {
    let (u, w) = ((axis + 1) % 3, (axis + 2) % 3);
    // The corner after each corner, round its own polygon.
    let mut after = Vec::with_capacity(points.len());
    let mut start = 0;
    for &end in ends {
        after.extend(start + 1..end);
        after.push(start);
        start = end;
    }
    let next = |i: usize| after[i];
    let mut before = vec![0; points.len()];
    for (i, &j) in after.iter().enumerate() {
        before[j] = i;
    }
    if !(0..points.len())
        .all(|i| meet_at_corner(points[before[i]], points[i], points[next(i)], axis))
    {
        return false;
    }
    // Non-adjacent edges apart: a sweep along the first coordinate.
    let low = |i: usize, k: usize| points[i][k].min(points[next(i)][k]);
    let high = |i: usize, k: usize| points[i][k].max(points[next(i)][k]);
    let mut order: Vec<usize> = (0..points.len()).collect();
    order.sort_unstable_by(|&i, &j| low(i, u).total_cmp(&low(j, u)));
    for (x, &i) in order.iter().enumerate() {
        for &j in &order[x + 1..] {
            if low(j, u) > high(i, u) {
                break;
            }
            if j == next(i) || i == next(j) || low(j, w) > high(i, w) || low(i, w) > high(j, w) {
                continue;
            }
            if segments_meet_2d(points[i], points[next(i)], points[j], points[next(j)], axis) {
                return false;
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::{Prepared, Shape, self_intersecting_pairs};
    use super::*;
    use crate::mesh::TriangleMesh;

    /// A flat strip around the z axis from radius 1 to 1.5 over `turns` turns, rising by
    /// `rise` per turn, with all triangles facing up.
    fn strip(turns: f64, rise: f64) -> TriangleMesh {
        let steps = (40.0 * turns).round() as u32;
        let mut vertices = Vec::new();
        for i in 0..=steps {
            let angle = std::f64::consts::TAU * turns * f64::from(i) / f64::from(steps);
            let z = rise * turns * f64::from(i) / f64::from(steps);
            for r in [1.0, 1.5] {
                vertices.push([r * angle.cos(), r * angle.sin(), z]);
            }
        }
        let triangles = (0..steps)
            .flat_map(|i| {
                let (a, b, c, d) = (2 * i, 2 * i + 1, 2 * i + 2, 2 * i + 3);
                [[a, b, d], [a, d, c]]
            })
            .collect();
        TriangleMesh {
            vertices,
            triangles,
        }
    }

    /// Whether the closed polygon through `points` is simple in the projection dropping `axis`.
    fn simple_polygon(points: &[Point], axis: usize) -> bool {
        simple_polygons(points, &[points.len()], axis)
    }

    fn listed_of(mesh: &TriangleMesh) -> Vec<Candidate> {
        listed(&Prepared::new(mesh).expect("finite"))
    }

    #[test]
    fn a_strip_that_projects_one_to_one_is_a_chart() {
        let open = strip(0.75, 0.0);
        assert!(listed_of(&open).is_empty());
        assert!(self_intersecting_pairs(&open).is_empty());
    }

    #[test]
    fn a_strip_over_more_than_a_turn_is_searched_pair_by_pair() {
        // Flat: the last quarter turn lies on the first, and the search finds them.
        let flat = strip(1.25, 0.0);
        let listed = listed_of(&flat);
        assert_eq!(listed.len(), flat.triangles.len());
        assert!(listed.iter().all(|c| c.chart == NO_CHART));
        assert!(!self_intersecting_pairs(&flat).is_empty());
        // Rising like a ramp: every triangle still faces up and the projection still
        // overlaps, so it is no chart, but the surface does not meet itself.
        let ramp = strip(1.25, 0.5);
        assert_eq!(listed_of(&ramp).len(), ramp.triangles.len());
        assert!(self_intersecting_pairs(&ramp).is_empty());
    }

    #[test]
    fn simple_polygons_are_told_from_crossing_and_touching_ones() {
        let at = |points: &[[f64; 2]]| -> Vec<Point> {
            points.iter().map(|&[x, y]| [0.0, x, y]).collect()
        };
        let square = at(&[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
        assert!(simple_polygon(&square, 0));
        let bow_tie = at(&[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]);
        assert!(!simple_polygon(&bow_tie, 0));
        // Turning back along the edge it came by.
        let spike = at(&[[0.0, 0.0], [2.0, 0.0], [1.0, 0.0], [1.0, 1.0]]);
        assert!(!simple_polygon(&spike, 0));
        // Straight on through a corner is fine.
        let straight = at(&[[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [1.0, 1.0]]);
        assert!(simple_polygon(&straight, 0));
        // A corner on a non-adjacent edge, and two corners at one point.
        let touching = at(&[[0.0, 0.0], [2.0, 0.0], [2.0, 2.0], [1.0, 0.0], [0.0, 2.0]]);
        assert!(!simple_polygon(&touching, 0));
        let pinched = at(&[
            [0.0, 0.0],
            [1.0, 1.0],
            [2.0, 0.0],
            [2.0, 2.0],
            [1.0, 1.0],
            [0.0, 2.0],
        ]);
        assert!(!simple_polygon(&pinched, 0));
    }

    #[test]
    fn a_hole_turns_against_the_outer_boundary_and_is_apart_from_it() {
        let points = [
            [0, 0],
            [4, 0],
            [4, 4],
            [0, 4],
            [1, 1],
            [3, 1],
            [3, 3],
            [1, 3],
            [4, 2],
        ];
        let ring = TriangleMesh {
            vertices: points
                .map(|[x, y]| [f64::from(x), f64::from(y), 0.0])
                .to_vec(),
            triangles: vec![[0, 1, 2]],
        };
        let prepared = Prepared::new(&ring).expect("finite");
        let cycles_of = |cycles: &[&[u32]]| -> bool {
            let edges: Vec<(u32, u32, u32)> =
                rim(cycles).into_iter().map(|[f, t]| (0, f, t)).collect();
            simple_cycles(&edges, &prepared, (2, true), &mut Cycles::default())
        };
        // A square around a square hole, which turns the other way: a ring.
        assert!(cycles_of(&[&[0, 1, 2, 3], &[4, 7, 6, 5]]));
        assert!(cycles_of(&[&[0, 1, 2, 3]]));
        // Both turning with the triangles: the inner square would be covered twice.
        assert!(!cycles_of(&[&[0, 1, 2, 3], &[4, 5, 6, 7]]));
        // A hole touching the outer boundary at a corner.
        assert!(!cycles_of(&[&[0, 1, 8, 2, 3], &[5, 8, 6]]));
    }

    /// A flat square sheet of `n` × `n` unit squares facing up, without the squares `(i, j)`
    /// where `hole(i, j)`.
    fn flat_sheet(n: u32, hole: impl Fn(u32, u32) -> bool) -> TriangleMesh {
        let vertices = (0..=n)
            .flat_map(|j| (0..=n).map(move |i| [f64::from(i), f64::from(j), 0.0]))
            .collect();
        let at = |i: u32, j: u32| j * (n + 1) + i;
        let triangles = (0..n)
            .flat_map(|j| (0..n).map(move |i| (i, j)))
            .filter(|&(i, j)| !hole(i, j))
            .flat_map(|(i, j)| {
                [
                    [at(i, j), at(i + 1, j), at(i + 1, j + 1)],
                    [at(i, j), at(i + 1, j + 1), at(i, j + 1)],
                ]
            })
            .collect();
        TriangleMesh {
            vertices,
            triangles,
        }
    }

    /// A flat square ring in one block: one piece with a hole, a chart, so nothing is searched.
    #[test]
    fn a_flat_ring_is_one_chart() {
        let ring = flat_sheet(12, |i, j| (5..7).contains(&i) && (5..7).contains(&j));
        assert!(listed_of(&ring).is_empty());
        assert!(self_intersecting_pairs(&ring).is_empty());
    }

    /// The boundary edges `[from, to]` of the closed polygons `cycles`, sorted.
    fn rim(cycles: &[&[u32]]) -> Vec<[u32; 2]> {
        let mut edges: Vec<[u32; 2]> = cycles
            .iter()
            .flat_map(|c| (0..c.len()).map(|i| [c[i], c[(i + 1) % c.len()]]))
            .collect();
        edges.sort_unstable();
        edges
    }

    /// The box of the vertices `ids`, as [`Piece::bounds`] has it.
    fn box_of(ids: &[u32], vertices: &[Point]) -> Bounds {
        let mut hull = EMPTY_HULL;
        for &v in ids {
            enclose(&mut hull, &[vertices[v as usize]; 3]);
        }
        rounded(hull)
    }

    #[test]
    fn two_charts_are_one_across_a_seam_and_not_when_they_overlap_or_only_touch() {
        let vertices: Vec<Point> = [
            [0.0, 0.0],
            [1.0, 0.0],
            [1.0, 1.0],
            [0.0, 1.0],
            [2.0, 0.0],
            [2.0, 1.0],
            [2.0, 2.0],
            [0.5, 2.0],
            [0.5, 0.5],
            [1.0, 2.0],
            [-1.0, 2.0],
            [-1.0, 0.0],
            [0.5, 1.5],
        ]
        .iter()
        .map(|&[x, y]| [x, y, 0.0])
        .collect();
        let chart = |cycle: &[u32]| (rim(&[cycle]), box_of(cycle, &vertices));
        let joined = |(a, box_a): &(Vec<[u32; 2]>, Bounds),
                      (b, box_b): &(Vec<[u32; 2]>, Bounds)| {
            one_chart(a, b, [*box_a, *box_b], &vertices, 2)
                && one_chart(b, a, [*box_b, *box_a], &vertices, 2)
        };
        let square = chart(&[0, 1, 2, 3]);
        // Side by side, sharing the edge 1–2: one square-sided polygon.
        assert!(joined(&square, &chart(&[1, 4, 5, 2])));
        // Sharing that edge but reaching round over the top and back into the square: each a
        // simple polygon facing the same way, and yet covering a corner of the square twice.
        assert!(!joined(&square, &chart(&[1, 4, 6, 7, 8, 2])));
        // Touching at a corner only.
        assert!(!joined(&square, &chart(&[2, 5, 6, 9])));
        // A cap on the square's top edge, its corner 3 shared: one pentagon-sided polygon.
        assert!(joined(&square, &chart(&[2, 5, 6, 9, 3])));
        // Round the square from its right edge to its left one, over a notch above it: the
        // union is a ring around the notch, two cycles, no chart.
        assert!(!joined(&square, &chart(&[1, 4, 6, 10, 11, 0, 3, 12, 2])));
    }

    /// A flat sheet over many blocks: every block's piece is a chart and the seams between
    /// them are proven, so nearly no triangle is left to search.
    #[test]
    fn a_flat_sheet_over_many_blocks_is_skipped_whole() {
        let sheet = flat_sheet(160, |_, _| false);
        let prepared = Prepared::new(&sheet).expect("finite");
        let groups = runs(&prepared.groups).len() - 1;
        assert!(groups >= 4, "{groups} groups");
        // Left: the triangles where four blocks meet, whose pieces across the corner share a
        // vertex and no edge (32 here; without proven seams, 2,528 along the blocks' sides).
        let listed = listed_of(&sheet).len();
        assert!(1000 * listed < sheet.triangles.len(), "{listed} listed");
        assert!(self_intersecting_pairs(&sheet).is_empty());
    }

    /// A smooth closed surface over several blocks: most of it is in charts and skipped, and
    /// with vertices shaken hard enough to fold it in places the search still finds exactly
    /// the pairs brute force finds.
    #[test]
    fn charts_skip_most_of_a_smooth_surface_and_miss_no_fold() {
        let grid = crate::Grid::new([64, 40, 32], 1.0);
        let field: Vec<f64> = (0..grid.element_count())
            .map(|e| {
                let [i, j, k] = grid.element_coords(e).map(|c| c as f64);
                let wave = (i / 12.0).sin() * (j / 9.0).cos() + (k / 8.0).sin() * (i / 14.0).cos();
                (0.5 + 0.3 * wave).clamp(0.0, 1.0)
            })
            .collect();
        let anchors: Vec<[f64; 3]> = (0..=40)
            .flat_map(|j| (0..=32).map(move |k| [0.0, f64::from(j), f64::from(k)]))
            .collect();
        let params = crate::mesh::PartParams::default();
        let kept = crate::mesh::KeptGeometry::default();
        let smooth = crate::mesh::make_part(&field, &grid, &anchors, &params, &kept).mesh;
        let listed = listed_of(&smooth).len();
        assert!(
            3 * listed < smooth.triangles.len(),
            "{listed} of {}",
            smooth.triangles.len()
        );
        assert!(self_intersecting_pairs(&smooth).is_empty());
        let mut random = crate::mesh::test_support::Lcg(7);
        let mut next = || random.next();
        let mut shaken = smooth.clone();
        for p in shaken.vertices.iter_mut() {
            if next() < 0.02 {
                for c in p.iter_mut() {
                    *c += 1.5 * (next() - 0.5);
                }
            }
        }
        let pairs = self_intersecting_pairs(&shaken);
        assert!(!pairs.is_empty());
        let prepared = Prepared::new(&shaken).expect("finite");
        // Every pair with overlapping boxes, by a plain sweep along x, and the exact test.
        let usable: Vec<(usize, Shape, Bounds)> = (0..shaken.triangles.len())
            .filter_map(|t| prepared.triangle(t).map(|(shape, b)| (t, shape, b)))
            .collect();
        let mut order: Vec<usize> = (0..usable.len()).collect();
        order.sort_by(|&i, &j| usable[i].2[0][0].total_cmp(&usable[j].2[0][0]));
        let mut expected = Vec::new();
        for (x, &i) in order.iter().enumerate() {
            let (s, a, box_a) = usable[i];
            for &j in &order[x + 1..] {
                let (t, b, box_b) = usable[j];
                if box_b[0][0] > box_a[1][0] {
                    break;
                }
                if boxes_overlap(&box_a, &box_b) && prepared.meet(&a, &b) {
                    expected.push([s.min(t) as u32, s.max(t) as u32]);
                }
            }
        }
        expected.sort_unstable();
        assert_eq!(pairs, expected);
    }
}
