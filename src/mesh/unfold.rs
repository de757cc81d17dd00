//! Taking back the moves that made a surface pass through itself.
//!
//! Smoothing and the overhang correction move vertices without changing the triangles. Across a
//! thin gap, or where two members nearly touch, such moves can push one sheet of the surface
//! through another; the mesh stays closed and manifold, but it no longer bounds a solid. Rather
//! than restricting every move in advance (each stage would need its own collision test), the
//! stage runs freely and its result is then checked with the exact test of
//! [`super::intersect`]: around every intersecting pair (its triangles' corners and their
//! neighbours) the stage's move is halved, and the check repeats, halving again where a fold
//! persists, so a move is taken back only as far as needed and only where needed (each round
//! searches only around the vertices it moved). After four
//! halvings a vertex is back where the stage found it, and after [`ROUNDS`] rounds the whole
//! stage is taken back, so the result is free of self-intersections whenever the stage's input
//! was.

use rayon::prelude::*;

use super::TriangleMesh;
use super::intersect::self_intersecting_pairs;

/// Rounds of halving before the whole stage is taken back.
const ROUNDS: usize = 12;

/// Below this share of its move a vertex goes back all the way (after four halvings).
const LAST_SHARE: f64 = 0.1;

/// What [`take_back_folds`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Unfolding {
    /// Intersecting pairs the stage had made.
    pub pairs_found: usize,
    /// Vertices whose move was shortened or taken back.
    pub vertices_held_back: usize,
    /// Rounds of checking and halving.
    pub rounds: usize,
}

/// Takes back, where they made `mesh` intersect itself, the moves of a stage that started from
/// the vertex positions `before` (same triangles). See the [module documentation](self).
/// Returns what it did and the intersecting pairs left: none, unless `before` had some.
///
/// # Panics
///
/// If `before` does not hold one position per vertex of `mesh`.
pub fn take_back_folds(mesh: &mut TriangleMesh, before: &[[f64; 3]]) -> (Unfolding, Vec<[u32; 2]>) {
    assert_eq!(before.len(), mesh.vertices.len(), "one position per vertex");
    let mut pairs = self_intersecting_pairs(mesh);
    let mut report = Unfolding {
        pairs_found: pairs.len(),
        ..Unfolding::default()
    };
    if pairs.is_empty() {
        return (report, pairs);
    }
    let after = mesh.vertices.clone();
    let mut share = vec![1.0_f64; after.len()];
    while !pairs.is_empty() {
        report.rounds += 1;
        if report.rounds > ROUNDS {
            share.fill(0.0);
            mesh.vertices.copy_from_slice(before);
            break;
        }
        let mut seeds = vec![false; after.len()];
        for t in pairs.iter().flatten() {
            for &v in &mesh.triangles[*t as usize] {
                seeds[v as usize] = true;
            }
        }
        // One ring further: the triangles around a moved corner change with it.
        let mut near = seeds.clone();
        for t in &mesh.triangles {
            if t.iter().any(|&v| seeds[v as usize]) {
                for &v in t {
                    near[v as usize] = true;
                }
            }
        }
        for (v, _) in near.iter().enumerate().filter(|(_, n)| **n) {
            share[v] = if share[v] > LAST_SHARE {
                0.5 * share[v]
            } else {
                0.0
            };
            mesh.vertices[v] =
                std::array::from_fn(|k| before[v][k] + share[v] * (after[v][k] - before[v][k]));
        }
        pairs = pairs_around(mesh, &near);
    }
    report.vertices_held_back = (0..after.len())
        .filter(|&v| share[v] < 1.0 && after[v] != before[v])
        .count();
    // The rounds looked only where vertices moved; the caller gets the whole mesh's answer.
    (report, self_intersecting_pairs(mesh))
}

