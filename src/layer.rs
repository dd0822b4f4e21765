//! The building block of figures 4–5: a layer with a forward computation
//! (A^[l-1] → A^[l], caching Z^[l]) and a backward one (dA^[l] → dA^[l-1], parameter gradients).
//!
//! Activations travel between layers as n-dimensional arrays whose **last axis is the example
//! axis** (m): a dense layer's are `(n^[l], m)`, a convolutional layer's would be
//! `(channels, length, m)` or `(channels, h, w, m)`. The network only ever hands a layer the
//! previous layer's output, so layers of different kinds chain without the network knowing
//! their shapes. Each layer owns its workspaces (Z, A, dZ, dA^[l-1]) and reuses them from
//! step to step.

use std::sync::Arc;

use ndarray::{ArrayViewD, ArrayViewMutD};
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::layers::python::Host;
use crate::layers::Dense;
use crate::limits::elements;
use crate::rng::RngState;
use crate::scalar::Float;

/// What the backward pass hands a layer from above.
#[derive(Clone, Debug)]
pub enum Upstream<'a, F> {
    /// dA^[l], from the next layer's (14) or from the loss (15): the layer applies (11).
    DA(ArrayViewD<'a, F>),
    /// dZ^[l] already known: the collapsed Ŷ − Y of a paired output layer and loss.
    DZ(ArrayViewD<'a, F>),
}

/// A building block of figures 4–5. `Send + Sync` so the network can run with the GIL
/// released. Only `forward`, `backward` and the two views of their results are required; a
/// layer without parameters (pooling, flatten, dropout) keeps every parameter default, and only
/// a layer whose output is an activation g(Z) reports g and Z (for the loss's shortcut).
pub trait Layer<F: Float>: Send + Sync {
    /// The layer type, as in the Python API ("dense").
    fn kind(&self) -> &'static str;
    /// Shape of one example's input (without the m axis), e.g. `[n^[l-1]]`.
    fn input_shape(&self) -> &[usize];
    /// Shape of one example's output (without the m axis), e.g. `[n^[l]]`.
    fn output_shape(&self) -> &[usize];
    /// Names of the parameters in the order of [`Layer::params`] (`["W", "b"]`).
    fn param_names(&self) -> Vec<&str> {
        Vec::new()
    }
    /// The parameters, in the lecture's shapes.
    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        Vec::new()
    }
    /// Replaces parameter `index` by `value` (which must have its shape).
    fn set_param(&mut self, index: usize, _value: ArrayViewD<F>) -> Result<()> {
        Err(CoreError::Value(format!(
            "a {} layer has {} parameters, got index {index}",
            self.kind(),
            self.param_names().len()
        )))
    }
    /// The gradients of the last backward pass, in the order and shapes of the parameters.
    fn grads(&self) -> Vec<ArrayViewD<'_, F>> {
        Vec::new()
    }
    /// Draws fresh parameters (or a random stream) from `rng`.
    fn initialize(&mut self, _rng: &mut ChaCha8Rng) {}
    /// Forward pass over a batch: computes and caches what backward needs and A^[l].
    /// `training` is true in the training steps of `fit` and false in predict/cost/gradients
    /// (dropout is off then).
    fn forward(&mut self, a_prev: ArrayViewD<F>, training: bool) -> Result<()>;
    /// A^[l] of the last forward pass, given the A^[l-1] that pass received: most layers
    /// return their own workspace; one that only reshapes (flatten) returns a view of its
    /// input, so it copies nothing.
    fn output<'a>(&'a self, a_prev: ArrayViewD<'a, F>) -> ArrayViewD<'a, F>;
    /// Backward pass over the batch of the last forward pass: parameter gradients and, if
    /// `need_da_prev` (every layer but the first), dA^[l-1].
    fn backward(
        &mut self,
        a_prev: ArrayViewD<F>,
        upstream: Upstream<'_, F>,
        need_da_prev: bool,
    ) -> Result<()>;
    /// dA^[l-1] of the last backward pass, given the dA^[l] that pass received (a reshaping
    /// layer returns a view of it).
    fn input_grad<'a>(&'a self, upstream: ArrayViewD<'a, F>) -> ArrayViewD<'a, F>;
    /// Calls `f(parameter, gradient)` for every parameter: what an optimizer step needs,
    /// without allocating.
    fn for_each_param_grad(&mut self, _f: &mut dyn FnMut(ArrayViewMutD<'_, F>, ArrayViewD<'_, F>)) {
    }
    /// g^[l], for a layer whose output is A = g(Z) (dense, convolution):
    /// lets a paired loss start backward from dZ^[L] (softmax with cross-entropy).
    fn output_activation(&self) -> Option<Activation> {
        None
    }
    /// Z^[l] of the last forward pass, for a layer that has [`Layer::output_activation`].
    fn z(&self) -> Option<ArrayViewD<'_, F>> {
        None
    }
    /// Whether the optimizer updates this layer's parameters (false: frozen, Keras'
    /// `trainable=False`; its gradients are still computed, and it still passes dA back).
    fn trainable(&self) -> bool {
        true
    }
    /// The layer's share of the L2 penalty added to J: (λ/2)·‖W‖² (0 without L2).
    fn penalty(&self) -> f64 {
        0.0
    }
    /// The position of the layer's own random stream, if it has one (dropout).
    fn rng_state(&self) -> Option<RngState> {
        None
    }
    /// Restores the position of the layer's random stream (ignored without one).
    fn set_rng_state(&mut self, _state: &RngState) {}
    /// Number of trainable scalars.
    fn n_params(&self) -> usize {
        self.params().iter().map(|p| p.len()).sum()
    }
    /// Gives a layer written in Python the object that computes it (an error for the others).
    fn attach_host(&mut self, _host: Arc<dyn Host<F>>) -> Result<()> {
        Err(CoreError::Type(format!(
            "a {} layer is compiled, not written in Python",
            self.kind()
        )))
    }
    /// The layer as a [`Dense`] layer (None for the other kinds): a network of dense layers
    /// only can train with the data-parallel step ([`crate::data_parallel`]).
    fn as_dense(&mut self) -> Option<&mut Dense<F>> {
        None
    }
    /// The registered class name of a layer written in Python (None for the others).
    fn python_kind(&self) -> Option<&str> {
        None
    }
}

