//! The pooling kernels: one window geometry and four functions (max and average, forward and
//! backward) over `(channels, height, width, m)` arrays. A 1-D pooling runs them with height 1
//! and a global one with a single window as large as the input, so every pooling layer is this
//! code. `deepnet.ops` calls the same functions.

use std::ops::Range;
use std::sync::atomic::{AtomicBool, Ordering};

use ndarray::{s, ArrayView3, ArrayView4, ArrayViewMut3, ArrayViewMut4, Axis, Zip};
use serde::{Deserialize, Serialize};

use crate::error::{expect_shape, CoreError, Result};
use crate::limits::{check_extent, elements, MAX_TENSOR_ELEMENTS};
use crate::scalar::Float;

/// How windows meet the edges of the input, as in Keras.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Padding {
    /// No padding: every window lies inside the input; out = ⌊(n − k)/s⌋ + 1.
    #[default]
    Valid,
    /// out = ⌈n/s⌉, padded by max((out − 1)·s + k − n, 0) positions in all, half of them
    /// (rounded down) before the input and the rest after it. Padded positions never count:
    /// max pooling skips them (as if −∞), average pooling divides by the real positions only.
    Same,
}

impl Padding {
    /// The name specs use ("valid", "same").
    pub fn name(self) -> &'static str {
        match self {
            Padding::Valid => "valid",
            Padding::Same => "same",
        }
    }
}

/// Where the windows of a pooling lie, over inputs of `channels` planes of height × width.
/// Built only through [`PoolGeometry::new`], which checks every size, so the kernels index
/// inside their arrays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolGeometry {
    channels: usize,
    /// (height, width) of the input.
    input: [usize; 2],
    /// The window, (height, width).
    pool: [usize; 2],
    strides: [usize; 2],
    /// Padding before the input (top, left); the rest of "same"'s padding is after it.
    pad: [usize; 2],
    /// (height, width) of the output.
    output: [usize; 2],
}

/// More examples times input elements than this run the channels in parallel.
const PARALLEL_MIN_ELEMENTS: usize = 1 << 15;

impl PoolGeometry {
    /// The pooling of `pool` = (height, width) windows every `strides` over inputs of
    /// `channels` × `input` = (height, width). Errors name the field: a size outside
    /// `1..=MAX_EXTENT`, or (padding "valid") a window larger than the input.
    pub fn new(
        channels: usize,
        input: [usize; 2],
        pool: [usize; 2],
        strides: [usize; 2],
        padding: Padding,
    ) -> Result<Self> {
        Self::with_names(channels, input, pool, strides, padding, ["height", "width"])
    }

