//! Pooling layers: max and average pooling over windows (Keras' `MaxPooling1D`/`2D`,
//! `AveragePooling1D`/`2D`) and over the whole input (`GlobalMaxPooling1D`/`2D`,
//! `GlobalAveragePooling1D`/`2D`). They have no parameters, so backward computes only dA^[l-1]
//! (no (12)–(13)).
//!
//! Activations keep the examples last: a 1-D input is (channels, length, m), a 2-D one
//! (channels, height, width, m). Each channel is pooled on its own. With window(p) the input
//! positions q under output position p (padded positions excluded) and n_p their number:
//!
//! - max, forward: A^[l][c, p, i] = max_{q ∈ window(p)} A^[l-1][c, q, i];
//!   backward: dA^[l-1][c, q, i] = Σ_{p : q is the argmax of window(p) for example i}
//!   dA^[l][c, p, i] (the first maximum in the window's order wins ties).
//! - average, forward: A^[l][c, p, i] = (1/n_p) Σ_{q ∈ window(p)} A^[l-1][c, q, i];
//!   backward: dA^[l-1][c, q, i] = Σ_{p : q ∈ window(p)} dA^[l][c, p, i] / n_p.
//! - global: one window holding every position, output (channels, m).
//!
//! One implementation serves them all: a 1-D input is a 2-D one of height 1 and a global
//! pooling a window as large as the input. The kernels ([`max_pool_forward`],
//! [`max_pool_backward`], [`average_pool_forward`], [`average_pool_backward`] over a
//! [`PoolGeometry`]) are public for `deepnet.ops`.

mod kernel;
#[cfg(test)]
mod tests;

use ndarray::{ArrayView4, ArrayViewD, ArrayViewMut4, ArrayViewMutD, Axis, Dimension, Ix4, IxDyn};
use serde::{Deserialize, Serialize};

pub use kernel::{
    average_pool_backward, average_pool_forward, max_pool_backward, max_pool_forward, Padding,
    PoolGeometry,
};

use crate::error::{expect_shape, CoreError, Result};
use crate::layer::{Layer, Upstream, Workspace};
use crate::layers::{LayerConfig, LayerPlan, Size2};
use crate::scalar::Float;

/// What a pooling window computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolOp {
    Max,
    Average,
}

fn two() -> usize {
    2
}

fn two_by_two() -> Size2 {
    Size2::Square(2)
}

/// `MaxPooling1D`'s spec:
/// `{"type": "max_pooling1d", "pool_size": 2, "strides": null, "padding": "valid"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPooling1DConfig {
    /// The window's length (2 by default).
    #[serde(default = "two")]
    pub pool_size: usize,
    /// The step between windows; null or absent: pool_size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<usize>,
    /// "valid" (the default) or "same".
    #[serde(default)]
    pub padding: Padding,
}

/// `AveragePooling1D`'s spec:
/// `{"type": "average_pooling1d", "pool_size": 2, "strides": null, "padding": "valid"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AveragePooling1DConfig {
    /// The window's length (2 by default).
    #[serde(default = "two")]
    pub pool_size: usize,
    /// The step between windows; null or absent: pool_size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<usize>,
    /// "valid" (the default) or "same".
    #[serde(default)]
    pub padding: Padding,
}

/// `MaxPooling2D`'s spec:
/// `{"type": "max_pooling2d", "pool_size": [2, 2], "strides": null, "padding": "valid"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaxPooling2DConfig {
    /// The window, `n` or `[height, width]` (2 by default).
    #[serde(default = "two_by_two")]
    pub pool_size: Size2,
    /// The step between windows, `n` or `[height, width]`; null or absent: pool_size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<Size2>,
    /// "valid" (the default) or "same".
    #[serde(default)]
    pub padding: Padding,
}

