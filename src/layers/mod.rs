//! Layer types, one file each, and the one schema every layer is declared with.
//!
//! [`LayerSpec`] is what the Python binding receives (as JSON), what [`crate::Network`] builds
//! from and what a model file stores. Each spec can be *planned* before anything is allocated:
//! its configuration is checked, and its output shape and parameter shapes are computed with
//! checked arithmetic against the limits of [`crate::limits`].

pub mod dense;
pub mod dropout;

pub use dense::Dense;
pub use dropout::Dropout;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::schema::{config, take_tag};

use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::layer::Layer;
use crate::limits::{check_extent, elements, MAX_TENSOR_ELEMENTS};
use crate::scalar::Float;

/// How to build one layer; the network builds each from the previous layer's output shape.
/// Serialized with a `"type"` tag: `{"type": "dense", "units": 64, "activation": "relu"}`.
/// Deserializing goes through the registry below ([`LayerSpec::deserialize`]): the tag picks
/// a config struct per layer, whose errors name the field (`units: invalid value …`).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayerSpec {
    /// A dense layer of `units` neurons, with an L2 penalty λ = `l2` on its weights.
    Dense {
        units: usize,
        activation: Activation,
        #[serde(default, skip_serializing_if = "is_zero")]
        l2: f64,
    },
    /// Inverted dropout of a fraction `rate` of its inputs (training only).
    Dropout { rate: f64 },
}

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

/// `Dense`'s configuration, as a spec holds it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DenseConfig {
    units: usize,
    activation: Activation,
    #[serde(default)]
    l2: f64,
}

/// `Dropout`'s configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DropoutConfig {
    rate: f64,
}

/// The registry: a spec's `"type"` → its config struct → the [`LayerSpec`].
impl<'de> Deserialize<'de> for LayerSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let mut fields = Map::<String, Value>::deserialize(deserializer)?;
        let kind = take_tag(&mut fields)?;
        match kind.as_str() {
            "dense" => {
                let c: DenseConfig = config(fields)?;
                Ok(LayerSpec::Dense {
                    units: c.units,
                    activation: c.activation,
                    l2: c.l2,
                })
            }
            "dropout" => {
                let c: DropoutConfig = config(fields)?;
                Ok(LayerSpec::Dropout { rate: c.rate })
            }
            other => Err(D::Error::custom(format!(
                "type: unknown layer type {other:?}, expected one of {:?}",
                LayerSpec::KINDS
            ))),
        }
    }
}

/// What a layer will be, computed from its spec and input shape without allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerPlan {
    /// Shape of one example's output (without the m axis).
    pub output_shape: Vec<usize>,
    /// Each parameter's name and shape, in the layer's order.
    pub params: Vec<(&'static str, Vec<usize>)>,
}

