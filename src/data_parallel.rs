//! The training step of section 7 for a network of dense layers, on a [`Team`] of threads,
//! in two stages with one hand-off between them:
//!
//! 1. **Blocks of examples** (one task per block of the batch's columns): the forward pass
//!    (9)–(10) through every layer, the output delta (15) (or the collapsed Ŷ − Y), and the
//!    backward chain (14) dA^[l-1] = W^[l]ᵀ·dZ^[l], (11) dZ^[l-1] = dA^[l-1] * g′(Z^[l-1])
//!    down to dZ^[1]. A column of each of these arrays depends only on the same column of X,
//!    so the blocks need nothing from each other.
//! 2. **Blocks of neurons** (one task per block of a layer's rows): (12)–(13) dW and db of
//!    those rows (each a sum over every example of the batch), the L2 term, and the
//!    optimizer's update (16)–(17) of the same rows of W, b and the optimizer's state.
//!
//! Between the stages the calling thread computes J and the accuracy from the whole batch,
//! with the functions the one-thread step uses; when J is not finite nothing is updated.
//!
//! Every element is computed by the same kernel, summing in the same order, as in the
//! one-thread step ([`crate::network::Network::backward_unchecked`] and
//! [`crate::optimizers::Optimizer::step`]): a block of columns or of rows gets the bits of
//! the whole (see [`crate::matmul::gemm`]), so the results are bit-identical whatever the
//! number of threads, and equal to the one-thread step's. Two hand-offs a step replace the
//! ~10 fork–joins of splitting each product and element-wise pass, which is what pays on
//! small networks, whose products are too small to split.

use ndarray::{s, ArrayView1, ArrayView2, ArrayViewMut2, Axis, ShapeBuilder};

use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::Result;
use crate::layers::dense::{forward_block, input_gradient, param_gradients, DenseParts};
use crate::layers::l2;
use crate::loss::{total_weight, weight_of, weight_some_columns, CostForm, Loss, WeightedMean};
use crate::matmul::num_threads;
use crate::network::Network;
use crate::optimizers::StepRule;
use crate::scalar::Float;
use crate::team::Team;
use crate::training::Step;

/// The fewest examples a block of stage 1 gets: below it the products are too thin for each
/// thread to pay for its copy of W, and the one-thread step (whose products split by rows)
/// is used instead.
pub const MIN_BLOCK_COLUMNS: usize = 32;

/// Blocks of examples per thread in stage 1 when each keeps at least [`WIDE_BLOCK_COLUMNS`]
/// examples (else one a thread): threads claim them one at a time, so a thread slowed down by
/// other work on a shared machine takes fewer. Measured with `benches/compare.py`, deepnet
/// against `deepnet-1step`, 2 threads, two interleaved runs each: 784-256-128-10 at batch 256
/// took 0.97× the one-thread step's time with 4 blocks and 1.00–1.04× with 2; 40-100-100-10 at
/// batch 100 took 1.07× and 0.92× with 3 blocks of 32–36 examples, 0.69× and 0.73× with 2.
const COLUMN_BLOCKS_PER_THREAD: usize = 2;

/// See [`COLUMN_BLOCKS_PER_THREAD`].
const WIDE_BLOCK_COLUMNS: usize = 64;

/// Whether training may take the data-parallel step (see [`set_enabled`]).
static ENABLED: AtomicBool = AtomicBool::new(true);

/// Allows (the default) or forbids the data-parallel step, process-wide: forbidden, every
/// step is the one-thread step, whose large products split across threads one by one. The
/// results are the same bits either way; this exists to measure one against the other
/// (`benches/compare.py`, `cargo bench`).
pub fn set_enabled(enabled: bool) {
    ENABLED.store(enabled, Ordering::Relaxed);
}

/// Whether the data-parallel step is allowed (see [`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// A team and the reusable bookkeeping of the data-parallel step, for one training call.
pub struct DataParallel<F> {
    team: Team,
    /// Each layer's arrays for the current step.
    parts: Vec<DenseParts<F>>,
    /// Each layer's optimizer state: for W, then b, up to two arrays each (null if none).
    slots: Vec<[[*mut F; 2]; 2]>,
    /// Stage 2's tasks, the largest first.
    tasks: Vec<Task>,
    /// Per example of the batch: L_i (0 where w_i = 0) and [`Loss::example_right`].
    terms: Vec<(f64, f64)>,
}

