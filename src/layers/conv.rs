//! Convolution layers, conv1d and conv2d: forward (9)–(10) and backward (11)–(14), with the
//! product W·A^[l-1] read as a cross-correlation (Keras' and PyTorch's convention: the kernel is
//! not flipped).
//!
//! One implementation serves both: a 1-D input `(channels, length, m)` is a 2-D one of height
//! 1, `(channels, 1, length, m)`, and a 1-D kernel `(filters, channels, k)` is
//! `(filters, channels, 1, k)` (tinygrad's Conv1d). Examples are the last axis, as everywhere in
//! deepnet, and the products are im2col matrix products on [`crate::matmul::gemm`]: for a block
//! of output positions, the matrix `cols` has one row per weight of a filter, (c, kh, kw), and
//! one column per (h_out, w_out, i), so that
//!
//! - (9) Z = W·cols, with W viewed as (filters, C·kh·kw), lands directly in Z's
//!   `(filters, H_out, W_out, m)` C-order layout, and each copy into `cols` is the m contiguous
//!   values of one input position;
//! - (12) dW = (1/m) dZ·colsᵀ;
//! - (14) dA^[l-1] = col2im(Wᵀ·dZ): each column of Wᵀ·dZ is added back onto the input
//!   position it was copied from.
//!
//! `cols` is built for blocks of output positions of at most [`COLS_BLOCK_ELEMENTS`] elements
//! (one position at least), so its memory is bounded whatever the batch; backward builds it
//! again rather than keeping it from forward. Threads split the products' outputs, the copies
//! and the scatter per channel, never a sum, so results are bit-identical whatever the thread
//! count.

mod config;
mod geometry;
mod kernels;

pub use config::{Conv1DConfig, Conv2DConfig, ConvConfig, Size2, SpatialSize};
pub use geometry::{ConvGeometry, Padding};
pub use kernels::{conv_backward, conv_forward, Im2Col, COLS_BLOCK_ELEMENTS};

use ndarray::{
    Array2, ArrayBase, ArrayD, ArrayView2, ArrayViewD, ArrayViewMut2, ArrayViewMutD, Axis, Ix3,
    Ix4, IxDyn, RawData,
};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal, Uniform};

use crate::activation::Activation;
use crate::error::{expect_shape, CoreError, Result};
use crate::layer::{Layer, Upstream, Workspace};
use crate::layers::l2;
use crate::layers::LayerConfig;
use crate::limits::{try_zeros, zeros2};
use crate::scalar::Float;

/// A convolution layer (conv1d or conv2d): `filters` filters of (channels, kernel) weights,
/// each slid over the input; its output has one channel per filter.
#[derive(Clone, Debug)]
pub struct Conv<F: Float> {
    kind: &'static str,
    activation: Activation,
    /// λ of the L2 penalty (λ/2)·‖W‖² added to J; 0 for none.
    l2: f64,
    geometry: ConvGeometry,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    /// W^[l] in its parameter shape: (filters, channels, k) or (filters, channels, kh, kw).
    w: ArrayD<F>,
    /// b^[l], (filters, 1).
    b: Array2<F>,
    dw: ArrayD<F>,
    db: Array2<F>,
    z: Workspace<F>,
    a: Workspace<F>,
    dz: Workspace<F>,
    /// A C-ordered copy of an upstream gradient that was not C-ordered (rarely used).
    upstream: Workspace<F>,
    da_prev: Workspace<F>,
    cols: Im2Col<F>,
}

impl<F: Float> Conv<F> {
    /// The layer `config` describes, over inputs of shape `input_shape` (one example's:
    /// (channels, length) or (channels, height, width)), with zero parameters (see
    /// [`Layer::initialize`]). The configuration is checked before anything is allocated.
    pub fn new<S: SpatialSize>(config: &ConvConfig<S>, input_shape: &[usize]) -> Result<Self> {
        let plan = config.plan(input_shape)?;
        let (_, geometry) = config.geometry(input_shape)?;
        let w_shape = &plan.params[0].1;
        Ok(Conv {
            kind: S::KIND,
            activation: config.activation,
            l2: config.l2,
            geometry,
            input_shape: input_shape.to_vec(),
            output_shape: plan.output_shape,
            w: try_zeros("W", w_shape)?,
            b: zeros2("b", (config.filters, 1))?,
            dw: try_zeros("dW", w_shape)?,
            db: zeros2("db", (config.filters, 1))?,
            z: Workspace::default(),
            a: Workspace::default(),
            dz: Workspace::default(),
            upstream: Workspace::default(),
            da_prev: Workspace::default(),
            cols: Im2Col::new(),
        })
    }

    /// The layer's geometry (a 1-D layer's has height 1).
    pub fn geometry(&self) -> &ConvGeometry {
        &self.geometry
    }

    /// g^[l].
    pub fn activation(&self) -> Activation {
        self.activation
    }

    /// λ of the L2 penalty.
    pub fn l2(&self) -> f64 {
        self.l2
    }

