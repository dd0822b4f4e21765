//! Recurrent layers: SimpleRNN, GRU and LSTM (one [`Recurrent`] layer per [`Cell`]) and
//! [`Bidirectional`].
//!
//! Layout: the input is `(features, time, m)`, C-ordered, examples last (the same array as a
//! 1-D signal `(channels, length, m)`); the output is h at the last step, `(units, m)`, or at
//! every step, `(units, time, m)`, with `return_sequences`. h_0 = 0 (and c_0 = 0).
//!
//! The input half of (9) is one product for all steps: XW = Wx·X + bx with X viewed as
//! `(n_x, time·m)`, a free view of a C-ordered X. The shared time loop then calls the cell's
//! [`step_forward`] once per step, which adds Wh·h_{t-1} + bh and applies the gates. Backward
//! through time, [`step_backward`] runs from the last step to the first, accumulating dWh and
//! dbh and writing each step's pre-activation gradients into dXW `(g·units, time, m)`; then
//! dWx = (1/m) dXW·Xᵀ (12), dbx = (1/m) Σ dXW (13) and dA_prev = Wxᵀ·dXW (14) are again one
//! product each over all steps. Every sum runs in a fixed order, so results do not depend on
//! the thread count.

mod bidirectional;
mod by_hand;
mod cells;
mod config;
#[cfg(test)]
mod tests;

pub use bidirectional::Bidirectional;
pub use by_hand::{step_backward_by_hand, step_forward_by_hand, StepGradients, StepOutput};
pub use cells::{step_backward, step_forward, Cell, State, StateMut, Step, StepGrads, StepMut};
pub use config::{BidirectionalConfig, GruConfig, LstmConfig, RecurrentSpec, SimpleRnnConfig};

use ndarray::{
    Array2, ArrayView2, ArrayView3, ArrayViewD, ArrayViewMut2, ArrayViewMut3, ArrayViewMutD,
};
use ndarray::{Axis, Ix2, Ix3, Zip};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Uniform};

use crate::error::{expect_shape, CoreError, Result};
use crate::layer::{Layer, Upstream, Workspace};
use crate::layers::l2;
use crate::limits::{check_extent, zeros2};
use crate::matmul::gemm;
use crate::scalar::Float;

/// A recurrent layer of `units` cells of one kind over inputs `(n_x, time, m)`.
///
/// Parameters (PyTorch's layout, gate k in rows k·u..(k+1)·u): Wx (g·u, n_x), Wh (g·u, u),
/// bx (g·u, 1), bh (g·u, 1), with g = 1 (SimpleRNN), 3 (GRU: r, z, n) or 4 (LSTM: i, f, g, o).
/// Initialization is PyTorch's: all four uniform in [−1/√u, 1/√u]. The cells' equations,
/// forward and backward, are on [`step_forward`] and [`step_backward`].
#[derive(Clone, Debug)]
pub struct Recurrent<F: Float> {
    cell: Cell,
    units: usize,
    return_sequences: bool,
    /// Run from the last time step to the first (the backward half of [`Bidirectional`]).
    reverse: bool,
    /// λ of the L2 penalty (λ/2)(‖Wx‖² + ‖Wh‖²).
    l2: f64,
    input_shape: [usize; 2],
    output_shape: Vec<usize>,
    /// m of the last forward pass, whose caches backward reads; `None` before one.
    batch: Option<usize>,
    wx: Array2<F>,
    wh: Array2<F>,
    bx: Array2<F>,
    bh: Array2<F>,
    dwx: Array2<F>,
    dwh: Array2<F>,
    dbx: Array2<F>,
    dbh: Array2<F>,
    /// X copied C-ordered, only when the given one is not.
    x_copy: Workspace<F>,
    /// Wx·X + bx, (g·u, time, m).
    xw: Workspace<F>,
    /// Each step's [`Step::gates`], (g·u, time, m).
    gates: Workspace<F>,
    /// Each step's [`Step::aux`], (GRU: u, else 0; time, m).
    aux: Workspace<F>,
    /// h_t for every step, (u, time, m): the output with `return_sequences`.
    h: Workspace<F>,
    /// c_t for every step, (LSTM: u, else 0; time, m).
    c: Workspace<F>,
    /// h at the last step, (u, m): the output without `return_sequences`.
    last: Workspace<F>,
    /// dJ/d(Wx·x_t + bx) for every step, (g·u, time, m).
    dxw: Workspace<F>,
    /// One step's dJ/d(Wh·h + bh), (g·u, m).
    dhw: Workspace<F>,
    /// dJ/dh_t and dJ/dc_t of the current step, and those the step sends to the one before.
    dh: Workspace<F>,
    dc: Workspace<F>,
    dh_prev: Workspace<F>,
    dc_prev: Workspace<F>,
    da_prev: Workspace<F>,
}

