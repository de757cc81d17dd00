//! Making the part from a 1 M-element density field: threshold search, extraction, islands,
//! smoothing and checks (`make_part`), reported as elements per second; and the same with the
//! overhang correction for printing along +z. The field is not made for printing, so the
//! correction works hard (many faces too flat, sweeps to their limit): an upper bound on its
//! cost. Then the self-intersection check alone against the whole surface stage (which runs it)
//! on an 8.4 M-element (256 × 256 × 128) field of broad beams whose part has about 2 M
//! triangles, the size of a part from a run on that grid, and on one of thin members as an
//! optimized part has them. Last, joining exact kept shapes
//! (`join_kept`: eight bolt holes cut through and two bosses joined, with its checks) to a part
//! of about a million triangles.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use formwerk::Grid;
use formwerk::mesh::intersect::self_intersecting_pairs;
use formwerk::mesh::kept::join_kept;
use formwerk::mesh::{KeptGeometry, KeptShape, OverhangLimit, Part, PartParams, make_part};

/// The part with the default settings and no exact kept shapes.
fn plain_part(density: &[f64], grid: &Grid, anchors: &[[f64; 3]]) -> Part {
    make_part(
        density,
        grid,
        anchors,
        &PartParams::default(),
        &KeptGeometry::default(),
    )
}

/// A smooth field of crossing beams, like an optimized lattice, on `n × n/2 × n/2` elements.
fn beams(grid: &Grid) -> Vec<f64> {
    waves(grid, 1.0)
}

/// The beams with every wave number scaled by `frequency`.
fn waves(grid: &Grid, frequency: f64) -> Vec<f64> {
    let [nx, ny, nz] = grid.elements;
    (0..grid.element_count())
        .map(|e| {
            let [i, j, k] = grid.element_coords(e);
            let (x, y, z) = (
                frequency * i as f64 / nx as f64,
                frequency * j as f64 / ny as f64,
                frequency * k as f64 / nz as f64,
            );
            let wave = (12.0 * x).sin() * (8.0 * y).cos() + (9.0 * z).sin() * (10.0 * x).cos();
            (0.5 + 0.6 * wave).clamp(0.0, 1.0)
        })
        .collect()
}

fn isosurface(c: &mut Criterion) {
    let mut group = c.benchmark_group("make_part");
    group.sample_size(10);
    for n in [64, 160] {
        let grid = Grid::new([n, n / 2, n / 2], 1.0);
        let density = beams(&grid);
        let anchors: Vec<[f64; 3]> = (0..=n / 2)
            .flat_map(|j| (0..=n / 2).map(move |k| [0.0, j as f64, k as f64]))
            .collect();
        group.throughput(Throughput::Elements(grid.element_count() as u64));
        group.bench_function(format!("{}x{}x{}", n, n / 2, n / 2), |b| {
            b.iter(|| plain_part(&density, &grid, &anchors))
        });
        let printed = PartParams {
            overhang: Some(OverhangLimit {
                build_direction: [0.0, 0.0, 1.0],
                overhang_angle_deg: 45.0,
            }),
            ..PartParams::default()
        };
        group.bench_function(format!("{}x{}x{} printed +z", n, n / 2, n / 2), |b| {
            b.iter(|| {
                make_part(
                    &density,
                    &grid,
                    &anchors,
                    &printed,
                    &KeptGeometry::default(),
                )
            })
        });
    }
    group.finish();
}

/// The self-intersection check against the surface stage it is part of, on the surface of a
/// 256 × 256 × 128 field: broad waves, and members about five elements across as an optimized
/// part has them (there the surface changes facing within a few triangles and the check costs
/// more per triangle).
fn self_intersections(c: &mut Criterion) {
    let grid = Grid::new([256, 256, 128], 1.0);
    let anchors: Vec<[f64; 3]> = (0..=256)
        .flat_map(|j| (0..=128).map(move |k| [0.0, j as f64, k as f64]))
        .collect();
    for (frequency, field) in [(0.2, "broad waves"), (2.0, "thin members")] {
        let density = waves(&grid, frequency);
        let part = plain_part(&density, &grid, &anchors);
        let mut group = c.benchmark_group(format!(
            "self_intersections {field}, {} triangles",
            part.report.triangles
        ));
        group.sample_size(10);
        group.bench_function("make_part 256x256x128", |b| {
            b.iter(|| plain_part(&density, &grid, &anchors))
        });
        group.bench_function("check alone", |b| {
            b.iter(|| self_intersecting_pairs(&part.mesh))
        });
        group.finish();
    }
}

fn kept_shapes(c: &mut Criterion) {
    let grid = Grid::new([192, 192, 96], 1.0);
    let density = waves(&grid, 0.2);
    let anchors: Vec<[f64; 3]> = (0..=192)
        .flat_map(|j| (0..=96).map(move |k| [0.0, j as f64, k as f64]))
        .collect();
    let part = plain_part(&density, &grid, &anchors);
    let along_z = |x: f64, y: f64, [inner, outer]: [f64; 2]| KeptShape::Cylinder {
        center_mm: [x, y, 48.0],
        axis: [0.0, 0.0, 1.0],
        radius_mm: outer,
        inner_radius_mm: inner,
        half_length_mm: 48.0,
    };
    let kept = KeptGeometry {
        solid: vec![
            along_z(48.0, 96.0, [12.0, 20.0]),
            along_z(144.0, 96.0, [12.0, 20.0]),
        ],
        empty: (0..8)
            .map(|i| along_z(24.0 + 20.0 * i as f64, 24.0, [0.0, 4.0]))
            .chain([along_z(48.0, 96.0, [0.0, 12.0])])
            .collect(),
        ..KeptGeometry::default()
    };
    let size = grid.size_mm();
    let joined = join_kept(&part.mesh, &kept, size, 1.0, 0.01).expect("joined");
    let mut group = c.benchmark_group(format!(
        "kept_shapes {} organic triangles, {} joined, {} attempt(s)",
        part.report.triangles,
        joined.mesh.triangles.len(),
        joined.attempts
    ));
    group.sample_size(10);
    group.bench_function("join_kept 192x192x96", |b| {
        b.iter(|| join_kept(&part.mesh, &kept, size, 1.0, 0.01))
    });
    group.finish();
}

criterion_group!(benches, isosurface, self_intersections, kept_shapes);
criterion_main!(benches);
