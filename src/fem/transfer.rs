//! Grid transfer between consecutive multigrid levels: trilinear prolongation `P` and
//! restriction `R = Pᵀ` (weights 1, ½, ¼, ⅛; Amir, Aage & Lazarov 2014), and the supports of the
//! coarse level.
//!
//! Coarse node `I` coincides with fine node `2I`. An axis with an odd number of elements `n`
//! coarsens to `⌈n/2⌉` elements: the last coarse element reaches half an element past the fine
//! grid, and its outer nodes carry the fine nodes of the last fine element by the same trilinear
//! weights, so `P` stays trilinear on every coarse element and the Galerkin operators stay exact
//! (the part of a coarse element outside the fine grid holds no material: see
//! [`super::stencil::StencilOperator::assemble_galerkin`]). Both directions are written as
//! gathers (each output entry summed by one task in a fixed order), so results do not depend on
//! thread count.

use rayon::prelude::*;

use crate::grid::Grid;

/// The coarse grid of `fine`: half the elements per axis, rounded up, at twice the element size.
pub fn coarsen(fine: &Grid) -> Grid {
    Grid::new(
        fine.elements.map(|n| n.div_ceil(2)),
        2.0 * fine.element_size_mm,
    )
}

/// Whether `fine` can be coarsened by two: every axis has at least two elements.
pub fn can_coarsen(fine: &Grid) -> bool {
    fine.elements.iter().all(|&n| n >= 2)
}

/// 1D weights: coarse indices and weights contributing to fine index `i`.
#[inline]
fn parents(i: usize) -> ([usize; 2], [f64; 2], usize) {
    if i.is_multiple_of(2) {
        ([i / 2, 0], [1.0, 0.0], 1)
    } else {
        ([i / 2, i.div_ceil(2)], [0.5, 0.5], 2)
    }
}

/// Coarse supports: a coarse DOF is held when any fine DOF of the same direction within its
/// interpolation footprint is held. This never loses a support (a coarse level without the
/// fine supports would be singular), at the price of a slightly stiffer coarse problem, which
/// only affects the preconditioner, never the solution.
pub fn coarse_fixed(fine: &Grid, fine_fixed: &[bool], coarse: &Grid) -> Vec<bool> {
    let mut fixed = vec![false; coarse.dof_count()];
    for node in 0..fine.node_count() {
        let c = fine.node_coords(node);
        let p = c.map(parents);
        for a in 0..p[0].2 {
            for b in 0..p[1].2 {
                for d in 0..p[2].2 {
                    let coarse_node = coarse.node_index([p[0].0[a], p[1].0[b], p[2].0[d]]);
                    for axis in 0..3 {
                        fixed[3 * coarse_node + axis] |= fine_fixed[3 * node + axis];
                    }
                }
            }
        }
    }
    fixed
}

/// `fine = P coarse`, then zero on the fine level's fixed DOFs.
pub fn prolong(
    fine_grid: &Grid,
    coarse_grid: &Grid,
    fine_mask: &[f64],
    coarse: &[f64],
    fine: &mut [f64],
) {
    fine.par_chunks_mut(3).enumerate().for_each(|(node, out)| {
        let p = fine_grid.node_coords(node).map(parents);
        let mut sum = [0.0; 3];
        for a in 0..p[0].2 {
            for b in 0..p[1].2 {
                for d in 0..p[2].2 {
                    let w = p[0].1[a] * p[1].1[b] * p[2].1[d];
                    let c = coarse_grid.node_index([p[0].0[a], p[1].0[b], p[2].0[d]]);
                    for axis in 0..3 {
                        sum[axis] += w * coarse[3 * c + axis];
                    }
                }
            }
        }
        for axis in 0..3 {
            out[axis] = fine_mask[3 * node + axis] * sum[axis];
        }
    });
}

