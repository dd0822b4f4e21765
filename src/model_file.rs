//! Reading a model file: the whole file is validated before anything is allocated, then the
//! network is built from it.
//!
//! A file is safetensors bytes whose metadata holds `"format": "deepnet"`, a
//! `"format_version"` and the architecture as JSON ([`Architecture`]). Validation checks, in
//! this order, and with the field named in the error: the safetensors framing (header size,
//! offsets, dtypes, lengths), the format and version, the architecture against its schema (no
//! unknown fields; nesting bounded by serde_json's recursion limit), every layer against the
//! limits of [`crate::limits`] and against its neighbours ([`Network::plan`]), the optimizer's
//! kind, hyperparameters, schedule and counters, the random-stream states, and every tensor:
//! present, of the model's dtype, of its parameter's shape, finite, and none left over. Only
//! then is a [`Network`] allocated and filled.

use std::collections::{BTreeSet, HashMap};

use safetensors::tensor::{SafeTensors, TensorView};
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, Result};
use crate::io::{tensor_from_view, TensorElement};
use crate::layers::{LayerPlan, LayerSpec};
use crate::loss::Loss;
use crate::network::Network;
use crate::optimizers::{Optimizer, OptimizerConfig};
use crate::rng::RngState;

/// The `format` metadata value of a deepnet model file.
pub const FORMAT: &str = "deepnet";
/// The `format_version` this deepnet writes: 2 stores `input_shape` (any number of axes).
pub const FORMAT_VERSION: &str = "2";
/// The versions this deepnet reads: 1 (deepnet 0.1, dense networks with `n_x`) and 2.
pub const READABLE_VERSIONS: [&str; 2] = ["1", "2"];

/// The float type a model computes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DType {
    #[serde(rename = "float32")]
    F32,
    #[serde(rename = "float64")]
    F64,
}

/// The architecture JSON of a model file (format version 1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    /// The deepnet that wrote the file (informative).
    #[serde(default)]
    pub deepnet_version: Option<String>,
    /// Shape of one example's input (format 2), e.g. `[1, 40]` for signals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_shape: Option<Vec<usize>>,
    /// The number of inputs of a dense network (format 1); read as `input_shape = [n_x]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_x: Option<usize>,
    pub loss: Loss,
    pub seed: u64,
    pub dtype: DType,
    pub layers: Vec<LayerSpec>,
    /// Positions of the random streams (hex): shuffling, then each layer that has one.
    pub rng_states: Vec<String>,
    /// The optimizer of the last fit, if any.
    #[serde(default)]
    pub optimizer: Option<OptimizerConfig>,
    #[serde(default)]
    pub optimizer_iterations: Option<u64>,
    #[serde(default)]
    pub optimizer_epochs: Option<u64>,
}

impl Architecture {
    /// One example's input shape: `input_shape`, or `[n_x]` in a version-1 file; exactly one
    /// of the two.
    pub fn input_shape(&self) -> Result<Vec<usize>> {
        match (&self.input_shape, self.n_x) {
            (Some(shape), None) => Ok(shape.clone()),
            (None, Some(n_x)) => Ok(vec![n_x]),
            (Some(_), Some(_)) => Err(invalid("architecture: give input_shape or n_x, not both")),
            (None, None) => Err(invalid(
                "the architecture has no 'input_shape' (nor 'n_x', as version-1 files have)",
            )),
        }
    }
}

fn invalid(what: impl std::fmt::Display) -> CoreError {
    CoreError::Value(format!("not a valid deepnet model file: {what}"))
}

/// A model file that passed validation, ready to be built.
pub struct ModelFile<'a> {
    pub architecture: Architecture,
    tensors: SafeTensors<'a>,
    plans: Vec<LayerPlan>,
    rng_states: Vec<RngState>,
}

