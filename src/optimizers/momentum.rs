//! Gradient descent with momentum.

use ndarray::{ArrayView, ArrayViewMut, Dimension, Zip};

use crate::matmul::parallel_elementwise;
use crate::scalar::Float;

/// v = β v + g, then p −= α v (PyTorch's form; for a constant α it takes the same steps as
/// Keras' v = β v − α g, p += v). One pass, in place.
pub fn momentum_update<F: Float, D: Dimension>(
    mut param: ArrayViewMut<F, D>,
    grad: ArrayView<F, D>,
    mut velocity: ArrayViewMut<F, D>,
    learning_rate: F,
    beta: F,
) {
    let zip = Zip::from(&mut param).and(&grad).and(&mut velocity);
    let f = |p: &mut F, &g: &F, v: &mut F| {
        *v = beta * *v + g;
        *p -= learning_rate * *v;
    };
    if parallel_elementwise(zip.size()) {
        zip.par_for_each(f);
    } else {
        zip.for_each(f);
    }
}
