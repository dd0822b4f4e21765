"""Inverted dropout, on activations of any shape."""

from __future__ import annotations

import numbers
from typing import Any

from deepnet.layers.base import CompiledLayer


class Dropout(CompiledLayer):
    """Inverted dropout: in training, each activation is zeroed with probability `rate` and
    the others scaled by 1/(1 − rate); in predict, cost, evaluate and gradients it passes its
    input unchanged (no copy). Masks come from the model's seed. Works on activations of any
    shape: vectors, signals, images, sequences.

    Forward (training): A = A_prev ⊙ M with M_ij = 0 (probability rate) or 1/(1 − rate).
    Backward: dA_prev = dA ⊙ M.

    Parameters
    ----------
    rate : float in [0, 1)
        The fraction of activations dropped.

    Examples
    --------
    >>> import deepnet as dn
    >>> model = dn.Sequential([dn.Dense(16, activation="relu"), dn.Dropout(0.2),
    ...                        dn.Dense(1, activation="sigmoid")],
    ...                       n_x=4, loss="binary_crossentropy")
    >>> model.layers[1]
    Dropout(0.2)
    """

    kind = "dropout"

    def __init__(self, rate: float) -> None:
        super().__init__()
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise TypeError(f"Dropout rate: expected a number in [0, 1), got {rate!r}")
        if not 0.0 <= float(rate) < 1.0:
            raise ValueError(f"Dropout rate: expected a number in [0, 1), got {rate!r}")
        self.rate = float(rate)

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate}

    def __repr__(self) -> str:
        return f"Dropout({self.rate!r})"
