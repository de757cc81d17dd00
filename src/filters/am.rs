//! Langelaar's additive-manufacturing (AM) filter: the density a printer can build, layer by layer
//! along the build direction, from the blueprint density, so that only self-supporting material
//! survives.
//!
//! The blueprint `x` is the density-filtered field. Layer 1 rests on the base plate and is
//! printed as is, `ξ = x`. An element of a higher layer can be no more solid than the printed
//! material below it that supports it (M. Langelaar, "An additive manufacturing filter for
//! topology optimization of print-ready designs", Struct Multidisc Optim 55 (2017) 871–883,
//! eqs. (1)–(2)):
//!
//! `ξₑ = min(xₑ, Ξₑ)`, `Ξₑ = max_{s ∈ Sₑ} ξₛ`.
//!
//! On the voxel grid the support region `Sₑ` is the element directly below `e` and its 4 face
//! neighbours in that layer, `N = 5` (M. Langelaar, "Topology optimization of 3D self-supporting
//! structures for additive manufacturing", Additive Manufacturing 12 (2016) 60–70, Sect. 2).
//! Material may step out by one element per layer along either in-plane axis: the critical
//! overhang is 45° to the plate in the axis planes. A wall facing a diagonal in-plane direction
//! must be steeper (54.7° to the plate), because a diagonal neighbour does not support. Supports
//! outside the grid count as void.
//!
//! A steeper critical angle, for a margin: with `layers_per_step = 2`
//! ([`AmFilter::with_layers_per_step`]) the cross supports only every other layer, and the
//! layers between rest on the element directly below alone (`N = 1`). Material then steps out by
//! one element per two layers, 63.4° (= atan 2) to the plate. A part designed at exactly 45°
//! has a surface that, once extracted and smoothed, wobbles around 45°, so a slicer set to 45°
//! flags part of it; designing at 63.4° keeps the exported surface clear of that limit.
//!
//! Smooth formulation (2017, Sect. 2.2, eqs. (3)–(5)), with Langelaar's parameters
//! (see [`AmFilterParams`]):
//! - `smax(ξ₁ … ξ_N) = (Σₛ ξₛᴾ)^{1/Q}` with `Q = P + ln N / ln ξ₀`: a P-norm whose exponent `Q`
//!   makes it exact when all `N` supports equal `ξ₀`;
//! - `smin(x, Ξ) = ½(x + Ξ − √((x − Ξ)² + ε) + √ε)`, exact at `x = Ξ = 0`.
//!
//! As in Langelaar's published implementation, every support density is shifted by
//! `ξ_s = 100 · f64::MIN_POSITIVE^{1/P}` before the power, so the sum `K = Σₛ (ξₛ + ξ_s)ᴾ` and
//! `K^{1/Q − 1}` stay finite over void supports, and the smooth maximum is shifted back by
//! `0.95 · N^{1/Q} ξ_s^{P/Q}`, 95 % of its value over 5 void supports, so `Ξ` stays positive.
//!
//! Sensitivities (2017, Sect. 3): one Lagrange multiplier per element, swept from the top layer
//! down. With `μₑ = ∂f/∂ξₑ + λₑ` (the total derivative of `f` with respect to `ξₑ`),
//!
//! `λₑ = Σ_{t : e ∈ S_t} μ_t (∂ξ_t/∂K_t) (∂K_t/∂ξₑ)`, `∂f/∂xₑ = μₑ ∂smin/∂x` (`μₑ` on layer 1),
//!
//! where `∂ξ/∂K = ∂smin/∂Ξ · K^{1/Q − 1}/Q` and `∂K_t/∂ξₑ = P (ξₑ + ξ_s)^{P−1}`. Because the
//! support cross is symmetric, the elements `t` that `e` supports are the element directly above
//! `e` and its 4 face neighbours, so each `λₑ` is gathered by one task.
//!
//! What the smooth functions imply: the printed density exceeds the exact minimum by at most
//! `√ε/2 = 0.005`, so solid resting on solid prints at ≈ 1.004 (the smooth maximum of 5 solid
//! supports is `5^{1/Q} ≈ 1.04`), and an unsupported solid does not print as exactly 0: its
//! first layer prints at ≈ 0.005, and the leak grows towards ≈ 0.03 over the layers above it.
//!
//! The filter keeps its state in build order (layer, then the in-plane rows), so every layer is
//! contiguous. Layers are processed in sequence, and the rows of one layer in parallel. Each
//! output is computed by one task in a fixed order, and the 5 support terms are added with mirror
//! images paired, `K = k₀ + ((k₋ᵤ + k₊ᵤ) + (k₋ᵥ + k₊ᵥ))`. Results are therefore bitwise identical
//! for any thread count and exactly symmetric under in-plane mirrors and axis swaps.

use rayon::prelude::*;

use crate::grid::Grid;
use crate::printer::BuildDirection;

