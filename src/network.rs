//! A network of L layers (figure 4): building it from specs, forward (9)–(10), the cost J,
//! backward (11)–(15) and the gradients, with no Python between the layers. The training
//! process of section 7 (steps, epochs, `fit`) is in [`crate::training`].

use ndarray::{s, Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewD, Axis, Ix2, Slice};

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::error::{CoreError, Result};
use crate::layer::{Layer, Upstream, Workspace};
use crate::layers::{LayerPlan, LayerSpec};
use crate::limits::{check_shape, try_zeros, MAX_LAYERS, MAX_PARAMS};
use crate::loss::{total_weight, weight_columns, weight_of, CostForm, Loss, WeightedMean};
use crate::matmul::in_pool;
use crate::optimizers::Optimizer;
use crate::rng::RngState;
use crate::scalar::Float;

pub use crate::training::{
    EpochEnd, EpochReport, FitOptions, FitReport, Patience, StopReason, INTERRUPT_POLL,
};

/// Columns per chunk in `predict` and `cost`, so inference workspaces stay bounded whatever m.
const INFERENCE_CHUNK: usize = 4096;

/// The state of a network that training changes, saved by [`Network::checkpoint`].
#[derive(Clone, Debug)]
pub struct Checkpoint<F: Float> {
    params: Vec<Vec<ArrayD<F>>>,
    pub(crate) optimizer: Optimizer<F>,
    rng_states: Vec<RngState>,
}

/// A sequence of layers with a loss: the network of figure 4.
pub struct Network<F: Float> {
    pub(crate) input_shape: Vec<usize>,
    pub(crate) layers: Vec<Box<dyn Layer<F>>>,
    pub(crate) loss: Loss,
    /// (15) workspace: dA^[L], or dZ^[L] = Ŷ − Y when the output layer pairs with the loss.
    pub(crate) delta: Workspace<F>,
    /// Gathered mini-batches when examples are visited in a shuffled order.
    pub(crate) batch_x: Workspace<F>,
    pub(crate) batch_y: Workspace<F>,
    /// The gathered mini-batch's sample weights.
    pub(crate) batch_w: Vec<F>,
    /// The gathered mini-batch's shape (kept, so that a step allocates nothing).
    pub(crate) batch_shape: Vec<usize>,
    /// Parameters and optimizer at the start of the current epoch, restored if training
    /// diverges.
    pub(crate) backup: Vec<Vec<ArrayD<F>>>,
    pub(crate) optimizer_backup: Option<Optimizer<F>>,
    /// The shuffling stream (seeded with the network's seed, a stream apart from the
    /// initialization's), so the same seed visits the examples in the same orders.
    pub(crate) shuffle_rng: ChaCha8Rng,
    /// The visiting order of the current epoch, reused.
    pub(crate) order: Vec<usize>,
    /// How (16)–(17) update the parameters; plain gradient descent unless set.
    pub(crate) optimizer: Optimizer<F>,
}

impl<F: Float> Network<F> {
    /// Builds the layers of `specs` over inputs of shape `input_shape` (per example; `[n_x]`
    /// for a dense network) and initializes them from `seed`.
    ///
    /// Everything is validated first ([`Network::plan`]), then allocated fallibly: a network
    /// too large for the limits of [`crate::limits`] or for the machine's memory is an error.
    pub fn new(input_shape: &[usize], specs: &[LayerSpec], loss: Loss, seed: u64) -> Result<Self> {
        Self::plan(input_shape, specs, loss)?;
        let mut layers: Vec<Box<dyn Layer<F>>> = Vec::with_capacity(specs.len());
        let mut shape = input_shape.to_vec();
        for (l, spec) in specs.iter().enumerate() {
            let layer = spec.build::<F>(&shape).map_err(|e| in_layer(l, e))?;
            shape = layer.output_shape().to_vec();
            layers.push(layer);
        }
        let mut net = Network {
            input_shape: input_shape.to_vec(),
            layers,
            loss,
            delta: Workspace::default(),
            batch_x: Workspace::default(),
            batch_y: Workspace::default(),
            batch_w: Vec::new(),
            batch_shape: Vec::new(),
            backup: Vec::new(),
            optimizer_backup: None,
            shuffle_rng: ChaCha8Rng::seed_from_u64(seed),
            order: Vec::new(),
            optimizer: Optimizer::sgd(0.1)?,
        };
        net.initialize(seed);
        Ok(net)
    }

    /// Checks a network's declaration without allocating anything: the input shape and every
    /// layer against the limits, the layers' shapes against each other, the loss against the
    /// last layer. Returns each layer's plan (output and parameter shapes).
    pub fn plan(input_shape: &[usize], specs: &[LayerSpec], loss: Loss) -> Result<Vec<LayerPlan>> {
        if specs.is_empty() {
            return Err(CoreError::Value(
                "a network needs at least one layer, got 0".into(),
            ));
        }
        if specs.len() > MAX_LAYERS {
            return Err(CoreError::Value(format!(
                "layers: expected at most {MAX_LAYERS} layers, got {}",
                specs.len()
            )));
        }
        check_shape("input shape", input_shape)?;
        let mut plans = Vec::with_capacity(specs.len());
        let mut shape = input_shape.to_vec();
        let mut total = 0usize;
        for (l, spec) in specs.iter().enumerate() {
            let plan = spec.plan(&shape).map_err(|e| in_layer(l, e))?;
            total = total
                .checked_add(plan.n_params())
                .filter(|&t| t <= MAX_PARAMS)
                .ok_or_else(|| {
                    CoreError::Value(format!(
                        "the network has more than {MAX_PARAMS} parameters (deepnet's limit)"
                    ))
                })?;
            shape = plan.output_shape.clone();
            plans.push(plan);
        }
        let last = specs.last().expect("at least one layer");
        loss.check_output_activation(last.output_activation())?;
        if shape.len() != 1 {
            return Err(CoreError::Shape(format!(
                "the last layer must output a vector per example (shape [n_y]), got {shape:?}"
            )));
        }
        Ok(plans)
    }

