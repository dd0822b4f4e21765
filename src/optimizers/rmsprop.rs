//! RMSprop: steps scaled by a running root mean square of the gradients.

use ndarray::{ArrayView, ArrayViewMut, Dimension, Zip};

use crate::matmul::parallel_elementwise;
use crate::scalar::Float;

/// s = ρ s + (1 − ρ) g², then p −= α g / (√s + ε) (Keras' form). One pass, in place.
#[allow(clippy::too_many_arguments)]
pub fn rmsprop_update<F: Float, D: Dimension>(
    mut param: ArrayViewMut<F, D>,
    grad: ArrayView<F, D>,
    mut mean_square: ArrayViewMut<F, D>,
    learning_rate: F,
    rho: F,
    eps: F,
) {
    let zip = Zip::from(&mut param).and(&grad).and(&mut mean_square);
    let f = |p: &mut F, &g: &F, s: &mut F| {
        *s = rho * *s + (F::one() - rho) * g * g;
        *p -= learning_rate * g / (s.sqrt() + eps);
    };
    if parallel_elementwise(zip.size()) {
        zip.par_for_each(f);
    } else {
        zip.for_each(f);
    }
}
