//! Activation functions g^[l] and their derivatives g^[l]′, eqs (3)/(10) and (4)/(11).
//!
//! Everything works on 2-D views `(n, columns)`: a dense layer's `(n^[l], m)` matrices, and any
//! other layer's activations viewed with the "channel" axis first and every other axis (positions
//! and examples) flattened into columns. Softmax normalises along axis 0, i.e. per column.

use ndarray::{ArrayView2, ArrayViewMut1, ArrayViewMut2, Zip};

use crate::error::{CoreError, Result};
use crate::matmul::parallel_elementwise;
use crate::scalar::Float;

/// Slope of `leaky_relu` for z < 0 (Keras' default `negative_slope`).
pub const LEAKY_RELU_SLOPE: f64 = 0.2;

/// g^[l]: the activation function of a layer. Names are Keras' (`Activation::from_name`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// σ(z) = 1 / (1 + e^−z); σ′ = a (1 − a).
    Sigmoid,
    /// tanh z; tanh′ = 1 − a².
    Tanh,
    /// max(0, z); relu′ = 1 for z > 0, else 0.
    Relu,
    /// z for z > 0, else 0.2 z.
    LeakyRelu,
    /// z (the identity); linear′ = 1.
    Linear,
    /// e^{z_j} / Σ_k e^{z_k} per column. Its Jacobian is full, so (11) is a per-column product.
    Softmax,
    /// clip(z/6 + 1/2, 0, 1) (Keras 3's relu6(z + 3)/6): a sigmoid made of three straight
    /// pieces, exactly 0 for z ≤ −3 and exactly 1 for z ≥ 3, so a unit with weights scaled
    /// by 6 is an exact threshold on integer inputs; g′ = 1/6 on (−3, 3), else 0.
    HardSigmoid,
}