/// Size of the support region: the element below and its 4 face neighbours (Langelaar 2016).
const SUPPORTS: f64 = 5.0;

/// Parameters of the smooth maximum and minimum (Langelaar 2017, Sect. 2.2, eqs. (3)–(5)).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AmFilterParams {
    /// Exponent `P` of the smooth maximum (dimensionless, default 40 as in Langelaar 2016 and
    /// 2017); larger → closer to the exact maximum, but more nonlinear sensitivities.
    pub p: f64,
    /// Density `ξ₀` at which the smooth maximum of 5 equal supports is exact (default 0.5, in
    /// (0, 1)); it sets `Q = P + ln 5 / ln ξ₀`. At 0.5 the intermediate densities where the
    /// optimizer decides between solid and void are supported without bias.
    pub xi0: f64,
    /// Smoothing `ε` of the smooth minimum (dimensionless, default 10⁻⁴); larger → smoother, but
    /// the printed density may exceed the exact minimum by up to `√ε/2`, so unsupported
    /// material leaks more.
    pub epsilon: f64,
}

impl Default for AmFilterParams {
    fn default() -> Self {
        Self {
            p: 40.0,
            xi0: 0.5,
            epsilon: 1e-4,
        }
    }
}

/// Constants of the smooth functions, derived once from the parameters.
#[derive(Debug, Clone, Copy)]
struct Smooth {
    p: f64,
    /// `P − 1` when `P` is a whole number (Langelaar's 40): `powi` then replaces `powf`, which
    /// halves the cost of `apply`.
    whole_p_less_one: Option<i32>,
    inv_q: f64,
    epsilon: f64,
    sqrt_epsilon: f64,
    /// `ξ_s`, added to every support density before the power.
    shift: f64,
    /// Subtracted from the smooth maximum so that void supports give a small positive `Ξ`.
    backshift: f64,
    /// `ξ_sᴾ`: the term of a void support outside the grid.
    void_power: f64,
}

impl Smooth {
    /// The smooth functions over `supports` support elements (5 for the cross, 1 for the
    /// element directly below).
    fn new(params: AmFilterParams, supports: f64) -> Self {
        let AmFilterParams { p, xi0, epsilon } = params;
        // Q = P + ln N / ln ξ₀ makes (N ξ₀ᴾ)^{1/Q} = ξ₀ (2017, eq. (5)).
        let q = p + supports.ln() / xi0.ln();
        // Langelaar's shifts: 100 · realmin^{1/P} keeps ξ_sᴾ = 100ᴾ · realmin far from underflow.
        let shift = 100.0 * f64::MIN_POSITIVE.powf(1.0 / p);
        let backshift = 0.95 * supports.powf(1.0 / q) * shift.powf(p / q);
        let whole_p_less_one = (p.fract() == 0.0 && p <= 1025.0).then_some(p as i32 - 1);
        Self {
            p,
            whole_p_less_one,
            inv_q: 1.0 / q,
            epsilon,
            sqrt_epsilon: epsilon.sqrt(),
            shift,
            backshift,
            void_power: shift.powf(p),
        }
    }

    /// The printed density `ξ = smin(x, Ξ)` with `Ξ = K^{1/Q} − backshift` over the support sum
    /// `K` (2017, eqs. (3)–(5)), and what the adjoint needs of it.
    fn print(&self, x: f64, support_sum: f64) -> Record {
        let root = support_sum.powf(self.inv_q);
        let support = root - self.backshift;
        let gap = x - support;
        let hypot = (gap * gap + self.epsilon).sqrt();
        let xi = 0.5 * (x + support - hypot + self.sqrt_epsilon);
        let dxi_dx = 0.5 * (1.0 - gap / hypot);
        let dxi_dsupport = 0.5 * (1.0 + gap / hypot);
        let dsupport_dsum = self.inv_q * root / support_sum;
        self.record(xi, dxi_dx, dxi_dsupport * dsupport_dsum)
    }

    /// The record of an element printed at `xi`, with its derivatives with respect to its
    /// blueprint density and to the support sum below it.
    fn record(&self, xi: f64, dxi_dx: f64, dxi_dsum: f64) -> Record {
        let shifted = xi + self.shift;
        let power_less_one = match self.whole_p_less_one {
            Some(n) => shifted.powi(n),
            None => shifted.powf(self.p - 1.0),
        };
        Record {
            xi,
            power: power_less_one * shifted,
            dpower_dxi: self.p * power_less_one,
            dxi_dx,
            dxi_dsum,
        }
    }
}

/// One element as printed by the last [`AmFilter::apply`].
#[derive(Debug, Clone, Copy, Default)]
struct Record {
    /// Printed density `ξ`.
    xi: f64,
    /// `(ξ + ξ_s)ᴾ`: this element's term in the support sums of the layer above.
    power: f64,
    /// `∂(power)/∂ξ = P (ξ + ξ_s)^{P−1}`.
    dpower_dxi: f64,
    /// `∂ξ/∂x = ∂smin/∂x` (1 on the plate).
    dxi_dx: f64,
    /// `∂ξ/∂K = ∂smin/∂Ξ · K^{1/Q − 1}/Q` (0 on the plate).
    dxi_dsum: f64,
}

