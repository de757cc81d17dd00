//! Sparse direct solve of `K(E) u = f` on the free DOFs: the accurate reference solver.
//!
//! The global matrix is assembled (lower triangle only, free DOFs only) straight from the grid
//! structure: the entry between node `a` and its neighbour `b` is the sum over the elements they
//! share of `Eₑ·h·K̂[corner(a), corner(b)]`, so no element→matrix position map is stored. The
//! sparsity pattern and its symbolic Cholesky factorization (AMD ordering, faer) are computed
//! once; each design iteration refactors numerically. Factorization and solves run sequentially
//! so results are identical for any thread count. A solve only reads the factor (its right-hand
//! side lives in a caller's buffer), so several right-hand sides can be solved concurrently.
//!
//! Memory grows faster than the grid (fill-in), so this solver is meant for grids up to about
//! 10⁵ elements and for checking iterative solvers.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::cholesky::llt::factor::LltRegularization;
use faer::sparse::SparseColMatRef;
use faer::sparse::SymbolicSparseColMat;
use faer::sparse::linalg::cholesky::{
    CholeskySymbolicParams, LltRef, SymbolicCholesky, SymmetricOrdering,
    factorize_symbolic_cholesky,
};
use faer::{Conj, MatMut, Par, Side};

use super::hex8::ElementStiffness;
use crate::grid::Grid;

/// Failure of the direct solver.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DirectError {
    /// The matrix is not positive definite (a support is missing or a stiffness is not positive).
    #[error("stiffness matrix is not positive definite")]
    NotPositiveDefinite,
    /// Memory for the factor could not be allocated.
    #[error("out of memory while factorizing {dofs} unknowns")]
    OutOfMemory {
        /// Number of free DOFs.
        dofs: usize,
    },
}

/// Sparse Cholesky solver for the free DOFs of one grid.
#[derive(Debug)]
pub struct DirectSolver {
    grid: Grid,
    /// Global DOF of each free unknown, increasing.
    free_dofs: Vec<usize>,
    /// Free-unknown index of each global DOF, `usize::MAX` for fixed DOFs.
    free_index: Vec<usize>,
    pattern: SymbolicSparseColMat<usize>,
    values: Vec<f64>,
    symbolic: SymbolicCholesky<usize>,
    factor: Vec<f64>,
    factored: bool,
}

impl DirectSolver {
    /// Builds the pattern and the symbolic factorization for `grid` with DOFs `fixed`.
    pub fn new(grid: Grid, fixed: &[bool]) -> Result<Self, DirectError> {
        assert_eq!(fixed.len(), grid.dof_count());
        let free_dofs: Vec<usize> = (0..fixed.len()).filter(|&d| !fixed[d]).collect();
        let mut free_index = vec![usize::MAX; fixed.len()];
        for (i, &d) in free_dofs.iter().enumerate() {
            free_index[d] = i;
        }
        let n = free_dofs.len();
        let mut col_ptr = Vec::with_capacity(n + 1);
        let mut row_idx = Vec::new();
        col_ptr.push(0);
        for &dof in &free_dofs {
            for_each_lower_entry(&grid, &free_index, dof, |row, _, _| row_idx.push(row));
            col_ptr.push(row_idx.len());
        }
        let out_of_memory = DirectError::OutOfMemory { dofs: n };
        let pattern = SymbolicSparseColMat::new_checked(n, n, col_ptr, None, row_idx);
        let symbolic = factorize_symbolic_cholesky(
            pattern.as_ref(),
            Side::Lower,
            SymmetricOrdering::Amd,
            CholeskySymbolicParams::default(),
        )
        .map_err(|_| out_of_memory.clone())?;
        let mut factor = Vec::new();
        factor
            .try_reserve_exact(symbolic.len_val())
            .map_err(|_| out_of_memory)?;
        factor.resize(symbolic.len_val(), 0.0);
        let values = vec![0.0; pattern.row_idx().len()];
        Ok(Self {
            grid,
            free_dofs,
            free_index,
            pattern,
            values,
            symbolic,
            factor,
            factored: false,
        })
    }

