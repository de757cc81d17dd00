//! Matrix-free stiffness operator `y = K(E) u` on the voxel grid.
//!
//! `K = Σₑ Eₑ·h·Pₑᵀ K̂ Pₑ` is never assembled. The element kernel computes `yₑ = Eₑ h K̂ uₑ` for a
//! run of [`LANES`] consecutive elements along x at once (the 24 local DOFs as `[24][LANES]`, so
//! the 576 multiply-adds vectorise across elements), reading and writing node rows held apart by
//! component (see `apply_layer_with`). Races are avoided by colouring element layers along z:
//! even layers touch disjoint node layers, so they run in parallel and write them, then the odd
//! ones add theirs. Each output entry therefore receives its contributions in the same order for
//! any thread count: results are bitwise reproducible.
//!
//! Dirichlet conditions are applied as `N K N + (I − N)` with `N` the diagonal mask of free DOFs
//! (Amir, Aage & Lazarov 2014): fixed DOFs are read as 0 and copied to the output, without
//! branches in the element kernel.
//!
//! [`StiffnessOperator::apply_single`] is the same product computed in `f32` (vectors stay
//! `f64`), for the multigrid smoother: an `f32` lane is half as wide, so the same registers hold
//! twice the elements (runs of `2 · LANES`) and the compute-bound kernel does twice the work per
//! instruction. A preconditioner needs no more than single precision ("fp32 preconditioner
//! inside fp64 CG", deal.II step-37; MULTIGRID.md §5); CG's own products stay `f64`.

use rayon::prelude::*;

use super::hex8::{ELEMENT_DOFS, ElementStiffness};
use crate::grid::Grid;

/// Elements processed together by the `f64` kernel (one SIMD register of f64 on AVX-512, two on
/// AVX2); the `f32` kernel processes twice as many.
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
    /// `K̂` and `Eₑ·h` rounded to `f32`, for [`Self::apply_single`].
    ke_single: Box<[f32; ELEMENT_DOFS * ELEMENT_DOFS]>,
    stiffness_single: Vec<f32>,
    /// The fixed DOFs in increasing order, and where those of each node row `(·, j, k)` begin
    /// (index `j + py·k`, one entry more at the end).
    fixed_dofs: Vec<usize>,
    fixed_row_starts: Vec<usize>,
}

/// An instruction-set variant of [`StiffnessOperator::apply_layer`]: the layer loop compiled
/// with the target features `$features`, so that its inlined kernel uses them.
macro_rules! layer_variant {
    ($name:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = $features)]
        unsafe fn $name<T: Real>(&self, u: &[f64], k: usize, y_layers: &mut [f64], assign: bool) {
            T::layer::<Fused>(self, u, k, y_layers, assign);
        }
    };
}

