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
use pyo3::types::{PyDict, PyList};

use crate::activation::Activation;
use crate::error::CoreError;
use crate::layers::dense;
use crate::loss::Loss;
use crate::matmul;
use crate::network::{FitOptions, LayerSpec, Network, INTERRUPT_POLL};
use crate::optimizer::sgd_update;
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
        let dz = if upstream_is_dz {
            da.to_owned()
        } else {
            // (11) dZ = dA * g′(Z)
            let mut dz = ndarray::Array2::<F>::zeros((n, m));
            activation.backward(da, z, a, dz.view_mut());
            dz
        };
        let mut dw = ndarray::Array2::<F>::zeros((n, n_prev));
        let mut db = ndarray::Array2::<F>::zeros((n, 1));
        let mut da_prev = (!first_layer).then(|| ndarray::Array2::<F>::zeros((n_prev, m)));
        dense::backward_from_dz(
            w,
            a_prev,
            dz.view(),
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
        }),
        other => Err(PyValueError::new_err(format!(
            "layer spec {index}: unknown layer type {other:?}: expected \"dense\""
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

#[allow(clippy::too_many_arguments)]
fn fit_impl<F: Float + Element>(
    py: Python<'_>,
    net: &mut Network<F>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    epochs: usize,
    batch_size: usize,
    lr: f64,
    shuffle: bool,
    target_cost: Option<f64>,
    tol: Option<f64>,
    previous_cost: Option<f64>,
) -> PyResult<(Vec<f64>, &'static str)> {
    let options = FitOptions {
        epochs,
        batch_size,
        learning_rate: learning_rate::<F>(lr)?,
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
        _ => Ok((report.costs, report.stop.name())),
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

    /// Trains up to `epochs` epochs in one call (section 7); returns (J per completed epoch,
    /// stop reason: "epochs", "target_cost", "converged", "diverged" or "interrupted").
    #[pyo3(signature = (x, y, epochs, batch_size, learning_rate, shuffle=true, target_cost=None, tol=None, previous_cost=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &mut self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        epochs: usize,
        batch_size: usize,
        learning_rate: f64,
        shuffle: bool,
        target_cost: Option<f64>,
        tol: Option<f64>,
        previous_cost: Option<f64>,
    ) -> PyResult<(Vec<f64>, &'static str)> {
        with_net!(self, net => fit_impl(
            py, net, x, y, epochs, batch_size, learning_rate, shuffle, target_cost, tol,
            previous_cost
        ))
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
