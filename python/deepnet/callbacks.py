"""Callbacks: code that `Sequential.fit` runs at the start and end of training and of each epoch.

The protocol is Keras': a callback subclasses `Callback` and overrides some of its hooks;
``fit(..., callbacks=[...])`` gives each callback the model (`Callback.model`) and fit's
arguments (`Callback.params`, e.g. ``params["epochs"]``), then calls

- ``on_train_begin(logs)`` once,
- ``on_epoch_begin(epoch, logs)`` and ``on_epoch_end(epoch, logs)`` for every epoch, counted
  from 1 as in `History.epoch`,
- ``on_train_end(logs)`` once, however training stops.

The ``logs`` of ``on_epoch_end`` hold that epoch's numbers, among "cost" (J, L2 penalty
included), "data_cost" (J without the penalty, only when a layer has one), "accuracy"
(classifiers), "val_cost" and "val_accuracy" (with validation data). When J
or a parameter becomes NaN or inf, fit calls ``on_epoch_end`` one last time for the epoch that
diverged with ``{"cost": nan, "diverged": True}``.

A callback stops training after the current epoch by setting ``self.model.stop_training =
True``; it may also set ``self.model.stop_reason`` to a short string, which fit records in
`History.stop_reason` (``"callback"`` when it is left unset).

`ProgressBar` and `EpochLogger` are what ``fit(verbose=1)`` and ``fit(verbose=2)`` use;
`EarlyStopping` stops when a monitored number stops improving; `LambdaCallback` turns plain
functions into a callback.

Examples
--------
`EpochLogger` driven by hand, as fit drives it:

>>> from deepnet.callbacks import EpochLogger
>>> logger = EpochLogger()
>>> logger.set_params({"epochs": 100})
>>> logger.on_epoch_end(3, {"cost": 0.1234, "accuracy": 0.95, "val_cost": 0.2})
Epoch 3/100 - cost: 0.1234 - accuracy: 0.9500 - val_cost: 0.2000

With fit (the model and data being the caller's)::

    stop = EarlyStopping(monitor="val_cost", patience=10)
    history = model.fit(X, Y, epochs=1000, validation_data=(X_val, Y_val), callbacks=[stop])
    history.stop_reason, stop.best_epoch   # "early_stopping", the epoch whose weights remain
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable
from typing import Any, Callable, TextIO

__all__ = [
    "Callback",
    "CallbackList",
    "EarlyStopping",
    "EpochLogger",
    "LambdaCallback",
    "ProgressBar",
]

Logs = dict[str, Any]


class Callback:
    """Base class of callbacks: every hook does nothing until a subclass overrides it.

    Attributes
    ----------
    model : Sequential or None
        The model being trained, set by `set_model` before training starts. Setting
        ``model.stop_training = True`` stops fit after the current epoch, and
        ``model.stop_reason`` says why (recorded in `History.stop_reason`).
    params : dict
        The arguments of fit (``"epochs"``, ``"batch_size"``, ...), set by `set_params`.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        """Gives the callback the model it observes."""
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        """Gives the callback fit's arguments."""
        self.params = params

    def on_train_begin(self, logs: Logs | None = None) -> None:
        """Called once, before the first epoch."""

    def on_train_end(self, logs: Logs | None = None) -> None:
        """Called once at the end of training, however it stopped (Ctrl-C included)."""

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the start of epoch `epoch` (counted from 1)."""

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        """Called at the end of epoch `epoch` (counted from 1) with that epoch's `logs`."""


