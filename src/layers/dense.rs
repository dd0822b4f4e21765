//! The dense (fully connected) layer: forward (9)–(10), backward (11)–(14).
//!
//! The free functions [`forward`] and [`backward_from_dz`] are the kernels; [`Dense`] wraps them
//! with its parameters and reusable workspaces. `deepnet.ops` calls the same functions, so a
//! student's hand-written loop runs the code `fit` runs.

use ndarray::{Array2, ArrayView2, ArrayViewD, ArrayViewMut2, ArrayViewMutD, Ix2, Zip};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};
use serde::{Deserialize, Serialize};

use crate::activation::Activation;
use crate::error::{expect_shape, CoreError, Result};
use crate::layer::{Layer, Upstream, Workspace};
use crate::layers::l2;
use crate::layers::{LayerConfig, LayerPlan};
use crate::limits::{check_extent, elements, MAX_TENSOR_ELEMENTS};
use crate::matmul::gemm;
use crate::scalar::Float;

/// (9) Z = W·A_prev + b and (10) A = g(Z), written into `z` and `a`.
///
/// Shapes: `w` (n, n_prev), `b` (n, 1), `a_prev` (n_prev, m), `z` and `a` (n, m).
pub fn forward<F: Float>(
    w: ArrayView2<F>,
    b: ArrayView2<F>,
    a_prev: ArrayView2<F>,
    activation: Activation,
    z: ArrayViewMut2<F>,
    a: ArrayViewMut2<F>,
) -> Result<()> {
    let (n, n_prev) = w.dim();
    let m = a_prev.ncols();
    expect_shape("b", &[n, 1], b.shape())?;
    expect_shape("A_prev", &[n_prev, m], a_prev.shape())?;
    expect_shape("Z", &[n, m], z.shape())?;
    expect_shape("A", &[n, m], a.shape())?;
    forward_block(w, b, a_prev, activation, z, a);
    Ok(())
}

/// [`forward`] for any block of columns (examples) of A_prev, Z and A: each column is its own
/// product, so a block gets the bits of the whole. Shapes already checked.
pub(crate) fn forward_block<F: Float>(
    w: ArrayView2<F>,
    b: ArrayView2<F>,
    a_prev: ArrayView2<F>,
    activation: Activation,
    mut z: ArrayViewMut2<F>,
    a: ArrayViewMut2<F>,
) {
    // (9) Z = W A_prev, then + b fused with (10) in one pass over Z.
    gemm(F::one(), w, a_prev, F::zero(), z.view_mut());
    activation.add_bias_forward(z, b, a);
}

/// The gradients (12)–(14) from dZ^[l].
///
/// (12) dW = (1/m) dZ·A_prevᵀ, (13) db = (1/m) Σ_i dz^(i), (14) dA_prev = Wᵀ·dZ (skipped when
/// `da_prev` is `None`, as for the first layer). Shapes: `w` (n, n_prev), `a_prev` (n_prev, m),
/// `dz` (n, m), `dw` (n, n_prev), `db` (n, 1), `da_prev` (n_prev, m).
pub fn backward_from_dz<F: Float>(
    w: ArrayView2<F>,
    a_prev: ArrayView2<F>,
    dz: ArrayView2<F>,
    dw: ArrayViewMut2<F>,
    db: ArrayViewMut2<F>,
    da_prev: Option<ArrayViewMut2<F>>,
) -> Result<()> {
    backward_from_dz_over(dz.ncols(), w, a_prev, dz, dw, db, da_prev)
}

