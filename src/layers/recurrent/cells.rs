//! One time step of each recurrent cell, forward and backward: the kernels the layers' shared
//! time loop calls once per step, and that `deepnet.ops` exposes as "one recurrent step".
//!
//! A step receives the input projection of its time step, xw = Wx·x_t + bx (the layer computes
//! it for every step at once, as one product (9)), and the state (h_{t-1}, c_{t-1}) of the step
//! before. Every array is `(rows, m)`, one column per example, like the lecture's Z and A; the
//! views may be strided (they are usually one time step of a `(rows, time, m)` buffer).
//!
//! Gate order and equations are PyTorch's. With u units and g gates, the parameters are
//! Wx (g·u, n_x), Wh (g·u, u), bx (g·u, 1) and bh (g·u, 1), gate k in rows k·u..(k+1)·u.

use ndarray::{s, ArrayView2, ArrayViewMut2, Axis, Zip};

use crate::activation::{sigmoid, Activation};
use crate::error::{expect_shape, CoreError, Result};
use crate::matmul::gemm;
use crate::scalar::Float;

/// A recurrent cell: what one step computes from xw = Wx·x_t + bx and the previous state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cell {
    /// h_t = g(z_t), z_t = Wx·x_t + bx + Wh·h_{t-1} + bh: (9)–(10) with the state as a second
    /// input. One gate; `gates` caches z_t.
    SimpleRnn(Activation),
    /// Gates r, z, n; `gates` caches r, z and n (after their activations), `aux` caches
    /// Wh_n·h_{t-1} + bh_n, which r multiplies.
    Gru,
    /// Gates i, f, g, o; `gates` caches them after their activations; the state adds c_t.
    Lstm,
}

impl Cell {
    /// g, the number of gates: 1, 3 or 4.
    pub fn gates(self) -> usize {
        match self {
            Cell::SimpleRnn(_) => 1,
            Cell::Gru => 3,
            Cell::Lstm => 4,
        }
    }

    /// The layer type, as specs name it.
    pub fn kind(self) -> &'static str {
        match self {
            Cell::SimpleRnn(_) => "simple_rnn",
            Cell::Gru => "gru",
            Cell::Lstm => "lstm",
        }
    }

    /// Rows of a step's `aux` cache: `units` for a GRU, 0 for the other cells.
    pub fn aux_rows(self, units: usize) -> usize {
        if self == Cell::Gru {
            units
        } else {
            0
        }
    }

    /// Rows of the cell state c: `units` for an LSTM, 0 for the other cells.
    pub fn c_rows(self, units: usize) -> usize {
        if self == Cell::Lstm {
            units
        } else {
            0
        }
    }
}

/// The state one step hands the next: h, and c for an LSTM (an empty `(0, m)` view for the
/// other cells). Also used for its gradients (dh, dc).
#[derive(Clone, Copy, Debug)]
pub struct State<'a, F> {
    /// (units, m).
    pub h: ArrayView2<'a, F>,
    /// (units, m) for an LSTM, (0, m) otherwise.
    pub c: ArrayView2<'a, F>,
}

/// A writable [`State`].
#[derive(Debug)]
pub struct StateMut<'a, F> {
    pub h: ArrayViewMut2<'a, F>,
    pub c: ArrayViewMut2<'a, F>,
}

/// Everything one forward step wrote: its cache and its new state.
#[derive(Clone, Copy, Debug)]
pub struct Step<'a, F> {
    /// (g·units, m): z_t (simple), r, z, n (GRU) or i, f, g, o (LSTM).
    pub gates: ArrayView2<'a, F>,
    /// (units, m): Wh_n·h_{t-1} + bh_n for a GRU; (0, m) otherwise.
    pub aux: ArrayView2<'a, F>,
    /// h_t, (units, m).
    pub h: ArrayView2<'a, F>,
    /// c_t, (units, m) for an LSTM; (0, m) otherwise.
    pub c: ArrayView2<'a, F>,
}

/// A writable [`Step`]: what [`step_forward`] fills.
#[derive(Debug)]
pub struct StepMut<'a, F> {
    pub gates: ArrayViewMut2<'a, F>,
    pub aux: ArrayViewMut2<'a, F>,
    pub h: ArrayViewMut2<'a, F>,
    pub c: ArrayViewMut2<'a, F>,
}

