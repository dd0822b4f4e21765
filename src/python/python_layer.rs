//! The host of a layer written in Python: the compiled network calls the layer object's
//! `_deepnet_forward` and `_deepnet_backward` (see `deepnet.layers.base.Layer`), taking the GIL
//! for that layer only; every other layer of the step still runs with the GIL released.
//!
//! - Arrays cross by copy: the Python code gets NumPy arrays it may keep, and its results are
//!   copied into the layer's workspaces after their shapes are checked.
//! - The network holds the Python object by weak reference, so model → layers → network →
//!   layer makes no reference cycle the garbage collector cannot see.
//! - An exception raised by the Python code is kept, with a note naming the layer, and the
//!   network's call re-raises it as it was (type, message, traceback) once the network is back
//!   in a consistent state (see `PyNetwork::rethrow`).
//! - A Python layer that calls its own model (its `predict`, another layer's weights) would wait
//!   for the lock its own call holds: [`running_here`] lets the lock raise instead.

use std::cell::RefCell;
use std::sync::Mutex;

use ndarray::{ArrayD, ArrayViewD, ArrayViewMutD};
use numpy::{Element, PyArray, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyWeakrefReference};

use super::describe;
use crate::error::{CoreError, Result};
use crate::layers::Host;
use crate::scalar::Float;

thread_local! {
    /// The networks (by id) whose Python layers are running on this thread right now.
    static RUNNING: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// Whether a Python layer of network `id` is running on this thread (so a call into that
/// network from here would wait for itself).
pub(crate) fn running_here(id: u64) -> bool {
    RUNNING.with(|r| r.borrow().contains(&id))
}

/// Marks network `id` as running a Python layer on this thread while it lives.
struct Running(u64);

impl Running {
    fn enter(id: u64) -> Self {
        RUNNING.with(|r| r.borrow_mut().push(id));
        Running(id)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.with(|r| {
            let mut r = r.borrow_mut();
            if let Some(i) = r.iter().rposition(|&id| id == self.0) {
                r.remove(i);
            }
        });
    }
}

/// The Python object computing layer `index` of network `network`.
pub(crate) struct PyHost {
    layer: Py<PyWeakrefReference>,
    index: usize,
    network: u64,
    /// The exception the Python code raised in the last call that failed, until re-raised.
    error: Mutex<Option<PyErr>>,
}

impl PyHost {
    pub(crate) fn new(layer: &Bound<'_, PyAny>, index: usize, network: u64) -> PyResult<Self> {
        Ok(PyHost {
            layer: PyWeakrefReference::new(layer)?.unbind(),
            index,
            network,
            error: Mutex::new(None),
        })
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The exception kept from the last failed call, if any (and forgets it).
    pub(crate) fn take_error(&self) -> Option<PyErr> {
        self.error
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
    }

    /// Runs `f` on the layer object with the GIL held; a Python exception is kept for
    /// re-raising and becomes a `CoreError` for the network.
    fn call<R>(
        &self,
        method: &str,
        f: impl FnOnce(Python<'_>, &Bound<'_, PyAny>) -> PyResult<R>,
    ) -> Result<R> {
        Python::attach(|py| {
            let _running = Running::enter(self.network);
            let result = match self.layer.bind(py).upgrade() {
                Some(layer) => f(py, &layer),
                None => Err(PyRuntimeError::new_err(
                    "the Python layer object no longer exists (its model was deleted)",
                )),
            };
            result.map_err(|err| {
                let message = format!("the Python {method} raised {err}");
                let note = format!(
                    "(raised in the {method} of layer {}, called by deepnet)",
                    self.index + 1
                );
                // Python >= 3.11 shows notes under the message; earlier ones have no add_note
                let _ = err.value(py).call_method1("add_note", (note,));
                *self
                    .error
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(err);
                CoreError::Value(message)
            })
        })
    }
}

/// The layer's parameters as a tuple of NumPy copies.
fn param_tuple<'py, F: Float + Element>(
    py: Python<'py>,
    params: &[ArrayD<F>],
) -> PyResult<Bound<'py, PyTuple>> {
    PyTuple::new(py, params.iter().map(|p| PyArray::from_array(py, p)))
}

/// Copies `value` (what the Python code returned) into `out`, after checking it is an array of
/// the network's dtype and `out`'s shape.
fn copy_result<F: Float + Element>(
    what: &str,
    value: &Bound<'_, PyAny>,
    mut out: ArrayViewMutD<'_, F>,
) -> PyResult<()> {
    let array = value.extract::<PyReadonlyArrayDyn<'_, F>>().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what}: expected a numpy array of {}, got {}",
            F::DTYPE,
            describe(value)
        ))
    })?;
    if array.shape() != out.shape() {
        return Err(PyValueError::new_err(format!(
            "{what}: expected shape {:?}, got {:?}",
            out.shape(),
            array.shape()
        )));
    }
    out.assign(&array.as_array());
    Ok(())
}

/// One example's output shape of the layer `spec` (JSON) over inputs of shape `input_shape`,
/// validated as a network would (nothing is allocated): what `Sequential` needs to build a
/// layer written in Python after compiled ones.
#[pyfunction]
pub(crate) fn layer_output_shape(spec: &str, input_shape: Vec<usize>) -> PyResult<Vec<usize>> {
    let spec: crate::layers::LayerSpec = serde_json::from_str(spec)
        .map_err(|e| PyValueError::new_err(format!("layer spec: {e}")))?;
    Ok(spec.plan(&input_shape)?.output_shape)
}

impl<F: Float + Element> Host<F> for PyHost {
    fn forward(
        &self,
        a_prev: ArrayViewD<F>,
        params: &[ArrayD<F>],
        training: bool,
        out: ArrayViewMutD<F>,
    ) -> Result<()> {
        self.call("forward", |py, layer| {
            let a_prev = PyArray::from_array(py, &a_prev);
            let params = param_tuple(py, params)?;
            let a = layer.call_method1("_deepnet_forward", (a_prev, training, params))?;
            copy_result("forward's result A", &a, out)
        })
    }

    fn backward(
        &self,
        a_prev: ArrayViewD<F>,
        da: ArrayViewD<F>,
        params: &[ArrayD<F>],
        da_prev: ArrayViewMutD<F>,
        grads: &mut [ArrayD<F>],
    ) -> Result<()> {
        self.call("backward", |py, layer| {
            let da = PyArray::from_array(py, &da);
            let a_prev = PyArray::from_array(py, &a_prev);
            let params = param_tuple(py, params)?;
            let result = layer.call_method1("_deepnet_backward", (da, a_prev, params))?;
            let (da_prev_value, grad_values): (Bound<'_, PyAny>, Vec<Bound<'_, PyAny>>) =
                result.extract().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "backward: expected (dA_prev, [gradients]), got {}",
                        describe(&result)
                    ))
                })?;
            if grad_values.len() != grads.len() {
                return Err(PyValueError::new_err(format!(
                    "backward: expected {} parameter gradients, got {}",
                    grads.len(),
                    grad_values.len()
                )));
            }
            copy_result("backward's dA_prev", &da_prev_value, da_prev)?;
            for (k, (value, grad)) in grad_values.iter().zip(grads.iter_mut()).enumerate() {
                copy_result(&format!("backward's gradient {k}"), value, grad.view_mut())?;
            }
            Ok(())
        })
    }
}
