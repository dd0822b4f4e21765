//! Criterion benches of the dense kernels and the full training step at 784-256-128-10
//! (an MNIST-sized network), float32, batch 32 and 256.
//!
//! Run: `cargo bench --bench dense` (add `-- <filter>` to pick one, e.g. `-- step`).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use deepnet::layers::dense;
use deepnet::{Activation, LayerSpec, Loss, Network};
use ndarray::{Array2, ArrayD};

const SIZES: [usize; 4] = [784, 256, 128, 10];
const BATCHES: [usize; 2] = [32, 256];

/// Deterministic pseudo-random values in [-1, 1).
fn filled(shape: (usize, usize), salt: usize) -> Array2<f32> {
    Array2::from_shape_fn(shape, |(i, j)| {
        let h = (i * 7919 + j * 104_729 + salt * 31).wrapping_mul(2_654_435_761) % 10_007;
        h as f32 / 5003.5 - 1.0
    })
}

fn mnist_net() -> Network<f32> {
    Network::new(
        &[SIZES[0]],
        &[
            LayerSpec::Dense {
                units: SIZES[1],
                activation: Activation::Relu,
            },
            LayerSpec::Dense {
                units: SIZES[2],
                activation: Activation::Relu,
            },
            LayerSpec::Dense {
                units: SIZES[3],
                activation: Activation::Softmax,
            },
        ],
        Loss::CategoricalCrossentropy,
        0,
    )
    .expect("valid network")
}

fn one_hot(m: usize) -> Array2<f32> {
    Array2::from_shape_fn((SIZES[3], m), |(k, j)| {
        ((j * 7) % SIZES[3] == k) as u8 as f32
    })
}

/// Flops of one training step: forward 2·n·n_prev·m, backward 4·n·n_prev·m per layer.
fn step_flops(m: usize) -> u64 {
    SIZES.windows(2).map(|w| 6 * (w[0] * w[1] * m) as u64).sum()
}

fn bench_forward(c: &mut Criterion) {
    let mut group = c.benchmark_group("dense_forward_784x256");
    for &m in &BATCHES {
        let w = filled((SIZES[1], SIZES[0]), 1);
        let b = filled((SIZES[1], 1), 2);
        let x = filled((SIZES[0], m), 3);
        let mut z = Array2::zeros((SIZES[1], m));
        let mut a = Array2::zeros((SIZES[1], m));
        group.throughput(Throughput::Elements((2 * SIZES[0] * SIZES[1] * m) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(m), &m, |bench, _| {
            bench.iter(|| {
                dense::forward(
                    w.view(),
                    b.view(),
                    x.view(),
                    Activation::Relu,
                    z.view_mut(),
                    a.view_mut(),
                )
                .expect("shapes match");
                black_box(&a);
            })
        });
    }
    group.finish();
}

fn bench_backward(c: &mut Criterion) {
    let mut group = c.benchmark_group("dense_backward_784x256");
    for &m in &BATCHES {
        let w = filled((SIZES[1], SIZES[0]), 1);
        let x = filled((SIZES[0], m), 3);
        let dz = filled((SIZES[1], m), 4);
        let mut dw = Array2::zeros((SIZES[1], SIZES[0]));
        let mut db = Array2::zeros((SIZES[1], 1));
        let mut da_prev = Array2::zeros((SIZES[0], m));
        group.throughput(Throughput::Elements((4 * SIZES[0] * SIZES[1] * m) as u64));
        group.bench_with_input(BenchmarkId::from_parameter(m), &m, |bench, _| {
            bench.iter(|| {
                dense::backward_from_dz(
                    w.view(),
                    x.view(),
                    dz.view(),
                    dw.view_mut(),
                    db.view_mut(),
                    Some(da_prev.view_mut()),
                )
                .expect("shapes match");
                black_box(&dw);
            })
        });
    }
    group.finish();
}

fn bench_train_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("train_step_784-256-128-10");
    for &m in &BATCHES {
        let mut net = mnist_net();
        let x: ArrayD<f32> = filled((SIZES[0], m), 5).into_dyn();
        let y = one_hot(m);
        group.throughput(Throughput::Elements(step_flops(m)));
        group.bench_with_input(BenchmarkId::from_parameter(m), &m, |bench, _| {
            bench.iter(|| {
                black_box(
                    net.train_step(x.view(), y.view(), 1e-3)
                        .expect("shapes match"),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_forward, bench_backward, bench_train_step);
criterion_main!(benches);
