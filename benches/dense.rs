//! Criterion benches of the dense kernels and the full training step at 784-256-128-10
//! (an MNIST-sized network), float32, batch 32 and 256.
//!
//! Run: `cargo bench --bench dense` (add `-- <filter>` to pick one, e.g. `-- step`, or
//! `-- train_epoch` for the one-thread step against the data-parallel step).
//! Throughput "elements" are floating-point operations.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use deepnet::layers::dense;
use deepnet::team::Team;
use deepnet::{
    data_parallel, matmul, sgd_update, Activation, DenseConfig, LayerSpec, Loss, Network,
};
use ndarray::linalg::general_mat_mul;
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
            LayerSpec::Dense(DenseConfig {
                units: SIZES[1],
                activation: Activation::Relu,
                l2: 0.0,
                use_bias: true,
                trainable: true,
            }),
            LayerSpec::Dense(DenseConfig {
                units: SIZES[2],
                activation: Activation::Relu,
                l2: 0.0,
                use_bias: true,
                trainable: true,
            }),
            LayerSpec::Dense(DenseConfig {
                units: SIZES[3],
                activation: Activation::Softmax,
                l2: 0.0,
                use_bias: true,
                trainable: true,
            }),
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
            bench.iter(|| black_box(net.train_step(x.view(), y.view()).expect("shapes match")))
        });
    }
    group.finish();
}

/// A dense network of `sizes` (relu hidden layers, softmax output, SGD).
fn network(sizes: &[usize]) -> Network<f32> {
    let specs: Vec<LayerSpec> = sizes[1..]
        .iter()
        .enumerate()
        .map(|(i, &units)| {
            LayerSpec::Dense(DenseConfig {
                units,
                activation: if i + 2 == sizes.len() {
                    Activation::Softmax
                } else {
                    Activation::Relu
                },
                l2: 0.0,
                use_bias: true,
                trainable: true,
            })
        })
        .collect();
    Network::new(&sizes[..1], &specs, Loss::CategoricalCrossentropy, 0).expect("valid network")
}

/// One epoch of 8 steps with each way of running a step: the one-thread step (layer by
/// layer; its large products split across the threads) on 1 and 2 threads, and the
/// data-parallel step (a team of 2 threads, two hand-offs a step). The small network of
/// `benches/compare.py` at batch 100 and the MNIST-sized one at batch 256.
fn bench_train_epoch(c: &mut Criterion) {
    for (sizes, batch) in [(&[40usize, 100, 100, 10][..], 100usize), (&SIZES[..], 256)] {
        let name = sizes
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join("-");
        let mut group = c.benchmark_group(format!("train_epoch_{name}_batch{batch}"));
        let m = 8 * batch;
        let x: ArrayD<f32> = filled((sizes[0], m), 5).into_dyn();
        let y = Array2::from_shape_fn((10, m), |(k, j)| ((j * 7) % 10 == k) as u8 as f32);
        let flops: u64 = sizes
            .windows(2)
            .enumerate()
            .map(|(l, w)| (if l == 0 { 4 } else { 6 } * w[0] * w[1] * m) as u64)
            .sum();
        group.throughput(Throughput::Elements(flops));
        for (label, threads, data_parallel) in [
            ("one-thread-step/1", 1, false),
            ("one-thread-step/2", 2, false),
            ("data-parallel-step/2", 2, true),
        ] {
            let mut net = network(sizes);
            group.bench_function(label, |bench| {
                matmul::set_num_threads(threads);
                data_parallel::set_enabled(data_parallel);
                bench.iter(|| {
                    black_box(
                        net.train_epoch(x.view(), y.view(), batch, None)
                            .expect("shapes match"),
                    )
                });
                data_parallel::set_enabled(true);
            });
        }
        group.finish();
    }
    matmul::set_num_threads(0);
}

/// One stage of the team of 2 threads with two empty tasks: the hand-off the data-parallel
/// step pays twice a step.
fn bench_team_stage(c: &mut Criterion) {
    let team = Team::new(2);
    c.bench_function("team_stage_2threads", |bench| {
        bench.iter(|| {
            team.run(2, &|i| {
                black_box(i);
            })
        })
    });
}

