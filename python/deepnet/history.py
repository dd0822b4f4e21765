"""What `Sequential.fit` returns: J per epoch and why training stopped."""

from __future__ import annotations

from typing import Any

#: The reasons `fit` stops, as recorded in `History.stop_reason`.
STOP_REASONS = (
    "epochs",
    "target_cost",
    "converged",
    "diverged",
    "interrupted",
    "early_stopping",
    "callback",
    "error",
)


class History:
    """The record of one call to `Sequential.fit`.

    Attributes
    ----------
    history : dict[str, list[float]]
        ``history["cost"][k]`` is the cost J of epoch ``epoch[k]``: the mean of that epoch's
        mini-batch costs weighted by batch size (by the batch's total sample weight, with
        `sample_weight`), each taken before its update (with one full batch, J at the
        parameters the epoch started from), L2 penalty included. Also, when present:
        "data_cost" (J without the penalty), "accuracy" (training, classifiers), "val_cost"
        and "val_accuracy" (after each epoch, on the validation data).
    epoch : list[int]
        The epochs run, counted from 1.
    stop_reason : str
        ``"epochs"`` (the epoch limit was reached), ``"target_cost"`` (J <= target_cost),
        ``"converged"`` (J changed by less than tol between two epochs) or ``"diverged"``
        (J or a parameter became NaN or inf), ``"interrupted"`` (Ctrl-C),
        ``"early_stopping"`` (`callbacks.EarlyStopping`) or ``"callback"`` (another callback
        set ``model.stop_training``), or ``"error"`` (an exception, e.g. from a callback, ended
        fit; it is in `error` and fit raised it).
    error : Exception or None
        The exception that ended fit, when ``stop_reason == "error"``.
    diverged_epoch : int or None
        The epoch in which training diverged; the parameters are those at the end of the
        epoch before it.
    params : dict
        The arguments fit was called with (epochs, learning_rate, batch_size, ...).
    """

    def __init__(self, params: dict[str, Any]) -> None:
        self.params = dict(params)
        self.history: dict[str, list[float]] = {"cost": []}
        self.epoch: list[int] = []
        self.stop_reason = "epochs"
        self.diverged_epoch: int | None = None
        self.error: BaseException | None = None

    def _record(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(float(value))

    @property
    def cost(self) -> list[float]:
        """J per epoch (``history["cost"]``)."""
        return self.history["cost"]

    @property
    def diverged(self) -> bool:
        """Whether training stopped because J or a parameter became NaN or inf."""
        return self.stop_reason == "diverged"

    def plot(self, ax: Any = None) -> Any:
        """Draws J per epoch, with the validation cost and the accuracies when recorded.

        See `deepnet.plotting.plot_history` (needs matplotlib).

        Parameters
        ----------
        ax : matplotlib Axes, optional
            Where to draw; by default the Axes of a new figure.

        Returns
        -------
        matplotlib Axes
        """
        from deepnet.plotting import plot_history

        return plot_history(self, ax)

    def __repr__(self) -> str:
        last = f", final cost={self.cost[-1]:.6g}" if self.cost else ""
        return f"History(epochs={len(self.epoch)}, stop_reason={self.stop_reason!r}{last})"
