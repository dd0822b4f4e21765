//! The PyO3 binding: the only module that knows Python. It converts arrays (no copy on the way
//! in: `as_array` views of the caller's buffers, whatever their strides), releases the GIL around
//! every kernel, and maps [`CoreError`] to Python exceptions. No maths here.

use ndarray::Dimension;
use numpy::prelude::*;
use numpy::{Element, IntoPyArray, PyArray, PyReadonlyArray, PyUntypedArray};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use pyo3::exceptions::{PyKeyboardInterrupt, PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::activation::Activation;
use crate::error::CoreError;
use crate::io::{from_safetensors, to_safetensors, Tensor};
use crate::layers::dense;
use crate::loss::Loss;
use crate::matmul;
use crate::network::{FitOptions, LayerSpec, Network, INTERRUPT_POLL};
use crate::optimizers::sgd_update;
use crate::optimizers::{Optimizer, OptimizerKind, Schedule};
use crate::rng::RngState;
use crate::scalar::Float;

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        match err {
            CoreError::Shape(msg) | CoreError::Value(msg) => PyValueError::new_err(msg),
            CoreError::Type(msg) => PyTypeError::new_err(msg),
        }
    }
}

/// "a 3-D float64 array" or the Python type name, for error messages.
fn describe(obj: &Bound<'_, PyAny>) -> String {
    match obj.cast::<PyUntypedArray>() {
        Ok(arr) => format!("a {}-D {} array", arr.ndim(), arr.dtype()),
        Err(_) => obj
            .get_type()
            .name()
            .map(|n| format!("an object of type {n}"))
            .unwrap_or_else(|_| "an object of unknown type".into()),
    }
}

/// Borrows `obj` as a read-only array of `F` with dimension `D`, or raises a TypeError that
/// names what was expected and what was given.
fn readonly<'py, F: Float + Element, D: Dimension>(
    obj: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<PyReadonlyArray<'py, F, D>> {
    obj.extract::<PyReadonlyArray<'py, F, D>>().map_err(|_| {
        let ndim = D::NDIM.map(|n| format!("{n}-D ")).unwrap_or_default();
        PyTypeError::new_err(format!(
            "{name}: expected a {ndim}numpy array of {}, got {}",
            F::DTYPE,
            describe(obj)
        ))
    })
}

/// Whether `obj` is a float64 array (the kernels' other type is float32).
fn is_f64(obj: &Bound<'_, PyAny>, name: &str) -> PyResult<bool> {
    let arr = obj.cast::<PyUntypedArray>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{name}: expected a numpy array of float32 or float64, got {}",
            describe(obj)
        ))
    })?;
    let dtype = arr.dtype();
    let py = obj.py();
    if dtype.is_equiv_to(&numpy::dtype::<f64>(py)) {
        Ok(true)
    } else if dtype.is_equiv_to(&numpy::dtype::<f32>(py)) {
        Ok(false)
    } else {
        Err(PyTypeError::new_err(format!(
            "{name}: expected a numpy array of float32 or float64, got {}",
            describe(obj)
        )))
    }
}

fn learning_rate<F: Float>(lr: f64) -> PyResult<F> {
    if lr.is_finite() && lr > 0.0 {
        Ok(F::c(lr))
    } else {
        Err(PyValueError::new_err(format!(
            "learning_rate must be a positive finite number, got {lr}"
        )))
    }
}

// ---------------------------------------------------------------------------------------------
// Kernels a student calls by hand (deepnet.ops). Each is generic over the float type and
// dispatched on the dtype of its first array argument.

fn dense_forward_impl<'py, F: Float + Element>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    a_prev: &Bound<'py, PyAny>,
    activation: Activation,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let (w, b, a_prev) = (
        readonly::<F, ndarray::Ix2>(w, "W")?,
        readonly::<F, ndarray::Ix2>(b, "b")?,
        readonly::<F, ndarray::Ix2>(a_prev, "A_prev")?,
    );
    let (w, b, a_prev) = (w.as_array(), b.as_array(), a_prev.as_array());
    let shape = (w.nrows(), a_prev.ncols());
    let (z, a) = py.detach(|| -> Result<_, CoreError> {
        let mut z = ndarray::Array2::<F>::zeros(shape);
        let mut a = ndarray::Array2::<F>::zeros(shape);
        if w.ncols() != a_prev.nrows() {
            return Err(CoreError::Shape(format!(
                "A_prev: expected {} rows (the columns of W, n^[l-1]), got shape {:?}",
                w.ncols(),
                a_prev.shape()
            )));
        }
        dense::forward(w, b, a_prev, activation, z.view_mut(), a.view_mut())?;
        Ok((z, a))
    })?;
    Ok((z.into_pyarray(py).into_any(), a.into_pyarray(py).into_any()))
}