/// [`backward_from_dz`] with the 1/m of (12)–(13) taken over `m_div` instead of the number of
/// columns of dZ: for a caller whose columns are not the examples (e.g. positions × examples
/// of an im2col matrix, where J's mean is still over the m examples).
pub fn backward_from_dz_over<F: Float>(
    m_div: usize,
    w: ArrayView2<F>,
    a_prev: ArrayView2<F>,
    dz: ArrayView2<F>,
    dw: ArrayViewMut2<F>,
    db: ArrayViewMut2<F>,
    da_prev: Option<ArrayViewMut2<F>>,
) -> Result<()> {
    let (n, n_prev) = w.dim();
    let m = dz.ncols();
    if m == 0 || m_div == 0 {
        return Err(CoreError::Shape(format!(
            "dZ: expected at least one example (column) and m > 0, got {m} columns and m = \
             {m_div}"
        )));
    }
    expect_shape("A_prev", &[n_prev, m], a_prev.shape())?;
    expect_shape("dZ", &[n, m], dz.shape())?;
    expect_shape("dW", &[n, n_prev], dw.shape())?;
    expect_shape("db", &[n, 1], db.shape())?;
    if let Some(da_prev) = &da_prev {
        expect_shape("dA_prev", &[n_prev, m], da_prev.shape())?;
    }
    param_gradients(m_div, a_prev, dz, dw, Some(db));
    if let Some(da_prev) = da_prev {
        input_gradient(w, dz, da_prev);
    }
    Ok(())
}

/// (12) dW = (1/m_div) dZ·A_prevᵀ and, when `db` is given, (13) db = (1/m_div) Σ_i dz^(i),
/// for any block of dW: rows (neurons) of dZ and columns (inputs) of A_prevᵀ. Each element is
/// its own sum over the examples, so a block gets the bits of the whole. Shapes already
/// checked.
pub(crate) fn param_gradients<F: Float>(
    m_div: usize,
    a_prev: ArrayView2<F>,
    dz: ArrayView2<F>,
    dw: ArrayViewMut2<F>,
    db: Option<ArrayViewMut2<F>>,
) {
    let inv_m = F::one() / F::c(m_div as f64);
    gemm(inv_m, dz, a_prev.t(), F::zero(), dw);
    // one contiguous row of dZ at a time
    if let Some(mut db) = db {
        Zip::from(db.column_mut(0))
            .and(dz.rows())
            .for_each(|db, row| *db = row.sum() * inv_m);
    }
}

/// (14) dA_prev = Wᵀ·dZ, for any block of columns (examples) of dZ and dA_prev. Shapes
/// already checked.
pub(crate) fn input_gradient<F: Float>(
    w: ArrayView2<F>,
    dz: ArrayView2<F>,
    da_prev: ArrayViewMut2<F>,
) {
    gemm(F::one(), w.t(), dz, F::zero(), da_prev);
}

/// `Dense`'s spec: `{"type": "dense", "units": 64, "activation": "relu", "l2": 0.0}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DenseConfig {
    /// n^[l], the number of neurons.
    pub units: usize,
    /// g^[l].
    pub activation: Activation,
    /// λ of the L2 penalty (λ/2)·‖W‖².
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l2: f64,
    /// Whether the layer has b^[l]; without it, (9) is Z = W·A_prev (Keras' `use_bias`).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub use_bias: bool,
    /// Whether the optimizer updates the layer's parameters (Keras' `trainable`); a frozen
    /// layer still passes gradients back to the layers before it.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub trainable: bool,
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn yes() -> bool {
    true
}

fn is_true(v: &bool) -> bool {
    *v
}

impl LayerConfig for DenseConfig {
    fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
        let DenseConfig {
            units,
            l2,
            use_bias,
            ..
        } = *self;
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(CoreError::Value(format!(
                "l2: expected a finite number >= 0, got {l2}"
            )));
        }
        check_extent("units", units)?;
        let n_prev = match input_shape {
            [n] => *n,
            other => {
                return Err(CoreError::Shape(format!(
                    "a dense layer takes a vector per example, i.e. input shape (n_prev, m); \
                     got input shape {other:?} per example: put a Flatten() before it"
                )))
            }
        };
        check_extent("the number of inputs", n_prev)?;
        elements("W", &[units, n_prev], MAX_TENSOR_ELEMENTS)?;
        let mut params = vec![("W".to_string(), vec![units, n_prev])];
        if use_bias {
            params.push(("b".to_string(), vec![units, 1]));
        }
        Ok(LayerPlan {
            output_shape: vec![units],
            params,
        })
    }

    fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
        let mut dense = Dense::with_l2(input_shape[0], self.units, self.activation, self.l2)?;
        dense.use_bias = self.use_bias;
        dense.trainable = self.trainable;
        Ok(Box::new(dense))
    }

    fn output_activation(&self) -> Option<Activation> {
        Some(self.activation)
    }
}

