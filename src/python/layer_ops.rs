//! Any layer's forward and backward by hand (`deepnet.ops.conv_forward`, `pool_forward`, …):
//! the layer `fit` runs, built from its spec over A_prev's shape, given its parameters; and one
//! recurrent step. Each call allocates and returns its outputs; the GIL is released around the
//! kernels.

use numpy::{Element, IntoPyArray, PyArray};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use super::{guarded, is_f64, readonly};
use crate::activation::Activation;
use crate::error::CoreError;
use crate::layer::{Layer, Upstream};
use crate::layers::recurrent::{step_backward_by_hand, step_forward_by_hand, Cell, StepOutput};
use crate::layers::LayerSpec;
use crate::scalar::Float;

/// The layer of `spec` over inputs shaped like `a_prev` (without its last axis), with
/// `params` (in `param_names` order).
fn built<F: Float + Element>(
    spec: &str,
    a_prev_shape: &[usize],
    params: &[Bound<'_, PyAny>],
) -> PyResult<Box<dyn Layer<F>>> {
    let spec: LayerSpec = serde_json::from_str(spec)
        .map_err(|e| PyValueError::new_err(format!("layer spec: {e}")))?;
    let input_shape = &a_prev_shape[..a_prev_shape.len().saturating_sub(1)];
    let mut layer = spec.build::<F>(input_shape)?;
    let names: Vec<String> = layer.param_names().iter().map(|n| n.to_string()).collect();
    if params.len() != names.len() {
        return Err(PyValueError::new_err(format!(
            "a {} layer has the parameters {names:?}, got {} arrays",
            layer.kind(),
            params.len()
        )));
    }
    for (i, (p, name)) in params.iter().zip(names).enumerate() {
        let p = readonly::<F, ndarray::IxDyn>(p, &name)?;
        layer.set_param(i, p.as_array())?;
    }
    Ok(layer)
}

type Forward<'py> = (Bound<'py, PyAny>, Option<Bound<'py, PyAny>>);

fn layer_forward_impl<'py, F: Float + Element>(
    py: Python<'py>,
    spec: &str,
    params: Vec<Bound<'py, PyAny>>,
    a_prev: &Bound<'py, PyAny>,
) -> PyResult<Forward<'py>> {
    let a_prev = readonly::<F, ndarray::IxDyn>(a_prev, "A_prev")?;
    let x = a_prev.as_array();
    let mut layer = built::<F>(spec, x.shape(), &params)?;
    let (a, z) = py.detach(|| {
        guarded("a deepnet.ops layer kernel", || -> Result<_, CoreError> {
            layer.forward(x.view(), false)?;
            let z = layer.z().map(|z| z.to_owned());
            Ok((layer.output(x.view()).to_owned(), z))
        })
    })??;
    Ok((
        a.into_pyarray(py).into_any(),
        z.map(|z| z.into_pyarray(py).into_any()),
    ))
}

/// A^[l] = the layer's forward pass over A_prev, and Z^[l] for a layer whose output is g(Z)
/// (None otherwise). `spec` is the layer's JSON spec; `params` its parameters.
#[pyfunction]
pub(super) fn layer_forward<'py>(
    py: Python<'py>,
    spec: &str,
    params: Vec<Bound<'py, PyAny>>,
    a_prev: &Bound<'py, PyAny>,
) -> PyResult<Forward<'py>> {
    if is_f64(a_prev, "A_prev")? {
        layer_forward_impl::<f64>(py, spec, params, a_prev)
    } else {
        layer_forward_impl::<f32>(py, spec, params, a_prev)
    }
}

type Backward<'py> = (Vec<Bound<'py, PyAny>>, Option<Bound<'py, PyAny>>);

