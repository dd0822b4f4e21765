"""What `Sequential.fit` returns: J per epoch and why training stopped."""

from __future__ import annotations

from typing import Any

#: The reasons `fit` stops, as recorded in `History.stop_reason`.
STOP_REASONS = ("epochs", "target_cost", "converged", "diverged", "interrupted")


class History:
    """The record of one call to `Sequential.fit`.

    Attributes
    ----------
    history : dict[str, list[float]]
        ``history["cost"][k]`` is the cost J of epoch ``epoch[k]``: the mean of that epoch's
        mini-batch costs, each taken before its update (with one full batch, J at the
        parameters the epoch started from).
    epoch : list[int]
        The epochs run, counted from 1.
    stop_reason : str
        ``"epochs"`` (the epoch limit was reached), ``"target_cost"`` (J <= target_cost),
        ``"converged"`` (J changed by less than tol between two epochs) or ``"diverged"``
        (J or a parameter became NaN or inf) or ``"interrupted"`` (Ctrl-C).
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

    @property
    def cost(self) -> list[float]:
        """J per epoch (``history["cost"]``)."""
        return self.history["cost"]

    @property
    def diverged(self) -> bool:
        """Whether training stopped because J or a parameter became NaN or inf."""
        return self.stop_reason == "diverged"

    def __repr__(self) -> str:
        last = f", final cost={self.cost[-1]:.6g}" if self.cost else ""
        return f"History(epochs={len(self.epoch)}, stop_reason={self.stop_reason!r}{last})"
