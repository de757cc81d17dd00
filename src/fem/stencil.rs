//! Assembled 27-point node-block operators for the coarse multigrid levels.
//!
//! A coarse level `l` has elements of `m = 2ˡ` fine elements per edge. Because trilinear
//! prolongation is exact for trilinear functions, the Galerkin operator `PᵀKP` is, element by
//! element, `K_E = Σ_{s ⊂ E} (Eₛ h) · P_sᵀ K̂ P_s`, where `P_s` interpolates the coarse element's
//! corners to fine sub-cell `s`. The `m³` matrices `K_s = P_sᵀ K̂ P_s` depend only on the sub-cell
//! position and are computed once ([`SubcellStiffness`]); each design iteration then costs 576
//! multiply-adds per fine element and level (the exact element-wise Galerkin of Träff et al. 2023),
//! robust to the 10⁹ stiffness contrast of SIMP.
//!
//! Storage: per node, 27 neighbours × a 3×3 block (243 values), rows of fixed DOFs replaced by the
//! identity and columns of fixed DOFs zeroed, so the operator is `N A N + I − N` like the fine one.
//! The values are summed in double precision. A level that is smoothed stores them in single
//! precision ([`Precision::Single`]): it only preconditions the double-precision CG, and reading
//! its coefficients is what its applies wait on (at 524 k fine elements the first coarse level
//! holds 69 k nodes, 134 MB of coefficients in double precision, read at every apply). A relative
//! rounding of 6·10⁻⁸ per entry changes no CG iteration count in the benchmarks (README,
//! "Performance"). The coarsest level, which is factored, keeps double precision: at SIMP's 10⁹
//! stiffness contrast the rounding of the solid entries is larger than the smallest eigenvalues
//! (members joined only through void), and the rounded matrix need not be positive definite.

use rayon::prelude::*;

use super::hex8::{ELEMENT_DOFS, ElementStiffness};
use crate::grid::Grid;

/// Coefficients per node: 27 neighbours × 3 × 3.
const NODE_BLOCK: usize = 27 * 9;

/// The `m³` sub-cell Galerkin matrices `P_sᵀ K̂ P_s` of a coarsening factor `m`.
#[derive(Debug, Clone)]
pub struct SubcellStiffness {
    factor: usize,
    matrices: Vec<[f64; ELEMENT_DOFS * ELEMENT_DOFS]>,
}

impl SubcellStiffness {
    /// Computes the matrices for coarsening factor `factor` (a power of two).
    pub fn new(ke: &ElementStiffness, factor: usize) -> Self {
        let m = factor as f64;
        let mut matrices = Vec::with_capacity(factor.pow(3));
        for sz in 0..factor {
            for sy in 0..factor {
                for sx in 0..factor {
                    let sub = [sx, sy, sz];
                    // P[fine corner][coarse corner]: the coarse shape function at the fine corner.
                    let mut p = [[0.0; 8]; 8];
                    for (fine, row) in p.iter_mut().enumerate() {
                        let xi: [f64; 3] =
                            std::array::from_fn(|a| (sub[a] + corner_offset(fine)[a]) as f64 / m);
                        for (coarse, w) in row.iter_mut().enumerate() {
                            let o = corner_offset(coarse);
                            *w = (0..3)
                                .map(|a| if o[a] == 1 { xi[a] } else { 1.0 - xi[a] })
                                .product();
                        }
                    }
                    // K_s[(ci,a),(cj,b)] = Σ_{fi,fj} P[fi][ci] K̂[(fi,a),(fj,b)] P[fj][cj].
                    let mut k = [0.0; ELEMENT_DOFS * ELEMENT_DOFS];
                    for ci in 0..8 {
                        for cj in 0..8 {
                            for a in 0..3 {
                                for b in 0..3 {
                                    let mut sum = 0.0;
                                    for fi in 0..8 {
                                        for fj in 0..8 {
                                            sum += p[fi][ci]
                                                * ke.get(3 * fi + a, 3 * fj + b)
                                                * p[fj][cj];
                                        }
                                    }
                                    k[(3 * ci + a) * ELEMENT_DOFS + 3 * cj + b] = sum;
                                }
                            }
                        }
                    }
                    matrices.push(k);
                }
            }
        }
        Self { factor, matrices }
    }

    /// The coarsening factor `m`.
    pub fn factor(&self) -> usize {
        self.factor
    }
}