/// `AveragePooling2D`'s spec:
/// `{"type": "average_pooling2d", "pool_size": [2, 2], "strides": null, "padding": "valid"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AveragePooling2DConfig {
    /// The window, `n` or `[height, width]` (2 by default).
    #[serde(default = "two_by_two")]
    pub pool_size: Size2,
    /// The step between windows, `n` or `[height, width]`; null or absent: pool_size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strides: Option<Size2>,
    /// "valid" (the default) or "same".
    #[serde(default)]
    pub padding: Padding,
}

/// `GlobalMaxPooling1D`'s spec: `{"type": "global_max_pooling1d"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalMaxPooling1DConfig {}

/// `GlobalAveragePooling1D`'s spec: `{"type": "global_average_pooling1d"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAveragePooling1DConfig {}

/// `GlobalMaxPooling2D`'s spec: `{"type": "global_max_pooling2d"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalMaxPooling2DConfig {}

/// `GlobalAveragePooling2D`'s spec: `{"type": "global_average_pooling2d"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalAveragePooling2DConfig {}

/// What every pooling config comes down to.
#[derive(Clone, Copy, Debug)]
struct PoolSpec {
    kind: &'static str,
    op: PoolOp,
    /// 1: (channels, length) per example; 2: (channels, height, width).
    dims: usize,
    /// The windows as (height, width) sizes, strides and padding; `None` for a global
    /// pooling (one window over the whole input).
    window: Window,
}

type Window = Option<([usize; 2], Option<[usize; 2]>, Padding)>;

/// A 1-D window of `k` is a 2-D one of height 1.
fn window_1d(pool: usize, strides: Option<usize>, padding: Padding) -> Window {
    Some(([1, pool], strides.map(|s| [1, s]), padding))
}

fn window_2d(pool: Size2, strides: Option<Size2>, padding: Padding) -> Window {
    Some((pool.pair(), strides.map(Size2::pair), padding))
}

/// A config's `spec()`, and its [`LayerConfig`] through it.
macro_rules! pool_config {
    ($config:ident => $kind:literal, $op:ident, $dims:literal, $window:ident) => {
        impl $config {
            fn spec(&self) -> PoolSpec {
                let window = $window(self.pool_size, self.strides, self.padding);
                PoolSpec { kind: $kind, op: PoolOp::$op, dims: $dims, window }
            }
        }
        pool_config!(@layer $config);
    };
    ($config:ident => $kind:literal, $op:ident, $dims:literal) => {
        impl $config {
            fn spec(&self) -> PoolSpec {
                PoolSpec { kind: $kind, op: PoolOp::$op, dims: $dims, window: None }
            }
        }
        pool_config!(@layer $config);
    };
    (@layer $config:ident) => {
        impl LayerConfig for $config {
            fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
                let (_, output_shape) = self.spec().geometry(input_shape)?;
                Ok(LayerPlan::without_params(output_shape))
            }

            fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
                Ok(Box::new(Pooling::new(self.spec(), input_shape)?))
            }
        }
    };
}

pool_config!(MaxPooling1DConfig => "max_pooling1d", Max, 1, window_1d);
pool_config!(AveragePooling1DConfig => "average_pooling1d", Average, 1, window_1d);
pool_config!(MaxPooling2DConfig => "max_pooling2d", Max, 2, window_2d);
pool_config!(AveragePooling2DConfig => "average_pooling2d", Average, 2, window_2d);
pool_config!(GlobalMaxPooling1DConfig => "global_max_pooling1d", Max, 1);
pool_config!(GlobalAveragePooling1DConfig => "global_average_pooling1d", Average, 1);
pool_config!(GlobalMaxPooling2DConfig => "global_max_pooling2d", Max, 2);
pool_config!(GlobalAveragePooling2DConfig => "global_average_pooling2d", Average, 2);

macro_rules! keras_defaults {
    ($($config:ident: $pool:expr;)*) => {$(
        /// Keras' defaults: pool_size 2, strides = pool_size, padding "valid".
        impl Default for $config {
            fn default() -> Self {
                $config { pool_size: $pool, strides: None, padding: Padding::Valid }
            }
        }
    )*};
}

keras_defaults! {
    MaxPooling1DConfig: two();
    AveragePooling1DConfig: two();
    MaxPooling2DConfig: two_by_two();
    AveragePooling2DConfig: two_by_two();
}

