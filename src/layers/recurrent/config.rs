//! The recurrent layers' specs: `simple_rnn`, `gru`, `lstm`, and `bidirectional`, which wraps
//! one of the three as `{"type": "bidirectional", "layer": {"type": "gru", "units": 6}}`.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::layer::Layer;
use crate::layers::{LayerConfig, LayerPlan};
use crate::limits::{check_extent, elements, MAX_TENSOR_ELEMENTS};
use crate::scalar::Float;
use crate::schema::{config, take_tag};

use super::{Bidirectional, Cell, Recurrent};

fn is_zero(v: &f64) -> bool {
    *v == 0.0
}

fn tanh() -> Activation {
    Activation::Tanh
}

/// `SimpleRnn`'s spec: `{"type": "simple_rnn", "units": 8, "activation": "tanh",
/// "return_sequences": false, "l2": 0.0}` (all but `units` optional).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimpleRnnConfig {
    /// u, the size of the state h.
    pub units: usize,
    /// g of h_t = g(z_t): any activation but softmax; tanh by default.
    #[serde(default = "tanh")]
    pub activation: Activation,
    /// Output h_t for every step, (units, time, m), instead of the last, (units, m).
    #[serde(default)]
    pub return_sequences: bool,
    /// λ of the L2 penalty (λ/2)(‖Wx‖² + ‖Wh‖²).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l2: f64,
}

/// `Gru`'s spec: `{"type": "gru", "units": 8, "return_sequences": false, "l2": 0.0}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GruConfig {
    /// u, the size of the state h.
    pub units: usize,
    /// Output h_t for every step, (units, time, m), instead of the last, (units, m).
    #[serde(default)]
    pub return_sequences: bool,
    /// λ of the L2 penalty (λ/2)(‖Wx‖² + ‖Wh‖²).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l2: f64,
}

/// `Lstm`'s spec: `{"type": "lstm", "units": 8, "return_sequences": false, "l2": 0.0}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LstmConfig {
    /// u, the size of the states h and c.
    pub units: usize,
    /// Output h_t for every step, (units, time, m), instead of the last, (units, m).
    #[serde(default)]
    pub return_sequences: bool,
    /// λ of the L2 penalty (λ/2)(‖Wx‖² + ‖Wh‖²).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub l2: f64,
}

/// The shared plan of the three recurrent layers: checks, then shapes, nothing allocated.
fn plan_recurrent(
    cell: Cell,
    units: usize,
    return_sequences: bool,
    l2: f64,
    input_shape: &[usize],
) -> Result<LayerPlan> {
    if let Cell::SimpleRnn(Activation::Softmax) = cell {
        return Err(CoreError::Value(
            "activation: softmax is not allowed in a recurrent layer (its Jacobian is full); \
             use tanh, sigmoid, relu, leaky_relu or linear"
                .into(),
        ));
    }
    if !(l2.is_finite() && l2 >= 0.0) {
        return Err(CoreError::Value(format!(
            "l2: expected a finite number >= 0, got {l2}"
        )));
    }
    check_extent("units", units)?;
    let (n_x, time) = time_axis(cell.kind(), input_shape)?;
    check_extent("the number of input features", n_x)?;
    check_extent("the number of time steps", time)?;
    let rows = units
        .checked_mul(cell.gates())
        .ok_or_else(|| CoreError::Value(format!("units: {units} is too large")))?;
    elements("Wx", &[rows, n_x], MAX_TENSOR_ELEMENTS)?;
    elements("Wh", &[rows, units], MAX_TENSOR_ELEMENTS)?;
    Ok(LayerPlan {
        output_shape: if return_sequences {
            vec![units, time]
        } else {
            vec![units]
        },
        params: vec![
            ("Wx".into(), vec![rows, n_x]),
            ("Wh".into(), vec![rows, units]),
            ("bx".into(), vec![rows, 1]),
            ("bh".into(), vec![rows, 1]),
        ],
    })
}

/// (features, time) of a per-example input shape, or an error naming the layer.
pub(super) fn time_axis(kind: &str, input_shape: &[usize]) -> Result<(usize, usize)> {
    match *input_shape {
        [n_x, time] => Ok((n_x, time)),
        _ => Err(CoreError::Shape(format!(
            "{kind} takes (features, time) per example, got input shape {input_shape:?}: a \
             recurrent layer needs a time axis"
        ))),
    }
}

macro_rules! recurrent_config {
    ($config:ty, |$c:ident| $cell:expr) => {
        impl LayerConfig for $config {
            fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
                let $c = self;
                plan_recurrent(
                    $cell,
                    self.units,
                    self.return_sequences,
                    self.l2,
                    input_shape,
                )
            }

            fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
                Ok(Box::new(
                    RecurrentSpec::from(self.clone()).layer(input_shape)?,
                ))
            }
        }
    };
}

recurrent_config!(SimpleRnnConfig, |c| Cell::SimpleRnn(c.activation));
recurrent_config!(GruConfig, |_c| Cell::Gru);
recurrent_config!(LstmConfig, |_c| Cell::Lstm);