/// Build order: layer `ℓ` (0 on the plate), then the in-plane coordinates `(u, v)` along the two
/// other axes in increasing axis order, at index `ℓ · n_u n_v + u + n_u v`.
#[derive(Debug, Clone, Copy)]
struct Layout {
    elements: [usize; 3],
    axis: usize,
    positive: bool,
    in_plane: [usize; 2],
}

impl Layout {
    fn new(grid: &Grid, direction: BuildDirection) -> Self {
        let axis = direction.axis();
        let in_plane = match axis {
            0 => [1, 2],
            1 => [0, 2],
            _ => [0, 1],
        };
        Self {
            elements: grid.elements,
            axis,
            positive: direction.is_positive(),
            in_plane,
        }
    }

    /// Elements in one in-plane row, and rows in one layer.
    fn layer_shape(&self) -> [usize; 2] {
        self.in_plane.map(|a| self.elements[a])
    }

    fn layer_len(&self) -> usize {
        self.layer_shape().iter().product()
    }

    fn layers(&self) -> usize {
        self.elements[self.axis]
    }

    /// Grid coordinate along the build axis of layer `layer`.
    fn build_coord(&self, layer: usize) -> usize {
        if self.positive {
            layer
        } else {
            self.elements[self.axis] - 1 - layer
        }
    }

    /// Build-order index of the element at grid coordinates `coords`.
    fn build_index(&self, coords: [usize; 3]) -> usize {
        let [n_u, _] = self.layer_shape();
        let layer = self.build_coord(coords[self.axis]);
        let [u, v] = self.in_plane.map(|a| coords[a]);
        layer * self.layer_len() + u + n_u * v
    }

    /// Grid-order index of the first element of row `v` of layer `layer`, and the index step
    /// along the row.
    fn grid_row(&self, grid: &Grid, layer: usize, v: usize) -> (usize, usize) {
        let mut coords = [0; 3];
        coords[self.axis] = self.build_coord(layer);
        coords[self.in_plane[1]] = v;
        let stride = grid.elements[..self.in_plane[0]].iter().product();
        (grid.element_index(coords), stride)
    }
}

/// `value(u, v) + ((value(u−1, v) + value(u+1, v)) + (value(u, v−1) + value(u, v+1)))` over the
/// support cross around `(u, v)` in a layer of shape `[n_u, n_v]`, with `outside` for positions
/// beyond the grid. `value` takes the in-layer index `u + n_u v`. Pairing mirror images makes the
/// sum bitwise invariant under in-plane mirrors and swaps.
#[inline]
fn cross_sum(
    [n_u, n_v]: [usize; 2],
    [u, v]: [usize; 2],
    outside: f64,
    value: impl Fn(usize) -> f64,
) -> f64 {
    let index = u + n_u * v;
    let u_minus = if u > 0 { value(index - 1) } else { outside };
    let u_plus = if u + 1 < n_u {
        value(index + 1)
    } else {
        outside
    };
    let v_minus = if v > 0 { value(index - n_u) } else { outside };
    let v_plus = if v + 1 < n_v {
        value(index + n_u)
    } else {
        outside
    };
    value(index) + ((u_minus + u_plus) + (v_minus + v_plus))
}

/// Langelaar's AM filter on one grid and build direction, with the state of its last
/// [`apply`](Self::apply) kept for the chain rule.
#[derive(Debug, Clone)]
pub struct AmFilter {
    grid: Grid,
    direction: BuildDirection,
    params: AmFilterParams,
    smooth: Smooth,
    /// The smooth functions of layers supported from directly below only.
    below_only: Smooth,
    /// Layers per lateral step: 1 lets material step out on every layer (45°), 2 on every
    /// other layer (63.4°).
    layers_per_step: usize,
    layout: Layout,
    /// Every element in build order, as printed by the last `apply`.
    records: Vec<Record>,
    /// One field in build order: the gradient being carried back in `apply_transpose`.
    field: Vec<f64>,
    /// One layer: `μ ∂ξ/∂K` of the layer above in the adjoint sweep.
    weighted: Vec<f64>,
}

impl AmFilter {
    /// The filter for printing along `direction` on `grid`, with Langelaar's parameters.
    pub fn new(grid: Grid, direction: BuildDirection) -> Self {
        Self::with_params(grid, direction, AmFilterParams::default())
    }

