//! A layer written in Python (a subclass of `deepnet.Layer` with a NumPy forward and backward),
//! as one block of a compiled network.
//!
//! The core knows no Python: the layer holds its parameters and gradients in Rust, like every
//! other layer (so the optimizers, checkpoints, gradients and model files treat them alike),
//! and asks a [`Host`] for the two computations. The binding's host calls the Python object;
//! until one is attached the layer refuses to run. The spec carries everything the network
//! needs without running Python: the class's registered name, its constructor's arguments,
//! the input and output shapes and every parameter's name and shape, all validated by
//! [`LayerConfig::plan`] before anything is allocated, like any other spec.

use std::collections::BTreeSet;
use std::sync::Arc;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{expect_shape, CoreError, Result};
use crate::layer::{Layer, Upstream, Workspace};
use crate::layers::{LayerConfig, LayerPlan};
use crate::limits::{check_shape, try_zeros};
use crate::scalar::Float;

/// The most parameters (arrays) one Python layer may declare.
pub const MAX_PYTHON_PARAMS: usize = 64;
/// The longest registered class name and parameter name.
const MAX_NAME: usize = 200;

/// The two computations of a layer written in Python, supplied by the binding.
pub trait Host<F: Float>: Send + Sync {
    /// (9)–(10) or whatever the layer computes: A^[l] from A^[l-1], written into `out`
    /// (of shape output_shape + [m]). `params` are the layer's parameters.
    fn forward(
        &self,
        a_prev: ArrayViewD<F>,
        params: &[ArrayD<F>],
        training: bool,
        out: ArrayViewMutD<F>,
    ) -> Result<()>;
    /// (11)–(14): from dA^[l] (column i is example i's ∂L/∂a, as every layer receives it),
    /// dA^[l-1] into `da_prev` and the parameters' gradients of J (with the 1/m of (12)–(13))
    /// into `grads`, in the parameters' order and shapes.
    fn backward(
        &self,
        a_prev: ArrayViewD<F>,
        da: ArrayViewD<F>,
        params: &[ArrayD<F>],
        da_prev: ArrayViewMutD<F>,
        grads: &mut [ArrayD<F>],
    ) -> Result<()>;
}

/// One parameter of a Python layer: `{"name": "W", "shape": [3, 4]}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    pub name: String,
    pub shape: Vec<usize>,
}

/// A Python layer's spec: `{"type": "python", "kind": "Square", "config": {},
/// "input_shape": [4], "output_shape": [4], "params": []}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonLayerConfig {
    /// The name the class is registered under (`kind` in Python): how a model file finds the
    /// class again. No code is ever stored.
    pub kind: String,
    /// The constructor's arguments (`get_config()`), as JSON.
    #[serde(default)]
    pub config: Map<String, Value>,
    /// One example's input shape, as the layer was built for.
    pub input_shape: Vec<usize>,
    /// One example's output shape.
    pub output_shape: Vec<usize>,
    /// The parameters' names and shapes, in the layer's order.
    #[serde(default)]
    pub params: Vec<ParamSpec>,
    /// Whether the optimizer updates the parameters (Keras' `trainable`).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub trainable: bool,
}

fn yes() -> bool {
    true
}

fn is_true(v: &bool) -> bool {
    *v
}

/// A name as Python would accept it for an attribute: an ASCII identifier.
fn check_name(what: &str, name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = name.len() <= MAX_NAME
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(CoreError::Value(format!(
            "{what}: expected an identifier (letters, digits, _) of at most {MAX_NAME} \
             characters, got {name:?}"
        )))
    }
}

