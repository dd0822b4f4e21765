"""`Sequential`: a network of L layers and the training process of section 7."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from deepnet import _core
from deepnet._validation import (
    as_float_array,
    check_dtype_name,
    check_name,
    check_optional_nonneg_float,
    check_positive_float,
    check_positive_int,
)
from deepnet.history import History
from deepnet.layers import Layer

LOSSES: tuple[str, ...] = tuple(_core.LOSSES)


class Sequential:
    """A deep network: layers one after the other (figure 4), trained by gradient descent.

    Parameters
    ----------
    layers : list of Layer
        The layers 1..L, e.g. ``[Dense(64, activation="relu"), Dense(10, activation="softmax")]``.
    n_x : int, optional
        Number of inputs. If omitted, the network is built at the first call to `fit` (or
        `predict`, `cost`, ...) from the number of rows of X.
    loss : str
        The cost J: "binary_crossentropy", "categorical_crossentropy" or "mse".
    seed : int, default 0
        Seeds the initialization (He for relu-like layers, Glorot otherwise) and the shuffling
        of mini-batches: the same seed gives bit-identical parameters and training.
    dtype : {"float32", "float64"}, default "float32"
        What the network computes in. Inputs of another dtype are converted (never modified).

    Attributes
    ----------
    layers : list of Layer
        ``layers[l - 1]`` is layer l; dense layers expose ``W`` (n^[l], n^[l-1]) and
        ``b`` (n^[l], 1).

    Examples
    --------
    XOR, the lecture's example of a function that depth makes cheap:

    >>> import numpy as np, deepnet as dn
    >>> X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]])      # (n_x, m): one column per example
    >>> Y = np.array([[0, 1, 1, 0]])                    # (n_y, m)
    >>> model = dn.Sequential([dn.Dense(8, activation="tanh"),
    ...                        dn.Dense(1, activation="sigmoid")],
    ...                       n_x=2, loss="binary_crossentropy", seed=0)
    >>> history = model.fit(X, Y, epochs=2000, learning_rate=1.0, batch_size=None, verbose=0)
    >>> (model.predict(X) > 0.5).astype(int)
    array([[0, 1, 1, 0]])
    """

    def __init__(
        self,
        layers: Sequence[Layer],
        n_x: int | None = None,
        loss: str | None = None,
        seed: int = 0,
        dtype: str = "float32",
    ) -> None:
        if isinstance(layers, Layer) or not isinstance(layers, Sequence):
            raise TypeError(f"layers: expected a list of layers, got {type(layers).__name__}")
        if len(layers) == 0:
            raise ValueError("layers: expected at least one layer, got an empty list")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(
                    f"layers[{i}]: expected a deepnet layer such as Dense(...), got {layer!r}"
                )
        if loss is None:
            raise ValueError(f"loss: a loss is required, one of {list(LOSSES)}")
        self.loss = check_name(loss, "loss", LOSSES)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.dtype = check_dtype_name(dtype)
        self.layers = list(layers)
        for i, layer in enumerate(self.layers):
            layer._attach(self, i)
        self.n_x: int | None = None
        self._net: Any = None
        if n_x is not None:
            self._build(check_positive_int(n_x, "n_x"))

    # -- building ---------------------------------------------------------------------------

    @property
    def built(self) -> bool:
        """Whether the parameters exist (n_x is known)."""
        return self._net is not None

    def _build(self, n_x: int) -> None:
        self._net = _core.Network(
            [layer.spec() for layer in self.layers], [n_x], self.loss, self.dtype, self.seed
        )
        self.n_x = n_x

    @property
    def n_y(self) -> int:
        """Number of outputs (n^[L])."""
        if not self.built:
            raise RuntimeError("the model is not built yet: give n_x or call fit first")
        return int(self._net.layer_info(len(self.layers) - 1)["output_shape"][0])

    def _ensure_built(self, X: np.ndarray) -> None:
        if not self.built:
            self._build(X.shape[0])

    # -- input checks -----------------------------------------------------------------------

    def _x(self, X: Any) -> np.ndarray:
        X = as_float_array(X, "X", self.dtype, 2, "of shape (n_x, m), one column per example")
        self._ensure_built(X)
        if X.shape[0] != self.n_x:
            raise ValueError(
                f"X: expected shape ({self.n_x}, m) with one column per example, got {X.shape}"
                + (" (did you pass X transposed?)" if X.shape[1] == self.n_x else "")
            )
        return X

    def _xy(self, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray]:
        X = self._x(X)
        Y = as_float_array(Y, "Y", self.dtype, 2, "of shape (n_y, m), one column per example")
        n_y = self.n_y
        if Y.shape != (n_y, X.shape[1]):
            raise ValueError(
                f"Y: expected shape ({n_y}, {X.shape[1]}) (n_y outputs, one column per example "
                f"of X), got {Y.shape}"
            )
        return X, Y

    # -- the lecture's computations ---------------------------------------------------------

    def predict(self, X: Any) -> np.ndarray:
        """Ŷ = A^[L] for inputs X, eqs (9)–(10) through every layer.

        Parameters
        ----------
        X : array-like of shape (n_x, m)

        Returns
        -------
        ndarray of shape (n_y, m), of the model's dtype
        """
        return self._net_call("predict", self._x(X))

    def cost(self, X: Any, Y: Any) -> float:
        """The cost J: the mean over the m examples of the per-example loss.

        Parameters
        ----------
        X : array-like of shape (n_x, m)
        Y : array-like of shape (n_y, m)

        Returns
        -------
        float
        """
        return float(self._net_call("cost", *self._xy(X, Y)))

    def evaluate(self, X: Any, Y: Any) -> dict[str, float]:
        """The cost J and, for the cross-entropy losses, the accuracy.

        Accuracy is the fraction of columns whose largest output is the one-hot class
        (categorical), or the fraction of outputs on the right side of 0.5 (binary).

        Returns
        -------
        dict with keys "cost" and, for classification, "accuracy"
        """
        X, Y = self._xy(X, Y)
        result = {"cost": float(self._net_call("cost", X, Y))}
        if self.loss != "mse":
            result["accuracy"] = accuracy(self._net_call("predict", X), Y, self.loss)
        return result

    def gradients(self, X: Any, Y: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """dW^[l] and db^[l] of every layer over all of X, Y, without updating anything.

        Eqs (11)–(15): (12) dW = (1/m) dZ A_prevᵀ, (13) db = (1/m) Σ_i dz^(i).

        Returns
        -------
        list of (dW, db), one per layer, of shapes (n^[l], n^[l-1]) and (n^[l], 1)
        """
        _, grads = self._net_call("gradients", *self._xy(X, Y))
        return [tuple(g) for g in grads]  # type: ignore[misc]

    def _net_call(self, method: str, *args: Any) -> Any:
        return getattr(self._net, method)(*args)

    # -- training ---------------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        Y: Any,
        epochs: int = 100,
        learning_rate: float = 0.1,
        batch_size: int | None = 32,
        shuffle: bool = True,
        target_cost: float | None = None,
        tol: float | None = None,
        verbose: int = 1,
    ) -> History:
        """Trains the network: the process of section 7.

        Each epoch runs forward (9)–(10), cost, backward (11)–(15) and update (16)–(17) on
        every mini-batch, in one call into Rust with the GIL released. Training stops at the
        epoch limit, when J <= `target_cost`, when J changes by less than `tol` between two
        epochs, or when J or a parameter becomes NaN or inf (the parameters are then those of
        the last finite epoch).

        Parameters
        ----------
        X : array-like of shape (n_x, m)
        Y : array-like of shape (n_y, m)
        epochs : int, default 100
            The epoch limit.
        learning_rate : float, default 0.1
            α of (16)–(17).
        batch_size : int or None, default 32
            Columns per mini-batch; None means all m (plain, full-batch gradient descent).
        shuffle : bool, default True
            Visit the examples in a new random order every epoch (from the model's seed).
        target_cost : float, optional
            Stop once J <= target_cost.
        tol : float, optional
            Stop once |J_epoch − J_previous epoch| < tol.
        verbose : {0, 1, 2}, default 1
            0 prints nothing, 1 a progress bar with J, 2 one line per epoch.

        Ctrl-C stops training within a fraction of a second, between two mini-batch steps, so
        the model stays consistent; ``model.history`` then holds the epochs completed (with
        ``stop_reason == "interrupted"``) and KeyboardInterrupt propagates.

        Returns
        -------
        History
        """
        X, Y = self._xy(X, Y)
        m = X.shape[1]
        epochs = check_positive_int(epochs, "epochs")
        learning_rate = check_positive_float(learning_rate, "learning_rate")
        batch = m if batch_size is None else min(check_positive_int(batch_size, "batch_size"), m)
        target_cost = check_optional_nonneg_float(target_cost, "target_cost")
        tol = check_optional_nonneg_float(tol, "tol")
        if verbose not in (0, 1, 2):
            raise ValueError(f"verbose: expected 0, 1 or 2, got {verbose!r}")
        history = History(
            {
                "epochs": epochs,
                "learning_rate": learning_rate,
                "batch_size": batch,
                "shuffle": bool(shuffle),
                "target_cost": target_cost,
                "tol": tol,
                "m": m,
            }
        )
        # Without per-epoch output the whole training is one call into Rust; with it, one
        # call per epoch (the progress report is then the slower part anyway).
        chunk = epochs if verbose == 0 else 1
        report = _progress(verbose, epochs)
        self.history = history
        done, previous = 0, None
        try:
            while done < epochs:
                costs, stop = self._net.fit(
                    X,
                    Y,
                    min(chunk, epochs - done),
                    batch,
                    learning_rate,
                    bool(shuffle),
                    target_cost,
                    tol,
                    previous,
                )
                for cost in costs:
                    done += 1
                    history.epoch.append(done)
                    history.history["cost"].append(cost)
                    report(done, cost, None)
                if costs:
                    previous = costs[-1]
                if stop == "diverged":
                    history.stop_reason = "diverged"
                    history.diverged_epoch = done + 1
                    report(done + 1, float("nan"), "diverged")
                    break
                if stop == "interrupted":
                    raise KeyboardInterrupt
                if stop != "epochs":
                    history.stop_reason = stop
                    break
        except KeyboardInterrupt:
            # the model is consistent: every layer was updated by the same complete steps
            history.stop_reason = "interrupted"
            raise
        finally:
            report(None, None, "close")
        return history

    # -- description ------------------------------------------------------------------------

    def summary(self, print_fn: Callable[[str], Any] | None = None) -> None:
        """Prints the block diagram (figure 5): each layer, n^[l], g^[l], W/b shapes, parameters.

        Parameters
        ----------
        print_fn : callable, default print
            Receives the whole summary as one string.
        """
        (print_fn or print)(self._summary_text())

    def _summary_text(self) -> str:
        head = ("layer", "type", "n^[l]", "activation", "W shape", "b shape", "parameters")
        rows = [head]
        if self.built:
            rows.append(("0 (X)", "input", str(self.n_x), "", "", "", ""))
        total = 0
        for l, layer in enumerate(self.layers, start=1):
            if self.built:
                info = self._net.layer_info(l - 1)
                shapes = dict(info["params"])
                n = int(sum(np.prod(s) for s in shapes.values()))
                total += n
                w, b, count = str(tuple(shapes["W"])), str(tuple(shapes["b"])), f"{n:,}"
            else:
                w = b = count = "?"
            rows.append((str(l), "dense", str(layer.units), layer.activation, w, b, count))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        right = {2, 6}
        lines = [
            "  ".join(
                c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))
            ).rstrip()
            for r in rows
        ]
        rule = "-" * len(max(lines, key=len))
        n_x = self.n_x if self.built else "?"
        title = (
            f"Sequential: n_x = {n_x}, L = {len(self.layers)}, loss = {self.loss}, "
            f"dtype = {self.dtype}"
        )
        total_line = f"total parameters: {total:,}" if self.built else "not built yet (n_x unknown)"
        return "\n".join([title, rule, lines[0], rule, *lines[1:], rule, total_line])

    def __repr__(self) -> str:
        inner = ", ".join(repr(layer) for layer in self.layers)
        return f"Sequential([{inner}], n_x={self.n_x}, loss={self.loss!r}, dtype={self.dtype!r})"

    # -- copies -----------------------------------------------------------------------------

    def copy(self, dtype: str | None = None) -> Sequential:
        """A new model with the same layers and parameters, optionally in another dtype."""
        layers = [type(layer)(**_layer_config(layer)) for layer in self.layers]
        clone = Sequential(
            layers, n_x=self.n_x, loss=self.loss, seed=self.seed, dtype=dtype or self.dtype
        )
        if self.built:
            for src, dst in zip(self.layers, clone.layers):
                for i, _ in enumerate(src.param_names):
                    dst._set(i, src._get(i))
        return clone


def _layer_config(layer: Layer) -> dict[str, Any]:
    spec = dict(layer.spec())
    spec.pop("type")
    return spec


def accuracy(yhat: np.ndarray, Y: np.ndarray, loss: str) -> float:
    """Classification accuracy of outputs `yhat` against targets `Y`, both (n_y, m)."""
    if loss == "categorical_crossentropy" and Y.shape[0] > 1:
        return float(np.mean(np.argmax(yhat, axis=0) == np.argmax(Y, axis=0)))
    return float(np.mean((yhat > 0.5) == (Y > 0.5)))


def _progress(verbose: int, epochs: int) -> Callable[[Any, Any, Any], None]:
    """A reporter for fit: nothing, a tqdm bar, or one line per epoch."""
    if verbose == 0:
        return lambda *_: None
    if verbose == 2:
        width = len(str(epochs))

        def line(epoch: Any, cost: Any, event: Any) -> None:
            if event == "close":
                return
            status = "diverged (J is NaN or inf)" if event == "diverged" else f"cost: {cost:.6g}"
            print(f"Epoch {epoch:>{width}}/{epochs} - {status}", file=sys.stdout, flush=True)

        return line
    from tqdm.auto import tqdm

    bar = tqdm(total=epochs, unit="epoch", leave=True, dynamic_ncols=True)

    def update(epoch: Any, cost: Any, event: Any) -> None:
        if event == "close":
            bar.close()
        elif event == "diverged":
            bar.set_postfix_str("diverged")
        else:
            bar.set_postfix(cost=f"{cost:.5g}", refresh=False)
            bar.update(1)

    return update