    /// The filter with explicit smoothing parameters.
    ///
    /// # Panics
    ///
    /// If `params.epsilon ≤ 0`, `params.xi0` is not in (0, 1), or `Q = P + ln 5 / ln ξ₀ ≤ 1`.
    pub fn with_params(grid: Grid, direction: BuildDirection, params: AmFilterParams) -> Self {
        assert!(params.epsilon > 0.0, "AM filter: ε must be positive");
        assert!(
            params.xi0 > 0.0 && params.xi0 < 1.0,
            "AM filter: ξ₀ must lie in (0, 1)"
        );
        assert!(
            params.p + SUPPORTS.ln() / params.xi0.ln() > 1.0,
            "AM filter: Q = P + ln 5 / ln ξ₀ must exceed 1"
        );
        let layout = Layout::new(&grid, direction);
        Self {
            grid,
            direction,
            params,
            smooth: Smooth::new(params, SUPPORTS),
            below_only: Smooth::new(params, 1.0),
            layers_per_step: 1,
            layout,
            records: vec![Record::default(); grid.element_count()],
            field: vec![0.0; grid.element_count()],
            weighted: vec![0.0; layout.layer_len()],
        }
    }

    /// The filter letting material step out by one element only every `layers_per_step`
    /// layers (≥ 1): on the other layers an element is supported by the element directly below
    /// alone. The critical overhang is then `atan(layers_per_step)` to the plate: 45° for 1,
    /// 63.4° for 2. Lateral steps are allowed on the layers whose index (0 on the plate) is a
    /// multiple of `layers_per_step`.
    ///
    /// # Panics
    ///
    /// If `layers_per_step` is 0.
    pub fn with_layers_per_step(mut self, layers_per_step: usize) -> Self {
        assert!(
            layers_per_step >= 1,
            "AM filter: layers per step must be ≥ 1"
        );
        self.layers_per_step = layers_per_step;
        self
    }

    /// Layers per lateral step ([`Self::with_layers_per_step`]).
    pub fn layers_per_step(&self) -> usize {
        self.layers_per_step
    }

    /// Whether `layer` (≥ 1) is supported by the cross below it, not only the element below.
    fn steps_out(&self, layer: usize) -> bool {
        layer.is_multiple_of(self.layers_per_step)
    }

    /// The build direction.
    pub fn direction(&self) -> BuildDirection {
        self.direction
    }

    /// The smoothing parameters.
    pub fn params(&self) -> AmFilterParams {
        self.params
    }

    /// Printed density from blueprint density (both in grid order); stores what
    /// [`apply_transpose`](Self::apply_transpose) needs.
    ///
    /// # Panics
    ///
    /// If either slice does not have one entry per element.
    pub fn apply(&mut self, blueprint: &[f64], printed: &mut [f64]) {
        let n = self.grid.element_count();
        assert_eq!(blueprint.len(), n, "AM filter: blueprint length");
        assert_eq!(printed.len(), n, "AM filter: printed length");
        if n == 0 {
            return;
        }
        let (layout, grid) = (self.layout, self.grid);
        let layer_len = layout.layer_len();
        let shape = layout.layer_shape();
        for layer in 0..layout.layers() {
            let cross = self.steps_out(layer);
            let smooth = if cross { self.smooth } else { self.below_only };
            let (done, rest) = self.records.split_at_mut(layer * layer_len);
            // Layer 1 rests on the plate: nothing below it, printed as is.
            let below = layer.checked_sub(1).map(|l| &done[l * layer_len..]);
            rest[..layer_len]
                .par_chunks_mut(shape[0])
                .enumerate()
                .for_each(|(v, row)| {
                    let (start, stride) = layout.grid_row(&grid, layer, v);
                    for (u, record) in row.iter_mut().enumerate() {
                        let x = blueprint[start + u * stride];
                        *record = match below {
                            None => smooth.record(x, 1.0, 0.0),
                            Some(below) => {
                                let sum = if cross {
                                    cross_sum(shape, [u, v], smooth.void_power, |s| below[s].power)
                                } else {
                                    below[u + shape[0] * v].power
                                };
                                smooth.print(x, sum)
                            }
                        };
                    }
                });
        }
        let records = &self.records;
        to_grid_order(&layout, &grid, |m| records[m].xi, printed);
    }

