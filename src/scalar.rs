//! The floating-point types deepnet computes in: `f32` (the default) and `f64`.

use ndarray::NdFloat;
use num_traits::FromPrimitive;

/// A float type the kernels are written for. Implemented for `f32` and `f64` only.
pub trait Float: NdFloat + FromPrimitive + Default {
    /// Name of the type as numpy spells it ("float32", "float64").
    const DTYPE: &'static str;
    /// Smallest probability used when a loss takes a logarithm (Keras' `epsilon`).
    const LOG_EPS: Self;

    /// Converts a constant written in `f64`.
    fn c(x: f64) -> Self;
}

impl Float for f32 {
    const DTYPE: &'static str = "float32";
    const LOG_EPS: f32 = 1e-7;
    #[inline(always)]
    fn c(x: f64) -> f32 {
        x as f32
    }
}

impl Float for f64 {
    const DTYPE: &'static str = "float64";
    const LOG_EPS: f64 = 1e-12;
    #[inline(always)]
    fn c(x: f64) -> f64 {
        x
    }
}
