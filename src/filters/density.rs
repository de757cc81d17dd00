//! Density filter with cone weights, applied as a convolution over the grid (no stored matrix).
//!
//! `ρ̃ₑ = Σᵢ Hₑᵢ ρᵢ / Hsₑ` with `Hₑᵢ = max(0, r − ‖cₑ − cᵢ‖)` and `Hsₑ = Σᵢ Hₑᵢ`
//! (Bruns & Tortorelli 2001; Bourdin 2001; as in top88 eq. 9 and top3d). Sensitivities follow the
//! chain rule `∂f/∂ρᵢ = Σₑ Hₑᵢ (∂f/∂ρ̃ₑ) / Hsₑ`, i.e. top3d's `H·(dc ./ Hs)`.
//!
//! At the faces of the grid the classic filter averages over the neighbours inside only, which
//! acts as a mirror: a plate lying on a face filters like one twice as thick. Clausen &
//! Andreassen ("On filter boundary conditions in topology optimization", Struct. Multidisc.
//! Optim. 56, 2017) show that padding the domain with void instead gives boundary members the
//! same length scale as interior ones; [`DensityFilter::with_void_outside`] does that by counting
//! the neighbours beyond a face in the average, except beyond faces the part must reach.
//!
//! The stencil holds the offsets with positive weight, so the cost is O(n·r³) and memory O(n).
//! Every output entry is computed by one task in a fixed order: results do not depend on the
//! thread count.

use rayon::prelude::*;

use crate::grid::Grid;

/// One neighbour offset (in elements) and its cone weight.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Tap {
    offset: [i64; 3],
    weight: f64,
}

/// The density filter of one grid.
#[derive(Debug, Clone)]
pub struct DensityFilter {
    grid: Grid,
    taps: Vec<Tap>,
    /// Row sums `Hsₑ`.
    row_sums: Vec<f64>,
    /// Scratch for the transpose: input divided by the row sums.
    scaled: Vec<f64>,
}

impl DensityFilter {
    /// A cone filter of radius `radius_mm` (> 0) on `grid`.
    pub fn new(grid: Grid, radius_mm: f64) -> Self {
        let radius = radius_mm / grid.element_size_mm;
        // Offsets up to ceil(r) − 1 cover every positive weight, exactly as top3d's loop bounds.
        let reach = (radius.ceil() as i64 - 1).max(0);
        let mut taps = Vec::new();
        for dz in -reach..=reach {
            for dy in -reach..=reach {
                for dx in -reach..=reach {
                    let distance = ((dx * dx + dy * dy + dz * dz) as f64).sqrt();
                    let weight = radius - distance;
                    if weight > 0.0 {
                        taps.push(Tap {
                            offset: [dx, dy, dz],
                            weight,
                        });
                    }
                }
            }
        }
        let mut filter = Self {
            grid,
            taps,
            row_sums: vec![0.0; grid.element_count()],
            scaled: vec![0.0; grid.element_count()],
        };
        let ones = vec![1.0; grid.element_count()];
        let mut row_sums = vec![0.0; grid.element_count()];
        filter.convolve(&ones, &mut row_sums);
        filter.row_sums = row_sums;
        filter
    }

    /// A cone filter that sees void beyond some of the grid's faces: beyond face `f` (bit `f`
    /// of `void_beyond[e]`, `f = 2·axis + side`, side 0 at the low end) for element `e`. Where
    /// the bit is clear the filter averages over the inside only, as [`Self::new`] does.
    pub fn with_void_outside(grid: Grid, radius_mm: f64, void_beyond: &[u8]) -> Self {
        assert_eq!(void_beyond.len(), grid.element_count());
        let mut filter = Self::new(grid, radius_mm);
        let n = grid.elements.map(|n| n as i64);
        let taps = &filter.taps;
        filter
            .row_sums
            .par_iter_mut()
            .enumerate()
            .for_each(|(e, sum)| {
                let void = void_beyond[e];
                if void == 0 {
                    return;
                }
                let c = grid.element_coords(e).map(|c| c as i64);
                // Taps inside, and taps outside across at least one void face, in tap order.
                *sum = taps
                    .iter()
                    .filter(|tap| {
                        let mut crossed = 0u8;
                        for axis in 0..3 {
                            let p = c[axis] + tap.offset[axis];
                            if p < 0 {
                                crossed |= 1 << (2 * axis);
                            } else if p >= n[axis] {
                                crossed |= 1 << (2 * axis + 1);
                            }
                        }
                        crossed == 0 || crossed & void != 0
                    })
                    .map(|tap| tap.weight)
                    .sum();
            });
        filter
    }

    /// Number of neighbours (including itself) an interior element averages over.
    pub fn stencil_size(&self) -> usize {
        self.taps.len()
    }

    /// Filtered field `out = H x / Hs`.
    pub fn apply(&self, x: &[f64], out: &mut [f64]) {
        self.convolve(x, out);
        out.par_iter_mut()
            .zip(&self.row_sums)
            .for_each(|(o, s)| *o /= s);
    }

    /// Chain rule back through the filter: `out = H (g / Hs)` (H is symmetric).
    pub fn apply_transpose(&mut self, g: &[f64], out: &mut [f64]) {
        let mut scaled = std::mem::take(&mut self.scaled);
        scaled
            .par_iter_mut()
            .zip(g)
            .zip(&self.row_sums)
            .for_each(|((s, g), hs)| *s = g / hs);
        self.convolve(&scaled, out);
        self.scaled = scaled;
    }