impl LayerPlan {
    /// Number of trainable scalars (already checked against the limits by `plan`).
    pub fn n_params(&self) -> usize {
        self.params
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

impl LayerSpec {
    /// Every layer type, as specs name them.
    pub const KINDS: [&'static str; 2] = ["dense", "dropout"];

    /// The layer type, as in the Python API and model files.
    pub fn kind(&self) -> &'static str {
        match self {
            LayerSpec::Dense { .. } => "dense",
            LayerSpec::Dropout { .. } => "dropout",
        }
    }

    /// Parses a JSON list of specs (the binding's and the model file's form).
    pub fn list_from_json(json: &str) -> Result<Vec<LayerSpec>> {
        serde_json::from_str(json).map_err(|e| CoreError::Value(format!("layer specs: {e}")))
    }

    /// Checks the configuration against `input_shape` and computes the output and parameter
    /// shapes, all before anything is allocated.
    pub fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
        match *self {
            LayerSpec::Dense {
                units,
                activation: _,
                l2,
            } => {
                if !(l2.is_finite() && l2 >= 0.0) {
                    return Err(CoreError::Value(format!(
                        "l2: expected a finite number >= 0, got {l2}"
                    )));
                }
                check_extent("units", units)?;
                let n_prev = match input_shape {
                    [n] => *n,
                    other => {
                        return Err(CoreError::Shape(format!(
                            "a dense layer takes a vector per example, i.e. input shape \
                             [n_prev]; got {other:?}"
                        )))
                    }
                };
                check_extent("the number of inputs", n_prev)?;
                elements("W", &[units, n_prev], MAX_TENSOR_ELEMENTS)?;
                Ok(LayerPlan {
                    output_shape: vec![units],
                    params: vec![("W", vec![units, n_prev]), ("b", vec![units, 1])],
                })
            }
            LayerSpec::Dropout { rate } => {
                if !(0.0..1.0).contains(&rate) {
                    return Err(CoreError::Value(format!(
                        "rate: expected a number in [0, 1), got {rate}"
                    )));
                }
                Ok(LayerPlan {
                    output_shape: input_shape.to_vec(),
                    params: Vec::new(),
                })
            }
        }
    }

    /// The output activation g^[l] (linear for layers without one).
    pub fn activation(&self) -> Activation {
        match *self {
            LayerSpec::Dense { activation, .. } => activation,
            LayerSpec::Dropout { .. } => Activation::Linear,
        }
    }

    /// Whether the layer keeps a random stream of its own (saved in model files).
    pub fn has_rng(&self) -> bool {
        matches!(self, LayerSpec::Dropout { .. })
    }

    /// Builds the layer over inputs of shape `input_shape`, after [`LayerSpec::plan`] passed.
    pub fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
        self.plan(input_shape)?;
        match *self {
            LayerSpec::Dropout { rate } => Ok(Box::new(Dropout::new(input_shape, rate)?)),
            LayerSpec::Dense {
                units,
                activation,
                l2,
            } => Ok(Box::new(Dense::with_l2(
                input_shape[0],
                units,
                activation,
                l2,
            )?)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_round_trip_through_json() {
        let json = r#"[{"type": "dense", "units": 4, "activation": "leaky_relu"},
                       {"type": "dropout", "rate": 0.5},
                       {"type": "dense", "units": 1, "activation": "sigmoid", "l2": 0.01}]"#;
        let specs = LayerSpec::list_from_json(json).unwrap();
        assert_eq!(specs[0].activation(), Activation::LeakyRelu);
        let again = serde_json::to_string(&specs).unwrap();
        assert_eq!(LayerSpec::list_from_json(&again).unwrap(), specs);
    }

    #[test]
    fn bad_specs_are_errors_before_allocation() {
        for json in [
            r#"[{"type": "dense", "units": 1000000000000, "activation": "relu"}]"#,
            r#"[{"type": "dense", "units": 18446744073709551616, "activation": "relu"}]"#,
            r#"[{"type": "dense", "units": -1, "activation": "relu"}]"#,
            r#"[{"type": "dense", "units": 1.5, "activation": "relu"}]"#,
            r#"[{"type": "dense", "units": 3, "activation": "swish"}]"#,
            r#"[{"type": "dense", "units": 3, "activation": "relu", "extra": 1}]"#,
            r#"[{"type": "conv", "filters": 3}]"#,
            r#"[{"type": "dropout", "rate": 1.0}]"#,
        ] {
            let planned = LayerSpec::list_from_json(json)
                .and_then(|specs| specs.iter().try_for_each(|s| s.plan(&[3]).map(|_| ())));
            assert!(planned.is_err(), "{json}");
        }
        let deep = "[".repeat(100_000);
        assert!(LayerSpec::list_from_json(&deep).is_err());
        let wide = LayerSpec::Dense {
            units: 1 << 24,
            activation: Activation::Relu,
            l2: 0.0,
        };
        assert!(wide.plan(&[1 << 24]).is_err(), "2^48 weights");
    }
}