impl LayerConfig for PythonLayerConfig {
    fn plan(&self, input_shape: &[usize]) -> Result<LayerPlan> {
        let kind = &self.kind;
        if kind.is_empty() || kind.len() > MAX_NAME || kind.chars().any(char::is_control) {
            return Err(CoreError::Value(format!(
                "kind: expected a class name of 1 to {MAX_NAME} printable characters, got \
                 {kind:?}"
            )));
        }
        if self.input_shape != input_shape {
            return Err(CoreError::Shape(format!(
                "the Python layer {kind:?} was built for inputs of shape {:?} per example, \
                 got {input_shape:?}",
                self.input_shape
            )));
        }
        check_shape("output_shape", &self.output_shape)?;
        if self.params.len() > MAX_PYTHON_PARAMS {
            return Err(CoreError::Value(format!(
                "params: expected at most {MAX_PYTHON_PARAMS} parameters, got {}",
                self.params.len()
            )));
        }
        let mut seen = BTreeSet::new();
        let mut params = Vec::with_capacity(self.params.len());
        for p in &self.params {
            check_name("params: name", &p.name)?;
            if !seen.insert(p.name.as_str()) {
                return Err(CoreError::Value(format!(
                    "params: the name {:?} appears twice",
                    p.name
                )));
            }
            check_shape(&format!("params: {}", p.name), &p.shape)?;
            params.push((p.name.clone(), p.shape.clone()));
        }
        Ok(LayerPlan {
            output_shape: self.output_shape.clone(),
            params,
        })
    }

    fn build<F: Float>(&self, input_shape: &[usize]) -> Result<Box<dyn Layer<F>>> {
        // the parameters (set from Python after the build) and their gradients
        let zeros = || {
            self.params
                .iter()
                .map(|p| try_zeros(&p.name, &p.shape))
                .collect::<Result<Vec<_>>>()
        };
        let (params, grads) = (zeros()?, zeros()?);
        Ok(Box::new(PythonLayer {
            kind: self.kind.clone(),
            input_shape: input_shape.to_vec(),
            output_shape: self.output_shape.clone(),
            names: self.params.iter().map(|p| p.name.clone()).collect(),
            params,
            grads,
            trainable: self.trainable,
            a: Workspace::default(),
            da_prev: Workspace::default(),
            host: None,
        }))
    }
}

/// A layer whose computations are a [`Host`]'s; its parameters and gradients live here.
pub struct PythonLayer<F: Float> {
    kind: String,
    input_shape: Vec<usize>,
    output_shape: Vec<usize>,
    names: Vec<String>,
    params: Vec<ArrayD<F>>,
    grads: Vec<ArrayD<F>>,
    trainable: bool,
    a: Workspace<F>,
    da_prev: Workspace<F>,
    host: Option<Arc<dyn Host<F>>>,
}

impl<F: Float> PythonLayer<F> {
    fn host(&self) -> Result<Arc<dyn Host<F>>> {
        self.host.clone().ok_or_else(|| {
            CoreError::Type(format!(
                "the Python layer {:?} has no class attached: the network was built without \
                 the Python object that computes it",
                self.kind
            ))
        })
    }

    fn with_m(shape: &[usize], m: usize) -> Vec<usize> {
        let mut shape = shape.to_vec();
        shape.push(m);
        shape
    }
}

impl<F: Float> Layer<F> for PythonLayer<F> {
    fn kind(&self) -> &'static str {
        "python"
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    fn param_names(&self) -> Vec<&str> {
        self.names.iter().map(String::as_str).collect()
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        self.params.iter().map(|p| p.view()).collect()
    }

    fn set_param(&mut self, index: usize, value: ArrayViewD<F>) -> Result<()> {
        let n = self.params.len();
        let (name, target) = self
            .names
            .iter()
            .zip(self.params.iter_mut())
            .nth(index)
            .ok_or_else(|| {
                CoreError::Value(format!(
                    "the Python layer {:?} has {n} parameters, got index {index}",
                    self.kind
                ))
            })?;
        expect_shape(name, target.shape(), value.shape())?;
        target.assign(&value);
        Ok(())
    }