/// `coarse = Pᵀ fine`, then zero on the coarse level's fixed DOFs.
pub fn restrict(
    fine_grid: &Grid,
    coarse_grid: &Grid,
    coarse_mask: &[f64],
    fine: &[f64],
    coarse: &mut [f64],
) {
    let fine_nodes = fine_grid.nodes_per_axis();
    coarse
        .par_chunks_mut(3)
        .enumerate()
        .for_each(|(node, out)| {
            let c = coarse_grid.node_coords(node);
            let mut sum = [0.0; 3];
            // Fine nodes 2I − 1 ..= 2I + 1 on each axis, weight ½ off-centre.
            for dz in -1i64..=1 {
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let f = [
                            2 * c[0] as i64 + dx,
                            2 * c[1] as i64 + dy,
                            2 * c[2] as i64 + dz,
                        ];
                        if (0..3).any(|a| f[a] < 0 || f[a] >= fine_nodes[a] as i64) {
                            continue;
                        }
                        let w = [dx, dy, dz]
                            .iter()
                            .map(|&d| if d == 0 { 1.0 } else { 0.5 })
                            .product::<f64>();
                        let n = fine_grid.node_index(f.map(|v| v as usize));
                        for axis in 0..3 {
                            sum[axis] += w * fine[3 * n + axis];
                        }
                    }
                }
            }
            for axis in 0..3 {
                out[axis] = coarse_mask[3 * node + axis] * sum[axis];
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `⟨P x, y⟩ = ⟨x, R y⟩` for arbitrary `x` and `y` on `fine` and its coarse grid.
    fn assert_restriction_is_the_transpose(fine: Grid) {
        let coarse = coarsen(&fine);
        let x: Vec<f64> = (0..coarse.dof_count())
            .map(|i| (i as f64 * 0.7).sin())
            .collect();
        let y: Vec<f64> = (0..fine.dof_count())
            .map(|i| (i as f64 * 0.3).cos())
            .collect();
        let (mut px, mut ry) = (vec![0.0; fine.dof_count()], vec![0.0; coarse.dof_count()]);
        prolong(&fine, &coarse, &vec![1.0; fine.dof_count()], &x, &mut px);
        restrict(&fine, &coarse, &vec![1.0; coarse.dof_count()], &y, &mut ry);
        let lhs: f64 = px.iter().zip(&y).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&ry).map(|(a, b)| a * b).sum();
        assert!((lhs - rhs).abs() < 1e-12);
    }

    /// A linear field on the coarse grid (beyond the fine grid's end included) prolongs to the
    /// same linear field on `fine`.
    fn assert_linear_fields_are_reproduced(fine: Grid) {
        let coarse = coarsen(&fine);
        let linear = |g: &Grid, n: usize| {
            let p = g.node_position_mm(n);
            [p[0] + 2.0 * p[1], -p[2], 3.0 + p[0] * 0.5]
        };
        let x: Vec<f64> = (0..coarse.dof_count())
            .map(|d| linear(&coarse, d / 3)[d % 3])
            .collect();
        let mut px = vec![0.0; fine.dof_count()];
        prolong(&fine, &coarse, &vec![1.0; fine.dof_count()], &x, &mut px);
        for (d, v) in px.iter().enumerate() {
            assert!((v - linear(&fine, d / 3)[d % 3]).abs() < 1e-13);
        }
    }

    #[test]
    fn restriction_is_the_transpose_of_prolongation() {
        assert_restriction_is_the_transpose(Grid::new([4, 6, 2], 1.0));
    }

    #[test]
    fn prolongation_reproduces_linear_fields() {
        assert_linear_fields_are_reproduced(Grid::new([4, 2, 2], 1.0));
    }

    #[test]
    fn odd_axes_coarsen_to_half_rounded_up_and_transfer_as_even_ones() {
        let fine = Grid::new([5, 3, 2], 1.0);
        assert_eq!(coarsen(&fine).elements, [3, 2, 1]);
        assert!(can_coarsen(&fine) && !can_coarsen(&coarsen(&fine)));
        assert_restriction_is_the_transpose(fine);
        assert_linear_fields_are_reproduced(fine);
    }

    #[test]
    fn coarse_supports_cover_the_fine_ones() {
        let fine = Grid::new([4, 2, 2], 1.0);
        let coarse = coarsen(&fine);
        // Hold y at the single fine node (3, 0, 0), which is not a coarse node.
        let mut fixed = vec![false; fine.dof_count()];
        fixed[3 * fine.node_index([3, 0, 0]) + 1] = true;
        let held = coarse_fixed(&fine, &fixed, &coarse);
        assert!(held[3 * coarse.node_index([1, 0, 0]) + 1]);
        assert!(held[3 * coarse.node_index([2, 0, 0]) + 1]);
        assert_eq!(held.iter().filter(|&&h| h).count(), 2);
    }
}
