//! The matrix-free fine-grid apply `y = K u`, in double precision (CG's) and single precision
//! (the multigrid smoother's), reported as elements per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use formwerk::fem::{ElementStiffness, StiffnessOperator};

mod common;

fn operator(c: &mut Criterion) {
    let mut group = c.benchmark_group("operator_apply");
    group.sample_size(20);
    for size in common::SIZES {
        let (problem, stiffness) = common::setup(size);
        let grid = problem.grid;
        let mut op = StiffnessOperator::new(grid, ElementStiffness::new(0.3), &problem.fixed_dofs);
        op.set_stiffness(&stiffness);
        let u: Vec<f64> = (0..grid.dof_count())
            .map(|d| (d % 17) as f64 * 0.01)
            .collect();
        let mut y = vec![0.0; u.len()];
        group.throughput(Throughput::Elements(grid.element_count() as u64));
        let name = format!("{}x{}x{}", size[0], size[1], size[2]);
        group.bench_function(format!("{name}/f64"), |b| b.iter(|| op.apply(&u, &mut y)));
        group.bench_function(format!("{name}/f32"), |b| {
            b.iter(|| op.apply_single(&u, &mut y))
        });
    }
    group.finish();
}

criterion_group!(benches, operator);
criterion_main!(benches);