/// One of the three recurrent specs, tagged with its `"type"`: what a `bidirectional` layer
/// wraps.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum RecurrentSpec {
    #[serde(rename = "simple_rnn")]
    SimpleRnn(SimpleRnnConfig),
    #[serde(rename = "gru")]
    Gru(GruConfig),
    #[serde(rename = "lstm")]
    Lstm(LstmConfig),
}

impl From<SimpleRnnConfig> for RecurrentSpec {
    fn from(c: SimpleRnnConfig) -> Self {
        RecurrentSpec::SimpleRnn(c)
    }
}

impl From<GruConfig> for RecurrentSpec {
    fn from(c: GruConfig) -> Self {
        RecurrentSpec::Gru(c)
    }
}

impl From<LstmConfig> for RecurrentSpec {
    fn from(c: LstmConfig) -> Self {
        RecurrentSpec::Lstm(c)
    }
}

impl RecurrentSpec {
    /// The recurrent types a `bidirectional` layer may wrap.
    pub const KINDS: &'static [&'static str] = &["simple_rnn", "gru", "lstm"];

    /// The cell, units, return_sequences and λ of the spec.
    pub fn parts(&self) -> (Cell, usize, bool, f64) {
        match self {
            RecurrentSpec::SimpleRnn(c) => (
                Cell::SimpleRnn(c.activation),
                c.units,
                c.return_sequences,
                c.l2,
            ),
            RecurrentSpec::Gru(c) => (Cell::Gru, c.units, c.return_sequences, c.l2),
            RecurrentSpec::Lstm(c) => (Cell::Lstm, c.units, c.return_sequences, c.l2),
        }
    }

    /// See [`LayerConfig::plan`].
    pub fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
        let (cell, units, return_sequences, l2) = self.parts();
        plan_recurrent(cell, units, return_sequences, l2, input_shape)
    }

    /// The layer over inputs of shape `input_shape` (features, time), after `plan` passed.
    pub fn layer<F: Float>(&self, input_shape: &[usize]) -> Result<Recurrent<F>> {
        let (cell, units, return_sequences, l2) = self.parts();
        let (n_x, time) = time_axis(cell.kind(), input_shape)?;
        Recurrent::new(cell, n_x, time, units, return_sequences, l2)
    }
}

impl<'de> Deserialize<'de> for RecurrentSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let mut fields = Map::<String, Value>::deserialize(deserializer)?;
        match take_tag::<D::Error>(&mut fields)?.as_str() {
            "simple_rnn" => Ok(RecurrentSpec::SimpleRnn(config(fields)?)),
            "gru" => Ok(RecurrentSpec::Gru(config(fields)?)),
            "lstm" => Ok(RecurrentSpec::Lstm(config(fields)?)),
            other => Err(D::Error::custom(format!(
                "type: a bidirectional layer wraps one of {:?}, got {other:?}",
                RecurrentSpec::KINDS
            ))),
        }
    }
}

/// `Bidirectional`'s spec: `{"type": "bidirectional", "layer": {"type": "gru", "units": 6,
/// "return_sequences": true}}`. The wrapped layer is copied: one copy runs forward in time, one
/// backward, each with its own parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidirectionalConfig {
    /// The recurrent layer to run in both directions.
    pub layer: RecurrentSpec,
}

/// Prefixes "layer: " to an error of the wrapped spec.
fn in_layer(e: CoreError) -> CoreError {
    match e {
        CoreError::Shape(s) => CoreError::Shape(format!("layer: {s}")),
        CoreError::Value(s) => CoreError::Value(format!("layer: {s}")),
        CoreError::Type(s) => CoreError::Type(format!("layer: {s}")),
    }
}

