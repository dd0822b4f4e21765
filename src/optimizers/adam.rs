//! Adam: momentum and RMSprop together, with bias correction.

use ndarray::{ArrayView, ArrayViewMut, Dimension, Zip};

use crate::matmul::parallel_elementwise;
use crate::scalar::Float;
use crate::simd::update3;

/// m = β1 m + (1 − β1) g, v = β2 v + (1 − β2) g², then p −= α m̂ / (√v̂ + ε) with
/// m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t), t the step number (from 1). One pass, in place.
#[allow(clippy::too_many_arguments)]
pub fn adam_update<F: Float, D: Dimension>(
    mut param: ArrayViewMut<F, D>,
    grad: ArrayView<F, D>,
    mut m: ArrayViewMut<F, D>,
    mut v: ArrayViewMut<F, D>,
    learning_rate: F,
    (beta1, beta2, eps): (F, F, F),
    t: u64,
) {
    // β^t underflows to 0 long before t passes i32::MAX, so clamping t loses nothing (and a
    // count of 2^32 cannot wrap to 0)
    let t = t.clamp(1, i32::MAX as u64) as i32;
    let c1 = F::one() / (F::one() - beta1.powi(t));
    let c2 = F::one() / (F::one() - beta2.powi(t));
    #[inline(always)]
    fn step<F: Float>(
        p: &mut F,
        g: F,
        m: &mut F,
        v: &mut F,
        (beta1, beta2, eps, c1, c2, lr): (F, F, F, F, F, F),
    ) {
        *m = beta1 * *m + (F::one() - beta1) * g;
        *v = beta2 * *v + (F::one() - beta2) * g * g;
        *p -= lr * (*m * c1) / ((*v * c2).sqrt() + eps);
    }
    let k = (beta1, beta2, eps, c1, c2, learning_rate);
    let fast = update3(
        &mut param,
        &grad,
        &mut m,
        &mut v,
        #[inline(always)]
        move |p, g, m, v| step(p, g, m, v, k),
    );
    if fast.is_some() {
        return;
    }
    let zip = Zip::from(&mut param).and(&grad).and(&mut m).and(&mut v);
    let f = |p: &mut F, &g: &F, m: &mut F, v: &mut F| step(p, g, m, v, k);
    if parallel_elementwise(zip.size()) {
        zip.par_for_each(f);
    } else {
        zip.for_each(f);
    }
}
