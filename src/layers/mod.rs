//! Layer types, one file per family, and the one schema every layer is declared with.
//!
//! [`LayerSpec`] is what the Python binding receives (as JSON), what [`crate::Network`] builds
//! from and what a model file stores: `{"type": "dense", "units": 64, "activation": "relu"}`.
//! Each layer file defines a config struct (its spec's fields, with serde defaults) that
//! implements [`LayerConfig`]: `plan` checks the configuration against an input shape and
//! computes the output and parameter shapes with checked arithmetic, before anything is
//! allocated; `build` then makes the layer. The registry at the bottom of this file maps each
//! type name to its config: adding a layer is writing its file and one registry line.

pub mod conv;
pub mod dense;
pub mod dropout;
pub mod flatten;
pub mod l2;
pub mod pooling;
pub mod python;
pub mod recurrent;

pub use conv::{Conv, Conv1DConfig, Conv2DConfig, ConvConfig, ConvGeometry, Size2};
pub use dense::{Dense, DenseConfig};
pub use dropout::{Dropout, DropoutConfig};
pub use flatten::{Flatten, FlattenConfig};
pub use pooling::{
    AveragePooling1DConfig, AveragePooling2DConfig, GlobalAveragePooling1DConfig,
    GlobalAveragePooling2DConfig, GlobalMaxPooling1DConfig, GlobalMaxPooling2DConfig,
    MaxPooling1DConfig, MaxPooling2DConfig, Pooling,
};
pub use python::{Host, PythonLayer, PythonLayerConfig};
pub use recurrent::{
    Bidirectional, BidirectionalConfig, GruConfig, LstmConfig, Recurrent, RecurrentSpec,
    SimpleRnnConfig,
};

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::layer::Layer;
use crate::scalar::Float;
use crate::schema::{config, take_tag};

/// What a layer will be, computed from its spec and input shape without allocating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerPlan {
    /// Shape of one example's output (without the m axis).
    pub output_shape: Vec<usize>,
    /// Each parameter's name and shape, in the layer's order.
    pub params: Vec<(String, Vec<usize>)>,
}

impl LayerPlan {
    /// A layer without parameters whose output has `output_shape`.
    pub fn without_params(output_shape: Vec<usize>) -> Self {
        LayerPlan {
            output_shape,
            params: Vec::new(),
        }
    }

    /// Number of trainable scalars (already checked against the limits by `plan`).
    pub fn n_params(&self) -> usize {
        self.params
            .iter()
            .map(|(_, s)| s.iter().product::<usize>())
            .sum()
    }
}

/// A layer's configuration, as its spec holds it (the fields besides `"type"`).
pub trait LayerConfig: Clone + std::fmt::Debug + PartialEq + Serialize + DeserializeOwned {
    /// Checks the configuration against `input_shape` (one example's, without m) and computes
    /// the output and parameter shapes, all before anything is allocated. Errors name the
    /// field (`units: …`) or the input shape and what the layer needs.
    fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan>;
    /// Builds the layer over inputs of shape `input_shape`; called after `plan` passed.
    fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>>;
    /// g^[l], for a layer whose output is g(Z) (see [`Layer::output_activation`]).
    fn output_activation(&self) -> Option<Activation> {
        None
    }
    /// Whether the layer keeps a random stream of its own (saved in model files).
    fn has_rng(&self) -> bool {
        false
    }
}

