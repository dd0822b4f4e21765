//! One recurrent step from x_t, for a student's loop (`deepnet.ops.recurrent_step` and
//! `recurrent_step_backward`): the input half of (9), xw = Wx·x_t + bx, by the dense kernel,
//! then the cell's [`step_forward`]; backward, the cell's [`step_backward`], then (12)–(14) for
//! Wx, bx and x_t by the dense kernel. The same kernels the layers' time loop runs; here each
//! call allocates and returns its outputs.

use ndarray::{Array2, ArrayView2};

use super::cells::{step_backward, step_forward, Cell, State, StateMut, Step, StepGrads, StepMut};
use crate::activation::Activation;
use crate::error::{CoreError, Result};
use crate::layers::dense;
use crate::limits::zeros2;
use crate::scalar::Float;

/// What one forward step computed: the new state and the step's cache (what backward needs).
#[derive(Clone, Debug, PartialEq)]
pub struct StepOutput<F> {
    /// h_t, (units, m).
    pub h: Array2<F>,
    /// c_t, (units, m) for an LSTM, (0, m) otherwise.
    pub c: Array2<F>,
    /// (g·units, m): z_t (simple), r, z, n (GRU) or i, f, g, o (LSTM), after their activations
    /// (z_t before, for the simple cell).
    pub gates: Array2<F>,
    /// (units, m): Wh_n·h_{t-1} + bh_n for a GRU; (0, m) otherwise.
    pub aux: Array2<F>,
}

/// The gradients of one step.
#[derive(Clone, Debug, PartialEq)]
pub struct StepGradients<F> {
    pub dwx: Array2<F>,
    pub dwh: Array2<F>,
    pub dbx: Array2<F>,
    pub dbh: Array2<F>,
    /// dJ/dx_t, (n_x, m).
    pub dx: Array2<F>,
    /// dJ/dh_{t-1}, (units, m).
    pub dh_prev: Array2<F>,
    /// dJ/dc_{t-1}, (units, m) for an LSTM, (0, m) otherwise.
    pub dc_prev: Array2<F>,
}

/// The previous state as the cell kernels take it (None: h_0 = c_0 = 0).
fn state<'a, F: Float>(
    cell: Cell,
    h_prev: Option<ArrayView2<'a, F>>,
    c_prev: Option<ArrayView2<'a, F>>,
    empty: &'a Array2<F>,
) -> Result<Option<State<'a, F>>> {
    match (h_prev, c_prev, cell) {
        (None, None, _) => Ok(None),
        (Some(h), Some(c), Cell::Lstm) => Ok(Some(State { h, c })),
        (Some(h), None, Cell::SimpleRnn(_) | Cell::Gru) => Ok(Some(State { h, c: empty.view() })),
        (_, _, Cell::Lstm) => Err(CoreError::Value(
            "an lstm step needs h_prev and c_prev together (or neither, for h_0 = c_0 = 0)".into(),
        )),
        _ => Err(CoreError::Value(format!(
            "c_prev: only an lstm has a cell state, this is a {}",
            cell.kind()
        ))),
    }
}

/// One step forward from x_t: xw = Wx·x_t + bx (9, the input half), then [`step_forward`].
#[allow(clippy::too_many_arguments)]
pub fn step_forward_by_hand<F: Float>(
    cell: Cell,
    wx: ArrayView2<F>,
    wh: ArrayView2<F>,
    bx: ArrayView2<F>,
    bh: ArrayView2<F>,
    x: ArrayView2<F>,
    h_prev: Option<ArrayView2<F>>,
    c_prev: Option<ArrayView2<F>>,
) -> Result<StepOutput<F>> {
    let (rows, m) = (wx.nrows(), x.ncols());
    let u = wh.ncols();
    let mut xw = zeros2::<F>("xw", (rows, m))?;
    let mut unused = zeros2::<F>("xw", (rows, m))?;
    dense::forward(
        wx,
        bx,
        x,
        Activation::Linear,
        xw.view_mut(),
        unused.view_mut(),
    )?;
    let empty = zeros2::<F>("c", (0, m))?;
    let prev = state(cell, h_prev, c_prev, &empty)?;
    let mut out = StepOutput {
        h: zeros2("h", (u, m))?,
        c: zeros2("c", (cell.c_rows(u), m))?,
        gates: zeros2("gates", (rows, m))?,
        aux: zeros2("aux", (cell.aux_rows(u), m))?,
    };
    step_forward(
        cell,
        wh,
        bh,
        xw.view(),
        prev,
        StepMut {
            gates: out.gates.view_mut(),
            aux: out.aux.view_mut(),
            h: out.h.view_mut(),
            c: out.c.view_mut(),
        },
    )?;
    Ok(out)
}

