"""Pooling and flattening: layers without parameters that shrink or reshape activations."""

from __future__ import annotations

from typing import Any

from deepnet.layers.base import CompiledLayer, check_size


class _Pooling(CompiledLayer):
    dims = 0
    op = ""

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid") -> None:
        super().__init__()
        name = type(self).__name__
        self.pool_size = check_size(pool_size, f"{name} pool_size", self.dims)
        self.strides = (
            None if strides is None else check_size(strides, f"{name} strides", self.dims)
        )
        if padding not in ("valid", "same"):
            raise ValueError(f"{name} padding: expected 'valid' or 'same', got {padding!r}")
        self.padding = padding

    def get_config(self) -> dict[str, Any]:
        return {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding}


_POOL_DOC = """{op} pooling over {what}: input {shape_in}, output {shape_out}.

    Forward: A[c, p, i] = {formula} over the window of `pool_size` positions starting at
    p·strides (padding: {pad_note}). Backward: {backward}. No parameters, so no (12)–(13).

    Parameters
    ----------
    pool_size : {size_type}, default 2
    strides : {size_type} or None, default None (= pool_size)
    padding : {{"valid", "same"}}, default "valid"
        "same": Keras' rule, output ⌈L/s⌉.
"""


class MaxPooling1D(_Pooling):
    __doc__ = _POOL_DOC.format(
        op="Max",
        what="signals",
        shape_in="(channels, length, m)",
        shape_out="(channels, L_out, m)",
        formula="max",
        pad_note="padded positions never win",
        backward="dA_prev gets each dA at the position that was the maximum (stored in "
        "forward), summed where windows overlap",
        size_type="int",
    )
    kind = "max_pooling1d"
    dims = 1


class MaxPooling2D(_Pooling):
    __doc__ = _POOL_DOC.format(
        op="Max",
        what="images",
        shape_in="(channels, height, width, m)",
        shape_out="(channels, H_out, W_out, m)",
        formula="max",
        pad_note="padded positions never win",
        backward="dA_prev gets each dA at the position that was the maximum (stored in "
        "forward), summed where windows overlap",
        size_type="int or (int, int)",
    )
    kind = "max_pooling2d"
    dims = 2


class AveragePooling1D(_Pooling):
    __doc__ = _POOL_DOC.format(
        op="Average",
        what="signals",
        shape_in="(channels, length, m)",
        shape_out="(channels, L_out, m)",
        formula="the mean",
        pad_note="the mean is over the real positions, as Keras computes it",
        backward="each dA is spread evenly over its window's positions",
        size_type="int",
    )
    kind = "average_pooling1d"
    dims = 1


class AveragePooling2D(_Pooling):
    __doc__ = _POOL_DOC.format(
        op="Average",
        what="images",
        shape_in="(channels, height, width, m)",
        shape_out="(channels, H_out, W_out, m)",
        formula="the mean",
        pad_note="the mean is over the real positions, as Keras computes it",
        backward="each dA is spread evenly over its window's positions",
        size_type="int or (int, int)",
    )
    kind = "average_pooling2d"
    dims = 2


class _Global(CompiledLayer):
    def __init__(self) -> None:
        super().__init__()

    def get_config(self) -> dict[str, Any]:
        return {}


class GlobalAveragePooling1D(_Global):
    """The mean over all positions: (channels, length, m) → (channels, m).
    Backward: dA_prev[c, p, i] = dA[c, i] / L."""

    kind = "global_average_pooling1d"


class GlobalAveragePooling2D(_Global):
    """The mean over all positions: (channels, height, width, m) → (channels, m).
    Backward: dA_prev[c, y, x, i] = dA[c, i] / (H·W)."""

    kind = "global_average_pooling2d"


class GlobalMaxPooling1D(_Global):
    """The maximum over all positions: (channels, length, m) → (channels, m).
    Backward: dA goes to the position of the maximum."""

    kind = "global_max_pooling1d"


class GlobalMaxPooling2D(_Global):
    """The maximum over all positions: (channels, height, width, m) → (channels, m).
    Backward: dA goes to the position of the maximum."""

    kind = "global_max_pooling2d"


class Flatten(_Global):
    """(C, L, m) → (C·L, m), row-major (index c·L + l); likewise (C, H, W, m) → (C·H·W, m).

    A reshape: no copy in forward (the output is a view of the input) nor in backward
    (dA_prev is dA reshaped). Put it between convolutional or pooling layers and dense ones.

    Examples
    --------
    >>> import deepnet as dn
    >>> model = dn.Sequential([dn.Flatten(), dn.Dense(2)], input_shape=(3, 4), loss="mse")
    >>> model.layers[0].output_shape
    (12,)
    """

    kind = "flatten"