fn corner_offset(corner: usize) -> [usize; 3] {
    [corner & 1, (corner >> 1) & 1, corner >> 2]
}

/// Index of the neighbour at offset `d ∈ {−1, 0, 1}³` in a node block.
#[inline]
fn neighbour_slot(d: [i64; 3]) -> usize {
    ((d[0] + 1) + 3 * (d[1] + 1) + 9 * (d[2] + 1)) as usize
}

/// How a [`StencilOperator`] stores its coefficients (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// `f32`: for levels that are smoothed.
    Single,
    /// `f64`: for the level that is factored.
    Double,
}

#[derive(Debug, Clone)]
enum Coefficients {
    Single(Vec<f32>),
    Double(Vec<f64>),
}

/// An assembled coarse-level operator.
#[derive(Debug, Clone)]
pub struct StencilOperator {
    grid: Grid,
    free_mask: Vec<f64>,
    coefficients: Coefficients,
}

impl StencilOperator {
    /// An (all-zero) operator on `grid` with fixed DOFs `fixed`, its coefficients stored in
    /// `precision`.
    pub fn new(grid: Grid, fixed: &[bool], precision: Precision) -> Self {
        assert_eq!(fixed.len(), grid.dof_count());
        let n = grid.node_count() * NODE_BLOCK;
        Self {
            grid,
            free_mask: fixed.iter().map(|&f| if f { 0.0 } else { 1.0 }).collect(),
            coefficients: match precision {
                Precision::Single => Coefficients::Single(vec![0.0; n]),
                Precision::Double => Coefficients::Double(vec![0.0; n]),
            },
        }
    }

    /// Bytes of the stored coefficients.
    pub fn coefficient_bytes(&self) -> usize {
        match &self.coefficients {
            Coefficients::Single(c) => 4 * c.len(),
            Coefficients::Double(c) => 8 * c.len(),
        }
    }

    /// The grid of this level.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// 1.0 on free DOFs, 0.0 on fixed ones.
    pub fn free_mask(&self) -> &[f64] {
        &self.free_mask
    }

    /// Galerkin assembly from the fine element stiffnesses `fine_stiffness` (`Eₑ·h` on
    /// `fine_grid`), with this level's elements made of `subcells.factor()³` fine elements.
    pub fn assemble_galerkin(
        &mut self,
        fine_grid: &Grid,
        fine_stiffness: &[f64],
        subcells: &SubcellStiffness,
    ) {
        let grid = self.grid;
        let m = subcells.factor();
        // Coarsening rounds odd axes up: the last coarse element may reach past the fine grid,
        // by less than one coarse element.
        for a in 0..3 {
            assert!(
                grid.elements[a] * m >= fine_grid.elements[a]
                    && (grid.elements[a] - 1) * m < fine_grid.elements[a],
                "coarse grid {:?} does not cover fine grid {:?} at factor {m}",
                grid.elements,
                fine_grid.elements
            );
        }
        let free_mask = &self.free_mask;
        let node_block = |node: usize| {
            let mut block = [0.0; NODE_BLOCK];
            let coords = grid.node_coords(node);
            for corner in 0..8 {
                let offset = corner_offset(corner);
                let Some(element) = super::operator::element_at(&grid, coords, offset) else {
                    continue;
                };
                // This node's three rows of the coarse element's matrix, Σₛ Eₛ Kₛ: the rows
                // of one corner are 72 contiguous entries of each Kₛ, summed as one
                // vectorisable axpy per sub-cell, then scattered to the neighbour slots.
                let mut rows = [0.0; 3 * ELEMENT_DOFS];
                for (s, k_s) in subcells.matrices.iter().enumerate() {
                    let sub = [s % m, (s / m) % m, s / (m * m)];
                    let cell: [usize; 3] = std::array::from_fn(|a| element[a] * m + sub[a]);
                    // Past the end of an odd axis there is no material.
                    if (0..3).any(|a| cell[a] >= fine_grid.elements[a]) {
                        continue;
                    }
                    let modulus = fine_stiffness[fine_grid.element_index(cell)];
                    let k_rows = &k_s[3 * corner * ELEMENT_DOFS..][..3 * ELEMENT_DOFS];
                    for (r, &k) in rows.iter_mut().zip(k_rows) {
                        *r += modulus * k;
                    }
                }
                for other in 0..8 {
                    let o = corner_offset(other);
                    let slot =
                        neighbour_slot(std::array::from_fn(|a| o[a] as i64 - offset[a] as i64));
                    for a in 0..3 {
                        let row = &rows[a * ELEMENT_DOFS + 3 * other..][..3];
                        for (b, &k) in row.iter().enumerate() {
                            block[slot * 9 + 3 * a + b] += k;
                        }
                    }
                }
            }
            apply_dirichlet(&grid, free_mask, node, &mut block);
            block
        };
        match &mut self.coefficients {
            Coefficients::Single(c) => {
                c.par_chunks_mut(NODE_BLOCK)
                    .enumerate()
                    .for_each(|(node, stored)| {
                        for (s, b) in stored.iter_mut().zip(node_block(node)) {
                            *s = b as f32;
                        }
                    })
            }
            Coefficients::Double(c) => c
                .par_chunks_mut(NODE_BLOCK)
                .enumerate()
                .for_each(|(node, stored)| stored.copy_from_slice(&node_block(node))),
        }
    }

