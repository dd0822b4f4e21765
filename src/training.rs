//! The training process of section 7, on a [`Network`]: one step (forward, cost, backward,
//! update), an epoch of mini-batches (in storage order or gathered in a shuffled order), and
//! `fit`, which repeats epochs until the epoch limit, a target cost, convergence, divergence
//! (parameters restored to the last finite epoch) or an interrupt (Ctrl-C, polled between
//! steps).

use ndarray::{s, ArrayView1, ArrayView2, ArrayViewD, ArrayViewMutD, Axis, Ix2, Slice};
use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;

use crate::data_parallel::DataParallel;
use crate::error::{CoreError, Result};
use crate::loss::total_weight;
use crate::matmul::in_pool;
use crate::network::{check_weights, Network};
use crate::scalar::Float;

/// What one training step reports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    /// J of the batch before the update, penalty included.
    pub cost: f64,
    /// The L2 penalty part of `cost`.
    pub penalty: f64,
    /// Examples classified right (classification losses), each counted w_i times.
    pub correct: Option<f64>,
    /// Σ w_i over the batch (its size without weights).
    pub weight: f64,
}

/// How often a long training call asks whether to stop (Ctrl-C).
pub const INTERRUPT_POLL: Duration = Duration::from_millis(20);

/// How an epoch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EpochEnd {
    /// Every mini-batch was used.
    Completed,
    /// J or a parameter became NaN or infinite; the parameters were restored to those the
    /// epoch started from.
    Diverged,
    /// The interrupt callback asked to stop; the epoch's completed steps are kept.
    Interrupted,
}

/// What one epoch of training reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochReport {
    /// The mean of the mini-batch costs J, weighted by batch size (by the batch's total sample
    /// weight, with sample weights), each computed before its update, L2 penalty included. With one full batch this is J at the parameters the
    /// epoch started from.
    pub cost: f64,
    /// The part of `cost` that is the L2 penalty (0 without L2).
    pub penalty: f64,
    /// The fraction of the epoch's examples classified right (each counted w_i times, with
    /// sample weights), for classification losses.
    pub accuracy: Option<f64>,
    pub end: EpochEnd,
}

impl EpochReport {
    fn stopped(cost: f64, end: EpochEnd) -> Self {
        EpochReport {
            cost,
            penalty: 0.0,
            accuracy: None,
            end,
        }
    }

    /// Whether training diverged in this epoch.
    pub fn diverged(&self) -> bool {
        self.end == EpochEnd::Diverged
    }
}

/// Why [`Network::fit`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Epochs,
    TargetCost,
    Converged,
    Diverged,
    Interrupted,
}

impl StopReason {
    /// The name Python's `History.stop_reason` uses.
    pub fn name(self) -> &'static str {
        match self {
            StopReason::Epochs => "epochs",
            StopReason::TargetCost => "target_cost",
            StopReason::Converged => "converged",
            StopReason::Diverged => "diverged",
            StopReason::Interrupted => "interrupted",
        }
    }
}

/// The settings of [`Network::fit`].
#[derive(Clone, Debug, PartialEq)]
pub struct FitOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub shuffle: bool,
    pub target_cost: Option<f64>,
    pub tol: Option<f64>,
    /// J of the epoch before this call, so `tol` works across calls.
    pub previous_cost: Option<f64>,
    /// With it, `tol` is the least improvement that counts: see [`Patience`].
    pub patience: Option<Patience>,
}

/// The convergence rule of Keras' `EarlyStopping(monitor="cost", min_delta=tol)` and
/// scikit-learn's `n_iter_no_change`: stop when J has not fallen below its best by more than
/// `tol` (0 when None) for `epochs` epochs in a row. `best` and `waited` carry the rule's state
/// from one call to the next (start with `f64::INFINITY` and 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Patience {
    pub epochs: usize,
    pub best: f64,
    pub waited: usize,
}

impl Patience {
    pub fn new(epochs: usize) -> Self {
        Patience {
            epochs,
            best: f64::INFINITY,
            waited: 0,
        }
    }

    /// Records an epoch's J; true when training should stop.
    fn record(&mut self, cost: f64, tol: f64) -> bool {
        if cost < self.best - tol {
            self.best = cost;
            self.waited = 0;
        } else {
            self.waited += 1;
        }
        self.waited >= self.epochs
    }
}