    /// Number of free unknowns.
    pub fn unknowns(&self) -> usize {
        self.free_dofs.len()
    }

    /// Bytes held: factor, matrix values and indices, index maps (not the solves' buffers).
    pub fn memory_bytes(&self) -> usize {
        8 * (self.factor.len() + 2 * self.values.len() + 2 * self.free_index.len())
    }

    /// Number of stored entries of the Cholesky factor.
    pub fn factor_entries(&self) -> usize {
        self.factor.len()
    }

    /// Assembles `K = Σ stiffness[e]·K̂` (element stiffnesses `Eₑ·h`) and factorizes it.
    pub fn factorize(
        &mut self,
        ke: &ElementStiffness,
        stiffness: &[f64],
    ) -> Result<(), DirectError> {
        assert_eq!(stiffness.len(), self.grid.element_count());
        let grid = self.grid;
        self.factorize_with(|row_dof, col_dof| coupling(&grid, ke, stiffness, row_dof, col_dof))
    }

    /// Factorizes the matrix whose entry between global DOFs `(row, col)` is `entry(row, col)`;
    /// it is called for the structurally non-zero entries of the lower triangle only.
    pub fn factorize_with(
        &mut self,
        entry: impl Fn(usize, usize) -> f64,
    ) -> Result<(), DirectError> {
        self.factored = false;
        let mut next = 0;
        for &dof in &self.free_dofs {
            let values = &mut self.values;
            for_each_lower_entry(&self.grid, &self.free_index, dof, |_, row_dof, col_dof| {
                values[next] = entry(row_dof, col_dof);
                next += 1;
            });
        }
        let matrix = SparseColMatRef::new(self.pattern.as_ref(), &self.values);
        let scratch = self
            .symbolic
            .factorize_numeric_llt_scratch::<f64>(Par::Seq, Default::default());
        let mut buffer = MemBuffer::try_new(scratch).map_err(|_| DirectError::OutOfMemory {
            dofs: self.unknowns(),
        })?;
        self.symbolic
            .factorize_numeric_llt(
                &mut self.factor,
                matrix,
                Side::Lower,
                LltRegularization::default(),
                Par::Seq,
                MemStack::new(&mut buffer),
                Default::default(),
            )
            .map_err(|_| DirectError::NotPositiveDefinite)?;
        self.factored = true;
        Ok(())
    }

    /// Solves `K u = f` on the free DOFs; fixed DOFs of `u` are set to zero. `rhs` is scratch of
    /// length [`unknowns`](Self::unknowns), so concurrent solves each bring their own.
    ///
    /// # Panics
    /// If [`factorize`](Self::factorize) has not succeeded first, or `rhs` has the wrong length.
    pub fn solve(&self, f: &[f64], u: &mut [f64], rhs: &mut [f64]) {
        assert!(self.factored, "factorize before solving");
        assert_eq!(rhs.len(), self.unknowns(), "one rhs entry per free unknown");
        for (r, &dof) in rhs.iter_mut().zip(&self.free_dofs) {
            *r = f[dof];
        }
        let n = rhs.len();
        let llt = LltRef::new(&self.symbolic, &self.factor);
        let mut buffer = MemBuffer::new(self.symbolic.solve_in_place_scratch::<f64>(1, Par::Seq));
        llt.solve_in_place_with_conj(
            Conj::No,
            MatMut::from_column_major_slice_mut(rhs, n, 1),
            Par::Seq,
            MemStack::new(&mut buffer),
        );
        u.fill(0.0);
        for (&x, &dof) in rhs.iter().zip(&self.free_dofs) {
            u[dof] = x;
        }
    }
}

