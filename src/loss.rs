//! Losses: the cost J (mean over the m examples of a per-example loss L) and the gradient that
//! starts the backward pass, (8)/(15).
//!
//! Convention (the lecture's): column i of dA^[L] is ∂L(ŷ^(i), y^(i))/∂ŷ^(i), the per-example
//! derivative of (8). The 1/m that makes J a mean is applied once, in (12)–(13).
//!
//! | loss | L(ŷ, y) per example (sum over the n_y outputs) | dA^[L] (15) |
//! |---|---|---|
//! | `binary_crossentropy` | −Σ_k [y_k log ŷ_k + (1 − y_k) log(1 − ŷ_k)] | (ŷ − y) / (ŷ (1 − ŷ)) |
//! | `categorical_crossentropy` | −Σ_k y_k log ŷ_k | −y / ŷ |
//! | `mse` | (1/n_y) Σ_k (ŷ_k − y_k)² | 2 (ŷ − y) / n_y |
//!
//! With sigmoid + binary cross-entropy and softmax + categorical cross-entropy the product
//! (11)·(15) collapses to dZ^[L] = Ŷ − Y; [`Loss::output_delta`] computes that directly and
//! [`Loss::cost_from_logits`] computes J from Z^[L] without any log(0) or exp overflow.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Zip};

use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::scalar::Float;

/// The cost function J. Names are Keras'.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Loss {
    BinaryCrossentropy,
    CategoricalCrossentropy,
    Mse,
}

impl Loss {
    /// Every loss, in the order the documentation lists them.
    pub const ALL: [Loss; 3] = [
        Loss::BinaryCrossentropy,
        Loss::CategoricalCrossentropy,
        Loss::Mse,
    ];