/// What [`Network::fit`] reports: J of every completed epoch and why it stopped. If it
/// diverged, the diverging epoch is the one after the last cost.
#[derive(Clone, Debug, PartialEq)]
pub struct FitReport {
    /// J per completed epoch, L2 penalty included.
    pub costs: Vec<f64>,
    /// The penalty part of each cost.
    pub penalties: Vec<f64>,
    /// Training accuracy per completed epoch (classification losses only).
    pub accuracies: Vec<f64>,
    pub stop: StopReason,
    /// The state of the patience rule after the last epoch, when one was given.
    pub patience: Option<Patience>,
}

impl<F: Float> Network<F> {
    /// One step of section 7 on a batch: forward, cost, backward, and the optimizer's update.
    /// Returns J of the batch (before the update, penalty included). If J is not finite
    /// nothing is updated.
    pub fn train_step(&mut self, x: ArrayViewD<F>, y: ArrayView2<F>) -> Result<f64> {
        self.check_xy(&x, &y)?;
        in_pool(|| self.step_unchecked(x, y, None, None).map(|s| s.cost))
    }

    /// A step on a batch with sample weights `w` (or none). A batch whose weights are all 0
    /// carries no example: it is skipped (no forward pass, no update, and the optimizer's step
    /// count does not move), as if its examples had been removed. With a team (`dp`) and a
    /// batch large enough to split, the data-parallel step runs instead: same results.
    fn step_unchecked(
        &mut self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
        dp: Option<&mut DataParallel<F>>,
    ) -> Result<Step> {
        let weight = total_weight(w, y.ncols());
        if weight == 0.0 {
            return Ok(Step {
                cost: 0.0,
                penalty: 0.0,
                correct: None,
                weight,
            });
        }
        if let (Some(dp), Ok(x2)) = (dp, x.view().into_dimensionality::<Ix2>()) {
            if let Some(step) = self.data_parallel_step(dp, x2, y, w)? {
                return Ok(step);
            }
        }
        self.forward_unchecked(x.view(), true)?;
        let penalty = self.penalty();
        let cost = self.batch_cost(x.view(), y, w)? + penalty;
        let correct = self.batch_correct(x.view(), y, w);
        if cost.is_finite() {
            self.backward_unchecked(x, y, w)?;
            self.optimizer.step(&mut self.layers);
        }
        Ok(Step {
            cost,
            penalty,
            correct,
            weight,
        })
    }

    /// One epoch: mini-batches of `batch_size` columns, in the column order `order` (a
    /// permutation of 0..m) or in storage order when `None`. In storage order a mini-batch is
    /// a view of X (no copy); in a shuffled order it is gathered into a reused workspace.
    ///
    /// If J or a parameter becomes NaN or infinite, training of this epoch stops and the
    /// parameters are restored to those the epoch started from.
    pub fn train_epoch(
        &mut self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        batch_size: usize,
        order: Option<&[usize]>,
    ) -> Result<EpochReport> {
        let m = self.check_training_args(&x, &y, batch_size)?;
        if let Some(order) = order {
            if order.len() != m {
                return Err(CoreError::Value(format!(
                    "order: expected a permutation of the {m} example indices, got {} indices",
                    order.len()
                )));
            }
            if let Some(&bad) = order.iter().find(|&&i| i >= m) {
                return Err(CoreError::Value(format!(
                    "order: index {bad} is out of range for {m} examples"
                )));
            }
        }
        in_pool(|| {
            let mut dp = self.data_parallel(batch_size.min(m));
            let report =
                self.epoch_unchecked(x, y, None, batch_size, order, &mut || false, dp.as_mut())?;
            if report.end == EpochEnd::Completed {
                self.optimizer.end_epoch();
            }
            Ok(report)
        })
    }

    fn check_training_args(
        &self,
        x: &ArrayViewD<F>,
        y: &ArrayView2<F>,
        batch_size: usize,
    ) -> Result<usize> {
        let m = self.check_xy(x, y)?;
        if batch_size == 0 {
            return Err(CoreError::Value(
                "batch_size must be a positive integer, got 0".into(),
            ));
        }
        Ok(m)
    }