    /// The entry between global DOFs `row` and `col` (zero where they are not neighbours).
    pub fn entry(&self, row: usize, col: usize) -> f64 {
        let (a, b) = (
            self.grid.node_coords(row / 3),
            self.grid.node_coords(col / 3),
        );
        let d: [i64; 3] = std::array::from_fn(|k| b[k] as i64 - a[k] as i64);
        if d.iter().any(|v| v.abs() > 1) {
            return 0.0;
        }
        self.coefficient((row / 3) * NODE_BLOCK + neighbour_slot(d) * 9 + 3 * (row % 3) + col % 3)
    }

    fn coefficient(&self, index: usize) -> f64 {
        match &self.coefficients {
            Coefficients::Single(c) => f64::from(c[index]),
            Coefficients::Double(c) => c[index],
        }
    }

    /// `y = A u`.
    pub fn apply(&self, u: &[f64], y: &mut [f64]) {
        match &self.coefficients {
            Coefficients::Single(c) => self.apply_with(c, u, y),
            Coefficients::Double(c) => self.apply_with(c, u, y),
        }
    }

    fn apply_with<C: Copy + Into<f64> + Sync>(&self, coefficients: &[C], u: &[f64], y: &mut [f64]) {
        let grid = &self.grid;
        let nodes = grid.nodes_per_axis();
        y.par_chunks_mut(3).enumerate().for_each(|(node, y_node)| {
            let c = grid.node_coords(node);
            let block = &coefficients[node * NODE_BLOCK..][..NODE_BLOCK];
            let mut sum = [0.0; 3];
            for dz in -1i64..=1 {
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let n = [c[0] as i64 + dx, c[1] as i64 + dy, c[2] as i64 + dz];
                        if (0..3).any(|a| n[a] < 0 || n[a] >= nodes[a] as i64) {
                            continue;
                        }
                        let other = grid.node_index(n.map(|v| v as usize));
                        let coefficients = &block[neighbour_slot([dx, dy, dz]) * 9..][..9];
                        for (a, s) in sum.iter_mut().enumerate() {
                            for b in 0..3 {
                                *s += coefficients[3 * a + b].into() * u[3 * other + b];
                            }
                        }
                    }
                }
            }
            y_node.copy_from_slice(&sum);
        });
    }

    /// The diagonal of the operator.
    pub fn diagonal(&self, diagonal: &mut [f64]) {
        let centre = neighbour_slot([0, 0, 0]);
        diagonal
            .par_chunks_mut(3)
            .enumerate()
            .for_each(|(node, d)| {
                for (a, v) in d.iter_mut().enumerate() {
                    *v = self.coefficient(node * NODE_BLOCK + centre * 9 + 4 * a);
                }
            });
    }
}