impl<F: Float> Recurrent<F> {
    /// A layer of `units` cells over inputs of `n_x` features and `time` steps, with zero
    /// parameters (see [`Layer::initialize`]). `l2` is λ of the penalty (λ/2)(‖Wx‖² + ‖Wh‖²),
    /// which adds λWx and λWh to the gradients (12).
    pub fn new(
        cell: Cell,
        n_x: usize,
        time: usize,
        units: usize,
        return_sequences: bool,
        l2: f64,
    ) -> Result<Self> {
        let kind = cell.kind();
        if cell == Cell::SimpleRnn(crate::Activation::Softmax) {
            return Err(CoreError::Value(format!(
                "{kind}: activation: softmax is not allowed in a recurrent layer"
            )));
        }
        if !(l2.is_finite() && l2 >= 0.0) {
            return Err(CoreError::Value(format!(
                "{kind}: l2: expected a finite number >= 0, got {l2}"
            )));
        }
        check_extent("units", units)?;
        check_extent("the number of input features", n_x)?;
        check_extent("the number of time steps", time)?;
        let rows = units
            .checked_mul(cell.gates())
            .ok_or_else(|| CoreError::Value(format!("units: {units} is too large")))?;
        Ok(Recurrent {
            cell,
            units,
            return_sequences,
            reverse: false,
            l2,
            input_shape: [n_x, time],
            output_shape: if return_sequences {
                vec![units, time]
            } else {
                vec![units]
            },
            batch: None,
            wx: zeros2("Wx", (rows, n_x))?,
            wh: zeros2("Wh", (rows, units))?,
            bx: zeros2("bx", (rows, 1))?,
            bh: zeros2("bh", (rows, 1))?,
            dwx: zeros2("dWx", (rows, n_x))?,
            dwh: zeros2("dWh", (rows, units))?,
            dbx: zeros2("dbx", (rows, 1))?,
            dbh: zeros2("dbh", (rows, 1))?,
            x_copy: Workspace::default(),
            xw: Workspace::default(),
            gates: Workspace::default(),
            aux: Workspace::default(),
            h: Workspace::default(),
            c: Workspace::default(),
            last: Workspace::default(),
            dxw: Workspace::default(),
            dhw: Workspace::default(),
            dh: Workspace::default(),
            dc: Workspace::default(),
            dh_prev: Workspace::default(),
            dc_prev: Workspace::default(),
            da_prev: Workspace::default(),
        })
    }

    /// The same layer running from the last time step to the first: step t's state comes
    /// from step t+1, and output step t stays aligned with input step t (its "last" step is
    /// input step 0). The backward half of [`Bidirectional`].
    pub fn reversed(mut self) -> Self {
        self.reverse = !self.reverse;
        self
    }

    /// The cell.
    pub fn cell(&self) -> Cell {
        self.cell
    }

    /// u, the size of h.
    pub fn units(&self) -> usize {
        self.units
    }

    /// Whether the output is h at every step.
    pub fn return_sequences(&self) -> bool {
        self.return_sequences
    }

    /// λ of the L2 penalty.
    pub fn l2(&self) -> f64 {
        self.l2
    }

    /// The time step visited `s`-th (0-based): s, or time − 1 − s when reversed.
    fn order(&self) -> impl Fn(usize) -> usize {
        let (reverse, time) = (self.reverse, self.input_shape[1]);
        move |s| if reverse { time - 1 - s } else { s }
    }

    /// A_prev as (n_x, time, m), checked against the layer's input shape.
    fn input<'a>(&self, a_prev: ArrayViewD<'a, F>) -> Result<ArrayView3<'a, F>> {
        let [n_x, time] = self.input_shape;
        let shape = a_prev.shape().to_vec();
        let m = *shape.last().unwrap_or(&0);
        if shape.len() != 3 {
            return Err(CoreError::Shape(format!(
                "A_prev: a {} layer expects a 3-D (features, time, m) array of shape \
                 [{n_x}, {time}, m], got shape {shape:?}",
                self.cell.kind()
            )));
        }
        expect_shape("A_prev", &[n_x, time, m], &shape)?;
        Ok(a_prev.into_dimensionality().expect("3-D, checked"))
    }
}