// SAFETY: the raw pointers are only dereferenced during a step, while the network they point
// into is mutably borrowed by it; they are plain data otherwise.
unsafe impl<F: Send> Send for DataParallel<F> {}

/// A C-ordered (rows, cols) array given by its first element.
#[derive(Clone, Copy)]
struct Raw2<F> {
    ptr: *mut F,
    rows: usize,
    cols: usize,
}

impl<F> Raw2<F> {
    fn new(ptr: *mut F, rows: usize, cols: usize) -> Self {
        Raw2 { ptr, rows, cols }
    }

    /// # Safety
    /// `ptr` points to `rows × cols` live elements that nothing writes meanwhile.
    unsafe fn all<'a>(self) -> ArrayView2<'a, F> {
        ArrayView2::from_shape_ptr((self.rows, self.cols), self.ptr)
    }

    /// Columns `c0..c1`, writable.
    ///
    /// # Safety
    /// As [`Raw2::all`], and no other thread touches these columns meanwhile.
    unsafe fn columns<'a>(self, c0: usize, c1: usize) -> ArrayViewMut2<'a, F> {
        debug_assert!(c0 <= c1 && c1 <= self.cols);
        ArrayViewMut2::from_shape_ptr(
            (self.rows, c1 - c0).strides((self.cols, 1)),
            self.ptr.add(c0),
        )
    }

    /// Columns `c0..c1`.
    ///
    /// # Safety
    /// As [`Raw2::all`].
    unsafe fn columns_ref<'a>(self, c0: usize, c1: usize) -> ArrayView2<'a, F> {
        debug_assert!(c0 <= c1 && c1 <= self.cols);
        ArrayView2::from_shape_ptr(
            (self.rows, c1 - c0).strides((self.cols, 1)),
            self.ptr.add(c0),
        )
    }

    /// Rows `r0..r1` by columns `c0..c1`, writable.
    ///
    /// # Safety
    /// As [`Raw2::all`], and no other thread touches this block meanwhile.
    unsafe fn block<'a>(self, r0: usize, r1: usize, c0: usize, c1: usize) -> ArrayViewMut2<'a, F> {
        debug_assert!(r0 <= r1 && r1 <= self.rows && c0 <= c1 && c1 <= self.cols);
        ArrayViewMut2::from_shape_ptr(
            (r1 - r0, c1 - c0).strides((self.cols, 1)),
            self.ptr.add(r0 * self.cols + c0),
        )
    }

    /// Rows `r0..r1`, writable.
    ///
    /// # Safety
    /// As [`Raw2::all`], and no other thread touches these rows meanwhile.
    unsafe fn rows<'a>(self, r0: usize, r1: usize) -> ArrayViewMut2<'a, F> {
        debug_assert!(r0 <= r1 && r1 <= self.rows);
        ArrayViewMut2::from_shape_ptr((r1 - r0, self.cols), self.ptr.add(r0 * self.cols))
    }
}

/// The batch and how the step treats it: what both stages read besides the layers.
#[derive(Clone, Copy)]
struct Batch<'a, F> {
    x: ArrayView2<'a, F>,
    y: ArrayView2<'a, F>,
    w: Option<ArrayView1<'a, F>>,
    /// Σw of the batch (m without weights).
    total_weight: f64,
    /// dZ^[L] when the output layer pairs with the loss, else dA^[L]: (n_y, m).
    delta: Raw2<F>,
    paired: bool,
    loss: Loss,
    /// How J reads the output layer.
    form: CostForm,
    /// Stage 1 writes each example's (L_i, right) here: m of them.
    terms: *mut (f64, f64),
    m: usize,
}

/// What the tasks of both stages read: the batch and the layers' arrays.
struct StepArrays<'a, 'b, F> {
    batch: Batch<'a, F>,
    parts: &'b [DenseParts<F>],
    /// Each layer's optimizer state (stage 2), as [`DataParallel::slots`].
    slots: &'b [[[*mut F; 2]; 2]],
}

impl<'a, F> std::ops::Deref for StepArrays<'a, '_, F> {
    type Target = Batch<'a, F>;

    fn deref(&self) -> &Batch<'a, F> {
        &self.batch
    }
}

// SAFETY: tasks share the arrays behind the raw pointers as the stages' rules say (stage 1:
// disjoint columns; stage 2: disjoint blocks of each layer's parameters; W is read only in
// stage 1 and written only in stage 2).
unsafe impl<F: Sync> Sync for StepArrays<'_, '_, F> {}