    /// [`PoolGeometry::new`], with the axes named in errors as the layer calls them (a 1-D
    /// pooling's second axis is its "length").
    pub(crate) fn with_names(
        channels: usize,
        input: [usize; 2],
        pool: [usize; 2],
        strides: [usize; 2],
        padding: Padding,
        names: [&str; 2],
    ) -> Result<Self> {
        check_extent("channels", channels)?;
        let mut output = [0; 2];
        let mut pad = [0; 2];
        for axis in 0..2 {
            let (n, k, s) = (input[axis], pool[axis], strides[axis]);
            check_extent(&format!("the input {}", names[axis]), n)?;
            check_extent("pool_size", k)?;
            check_extent("strides", s)?;
            (output[axis], pad[axis]) = match padding {
                Padding::Valid if k > n => {
                    return Err(CoreError::Value(format!(
                        "pool_size: a window of {} {k} does not fit in the input {} {n} with \
                         padding \"valid\": use a smaller pool_size or padding \"same\"",
                        names[axis], names[axis]
                    )))
                }
                Padding::Valid => ((n - k) / s + 1, 0),
                Padding::Same => {
                    let out = n.div_ceil(s);
                    // (out − 1)·s < n ≤ MAX_EXTENT and k ≤ MAX_EXTENT: no overflow
                    let total = ((out - 1) * s + k).saturating_sub(n);
                    (out, total / 2)
                }
            };
        }
        elements(
            "the pooling output",
            &[channels, output[0], output[1]],
            MAX_TENSOR_ELEMENTS,
        )?;
        Ok(PoolGeometry {
            channels,
            input,
            pool,
            strides,
            pad,
            output,
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// (height, width) of the input.
    pub fn input(&self) -> [usize; 2] {
        self.input
    }

    /// (height, width) of the output.
    pub fn output(&self) -> [usize; 2] {
        self.output
    }

    /// The input shape `(channels, height, width, m)` of a batch of `m`.
    pub fn input_shape(&self, m: usize) -> [usize; 4] {
        [self.channels, self.input[0], self.input[1], m]
    }

    /// The output shape `(channels, height, width, m)` of a batch of `m`.
    pub fn output_shape(&self, m: usize) -> [usize; 4] {
        [self.channels, self.output[0], self.output[1], m]
    }

    /// The real (non-padded) input positions along `axis` (0: height, 1: width) of the window
    /// of output position `o`. Never empty for `o` inside the output: the padding before is
    /// less than a window (and empty past the output).
    pub fn window(&self, axis: usize, o: usize) -> Range<usize> {
        let start = o.saturating_mul(self.strides[axis]);
        let lo = start.saturating_sub(self.pad[axis]);
        let hi = start
            .saturating_add(self.pool[axis])
            .saturating_sub(self.pad[axis])
            .min(self.input[axis]);
        lo..hi
    }

    /// Whether a batch of `m` is large enough to pool the channels in parallel.
    fn parallel(&self, m: usize) -> bool {
        let elements = [self.input[0], self.input[1], m]
            .iter()
            .fold(self.channels, |n, &d| n.saturating_mul(d));
        self.channels > 1 && elements >= PARALLEL_MIN_ELEMENTS
    }

    /// The number of real positions in the window of output (oh, ow).
    fn count(&self, oh: usize, ow: usize) -> usize {
        self.window(0, oh).len() * self.window(1, ow).len()
    }
}

/// Max pooling, forward: A^[l][c, p, i] = max over q in window(p) of A^[l-1][c, q, i].
/// `argmax[c, p, i]` receives the flat C-order index into A^[l-1] of that maximum (the first in
/// the window's row-major order on ties), which is what backward routes dA^[l] to.
///
/// Shapes: `a_prev` (C, H, W, m); `a` and `argmax` (C, H_out, W_out, m).
pub fn max_pool_forward<F: Float>(
    g: &PoolGeometry,
    a_prev: ArrayView4<F>,
    mut a: ArrayViewMut4<F>,
    mut argmax: ArrayViewMut4<usize>,
) -> Result<()> {
    let m = a_prev.len_of(Axis(3));
    expect_shape("A_prev", &g.input_shape(m), a_prev.shape())?;
    expect_shape("A", &g.output_shape(m), a.shape())?;
    expect_shape("argmax", &g.output_shape(m), argmax.shape())?;
    let channel = |c, x, a, argmax| max_channel(g, c, m, x, a, argmax);
    let zip = Zip::indexed(a_prev.axis_iter(Axis(0)))
        .and(a.axis_iter_mut(Axis(0)))
        .and(argmax.axis_iter_mut(Axis(0)));
    if g.parallel(m) {
        zip.par_for_each(channel);
    } else {
        zip.for_each(channel);
    }
    Ok(())
}

fn max_channel<F: Float>(
    g: &PoolGeometry,
    c: usize,
    m: usize,
    x: ArrayView3<F>,
    mut a: ArrayViewMut3<F>,
    mut argmax: ArrayViewMut3<usize>,
) {
    let [height, width] = g.input;
    for oh in 0..g.output[0] {
        for ow in 0..g.output[1] {
            let mut best = a.slice_mut(s![oh, ow, ..]);
            let mut at = argmax.slice_mut(s![oh, ow, ..]);
            let mut window = g
                .window(0, oh)
                .flat_map(|h| g.window(1, ow).map(move |w| (h, w)));
            // at holds the input position (c·H + h)·W + w until the flat index is made below
            if let Some((h, w)) = window.next() {
                best.assign(&x.slice(s![h, w, ..]));
                at.fill((c * height + h) * width + w);
            }
            for (h, w) in window {
                let q = (c * height + h) * width + w;
                Zip::from(&mut best)
                    .and(&mut at)
                    .and(x.slice(s![h, w, ..]))
                    .for_each(|b, j, &v| {
                        // strictly greater: the first maximum wins ties
                        if v > *b {
                            *b = v;
                            *j = q;
                        }
                    });
            }
            // ((c·H + h)·W + w)·m + i, the flat index into A_prev: less than its length
            Zip::indexed(&mut at).for_each(|i, j| *j = *j * m + i);
        }
    }
}

/// Max pooling, backward: dA^[l-1][q] = Σ of dA^[l][c, p, i] over the outputs whose
/// `argmax[c, p, i]` is q. Each gradient goes back to the input its output was taken from;
/// where windows overlap (strides < pool_size) the contributions add up.
///
/// Shapes: `da` and `argmax` (C, H_out, W_out, m); `da_prev` (C, H, W, m), C-ordered since
/// `argmax` indexes it flat. An index outside its own channel of `da_prev` is an error.
pub fn max_pool_backward<F: Float>(
    g: &PoolGeometry,
    da: ArrayView4<F>,
    argmax: ArrayView4<usize>,
    mut da_prev: ArrayViewMut4<F>,
) -> Result<()> {
    let m = da.len_of(Axis(3));
    expect_shape("dA", &g.output_shape(m), da.shape())?;
    expect_shape("argmax", &g.output_shape(m), argmax.shape())?;
    expect_shape("dA_prev", &g.input_shape(m), da_prev.shape())?;
    if !da_prev.is_standard_layout() {
        return Err(CoreError::Value(
            "dA_prev: expected a C-ordered array (argmax indexes it flat)".into(),
        ));
    }
    let plane = g.input[0] * g.input[1] * m;
    let stray = AtomicBool::new(false);
    let channel = |c: usize, da: ArrayView3<F>, argmax: ArrayView3<usize>, da_prev| {
        let mut da_prev: ArrayViewMut3<F> = da_prev;
        da_prev.fill(F::zero());
        let Some(da_prev) = da_prev.as_slice_mut() else {
            stray.store(true, Ordering::Relaxed);
            return;
        };
        let base = c * plane;
        Zip::from(&da).and(&argmax).for_each(|&d, &q| {
            match da_prev.get_mut(q.wrapping_sub(base)) {
                Some(target) => *target += d,
                None => stray.store(true, Ordering::Relaxed),
            }
        });
    };
    let zip = Zip::indexed(da.axis_iter(Axis(0)))
        .and(argmax.axis_iter(Axis(0)))
        .and(da_prev.axis_iter_mut(Axis(0)));
    if g.parallel(m) {
        zip.par_for_each(channel);
    } else {
        zip.for_each(channel);
    }
    if stray.load(Ordering::Relaxed) {
        return Err(CoreError::Value(format!(
            "argmax: an index does not point into its own channel of A_prev of shape {:?}",
            g.input_shape(m)
        )));
    }
    Ok(())
}

/// Average pooling, forward: A^[l][c, p, i] = (1/n_p) Σ over q in window(p) of
/// A^[l-1][c, q, i], where n_p counts the window's real (non-padded) positions.
///
/// Shapes: `a_prev` (C, H, W, m); `a` (C, H_out, W_out, m).
pub fn average_pool_forward<F: Float>(
    g: &PoolGeometry,
    a_prev: ArrayView4<F>,
    mut a: ArrayViewMut4<F>,
) -> Result<()> {
    let m = a_prev.len_of(Axis(3));
    expect_shape("A_prev", &g.input_shape(m), a_prev.shape())?;
    expect_shape("A", &g.output_shape(m), a.shape())?;
    let channel = |x, a| average_channel(g, x, a);
    let zip = Zip::from(a_prev.axis_iter(Axis(0))).and(a.axis_iter_mut(Axis(0)));
    if g.parallel(m) {
        zip.par_for_each(channel);
    } else {
        zip.for_each(channel);
    }
    Ok(())
}

fn average_channel<F: Float>(g: &PoolGeometry, x: ArrayView3<F>, mut a: ArrayViewMut3<F>) {
    for oh in 0..g.output[0] {
        for ow in 0..g.output[1] {
            let mut sum = a.slice_mut(s![oh, ow, ..]);
            sum.fill(F::zero());
            for h in g.window(0, oh) {
                for w in g.window(1, ow) {
                    Zip::from(&mut sum)
                        .and(x.slice(s![h, w, ..]))
                        .for_each(|s, &v| *s += v);
                }
            }
            let count = F::c(g.count(oh, ow) as f64);
            sum.mapv_inplace(|s| s / count);
        }
    }
}

/// Average pooling, backward: dA^[l-1][c, q, i] = Σ over the windows p that hold q of
/// dA^[l][c, p, i] / n_p: each output's gradient is shared equally by its real inputs.
///
/// Shapes: `da` (C, H_out, W_out, m); `da_prev` (C, H, W, m).
pub fn average_pool_backward<F: Float>(
    g: &PoolGeometry,
    da: ArrayView4<F>,
    mut da_prev: ArrayViewMut4<F>,
) -> Result<()> {
    let m = da.len_of(Axis(3));
    expect_shape("dA", &g.output_shape(m), da.shape())?;
    expect_shape("dA_prev", &g.input_shape(m), da_prev.shape())?;
    let channel = |da, da_prev| average_backward_channel(g, da, da_prev);
    let zip = Zip::from(da.axis_iter(Axis(0))).and(da_prev.axis_iter_mut(Axis(0)));
    if g.parallel(m) {
        zip.par_for_each(channel);
    } else {
        zip.for_each(channel);
    }
    Ok(())
}

fn average_backward_channel<F: Float>(
    g: &PoolGeometry,
    da: ArrayView3<F>,
    mut da_prev: ArrayViewMut3<F>,
) {
    da_prev.fill(F::zero());
    for oh in 0..g.output[0] {
        for ow in 0..g.output[1] {
            let share = F::one() / F::c(g.count(oh, ow) as f64);
            let d = da.slice(s![oh, ow, ..]);
            for h in g.window(0, oh) {
                for w in g.window(1, ow) {
                    Zip::from(da_prev.slice_mut(s![h, w, ..]))
                        .and(&d)
                        .for_each(|p, &d| *p += d * share);
                }
            }
        }
    }
}
