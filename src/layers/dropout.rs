//! Inverted dropout: during training each activation is kept with probability 1 − rate and
//! scaled by 1/(1 − rate), so A keeps its expected value; at inference it passes unchanged.

use ndarray::{ArrayViewD, Zip};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Uniform};
use serde::{Deserialize, Serialize};

use crate::error::{expect_shape, CoreError, Result};
use crate::layer::{Layer, Upstream, Workspace};
use crate::layers::{LayerConfig, LayerPlan};
use crate::rng::RngState;
use crate::scalar::Float;

/// `Dropout`'s spec: `{"type": "dropout", "rate": 0.2}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DropoutConfig {
    /// The fraction of activations dropped, in [0, 1).
    pub rate: f64,
}

impl LayerConfig for DropoutConfig {
    fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
        if !(0.0..1.0).contains(&self.rate) {
            return Err(CoreError::Value(format!(
                "rate: expected a number in [0, 1), got {}",
                self.rate
            )));
        }
        Ok(LayerPlan::without_params(input_shape.to_vec()))
    }

    fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
        Ok(Box::new(Dropout::new(input_shape, self.rate)?))
    }

    fn has_rng(&self) -> bool {
        true
    }
}

/// Drops a fraction `rate` of its inputs at random during training.
#[derive(Clone, Debug)]
pub struct Dropout<F: Float> {
    rate: f64,
    shape: Vec<usize>,
    rng: ChaCha8Rng,
    /// 0 or 1/(1 − rate) per element, drawn in the last training forward pass.
    mask: Workspace<F>,
    masked: bool,
    a: Workspace<F>,
    da_prev: Workspace<F>,
}

impl<F: Float> Dropout<F> {
    /// `rate` in [0, 1): the probability of dropping each activation.
    pub fn new(shape: &[usize], rate: f64) -> Result<Self> {
        if !(0.0..1.0).contains(&rate) {
            return Err(CoreError::Value(format!(
                "Dropout: rate must be in [0, 1), got {rate}"
            )));
        }
        Ok(Dropout {
            rate,
            shape: shape.to_vec(),
            rng: ChaCha8Rng::seed_from_u64(0),
            mask: Workspace::default(),
            masked: false,
            a: Workspace::default(),
            da_prev: Workspace::default(),
        })
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }
}

impl<F: Float> Layer<F> for Dropout<F> {
    fn kind(&self) -> &'static str {
        "dropout"
    }

    fn input_shape(&self) -> &[usize] {
        &self.shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.shape
    }

    /// Seeds this layer's own mask stream from the initialization stream.
    fn initialize(&mut self, rng: &mut ChaCha8Rng) {
        let mut seed = [0u8; 32];
        let bytes = Uniform::new_inclusive(0u8, 255).expect("valid range");
        seed.iter_mut().for_each(|b| *b = bytes.sample(rng));
        self.rng = ChaCha8Rng::from_seed(seed);
    }

    fn forward(&mut self, a_prev: ArrayViewD<F>, training: bool) -> Result<()> {
        let shape = a_prev.shape();
        expect_shape(
            "A_prev",
            &self.shape,
            &shape[..shape.len().saturating_sub(1)],
        )?;
        self.masked = training && self.rate > 0.0;
        if self.masked {
            self.a.resize(shape)?;
            self.mask.resize(shape)?;
            let keep = F::c(1.0 / (1.0 - self.rate));
            let uniform = Uniform::new(0.0f64, 1.0).expect("valid range");
            let rate = self.rate;
            let rng = &mut self.rng;
            self.mask.view_mut().iter_mut().for_each(|m| {
                *m = if uniform.sample(rng) >= rate {
                    keep
                } else {
                    F::zero()
                };
            });
            Zip::from(self.a.view_mut())
                .and(&a_prev)
                .and(self.mask.view())
                .for_each(|a, &x, &m| *a = x * m);
        }
        Ok(())
    }

    /// The masked copy in training; the input itself (no copy) otherwise.
    fn output<'a>(&'a self, a_prev: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        if self.masked {
            self.a.view()
        } else {
            a_prev
        }
    }

    fn backward(
        &mut self,
        a_prev: ArrayViewD<F>,
        upstream: Upstream<'_, F>,
        need_da_prev: bool,
    ) -> Result<()> {
        let da = match upstream {
            Upstream::DA(da) | Upstream::DZ(da) => da,
        };
        expect_shape("dA", a_prev.shape(), da.shape())?;
        if need_da_prev && self.masked {
            self.da_prev.resize(da.shape())?;
            Zip::from(self.da_prev.view_mut())
                .and(&da)
                .and(self.mask.view())
                .for_each(|d, &g, &m| *d = g * m);
        }
        Ok(())
    }

    fn input_grad<'a>(&'a self, upstream: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        if self.masked {
            self.da_prev.view()
        } else {
            upstream
        }
    }

    fn rng_state(&self) -> Option<RngState> {
        Some(RngState::of(&self.rng))
    }

    fn set_rng_state(&mut self, state: &RngState) {
        self.rng = state.restore();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn mask_statistics_scaling_and_determinism() {
        let x = Array2::<f64>::ones((50, 400)).into_dyn();
        let mut layer = Dropout::<f64>::new(&[50], 0.3).unwrap();
        layer.initialize(&mut ChaCha8Rng::seed_from_u64(1));
        let mut twin = layer.clone();
        layer.forward(x.view(), true).unwrap();
        twin.forward(x.view(), true).unwrap();
        assert_eq!(layer.output(x.view()), twin.output(x.view()));
        let a = layer.output(x.view()).to_owned();
        let kept = a.iter().filter(|&&v| v != 0.0).count() as f64 / a.len() as f64;
        assert!((kept - 0.7).abs() < 0.02, "kept {kept}");
        assert!(a.iter().all(|&v| v == 0.0 || (v - 1.0 / 0.7).abs() < 1e-12));
        assert!((a.mean().unwrap() - 1.0).abs() < 0.03);
        // backward applies the same mask
        layer
            .backward(x.view(), Upstream::DA(x.view()), true)
            .unwrap();
        assert_eq!(layer.input_grad(x.view()), a.view());
        // inference: identity, the input itself
        layer.forward(x.view(), false).unwrap();
        assert_eq!(layer.output(x.view()).as_ptr(), x.as_ptr());
        assert!(Dropout::<f32>::new(&[3], 1.0).is_err());
    }
}
