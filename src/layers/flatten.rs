//! Flatten (Keras' `Flatten`): each example's (channels, length) or (channels, height, width)
//! activations as one vector, so a dense layer can follow a convolution or a pooling.
//!
//! Forward: A^[l][c·L + j, i] = A^[l-1][c, j, i], and A^[l][(c·H + h)·W + w, i] =
//! A^[l-1][c, h, w, i] in 2-D (row-major: the last axis before m varies fastest).
//! Backward: dA^[l-1][c, j, i] = dA^[l][c·L + j, i], the same reshape the other way. No
//! parameters, so no (12)–(13).
//!
//! Both directions are views, not copies: [`Layer::output`] returns A^[l-1] with its feature
//! axes merged and [`Layer::input_grad`] returns dA^[l] split back. Only inputs whose strides
//! cannot be merged (a transposed X given to a first Flatten, say) are copied, into a workspace,
//! by forward; likewise a dA^[l] that is not C-ordered, by backward. An input that is already a
//! vector per example passes through unchanged.

use ndarray::{ArrayViewD, Axis, Dimension, IxDyn};
use serde::{Deserialize, Serialize};

use crate::error::{expect_shape, CoreError, Result};
use crate::layer::{Layer, Upstream, Workspace};
use crate::layers::{LayerConfig, LayerPlan};
use crate::limits::{check_extent, elements, MAX_TENSOR_ELEMENTS};
use crate::scalar::Float;

/// `Flatten`'s spec: `{"type": "flatten"}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlattenConfig {}

impl LayerConfig for FlattenConfig {
    fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
        Ok(LayerPlan::without_params(vec![flat_size(input_shape)?]))
    }

    fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
        Ok(Box::new(Flatten::new(input_shape)?))
    }
}

/// The length of one example's flattened input, checked against the limits.
fn flat_size(input_shape: &[usize]) -> Result<usize> {
    if input_shape.is_empty() {
        return Err(CoreError::Shape(
            "flatten takes at least one axis per example, got input shape []".into(),
        ));
    }
    for &n in input_shape {
        check_extent("flatten: the input shape", n)?;
    }
    elements("flatten: the input shape", input_shape, MAX_TENSOR_ELEMENTS)
}

/// Reshapes each example's activations into a vector. No parameters.
#[derive(Clone, Debug)]
pub struct Flatten<F: Float> {
    input_shape: Vec<usize>,
    output_shape: [usize; 1],
    /// A^[l], used only when A^[l-1] cannot be viewed flat.
    a: Workspace<F>,
    /// dA^[l-1], used only when dA^[l] is not C-ordered.
    da_prev: Workspace<F>,
}

impl<F: Float> Flatten<F> {
    /// A Flatten over examples of shape `input_shape` (at least one axis).
    pub fn new(input_shape: &[usize]) -> Result<Self> {
        let n = flat_size(input_shape)?;
        let mut layer = Flatten {
            input_shape: input_shape.to_vec(),
            output_shape: [n],
            a: Workspace::default(),
            da_prev: Workspace::default(),
        };
        // empty batches until a copy is needed, so the views are never of a missing shape
        layer.a.resize(&[n, 0])?;
        layer.da_prev.resize(layer.input_dim(0).slice())?;
        Ok(layer)
    }

    /// `input_shape` followed by m, as a dimension (inline, not allocated, up to 4 axes).
    fn input_dim(&self, m: usize) -> IxDyn {
        let k = self.input_shape.len();
        let mut dim = IxDyn::zeros(k + 1);
        dim.slice_mut()[..k].copy_from_slice(&self.input_shape);
        dim[k] = m;
        dim
    }

    /// dA^[l] of shape (n, m) as a view of shape (input_shape…, m), if it is C-ordered (or
    /// already of that shape).
    fn split<'a>(&self, da: ArrayViewD<'a, F>) -> Option<ArrayViewD<'a, F>> {
        let dim = self.input_dim(*da.shape().last()?);
        if da.shape() == dim.slice() {
            return Some(da);
        }
        da.into_shape_with_order(dim).ok()
    }
}

