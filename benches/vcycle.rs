//! One multigrid V-cycle, and one full multigrid-CG solve from zero to a relative residual of
//! 1e-5, reported as elements per second.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use formwerk::fem::multigrid::Multigrid;
use formwerk::fem::{ElementStiffness, LinearSolver, MultigridParams, StiffnessOperator};

mod common;

fn vcycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("multigrid");
    group.sample_size(10);
    for size in common::SIZES {
        let (problem, stiffness) = common::setup(size);
        let grid = problem.grid;
        let name = format!("{}x{}x{}", size[0], size[1], size[2]);
        group.throughput(Throughput::Elements(grid.element_count() as u64));

        let mut op = StiffnessOperator::new(grid, ElementStiffness::new(0.3), &problem.fixed_dofs);
        op.set_stiffness(&stiffness);
        let mut mg = Multigrid::new(&op, &problem.fixed_dofs, &MultigridParams::default())
            .expect("hierarchy");
        mg.update(&op).expect("coarse levels");
        let r: Vec<f64> = problem.load_cases[0].forces_n.clone();
        let mut z = vec![0.0; r.len()];
        let mut work = mg.workspace();
        group.bench_function(format!("vcycle/{name}"), |b| {
            b.iter(|| mg.apply(&op, &r, &mut z, &mut work))
        });

        let mut solver = LinearSolver::new(
            grid,
            ElementStiffness::new(0.3),
            &problem.fixed_dofs,
            &problem.solver,
        )
        .expect("solver");
        solver.set_stiffness(&stiffness).expect("setup");
        let f = &problem.load_cases[0].forces_n;
        let mut u = vec![0.0; f.len()];
        let mut workspace = solver.workspace();
        group.bench_function(format!("solve/{name}"), |b| {
            b.iter(|| {
                u.fill(0.0);
                solver.solve(f, &mut u, &mut workspace).expect("solve")
            })
        });
    }
    group.finish();
}

criterion_group!(benches, vcycle);
criterion_main!(benches);