/// Identity rows for fixed DOFs of `node`, zero columns towards fixed neighbours.
fn apply_dirichlet(grid: &Grid, free_mask: &[f64], node: usize, block: &mut [f64]) {
    let c = grid.node_coords(node);
    let nodes = grid.nodes_per_axis();
    for slot in 0..27 {
        let d = [
            (slot % 3) as i64 - 1,
            ((slot / 3) % 3) as i64 - 1,
            (slot / 9) as i64 - 1,
        ];
        let n = [c[0] as i64 + d[0], c[1] as i64 + d[1], c[2] as i64 + d[2]];
        if (0..3).any(|a| n[a] < 0 || n[a] >= nodes[a] as i64) {
            continue;
        }
        let other = grid.node_index(n.map(|v| v as usize));
        for a in 0..3 {
            for b in 0..3 {
                let keep = free_mask[3 * node + a] * free_mask[3 * other + b];
                let identity = if slot == 13 && a == b {
                    1.0 - free_mask[3 * node + a]
                } else {
                    0.0
                };
                let v = &mut block[slot * 9 + 3 * a + b];
                *v = keep * *v + identity;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fem::operator::StiffnessOperator;

    /// Applies `stencil` and `op` to `u` and requires the results to agree within `tolerance`
    /// of the largest entry; that largest entry is returned.
    fn assert_applies_alike(
        stencil: &StencilOperator,
        op: &StiffnessOperator,
        u: &[f64],
        tolerance: f64,
    ) -> f64 {
        let (mut a, mut b) = (vec![0.0; u.len()], vec![0.0; u.len()]);
        stencil.apply(u, &mut a);
        op.apply(u, &mut b);
        let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < tolerance * scale, "{x} vs {y}");
        }
        scale
    }

    /// To rounding: the sums of 81 products in double precision, or the coefficients' own
    /// single-precision rounding (ε = 6·10⁻⁸).
    #[test]
    fn factor_one_reproduces_the_fine_operator() {
        for (precision, tolerance) in [(Precision::Double, 1e-14), (Precision::Single, 1e-6)] {
            let grid = Grid::new([5, 3, 4], 1.0);
            let ke = ElementStiffness::new(0.3);
            let fixed: Vec<bool> = (0..grid.dof_count())
                .map(|d| grid.node_coords(d / 3)[0] == 0 || d % 11 == 4)
                .collect();
            let stiffness: Vec<f64> = (0..grid.element_count())
                .map(|e| 1e-9 + (e as f64 * 0.4).cos().abs())
                .collect();
            let mut stencil = StencilOperator::new(grid, &fixed, precision);
            stencil.assemble_galerkin(&grid, &stiffness, &SubcellStiffness::new(&ke, 1));
            let mut op = StiffnessOperator::new(grid, ke, &fixed);
            op.set_stiffness(&stiffness);
            let u: Vec<f64> = (0..grid.dof_count())
                .map(|d| (d as f64 * 0.29).sin())
                .collect();
            let scale = assert_applies_alike(&stencil, &op, &u, tolerance);
            let (mut da, mut db) = (vec![0.0; u.len()], vec![0.0; u.len()]);
            stencil.diagonal(&mut da);
            op.diagonal(&mut db);
            for (x, y) in da.iter().zip(&db) {
                assert!((x - y).abs() <= tolerance * y.abs(), "{precision:?}");
            }
            for row in (0..u.len()).step_by(5) {
                for col in (0..u.len()).step_by(7) {
                    let (x, y) = (stencil.entry(row, col), stencil.entry(col, row));
                    assert!(
                        (x - y).abs() <= tolerance * scale,
                        "{precision:?}: symmetric"
                    );
                }
            }
        }
    }

    #[test]
    fn galerkin_of_a_uniform_field_is_the_coarse_element() {
        // Uniform fine stiffness 1 with h: the Galerkin coarse element of edge 2h equals 2·K̂
        // (stiffness scales with the element edge), i.e. the rediscretised operator.
        let ke = ElementStiffness::new(0.3);
        let coarse = Grid::new([2, 2, 1], 2.0);
        let fine = Grid::new([4, 4, 2], 1.0);
        let fixed = vec![false; coarse.dof_count()];
        let mut stencil = StencilOperator::new(coarse, &fixed, Precision::Single);
        stencil.assemble_galerkin(
            &fine,
            &vec![1.0; fine.element_count()],
            &SubcellStiffness::new(&ke, 2),
        );
        let mut op = StiffnessOperator::new(coarse, ke, &fixed);
        op.set_stiffness(&vec![2.0; coarse.element_count()]);
        let u: Vec<f64> = (0..coarse.dof_count())
            .map(|d| (d as f64 * 0.61).cos())
            .collect();
        // Single-precision coefficients, as above.
        assert_applies_alike(&stencil, &op, &u, 1e-6);
    }
}
