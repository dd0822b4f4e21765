//! The kernels: (9)–(10) forward and (12)–(14) backward as im2col matrix products (see the
//! module docs of [`crate::layers::conv`]).

use std::ops::Range;

use ndarray::{
    s, ArrayView1, ArrayView2, ArrayView4, ArrayViewMut1, ArrayViewMut2, ArrayViewMut3,
    ArrayViewMut4, Axis, Zip,
};

use super::ConvGeometry;
use crate::activation::Activation;
use crate::error::{expect_shape, CoreError, Result};
use crate::layer::Workspace;
use crate::matmul::{gemm, in_pool, parallel_elementwise};
use crate::scalar::Float;

/// The most elements of one block of the im2col matrix (16 MiB of float32): large enough for
/// the products to run at full speed, small enough that a large batch of large images does
/// not need C·kh·kw times its memory.
pub const COLS_BLOCK_ELEMENTS: usize = 1 << 22;

/// The im2col matrix of one block of output positions: the scratch space of [`conv_forward`]
/// and [`conv_backward`], grown on first use and reused for every later call.
#[derive(Clone, Debug)]
pub struct Im2Col<F> {
    cols: Workspace<F>,
    block_elements: usize,
}

impl<F: Float> Default for Im2Col<F> {
    fn default() -> Self {
        Self::with_block_elements(COLS_BLOCK_ELEMENTS)
    }
}

impl<F: Float> Im2Col<F> {
    /// Scratch space for blocks of at most [`COLS_BLOCK_ELEMENTS`] elements.
    pub fn new() -> Self {
        Self::default()
    }

    /// Scratch space for blocks of at most `block_elements` elements (one output position at
    /// least, whatever its size).
    pub fn with_block_elements(block_elements: usize) -> Self {
        Im2Col {
            cols: Workspace::default(),
            block_elements,
        }
    }

    /// The output positions in blocks whose (rows, positions·m) matrix fits `block_elements`.
    fn blocks(
        &self,
        positions: usize,
        rows: usize,
        m: usize,
    ) -> impl Iterator<Item = Range<usize>> {
        let per_block =
            (self.block_elements / rows.saturating_mul(m).max(1)).clamp(1, positions.max(1));
        (0..positions)
            .step_by(per_block)
            .map(move |p0| p0..(p0 + per_block).min(positions))
    }

    /// Fills the matrix for output positions `block` of `a_prev` (C, H, W, m) with m > 0:
    /// row (c, ki, kj), columns (p, i), holding A_prev[c, h, w, i] at the input position
    /// (h, w) that weight (ki, kj) reads for output position p, or 0 in the padding.
    fn fill(&mut self, a_prev: ArrayView4<F>, g: &ConvGeometry, block: Range<usize>) -> Result<()> {
        let (channels, m) = (a_prev.shape()[0], a_prev.shape()[3]);
        let [kh, kw] = g.kernel();
        self.cols.resize(&[channels * kh * kw, block.len() * m])?;
        let mut cols = self.view_mut();
        let parallel = parallel_elementwise(cols.len());
        let fill_row = |r: usize, mut row: ArrayViewMut1<F>| {
            let (c, ki, kj) = (r / (kh * kw), r / kw % kh, r % kw);
            let a_c = a_prev.index_axis(Axis(0), c);
            let row = row.as_slice_mut().expect("workspace rows are contiguous");
            for (p, segment) in block.clone().zip(row.chunks_exact_mut(m)) {
                match g.source(p, ki, kj) {
                    Some((h, w)) => copy(a_c.slice(s![h, w, ..]), segment),
                    None => segment.fill(F::zero()),
                }
            }
        };
        let rows = Zip::indexed(cols.rows_mut());
        if parallel {
            in_pool(|| rows.par_for_each(fill_row));
        } else {
            rows.for_each(fill_row);
        }
        Ok(())
    }

    fn view(&self) -> ArrayView2<'_, F> {
        let v = self.cols.view();
        let shape = (v.shape()[0], v.shape()[1]);
        v.into_shape_with_order(shape).expect("2-D by construction")
    }

    fn view_mut(&mut self) -> ArrayViewMut2<'_, F> {
        let v = self.cols.view_mut();
        let shape = (v.shape()[0], v.shape()[1]);
        v.into_shape_with_order(shape).expect("2-D by construction")
    }
}

fn copy<F: Float>(src: ArrayView1<F>, dst: &mut [F]) {
    match src.as_slice() {
        Some(src) => dst.copy_from_slice(src),
        None => dst.iter_mut().zip(&src).for_each(|(d, &s)| *d = s),
    }
}

