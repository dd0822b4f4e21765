"""Convolutional layers: Conv1D over signals (channels, length, m) and Conv2D over images
(channels, height, width, m), one compiled kernel (im2col onto the matrix product) for both."""

from __future__ import annotations

from typing import Any

from deepnet._validation import check_extent, check_name, check_nonneg_float
from deepnet.layers.base import ACTIVATIONS, CompiledLayer, check_padding, check_size


class _Conv(CompiledLayer):
    dims = 0
    param_names = ("W", "b")

    def __init__(
        self,
        filters: int,
        kernel_size: Any,
        strides: Any = 1,
        padding: Any = "valid",
        dilation_rate: Any = 1,
        activation: str = "linear",
        l2: float = 0.0,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.filters = check_extent(filters, f"{name} filters")
        self.kernel_size = check_size(kernel_size, f"{name} kernel_size", self.dims)
        self.strides = check_size(strides, f"{name} strides", self.dims)
        self.padding = check_padding(padding, f"{name} padding", self.dims)
        self.dilation_rate = check_size(dilation_rate, f"{name} dilation_rate", self.dims)
        self.activation = check_name(activation, f"{name} activation", ACTIVATIONS)
        self.l2 = check_nonneg_float(l2, f"{name} l2")

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "filters": self.filters,
            "kernel_size": self.kernel_size,
            "strides": self.strides,
            "padding": self.padding,
            "dilation_rate": self.dilation_rate,
            "activation": self.activation,
        }
        if self.l2:
            config["l2"] = self.l2
        return config


class Conv1D(_Conv):
    """A 1-D convolution over signals: input (channels, length, m), output
    (filters, L_out, m).

    Forward, for every filter f, output position p and example i (cross-correlation, as
    PyTorch and Keras compute it): (9) Z[f, p, i] = Σ_c Σ_j W[f, c, j]·A_prev[c, p·s + j·d, i]
    + b[f] (positions outside the input are the zero padding), (10) A = g(Z).
    Backward: (11) dZ = dA ⊙ g′(Z), (12) dW[f, c, j] = (1/m) Σ_p Σ_i dZ[f, p, i]·
    A_prev[c, p·s + j·d, i], (13) db[f] = (1/m) Σ_p Σ_i dZ[f, p, i], (14) dA_prev[c, q, i] =
    Σ over the (f, p, j) with p·s + j·d = q of W[f, c, j]·dZ[f, p, i].
    Computed as one matrix product per batch over the im2col matrix, in Rust.

    Parameters
    ----------
    filters : int
        Number of output channels.
    kernel_size : int
        k, the window length.
    strides : int, default 1
    padding : {"valid", "same"} or int, default "valid"
        "valid": no padding; "same": Keras' rule, output length ⌈L/s⌉ (the odd extra zero at
        the end); an int p: p zeros on both sides (PyTorch's ``padding=p``).
    dilation_rate : int, default 1
        d, the spacing between the kernel's taps.
    activation : str, default "linear"
    l2 : float, default 0.0
        λ of an L2 penalty (λ/2)·‖W‖².

    Attributes
    ----------
    W : ndarray of shape (filters, channels, k)
        PyTorch's weight layout.
    b : ndarray of shape (filters, 1)

    Examples
    --------
    >>> import deepnet as dn
    >>> model = dn.Sequential([dn.Conv1D(4, 5, strides=2, padding=1, activation="relu"),
    ...                        dn.Flatten(), dn.Dense(3, activation="softmax")],
    ...                       input_shape=(1, 40), loss="categorical_crossentropy")
    >>> model.layers[0].W.shape, model.layers[0].output_shape
    ((4, 1, 5), (4, 19))
    """

    kind = "conv1d"
    dims = 1


class Conv2D(_Conv):
    """A 2-D convolution over images: input (channels, height, width, m), output
    (filters, H_out, W_out, m).

    Forward: (9) Z[f, y, x, i] = Σ_c Σ_u Σ_v W[f, c, u, v]·A_prev[c, y·s_h + u·d_h,
    x·s_w + v·d_w, i] + b[f], (10) A = g(Z); backward as Conv1D's with the sums over both
    kernel axes: (11) dZ = dA ⊙ g′(Z), (12) dW = (1/m) Σ dZ ⋆ A_prev, (13) db = (1/m) Σ dZ,
    (14) dA_prev = the transposed convolution of dZ with W.

    Parameters
    ----------
    filters : int
    kernel_size : int or (int, int)
    strides : int or (int, int), default 1
    padding : {"valid", "same"}, int or (int, int), default "valid"
    dilation_rate : int or (int, int), default 1
    activation : str, default "linear"
    l2 : float, default 0.0

    Attributes
    ----------
    W : ndarray of shape (filters, channels, kh, kw)
    b : ndarray of shape (filters, 1)

    Examples
    --------
    >>> import deepnet as dn
    >>> model = dn.Sequential([dn.Conv2D(8, 3, padding="same", activation="relu"),
    ...                        dn.MaxPooling2D(), dn.Flatten(), dn.Dense(10, activation="softmax")],
    ...                       input_shape=(1, 8, 8), loss="categorical_crossentropy")
    >>> model.layers[0].W.shape, model.layers[1].output_shape
    ((8, 1, 3, 3), (8, 4, 4))
    """

    kind = "conv2d"
    dims = 2
