//! The PyO3 binding: the only module that knows Python. It converts arrays (no copy on the way
//! in: `as_array` views of the caller's buffers, whatever their strides), releases the GIL around
//! every kernel, catches any panic (a bug) as a `RuntimeError`, and maps [`CoreError`] to
//! Python exceptions. No maths here. One file per concern: `ops` (the dense kernels of
//! `deepnet.ops`), `layer_ops` (any layer's forward and backward, one recurrent step),
//! `network` (`_core.Network`), `optimizer` (optimizer and schedule specs), `files`
//! (safetensors bytes).

mod files;
mod layer_ops;
mod network;
mod ops;
mod optimizer;
mod python_layer;

use std::panic::{catch_unwind, AssertUnwindSafe};

use ndarray::Dimension;
use numpy::prelude::*;
use numpy::{Element, PyReadonlyArray, PyUntypedArray};

use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::activation::Activation;
use crate::error::CoreError;
use crate::limits;
use crate::loss::Loss;
use crate::scalar::Float;

impl From<CoreError> for PyErr {
    fn from(err: CoreError) -> PyErr {
        match err {
            CoreError::Shape(msg) | CoreError::Value(msg) => PyValueError::new_err(msg),
            CoreError::Type(msg) => PyTypeError::new_err(msg),
        }
    }
}

/// The exception a panic (always a bug in deepnet) becomes: a `RuntimeError`, which `except
/// Exception` catches, unlike PyO3's `PanicException`.
fn panicked(what: &str) -> PyErr {
    PyRuntimeError::new_err(format!(
        "deepnet: internal error in {what} (a bug: please report it); the model was left as \
         it was before the call"
    ))
}

/// Runs `f`, turning a panic into [`panicked`]'s `RuntimeError`.
fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> PyResult<T> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|_| panicked(what))
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

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<network::PyNetwork>()?;
    m.add_function(wrap_pyfunction!(ops::dense_forward, m)?)?;
    m.add_function(wrap_pyfunction!(ops::dense_backward, m)?)?;
    m.add_function(wrap_pyfunction!(ops::sgd_step, m)?)?;
    m.add_function(wrap_pyfunction!(ops::activate, m)?)?;
    m.add_function(wrap_pyfunction!(ops::loss_and_gradient, m)?)?;
    m.add_function(wrap_pyfunction!(ops::get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(ops::all_finite, m)?)?;
    m.add_function(wrap_pyfunction!(files::safetensors_dumps, m)?)?;
    m.add_function(wrap_pyfunction!(files::safetensors_loads, m)?)?;
    m.add_function(wrap_pyfunction!(ops::set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(ops::_set_data_parallel, m)?)?;
    m.add_function(wrap_pyfunction!(ops::_peak_gflops, m)?)?;
    m.add_function(wrap_pyfunction!(layer_ops::layer_forward, m)?)?;
    m.add_function(wrap_pyfunction!(layer_ops::layer_backward, m)?)?;
    m.add_function(wrap_pyfunction!(layer_ops::recurrent_step, m)?)?;
    m.add_function(wrap_pyfunction!(layer_ops::recurrent_step_backward, m)?)?;
    m.add_function(wrap_pyfunction!(python_layer::layer_output_shape, m)?)?;
    m.add("LAYER_KINDS", crate::layers::LayerSpec::KINDS.to_vec())?;
    m.add(
        "ACTIVATIONS",
        Activation::ALL.iter().map(|a| a.name()).collect::<Vec<_>>(),
    )?;
    m.add(
        "LOSSES",
        Loss::ALL.iter().map(|l| l.name()).collect::<Vec<_>>(),
    )?;
    m.add("MAX_EXTENT", limits::MAX_EXTENT)?;
    m.add("MAX_LAYERS", limits::MAX_LAYERS)?;
    m.add("MAX_TENSOR_ELEMENTS", limits::MAX_TENSOR_ELEMENTS)?;
    m.add("MAX_PARAMS", limits::MAX_PARAMS)?;
    m.add("MAX_COUNTER", limits::MAX_COUNTER)?;
    Ok(())
}