impl PoolSpec {
    /// The windows over inputs of `input_shape` (one example's), and the output shape; every
    /// size checked, nothing allocated.
    fn geometry(&self, input_shape: &[usize]) -> Result<(PoolGeometry, Vec<usize>)> {
        let (channels, input, names) = match (self.dims, input_shape) {
            (1, &[c, l]) => (c, [1, l], ["height", "length"]),
            (2, &[c, h, w]) => (c, [h, w], ["height", "width"]),
            _ => {
                let wanted = match self.dims {
                    1 => "(channels, length)",
                    _ => "(channels, height, width)",
                };
                return Err(CoreError::Shape(format!(
                    "{} takes {wanted} per example, got input shape {input_shape:?}",
                    self.kind
                )));
            }
        };
        let (pool, strides, padding) = match self.window {
            Some((pool, strides, padding)) => (pool, strides.unwrap_or(pool), padding),
            None => (input, input, Padding::Valid),
        };
        let g = PoolGeometry::with_names(channels, input, pool, strides, padding, names)?;
        let [h_out, w_out] = g.output();
        let output_shape = match (self.window, self.dims) {
            (None, _) => vec![channels],
            (Some(_), 1) => vec![channels, w_out],
            (Some(_), _) => vec![channels, h_out, w_out],
        };
        Ok((g, output_shape))
    }
}

/// A pooling layer: max or average, over windows or global, 1-D or 2-D. Built from one of the
/// pooling configs; it has no parameters.
#[derive(Clone, Debug)]
pub struct Pooling<F: Float> {
    kind: &'static str,
    op: PoolOp,
    geometry: PoolGeometry,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    /// A^[l].
    a: Workspace<F>,
    /// Max pooling: the flat index into A^[l-1] of each output of the last forward pass.
    argmax: Vec<usize>,
    da_prev: Workspace<F>,
}

impl<F: Float> Pooling<F> {
    fn new(spec: PoolSpec, input_shape: &[usize]) -> Result<Self> {
        let (geometry, output_shape) = spec.geometry(input_shape)?;
        // empty batches until the first pass, so the views are never of a missing shape
        let mut a = Workspace::default();
        a.resize(with_batch(&output_shape, 0).slice())?;
        let mut da_prev = Workspace::default();
        da_prev.resize(with_batch(input_shape, 0).slice())?;
        Ok(Pooling {
            kind: spec.kind,
            op: spec.op,
            geometry,
            input_shape: input_shape.to_vec(),
            output_shape,
            a,
            argmax: Vec::new(),
            da_prev,
        })
    }

    pub fn op(&self) -> PoolOp {
        self.op
    }

    /// The windows, with 1-D inputs as 2-D ones of height 1.
    pub fn geometry(&self) -> &PoolGeometry {
        &self.geometry
    }
}

/// m of a batch whose shape must be `per_example` followed by m.
fn batch_size(what: &str, per_example: &[usize], shape: &[usize]) -> Result<usize> {
    match shape.split_last() {
        Some((&m, rest)) if rest == per_example => Ok(m),
        _ => Err(CoreError::Shape(format!(
            "{what}: expected shape {per_example:?} + [m] (one column per example), got \
             {shape:?}"
        ))),
    }
}

/// `per_example` followed by m, as a dimension (inline, not allocated, up to 4 axes).
fn with_batch(per_example: &[usize], m: usize) -> IxDyn {
    let k = per_example.len();
    let mut dim = IxDyn::zeros(k + 1);
    dim.slice_mut()[..k].copy_from_slice(per_example);
    dim[k] = m;
    dim
}

fn not_4d(shape: &[usize]) -> CoreError {
    CoreError::Shape(format!(
        "pooling expects (channels, length, m) or (channels, height, width, m), got {shape:?}"
    ))
}

