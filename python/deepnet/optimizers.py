"""Optimizers and learning-rate schedules: how (16)–(17) update the parameters.

Each update is one fused, in-place pass per parameter in Rust; the optimizer's state
(velocities, running averages, step count) is part of the model, so calling `fit` again
resumes training, and `save`/`load` keep it.

Examples
--------
>>> import deepnet as dn
>>> dn.optimizers.Adam(learning_rate=1e-3)
Adam(learning_rate=0.001, beta1=0.9, beta2=0.999, eps=1e-08)
>>> schedule = dn.optimizers.schedules.StepDecay(0.1, drop=0.5, epochs_per_drop=10)
>>> [schedule(epoch=e) for e in (0, 9, 10, 25)]
[0.1, 0.1, 0.05, 0.025]
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from deepnet._validation import check_positive_float

__all__ = ["SGD", "Adam", "Momentum", "Optimizer", "RMSprop", "get", "schedules"]


def _unit(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a number in [0, 1), got {value!r}")
    if not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}")
    return float(value)


class _Schedule:
    """Base of the learning-rate schedules."""

    kind = ""

    def spec(self) -> dict[str, Any]:
        raise NotImplementedError

    def __call__(self, step: int = 0, epoch: int = 0) -> float:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.spec() == self.spec()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.spec().items() if k != "type")
        return f"{type(self).__name__}({args})"


class StepDecay(_Schedule):
    """α = initial_learning_rate · drop^⌊epoch / epochs_per_drop⌋ (epochs counted from 0)."""

    def __init__(
        self, initial_learning_rate: float, drop: float = 0.5, epochs_per_drop: int = 10
    ) -> None:
        self.initial_learning_rate = check_positive_float(
            initial_learning_rate, "initial_learning_rate"
        )
        self.drop = check_positive_float(drop, "drop")
        if isinstance(epochs_per_drop, bool) or not isinstance(epochs_per_drop, numbers.Integral):
            raise TypeError(
                f"epochs_per_drop: expected a positive integer, got {epochs_per_drop!r}"
            )
        if epochs_per_drop <= 0:
            raise ValueError(
                f"epochs_per_drop: expected a positive integer, got {epochs_per_drop!r}"
            )
        self.epochs_per_drop = int(epochs_per_drop)

    def spec(self) -> dict[str, Any]:
        return {
            "type": "step_decay",
            "initial_learning_rate": self.initial_learning_rate,
            "drop": self.drop,
            "epochs_per_drop": self.epochs_per_drop,
        }

    def __call__(self, step: int = 0, epoch: int = 0) -> float:
        return self.initial_learning_rate * self.drop ** (epoch // self.epochs_per_drop)


class ExponentialDecay(_Schedule):
    """α = initial_learning_rate · decay_rate^(step / decay_steps), Keras' schedule; with
    `staircase` the exponent is rounded down. Steps (updates) are counted from 0."""

    def __init__(
        self,
        initial_learning_rate: float,
        decay_steps: int,
        decay_rate: float,
        staircase: bool = False,
    ) -> None:
        self.initial_learning_rate = check_positive_float(
            initial_learning_rate, "initial_learning_rate"
        )
        if isinstance(decay_steps, bool) or not isinstance(decay_steps, numbers.Integral):
            raise TypeError(f"decay_steps: expected a positive integer, got {decay_steps!r}")
        if decay_steps <= 0:
            raise ValueError(f"decay_steps: expected a positive integer, got {decay_steps!r}")
        self.decay_steps = int(decay_steps)
        self.decay_rate = check_positive_float(decay_rate, "decay_rate")
        self.staircase = bool(staircase)

    def spec(self) -> dict[str, Any]:
        return {
            "type": "exponential_decay",
            "initial_learning_rate": self.initial_learning_rate,
            "decay_rate": self.decay_rate,
            "decay_steps": self.decay_steps,
            "staircase": self.staircase,
        }

    def __call__(self, step: int = 0, epoch: int = 0) -> float:
        p = step / self.decay_steps
        return self.initial_learning_rate * self.decay_rate ** (
            math.floor(p) if self.staircase else p
        )


class _Schedules:
    """Namespace: ``dn.optimizers.schedules.StepDecay`` and ``ExponentialDecay``."""

    StepDecay = StepDecay
    ExponentialDecay = ExponentialDecay


schedules = _Schedules()


def _schedule_spec(learning_rate: Any) -> dict[str, Any]:
    if isinstance(learning_rate, _Schedule):
        return learning_rate.spec()
    return {
        "type": "constant",
        "learning_rate": check_positive_float(learning_rate, "learning_rate"),
    }


def schedule_from_spec(spec: dict[str, Any]) -> float | _Schedule:
    """The learning rate or schedule a spec (as saved in a model file) describes."""
    kind = spec.get("type")
    args = {k: v for k, v in spec.items() if k != "type"}
    if kind == "constant":
        return check_positive_float(args.get("learning_rate"), "learning_rate")
    if kind == "step_decay":
        return StepDecay(**args)
    if kind == "exponential_decay":
        return ExponentialDecay(**args)
    raise ValueError(f"unknown learning-rate schedule {kind!r}")


class Optimizer:
    """Base class. `learning_rate` is a number or a schedule."""

    kind = ""
    default_learning_rate = 0.1

    def __init__(self, learning_rate: Any = None) -> None:
        lr = self.default_learning_rate if learning_rate is None else learning_rate
        _schedule_spec(lr)  # validates
        self.learning_rate = lr

    def hyper(self) -> dict[str, float]:
        """The hyperparameters besides the learning rate."""
        return {}

    def schedule_spec(self) -> dict[str, Any]:
        return _schedule_spec(self.learning_rate)

    def config(self) -> dict[str, Any]:
        """Everything needed to rebuild this optimizer (saved in model files)."""
        return {"kind": self.kind, "hyper": self.hyper(), "schedule": self.schedule_spec()}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Optimizer) and other.config() == self.config()

    def __repr__(self) -> str:
        args = [f"learning_rate={self.learning_rate!r}"]
        args += [f"{k}={v!r}" for k, v in self.hyper().items()]
        return f"{type(self).__name__}({', '.join(args)})"


class SGD(Optimizer):
    """Plain gradient descent, exactly eqs (16)–(17): p −= α g."""

    kind = "sgd"
    default_learning_rate = 0.1


class Momentum(Optimizer):
    """Gradient descent with momentum: v = β v + g, p −= α v (PyTorch's form; for a constant
    α it takes the same steps as Keras' SGD(momentum=β))."""

    kind = "momentum"
    default_learning_rate = 0.01

    def __init__(self, learning_rate: Any = None, beta: float = 0.9) -> None:
        super().__init__(learning_rate)
        self.beta = _unit(beta, "beta")

    def hyper(self) -> dict[str, float]:
        return {"beta": self.beta}


class RMSprop(Optimizer):
    """s = ρ s + (1 − ρ) g², p −= α g / (√s + ε) (Keras' defaults)."""

    kind = "rmsprop"
    default_learning_rate = 0.001

    def __init__(self, learning_rate: Any = None, rho: float = 0.9, eps: float = 1e-7) -> None:
        super().__init__(learning_rate)
        self.rho = _unit(rho, "rho")
        self.eps = check_positive_float(eps, "eps")

    def hyper(self) -> dict[str, float]:
        return {"rho": self.rho, "eps": self.eps}


class Adam(Optimizer):
    """Adam: m = β1 m + (1 − β1) g, v = β2 v + (1 − β2) g², p −= α m̂ / (√v̂ + ε) with the
    bias corrections m̂ = m / (1 − β1^t), v̂ = v / (1 − β2^t)."""

    kind = "adam"
    default_learning_rate = 0.001

    def __init__(
        self,
        learning_rate: Any = None,
        beta1: float = 0.9,
        beta2: float = 0.999,
        eps: float = 1e-8,
    ) -> None:
        super().__init__(learning_rate)
        self.beta1 = _unit(beta1, "beta1")
        self.beta2 = _unit(beta2, "beta2")
        self.eps = check_positive_float(eps, "eps")

    def hyper(self) -> dict[str, float]:
        return {"beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


_BY_NAME: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "rmsprop": RMSprop,
    "adam": Adam,
}


def get(optimizer: Any, learning_rate: Any = None) -> Optimizer:
    """The optimizer named `optimizer` (with `learning_rate`), or `optimizer` itself."""
    if isinstance(optimizer, Optimizer):
        if learning_rate is not None:
            raise ValueError(
                "learning_rate: give the learning rate to the optimizer object or to fit, "
                f"not both (got {optimizer!r} and learning_rate={learning_rate!r})"
            )
        return optimizer
    if isinstance(optimizer, str) and optimizer in _BY_NAME:
        return _BY_NAME[optimizer](learning_rate)
    raise ValueError(
        f"optimizer: expected one of {list(_BY_NAME)} or a deepnet.optimizers object, "
        f"got {optimizer!r}"
    )


def from_config(config: dict[str, Any]) -> Optimizer:
    """Rebuilds an optimizer from `Optimizer.config()`."""
    cls = _BY_NAME.get(config.get("kind"))  # type: ignore[arg-type]
    if cls is None:
        raise ValueError(f"unknown optimizer {config.get('kind')!r}")
    return cls(schedule_from_spec(config["schedule"]), **config.get("hyper", {}))