/// A dense layer: `n` neurons, each connected to every one of the `n_prev` inputs.
#[derive(Clone, Debug)]
pub struct Dense<F: Float> {
    activation: Activation,
    /// λ of the L2 penalty (λ/2)·‖W‖² added to J; 0 for none.
    l2: f64,
    /// Without a bias, b stays 0 and is not a parameter (not stored, not updated).
    use_bias: bool,
    /// Whether the optimizer updates W and b.
    trainable: bool,
    input_shape: [usize; 1],
    output_shape: [usize; 1],
    /// W^[l], (n, n_prev).
    w: Array2<F>,
    /// b^[l], (n, 1).
    b: Array2<F>,
    dw: Array2<F>,
    db: Array2<F>,
    z: Workspace<F>,
    a: Workspace<F>,
    dz: Workspace<F>,
    da_prev: Workspace<F>,
}

impl<F: Float> Dense<F> {
    /// A layer of `units` neurons over `n_prev` inputs, with zero parameters (see
    /// [`Layer::initialize`]).
    pub fn new(n_prev: usize, units: usize, activation: Activation) -> Result<Self> {
        Self::with_l2(n_prev, units, activation, 0.0)
    }

    /// Like [`Dense::new`], with an L2 penalty (λ/2)·‖W‖² on the weights: the cost J gains
    /// that term and (12) becomes dW = (1/m) dZ·A_prevᵀ + λ W.
    pub fn with_l2(n_prev: usize, units: usize, activation: Activation, l2: f64) -> Result<Self> {
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(CoreError::Value(format!(
                "Dense: l2 must be a finite number >= 0, got {l2}"
            )));
        }
        if units == 0 {
            return Err(CoreError::Value(
                "Dense: units must be a positive integer, got 0".into(),
            ));
        }
        if n_prev == 0 {
            return Err(CoreError::Value(
                "Dense: the number of inputs must be positive, got 0".into(),
            ));
        }
        Ok(Dense {
            activation,
            l2,
            use_bias: true,
            trainable: true,
            input_shape: [n_prev],
            output_shape: [units],
            w: Array2::zeros((units, n_prev)),
            b: Array2::zeros((units, 1)),
            dw: Array2::zeros((units, n_prev)),
            db: Array2::zeros((units, 1)),
            z: Workspace::default(),
            a: Workspace::default(),
            dz: Workspace::default(),
            da_prev: Workspace::default(),
        })
    }

    /// Sizes the workspaces for a batch of `m` examples, as [`Layer::forward`] and
    /// [`Layer::backward`] would, and lends every array as a raw pointer, for the
    /// data-parallel step ([`crate::data_parallel`]), whose threads write disjoint blocks of
    /// them. dZ is sized when `need_dz` (not for an output layer paired with its loss), dA^[l-1]
    /// when `need_da_prev` (not for the first layer).
    pub(crate) fn parts(
        &mut self,
        m: usize,
        need_dz: bool,
        need_da_prev: bool,
    ) -> Result<DenseParts<F>> {
        let (n, n_prev) = self.w.dim();
        self.z.resize(&[n, m])?;
        self.a.resize(&[n, m])?;
        if need_dz {
            self.dz.resize(&[n, m])?;
        }
        if need_da_prev {
            self.da_prev.resize(&[n_prev, m])?;
        }
        // every array is C-ordered: W, b and the gradients are made by `zeros` and only
        // assigned to; workspaces are C-ordered views of their buffers
        let ptr = |ws: &mut Workspace<F>, wanted: bool| {
            if wanted {
                ws.view_mut().as_mut_ptr()
            } else {
                std::ptr::null_mut()
            }
        };
        Ok(DenseParts {
            n,
            n_prev,
            activation: self.activation,
            l2: self.l2,
            use_bias: self.use_bias,
            trainable: self.trainable,
            w: self.w.as_mut_ptr(),
            b: self.b.as_mut_ptr(),
            dw: self.dw.as_mut_ptr(),
            db: self.db.as_mut_ptr(),
            z: ptr(&mut self.z, true),
            a: ptr(&mut self.a, true),
            dz: ptr(&mut self.dz, need_dz),
            da_prev: ptr(&mut self.da_prev, need_da_prev),
        })
    }

    /// λ of the L2 penalty.
    pub fn l2(&self) -> f64 {
        self.l2
    }

    /// W^[l], (n^[l], n^[l-1]).
    pub fn w(&self) -> ArrayView2<'_, F> {
        self.w.view()
    }

    /// b^[l], (n^[l], 1).
    pub fn b(&self) -> ArrayView2<'_, F> {
        self.b.view()
    }
}