/// A batch (d_1, …, d_k, m) viewed as (d_1·…·d_k, m), without copying, when its strides allow
/// it: each feature axis must step over exactly the next one, as in any C-ordered array and in
/// one sliced along m (a mini-batch of X). `None` when they do not.
fn merged<F>(mut x: ArrayViewD<'_, F>) -> Option<ArrayViewD<'_, F>> {
    let k = x.ndim().checked_sub(1).filter(|&k| k >= 1)?;
    if x.is_empty() {
        let n = x.shape()[..k].iter().product::<usize>();
        return ArrayViewD::from_shape(IxDyn(&[n, x.shape()[k]]), &[]).ok();
    }
    // merge d_{k-1}, then d_{k-2}, … into the last feature axis, leaving 1s in front
    for j in (0..k - 1).rev() {
        if !x.merge_axes(Axis(j), Axis(k - 1)) {
            return None;
        }
    }
    for _ in 0..k - 1 {
        x = x.index_axis_move(Axis(0), 0);
    }
    Some(x)
}

impl<F: Float> Layer<F> for Flatten<F> {
    fn kind(&self) -> &'static str {
        "flatten"
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    /// Checks A^[l-1]; copies it only if it cannot be viewed flat.
    fn forward(&mut self, a_prev: ArrayViewD<F>, _training: bool) -> Result<()> {
        let shape = a_prev.shape();
        expect_shape(
            "A_prev",
            &self.input_shape,
            &shape[..shape.len().saturating_sub(1)],
        )?;
        let m = shape[shape.len() - 1];
        if merged(a_prev.view()).is_none() {
            self.a.resize(&[self.output_shape[0], m])?;
            self.a
                .view_mut()
                .into_shape_with_order(a_prev.raw_dim())
                .map_err(|e| CoreError::Shape(format!("flatten: {e}")))?
                .assign(&a_prev);
        }
        Ok(())
    }

    /// A view of A^[l-1] as (n, m), or the copy forward made.
    fn output<'a>(&'a self, a_prev: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        merged(a_prev).unwrap_or_else(|| self.a.view())
    }

    /// Checks dA^[l]; copies it only if it is not C-ordered.
    fn backward(
        &mut self,
        a_prev: ArrayViewD<F>,
        upstream: Upstream<'_, F>,
        need_da_prev: bool,
    ) -> Result<()> {
        let da = match upstream {
            Upstream::DA(da) | Upstream::DZ(da) => da,
        };
        let shape = a_prev.shape();
        expect_shape(
            "A_prev",
            &self.input_shape,
            &shape[..shape.len().saturating_sub(1)],
        )?;
        let m = shape[shape.len() - 1];
        expect_shape("dA", &[self.output_shape[0], m], da.shape())?;
        if need_da_prev && self.split(da.view()).is_none() {
            self.da_prev.resize(shape)?;
            self.da_prev
                .view_mut()
                .into_shape_with_order(da.raw_dim())
                .map_err(|e| CoreError::Shape(format!("flatten: {e}")))?
                .assign(&da);
        }
        Ok(())
    }

    /// A view of dA^[l] as (input_shape…, m), or the copy backward made.
    fn input_grad<'a>(&'a self, upstream: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.split(upstream).unwrap_or_else(|| self.da_prev.view())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::{s, Array2, ArrayD, Axis};

    use crate::layers::LayerSpec;
    use crate::loss::Loss;
    use crate::network::Network;

    /// 0, 1, 2, … in C order: each value is its own flat index.
    fn counting(shape: &[usize]) -> ArrayD<f64> {
        let n = shape.iter().product::<usize>();
        ArrayD::from_shape_vec(shape, (0..n).map(|v| v as f64).collect()).unwrap()
    }

    #[test]
    fn forward_is_a_view_in_row_major_order() {
        let (c, l, m) = (2, 3, 4);
        let x = counting(&[c, l, m]);
        let mut layer = Flatten::<f64>::new(&[c, l]).unwrap();
        layer.forward(x.view(), true).unwrap();
        let a = layer.output(x.view());
        assert_eq!(a.as_ptr(), x.as_ptr(), "no copy");
        assert_eq!(a.shape(), &[c * l, m]);
        for (ci, li, i) in ndarray::indices((c, l, m)) {
            assert_eq!(a[[ci * l + li, i]], x[[ci, li, i]]);
        }
        let (h, w) = (3, 5);
        let x = counting(&[c, h, w, m]);
        let mut layer = Flatten::<f64>::new(&[c, h, w]).unwrap();
        layer.forward(x.view(), true).unwrap();
        let a = layer.output(x.view());
        assert_eq!(a.as_ptr(), x.as_ptr());
        for (ci, hi, wi, i) in ndarray::indices((c, h, w, m)) {
            assert_eq!(a[[(ci * h + hi) * w + wi, i]], x[[ci, hi, wi, i]]);
        }
    }

    #[test]
    fn input_grad_is_a_view_of_the_upstream() {
        let x = counting(&[2, 3, 4, 5]);
        let mut layer = Flatten::<f64>::new(&[2, 3, 4]).unwrap();
        layer.forward(x.view(), true).unwrap();
        let da = counting(&[24, 5]) * 2.0;
        layer
            .backward(x.view(), Upstream::DA(da.view()), true)
            .unwrap();
        let da_prev = layer.input_grad(da.view());
        assert_eq!(da_prev.as_ptr(), da.as_ptr(), "no copy");
        assert_eq!(da_prev, x.view().mapv(|v| v * 2.0));
    }

    #[test]
    fn a_mini_batch_of_x_is_viewed_and_a_transposed_x_is_copied() {
        let x = counting(&[2, 3, 4, 9]);
        let mut layer = Flatten::<f64>::new(&[2, 3, 4]).unwrap();
        let expected = |x: &ArrayD<f64>| -> Array2<f64> {
            let m = x.len_of(Axis(3));
            Array2::from_shape_vec((24, m), x.iter().copied().collect()).unwrap()
        };
        // columns 2..8 step 3: strided along m only, so still a view
        let batch = x.slice(s![.., .., .., 2..8;3]).into_dyn();
        layer.forward(batch.view(), true).unwrap();
        let a = layer.output(batch.view());
        assert_eq!(a.as_ptr(), batch.as_ptr());
        assert_eq!(a, expected(&batch.to_owned()).into_dyn());
        // examples first in memory: the features cannot be merged, so forward copies
        let mut copies = Vec::new();
        for m in [5, 3] {
            let xt = counting(&[m, 4, 3, 2]);
            let xt = xt.t();
            assert!(!xt.is_standard_layout());
            layer.forward(xt.view(), true).unwrap();
            let a = layer.output(xt.view());
            assert_eq!(a, expected(&xt.to_owned()).into_dyn());
            copies.push(a.as_ptr());
            // a dA that is not C-ordered is copied back the same way
            let da = Array2::from_shape_fn((m, 24), |(i, n)| (n * 10 + i) as f64);
            let da = da.t().into_dyn();
            layer
                .backward(xt.view(), Upstream::DA(da.view()), true)
                .unwrap();
            let da_prev = layer.input_grad(da.view());
            assert_eq!(da_prev.shape(), &[2, 3, 4, m]);
            for (c, h, w, i) in ndarray::indices((2, 3, 4, m)) {
                assert_eq!(da_prev[[c, h, w, i]], da[[(c * 3 + h) * 4 + w, i]]);
            }
        }
        assert_eq!(copies[0], copies[1], "the workspace is reused");
    }

    #[test]
    fn a_vector_per_example_passes_through() {
        let x = counting(&[5, 8]);
        let x = x.slice(s![.., ..;2]).into_dyn();
        let mut layer = Flatten::<f64>::new(&[5]).unwrap();
        layer.forward(x.view(), false).unwrap();
        assert_eq!(layer.output(x.view()).as_ptr(), x.as_ptr());
        assert_eq!(layer.output(x.view()), x);
        layer
            .backward(x.view(), Upstream::DA(x.view()), true)
            .unwrap();
        assert_eq!(layer.input_grad(x.view()).as_ptr(), x.as_ptr());
    }

    #[test]
    fn bad_specs_and_inputs_are_errors() {
        let spec: LayerSpec = serde_json::from_str(r#"{"type": "flatten"}"#).unwrap();
        assert_eq!(spec.plan(&[3, 4, 5]).unwrap().output_shape, [60]);
        assert_eq!(
            serde_json::to_string(&spec).unwrap(),
            r#"{"type":"flatten"}"#
        );
        for input in [&[][..], &[0, 3], &[1 << 25], &[1 << 20, 1 << 20]] {
            assert!(spec.plan(input).is_err(), "{input:?}");
            assert!(spec.build::<f32>(input).is_err(), "{input:?}");
        }
        assert!(LayerSpec::list_from_json(r#"[{"type": "flatten", "units": 3}]"#).is_err());
        let mut layer = Flatten::<f64>::new(&[2, 3]).unwrap();
        let wrong = ArrayD::<f64>::zeros(vec![3, 2, 4]);
        assert!(layer.forward(wrong.view(), true).is_err());
        let x = ArrayD::<f64>::zeros(vec![2, 3, 4]);
        let da = ArrayD::<f64>::zeros(vec![6, 5]);
        assert!(layer
            .backward(x.view(), Upstream::DA(da.view()), true)
            .is_err());
        // before any pass: empty views, not a panic
        assert_eq!(layer.output(wrong.t().into_dyn()).len(), 0);
    }

    #[test]
    fn a_network_of_pooling_flatten_dense_has_the_finite_difference_gradient() {
        let specs = LayerSpec::list_from_json(
            r#"[{"type": "max_pooling2d", "pool_size": 2, "strides": 1},
                {"type": "average_pooling2d", "pool_size": [2, 3], "padding": "same"},
                {"type": "flatten"},
                {"type": "dense", "units": 3, "activation": "tanh"}]"#,
        )
        .unwrap();
        let mut net = Network::<f64>::new(&[2, 6, 5], &specs, Loss::Mse, 3).unwrap();
        let all = counting(&[2, 6, 5, 8]).mapv(|v| (v * 0.37).sin());
        let x = all.slice(s![.., .., .., 1..8;2]).into_dyn(); // a strided mini-batch
        let y = Array2::from_shape_fn((3, 4), |(r, i)| ((r + 2 * i) as f64 * 0.3).cos());
        net.gradients(x.view(), y.view()).unwrap();
        let dw = net.layers()[3].grads()[0].to_owned();
        let w = net.layers()[3].params()[0].to_owned();
        let eps = 1e-6;
        for (k, &analytic) in dw.iter().enumerate() {
            let mut cost = |delta: f64| {
                let mut wp = w.clone();
                wp.as_slice_mut().unwrap()[k] += delta;
                net.layers_mut()[3].set_param(0, wp.view()).unwrap();
                net.cost(x.view(), y.view()).unwrap()
            };
            let numeric = (cost(eps) - cost(-eps)) / (2.0 * eps);
            assert_abs_diff_eq!(numeric, analytic, epsilon = 1e-8);
        }
        let x_copy = x.to_owned();
        assert_eq!(
            net.predict(x.view()).unwrap(),
            net.predict(x_copy.view()).unwrap()
        );
    }
}