/// One step backward: [`step_backward`] from dJ/dh_t (and dJ/dc_t), then (12)–(14) for the
/// input half: dWx = (1/m) dxw·x_tᵀ, dbx = (1/m) Σ_i dxw^(i), dx_t = Wxᵀ·dxw.
#[allow(clippy::too_many_arguments)]
pub fn step_backward_by_hand<F: Float>(
    cell: Cell,
    wx: ArrayView2<F>,
    wh: ArrayView2<F>,
    x: ArrayView2<F>,
    h_prev: Option<ArrayView2<F>>,
    c_prev: Option<ArrayView2<F>>,
    step: &StepOutput<F>,
    dh: ArrayView2<F>,
    dc: Option<ArrayView2<F>>,
) -> Result<StepGradients<F>> {
    let (rows, n_x) = wx.dim();
    let (u, m) = (wh.ncols(), x.ncols());
    let empty = zeros2::<F>("c", (0, m))?;
    let prev = state(cell, h_prev, c_prev, &empty)?;
    let zero_dc = zeros2::<F>("dc", (cell.c_rows(u), m))?;
    let dc = dc.unwrap_or(zero_dc.view());
    let mut dxw = zeros2::<F>("dxw", (rows, m))?;
    let mut dhw = zeros2::<F>("dhw", (rows, m))?;
    let mut g = StepGradients {
        dwx: zeros2("dWx", (rows, n_x))?,
        dwh: zeros2("dWh", (rows, u))?,
        dbx: zeros2("dbx", (rows, 1))?,
        dbh: zeros2("dbh", (rows, 1))?,
        dx: zeros2("dx", (n_x, m))?,
        dh_prev: zeros2("dh_prev", (u, m))?,
        dc_prev: zeros2("dc_prev", (cell.c_rows(u), m))?,
    };
    step_backward(
        cell,
        wh,
        prev,
        Step {
            gates: step.gates.view(),
            aux: step.aux.view(),
            h: step.h.view(),
            c: step.c.view(),
        },
        State { h: dh, c: dc },
        StepGrads {
            dxw: dxw.view_mut(),
            dhw: dhw.view_mut(),
            dwh: g.dwh.view_mut(),
            dbh: g.dbh.view_mut(),
        },
        Some(StateMut {
            h: g.dh_prev.view_mut(),
            c: g.dc_prev.view_mut(),
        }),
    )?;
    dense::backward_from_dz(
        wx,
        x,
        dxw.view(),
        g.dwx.view_mut(),
        g.dbx.view_mut(),
        Some(g.dx.view_mut()),
    )?;
    Ok(g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn filled(shape: (usize, usize), seed: usize) -> Array2<f64> {
        Array2::from_shape_fn(shape, |(i, j)| {
            (((i * 31 + j * 17 + seed * 7) % 23) as f64 / 23.0 - 0.5) * 0.8
        })
    }

    #[test]
    fn by_hand_steps_match_finite_differences() {
        // J = Σ R ⊙ h_t (+ Σ Q ⊙ c_t): every gradient of one step against central differences
        let (n_x, u, m) = (3, 2, 4);
        for cell in [Cell::SimpleRnn(Activation::Tanh), Cell::Gru, Cell::Lstm] {
            let g = cell.gates();
            let (wx, wh) = (filled((g * u, n_x), 1), filled((g * u, u), 2));
            let (bx, bh) = (filled((g * u, 1), 3), filled((g * u, 1), 4));
            let (x, h0) = (filled((n_x, m), 5), filled((u, m), 6));
            let c0 = filled((cell.c_rows(u), m), 7);
            let (r, q) = (filled((u, m), 8), filled((cell.c_rows(u), m), 9));
            let c_prev = (cell == Cell::Lstm).then(|| c0.view());
            let j = |wx: &Array2<f64>, x: &Array2<f64>, h0: &Array2<f64>| {
                let s = step_forward_by_hand(
                    cell,
                    wx.view(),
                    wh.view(),
                    bx.view(),
                    bh.view(),
                    x.view(),
                    Some(h0.view()),
                    c_prev,
                )
                .unwrap();
                (&s.h * &r).sum() + (&s.c * &q).sum()
            };
            let step = step_forward_by_hand(
                cell,
                wx.view(),
                wh.view(),
                bx.view(),
                bh.view(),
                x.view(),
                Some(h0.view()),
                c_prev,
            )
            .unwrap();
            let grads = step_backward_by_hand(
                cell,
                wx.view(),
                wh.view(),
                x.view(),
                Some(h0.view()),
                c_prev,
                &step,
                r.view(),
                (cell == Cell::Lstm).then(|| q.view()),
            )
            .unwrap();
            let eps = 1e-6;
            let numeric = |f: &dyn Fn(f64) -> f64| (f(eps) - f(-eps)) / (2.0 * eps);
            for (i, k) in [(0, 0), (g * u - 1, n_x - 1)] {
                let d = numeric(&|e| {
                    let mut w = wx.clone();
                    w[[i, k]] += e;
                    j(&w, &x, &h0)
                });
                // dWx carries the 1/m of (12); J is a sum over the examples
                assert!(
                    (grads.dwx[[i, k]] * m as f64 - d).abs() < 1e-7,
                    "{cell:?} dWx"
                );
            }
            for (i, k) in [(0, 1), (n_x - 1, m - 1)] {
                let d = numeric(&|e| {
                    let mut xx = x.clone();
                    xx[[i, k]] += e;
                    j(&wx, &xx, &h0)
                });
                assert!((grads.dx[[i, k]] - d).abs() < 1e-7, "{cell:?} dx");
            }
            let d = numeric(&|e| {
                let mut h = h0.clone();
                h[[1, 2]] += e;
                j(&wx, &x, &h)
            });
            assert!((grads.dh_prev[[1, 2]] - d).abs() < 1e-7, "{cell:?} dh_prev");
        }
    }
}
