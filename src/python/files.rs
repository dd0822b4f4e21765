//! Model files: safetensors bytes in and out. Reading a whole model goes through
//! `Network.from_bytes` (validated by [`crate::model_file`]); these two are the raw format.

use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::{is_f64, readonly};
use crate::io::{from_safetensors, to_safetensors, Tensor};

#[pyfunction]
pub(super) fn safetensors_dumps<'py>(
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
pub(super) fn safetensors_loads<'py>(py: Python<'py>, data: &[u8]) -> PyResult<LoadedFile<'py>> {
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
