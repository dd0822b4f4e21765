//! A training step allocates nothing outside the matrix products once its workspaces exist:
//! a counting allocator, installed for this test binary only, counts every allocation made
//! while no product runs on the allocating thread (`deepnet::matmul::in_product_kernel`),
//! during epochs of a dense network, with the data-parallel step and with the one-thread step,
//! unshuffled and shuffled, under every optimizer.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use deepnet::{
    data_parallel, matmul, Activation, DenseConfig, LayerSpec, Loss, Network, Optimizer,
    OptimizerKind, Schedule,
};
use ndarray::Array2;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static OUTSIDE_PRODUCTS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; the bookkeeping allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) && !matmul::in_product_kernel() {
            OUTSIDE_PRODUCTS.fetch_add(1, Ordering::Relaxed);
        }
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) && !matmul::in_product_kernel() {
            OUTSIDE_PRODUCTS.fetch_add(1, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests change process-wide settings (threads, the data-parallel switch): one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn network(kind: OptimizerKind) -> Network<f32> {
    let dense = |units, activation| {
        LayerSpec::Dense(DenseConfig {
            units,
            activation,
            l2: 1e-4,
            use_bias: true,
            trainable: true,
        })
    };
    let mut net = Network::new(
        &[40],
        &[
            dense(100, Activation::Relu),
            dense(100, Activation::Tanh),
            dense(10, Activation::Softmax),
        ],
        Loss::CategoricalCrossentropy,
        3,
    )
    .unwrap();
    net.set_optimizer(
        Optimizer::new(
            kind,
            Schedule::Constant {
                learning_rate: 0.01,
            },
        )
        .unwrap(),
    );
    net
}

/// Allocations outside the products made by the steps of an epoch: an epoch of 20 steps less
/// an epoch of 10 (each call of `train_epoch` makes its team, which allocates a little; the
/// steps must add nothing), after epochs of both sizes that sized everything.
fn allocations(threads: usize, data_parallel: bool, kind: OptimizerKind, shuffled: bool) -> isize {
    let _one = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    matmul::set_num_threads(threads);
    data_parallel::set_enabled(data_parallel);
    let m = 2000;
    let x = Array2::from_shape_fn((40, m), |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 17.0);
    let y = Array2::from_shape_fn((10, m), |(k, j)| ((j % 10) == k) as u8 as f32);
    let order: Vec<usize> = (0..m).map(|j| (j * 379) % m).collect();
    let mut net = network(kind);
    let epoch = |net: &mut Network<f32>, steps: usize| {
        let cols = steps * 100;
        let x = x.slice(ndarray::s![.., ..cols]);
        let y = y.slice(ndarray::s![.., ..cols]);
        let order: Vec<usize> = order.iter().copied().filter(|&i| i < cols).collect();
        COUNTING.store(true, Ordering::Relaxed);
        let before = OUTSIDE_PRODUCTS.load(Ordering::Relaxed);
        net.train_epoch(x.into_dyn(), y, 100, shuffled.then_some(order.as_slice()))
            .unwrap();
        let made = OUTSIDE_PRODUCTS.load(Ordering::Relaxed) - before;
        COUNTING.store(false, Ordering::Relaxed);
        made as isize
    };
    epoch(&mut net, 20);
    epoch(&mut net, 10);
    let long = epoch(&mut net, 20);
    let short = epoch(&mut net, 10);
    data_parallel::set_enabled(true);
    matmul::set_num_threads(0);
    long - short
}

fn kinds() -> [OptimizerKind; 4] {
    [
        OptimizerKind::Sgd,
        OptimizerKind::Momentum { beta: 0.9 },
        OptimizerKind::RmsProp {
            rho: 0.9,
            eps: 1e-7,
        },
        OptimizerKind::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
    ]
}

#[test]
fn the_data_parallel_step_allocates_nothing_outside_the_products() {
    for kind in kinds() {
        for shuffled in [false, true] {
            let n = allocations(2, true, kind.clone(), shuffled);
            assert_eq!(
                n, 0,
                "{kind:?}, shuffled {shuffled}: {n} allocations in 10 steps"
            );
        }
    }
}

#[test]
fn the_one_thread_step_allocates_nothing_outside_the_products() {
    for kind in kinds() {
        for threads in [1, 2] {
            let n = allocations(threads, false, kind.clone(), true);
            assert_eq!(
                n, 0,
                "{kind:?}, {threads} threads: {n} allocations in 10 steps"
            );
        }
    }
}