    /// `out = H x`, one x-row of elements at a time: each tap adds a shifted, weighted copy of a
    /// neighbouring row, which vectorises. Every element still sums its taps in the fixed order
    /// of `taps`.
    fn convolve(&self, x: &[f64], out: &mut [f64]) {
        let grid = &self.grid;
        assert_eq!(x.len(), grid.element_count());
        assert_eq!(out.len(), grid.element_count());
        let [nx, ny, nz] = grid.elements.map(|n| n as i64);
        out.par_chunks_mut(nx as usize)
            .enumerate()
            .for_each(|(row, out_row)| {
                let (j, k) = (row as i64 % ny, row as i64 / ny);
                out_row.fill(0.0);
                for tap in &self.taps {
                    let [dx, dy, dz] = tap.offset;
                    let (jn, kn) = (j + dy, k + dz);
                    if jn < 0 || jn >= ny || kn < 0 || kn >= nz {
                        continue;
                    }
                    let source = &x[((kn * ny + jn) * nx) as usize..][..nx as usize];
                    // Elements i with 0 ≤ i + dx < nx.
                    let (first, last) = ((-dx).max(0), (nx - dx).min(nx));
                    if first >= last {
                        continue;
                    }
                    let targets = &mut out_row[first as usize..last as usize];
                    let sources = &source[(first + dx) as usize..(last + dx) as usize];
                    for (o, s) in targets.iter_mut().zip(sources) {
                        *o += tap.weight * s;
                    }
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cone_weights_of_radius_one_and_a_half() {
        let filter = DensityFilter::new(Grid::new([5, 5, 5], 2.0), 3.0);
        // r = 1.5 elements: itself (1.5), 6 faces (0.5), 12 edges (1.5 − √2); corners (√3) drop out.
        assert_eq!(filter.stencil_size(), 19);
        let total: f64 = filter.taps.iter().map(|t| t.weight).sum();
        assert!((total - (1.5 + 6.0 * 0.5 + 12.0 * (1.5 - 2f64.sqrt()))).abs() < 1e-14);
    }

    #[test]
    fn keeps_a_uniform_field_and_averages_locally() {
        let grid = Grid::new([6, 4, 3], 1.0);
        let filter = DensityFilter::new(grid, 2.3);
        let uniform = vec![0.3; grid.element_count()];
        let mut out = vec![0.0; grid.element_count()];
        filter.apply(&uniform, &mut out);
        assert!(out.iter().all(|v| (v - 0.3).abs() < 1e-15));
        let spike: Vec<f64> = (0..grid.element_count())
            .map(|e| f64::from(u8::from(e == 40)))
            .collect();
        filter.apply(&spike, &mut out);
        assert!(out[40] < 1.0 && out[40] > 0.0);
        assert!(out.iter().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn void_outside_thins_members_on_void_faces_only() {
        let grid = Grid::new([8, 8, 8], 1.0);
        let solid = vec![1.0; grid.element_count()];
        let mut void = vec![0b11_1111; grid.element_count()];
        void[grid.element_index([0, 4, 4])] = 0;
        let filter = DensityFilter::with_void_outside(grid, 2.5, &void);
        let mut out = vec![0.0; grid.element_count()];
        filter.apply(&solid, &mut out);
        // Interior: the whole cone is inside; a face element sees void beyond the face.
        assert!((out[grid.element_index([4, 4, 4])] - 1.0).abs() < 1e-15);
        let face = out[grid.element_index([0, 3, 4])];
        assert!(face > 0.5 && face < 0.9, "{face}");
        assert!((out[grid.element_index([0, 4, 4])] - 1.0).abs() < 1e-15);
        // Still linear with the adjoint transpose.
        assert_adjoint(filter, grid);
    }

    /// `⟨H x, g⟩ = ⟨x, Hᵀ g⟩` for smooth fields `x` and `g`.
    fn assert_adjoint(mut filter: DensityFilter, grid: Grid) {
        let x: Vec<f64> = (0..grid.element_count())
            .map(|e| (e as f64 * 0.37).sin())
            .collect();
        let g: Vec<f64> = (0..grid.element_count())
            .map(|e| (e as f64 * 0.91).cos())
            .collect();
        let (mut fx, mut ftg) = (vec![0.0; x.len()], vec![0.0; x.len()]);
        filter.apply(&x, &mut fx);
        filter.apply_transpose(&g, &mut ftg);
        let lhs: f64 = fx.iter().zip(&g).map(|(a, b)| a * b).sum();
        let rhs: f64 = x.iter().zip(&ftg).map(|(a, b)| a * b).sum();
        assert!(
            (lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0),
            "{lhs} vs {rhs}"
        );
    }

    #[test]
    fn transpose_is_the_adjoint() {
        let grid = Grid::new([5, 4, 3], 1.0);
        assert_adjoint(DensityFilter::new(grid, 1.8), grid);
    }

    #[test]
    fn symmetric_field_stays_symmetric() {
        let grid = Grid::new([6, 3, 2], 1.0);
        let filter = DensityFilter::new(grid, 1.5);
        let x: Vec<f64> = (0..grid.element_count())
            .map(|e| {
                let [i, j, k] = grid.element_coords(e);
                (i.min(5 - i) as f64 + j as f64 * 0.1 + k as f64 * 0.01).sin()
            })
            .collect();
        let mut out = vec![0.0; x.len()];
        filter.apply(&x, &mut out);
        for e in 0..grid.element_count() {
            let [i, j, k] = grid.element_coords(e);
            assert!((out[e] - out[grid.element_index([5 - i, j, k])]).abs() < 1e-15);
        }
    }
}
