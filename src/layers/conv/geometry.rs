//! Where each weight of a filter meets the input: zero padding, strides, dilation and the
//! output size along each axis, validated before anything is allocated.

use crate::error::{CoreError, Result};
use crate::limits::{check_extent, MAX_EXTENT};

/// Zero padding of a convolution's input, as a spec writes it: `"valid"` (none), `"same"`
/// (Keras' rule: ⌈L/s⌉ outputs; the total padding max((out − 1)·s + (k − 1)·d + 1 − L, 0)
/// split with the odd extra zero at the end) or a number of zeros on both sides of each axis
/// (PyTorch's `padding=p`): an integer, or for conv2d a pair `[h, w]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding<S> {
    /// No padding: only positions where the whole kernel fits.
    Valid,
    /// Keras' `"same"`: ⌈L/s⌉ outputs along each axis.
    Same,
    /// This many zeros before and after each axis.
    Zeros(S),
}

impl<S> Padding<S> {
    /// The same padding with its zeros converted by `f`.
    pub fn map<T>(self, f: impl FnOnce(S) -> T) -> Padding<T> {
        match self {
            Padding::Valid => Padding::Valid,
            Padding::Same => Padding::Same,
            Padding::Zeros(p) => Padding::Zeros(f(p)),
        }
    }
}

/// Where each weight of a filter meets the input: the spatial side of a convolution over
/// inputs of (height, width), height 1 for 1-D. Made only by [`ConvGeometry::new`] or
/// [`ConvGeometry::new_1d`], which validate it.
///
/// Along each axis, with input size L, kernel k, stride s, dilation d and p_b, p_a zeros before
/// and after, the kernel spans (k − 1)·d + 1 input positions, output position o reads the input
/// positions o·s + j·d − p_b for j = 0..k (zeros outside the input), and there are
/// ⌊(L + p_b + p_a − (k − 1)·d − 1) / s⌋ + 1 output positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    input: [usize; 2],
    kernel: [usize; 2],
    strides: [usize; 2],
    dilation: [usize; 2],
    pad_before: [usize; 2],
    pad_after: [usize; 2],
    output: [usize; 2],
}

impl ConvGeometry {
    /// A 2-D geometry: input (height, width), kernel (kh, kw), strides, dilation and padding
    /// per axis. Errors name the field: a size, stride or dilation outside
    /// 1..=[`MAX_EXTENT`], or a kernel larger than its padded input.
    pub fn new(
        input: [usize; 2],
        kernel: [usize; 2],
        strides: [usize; 2],
        dilation: [usize; 2],
        padding: Padding<[usize; 2]>,
    ) -> Result<Self> {
        Self::with_axes(
            ["height", "width"],
            input,
            kernel,
            strides,
            dilation,
            padding,
        )
    }

    /// A 1-D geometry: a 2-D one of height 1 (kernel 1, stride 1, no padding along the height).
    pub fn new_1d(
        length: usize,
        kernel: usize,
        stride: usize,
        dilation: usize,
        padding: Padding<usize>,
    ) -> Result<Self> {
        Self::with_axes(
            ["height", "length"],
            [1, length],
            [1, kernel],
            [1, stride],
            [1, dilation],
            padding.map(|p| [0, p]),
        )
    }

    fn with_axes(
        names: [&str; 2],
        input: [usize; 2],
        kernel: [usize; 2],
        strides: [usize; 2],
        dilation: [usize; 2],
        padding: Padding<[usize; 2]>,
    ) -> Result<Self> {
        let mut g = ConvGeometry {
            input,
            kernel,
            strides,
            dilation,
            pad_before: [0; 2],
            pad_after: [0; 2],
            output: [0; 2],
        };
        for axis in 0..2 {
            let zeros = match padding {
                Padding::Valid => Some(0),
                Padding::Same => None,
                Padding::Zeros(p) => Some(p[axis]),
            };
            (g.pad_before[axis], g.pad_after[axis], g.output[axis]) = axis_geometry(
                names[axis],
                input[axis],
                kernel[axis],
                strides[axis],
                dilation[axis],
                zeros,
            )?;
        }
        Ok(g)
    }

