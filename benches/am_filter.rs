//! Langelaar's AM filter: one forward sweep and one adjoint sweep of two sensitivity vectors
//! (what an MMA iteration with overhang control adds), against one density-filter application,
//! at 65 k and 1 M elements. Issue 6's target: ≤ 15 % of a design iteration (~7 s at 1 M).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use formwerk::Grid;
use formwerk::filters::am::AmFilter;
use formwerk::filters::density::DensityFilter;
use formwerk::printer::BuildDirection;

/// A field with members, overhangs and void, in (0, 1).
fn field(grid: &Grid) -> Vec<f64> {
    (0..grid.element_count())
        .map(|e| {
            let [i, j, k] = grid.element_coords(e);
            let wave = (0.3 * i as f64).sin() * (0.2 * j as f64).cos() + (0.25 * k as f64).sin();
            (0.5 + 0.45 * wave).clamp(0.001, 0.999)
        })
        .collect()
}

fn am_filter(c: &mut Criterion) {
    let mut group = c.benchmark_group("am_filter");
    group.sample_size(10);
    for n in [64, 160] {
        let grid = Grid::new([n, n / 2, n / 2], 1.0);
        let blueprint = field(&grid);
        let mut printed = vec![0.0; grid.element_count()];
        let mut am = AmFilter::new(grid, BuildDirection::PlusZ);
        let (mut dc, mut dv) = (blueprint.clone(), blueprint.clone());
        let size = format!("{}x{}x{}", n, n / 2, n / 2);
        group.throughput(Throughput::Elements(grid.element_count() as u64));
        group.bench_function(format!("apply+transpose/{size}"), |b| {
            b.iter(|| {
                am.apply(&blueprint, &mut printed);
                am.apply_transpose([dc.as_mut_slice(), dv.as_mut_slice()]);
            })
        });
        let filter = DensityFilter::new(grid, 1.5);
        group.bench_function(format!("density_filter/{size}"), |b| {
            b.iter(|| filter.apply(&blueprint, &mut printed))
        });
    }
    group.finish();
}

criterion_group!(benches, am_filter);
criterion_main!(benches);