fn layer_backward_impl<'py, F: Float + Element>(
    py: Python<'py>,
    spec: &str,
    params: Vec<Bound<'py, PyAny>>,
    a_prev: &Bound<'py, PyAny>,
    upstream: &Bound<'py, PyAny>,
    upstream_is_dz: bool,
    need_da_prev: bool,
) -> PyResult<Backward<'py>> {
    let a_prev = readonly::<F, ndarray::IxDyn>(a_prev, "A_prev")?;
    let upstream = readonly::<F, ndarray::IxDyn>(upstream, "dA")?;
    let (x, up) = (a_prev.as_array(), upstream.as_array());
    let mut layer = built::<F>(spec, x.shape(), &params)?;
    if upstream_is_dz && layer.output_activation().is_none() {
        return Err(PyValueError::new_err(format!(
            "upstream_is_dz: a {} layer has no Z (its output is not an activation g(Z))",
            layer.kind()
        )));
    }
    let (grads, da_prev) = py.detach(|| {
        guarded("a deepnet.ops layer kernel", || -> Result<_, CoreError> {
            layer.forward(x.view(), false)?;
            let upstream = if upstream_is_dz {
                Upstream::DZ(up.view())
            } else {
                Upstream::DA(up.view())
            };
            layer.backward(x.view(), upstream, need_da_prev)?;
            let grads: Vec<_> = layer.grads().iter().map(|g| g.to_owned()).collect();
            let da_prev = need_da_prev.then(|| layer.input_grad(up.view()).to_owned());
            Ok((grads, da_prev))
        })
    })??;
    Ok((
        grads
            .into_iter()
            .map(|g| g.into_pyarray(py).into_any())
            .collect(),
        da_prev.map(|d| d.into_pyarray(py).into_any()),
    ))
}

/// The layer's backward pass: its parameter gradients (in `param_names` order) and, with
/// `need_da_prev`, dA^[l-1]. `upstream` is dA^[l], or dZ^[l] with `upstream_is_dz`.
#[pyfunction]
#[pyo3(signature = (spec, params, a_prev, upstream, upstream_is_dz=false, need_da_prev=true))]
pub(super) fn layer_backward<'py>(
    py: Python<'py>,
    spec: &str,
    params: Vec<Bound<'py, PyAny>>,
    a_prev: &Bound<'py, PyAny>,
    upstream: &Bound<'py, PyAny>,
    upstream_is_dz: bool,
    need_da_prev: bool,
) -> PyResult<Backward<'py>> {
    if is_f64(a_prev, "A_prev")? {
        layer_backward_impl::<f64>(
            py,
            spec,
            params,
            a_prev,
            upstream,
            upstream_is_dz,
            need_da_prev,
        )
    } else {
        layer_backward_impl::<f32>(
            py,
            spec,
            params,
            a_prev,
            upstream,
            upstream_is_dz,
            need_da_prev,
        )
    }
}

// -- one recurrent step ------------------------------------------------------------------------

fn cell_of(cell: &str, activation: &str) -> PyResult<Cell> {
    Ok(match cell {
        "simple_rnn" => Cell::SimpleRnn(Activation::from_name(activation)?),
        "gru" => Cell::Gru,
        "lstm" => Cell::Lstm,
        other => {
            return Err(PyValueError::new_err(format!(
                "cell: expected 'simple_rnn', 'gru' or 'lstm', got {other:?}"
            )))
        }
    })
}

fn arrays<'py, F: Float + Element>(
    py: Python<'py>,
    pairs: Vec<(&str, ndarray::Array2<F>)>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, v) in pairs {
        d.set_item(k, PyArray::from_owned_array(py, v))?;
    }
    Ok(d)
}

/// The optional 2-D arrays of a step (None stays None).
fn opt2<'py, F: Float + Element>(
    a: &Option<Bound<'py, PyAny>>,
    name: &str,
) -> PyResult<Option<numpy::PyReadonlyArray2<'py, F>>> {
    a.as_ref()
        .map(|a| readonly::<F, ndarray::Ix2>(a, name))
        .transpose()
}

/// What a backward step takes besides the forward's arguments: the step's cache, dh and dc.
type BackwardArgs<'a, 'py> = (
    &'a Bound<'py, PyDict>,
    &'a Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
);