impl<F: Float> StepArrays<'_, '_, F> {
    fn z(&self, l: usize) -> Raw2<F> {
        let p = &self.parts[l];
        Raw2::new(p.z, p.n, self.m)
    }

    fn a(&self, l: usize) -> Raw2<F> {
        let p = &self.parts[l];
        Raw2::new(p.a, p.n, self.m)
    }

    /// dZ^[l]: the layer's workspace, or the delta for an output layer paired with its loss.
    fn dz(&self, l: usize) -> Raw2<F> {
        let p = &self.parts[l];
        if l + 1 == self.parts.len() && self.paired {
            self.delta
        } else {
            Raw2::new(p.dz, p.n, self.m)
        }
    }

    /// Stage 1 on the examples `c0..c1`.
    ///
    /// # Safety
    /// No other thread touches these columns of the workspaces or the delta meanwhile, and
    /// nothing writes W or b.
    unsafe fn columns(&self, c0: usize, c1: usize) {
        let nl = self.parts.len();
        // (9)–(10) through every layer
        let mut a_prev = self.x.slice(s![.., c0..c1]);
        for (l, p) in self.parts.iter().enumerate() {
            let w = Raw2::new(p.w, p.n, p.n_prev).all();
            let b = Raw2::new(p.b, p.n, 1).all();
            let a = self.a(l).columns(c0, c1);
            forward_block(w, b, a_prev, p.activation, self.z(l).columns(c0, c1), a);
            a_prev = self.a(l).columns_ref(c0, c1);
        }
        // (15), or the collapsed (11)·(15), weighted per example
        let last = &self.parts[nl - 1];
        let yhat = self.a(nl - 1).columns_ref(c0, c1);
        let y = self.y.slice(s![.., c0..c1]);
        let mut delta = self.delta.columns(c0, c1);
        if self.paired {
            self.loss.output_delta(yhat, y, delta.view_mut());
        } else {
            self.loss.gradient(yhat, y, delta.view_mut());
        }
        if let Some(w) = self.w {
            weight_some_columns(
                delta.view_mut(),
                w.slice(s![c0..c1]),
                self.total_weight,
                self.m,
            );
        }
        // each example's L_i and whether it is right, for J and the accuracy
        let z_last = self.z(nl - 1).columns_ref(c0, c1);
        let classification = self.loss.is_classification();
        for j in 0..c1 - c0 {
            let (zc, ac, yc) = (z_last.column(j), yhat.column(j), y.column(j));
            let loss = if weight_of(self.w, c0 + j) != 0.0 {
                self.loss.example_loss(self.form, zc, ac, yc)
            } else {
                0.0
            };
            let right = if classification {
                self.loss.example_right(ac, yc)
            } else {
                0.0
            };
            *self.terms.add(c0 + j) = (loss, right);
        }
        if !self.paired {
            // (11) at the output layer
            let z = self.z(nl - 1).columns_ref(c0, c1);
            last.activation
                .backward(delta.view(), z, yhat, self.dz(nl - 1).columns(c0, c1));
        }
        // (14) then (11), down to dZ^[1]
        for l in (1..nl).rev() {
            let p = &self.parts[l];
            let w = Raw2::new(p.w, p.n, p.n_prev).all();
            let dz = self.dz(l).columns_ref(c0, c1);
            let mut da_prev = Raw2::new(p.da_prev, p.n_prev, self.m).columns(c0, c1);
            input_gradient(w, dz, da_prev.view_mut());
            let prev = &self.parts[l - 1];
            let z = self.z(l - 1).columns_ref(c0, c1);
            let a = self.a(l - 1).columns_ref(c0, c1);
            prev.activation
                .backward(da_prev.view(), z, a, self.dz(l - 1).columns(c0, c1));
        }
    }