    /// The epoch loop. `interrupt` is polled between steps (at most every
    /// [`INTERRUPT_POLL`]); when it returns true the epoch stops after the step in progress,
    /// leaving every layer updated by the same, complete steps. `dp`: the team of the
    /// data-parallel step, if the network can use one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn epoch_unchecked(
        &mut self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
        batch_size: usize,
        order: Option<&[usize]>,
        interrupt: &mut (dyn FnMut() -> bool + Send),
        mut dp: Option<&mut DataParallel<F>>,
    ) -> Result<EpochReport> {
        let m = y.ncols();
        self.save_backup();
        let axis = Axis(x.ndim() - 1);
        let (mut total, mut penalty, mut correct) = (0.0, 0.0, None::<f64>);
        let mut weight = 0.0;
        let mut last_poll = Instant::now();
        for start in (0..m).step_by(batch_size) {
            let end = (start + batch_size).min(m);
            let step = match order {
                None => self.step_unchecked(
                    x.slice_axis(axis, Slice::from(start..end)),
                    y.slice(s![.., start..end]),
                    w.map(|w| w.slice_move(s![start..end])),
                    dp.as_deref_mut(),
                )?,
                Some(order) => {
                    self.gathered_step(&x, &y, w, &order[start..end], dp.as_deref_mut())?
                }
            };
            if !step.cost.is_finite() {
                self.restore_backup();
                return Ok(EpochReport::stopped(step.cost, EpochEnd::Diverged));
            }
            if step.weight > 0.0 {
                total += step.cost * step.weight;
                penalty += step.penalty * step.weight;
                weight += step.weight;
            }
            if let Some(c) = step.correct {
                *correct.get_or_insert(0.0) += c;
            }
            if end < m && last_poll.elapsed() >= INTERRUPT_POLL {
                last_poll = Instant::now();
                if interrupt() {
                    return Ok(EpochReport::stopped(total / weight, EpochEnd::Interrupted));
                }
            }
        }
        if !self.params_finite() {
            self.restore_backup();
            return Ok(EpochReport::stopped(f64::NAN, EpochEnd::Diverged));
        }
        Ok(EpochReport {
            cost: total / weight,
            penalty: penalty / weight,
            accuracy: correct.map(|c| c / weight),
            end: EpochEnd::Completed,
        })
    }

    /// The training process of section 7 over up to `options.epochs` epochs: shuffling (from
    /// the network's seeded stream) when asked, stopping at the epoch limit, when J <=
    /// `target_cost`, when J changes by less than `tol`, when training diverges (parameters
    /// restored to the last finite epoch), or when `interrupt` returns true (polled between
    /// steps, at most every [`INTERRUPT_POLL`]).
    pub fn fit(
        &mut self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        options: &FitOptions,
        interrupt: &mut (dyn FnMut() -> bool + Send),
    ) -> Result<FitReport> {
        self.weighted_fit(x, y, None, options, interrupt)
    }

    /// [`Network::fit`] with sample weights `w` (one per column of X; `None`: all 1): every
    /// mini-batch's J is Σ w_i L_i / Σ w_i and its gradients are that J's, so a weight of 2
    /// counts an example twice and a weight of 0 removes it. Also counts as one of the
    /// training calls that share the thread budget (see [`crate::matmul::num_threads`]).
    pub fn weighted_fit(
        &mut self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
        options: &FitOptions,
        interrupt: &mut (dyn FnMut() -> bool + Send),
    ) -> Result<FitReport> {
        let _share = crate::matmul::TrainingCall::begin();
        in_pool(|| self.fit_in_pool(x, y, w, options, interrupt))
    }

    fn fit_in_pool(
        &mut self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
        options: &FitOptions,
        interrupt: &mut (dyn FnMut() -> bool + Send),
    ) -> Result<FitReport> {
        let m = self.check_training_args(&x, &y, options.batch_size)?;
        check_weights(w, m)?;
        let mut order = std::mem::take(&mut self.order);
        let mut report = FitReport {
            costs: Vec::with_capacity(options.epochs.min(1 << 16)),
            penalties: Vec::new(),
            accuracies: Vec::new(),
            stop: StopReason::Epochs,
            patience: options.patience,
        };
        let mut previous = options.previous_cost;
        let mut last_poll = Instant::now();
        let mut dp = self.data_parallel(options.batch_size.min(m));
        let result = (|| -> Result<()> {
            for _ in 0..options.epochs {
                let shuffled = options.shuffle && options.batch_size < m;
                if shuffled {
                    next_order(&mut self.shuffle_rng, m, &mut order);
                }
                let epoch = self.epoch_unchecked(
                    x.view(),
                    y,
                    w,
                    options.batch_size,
                    shuffled.then_some(order.as_slice()),
                    interrupt,
                    dp.as_mut(),
                )?;
                match epoch.end {
                    EpochEnd::Diverged => {
                        report.stop = StopReason::Diverged;
                        return Ok(());
                    }
                    EpochEnd::Interrupted => {
                        report.stop = StopReason::Interrupted;
                        return Ok(());
                    }
                    EpochEnd::Completed => {
                        self.optimizer.end_epoch();
                        report.costs.push(epoch.cost);
                        report.penalties.push(epoch.penalty);
                        report.accuracies.extend(epoch.accuracy);
                    }
                }
                if options.target_cost.is_some_and(|t| epoch.cost <= t) {
                    report.stop = StopReason::TargetCost;
                    return Ok(());
                }
                if let Some(patience) = &mut report.patience {
                    if patience.record(epoch.cost, options.tol.unwrap_or(0.0)) {
                        report.stop = StopReason::Converged;
                        return Ok(());
                    }
                } else if let (Some(tol), Some(prev)) = (options.tol, previous) {
                    if (prev - epoch.cost).abs() < tol {
                        report.stop = StopReason::Converged;
                        return Ok(());
                    }
                }
                previous = Some(epoch.cost);
                // also poll between epochs, for many short ones
                if last_poll.elapsed() >= INTERRUPT_POLL {
                    last_poll = Instant::now();
                    if interrupt() {
                        report.stop = StopReason::Interrupted;
                        return Ok(());
                    }
                }
            }
            Ok(())
        })();
        self.order = order;
        result.map(|()| report)
    }

    /// A step on the columns `idx` of X and Y, copied into the batch workspaces.
    fn gathered_step(
        &mut self,
        x: &ArrayViewD<F>,
        y: &ArrayView2<F>,
        w: Option<ArrayView1<F>>,
        idx: &[usize],
        dp: Option<&mut DataParallel<F>>,
    ) -> Result<Step> {
        let bs = idx.len();
        let mut shape = std::mem::take(&mut self.batch_shape);
        shape.clear();
        shape.extend_from_slice(&self.input_shape);
        shape.push(bs);
        let mut bx = std::mem::take(&mut self.batch_x);
        let mut by = std::mem::take(&mut self.batch_y);
        let mut bw = std::mem::take(&mut self.batch_w);
        let result = (|| {
            bx.resize(&shape)?;
            by.resize(&[y.nrows(), bs])?;
            gather_examples(x.view(), idx, bx.view_mut());
            gather_examples(y.view().into_dyn(), idx, by.view_mut());
            let yb = by.view().into_dimensionality::<Ix2>().expect("2-D");
            let wb = match w {
                Some(w) => {
                    bw.clear();
                    bw.try_reserve(bs).map_err(|_| {
                        CoreError::Value(format!("cannot allocate {bs} sample weights"))
                    })?;
                    bw.extend(idx.iter().map(|&i| w[i]));
                    Some(ArrayView1::from(bw.as_slice()))
                }
                None => None,
            };
            self.step_unchecked(bx.view(), yb, wb, dp)
        })();
        self.batch_x = bx;
        self.batch_y = by;
        self.batch_w = bw;
        self.batch_shape = shape;
        result
    }

    /// The orders in which the next `epochs` shuffled epochs over `m` examples will visit
    /// them, without advancing the shuffling stream (for tests and for students who want to
    /// replay `fit` by hand).
    pub fn peek_orders(&self, m: usize, epochs: usize) -> Vec<Vec<usize>> {
        let mut rng = self.shuffle_rng.clone();
        (0..epochs)
            .map(|_| {
                let mut order = Vec::with_capacity(m);
                next_order(&mut rng, m, &mut order);
                order
            })
            .collect()
    }

    /// Whether every parameter is finite.
    pub fn params_finite(&self) -> bool {
        self.layers
            .iter()
            .all(|l| l.params().iter().all(|p| p.iter().all(|v| v.is_finite())))
    }

    fn save_backup(&mut self) {
        match &mut self.optimizer_backup {
            Some(saved) => saved.clone_from(&self.optimizer),
            None => self.optimizer_backup = Some(self.optimizer.clone()),
        }
        if self.backup.len() != self.layers.len() {
            self.backup = self
                .layers
                .iter()
                .map(|l| l.params().iter().map(|p| p.to_owned()).collect())
                .collect();
        } else {
            for (saved, layer) in self.backup.iter_mut().zip(&self.layers) {
                for (s, p) in saved.iter_mut().zip(layer.params()) {
                    s.assign(&p);
                }
            }
        }
    }

    fn restore_backup(&mut self) {
        if let Some(saved) = &self.optimizer_backup {
            self.optimizer.clone_from(saved);
        }
        for (saved, layer) in self.backup.iter().zip(self.layers.iter_mut()) {
            for (i, s) in saved.iter().enumerate() {
                layer
                    .set_param(i, s.view())
                    .expect("backup has the parameters' shapes");
            }
        }
    }
}