    /// W^[l], (filters, channels, k) or (filters, channels, kh, kw).
    pub fn w(&self) -> ArrayViewD<'_, F> {
        self.w.view()
    }

    /// b^[l], (filters, 1).
    pub fn b(&self) -> ArrayView2<'_, F> {
        self.b.view()
    }

    /// Checks that `x` is a batch of this layer's inputs and returns its m.
    fn batch(&self, what: &str, x: &[usize]) -> Result<usize> {
        let m = if x.len() == self.input_shape.len() + 1 {
            x[x.len() - 1]
        } else {
            0
        };
        expect_shape(what, &with_m(&self.input_shape, m), x)?;
        Ok(m)
    }
}

/// `shape` with the example axis m appended, without allocating.
fn with_m(shape: &[usize], m: usize) -> ArrayVec4 {
    let mut out = ArrayVec4([0; 4], shape.len() + 1);
    out.0[..shape.len()].copy_from_slice(shape);
    out.0[shape.len()] = m;
    out
}

/// A shape of at most 4 axes.
struct ArrayVec4([usize; 4], usize);

impl std::ops::Deref for ArrayVec4 {
    type Target = [usize];
    fn deref(&self) -> &[usize] {
        &self.0[..self.1]
    }
}

/// A 1-D layer's 3-D array as the 4-D one of height 1 the kernels take (a height axis inserted
/// at `height_axis`); a 2-D layer's arrays are already 4-D.
fn as_4d<T: RawData>(x: ArrayBase<T, IxDyn>, height_axis: usize) -> ArrayBase<T, Ix4> {
    if x.ndim() == 3 {
        x.into_dimensionality::<Ix3>()
            .expect("3-D")
            .insert_axis(Axis(height_axis))
    } else {
        x.into_dimensionality::<Ix4>()
            .expect("a convolution's arrays are 3-D or 4-D, checked before")
    }
}

/// A C-ordered (n, …) array as the (n, rest) matrix an activation works on.
fn rows_of<F: Float>(x: ArrayViewD<'_, F>) -> ArrayView2<'_, F> {
    let shape = (x.shape()[0], x.shape()[1..].iter().product::<usize>());
    x.into_shape_with_order(shape).expect("C-ordered")
}

fn rows_of_mut<F: Float>(x: ArrayViewMutD<'_, F>) -> ArrayViewMut2<'_, F> {
    let shape = (x.shape()[0], x.shape()[1..].iter().product::<usize>());
    x.into_shape_with_order(shape).expect("C-ordered")
}

/// `x` if it is C-ordered, else a C-ordered copy of it in `spare`.
fn c_ordered<'a, F: Float>(
    x: ArrayViewD<'a, F>,
    spare: &'a mut Workspace<F>,
) -> Result<ArrayViewD<'a, F>> {
    if x.is_standard_layout() {
        return Ok(x);
    }
    spare.resize(x.shape())?;
    spare.view_mut().assign(&x);
    let spare: &'a Workspace<F> = spare;
    Ok(spare.view())
}

impl<F: Float> Layer<F> for Conv<F> {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    fn param_names(&self) -> Vec<&str> {
        vec!["W", "b"]
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        vec![self.w.view(), self.b.view().into_dyn()]
    }

    fn set_param(&mut self, index: usize, value: ArrayViewD<F>) -> Result<()> {
        let (name, mut target) = match index {
            0 => ("W", self.w.view_mut()),
            1 => ("b", self.b.view_mut().into_dyn()),
            _ => {
                return Err(CoreError::Value(format!(
                    "{} layer has parameters 0 (W) and 1 (b), got index {index}",
                    self.kind
                )))
            }
        };
        expect_shape(name, target.shape(), value.shape())?;
        target.assign(&value);
        Ok(())
    }