/// What [`step_backward`] writes (`dxw`, `dhw`) and accumulates (`dwh`, `dbh`).
#[derive(Debug)]
pub struct StepGrads<'a, F> {
    /// dJ/d(Wx·x_t + bx), (g·units, m): the step's column block of the layer's dXW.
    pub dxw: ArrayViewMut2<'a, F>,
    /// dJ/d(Wh·h_{t-1} + bh), (g·units, m): equal to `dxw` except in a GRU's n block, where r
    /// multiplies the hidden term. Scratch that the kernel fills.
    pub dhw: ArrayViewMut2<'a, F>,
    /// dWh, (g·units, units): (1/m)·dhw·h_{t-1}ᵀ is added.
    pub dwh: ArrayViewMut2<'a, F>,
    /// dbh, (g·units, 1): (1/m)·Σ_i dhw^(i) is added.
    pub dbh: ArrayViewMut2<'a, F>,
}

/// Checks a state's (h, c) shapes; `names` names them in the message (no allocation unless
/// they are wrong: this runs every step).
fn state_shapes(
    names: [&str; 2],
    cell: Cell,
    units: usize,
    m: usize,
    h: &[usize],
    c: &[usize],
) -> Result<()> {
    expect_shape(names[0], &[units, m], h)?;
    expect_shape(names[1], &[cell.c_rows(units), m], c)
}

fn step_shapes(cell: Cell, units: usize, m: usize, gates: &[usize], aux: &[usize]) -> Result<()> {
    expect_shape("gates", &[cell.gates() * units, m], gates)?;
    expect_shape("aux", &[cell.aux_rows(units), m], aux)
}

/// Checks Wh against the cell and returns (g·units, units).
fn hidden_shape<F>(cell: Cell, wh: &ArrayView2<F>) -> Result<(usize, usize)> {
    let (rows, units) = wh.dim();
    if units == 0 || rows != cell.gates() * units {
        return Err(CoreError::Shape(format!(
            "Wh: a {} cell of u units expects shape [{}·u, u], got {:?}",
            cell.kind(),
            cell.gates(),
            wh.shape()
        )));
    }
    Ok((rows, units))
}

/// `v`, or a broadcast zero of `shape` for the zero initial state h_0 = 0 (c_0 = 0).
fn or_zeros<'a, F: Float>(
    v: Option<ArrayView2<'a, F>>,
    zero: &'a [F; 1],
    shape: (usize, usize),
) -> ArrayView2<'a, F> {
    use ndarray::ShapeBuilder;
    v.unwrap_or_else(|| {
        ArrayView2::from_shape(shape.strides((0, 0)), zero).expect("stride 0 reads one element")
    })
}

/// z ← g(z + xw + b) row by row, b (rows, 1) broadcast over the columns.
fn add_then<F: Float>(
    mut z: ArrayViewMut2<F>,
    xw: ArrayView2<F>,
    b: ArrayView2<F>,
    g: impl Fn(F) -> F,
) {
    Zip::from(z.rows_mut())
        .and(xw.rows())
        .and(b.column(0))
        .for_each(|mut z, xw, &b| {
            Zip::from(&mut z)
                .and(&xw)
                .for_each(|z, &x| *z = g(*z + x + b))
        });
}

