"""Type stub of the compiled module `deepnet._core` (src/python/mod.rs)."""

from typing import Any, final

import numpy as np
import numpy.typing as npt

__version__: str
ACTIVATIONS: list[str]
LOSSES: list[str]
MAX_EXTENT: int
MAX_LAYERS: int
MAX_TENSOR_ELEMENTS: int
MAX_PARAMS: int
MAX_COUNTER: int
LAYER_KINDS: list[str]

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
    m: int | None = None,
) -> tuple[_Array, _Array, _Array | None]: ...
def layer_output_shape(spec: str, input_shape: list[int]) -> list[int]: ...
def layer_forward(
    spec: str, params: list[_Array], a_prev: _Array
) -> tuple[_Array, _Array | None]: ...
def layer_backward(
    spec: str,
    params: list[_Array],
    a_prev: _Array,
    upstream: _Array,
    upstream_is_dz: bool = False,
    need_da_prev: bool = True,
) -> tuple[list[_Array], _Array | None]: ...
def recurrent_step(
    cell: str,
    x: _Array,
    h_prev: _Array | None,
    c_prev: _Array | None,
    wx: _Array,
    wh: _Array,
    bx: _Array,
    bh: _Array,
    activation: str = "tanh",
) -> dict[str, _Array]: ...
def recurrent_step_backward(
    cell: str,
    x: _Array,
    h_prev: _Array | None,
    c_prev: _Array | None,
    wx: _Array,
    wh: _Array,
    bx: _Array,
    bh: _Array,
    step: dict[str, _Array],
    dh: _Array,
    dc: _Array | None = None,
    activation: str = "tanh",
) -> dict[str, _Array]: ...
def sgd_step(param: _Array, grad: _Array, learning_rate: float) -> None: ...
def activate(z: _Array, activation: str, derivative: bool = False) -> _Array: ...
def get_num_threads() -> int: ...
def all_finite(x: _Array) -> bool: ...
def safetensors_dumps(tensors: list[tuple[str, _Array]], metadata: dict[str, str]) -> bytes: ...
def safetensors_loads(data: bytes) -> tuple[dict[str, str], list[tuple[str, _Array]]]: ...
def set_num_threads(n: int) -> None: ...
def _set_data_parallel(enabled: bool) -> None: ...
def _peak_gflops(threads: int, rounds: int = ...) -> float: ...
def loss_and_gradient(yhat: _Array, y: _Array, loss: str) -> tuple[float, _Array]: ...

@final
class Network:
    def __new__(
        cls,
        layers: str,
        input_shape: list[int],
        loss: str,
        dtype: str = "float32",
        seed: int = 0,
    ) -> Network: ...
    @staticmethod
    def from_bytes(data: bytes) -> tuple[Network, str]: ...
    @property
    def dtype(self) -> str: ...
    @property
    def loss(self) -> str: ...
    @property
    def n_params(self) -> int: ...
    @property
    def training(self) -> bool: ...
    @property
    def optimizer_counters(self) -> tuple[int, int]: ...
    def __len__(self) -> int: ...
    def initialize(self, seed: int) -> None: ...
    def layer_info(self, layer: int) -> dict[str, Any]: ...
    def attach_layer(self, index: int, layer: Any) -> None: ...
    def get_param(self, layer: int, index: int) -> _Array: ...
    def set_param(self, layer: int, index: int, value: _Array) -> None: ...
    def predict(self, x: _Array) -> _Array: ...
    def forward_cache(self, x: _Array) -> list[tuple[_Array | None, _Array]]: ...
    def cost(self, x: _Array, y: _Array, sample_weight: _Array | None = None) -> float: ...
    def gradients(
        self, x: _Array, y: _Array, sample_weight: _Array | None = None
    ) -> tuple[float, list[list[_Array]]]: ...
    def fit(
        self,
        x: _Array,
        y: _Array,
        epochs: int,
        batch_size: int,
        shuffle: bool = True,
        target_cost: float | None = None,
        tol: float | None = None,
        previous_cost: float | None = None,
        sample_weight: _Array | None = None,
        patience: tuple[int, float, int] | None = None,
    ) -> tuple[
        list[float],
        list[float],
        list[float],
        str,
        BaseException | None,
        tuple[int, float, int] | None,
    ]: ...
    def last_fit(self) -> tuple[list[float], list[float], list[float], str] | None: ...
    @property
    def penalty(self) -> float: ...
    def set_optimizer(self, config: str) -> None: ...
    def optimizer_state(self) -> dict[str, Any]: ...
    def set_optimizer_state(
        self, iterations: int, epochs: int, state: list[list[_Array]]
    ) -> None: ...
    def rng_states(self) -> list[str]: ...
    def set_rng_states(self, states: list[str]) -> None: ...
    def peek_orders(self, m: int, epochs: int) -> list[list[int]]: ...