/// (9)–(10): returns (Z, A) for W (n, n_prev), b (n, 1), A_prev (n_prev, m).
#[pyfunction]
fn dense_forward<'py>(
    py: Python<'py>,
    w: &Bound<'py, PyAny>,
    b: &Bound<'py, PyAny>,
    a_prev: &Bound<'py, PyAny>,
    activation: &str,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let act = Activation::from_name(activation)?;
    if is_f64(w, "W")? {
        dense_forward_impl::<f64>(py, w, b, a_prev, act)
    } else {
        dense_forward_impl::<f32>(py, w, b, a_prev, act)
    }
}

type Grads<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
);

#[allow(clippy::too_many_arguments)]
fn dense_backward_impl<'py, F: Float + Element>(
    py: Python<'py>,
    da: &Bound<'py, PyAny>,
    z: &Bound<'py, PyAny>,
    a: &Bound<'py, PyAny>,
    a_prev: &Bound<'py, PyAny>,
    w: &Bound<'py, PyAny>,
    activation: Activation,
    upstream_is_dz: bool,
    first_layer: bool,
) -> PyResult<Grads<'py>> {
    let upstream_name = if upstream_is_dz { "dZ" } else { "dA" };
    let da = readonly::<F, ndarray::Ix2>(da, upstream_name)?;
    let z = readonly::<F, ndarray::Ix2>(z, "Z")?;
    let a = readonly::<F, ndarray::Ix2>(a, "A")?;
    let a_prev = readonly::<F, ndarray::Ix2>(a_prev, "A_prev")?;
    let w = readonly::<F, ndarray::Ix2>(w, "W")?;
    let (da, z, a, a_prev, w) = (
        da.as_array(),
        z.as_array(),
        a.as_array(),
        a_prev.as_array(),
        w.as_array(),
    );
    let (dw, db, da_prev) = py.detach(|| -> Result<_, CoreError> {
        let (n, n_prev) = w.dim();
        let m = a_prev.ncols();
        for (name, arr) in [(upstream_name, &da), ("Z", &z), ("A", &a)] {
            crate::error::expect_shape(name, &[n, m], arr.shape())?;
        }
        // (11) dZ = dA * g′(Z), unless the caller passed dZ itself
        let computed;
        let dz = if upstream_is_dz {
            da
        } else {
            let mut dz = ndarray::Array2::<F>::zeros((n, m));
            activation.backward(da, z, a, dz.view_mut());
            computed = dz;
            computed.view()
        };
        let mut dw = ndarray::Array2::<F>::zeros((n, n_prev));
        let mut db = ndarray::Array2::<F>::zeros((n, 1));
        let mut da_prev = (!first_layer).then(|| ndarray::Array2::<F>::zeros((n_prev, m)));
        dense::backward_from_dz(
            w,
            a_prev,
            dz,
            dw.view_mut(),
            db.view_mut(),
            da_prev.as_mut().map(|d| d.view_mut()),
        )?;
        Ok((dw, db, da_prev))
    })?;
    Ok((
        dw.into_pyarray(py).into_any(),
        db.into_pyarray(py).into_any(),
        da_prev.map(|d| d.into_pyarray(py).into_any()),
    ))
}

/// (11)–(14): returns (dW, db, dA_prev) (dA_prev is None for the first layer). With
/// `upstream_is_dz`, `da` is dZ already (the collapsed Ŷ − Y) and (11) is skipped.
#[pyfunction]
#[pyo3(signature = (da, z, a, a_prev, w, activation, upstream_is_dz=false, first_layer=false))]
#[allow(clippy::too_many_arguments)]
fn dense_backward<'py>(
    py: Python<'py>,
    da: &Bound<'py, PyAny>,
    z: &Bound<'py, PyAny>,
    a: &Bound<'py, PyAny>,
    a_prev: &Bound<'py, PyAny>,
    w: &Bound<'py, PyAny>,
    activation: &str,
    upstream_is_dz: bool,
    first_layer: bool,
) -> PyResult<Grads<'py>> {
    let act = Activation::from_name(activation)?;
    if is_f64(w, "W")? {
        dense_backward_impl::<f64>(py, da, z, a, a_prev, w, act, upstream_is_dz, first_layer)
    } else {
        dense_backward_impl::<f32>(py, da, z, a, a_prev, w, act, upstream_is_dz, first_layer)
    }
}