    /// Draws every layer's parameters from one ChaCha8 stream seeded with `seed`: the same
    /// seed gives bit-identical parameters on every platform.
    pub fn initialize(&mut self, seed: u64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        for layer in &mut self.layers {
            layer.initialize(&mut rng);
        }
        self.shuffle_rng = ChaCha8Rng::seed_from_u64(seed);
        self.shuffle_rng.set_stream(1);
    }

    /// Gives layer `l` (0-based), a layer written in Python, the object that computes it.
    pub fn attach_host(
        &mut self,
        l: usize,
        host: std::sync::Arc<dyn crate::layers::Host<F>>,
    ) -> Result<()> {
        let n = self.layers.len();
        self.layers
            .get_mut(l)
            .ok_or_else(|| {
                CoreError::Value(format!("layer index {l} out of range for {n} layers"))
            })?
            .attach_host(host)
            .map_err(|e| in_layer(l, e))
    }

    pub fn layers(&self) -> &[Box<dyn Layer<F>>] {
        &self.layers
    }

    pub fn layers_mut(&mut self) -> &mut [Box<dyn Layer<F>>] {
        &mut self.layers
    }

    pub fn loss(&self) -> Loss {
        self.loss
    }

    /// The optimizer the training steps use.
    pub fn optimizer(&self) -> &Optimizer<F> {
        &self.optimizer
    }

    pub fn optimizer_mut(&mut self) -> &mut Optimizer<F> {
        &mut self.optimizer
    }

    /// Replaces the optimizer (and its state).
    pub fn set_optimizer(&mut self, optimizer: Optimizer<F>) {
        self.optimizer = optimizer;
    }

    /// The shapes of every parameter, in the order the optimizer visits them.
    pub fn param_shapes(&self) -> Vec<Vec<usize>> {
        self.layers
            .iter()
            .flat_map(|l| l.params().into_iter().map(|p| p.shape().to_vec()))
            .collect()
    }

    /// Restores the optimizer's state and counters (see [`Optimizer::check_state`]): every
    /// slot of every parameter is checked against that parameter's shape first, so on error
    /// nothing changes.
    pub fn set_optimizer_state(
        &mut self,
        state: Vec<Vec<ArrayD<F>>>,
        iterations: u64,
        epochs: u64,
    ) -> Result<()> {
        let shapes = self.param_shapes();
        self.optimizer.set_state(&shapes, state, iterations, epochs)
    }

    /// A copy of everything training changes (parameters, optimizer, random streams), for
    /// [`Network::rollback`]: what makes a failed call leave the network as it was.
    pub fn checkpoint(&self) -> Checkpoint<F> {
        Checkpoint {
            params: self
                .layers
                .iter()
                .map(|l| l.params().iter().map(|p| p.to_owned()).collect())
                .collect(),
            optimizer: self.optimizer.clone(),
            rng_states: self.rng_states(),
        }
    }

    /// Puts back what [`Network::checkpoint`] copied.
    pub fn rollback(&mut self, saved: &Checkpoint<F>) {
        for (params, layer) in saved.params.iter().zip(self.layers.iter_mut()) {
            for (i, p) in params.iter().enumerate() {
                layer
                    .set_param(i, p.view())
                    .expect("a checkpoint has the parameters' shapes");
            }
        }
        self.optimizer.clone_from(&saved.optimizer);
        self.set_rng_states(&saved.rng_states)
            .expect("a checkpoint has one state per stream");
    }

    /// The L2 penalty Σ_l (λ_l/2)·‖W^[l]‖² at the current parameters.
    pub fn penalty(&self) -> f64 {
        self.layers.iter().map(|l| l.penalty()).sum()
    }

    /// The positions of the random streams: the shuffling stream first, then each layer's
    /// that has one (dropout), in layer order.
    pub fn rng_states(&self) -> Vec<RngState> {
        std::iter::once(RngState::of(&self.shuffle_rng))
            .chain(self.layers.iter().filter_map(|l| l.rng_state()))
            .collect()
    }

    /// Restores positions saved by [`Network::rng_states`].
    pub fn set_rng_states(&mut self, states: &[RngState]) -> Result<()> {
        let expected = 1 + self
            .layers
            .iter()
            .filter(|l| l.rng_state().is_some())
            .count();
        if states.len() != expected {
            return Err(CoreError::Value(format!(
                "random states: expected {expected}, got {}",
                states.len()
            )));
        }
        self.shuffle_rng = states[0].restore();
        let mut rest = states[1..].iter();
        for layer in &mut self.layers {
            if layer.rng_state().is_some() {
                layer.set_rng_state(rest.next().expect("counted above"));
            }
        }
        Ok(())
    }