/// A dense layer's arrays for one step of the data-parallel training step (see
/// [`Dense::parts`]): its sizes and settings, and raw pointers to W (n, n_prev), b (n, 1),
/// dW, db and the workspaces Z, A, dZ (n, m) and dA^[l-1] (n_prev, m), all C-ordered (null
/// where not sized). Valid until the layer is next borrowed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DenseParts<F> {
    pub n: usize,
    pub n_prev: usize,
    pub activation: Activation,
    pub l2: f64,
    pub use_bias: bool,
    pub trainable: bool,
    pub w: *mut F,
    pub b: *mut F,
    pub dw: *mut F,
    pub db: *mut F,
    pub z: *mut F,
    pub a: *mut F,
    pub dz: *mut F,
    pub da_prev: *mut F,
}

fn as_2d<'a, F: Float>(what: &str, x: ArrayViewD<'a, F>) -> Result<ArrayView2<'a, F>> {
    // the shape is copied only for the message: this runs in every step, which allocates
    // nothing outside its products
    if x.ndim() != 2 {
        return Err(CoreError::Shape(format!(
            "{what}: a dense layer expects a 2-D (features, m) array, got shape {:?}",
            x.shape()
        )));
    }
    Ok(x.into_dimensionality::<Ix2>().expect("2-D, checked above"))
}

fn as_2d_mut<'a, F: Float>(x: ArrayViewMutD<'a, F>) -> ArrayViewMut2<'a, F> {
    x.into_dimensionality::<Ix2>()
        .expect("dense workspaces are 2-D by construction")
}

impl<F: Float> Layer<F> for Dense<F> {
    fn kind(&self) -> &'static str {
        "dense"
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    fn param_names(&self) -> Vec<&str> {
        if self.use_bias {
            vec!["W", "b"]
        } else {
            vec!["W"]
        }
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        let mut params = vec![self.w.view().into_dyn()];
        if self.use_bias {
            params.push(self.b.view().into_dyn());
        }
        params
    }

    fn trainable(&self) -> bool {
        self.trainable
    }

    fn set_param(&mut self, index: usize, value: ArrayViewD<F>) -> Result<()> {
        let (name, target) = match index {
            0 => ("W", &mut self.w),
            1 if self.use_bias => ("b", &mut self.b),
            _ => {
                return Err(CoreError::Value(format!(
                    "dense layer has parameters {}, got index {index}",
                    if self.use_bias {
                        "0 (W) and 1 (b)"
                    } else {
                        "0 (W) only (use_bias=False)"
                    }
                )))
            }
        };
        expect_shape(name, target.shape(), value.shape())?;
        target.assign(&as_2d(name, value)?);
        Ok(())
    }