impl Activation {
    /// Every activation, in the order the documentation lists them.
    pub const ALL: [Activation; 7] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Linear,
        Activation::Softmax,
        Activation::HardSigmoid,
    ];

    /// Parses a Keras-style name: "sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax",
    /// "hard_sigmoid".
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|a| a.name()).collect();
                CoreError::Value(format!(
                    "unknown activation {name:?}: expected one of {names:?}"
                ))
            })
    }

    /// The Keras-style name.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Linear => "linear",
            Activation::Softmax => "softmax",
            Activation::HardSigmoid => "hard_sigmoid",
        }
    }

    /// Whether g′ is taken element by element (all but softmax).
    pub fn is_elementwise(self) -> bool {
        self != Activation::Softmax
    }

    /// Whether He initialisation suits this activation (relu-like); Glorot otherwise.
    pub fn is_relu_like(self) -> bool {
        matches!(self, Activation::Relu | Activation::LeakyRelu)
    }

    /// g(z) for one element (not softmax, which needs the whole column).
    #[inline(always)]
    fn g<F: Float>(self, z: F) -> F {
        match self {
            Activation::Sigmoid => sigmoid(z),
            Activation::Tanh => z.tanh(),
            Activation::Relu => z.max(F::zero()),
            Activation::LeakyRelu => {
                if z > F::zero() {
                    z
                } else {
                    z * F::c(LEAKY_RELU_SLOPE)
                }
            }
            Activation::Linear | Activation::Softmax => z,
            Activation::HardSigmoid => (z * F::c(1.0 / 6.0) + F::c(0.5))
                .max(F::zero())
                .min(F::one()),
        }
    }

    /// g′(z) for one element, from z and a = g(z) (whichever is cheaper).
    #[inline(always)]
    fn dg<F: Float>(self, z: F, a: F) -> F {
        match self {
            Activation::Sigmoid => a * (F::one() - a),
            Activation::Tanh => F::one() - a * a,
            Activation::Relu => {
                if z > F::zero() {
                    F::one()
                } else {
                    F::zero()
                }
            }
            Activation::LeakyRelu => {
                if z > F::zero() {
                    F::one()
                } else {
                    F::c(LEAKY_RELU_SLOPE)
                }
            }
            Activation::Linear | Activation::Softmax => F::one(),
            Activation::HardSigmoid => {
                if z > F::c(-3.0) && z < F::c(3.0) {
                    F::c(1.0 / 6.0)
                } else {
                    F::zero()
                }
            }
        }
    }

    /// (10) A = g(Z), written into `a` (same shape as `z`).
    pub fn forward<F: Float>(self, z: ArrayView2<F>, mut a: ArrayViewMut2<F>) {
        if self == Activation::Softmax {
            a.assign(&z);
            softmax_in_place(a);
        } else {
            Zip::from(&mut a).and(&z).for_each(|a, &z| *a = self.g(z));
        }
    }

    /// (9)+(10) fused: Z += b (broadcast over the columns), then A = g(Z), in one pass over Z.
    /// `b` has shape `(n, 1)`.
    pub fn add_bias_forward<F: Float>(
        self,
        z: ArrayViewMut2<F>,
        b: ArrayView2<F>,
        a: ArrayViewMut2<F>,
    ) {
        // One specialised loop per activation (the match is outside the loop), row by row so
        // each inner loop runs over contiguous memory with a constant bias: it vectorises.
        match self {
            Activation::Sigmoid => bias_then(z, b, a, sigmoid),
            Activation::Tanh => bias_then(z, b, a, |v: F| v.tanh()),
            Activation::Relu => bias_then(z, b, a, |v: F| v.max(F::zero())),
            Activation::LeakyRelu => {
                let slope = F::c(LEAKY_RELU_SLOPE);
                bias_then(
                    z,
                    b,
                    a,
                    move |v: F| if v > F::zero() { v } else { v * slope },
                )
            }
            Activation::Linear => bias_then(z, b, a, |v: F| v),
            Activation::HardSigmoid => bias_then(z, b, a, |v: F| Activation::HardSigmoid.g(v)),
            Activation::Softmax => {
                let mut a = a;
                bias_then(z, b, a.view_mut(), |v: F| v);
                softmax_in_place(a);
            }
        }
    }

    /// g′(Z) element by element. Softmax has no element-wise derivative (its Jacobian is full):
    /// use [`Activation::backward`] for it.
    pub fn derivative<F: Float>(
        self,
        z: ArrayView2<F>,
        a: ArrayView2<F>,
        mut out: ArrayViewMut2<F>,
    ) -> Result<()> {
        if !self.is_elementwise() {
            return Err(CoreError::Value(
                "softmax has no element-wise derivative: its Jacobian is full; use the \
                 backward kernel (11), which multiplies dA by it column by column"
                    .into(),
            ));
        }
        Zip::from(&mut out)
            .and(&z)
            .and(&a)
            .for_each(|o, &z, &a| *o = self.dg(z, a));
        Ok(())
    }

    /// (11) dZ = dA * g′(Z), element by element; for softmax the Jacobian–vector product per
    /// column, dz_j = a_j (da_j − Σ_k da_k a_k). All four arrays have the same shape.
    pub fn backward<F: Float>(
        self,
        da: ArrayView2<F>,
        z: ArrayView2<F>,
        a: ArrayView2<F>,
        mut dz: ArrayViewMut2<F>,
    ) {
        let parallel = parallel_elementwise(dz.len());
        let zip = Zip::from(&mut dz).and(&da).and(&z).and(&a);
        // The match is outside the loops so that each runs a branch-free, vectorisable body;
        // large arrays are split across threads.
        macro_rules! each {
            (|$dz:pat_param, $da:pat_param, $z:pat_param, $a:pat_param| $body:expr) => {
                if parallel {
                    zip.par_for_each(|$dz, $da, $z, $a| $body)
                } else {
                    zip.for_each(|$dz, $da, $z, $a| $body)
                }
            };
        }
        match self {
            Activation::Sigmoid => each!(|dz, &da, _, &a| *dz = da * a * (F::one() - a)),
            Activation::Tanh => each!(|dz, &da, _, &a| *dz = da * (F::one() - a * a)),
            Activation::Relu => {
                each!(|dz, &da, &z, _| *dz = if z > F::zero() { da } else { F::zero() })
            }
            Activation::LeakyRelu => {
                let slope = F::c(LEAKY_RELU_SLOPE);
                each!(|dz, &da, &z, _| *dz = if z > F::zero() { da } else { da * slope })
            }
            Activation::Linear => each!(|dz, &da, _, _| *dz = da),
            Activation::HardSigmoid => {
                each!(|dz, &da, &z, _| *dz = da * Activation::HardSigmoid.dg(z, F::zero()))
            }
            Activation::Softmax => {
                // per column i: s = Σ_k da_k a_k, then dz_j = a_j (da_j − s); no allocation
                Zip::from(dz.columns_mut())
                    .and(da.columns())
                    .and(a.columns())
                    .for_each(|mut dz, da, a| {
                        let s = Zip::from(&da)
                            .and(&a)
                            .fold(F::zero(), |acc, &d, &a| acc + d * a);
                        Zip::from(&mut dz)
                            .and(&da)
                            .and(&a)
                            .for_each(|dz, &da, &a| *dz = a * (da - s));
                    });
            }
        }
    }
}

