//! The optimizer of a network between Python and the core: set from the JSON of
//! `Optimizer.config()` (the schema a model file stores, [`OptimizerConfig`]), read back as a
//! dict with its state arrays.

use numpy::{Element, PyArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use super::readonly;
use crate::network::Network;
use crate::optimizers::{Optimizer, OptimizerConfig};
use crate::scalar::Float;

/// Parses `{"kind": ..., "hyper": {...}, "schedule": {...}}`.
pub(super) fn parse_config(json: &str) -> PyResult<OptimizerConfig> {
    serde_json::from_str(json).map_err(|e| PyValueError::new_err(format!("optimizer: {e}")))
}

/// Sets the optimizer; if it is the same rule with the same hyperparameters, its state is
/// kept (training resumes) and only the schedule changes.
pub(super) fn set_optimizer<F: Float>(
    net: &mut Network<F>,
    config: &OptimizerConfig,
) -> PyResult<()> {
    let (kind, schedule) = config.parts()?;
    if *net.optimizer().kind() == kind {
        net.optimizer_mut().set_schedule(schedule)?;
    } else {
        net.set_optimizer(Optimizer::new(kind, schedule)?);
    }
    Ok(())
}

pub(super) fn optimizer_state<'py, F: Float + Element>(
    py: Python<'py>,
    net: &Network<F>,
) -> PyResult<Bound<'py, PyDict>> {
    let opt = net.optimizer();
    let d = PyDict::new(py);
    d.set_item("kind", opt.kind().name())?;
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

/// Restores state arrays (per parameter, per slot) and counters; every shape is checked
/// before anything changes.
pub(super) fn set_optimizer_state<F: Float + Element>(
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
    net.set_optimizer_state(all, iterations, epochs)?;
    Ok(())
}