/// A batch as the kernels see it, (C, H, W, m): (C, L, m) as (C, 1, L, m) and (C, m) as
/// (C, 1, 1, m). A view: strides are kept, nothing is copied.
fn lift<F>(mut x: ArrayViewD<F>) -> Result<ArrayView4<F>> {
    if !(2..=4).contains(&x.ndim()) {
        return Err(not_4d(x.shape()));
    }
    while x.ndim() < 4 {
        x.insert_axis_inplace(Axis(1));
    }
    x.into_dimensionality::<Ix4>()
        .map_err(|_| CoreError::Shape("pooling: expected a 4-D batch".into()))
}

fn lift_mut<F>(mut x: ArrayViewMutD<F>) -> Result<ArrayViewMut4<F>> {
    if !(2..=4).contains(&x.ndim()) {
        return Err(not_4d(x.shape()));
    }
    while x.ndim() < 4 {
        x.insert_axis_inplace(Axis(1));
    }
    x.into_dimensionality::<Ix4>()
        .map_err(|_| CoreError::Shape("pooling: expected a 4-D batch".into()))
}

/// Grows `v` to at least `len` indices, fallibly; contents unspecified (as a workspace's).
fn resize_indices(v: &mut Vec<usize>, len: usize) -> Result<()> {
    if v.len() < len {
        v.try_reserve_exact(len - v.len()).map_err(|_| {
            CoreError::Value(format!(
                "cannot allocate {len} argmax indices: out of memory; use a smaller batch_size"
            ))
        })?;
        v.resize(len, 0);
    }
    Ok(())
}

impl<F: Float> Layer<F> for Pooling<F> {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// A^[l] from A^[l-1]; max pooling also records its argmax, in inference too (a backward
    /// pass may follow any forward pass).
    fn forward(&mut self, a_prev: ArrayViewD<F>, _training: bool) -> Result<()> {
        let m = batch_size("A_prev", &self.input_shape, a_prev.shape())?;
        self.a.resize(with_batch(&self.output_shape, m).slice())?;
        let a_prev = lift(a_prev)?;
        let a = lift_mut(self.a.view_mut())?;
        match self.op {
            PoolOp::Average => average_pool_forward(&self.geometry, a_prev, a),
            PoolOp::Max => {
                let len = a.len();
                resize_indices(&mut self.argmax, len)?;
                let argmax = ArrayViewMut4::from_shape(
                    self.geometry.output_shape(m),
                    &mut self.argmax[..len],
                )
                .map_err(|e| CoreError::Shape(format!("argmax: {e}")))?;
                max_pool_forward(&self.geometry, a_prev, a, argmax)
            }
        }
    }

    fn output<'a>(&'a self, _a_prev: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.a.view()
    }

    /// dA^[l-1] from dA^[l] (nothing else: no parameters).
    fn backward(
        &mut self,
        a_prev: ArrayViewD<F>,
        upstream: Upstream<'_, F>,
        need_da_prev: bool,
    ) -> Result<()> {
        let da = match upstream {
            Upstream::DA(da) | Upstream::DZ(da) => da,
        };
        let m = batch_size("A_prev", &self.input_shape, a_prev.shape())?;
        // the batch of the last forward pass, whose argmax routes max pooling's gradient
        expect_shape("dA", self.a.view().shape(), da.shape())?;
        if !need_da_prev {
            return Ok(());
        }
        self.da_prev.resize(a_prev.shape())?;
        let da = lift(da)?;
        let da_prev = lift_mut(self.da_prev.view_mut())?;
        match self.op {
            PoolOp::Average => average_pool_backward(&self.geometry, da, da_prev),
            PoolOp::Max => {
                let argmax = self
                    .argmax
                    .get(..da.len())
                    .ok_or_else(|| CoreError::Value("backward before forward".into()))?;
                let argmax = ArrayView4::from_shape(self.geometry.output_shape(m), argmax)
                    .map_err(|e| CoreError::Shape(format!("argmax: {e}")))?;
                max_pool_backward(&self.geometry, da, argmax, da_prev)
            }
        }
    }

    fn input_grad<'a>(&'a self, _upstream: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.da_prev.view()
    }
}