class CallbackList:
    """Several callbacks called as one: each hook calls the callbacks' hooks in list order.

    Parameters
    ----------
    callbacks : iterable of Callback, optional
        The callbacks, called in this order.
    model : Sequential, optional
        Given to every callback with `Callback.set_model`.
    params : dict, optional
        Given to every callback with `Callback.set_params`.
    """

    def __init__(
        self,
        callbacks: Iterable[Callback] | None = None,
        model: Any = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.callbacks: list[Callback] = []
        self.model = model
        self.params = {} if params is None else params
        for callback in callbacks or []:
            self.append(callback)

    def append(self, callback: Callback) -> None:
        """Adds a callback at the end, giving it the model and the params."""
        if not isinstance(callback, Callback):
            raise TypeError(
                f"callbacks: expected deepnet.callbacks.Callback instances, got {callback!r}"
            )
        callback.set_model(self.model)
        callback.set_params(self.params)
        self.callbacks.append(callback)

    def __iter__(self) -> Any:
        return iter(self.callbacks)

    def __len__(self) -> int:
        return len(self.callbacks)

    def on_train_begin(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_train_begin(logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_train_end(logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = {} if logs is None else logs
        for callback in self.callbacks:
            callback.on_epoch_end(epoch, logs)


# -- progress reports --------------------------------------------------------------------------

#: The logs a progress bar shows, in this order.
_BAR_KEYS = ("cost", "accuracy", "val_cost", "val_accuracy")


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # None, closed, or not a file
        return False


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (whose output is not a terminal but shows bars)."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
        return shell is not None and "IPKernelApp" in shell.config
    except Exception:  # an unusual IPython: no bar rather than a failure
        return False


class ProgressBar(Callback):
    """A tqdm progress bar over the epochs, with the latest cost and accuracy as its postfix.

    What ``fit(verbose=1)`` shows. The bar counts ``params["epochs"]`` epochs and shows
    "cost", "accuracy", "val_cost" and "val_accuracy" of the last epoch, those present, to 4
    significant digits. It is written to standard error (tqdm's default) and closed at the end
    of training.

    Parameters
    ----------
    force : bool or None, default None
        None shows the bar only when standard output is a terminal (``sys.stdout.isatty()``)
        or in a Jupyter notebook, so that logs and redirected output get no bar; True always
        shows it; False never does.

    Attributes
    ----------
    bar : tqdm.tqdm or None
        The bar while training runs with the bar on; None otherwise.
    """

    def __init__(self, force: bool | None = None) -> None:
        super().__init__()
        if force is not None and not isinstance(force, bool):
            raise TypeError(f"ProgressBar force: expected None, True or False, got {force!r}")
        self.force = force
        self.bar: Any = None

    def enabled(self) -> bool:
        """Whether a bar is shown now (see `force`)."""
        if self.force is not None:
            return self.force
        return _is_terminal(sys.stdout) or _in_notebook()

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._close()
        if not self.enabled():
            return
        from tqdm.auto import tqdm

        self.bar = tqdm(
            total=self.params.get("epochs"), unit="epoch", leave=True, dynamic_ncols=True
        )

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self.bar is None:
            return
        logs = logs or {}
        if logs.get("diverged"):
            self.bar.set_postfix_str("diverged: J is NaN or inf")
            return
        postfix = {key: _short(logs[key]) for key in _BAR_KEYS if key in logs}
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(max(epoch - self.bar.n, 0))

    def on_train_end(self, logs: Logs | None = None) -> None:
        self._close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _short(value: Any) -> str:
    """A number for the progress bar: 4 significant digits."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"{float(value):.4g}"
    return str(value)


def format_value(value: Any) -> str:
    """A number as `EpochLogger` prints it (Keras' style).

    Floats get 4 decimals (``0.9500``), or 4 decimals in scientific notation when their
    magnitude is below 1e-3 (``1.2500e-05``), so small costs keep their digits; integers and
    anything else are printed as they are.

    Examples
    --------
    >>> format_value(0.95), format_value(1.25e-5), format_value(0.0), format_value(7)
    ('0.9500', '1.2500e-05', '0.0000', '7')
    """
    if isinstance(value, bool) or isinstance(value, numbers.Integral):
        return str(value)
    if isinstance(value, numbers.Real):
        value = float(value)
        if value != 0.0 and math.isfinite(value) and abs(value) < 1e-3:
            return f"{value:.4e}"
        return f"{value:.4f}"
    return str(value)


class EpochLogger(Callback):
    """Prints one line per epoch: ``Epoch 3/100 - cost: 0.1234 - accuracy: 0.9500 - ...``.

    What ``fit(verbose=2)`` prints. Every key of the epoch's logs appears, in the logs'
    order, formatted by `format_value` (4 decimals; scientific notation below 1e-3). For the
    epoch in which J became NaN or inf (logs with ``"diverged": True``) the line says so
    instead: ``Epoch 4/100 - diverged: the cost J became NaN or inf``. Without
    ``params["epochs"]`` the line starts ``Epoch 3 - ``.

    Parameters
    ----------
    file : text stream, optional
        Where to print; by default ``sys.stdout`` as it is when each line is printed.
    """

    def __init__(self, file: TextIO | None = None) -> None:
        super().__init__()
        self.file = file

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        epochs = self.params.get("epochs")
        head = f"Epoch {epoch}/{epochs}" if epochs is not None else f"Epoch {epoch}"
        if logs.get("diverged"):
            parts = [head, "diverged: the cost J became NaN or inf"]
        else:
            parts = [head] + [f"{key}: {format_value(value)}" for key, value in logs.items()]
        print(
            " - ".join(parts), file=self.file if self.file is not None else sys.stdout, flush=True
        )


# -- early stopping ----------------------------------------------------------------------------


class EarlyStopping(Callback):
    """Stops training when a monitored number has stopped improving (Keras' EarlyStopping).

    After every epoch the monitored value of the logs is compared with the best so far: it
    improves when it is lower by more than `min_delta` (mode "min") or higher by more than
    `min_delta` (mode "max"). After `patience` epochs in a row without improvement the callback
    sets ``model.stop_training = True`` and ``model.stop_reason = "early_stopping"``, so fit
    stops after that epoch.

    Parameters
    ----------
    monitor : str, default "val_cost"
        The key of the epoch logs to watch, e.g. "val_cost", "val_accuracy", "cost". A
        "val_..." key needs validation data in fit (``validation_data`` or
        ``validation_split``); a key missing from the logs raises ValueError at the end of the
        first epoch, naming the keys there are.
    patience : int >= 0, default 5
        How many epochs without improvement to allow; 0 stops at the first one.
    min_delta : float >= 0, default 0.0
        The smallest change that counts as an improvement.
    mode : {"auto", "min", "max"}, default "auto"
        Whether lower or higher is better. "auto" is "max" when "accuracy" is in the monitored
        name and "min" otherwise.
    restore_best_weights : bool, default True
        Keep a copy of the parameters (`model.get_weights`) of the best epoch and put them
        back (`model.set_weights`) at the end of training whenever the last epoch run is not
        the best one: after an early stop (Keras restores at that moment; this is the same
        moment, as fit stops right after it), but also when training ends for another reason
        (the epoch limit, another callback, divergence) after the best epoch. The model then
        holds the weights whose monitored value is `best`. When False the last epoch's
        parameters stay.

    Attributes
    ----------
    best : float
        The best monitored value so far (inf for "min", -inf for "max" before the first epoch).
    best_epoch : int
        The epoch (from 1) that reached `best`; 0 before the first epoch.
    stopped_epoch : int
        The epoch after which this callback stopped training; 0 if it did not.
    wait : int
        Epochs since the last improvement.

    Notes
    -----
    An epoch in which training diverged (logs ``{"diverged": True}``) is ignored; fit stops
    after it anyway. A NaN monitored value never counts as an improvement. The weights are those
    at the end of the epoch, the point at which "val_cost" and "val_accuracy" are evaluated;
    "cost" and "accuracy" are means over the epoch's mini-batches, taken before each update.
    """

    def __init__(
        self,
        monitor: str = "val_cost",
        patience: int = 5,
        min_delta: float = 0.0,
        mode: str = "auto",
        restore_best_weights: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise TypeError(
                f"EarlyStopping monitor: expected the name of a log such as 'val_cost', "
                f"got {monitor!r}"
            )
        if isinstance(patience, bool) or not isinstance(patience, numbers.Integral):
            raise TypeError(f"EarlyStopping patience: expected an integer >= 0, got {patience!r}")
        if patience < 0:
            raise ValueError(f"EarlyStopping patience: expected an integer >= 0, got {patience!r}")
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real):
            raise TypeError(f"EarlyStopping min_delta: expected a number >= 0, got {min_delta!r}")
        if not math.isfinite(float(min_delta)) or min_delta < 0:
            raise ValueError(
                f"EarlyStopping min_delta: expected a finite number >= 0, got {min_delta!r}"
            )
        if not isinstance(mode, str) or mode not in ("auto", "min", "max"):
            raise ValueError(
                f"EarlyStopping mode: expected one of ['auto', 'min', 'max'], got {mode!r}"
            )
        if not isinstance(restore_best_weights, bool):
            raise TypeError(
                "EarlyStopping restore_best_weights: expected True or False, "
                f"got {restore_best_weights!r}"
            )
        self.monitor = monitor
        self.patience = int(patience)
        self.min_delta = float(min_delta)
        if mode == "auto":
            mode = "max" if "accuracy" in monitor else "min"
        self.mode = mode
        self.restore_best_weights = restore_best_weights
        self._reset()

    def _reset(self) -> None:
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch = 0
        self.stopped_epoch = 0
        self.wait = 0
        self.best_weights: list[Any] | None = None
        self._last_epoch = 0

    def _improves(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_train_begin(self, logs: Logs | None = None) -> None:
        self._reset()

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        logs = logs or {}
        if logs.get("diverged"):
            return
        if self.monitor not in logs:
            hint = (
                " (a 'val_' log needs validation data: pass validation_data or "
                "validation_split to fit)"
                if self.monitor.startswith("val_")
                else ""
            )
            raise ValueError(
                f"EarlyStopping monitor={self.monitor!r} is not in the epoch logs; available "
                f"keys: {list(logs)}{hint}"
            )
        value = float(logs[self.monitor])
        self._last_epoch = epoch
        if self._improves(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            self.model.stop_reason = "early_stopping"

    def on_train_end(self, logs: Logs | None = None) -> None:
        if (
            self.restore_best_weights
            and self.best_weights is not None
            and self.best_epoch != self._last_epoch
        ):
            self.model.set_weights(self.best_weights)


# -- functions as callbacks --------------------------------------------------------------------


class LambdaCallback(Callback):
    """A callback made of plain functions, one per hook (any may be left out).

    Parameters
    ----------
    on_epoch_end : callable(epoch, logs), optional
    on_epoch_begin : callable(epoch, logs), optional
    on_train_begin : callable(logs), optional
    on_train_end : callable(logs), optional

    Examples
    --------
    >>> from deepnet.callbacks import LambdaCallback
    >>> costs = []
    >>> record = LambdaCallback(on_epoch_end=lambda epoch, logs: costs.append(logs["cost"]))
    >>> record.on_epoch_end(1, {"cost": 0.5})
    >>> costs
    [0.5]
    """

    def __init__(
        self,
        on_epoch_end: Callable[[int, Logs], Any] | None = None,
        on_epoch_begin: Callable[[int, Logs], Any] | None = None,
        on_train_begin: Callable[[Logs], Any] | None = None,
        on_train_end: Callable[[Logs], Any] | None = None,
    ) -> None:
        super().__init__()
        functions = {
            "on_epoch_end": on_epoch_end,
            "on_epoch_begin": on_epoch_begin,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
        }
        for name, function in functions.items():
            if function is not None and not callable(function):
                raise TypeError(f"LambdaCallback {name}: expected a function, got {function!r}")
        self._functions = functions

    def on_train_begin(self, logs: Logs | None = None) -> None:
        if self._functions["on_train_begin"] is not None:
            self._functions["on_train_begin"](logs)

    def on_train_end(self, logs: Logs | None = None) -> None:
        if self._functions["on_train_end"] is not None:
            self._functions["on_train_end"](logs)

    def on_epoch_begin(self, epoch: int, logs: Logs | None = None) -> None:
        if self._functions["on_epoch_begin"] is not None:
            self._functions["on_epoch_begin"](epoch, logs)

    def on_epoch_end(self, epoch: int, logs: Logs | None = None) -> None:
        if self._functions["on_epoch_end"] is not None:
            self._functions["on_epoch_end"](epoch, logs)