    fn grads(&self) -> Vec<ArrayViewD<'_, F>> {
        let mut grads = vec![self.dw.view().into_dyn()];
        if self.use_bias {
            grads.push(self.db.view().into_dyn());
        }
        grads
    }

    /// He normal (σ = √(2/n_prev)) for relu and leaky_relu, Glorot uniform
    /// (limit √(6/(n_prev + n))) otherwise; b = 0. Values are drawn in f64 and rounded, so a
    /// float32 and a float64 model from the same seed start from the same numbers.
    fn initialize(&mut self, rng: &mut ChaCha8Rng) {
        let (n, n_prev) = self.w.dim();
        if self.activation.is_relu_like() {
            let normal = Normal::new(0.0, (2.0 / n_prev as f64).sqrt())
                .expect("standard deviation is positive and finite");
            self.w
                .iter_mut()
                .for_each(|w| *w = F::c(normal.sample(rng)));
        } else {
            let limit = (6.0 / (n_prev + n) as f64).sqrt();
            let uniform =
                Uniform::new_inclusive(-limit, limit).expect("limit is positive and finite");
            self.w
                .iter_mut()
                .for_each(|w| *w = F::c(uniform.sample(rng)));
        }
        self.b.fill(F::zero());
    }

    fn forward(&mut self, a_prev: ArrayViewD<F>, _training: bool) -> Result<()> {
        let a_prev = as_2d("A_prev", a_prev)?;
        let n = self.output_shape[0];
        let m = a_prev.ncols();
        self.z.resize(&[n, m])?;
        self.a.resize(&[n, m])?;
        forward(
            self.w.view(),
            self.b.view(),
            a_prev,
            self.activation,
            as_2d_mut(self.z.view_mut()),
            as_2d_mut(self.a.view_mut()),
        )
    }

    fn output<'a>(&'a self, _a_prev: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.a.view()
    }

    fn as_dense(&mut self) -> Option<&mut Dense<F>> {
        Some(self)
    }

    fn output_activation(&self) -> Option<Activation> {
        Some(self.activation)
    }

    fn z(&self) -> Option<ArrayViewD<'_, F>> {
        Some(self.z.view())
    }

    fn backward(
        &mut self,
        a_prev: ArrayViewD<F>,
        upstream: Upstream<'_, F>,
        need_da_prev: bool,
    ) -> Result<()> {
        let a_prev = as_2d("A_prev", a_prev)?;
        let (n, n_prev) = self.w.dim();
        let m = a_prev.ncols();
        let dz = match upstream {
            Upstream::DZ(dz) => as_2d("dZ", dz)?,
            Upstream::DA(da) => {
                let da = as_2d("dA", da)?;
                expect_shape("dA", &[n, m], da.shape())?;
                expect_shape("Z", &[n, m], self.z.view().shape())?;
                self.dz.resize(&[n, m])?;
                // (11) dZ = dA * g′(Z)
                let z = as_2d("Z", self.z.view())?;
                let a = as_2d("A", self.a.view())?;
                self.activation
                    .backward(da, z, a, as_2d_mut(self.dz.view_mut()));
                as_2d("dZ", self.dz.view())?
            }
        };
        let da_prev = if need_da_prev {
            self.da_prev.resize(&[n_prev, m])?;
            Some(as_2d_mut(self.da_prev.view_mut()))
        } else {
            None
        };
        backward_from_dz(
            self.w.view(),
            a_prev,
            dz,
            self.dw.view_mut(),
            self.db.view_mut(),
            da_prev,
        )?;
        l2::add_gradient(self.l2, self.dw.view_mut(), self.w.view());
        Ok(())
    }

    fn penalty(&self) -> f64 {
        l2::penalty(self.l2, &self.w)
    }

    fn input_grad<'a>(&'a self, _upstream: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.da_prev.view()
    }

    fn for_each_param_grad(&mut self, f: &mut dyn FnMut(ArrayViewMutD<'_, F>, ArrayViewD<'_, F>)) {
        f(self.w.view_mut().into_dyn(), self.dw.view().into_dyn());
        if self.use_bias {
            f(self.b.view_mut().into_dyn(), self.db.view().into_dyn());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::array;

    #[test]
    fn forward_hand_worked() {
        // 2 inputs, 2 neurons, 2 examples (columns)
        let w = array![[1.0, -1.0], [0.5, 2.0]];
        let b = array![[0.5], [-1.0]];
        let x = array![[1.0, 2.0], [3.0, -1.0]];
        let mut z = Array2::zeros((2, 2));
        let mut a = Array2::zeros((2, 2));
        forward(
            w.view(),
            b.view(),
            x.view(),
            Activation::Relu,
            z.view_mut(),
            a.view_mut(),
        )
        .unwrap();
        // Z = W X + b = [[1-3, 2+1], [0.5+6, 1-2]] + b
        assert_eq!(z, array![[-1.5, 3.5], [5.5, -2.0]]);
        assert_eq!(a, array![[0.0, 3.5], [5.5, 0.0]]);
    }

    #[test]
    fn backward_hand_worked() {
        let w = array![[1.0, -1.0], [0.5, 2.0]];
        let x = array![[1.0, 2.0], [3.0, -1.0]];
        let dz = array![[1.0, -2.0], [0.5, 1.0]];
        let mut dw = Array2::zeros((2, 2));
        let mut db = Array2::zeros((2, 1));
        let mut da_prev = Array2::zeros((2, 2));
        backward_from_dz(
            w.view(),
            x.view(),
            dz.view(),
            dw.view_mut(),
            db.view_mut(),
            Some(da_prev.view_mut()),
        )
        .unwrap();
        // (12) dW = dZ Xᵀ / 2
        assert_abs_diff_eq!(
            dw,
            array![
                [(1.0 - 4.0) / 2.0, (3.0 + 2.0) / 2.0],
                [(0.5 + 2.0) / 2.0, (1.5 - 1.0) / 2.0]
            ],
            epsilon = 1e-15
        );
        // (13) db = row sums / 2
        assert_abs_diff_eq!(db, array![[-0.5], [0.75]], epsilon = 1e-15);
        // (14) dA_prev = Wᵀ dZ
        assert_abs_diff_eq!(
            da_prev,
            array![[1.0 + 0.25, -2.0 + 0.5], [-1.0 + 1.0, 2.0 + 2.0]],
            epsilon = 1e-15
        );
    }

    #[test]
    fn vectorized_gradients_equal_the_per_example_sums() {
        // (12)-(13) vs (5)-(6): accumulate per example and divide by m.
        let mut layer = Dense::<f64>::new(3, 2, Activation::Tanh).unwrap();
        layer
            .set_param(
                0,
                array![[0.1, -0.3, 0.2], [0.4, 0.05, -0.6]]
                    .into_dyn()
                    .view(),
            )
            .unwrap();
        layer
            .set_param(1, array![[0.1], [-0.2]].into_dyn().view())
            .unwrap();
        let x = array![
            [1.0, -0.5, 0.3, 2.0],
            [0.2, 0.1, -1.0, 0.0],
            [0.7, 0.4, 0.9, -0.3]
        ];
        let da = array![[0.3, -1.0, 0.5, 0.2], [1.1, 0.4, -0.6, 0.9]];
        layer.forward(x.view().into_dyn(), true).unwrap();
        layer
            .backward(
                x.view().into_dyn(),
                Upstream::DA(da.view().into_dyn()),
                true,
            )
            .unwrap();
        let mut dw = Array2::<f64>::zeros((2, 3));
        let mut db = Array2::<f64>::zeros((2, 1));
        for i in 0..4 {
            let xi = x.column(i);
            let zi = layer.w.dot(&xi) + layer.b.column(0);
            let dzi = &da.column(i) * &zi.mapv(|z| 1.0 - z.tanh().powi(2)); // (4)
            for r in 0..2 {
                db[[r, 0]] += dzi[r]; // (6)
                for c in 0..3 {
                    dw[[r, c]] += dzi[r] * xi[c]; // (5)
                }
            }
        }
        assert_abs_diff_eq!(layer.dw, dw / 4.0, epsilon = 1e-14);
        assert_abs_diff_eq!(layer.db, db / 4.0, epsilon = 1e-14);
    }

    #[test]
    fn wrong_shapes_are_errors_not_panics() {
        let mut layer = Dense::<f32>::new(3, 2, Activation::Relu).unwrap();
        let x = Array2::<f32>::zeros((4, 5));
        let err = layer.forward(x.view().into_dyn(), true).unwrap_err();
        assert!(matches!(err, CoreError::Shape(_)), "{err}");
        assert!(err.to_string().contains("[3, 5]"), "{err}");
        assert!(layer
            .set_param(0, Array2::<f32>::zeros((3, 2)).view().into_dyn())
            .is_err());
        assert!(Dense::<f32>::new(3, 0, Activation::Relu).is_err());
    }

    #[test]
    fn workspaces_shrink_and_grow_with_the_batch() {
        let mut layer = Dense::<f64>::new(2, 3, Activation::Linear).unwrap();
        for m in [5, 2, 7] {
            let x = Array2::<f64>::ones((2, m));
            layer.forward(x.view().into_dyn(), true).unwrap();
            assert_eq!(layer.output(x.view().into_dyn()).shape(), &[3, m]);
        }
    }

    fn two_layers(first: DenseConfig) -> crate::network::Network<f64> {
        use crate::layers::LayerSpec;
        crate::network::Network::new(
            &[2],
            &[
                LayerSpec::Dense(first),
                LayerSpec::Dense(DenseConfig {
                    units: 1,
                    activation: Activation::Sigmoid,
                    l2: 0.0,
                    use_bias: true,
                    trainable: true,
                }),
            ],
            crate::loss::Loss::BinaryCrossentropy,
            3,
        )
        .unwrap()
    }

    fn hidden(use_bias: bool, trainable: bool) -> DenseConfig {
        DenseConfig {
            units: 3,
            activation: Activation::Tanh,
            l2: 0.0,
            use_bias,
            trainable,
        }
    }

    #[test]
    fn without_bias_z_is_w_a_and_b_is_no_parameter() {
        let mut net = two_layers(hidden(false, true));
        let layer = &net.layers()[0];
        assert_eq!(layer.param_names(), ["W"]);
        assert_eq!(layer.params().len(), 1);
        assert_eq!(net.param_shapes()[0], vec![3, 2]);
        assert!(net.layers_mut()[0]
            .set_param(1, Array2::<f64>::zeros((3, 1)).view().into_dyn())
            .is_err());
        let x = array![[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]].into_dyn();
        let y = array![[1.0, 0.0, 1.0]];
        net.forward(x.view()).unwrap();
        let w = net.layers()[0].params()[0].to_owned();
        let w = w.into_dimensionality::<ndarray::Ix2>().unwrap();
        let z = net.layers()[0].z().unwrap().to_owned();
        let x2 = x.view().into_dimensionality::<ndarray::Ix2>().unwrap();
        assert_abs_diff_eq!(z, w.dot(&x2).into_dyn(), epsilon = 1e-15);
        // training updates W only, and gradients have one entry
        net.gradients(x.view(), y.view()).unwrap();
        assert_eq!(net.layers()[0].grads().len(), 1);
        // the spec round-trips, and a default layer's spec does not name the new fields
        let json = serde_json::to_string(&hidden(false, true)).unwrap();
        assert!(json.contains("\"use_bias\":false") && !json.contains("trainable"));
        let back: DenseConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, hidden(false, true));
        assert!(!serde_json::to_string(&hidden(true, true))
            .unwrap()
            .contains("use_bias"));
    }

    #[test]
    fn a_frozen_layer_keeps_its_parameters_while_the_rest_trains() {
        use crate::network::FitOptions;
        let mut net = two_layers(hidden(true, false));
        net.set_optimizer(crate::optimizers::Optimizer::sgd(0.5).unwrap());
        let before: Vec<_> = net
            .layers()
            .iter()
            .map(|l| l.params()[0].to_owned())
            .collect();
        let x = array![[0.0, 0.0, 1.0, 1.0], [0.0, 1.0, 0.0, 1.0]].into_dyn();
        let y = array![[0.0, 1.0, 1.0, 0.0]];
        let options = FitOptions {
            epochs: 20,
            batch_size: 4,
            shuffle: false,
            target_cost: None,
            tol: None,
            previous_cost: None,
            patience: None,
        };
        net.fit(x.view(), y.view(), &options, &mut || false)
            .unwrap();
        assert!(!net.layers()[0].trainable() && net.layers()[1].trainable());
        assert_eq!(net.layers()[0].params()[0], before[0]);
        assert_ne!(net.layers()[1].params()[0], before[1]);
        // its gradients are still computed, and the optimizer keeps a slot per parameter
        assert!(net.layers()[0].grads()[0].iter().any(|&g| g != 0.0));
        assert_eq!(net.optimizer().state().len(), 4);
    }
}