/// The adjoint of [`Im2Col::fill`], the scatter-add of (14): adds each column (p, i) of
/// `dcols` (rows (c, ki, kj)) onto dA_prev[c, h, w, i] at the input position it was copied
/// from. Channels are split across threads; within one the order of the sums is fixed.
fn col2im<F: Float>(
    dcols: ArrayView2<F>,
    g: &ConvGeometry,
    block: Range<usize>,
    mut da_prev: ArrayViewMut4<F>,
) {
    let (channels, m) = (da_prev.shape()[0], da_prev.shape()[3]);
    let [kh, kw] = g.kernel();
    let len = dcols.len();
    let dcols = dcols
        .into_shape_with_order((channels, kh * kw, block.len() * m))
        .expect("the matrix is C-ordered (c, kh·kw, positions·m)");
    let add_channel = |mut da_c: ArrayViewMut3<F>, dc: ArrayView2<F>| {
        for (kk, row) in dc.outer_iter().enumerate() {
            let row = row.to_slice().expect("workspace rows are contiguous");
            for (p, segment) in block.clone().zip(row.chunks_exact(m)) {
                if let Some((h, w)) = g.source(p, kk / kw, kk % kw) {
                    da_c.slice_mut(s![h, w, ..])
                        .iter_mut()
                        .zip(segment)
                        .for_each(|(d, &v)| *d += v);
                }
            }
        }
    };
    let channels = Zip::from(da_prev.outer_iter_mut()).and(dcols.outer_iter());
    if parallel_elementwise(len) {
        in_pool(|| channels.par_for_each(add_channel));
    } else {
        channels.for_each(add_channel);
    }
}

/// `x` (n, …) as the (n, rest) matrix it is in C order, or an error if its memory does not
/// allow that without a copy.
fn flat<'a, F: Float>(what: &str, x: ArrayView4<'a, F>) -> Result<ArrayView2<'a, F>> {
    let (shape, strides) = (x.shape().to_vec(), x.strides().to_vec());
    x.into_shape_with_order((shape[0], shape[1..].iter().product::<usize>()))
        .map_err(|_| not_flat(what, &shape, &strides))
}

fn flat_mut<'a, F: Float>(what: &str, x: ArrayViewMut4<'a, F>) -> Result<ArrayViewMut2<'a, F>> {
    let (shape, strides) = (x.shape().to_vec(), x.strides().to_vec());
    x.into_shape_with_order((shape[0], shape[1..].iter().product::<usize>()))
        .map_err(|_| not_flat(what, &shape, &strides))
}

fn not_flat(what: &str, shape: &[usize], strides: &[isize]) -> CoreError {
    CoreError::Shape(format!(
        "{what}: expected an array C-ordered along all but its first axis, got shape {shape:?} \
         with strides {strides:?}"
    ))
}

/// (9) Z = W*A_prev + b and (10) A = g(Z), written into `z` and `a`: the convolution (a
/// cross-correlation) of every filter with the input.
///
/// Per example i, filter f and output position (h, w), with strides s, dilation d and p zeros
/// before each axis (reading 0 outside the input):
///
/// ```text
/// Z[f, h, w, i] = b[f] + Σ_{c, ki, kj} W[f, c, ki, kj] · A_prev[c, h·s_h + ki·d_h − p_h,
///                                                              w·s_w + kj·d_w − p_w, i]
/// ```
///
/// computed as the product of W with the im2col matrix (module docs). Shapes: `w` (filters,
/// channels, kh, kw), `b` (filters, 1), `a_prev` (channels, H, W, m) with any strides, `z` and
/// `a` (filters, H_out, W_out, m) C-ordered; (H, W), (kh, kw) and (H_out, W_out) are the
/// geometry's. A 1-D layer's arrays are these with a height-1 axis (`insert_axis(Axis(1))` for
/// the activations, `insert_axis(Axis(2))` for W).
#[allow(clippy::too_many_arguments)] // the operands of (9)-(10), the geometry and the scratch
pub fn conv_forward<F: Float>(
    w: ArrayView4<F>,
    b: ArrayView2<F>,
    a_prev: ArrayView4<F>,
    geometry: &ConvGeometry,
    activation: Activation,
    z: ArrayViewMut4<F>,
    a: ArrayViewMut4<F>,
    scratch: &mut Im2Col<F>,
) -> Result<()> {
    let g = geometry;
    let ([kh, kw], [height, width], [h_out, w_out]) = (g.kernel(), g.input(), g.output());
    let (filters, channels, m) = (w.shape()[0], w.shape()[1], a_prev.shape()[3]);
    expect_shape("W", &[filters, channels, kh, kw], w.shape())?;
    expect_shape("b", &[filters, 1], b.shape())?;
    expect_shape("A_prev", &[channels, height, width, m], a_prev.shape())?;
    let out = [filters, h_out, w_out, m];
    expect_shape("Z", &out, z.shape())?;
    expect_shape("A", &out, a.shape())?;
    let w = flat("W", w)?;
    let mut z = flat_mut("Z", z)?;
    let a = flat_mut("A", a)?;
    if m == 0 {
        return Ok(());
    }
    for block in scratch.blocks(g.positions(), w.ncols(), m) {
        let z_block = z.slice_mut(s![.., block.start * m..block.end * m]);
        scratch.fill(a_prev, g, block)?;
        // (9) Z = W*A_prev, as the product of W (filters, C·kh·kw) with the im2col matrix
        gemm(F::one(), w, scratch.view(), F::zero(), z_block);
    }
    // + b, fused with (10) A = g(Z) in one pass over Z
    activation.add_bias_forward(z, b, a);
    Ok(())
}