    /// Parses "binary_crossentropy", "categorical_crossentropy" or "mse".
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|l| l.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|l| l.name()).collect();
                CoreError::Value(format!("unknown loss {name:?}: expected one of {names:?}"))
            })
    }

    /// The Keras-style name.
    pub fn name(self) -> &'static str {
        match self {
            Loss::BinaryCrossentropy => "binary_crossentropy",
            Loss::CategoricalCrossentropy => "categorical_crossentropy",
            Loss::Mse => "mse",
        }
    }

    /// Whether the network's output must be a probability (the cross-entropies).
    pub fn is_classification(self) -> bool {
        self != Loss::Mse
    }

    /// Cross-entropies take log ŷ, so the output layer must produce probabilities.
    pub fn check_output_activation(self, act: Option<Activation>) -> Result<()> {
        if self.is_classification()
            && !matches!(act, Some(Activation::Sigmoid | Activation::Softmax))
        {
            return Err(CoreError::Value(format!(
                "loss {:?} needs outputs in (0, 1): the last layer's activation must be \
                 \"sigmoid\" or \"softmax\", got {:?}",
                self.name(),
                act.map_or("none (a layer without activation)", |a| a.name())
            )));
        }
        Ok(())
    }

    /// Whether (11)·(15) collapses to dZ^[L] = Ŷ − Y for this output activation.
    pub fn pairs_with(self, act: Activation) -> bool {
        matches!(
            (self, act),
            (Loss::BinaryCrossentropy, Activation::Sigmoid)
                | (Loss::CategoricalCrossentropy, Activation::Softmax)
        )
    }

    /// J = (1/m) Σ_i L(ŷ^(i), y^(i)), accumulated in f64. Probabilities are clipped to
    /// [ε, 1 − ε] before the logarithm (ε = 1e-7 in float32, 1e-12 in float64).
    pub fn cost<F: Float>(self, yhat: ArrayView2<F>, y: ArrayView2<F>) -> f64 {
        self.weighted_cost(yhat, y, None)
    }

    /// J = Σ_i w_i L(ŷ^(i), y^(i)) / Σ_i w_i, the sample-weighted cost (w_i = 1 without
    /// weights: the mean of [`Loss::cost`]). A weight of 2 counts the example twice; a weight
    /// of 0 removes it (its loss, even an infinite one, is not evaluated into J). 0 when
    /// every weight is 0.
    pub fn weighted_cost<F: Float>(
        self,
        yhat: ArrayView2<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
    ) -> f64 {
        let n_y = yhat.nrows();
        weighted_mean(yhat, y, w, |_, p, t| self.output_loss(p, t, n_y))
    }

    /// L of one example from its outputs ŷ (clipped as in [`Loss::cost`]) and targets y, in
    /// f64; `n_y` the number of outputs (mse's mean).
    fn output_loss<F: Float>(self, p: ArrayView1<F>, t: ArrayView1<F>, n_y: usize) -> f64 {
        let clip = |p: F| p.max(F::LOG_EPS).min(F::one() - F::LOG_EPS);
        let mut total = 0.0f64;
        match self {
            Loss::BinaryCrossentropy => Zip::from(p).and(t).for_each(|&p, &y| {
                let p = clip(p);
                total -= f64_of(y * p.ln() + (F::one() - y) * (F::one() - p).ln());
            }),
            Loss::CategoricalCrossentropy => Zip::from(p).and(t).for_each(|&p, &y| {
                total -= f64_of(y * clip(p).ln());
            }),
            Loss::Mse => {
                Zip::from(p).and(t).for_each(|&p, &y| {
                    let d = f64_of(p - y);
                    total += d * d;
                });
                total /= n_y.max(1) as f64;
            }
        }
        total
    }

    /// J computed from the output layer's states Z^[L] for the paired output activations
    /// (sigmoid with binary, softmax with categorical cross-entropy), without clipping:
    /// binary: L = Σ_k max(z, 0) − z y + log(1 + e^−|z|);
    /// categorical: L = Σ_k y_k (logsumexp(z) − z_k).
    pub fn cost_from_logits<F: Float>(self, z: ArrayView2<F>, y: ArrayView2<F>) -> Result<f64> {
        self.weighted_cost_from_logits(z, y, None)
    }

    /// [`Loss::cost_from_logits`] with sample weights, as in [`Loss::weighted_cost`].
    pub fn weighted_cost_from_logits<F: Float>(
        self,
        z: ArrayView2<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
    ) -> Result<f64> {
        if self == Loss::Mse {
            return Err(CoreError::Value(
                "mse has no logits form: use Loss::cost on the outputs".into(),
            ));
        }
        Ok(weighted_mean(z, y, w, |_, zc, yc| self.logits_loss(zc, yc)))
    }

    /// L of one example from its logits z (see [`Loss::cost_from_logits`]); a cross-entropy.
    fn logits_loss<F: Float>(self, zc: ArrayView1<F>, yc: ArrayView1<F>) -> f64 {
        if self == Loss::BinaryCrossentropy {
            let mut total = 0.0f64;
            Zip::from(zc).and(yc).for_each(|&z, &y| {
                let (z, y) = (f64_of(z), f64_of(y));
                total += z.max(0.0) - z * y + (-z.abs()).exp().ln_1p();
            });
            return total;
        }
        // logsumexp(z)·Σ_k y_k − Σ_k y_k z_k; no allocation
        let max = zc.fold(f64::NEG_INFINITY, |m, &v| m.max(f64_of(v)));
        let (mut sum, mut ysum, mut yz) = (0.0f64, 0.0f64, 0.0f64);
        Zip::from(zc).and(yc).for_each(|&z, &y| {
            let (z, y) = (f64_of(z), f64_of(y));
            sum += (z - max).exp();
            ysum += y;
            yz += y * z;
        });
        ysum * (max + sum.ln()) - yz
    }

    /// The categorical cross-entropy J = Σ_i w_i L_i / Σ_i w_i of softmax outputs `a` =
    /// softmax(`z`), from both: L = Σ_k y_k (logsumexp(z) − z_k) with logsumexp(z) = z_j −
    /// log a_j at the column's largest output j. a_j ≥ 1/n_y, so its logarithm is accurate
    /// and never log(0): the same stable J as [`Loss::cost_from_logits`] with one logarithm per
    /// column instead of n_y exponentials (J is computed at every training step).
    pub fn weighted_softmax_cost<F: Float>(
        z: ArrayView2<F>,
        a: ArrayView2<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
    ) -> f64 {
        weighted_mean(z, y, w, |i, zc, yc| softmax_loss(zc, a.column(i), yc))
    }

    /// Whether one example is classified right (classification losses): for categorical
    /// cross-entropy over several outputs 1 or 0 (the largest output is the target's largest),
    /// else the number of outputs on the right side of 0.5 (see
    /// [`Loss::right_per_example`]).
    pub(crate) fn example_right<F: Float>(self, p: ArrayView1<F>, t: ArrayView1<F>) -> f64 {
        if self == Loss::CategoricalCrossentropy && p.len() > 1 {
            return (argmax(p) == argmax(t)) as u8 as f64;
        }
        let half = F::c(0.5);
        let hits = Zip::from(&p)
            .and(&t)
            .fold(0usize, |n, &p, &t| n + ((p > half) == (t > half)) as usize);
        hits as f64
    }

    /// The examples right from Σ w_i·[`Loss::example_right`] over a batch with `n_y` outputs:
    /// per-output hits are averaged over the outputs.
    pub(crate) fn right_per_example(self, right: f64, n_y: usize) -> f64 {
        if self == Loss::CategoricalCrossentropy && n_y > 1 {
            right
        } else {
            right / n_y as f64
        }
    }

    /// Which per-example formula J takes for this loss after an output layer with activation
    /// `g` (None: a layer without one): from the softmax outputs and logits, from the logits,
    /// or from the outputs. [`Network`](crate::network::Network)'s cost and the data-parallel
    /// step both go through it, so that they sum the same numbers.
    pub(crate) fn cost_form(self, g: Option<Activation>) -> CostForm {
        match g {
            Some(g) if self.pairs_with(g) && self == Loss::CategoricalCrossentropy => {
                CostForm::Softmax
            }
            Some(g) if self.pairs_with(g) => CostForm::Logits,
            _ => CostForm::Outputs,
        }
    }

    /// L of one example: its logits `z` (Z^[L]'s column; unused for [`CostForm::Outputs`]),
    /// outputs `a` and targets `y`, by `form` (see [`Loss::cost_form`]).
    pub(crate) fn example_loss<F: Float>(
        self,
        form: CostForm,
        z: ArrayView1<F>,
        a: ArrayView1<F>,
        y: ArrayView1<F>,
    ) -> f64 {
        match form {
            CostForm::Softmax => softmax_loss(z, a, y),
            CostForm::Logits => self.logits_loss(z, y),
            CostForm::Outputs => self.output_loss(a, y, a.len()),
        }
    }

    /// (15) dA^[L] = ∂L/∂Ŷ column by column (see the module docs for the convention),
    /// written into `da`. Probabilities are clipped as in [`Loss::cost`].
    pub fn gradient<F: Float>(
        self,
        yhat: ArrayView2<F>,
        y: ArrayView2<F>,
        mut da: ArrayViewMut2<F>,
    ) {
        let clip = |p: F| p.max(F::LOG_EPS).min(F::one() - F::LOG_EPS);
        match self {
            Loss::BinaryCrossentropy => {
                Zip::from(&mut da).and(&yhat).and(&y).for_each(|d, &p, &y| {
                    let p = clip(p);
                    *d = (p - y) / (p * (F::one() - p));
                })
            }
            Loss::CategoricalCrossentropy => Zip::from(&mut da)
                .and(&yhat)
                .and(&y)
                .for_each(|d, &p, &y| *d = -y / clip(p)),
            Loss::Mse => {
                let k = F::c(2.0 / yhat.nrows().max(1) as f64);
                Zip::from(&mut da)
                    .and(&yhat)
                    .and(&y)
                    .for_each(|d, &p, &y| *d = k * (p - y));
            }
        }
    }

    /// The collapsed (11)·(15) for the paired output activations, written into `dz`.
    ///
    /// Sigmoid with binary cross-entropy: dZ^[L] = Ŷ − Y for any targets in [0, 1].
    /// Softmax with categorical cross-entropy: per column, dz = ŷ·Σ_k y_k − y, which is the
    /// familiar Ŷ − Y when the column of Y sums to 1 (one-hot or label-smoothed targets) and
    /// stays the exact gradient when it does not (soft or partial targets).
    pub fn output_delta<F: Float>(
        self,
        yhat: ArrayView2<F>,
        y: ArrayView2<F>,
        mut dz: ArrayViewMut2<F>,
    ) {
        if self == Loss::CategoricalCrossentropy {
            Zip::from(dz.columns_mut())
                .and(yhat.columns())
                .and(y.columns())
                .for_each(|mut d, p, t| {
                    let total = t.sum();
                    Zip::from(&mut d)
                        .and(&p)
                        .and(&t)
                        .for_each(|d, &p, &t| *d = p * total - t);
                });
        } else {
            Zip::from(&mut dz)
                .and(&yhat)
                .and(&y)
                .for_each(|d, &p, &y| *d = p - y);
        }
    }

    /// Checks that targets lie in the loss's domain: probabilities in [0, 1] for the
    /// cross-entropies (a target outside it gives a negative or meaningless J). Any finite
    /// target is valid for mse.
    pub fn check_targets<F: Float>(self, y: ArrayView2<F>) -> Result<()> {
        if !self.is_classification() {
            return Ok(());
        }
        let outside = |v: F| !(v >= F::zero() && v <= F::one());
        if let Some((index, &v)) = y.indexed_iter().find(|(_, &v)| outside(v)) {
            return Err(CoreError::Value(format!(
                "Y: {} needs targets in [0, 1] (probabilities or one-hot labels), got {} at \
                 index {index:?}",
                self.name(),
                v.to_f64().unwrap_or(f64::NAN)
            )));
        }
        Ok(())
    }
}