/// One step forward, h_0 = 0 (and c_0 = 0) when `prev` is `None`.
///
/// Every cell first takes the product Wh·h_{t-1} into `gates` (the recurrent half of (9));
/// xw = Wx·x_t + bx, the input half, comes from the layer's one product over all steps. Then:
///
/// - SimpleRNN: (9) z_t = xw + Wh·h_{t-1} + bh, (10) h_t = g(z_t); `gates` keeps z_t.
/// - GRU (PyTorch): r = σ(xw_r + Wh_r·h + bh_r), z = σ(xw_z + Wh_z·h + bh_z),
///   n = tanh(xw_n + r ⊙ (Wh_n·h + bh_n)), h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}.
/// - LSTM (PyTorch): i, f, o = σ(xw + Wh·h + bh) and g = tanh(xw + Wh·h + bh) in their blocks,
///   c_t = f ⊙ c_{t-1} + i ⊙ g, h_t = o ⊙ tanh(c_t).
///
/// Shapes: `wh` (g·u, u), `bh` (g·u, 1), `xw` (g·u, m), `prev` and `out` as [`State`] and
/// [`StepMut`] describe.
pub fn step_forward<F: Float>(
    cell: Cell,
    wh: ArrayView2<F>,
    bh: ArrayView2<F>,
    xw: ArrayView2<F>,
    prev: Option<State<F>>,
    out: StepMut<F>,
) -> Result<()> {
    let (rows, u) = hidden_shape(cell, &wh)?;
    let m = xw.ncols();
    expect_shape("bh", &[rows, 1], bh.shape())?;
    expect_shape("xw", &[rows, m], xw.shape())?;
    if let Some(p) = &prev {
        state_shapes(["h_prev", "c_prev"], cell, u, m, p.h.shape(), p.c.shape())?;
    }
    let StepMut {
        mut gates,
        mut aux,
        mut h,
        mut c,
    } = out;
    step_shapes(cell, u, m, gates.shape(), aux.shape())?;
    state_shapes(["h", "c"], cell, u, m, h.shape(), c.shape())?;
    if cell == Cell::SimpleRnn(Activation::Softmax) {
        return Err(CoreError::Value(
            "activation: softmax is not allowed in a recurrent layer".into(),
        ));
    }
    // the recurrent half of (9): Wh·h_{t-1}, nothing for h_0 = 0
    match &prev {
        Some(p) => gemm(F::one(), wh, p.h, F::zero(), gates.view_mut()),
        None => gates.fill(F::zero()),
    }
    let zero = [F::zero()];
    let h_prev = or_zeros(prev.map(|p| p.h), &zero, (u, m));
    match cell {
        Cell::SimpleRnn(act) => {
            // (9) z = xw + Wh·h + bh, then (10) h = g(z)
            add_then(gates.view_mut(), xw, bh, |z| z);
            act.forward(gates.view(), h);
        }
        Cell::Gru => {
            let (mut rz, mut n) = gates.view_mut().split_at(Axis(0), 2 * u);
            // aux = Wh_n·h + bh_n, kept for the backward pass
            Zip::from(aux.rows_mut())
                .and(n.rows())
                .and(bh.slice(s![2 * u.., 0]))
                .for_each(|mut a, n, &b| Zip::from(&mut a).and(&n).for_each(|a, &n| *a = n + b));
            add_then(
                rz.view_mut(),
                xw.slice(s![..2 * u, ..]),
                bh.slice(s![..2 * u, ..]),
                sigmoid,
            );
            let (r, z) = rz.view().split_at(Axis(0), u);
            Zip::from(&mut n)
                .and(xw.slice(s![2 * u.., ..]))
                .and(r)
                .and(&aux)
                .for_each(|n, &x, &r, &a| *n = (x + r * a).tanh());
            Zip::from(&mut h)
                .and(&n)
                .and(z)
                .and(h_prev)
                .for_each(|h, &n, &z, &hp| *h = (F::one() - z) * n + z * hp);
        }
        Cell::Lstm => {
            let c_prev = or_zeros(prev.map(|p| p.c), &zero, (u, m));
            let (mut ifg, mut o) = gates.view_mut().split_at(Axis(0), 3 * u);
            let (mut i_f, mut g) = ifg.view_mut().split_at(Axis(0), 2 * u);
            let (xw_if, xw_rest) = xw.split_at(Axis(0), 2 * u);
            let (xw_g, xw_o) = xw_rest.split_at(Axis(0), u);
            let (bh_if, bh_rest) = bh.split_at(Axis(0), 2 * u);
            let (bh_g, bh_o) = bh_rest.split_at(Axis(0), u);
            add_then(i_f.view_mut(), xw_if, bh_if, sigmoid);
            add_then(g.view_mut(), xw_g, bh_g, |v: F| v.tanh());
            add_then(o.view_mut(), xw_o, bh_o, sigmoid);
            let (i, f) = i_f.view().split_at(Axis(0), u);
            // c_t = f ⊙ c_{t-1} + i ⊙ g
            Zip::from(&mut c)
                .and(f)
                .and(c_prev)
                .and(i)
                .and(&g)
                .for_each(|c, &f, &cp, &i, &g| *c = f * cp + i * g);
            // h_t = o ⊙ tanh(c_t)
            Zip::from(&mut h)
                .and(&o)
                .and(&c)
                .for_each(|h, &o, &c| *h = o * c.tanh());
        }
    }
    Ok(())
}