fn update_impl<F: Float + Element>(
    py: Python<'_>,
    param: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    lr: f64,
) -> PyResult<()> {
    let lr = learning_rate::<F>(lr)?;
    let mut param = param
        .extract::<numpy::PyReadwriteArrayDyn<'_, F>>()
        .map_err(|e| {
            PyTypeError::new_err(format!(
                "param: expected a writeable numpy array of {}, got {} ({e})",
                F::DTYPE,
                describe(param)
            ))
        })?;
    let grad = readonly::<F, ndarray::IxDyn>(grad, "grad")?;
    let grad = grad.as_array();
    let mut param = param.as_array_mut();
    crate::error::expect_shape("grad", param.shape(), grad.shape())?;
    py.detach(|| sgd_update(param.view_mut(), grad, lr));
    Ok(())
}

/// (16)–(17) in place: param −= learning_rate · grad.
#[pyfunction]
fn sgd_step(
    py: Python<'_>,
    param: &Bound<'_, PyAny>,
    grad: &Bound<'_, PyAny>,
    learning_rate: f64,
) -> PyResult<()> {
    if is_f64(param, "param")? {
        update_impl::<f64>(py, param, grad, learning_rate)
    } else {
        update_impl::<f32>(py, param, grad, learning_rate)
    }
}

fn activation_impl<'py, F: Float + Element>(
    py: Python<'py>,
    z: &Bound<'py, PyAny>,
    act: Activation,
    derivative: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let z = readonly::<F, ndarray::Ix2>(z, "Z")?;
    let z = z.as_array();
    let out = py.detach(|| -> Result<_, CoreError> {
        let mut a = ndarray::Array2::<F>::zeros(z.raw_dim());
        act.forward(z, a.view_mut());
        if !derivative {
            return Ok(a);
        }
        let mut d = ndarray::Array2::<F>::zeros(z.raw_dim());
        act.derivative(z, a.view(), d.view_mut())?;
        Ok(d)
    })?;
    Ok(out.into_pyarray(py).into_any())
}

/// (10) g(Z), or g′(Z) with `derivative=True` (not for softmax, whose Jacobian is full).
#[pyfunction]
#[pyo3(signature = (z, activation, derivative=false))]
fn activate<'py>(
    py: Python<'py>,
    z: &Bound<'py, PyAny>,
    activation: &str,
    derivative: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let act = Activation::from_name(activation)?;
    if is_f64(z, "Z")? {
        activation_impl::<f64>(py, z, act, derivative)
    } else {
        activation_impl::<f32>(py, z, act, derivative)
    }
}

fn loss_impl<'py, F: Float + Element>(
    py: Python<'py>,
    yhat: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    loss: Loss,
) -> PyResult<(f64, Bound<'py, PyAny>)> {
    let yhat = readonly::<F, ndarray::Ix2>(yhat, "Y_hat")?;
    let y = readonly::<F, ndarray::Ix2>(y, "Y")?;
    let (yhat, y) = (yhat.as_array(), y.as_array());
    crate::error::expect_shape("Y", yhat.shape(), y.shape())?;
    let (cost, da) = py.detach(|| {
        let mut da = ndarray::Array2::<F>::zeros(yhat.raw_dim());
        loss.gradient(yhat, y, da.view_mut());
        (loss.cost(yhat, y), da)
    });
    Ok((cost, da.into_pyarray(py).into_any()))
}

/// J and (15) dA^[L] for Ŷ and Y of shape (n_y, m).
#[pyfunction]
fn loss_and_gradient<'py>(
    py: Python<'py>,
    yhat: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    loss: &str,
) -> PyResult<(f64, Bound<'py, PyAny>)> {
    let loss = Loss::from_name(loss)?;
    if is_f64(yhat, "Y_hat")? {
        loss_impl::<f64>(py, yhat, y, loss)
    } else {
        loss_impl::<f32>(py, yhat, y, loss)
    }
}

