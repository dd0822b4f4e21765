//! The L2 penalty of a layer's weights, shared by every layer that has one (dense,
//! convolution, recurrent): J gains (λ/2)·Σ‖W‖² and (12) gains λW (PyTorch's weight decay,
//! independent of m).

use ndarray::{ArrayView, ArrayViewMut, Dimension, Zip};

use crate::scalar::Float;

/// (λ/2)·Σ_W ‖W‖² over the weight arrays `ws`, accumulated in f64 (0 when λ = 0).
pub fn penalty<'a, F: Float + 'a>(l2: f64, ws: impl IntoIterator<Item = &'a F>) -> f64 {
    if l2 == 0.0 {
        return 0.0;
    }
    let sum: f64 = ws
        .into_iter()
        .map(|&w| {
            let w = w.to_f64().unwrap_or(f64::NAN);
            w * w
        })
        .sum();
    0.5 * l2 * sum
}

/// The penalty's gradient: dW += λW (nothing when λ = 0).
pub fn add_gradient<F: Float, D: Dimension>(l2: f64, dw: ArrayViewMut<F, D>, w: ArrayView<F, D>) {
    if l2 > 0.0 {
        let l2 = F::c(l2);
        Zip::from(dw).and(w).for_each(|d, &w| *d += l2 * w);
    }
}