fn f64_of<F: Float>(v: F) -> f64 {
    v.to_f64().unwrap_or(f64::NAN)
}

/// w_i, or 1 without weights.
pub(crate) fn weight_of<F: Float>(w: Option<ArrayView1<F>>, i: usize) -> f64 {
    w.map_or(1.0, |w| f64_of(w[i]))
}

/// Σ w_i over `m` columns (m without weights).
pub(crate) fn total_weight<F: Float>(w: Option<ArrayView1<F>>, m: usize) -> f64 {
    w.map_or(m as f64, |w| w.iter().map(|&v| f64_of(v)).sum())
}

/// Which per-example loss J averages (see [`Loss::cost_form`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CostForm {
    /// Categorical cross-entropy from a softmax layer's logits and outputs.
    Softmax,
    /// A cross-entropy from the logits of its paired activation.
    Logits,
    /// Any loss from the outputs.
    Outputs,
}

/// The index of the first largest element.
fn argmax<F: Float>(col: ArrayView1<F>) -> usize {
    col.iter()
        .enumerate()
        .fold((0, F::neg_infinity()), |(bi, bv), (i, &v)| {
            if v > bv {
                (i, v)
            } else {
                (bi, bv)
            }
        })
        .0
}

/// L of one example of a softmax output (see [`Loss::weighted_softmax_cost`]).
fn softmax_loss<F: Float>(zc: ArrayView1<F>, ac: ArrayView1<F>, yc: ArrayView1<F>) -> f64 {
    let (j, aj) = ac
        .iter()
        .enumerate()
        .fold((0, F::neg_infinity()), |(bj, bv), (k, &v)| {
            if v > bv {
                (k, v)
            } else {
                (bj, bv)
            }
        });
    let lse = f64_of(zc[j]) - f64_of(aj).ln();
    let (mut ysum, mut yz) = (0.0f64, 0.0f64);
    Zip::from(zc).and(yc).for_each(|&z, &y| {
        let (z, y) = (f64_of(z), f64_of(y));
        ysum += y;
        yz += y * z;
    });
    ysum * lse - yz
}

