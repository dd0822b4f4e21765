//! Element-wise passes compiled twice: for the baseline x86-64 (SSE2) every build targets, and
//! for AVX2, chosen at run time when the CPU has it, so the same loops run 4 f64 / 8 f32 wide
//! instead of 2 / 4 (the optimizers' updates were measured at a quarter of a small network's
//! step before, see README "Performance").
//!
//! The results are the same bit for bit on both paths: +, −, ×, ÷ and √ are exactly rounded
//! whatever the vector width, and Rust never fuses a multiply and an add on its own.

use ndarray::{ArrayView, ArrayViewMut, Dimension};
use rayon::prelude::*;

use crate::matmul::parallel_elementwise;
use crate::scalar::Float;

/// Runs `f` compiled for AVX2 when the CPU has it (`f` and what it calls inline into an
/// AVX2 function; give closures `#[inline(always)]`).
#[inline(always)]
pub fn dispatch<R>(f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { with_avx2(f) };
    }
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// Elements per chunk when a pass is split across threads.
const CHUNK: usize = 1 << 14;

/// The contiguous slice of a standard-layout (C-ordered) array: the element order every
/// argument of an update then shares.
fn slice_mut<'a, F, D: Dimension>(a: &'a mut ArrayViewMut<'_, F, D>) -> Option<&'a mut [F]> {
    a.as_slice_mut()
}

/// `f(p, g)` for every element of a parameter and its gradient, in place; `None` (nothing
/// done) unless both are C-contiguous, for the caller's general path.
pub fn update1<F: Float, D: Dimension>(
    p: &mut ArrayViewMut<F, D>,
    g: &ArrayView<F, D>,
    f: impl Fn(&mut F, F) + Sync + Send + Copy,
) -> Option<()> {
    let g = g.as_slice()?;
    let p = slice_mut(p)?;
    let run = |p: &mut [F], g: &[F]| {
        dispatch(
            #[inline(always)]
            || {
                for (p, &g) in p.iter_mut().zip(g) {
                    f(p, g);
                }
            },
        )
    };
    if parallel_elementwise(p.len()) {
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .for_each(|(p, g)| run(p, g));
    } else {
        run(p, g);
    }
    Some(())
}

/// `f(p, g, s)` with one state array (momentum's velocity, RMSprop's mean square).
pub fn update2<F: Float, D: Dimension>(
    p: &mut ArrayViewMut<F, D>,
    g: &ArrayView<F, D>,
    s: &mut ArrayViewMut<F, D>,
    f: impl Fn(&mut F, F, &mut F) + Sync + Send + Copy,
) -> Option<()> {
    let g = g.as_slice()?;
    let p = slice_mut(p)?;
    let s = slice_mut(s)?;
    let run = |p: &mut [F], g: &[F], s: &mut [F]| {
        dispatch(
            #[inline(always)]
            || {
                for ((p, &g), s) in p.iter_mut().zip(g).zip(s.iter_mut()) {
                    f(p, g, s);
                }
            },
        )
    };
    if parallel_elementwise(p.len()) {
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(s.par_chunks_mut(CHUNK))
            .for_each(|((p, g), s)| run(p, g, s));
    } else {
        run(p, g, s);
    }
    Some(())
}

/// `f(p, g, m, v)` with two state arrays (Adam's moments).
pub fn update3<F: Float, D: Dimension>(
    p: &mut ArrayViewMut<F, D>,
    g: &ArrayView<F, D>,
    m: &mut ArrayViewMut<F, D>,
    v: &mut ArrayViewMut<F, D>,
    f: impl Fn(&mut F, F, &mut F, &mut F) + Sync + Send + Copy,
) -> Option<()> {
    let g = g.as_slice()?;
    let p = slice_mut(p)?;
    let m = slice_mut(m)?;
    let v = slice_mut(v)?;
    let run = |p: &mut [F], g: &[F], m: &mut [F], v: &mut [F]| {
        dispatch(
            #[inline(always)]
            || {
                for (((p, &g), m), v) in p.iter_mut().zip(g).zip(m.iter_mut()).zip(v.iter_mut()) {
                    f(p, g, m, v);
                }
            },
        )
    };
    if parallel_elementwise(p.len()) {
        p.par_chunks_mut(CHUNK)
            .zip(g.par_chunks(CHUNK))
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .for_each(|(((p, g), m), v)| run(p, g, m, v));
    } else {
        run(p, g, m, v);
    }
    Some(())
}