    fn grads(&self) -> Vec<ArrayViewD<'_, F>> {
        self.grads.iter().map(|g| g.view()).collect()
    }

    fn forward(&mut self, a_prev: ArrayViewD<F>, training: bool) -> Result<()> {
        let host = self.host()?;
        let m = *a_prev.shape().last().unwrap_or(&0);
        expect_shape(
            "A_prev",
            &Self::with_m(&self.input_shape, m),
            a_prev.shape(),
        )?;
        self.a.resize(&Self::with_m(&self.output_shape, m))?;
        host.forward(a_prev, &self.params, training, self.a.view_mut())
    }

    fn output<'a>(&'a self, _a_prev: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.a.view()
    }

    fn backward(
        &mut self,
        a_prev: ArrayViewD<F>,
        upstream: Upstream<'_, F>,
        _need_da_prev: bool,
    ) -> Result<()> {
        let host = self.host()?;
        // a Python layer reports no output activation, so the loss never hands it dZ
        let (Upstream::DA(da) | Upstream::DZ(da)) = upstream;
        let m = *a_prev.shape().last().unwrap_or(&0);
        expect_shape("dA", &Self::with_m(&self.output_shape, m), da.shape())?;
        self.da_prev.resize(&Self::with_m(&self.input_shape, m))?;
        host.backward(
            a_prev,
            da,
            &self.params,
            self.da_prev.view_mut(),
            &mut self.grads,
        )
    }

    fn input_grad<'a>(&'a self, _upstream: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.da_prev.view()
    }

    fn for_each_param_grad(&mut self, f: &mut dyn FnMut(ArrayViewMutD<'_, F>, ArrayViewD<'_, F>)) {
        for (p, g) in self.params.iter_mut().zip(&self.grads) {
            f(p.view_mut(), g.view());
        }
    }

    fn trainable(&self) -> bool {
        self.trainable
    }

    fn attach_host(&mut self, host: Arc<dyn Host<F>>) -> Result<()> {
        self.host = Some(host);
        Ok(())
    }

    fn python_kind(&self) -> Option<&str> {
        Some(&self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::LayerSpec;
    use crate::loss::Loss;
    use crate::network::Network;
    use ndarray::{array, Zip};

    /// A = W ⊙ A_prev² (W of shape (n, 1)), written as a host would.
    struct ScaledSquare;

    impl Host<f64> for ScaledSquare {
        fn forward(
            &self,
            a_prev: ArrayViewD<f64>,
            params: &[ArrayD<f64>],
            _training: bool,
            mut out: ArrayViewMutD<f64>,
        ) -> Result<()> {
            let w = params[0]
                .view()
                .into_shape_with_order(params[0].len())
                .unwrap();
            for (mut row, (x, &w)) in out.outer_iter_mut().zip(a_prev.outer_iter().zip(&w)) {
                Zip::from(&mut row).and(&x).for_each(|o, &x| *o = w * x * x);
            }
            Ok(())
        }

        fn backward(
            &self,
            a_prev: ArrayViewD<f64>,
            da: ArrayViewD<f64>,
            params: &[ArrayD<f64>],
            mut da_prev: ArrayViewMutD<f64>,
            grads: &mut [ArrayD<f64>],
        ) -> Result<()> {
            let m = a_prev.shape()[1] as f64;
            let w = params[0]
                .view()
                .into_shape_with_order(params[0].len())
                .unwrap();
            for (i, ((x, d), &w)) in a_prev.outer_iter().zip(da.outer_iter()).zip(&w).enumerate() {
                grads[0][[i, 0]] = Zip::from(&x).and(&d).fold(0.0, |s, &x, &d| s + d * x * x) / m;
                Zip::from(da_prev.index_axis_mut(ndarray::Axis(0), i))
                    .and(&x)
                    .and(&d)
                    .for_each(|o, &x, &d| *o = 2.0 * w * x * d);
            }
            Ok(())
        }
    }

    /// A ScaledSquare layer over `input` inputs, then a linear output unit.
    fn specs(input: usize) -> Vec<LayerSpec> {
        let json = format!(
            r#"[{{"type": "python", "kind": "ScaledSquare", "input_shape": [{input}],
                 "output_shape": [{input}], "params": [{{"name": "w", "shape": [{input}, 1]}}]}},
                {{"type": "dense", "units": 1, "activation": "linear"}}]"#
        );
        LayerSpec::list_from_json(&json).unwrap()
    }

    #[test]
    fn gradients_through_a_host_match_finite_differences() {
        let mut net = Network::<f64>::new(&[2], &specs(2), Loss::Mse, 3).unwrap();
        net.attach_host(0, Arc::new(ScaledSquare)).unwrap();
        assert!(
            net.attach_host(1, Arc::new(ScaledSquare)).is_err(),
            "dense is compiled"
        );
        net.layers_mut()[0]
            .set_param(0, array![[0.5], [-1.5]].into_dyn().view())
            .unwrap();
        let x = array![[0.3, -1.0, 2.0], [1.0, 0.5, -0.7]].into_dyn();
        let y = array![[1.0, 0.0, -1.0]];
        net.gradients(x.view(), y.view()).unwrap();
        let analytic = net.layers()[0].grads()[0].to_owned();
        let eps = 1e-6;
        for i in 0..2 {
            let mut w = net.layers()[0].params()[0].to_owned();
            let old = w[[i, 0]];
            w[[i, 0]] = old + eps;
            net.layers_mut()[0].set_param(0, w.view()).unwrap();
            let plus = net.cost(x.view(), y.view()).unwrap();
            w[[i, 0]] = old - eps;
            net.layers_mut()[0].set_param(0, w.view()).unwrap();
            let minus = net.cost(x.view(), y.view()).unwrap();
            w[[i, 0]] = old;
            net.layers_mut()[0].set_param(0, w.view()).unwrap();
            let numeric = (plus - minus) / (2.0 * eps);
            assert!(
                (numeric - analytic[[i, 0]]).abs() < 1e-7,
                "{numeric} {analytic}"
            );
        }
    }

    #[test]
    fn without_a_host_the_layer_is_an_error_not_a_panic() {
        let mut net = Network::<f64>::new(&[2], &specs(2), Loss::Mse, 3).unwrap();
        let err = net
            .predict(array![[1.0], [2.0]].into_dyn().view())
            .unwrap_err();
        assert!(err.to_string().contains("no class attached"), "{err}");
    }

    #[test]
    fn bad_specs_are_errors() {
        for json in [
            r#"{"type": "python", "kind": "", "input_shape": [2], "output_shape": [2]}"#,
            r#"{"type": "python", "kind": "A", "input_shape": [3], "output_shape": [2]}"#,
            r#"{"type": "python", "kind": "A", "input_shape": [2], "output_shape": []}"#,
            r#"{"type": "python", "kind": "A", "input_shape": [2], "output_shape": [0]}"#,
            r#"{"type": "python", "kind": "A", "input_shape": [2], "output_shape": [2],
                "params": [{"name": "1W", "shape": [2]}]}"#,
            r#"{"type": "python", "kind": "A", "input_shape": [2], "output_shape": [2],
                "params": [{"name": "W", "shape": [2]}, {"name": "W", "shape": [2]}]}"#,
            r#"{"type": "python", "kind": "A", "input_shape": [2], "output_shape": [2],
                "params": [{"name": "W", "shape": [1073741824, 2]}]}"#,
            r#"{"type": "python", "kind": "A", "input_shape": [2], "output_shape": [2],
                "extra": 1}"#,
        ] {
            let planned = LayerSpec::list_from_json(&format!("[{json}]"))
                .and_then(|specs| specs[0].plan(&[2]).map(|_| ()));
            assert!(planned.is_err(), "{json}");
        }
    }
}