/// Whether every element of a float32/float64 array is finite (one parallel pass, GIL
/// released).
#[pyfunction]
fn all_finite(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<bool> {
    if is_f64(x, "array")? {
        let x = readonly::<f64, ndarray::IxDyn>(x, "array")?;
        let x = x.as_array();
        Ok(py.detach(|| matmul::all_finite(x)))
    } else {
        let x = readonly::<f32, ndarray::IxDyn>(x, "array")?;
        let x = x.as_array();
        Ok(py.detach(|| matmul::all_finite(x)))
    }
}

/// Threads the kernels may use.
#[pyfunction]
fn get_num_threads() -> usize {
    matmul::num_threads()
}

/// Sets the threads the kernels may use (0 = the default).
#[pyfunction]
fn set_num_threads(n: usize) {
    matmul::set_num_threads(n)
}

// ---------------------------------------------------------------------------------------------
// The network.

enum Inner {
    F32(Network<f32>),
    F64(Network<f64>),
}

/// Runs `$body` with `$net` bound to the network, whatever its float type.
macro_rules! with_net {
    ($self:expr, $net:ident => $body:expr) => {
        match &mut $self.inner {
            Inner::F32($net) => $body,
            Inner::F64($net) => $body,
        }
    };
}

/// A compiled network: layers, loss and workspaces, all in Rust. The Python `Sequential` wraps
/// one of these; every method takes arrays of the network's dtype.
#[pyclass(module = "deepnet._core", name = "Network")]
pub struct PyNetwork {
    inner: Inner,
}

fn parse_spec(spec: &Bound<'_, PyAny>, index: usize) -> PyResult<LayerSpec> {
    let dict = spec.cast::<PyDict>().map_err(|_| {
        PyTypeError::new_err(format!(
            "layer spec {index}: expected a dict, got {}",
            describe(spec)
        ))
    })?;
    let get = |key: &str| -> PyResult<Bound<'_, PyAny>> {
        dict.get_item(key)?.ok_or_else(|| {
            PyValueError::new_err(format!("layer spec {index}: missing key {key:?}"))
        })
    };
    let kind: String = get("type")?.extract()?;
    match kind.as_str() {
        "dense" => Ok(LayerSpec::Dense {
            units: get("units")?.extract()?,
            activation: Activation::from_name(&get("activation")?.extract::<String>()?)?,
            l2: match dict.get_item("l2")? {
                Some(v) => v.extract()?,
                None => 0.0,
            },
        }),
        "dropout" => Ok(LayerSpec::Dropout {
            rate: get("rate")?.extract()?,
        }),
        other => Err(PyValueError::new_err(format!(
            "layer spec {index}: unknown layer type {other:?}: expected \"dense\" or \"dropout\""
        ))),
    }
}

fn predict_impl<'py, F: Float + Element>(
    py: Python<'py>,
    net: &mut Network<F>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let x = readonly::<F, ndarray::IxDyn>(x, "X")?;
    let x = x.as_array();
    let out = py.detach(|| net.predict(x))?;
    Ok(out.into_pyarray(py).into_any())
}

fn cost_impl<F: Float + Element>(
    py: Python<'_>,
    net: &mut Network<F>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
) -> PyResult<f64> {
    let x = readonly::<F, ndarray::IxDyn>(x, "X")?;
    let y = readonly::<F, ndarray::Ix2>(y, "Y")?;
    let (x, y) = (x.as_array(), y.as_array());
    Ok(py.detach(|| net.cost(x, y))?)
}

type GradList<'py> = (f64, Vec<Vec<Bound<'py, PyAny>>>);

fn gradients_impl<'py, F: Float + Element>(
    py: Python<'py>,
    net: &mut Network<F>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
) -> PyResult<GradList<'py>> {
    let x = readonly::<F, ndarray::IxDyn>(x, "X")?;
    let y = readonly::<F, ndarray::Ix2>(y, "Y")?;
    let (x, y) = (x.as_array(), y.as_array());
    let cost = py.detach(|| net.gradients(x, y))?;
    let grads = net
        .layers()
        .iter()
        .map(|l| {
            l.grads()
                .into_iter()
                .map(|g| PyArray::from_array(py, &g).into_any())
                .collect()
        })
        .collect();
    Ok((cost, grads))
}