/// The most elements one workspace (an activation of a whole batch) may have: 2^34.
pub const MAX_WORKSPACE_ELEMENTS: usize = 1 << 34;

/// A growable buffer that hands out `(shape…, m)` views of its first elements, so a workspace
/// is allocated once for the largest batch and reused for every smaller one. The views start
/// on a 64-byte boundary (a cache line): when threads write the halves of a batch, rows of
/// the halves then meet on line boundaries more often, and vector loads are aligned.
#[derive(Clone, Debug, Default)]
pub struct Workspace<F> {
    data: Vec<F>,
    shape: Vec<usize>,
}

/// The alignment of a workspace's first element, in bytes.
const WORKSPACE_ALIGN: usize = 64;

impl<F: Float> Workspace<F> {
    /// Elements kept free before the first one, to reach the alignment.
    fn pad() -> usize {
        WORKSPACE_ALIGN / std::mem::size_of::<F>().max(1)
    }

    /// Where the aligned contents start in `data` (recomputed from the address, so that a
    /// clone, whose buffer lies elsewhere, is right too).
    fn offset(&self) -> usize {
        let off = self.data.as_ptr().align_offset(WORKSPACE_ALIGN);
        if off <= Self::pad() {
            off
        } else {
            0
        }
    }

    /// Makes the buffer hold `shape`, growing it only when it is too small. Contents are
    /// unspecified (whatever the previous step left). Growing is fallible: a shape beyond
    /// [`MAX_WORKSPACE_ELEMENTS`] or more memory than the machine has is an error, not an
    /// abort.
    pub fn resize(&mut self, shape: &[usize]) -> Result<()> {
        let len = elements("a workspace", shape, MAX_WORKSPACE_ELEMENTS)?;
        let needed = len + Self::pad();
        if self.data.len() < needed {
            self.data
                .try_reserve_exact(needed - self.data.len())
                .map_err(|_| {
                    CoreError::Value(format!(
                        "cannot allocate a workspace of shape {shape:?} ({len} elements): out \
                         of memory; use a smaller batch_size"
                    ))
                })?;
            self.data.resize(needed, F::zero());
        }
        self.shape.clear();
        self.shape.extend_from_slice(shape);
        Ok(())
    }

    /// The current contents, C-ordered.
    pub fn view(&self) -> ArrayViewD<'_, F> {
        let len: usize = self.shape.iter().product();
        let off = self.offset();
        ArrayViewD::from_shape(self.shape.as_slice(), &self.data[off..off + len])
            .expect("workspace length matches its shape")
    }

    /// The current contents, writable.
    pub fn view_mut(&mut self) -> ArrayViewMutD<'_, F> {
        let len: usize = self.shape.iter().product();
        let off = self.offset();
        ArrayViewMutD::from_shape(self.shape.as_slice(), &mut self.data[off..off + len])
            .expect("workspace length matches its shape")
    }
}
