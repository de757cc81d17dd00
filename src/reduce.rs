//! Fixed-order parallel reductions: the same sum for any thread count.
//!
//! Rayon's `sum` splits work depending on the pool, so rounding would change with the number of
//! threads. Here the input is cut into fixed-size chunks, each chunk is summed sequentially, and
//! the chunk sums are added in order.

use rayon::prelude::*;

const CHUNK: usize = 4096;

/// Sum of `values`, deterministic for any thread count.
pub fn sum(values: &[f64]) -> f64 {
    sum_map(values.len(), |i| values[i])
}

/// Sum of `term(i)` for `i` in `0..len`, deterministic for any thread count.
pub fn sum_map(len: usize, term: impl Fn(usize) -> f64 + Sync) -> f64 {
    let chunks = len.div_ceil(CHUNK);
    let partial: Vec<f64> = (0..chunks)
        .into_par_iter()
        .map(|c| (c * CHUNK..((c + 1) * CHUNK).min(len)).map(&term).sum())
        .collect();
    partial.iter().sum()
}

/// Largest `term(i)`, for non-negative terms (0 for empty input).
pub fn max_map(len: usize, term: impl Fn(usize) -> f64 + Sync) -> f64 {
    (0..len).into_par_iter().map(&term).reduce(|| 0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_for_one_and_two_threads() {
        let values: Vec<f64> = (0..100_003)
            .map(|i| (i as f64 * 0.001).sin() * 1e3)
            .collect();
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| sum(&values))
        };
        assert_eq!(run(1).to_bits(), run(2).to_bits());
        let naive: f64 = values.iter().sum();
        assert!((run(2) - naive).abs() < 1e-9 * naive.abs().max(1.0));
    }
}