/// (J per epoch, penalty per epoch, accuracy per epoch, stop reason).
type FitResult = (Vec<f64>, Vec<f64>, Vec<f64>, &'static str);

#[allow(clippy::too_many_arguments)]
fn fit_impl<F: Float + Element>(
    py: Python<'_>,
    net: &mut Network<F>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    epochs: usize,
    batch_size: usize,
    shuffle: bool,
    target_cost: Option<f64>,
    tol: Option<f64>,
    previous_cost: Option<f64>,
) -> PyResult<FitResult> {
    let options = FitOptions {
        epochs,
        batch_size,
        shuffle,
        target_cost,
        tol,
        previous_cost,
    };
    let x = readonly::<F, ndarray::IxDyn>(x, "X")?;
    let y = readonly::<F, ndarray::Ix2>(y, "Y")?;
    let (x, y) = (x.as_array(), y.as_array());
    // Ctrl-C: Python runs signal handlers only on the main thread, and only when asked while
    // the GIL is released. So training runs on another thread (which hands its kernels to
    // deepnet's pool) while this one sleeps, waking every INTERRUPT_POLL to let Python check
    // its signals; if a handler raises, a flag tells the loop to stop between two steps.
    let mut raised: Option<PyErr> = None;
    let stop = AtomicBool::new(false);
    let report = py.detach(|| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let (stop, options) = (&stop, &options);
        std::thread::scope(|scope| {
            let worker = scope.spawn(move || {
                let report = net.fit(x, y, options, &mut || stop.load(Ordering::Relaxed));
                let _ = done_tx.send(());
                report
            });
            while let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(INTERRUPT_POLL) {
                if raised.is_none() {
                    if let Err(err) = Python::attach(|py| py.check_signals()) {
                        raised = Some(err);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            }
            worker.join()
        })
    });
    let report = report.map_err(|_| {
        PyRuntimeError::new_err("deepnet: the training thread panicked (a bug: please report it)")
    })??;
    match raised {
        // KeyboardInterrupt is re-raised by Python's fit once the history is recorded
        Some(err) if !err.is_instance_of::<PyKeyboardInterrupt>(py) => Err(err),
        _ => Ok((
            report.costs,
            report.penalties,
            report.accuracies,
            report.stop.name(),
        )),
    }
}

fn get_param_impl<'py, F: Float + Element>(
    py: Python<'py>,
    net: &Network<F>,
    layer: usize,
    index: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let layer = layer_ref(net, layer)?;
    let params = layer.params();
    let p = params.get(index).ok_or_else(|| {
        PyValueError::new_err(format!(
            "parameter index {index} out of range: the layer has {} parameters",
            params.len()
        ))
    })?;
    Ok(PyArray::from_array(py, p).into_any())
}

fn set_param_impl<F: Float + Element>(
    net: &mut Network<F>,
    layer: usize,
    index: usize,
    value: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let n_layers = net.layers().len();
    let layer_ref = net.layers_mut().get_mut(layer).ok_or_else(|| {
        PyValueError::new_err(format!(
            "layer index {layer} out of range for a network of {n_layers} layers"
        ))
    })?;
    let name = layer_ref
        .param_names()
        .get(index)
        .copied()
        .unwrap_or("parameter");
    let value = readonly::<F, ndarray::IxDyn>(value, name)?;
    layer_ref.set_param(index, value.as_array())?;
    Ok(())
}

fn layer_ref<F: Float>(net: &Network<F>, layer: usize) -> PyResult<&dyn crate::layer::Layer<F>> {
    net.layers().get(layer).map(|l| l.as_ref()).ok_or_else(|| {
        PyValueError::new_err(format!(
            "layer index {layer} out of range for a network of {} layers",
            net.layers().len()
        ))
    })
}

fn layer_info_impl<'py, F: Float>(
    py: Python<'py>,
    net: &Network<F>,
    layer: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let l = layer_ref(net, layer)?;
    let info = PyDict::new(py);
    info.set_item("type", l.kind())?;
    info.set_item("activation", l.activation().name())?;
    info.set_item("input_shape", l.input_shape().to_vec())?;
    info.set_item("output_shape", l.output_shape().to_vec())?;
    let params = PyList::empty(py);
    for (name, p) in l.param_names().iter().zip(l.params()) {
        params.append((*name, p.shape().to_vec()))?;
    }
    info.set_item("params", params)?;
    Ok(info)
}

fn hyper_f64(hyper: &Bound<'_, PyDict>, key: &str, default: f64) -> PyResult<f64> {
    match hyper.get_item(key)? {
        Some(v) => v.extract::<f64>().map_err(|_| {
            PyTypeError::new_err(format!(
                "optimizer {key}: expected a number, got {}",
                describe(&v)
            ))
        }),
        None => Ok(default),
    }
}

fn parse_optimizer(kind: &str, hyper: &Bound<'_, PyDict>) -> PyResult<OptimizerKind> {
    Ok(match kind {
        "sgd" => OptimizerKind::Sgd,
        "momentum" => OptimizerKind::Momentum {
            beta: hyper_f64(hyper, "beta", 0.9)?,
        },
        "rmsprop" => OptimizerKind::RmsProp {
            rho: hyper_f64(hyper, "rho", 0.9)?,
            eps: hyper_f64(hyper, "eps", 1e-7)?,
        },
        "adam" => OptimizerKind::Adam {
            beta1: hyper_f64(hyper, "beta1", 0.9)?,
            beta2: hyper_f64(hyper, "beta2", 0.999)?,
            eps: hyper_f64(hyper, "eps", 1e-8)?,
        },
        other => {
            return Err(PyValueError::new_err(format!(
                "optimizer: expected one of ['sgd', 'momentum', 'rmsprop', 'adam'], got {other:?}"
            )))
        }
    })
}