    /// Chain rule back through the filter, in place: each of `gradients` holds `∂f/∂ξ` (grid
    /// order) of one function on entry and `∂f/∂x` on return, at the blueprint of the last
    /// [`apply`](Self::apply) (2017, Sect. 3: the adjoint sweep from the top layer down).
    /// Pass several vectors at once as, for example, `[&mut dc[..], &mut dv[..]]`. Before the
    /// first `apply` there is no state, and every gradient comes back as 0.
    ///
    /// # Panics
    ///
    /// If a gradient does not have one entry per element.
    pub fn apply_transpose<'a>(&mut self, gradients: impl IntoIterator<Item = &'a mut [f64]>) {
        let n = self.grid.element_count();
        let (layout, grid) = (self.layout, self.grid);
        let layer_len = layout.layer_len();
        let shape = layout.layer_shape();
        let [n_u, _] = shape;
        for gradient in gradients {
            assert_eq!(gradient.len(), n, "AM filter: gradient length");
            if n == 0 {
                continue;
            }
            let layers_per_step = self.layers_per_step;
            let field = &mut self.field;
            to_build_order(&layout, &grid, gradient, field);
            // Top layer down: finish layer ℓ (μ → ∂f/∂x), then add its multipliers λ to ℓ − 1.
            for layer in (1..layout.layers()).rev() {
                let cross = layer.is_multiple_of(layers_per_step);
                let records = &self.records[layer * layer_len..][..layer_len];
                let (below, above) = field.split_at_mut(layer * layer_len);
                let below = &mut below[(layer - 1) * layer_len..];
                let weighted = &mut self.weighted;
                above[..layer_len]
                    .par_chunks_mut(n_u)
                    .zip(weighted.par_chunks_mut(n_u))
                    .zip(records.par_chunks(n_u))
                    .for_each(|((mu, weighted), records)| {
                        for ((mu, w), r) in mu.iter_mut().zip(weighted).zip(records) {
                            *w = *mu * r.dxi_dsum;
                            *mu *= r.dxi_dx;
                        }
                    });
                let records_below = &self.records[(layer - 1) * layer_len..][..layer_len];
                let weighted = &self.weighted;
                below
                    .par_chunks_mut(n_u)
                    .zip(records_below.par_chunks(n_u))
                    .enumerate()
                    .for_each(|(v, (mu, records))| {
                        for (u, (mu, r)) in mu.iter_mut().zip(records).enumerate() {
                            let supported = if cross {
                                cross_sum(shape, [u, v], 0.0, |t| weighted[t])
                            } else {
                                weighted[u + n_u * v]
                            };
                            *mu += r.dpower_dxi * supported;
                        }
                    });
            }
            // The plate layer has ∂ξ/∂x = 1: its μ is already ∂f/∂x.
            let field = &self.field;
            to_grid_order(&layout, &grid, |m| field[m], gradient);
        }
    }
}

/// Copies `grid_field` (grid order) into `build_field` (build order), one row per task.
fn to_build_order(layout: &Layout, grid: &Grid, grid_field: &[f64], build_field: &mut [f64]) {
    let [n_u, n_v] = layout.layer_shape();
    build_field
        .par_chunks_mut(n_u)
        .enumerate()
        .for_each(|(row, out)| {
            let (start, stride) = layout.grid_row(grid, row / n_v, row % n_v);
            for (u, o) in out.iter_mut().enumerate() {
                *o = grid_field[start + u * stride];
            }
        });
}

