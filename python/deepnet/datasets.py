"""Small data sets for the lecture's examples, in its layout: one column per example."""

from __future__ import annotations

import numbers

import numpy as np

#: The most bits `parity` enumerates (2**20 columns of 20 values: 160 MiB of float64).
MAX_PARITY_BITS = 20


def parity(n: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Every input of n bits and its parity (XOR), the function of section 2's depth argument.

    Parameters
    ----------
    n : int, default 8
        Number of bits, 1..20.

    Returns
    -------
    X : ndarray of shape (n, 2**n), float64
        Column j holds the bits of j (X[0] the least significant), so all 2**n inputs appear
        once, in counting order.
    y : ndarray of shape (2**n,), int64
        1 where the column has an odd number of ones (XOR of its bits), else 0: class labels,
        as `Sequential.fit` takes them.

    Examples
    --------
    >>> import deepnet as dn
    >>> X, y = dn.datasets.parity(3)
    >>> X.astype(int)
    array([[0, 1, 0, 1, 0, 1, 0, 1],
           [0, 0, 1, 1, 0, 0, 1, 1],
           [0, 0, 0, 0, 1, 1, 1, 1]])
    >>> y
    array([0, 1, 1, 0, 1, 0, 0, 1])
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n: expected an int number of bits, got {n!r}")
    if not 1 <= n <= MAX_PARITY_BITS:
        raise ValueError(f"n: expected 1..{MAX_PARITY_BITS} bits (2**n examples), got {n}")
    n = int(n)
    j = np.arange(2**n)
    X = ((j[None, :] >> np.arange(n)[:, None]) & 1).astype(np.float64)
    y = X.sum(axis=0).astype(np.int64) % 2
    return X, y