    /// Shape of one example's input, `[n_x]` for a dense network.
    pub fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    /// n_y.
    pub fn n_y(&self) -> usize {
        self.layers
            .last()
            .expect("at least one layer")
            .output_shape()[0]
    }

    /// Total number of trainable scalars.
    pub fn n_params(&self) -> usize {
        self.layers.iter().map(|l| l.n_params()).sum()
    }

    /// Checks X against the input shape; returns m.
    fn check_x(&self, x: &ArrayViewD<F>) -> Result<usize> {
        let shape = x.shape();
        let (features, m) = shape.split_at(shape.len().saturating_sub(1));
        if features != self.input_shape.as_slice() {
            let mut expected: Vec<String> =
                self.input_shape.iter().map(|n| n.to_string()).collect();
            expected.push("m".into());
            return Err(CoreError::Shape(format!(
                "X: expected shape ({}) with one column per example, got {:?}",
                expected.join(", "),
                shape
            )));
        }
        match m {
            [m] if *m > 0 => Ok(*m),
            _ => Err(CoreError::Shape(format!(
                "X: expected at least one example (column), got shape {shape:?}"
            ))),
        }
    }

    /// Checks X and Y together; returns m.
    pub(crate) fn check_xy(&self, x: &ArrayViewD<F>, y: &ArrayView2<F>) -> Result<usize> {
        let m = self.check_x(x)?;
        let n_y = self.n_y();
        if y.shape() != [n_y, m] {
            return Err(CoreError::Shape(format!(
                "Y: expected shape ({n_y}, {m}) (n_y outputs, one column per example of X), \
                 got {:?}",
                y.shape()
            )));
        }
        self.loss.check_targets(y.view())?;
        Ok(m)
    }

    /// Forward pass (9)–(10) through every layer; Ŷ = A^[L] is then [`Network::output`].
    pub fn forward(&mut self, x: ArrayViewD<F>) -> Result<()> {
        self.check_x(&x)?;
        self.forward_unchecked(x, false)
    }

    pub(crate) fn forward_unchecked(&mut self, x: ArrayViewD<F>, training: bool) -> Result<()> {
        for l in 0..self.layers.len() {
            let (before, rest) = self.layers.split_at_mut(l);
            rest[0].forward(activation_of(before, x.view()), training)?;
        }
        Ok(())
    }

    /// Ŷ = A^[L] of the last forward pass, which ran on `x`, (n_y, m).
    pub fn output<'a>(&'a self, x: ArrayViewD<'a, F>) -> ArrayView2<'a, F> {
        activation_of(&self.layers, x)
            .into_dimensionality::<Ix2>()
            .expect("output is 2-D")
    }

    fn last(&self) -> &dyn Layer<F> {
        self.layers.last().expect("at least one layer").as_ref()
    }

    /// Ŷ for every column of X, computed in chunks so memory stays bounded.
    pub fn predict(&mut self, x: ArrayViewD<F>) -> Result<Array2<F>> {
        in_pool(|| self.predict_in_pool(x))
    }

    fn predict_in_pool(&mut self, x: ArrayViewD<F>) -> Result<Array2<F>> {
        let m = self.check_x(&x)?;
        let axis = Axis(x.ndim() - 1);
        let mut out = try_zeros("predictions", &[self.n_y(), m])?
            .into_dimensionality::<Ix2>()
            .expect("2-D");
        for start in (0..m).step_by(INFERENCE_CHUNK) {
            let end = (start + INFERENCE_CHUNK).min(m);
            let chunk = x.slice_axis(axis, Slice::from(start..end));
            self.forward_unchecked(chunk.view(), false)?;
            out.slice_mut(s![.., start..end])
                .assign(&self.output(chunk));
        }
        Ok(out)
    }

    /// The lecture's cache of a forward pass (9)–(10) over all of X, in inference mode: for
    /// every layer l, Z^[l] (for the layers that have one: dense and convolution) and A^[l],
    /// each with the example axis last. Computed in chunks; the arrays returned hold all m
    /// columns (their sizes are checked against the limits before anything is allocated).
    #[allow(clippy::type_complexity)]
    pub fn forward_cache(
        &mut self,
        x: ArrayViewD<F>,
    ) -> Result<Vec<(Option<ArrayD<F>>, ArrayD<F>)>> {
        let m = self.check_x(&x)?;
        let mut cache = Vec::with_capacity(self.layers.len());
        for (l, layer) in self.layers.iter().enumerate() {
            let mut shape = layer.output_shape().to_vec();
            shape.push(m);
            let a = try_zeros(&format!("A[{}]", l + 1), &shape)?;
            // a layer has Z^[l] exactly when its output is g(Z) (see Layer::z)
            let z = match layer.output_activation() {
                Some(_) => Some(try_zeros(&format!("Z[{}]", l + 1), &shape)?),
                None => None,
            };
            cache.push((z, a));
        }
        in_pool(|| {
            let axis = Axis(x.ndim() - 1);
            for start in (0..m).step_by(INFERENCE_CHUNK) {
                let end = (start + INFERENCE_CHUNK).min(m);
                let chunk = x.slice_axis(axis, Slice::from(start..end));
                self.forward_unchecked(chunk.view(), false)?;
                let mut a_prev = chunk.view();
                for (layer, (z, a)) in self.layers.iter().zip(cache.iter_mut()) {
                    let out = layer.output(a_prev);
                    let last = Axis(a.ndim() - 1);
                    a.slice_axis_mut(last, Slice::from(start..end)).assign(&out);
                    if let (Some(z), Some(zl)) = (z.as_mut(), layer.z()) {
                        z.slice_axis_mut(last, Slice::from(start..end)).assign(&zl);
                    }
                    a_prev = out;
                }
            }
            Ok(cache)
        })
    }