fn optimizer_hyper<'py>(py: Python<'py>, kind: &OptimizerKind) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match *kind {
        OptimizerKind::Sgd => {}
        OptimizerKind::Momentum { beta } => d.set_item("beta", beta)?,
        OptimizerKind::RmsProp { rho, eps } => {
            d.set_item("rho", rho)?;
            d.set_item("eps", eps)?;
        }
        OptimizerKind::Adam { beta1, beta2, eps } => {
            d.set_item("beta1", beta1)?;
            d.set_item("beta2", beta2)?;
            d.set_item("eps", eps)?;
        }
    }
    Ok(d)
}

fn parse_schedule(d: &Bound<'_, PyDict>) -> PyResult<Schedule> {
    let get = |key: &str| -> PyResult<Bound<'_, PyAny>> {
        d.get_item(key)?
            .ok_or_else(|| PyValueError::new_err(format!("schedule: missing key {key:?}")))
    };
    let kind: String = get("type")?.extract()?;
    Ok(match kind.as_str() {
        "constant" => Schedule::Constant {
            learning_rate: get("learning_rate")?.extract()?,
        },
        "step_decay" => Schedule::StepDecay {
            initial_learning_rate: get("initial_learning_rate")?.extract()?,
            drop: get("drop")?.extract()?,
            epochs_per_drop: get("epochs_per_drop")?.extract()?,
        },
        "exponential_decay" => Schedule::ExponentialDecay {
            initial_learning_rate: get("initial_learning_rate")?.extract()?,
            decay_rate: get("decay_rate")?.extract()?,
            decay_steps: get("decay_steps")?.extract()?,
            staircase: get("staircase")?.extract()?,
        },
        other => {
            return Err(PyValueError::new_err(format!(
                "schedule: unknown type {other:?}: expected \"constant\", \"step_decay\" or \"exponential_decay\""
            )))
        }
    })
}

fn schedule_dict<'py>(py: Python<'py>, s: &Schedule) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    match *s {
        Schedule::Constant { learning_rate } => {
            d.set_item("type", "constant")?;
            d.set_item("learning_rate", learning_rate)?;
        }
        Schedule::StepDecay {
            initial_learning_rate,
            drop,
            epochs_per_drop,
        } => {
            d.set_item("type", "step_decay")?;
            d.set_item("initial_learning_rate", initial_learning_rate)?;
            d.set_item("drop", drop)?;
            d.set_item("epochs_per_drop", epochs_per_drop)?;
        }
        Schedule::ExponentialDecay {
            initial_learning_rate,
            decay_rate,
            decay_steps,
            staircase,
        } => {
            d.set_item("type", "exponential_decay")?;
            d.set_item("initial_learning_rate", initial_learning_rate)?;
            d.set_item("decay_rate", decay_rate)?;
            d.set_item("decay_steps", decay_steps)?;
            d.set_item("staircase", staircase)?;
        }
    }
    Ok(d)
}

fn optimizer_state_impl<'py, F: Float + Element>(
    py: Python<'py>,
    net: &Network<F>,
) -> PyResult<Bound<'py, PyDict>> {
    let opt = net.optimizer();
    let d = PyDict::new(py);
    d.set_item("kind", opt.kind().name())?;
    d.set_item("hyper", optimizer_hyper(py, opt.kind())?)?;
    d.set_item("schedule", schedule_dict(py, opt.schedule())?)?;
    d.set_item("slots", opt.kind().slot_names().to_vec())?;
    d.set_item("iterations", opt.iterations())?;
    d.set_item("epochs", opt.epochs())?;
    d.set_item("learning_rate", opt.learning_rate())?;
    let state = PyList::empty(py);
    for slots in opt.state() {
        let arrays: Vec<Bound<'py, PyAny>> = slots
            .iter()
            .map(|a| PyArray::from_array(py, a).into_any())
            .collect();
        state.append(arrays)?;
    }
    d.set_item("state", state)?;
    Ok(d)
}

fn set_optimizer_state_impl<F: Float + Element>(
    net: &mut Network<F>,
    iterations: u64,
    epochs: u64,
    state: &Bound<'_, PyList>,
) -> PyResult<()> {
    let mut all = Vec::new();
    for (i, slots) in state.iter().enumerate() {
        let slots = slots.cast::<PyList>().map_err(|_| {
            PyTypeError::new_err(format!("optimizer state {i}: expected a list of arrays"))
        })?;
        let mut arrays = Vec::new();
        for a in slots.iter() {
            arrays.push(
                readonly::<F, ndarray::IxDyn>(&a, "optimizer state")?
                    .as_array()
                    .to_owned(),
            );
        }
        all.push(arrays);
    }
    net.optimizer_mut().set_state(all, iterations, epochs)?;
    Ok(())
}

// -- model files ----------------------------------------------------------------------------