/// Σ_i w_i L_i / Σ_i w_i accumulated example by example, in order: the one sum behind every
/// cost (so that a cost summed from precomputed L_i gets the same bits).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WeightedMean {
    total: f64,
    weight: f64,
}

impl WeightedMean {
    /// Adds example i: `loss` is evaluated only for a nonzero weight, so a removed example
    /// adds nothing even where its loss is infinite.
    #[inline]
    pub(crate) fn add(&mut self, wi: f64, loss: impl FnOnce() -> f64) {
        if wi != 0.0 {
            self.total += wi * loss();
            self.weight += wi;
        }
    }

    /// The mean; 0 when the weights sum to 0.
    pub(crate) fn value(self) -> f64 {
        if self.weight == 0.0 {
            0.0
        } else {
            self.total / self.weight
        }
    }
}

/// Σ_i w_i loss(a_i, y_i) / Σ_i w_i over the columns i (w_i = 1 without weights), by
/// [`WeightedMean`].
fn weighted_mean<F: Float>(
    a: ArrayView2<F>,
    y: ArrayView2<F>,
    w: Option<ArrayView1<F>>,
    mut loss: impl FnMut(usize, ArrayView1<F>, ArrayView1<F>) -> f64,
) -> f64 {
    let mut mean = WeightedMean::default();
    for (i, (a, y)) in a.columns().into_iter().zip(y.columns()).enumerate() {
        mean.add(weight_of(w, i), || loss(i, a, y));
    }
    mean.value()
}

/// Scales column i of the output delta dZ^[L] (or dA^[L]) by w_i·m/Σw, so that the 1/m of
/// (12)–(13) turns the mean over the batch into the weighted mean Σ w_i (·) / Σ w: the
/// gradient of [`Loss::weighted_cost`]. Unit weights leave delta unchanged (the factor is 1
/// exactly).
pub fn weight_columns<F: Float>(delta: ArrayViewMut2<F>, w: ArrayView1<F>) {
    let m = delta.ncols();
    weight_some_columns(delta, w, total_weight(Some(w), w.len()), m);
}