/// Calls `visit(row, row_dof, col_dof)` for every structurally non-zero entry of column `col_dof`
/// on or below the diagonal among free DOFs, in increasing row order (`row` is the free index).
fn for_each_lower_entry(
    grid: &Grid,
    free_index: &[usize],
    col_dof: usize,
    mut visit: impl FnMut(usize, usize, usize),
) {
    let node = grid.node_coords(col_dof / 3);
    let nodes = grid.nodes_per_axis();
    let column = free_index[col_dof];
    // Neighbours in increasing node index: z outermost, x innermost.
    for dz in -1i64..=1 {
        for dy in -1i64..=1 {
            for dx in -1i64..=1 {
                let Some(neighbour) = shifted(node, [dx, dy, dz], nodes) else {
                    continue;
                };
                let neighbour_node = grid.node_index(neighbour);
                for axis in 0..3 {
                    let row_dof = 3 * neighbour_node + axis;
                    let row = free_index[row_dof];
                    if row != usize::MAX && row >= column {
                        visit(row, row_dof, col_dof);
                    }
                }
            }
        }
    }
}

fn shifted(node: [usize; 3], delta: [i64; 3], nodes: [usize; 3]) -> Option<[usize; 3]> {
    let mut out = [0; 3];
    for axis in 0..3 {
        let c = node[axis] as i64 + delta[axis];
        if c < 0 || c >= nodes[axis] as i64 {
            return None;
        }
        out[axis] = c as usize;
    }
    Some(out)
}

/// `K[row_dof, col_dof]`: the sum over elements containing both nodes of `Eₑ·h·K̂[a, b]`.
fn coupling(
    grid: &Grid,
    ke: &ElementStiffness,
    stiffness: &[f64],
    row_dof: usize,
    col_dof: usize,
) -> f64 {
    let a = grid.node_coords(row_dof / 3);
    let b = grid.node_coords(col_dof / 3);
    let mut total = 0.0;
    // An element contains node a and node b when its lower corner `lo` satisfies
    // lo ≤ min(a, b) and max(a, b) ≤ lo + 1 on every axis.
    for corner in 0..8 {
        let offset = [corner & 1, (corner >> 1) & 1, corner >> 2];
        let mut lo = [0; 3];
        let mut inside = true;
        for axis in 0..3 {
            let hi = a[axis].max(b[axis]);
            match hi.checked_sub(offset[axis]) {
                Some(l) if l <= a[axis].min(b[axis]) && l < grid.elements[axis] => lo[axis] = l,
                _ => inside = false,
            }
        }
        if !inside {
            continue;
        }
        // Each distinct element is found once: `offset` fixes lo = max(a, b) − offset, and
        // the candidates for different offsets differ.
        let local = |n: [usize; 3]| (n[0] - lo[0]) + 2 * (n[1] - lo[1]) + 4 * (n[2] - lo[2]);
        let e = grid.element_index(lo);
        total += stiffness[e] * ke.get(3 * local(a) + row_dof % 3, 3 * local(b) + col_dof % 3);
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fem::operator::StiffnessOperator;

    #[test]
    fn solves_a_clamped_block_to_machine_precision() {
        let grid = Grid::new([5, 3, 2], 1.0);
        let fixed: Vec<bool> = (0..grid.dof_count())
            .map(|d| grid.node_coords(d / 3)[0] == 0)
            .collect();
        let stiffness: Vec<f64> = (0..grid.element_count())
            .map(|e| {
                if e % 3 == 0 {
                    1e-3
                } else {
                    1.0 + e as f64 * 0.01
                }
            })
            .collect();
        let ke = ElementStiffness::new(0.3);
        let mut solver = DirectSolver::new(grid, &fixed).unwrap();
        solver.factorize(&ke, &stiffness).unwrap();
        let mut rhs = vec![0.0; solver.unknowns()];
        let f: Vec<f64> = (0..grid.dof_count())
            .map(|d| if fixed[d] { 0.0 } else { (d as f64).sin() })
            .collect();
        let mut u = vec![0.0; f.len()];
        solver.solve(&f, &mut u, &mut rhs);
        let mut op = StiffnessOperator::new(grid, ke, &fixed);
        op.set_stiffness(&stiffness);
        let mut ku = vec![0.0; f.len()];
        op.apply(&u, &mut ku);
        let err: f64 = ku
            .iter()
            .zip(&f)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = f.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(err / norm < 1e-12, "relative residual {}", err / norm);
    }
}