/// Writes `value(build index)` into `grid_field` (grid order), one x-row per task.
fn to_grid_order(
    layout: &Layout,
    grid: &Grid,
    value: impl Fn(usize) -> f64 + Sync,
    grid_field: &mut [f64],
) {
    let [nx, ny, _] = grid.elements;
    grid_field
        .par_chunks_mut(nx)
        .enumerate()
        .for_each(|(row, out)| {
            let (j, k) = (row % ny, row / ny);
            for (i, o) in out.iter_mut().enumerate() {
                *o = value(layout.build_index([i, j, k]));
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fixed-seed generator of numbers in [0, 1) (64-bit LCG, Knuth's MMIX constants).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> f64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }

        /// `n` values in `[low, high)`.
        fn field(&mut self, n: usize, low: f64, high: f64) -> Vec<f64> {
            (0..n).map(|_| low + (high - low) * self.next()).collect()
        }
    }

    fn print(grid: Grid, direction: BuildDirection, blueprint: &[f64]) -> Vec<f64> {
        let mut printed = vec![0.0; blueprint.len()];
        AmFilter::new(grid, direction).apply(blueprint, &mut printed);
        printed
    }

    /// Solid (1) where `solid(i, j, k)`, void (0) elsewhere.
    fn solid_where(grid: Grid, solid: impl Fn([usize; 3]) -> bool) -> Vec<f64> {
        (0..grid.element_count())
            .map(|e| f64::from(u8::from(solid(grid.element_coords(e)))))
            .collect()
    }

    /// Langelaar's filter written directly from eqs. (1)–(5), element by element in grid
    /// coordinates: the slow twin of `AmFilter::apply`.
    fn reference_print(grid: Grid, direction: BuildDirection, x: &[f64]) -> Vec<f64> {
        let AmFilterParams { p, xi0, epsilon } = AmFilterParams::default();
        let q = p + 5f64.ln() / xi0.ln();
        let shift = 100.0 * f64::MIN_POSITIVE.powf(1.0 / p);
        let backshift = 0.95 * 5f64.powf(1.0 / q) * shift.powf(p / q);
        let axis = direction.axis();
        let layers = grid.elements[axis] as i64;
        let mut xi = vec![0.0; x.len()];
        for step in 0..layers {
            let (level, below) = if direction.is_positive() {
                (step, step - 1)
            } else {
                (layers - 1 - step, layers - step)
            };
            for e in 0..x.len() {
                let coords = grid.element_coords(e).map(|c| c as i64);
                if coords[axis] != level {
                    continue;
                }
                if step == 0 {
                    xi[e] = x[e];
                    continue;
                }
                let mut sum = 0.0;
                for offset in [[0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]] {
                    let mut support = coords;
                    support[axis] = below;
                    for (d, o) in [(axis + 1) % 3, (axis + 2) % 3].into_iter().zip(offset) {
                        support[d] += o;
                    }
                    let inside = (0..3).all(|d| (0..grid.elements[d] as i64).contains(&support[d]));
                    sum += if inside {
                        let s = grid.element_index(support.map(|c| c as usize));
                        (xi[s] + shift).powf(p)
                    } else {
                        shift.powf(p)
                    };
                }
                let support = sum.powf(1.0 / q) - backshift;
                let gap = x[e] - support;
                xi[e] = 0.5 * (x[e] + support - (gap * gap + epsilon).sqrt() + epsilon.sqrt());
            }
        }
        xi
    }

    #[test]
    fn matches_the_slow_twin_for_every_direction() {
        let grid = Grid::new([6, 5, 7], 1.0);
        let x = Lcg(7).field(grid.element_count(), 0.0, 1.0);
        for direction in BuildDirection::ALL {
            let fast = print(grid, direction, &x);
            let slow = reference_print(grid, direction, &x);
            for (e, (a, b)) in fast.iter().zip(&slow).enumerate() {
                assert!(
                    (a - b).abs() <= 1e-14,
                    "{direction} element {e}: {a} vs {b}"
                );
            }
            // smin ≤ min + √ε/2: nothing prints more than √ε/2 above its blueprint.
            assert!(
                fast.iter()
                    .zip(&x)
                    .all(|(xi, x)| *xi >= 0.0 && *xi <= x + 0.005)
            );
        }
    }

    #[test]
    fn smooth_maximum_is_exact_at_xi0_with_langelaar_parameters() {
        let params = AmFilterParams::default();
        assert_eq!((params.p, params.xi0, params.epsilon), (40.0, 0.5, 1e-4));
        let smooth = Smooth::new(params, SUPPORTS);
        let smax = |supports: [f64; 5]| {
            let sum: f64 = supports
                .iter()
                .map(|&xi| smooth.record(xi, 1.0, 0.0).power)
                .sum();
            sum.powf(smooth.inv_q) - smooth.backshift
        };
        // Exact at ξ₀ up to the shift ξ_s ≈ 2·10⁻⁶ (eq. (5)).
        assert!((smax([0.5; 5]) - 0.5).abs() < 1e-5);
        // One solid support: ≈ 1; all solid: 5^{1/Q} ≈ 1.044; all void: small and positive.
        assert!((smax([1.0, 0.0, 0.0, 0.0, 0.0]) - 1.0).abs() < 1e-5);
        assert!((smax([1.0; 5]) - 5f64.powf(1.0 / (40.0 - 5f64.log2()))).abs() < 1e-5);
        let void = smax([0.0; 5]);
        assert!(void > 0.0 && void < 1e-7, "{void}");
    }

    #[test]
    fn floating_block_vanishes_and_resting_block_survives() {
        let grid = Grid::new([6, 6, 12], 1.0);
        let in_block = |[i, j, k]: [usize; 3], bottom: usize| {
            (1..5).contains(&i) && (1..5).contains(&j) && (bottom..bottom + 4).contains(&k)
        };
        let floating = print(
            grid,
            BuildDirection::PlusZ,
            &solid_where(grid, |c| in_block(c, 6)),
        );
        let resting = print(
            grid,
            BuildDirection::PlusZ,
            &solid_where(grid, |c| in_block(c, 0)),
        );
        for e in 0..grid.element_count() {
            let c = grid.element_coords(e);
            // The leak of the smooth minimum (≈ √ε/2 per layer, bounded) stays below 0.05.
            assert!(floating[e] < 0.05, "floating {c:?}: {}", floating[e]);
            if in_block(c, 0) {
                assert!(
                    (resting[e] - 1.0).abs() < 0.01,
                    "resting {c:?}: {}",
                    resting[e]
                );
            } else {
                assert!(resting[e] < 0.05, "void {c:?}: {}", resting[e]);
            }
        }
    }

    #[test]
    fn staircase_at_45_degrees_survives_and_at_63_degrees_does_not() {
        // A wall 3 elements wide, across the whole y extent, shifted by `step` per layer.
        let grid = Grid::new([16, 3, 7], 1.0);
        let stair =
            |step: usize| move |[i, _, k]: [usize; 3]| (step * k..step * k + 3).contains(&i);
        let steep = print(grid, BuildDirection::PlusZ, &solid_where(grid, stair(1)));
        let shallow = print(grid, BuildDirection::PlusZ, &solid_where(grid, stair(2)));
        for e in 0..grid.element_count() {
            let c = grid.element_coords(e);
            if stair(1)(c) {
                assert!(steep[e] > 0.99, "45° {c:?}: {}", steep[e]);
            }
            if stair(2)(c) && c[2] == 0 {
                assert!(shallow[e] > 0.99, "63° on the plate {c:?}: {}", shallow[e]);
            }
            // Each layer loses the elements that overhang: from layer 3 on, nothing prints.
            if c[2] >= 3 {
                assert!(shallow[e] < 0.05, "63° {c:?}: {}", shallow[e]);
            }
        }
    }

    /// The two axes other than `axis`, in increasing order.
    fn in_plane(axis: usize) -> (usize, usize) {
        match axis {
            0 => (1, 2),
            1 => (0, 2),
            _ => (0, 1),
        }
    }

    /// Grid coordinates, for build direction `direction` on `rotated`, of the element at
    /// `[i, j, k]` of the +z problem: the proper rotation taking +z to `direction`.
    fn rotate(direction: BuildDirection, rotated: Grid, [i, j, k]: [usize; 3]) -> [usize; 3] {
        let axis = direction.axis();
        let (first, second) = in_plane(axis);
        let last = |a: usize, c: usize| rotated.elements[a] - 1 - c;
        let mut coords = [0; 3];
        coords[axis] = if direction.is_positive() {
            k
        } else {
            last(axis, k)
        };
        coords[first] = i;
        coords[second] = j;
        // Axis order (i, j, k) → (first, second, axis) is odd only for y; each reversal is a
        // mirror. Reverse the second in-plane axis when the map would otherwise be a mirror.
        if (axis == 1) == direction.is_positive() {
            coords[second] = last(second, j);
        }
        coords
    }

    #[test]
    fn every_build_direction_gives_the_rotated_result() {
        let grid = Grid::new([5, 4, 6], 1.0);
        let mut rng = Lcg(11);
        let x = rng.field(grid.element_count(), 0.0, 1.0);
        let g = rng.field(grid.element_count(), -1.0, 1.0);
        let mut filter = AmFilter::new(grid, BuildDirection::PlusZ);
        let mut printed = vec![0.0; x.len()];
        let mut dx = g.clone();
        filter.apply(&x, &mut printed);
        filter.apply_transpose([&mut dx[..]]);
        for direction in BuildDirection::ALL {
            let (first, second) = in_plane(direction.axis());
            let mut elements = [0; 3];
            elements[direction.axis()] = grid.elements[2];
            elements[first] = grid.elements[0];
            elements[second] = grid.elements[1];
            let rotated = Grid::new(elements, 1.0);
            let map = |e: usize| {
                rotated.element_index(rotate(direction, rotated, grid.element_coords(e)))
            };
            let (mut x_r, mut g_r) = (vec![0.0; x.len()], vec![0.0; x.len()]);
            for e in 0..x.len() {
                x_r[map(e)] = x[e];
                g_r[map(e)] = g[e];
            }
            let mut filter_r = AmFilter::new(rotated, direction);
            let mut printed_r = vec![0.0; x.len()];
            filter_r.apply(&x_r, &mut printed_r);
            filter_r.apply_transpose([&mut g_r[..]]);
            // The same operations in the same order: equal to the last bit.
            for e in 0..x.len() {
                assert_eq!(
                    printed_r[map(e)].to_bits(),
                    printed[e].to_bits(),
                    "{direction}"
                );
                assert_eq!(g_r[map(e)].to_bits(), dx[e].to_bits(), "{direction}");
            }
        }
    }

    #[test]
    fn two_layers_per_step_keep_63_degree_stairs_and_drop_45_degree_ones() {
        let grid = Grid::new([12, 3, 9], 1.0);
        // Lateral steps are allowed on the even layers: a wall that steps out on those survives.
        let steep = |[i, _, k]: [usize; 3]| (k / 2..k / 2 + 3).contains(&i);
        let diagonal = |[i, _, k]: [usize; 3]| (k..k + 3).contains(&i);
        let print2 = |x: &[f64]| {
            let mut printed = vec![0.0; x.len()];
            AmFilter::new(grid, BuildDirection::PlusZ)
                .with_layers_per_step(2)
                .apply(x, &mut printed);
            printed
        };
        let kept = print2(&solid_where(grid, steep));
        let dropped = print2(&solid_where(grid, diagonal));
        for e in 0..grid.element_count() {
            let c = grid.element_coords(e);
            if steep(c) {
                assert!(kept[e] > 0.99, "63° {c:?}: {}", kept[e]);
            }
            // The 45° wall loses an element on every layer that may not step out.
            if c[2] >= 6 {
                assert!(dropped[e] < 0.05, "45° {c:?}: {}", dropped[e]);
            }
        }
    }

    #[test]
    fn two_layers_per_step_transpose_matches_central_differences() {
        let grid = Grid::new([5, 4, 6], 1.0);
        let n = grid.element_count();
        let mut rng = Lcg(63);
        let x = rng.field(n, 0.02, 0.98);
        let w = rng.field(n, -1.0, 1.0);
        let objective = |xi: &[f64]| -> f64 { xi.iter().zip(&w).map(|(a, b)| a * b).sum() };
        for direction in [BuildDirection::PlusZ, BuildDirection::MinusX] {
            let filter = || AmFilter::new(grid, direction).with_layers_per_step(2);
            let mut am = filter();
            let mut xi = vec![0.0; n];
            am.apply(&x, &mut xi);
            let mut gradient = w.clone();
            am.apply_transpose([&mut gradient[..]]);
            let h = 1e-6;
            for _ in 0..4 {
                let delta = rng.field(n, -1.0, 1.0);
                let value = |sign: f64| {
                    let moved: Vec<f64> = x
                        .iter()
                        .zip(&delta)
                        .map(|(x, d)| x + sign * h * d)
                        .collect();
                    let mut printed = vec![0.0; n];
                    filter().apply(&moved, &mut printed);
                    objective(&printed)
                };
                let central = (value(1.0) - value(-1.0)) / (2.0 * h);
                let analytic: f64 = gradient.iter().zip(&delta).map(|(g, d)| g * d).sum();
                assert!(
                    (central - analytic).abs() <= 1e-5 * analytic.abs(),
                    "{direction}: {central} vs {analytic}"
                );
            }
        }
    }

    #[test]
    fn transpose_matches_central_differences() {
        let grid = Grid::new([5, 4, 6], 1.0);
        let n = grid.element_count();
        let mut rng = Lcg(2017);
        let x = rng.field(n, 0.02, 0.98);
        let w = rng.field(n, -1.0, 1.0);
        // Two functions of the printed density: f₁ = Σ wₑ ξₑ and f₂ = Σ ξₑ²/2.
        let functions = |xi: &[f64]| {
            let f1: f64 = xi.iter().zip(&w).map(|(a, b)| a * b).sum();
            let f2: f64 = xi.iter().map(|a| 0.5 * a * a).sum();
            [f1, f2]
        };
        for direction in BuildDirection::ALL {
            let mut filter = AmFilter::new(grid, direction);
            let mut xi = vec![0.0; n];
            filter.apply(&x, &mut xi);
            let (mut df1, mut df2) = (w.clone(), xi.clone());
            filter.apply_transpose([&mut df1[..], &mut df2[..]]);
            let h = 1e-6;
            for _ in 0..4 {
                let delta = rng.field(n, -1.0, 1.0);
                let shifted = |sign: f64| {
                    let moved: Vec<f64> = x
                        .iter()
                        .zip(&delta)
                        .map(|(x, d)| x + sign * h * d)
                        .collect();
                    functions(&print(grid, direction, &moved))
                };
                let (plus, minus) = (shifted(1.0), shifted(-1.0));
                for (f, gradient) in [&df1, &df2].into_iter().enumerate() {
                    let analytic: f64 = gradient.iter().zip(&delta).map(|(g, d)| g * d).sum();
                    let central = (plus[f] - minus[f]) / (2.0 * h);
                    let error = (central - analytic).abs() / analytic.abs();
                    assert!(
                        error <= 1e-5,
                        "{direction} f{}: {central} vs {analytic}",
                        f + 1
                    );
                }
            }
        }
    }

    #[test]
    fn identical_for_one_and_two_threads() {
        let grid = Grid::new([23, 17, 19], 1.0);
        let mut rng = Lcg(3);
        let x = rng.field(grid.element_count(), 0.0, 1.0);
        let g = rng.field(grid.element_count(), -1.0, 1.0);
        for direction in [BuildDirection::PlusZ, BuildDirection::MinusX] {
            let run = |threads| {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                pool.install(|| {
                    let mut filter = AmFilter::new(grid, direction);
                    let mut printed = vec![0.0; x.len()];
                    let mut dx = g.clone();
                    filter.apply(&x, &mut printed);
                    filter.apply_transpose([&mut dx[..]]);
                    [printed, dx].map(|v| v.iter().map(|a| a.to_bits()).collect::<Vec<_>>())
                })
            };
            assert_eq!(run(1), run(2), "{direction}");
        }
    }

    #[test]
    fn in_plane_mirror_keeps_a_symmetric_field_symmetric() {
        let grid = Grid::new([7, 6, 5], 1.0);
        let mut rng = Lcg(5);
        let half = rng.field(grid.element_count(), 0.0, 1.0);
        let mirror = |[i, j, k]: [usize; 3]| grid.element_index([6 - i, j, k]);
        let x: Vec<f64> = (0..grid.element_count())
            .map(|e| {
                let c = grid.element_coords(e);
                half[e.min(mirror(c))]
            })
            .collect();
        let printed = print(grid, BuildDirection::PlusZ, &x);
        for e in 0..grid.element_count() {
            let m = mirror(grid.element_coords(e));
            assert_eq!(printed[e].to_bits(), printed[m].to_bits());
        }
    }
}