fn bench_update(c: &mut Criterion) {
    // (16): W −= α dW on the largest layer
    let mut w = filled((SIZES[1], SIZES[0]), 1);
    let dw = filled((SIZES[1], SIZES[0]), 2);
    c.bench_function("sgd_update_256x784", |bench| {
        bench.iter(|| {
            sgd_update(w.view_mut(), dw.view(), 1e-3);
            black_box(&w);
        })
    });
}

fn bench_softmax_ce(c: &mut Criterion) {
    // the output layer: softmax (10), J from the logits, dZ = Ŷ − Y
    let mut group = c.benchmark_group("softmax_ce_10");
    for &m in &BATCHES {
        let z = filled((SIZES[3], m), 6);
        let y = one_hot(m);
        let mut a = Array2::zeros((SIZES[3], m));
        let mut dz = Array2::zeros((SIZES[3], m));
        group.bench_with_input(BenchmarkId::from_parameter(m), &m, |bench, _| {
            bench.iter(|| {
                Activation::Softmax.forward(z.view(), a.view_mut());
                let j = Loss::CategoricalCrossentropy
                    .cost_from_logits(z.view(), y.view())
                    .expect("paired loss");
                Loss::CategoricalCrossentropy.output_delta(a.view(), y.view(), dz.view_mut());
                black_box((j, &dz));
            })
        });
    }
    group.finish();
}

fn bench_activation_backward(c: &mut Criterion) {
    // (11) for the widest hidden layer
    let mut group = c.benchmark_group("relu_backward_256");
    for &m in &BATCHES {
        let z = filled((SIZES[1], m), 7);
        let da = filled((SIZES[1], m), 8);
        let mut a = Array2::zeros((SIZES[1], m));
        Activation::Relu.forward(z.view(), a.view_mut());
        let mut dz = Array2::zeros((SIZES[1], m));
        group.bench_with_input(BenchmarkId::from_parameter(m), &m, |bench, _| {
            bench.iter(|| {
                Activation::Relu.backward(da.view(), z.view(), a.view(), dz.view_mut());
                black_box(&dz);
            })
        });
    }
    group.finish();
}

/// The matrix-product backends at the shapes of (9), (12) and (14) for the 784→256 layer:
/// ndarray's `general_mat_mul` (matrixmultiply) against `deepnet::matmul::gemm` (the `gemm`
/// crate, split across threads when large). Build with `--features mm-threading` to give
/// matrixmultiply its own threads. Single-threaded unless DEEPNET_BENCH_THREADS is set.
fn bench_matmul_backends(c: &mut Criterion) {
    let threads = std::env::var("DEEPNET_BENCH_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    matmul::set_num_threads(threads);
    let mut group = c.benchmark_group(format!("matmul_784x256_{threads}thread"));
    for m in [1usize, 32, 256, 2048] {
        let w = filled((SIZES[1], SIZES[0]), 1);
        let x = filled((SIZES[0], m), 3);
        let dz = filled((SIZES[1], m), 4);
        let mut z = Array2::zeros((SIZES[1], m));
        let mut dw = Array2::zeros((SIZES[1], SIZES[0]));
        let mut da = Array2::zeros((SIZES[0], m));
        group.throughput(Throughput::Elements((6 * SIZES[0] * SIZES[1] * m) as u64));
        group.bench_with_input(BenchmarkId::new("ndarray", m), &m, |bench, _| {
            bench.iter(|| {
                general_mat_mul(1.0, &w, &x, 0.0, &mut z);
                general_mat_mul(1.0, &dz, &x.t(), 0.0, &mut dw);
                general_mat_mul(1.0, &w.t(), &dz, 0.0, &mut da);
                black_box((&z, &dw, &da));
            })
        });
        group.bench_with_input(BenchmarkId::new("gemm", m), &m, |bench, _| {
            bench.iter(|| {
                matmul::gemm(1.0, w.view(), x.view(), 0.0, z.view_mut());
                matmul::gemm(1.0, dz.view(), x.t(), 0.0, dw.view_mut());
                matmul::gemm(1.0, w.t(), dz.view(), 0.0, da.view_mut());
                black_box((&z, &dw, &da));
            })
        });
    }
    group.finish();
}

criterion_group!(
    benches,
    bench_forward,
    bench_backward,
    bench_update,
    bench_softmax_ce,
    bench_activation_backward,
    bench_train_step,
    bench_train_epoch,
    bench_team_stage,
    bench_matmul_backends
);
criterion_main!(benches);