impl<'a> ModelFile<'a> {
    /// Validates `bytes` completely (see the module docs); nothing is allocated beyond the
    /// parsed header.
    pub fn parse(bytes: &'a [u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(invalid("the file is empty"));
        }
        check_header(bytes)?;
        let tensors = SafeTensors::deserialize(bytes).map_err(invalid)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(invalid)?;
        let metadata: HashMap<String, String> = header.metadata().clone().unwrap_or_default();
        let format = metadata.get("format").map(String::as_str);
        if format != Some(FORMAT) {
            return Err(invalid(format_args!(
                "its metadata says format {}, not '{FORMAT}'",
                quoted(format)
            )));
        }
        let version = metadata.get("format_version").map(String::as_str);
        if !version.is_some_and(|v| READABLE_VERSIONS.contains(&v)) {
            return Err(invalid(format_args!(
                "format version {}; this deepnet reads {READABLE_VERSIONS:?}",
                quoted(version)
            )));
        }
        let json = metadata
            .get("architecture")
            .ok_or_else(|| invalid("the metadata has no \"architecture\""))?;
        // valid JSON first, so that every later error is about a field, with its path
        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(json) {
            return Err(invalid(format_args!(
                "the architecture is not valid JSON ({e})"
            )));
        }
        if !json.trim_start().starts_with('{') {
            return Err(invalid("the architecture is not a JSON object"));
        }
        let mut de = serde_json::Deserializer::from_str(json);
        let mut architecture: Architecture =
            serde_path_to_error::deserialize(&mut de).map_err(architecture_error)?;
        de.end()
            .map_err(|e| invalid(format_args!("architecture: {e}")))?;
        // one form from here on (a version-1 file's n_x becomes input_shape)
        let input_shape = architecture.input_shape()?;
        let field = match architecture.n_x {
            Some(n_x) => format!("n_x = {n_x}"),
            None => format!("input_shape = {input_shape:?}"),
        };
        architecture.input_shape = Some(input_shape.clone());
        architecture.n_x = None;
        let arch = &architecture;
        let plans = Network::<f32>::plan(&input_shape, &arch.layers, arch.loss)
            .map_err(|e| invalid(format_args!("architecture ({field}): {e}")))?;
        let mut file = ModelFile {
            architecture,
            tensors,
            plans,
            rng_states: Vec::new(),
        };
        file.check_tensors()?;
        file.rng_states = check_rng_states(&file.architecture)?;
        Ok(file)
    }

    /// The parameter tensors' names and shapes, in the network's order.
    fn param_tensors(&self) -> Vec<(String, Vec<usize>)> {
        self.plans
            .iter()
            .enumerate()
            .flat_map(|(l, plan)| {
                plan.params
                    .iter()
                    .map(move |(name, shape)| (format!("layers.{l}.{name}"), shape.clone()))
            })
            .collect()
    }

    /// The optimizer's state tensors' names and shapes, when the file has any.
    fn optimizer_tensors(&self) -> Result<Vec<(String, Vec<usize>)>> {
        let arch = &self.architecture;
        let Some(config) = &arch.optimizer else {
            return Ok(Vec::new());
        };
        let (kind, schedule) = config
            .parts()
            .map_err(|e| invalid(format_args!("architecture.optimizer: {e}")))?;
        let (Some(iterations), Some(epochs)) = (arch.optimizer_iterations, arch.optimizer_epochs)
        else {
            return Err(invalid(
                "architecture: an optimizer needs optimizer_iterations and optimizer_epochs",
            ));
        };
        let params: Vec<Vec<usize>> = self.param_tensors().into_iter().map(|(_, s)| s).collect();
        // the state exists once a step was taken: all of it, or none
        let slots = kind.slot_names();
        let present = self
            .tensors
            .names()
            .iter()
            .any(|n| n.starts_with("optimizer."));
        let names: Vec<(String, Vec<usize>)> = if present {
            params
                .iter()
                .enumerate()
                .flat_map(|(p, shape)| {
                    slots
                        .iter()
                        .map(move |slot| (format!("optimizer.{p}.{slot}"), shape.clone()))
                })
                .collect()
        } else {
            Vec::new()
        };
        // the counters here; the state tensors' shapes with the parameters' in check_tensors
        Optimizer::<f32>::new(kind, schedule)
            .and_then(|opt| opt.check_state(&params, &[], iterations, epochs))
            .map_err(invalid)?;
        Ok(names)
    }

    /// Every expected tensor present, of the model's dtype and its parameter's shape, finite;
    /// no other tensor.
    fn check_tensors(&self) -> Result<()> {
        let expected_dtype = match self.architecture.dtype {
            DType::F32 => <f32 as TensorElement>::SAFETENSORS_DTYPE,
            DType::F64 => <f64 as TensorElement>::SAFETENSORS_DTYPE,
        };
        let mut expected = self.param_tensors();
        expected.extend(self.optimizer_tensors()?);
        let mut used = BTreeSet::new();
        for (name, shape) in &expected {
            let view = self
                .tensors
                .tensor(name)
                .map_err(|_| invalid(format_args!("tensor '{name}' is missing")))?;
            if view.dtype() != expected_dtype {
                return Err(invalid(format_args!(
                    "tensor '{name}' is {}, the model is {}",
                    dtype_name(view.dtype()),
                    dtype_name(expected_dtype)
                )));
            }
            if view.shape() != shape.as_slice() {
                return Err(invalid(format_args!(
                    "tensor '{name}': expected shape {}, got {}",
                    tuple(shape),
                    tuple(view.shape())
                )));
            }
            if !finite(&view) {
                return Err(invalid(format_args!("tensor '{name}' contains NaN or inf")));
            }
            used.insert(name.as_str());
        }
        let mut extra: Vec<String> = self
            .tensors
            .names()
            .into_iter()
            .filter(|n| !used.contains(n))
            .map(str::to_string)
            .collect();
        if !extra.is_empty() {
            extra.sort();
            extra.truncate(5);
            return Err(invalid(format_args!("unexpected tensors {extra:?}")));
        }
        Ok(())
    }

    /// The float type the file's network computes in.
    pub fn dtype(&self) -> DType {
        self.architecture.dtype
    }

    /// Allocates the network and fills it from the file: parameters, optimizer (kind,
    /// schedule, state, counters) and random streams. `F` must be the file's dtype.
    pub fn build<F: TensorElement>(&self) -> Result<Network<F>> {
        let arch = &self.architecture;
        let mut net = Network::<F>::new(&arch.input_shape()?, &arch.layers, arch.loss, arch.seed)?;
        let array = |name: &str| -> Result<ndarray::ArrayD<F>> {
            let view = self.tensors.tensor(name).map_err(invalid)?;
            F::take(tensor_from_view(name, &view)?)
                .ok_or_else(|| invalid(format_args!("tensor {name:?}: wrong dtype")))
        };
        let mut index = 0;
        let names = self.param_tensors();
        for layer in net.layers_mut() {
            for i in 0..layer.param_names().len() {
                layer.set_param(i, array(&names[index].0)?.view())?;
                index += 1;
            }
        }
        if let Some(config) = &arch.optimizer {
            let (kind, schedule) = config.parts()?;
            net.set_optimizer(Optimizer::new(kind, schedule)?);
            let optimizer_names = self.optimizer_tensors()?;
            let slots = net.optimizer().kind().slot_names().len();
            let state = optimizer_names
                .chunks(slots.max(1))
                .map(|chunk| chunk.iter().map(|(n, _)| array(n)).collect())
                .collect::<Result<Vec<Vec<_>>>>()?;
            net.set_optimizer_state(
                state,
                arch.optimizer_iterations.unwrap_or(0),
                arch.optimizer_epochs.unwrap_or(0),
            )?;
        }
        net.set_rng_states(&self.rng_states)?;
        Ok(net)
    }
}