    /// Z^[L] when the output layer's activation pairs with the loss (softmax with
    /// categorical, sigmoid with binary cross-entropy), for the collapsed (11)·(15).
    fn paired_logits(&self) -> Option<ArrayView2<'_, F>> {
        let last = self.last();
        let act = last.output_activation()?;
        if !self.loss.pairs_with(act) {
            return None;
        }
        last.z()
            .map(|z| z.into_dimensionality::<Ix2>().expect("output is 2-D"))
    }

    /// J after a forward pass over `x`, whose targets are `y`. For the paired output
    /// activations J comes from Z^[L] (stable, no clipping).
    /// With weights, J = Σ w_i L_i / Σ w_i.
    /// How J is computed from this network's output layer (see [`Loss::cost_form`]), and the
    /// logits it reads (Z^[L] of the last forward pass) when it needs them.
    pub(crate) fn cost_form(&self) -> (CostForm, Option<ArrayView2<'_, F>>) {
        let last = self.last();
        match self.loss.cost_form(last.output_activation()) {
            CostForm::Outputs => (CostForm::Outputs, None),
            form => match last.z() {
                Some(z) => (
                    form,
                    Some(z.into_dimensionality::<Ix2>().expect("output is 2-D")),
                ),
                None => (CostForm::Outputs, None),
            },
        }
    }

    /// J of the last forward pass (which ran on `x`) against `y`: Σ w_i L_i / Σ w_i.
    pub(crate) fn batch_cost(
        &self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
    ) -> Result<f64> {
        let a = self.output(x);
        let (form, z) = self.cost_form();
        let z = z.unwrap_or(a);
        let mut mean = WeightedMean::default();
        for i in 0..y.ncols() {
            mean.add(weight_of(w, i), || {
                self.loss
                    .example_loss(form, z.column(i), a.column(i), y.column(i))
            });
        }
        Ok(mean.value())
    }

    /// The examples of the last forward pass classified right, each counted w_i times
    /// (classification losses only; see [`Loss::example_right`]).
    pub(crate) fn batch_correct(
        &self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
    ) -> Option<f64> {
        if !self.loss.is_classification() {
            return None;
        }
        let yhat = self.output(x);
        let mut right = 0.0;
        for i in 0..y.ncols() {
            right += weight_of(w, i) * self.loss.example_right(yhat.column(i), y.column(i));
        }
        Some(self.loss.right_per_example(right, yhat.nrows()))
    }

    pub fn cost(&mut self, x: ArrayViewD<F>, y: ArrayView2<F>) -> Result<f64> {
        self.weighted_cost(x, y, None)
    }

    /// The cost J = Σ w_i L_i / Σ w_i over all of X, Y with sample weights `w` (one per
    /// column; `None`: all 1), plus the L2 penalty.
    pub fn weighted_cost(
        &mut self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
    ) -> Result<f64> {
        let m = self.check_xy(&x, &y)?;
        check_weights(w, m)?;
        in_pool(|| {
            let axis = Axis(x.ndim() - 1);
            let (mut total, mut weight) = (0.0, 0.0);
            for start in (0..m).step_by(INFERENCE_CHUNK) {
                let end = (start + INFERENCE_CHUNK).min(m);
                let wc = w.map(|w| w.slice_move(s![start..end]));
                let chunk_weight = total_weight(wc, end - start);
                if chunk_weight == 0.0 {
                    continue;
                }
                let chunk = x.slice_axis(axis, Slice::from(start..end));
                self.forward_unchecked(chunk.view(), false)?;
                total += self.batch_cost(chunk, y.slice(s![.., start..end]), wc)? * chunk_weight;
                weight += chunk_weight;
            }
            Ok(total / weight + self.penalty())
        })
    }

    /// Backward pass (11)–(15) over the batch of the last forward pass, which must have been
    /// run on `x`. Fills every layer's gradients: those of J, or of the weighted J when `w`
    /// is given (dZ^[L] or dA^[L] column i scaled by w_i·m/Σw before (11)).
    pub(crate) fn backward_unchecked(
        &mut self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
    ) -> Result<()> {
        let paired = self.paired_logits().is_some();
        let (n_y, m) = y.dim();
        self.delta.resize(&[n_y, m])?;
        {
            // borrow only the layers, not all of self, so delta can be written
            let yhat = activation_of(&self.layers, x.view())
                .into_dimensionality::<Ix2>()
                .expect("output is 2-D");
            let mut delta = self
                .delta
                .view_mut()
                .into_dimensionality::<Ix2>()
                .expect("delta is 2-D");
            if paired {
                self.loss.output_delta(yhat, y, delta.view_mut()); // dZ^[L] = Ŷ·Σy − Y
            } else {
                self.loss.gradient(yhat, y, delta.view_mut()); // (15) dA^[L]
            }
            if let Some(w) = w {
                weight_columns(delta, w);
            }
        }
        let nl = self.layers.len();
        for l in (0..nl).rev() {
            let (before, rest) = self.layers.split_at_mut(l);
            let (current, after) = rest.split_first_mut().expect("layer l exists");
            let a_prev = activation_of(before, x.view());
            let upstream = match after {
                [] if paired => Upstream::DZ(self.delta.view()),
                _ => Upstream::DA(upstream_of(after, self.delta.view())),
            };
            // (14) is not computed for the first layer.
            current.backward(a_prev, upstream, l > 0)?;
        }
        Ok(())
    }

    /// Forward, cost and backward over all of X, Y without updating: afterwards each layer's
    /// `grads()` holds (12)–(13). Returns J.
    pub fn gradients(&mut self, x: ArrayViewD<F>, y: ArrayView2<F>) -> Result<f64> {
        self.weighted_gradients(x, y, None)
    }

    /// [`Network::gradients`] of the sample-weighted J = Σ w_i L_i / Σ w_i (plus the
    /// penalty): with integer weights, the gradients of X, Y with each column repeated w_i
    /// times.
    pub fn weighted_gradients(
        &mut self,
        x: ArrayViewD<F>,
        y: ArrayView2<F>,
        w: Option<ArrayView1<F>>,
    ) -> Result<f64> {
        let m = self.check_xy(&x, &y)?;
        check_weights(w, m)?;
        in_pool(|| {
            self.forward_unchecked(x.view(), false)?;
            let cost = self.batch_cost(x.view(), y, w)? + self.penalty();
            self.backward_unchecked(x, y, w)?;
            Ok(cost)
        })
    }
}

