//! Matrix-free stiffness operator `y = K(E) u` on the voxel grid.
//!
//! `K = Σₑ Eₑ·h·Pₑᵀ K̂ Pₑ` is never assembled. The element kernel computes `yₑ = Eₑ h K̂ uₑ` for a
//! run of [`LANES`] consecutive elements along x at once (the 24 local DOFs are gathered into
//! `[24][LANES]` so the 576 multiply-adds vectorise across elements), then scatters into `y`.
//! Races are avoided by colouring element layers along z: even layers touch disjoint node layers,
//! so they run in parallel, then the odd ones. Each output entry therefore receives its
//! contributions in the same order for any thread count: results are bitwise reproducible.
//!
//! Dirichlet conditions are applied as `N K N + (I − N)` with `N` the diagonal mask of free DOFs
//! (Amir, Aage & Lazarov 2014): fixed DOFs are multiplied by 0 on input and copied to the output,
//! without branches in the element kernel.

use rayon::prelude::*;

use super::hex8::{ELEMENT_DOFS, ElementStiffness};
use crate::grid::Grid;

/// Elements processed together by the kernel (one SIMD register of f64 on AVX-512).
pub const LANES: usize = 8;

/// The stiffness operator of one grid with its supports and current element stiffnesses.
#[derive(Debug, Clone)]
pub struct StiffnessOperator {
    grid: Grid,
    ke: ElementStiffness,
    /// 1.0 on free DOFs, 0.0 on fixed ones.
    free_mask: Vec<f64>,
    /// `Eₑ·h` per element (N/mm).
    stiffness: Vec<f64>,
}