/// Serializes `tensors` (a list of (name, float32/float64 array)) and string `metadata` to
/// safetensors bytes.
#[pyfunction]
fn safetensors_dumps<'py>(
    py: Python<'py>,
    tensors: &Bound<'py, PyList>,
    metadata: std::collections::HashMap<String, String>,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut items = Vec::new();
    for item in tensors.iter() {
        let (name, array): (String, Bound<'py, PyAny>) = item.extract()?;
        let tensor = if is_f64(&array, &name)? {
            Tensor::F64(
                readonly::<f64, ndarray::IxDyn>(&array, &name)?
                    .as_array()
                    .to_owned(),
            )
        } else {
            Tensor::F32(
                readonly::<f32, ndarray::IxDyn>(&array, &name)?
                    .as_array()
                    .to_owned(),
            )
        };
        items.push((name, tensor));
    }
    let bytes = py.detach(|| to_safetensors(&items, metadata))?;
    Ok(PyBytes::new(py, &bytes))
}

type LoadedFile<'py> = (
    std::collections::HashMap<String, String>,
    Vec<(String, Bound<'py, PyAny>)>,
);

/// Parses safetensors bytes into (metadata, [(name, array)]); ValueError on a malformed file.
#[pyfunction]
fn safetensors_loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<LoadedFile<'py>> {
    let (metadata, tensors) = py.detach(|| from_safetensors(data))?;
    let tensors = tensors
        .into_iter()
        .map(|(name, t)| {
            let array = match t {
                Tensor::F32(a) => a.into_pyarray(py).into_any(),
                Tensor::F64(a) => a.into_pyarray(py).into_any(),
            };
            (name, array)
        })
        .collect();
    Ok((metadata, tensors))
}

