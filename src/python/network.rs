//! `_core.Network`: a compiled network behind a lock, with the GIL released around every
//! kernel.
//!
//! Concurrency: the network sits in a mutex. A call takes it without blocking; if a `fit` of
//! this network is running in another thread, the call raises a `RuntimeError` that says the
//! model is training, instead of waiting for the whole training or breaking it. If another
//! short call (a predict, say) holds the lock, the call waits for it with the GIL released.
//! So a read between two epochs of a per-epoch `fit` works, a read during a Rust training call
//! gets a clear error, and the running `fit` never notices either.
//!
//! Failures: every kernel runs under `catch_unwind`; a panic (a bug) becomes a `RuntimeError`,
//! and `fit` then rolls the network back to the checkpoint taken when the call began.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use numpy::{Element, IntoPyArray, PyArray};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::optimizer::{optimizer_state, parse_config, set_optimizer, set_optimizer_state};
use super::python_layer::{running_here, PyHost};
use super::{guarded, panicked, readonly};
use crate::error::CoreError;
use crate::io::TensorElement;
use crate::layers::LayerSpec;
use crate::loss::Loss;
use crate::model_file::{DType, ModelFile};
use crate::network::{FitOptions, FitReport, Network, Patience, StopReason, INTERRUPT_POLL};
use crate::rng::RngState;
use crate::scalar::Float;

/// Each network's id, for [`running_here`].
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// The message of a call that finds the network training in another thread.
const TRAINING: &str = "the model is training in another thread (fit is running): wait for \
                        fit to return, or read it from a callback";

enum Inner {
    F32(Network<f32>),
    F64(Network<f64>),
}

struct State {
    net: Inner,
    /// What the last `fit` call reported, for a caller whose KeyboardInterrupt arrived after
    /// the call returned but before it read the report.
    last_fit: Option<FitReport>,
}

/// A compiled network: layers, loss and workspaces, all in Rust. The Python `Sequential` wraps
/// one of these; every method takes arrays of the network's dtype.
#[pyclass(module = "deepnet._core", name = "Network", frozen)]
pub struct PyNetwork {
    state: Mutex<State>,
    /// Set while a `fit` call holds the lock.
    training: AtomicBool,
    dtype: &'static str,
    loss: Loss,
    n_layers: usize,
    n_params: usize,
    /// Tells this network's Python layers from other networks' (see [`running_here`]).
    id: u64,
    /// The hosts of the layers written in Python, to collect the exceptions they raise.
    hosts: Mutex<Vec<Arc<PyHost>>>,
}

/// The message of a call into a network from one of its own Python layers.
const REENTRANT: &str = "a layer written in Python cannot call its own model (predict, fit, \
                         another layer's weights) while the model runs it: use the arrays \
                         forward and backward receive (self.W inside them is the current W)";

/// Runs `$body` with `$net` bound to the locked network, whatever its float type.
macro_rules! with_net {
    ($self:expr, $py:expr, $net:ident => $body:expr) => {{
        let result = {
            let mut guard = $self.lock($py)?;
            match &mut guard.net {
                Inner::F32($net) => $body,
                Inner::F64($net) => $body,
            }
        };
        $self.rethrow(result)
    }};
}

impl PyNetwork {
    fn wrap(net: Inner) -> Self {
        let (dtype, loss, n_layers, n_params) = match &net {
            Inner::F32(n) => (f32::DTYPE, n.loss(), n.layers().len(), n.n_params()),
            Inner::F64(n) => (f64::DTYPE, n.loss(), n.layers().len(), n.n_params()),
        };
        PyNetwork {
            state: Mutex::new(State {
                net,
                last_fit: None,
            }),
            training: AtomicBool::new(false),
            dtype,
            loss,
            n_layers,
            n_params,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            hosts: Mutex::new(Vec::new()),
        }
    }