/// The registry: each layer's type name, `LayerSpec` variant and config struct.
macro_rules! registry {
    ($($kind:literal => $variant:ident($config:ty)),* $(,)?) => {
        /// How to build one layer; the network builds each from the previous layer's output
        /// shape. Serialized with a `"type"` tag and the config's fields.
        #[derive(Clone, Debug, PartialEq, Serialize)]
        #[serde(tag = "type")]
        pub enum LayerSpec {
            $(#[serde(rename = $kind)] $variant($config),)*
        }

        impl LayerSpec {
            /// Every layer type, as specs name them.
            pub const KINDS: &'static [&'static str] = &[$($kind),*];

            /// The layer type, as in the Python API and model files.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(LayerSpec::$variant(_) => $kind,)*
                }
            }

            /// See [`LayerConfig::plan`].
            pub fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
                match self {
                    $(LayerSpec::$variant(c) => c.plan(input_shape),)*
                }
            }

            /// Builds the layer over inputs of shape `input_shape`, after [`LayerSpec::plan`]
            /// passed.
            pub fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
                self.plan(input_shape)?;
                match self {
                    $(LayerSpec::$variant(c) => c.build::<F>(input_shape),)*
                }
            }

            /// See [`LayerConfig::output_activation`].
            pub fn output_activation(&self) -> Option<Activation> {
                match self {
                    $(LayerSpec::$variant(c) => c.output_activation(),)*
                }
            }

            /// See [`LayerConfig::has_rng`].
            pub fn has_rng(&self) -> bool {
                match self {
                    $(LayerSpec::$variant(c) => c.has_rng(),)*
                }
            }
        }

        /// The `"type"` tag picks the config struct, whose errors name the field.
        impl<'de> Deserialize<'de> for LayerSpec {
            fn deserialize<D: Deserializer<'de>>(
                deserializer: D,
            ) -> std::result::Result<Self, D::Error> {
                let mut fields = Map::<String, Value>::deserialize(deserializer)?;
                match take_tag::<D::Error>(&mut fields)?.as_str() {
                    $($kind => Ok(LayerSpec::$variant(config(fields)?)),)*
                    other => Err(D::Error::custom(format!(
                        "type: unknown layer type {other:?}, expected one of {:?}",
                        LayerSpec::KINDS
                    ))),
                }
            }
        }
    };
}

registry! {
    "conv1d" => Conv1D(Conv1DConfig),
    "conv2d" => Conv2D(Conv2DConfig),
    "dense" => Dense(DenseConfig),
    "dropout" => Dropout(DropoutConfig),
    "max_pooling1d" => MaxPooling1D(MaxPooling1DConfig),
    "max_pooling2d" => MaxPooling2D(MaxPooling2DConfig),
    "average_pooling1d" => AveragePooling1D(AveragePooling1DConfig),
    "average_pooling2d" => AveragePooling2D(AveragePooling2DConfig),
    "global_max_pooling1d" => GlobalMaxPooling1D(GlobalMaxPooling1DConfig),
    "global_max_pooling2d" => GlobalMaxPooling2D(GlobalMaxPooling2DConfig),
    "global_average_pooling1d" => GlobalAveragePooling1D(GlobalAveragePooling1DConfig),
    "global_average_pooling2d" => GlobalAveragePooling2D(GlobalAveragePooling2DConfig),
    "flatten" => Flatten(FlattenConfig),
    "simple_rnn" => SimpleRnn(SimpleRnnConfig),
    "gru" => Gru(GruConfig),
    "lstm" => Lstm(LstmConfig),
    "bidirectional" => Bidirectional(BidirectionalConfig),
    "python" => Python(PythonLayerConfig),
}

impl LayerSpec {
    /// Parses a JSON list of specs (the binding's and the model file's form).
    pub fn list_from_json(json: &str) -> Result<Vec<LayerSpec>> {
        let mut de = serde_json::Deserializer::from_str(json);
        let specs: Vec<LayerSpec> = serde_path_to_error::deserialize(&mut de)
            .map_err(|e| CoreError::Value(format!("layer specs: {}: {}", e.path(), e.inner())))?;
        de.end()
            .map_err(|e| CoreError::Value(format!("layer specs: {e}")))?;
        Ok(specs)
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
        assert_eq!(specs[0].output_activation(), Some(Activation::LeakyRelu));
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
        let wide = LayerSpec::Dense(DenseConfig {
            units: 1 << 24,
            activation: Activation::Relu,
            l2: 0.0,
            use_bias: true,
            trainable: true,
        });
        assert!(wide.plan(&[1 << 24]).is_err(), "2^48 weights");
    }
}
