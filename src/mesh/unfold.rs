//! Taking back the moves that made a surface pass through itself.
//!
//! Smoothing and the overhang correction move vertices without changing the triangles. Across a
//! thin gap, or where two members nearly touch, such moves can push one sheet of the surface
//! through another; the mesh stays closed and manifold, but it no longer bounds a solid. Rather
//! than restricting every move in advance (each stage would need its own collision test), the
//! stage runs freely and its result is then checked with the exact test of
//! [`super::intersect`]: around every intersecting pair (its triangles' corners and their
//! neighbours) the stage's move is halved, and the check repeats, halving again where a fold
//! persists, so a move is taken back only as far as needed and only where needed. After four
//! halvings a vertex is back where the stage found it, and after [`ROUNDS`] rounds the whole
//! stage is taken back, so the result is free of self-intersections whenever the stage's input
//! was.

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
            pairs = self_intersecting_pairs(mesh);
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
        pairs = self_intersecting_pairs(mesh);
    }
    report.vertices_held_back = (0..after.len())
        .filter(|&v| share[v] < 1.0 && after[v] != before[v])
        .count();
    (report, pairs)
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