/// The next epoch's visiting order: a uniform permutation of 0..m (Fisher–Yates).
fn next_order(rng: &mut ChaCha8Rng, m: usize, order: &mut Vec<usize>) {
    order.clear();
    order.extend(0..m);
    order.shuffle(rng);
}

/// out[..., j] = src[..., idx[j]] along the last (example) axis, for any number of axes and
/// any strides. When an example is stored contiguously (a transposed C-ordered array, such as
/// scikit-learn's rows seen as columns) it is copied example by example; otherwise lane by
/// lane, so a C-ordered source is read along its rows.
fn gather_examples<F: Float>(src: ArrayViewD<F>, idx: &[usize], mut out: ArrayViewMutD<F>) {
    if let (Ok(src), Ok(out)) = (
        src.view().into_dimensionality::<Ix2>(),
        out.view_mut().into_dimensionality::<Ix2>(),
    ) {
        return gather_columns(src, idx, out);
    }
    let axis = Axis(src.ndim() - 1);
    let example_stride = src.strides()[axis.index()].unsigned_abs();
    let innermost = src
        .strides()
        .iter()
        .zip(src.shape())
        .take(axis.index())
        .filter(|&(_, &n)| n > 1)
        .map(|(s, _)| s.unsigned_abs())
        .min();
    if innermost.is_some_and(|inner| inner < example_stride) {
        for (&i, mut dst) in idx.iter().zip(out.axis_iter_mut(axis)) {
            dst.assign(&src.index_axis(axis, i));
        }
        return;
    }
    for (src_lane, mut out_lane) in src.lanes(axis).into_iter().zip(out.lanes_mut(axis)) {
        for (o, &i) in out_lane.iter_mut().zip(idx) {
            *o = src_lane[i];
        }
    }
}