/// One step backward (BPTT): from dJ/dh_t (and dJ/dc_t), the gradients of the step's
/// pre-activations, its share of dWh and dbh, and the state gradients of the step before.
///
/// `d.h` is all of dJ/dh_t: the layer's dA at step t plus what step t+1 sent back through
/// h_t; `d.c` likewise for an LSTM (zero at the last step). Per cell, element by element:
///
/// - SimpleRNN: (11) dz = dh ⊙ g′(z_t).
/// - GRU: dn̂ = dh ⊙ (1 − z) ⊙ (1 − n²), dẑ = dh ⊙ (h_{t-1} − n) ⊙ z(1 − z),
///   dr̂ = dn̂ ⊙ (Wh_n·h + bh_n) ⊙ r(1 − r); dxw = [dr̂, dẑ, dn̂] and dhw = [dr̂, dẑ, r ⊙ dn̂];
///   dh_{t-1} also receives dh ⊙ z directly.
/// - LSTM: dc = d.c + dh ⊙ o ⊙ (1 − tanh² c_t); dô = dh ⊙ tanh c_t ⊙ o(1 − o),
///   dî = dc ⊙ g ⊙ i(1 − i), df̂ = dc ⊙ c_{t-1} ⊙ f(1 − f), dĝ = dc ⊙ i ⊙ (1 − g²);
///   dc_{t-1} = dc ⊙ f.
///
/// Then, as (12)–(14) with the state as the layer's second input: dWh += (1/m) dhw·h_{t-1}ᵀ,
/// dbh += (1/m) Σ_i dhw^(i), dh_{t-1} = Whᵀ·dhw (+ dh ⊙ z for a GRU). With `prev` `None`
/// (h_0 = 0) dWh gains nothing. `d_prev`, when given, receives (dh_{t-1}, dc_{t-1}).
pub fn step_backward<F: Float>(
    cell: Cell,
    wh: ArrayView2<F>,
    prev: Option<State<F>>,
    step: Step<F>,
    d: State<F>,
    grads: StepGrads<F>,
    d_prev: Option<StateMut<F>>,
) -> Result<()> {
    let (rows, u) = hidden_shape(cell, &wh)?;
    let m = d.h.ncols();
    if m == 0 {
        return Err(CoreError::Shape(
            "dh: expected at least one example (column), got 0".into(),
        ));
    }
    state_shapes(["dh", "dc"], cell, u, m, d.h.shape(), d.c.shape())?;
    if let Some(p) = &prev {
        state_shapes(["h_prev", "c_prev"], cell, u, m, p.h.shape(), p.c.shape())?;
    }
    step_shapes(cell, u, m, step.gates.shape(), step.aux.shape())?;
    state_shapes(["h", "c"], cell, u, m, step.h.shape(), step.c.shape())?;
    let StepGrads {
        mut dxw,
        mut dhw,
        mut dwh,
        mut dbh,
    } = grads;
    expect_shape("dxw", &[rows, m], dxw.shape())?;
    expect_shape("dhw", &[rows, m], dhw.shape())?;
    expect_shape("dWh", &[rows, u], dwh.shape())?;
    expect_shape("dbh", &[rows, 1], dbh.shape())?;
    let (dh_prev, dc_prev) = match d_prev {
        Some(StateMut { h, c }) => {
            state_shapes(["dh_prev", "dc_prev"], cell, u, m, h.shape(), c.shape())?;
            (Some(h), Some(c))
        }
        None => (None, None),
    };
    let zero = [F::zero()];
    let h_prev = or_zeros(prev.map(|p| p.h), &zero, (u, m));
    match cell {
        Cell::SimpleRnn(act) => {
            if act == Activation::Softmax {
                return Err(CoreError::Value(
                    "activation: softmax is not allowed in a recurrent layer".into(),
                ));
            }
            // (11) dz = dh ⊙ g′(z)
            act.backward(d.h, step.gates, step.h, dxw.view_mut());
            dhw.assign(&dxw);
        }
        Cell::Gru => {
            gru_backward(u, step, d.h, h_prev, dxw.view_mut(), dhw.view_mut());
        }
        Cell::Lstm => {
            let c_prev = or_zeros(prev.map(|p| p.c), &zero, (u, m));
            lstm_backward(u, step, d, c_prev, dxw.view_mut(), dc_prev);
            dhw.assign(&dxw);
        }
    }
    let inv_m = F::one() / F::c(m as f64);
    // (12) for the hidden weights: dWh += (1/m) dhw·h_{t-1}ᵀ (nothing for h_0 = 0)
    if let Some(p) = &prev {
        gemm(inv_m, dhw.view(), p.h.t(), F::one(), dwh.view_mut());
    }
    // (13) dbh += (1/m) Σ_i dhw^(i)
    Zip::from(dbh.column_mut(0))
        .and(dhw.rows())
        .for_each(|db, row| *db += row.sum() * inv_m);
    // (14) dh_{t-1} = Whᵀ·dhw, plus a GRU's direct path dh ⊙ z
    if let Some(mut dh_prev) = dh_prev {
        let beta = if cell == Cell::Gru {
            Zip::from(&mut dh_prev)
                .and(&d.h)
                .and(step.gates.slice(s![u..2 * u, ..]))
                .for_each(|dp, &dh, &z| *dp = dh * z);
            F::one()
        } else {
            F::zero()
        };
        gemm(F::one(), wh.t(), dhw.view(), beta, dh_prev);
    }
    Ok(())
}