#[allow(clippy::too_many_arguments)]
fn step_impl<'py, F: Float + Element>(
    py: Python<'py>,
    cell: Cell,
    x: &Bound<'py, PyAny>,
    h_prev: Option<Bound<'py, PyAny>>,
    c_prev: Option<Bound<'py, PyAny>>,
    params: [&Bound<'py, PyAny>; 4],
    backward: Option<BackwardArgs<'_, 'py>>,
) -> PyResult<Bound<'py, PyDict>> {
    let x = readonly::<F, ndarray::Ix2>(x, "x")?;
    let [wx, wh, bx, bh] = params;
    let (wx, wh) = (
        readonly::<F, ndarray::Ix2>(wx, "Wx")?,
        readonly::<F, ndarray::Ix2>(wh, "Wh")?,
    );
    let (bx, bh) = (
        readonly::<F, ndarray::Ix2>(bx, "bx")?,
        readonly::<F, ndarray::Ix2>(bh, "bh")?,
    );
    let (h, c) = (opt2::<F>(&h_prev, "h_prev")?, opt2::<F>(&c_prev, "c_prev")?);
    let (h, c) = (
        h.as_ref().map(|a| a.as_array()),
        c.as_ref().map(|a| a.as_array()),
    );
    let (x, wx, wh, bx, bh) = (
        x.as_array(),
        wx.as_array(),
        wh.as_array(),
        bx.as_array(),
        bh.as_array(),
    );
    let Some((cache, dh, dc)) = backward else {
        let out = py.detach(|| {
            guarded("recurrent_step", || {
                step_forward_by_hand(cell, wx, wh, bx, bh, x, h, c)
            })
        })??;
        return arrays(
            py,
            vec![
                ("h", out.h),
                ("c", out.c),
                ("gates", out.gates),
                ("aux", out.aux),
            ],
        );
    };
    let get = |k: &str| -> PyResult<ndarray::Array2<F>> {
        let v = cache.get_item(k)?.ok_or_else(|| {
            PyValueError::new_err(format!("step: the cache of recurrent_step has no {k:?}"))
        })?;
        Ok(readonly::<F, ndarray::Ix2>(&v, k)?.as_array().to_owned())
    };
    let step = StepOutput {
        h: get("h")?,
        c: get("c")?,
        gates: get("gates")?,
        aux: get("aux")?,
    };
    let dh = readonly::<F, ndarray::Ix2>(dh, "dh")?;
    let dc = opt2::<F>(&dc, "dc")?;
    let (dh, dc) = (dh.as_array(), dc.as_ref().map(|a| a.as_array()));
    let g = py.detach(|| {
        guarded("recurrent_step_backward", || {
            step_backward_by_hand(cell, wx, wh, x, h, c, &step, dh, dc)
        })
    })??;
    arrays(
        py,
        vec![
            ("dWx", g.dwx),
            ("dWh", g.dwh),
            ("dbx", g.dbx),
            ("dbh", g.dbh),
            ("dx", g.dx),
            ("dh_prev", g.dh_prev),
            ("dc_prev", g.dc_prev),
        ],
    )
}

/// One recurrent step forward: {h, c, gates, aux} (c and aux empty where the cell has none).
#[pyfunction]
#[pyo3(signature = (cell, x, h_prev, c_prev, wx, wh, bx, bh, activation="tanh"))]
#[allow(clippy::too_many_arguments)]
pub(super) fn recurrent_step<'py>(
    py: Python<'py>,
    cell: &str,
    x: &Bound<'py, PyAny>,
    h_prev: Option<Bound<'py, PyAny>>,
    c_prev: Option<Bound<'py, PyAny>>,
    wx: &Bound<'py, PyAny>,
    wh: &Bound<'py, PyAny>,
    bx: &Bound<'py, PyAny>,
    bh: &Bound<'py, PyAny>,
    activation: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let cell = cell_of(cell, activation)?;
    let params = [wx, wh, bx, bh];
    if is_f64(x, "x")? {
        step_impl::<f64>(py, cell, x, h_prev, c_prev, params, None)
    } else {
        step_impl::<f32>(py, cell, x, h_prev, c_prev, params, None)
    }
}

/// One recurrent step backward from dh (and dc): {dWx, dWh, dbx, dbh, dx, dh_prev, dc_prev}.
#[pyfunction]
#[pyo3(signature = (cell, x, h_prev, c_prev, wx, wh, bx, bh, step, dh, dc=None, activation="tanh"))]
#[allow(clippy::too_many_arguments)]
pub(super) fn recurrent_step_backward<'py>(
    py: Python<'py>,
    cell: &str,
    x: &Bound<'py, PyAny>,
    h_prev: Option<Bound<'py, PyAny>>,
    c_prev: Option<Bound<'py, PyAny>>,
    wx: &Bound<'py, PyAny>,
    wh: &Bound<'py, PyAny>,
    bx: &Bound<'py, PyAny>,
    bh: &Bound<'py, PyAny>,
    step: &Bound<'py, PyDict>,
    dh: &Bound<'py, PyAny>,
    dc: Option<Bound<'py, PyAny>>,
    activation: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let cell = cell_of(cell, activation)?;
    let params = [wx, wh, bx, bh];
    let backward = Some((step, dh, dc));
    if is_f64(x, "x")? {
        step_impl::<f64>(py, cell, x, h_prev, c_prev, params, backward)
    } else {
        step_impl::<f32>(py, cell, x, h_prev, c_prev, params, backward)
    }
}