/// Z += b row by row, then A = g(Z), for an element-wise g; rows are split across threads
/// when the array is large.
#[inline(always)]
fn bias_then<F: Float, G: Fn(F) -> F + Sync>(
    mut z: ArrayViewMut2<F>,
    b: ArrayView2<F>,
    mut a: ArrayViewMut2<F>,
    g: G,
) {
    let row = |mut zr: ArrayViewMut1<F>, mut ar: ArrayViewMut1<F>, bi: F| {
        Zip::from(&mut zr).and(&mut ar).for_each(|z, a| {
            *z += bi;
            *a = g(*z);
        })
    };
    let parallel = parallel_elementwise(z.len());
    let rows = Zip::from(z.rows_mut()).and(a.rows_mut()).and(b.column(0));
    if parallel {
        rows.par_for_each(|zr, ar, &bi| row(zr, ar, bi));
    } else {
        rows.for_each(|zr, ar, &bi| row(zr, ar, bi));
    }
}

/// σ(z) without overflow for large |z|.
#[inline(always)]
pub fn sigmoid<F: Float>(z: F) -> F {
    if z >= F::zero() {
        F::one() / (F::one() + (-z).exp())
    } else {
        let e = z.exp();
        e / (F::one() + e)
    }
}

/// Softmax of every column of `a`, in place, stable: subtracts each column's maximum before
/// exponentiating. Allocates nothing (it runs in every training step).
pub fn softmax_in_place<F: Float>(mut a: ArrayViewMut2<F>) {
    for mut col in a.columns_mut() {
        let max = col.fold(F::neg_infinity(), |m, &v| m.max(v));
        let mut sum = F::zero();
        col.mapv_inplace(|v| {
            let e = (v - max).exp();
            sum += e;
            e
        });
        let inv = F::one() / sum;
        col.mapv_inplace(|v| v * inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use approx::assert_abs_diff_eq;
    use ndarray::{array, Array2};

    fn fwd(act: Activation, z: &Array2<f64>) -> Array2<f64> {
        let mut a = Array2::zeros(z.raw_dim());
        act.forward(z.view(), a.view_mut());
        a
    }

    #[test]
    fn hard_sigmoid_is_an_exact_threshold_outside_minus_3_to_3() {
        let z = array![[-10.0, -3.0, -1.5, 0.0, 1.5, 3.0, 10.0]];
        let a = fwd(Activation::HardSigmoid, &z);
        assert_eq!(a, array![[0.0, 0.0, 0.25, 0.5, 0.75, 1.0, 1.0]]);
        // forward with a bias and backward agree with the element-wise definitions
        let mut zb = z.clone();
        let mut a2 = Array2::zeros(z.raw_dim());
        Activation::HardSigmoid.add_bias_forward(
            zb.view_mut(),
            array![[0.0]].view(),
            a2.view_mut(),
        );
        assert_eq!(a2, a);
        let da = Array2::ones(z.raw_dim());
        let mut dz = Array2::zeros(z.raw_dim());
        Activation::HardSigmoid.backward(da.view(), z.view(), a.view(), dz.view_mut());
        let sixth = 1.0 / 6.0;
        assert_eq!(dz, array![[0.0, 0.0, sixth, sixth, sixth, 0.0, 0.0]]);
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_rejected() {
        for act in Activation::ALL {
            assert_eq!(Activation::from_name(act.name()).unwrap(), act);
        }
        let err = Activation::from_name("relu6").unwrap_err().to_string();
        assert!(err.contains("relu6") && err.contains("leaky_relu"), "{err}");
    }

    #[test]
    fn hand_worked_values() {
        let z = array![[-2.0, 0.0, 3.0]];
        assert_abs_diff_eq!(
            fwd(Activation::Relu, &z),
            array![[0.0, 0.0, 3.0]],
            epsilon = 0.0
        );
        assert_abs_diff_eq!(
            fwd(Activation::LeakyRelu, &z),
            array![[-0.4, 0.0, 3.0]],
            epsilon = 1e-15
        );
        assert_abs_diff_eq!(fwd(Activation::Linear, &z), z, epsilon = 0.0);
        let s = fwd(Activation::Sigmoid, &z);
        assert_abs_diff_eq!(s[[0, 0]], 1.0 / (1.0 + 2f64.exp()), epsilon = 1e-15);
        assert_abs_diff_eq!(s[[0, 1]], 0.5, epsilon = 0.0);
        let t = fwd(Activation::Tanh, &z);
        assert_abs_diff_eq!(t[[0, 2]], 3f64.tanh(), epsilon = 0.0);
    }

    #[test]
    fn sigmoid_does_not_overflow() {
        let s = fwd(Activation::Sigmoid, &array![[-1000.0, 1000.0]]);
        assert_eq!(s, array![[0.0, 1.0]]);
        let s = {
            let z = array![[-100f32, 100.0]];
            let mut a = Array2::zeros((1, 2));
            Activation::Sigmoid.forward(z.view(), a.view_mut());
            a
        };
        assert!(s.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn softmax_columns_sum_to_one_and_survive_huge_inputs() {
        // two examples (columns); the second would overflow a naive exp
        let z = array![[1.0, 1000.0], [2.0, 1001.0], [3.0, 1002.0]];
        let a = fwd(Activation::Softmax, &z);
        let e: f64 = 1.0 + 1f64.exp() + 2f64.exp();
        for col in 0..2 {
            assert_abs_diff_eq!(a[[0, col]], 1.0 / e, epsilon = 1e-15);
            assert_abs_diff_eq!(a[[2, col]], 2f64.exp() / e, epsilon = 1e-15);
            assert_abs_diff_eq!(a.column(col).sum(), 1.0, epsilon = 1e-15);
        }
    }

    #[test]
    fn backward_matches_finite_differences_for_every_activation() {
        // (11) against a centred difference of Σ da·g(z), column by column.
        let z = array![[-1.3, 0.4, 2.0], [0.7, -0.2, -2.5], [0.1, 1.1, 0.3]];
        let da = array![[0.5, -1.0, 0.25], [2.0, 0.3, -0.7], [-0.4, 0.9, 1.5]];
        for act in Activation::ALL {
            let a = fwd(act, &z);
            let mut dz = Array2::zeros(z.raw_dim());
            act.backward(da.view(), z.view(), a.view(), dz.view_mut());
            let h = 1e-6;
            for idx in [(0, 0), (1, 0), (2, 1), (0, 2), (1, 2)] {
                let mut zp = z.clone();
                zp[idx] += h;
                let mut zm = z.clone();
                zm[idx] -= h;
                let f = |z: &Array2<f64>| (fwd(act, z) * &da).sum();
                let numeric = (f(&zp) - f(&zm)) / (2.0 * h);
                assert_abs_diff_eq!(dz[idx], numeric, epsilon = 1e-8);
            }
        }
    }

    #[test]
    fn softmax_has_no_elementwise_derivative() {
        let z = array![[0.0]];
        let mut out = Array2::zeros((1, 1));
        assert!(Activation::Softmax
            .derivative(z.view(), z.view(), out.view_mut())
            .is_err());
    }
}