/// [`gather_examples`] for 2-D X (n_x, m) and Y, the common case (run at every step): plain
/// index loops instead of n-D iterators, reading along whichever axis is contiguous.
fn gather_columns<F: Float>(
    src: ndarray::ArrayView2<F>,
    idx: &[usize],
    mut out: ndarray::ArrayViewMut2<F>,
) {
    let (rows, bs) = out.dim();
    let contiguous_columns = src.strides()[0] == 1 && src.strides()[1] >= rows as isize;
    if let (true, Some(dst)) = (contiguous_columns, out.as_slice_mut()) {
        // each example (column) is contiguous, the batch C-ordered: slices, no bounds checks
        // in the inner loop
        for (j, &i) in idx.iter().enumerate() {
            let column = src.column(i);
            let column = column.as_slice().expect("a contiguous column");
            for (r, &v) in column.iter().enumerate() {
                dst[r * bs + j] = v;
            }
        }
    } else {
        for (src_row, mut out_row) in src.rows().into_iter().zip(out.rows_mut()) {
            for (o, &i) in out_row.iter_mut().zip(idx) {
                *o = src_row[i];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array, Array3, ShapeBuilder};

    #[test]
    fn gathering_examples_is_the_same_for_every_layout() {
        let idx = [4usize, 0, 2, 2, 5];
        let c = Array::from_shape_fn((3, 2, 6), |(a, b, j)| (a * 100 + b * 10 + j) as f64);
        let f = {
            let mut f = Array3::<f64>::zeros((3, 2, 6).f());
            f.assign(&c);
            f
        };
        let reversed = c.slice(s![..;-1, .., ..]).to_owned();
        let expect = c.select(Axis(2), &idx);
        for (name, src) in [
            ("C order", c.view()),
            ("F order", f.view()),
            ("2-D column of a 3-D C array", c.slice(s![.., 0..1, ..])),
        ] {
            let mut out = Array3::<f64>::zeros((src.shape()[0], src.shape()[1], idx.len()));
            gather_examples(src.into_dyn(), &idx, out.view_mut().into_dyn());
            assert_eq!(out, src.select(Axis(2), &idx), "{name}");
        }
        let mut out = Array3::<f64>::zeros((3, 2, 5));
        let negative = reversed.slice(s![..;-1, .., ..]);
        gather_examples(negative.into_dyn(), &idx, out.view_mut().into_dyn());
        assert_eq!(out, expect);
        // 2-D: scikit-learn's rows seen as columns (X (m, n_x) C-ordered, transposed), C
        // order, and negative strides
        let rows = Array::from_shape_fn((6, 4), |(i, k)| (i * 10 + k) as f32);
        let c2 = rows.t().to_owned();
        for src in [rows.t(), c2.view(), c2.slice(s![..;-1, ..;-1])] {
            let mut out = ndarray::Array2::<f32>::zeros((4, 5));
            gather_examples(src.into_dyn(), &idx, out.view_mut().into_dyn());
            assert_eq!(out, src.select(Axis(1), &idx));
        }
    }
}