impl StiffnessOperator {
    /// Operator for `grid` with unit-modulus element stiffness `ke` and DOFs `fixed` (one flag per
    /// DOF); all element stiffnesses start at 1.
    pub fn new(grid: Grid, ke: ElementStiffness, fixed: &[bool]) -> Self {
        assert_eq!(fixed.len(), grid.dof_count(), "one fixed flag per DOF");
        let free_mask = fixed.iter().map(|&f| if f { 0.0 } else { 1.0 }).collect();
        Self {
            grid,
            ke,
            free_mask,
            stiffness: vec![1.0; grid.element_count()],
        }
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// The unit element stiffness.
    pub fn element_stiffness(&self) -> &ElementStiffness {
        &self.ke
    }

    /// 1.0 on free DOFs, 0.0 on fixed ones.
    pub fn free_mask(&self) -> &[f64] {
        &self.free_mask
    }

    /// Element stiffnesses `Eₑ·h` in use.
    pub fn stiffness(&self) -> &[f64] {
        &self.stiffness
    }

    /// Sets the element stiffnesses `Eₑ·h` (N/mm) of the current design.
    pub fn set_stiffness(&mut self, stiffness: &[f64]) {
        self.stiffness.copy_from_slice(stiffness);
    }

    /// `y = (N K N + I − N) u`.
    pub fn apply(&self, u: &[f64], y: &mut [f64]) {
        let grid = &self.grid;
        assert_eq!(u.len(), grid.dof_count());
        assert_eq!(y.len(), grid.dof_count());
        let [px, py, _] = grid.nodes_per_axis();
        let node_layer = 3 * px * py;
        y.fill(0.0);
        for parity in 0..2 {
            // Element layer k touches node layers k and k + 1; layers of one parity are disjoint.
            let (_, tail) = y.split_at_mut(parity * node_layer);
            tail.par_chunks_mut(2 * node_layer)
                .enumerate()
                .for_each(|(pair, y_layers)| {
                    let k = 2 * pair + parity;
                    if k < grid.elements[2] {
                        self.apply_layer(u, k, y_layers);
                    }
                });
        }
        for ((yi, &ui), &m) in y.iter_mut().zip(u).zip(&self.free_mask) {
            *yi = m * *yi + (1.0 - m) * ui;
        }
    }

    /// Adds the contributions of element layer `k` to `y_layers` (node layers k and k + 1, and
    /// possibly more that it does not touch).
    fn apply_layer(&self, u: &[f64], k: usize, y_layers: &mut [f64]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for (checked above).
            unsafe { self.apply_layer_avx512(u, k, y_layers) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            unsafe { self.apply_layer_avx2(u, k, y_layers) };
            return;
        }
        self.apply_layer_with::<Separate>(u, k, y_layers);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn apply_layer_avx512(&self, u: &[f64], k: usize, y_layers: &mut [f64]) {
        self.apply_layer_with::<Fused>(u, k, y_layers);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_layer_avx2(&self, u: &[f64], k: usize, y_layers: &mut [f64]) {
        self.apply_layer_with::<Fused>(u, k, y_layers);
    }

    /// The layer loop, inlined into each instruction-set variant above.
    #[inline(always)]
    fn apply_layer_with<M: MultiplyAdd>(&self, u: &[f64], k: usize, y_layers: &mut [f64]) {
        let grid = &self.grid;
        let [nx, ny, _] = grid.elements;
        let [px, py, _] = grid.nodes_per_axis();
        let layer_offset = 3 * px * py * k;
        // DOF offset of each local DOF from the element's first DOF.
        let slot_offset: [usize; ELEMENT_DOFS] = std::array::from_fn(|slot| {
            let c = slot / 3;
            3 * ((c & 1) + px * (((c >> 1) & 1) + py * (c >> 2))) + slot % 3
        });
        let mut u_e = [[0.0; LANES]; ELEMENT_DOFS];
        let mut y_e = [[0.0; LANES]; ELEMENT_DOFS];
        let mut modulus = [0.0; LANES];
        for j in 0..ny {
            let first_element = grid.element_index([0, j, k]);
            let first_dof = 3 * grid.node_index([0, j, k]);
            for i0 in (0..nx).step_by(LANES) {
                let lanes = LANES.min(nx - i0);
                for lane in 0..LANES {
                    // Unused lanes repeat the last element with zero modulus and are not scattered.
                    let i = i0 + lane.min(lanes - 1);
                    modulus[lane] = if lane < lanes {
                        self.stiffness[first_element + i]
                    } else {
                        0.0
                    };
                    let base = first_dof + 3 * i;
                    for (slot, offset) in slot_offset.iter().enumerate() {
                        let dof = base + offset;
                        u_e[slot][lane] = u[dof] * self.free_mask[dof];
                    }
                }
                element_kernel::<M>(&self.ke, &modulus, &u_e, &mut y_e);
                // Neighbouring lanes share nodes along x, so the scatter is sequential.
                for lane in 0..lanes {
                    let base = first_dof + 3 * (i0 + lane) - layer_offset;
                    for (y_slot, offset) in y_e.iter().zip(&slot_offset) {
                        y_layers[base + offset] += y_slot[lane];
                    }
                }
            }
        }
    }

    /// The diagonal of `N K N + I − N` (1 on fixed DOFs), for Jacobi-type smoothers.
    pub fn diagonal(&self, diagonal: &mut [f64]) {
        let grid = &self.grid;
        assert_eq!(diagonal.len(), grid.dof_count());
        diagonal
            .par_chunks_mut(3)
            .enumerate()
            .for_each(|(node, d)| {
                let coords = grid.node_coords(node);
                let mut sum = [0.0; 3];
                for corner in 0..8 {
                    let offset = [corner & 1, (corner >> 1) & 1, corner >> 2];
                    if let Some(element) = element_at(grid, coords, offset) {
                        let modulus = self.stiffness[grid.element_index(element)];
                        for (axis, s) in sum.iter_mut().enumerate() {
                            *s += modulus * self.ke.get(3 * corner + axis, 3 * corner + axis);
                        }
                    }
                }
                for axis in 0..3 {
                    let m = self.free_mask[3 * node + axis];
                    d[axis] = m * sum[axis] + (1.0 - m);
                }
            });
    }

    /// Per-element `uₑᵀ K̂ uₑ` (fixed DOFs taken as zero), in element order.
    pub fn element_energies(&self, u: &[f64], energies: &mut [f64]) {
        let grid = &self.grid;
        assert_eq!(energies.len(), grid.element_count());
        energies.par_iter_mut().enumerate().for_each(|(e, energy)| {
            let dofs = grid.element_dofs(grid.element_coords(e));
            let u_e = dofs.map(|d| u[d] * self.free_mask[d]);
            *energy = self.ke.energy(&u_e);
        });
    }
}

/// `a·b + c`, fused where the CPU has FMA (`mul_add` without hardware FMA is a slow libm call).
trait MultiplyAdd {
    fn multiply_add(a: f64, b: f64, c: f64) -> f64;
}

/// Separate multiply and add (any CPU).
struct Separate;

impl MultiplyAdd for Separate {
    #[inline(always)]
    fn multiply_add(a: f64, b: f64, c: f64) -> f64 {
        a * b + c
    }
}

/// Fused multiply-add (compiled only into functions with the `fma` target feature).
#[cfg(target_arch = "x86_64")]
struct Fused;

#[cfg(target_arch = "x86_64")]
impl MultiplyAdd for Fused {
    #[inline(always)]
    fn multiply_add(a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
}

/// `y_e[r][l] = modulus[l] · Σ_c K̂[r][c] u_e[c][l]` for [`LANES`] elements at once: the weak
/// form's `Eₑ h K̂ uₑ`, with the lane loop innermost so it maps onto one SIMD register.
#[inline(always)]
fn element_kernel<M: MultiplyAdd>(
    ke: &ElementStiffness,
    modulus: &[f64; LANES],
    u_e: &[[f64; LANES]; ELEMENT_DOFS],
    y_e: &mut [[f64; LANES]; ELEMENT_DOFS],
) {
    for (row, y_row) in ke.entries.chunks_exact(ELEMENT_DOFS).zip(y_e.iter_mut()) {
        let mut acc = [0.0; LANES];
        for (&k, u_col) in row.iter().zip(u_e) {
            for lane in 0..LANES {
                acc[lane] = M::multiply_add(k, u_col[lane], acc[lane]);
            }
        }
        for lane in 0..LANES {
            y_row[lane] = modulus[lane] * acc[lane];
        }
    }
}

/// Element whose local corner `offset` is `node`, if it lies inside the grid.
#[inline]
pub(crate) fn element_at(grid: &Grid, node: [usize; 3], offset: [usize; 3]) -> Option<[usize; 3]> {
    let mut element = [0; 3];
    for axis in 0..3 {
        element[axis] = node[axis].checked_sub(offset[axis])?;
        if element[axis] >= grid.elements[axis] {
            return None;
        }
    }
    Some(element)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slow twin: assemble the dense K on a tiny grid and multiply.
    fn dense_apply(
        grid: &Grid,
        ke: &ElementStiffness,
        fixed: &[bool],
        stiffness: &[f64],
        u: &[f64],
    ) -> Vec<f64> {
        let n = grid.dof_count();
        let mut k = vec![0.0; n * n];
        for (e, &modulus) in stiffness.iter().enumerate() {
            let dofs = grid.element_dofs(grid.element_coords(e));
            for (a, &ra) in dofs.iter().enumerate() {
                for (b, &cb) in dofs.iter().enumerate() {
                    k[ra * n + cb] += modulus * ke.get(a, b);
                }
            }
        }
        (0..n)
            .map(|r| {
                if fixed[r] {
                    return u[r];
                }
                (0..n)
                    .filter(|&c| !fixed[c])
                    .map(|c| k[r * n + c] * u[c])
                    .sum()
            })
            .collect()
    }

    fn sample(grid: &Grid) -> (Vec<bool>, Vec<f64>, Vec<f64>) {
        let fixed: Vec<bool> = (0..grid.dof_count())
            .map(|d| grid.node_coords(d / 3)[0] == 0 || d % 7 == 3)
            .collect();
        let stiffness: Vec<f64> = (0..grid.element_count())
            .map(|e| 1e-9 + (e as f64 * 0.7).sin().abs())
            .collect();
        let u: Vec<f64> = (0..grid.dof_count())
            .map(|d| (d as f64 * 0.13).cos())
            .collect();
        (fixed, stiffness, u)
    }

    #[test]
    fn matches_assembled_matrix_on_a_small_grid() {
        let grid = Grid::new([4, 3, 2], 1.0);
        let ke = ElementStiffness::new(0.3);
        let (fixed, stiffness, u) = sample(&grid);
        let mut op = StiffnessOperator::new(grid, ke.clone(), &fixed);
        op.set_stiffness(&stiffness);
        let mut y = vec![0.0; grid.dof_count()];
        op.apply(&u, &mut y);
        let expected = dense_apply(&grid, &ke, &fixed, &stiffness, &u);
        let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (a, b) in y.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-13 * scale, "{a} vs {b}");
        }
    }

    #[test]
    fn is_symmetric() {
        let grid = Grid::new([3, 3, 3], 2.0);
        let (fixed, stiffness, u) = sample(&grid);
        let v: Vec<f64> = (0..grid.dof_count())
            .map(|d| (d as f64 * 0.71).sin())
            .collect();
        let mut op = StiffnessOperator::new(grid, ElementStiffness::new(0.3), &fixed);
        op.set_stiffness(&stiffness);
        let (mut ku, mut kv) = (vec![0.0; u.len()], vec![0.0; u.len()]);
        op.apply(&u, &mut ku);
        op.apply(&v, &mut kv);
        let vku: f64 = v.iter().zip(&ku).map(|(a, b)| a * b).sum();
        let ukv: f64 = u.iter().zip(&kv).map(|(a, b)| a * b).sum();
        assert!((vku - ukv).abs() <= 1e-12 * vku.abs().max(1.0));
    }

    #[test]
    fn identical_for_one_and_two_threads() {
        let grid = Grid::new([6, 5, 4], 1.0);
        let (fixed, stiffness, u) = sample(&grid);
        let mut op = StiffnessOperator::new(grid, ElementStiffness::new(0.3), &fixed);
        op.set_stiffness(&stiffness);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let mut y = vec![0.0; u.len()];
            pool.install(|| op.apply(&u, &mut y));
            y
        };
        assert_eq!(run(1), run(2));
    }

    #[test]
    fn diagonal_matches_the_applied_unit_vectors() {
        let grid = Grid::new([9, 2, 3], 1.0);
        let (fixed, stiffness, _) = sample(&grid);
        let mut op = StiffnessOperator::new(grid, ElementStiffness::new(0.3), &fixed);
        op.set_stiffness(&stiffness);
        let mut diagonal = vec![0.0; grid.dof_count()];
        op.diagonal(&mut diagonal);
        let (mut e, mut y) = (vec![0.0; grid.dof_count()], vec![0.0; grid.dof_count()]);
        for d in (0..grid.dof_count()).step_by(7) {
            e.fill(0.0);
            e[d] = 1.0;
            op.apply(&e, &mut y);
            assert!((y[d] - diagonal[d]).abs() <= 1e-15 * diagonal[d].abs().max(1.0));
        }
    }

    #[test]
    fn fallback_kernel_matches_the_dispatched_one() {
        let grid = Grid::new([11, 3, 2], 1.0);
        let (fixed, stiffness, u) = sample(&grid);
        let mut op = StiffnessOperator::new(grid, ElementStiffness::new(0.3), &fixed);
        op.set_stiffness(&stiffness);
        let mut fast = vec![0.0; u.len()];
        op.apply(&u, &mut fast);
        let [px, py, _] = grid.nodes_per_axis();
        let mut slow = vec![0.0; u.len()];
        for k in 0..grid.elements[2] {
            let offset = 3 * px * py * k;
            op.apply_layer_with::<Separate>(&u, k, &mut slow[offset..]);
        }
        for ((s, &ui), &m) in slow.iter_mut().zip(&u).zip(op.free_mask()) {
            *s = m * *s + (1.0 - m) * ui;
        }
        for (a, b) in fast.iter().zip(&slow) {
            assert!((a - b).abs() <= 1e-13 * a.abs().max(1.0), "{a} vs {b}");
        }
    }
}