/// The intersecting pairs of `mesh` that involve a triangle with a corner in `moved`, found on
/// the part of the mesh near those triangles. The rest of the mesh is as it was when it was last
/// searched, and every pair found then had its corners moved, so this is every pair there is,
/// at the cost of a small search instead of a whole one.
fn pairs_around(mesh: &TriangleMesh, moved: &[bool]) -> Vec<[u32; 2]> {
    let bounds = |t: &[u32; 3]| {
        let p = t.map(|v| mesh.vertices[v as usize]);
        let low: [f64; 3] = std::array::from_fn(|k| p[0][k].min(p[1][k]).min(p[2][k]));
        let high: [f64; 3] = std::array::from_fn(|k| p[0][k].max(p[1][k]).max(p[2][k]));
        [low, high]
    };
    let active: Vec<[[f64; 3]; 2]> = (mesh.triangles.iter())
        .filter(|t| t.iter().any(|&v| moved[v as usize]))
        .map(bounds)
        .collect();
    let Some(cell) = active
        .iter()
        .map(|b| (0..3).map(|k| b[1][k] - b[0][k]).fold(0.0, f64::max))
        .reduce(f64::max)
        .filter(|c| *c > 0.0)
    else {
        return Vec::new();
    };
    // Cells of the largest active triangle's size covered by an active box: a triangle whose box
    // touches no such cell cannot meet an active triangle.
    let index = |x: [f64; 3]| x.map(|c| (c / cell).floor() as i64);
    let mut covered = std::collections::HashSet::new();
    for b in &active {
        let (lo, hi) = (index(b[0]), index(b[1]));
        for i in lo[0]..=hi[0] {
            for j in lo[1]..=hi[1] {
                for k in lo[2]..=hi[2] {
                    covered.insert([i, j, k]);
                }
            }
        }
    }
    let nearby: Vec<u32> = (0..mesh.triangles.len() as u32)
        .into_par_iter()
        .filter(|&t| {
            let b = bounds(&mesh.triangles[t as usize]);
            let (lo, hi) = (index(b[0]), index(b[1]));
            (lo[0]..=hi[0]).any(|i| {
                (lo[1]..=hi[1]).any(|j| (lo[2]..=hi[2]).any(|k| covered.contains(&[i, j, k])))
            })
        })
        .collect();
    let part = TriangleMesh {
        vertices: mesh.vertices.clone(),
        triangles: nearby.iter().map(|&t| mesh.triangles[t as usize]).collect(),
    };
    let mut pairs: Vec<[u32; 2]> = self_intersecting_pairs(&part)
        .into_iter()
        .map(|[s, t]| [nearby[s as usize], nearby[t as usize]])
        .collect();
    pairs.sort_unstable();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mesh::test_support::{cube, merged};

    /// Two cubes side by side, a gap of 0.2 between them, and a third far away; the stage pushes
    /// the near face of the first through the second and moves a face of the third.
    #[test]
    fn a_move_through_a_neighbour_is_taken_back_and_others_are_kept() {
        let mut mesh = [[1.2, 0.0, 0.0], [5.0, 0.0, 0.0]]
            .iter()
            .fold(cube(1.0, [0.0; 3]), |m, &offset| {
                merged(&m, &cube(1.0, offset))
            });
        let before = mesh.vertices.clone();
        for p in &mut mesh.vertices {
            if p[0] == 1.0 || p[0] == 6.0 {
                p[0] += 0.5;
            }
        }
        let (report, left) = take_back_folds(&mut mesh, &before);
        assert!(report.pairs_found > 0);
        assert!(left.is_empty());
        assert!(self_intersecting_pairs(&mesh).is_empty());
        // The pushed face stops short of the neighbour: a quarter of its move is left.
        assert_eq!(mesh.vertices[1][0], 1.125);
        // The move far away stays.
        assert_eq!(mesh.vertices[17][0], 6.5);
        assert_eq!(report.vertices_held_back, 4);
    }

    #[test]
    fn a_clean_stage_is_left_as_it_is() {
        let mut mesh = cube(1.0, [0.0; 3]);
        let before = mesh.vertices.clone();
        mesh.vertices[7] = [1.3, 1.2, 1.1];
        let moved = mesh.clone();
        let (report, left) = take_back_folds(&mut mesh, &before);
        assert_eq!(report, Unfolding::default());
        assert!(left.is_empty());
        assert_eq!(mesh, moved);
    }
}