impl LayerConfig for BidirectionalConfig {
    fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
        time_axis("bidirectional", input_shape)?;
        let inner = self.layer.plan(input_shape).map_err(in_layer)?;
        let mut output_shape = inner.output_shape.clone();
        output_shape[0] = output_shape[0]
            .checked_mul(2)
            .ok_or_else(|| CoreError::Value("layer: units: too large".into()))?;
        let names = Bidirectional::<f64>::PARAM_NAMES;
        let params = inner
            .params
            .iter()
            .chain(&inner.params)
            .zip(names)
            .map(|((_, shape), name)| (name.to_string(), shape.clone()))
            .collect();
        Ok(LayerPlan {
            output_shape,
            params,
        })
    }

    fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
        let forward = self.layer.layer(input_shape).map_err(in_layer)?;
        let backward = self.layer.layer(input_shape).map_err(in_layer)?.reversed();
        Ok(Box::new(Bidirectional::new(forward, backward)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::LayerSpec;

    #[test]
    fn specs_round_trip_and_plan_the_built_shapes() {
        let json = r#"[{"type": "simple_rnn", "units": 4},
                       {"type": "simple_rnn", "units": 4, "activation": "relu", "l2": 0.01},
                       {"type": "gru", "units": 5, "return_sequences": true},
                       {"type": "lstm", "units": 3},
                       {"type": "bidirectional",
                        "layer": {"type": "gru", "units": 6, "return_sequences": true}},
                       {"type": "bidirectional", "layer": {"type": "lstm", "units": 2}}]"#;
        let specs = LayerSpec::list_from_json(json).unwrap();
        let again = serde_json::to_string(&specs).unwrap();
        assert_eq!(LayerSpec::list_from_json(&again).unwrap(), specs);
        match &specs[0] {
            LayerSpec::SimpleRnn(c) => {
                assert_eq!(c.activation, Activation::Tanh);
                assert!(!c.return_sequences);
            }
            other => panic!("{other:?}"),
        }
        let outputs: [&[usize]; 6] = [&[4], &[4], &[5, 7], &[3], &[12, 7], &[4]];
        for (spec, output) in specs.iter().zip(outputs) {
            let plan = spec.plan(&[2, 7]).unwrap();
            assert_eq!(plan.output_shape, output, "{spec:?}");
            let l = spec.build::<f32>(&[2, 7]).unwrap();
            assert_eq!(l.output_shape(), output);
            assert_eq!(l.kind(), spec.kind());
            let names: Vec<&str> = plan.params.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, l.param_names());
            let shapes: Vec<Vec<usize>> = l.params().iter().map(|p| p.shape().to_vec()).collect();
            let planned: Vec<Vec<usize>> = plan.params.iter().map(|(_, s)| s.clone()).collect();
            assert_eq!(shapes, planned, "{spec:?}");
            assert!(l.output_activation().is_none());
        }
        let plan = specs[4].plan(&[2, 7]).unwrap();
        assert_eq!(plan.params[0], ("forward_Wx".into(), vec![18, 2]));
        assert_eq!(plan.params[5], ("backward_Wh".into(), vec![18, 6]));
    }

    #[test]
    fn bad_specs_are_errors_that_name_the_field() {
        let cases = [
            (r#"{"type": "gru", "units": 0}"#, "units"),
            (r#"{"type": "gru", "units": -1}"#, "units"),
            (
                r#"{"type": "lstm", "units": 3, "activation": "relu"}"#,
                "activation",
            ),
            (
                r#"{"type": "simple_rnn", "units": 3, "activation": "softmax"}"#,
                "softmax",
            ),
            (
                r#"{"type": "simple_rnn", "units": 3, "activation": "swish"}"#,
                "activation",
            ),
            (r#"{"type": "lstm", "units": 3, "l2": -1.0}"#, "l2"),
            (
                r#"{"type": "gru", "units": 3, "return_sequences": 1}"#,
                "return_sequences",
            ),
            (r#"{"type": "lstm", "units": 16777217}"#, "units"),
            (
                r#"{"type": "bidirectional", "layer": {"type": "gru", "units": -2}}"#,
                "layer: units",
            ),
            (
                r#"{"type": "bidirectional", "layer": {"type": "gru", "units": 0}}"#,
                "layer: units",
            ),
            (
                r#"{"type": "bidirectional", "layer": {"type": "dense", "units": 2, "activation": "relu"}}"#,
                "layer: type",
            ),
            (
                r#"{"type": "bidirectional", "layer": {"type": "bidirectional", "layer": {"type": "gru", "units": 2}}}"#,
                "layer: type",
            ),
            (
                r#"{"type": "bidirectional", "layer": {"units": 2}}"#,
                "layer",
            ),
            (
                r#"{"type": "bidirectional", "layer": {"type": "gru", "units": 2, "x": 1}}"#,
                "layer",
            ),
            (r#"{"type": "bidirectional"}"#, "layer"),
            (
                r#"{"type": "bidirectional", "layer": {"type": "gru", "units": 2}, "merge": "sum"}"#,
                "merge",
            ),
        ];
        for (json, field) in cases {
            let err = LayerSpec::list_from_json(&format!("[{json}]"))
                .and_then(|specs| specs[0].plan(&[3, 4]).map(|_| ()))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{json}: {err}");
        }
    }

    #[test]
    fn a_recurrent_layer_needs_a_time_axis() {
        let gru = LayerSpec::list_from_json(r#"[{"type": "gru", "units": 4}]"#).unwrap();
        let err = gru[0].plan(&[64]).unwrap_err().to_string();
        assert_eq!(
            err,
            "gru takes (features, time) per example, got input shape [64]: a recurrent layer \
             needs a time axis"
        );
        assert!(gru[0].plan(&[3, 4, 5]).is_err());
        assert!(gru[0].plan(&[3, 0]).is_err());
        let bi = LayerSpec::list_from_json(
            r#"[{"type": "bidirectional", "layer": {"type": "lstm", "units": 2}}]"#,
        )
        .unwrap();
        assert!(bi[0]
            .plan(&[64])
            .unwrap_err()
            .to_string()
            .starts_with("bidirectional takes"));
        assert!(bi[0].build::<f64>(&[64]).is_err());
    }
}