    /// Stage 2 on one block of layer `task.layer`'s dW: rows `r0..r1` by columns `c0..c1`
    /// (one of them whole), and db with it for the block that starts at column 0.
    ///
    /// # Safety
    /// Stage 1 has finished; no other thread touches this block of the layer's W, dW or
    /// optimizer state, nor (when `c0 == 0`) these rows of b and db, meanwhile.
    unsafe fn block(&self, rule: &StepRule<F>, task: &Task) {
        let Task {
            layer: l,
            rows: (r0, r1),
            cols: (c0, c1),
        } = *task;
        let slots = &self.slots[l];
        let p = &self.parts[l];
        let a_prev = if l == 0 { self.x } else { self.a(l - 1).all() };
        let a_prev = a_prev.slice(s![c0..c1, ..]);
        let dz = self.dz(l).rows(r0, r1);
        let w_all = Raw2::new(p.w, p.n, p.n_prev);
        let dw_all = Raw2::new(p.dw, p.n, p.n_prev);
        let mut dw = dw_all.block(r0, r1, c0, c1);
        let mut db = (c0 == 0).then(|| Raw2::new(p.db, p.n, 1).rows(r0, r1));
        // (12)–(13), and the L2 term of (12)
        param_gradients(
            self.m,
            a_prev,
            dz.view(),
            dw.view_mut(),
            db.as_mut().map(|db| db.view_mut()),
        );
        l2::add_gradient(p.l2, dw.view_mut(), w_all.block(r0, r1, c0, c1).view());
        if !p.trainable {
            return;
        }
        // (16)–(17), one row of the block at a time (contiguous, for the vectorized rules)
        for r in r0..r1 {
            let row = |raw: Raw2<F>| raw.block(r, r + 1, c0, c1).index_axis_move(Axis(0), 0);
            let state = slots[0].map(|s| (!s.is_null()).then(|| row(Raw2::new(s, p.n, p.n_prev))));
            rule.apply(row(w_all), row(dw_all).view(), state);
        }
        if let (true, Some(db)) = (p.use_bias, db) {
            let state = slots[1].map(|s| (!s.is_null()).then(|| Raw2::new(s, p.n, 1).rows(r0, r1)));
            rule.apply(Raw2::new(p.b, p.n, 1).rows(r0, r1), db.view(), state);
        }
    }
}

/// A task of stage 2: a block of one layer's dW (rows and columns, as ranges).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Task {
    layer: usize,
    rows: (usize, usize),
    cols: (usize, usize),
}

/// Blocks of stage 2 per thread: enough for threads that claim them in turn to end together
/// (the largest first)...
const BLOCKS_PER_THREAD: usize = 4;

/// ...but no block of fewer multiply–adds than this (per example of the batch): each block
/// copies its operands for the product anew (measured on 40-100-100-10: 4 blocks a thread
/// made stage 2 15% slower than 2; on 784-256-128-10, 7% faster than 2).
const MIN_BLOCK_MACS: usize = 4096;

/// Stage 2's tasks for layers whose dW are `(n, n_prev)`, on `threads` threads: each dW cut
/// along its longer side into blocks of about 1/[`BLOCKS_PER_THREAD`] of a thread's share of
/// the work, at least [`MIN_BLOCK_MACS`] (rows in multiples of 8, columns of 16), the largest
/// first.
fn stage2_tasks(shapes: &[(usize, usize)], threads: usize) -> Vec<Task> {
    let work: usize = shapes.iter().map(|&(n, n_prev)| n * n_prev).sum();
    let target = (work / (BLOCKS_PER_THREAD * threads)).max(MIN_BLOCK_MACS);
    let mut tasks = Vec::new();
    for (layer, &(n, n_prev)) in shapes.iter().enumerate() {
        let by_rows = n >= n_prev;
        let (len, unit) = if by_rows { (n, 8) } else { (n_prev, 16) };
        let blocks = (n * n_prev).div_ceil(target).clamp(1, len.div_ceil(unit));
        for (start, end) in even_cuts(len, blocks, unit) {
            tasks.push(if by_rows {
                Task {
                    layer,
                    rows: (start, end),
                    cols: (0, n_prev),
                }
            } else {
                Task {
                    layer,
                    rows: (0, n),
                    cols: (start, end),
                }
            });
        }
    }
    let size = |t: &Task| (t.rows.1 - t.rows.0) * (t.cols.1 - t.cols.0);
    tasks.sort_by_key(|t| std::cmp::Reverse(size(t)));
    tasks
}

/// `0..len` cut into `parts` runs of about equal length, inner edges rounded to a multiple of
/// `unit`; empty runs left out.
fn even_cuts(len: usize, parts: usize, unit: usize) -> Vec<(usize, usize)> {
    let edge = |i: usize| {
        if i >= parts {
            len
        } else {
            ((len * i + parts / 2) / parts / unit * unit).min(len)
        }
    };
    (0..parts)
        .map(|i| (edge(i), edge(i + 1)))
        .filter(|(a, b)| b > a)
        .collect()
}