#[pymethods]
impl PyNetwork {
    /// Builds and initializes a network. `layers` is a list of dicts such as
    /// `{"type": "dense", "units": 64, "activation": "relu"}`.
    #[new]
    #[pyo3(signature = (layers, input_shape, loss, dtype="float32", seed=0))]
    fn new(
        layers: &Bound<'_, PyList>,
        input_shape: Vec<usize>,
        loss: &str,
        dtype: &str,
        seed: u64,
    ) -> PyResult<Self> {
        let specs = layers
            .iter()
            .enumerate()
            .map(|(i, s)| parse_spec(&s, i))
            .collect::<PyResult<Vec<_>>>()?;
        let loss = Loss::from_name(loss)?;
        let inner = match dtype {
            "float32" => Inner::F32(Network::new(&input_shape, &specs, loss, seed)?),
            "float64" => Inner::F64(Network::new(&input_shape, &specs, loss, seed)?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "dtype: expected \"float32\" or \"float64\", got {other:?}"
                )))
            }
        };
        Ok(PyNetwork { inner })
    }

    /// "float32" or "float64".
    #[getter]
    fn dtype(&self) -> &'static str {
        match self.inner {
            Inner::F32(_) => f32::DTYPE,
            Inner::F64(_) => f64::DTYPE,
        }
    }

    /// The loss name.
    #[getter]
    fn loss(&mut self) -> &'static str {
        with_net!(self, net => net.loss().name())
    }

    /// Number of layers L.
    fn __len__(&mut self) -> usize {
        with_net!(self, net => net.layers().len())
    }

    /// Total number of trainable scalars.
    #[getter]
    fn n_params(&mut self) -> usize {
        with_net!(self, net => net.n_params())
    }

    /// Re-draws every parameter from `seed`.
    fn initialize(&mut self, seed: u64) {
        with_net!(self, net => net.initialize(seed))
    }

    /// A dict describing layer `layer` (0-based): type, activation, shapes, parameters.
    fn layer_info<'py>(&mut self, py: Python<'py>, layer: usize) -> PyResult<Bound<'py, PyDict>> {
        with_net!(self, net => layer_info_impl(py, net, layer))
    }

    /// A copy of parameter `index` (0 = W, 1 = b) of layer `layer`.
    fn get_param<'py>(
        &mut self,
        py: Python<'py>,
        layer: usize,
        index: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        with_net!(self, net => get_param_impl(py, net, layer, index))
    }

    /// Copies `value` into parameter `index` of layer `layer`.
    fn set_param(&mut self, layer: usize, index: usize, value: &Bound<'_, PyAny>) -> PyResult<()> {
        with_net!(self, net => set_param_impl(net, layer, index, value))
    }

    /// Ŷ = A^[L] for X.
    fn predict<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        with_net!(self, net => predict_impl(py, net, x))
    }

    /// The cost J over X, Y.
    fn cost(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
    ) -> PyResult<f64> {
        with_net!(self, net => cost_impl(py, net, x, y))
    }

    /// (J, [[dW1, db1], …]) over all of X, Y without updating, eqs (11)–(15).
    fn gradients<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
    ) -> PyResult<GradList<'py>> {
        with_net!(self, net => gradients_impl(py, net, x, y))
    }

    /// Trains up to `epochs` epochs in one call (section 7) with the network's optimizer;
    /// returns (J per completed epoch, its L2 penalty part, training accuracy per epoch (empty
    /// for mse), stop reason: "epochs", "target_cost", "converged", "diverged" or
    /// "interrupted").
    #[pyo3(signature = (x, y, epochs, batch_size, shuffle=true, target_cost=None, tol=None, previous_cost=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        epochs: usize,
        batch_size: usize,
        shuffle: bool,
        target_cost: Option<f64>,
        tol: Option<f64>,
        previous_cost: Option<f64>,
    ) -> PyResult<FitResult> {
        with_net!(self, net => fit_impl(
            py, net, x, y, epochs, batch_size, shuffle, target_cost, tol, previous_cost
        ))
    }

    /// The L2 penalty Σ (λ/2)‖W‖² at the current parameters.
    #[getter]
    fn penalty(&mut self) -> f64 {
        with_net!(self, net => net.penalty())
    }

    /// Sets the optimizer. `kind` is "sgd", "momentum", "rmsprop" or "adam"; `hyper` holds
    /// its hyperparameters (beta, rho, eps, beta1, beta2); `schedule` the learning rate
    /// ({"type": "constant", "learning_rate": ...}, "step_decay" or "exponential_decay").
    /// If the optimizer is the same kind with the same hyperparameters, its state is kept
    /// (training resumes) and only the schedule changes.
    fn set_optimizer(
        &mut self,
        kind: &str,
        hyper: &Bound<'_, PyDict>,
        schedule: &Bound<'_, PyDict>,
    ) -> PyResult<()> {
        let kind = parse_optimizer(kind, hyper)?;
        let schedule = parse_schedule(schedule)?;
        with_net!(self, net => {
            if *net.optimizer().kind() == kind {
                net.optimizer_mut().set_schedule(schedule)?;
            } else {
                net.set_optimizer(Optimizer::new(kind, schedule)?);
            }
            Ok(())
        })
    }

    /// (kind, hyperparameters, schedule, iterations, epochs, [[state arrays per parameter]]).
    fn optimizer_state<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        with_net!(self, net => optimizer_state_impl(py, net))
    }

    /// Restores `optimizer_state()`'s iterations, epochs and arrays (the kind must already be
    /// set with `set_optimizer`).
    fn set_optimizer_state(
        &mut self,
        iterations: u64,
        epochs: u64,
        state: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        with_net!(self, net => set_optimizer_state_impl(net, iterations, epochs, state))
    }

    /// The positions of the random streams (shuffling, then dropout layers), as hex strings.
    fn rng_states(&mut self) -> Vec<String> {
        with_net!(self, net => net.rng_states().iter().map(|s| s.to_hex()).collect())
    }

    /// Restores positions from `rng_states()`.
    fn set_rng_states(&mut self, states: Vec<String>) -> PyResult<()> {
        let states = states
            .iter()
            .map(|s| RngState::from_hex(s))
            .collect::<Result<Vec<_>, _>>()?;
        with_net!(self, net => Ok(net.set_rng_states(&states)?))
    }

    /// The visiting orders of the next `epochs` shuffled epochs over `m` examples, without
    /// advancing the shuffling stream.
    fn peek_orders(&mut self, m: usize, epochs: usize) -> Vec<Vec<usize>> {
        with_net!(self, net => net.peek_orders(m, epochs))
    }
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<PyNetwork>()?;
    m.add_function(wrap_pyfunction!(dense_forward, m)?)?;
    m.add_function(wrap_pyfunction!(dense_backward, m)?)?;
    m.add_function(wrap_pyfunction!(sgd_step, m)?)?;
    m.add_function(wrap_pyfunction!(activate, m)?)?;
    m.add_function(wrap_pyfunction!(loss_and_gradient, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(all_finite, m)?)?;
    m.add_function(wrap_pyfunction!(safetensors_dumps, m)?)?;
    m.add_function(wrap_pyfunction!(safetensors_loads, m)?)?;
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add(
        "ACTIVATIONS",
        Activation::ALL.iter().map(|a| a.name()).collect::<Vec<_>>(),
    )?;
    m.add(
        "LOSSES",
        Loss::ALL.iter().map(|l| l.name()).collect::<Vec<_>>(),
    )?;
    Ok(())
}