/// The safetensors crate's own limit on the header's size.
const MAX_HEADER_BYTES: usize = 100_000_000;

/// Checks the safetensors header entry by entry before the safetensors crate reads it, so that
/// an error names the tensor and the field (the crate's messages name neither): the header's
/// length, and each tensor's dtype, shape (checked arithmetic) and data offsets. The crate
/// then checks the rest (offsets contiguous, no overlap, the data's length).
fn check_header(bytes: &[u8]) -> Result<()> {
    let Some((len, rest)) = bytes.split_first_chunk::<8>() else {
        return Err(invalid(format_args!(
            "{} bytes are too few for a safetensors header",
            bytes.len()
        )));
    };
    let len = u64::from_le_bytes(*len);
    let len = usize::try_from(len)
        .ok()
        .filter(|&n| n <= rest.len() && n <= MAX_HEADER_BYTES)
        .ok_or_else(|| {
            invalid(format_args!(
                "the header length field says {len} bytes; the file has {} after it (and \
                 headers are at most {MAX_HEADER_BYTES})",
                rest.len()
            ))
        })?;
    let data_len = (rest.len() - len) as u64;
    let header: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&rest[..len])
        .map_err(|e| {
        invalid(format_args!(
            "the safetensors header is not a JSON object ({e})"
        ))
    })?;
    for (name, entry) in header.iter().filter(|(name, _)| *name != "__metadata__") {
        let field = |what: &str| invalid(format_args!("tensor '{name}': {what}"));
        let get = |key: &str| entry.as_object().and_then(|o| o.get(key));
        let size: u64 = match get("dtype").and_then(|d| d.as_str()) {
            Some("F32") => 4,
            Some("F64") => 8,
            Some(other) => {
                return Err(field(&format!(
                    "dtype '{}' is not F32 or F64 (the float types of deepnet files)",
                    other.chars().take(20).collect::<String>()
                )))
            }
            None => return Err(field("dtype: expected a name such as \"F32\"")),
        };
        let shape = get("shape")
            .and_then(|s| s.as_array())
            .and_then(|s| s.iter().map(|d| d.as_u64()).collect::<Option<Vec<u64>>>())
            .ok_or_else(|| field("shape: expected a list of non-negative integers"))?;
        let nbytes = shape
            .iter()
            .try_fold(size, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| field(&format!("shape {shape:?} is too large")))?;
        let offsets = get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|s| s.iter().map(|d| d.as_u64()).collect::<Option<Vec<u64>>>())
            .filter(|o| o.len() == 2)
            .ok_or_else(|| field("data_offsets: expected [begin, end]"))?;
        let (begin, end) = (offsets[0], offsets[1]);
        if begin > end || end > data_len || end - begin != nbytes {
            return Err(field(&format!(
                "data_offsets [{begin}, {end}] do not hold its {nbytes} bytes within the \
                 file's {data_len} bytes of data"
            )));
        }
    }
    Ok(())
}