/// Stage 1's block `i` of `blocks`: about m / blocks columns, inner edges on multiples of
/// 16 (whole cache lines of a row, for float32).
fn column_block(m: usize, blocks: usize, i: usize) -> (usize, usize) {
    let edge = |i: usize| {
        if i >= blocks {
            m
        } else {
            ((m * i + blocks / 2) / blocks / 16 * 16).min(m)
        }
    };
    (edge(i), edge(i + 1))
}

impl<F: Float> Network<F> {
    /// A team for the data-parallel step, when this network can use it for batches of up to
    /// `batch_size` examples: dense layers only, at least two threads to be had now, and
    /// batches of at least [`MIN_BLOCK_COLUMNS`] examples per thread.
    pub(crate) fn data_parallel(&mut self, batch_size: usize) -> Option<DataParallel<F>> {
        let threads = num_threads().min(batch_size / MIN_BLOCK_COLUMNS);
        if !enabled() || threads < 2 || self.input_shape.len() != 1 {
            return None;
        }
        if !self.layers.iter_mut().all(|l| l.as_dense().is_some()) {
            return None;
        }
        Some(self.on_team(Team::new(threads))).filter(|dp| dp.team.threads() >= 2)
    }

    /// The data-parallel step's bookkeeping for this network (dense layers only) on `team`.
    fn on_team(&mut self, team: Team) -> DataParallel<F> {
        let shapes: Vec<_> = self
            .layers
            .iter_mut()
            .map(|l| l.as_dense().expect("dense layers only").w().dim())
            .collect();
        let tasks = stage2_tasks(&shapes, team.threads());
        DataParallel {
            team,
            parts: Vec::with_capacity(shapes.len()),
            slots: Vec::with_capacity(shapes.len()),
            tasks,
            terms: Vec::new(),
        }
    }

    /// Sizes every layer's workspaces for a batch of `m` and lends their arrays.
    fn lend_parts(&mut self, dp: &mut DataParallel<F>, m: usize, paired: bool) -> Result<()> {
        let nl = self.layers.len();
        dp.parts.clear();
        for (l, layer) in self.layers.iter_mut().enumerate() {
            let dense = layer.as_dense().expect("checked by data_parallel");
            dp.parts
                .push(dense.parts(m, !(paired && l + 1 == nl), l > 0)?);
        }
        Ok(())
    }

