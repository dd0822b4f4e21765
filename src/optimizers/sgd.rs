//! Plain gradient descent, the lecture's update (section 6).

use ndarray::{ArrayView, ArrayViewMut, Dimension, Zip};

use crate::matmul::parallel_elementwise;
use crate::scalar::Float;

/// (16) W = W − α dW and (17) b = b − α db, in place.
pub fn sgd_update<F: Float, D: Dimension>(
    mut param: ArrayViewMut<F, D>,
    grad: ArrayView<F, D>,
    learning_rate: F,
) {
    let zip = Zip::from(&mut param).and(&grad);
    let f = |p: &mut F, &g: &F| *p -= learning_rate * g;
    if parallel_elementwise(zip.size()) {
        zip.par_for_each(f);
    } else {
        zip.for_each(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn sgd_hand_worked() {
        let mut w = array![[1.0, 2.0], [3.0, 4.0]];
        let dw = array![[0.5, -1.0], [0.0, 2.0]];
        sgd_update(w.view_mut(), dw.view(), 0.1);
        assert_eq!(w, array![[0.95, 2.1], [3.0, 3.8]]);
    }
}