/// A shape as Python prints it: (2, 3), (4,).
fn tuple(shape: &[usize]) -> String {
    match shape {
        [n] => format!("({n},)"),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The numpy name of a safetensors dtype.
fn dtype_name(dtype: safetensors::Dtype) -> String {
    match dtype {
        safetensors::Dtype::F32 => "float32".into(),
        safetensors::Dtype::F64 => "float64".into(),
        other => format!("{other:?}"),
    }
}

/// A metadata value as Python would print it: 'text' or None.
fn quoted(value: Option<&str>) -> String {
    match value {
        Some(v) => format!("'{}'", v.chars().take(40).collect::<String>()),
        None => "None".into(),
    }
}

/// An architecture that does not parse, with the field that failed.
fn architecture_error(e: serde_path_to_error::Error<serde_json::Error>) -> CoreError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    // the JSON itself was checked first, so this is about a field (serde_json reports some
    // type errors, a number where a name belongs, as syntax errors)
    let message = inner.to_string();
    if path == "." {
        if let Some(field) = message
            .strip_prefix("missing field `")
            .and_then(|m| m.split('`').next())
        {
            return invalid(format_args!("the architecture has no '{field}'"));
        }
        if message.starts_with("invalid type") {
            return invalid("the architecture is not a JSON object");
        }
        return invalid(format_args!("architecture: {message}"));
    }
    invalid(format_args!("architecture.{path}: {message}"))
}

fn check_rng_states(arch: &Architecture) -> Result<Vec<RngState>> {
    let expected = 1 + arch.layers.iter().filter(|l| l.has_rng()).count();
    if arch.rng_states.len() != expected {
        return Err(invalid(format_args!(
            "architecture.rng_states: expected {expected} states (shuffling, then one per \
             dropout layer), got {}",
            arch.rng_states.len()
        )));
    }
    arch.rng_states
        .iter()
        .enumerate()
        .map(|(i, s)| {
            RngState::from_hex(s)
                .map_err(|e| invalid(format_args!("architecture.rng_states[{i}]: {e}")))
        })
        .collect()
}

/// Whether every number of a float tensor is finite (read straight from its bytes).
fn finite(view: &TensorView<'_>) -> bool {
    let data = view.data();
    match view.dtype() {
        safetensors::Dtype::F32 => data
            .chunks_exact(4)
            .all(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]).is_finite()),
        safetensors::Dtype::F64 => data
            .chunks_exact(8)
            .all(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")).is_finite()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{to_safetensors, Tensor};

    fn file(arch: &str, tensors: Vec<(String, Tensor)>) -> Vec<u8> {
        let meta = HashMap::from([
            ("format".to_string(), FORMAT.to_string()),
            ("format_version".to_string(), FORMAT_VERSION.to_string()),
            ("architecture".to_string(), arch.to_string()),
        ]);
        to_safetensors(&tensors, meta).unwrap()
    }

    fn rng() -> String {
        "0".repeat(112)
    }

    fn dense_arch(units: &str) -> String {
        format!(
            r#"{{"n_x": 2, "loss": "mse", "seed": 0, "dtype": "float32",
                "layers": [{{"type": "dense", "units": {units}, "activation": "linear"}}],
                "rng_states": ["{}"], "optimizer": null}}"#,
            rng()
        )
    }

    fn w_b(units: usize) -> Vec<(String, Tensor)> {
        vec![
            (
                "layers.0.W".into(),
                Tensor::F32(ndarray::ArrayD::zeros(vec![units, 2])),
            ),
            (
                "layers.0.b".into(),
                Tensor::F32(ndarray::ArrayD::zeros(vec![units, 1])),
            ),
        ]
    }

    #[test]
    fn a_valid_file_builds() {
        let bytes = file(&dense_arch("3"), w_b(3));
        let parsed = ModelFile::parse(&bytes).unwrap();
        let net = parsed.build::<f32>().unwrap();
        assert_eq!(net.n_params(), 9);
    }

    #[test]
    fn hostile_files_are_errors_naming_the_field() {
        type Case = (String, Vec<(String, Tensor)>, &'static str);
        let cases: Vec<Case> = vec![
            (dense_arch("1000000000000"), w_b(3), "units"),
            (dense_arch("10000000000000000000"), w_b(3), "units"),
            (dense_arch("18446744073709551616"), w_b(3), "units"),
            (dense_arch("-1"), w_b(3), "units"),
            (dense_arch("\"ten\""), w_b(3), "units"),
            (dense_arch("4"), w_b(3), "layers.0.W"),
            (dense_arch("3"), w_b(3)[..1].to_vec(), "layers.0.b"),
            ("[".repeat(100_000), w_b(3), "architecture"),
            (
                dense_arch("3").replace("\"mse\"", "\"hinge\""),
                w_b(3),
                "loss",
            ),
            (
                dense_arch("3").replace("\"seed\": 0", "\"seed\": -5"),
                w_b(3),
                "seed",
            ),
            (
                dense_arch("3").replace(
                    "\"optimizer\": null",
                    r#""optimizer": {"kind": "adam", "hyper": {}, "schedule":
                        {"type": "constant", "learning_rate": 0.1}},
                       "optimizer_iterations": 18446744073709551615, "optimizer_epochs": 0"#,
                ),
                w_b(3),
                "optimizer_iterations",
            ),
        ];
        for (arch, tensors, field) in cases {
            let bytes = file(&arch, tensors);
            let err = ModelFile::parse(&bytes)
                .err()
                .expect("must fail")
                .to_string();
            assert!(err.starts_with("not a valid deepnet model file"), "{err}");
            assert!(err.contains(field), "{field} not in {err}");
        }
    }

    #[test]
    fn optimizer_state_is_checked_slot_by_slot() {
        let arch = dense_arch("3").replace(
            "\"optimizer\": null",
            r#""optimizer": {"kind": "adam", "hyper": {}, "schedule":
                {"type": "constant", "learning_rate": 0.1}},
               "optimizer_iterations": 5, "optimizer_epochs": 1"#,
        );
        let mut tensors = w_b(3);
        for (p, shape) in [(0, vec![3, 2]), (1, vec![3, 1])] {
            for slot in ["m", "v"] {
                // parameter 1's v has the wrong shape: only it may be blamed
                let shape = if (p, slot) == (1, "v") {
                    vec![3, 2]
                } else {
                    shape.clone()
                };
                tensors.push((
                    format!("optimizer.{p}.{slot}"),
                    Tensor::F32(ndarray::ArrayD::zeros(shape)),
                ));
            }
        }
        let err = ModelFile::parse(&file(&arch, tensors))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("optimizer.1.v"), "{err}");
    }
}
