//! The kernels a student calls by hand (`deepnet.ops`): each is generic over the float type and
//! dispatched on the dtype of its first array argument.

use numpy::{Element, IntoPyArray};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use super::{describe, guarded, is_f64, readonly};
use crate::activation::Activation;
use crate::error::CoreError;
use crate::layers::dense;
use crate::limits::zeros2;
use crate::loss::Loss;
use crate::matmul;
use crate::optimizers::sgd_update;
use crate::scalar::Float;

/// Runs a kernel with the GIL released; a panic (a bug) becomes a `RuntimeError`.
fn detached<T: Send>(py: Python<'_>, f: impl FnOnce() -> T + Send) -> PyResult<T> {
    py.detach(|| guarded("a deepnet.ops kernel", f))
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
    let (z, a) = detached(py, || -> Result<_, CoreError> {
        if w.ncols() != a_prev.nrows() {
            return Err(CoreError::Shape(format!(
                "A_prev: expected {} rows (the columns of W, n^[l-1]), got shape {:?}",
                w.ncols(),
                a_prev.shape()
            )));
        }
        let mut z = zeros2::<F>("Z", shape)?;
        let mut a = zeros2::<F>("A", shape)?;
        dense::forward(w, b, a_prev, activation, z.view_mut(), a.view_mut())?;
        Ok((z, a))
    })??;
    Ok((z.into_pyarray(py).into_any(), a.into_pyarray(py).into_any()))
}

/// (9)–(10): returns (Z, A) for W (n, n_prev), b (n, 1), A_prev (n_prev, m).
#[pyfunction]
pub(super) fn dense_forward<'py>(
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
    m_div: Option<usize>,
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
    let (dw, db, da_prev) = detached(py, || -> Result<_, CoreError> {
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
            let mut dz = zeros2::<F>("dZ", (n, m))?;
            activation.backward(da, z, a, dz.view_mut());
            computed = dz;
            computed.view()
        };
        let mut dw = zeros2::<F>("dW", (n, n_prev))?;
        let mut db = zeros2::<F>("db", (n, 1))?;
        let mut da_prev = match first_layer {
            true => None,
            false => Some(zeros2::<F>("dA_prev", (n_prev, m))?),
        };
        dense::backward_from_dz_over(
            m_div.unwrap_or(m),
            w,
            a_prev,
            dz,
            dw.view_mut(),
            db.view_mut(),
            da_prev.as_mut().map(|d| d.view_mut()),
        )?;
        Ok((dw, db, da_prev))
    })??;
    Ok((
        dw.into_pyarray(py).into_any(),
        db.into_pyarray(py).into_any(),
        da_prev.map(|d| d.into_pyarray(py).into_any()),
    ))
}

/// (11)–(14): returns (dW, db, dA_prev) (dA_prev is None for the first layer). With
/// `upstream_is_dz`, `da` is dZ already (the collapsed Ŷ − Y) and (11) is skipped.
#[pyfunction]
#[pyo3(signature = (da, z, a, a_prev, w, activation, upstream_is_dz=false, first_layer=false, m=None))]
#[allow(clippy::too_many_arguments)]
pub(super) fn dense_backward<'py>(
    py: Python<'py>,
    da: &Bound<'py, PyAny>,
    z: &Bound<'py, PyAny>,
    a: &Bound<'py, PyAny>,
    a_prev: &Bound<'py, PyAny>,
    w: &Bound<'py, PyAny>,
    activation: &str,
    upstream_is_dz: bool,
    first_layer: bool,
    m: Option<usize>,
) -> PyResult<Grads<'py>> {
    let act = Activation::from_name(activation)?;
    if is_f64(w, "W")? {
        dense_backward_impl::<f64>(py, da, z, a, a_prev, w, act, upstream_is_dz, first_layer, m)
    } else {
        dense_backward_impl::<f32>(py, da, z, a, a_prev, w, act, upstream_is_dz, first_layer, m)
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
    detached(py, || sgd_update(param.view_mut(), grad, lr))?;
    Ok(())
}

/// (16)–(17) in place: param −= learning_rate · grad.
#[pyfunction]
pub(super) fn sgd_step(
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
    let out = detached(py, || -> Result<_, CoreError> {
        let mut a = zeros2::<F>("A", z.dim())?;
        act.forward(z, a.view_mut());
        if !derivative {
            return Ok(a);
        }
        let mut d = zeros2::<F>("g'(Z)", z.dim())?;
        act.derivative(z, a.view(), d.view_mut())?;
        Ok(d)
    })??;
    Ok(out.into_pyarray(py).into_any())
}

/// (10) g(Z), or g′(Z) with `derivative=True` (not for softmax, whose Jacobian is full).
#[pyfunction]
#[pyo3(signature = (z, activation, derivative=false))]
pub(super) fn activate<'py>(
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
    loss.check_targets(y)?;
    let (cost, da) = detached(py, || -> Result<_, CoreError> {
        let mut da = zeros2::<F>("dA", yhat.dim())?;
        loss.gradient(yhat, y, da.view_mut());
        Ok((loss.cost(yhat, y), da))
    })??;
    Ok((cost, da.into_pyarray(py).into_any()))
}

/// J and (15) dA^[L] for Ŷ and Y of shape (n_y, m).
#[pyfunction]
pub(super) fn loss_and_gradient<'py>(
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
pub(super) fn all_finite(py: Python<'_>, x: &Bound<'_, PyAny>) -> PyResult<bool> {
    if is_f64(x, "array")? {
        let x = readonly::<f64, ndarray::IxDyn>(x, "array")?;
        let x = x.as_array();
        detached(py, || matmul::all_finite(x))
    } else {
        let x = readonly::<f32, ndarray::IxDyn>(x, "array")?;
        let x = x.as_array();
        detached(py, || matmul::all_finite(x))
    }
}

/// Threads the kernels may use (shared among the training calls running at once).
#[pyfunction]
pub(super) fn get_num_threads() -> usize {
    matmul::configured_threads()
}

/// Sets the threads the kernels may use (0 = the default).
#[pyfunction]
pub(super) fn set_num_threads(n: usize) {
    matmul::set_num_threads(n)
}

/// Allows or forbids the data-parallel training step of dense networks (for benchmarks that
/// compare it with the one-thread step; the results are the same bits either way).
#[pyfunction]
pub(super) fn _set_data_parallel(enabled: bool) {
    crate::data_parallel::set_enabled(enabled)
}

/// The float32 peak flop rate of `threads` threads in GFLOP/s (a register-only loop of fused
/// multiply–adds, `rounds` rounds each): the roofline of `benches/compare.py`.
#[pyfunction]
#[pyo3(signature = (threads, rounds=20_000_000))]
pub(super) fn _peak_gflops(py: Python<'_>, threads: usize, rounds: usize) -> PyResult<f64> {
    if !(1..=256).contains(&threads) || !(1..=1_000_000_000).contains(&rounds) {
        return Err(PyValueError::new_err(format!(
            "expected 1 <= threads <= 256 and 1 <= rounds <= 1e9, got threads={threads}, \
             rounds={rounds}"
        )));
    }
    py.detach(|| {
        guarded("_peak_gflops", || {
            matmul::peak::peak_gflops(threads, rounds)
        })
    })
}
