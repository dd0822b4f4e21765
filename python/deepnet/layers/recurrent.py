"""Recurrent layers over sequences (features, time, m): SimpleRNN, GRU, LSTM, Bidirectional,
with PyTorch's gate order and equations, trained by backpropagation through time in Rust."""

from __future__ import annotations

from typing import Any

from deepnet._validation import check_extent, check_name, check_nonneg_float
from deepnet.layers.base import ACTIVATIONS, CompiledLayer, layer_from_spec

_PARAMS = ("Wx", "Wh", "bx", "bh")


class _Recurrent(CompiledLayer):
    gates = 1
    param_names = _PARAMS

    def __init__(self, units: int, return_sequences: bool = False, l2: float = 0.0) -> None:
        super().__init__()
        name = type(self).__name__
        self.units = check_extent(units, f"{name} units")
        if not isinstance(return_sequences, bool):
            raise TypeError(f"{name} return_sequences: expected a bool, got {return_sequences!r}")
        self.return_sequences = return_sequences
        self.l2 = check_nonneg_float(l2, f"{name} l2")

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"units": self.units, "return_sequences": self.return_sequences}
        if self.l2:
            config["l2"] = self.l2
        return config


_RNN_PARAMS = """
    Parameters
    ----------
    units : int
        n^[l], the size of the hidden state h.{extra}
    return_sequences : bool, default False
        Output h_t of every step, (units, time, m), instead of the last one, (units, m).
    l2 : float, default 0.0
        λ of an L2 penalty (λ/2)(‖Wx‖² + ‖Wh‖²).

    Attributes
    ----------
    Wx : ndarray of shape ({g}·units, n_x)
    Wh : ndarray of shape ({g}·units, units)
    bx, bh : ndarrays of shape ({g}·units, 1)
        {order}
"""


class SimpleRNN(_Recurrent):
    __doc__ = """The plain recurrent layer: input (features, time, m), h_0 = 0, and for each step t
    (9) z_t = Wx·x_t + bx + Wh·h_{t−1} + bh, (10) h_t = g(z_t).

    Backward through time: (11) dz_t = (dh_t + Whᵀ·dz_{t+1}) ⊙ g′(z_t), then (12)–(13) summed
    over the steps, dWx = (1/m) Σ_t dz_t·x_tᵀ, dWh = (1/m) Σ_t dz_t·h_{t−1}ᵀ, dbx = dbh =
    (1/m) Σ_t Σ_i dz_t, and (14) dx_t = Wxᵀ·dz_t.
""" + _RNN_PARAMS.format(
        extra='\n    activation : str, default "tanh"',
        g=1,
        order="One block: the weights of z.",
    )
    kind = "simple_rnn"

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        return_sequences: bool = False,
        l2: float = 0.0,
    ) -> None:
        super().__init__(units, return_sequences, l2)
        self.activation = check_name(activation, "SimpleRNN activation", ACTIVATIONS)
        if activation == "softmax":
            raise ValueError("SimpleRNN activation: softmax is not an element-wise activation")

    def get_config(self) -> dict[str, Any]:
        return {"units": self.units, "activation": self.activation, **super().get_config()}


class GRU(_Recurrent):
    __doc__ = """The gated recurrent unit (PyTorch's equations; Keras' reset_after=True): for each
    step t, with σ the sigmoid,
    r = σ(Wx_r·x + bx_r + Wh_r·h + bh_r), z = σ(Wx_z·x + bx_z + Wh_z·h + bh_z),
    n = tanh(Wx_n·x + bx_n + r ⊙ (Wh_n·h + bh_n)), h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}.
    Backward through time applies (11) to each gate and sums (12)–(13) over the steps.
""" + _RNN_PARAMS.format(extra="", g=3, order="Gate blocks in the order r, z, n.")
    kind = "gru"
    gates = 3


class LSTM(_Recurrent):
    __doc__ = """Long short-term memory (PyTorch's equations): for each step t,
    i = σ(·), f = σ(·), g = tanh(·), o = σ(·) of Wx·x + bx + Wh·h + bh (one block each),
    c_t = f ⊙ c_{t−1} + i ⊙ g, h_t = o ⊙ tanh(c_t), with h_0 = c_0 = 0.
    Backward through time applies (11) to each gate and sums (12)–(13) over the steps.
""" + _RNN_PARAMS.format(extra="", g=4, order="Gate blocks in the order i, f, g, o.")
    kind = "lstm"
    gates = 4


class Bidirectional(CompiledLayer):
    """Runs a recurrent layer forward and a copy of it backward in time, and concatenates
    their outputs (forward units first): (2·units, m), or (2·units, time, m) with
    return_sequences, where the backward output at step t is aligned with input step t.

    Parameters
    ----------
    layer : SimpleRNN, GRU or LSTM
        The recurrent layer to run both ways (a template: it is not attached to the model).

    Attributes
    ----------
    forward_Wx, forward_Wh, forward_bx, forward_bh, backward_Wx, … : ndarrays
        The forward layer's parameters, then the backward layer's.

    Examples
    --------
    >>> import deepnet as dn
    >>> model = dn.Sequential([dn.Bidirectional(dn.GRU(6, return_sequences=True)), dn.Flatten(),
    ...                        dn.Dense(10, activation="softmax")],
    ...                       input_shape=(1, 40), loss="categorical_crossentropy")
    >>> model.layers[0].output_shape, model.layers[0].forward_Wx.shape
    ((12, 40), (18, 1))
    """

    kind = "bidirectional"
    param_names = tuple(f"forward_{p}" for p in _PARAMS) + tuple(f"backward_{p}" for p in _PARAMS)

    def __init__(self, layer: Any) -> None:
        super().__init__()
        if isinstance(layer, dict):
            layer = layer_from_spec(layer)
        if not isinstance(layer, _Recurrent):
            raise TypeError(
                f"Bidirectional layer: expected a SimpleRNN, GRU or LSTM, got {layer!r}"
            )
        self.layer = layer

    def get_config(self) -> dict[str, Any]:
        return {"layer": self.layer.spec()}

    def __repr__(self) -> str:
        return f"Bidirectional({self.layer!r})"