/// Sample weights: one per example, finite, non-negative, not all zero.
pub(crate) fn check_weights<F: Float>(w: Option<ArrayView1<F>>, m: usize) -> Result<()> {
    let Some(w) = w else { return Ok(()) };
    if w.len() != m {
        return Err(CoreError::Value(format!(
            "sample_weight: expected one weight per example ({m}), got {}",
            w.len()
        )));
    }
    if let Some((i, v)) = w
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v >= F::zero()))
    {
        return Err(CoreError::Value(format!(
            "sample_weight: expected finite weights >= 0, got {} at index {i}",
            v.to_f64().unwrap_or(f64::NAN)
        )));
    }
    if total_weight(Some(w), m) <= 0.0 {
        return Err(CoreError::Value(
            "sample_weight: the weights sum to 0; at least one example needs a positive weight"
                .into(),
        ));
    }
    Ok(())
}

/// A^[l] after `layers` (the first l), given the X their last forward pass ran on: each
/// layer's output is its own workspace or, for a layer that only reshapes or passes its input
/// on, a view of the one before.
fn activation_of<'a, F: Float>(
    layers: &'a [Box<dyn Layer<F>>],
    x: ArrayViewD<'a, F>,
) -> ArrayViewD<'a, F> {
    layers.iter().fold(x, |a, layer| layer.output(a))
}

/// dA^[l] for the layer below `after` (the layers above it), given what the loss handed the
/// last layer: each layer's input gradient is its own workspace or a view of its upstream.
fn upstream_of<'a, F: Float>(
    after: &'a [Box<dyn Layer<F>>],
    delta: ArrayViewD<'a, F>,
) -> ArrayViewD<'a, F> {
    after
        .iter()
        .rev()
        .fold(delta, |d, layer| layer.input_grad(d))
}