    /// The input's (height, width).
    pub fn input(&self) -> [usize; 2] {
        self.input
    }

    /// The kernel's (kh, kw).
    pub fn kernel(&self) -> [usize; 2] {
        self.kernel
    }

    /// The strides along (height, width).
    pub fn strides(&self) -> [usize; 2] {
        self.strides
    }

    /// The dilation along (height, width): the distance between the input positions that two
    /// neighbouring weights read.
    pub fn dilation(&self) -> [usize; 2] {
        self.dilation
    }

    /// The zeros before the input along (height, width).
    pub fn pad_before(&self) -> [usize; 2] {
        self.pad_before
    }

    /// The zeros after the input along (height, width).
    pub fn pad_after(&self) -> [usize; 2] {
        self.pad_after
    }

    /// The output's (H_out, W_out).
    pub fn output(&self) -> [usize; 2] {
        self.output
    }

    /// The number of output positions, H_out·W_out.
    pub fn positions(&self) -> usize {
        self.output[0] * self.output[1]
    }

    /// The input position (h, w) that weight (ki, kj) reads for output position
    /// p = h_out·W_out + w_out, or `None` where it reads a padding zero.
    #[inline]
    pub(super) fn source(&self, p: usize, ki: usize, kj: usize) -> Option<(usize, usize)> {
        let (ho, wo) = (p / self.output[1], p % self.output[1]);
        let h = (ho * self.strides[0] + ki * self.dilation[0]).checked_sub(self.pad_before[0])?;
        let w = (wo * self.strides[1] + kj * self.dilation[1]).checked_sub(self.pad_before[1])?;
        (h < self.input[0] && w < self.input[1]).then_some((h, w))
    }
}

/// Zeros before, zeros after and output size along one axis of size `len`; `zeros` is `None`
/// for "same" padding.
fn axis_geometry(
    axis: &str,
    len: usize,
    kernel: usize,
    stride: usize,
    dilation: usize,
    zeros: Option<usize>,
) -> Result<(usize, usize, usize)> {
    check_extent("kernel_size", kernel)?;
    check_extent("strides", stride)?;
    check_extent("dilation_rate", dilation)?;
    check_extent(&format!("the input {axis}"), len)?;
    let too_wide = || {
        CoreError::Value(format!(
            "kernel_size {kernel} with dilation_rate {dilation} spans more than {MAX_EXTENT} \
             positions (deepnet's limit)"
        ))
    };
    let span = (kernel - 1)
        .checked_mul(dilation)
        .and_then(|s| s.checked_add(1))
        .filter(|&s| s <= MAX_EXTENT)
        .ok_or_else(too_wide)?;
    let (before, after) = match zeros {
        Some(p) if p > MAX_EXTENT => {
            return Err(CoreError::Value(format!(
                "padding: expected at most {MAX_EXTENT} zeros per side, got {p}"
            )))
        }
        Some(p) => (p, p),
        None => {
            // Keras' "same": ⌈L/s⌉ outputs, the odd extra zero at the end
            let out = len.div_ceil(stride);
            let total = ((out - 1) * stride + span).saturating_sub(len);
            (total / 2, total - total / 2)
        }
    };
    // all three are at most 2^24, so neither this sum nor the products above overflow
    let padded = len + before + after;
    if span > padded {
        let dilated = if dilation > 1 {
            format!(" (dilated {span})")
        } else {
            String::new()
        };
        return Err(CoreError::Shape(format!(
            "kernel_size {kernel}{dilated} is larger than the padded input {axis} {padded}"
        )));
    }
    Ok((before, after, (padded - span) / stride + 1))
}
