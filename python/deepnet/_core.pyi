"""Type stub of the compiled module `deepnet._core` (src/python/mod.rs)."""

from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str
ACTIVATIONS: list[str]
LOSSES: list[str]

_Array = npt.NDArray[np.floating[Any]]

def dense_forward(
    w: _Array, b: _Array, a_prev: _Array, activation: str
) -> tuple[_Array, _Array]: ...
def dense_backward(
    da: _Array,
    z: _Array,
    a: _Array,
    a_prev: _Array,
    w: _Array,
    activation: str,
    upstream_is_dz: bool = False,
    first_layer: bool = False,
) -> tuple[_Array, _Array, _Array | None]: ...
def sgd_step(param: _Array, grad: _Array, learning_rate: float) -> None: ...
def activate(z: _Array, activation: str, derivative: bool = False) -> _Array: ...
def loss_and_gradient(yhat: _Array, y: _Array, loss: str) -> tuple[float, _Array]: ...

@final
class Network:
    def __new__(
        cls,
        layers: list[dict[str, Any]],
        input_shape: list[int],
        loss: str,
        dtype: str = "float32",
        seed: int = 0,
    ) -> Network: ...
    @property
    def dtype(self) -> str: ...
    @property
    def loss(self) -> str: ...
    @property
    def n_params(self) -> int: ...
    def __len__(self) -> int: ...
    def initialize(self, seed: int) -> None: ...
    def layer_info(self, layer: int) -> dict[str, Any]: ...
    def get_param(self, layer: int, index: int) -> _Array: ...
    def set_param(self, layer: int, index: int, value: _Array) -> None: ...
    def predict(self, x: _Array) -> _Array: ...
    def cost(self, x: _Array, y: _Array) -> float: ...
    def gradients(self, x: _Array, y: _Array) -> tuple[float, list[list[_Array]]]: ...
    def train_epoch(
        self,
        x: _Array,
        y: _Array,
        batch_size: int,
        learning_rate: float,
        order: npt.NDArray[np.int64] | None = None,
    ) -> tuple[float, bool]: ...