/// [`weight_columns`] for a block of the batch's columns (`delta` and `w` hold the block),
/// given the whole batch's Σw (`total`) and size `m`: each column gets the factor it gets in
/// the whole.
pub(crate) fn weight_some_columns<F: Float>(
    mut delta: ArrayViewMut2<F>,
    w: ArrayView1<F>,
    total: f64,
    m: usize,
) {
    if total == 0.0 {
        delta.fill(F::zero());
        return;
    }
    let m = m as f64;
    for (mut col, &wi) in delta.columns_mut().into_iter().zip(w) {
        if wi == F::zero() {
            col.fill(F::zero()); // removed, even where its gradient is not finite
        } else {
            let k = F::c(f64_of(wi) * m / total);
            col.mapv_inplace(|d| d * k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::{array, Array2};

    #[test]
    fn hand_worked_costs() {
        // two examples, one output
        let yhat = array![[0.9, 0.2]];
        let y = array![[1.0, 0.0]];
        let bce = -(0.9f64.ln() + 0.8f64.ln()) / 2.0;
        assert_abs_diff_eq!(
            Loss::BinaryCrossentropy.cost(yhat.view(), y.view()),
            bce,
            epsilon = 1e-15
        );
        assert_abs_diff_eq!(
            Loss::Mse.cost(yhat.view(), y.view()),
            (0.01 + 0.04) / 2.0,
            epsilon = 1e-15
        );
        // three classes, two examples
        let p = array![[0.7, 0.1], [0.2, 0.3], [0.1, 0.6]];
        let y = array![[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]];
        assert_abs_diff_eq!(
            Loss::CategoricalCrossentropy.cost(p.view(), y.view()),
            -(0.7f64.ln() + 0.6f64.ln()) / 2.0,
            epsilon = 1e-15
        );
    }

    #[test]
    fn cross_entropy_never_takes_log_of_zero() {
        let yhat = array![[0.0f32, 1.0]];
        let y = array![[1.0f32, 0.0]];
        let j = Loss::BinaryCrossentropy.cost(yhat.view(), y.view());
        assert!(j.is_finite() && j > 10.0);
        let mut da = Array2::zeros((1, 2));
        Loss::BinaryCrossentropy.gradient(yhat.view(), y.view(), da.view_mut());
        assert!(da.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn logits_cost_equals_cost_of_activated_outputs() {
        let z = array![[2.0, -1.0, 0.3], [0.5, 1.5, -0.2]];
        let y_bin = array![[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]];
        let mut s = Array2::zeros(z.raw_dim());
        Activation::Sigmoid.forward(z.view(), s.view_mut());
        assert_abs_diff_eq!(
            Loss::BinaryCrossentropy
                .cost_from_logits(z.view(), y_bin.view())
                .unwrap(),
            Loss::BinaryCrossentropy.cost(s.view(), y_bin.view()),
            epsilon = 1e-12
        );
        let y_cat = array![[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]];
        Activation::Softmax.forward(z.view(), s.view_mut());
        assert_abs_diff_eq!(
            Loss::CategoricalCrossentropy
                .cost_from_logits(z.view(), y_cat.view())
                .unwrap(),
            Loss::CategoricalCrossentropy.cost(s.view(), y_cat.view()),
            epsilon = 1e-12
        );
        // huge logits: finite, and equal to the exact limit
        let z = array![[1000.0], [-1000.0]];
        let y = array![[0.0], [1.0]];
        let j = Loss::CategoricalCrossentropy
            .cost_from_logits(z.view(), y.view())
            .unwrap();
        assert_abs_diff_eq!(j, 2000.0, epsilon = 1e-9);
    }

    #[test]
    fn softmax_cost_equals_the_logits_cost() {
        let z = array![
            [2.0, -1.0, 0.3, 1000.0, 3.0],
            [0.5, 1.5, -0.2, -1000.0, 3.0],
            [-4.0, 0.0, 9.0, 0.0, 3.0]
        ];
        // one-hot, soft, partial, and a label on an output that underflows to 0
        let y = array![
            [1.0, 0.2, 0.0, 0.0, 0.5],
            [0.0, 0.3, 0.5, 1.0, 0.0],
            [0.0, 0.5, 0.0, 0.0, 0.0]
        ];
        let mut a = Array2::zeros(z.raw_dim());
        Activation::Softmax.forward(z.view(), a.view_mut());
        let w = array![1.0, 0.0, 2.5, 1.0, 0.5];
        for weights in [None, Some(w.view())] {
            let exact = Loss::CategoricalCrossentropy
                .weighted_cost_from_logits(z.view(), y.view(), weights)
                .unwrap();
            let fast = Loss::weighted_softmax_cost(z.view(), a.view(), y.view(), weights);
            assert_abs_diff_eq!(fast, exact, epsilon = 1e-12);
        }
        // float32 outputs: within float32's precision of the exact f64 value
        let (z32, a32, y32) = (
            z.mapv(|v| v as f32),
            a.mapv(|v| v as f32),
            y.mapv(|v| v as f32),
        );
        let exact = Loss::CategoricalCrossentropy
            .cost_from_logits(z32.view(), y32.view())
            .unwrap();
        let fast = Loss::weighted_softmax_cost(z32.view(), a32.view(), y32.view(), None);
        assert_abs_diff_eq!(fast, exact, epsilon = 1e-5 * exact.abs().max(1.0));
    }

    #[test]
    fn paired_output_delta_equals_chain_rule() {
        // (11)·(15) by the chain rule equals Ŷ − Y for both pairs.
        let z = array![[0.2, -1.0], [1.3, 0.4], [-0.5, 2.2]];
        let y = array![[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]];
        for (loss, act) in [
            (Loss::BinaryCrossentropy, Activation::Sigmoid),
            (Loss::CategoricalCrossentropy, Activation::Softmax),
        ] {
            assert!(loss.pairs_with(act));
            let mut a = Array2::zeros(z.raw_dim());
            act.forward(z.view(), a.view_mut());
            let mut da = Array2::zeros(z.raw_dim());
            loss.gradient(a.view(), y.view(), da.view_mut());
            let mut chain = Array2::zeros(z.raw_dim());
            act.backward(da.view(), z.view(), a.view(), chain.view_mut());
            let mut direct = Array2::zeros(z.raw_dim());
            loss.output_delta(a.view(), y.view(), direct.view_mut());
            assert_abs_diff_eq!(chain, direct, epsilon = 1e-12);
        }
    }

    #[test]
    fn soft_targets_keep_the_exact_gradient() {
        // columns of Y that do not sum to 1: the shortcut Ŷ − Y would be wrong, Ŷ·Σy − Y is
        // what the chain rule gives
        let z = array![[0.2, -1.0], [1.3, 0.4], [-0.5, 2.2]];
        let y = array![[0.25, 0.0], [0.25, 0.3], [0.0, 0.1]];
        let act = Activation::Softmax;
        let loss = Loss::CategoricalCrossentropy;
        let mut a = Array2::zeros(z.raw_dim());
        act.forward(z.view(), a.view_mut());
        let mut da = Array2::zeros(z.raw_dim());
        loss.gradient(a.view(), y.view(), da.view_mut());
        let mut chain = Array2::zeros(z.raw_dim());
        act.backward(da.view(), z.view(), a.view(), chain.view_mut());
        let mut direct = Array2::zeros(z.raw_dim());
        loss.output_delta(a.view(), y.view(), direct.view_mut());
        assert_abs_diff_eq!(chain, direct, epsilon = 1e-12);
    }

    #[test]
    fn cross_entropy_targets_must_be_probabilities() {
        let loss = Loss::BinaryCrossentropy;
        assert!(loss.check_targets(array![[0.0, 1.0, 0.5]].view()).is_ok());
        assert!(loss.check_targets(array![[0.0, 1.5]].view()).is_err());
        assert!(loss.check_targets(array![[-0.1, 1.0]].view()).is_err());
        assert!(loss.check_targets(array![[f64::NAN]].view()).is_err());
        assert!(Loss::Mse.check_targets(array![[-3.0, 7.0]].view()).is_ok());
    }

    #[test]
    fn cross_entropy_requires_probability_outputs() {
        assert!(Loss::BinaryCrossentropy
            .check_output_activation(Some(Activation::Relu))
            .is_err());
        assert!(Loss::CategoricalCrossentropy
            .check_output_activation(Some(Activation::Softmax))
            .is_ok());
        assert!(Loss::Mse
            .check_output_activation(Some(Activation::Tanh))
            .is_ok());
        assert!(Loss::from_name("hinge").is_err());
    }
}