/// The GRU's pre-activation gradients; see [`step_backward`].
fn gru_backward<F: Float>(
    u: usize,
    step: Step<F>,
    dh: ArrayView2<F>,
    h_prev: ArrayView2<F>,
    mut dxw: ArrayViewMut2<F>,
    mut dhw: ArrayViewMut2<F>,
) {
    let (r, zn) = step.gates.split_at(Axis(0), u);
    let (z, n) = zn.split_at(Axis(0), u);
    let (mut dr, mut dzn) = dxw.view_mut().split_at(Axis(0), u);
    let (mut dz, mut dn) = dzn.view_mut().split_at(Axis(0), u);
    // h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}
    Zip::from(&mut dn)
        .and(&mut dz)
        .and(&dh)
        .and(z)
        .and(n)
        .and(h_prev)
        .for_each(|dn, dz, &dh, &z, &n, &hp| {
            *dn = dh * (F::one() - z) * (F::one() - n * n);
            *dz = dh * (hp - n) * z * (F::one() - z);
        });
    // n = tanh(xw_n + r ⊙ aux): the hidden term gets r ⊙ dn̂, r gets dn̂ ⊙ aux
    Zip::from(&mut dr)
        .and(dhw.slice_mut(s![2 * u.., ..]))
        .and(&dn)
        .and(r)
        .and(step.aux)
        .for_each(|dr, dhn, &dn, &r, &a| {
            *dhn = dn * r;
            *dr = dn * a * r * (F::one() - r);
        });
    dhw.slice_mut(s![..2 * u, ..])
        .assign(&dxw.slice(s![..2 * u, ..]));
}

/// The LSTM's pre-activation gradients and dc_{t-1}; see [`step_backward`].
fn lstm_backward<F: Float>(
    u: usize,
    step: Step<F>,
    d: State<F>,
    c_prev: ArrayView2<F>,
    mut dxw: ArrayViewMut2<F>,
    dc_prev: Option<ArrayViewMut2<F>>,
) {
    let (i, rest) = step.gates.split_at(Axis(0), u);
    let (f, rest) = rest.split_at(Axis(0), u);
    let (g, o) = rest.split_at(Axis(0), u);
    let (mut di, mut rest) = dxw.view_mut().split_at(Axis(0), u);
    let (mut df, mut rest) = rest.view_mut().split_at(Axis(0), u);
    let (mut dg, mut d_o) = rest.view_mut().split_at(Axis(0), u);
    // h = o ⊙ tanh(c): dô, and the whole dc (kept in dg until pass 3)
    Zip::from(&mut d_o)
        .and(&mut dg)
        .and(&d.h)
        .and(&d.c)
        .and(&step.c)
        .and(o)
        .for_each(|d_o, dc, &dh, &dc_next, &c, &o| {
            let tc = c.tanh();
            *d_o = dh * tc * o * (F::one() - o);
            *dc = dc_next + dh * o * (F::one() - tc * tc);
        });
    // c_t = f ⊙ c_{t-1} + i ⊙ g
    match dc_prev {
        Some(mut dc_prev) => Zip::from(&mut df)
            .and(&mut dc_prev)
            .and(&dg)
            .and(c_prev)
            .and(f)
            .for_each(|df, dcp, &dc, &cp, &f| {
                *df = dc * cp * f * (F::one() - f);
                *dcp = dc * f;
            }),
        None => Zip::from(&mut df)
            .and(&dg)
            .and(c_prev)
            .and(f)
            .for_each(|df, &dc, &cp, &f| *df = dc * cp * f * (F::one() - f)),
    }
    Zip::from(&mut di)
        .and(&mut dg)
        .and(i)
        .and(g)
        .for_each(|di, dg, &i, &g| {
            let dc = *dg;
            *di = dc * g * i * (F::one() - i);
            *dg = dc * i * (F::one() - g * g);
        });
}