/// X (n_x, time, m) as (n_x, time·m): a view when X is C-ordered, else a copy into `copy`.
fn flat<'a, F: Float>(
    x: ArrayView3<'a, F>,
    copy: &'a mut Workspace<F>,
) -> Result<ArrayView2<'a, F>> {
    let (n_x, time, m) = x.dim();
    if x.is_standard_layout() {
        return Ok(x
            .into_shape_with_order((n_x, time * m))
            .expect("a C-ordered array reshapes freely"));
    }
    copy.resize(&[n_x, time, m])?;
    let mut c = mat3(copy.view_mut());
    c.assign(&x);
    Ok(copy
        .view()
        .into_shape_with_order((n_x, time * m))
        .expect("a workspace is C-ordered"))
}

fn mat2<F: Float>(v: ArrayViewMutD<'_, F>) -> ArrayViewMut2<'_, F> {
    v.into_dimensionality::<Ix2>()
        .expect("recurrent workspaces have their rank by construction")
}

fn mat3<F: Float>(v: ArrayViewMutD<'_, F>) -> ArrayViewMut3<'_, F> {
    v.into_dimensionality::<Ix3>()
        .expect("recurrent workspaces have their rank by construction")
}

/// A (rows, time, m) workspace as (rows, time·m).
fn flat_mut<F: Float>(v: ArrayViewMutD<'_, F>) -> ArrayViewMut2<'_, F> {
    let (rows, rest) = (v.shape()[0], v.len() / v.shape()[0].max(1));
    v.into_shape_with_order((rows, rest))
        .expect("a workspace is C-ordered")
}

/// Step `t` of a (rows, time, m) buffer, writable, and step `prev` (≠ t), if any.
fn at_step<'b, F: Float>(
    v: &'b mut ArrayViewMut3<'_, F>,
    t: usize,
    prev: Option<usize>,
) -> (ArrayViewMut2<'b, F>, Option<ArrayViewMut2<'b, F>>) {
    let Some(p) = prev else {
        return (v.index_axis_mut(Axis(1), t), None);
    };
    let (lo, hi) = v.view_mut().split_at(Axis(1), t.max(p));
    let lo = lo.index_axis_move(Axis(1), t.min(p));
    let hi = hi.index_axis_move(Axis(1), 0);
    if t < p {
        (lo, Some(hi))
    } else {
        (hi, Some(lo))
    }
}

impl<F: Float> Recurrent<F> {
    /// The time loop forward: h_t for every step, from XW already in `self.xw`.
    fn run_forward(&mut self, time: usize) -> Result<()> {
        let order = self.order();
        let xw = self.xw.view().into_dimensionality::<Ix3>().expect("3-D");
        let mut gates = mat3(self.gates.view_mut());
        let mut aux = mat3(self.aux.view_mut());
        let mut h = mat3(self.h.view_mut());
        let mut c = mat3(self.c.view_mut());
        for s in 0..time {
            let t = order(s);
            let p = (s > 0).then(|| order(s - 1));
            let (h_t, h_p) = at_step(&mut h, t, p);
            let (c_t, c_p) = at_step(&mut c, t, p);
            let prev = h_p.as_ref().zip(c_p.as_ref()).map(|(h, c)| State {
                h: h.view(),
                c: c.view(),
            });
            let out = StepMut {
                gates: gates.index_axis_mut(Axis(1), t),
                aux: aux.index_axis_mut(Axis(1), t),
                h: h_t,
                c: c_t,
            };
            step_forward(
                self.cell,
                self.wh.view(),
                self.bh.view(),
                xw.index_axis(Axis(1), t),
                prev,
                out,
            )?;
        }
        Ok(())
    }

    /// The time loop backward (BPTT), from the last step visited to the first; `da` is the
    /// upstream dA, (u, time, m) or (u, m).
    fn run_backward(&mut self, da: ArrayViewD<F>, time: usize) -> Result<()> {
        // with return_sequences dA reaches every step, else only the last
        let da_seq = self
            .return_sequences
            .then(|| da.view().into_dimensionality::<Ix3>().expect("checked"));
        let gates = self.gates.view().into_dimensionality::<Ix3>().expect("3-D");
        let aux = self.aux.view().into_dimensionality::<Ix3>().expect("3-D");
        let h = self.h.view().into_dimensionality::<Ix3>().expect("3-D");
        let c = self.c.view().into_dimensionality::<Ix3>().expect("3-D");
        self.dwh.fill(F::zero());
        self.dbh.fill(F::zero());
        let order = self.order();
        for s in (0..time).rev() {
            let t = order(s);
            let p = (s > 0).then(|| order(s - 1));
            // dJ/dh_t = dA at step t + what step t+1 sent back through h_t
            if s + 1 == time {
                mat2(self.dc.view_mut()).fill(F::zero());
                let mut dh = mat2(self.dh.view_mut());
                match &da_seq {
                    Some(da) => dh.assign(&da.index_axis(Axis(1), t)),
                    None => dh.assign(&da.view().into_dimensionality::<Ix2>().expect("checked")),
                }
            } else {
                std::mem::swap(&mut self.dh, &mut self.dh_prev);
                std::mem::swap(&mut self.dc, &mut self.dc_prev);
                if let Some(da) = &da_seq {
                    let mut dh = mat2(self.dh.view_mut());
                    dh += &da.index_axis(Axis(1), t);
                }
            }
            let prev = p.map(|p| State {
                h: h.index_axis(Axis(1), p),
                c: c.index_axis(Axis(1), p),
            });
            let step = Step {
                gates: gates.index_axis(Axis(1), t),
                aux: aux.index_axis(Axis(1), t),
                h: h.index_axis(Axis(1), t),
                c: c.index_axis(Axis(1), t),
            };
            let dh = self.dh.view().into_dimensionality::<Ix2>().expect("2-D");
            let dc = self.dc.view().into_dimensionality::<Ix2>().expect("2-D");
            let mut dxw = mat3(self.dxw.view_mut());
            let grads = StepGrads {
                dxw: dxw.index_axis_mut(Axis(1), t),
                dhw: mat2(self.dhw.view_mut()),
                dwh: self.dwh.view_mut(),
                dbh: self.dbh.view_mut(),
            };
            let d_prev = p.map(|_| StateMut {
                h: mat2(self.dh_prev.view_mut()),
                c: mat2(self.dc_prev.view_mut()),
            });
            step_backward(
                self.cell,
                self.wh.view(),
                prev,
                step,
                State { h: dh, c: dc },
                grads,
                d_prev,
            )?;
        }
        Ok(())
    }
}

impl<F: Float> Layer<F> for Recurrent<F> {
    fn kind(&self) -> &'static str {
        self.cell.kind()
    }

    fn input_shape(&self) -> &[usize] {
        &self.input_shape
    }

    fn output_shape(&self) -> &[usize] {
        &self.output_shape
    }

    fn param_names(&self) -> Vec<&str> {
        vec!["Wx", "Wh", "bx", "bh"]
    }

    fn params(&self) -> Vec<ArrayViewD<'_, F>> {
        [&self.wx, &self.wh, &self.bx, &self.bh]
            .map(|p| p.view().into_dyn())
            .into()
    }

    fn set_param(&mut self, index: usize, value: ArrayViewD<F>) -> Result<()> {
        let (name, target) = match index {
            0 => ("Wx", &mut self.wx),
            1 => ("Wh", &mut self.wh),
            2 => ("bx", &mut self.bx),
            3 => ("bh", &mut self.bh),
            _ => {
                return Err(CoreError::Value(format!(
                    "a {} layer has parameters 0 (Wx), 1 (Wh), 2 (bx) and 3 (bh), got index \
                     {index}",
                    self.cell.kind()
                )))
            }
        };
        expect_shape(name, target.shape(), value.shape())?;
        target.assign(&value.into_dimensionality::<Ix2>().expect("shape checked"));
        Ok(())
    }

    fn grads(&self) -> Vec<ArrayViewD<'_, F>> {
        [&self.dwx, &self.dwh, &self.dbx, &self.dbh]
            .map(|p| p.view().into_dyn())
            .into()
    }

    /// PyTorch's initialization: every parameter (Wx, Wh, bx, bh, in that order) uniform in
    /// [−1/√u, 1/√u]. Drawn in f64 and rounded, so float32 and float64 start from the same
    /// numbers.
    fn initialize(&mut self, rng: &mut ChaCha8Rng) {
        let limit = 1.0 / (self.units as f64).sqrt();
        let uniform = Uniform::new_inclusive(-limit, limit).expect("limit is positive and finite");
        for p in [&mut self.wx, &mut self.wh, &mut self.bx, &mut self.bh] {
            p.iter_mut().for_each(|v| *v = F::c(uniform.sample(rng)));
        }
    }

    fn forward(&mut self, a_prev: ArrayViewD<F>, _training: bool) -> Result<()> {
        let x = self.input(a_prev)?;
        let (_, time, m) = x.dim();
        let (u, rows) = (self.units, self.wx.nrows());
        self.batch = None;
        self.xw.resize(&[rows, time, m])?;
        self.gates.resize(&[rows, time, m])?;
        self.aux.resize(&[self.cell.aux_rows(u), time, m])?;
        self.h.resize(&[u, time, m])?;
        self.c.resize(&[self.cell.c_rows(u), time, m])?;
        if !self.return_sequences {
            self.last.resize(&[u, m])?;
        }
        // (9), the input half, for every step at once: XW = Wx·X + bx
        let x = flat(x, &mut self.x_copy)?;
        let mut xw = flat_mut(self.xw.view_mut());
        gemm(F::one(), self.wx.view(), x, F::zero(), xw.view_mut());
        Zip::from(xw.rows_mut())
            .and(self.bx.column(0))
            .for_each(|mut row, &b| row.iter_mut().for_each(|v| *v += b));
        self.run_forward(time)?;
        if !self.return_sequences {
            let last = self.order()(time - 1);
            let h = self.h.view().into_dimensionality::<Ix3>().expect("3-D");
            mat2(self.last.view_mut()).assign(&h.index_axis(Axis(1), last));
        }
        self.batch = Some(m);
        Ok(())
    }

    fn output<'a>(&'a self, _a_prev: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        if self.return_sequences {
            self.h.view()
        } else {
            self.last.view()
        }
    }

    fn backward(
        &mut self,
        a_prev: ArrayViewD<F>,
        upstream: Upstream<'_, F>,
        need_da_prev: bool,
    ) -> Result<()> {
        let Upstream::DA(da) = upstream else {
            return Err(CoreError::Value(format!(
                "a {} layer's backward pass takes dA (it has no output activation), got dZ",
                self.cell.kind()
            )));
        };
        let x = self.input(a_prev)?;
        let (n_x, time, m) = x.dim();
        if m == 0 {
            return Err(CoreError::Shape(
                "A_prev: expected at least one example, got 0".into(),
            ));
        }
        let (u, rows) = (self.units, self.wx.nrows());
        let out_shape: &[usize] = if self.return_sequences {
            &[u, time, m]
        } else {
            &[u, m]
        };
        expect_shape("dA", out_shape, da.shape())?;
        if self.batch != Some(m) {
            return Err(CoreError::Value(format!(
                "a {} layer's backward pass needs the forward pass of the same batch first                  (m = {m})",
                self.cell.kind()
            )));
        }
        self.dxw.resize(&[rows, time, m])?;
        self.dhw.resize(&[rows, m])?;
        self.dh.resize(&[u, m])?;
        self.dh_prev.resize(&[u, m])?;
        self.dc.resize(&[self.cell.c_rows(u), m])?;
        self.dc_prev.resize(&[self.cell.c_rows(u), m])?;
        self.run_backward(da, time)?;
        let inv_m = F::one() / F::c(m as f64);
        let x = flat(x, &mut self.x_copy)?;
        let dxw = self
            .dxw
            .view()
            .into_shape_with_order((rows, time * m))
            .expect("a workspace is C-ordered");
        // (12) dWx = (1/m) dXW·Xᵀ over all steps at once
        gemm(inv_m, dxw, x.t(), F::zero(), self.dwx.view_mut());
        // (13) dbx = (1/m) Σ over every step and example
        Zip::from(self.dbx.column_mut(0))
            .and(dxw.rows())
            .for_each(|db, row| *db = row.sum() * inv_m);
        // (14) dA_prev = Wxᵀ·dXW
        if need_da_prev {
            self.da_prev.resize(&[n_x, time, m])?;
            gemm(
                F::one(),
                self.wx.t(),
                dxw,
                F::zero(),
                flat_mut(self.da_prev.view_mut()),
            );
        }
        l2::add_gradient(self.l2, self.dwx.view_mut(), self.wx.view());
        l2::add_gradient(self.l2, self.dwh.view_mut(), self.wh.view());
        Ok(())
    }

    fn input_grad<'a>(&'a self, _upstream: ArrayViewD<'a, F>) -> ArrayViewD<'a, F> {
        self.da_prev.view()
    }

    fn for_each_param_grad(&mut self, f: &mut dyn FnMut(ArrayViewMutD<'_, F>, ArrayViewD<'_, F>)) {
        f(self.wx.view_mut().into_dyn(), self.dwx.view().into_dyn());
        f(self.wh.view_mut().into_dyn(), self.dwh.view().into_dyn());
        f(self.bx.view_mut().into_dyn(), self.dbx.view().into_dyn());
        f(self.bh.view_mut().into_dyn(), self.dbh.view().into_dyn());
    }

    fn penalty(&self) -> f64 {
        l2::penalty(self.l2, self.wx.iter().chain(&self.wh))
    }
}
