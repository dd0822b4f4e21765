//! Matrix products C = α·A·B + β·C: the hot spot of (9), (12) and (14).
//!
//! Backed by the `gemm` crate (pure Rust, run-time AVX2/FMA/AVX-512 dispatch, any strides, so a
//! transposed view costs no copy). Measured against ndarray's default (matrixmultiply) at the
//! shapes of a 784-256-128-10 network it was faster at every batch size from 1 to 4096, most at
//! small batches (see README, "Performance"). Products run on several threads only when they
//! are large enough to pay for it (`PARALLEL_MIN_MACS`) and never on more threads than
//! [`num_threads`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use gemm::Parallelism;
use ndarray::{Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::{ThreadPool, ThreadPoolBuilder};

use crate::scalar::Float;

pub mod peak;

/// Products with fewer multiply–adds than this run on one thread: below it, waking a second
/// thread costs more than it saves (measured on 2 cores, see README).
pub const PARALLEL_MIN_MACS: usize = 1 << 19;

/// Products with a side (m, n or k) shorter than this run on one thread: splitting a
/// skinny product (batch 32) was measured slower than not splitting it.
pub const PARALLEL_MIN_SIDE: usize = 16;

/// Element-wise passes over at least this many elements are split across threads.
pub const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Whether an element-wise pass over `len` elements should use several threads.
pub fn parallel_elementwise(len: usize) -> bool {
    len >= PARALLEL_MIN_ELEMENTS && num_threads() > 1
}

/// The output's longer side must be at least this long to be split (100×100 products of a
/// small network were measured slower split in two than whole).
pub const PARALLEL_MIN_SPLIT: usize = 128;

/// Whether every element is finite (no NaN, no ±inf): one pass, split across the pool's
/// threads for large contiguous arrays. The input check of every training call.
pub fn all_finite<F: Float, D: ndarray::Dimension>(x: ndarray::ArrayView<F, D>) -> bool {
    use rayon::prelude::*;
    match x.as_slice_memory_order() {
        Some(data) if parallel_elementwise(data.len()) => in_pool(|| {
            data.par_chunks(1 << 16)
                .all(|chunk| chunk.iter().all(|v| v.is_finite()))
        }),
        Some(data) => data.iter().all(|v| v.is_finite()),
        None => x.iter().all(|v| v.is_finite()),
    }
}

/// 0 means "not chosen yet": the first read resolves the default.
static THREADS: AtomicUsize = AtomicUsize::new(0);

/// The default thread count: `RAYON_NUM_THREADS`, else `OMP_NUM_THREADS`, else the number of
/// CPUs this process may run on.
pub fn default_threads() -> usize {
    ["RAYON_NUM_THREADS", "OMP_NUM_THREADS"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .filter_map(|v| v.trim().parse::<usize>().ok())
        .find(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

/// Threads the user allows the kernels (process-wide): [`set_num_threads`], else
/// [`default_threads`].
pub fn configured_threads() -> usize {
    match THREADS.load(Ordering::Relaxed) {
        0 => {
            let n = default_threads();
            THREADS.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// Training calls ([`crate::network::Network::weighted_fit`]) running now in this process.
static ACTIVE_TRAINING: AtomicUsize = AtomicUsize::new(0);

/// Marks a training call for as long as it lives: while k of them run, each kernel splits
/// over at most `configured_threads() / k` threads (at least 1), so k trials of a
/// hyperparameter search on k threads (joblib's threading backend) do not oversubscribe the
/// cores. Read at every product, so a call speeds up again when another ends. Results do not
/// change: they are bit-identical for every thread count.
pub struct TrainingCall(());

impl TrainingCall {
    pub fn begin() -> Self {
        ACTIVE_TRAINING.fetch_add(1, Ordering::SeqCst);
        TrainingCall(())
    }
}

impl Drop for TrainingCall {
    fn drop(&mut self) {
        ACTIVE_TRAINING.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Training calls running now (see [`TrainingCall`]).
pub fn active_training_calls() -> usize {
    ACTIVE_TRAINING.load(Ordering::Relaxed)
}

/// Threads a kernel may split over now: the configured threads shared among the training
/// calls running in this process (see [`TrainingCall`]); 1 inside a task of a
/// [`crate::team::Team`], whose threads are already busy with the stage's other tasks.
pub fn num_threads() -> usize {
    if crate::team::in_task() {
        return 1;
    }
    share(configured_threads(), active_training_calls())
}

/// Each of `active` training calls' share of `threads`: at least one.
fn share(threads: usize, active: usize) -> usize {
    (threads / active.max(1)).max(1)
}

/// Sets the threads the kernels may use; `0` restores the default. Results are bit-identical
/// for every thread count (threads split the output, never a sum).
pub fn set_num_threads(n: usize) {
    THREADS.store(
        if n == 0 { default_threads() } else { n },
        Ordering::Relaxed,
    );
}

/// Runs `f` on a worker of deepnet's thread pool (of [`configured_threads`] threads), so that the
/// thread running the training loop is one of the pool's: a split product then runs one half
/// on this thread and the other on the second worker, and no idle worker competes with the
/// loop for a core (on 2 cores, a third thread made small products slower). With one thread,
/// `f` runs here directly.
pub fn in_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    static POOL: Mutex<Option<(usize, Arc<ThreadPool>)>> = Mutex::new(None);
    if num_threads() <= 1 || rayon::current_thread_index().is_some() {
        return f();
    }
    // one pool for every concurrent call: k training calls share its threads
    let threads = configured_threads();
    let pool = {
        let mut guard = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        match guard.as_ref() {
            Some((n, pool)) if *n == threads => Arc::clone(pool),
            _ => match ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("deepnet-{i}"))
                .build()
            {
                Ok(pool) => {
                    let pool = Arc::new(pool);
                    *guard = Some((threads, Arc::clone(&pool)));
                    pool
                }
                // no threads to be had: run serially rather than fail
                Err(_) => return f(),
            },
        }
    };
    pool.install(f)
}

thread_local! {
    /// Calls of the `gemm` crate running on this thread (see [`in_product_kernel`]).
    static IN_KERNEL: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether this thread is inside a product on one thread (the `gemm` crate allocates its
/// packing buffers, and a product of a single row or column is first copied): every other part of a training step allocates nothing once its workspaces exist,
/// and a test's counting allocator tells the two apart with this.
pub fn in_product_kernel() -> bool {
    IN_KERNEL.with(|k| k.get() > 0)
}

/// Marks the current thread as inside the `gemm` crate for as long as it lives.
struct InKernel(());

impl InKernel {
    fn enter() -> Self {
        IN_KERNEL.with(|k| k.set(k.get() + 1));
        InKernel(())
    }
}

impl Drop for InKernel {
    fn drop(&mut self) {
        IN_KERNEL.with(|k| k.set(k.get() - 1));
    }
}

/// C = α·A·B + β·C for A (m, k), B (k, n), C (m, n), any strides. With β = 0, C is only
/// written (its old contents may be anything, NaN included).
///
/// Shapes must agree; callers check them and report errors (this is an internal kernel).
pub fn gemm<F: Float>(
    alpha: F,
    a: ArrayView2<F>,
    b: ArrayView2<F>,
    beta: F,
    mut c: ArrayViewMut2<F>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert!(
        b.nrows() == k && c.dim() == (m, n),
        "matmul: shapes ({m}, {k}) · {:?} → {:?}",
        b.dim(),
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.mapv_inplace(|v| {
            if beta == F::zero() {
                F::zero()
            } else {
                beta * v
            }
        });
        return;
    }
    let threads = num_threads();
    if threads > 1
        && m.min(n).min(k) >= PARALLEL_MIN_SIDE
        && m.max(n) >= PARALLEL_MIN_SPLIT
        && m.saturating_mul(n).saturating_mul(k) >= PARALLEL_MIN_MACS
    {
        split(alpha, a, b, beta, c, threads);
    } else {
        gemm_serial(alpha, a, b, beta, c);
    }
}

/// Splits C into `parts` blocks along its longer side (recursively in halves, with
/// `rayon::join`, so nothing is allocated) and runs the single-threaded kernel on each: at
/// these shapes that was measured faster than the kernel's own threading, and every element
/// is still summed over k in the same order, so results do not depend on the thread count.
fn split<F: Float>(
    alpha: F,
    a: ArrayView2<F>,
    b: ArrayView2<F>,
    beta: F,
    c: ArrayViewMut2<F>,
    parts: usize,
) {
    let (m, n) = c.dim();
    if parts <= 1 || m.max(n) < PARALLEL_MIN_SPLIT {
        return gemm_serial(alpha, a, b, beta, c);
    }
    let left = parts / 2;
    if n >= m {
        let at = n * left / parts;
        let (c1, c2) = c.split_at(Axis(1), at);
        let (b1, b2) = b.split_at(Axis(1), at);
        rayon::join(
            || split(alpha, a, b1, beta, c1, left),
            || split(alpha, a, b2, beta, c2, parts - left),
        );
    } else {
        let at = m * left / parts;
        let (c1, c2) = c.split_at(Axis(0), at);
        let (a1, a2) = a.split_at(Axis(0), at);
        rayon::join(
            || split(alpha, a1, b, beta, c1, left),
            || split(alpha, a2, b, beta, c2, parts - left),
        );
    }
}

/// Products the `gemm` crate would hand to a dot-product kernel (a single row or column, or a
/// small product with a column-major B) instead of its main kernel. Those kernels sum over k
/// in another order, so the same column of (9) would get other bits in a batch of one, or
/// from a Fortran-ordered X. A negative stride along k would reverse the order of the sums.
fn off_main_kernel<F: Float>(a: &ArrayView2<F>, b: &ArrayView2<F>) -> bool {
    let (m, k) = a.dim();
    let n = b.ncols();
    let reversed = a.strides()[1] < 0 || b.strides()[0] < 0;
    k > 2
        && (m == 1
            || n == 1
            || reversed
            || (b.strides()[0] == 1 && a.strides()[1] == 1 && m * n <= 256)
            || small_blocking(m, n, k))
}

/// Products of at most 64 × 64 outputs get another blocking of k from the `gemm` crate
/// (k.min(512) instead of k split evenly), so beyond 512 terms their sums are grouped
/// differently: the same column would get other bits in a small batch, or in a block a
/// thread computes. Such products are widened to 65 columns.
fn small_blocking(m: usize, n: usize, k: usize) -> bool {
    k > SMALL_BLOCKING_K && m <= SMALL_BLOCKING_SIDE && n <= SMALL_BLOCKING_SIDE
}

const SMALL_BLOCKING_K: usize = 512;
const SMALL_BLOCKING_SIDE: usize = 64;

/// One thread of [`gemm`]: shapes already checked, none of them zero. Every product runs on
/// the crate's main kernel, so each element of C is summed over k in the same order whatever
/// the other rows and columns of the product and whatever B's layout: `predict` gives the
/// same bits for an example alone, in any batch, and from any memory order of X.
fn gemm_serial<F: Float>(
    alpha: F,
    a: ArrayView2<F>,
    b: ArrayView2<F>,
    beta: F,
    mut c: ArrayViewMut2<F>,
) {
    let _inside = InKernel::enter();
    if !off_main_kernel(&a, &b) {
        return gemm_kernel(alpha, a, b, beta, c);
    }
    // A single row of A is repeated, a single column or a small column-major B copied
    // row-major into two columns at least: small copies, made only for these shapes.
    let (m, k) = a.dim();
    let n = b.ncols();
    let m2 = m.max(2);
    let n2 = if small_blocking(m2, n, k) {
        SMALL_BLOCKING_SIDE + 1
    } else {
        n.max(2)
    };
    let a2 = (m == 1 || a.strides()[1] < 0)
        .then(|| Array2::from_shape_fn((m2, k), |(i, j)| a[[i.min(m - 1), j]]));
    let b2 = (n2 != n || b.strides()[0] < 0 || (b.strides()[0] == 1 && m2 * n2 <= 256))
        .then(|| Array2::from_shape_fn((k, n2), |(i, j)| b[[i, j.min(n - 1)]]));
    let a = a2.as_ref().map_or(a, |a2| a2.view());
    let b = b2.as_ref().map_or(b, |b2| b2.view());
    if (m2, n2) == (m, n) {
        return gemm_kernel(alpha, a, b, beta, c);
    }
    let mut c2 = Array2::from_shape_fn((m2, n2), |(i, j)| c[[i.min(m - 1), j.min(n - 1)]]);
    gemm_kernel(alpha, a, b, beta, c2.view_mut());
    c.assign(&c2.slice(ndarray::s![..m, ..n]));
}

/// The `gemm` crate's product on the calling thread.
fn gemm_kernel<F: Float>(
    alpha: F,
    a: ArrayView2<F>,
    b: ArrayView2<F>,
    beta: F,
    mut c: ArrayViewMut2<F>,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let (c_rs, c_cs) = (c.strides()[0], c.strides()[1]);
    let (a_rs, a_cs) = (a.strides()[0], a.strides()[1]);
    let (b_rs, b_cs) = (b.strides()[0], b.strides()[1]);
    // SAFETY: the pointers and element strides come from live ndarray views whose shapes were
    // checked by `gemm`, so every (i, j) the kernel touches lies inside its array; `c` is
    // borrowed mutably, so it cannot alias `a` or `b`. `gemm` computes
    // dst = α_g·dst + β_g·lhs·rhs (the reverse of BLAS' names) and reads dst only when
    // `read_dst` is true.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            beta != F::zero(),
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            beta,
            alpha,
            false,
            false,
            false,
            Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_training_calls_share_the_threads() {
        assert_eq!(share(2, 0), 2);
        assert_eq!(share(2, 1), 2);
        assert_eq!(share(2, 2), 1);
        assert_eq!(share(2, 3), 1);
        assert_eq!(share(16, 3), 5);
        assert_eq!(share(1, 1), 1);
    }
    use approx::assert_abs_diff_eq;
    use ndarray::array;

    #[test]
    fn matches_ndarray_for_every_layout() {
        let a = Array2::from_shape_fn((5, 7), |(i, j)| (i * 7 + j) as f64 * 0.1 - 1.0);
        let b = Array2::from_shape_fn((7, 3), |(i, j)| (i as f64 - j as f64) * 0.3);
        let at = a.t().to_owned(); // (7, 5): use at.t() as a transposed view
        let bt = b.t().to_owned();
        let expected = a.dot(&b);
        for (av, bv) in [
            (a.view(), b.view()),
            (at.t(), b.view()),
            (a.view(), bt.t()),
            (at.t(), bt.t()),
        ] {
            let mut c = Array2::from_elem((5, 3), f64::NAN);
            gemm(1.0, av, bv, 0.0, c.view_mut());
            assert_abs_diff_eq!(c, expected, epsilon = 1e-12);
            let mut cf = Array2::zeros((3, 5));
            gemm(1.0, av, bv, 0.0, cf.view_mut().reversed_axes());
            assert_abs_diff_eq!(cf.t(), expected, epsilon = 1e-12);
        }
    }

    #[test]
    fn alpha_and_beta_follow_blas() {
        let a = array![[1.0f32, 2.0], [3.0, 4.0]];
        let b = array![[1.0f32, 0.0], [0.0, 1.0]];
        let mut c = array![[1.0f32, 1.0], [1.0, 1.0]];
        gemm(2.0, a.view(), b.view(), 0.5, c.view_mut());
        assert_eq!(c, array![[2.5, 4.5], [6.5, 8.5]]);
        let mut c = Array2::<f32>::from_elem((2, 2), 3.0);
        let empty = Array2::<f32>::zeros((2, 0));
        let rhs = Array2::<f32>::zeros((0, 2));
        gemm(1.0, empty.view(), rhs.view(), 0.0, c.view_mut());
        assert_eq!(c, Array2::<f32>::zeros((2, 2)));
    }

    #[test]
    fn thread_count_does_not_change_a_single_bit() {
        let a = Array2::from_shape_fn((256, 784), |(i, j)| {
            ((i * 31 + j * 17) % 97) as f32 / 97.0 - 0.5
        });
        let b = Array2::from_shape_fn((784, 300), |(i, j)| {
            ((i * 13 + j * 7) % 89) as f32 / 89.0 - 0.5
        });
        let before = configured_threads();
        let mut results = Vec::new();
        for threads in [1, 2, 3] {
            set_num_threads(threads);
            let mut c = Array2::zeros((256, 300));
            gemm(1.0, a.view(), b.view(), 0.0, c.view_mut());
            results.push(c);
        }
        set_num_threads(before);
        assert_eq!(results[0], results[1]);
        assert_eq!(results[0], results[2]);
    }

    #[test]
    fn a_column_gets_the_same_bits_whatever_the_batch_around_it() {
        // (9) for one example must not depend on how many others share the product, nor on
        // the layout of B, so that predict is independent of how m is chunked
        for (m, k, n) in [
            (1, 3, 5),
            (2, 3, 5),
            (3, 2, 4),
            (1, 1, 3),
            (7, 13, 9),
            (40, 100, 33),
            (128, 784, 70),
        ] {
            let a = Array2::from_shape_fn((m, k), |(i, j)| {
                (((i * 37 + j * 11) % 101) as f32 / 101.0 - 0.5) * 1.7
            });
            let b = Array2::from_shape_fn((k, n), |(i, j)| {
                (((i * 13 + j * 29) % 89) as f32 / 89.0 - 0.5) * 0.9
            });
            let mut whole = Array2::zeros((m, n));
            gemm(1.0, a.view(), b.view(), 0.0, whole.view_mut());
            let bf = {
                let mut f = Array2::zeros((n, k));
                f.assign(&b.t());
                f
            };
            let mut fortran = Array2::zeros((m, n));
            gemm(1.0, a.view(), bf.t(), 0.0, fortran.view_mut());
            assert_eq!(whole, fortran, "Fortran-ordered B, {m}x{k}x{n}");
            for j in 0..n {
                let mut one = Array2::zeros((m, 1));
                let col = b.slice(ndarray::s![.., j..j + 1]).to_owned();
                gemm(1.0, a.view(), col.view(), 0.0, one.view_mut());
                assert_eq!(
                    one.column(0),
                    whole.column(j),
                    "column {j} alone, {m}x{k}x{n}"
                );
            }
        }
    }

    #[test]
    fn long_sums_get_the_same_bits_in_small_and_large_products() {
        // k > 512: a block of 64 rows (a thread's share of 192, with 3 threads) must sum
        // like the whole product
        let (m, k, n) = (192, 960, 32);
        let a = Array2::from_shape_fn((m, k), |(i, j)| ((i * 7 + j * 3) % 29) as f32 / 29.0 - 0.5);
        let b = Array2::from_shape_fn((k, n), |(i, j)| ((i * 5 + j * 11) % 31) as f32 / 31.0 - 0.5);
        let mut whole = Array2::zeros((m, n));
        gemm_serial(1.0, a.view(), b.view(), 0.0, whole.view_mut());
        let mut part = Array2::zeros((64, n));
        gemm_serial(
            1.0,
            a.slice(ndarray::s![..64, ..]),
            b.view(),
            0.0,
            part.view_mut(),
        );
        assert_eq!(part, whole.slice(ndarray::s![..64, ..]));
    }
}
