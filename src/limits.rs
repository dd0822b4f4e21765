//! Size limits and fallible allocation: validate, then allocate.
//!
//! Every size that reaches the core from outside (a layer's `units`, an input shape, a batch,
//! a model file's header) is checked against these bounds with checked arithmetic before any
//! buffer is made, and buffers are then allocated with `try_reserve`, so that neither a crafted
//! model file nor a mistyped argument can abort the process: the worst it gets is a
//! [`CoreError::Value`] that says what was asked for.

use ndarray::{ArrayD, IxDyn};

use crate::error::{CoreError, Result};

/// The largest extent of one axis of a layer or an input (`units`, `n_x`, channels…): 2^24.
pub const MAX_EXTENT: usize = 1 << 24;

/// The most layers a network may have.
pub const MAX_LAYERS: usize = 1024;

/// The most elements one parameter tensor may have: 2^30 (4 GiB of float32).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 30;

/// The most trainable scalars a whole network may have: 2^31.
pub const MAX_PARAMS: usize = 1 << 31;

/// The largest optimizer counter (steps, epochs) a model file may carry: 2^53, the largest
/// integer a float64 (and so a JSON number) holds exactly.
pub const MAX_COUNTER: u64 = 1 << 53;

/// The number of elements of `shape`, or an error naming `what` if the product overflows or
/// passes `limit`.
pub fn elements(what: &str, shape: &[usize], limit: usize) -> Result<usize> {
    let n = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .filter(|&n| n <= limit)
        .ok_or_else(|| {
            CoreError::Value(format!(
                "{what}: shape {shape:?} has more than {limit} elements (deepnet's limit)"
            ))
        })?;
    Ok(n)
}

/// Checks one extent (units, n_x…) against `1..=MAX_EXTENT`.
pub fn check_extent(what: &str, value: usize) -> Result<usize> {
    if value == 0 || value > MAX_EXTENT {
        return Err(CoreError::Value(format!(
            "{what}: expected a positive integer of at most {MAX_EXTENT}, got {value}"
        )));
    }
    Ok(value)
}

/// Checks one example's shape: at least one axis, every extent in `1..=MAX_EXTENT`, at most
/// [`MAX_TENSOR_ELEMENTS`] elements in all.
pub fn check_shape(what: &str, shape: &[usize]) -> Result<()> {
    if shape.is_empty() {
        return Err(CoreError::Value(format!(
            "{what}: expected at least one axis, got []"
        )));
    }
    for &n in shape {
        check_extent(what, n)?;
    }
    elements(what, shape, MAX_TENSOR_ELEMENTS)?;
    Ok(())
}

/// A vector of `len` zeros, or an error (not an abort) if the memory cannot be had.
pub fn try_zeros_vec<T: Clone + num_traits::Zero>(what: &str, len: usize) -> Result<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| {
        CoreError::Value(format!(
            "{what}: cannot allocate {len} elements ({} bytes): out of memory",
            len.saturating_mul(std::mem::size_of::<T>())
        ))
    })?;
    v.resize(len, T::zero());
    Ok(v)
}

/// An array of zeros of `shape` (at most [`MAX_TENSOR_ELEMENTS`] elements), allocated
/// fallibly.
pub fn try_zeros<T: Clone + num_traits::Zero>(what: &str, shape: &[usize]) -> Result<ArrayD<T>> {
    let len = elements(what, shape, MAX_TENSOR_ELEMENTS)?;
    let data = try_zeros_vec(what, len)?;
    Ok(ArrayD::from_shape_vec(IxDyn(shape), data).expect("length is the product of the shape"))
}

/// A matrix of zeros, allocated fallibly (see [`try_zeros`]).
pub fn zeros2<T: Clone + num_traits::Zero>(
    what: &str,
    (rows, cols): (usize, usize),
) -> Result<ndarray::Array2<T>> {
    Ok(try_zeros(what, &[rows, cols])?
        .into_dimensionality()
        .expect("2-D by construction"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overflowing_and_oversized_shapes_are_errors() {
        assert!(elements("W", &[usize::MAX, 2], usize::MAX).is_err());
        assert!(elements("W", &[1 << 20, 1 << 20], MAX_TENSOR_ELEMENTS).is_err());
        assert_eq!(elements("W", &[3, 4], MAX_TENSOR_ELEMENTS).unwrap(), 12);
        assert!(check_extent("units", 0).is_err());
        assert!(check_extent("units", MAX_EXTENT + 1).is_err());
        assert!(try_zeros::<f32>("W", &[1 << 16, 1 << 16]).is_err());
    }

    #[test]
    fn an_impossible_allocation_is_an_error_not_an_abort() {
        // within the element limit of try_zeros_vec's caller, but far beyond any machine
        let err = try_zeros_vec::<f64>("workspace", usize::MAX / 16).unwrap_err();
        assert!(err.to_string().contains("out of memory"), "{err}");
    }
}