    /// One training step of [`Network::step_unchecked`] on the team, for a batch X (n_x, m),
    /// Y and sample weights `w` whose total weight is positive. `None` when the batch is too
    /// small to split (the caller then takes the one-thread step).
    pub(crate) fn data_parallel_step(
        &mut self,
        dp: &mut DataParallel<F>,
        x: ArrayView2<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
    ) -> Result<Option<Step>> {
        let m = y.ncols();
        let threads = dp.team.threads().min(m / MIN_BLOCK_COLUMNS);
        if threads < 2 {
            return Ok(None);
        }
        let per_thread = if m / (COLUMN_BLOCKS_PER_THREAD * threads) >= WIDE_BLOCK_COLUMNS {
            COLUMN_BLOCKS_PER_THREAD
        } else {
            1
        };
        let blocks = per_thread * threads;
        let last = self.layers.last().expect("at least one layer");
        let paired = last
            .output_activation()
            .is_some_and(|act| self.loss.pairs_with(act));
        let form = self.loss.cost_form(last.output_activation());
        let n_y = self.n_y();
        self.delta.resize(&[n_y, m])?;
        let delta = Raw2::new(self.delta.view_mut().as_mut_ptr(), n_y, m);
        dp.terms.clear();
        dp.terms.resize(m, (0.0, 0.0));
        let terms = dp.terms.as_mut_ptr();
        self.lend_parts(dp, m, paired)?;
        let batch = Batch {
            x,
            y,
            w,
            total_weight: total_weight(w, m),
            delta,
            paired,
            loss: self.loss,
            form,
            terms,
            m,
        };
        let arrays = StepArrays {
            batch,
            parts: &dp.parts,
            slots: &[],
        };
        // SAFETY: each task owns its block of columns; W and b are only read.
        dp.team.run(blocks, &|i| {
            let (c0, c1) = column_block(m, blocks, i);
            unsafe { arrays.columns(c0, c1) }
        });
        // J and the accuracy, summed in the order and by the formulas of
        // `Network::batch_cost` and `Network::batch_correct`
        let penalty = self.penalty();
        let mut mean = WeightedMean::default();
        let mut right = 0.0;
        for (i, &(loss, r)) in dp.terms.iter().enumerate() {
            let wi = weight_of(w, i);
            mean.add(wi, || loss);
            right += wi * r;
        }
        let cost = mean.value() + penalty;
        let correct = self
            .loss
            .is_classification()
            .then(|| self.loss.right_per_example(right, n_y));
        let step = Step {
            cost,
            penalty,
            correct,
            weight: total_weight(w, m),
        };
        if !cost.is_finite() {
            return Ok(Some(step));
        }
        let rule = self.optimizer.begin_step();
        // the optimizer's state, made on the first step: W's arrays then b's, layer by layer
        // (the order of `Layer::params`), and their pointers
        dp.slots.clear();
        let mut index = 0;
        for part in &dp.parts {
            let mut layer_slots = [[std::ptr::null_mut(); 2]; 2];
            let shapes = [[part.n, part.n_prev], [part.n, 1]];
            let params = if part.use_bias { 2 } else { 1 };
            for (param, shape) in layer_slots.iter_mut().zip(shapes).take(params) {
                self.optimizer.ensure_slots(index, &shape);
                for (slot, array) in param.iter_mut().zip(self.optimizer.slots_mut(index)) {
                    *slot = array.as_mut_ptr();
                }
                index += 1;
            }
            dp.slots.push(layer_slots);
        }
        // the layers' pointers again, after the borrows above
        self.lend_parts(dp, m, paired)?;
        let arrays = StepArrays {
            batch,
            parts: &dp.parts,
            slots: &dp.slots,
        };
        let tasks = &dp.tasks;
        // SAFETY: each task owns its block of one layer; stage 1 has finished.
        dp.team
            .run(tasks.len(), &|t| unsafe { arrays.block(&rule, &tasks[t]) });

        Ok(Some(step))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::layers::{DenseConfig, LayerSpec};
    use crate::loss::Loss;
    use crate::network::EpochEnd;
    use crate::optimizers::{Optimizer, OptimizerKind, Schedule};
    use ndarray::{Array1, Array2};

    /// (units, g, λ, use_bias, trainable)
    type LayerDef = (usize, Activation, f64, bool, bool);

    fn network<F: Float>(
        n_x: usize,
        defs: &[LayerDef],
        loss: Loss,
        kind: &OptimizerKind,
    ) -> Network<F> {
        let specs: Vec<LayerSpec> = defs
            .iter()
            .map(|&(units, activation, l2, use_bias, trainable)| {
                LayerSpec::Dense(DenseConfig {
                    units,
                    activation,
                    l2,
                    use_bias,
                    trainable,
                })
            })
            .collect();
        let mut net = Network::new(&[n_x], &specs, loss, 11).unwrap();
        let lr = if matches!(kind, OptimizerKind::Sgd | OptimizerKind::Momentum { .. }) {
            0.05
        } else {
            0.003
        };
        net.set_optimizer(
            Optimizer::new(kind.clone(), Schedule::Constant { learning_rate: lr }).unwrap(),
        );
        net
    }

    /// Deterministic inputs and targets the loss accepts, and optional sample weights (some 0).
    fn data<F: Float>(
        n_x: usize,
        n_y: usize,
        m: usize,
        loss: Loss,
    ) -> (Array2<F>, Array2<F>, Array1<F>) {
        let x = Array2::from_shape_fn((n_x, m), |(i, j)| {
            F::c((((i * 37 + j * 11) % 101) as f64 / 101.0 - 0.5) * 2.0)
        });
        let y = Array2::from_shape_fn((n_y, m), |(k, j)| match loss {
            Loss::CategoricalCrossentropy => F::c(((j * 7 + 3) % n_y == k) as u8 as f64),
            Loss::BinaryCrossentropy => F::c(((j * 5 + k) % 3 == 0) as u8 as f64),
            Loss::Mse => F::c(((j + 2 * k) % 9) as f64 / 4.0 - 1.0),
        });
        let w = Array1::from_shape_fn(m, |j| F::c([1.0, 0.5, 0.0, 2.0, 1.25][j % 5]));
        (x, y, w)
    }

    /// `epochs` epochs with the one-thread step (`threads` = None) or the data-parallel step on
    /// a team of `threads`: the epoch reports, then every parameter and optimizer array.
    #[allow(clippy::type_complexity)]
    fn train<F: Float>(
        mut net: Network<F>,
        (x, y, w): &(Array2<F>, Array2<F>, Array1<F>),
        weighted: bool,
        batch: usize,
        shuffled: bool,
        threads: Option<usize>,
    ) -> (Vec<(f64, f64, Option<f64>, EpochEnd)>, Vec<Vec<F>>) {
        let m = y.ncols();
        let order: Vec<usize> = (0..m).map(|j| (j * 17 + 5) % m).collect();
        let mut dp = threads.map(|t| net.on_team(Team::new(t)));
        let mut reports = Vec::new();
        for _ in 0..3 {
            let r = net
                .epoch_unchecked(
                    x.view().into_dyn(),
                    y.view(),
                    weighted.then(|| w.view()),
                    batch,
                    shuffled.then_some(order.as_slice()),
                    &mut || false,
                    dp.as_mut(),
                )
                .unwrap();
            reports.push((r.cost, r.penalty, r.accuracy, r.end));
        }
        let mut arrays: Vec<Vec<F>> = net
            .layers()
            .iter()
            .flat_map(|l| l.params().into_iter().chain(l.grads()))
            .map(|p| p.iter().copied().collect())
            .collect();
        for slots in net.optimizer().state() {
            arrays.extend(slots.iter().map(|s| s.iter().copied().collect()));
        }
        (reports, arrays)
    }

    fn same_bits<F: Float>(a: &[Vec<F>], b: &[Vec<F>]) -> bool {
        a.len() == b.len()
            && a.iter().zip(b).all(|(x, y)| {
                x.len() == y.len()
                    && x.iter().zip(y).all(|(p, q)| {
                        p.to_f64().unwrap().to_bits() == q.to_f64().unwrap().to_bits()
                    })
            })
    }

    /// The data-parallel step on teams of 2 and 3 gives the one-thread step's bits: reports,
    /// parameters, gradients and optimizer state.
    #[allow(clippy::too_many_arguments)]
    fn check<F: Float>(
        n_x: usize,
        defs: &[LayerDef],
        loss: Loss,
        kind: OptimizerKind,
        m: usize,
        batch: usize,
        weighted: bool,
        shuffled: bool,
    ) {
        let n_y = defs.last().unwrap().0;
        let data = data::<F>(n_x, n_y, m, loss);
        let fresh = || network::<F>(n_x, defs, loss, &kind);
        let (reports, arrays) = train(fresh(), &data, weighted, batch, shuffled, None);
        for threads in [2, 3] {
            let (r, a) = train(fresh(), &data, weighted, batch, shuffled, Some(threads));
            let what = format!("{defs:?} {loss:?} {kind:?} m={m} batch={batch} w={weighted} shuffled={shuffled} threads={threads}");
            assert_eq!(
                format!("{r:?}"),
                format!("{reports:?}"),
                "epoch reports differ: {what}"
            );
            assert!(same_bits(&a, &arrays), "parameters differ: {what}");
        }
    }

    const RELU: Activation = Activation::Relu;

    #[test]
    fn the_data_parallel_step_gives_the_bits_of_the_one_thread_step() {
        let kinds = [
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
        ];
        let softmax_net: &[LayerDef] = &[
            (48, RELU, 0.0, true, true),
            (33, Activation::Tanh, 0.0, true, true),
            (5, Activation::Softmax, 0.0, true, true),
        ];
        for kind in kinds {
            for (weighted, shuffled) in [(false, false), (true, true)] {
                // 230 examples: batches of 100 and a last one of 30, which takes the
                // one-thread step inside the same epoch
                check::<f32>(
                    20,
                    softmax_net,
                    Loss::CategoricalCrossentropy,
                    kind.clone(),
                    230,
                    100,
                    weighted,
                    shuffled,
                );
                check::<f64>(
                    20,
                    softmax_net,
                    Loss::CategoricalCrossentropy,
                    kind.clone(),
                    230,
                    100,
                    weighted,
                    shuffled,
                );
            }
        }
        // every activation, L2, a frozen layer and one without bias; the unpaired losses
        // (dA^[L] from (15), then (11) at the output layer) and the paired sigmoid
        let mixed: &[LayerDef] = &[
            (40, Activation::LeakyRelu, 0.01, true, true),
            (24, Activation::Sigmoid, 0.0, false, true),
            (17, Activation::HardSigmoid, 0.0, true, false),
            (31, Activation::Linear, 0.002, true, true),
        ];
        for (last, loss) in [
            (
                (3, Activation::Sigmoid, 0.0, true, true),
                Loss::BinaryCrossentropy,
            ),
            ((3, Activation::Linear, 0.0, true, true), Loss::Mse),
            ((3, Activation::Tanh, 0.0, true, true), Loss::Mse),
            ((4, Activation::Softmax, 0.0, true, true), Loss::Mse),
        ] {
            let defs: Vec<LayerDef> = mixed.iter().copied().chain([last]).collect();
            for (weighted, shuffled) in [(false, true), (true, false)] {
                check::<f64>(
                    12,
                    &defs,
                    loss,
                    OptimizerKind::Adam {
                        beta1: 0.9,
                        beta2: 0.99,
                        eps: 1e-7,
                    },
                    200,
                    96,
                    weighted,
                    shuffled,
                );
                check::<f32>(
                    12,
                    &defs,
                    loss,
                    OptimizerKind::Sgd,
                    200,
                    200,
                    weighted,
                    shuffled,
                );
            }
        }
    }

    #[test]
    fn a_diverging_step_updates_nothing_in_both_steps() {
        // a learning rate that makes J infinite within the first epochs
        let defs: &[LayerDef] = &[
            (64, Activation::Linear, 0.0, true, true),
            (2, Activation::Linear, 0.0, true, true),
        ];
        let data = {
            let (x, y, w) = data::<f32>(30, 2, 128, Loss::Mse);
            (x.mapv(|v| v * 1e3), y, w)
        };
        let fresh = || {
            let mut net = network::<f32>(30, defs, Loss::Mse, &OptimizerKind::Sgd);
            net.set_optimizer(Optimizer::sgd(10.0).unwrap());
            net
        };
        let one = train(fresh(), &data, false, 64, false, None);
        assert!(
            one.0.iter().any(|r| r.3 == EpochEnd::Diverged),
            "{:?}",
            one.0
        );
        let two = train(fresh(), &data, false, 64, false, Some(2));
        assert_eq!(format!("{:?}", two.0), format!("{:?}", one.0));
        assert!(same_bits(&two.1, &one.1));
    }

    #[test]
    fn stage2_tasks_cover_every_gradient_once() {
        for shapes in [
            vec![(100, 40), (100, 100), (10, 100)],
            vec![(256, 784), (128, 256), (10, 128)],
            vec![(1, 3)],
            vec![(5, 5), (1000, 5), (3, 1000)],
        ] {
            for threads in [2, 3, 16] {
                let tasks = stage2_tasks(&shapes, threads);
                for (l, &(n, n_prev)) in shapes.iter().enumerate() {
                    let mut cells: Vec<_> = tasks
                        .iter()
                        .filter(|t| t.layer == l)
                        .flat_map(|t| {
                            (t.rows.0..t.rows.1)
                                .flat_map(move |r| (t.cols.0..t.cols.1).map(move |c| (r, c)))
                        })
                        .collect();
                    cells.sort_unstable();
                    let all: Vec<_> = (0..n)
                        .flat_map(|r| (0..n_prev).map(move |c| (r, c)))
                        .collect();
                    assert_eq!(cells, all, "{shapes:?} {threads}");
                    // every row of db has exactly one block starting at column 0
                    let mut db_rows: Vec<_> = tasks
                        .iter()
                        .filter(|t| t.layer == l && t.cols.0 == 0)
                        .flat_map(|t| t.rows.0..t.rows.1)
                        .collect();
                    db_rows.sort_unstable();
                    assert_eq!(db_rows, (0..n).collect::<Vec<_>>());
                }
            }
        }
    }

    #[test]
    fn column_blocks_cover_the_batch() {
        for m in [64, 65, 100, 256, 1000] {
            for blocks in 2..6 {
                let mut end = 0;
                for i in 0..blocks {
                    let (c0, c1) = column_block(m, blocks, i);
                    assert_eq!(c0, end);
                    assert!(c1 >= c0);
                    end = c1;
                }
                assert_eq!(end, m);
            }
        }
    }
}
