//! Bidirectional: a recurrent layer run forward in time and a copy of it run backward, their
//! outputs stacked along the feature axis (Keras' and PyTorch's convention).

use ndarray::{ArrayViewD, ArrayViewMutD, Axis, Slice};
use rand_chacha::ChaCha8Rng;

use crate::error::{expect_shape, CoreError, Result};
use crate::layer::{Layer, Upstream, Workspace};
use crate::scalar::Float;

use super::Recurrent;

/// Two copies of a recurrent layer over the same input: `forward` runs from step 0 to the
/// last, `backward` from the last to 0. The output is `[forward; backward]` along axis 0,
/// `(2·units, time, m)` with `return_sequences` (the backward half of step t is the one that
/// read input step t first) or `(2·units, m)` without (the forward's last step and the
/// backward's, which is input step 0).
///
/// Parameters: the forward copy's Wx, Wh, bx, bh, then the backward copy's, named
/// `forward_Wx`, …, `backward_bh`. Backward: dA splits along axis 0 between the copies, and
/// dA_prev (14) is the sum of theirs.
#[derive(Clone, Debug)]
pub struct Bidirectional<F: Float> {
    forward: Recurrent<F>,
    backward: Recurrent<F>,
    output_shape: Vec<usize>,
    /// The stacked output.
    a: Workspace<F>,
}

impl<F: Float> Bidirectional<F> {
    /// The parameter names, in the order of [`Layer::params`].
    pub const PARAM_NAMES: &'static [&'static str] = &[
        "forward_Wx",
        "forward_Wh",
        "forward_bx",
        "forward_bh",
        "backward_Wx",
        "backward_Wh",
        "backward_bx",
        "backward_bh",
    ];

    /// Wraps two copies of one layer, the second [`Recurrent::reversed`].
    pub fn new(forward: Recurrent<F>, backward: Recurrent<F>) -> Result<Self> {
        let same = forward.cell == backward.cell
            && forward.units == backward.units
            && forward.return_sequences == backward.return_sequences
            && forward.input_shape == backward.input_shape;
        if !same || forward.reverse || !backward.reverse {
            return Err(CoreError::Value(
                "Bidirectional: expected two copies of one recurrent layer, the second \
                 reversed"
                    .into(),
            ));
        }
        let mut output_shape = forward.output_shape.clone();
        output_shape[0] *= 2;
        Ok(Bidirectional {
            forward,
            backward,
            output_shape,
            a: Workspace::default(),
        })
    }

    /// The copy that runs forward in time.
    pub fn forward_layer(&self) -> &Recurrent<F> {
        &self.forward
    }

    /// The copy that runs backward in time.
    pub fn backward_layer(&self) -> &Recurrent<F> {
        &self.backward
    }

    fn halves(&self) -> [&Recurrent<F>; 2] {
        [&self.forward, &self.backward]
    }
}

impl<F: Float> Layer<F> for Bidirectional<F> {
    fn kind(&self) -> &'static str {
        "bidirectional"
    }

    fn input_shape(&self) -> &[usize] {
        &self.forward.input_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    fn param_names(&self) -> Vec<&str> {
        Self::PARAM_NAMES.to_vec()
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        self.halves().iter().flat_map(|l| l.params()).collect()
    }

    fn set_param(&mut self, index: usize, value: ArrayViewD<F>) -> Result<()> {
        match index {
            0..4 => self.forward.set_param(index, value),
            4..8 => self.backward.set_param(index - 4, value),
            _ => Err(CoreError::Value(format!(
                "a bidirectional layer has parameters 0..8 ({:?}), got index {index}",
                Self::PARAM_NAMES
            ))),
        }
    }

    fn grads(&self) -> Vec<ArrayViewD<'_, F>> {
        self.halves().iter().flat_map(|l| l.grads()).collect()
    }

    /// The forward copy's parameters, then the backward copy's, each as
    /// [`Recurrent`]'s initialization draws them.
    fn initialize(&mut self, rng: &mut ChaCha8Rng) {
        self.forward.initialize(rng);
        self.backward.initialize(rng);
    }

    fn forward(&mut self, a_prev: ArrayViewD<F>, training: bool) -> Result<()> {
        self.forward.forward(a_prev.view(), training)?;
        self.backward.forward(a_prev.view(), training)?;
        let u = self.forward.units;
        let fwd = self.forward.output(a_prev.view());
        let bwd = self.backward.output(a_prev.view());
        let mut shape = fwd.shape().to_vec();
        shape[0] = 2 * u;
        self.a.resize(&shape)?;
        let mut a = self.a.view_mut();
        a.slice_axis_mut(Axis(0), Slice::from(..u)).assign(&fwd);
        a.slice_axis_mut(Axis(0), Slice::from(u..)).assign(&bwd);
        Ok(())
    }

    fn output<'a>(&'a self, _a_prev: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.a.view()
    }

    fn backward(
        &mut self,
        a_prev: ArrayViewD<F>,
        upstream: Upstream<'_, F>,
        need_da_prev: bool,
    ) -> Result<()> {
        let Upstream::DA(da) = upstream else {
            return Err(CoreError::Value(
                "a bidirectional layer's backward pass takes dA (it has no output \
                 activation), got dZ"
                    .into(),
            ));
        };
        let m = self.forward.input(a_prev.view())?.dim().2;
        let mut expected = self.output_shape.clone();
        expected.push(m);
        expect_shape("dA", &expected, da.shape())?;
        let u = self.forward.units;
        let da_fwd = da.slice_axis(Axis(0), Slice::from(..u));
        let da_bwd = da.slice_axis(Axis(0), Slice::from(u..));
        self.forward
            .backward(a_prev.view(), Upstream::DA(da_fwd), need_da_prev)?;
        self.backward
            .backward(a_prev, Upstream::DA(da_bwd), need_da_prev)?;
        if need_da_prev {
            // (14) for an input read by both copies: the sum of their dA_prev
            let mut da_prev = self.forward.da_prev.view_mut();
            da_prev += &self.backward.da_prev.view();
        }
        Ok(())
    }

    fn input_grad<'a>(&'a self, _upstream: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.forward.da_prev.view()
    }

    fn for_each_param_grad(&mut self, f: &mut dyn FnMut(ArrayViewMutD<'_, F>, ArrayViewD<'_, F>)) {
        self.forward.for_each_param_grad(f);
        self.backward.for_each_param_grad(f);
    }

    fn penalty(&self) -> f64 {
        self.forward.penalty() + self.backward.penalty()
    }
}