/// The gradients (12)–(14) of a convolution from dZ (apply (11) dZ = dA ⊙ g′(Z) first, e.g.
/// with [`Activation::backward`] on the (filters, H_out·W_out·m) matrices).
///
/// ```text
/// (12) dW[f, c, ki, kj] = (1/m) Σ_{h, w, i} dZ[f, h, w, i] · A_prev[c, h·s_h + ki·d_h − p_h,
///                                                                   w·s_w + kj·d_w − p_w, i]
/// (13) db[f]            = (1/m) Σ_{h, w, i} dZ[f, h, w, i]
/// (14) dA_prev[c, y, x, i] = Σ W[f, c, ki, kj] · dZ[f, h, w, i] over the (f, ki, kj, h, w)
///                            whose weight (ki, kj) reads input position (y, x) from (h, w)
/// ```
///
/// that is (12) dW = (1/m) dZ·colsᵀ and (14) dA_prev = col2im(Wᵀ·dZ), the latter skipped when
/// `da_prev` is `None` (the first layer). The 1/m is the batch's: m is dZ's last axis.
/// Shapes: `w` (filters, channels, kh, kw), `a_prev` (channels, H, W, m) with any strides, `dz`
/// (filters, H_out, W_out, m) C-ordered, `dw` as `w`, `db` (filters, 1), `da_prev` as
/// `a_prev`.
#[allow(clippy::too_many_arguments)] // the operands of (12)-(14), the geometry and the scratch
pub fn conv_backward<F: Float>(
    w: ArrayView4<F>,
    a_prev: ArrayView4<F>,
    dz: ArrayView4<F>,
    geometry: &ConvGeometry,
    dw: ArrayViewMut4<F>,
    mut db: ArrayViewMut2<F>,
    mut da_prev: Option<ArrayViewMut4<F>>,
    scratch: &mut Im2Col<F>,
) -> Result<()> {
    let g = geometry;
    let (filters, channels, m) = (w.shape()[0], w.shape()[1], dz.shape()[3]);
    if m == 0 {
        return Err(CoreError::Shape(
            "dZ: expected at least one example (last axis), got 0".into(),
        ));
    }
    let ([kh, kw], [height, width], [h_out, w_out]) = (g.kernel(), g.input(), g.output());
    let w_shape = [filters, channels, kh, kw];
    let in_shape = [channels, height, width, m];
    expect_shape("W", &w_shape, w.shape())?;
    expect_shape("A_prev", &in_shape, a_prev.shape())?;
    expect_shape("dZ", &[filters, h_out, w_out, m], dz.shape())?;
    expect_shape("dW", &w_shape, dw.shape())?;
    expect_shape("db", &[filters, 1], db.shape())?;
    if let Some(da_prev) = da_prev.as_mut() {
        expect_shape("dA_prev", &in_shape, da_prev.shape())?;
        da_prev.fill(F::zero());
    }
    let w = flat("W", w)?;
    let dz = flat("dZ", dz)?;
    let mut dw = flat_mut("dW", dw)?;
    let inv_m = F::one() / F::c(m as f64);
    for (i, block) in scratch.blocks(g.positions(), w.ncols(), m).enumerate() {
        let dz_block = dz.slice(s![.., block.start * m..block.end * m]);
        scratch.fill(a_prev, g, block.clone())?;
        // (12) dW = (1/m) dZ·A_prevᵀ, as (1/m) dZ·colsᵀ summed block by block
        let beta = if i == 0 { F::zero() } else { F::one() };
        gemm(inv_m, dz_block, scratch.view().t(), beta, dw.view_mut());
        if let Some(da_prev) = da_prev.as_mut() {
            // (14) dA_prev = Wᵀ·dZ: the product gives the im2col matrix's columns, col2im
            // adds them back where they were read
            gemm(F::one(), w.t(), dz_block, F::zero(), scratch.view_mut());
            col2im(scratch.view(), g, block, da_prev.view_mut());
        }
    }
    // (13) db = (1/m) Σ over the positions and examples: one contiguous row of dZ per filter
    Zip::from(db.column_mut(0))
        .and(dz.rows())
        .for_each(|db, row| *db = row.sum() * inv_m);
    Ok(())
}