    /// A failed call's error, or the exception a Python layer raised during it (which caused
    /// the failure), as that layer raised it.
    fn rethrow<T>(&self, result: PyResult<T>) -> PyResult<T> {
        result.map_err(|err| {
            let hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
            hosts
                .iter()
                .find_map(|host| host.take_error())
                .unwrap_or(err)
        })
    }

    /// The lock, or a `RuntimeError` if a `fit` of this network is running.
    fn lock(&self, py: Python<'_>) -> PyResult<MutexGuard<'_, State>> {
        loop {
            match self.state.try_lock() {
                Ok(guard) => return Ok(guard),
                // a panic is caught inside the lock, so this cannot happen; if it did, the
                // network was rolled back before the panic unwound through the guard
                Err(TryLockError::Poisoned(p)) => return Ok(p.into_inner()),
                Err(TryLockError::WouldBlock) => {
                    if running_here(self.id) {
                        return Err(PyRuntimeError::new_err(REENTRANT));
                    }
                    if self.training.load(Ordering::SeqCst) {
                        return Err(PyRuntimeError::new_err(TRAINING));
                    }
                    py.detach(|| std::thread::sleep(Duration::from_micros(100)));
                }
            }
        }
    }
}

fn build<F: Float>(
    input_shape: &[usize],
    specs: &[LayerSpec],
    loss: Loss,
    seed: u64,
) -> PyResult<Network<F>> {
    guarded("building the network", || {
        Network::<F>::new(input_shape, specs, loss, seed)
    })?
    .map_err(PyErr::from)
}

fn predict_impl<'py, F: Float + Element>(
    py: Python<'py>,
    net: &mut Network<F>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let x = readonly::<F, ndarray::IxDyn>(x, "X")?;
    let x = x.as_array();
    let out = py.detach(|| guarded("predict", || net.predict(x)))??;
    Ok(out.into_pyarray(py).into_any())
}

fn cost_impl<F: Float + Element>(
    py: Python<'_>,
    net: &mut Network<F>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    w: Option<&Bound<'_, PyAny>>,
) -> PyResult<f64> {
    let x = readonly::<F, ndarray::IxDyn>(x, "X")?;
    let y = readonly::<F, ndarray::Ix2>(y, "Y")?;
    let w = w
        .map(|w| readonly::<F, ndarray::Ix1>(w, "sample_weight"))
        .transpose()?;
    let (x, y) = (x.as_array(), y.as_array());
    let w = w.as_ref().map(|w| w.as_array());
    Ok(py.detach(|| guarded("cost", || net.weighted_cost(x, y, w)))??)
}

/// Z^[l] (or None) and A^[l] of every layer.
type Cache<'py> = Vec<(Option<Bound<'py, PyAny>>, Bound<'py, PyAny>)>;

fn forward_cache_impl<'py, F: Float + Element>(
    py: Python<'py>,
    net: &mut Network<F>,
    x: &Bound<'py, PyAny>,
) -> PyResult<Cache<'py>> {
    let x = readonly::<F, ndarray::IxDyn>(x, "X")?;
    let x = x.as_array();
    let cache = py.detach(|| guarded("forward", || net.forward_cache(x)))??;
    Ok(cache
        .into_iter()
        .map(|(z, a)| {
            (
                z.map(|z| z.into_pyarray(py).into_any()),
                a.into_pyarray(py).into_any(),
            )
        })
        .collect())
}

type GradList<'py> = (f64, Vec<Vec<Bound<'py, PyAny>>>);

fn gradients_impl<'py, F: Float + Element>(
    py: Python<'py>,
    net: &mut Network<F>,
    x: &Bound<'py, PyAny>,
    y: &Bound<'py, PyAny>,
    w: Option<&Bound<'py, PyAny>>,
) -> PyResult<GradList<'py>> {
    let x = readonly::<F, ndarray::IxDyn>(x, "X")?;
    let y = readonly::<F, ndarray::Ix2>(y, "Y")?;
    let w = w
        .map(|w| readonly::<F, ndarray::Ix1>(w, "sample_weight"))
        .transpose()?;
    let (x, y) = (x.as_array(), y.as_array());
    let w = w.as_ref().map(|w| w.as_array());
    let cost = py.detach(|| guarded("gradients", || net.weighted_gradients(x, y, w)))??;
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

