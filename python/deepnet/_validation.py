"""Input checks shared by the Python API: every bad input becomes a ValueError or TypeError
that names what was expected and what was given."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

DTYPES = ("float32", "float64")


def _all_finite(arr: np.ndarray) -> bool:
    if arr.dtype.name in DTYPES:
        from deepnet import _core

        return bool(_core.all_finite(arr))
    return bool(np.isfinite(arr).all())


def check_dtype_name(dtype: Any) -> str:
    """Returns "float32" or "float64" for a dtype given as a name, a numpy dtype or a type."""
    try:
        name = np.dtype(dtype).name
    except TypeError as err:
        raise TypeError(f"dtype: expected 'float32' or 'float64', got {dtype!r}") from err
    if name not in DTYPES:
        raise ValueError(f"dtype: expected 'float32' or 'float64', got {name!r}")
    return name


def check_positive_int(value: Any, name: str) -> int:
    """A positive integer (bools are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected a positive integer, got {value!r}")
    if value <= 0:
        raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    return int(value)


def check_extent(value: Any, name: str) -> int:
    """A size (units, n_x): a positive integer of at most deepnet's limit, 2**24."""
    from deepnet import _core

    value = check_positive_int(value, name)
    if value > _core.MAX_EXTENT:
        raise ValueError(
            f"{name}: expected a positive integer of at most {_core.MAX_EXTENT} (deepnet's "
            f"limit for one layer or input size), got {value}"
        )
    return value


def check_positive_float(value: Any, name: str) -> float:
    """A positive, finite real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a positive number, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a positive finite number, got {value!r}")
    return value


def check_optional_nonneg_float(value: Any, name: str) -> float | None:
    """None, or a finite real number >= 0."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected None or a number >= 0, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected None or a finite number >= 0, got {value!r}")
    return value


def check_nonneg_float(value: Any, name: str) -> float:
    """A finite real number >= 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number >= 0, got {value!r}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name}: expected a finite number >= 0, got {value!r}")
    return value


def check_name(value: Any, name: str, allowed: tuple[str, ...] | list[str]) -> str:
    """One of the allowed names (activations, losses)."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected one of {list(allowed)}, got {value!r}")
    if value not in allowed:
        raise ValueError(f"{name}: expected one of {list(allowed)}, got {value!r}")
    return value


def as_float_array(
    value: Any, name: str, dtype: str, ndim: int = 2, shape_hint: str = ""
) -> np.ndarray:
    """Checks `value` and returns it as an array of `dtype` without modifying it.

    Accepts float32/float64 (any memory order or strides), integers and bools, and nested
    lists. No copy is made when the array already has `dtype`; otherwise the converted copy is
    what deepnet reads, never the caller's array.
    """
    arr = value if isinstance(value, np.ndarray) else np.asarray(value)
    if arr.dtype.kind not in "fiub":
        raise TypeError(
            f"{name}: expected a numeric array (float32 or float64), got dtype {arr.dtype}"
        )
    if arr.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(
            f"{name}: expected a {ndim}-D array{hint}, got a {arr.ndim}-D array of shape "
            f"{arr.shape}"
        )
    if arr.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got shape {arr.shape}")
    # one parallel pass in Rust, no temporary of X's size; the slow search for the first bad
    # element only runs when there is one
    if arr.dtype.kind == "f" and not _all_finite(arr):
        finite = np.isfinite(arr)
        if not finite.all():
            where = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise ValueError(
                f"{name} contains NaN or inf (first at index {where}): expected finite values"
            )
    with np.errstate(over="ignore"):  # an overflow is reported below, as a ValueError
        out = np.asarray(arr, dtype=dtype)
    # a converted copy (float64 -> float32, large integers) can overflow to inf: refuse it
    # as NaN and inf are refused, instead of training on infinities
    if out is not arr and not _all_finite(out):
        biggest = float(np.max(np.abs(arr)))
        raise ValueError(
            f"{name}: values overflow {dtype} (largest magnitude {biggest:g}, {dtype} holds "
            f"at most {float(np.finfo(dtype).max):g}): scale the data or use dtype='float64'"
        )
    return out