/// Prefixes an error with the (1-based) layer it comes from.
fn in_layer(l: usize, e: CoreError) -> CoreError {
    match e {
        CoreError::Shape(s) => CoreError::Shape(format!("layer {}: {s}", l + 1)),
        CoreError::Value(s) => CoreError::Value(format!("layer {}: {s}", l + 1)),
        CoreError::Type(s) => CoreError::Type(format!("layer {}: {s}", l + 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::Activation;
    use crate::layers::DenseConfig;
    use approx::assert_abs_diff_eq;
    use ndarray::array;
    use std::time::{Duration, Instant};

    fn xor_net(seed: u64) -> Network<f64> {
        Network::new(
            &[2],
            &[
                LayerSpec::Dense(DenseConfig {
                    units: 8,
                    activation: Activation::Tanh,
                    l2: 0.0,
                    use_bias: true,
                    trainable: true,
                }),
                LayerSpec::Dense(DenseConfig {
                    units: 1,
                    activation: Activation::Sigmoid,
                    l2: 0.0,
                    use_bias: true,
                    trainable: true,
                }),
            ],
            Loss::BinaryCrossentropy,
            seed,
        )
        .unwrap()
    }

    impl Network<f64> {
        /// Plain gradient descent at rate `lr` (the tests' shorthand).
        fn with_lr(&mut self, lr: f64) -> &mut Self {
            self.set_optimizer(Optimizer::sgd(lr).unwrap());
            self
        }
    }

    #[test]
    fn rollback_restores_parameters_optimizer_and_streams() {
        // what a failed fit call relies on to leave the network as it was
        let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]].into_dyn();
        let y = array![[0.0, 1.0, 1.0, 0.0]];
        let mut net = xor_net(3);
        net.set_optimizer(
            Optimizer::new(
                crate::optimizers::OptimizerKind::Adam {
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                },
                crate::optimizers::Schedule::Constant {
                    learning_rate: 0.01,
                },
            )
            .unwrap(),
        );
        let options = FitOptions {
            epochs: 3,
            batch_size: 2,
            shuffle: true,
            target_cost: None,
            tol: None,
            previous_cost: None,
            patience: None,
        };
        net.fit(x.view(), y.view(), &options, &mut || false)
            .unwrap();
        let saved = net.checkpoint();
        let before = (net.predict(x.view()).unwrap(), net.rng_states());
        net.fit(x.view(), y.view(), &options, &mut || false)
            .unwrap();
        assert_ne!(net.predict(x.view()).unwrap(), before.0);
        net.rollback(&saved);
        assert_eq!((net.predict(x.view()).unwrap(), net.rng_states()), before);
        assert_eq!(net.optimizer().iterations(), 6);
        // and training from there repeats the same steps, bit for bit
        let mut again = xor_net(3);
        again.set_optimizer(net.optimizer().clone());
        again.rollback(&saved);
        net.fit(x.view(), y.view(), &options, &mut || false)
            .unwrap();
        again
            .fit(x.view(), y.view(), &options, &mut || false)
            .unwrap();
        assert_eq!(
            net.predict(x.view()).unwrap(),
            again.predict(x.view()).unwrap()
        );
    }

    #[test]
    fn learns_xor_with_full_batch_gradient_descent() {
        let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]].into_dyn();
        let y = array![[0.0, 1.0, 1.0, 0.0]];
        let mut net = xor_net(0);
        let first = net.cost(x.view(), y.view()).unwrap();
        for _ in 0..2000 {
            net.with_lr(1.0)
                .train_epoch(x.view(), y.view(), 4, None)
                .unwrap();
        }
        let last = net.cost(x.view(), y.view()).unwrap();
        assert!(last < 0.05 && last < first, "J went from {first} to {last}");
        let yhat = net.predict(x.view()).unwrap();
        for (p, t) in yhat.iter().zip(y.iter()) {
            assert_eq!((*p > 0.5) as i32 as f64, *t);
        }
    }

    #[test]
    fn same_seed_same_parameters_and_training() {
        let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]].into_dyn();
        let y = array![[0.0, 1.0, 1.0, 0.0]];
        let (mut a, mut b) = (xor_net(7), xor_net(7));
        for net in [&mut a, &mut b] {
            for _ in 0..10 {
                net.with_lr(0.5)
                    .train_epoch(x.view(), y.view(), 3, Some(&[3, 1, 0, 2]))
                    .unwrap();
            }
        }
        for (la, lb) in a.layers().iter().zip(b.layers()) {
            assert_eq!(la.params(), lb.params());
        }
        assert_ne!(
            xor_net(8).layers()[0].params(),
            xor_net(7).layers()[0].params()
        );
    }

    #[test]
    fn shuffled_order_equals_training_on_permuted_data() {
        let x = array![[0.0, 0.5, 1.0, 1.5, 0.2], [1.0, 0.0, 0.3, 0.7, 0.9]];
        let y = array![[0.0, 1.0, 1.0, 0.0, 1.0]];
        let order = [4usize, 2, 0, 3, 1];
        let xp = x.select(Axis(1), &order).into_dyn();
        let yp = y.select(Axis(1), &order);
        let (mut a, mut b) = (xor_net(1), xor_net(1));
        let ra = a
            .with_lr(0.3)
            .train_epoch(x.view().into_dyn(), y.view(), 2, Some(&order))
            .unwrap();
        let rb = b
            .with_lr(0.3)
            .train_epoch(xp.view(), yp.view(), 2, None)
            .unwrap();
        assert_eq!(ra, rb);
        for (la, lb) in a.layers().iter().zip(b.layers()) {
            assert_eq!(la.params(), lb.params());
        }
    }

    #[test]
    fn divergence_restores_the_last_finite_parameters() {
        let x = array![[1e3, -2e3, 3e3], [5e2, 1e3, -4e3]].into_dyn();
        let y = array![[1e3, -1e3, 2e3]];
        let mut net = Network::<f64>::new(
            &[2],
            &[LayerSpec::Dense(DenseConfig {
                units: 1,
                activation: Activation::Linear,
                l2: 0.0,
                use_bias: true,
                trainable: true,
            })],
            Loss::Mse,
            0,
        )
        .unwrap();
        let mut diverged_at = None;
        for epoch in 0..100 {
            let before: Vec<ArrayD<f64>> = net.layers()[0]
                .params()
                .iter()
                .map(|p| p.to_owned())
                .collect();
            let report = net
                .with_lr(10.0)
                .train_epoch(x.view(), y.view(), 3, None)
                .unwrap();
            if report.diverged() {
                let after: Vec<ArrayD<f64>> = net.layers()[0]
                    .params()
                    .iter()
                    .map(|p| p.to_owned())
                    .collect();
                assert_eq!(before, after);
                assert!(net.params_finite());
                diverged_at = Some(epoch);
                break;
            }
        }
        assert!(diverged_at.is_some());
    }

    fn fit_options(epochs: usize) -> FitOptions {
        FitOptions {
            epochs,
            batch_size: 4,
            shuffle: false,
            target_cost: None,
            tol: None,
            previous_cost: None,
            patience: None,
        }
    }

    #[test]
    fn fit_stops_for_each_reason() {
        let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]].into_dyn();
        let y = array![[0.0, 1.0, 1.0, 0.0]];
        let never = &mut || false;
        let report = xor_net(0)
            .fit(x.view(), y.view(), &fit_options(30), never)
            .unwrap();
        assert_eq!((report.costs.len(), report.stop), (30, StopReason::Epochs));
        let mut opts = fit_options(5000);
        opts.target_cost = Some(0.1);
        let report = xor_net(0).fit(x.view(), y.view(), &opts, never).unwrap();
        assert_eq!(report.stop, StopReason::TargetCost);
        assert!(*report.costs.last().unwrap() <= 0.1);
        assert!(report.costs[..report.costs.len() - 1]
            .iter()
            .all(|&c| c > 0.1));
        let mut opts = fit_options(5000);
        opts.tol = Some(1e-3);
        let report = xor_net(0).fit(x.view(), y.view(), &opts, never).unwrap();
        assert_eq!(report.stop, StopReason::Converged);
        let n = report.costs.len();
        assert!((report.costs[n - 1] - report.costs[n - 2]).abs() < 1e-3);
        // interrupt: polled at most every INTERRUPT_POLL, so a slow poll still stops promptly
        let mut polls = 0;
        let start = Instant::now();
        let report = xor_net(0)
            .fit(
                x.view(),
                y.view(),
                &fit_options(usize::MAX / 2),
                &mut || {
                    polls += 1;
                    polls == 3
                },
            )
            .unwrap();
        assert_eq!(report.stop, StopReason::Interrupted);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn shuffled_fit_is_reproducible_and_differs_from_storage_order() {
        let x = Array2::from_shape_fn((2, 40), |(i, j)| ((i * 13 + j * 7) % 11) as f64 / 11.0)
            .into_dyn();
        let y = Array2::from_shape_fn((1, 40), |(_, j)| (j % 3 == 0) as u8 as f64);
        let mut opts = fit_options(5);
        opts.batch_size = 8;
        opts.shuffle = true;
        let runs: Vec<Vec<f64>> = (0..2)
            .map(|_| {
                xor_net(4)
                    .fit(x.view(), y.view(), &opts, &mut || false)
                    .unwrap()
                    .costs
            })
            .collect();
        assert_eq!(runs[0], runs[1]);
        opts.shuffle = false;
        let plain = xor_net(4)
            .fit(x.view(), y.view(), &opts, &mut || false)
            .unwrap()
            .costs;
        assert_ne!(runs[0], plain);
    }

    #[test]
    fn cost_is_mean_over_chunks() {
        let mut net = xor_net(3);
        let m = INFERENCE_CHUNK + 10;
        let x = ArrayD::from_shape_fn(ndarray::IxDyn(&[2, m]), |ix| {
            ((ix[0] * 7 + ix[1]) % 5) as f64 / 5.0
        });
        let y = Array2::from_shape_fn((1, m), |(_, j)| (j % 2) as f64);
        let chunked = net.cost(x.view(), y.view()).unwrap();
        let whole = net.gradients(x.view(), y.view()).unwrap();
        assert_abs_diff_eq!(chunked, whole, epsilon = 1e-12);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let mut net = xor_net(0);
        let x3 = Array2::<f64>::zeros((3, 4)).into_dyn();
        let err = net.predict(x3.view()).unwrap_err().to_string();
        assert!(err.contains("(2, m)") && err.contains("[3, 4]"), "{err}");
        let x = Array2::<f64>::zeros((2, 4)).into_dyn();
        let y = Array2::<f64>::zeros((1, 3));
        assert!(net.cost(x.view(), y.view()).is_err());
        let y = Array2::<f64>::zeros((1, 4));
        assert!(net
            .with_lr(0.1)
            .train_epoch(x.view(), y.view(), 0, None)
            .is_err());
        assert!(Optimizer::<f64>::sgd(-0.1).is_err());
        assert!(net
            .with_lr(0.1)
            .train_epoch(x.view(), y.view(), 2, Some(&[0, 1, 2, 9]))
            .is_err());
        let empty = Array2::<f64>::zeros((2, 0)).into_dyn();
        assert!(net.predict(empty.view()).is_err());
        assert!(Network::<f32>::new(&[2], &[], Loss::Mse, 0).is_err());
        assert!(Network::<f32>::new(
            &[2],
            &[LayerSpec::Dense(DenseConfig {
                units: 3,
                activation: Activation::Relu,
                l2: 0.0,
                use_bias: true,
                trainable: true,
            })],
            Loss::CategoricalCrossentropy,
            0
        )
        .is_err());
    }

    /// The parameters of every layer, flattened in order.
    fn all_params(net: &Network<f64>) -> Vec<f64> {
        net.layers()
            .iter()
            .flat_map(|l| {
                l.params()
                    .into_iter()
                    .flat_map(|p| p.iter().copied().collect::<Vec<_>>())
            })
            .collect()
    }

    fn all_grads(net: &Network<f64>) -> Vec<f64> {
        net.layers()
            .iter()
            .flat_map(|l| {
                l.grads()
                    .into_iter()
                    .flat_map(|g| g.iter().copied().collect::<Vec<_>>())
            })
            .collect()
    }

    #[test]
    fn weight_two_gives_the_gradients_of_a_repeated_example() {
        let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]].into_dyn();
        let y = array![[0.0, 1.0, 1.0, 0.0]];
        let w = array![2.0, 0.0, 1.0, 3.0];
        // columns repeated w_i times: 0, 0, 2, 3, 3, 3
        let xr = array![
            [0.0, 0.0, 1.0, 1.0, 1.0, 1.0],
            [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]
        ]
        .into_dyn();
        let yr = array![[0.0, 0.0, 1.0, 0.0, 0.0, 0.0]];
        let mut weighted = xor_net(3);
        let mut repeated = xor_net(3);
        let jw = weighted
            .weighted_gradients(x.view(), y.view(), Some(w.view()))
            .unwrap();
        let jr = repeated.gradients(xr.view(), yr.view()).unwrap();
        assert_abs_diff_eq!(jw, jr, epsilon = 1e-14);
        assert_abs_diff_eq!(
            weighted
                .weighted_cost(x.view(), y.view(), Some(w.view()))
                .unwrap(),
            jr,
            epsilon = 1e-14
        );
        for (a, b) in all_grads(&weighted).iter().zip(all_grads(&repeated)) {
            assert_abs_diff_eq!(*a, b, epsilon = 1e-14);
        }
        // full-batch training follows the same path
        let mut opts = fit_options(50);
        opts.batch_size = 6;
        weighted.with_lr(0.5);
        repeated.with_lr(0.5);
        weighted
            .weighted_fit(x.view(), y.view(), Some(w.view()), &opts, &mut || false)
            .unwrap();
        repeated
            .fit(xr.view(), yr.view(), &opts, &mut || false)
            .unwrap();
        for (a, b) in all_params(&weighted).iter().zip(all_params(&repeated)) {
            assert_abs_diff_eq!(*a, b, epsilon = 1e-12);
        }
    }

    #[test]
    fn unit_weights_change_nothing_and_zero_weight_batches_are_skipped() {
        let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]].into_dyn();
        let y = array![[0.0, 1.0, 1.0, 0.0]];
        let mut opts = fit_options(20);
        opts.batch_size = 2;
        opts.shuffle = true;
        let mut plain = xor_net(5);
        let mut ones = xor_net(5);
        let a = plain
            .with_lr(0.3)
            .fit(x.view(), y.view(), &opts, &mut || false)
            .unwrap();
        let w = ndarray::Array1::<f64>::ones(4);
        let b = ones
            .with_lr(0.3)
            .weighted_fit(x.view(), y.view(), Some(w.view()), &opts, &mut || false)
            .unwrap();
        assert_eq!(a, b); // bit for bit
        assert_eq!(all_params(&plain), all_params(&ones));
        // the first batch (columns 0, 1) weighs nothing: training equals training on the
        // last two columns alone, and the optimizer counts one step per epoch
        opts.shuffle = false;
        let mut zeroed = xor_net(6);
        let mut removed = xor_net(6);
        let w = array![0.0, 0.0, 1.0, 1.0];
        zeroed
            .with_lr(0.3)
            .weighted_fit(x.view(), y.view(), Some(w.view()), &opts, &mut || false)
            .unwrap();
        let x2 = x.slice(s![.., 2..]).to_owned().into_dyn();
        removed
            .with_lr(0.3)
            .fit(x2.view(), y.slice(s![.., 2..]), &opts, &mut || false)
            .unwrap();
        assert_eq!(all_params(&zeroed), all_params(&removed));
        assert_eq!(
            zeroed.optimizer().iterations(),
            removed.optimizer().iterations()
        );
        assert_eq!(zeroed.optimizer().iterations(), 20);
    }

    #[test]
    fn bad_weights_are_errors() {
        let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]].into_dyn();
        let y = array![[0.0, 1.0, 1.0, 0.0]];
        let mut net = xor_net(0);
        let opts = fit_options(1);
        for (w, expect) in [
            (
                array![1.0, 1.0, 1.0].to_vec(),
                "one weight per example (4), got 3",
            ),
            (
                vec![1.0, -1.0, 1.0, 1.0],
                "finite weights >= 0, got -1 at index 1",
            ),
            (vec![1.0, f64::NAN, 1.0, 1.0], "at index 1"),
            (vec![0.0; 4], "sum to 0"),
        ] {
            let w = ndarray::Array1::from(w);
            let err = net
                .weighted_fit(x.view(), y.view(), Some(w.view()), &opts, &mut || false)
                .unwrap_err()
                .to_string();
            assert!(err.contains(expect), "{err}");
            assert!(net
                .weighted_cost(x.view(), y.view(), Some(w.view()))
                .is_err());
            assert!(net
                .weighted_gradients(x.view(), y.view(), Some(w.view()))
                .is_err());
        }
    }
}