/// The patience rule's (epochs, best J, epochs waited): see [`Patience`].
type PatienceState = (usize, f64, usize);

/// A fit call's result, the exception a signal handler raised during it, if any, and the
/// patience rule's state after it.
type FitOutcome = (
    Vec<f64>,
    Vec<f64>,
    Vec<f64>,
    &'static str,
    Option<PyErr>,
    Option<PatienceState>,
);

fn fit_result(report: &FitReport) -> FitResult {
    (
        report.costs.clone(),
        report.penalties.clone(),
        report.accuracies.clone(),
        report.stop.name(),
    )
}

/// Runs `net.fit` on a worker thread while this thread, with the GIL released, wakes every
/// [`INTERRUPT_POLL`] to let Python run its signal handlers (Python runs them only on the main
/// thread, and only when asked). If a handler raises, a flag stops training between two
/// steps. Returns the report and the exception a handler raised, if any: whenever one was
/// raised it is returned, even if training had already finished its last step, so that a
/// Ctrl-C is never lost.
fn run_fit<F: Float + Element>(
    py: Python<'_>,
    net: &mut Network<F>,
    x: ndarray::ArrayViewD<'_, F>,
    y: ndarray::ArrayView2<'_, F>,
    w: Option<ndarray::ArrayView1<'_, F>>,
    options: &FitOptions,
) -> PyResult<(FitReport, Option<PyErr>)> {
    let mut raised: Option<PyErr> = None;
    let stop = AtomicBool::new(false);
    let checkpoint = net.checkpoint();
    let outcome = py.detach(|| {
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let stop = &stop;
        let net = &mut *net;
        std::thread::scope(|scope| {
            let worker = scope.spawn(move || {
                let report =
                    net.weighted_fit(x, y, w, options, &mut || stop.load(Ordering::Relaxed));
                let _ = done_tx.send(());
                report
            });
            loop {
                let finished = match done_rx.recv_timeout(INTERRUPT_POLL) {
                    Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => true,
                    Err(mpsc::RecvTimeoutError::Timeout) => false,
                };
                // check once more after the worker finished: a signal that came during the
                // last step must still be seen
                if raised.is_none() {
                    if let Err(err) = Python::attach(|py| py.check_signals()) {
                        raised = Some(err);
                        stop.store(true, Ordering::Relaxed);
                    }
                }
                if finished {
                    break;
                }
            }
            worker.join()
        })
    });
    match outcome {
        Ok(Ok(mut report)) => {
            if raised.is_some() {
                report.stop = StopReason::Interrupted;
            }
            Ok((report, raised))
        }
        Ok(Err(err)) => {
            net.rollback(&checkpoint);
            Err(err.into())
        }
        Err(_) => {
            net.rollback(&checkpoint);
            Err(panicked("fit"))
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn fit_impl<F: Float + Element>(
    py: Python<'_>,
    net: &mut Network<F>,
    x: &Bound<'_, PyAny>,
    y: &Bound<'_, PyAny>,
    w: Option<&Bound<'_, PyAny>>,
    options: &FitOptions,
) -> PyResult<(FitReport, Option<PyErr>)> {
    let x = readonly::<F, ndarray::IxDyn>(x, "X")?;
    let y = readonly::<F, ndarray::Ix2>(y, "Y")?;
    let w = w
        .map(|w| readonly::<F, ndarray::Ix1>(w, "sample_weight"))
        .transpose()?;
    let w = w.as_ref().map(|w| w.as_array());
    run_fit(py, net, x.as_array(), y.as_array(), w, options)
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
    info.set_item("python_kind", l.python_kind())?;
    info.set_item("activation", l.output_activation().map(|a| a.name()))?;
    info.set_item("input_shape", l.input_shape().to_vec())?;
    info.set_item("output_shape", l.output_shape().to_vec())?;
    let params = PyList::empty(py);
    for (name, p) in l.param_names().iter().zip(l.params()) {
        params.append((*name, p.shape().to_vec()))?;
    }
    info.set_item("params", params)?;
    Ok(info)
}

fn from_file<F: TensorElement>(file: &ModelFile<'_>) -> PyResult<Network<F>> {
    guarded("loading the model file", || file.build::<F>())?.map_err(PyErr::from)
}

#[pymethods]
impl PyNetwork {
    /// Builds and initializes a network. `layers` is the JSON list of layer specs, e.g.
    /// `[{"type": "dense", "units": 64, "activation": "relu"}]`. Everything is validated
    /// (against deepnet's size limits too) before anything is allocated.
    #[new]
    #[pyo3(signature = (layers, input_shape, loss, dtype="float32", seed=0))]
    fn new(
        layers: &str,
        input_shape: Vec<usize>,
        loss: &str,
        dtype: &str,
        seed: u64,
    ) -> PyResult<Self> {
        let specs = LayerSpec::list_from_json(layers)?;
        let loss = Loss::from_name(loss)?;
        let inner = match dtype {
            "float32" => Inner::F32(build(&input_shape, &specs, loss, seed)?),
            "float64" => Inner::F64(build(&input_shape, &specs, loss, seed)?),
            other => {
                return Err(PyValueError::new_err(format!(
                    "dtype: expected \"float32\" or \"float64\", got {other:?}"
                )))
            }
        };
        Ok(Self::wrap(inner))
    }

    /// Reads a model file: validates all of it (architecture, limits, every tensor's
    /// presence, dtype, shape and values, optimizer state and counters, random streams)
    /// before allocating anything, then builds the network. Returns (network, architecture
    /// JSON as validated). ValueError on any invalid file.
    #[staticmethod]
    fn from_bytes(py: Python<'_>, data: &[u8]) -> PyResult<(Self, String)> {
        let (inner, arch) = py.detach(|| -> PyResult<_> {
            let file = guarded("reading the model file", || ModelFile::parse(data))??;
            let inner = match file.dtype() {
                DType::F32 => Inner::F32(from_file(&file)?),
                DType::F64 => Inner::F64(from_file(&file)?),
            };
            let arch = serde_json::to_string(&file.architecture)
                .map_err(|e| PyValueError::new_err(e.to_string()))?;
            Ok((inner, arch))
        })?;
        Ok((Self::wrap(inner), arch))
    }

    /// "float32" or "float64".
    #[getter]
    fn dtype(&self) -> &'static str {
        self.dtype
    }

    /// The loss name.
    #[getter]
    fn loss(&self) -> &'static str {
        self.loss.name()
    }

    /// Number of layers L.
    fn __len__(&self) -> usize {
        self.n_layers
    }

    /// Total number of trainable scalars.
    #[getter]
    fn n_params(&self) -> usize {
        self.n_params
    }

    /// Whether a `fit` of this network is running (in any thread).
    #[getter]
    fn training(&self) -> bool {
        self.training.load(Ordering::SeqCst)
    }

    /// The optimizer's (iterations, epochs) counters: updates made and epochs completed.
    #[getter]
    fn optimizer_counters(&self, py: Python<'_>) -> PyResult<(u64, u64)> {
        with_net!(self, py, net => Ok((net.optimizer().iterations(), net.optimizer().epochs())))
    }

    /// Re-draws every parameter from `seed`.
    fn initialize(&self, py: Python<'_>, seed: u64) -> PyResult<()> {
        with_net!(self, py, net => guarded("initialize", || net.initialize(seed)))
    }

    /// A dict describing layer `layer` (0-based): type, activation, shapes, parameters.
    fn layer_info<'py>(&self, py: Python<'py>, layer: usize) -> PyResult<Bound<'py, PyDict>> {
        with_net!(self, py, net => layer_info_impl(py, net, layer))
    }

    /// Gives layer `index` (0-based), a layer written in Python, the object that computes it
    /// (a `deepnet.Layer` subclass instance, held by weak reference).
    fn attach_layer(&self, py: Python<'_>, index: usize, layer: &Bound<'_, PyAny>) -> PyResult<()> {
        let host = Arc::new(PyHost::new(layer, index, self.id)?);
        with_net!(self, py, net => net
            .attach_host(index, host.clone())
            .map_err(PyErr::from))?;
        let mut hosts = self.hosts.lock().unwrap_or_else(|p| p.into_inner());
        hosts.retain(|h| h.index() != index);
        hosts.push(host);
        Ok(())
    }

    /// A copy of parameter `index` (0 = W, 1 = b) of layer `layer`.
    fn get_param<'py>(
        &self,
        py: Python<'py>,
        layer: usize,
        index: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        with_net!(self, py, net => get_param_impl(py, net, layer, index))
    }

    /// Copies `value` into parameter `index` of layer `layer`.
    fn set_param(
        &self,
        py: Python<'_>,
        layer: usize,
        index: usize,
        value: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        with_net!(self, py, net => set_param_impl(net, layer, index, value))
    }

    /// Ŷ = A^[L] for X.
    fn predict<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
        with_net!(self, py, net => predict_impl(py, net, x))
    }

    /// [(Z^[l] or None, A^[l]) for every layer] of a forward pass (9)–(10) over X.
    fn forward_cache<'py>(&self, py: Python<'py>, x: &Bound<'py, PyAny>) -> PyResult<Cache<'py>> {
        with_net!(self, py, net => forward_cache_impl(py, net, x))
    }

    /// The cost J over X, Y: Σ w_i L_i / Σ w_i with sample weights, else the mean.
    #[pyo3(signature = (x, y, sample_weight=None))]
    fn cost(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        sample_weight: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<f64> {
        with_net!(self, py, net => cost_impl(py, net, x, y, sample_weight))
    }

    /// (J, [[dW1, db1], …]) over all of X, Y without updating, eqs (11)–(15); of the
    /// sample-weighted J when `sample_weight` is given.
    #[pyo3(signature = (x, y, sample_weight=None))]
    fn gradients<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        y: &Bound<'py, PyAny>,
        sample_weight: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<GradList<'py>> {
        with_net!(self, py, net => gradients_impl(py, net, x, y, sample_weight))
    }

    /// Trains up to `epochs` epochs in one call (section 7) with the network's optimizer.
    ///
    /// Returns (J per completed epoch, its L2 penalty part, training accuracy per epoch
    /// (empty for mse), stop reason: "epochs", "target_cost", "converged", "diverged" or
    /// "interrupted", and the exception a signal handler raised during the call, or None).
    /// Nothing is lost to a signal: when a handler raised, the epochs completed are still
    /// returned, with the exception, for the caller to record before raising it. If the call
    /// fails (a panic, which is a bug), the network is rolled back to where it was.
    #[pyo3(signature = (x, y, epochs, batch_size, shuffle=true, target_cost=None, tol=None, previous_cost=None, sample_weight=None, patience=None))]
    #[allow(clippy::too_many_arguments)]
    fn fit(
        &self,
        py: Python<'_>,
        x: &Bound<'_, PyAny>,
        y: &Bound<'_, PyAny>,
        epochs: usize,
        batch_size: usize,
        shuffle: bool,
        target_cost: Option<f64>,
        tol: Option<f64>,
        previous_cost: Option<f64>,
        sample_weight: Option<&Bound<'_, PyAny>>,
        patience: Option<PatienceState>,
    ) -> PyResult<FitOutcome> {
        let patience = match patience {
            Some((0, _, _)) => {
                return Err(PyValueError::new_err(
                    "patience: expected a positive number of epochs, got 0",
                ))
            }
            Some((epochs, best, waited)) => Some(Patience {
                epochs,
                best,
                waited,
            }),
            None => None,
        };
        let options = FitOptions {
            epochs,
            batch_size,
            shuffle,
            target_cost,
            tol,
            previous_cost,
            patience,
        };
        let mut guard = self.lock(py)?;
        self.training.store(true, Ordering::SeqCst);
        let outcome = match &mut guard.net {
            Inner::F32(net) => fit_impl(py, net, x, y, sample_weight, &options),
            Inner::F64(net) => fit_impl(py, net, x, y, sample_weight, &options),
        };
        self.training.store(false, Ordering::SeqCst);
        let (report, raised) = self.rethrow(outcome)?;
        let (costs, penalties, accuracies, stop) = fit_result(&report);
        let patience = report.patience.map(|p| (p.epochs, p.best, p.waited));
        guard.last_fit = Some(report);
        Ok((costs, penalties, accuracies, stop, raised, patience))
    }

    /// What the last `fit` call returned (without the exception), or None before any.
    fn last_fit(&self, py: Python<'_>) -> PyResult<Option<FitResult>> {
        Ok(self.lock(py)?.last_fit.as_ref().map(fit_result))
    }

    /// The L2 penalty Σ (λ/2)‖W‖² at the current parameters.
    #[getter]
    fn penalty(&self, py: Python<'_>) -> PyResult<f64> {
        with_net!(self, py, net => Ok(net.penalty()))
    }

    /// Sets the optimizer from the JSON of `Optimizer.config()`: `{"kind": "adam", "hyper":
    /// {"beta1": 0.9, ...}, "schedule": {"type": "constant", "learning_rate": 0.001}}`. If it
    /// is the same rule with the same hyperparameters, its state is kept (training resumes)
    /// and only the schedule changes.
    fn set_optimizer(&self, py: Python<'_>, config: &str) -> PyResult<()> {
        let config = parse_config(config)?;
        with_net!(self, py, net => set_optimizer(net, &config))
    }

    /// {kind, slots, iterations, epochs, learning_rate, state: [[arrays per slot] per
    /// parameter]}.
    fn optimizer_state<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        with_net!(self, py, net => optimizer_state(py, net))
    }

    /// Restores `optimizer_state()`'s iterations, epochs and arrays (the kind must already be
    /// set with `set_optimizer`); every array's shape is checked before anything changes.
    fn set_optimizer_state(
        &self,
        py: Python<'_>,
        iterations: u64,
        epochs: u64,
        state: &Bound<'_, PyList>,
    ) -> PyResult<()> {
        with_net!(self, py, net => set_optimizer_state(net, iterations, epochs, state))
    }

    /// The positions of the random streams (shuffling, then dropout layers), as hex strings.
    fn rng_states(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        with_net!(self, py, net => Ok(net.rng_states().iter().map(|s| s.to_hex()).collect()))
    }

    /// Restores positions from `rng_states()`.
    fn set_rng_states(&self, py: Python<'_>, states: Vec<String>) -> PyResult<()> {
        let states = states
            .iter()
            .map(|s| RngState::from_hex(s))
            .collect::<Result<Vec<_>, CoreError>>()?;
        with_net!(self, py, net => Ok(net.set_rng_states(&states)?))
    }

    /// The visiting orders of the next `epochs` shuffled epochs over `m` examples, without
    /// advancing the shuffling stream.
    fn peek_orders(&self, py: Python<'_>, m: usize, epochs: usize) -> PyResult<Vec<Vec<usize>>> {
        if m.saturating_mul(epochs) > crate::limits::MAX_TENSOR_ELEMENTS {
            return Err(PyValueError::new_err(format!(
                "peek_orders: m · epochs = {m} · {epochs} is more than deepnet's limit of {}",
                crate::limits::MAX_TENSOR_ELEMENTS
            )));
        }
        with_net!(self, py, net => Ok(net.peek_orders(m, epochs)))
    }
}