    fn grads(&self) -> Vec<ArrayViewD<'_, F>> {
        vec![self.dw.view(), self.db.view().into_dyn()]
    }

    /// As [`crate::Dense`]'s, with fan_in = channels·kh·kw and fan_out = filters·kh·kw: He
    /// normal (σ = √(2/fan_in)) for relu and leaky_relu, Glorot uniform
    /// (limit √(6/(fan_in + fan_out))) otherwise; b = 0. Drawn in f64 and rounded.
    fn initialize(&mut self, rng: &mut ChaCha8Rng) {
        let shape = self.w.shape();
        let kernel: usize = shape[2..].iter().product::<usize>();
        let (fan_in, fan_out) = (shape[1] * kernel, shape[0] * kernel);
        if self.activation.is_relu_like() {
            let normal = Normal::new(0.0, (2.0 / fan_in as f64).sqrt())
                .expect("standard deviation is positive and finite");
            self.w
                .iter_mut()
                .for_each(|w| *w = F::c(normal.sample(rng)));
        } else {
            let limit = (6.0 / (fan_in + fan_out) as f64).sqrt();
            let uniform =
                Uniform::new_inclusive(-limit, limit).expect("limit is positive and finite");
            self.w
                .iter_mut()
                .for_each(|w| *w = F::c(uniform.sample(rng)));
        }
        self.b.fill(F::zero());
    }

    fn forward(&mut self, a_prev: ArrayViewD<F>, _training: bool) -> Result<()> {
        let m = self.batch("A_prev", a_prev.shape())?;
        let out = with_m(&self.output_shape, m);
        self.z.resize(&out)?;
        self.a.resize(&out)?;
        conv_forward(
            as_4d(self.w.view(), 2),
            self.b.view(),
            as_4d(a_prev, 1),
            &self.geometry,
            self.activation,
            as_4d(self.z.view_mut(), 1),
            as_4d(self.a.view_mut(), 1),
            &mut self.cols,
        )
    }

    fn output<'a>(&'a self, _a_prev: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.a.view()
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
        let m = self.batch("A_prev", a_prev.shape())?;
        let out = with_m(&self.output_shape, m);
        let dz = match upstream {
            Upstream::DZ(dz) => {
                expect_shape("dZ", &out, dz.shape())?;
                c_ordered(dz, &mut self.upstream)?
            }
            Upstream::DA(da) => {
                expect_shape("dA", &out, da.shape())?;
                expect_shape("Z", &out, self.z.view().shape())?;
                let da = c_ordered(da, &mut self.upstream)?;
                self.dz.resize(&out)?;
                // (11) dZ = dA ⊙ g′(Z), on the (filters, H_out·W_out·m) matrices
                self.activation.backward(
                    rows_of(da),
                    rows_of(self.z.view()),
                    rows_of(self.a.view()),
                    rows_of_mut(self.dz.view_mut()),
                );
                self.dz.view()
            }
        };
        let da_prev = if need_da_prev {
            self.da_prev.resize(&with_m(&self.input_shape, m))?;
            Some(as_4d(self.da_prev.view_mut(), 1))
        } else {
            None
        };
        conv_backward(
            as_4d(self.w.view(), 2),
            as_4d(a_prev, 1),
            as_4d(dz, 1),
            &self.geometry,
            as_4d(self.dw.view_mut(), 2),
            self.db.view_mut(),
            da_prev,
            &mut self.cols,
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
        f(self.w.view_mut(), self.dw.view());
        f(self.b.view_mut().into_dyn(), self.db.view().into_dyn());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::LayerSpec;
    use crate::matmul::{configured_threads, set_num_threads};
    use ndarray::{Array4, ShapeBuilder};
    use rand::SeedableRng;

    fn random(shape: &[usize], seed: u64) -> ArrayD<f64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let uniform = Uniform::new(-1.0, 1.0).unwrap();
        ArrayD::from_shape_simple_fn(IxDyn(shape), || uniform.sample(&mut rng))
    }

    fn parse(json: &str) -> Result<LayerSpec> {
        LayerSpec::list_from_json(&format!("[{json}]")).map(|mut specs| specs.remove(0))
    }

    /// The layer of `json` over `input`, with its activation and l2 replaced if given, and
    /// random parameters.
    fn layer<F: Float>(json: &str, input: &[usize], activation: Option<Activation>) -> Conv<F> {
        let mut layer = match parse(json).unwrap() {
            LayerSpec::Conv1D(mut c) => {
                c.activation = activation.unwrap_or(c.activation);
                Conv::new(&c, input)
            }
            LayerSpec::Conv2D(mut c) => {
                c.activation = activation.unwrap_or(c.activation);
                Conv::new(&c, input)
            }
            other => panic!("not a convolution: {other:?}"),
        }
        .unwrap();
        let w = random(layer.w.shape(), 1).mapv(|v| F::c(0.5 * v));
        let b = random(layer.b.shape(), 2).mapv(F::c);
        layer.set_param(0, w.view()).unwrap();
        layer.set_param(1, b.view()).unwrap();
        layer
    }

    /// The convolution by its definition: loops over every output element and weight,
    /// reading zeros outside the input. Pads and output sizes come from the caller.
    fn naive(
        w: &ArrayD<f64>,
        b: &Array2<f64>,
        x: &ArrayD<f64>,
        strides: [usize; 2],
        dilation: [usize; 2],
        pad_before: [usize; 2],
        output: [usize; 2],
    ) -> ArrayD<f64> {
        let (w4, x4) = (as_4d(w.view(), 2), as_4d(x.view(), 1));
        let (filters, channels, kh, kw) = w4.dim();
        let (_, height, width, m) = x4.dim();
        let mut z = Array4::<f64>::zeros((filters, output[0], output[1], m));
        for ((f, ho, wo, i), z) in z.indexed_iter_mut() {
            *z = b[[f, 0]];
            for (c, ki, kj) in itertools(channels, kh, kw) {
                let h = (ho * strides[0] + ki * dilation[0]) as isize - pad_before[0] as isize;
                let w = (wo * strides[1] + kj * dilation[1]) as isize - pad_before[1] as isize;
                if (0..height as isize).contains(&h) && (0..width as isize).contains(&w) {
                    *z += w4[[f, c, ki, kj]] * x4[[c, h as usize, w as usize, i]];
                }
            }
        }
        if x.ndim() == 3 {
            z.index_axis_move(Axis(1), 0).into_dyn()
        } else {
            z.into_dyn()
        }
    }

    fn itertools(a: usize, b: usize, c: usize) -> impl Iterator<Item = (usize, usize, usize)> {
        (0..a).flat_map(move |i| (0..b).flat_map(move |j| (0..c).map(move |k| (i, j, k))))
    }

    /// A spec, its input, and by hand: one example's output shape, the zeros before and
    /// after along (height, width).
    struct Case {
        spec: &'static str,
        input: &'static [usize],
        output: &'static [usize],
        before: [usize; 2],
        after: [usize; 2],
    }

    const CASES: &[Case] = &[
        Case {
            spec: r#"{"type": "conv1d", "filters": 3, "kernel_size": 3}"#,
            input: &[2, 7],
            output: &[3, 5],
            before: [0, 0],
            after: [0, 0],
        },
        Case {
            spec: r#"{"type": "conv1d", "filters": 3, "kernel_size": 3, "strides": 2}"#,
            input: &[2, 7],
            output: &[3, 3],
            before: [0, 0],
            after: [0, 0],
        },
        Case {
            // ⌈7/2⌉ = 4 outputs: total padding 3·2 + 3 − 7 = 2
            spec: r#"{"type": "conv1d", "filters": 3, "kernel_size": 3, "strides": 2,
                      "padding": "same", "activation": "tanh"}"#,
            input: &[2, 7],
            output: &[3, 4],
            before: [0, 1],
            after: [0, 1],
        },
        Case {
            // total 6 + 4 − 7 = 3: the odd zero at the end
            spec: r#"{"type": "conv1d", "filters": 3, "kernel_size": 4, "padding": "same"}"#,
            input: &[2, 7],
            output: &[3, 7],
            before: [0, 1],
            after: [0, 2],
        },
        Case {
            // dilated span 5: total 7 + 5 − 8 = 4
            spec: r#"{"type": "conv1d", "filters": 3, "kernel_size": 3, "dilation_rate": 2,
                      "padding": "same", "activation": "relu"}"#,
            input: &[2, 8],
            output: &[3, 8],
            before: [0, 2],
            after: [0, 2],
        },
        Case {
            // padded 9, span 3: (9 − 3) / 2 + 1 = 4
            spec: r#"{"type": "conv1d", "filters": 3, "kernel_size": 2, "strides": 2,
                      "dilation_rate": 2, "padding": 1}"#,
            input: &[2, 7],
            output: &[3, 4],
            before: [0, 1],
            after: [0, 1],
        },
        Case {
            spec: r#"{"type": "conv1d", "filters": 3, "kernel_size": 3, "strides": 3,
                      "padding": "same"}"#,
            input: &[2, 7],
            output: &[3, 3],
            before: [0, 1],
            after: [0, 1],
        },
        Case {
            spec: r#"{"type": "conv1d", "filters": 1, "kernel_size": 1, "strides": 2,
                      "padding": "same"}"#,
            input: &[1, 7],
            output: &[1, 4],
            before: [0, 0],
            after: [0, 0],
        },
        Case {
            spec: r#"{"type": "conv2d", "filters": 2, "kernel_size": 3}"#,
            input: &[2, 5, 6],
            output: &[2, 3, 4],
            before: [0, 0],
            after: [0, 0],
        },
        Case {
            // height: ⌈5/2⌉ = 3, total 4 + 3 − 5 = 2; width: span 3, total 5 + 3 − 6 = 2
            spec: r#"{"type": "conv2d", "filters": 2, "kernel_size": [3, 2], "strides": [2, 1],
                      "dilation_rate": [1, 2], "padding": "same", "activation": "tanh"}"#,
            input: &[2, 5, 6],
            output: &[2, 3, 6],
            before: [1, 1],
            after: [1, 1],
        },
        Case {
            spec: r#"{"type": "conv2d", "filters": 2, "kernel_size": 2, "strides": 2,
                      "padding": [1, 2]}"#,
            input: &[2, 5, 6],
            output: &[2, 3, 5],
            before: [1, 2],
            after: [1, 2],
        },
        Case {
            // height: total 4 + 2 − 5 = 1; width: ⌈7/2⌉ = 4, total 6 + 4 − 7 = 3
            spec: r#"{"type": "conv2d", "filters": 2, "kernel_size": [2, 4], "strides": 2,
                      "padding": "same"}"#,
            input: &[2, 5, 7],
            output: &[2, 3, 4],
            before: [0, 1],
            after: [1, 2],
        },
        Case {
            spec: r#"{"type": "conv2d", "filters": 2, "kernel_size": 3, "strides": 2,
                      "dilation_rate": 2, "padding": 2}"#,
            input: &[2, 5, 6],
            output: &[2, 3, 3],
            before: [2, 2],
            after: [2, 2],
        },
        Case {
            spec: r#"{"type": "conv2d", "filters": 2, "kernel_size": 3, "padding": "same",
                      "activation": "relu"}"#,
            input: &[3, 4, 5],
            output: &[2, 4, 5],
            before: [1, 1],
            after: [1, 1],
        },
    ];

    fn with_batch(shape: &[usize], m: usize) -> Vec<usize> {
        [shape, &[m]].concat()
    }

    #[test]
    fn forward_equals_the_direct_loops() {
        for case in CASES {
            let mut layer = layer::<f64>(case.spec, case.input, None);
            let g = *layer.geometry();
            assert_eq!(layer.output_shape(), case.output, "{}", case.spec);
            assert_eq!((g.pad_before(), g.pad_after()), (case.before, case.after));
            if case.spec.contains("same") {
                for axis in 0..2 {
                    assert_eq!(
                        g.output()[axis],
                        g.input()[axis].div_ceil(g.strides()[axis])
                    );
                }
            }
            let x = random(&with_batch(case.input, 3), 3);
            let z = naive(
                &layer.w,
                &layer.b,
                &x,
                g.strides(),
                g.dilation(),
                case.before,
                g.output(),
            );
            let a = z.mapv(|z| match layer.activation {
                Activation::Tanh => z.tanh(),
                Activation::Relu => z.max(0.0),
                _ => z,
            });
            // whole blocks, then one output position per block
            for block_elements in [COLS_BLOCK_ELEMENTS, 1] {
                layer.cols = Im2Col::with_block_elements(block_elements);
                layer.forward(x.view(), false).unwrap();
                let close = |p: &ArrayViewD<f64>, q: &ArrayD<f64>| {
                    p.shape() == q.shape() && p.iter().zip(q).all(|(p, q)| (p - q).abs() < 1e-12)
                };
                assert!(close(&layer.z().unwrap(), &z), "{}", case.spec);
                assert!(close(&layer.output(x.view()), &a), "{}", case.spec);
            }
        }
    }

    /// J = Σ R ⊙ A, so that dA = R: (12)-(14) against central differences of J.
    fn check_gradients(case: &Case, activation: Activation, l2: f64, block_elements: usize) {
        let mut layer = layer::<f64>(case.spec, case.input, Some(activation));
        layer.l2 = l2;
        layer.cols = Im2Col::with_block_elements(block_elements);
        let m = 2;
        let x = random(&with_batch(case.input, m), 4);
        let r = random(&with_batch(case.output, m), 5);
        layer.forward(x.view(), true).unwrap();
        layer
            .backward(x.view(), Upstream::DA(r.view()), true)
            .unwrap();
        let (dw, db, da_prev) = (
            layer.dw.clone(),
            layer.db.clone(),
            layer.da_prev.view().to_owned(),
        );
        let j = |layer: &mut Conv<f64>, x: &ArrayD<f64>| {
            layer.forward(x.view(), false).unwrap();
            (&layer.output(x.view()) * &r).sum()
        };
        let eps = 1e-6;
        let close = |analytic: f64, numeric: f64, what: &str| {
            assert!(
                (analytic - numeric).abs() <= 1e-7 * (1.0 + numeric.abs()),
                "{}, {activation:?}, {what}: {analytic} vs {numeric}",
                case.spec
            );
        };
        let mut x_eps = x.clone();
        for k in 0..x.len() {
            let v = x.as_slice().unwrap()[k];
            x_eps.as_slice_mut().unwrap()[k] = v + eps;
            let plus = j(&mut layer, &x_eps);
            x_eps.as_slice_mut().unwrap()[k] = v - eps;
            let minus = j(&mut layer, &x_eps);
            x_eps.as_slice_mut().unwrap()[k] = v;
            // (14) dA_prev = ∂J/∂A_prev: no 1/m
            close(
                da_prev.as_slice().unwrap()[k],
                (plus - minus) / (2.0 * eps),
                "dA_prev",
            );
        }
        for k in 0..layer.w.len() {
            let v = layer.w.as_slice().unwrap()[k];
            layer.w.as_slice_mut().unwrap()[k] = v + eps;
            let plus = j(&mut layer, &x);
            layer.w.as_slice_mut().unwrap()[k] = v - eps;
            let minus = j(&mut layer, &x);
            layer.w.as_slice_mut().unwrap()[k] = v;
            // (12) dW = (1/m) ∂J/∂W, plus the penalty's λW
            let numeric = (plus - minus) / (2.0 * eps) / m as f64 + l2 * v;
            close(dw.as_slice().unwrap()[k], numeric, "dW");
        }
        for k in 0..layer.b.len() {
            let v = layer.b[[k, 0]];
            layer.b[[k, 0]] = v + eps;
            let plus = j(&mut layer, &x);
            layer.b[[k, 0]] = v - eps;
            let minus = j(&mut layer, &x);
            layer.b[[k, 0]] = v;
            // (13) db = (1/m) ∂J/∂b
            close(db[[k, 0]], (plus - minus) / (2.0 * eps) / m as f64, "db");
        }
    }

    #[test]
    fn gradients_equal_central_differences() {
        for case in CASES {
            for activation in [Activation::Linear, Activation::Tanh] {
                check_gradients(case, activation, 0.0, COLS_BLOCK_ELEMENTS);
            }
        }
        // blocks of one output position, and the L2 penalty's gradient
        check_gradients(&CASES[5], Activation::Tanh, 0.0, 1);
        check_gradients(&CASES[9], Activation::Tanh, 0.0, 1);
        check_gradients(&CASES[12], Activation::Linear, 0.3, 40);
    }

    #[test]
    fn penalty_is_half_lambda_times_the_squared_norm() {
        let mut layer = layer::<f64>(CASES[9].spec, CASES[9].input, None);
        layer.l2 = 0.1;
        let expected = 0.05 * layer.w.iter().map(|w| w * w).sum::<f64>();
        assert!((layer.penalty() - expected).abs() < 1e-15);
    }

    #[test]
    fn dz_and_da_upstreams_agree_whatever_the_memory_order() {
        let case = &CASES[9];
        let m = 3;
        let x = random(&with_batch(case.input, m), 6);
        let r = random(&with_batch(case.output, m), 7);
        let fortran = |c: &ArrayD<f64>| {
            let mut f = ArrayD::zeros(IxDyn(c.shape()).f());
            f.assign(c);
            f
        };
        let run = |x: &ArrayD<f64>, upstream: &dyn Fn(&Conv<f64>) -> ArrayD<f64>, dz: bool| {
            let mut layer = layer::<f64>(case.spec, case.input, None);
            layer.forward(x.view(), true).unwrap();
            let up = upstream(&layer);
            let upstream = if dz {
                Upstream::DZ(up.view())
            } else {
                Upstream::DA(up.view())
            };
            layer.backward(x.view(), upstream, true).unwrap();
            let a = layer.output(x.view()).to_owned();
            (
                a,
                layer.dw.clone(),
                layer.db.clone(),
                layer.da_prev.view().to_owned(),
            )
        };
        let da = |_: &Conv<f64>| r.clone();
        // (11) for tanh, written out: dZ = dA ⊙ (1 − A²)
        let dz = |l: &Conv<f64>| &r * &l.a.view().mapv(|a| 1.0 - a * a);
        let reference = run(&x, &da, false);
        assert_eq!(run(&fortran(&x), &da, false), reference);
        assert_eq!(run(&x, &|l| fortran(&da(l)), false), reference);
        assert_eq!(run(&x, &dz, true), reference);
        assert_eq!(run(&x, &|l| fortran(&dz(l)), true), reference);
    }

    #[test]
    fn results_do_not_depend_on_the_thread_count() {
        // large enough that the products split and the copies run on several threads
        let spec = r#"{"type": "conv2d", "filters": 32, "kernel_size": 3, "strides": [1, 2],
                       "padding": "same", "activation": "tanh"}"#;
        let input = [16, 18, 34];
        let x = random(&with_batch(&input, 16), 8).mapv(|v| v as f32);
        let run = |threads: usize| {
            set_num_threads(threads);
            let mut layer = layer::<f32>(spec, &input, None);
            layer.forward(x.view(), true).unwrap();
            let r = random(layer.a.view().shape(), 9).mapv(|v| v as f32);
            layer
                .backward(x.view(), Upstream::DA(r.view()), true)
                .unwrap();
            (
                layer.z.view().to_owned(),
                layer.a.view().to_owned(),
                layer.dw.clone(),
                layer.db.clone(),
                layer.da_prev.view().to_owned(),
            )
        };
        let before = configured_threads();
        let (one, two) = (run(1), run(2));
        set_num_threads(before);
        assert!(one == two, "thread count changed the bits");
    }

    #[test]
    fn workspaces_are_reused_for_smaller_batches() {
        let case = &CASES[9];
        let mut reused = layer::<f64>(case.spec, case.input, None);
        for (k, m) in [5, 2, 7, 1].into_iter().enumerate() {
            let x = random(&with_batch(case.input, m), 10 + k as u64);
            let r = random(&with_batch(case.output, m), 20 + k as u64);
            let mut fresh = layer::<f64>(case.spec, case.input, None);
            for layer in [&mut reused, &mut fresh] {
                layer.forward(x.view(), true).unwrap();
                layer
                    .backward(x.view(), Upstream::DA(r.view()), true)
                    .unwrap();
            }
            assert_eq!(reused.output(x.view()), fresh.output(x.view()));
            assert_eq!(
                reused.output(x.view()).shape(),
                &with_batch(case.output, m)[..]
            );
            assert_eq!(reused.dw, fresh.dw);
            assert_eq!(reused.db, fresh.db);
            assert_eq!(reused.input_grad(r.view()), fresh.input_grad(r.view()));
            assert_eq!(reused.input_grad(r.view()).shape(), x.shape());
        }
    }

    #[test]
    fn wrong_batches_are_errors_not_panics() {
        let mut layer = layer::<f32>(CASES[9].spec, CASES[9].input, None);
        let x = ArrayD::<f32>::zeros(IxDyn(&[2, 6, 5, 3]));
        let err = layer.forward(x.view(), true).unwrap_err();
        assert!(matches!(err, CoreError::Shape(_)), "{err}");
        assert!(err.to_string().contains("[2, 5, 6, 3]"), "{err}");
        let x = ArrayD::<f32>::zeros(IxDyn(&[2, 5, 6, 3]));
        layer.forward(x.view(), true).unwrap();
        let da = ArrayD::<f32>::zeros(IxDyn(&[2, 3, 6, 2]));
        assert!(layer
            .backward(x.view(), Upstream::DA(da.view()), true)
            .is_err());
        assert!(layer.set_param(0, x.view()).is_err());
        assert!(layer.set_param(2, x.view()).is_err());
    }

    fn plan_error(json: &str, input: &[usize]) -> CoreError {
        parse(json)
            .and_then(|spec| spec.plan(input).map(|_| ()))
            .expect_err(json)
    }

    #[test]
    fn bad_configs_are_errors_that_name_the_field() {
        for (json, input, needle) in [
            (
                r#""filters": 4, "kernel_size": 3, "padding": "full""#,
                &[1, 5, 5][..],
                "padding",
            ),
            (
                r#""filters": 4, "kernel_size": 3, "padding": -1"#,
                &[1, 5, 5],
                "padding",
            ),
            (
                r#""filters": 4, "kernel_size": 3, "padding": [1]"#,
                &[1, 5, 5],
                "padding",
            ),
            (
                r#""filters": 4, "kernel_size": 0"#,
                &[1, 5, 5],
                "kernel_size",
            ),
            (
                r#""filters": 4, "kernel_size": -1"#,
                &[1, 5, 5],
                "kernel_size",
            ),
            (
                r#""filters": 4, "kernel_size": [3, 3, 3]"#,
                &[1, 5, 5],
                "kernel_size",
            ),
            (
                r#""filters": 4, "kernel_size": 3, "strides": 0"#,
                &[1, 5, 5],
                "strides",
            ),
            (
                r#""filters": 4, "kernel_size": 3, "dilation_rate": [1, 0]"#,
                &[1, 5, 5],
                "dilation_rate",
            ),
            (r#""filters": 0, "kernel_size": 3"#, &[1, 5, 5], "filters"),
            (r#""filters": 1.5, "kernel_size": 3"#, &[1, 5, 5], "filters"),
            (r#""kernel_size": 3"#, &[1, 5, 5], "filters"),
            (r#""filters": 4, "kernel": 3"#, &[1, 5, 5], "kernel"),
            (
                r#""filters": 4, "kernel_size": 3, "activation": "swish""#,
                &[1, 5, 5],
                "activation",
            ),
            (
                r#""filters": 4, "kernel_size": 3, "l2": -1"#,
                &[1, 5, 5],
                "l2",
            ),
            (r#""filters": 4, "kernel_size": 3"#, &[0, 5, 5], "channels"),
            (r#""filters": 4, "kernel_size": 3"#, &[1, 0, 5], "height"),
        ] {
            let err = plan_error(&format!(r#"{{"type": "conv2d", {json}}}"#), input);
            assert!(err.to_string().contains(needle), "{json}: {err}");
        }
        let err = plan_error(
            r#"{"type": "conv1d", "filters": 4, "kernel_size": [3, 3]}"#,
            &[1, 5],
        );
        assert!(err.to_string().contains("kernel_size"), "{err}");
        let err = plan_error(
            r#"{"type": "conv2d", "filters": 4, "kernel_size": 3}"#,
            &[64],
        );
        assert!(matches!(err, CoreError::Shape(_)));
        assert_eq!(
            err.to_string(),
            "conv2d takes (channels, height, width) per example, got input shape [64]"
        );
        let err = plan_error(
            r#"{"type": "conv1d", "filters": 4, "kernel_size": 3}"#,
            &[3, 8, 8],
        );
        assert!(err
            .to_string()
            .starts_with("conv1d takes (channels, length) per example"));
        let json = r#"{"type": "conv1d", "filters": 4, "kernel_size": 5, "dilation_rate": 2}"#;
        assert_eq!(
            plan_error(json, &[1, 4]).to_string(),
            "kernel_size 5 (dilated 9) is larger than the padded input length 4"
        );
        let json = r#"{"type": "conv2d", "filters": 4, "kernel_size": [3, 1], "padding": [0, 1]}"#;
        assert_eq!(
            plan_error(json, &[1, 2, 8]).to_string(),
            "kernel_size 3 is larger than the padded input height 2"
        );
        let mut nan = Conv1DConfig::new(4, 3);
        nan.l2 = f64::NAN;
        assert!(nan.plan(&[1, 5]).is_err());
    }

    #[test]
    fn oversized_configs_are_rejected_before_allocating() {
        for (json, input) in [
            // W: 2^24 · 2^24 · 9 elements
            (
                r#"{"type": "conv2d", "filters": 16777216, "kernel_size": 3}"#,
                &[1 << 24, 3, 3][..],
            ),
            (
                r#"{"type": "conv1d", "filters": 16777217, "kernel_size": 1}"#,
                &[1, 1],
            ),
            // one example's output: 2^20 · 2^20 elements
            (
                r#"{"type": "conv1d", "filters": 1048576, "kernel_size": 1}"#,
                &[1, 1 << 20],
            ),
            (
                r#"{"type": "conv1d", "filters": 1, "kernel_size": 18446744073709551615}"#,
                &[1, 5],
            ),
            (
                concat!(
                    r#"{"type": "conv1d", "filters": 1, "kernel_size": 16777216,"#,
                    r#" "dilation_rate": 16777216}"#
                ),
                &[1, 5],
            ),
            (
                r#"{"type": "conv1d", "filters": 1, "kernel_size": 1, "padding": 1073741824}"#,
                &[1, 5],
            ),
            (
                r#"{"type": "conv2d", "filters": 1, "kernel_size": 1}"#,
                &[1, 1 << 25, 1],
            ),
        ] {
            let spec = parse(json).unwrap();
            assert!(spec.plan(input).is_err(), "{json}");
            assert!(spec.build::<f32>(input).is_err(), "{json}");
        }
        // a valid layer whose batch would be too large is an error at forward, not an abort
        let mut layer = layer::<f32>(
            r#"{"type": "conv1d", "filters": 1, "kernel_size": 1}"#,
            &[1, 1],
            None,
        );
        let huge = ndarray::ArrayView::from_shape(
            IxDyn(&[1, 1, 1 << 40]).strides(IxDyn(&[0, 0, 0])),
            &[0.0f32],
        );
        assert!(layer.forward(huge.unwrap(), false).is_err());
    }

    #[test]
    fn specs_round_trip_through_json() {
        let json = r#"[{"type": "conv1d", "filters": 4, "kernel_size": 3},
            {"type": "conv1d", "filters": 4, "kernel_size": 3, "strides": 2, "padding": "same",
             "dilation_rate": 2, "activation": "relu", "l2": 0.01},
            {"type": "conv2d", "filters": 8, "kernel_size": [3, 5], "strides": 2,
             "padding": [1, 2], "activation": "tanh"},
            {"type": "conv2d", "filters": 8, "kernel_size": 3, "padding": 1}]"#;
        let specs = LayerSpec::list_from_json(json).unwrap();
        assert_eq!(specs[0], LayerSpec::Conv1D(Conv1DConfig::new(4, 3)));
        assert_eq!(specs[1].output_activation(), Some(Activation::Relu));
        assert_eq!(specs[0].kind(), "conv1d");
        assert_eq!(specs[2].kind(), "conv2d");
        let text = serde_json::to_string(&specs).unwrap();
        for written in [
            r#""kernel_size":[3,5]"#,
            r#""padding":[1,2]"#,
            r#""padding":"same""#,
            r#""padding":1"#,
        ] {
            assert!(text.contains(written), "{text}");
        }
        assert_eq!(LayerSpec::list_from_json(&text).unwrap(), specs);
        let plan = specs[2].plan(&[3, 10, 11]).unwrap();
        // height (10 + 2 − 3) / 2 + 1 = 5, width (11 + 4 − 5) / 2 + 1 = 6
        assert_eq!(plan.output_shape, vec![8, 5, 6]);
        assert_eq!(
            plan.params,
            vec![("W".into(), vec![8, 3, 3, 5]), ("b".into(), vec![8, 1])]
        );
        assert_eq!(specs[1].plan(&[2, 9]).unwrap().params[0].1, vec![4, 2, 3]);
    }

    #[test]
    fn gradients_through_a_network_equal_central_differences() {
        // conv2d → conv2d → flatten → dense softmax, with the loss's dZ shortcut at the end:
        // every convolution parameter's gradient against a central difference of the cost J
        let specs = LayerSpec::list_from_json(
            r#"[{"type": "conv2d", "filters": 3, "kernel_size": 3, "padding": "same",
                 "activation": "tanh"},
                {"type": "conv2d", "filters": 2, "kernel_size": 2, "strides": 2,
                 "activation": "relu", "l2": 0.01},
                {"type": "flatten"},
                {"type": "dense", "units": 2, "activation": "softmax"}]"#,
        )
        .unwrap();
        let mut net =
            crate::Network::<f64>::new(&[1, 5, 5], &specs, crate::Loss::CategoricalCrossentropy, 3)
                .unwrap();
        let x = random(&[1, 5, 5, 4], 30);
        let y = ndarray::array![[1.0, 0.0, 0.0, 1.0], [0.0, 1.0, 1.0, 0.0]];
        net.gradients(x.view(), y.view()).unwrap();
        let eps = 1e-6;
        for l in 0..2 {
            let grads: Vec<ArrayD<f64>> = net.layers()[l]
                .grads()
                .iter()
                .map(|g| g.to_owned())
                .collect();
            for (k, grad) in grads.iter().enumerate() {
                let mut p = net.layers()[l].params()[k].to_owned();
                for idx in 0..p.len() {
                    let v = p.as_slice().unwrap()[idx];
                    let mut j = |value: f64| {
                        p.as_slice_mut().unwrap()[idx] = value;
                        net.layers_mut()[l].set_param(k, p.view()).unwrap();
                        net.cost(x.view(), y.view()).unwrap()
                    };
                    let numeric = (j(v + eps) - j(v - eps)) / (2.0 * eps);
                    j(v);
                    let analytic = grad.as_slice().unwrap()[idx];
                    assert!(
                        (analytic - numeric).abs() <= 1e-7 * (1.0 + numeric.abs()),
                        "layer {l}, parameter {k}[{idx}]: {analytic} vs {numeric}"
                    );
                }
            }
        }
    }

    #[test]
    fn initialization_follows_dense() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let spec = r#"{"type": "conv2d", "filters": 64, "kernel_size": 3, "activation": "relu"}"#;
        let mut relu = layer::<f64>(spec, &[32, 5, 5], None);
        relu.initialize(&mut rng);
        // He: σ = √(2 / (32·9))
        let std = (relu.w.iter().map(|w| w * w).sum::<f64>() / relu.w.len() as f64).sqrt();
        assert!((std / (2.0 / 288.0f64).sqrt() - 1.0).abs() < 0.05, "{std}");
        assert!(relu.b.iter().all(|&b| b == 0.0));
        let mut tanh = layer::<f64>(spec, &[32, 5, 5], Some(Activation::Tanh));
        tanh.initialize(&mut rng);
        // Glorot: limit √(6 / (32·9 + 64·9))
        let limit = (6.0 / (288.0 + 576.0f64)).sqrt();
        let max = tanh.w.iter().fold(0.0f64, |m, w| m.max(w.abs()));
        assert!(max <= limit && max > 0.9 * limit, "{max} vs {limit}");
    }
}