impl StiffnessOperator {
    /// Operator for `grid` with unit-modulus element stiffness `ke` and DOFs `fixed` (one flag per
    /// DOF); all element stiffnesses start at 1.
    pub fn new(grid: Grid, ke: ElementStiffness, fixed: &[bool]) -> Self {
        assert_eq!(fixed.len(), grid.dof_count(), "one fixed flag per DOF");
        let free_mask = fixed.iter().map(|&f| if f { 0.0 } else { 1.0 }).collect();
        let fixed_dofs: Vec<usize> = (0..fixed.len()).filter(|&d| fixed[d]).collect();
        let [px, py, pz] = grid.nodes_per_axis();
        let row_dofs = 3 * px;
        let fixed_row_starts = (0..=py * pz)
            .map(|row| fixed_dofs.partition_point(|&d| d < row * row_dofs))
            .collect();
        let ke_single = Box::new(ke.entries.map(|k| k as f32));
        Self {
            grid,
            ke,
            free_mask,
            stiffness: vec![1.0; grid.element_count()],
            ke_single,
            stiffness_single: vec![1.0; grid.element_count()],
            fixed_dofs,
            fixed_row_starts,
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
        self.stiffness_single
            .par_iter_mut()
            .zip(stiffness)
            .for_each(|(single, &s)| *single = s as f32);
    }

    /// `y = (N K N + I − N) u`.
    pub fn apply(&self, u: &[f64], y: &mut [f64]) {
        self.apply_in::<f64>(u, y);
    }

    /// `y ≈ (N K N + I − N) u` computed in `f32`: `u` is read and `y` written in `f64`, the
    /// element products and each node's sum of its elements' contributions are single precision
    /// (relative error about 1e-7 of the largest contribution). Deterministic like
    /// [`Self::apply`], and cheaper; for the multigrid smoother, not for residuals.
    pub fn apply_single(&self, u: &[f64], y: &mut [f64]) {
        self.apply_in::<f32>(u, y);
    }

    fn apply_in<T: Real>(&self, u: &[f64], y: &mut [f64]) {
        let grid = &self.grid;
        assert_eq!(u.len(), grid.dof_count());
        assert_eq!(y.len(), grid.dof_count());
        let [px, py, _] = grid.nodes_per_axis();
        let node_layer = 3 * px * py;
        for parity in 0..2 {
            // Element layer k touches node layers k and k + 1; layers of one parity are disjoint.
            // The even layers write every node layer but the last of an even count, which is
            // cleared; the odd ones add.
            let (_, tail) = y.split_at_mut(parity * node_layer);
            tail.par_chunks_mut(2 * node_layer)
                .enumerate()
                .for_each(|(pair, y_layers)| {
                    let k = 2 * pair + parity;
                    if k < grid.elements[2] {
                        self.apply_layer::<T>(u, k, y_layers, parity == 0);
                    } else if parity == 0 {
                        y_layers.fill(0.0);
                    }
                });
        }
        // Fixed rows are the identity.
        for &dof in &self.fixed_dofs {
            y[dof] = u[dof];
        }
    }

    /// Adds the contributions of element layer `k` to `y_layers` (node layers k and k + 1, and
    /// possibly more that it does not touch), or with `assign` writes them over what is there.
    fn apply_layer<T: Real>(&self, u: &[f64], k: usize, y_layers: &mut [f64], assign: bool) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for (checked above).
            unsafe { self.apply_layer_avx512::<T>(u, k, y_layers, assign) };
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: as above.
            unsafe { self.apply_layer_avx2::<T>(u, k, y_layers, assign) };
            return;
        }
        T::layer::<Separate>(self, u, k, y_layers, assign);
    }

    layer_variant!(apply_layer_avx512, "avx512f,avx2,fma");
    layer_variant!(apply_layer_avx2, "avx2,fma");

    /// The layer loop, inlined into each instruction-set variant above.
    ///
    /// `u` is interleaved (x, y, z per node), which would make the kernel gather each element's
    /// 24 DOFs one scalar at a time and scatter its 24 results the same way, neighbouring lanes
    /// adding into the same nodes one after the other. Instead the four node rows an element
    /// row touches are held apart by component ([`NodeRows`]): each node row is copied in once
    /// per element layer (its fixed DOFs as zeros), so a lane vector of one local DOF is one
    /// contiguous load, and the results go into node rows of the same layout, where a node
    /// receives the corner of element x − 1 and then that of element x, lane by lane without
    /// a scatter. Each node thus gets its contributions one at a time in the order of a plain
    /// element-by-element scatter, so the sums are bit for bit those of one. A node row goes
    /// back to `y` once complete: written in the layer that writes, added to in the other.
    #[inline(always)]
    fn apply_layer_with<M: MultiplyAdd, T: Real, const L: usize, const ROWS: usize>(
        &self,
        u: &[f64],
        k: usize,
        y_layers: &mut [f64],
        assign: bool,
    ) {
        let grid = &self.grid;
        let [nx, ny, _] = grid.elements;
        let (ke, stiffness) = T::coefficients(self);
        let mut inputs = NodeRows::<T, L>::new(nx);
        let mut outputs = NodeRows::<T, L>::new(nx);
        let mut y_e = [[T::ZERO; L]; ELEMENT_DOFS];
        let mut modulus = [T::ZERO; L];
        self.load_rows(u, k, &mut inputs, 0);
        self.start_rows(y_layers, assign, &mut outputs, 0);
        for j in 0..ny {
            self.load_rows(u, k, &mut inputs, j + 1);
            self.start_rows(y_layers, assign, &mut outputs, j + 1);
            let first_element = grid.element_index([0, j, k]);
            // Where each local DOF's lane vector starts in `inputs` (at i0 = 0), and where each
            // of the 12 node rows the element row adds to starts in `outputs`.
            let sources: [usize; ELEMENT_DOFS] = std::array::from_fn(|slot| {
                let (corner, axis) = (slot / 3, slot % 3);
                let (dx, dy, dz) = (corner & 1, (corner >> 1) & 1, corner >> 2);
                inputs.offset(j + dy, dz, axis) + dx
            });
            let targets: [usize; 12] = std::array::from_fn(|row_slot| {
                let (dy, dz, axis) = ((row_slot / 3) & 1, row_slot / 6, row_slot % 3);
                outputs.offset(j + dy, dz, axis)
            });
            // What the x = 1 corners of the previous run give the first node of the next one,
            // per node row and component.
            let mut carry = [T::ZERO; 12];
            for i0 in (0..nx).step_by(L) {
                // Unused lanes read padding or real nodes with zero modulus, so they add zeros.
                for (lane, m) in modulus.iter_mut().enumerate() {
                    *m = if i0 + lane < nx {
                        stiffness[first_element + i0 + lane]
                    } else {
                        T::ZERO
                    };
                }
                let u_e = sources.map(|source| inputs.lanes(source + i0));
                element_kernel::<M, T, L, ROWS>(ke, &modulus, &u_e, &mut y_e);
                for (row_slot, carried) in carry.iter_mut().enumerate() {
                    let (dy, dz, axis) = ((row_slot / 3) & 1, row_slot / 6, row_slot % 3);
                    let left = &y_e[3 * (2 * dy + 4 * dz) + axis];
                    let right = &y_e[3 * (1 + 2 * dy + 4 * dz) + axis];
                    // Element x − 1's corner first, then element x's: each node receives its
                    // contributions one by one in element order, as a scatter element after
                    // element would add them, so the sums do not depend on this layout.
                    let mut before = [T::ZERO; L];
                    before[0] = *carried;
                    before[1..].copy_from_slice(&right[..L - 1]);
                    let out = outputs.lanes_mut(targets[row_slot] + i0);
                    for lane in 0..L {
                        out[lane] = (out[lane] + before[lane]) + left[lane];
                    }
                    *carried = right[L - 1];
                }
            }
            let end = nx.div_ceil(L) * L;
            for (row_slot, carried) in carry.iter().enumerate() {
                let (dy, dz, axis) = ((row_slot / 3) & 1, row_slot / 6, row_slot % 3);
                let out = &mut outputs.row_mut(j + dy, dz, axis)[end];
                *out = *out + *carried;
            }
            // Node row j has all its contributions from this element layer.
            self.flush_rows(&outputs, y_layers, j);
        }
        self.flush_rows(&outputs, y_layers, ny);
    }

    // The row copies below are methods, not closures of `apply_layer_with`, so that they are
    // inlined into the instruction-set variants: a closure is compiled on its own, without the
    // caller's target features (a fifth of the apply's time when it was one).

    /// Copies node rows `(·, j, k)` and `(·, j, k + 1)` of `u` into `rows`, fixed DOFs as zeros.
    #[inline(always)]
    fn load_rows<T: Real, const L: usize>(
        &self,
        u: &[f64],
        k: usize,
        rows: &mut NodeRows<T, L>,
        j: usize,
    ) {
        let grid = &self.grid;
        let [px, py, _] = grid.nodes_per_axis();
        for dz in 0..2 {
            let first = 3 * grid.node_index([0, j, k + dz]);
            let node_dofs = u[first..first + 3 * px].chunks_exact(3);
            let [rx, ry, rz] = rows.components(j, dz);
            for (x, values) in node_dofs.enumerate() {
                rx[x] = T::from_f64(values[0]);
                ry[x] = T::from_f64(values[1]);
                rz[x] = T::from_f64(values[2]);
            }
            let row = j + py * (k + dz);
            let fixed = self.fixed_row_starts[row]..self.fixed_row_starts[row + 1];
            for &dof in &self.fixed_dofs[fixed] {
                rows.components(j, dz)[dof % 3][(dof - first) / 3] = T::from_f64(u[dof] * 0.0);
            }
        }
    }

    /// Starts the sums of node rows `(·, j, 0)` and `(·, j, 1)` of `y_layers` (node layers k and
    /// k + 1 start at 0 and 3·px·py): from zero in the layer that writes (`assign`), from what
    /// `y` holds in the layer that adds.
    #[inline(always)]
    fn start_rows<T: Real, const L: usize>(
        &self,
        y_layers: &[f64],
        assign: bool,
        rows: &mut NodeRows<T, L>,
        j: usize,
    ) {
        let grid = &self.grid;
        let px = grid.nodes_per_axis()[0];
        for dz in 0..2 {
            let first = 3 * grid.node_index([0, j, dz]);
            let [rx, ry, rz] = rows.components(j, dz);
            if assign {
                rx.fill(T::ZERO);
                ry.fill(T::ZERO);
                rz.fill(T::ZERO);
            } else {
                let node_dofs = y_layers[first..first + 3 * px].chunks_exact(3);
                for (x, y) in node_dofs.enumerate() {
                    (rx[x], ry[x], rz[x]) =
                        (T::from_f64(y[0]), T::from_f64(y[1]), T::from_f64(y[2]));
                }
            }
        }
    }

    /// Writes the complete node rows `(·, j, 0)` and `(·, j, 1)` back to `y_layers`.
    #[inline(always)]
    fn flush_rows<T: Real, const L: usize>(
        &self,
        rows: &NodeRows<T, L>,
        y_layers: &mut [f64],
        j: usize,
    ) {
        let grid = &self.grid;
        let px = grid.nodes_per_axis()[0];
        for dz in 0..2 {
            let first = 3 * grid.node_index([0, j, dz]);
            let node_dofs = y_layers[first..first + 3 * px].chunks_exact_mut(3);
            let [rx, ry, rz] = [0, 1, 2].map(|axis| rows.row(j, dz, axis));
            for (x, y) in node_dofs.enumerate() {
                y.copy_from_slice(&[rx[x].to_f64(), ry[x].to_f64(), rz[x].to_f64()]);
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

/// The node rows `(·, j, k + dz)` of an element layer, for two consecutive `j` (slot `j mod 2`)
/// and both `dz`, one array per displacement component, each padded with zeros to whole runs of
/// `L` lanes and one run more, so that the last run's lanes shifted by one node stay inside.
struct NodeRows<T, const L: usize> {
    width: usize,
    values: Vec<T>,
}

impl<T: Real, const L: usize> NodeRows<T, L> {
    fn new(nx: usize) -> Self {
        let width = (nx.div_ceil(L) + 1) * L;
        Self {
            width,
            values: vec![T::ZERO; 2 * 2 * 3 * width],
        }
    }

    fn offset(&self, j: usize, dz: usize, axis: usize) -> usize {
        (((j & 1) * 2 + dz) * 3 + axis) * self.width
    }

    /// The `L` values from `start` on (an offset as [`Self::offset`] gives, plus x).
    #[inline(always)]
    fn lanes(&self, start: usize) -> &[T; L] {
        self.values[start..]
            .first_chunk()
            .expect("rows are padded by a run of lanes")
    }

    #[inline(always)]
    fn lanes_mut(&mut self, start: usize) -> &mut [T; L] {
        self.values[start..]
            .first_chunk_mut()
            .expect("rows are padded by a run of lanes")
    }

    fn row(&self, j: usize, dz: usize, axis: usize) -> &[T] {
        let start = self.offset(j, dz, axis);
        &self.values[start..start + self.width]
    }

    fn row_mut(&mut self, j: usize, dz: usize, axis: usize) -> &mut [T] {
        let start = self.offset(j, dz, axis);
        &mut self.values[start..start + self.width]
    }

    /// The three component rows of node row `(·, j, k + dz)`.
    fn components(&mut self, j: usize, dz: usize) -> [&mut [T]; 3] {
        let (start, width) = (self.offset(j, dz, 0), self.width);
        let (x, rest) = self.values[start..start + 3 * width].split_at_mut(width);
        let (y, z) = rest.split_at_mut(width);
        [x, y, z]
    }
}

/// The number type the element kernel computes in: `f64` for [`StiffnessOperator::apply`],
/// `f32` for [`StiffnessOperator::apply_single`].
trait Real: Copy + Send + Sync + std::ops::Add<Output = Self> + std::ops::Mul<Output = Self> {
    const ZERO: Self;

    fn from_f64(value: f64) -> Self;

    fn to_f64(self) -> f64;

    /// `a·b + c` in one rounding (`mul_add` without hardware FMA is a slow libm call, so only
    /// [`Fused`] uses it).
    fn fused_multiply_add(a: Self, b: Self, c: Self) -> Self;

    /// `K̂` and `Eₑ·h` of `op` in this type.
    fn coefficients(op: &StiffnessOperator) -> (&[Self; ELEMENT_DOFS * ELEMENT_DOFS], &[Self]);

    /// [`StiffnessOperator::apply_layer_with`] with the lanes and the rows summed side by side
    /// that keep the FMA units busy in this type.
    fn layer<M: MultiplyAdd>(
        op: &StiffnessOperator,
        u: &[f64],
        k: usize,
        y_layers: &mut [f64],
        assign: bool,
    );
}

impl Real for f64 {
    const ZERO: Self = 0.0;

    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value
    }

    #[inline(always)]
    fn to_f64(self) -> f64 {
        self
    }

    #[inline(always)]
    fn fused_multiply_add(a: Self, b: Self, c: Self) -> Self {
        a.mul_add(b, c)
    }

    fn coefficients(op: &StiffnessOperator) -> (&[Self; ELEMENT_DOFS * ELEMENT_DOFS], &[Self]) {
        (&op.ke.entries, &op.stiffness)
    }

    /// [`LANES`] lanes of `f64` are two AVX2 registers; four rows make eight independent chains.
    #[inline(always)]
    fn layer<M: MultiplyAdd>(
        op: &StiffnessOperator,
        u: &[f64],
        k: usize,
        y_layers: &mut [f64],
        assign: bool,
    ) {
        op.apply_layer_with::<M, Self, LANES, 4>(u, k, y_layers, assign);
    }
}

impl Real for f32 {
    const ZERO: Self = 0.0;

    #[inline(always)]
    fn from_f64(value: f64) -> Self {
        value as f32
    }

    #[inline(always)]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }

    #[inline(always)]
    fn fused_multiply_add(a: Self, b: Self, c: Self) -> Self {
        a.mul_add(b, c)
    }

    fn coefficients(op: &StiffnessOperator) -> (&[Self; ELEMENT_DOFS * ELEMENT_DOFS], &[Self]) {
        (&op.ke_single, &op.stiffness_single)
    }

    /// Twice [`LANES`] lanes of `f32`, so that each broadcast entry of `K̂` serves two AVX2
    /// registers as in `f64`; four rows make eight independent chains.
    #[inline(always)]
    fn layer<M: MultiplyAdd>(
        op: &StiffnessOperator,
        u: &[f64],
        k: usize,
        y_layers: &mut [f64],
        assign: bool,
    ) {
        op.apply_layer_with::<M, Self, { 2 * LANES }, 4>(u, k, y_layers, assign);
    }
}

/// `a·b + c`, fused where the CPU has FMA.
trait MultiplyAdd {
    fn multiply_add<T: Real>(a: T, b: T, c: T) -> T;
}

/// Separate multiply and add (any CPU).
struct Separate;

impl MultiplyAdd for Separate {
    #[inline(always)]
    fn multiply_add<T: Real>(a: T, b: T, c: T) -> T {
        a * b + c
    }
}

/// Fused multiply-add (compiled only into functions with the `fma` target feature).
#[cfg(target_arch = "x86_64")]
struct Fused;

#[cfg(target_arch = "x86_64")]
impl MultiplyAdd for Fused {
    #[inline(always)]
    fn multiply_add<T: Real>(a: T, b: T, c: T) -> T {
        T::fused_multiply_add(a, b, c)
    }
}

/// `y_e[r][l] = modulus[l] · Σ_c K̂[r][c] u_e[c][l]` for `L` elements at once: the weak
/// form's `Eₑ h K̂ uₑ`, with the lane loop innermost so it maps onto SIMD registers.
///
/// `ROWS` rows (a divisor of 24) are summed side by side: one row alone is a chain of 24
/// dependent multiply-adds, which waits on the FMA latency instead of its throughput.
#[inline(always)]
fn element_kernel<M: MultiplyAdd, T: Real, const L: usize, const ROWS: usize>(
    ke: &[T; ELEMENT_DOFS * ELEMENT_DOFS],
    modulus: &[T; L],
    u_e: &[&[T; L]; ELEMENT_DOFS],
    y_e: &mut [[T; L]; ELEMENT_DOFS],
) {
    let rows = ke.chunks_exact(ROWS * ELEMENT_DOFS);
    for (block, y_rows) in rows.zip(y_e.chunks_exact_mut(ROWS)) {
        let mut acc = [[T::ZERO; L]; ROWS];
        for (c, u_col) in u_e.iter().enumerate() {
            for (r, acc_row) in acc.iter_mut().enumerate() {
                let k = block[r * ELEMENT_DOFS + c];
                for lane in 0..L {
                    acc_row[lane] = M::multiply_add(k, u_col[lane], acc_row[lane]);
                }
            }
        }
        for (y_row, acc_row) in y_rows.iter_mut().zip(&acc) {
            for lane in 0..L {
                y_row[lane] = modulus[lane] * acc_row[lane];
            }
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

    /// Rows shorter than, as long as and longer than a run of lanes; odd and even layer counts
    /// (the last node layer of an even count is written by an odd element layer alone).
    #[test]
    fn matches_assembled_matrix_on_small_grids() {
        for elements in [[4, 3, 2], [8, 2, 3], [17, 2, 1], [9, 1, 4]] {
            let grid = Grid::new(elements, 1.0);
            let ke = ElementStiffness::new(0.3);
            let (fixed, stiffness, u) = sample(&grid);
            let mut op = StiffnessOperator::new(grid, ke.clone(), &fixed);
            op.set_stiffness(&stiffness);
            // Whatever `y` held before is overwritten.
            let mut y = vec![f64::NAN; grid.dof_count()];
            op.apply(&u, &mut y);
            let expected = dense_apply(&grid, &ke, &fixed, &stiffness, &u);
            let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in y.iter().zip(&expected) {
                assert!((a - b).abs() <= 1e-13 * scale, "{elements:?}: {a} vs {b}");
            }
        }
    }

    /// The single-precision product is the same operator to `f32` rounding, on the fixed DOFs
    /// too, and as reproducible across thread counts as the double one.
    #[test]
    fn single_precision_matches_double() {
        for elements in [[4, 3, 2], [17, 2, 1], [9, 5, 4]] {
            let grid = Grid::new(elements, 1.0);
            let (fixed, stiffness, u) = sample(&grid);
            let mut op = StiffnessOperator::new(grid, ElementStiffness::new(0.3), &fixed);
            op.set_stiffness(&stiffness);
            let (mut double, mut single) = (vec![0.0; u.len()], vec![f64::NAN; u.len()]);
            op.apply(&u, &mut double);
            op.apply_single(&u, &mut single);
            let scale = double.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in single.iter().zip(&double) {
                assert!((a - b).abs() <= 1e-6 * scale, "{elements:?}: {a} vs {b}");
            }
            assert_ne!(single, double, "{elements:?}: computed in f64 after all");
            let threads = |n| on_threads(n, u.len(), |y| op.apply_single(&u, y));
            assert_eq!(threads(1), threads(3));
        }
    }

    /// `apply` into a zeroed vector of length `n`, on a pool of `threads` threads.
    fn on_threads(threads: usize, n: usize, apply: impl FnOnce(&mut [f64]) + Send) -> Vec<f64> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let mut y = vec![0.0; n];
        pool.install(|| apply(&mut y));
        y
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
        let run = |threads| on_threads(threads, u.len(), |y| op.apply(&u, y));
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

    /// The plain element-by-element gather and scatter, with the same kernel: every node
    /// receives its contributions one at a time, element after element, layer after layer.
    fn scatter_reference(op: &StiffnessOperator, u: &[f64]) -> Vec<f64> {
        let grid = op.grid;
        let [nx, ny, nz] = grid.elements;
        let mut y = vec![0.0; u.len()];
        for k in (0..nz).step_by(2).chain((1..nz).step_by(2)) {
            for j in 0..ny {
                for i0 in (0..nx).step_by(LANES) {
                    let lanes = LANES.min(nx - i0);
                    let mut modulus = [0.0; LANES];
                    let mut u_e = [[0.0; LANES]; ELEMENT_DOFS];
                    for lane in 0..lanes {
                        let element = [i0 + lane, j, k];
                        modulus[lane] = op.stiffness[grid.element_index(element)];
                        for (slot, &dof) in grid.element_dofs(element).iter().enumerate() {
                            u_e[slot][lane] = u[dof] * op.free_mask[dof];
                        }
                    }
                    let mut y_e = [[0.0; LANES]; ELEMENT_DOFS];
                    let u_e = u_e.each_ref();
                    element_kernel::<Separate, f64, LANES, 4>(
                        &op.ke.entries,
                        &modulus,
                        &u_e,
                        &mut y_e,
                    );
                    for lane in 0..lanes {
                        let dofs = grid.element_dofs([i0 + lane, j, k]);
                        for (y_slot, &dof) in y_e.iter().zip(&dofs) {
                            y[dof] += y_slot[lane];
                        }
                    }
                }
            }
        }
        for ((yi, &ui), &m) in y.iter_mut().zip(u).zip(&op.free_mask) {
            *yi = m * *yi + (1.0 - m) * ui;
        }
        y
    }

    /// The layout changes where values are read and written, not the order of any sum.
    #[test]
    fn sums_in_the_order_of_a_plain_scatter() {
        for elements in [[4, 3, 2], [8, 2, 3], [17, 2, 1], [9, 1, 4]] {
            let grid = Grid::new(elements, 1.0);
            let (fixed, stiffness, u) = sample(&grid);
            let mut op = StiffnessOperator::new(grid, ElementStiffness::new(0.3), &fixed);
            op.set_stiffness(&stiffness);
            let [px, py, _] = grid.nodes_per_axis();
            let mut y = vec![f64::NAN; u.len()];
            for parity in 0..2 {
                for k in (parity..grid.elements[2]).step_by(2) {
                    let offset = 3 * px * py * k;
                    op.apply_layer_with::<Separate, f64, LANES, 4>(
                        &u,
                        k,
                        &mut y[offset..],
                        parity == 0,
                    );
                }
                if parity == 0 && grid.elements[2].is_multiple_of(2) {
                    let last = 3 * px * py * grid.elements[2];
                    y[last..].fill(0.0);
                }
            }
            for &dof in &op.fixed_dofs {
                y[dof] = u[dof];
            }
            assert_eq!(y, scatter_reference(&op, &u), "{elements:?}");
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
            op.apply_layer_with::<Separate, f64, LANES, 4>(&u, k, &mut slow[offset..], false);
        }
        for ((s, &ui), &m) in slow.iter_mut().zip(&u).zip(op.free_mask()) {
            *s = m * *s + (1.0 - m) * ui;
        }
        for (a, b) in fast.iter().zip(&slow) {
            assert!((a - b).abs() <= 1e-13 * a.abs().max(1.0), "{a} vs {b}");
        }
    }
}
