"""scikit-learn estimators around `Sequential`: `DeepNetClassifier` and `DeepNetRegressor`.

scikit-learn puts one example per row, X of shape (n_samples, n_features); the lecture puts one
example per column, X of shape (n_x, m). The estimators take scikit-learn's rows and give the
network ``X.T`` (a view, no copy), so n_samples is m and n_features is n_x. With `input_shape`
each row is one example flattened in C order and the network gets
``X.T.reshape(*input_shape, n_samples)``: (channels, length, m) signals, (channels, height,
width, m) images or (features, time, m) sequences, still a view.

Both estimators pass scikit-learn's estimator checks, so they work in `Pipeline`,
`GridSearchCV`, `cross_val_score` and the other model-selection tools.

Examples
--------
>>> import numpy as np
>>> from deepnet.sklearn import DeepNetClassifier
>>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]] * 8, dtype=float)
>>> y = np.array(["no", "yes", "yes", "no"] * 8)
>>> clf = DeepNetClassifier(hidden_layer_sizes=(8,), activation="tanh", learning_rate=0.05,
...                         batch_size=None, epochs=300, random_state=0).fit(X, y)
>>> clf.predict([[0, 1], [1, 1]]).tolist(), clf.classes_.tolist()
(['yes', 'no'], ['no', 'yes'])
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from deepnet import optimizers as _optimizers
from deepnet._validation import check_positive_int
from deepnet.callbacks import EarlyStopping
from deepnet.history import History
from deepnet.layers import Dense, Flatten, Layer
from deepnet.model import Sequential

__all__ = ["DeepNetClassifier", "DeepNetRegressor"]

#: scikit-learn's MLP names for activations, accepted besides deepnet's own.
_ACTIVATION_ALIASES = {"identity": "linear", "logistic": "sigmoid"}

_COMMON_PARAMETERS = """
    hidden_layer_sizes : int or tuple of int, default (100,)
        n^[l] of each hidden layer: one ``Dense(n, activation, l2=l2)`` per entry (after a
        ``Flatten()`` when `input_shape` has several axes); ``()`` means no hidden layer.
        Ignored when `layers` is given.
    activation : str, default "relu"
        g^[l] of the hidden layers: "relu", "tanh", "sigmoid", "leaky_relu", "linear" (also
        scikit-learn's names "logistic" and "identity"). Ignored when `layers` is given.
    optimizer : {{"adam", "sgd", "momentum", "rmsprop"}} or Optimizer, default "adam"
        The update rule; "sgd" is exactly (16)–(17). An optimizer object contributes its
        hyperparameters (β1, β2, ...); the step size is always `learning_rate`.
    learning_rate : float or deepnet.optimizers.schedules object, default 1e-3
        α of the update.
    batch_size : int or None, default 32
        Examples per mini-batch (at most n_samples); None means full-batch gradient descent.
    epochs : int, default 200
        The most epochs one call to `fit` runs (scikit-learn's ``max_iter``).
    l2 : float, default 0.0
        λ of the L2 penalty (λ/2)‖W‖² added to J for every Dense layer the estimator makes
        (the output layer, and the hidden layers from `hidden_layer_sizes`); the layers of a
        `layers` template keep their own ``l2``.
    random_state : int, RandomState instance or None, default None
        Seeds the initialization, the shuffling and the early-stopping split: an int gives
        bit-identical results at every fit; None draws a fresh seed at every fit.
    layers : list of deepnet layers, callable returning one, or None, default None
        The hidden layers, used instead of `hidden_layer_sizes` and `activation`, e.g.
        ``[Conv1D(8, 5, activation="relu"), Flatten()]`` with ``input_shape=(1, 40)``. A
        template: every fit builds new layers from ``type(layer).from_config(
        layer.get_config())``, so the objects given are never changed. The estimator appends
        the output layer, a Dense layer: the template must end in vectors (a ``Flatten()``
        after convolutions, a recurrent layer without ``return_sequences``).
    input_shape : tuple of int or None, default None
        Shape of one example, e.g. (channels, length), (channels, height, width) or
        (features, time); each row of X is an example flattened in C order, so the product
        must equal n_features. None means (n_features,).
    early_stopping : bool, default False
        Hold out `validation_fraction` of the training data (shuffled with `random_state`{strat})
        and stop when its cost J has not improved by `tol` for `n_iter_no_change` epochs; the
        parameters of the best epoch are restored. The validation cost is weighted as the
        training cost is (`sample_weight`, `class_weight`).
    validation_fraction : float in (0, 1), default 0.1
        The fraction held out by `early_stopping`.
    n_iter_no_change : int, default 10
        Epochs without an improvement of `tol` after which training stops.
    tol : float, default 1e-4
        The improvement of J (the training J, or the validation J with `early_stopping`) that
        counts as progress.
    shuffle : bool, default True
        Visit the examples in a new random order every epoch.
    verbose : {{0, 1, 2}}, default 0
        0 prints nothing, 1 a progress bar (on a terminal), 2 one line per epoch.
    dtype : {{None, "float32", "float64"}}, default None
        What the network computes in; None: float32 when X is float32, else float64.
    warm_start : bool, default False
        When True, `fit` continues from the fitted network when it is compatible (same
        n_features, dtype and {outputs}) instead of initializing a new one."""

_FIT_DOC = """Trains a new network on X, y (or continues it, with `warm_start`).

        Every epoch runs, on each mini-batch, forward (9)–(10), the cost J, backward
        (11)–(15) and the optimizer's update ((16)–(17) for "sgd"), in Rust. With weights w_i
        the cost is J = Σ_i w_i L_i / Σ_i w_i (plus the L2 penalty): a weight 0 removes an
        example and, with full-batch training (``batch_size=None`` or >= n_samples), an integer
        weight k is the example repeated k times (mini-batches differ: they are drawn from the
        rows given).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One example per row (the network sees X.T, of shape (n_x, m)).
        y : {y_doc}
        sample_weight : array-like of shape (n_samples,), default None
            Non-negative weights w_i, not all zero; None means all 1.{cw_doc}

        Returns
        -------
        self"""


class _DeepNetEstimator(BaseEstimator):
    """What the classifier and the regressor share: parameters, data layout and training."""

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        optimizer: Any = "adam",
        learning_rate: Any = 1e-3,
        batch_size: int | None = 32,
        epochs: int = 200,
        l2: float = 0.0,
        random_state: Any = None,
        layers: Any = None,
        input_shape: tuple[int, ...] | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        shuffle: bool = True,
        verbose: int = 0,
        dtype: str | None = None,
        warm_start: bool = False,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.epochs = epochs
        self.l2 = l2
        self.random_state = random_state
        self.layers = layers
        self.input_shape = input_shape
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.shuffle = shuffle
        self.verbose = verbose
        self.dtype = dtype
        self.warm_start = warm_start

    # -- what each estimator defines --------------------------------------------------------

    def _targets(self, y: np.ndarray, w: np.ndarray | None, partial: bool) -> tuple[Any, int]:
        """y as the network's targets (labels (m,) or Y (n_y, m)), and n_y."""
        raise NotImplementedError

    def _output_layer(self, n_y: int) -> tuple[Dense, str]:
        """The output layer L and the loss."""
        raise NotImplementedError

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        return None

    # -- parameters -------------------------------------------------------------------------

    def _check_params(self) -> None:
        """Checks the parameters that the layers and `Sequential.fit` do not check themselves."""
        for name in ("early_stopping", "shuffle", "warm_start"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise TypeError(f"{name}: expected True or False, got {getattr(self, name)!r}")
        check_positive_int(self.epochs, "epochs")
        check_positive_int(self.n_iter_no_change, "n_iter_no_change")
        if self.batch_size is not None:
            check_positive_int(self.batch_size, "batch_size")
        tol = self.tol
        if isinstance(tol, bool) or not isinstance(tol, numbers.Real) or not tol >= 0:
            raise ValueError(f"tol: expected a number >= 0, got {tol!r}")
        frac = self.validation_fraction
        if isinstance(frac, bool) or not isinstance(frac, numbers.Real) or not 0 < frac < 1:
            raise ValueError(f"validation_fraction: expected a number in (0, 1), got {frac!r}")
        if isinstance(self.verbose, bool) or self.verbose not in (0, 1, 2):
            raise ValueError(f"verbose: expected 0, 1 or 2, got {self.verbose!r}")
        if self.dtype not in (None, "float32", "float64", np.float32, np.float64):
            raise ValueError(f"dtype: expected None, 'float32' or 'float64', got {self.dtype!r}")

    def _hidden_layers(self) -> list[Layer]:
        """New hidden layers: clones of the `layers` template, or Dense layers."""
        if self.layers is None:
            sizes = self.hidden_layer_sizes
            sizes = [sizes] if isinstance(sizes, numbers.Integral) else sizes
            if isinstance(sizes, (str, bytes)) or not isinstance(sizes, (Sequence, np.ndarray)):
                raise TypeError(
                    f"hidden_layer_sizes: expected a tuple of positive ints, got {sizes!r}"
                )
            if not isinstance(self.activation, str):
                raise TypeError(
                    f"activation: expected a name such as 'relu', got {self.activation!r}"
                )
            activation = _ACTIVATION_ALIASES.get(self.activation, self.activation)
            if activation == "softmax":
                raise ValueError("activation: softmax is for the output layer, not hidden ones")
            dense: list[Layer] = [Dense(n, activation=activation, l2=self.l2) for n in sizes]
            # Dense layers take vectors: examples of (C, L) or (C, H, W) are flattened first
            return [Flatten(), *dense] if len(self._input_shape) > 1 else dense
        template = self.layers() if callable(self.layers) else self.layers
        if isinstance(template, Layer) or not isinstance(template, Sequence):
            raise TypeError(f"layers: expected a list of deepnet layers, got {template!r}")
        for i, layer in enumerate(template):
            if not isinstance(layer, Layer):
                raise TypeError(f"layers[{i}]: expected a deepnet layer, got {layer!r}")
        return [layer.clone() for layer in template]

    def _example_shape(self, n_features: int) -> tuple[int, ...]:
        if self.input_shape is None:
            return (n_features,)
        shape = self.input_shape
        if (
            not isinstance(shape, (tuple, list))
            or len(shape) == 0
            or any(isinstance(n, bool) or not isinstance(n, numbers.Integral) for n in shape)
            or any(n <= 0 for n in shape)
        ):
            raise ValueError(f"input_shape: expected a tuple of positive ints, got {shape!r}")
        if math.prod(shape) != n_features:
            raise ValueError(
                f"input_shape={tuple(shape)} holds {math.prod(shape)} values per example, but X "
                f"has {n_features} features: each row must be one example flattened in C order"
            )
        return tuple(int(n) for n in shape)

    def _optimizer(self) -> _optimizers.Optimizer:
        """A new optimizer of the chosen rule at `learning_rate` (a rule already running in the
        model keeps its state: `Sequential.fit` only changes its rate)."""
        opt = self.optimizer
        if isinstance(opt, _optimizers.Optimizer):
            return type(opt)(self.learning_rate, **opt.hyper())
        return _optimizers.get(opt, self.learning_rate)

    # -- data -------------------------------------------------------------------------------

    def _columns(self, X: np.ndarray) -> np.ndarray:
        """Rows (n_samples, n_features) as the network's columns: a view, no copy."""
        shape = self._input_shape
        if len(shape) == 1:
            return X.T
        return X.T.reshape(*shape, X.shape[0])

    def _validate(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        if reset:
            dtype: Any = [np.float64, np.float32] if self.dtype is None else self.dtype
        else:
            dtype = self._dtype
        return validate_data(
            self,
            X,
            y,
            reset=reset,
            dtype=dtype,
            multi_output=isinstance(self, RegressorMixin),
            y_numeric=isinstance(self, RegressorMixin),
        )

    def _weights(self, sample_weight: Any, X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        """The w_i of J = Σ w_i L_i / Σ w_i, shape (n_samples,); None when none are given."""
        if sample_weight is None:
            return None
        return _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)

    # -- training ---------------------------------------------------------------------------

    def _fit(self, X: Any, y: Any, sample_weight: Any, partial: bool, classes: Any = None) -> Any:
        self._check_params()
        resume = partial and _fitted(self)
        X, y = self._validate(X, y, reset=not resume)
        if not resume:
            resume = not partial and self.warm_start and self._compatible(X, y)
            self._prepare_targets(y, classes)
        w = self._weights(sample_weight, X, y)
        Y, n_y = self._targets(y, w, partial)
        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        val = None
        if self.early_stopping and not partial and n_y > 0:
            X, Y, w, val = self._split(X, Y, w, y, rng)
        if not resume or n_y == 0 or self.model_ is None:
            self._build(X, n_y, seed)
        if self.model_ is None:  # a single class: nothing to train
            self.n_iter_ = 0
            return self
        if w is not None and np.all(w == w[0]):
            w = None  # equal weights leave J unchanged: the plain mean
        self._train(X, Y, w, val, partial)
        return self

    def _prepare_targets(self, y: np.ndarray, classes: Any) -> None:
        """Sets what the targets fix for a new network (classes_, n_outputs_)."""
        raise NotImplementedError

    def _compatible(self, X: np.ndarray, y: np.ndarray) -> bool:
        """Whether `warm_start` can continue the fitted network on X, y."""
        model = getattr(self, "model_", None)
        return (
            _fitted(self)
            and model is not None
            and model.input_shape == self._example_shape(X.shape[1])
            and model.dtype == X.dtype.name
        )

    def _build(self, X: np.ndarray, n_y: int, seed: int) -> None:
        """A new network: the hidden layers, then the output layer (none for n_y = 0)."""
        self._input_shape = self._example_shape(X.shape[1])
        self._dtype = X.dtype.name
        # unfitted until the first epoch is recorded
        self.__dict__.pop("n_iter_", None)
        self.loss_curve_: list[float] = []
        self.best_loss_: float | None = None
        self.validation_loss_curve_: list[float] | None = None
        self.best_validation_loss_: float | None = None
        self.history_: History | None = None
        self.model_: Sequential | None = None
        if n_y == 0:
            return
        output, loss = self._output_layer(n_y)
        self.model_ = Sequential(
            [*self._hidden_layers(), output],
            input_shape=self._input_shape,
            loss=loss,
            seed=seed,
            dtype=self._dtype,
        )

    def _split(
        self, X: np.ndarray, Y: Any, w: np.ndarray | None, y: np.ndarray, rng: Any
    ) -> tuple[np.ndarray, Any, np.ndarray | None, tuple[Any, ...]]:
        """Holds out `validation_fraction` of the examples (stratified for classifiers), with
        their weights when there are any."""
        try:
            train, held = train_test_split(
                np.arange(X.shape[0]),
                test_size=self.validation_fraction,
                random_state=rng,
                stratify=self._stratify(y),
            )
        except ValueError as err:
            raise ValueError(
                f"early_stopping: cannot hold out validation_fraction="
                f"{self.validation_fraction} of {X.shape[0]} examples: {err}"
            ) from None

        def take(T: Any, rows: np.ndarray) -> Any:
            return T[rows] if T.ndim == 1 else T[:, rows]

        val: tuple[Any, ...] = (X[held], take(Y, held))
        if w is not None:
            for part, rows in (("training", train), ("validation", held)):
                if not np.any(w[rows]):
                    raise ValueError(
                        f"early_stopping: the sample weights of the {part} part are all zero"
                    )
            # the validation cost is weighted as the training cost is
            val = (*val, w[held])
            w = w[train]
        return X[train], take(Y, train), w, val

    def _train(
        self,
        X: np.ndarray,
        Y: Any,
        w: np.ndarray | None,
        val: tuple[Any, ...] | None,
        partial: bool,
    ) -> None:
        """`Sequential.fit` on the network's columns, stopping as MLPClassifier does."""
        if val is not None:
            val = (self._columns(val[0]), *val[1:])
        model = self.model_
        assert model is not None
        # MLPClassifier's rule: stop when the cost has not improved by tol for
        # n_iter_no_change epochs; on the training cost it is checked in Rust (the whole
        # training is one call), on the validation cost by a callback after each epoch
        stopper = None
        if not partial and val is not None:
            stopper = EarlyStopping(
                monitor="val_cost",
                patience=self.n_iter_no_change,
                min_delta=float(self.tol),
                restore_best_weights=True,
            )
        before = model.history
        try:
            model.fit(
                self._columns(X),
                Y,
                epochs=1 if partial else self.epochs,
                batch_size=self.batch_size,
                shuffle=bool(self.shuffle),
                verbose=self.verbose,
                optimizer=self._optimizer(),
                validation_data=val,
                callbacks=None if stopper is None else [stopper],
                sample_weight=w,
                tol=None if partial or val is not None else float(self.tol),
                patience=None if partial or val is not None else self.n_iter_no_change,
            )
        finally:
            # also after Ctrl-C: the epochs completed are kept, as Sequential keeps them
            if model.history is not before and model.history is not None:
                self._record(model.history, partial)

    def _record(self, history: History, partial: bool) -> None:
        self.history_ = history
        self.n_iter_ = self.__dict__.get("n_iter_", 0) + len(history.epoch)
        self.loss_curve_ += history.cost
        finite = [j for j in self.loss_curve_ if math.isfinite(j)]
        self.best_loss_ = min(finite) if finite else None
        if "val_cost" in history.history:
            curve = (self.validation_loss_curve_ or []) + history.history["val_cost"]
            self.validation_loss_curve_ = curve
            self.best_validation_loss_ = min(curve)
        name = type(self).__name__
        if history.stop_reason == "diverged":
            warnings.warn(
                f"{name}: training diverged (J became NaN or inf) in epoch "
                f"{history.diverged_epoch}; the parameters are those of the epoch before. "
                "Lower learning_rate or scale X.",
                ConvergenceWarning,
                stacklevel=5,
            )
        elif history.stop_reason == "epochs" and not partial:
            warnings.warn(
                f"{name}: the epoch limit ({self.epochs}) was reached while J still improved "
                f"by more than tol={self.tol}; raise epochs to train longer.",
                ConvergenceWarning,
                stacklevel=5,
            )

    # -- prediction -------------------------------------------------------------------------

    def _forward(self, X: Any) -> np.ndarray:
        """Ŷ = A^[L] (9)–(10) for rows X: shape (n_y, n_samples)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=self._dtype)
        assert self.model_ is not None
        return self.model_.predict(self._columns(X))

    def __sklearn_is_fitted__(self) -> bool:
        return _fitted(self)


class DeepNetClassifier(ClassifierMixin, _DeepNetEstimator):
    __doc__ = f"""A deep network classifier: the lecture's network with a sigmoid or softmax output.

    The estimator appends the output layer L to the hidden layers: ``Dense(1, "sigmoid")`` with
    the binary cross-entropy for two classes, ``Dense(n_classes, "softmax")`` with the
    categorical cross-entropy for more. Labels may be of any type (`classes_`). With a single
    class (or a single class of positive weight) no network is trained and that class is
    predicted.

    Parameters
    ----------{_COMMON_PARAMETERS.format(strat=", stratified by class", outputs="classes")}
    class_weight : dict, "balanced" or None, default None
        Weights of the classes, multiplied into `sample_weight`: ``{{label: weight}}``, or
        "balanced" for n_samples / (n_classes · count of the class).

    Attributes
    ----------
    model_ : deepnet.Sequential or None
        The trained network; None when only one class was seen (or only one had a positive
        weight).
    classes_ : ndarray of shape (n_classes,)
        The class labels; output k of the network is the probability of ``classes_[k]``.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X had column names (a DataFrame).
    n_iter_ : int
        Epochs run since the network was initialized (over every warm-start fit and
        `partial_fit` call).
    loss_curve_ : list of float
        The training cost J of each of those epochs.
    best_loss_ : float or None
        The smallest J in `loss_curve_`.
    validation_loss_curve_ : list of float or None
        The validation cost of each epoch, with `early_stopping`.
    best_validation_loss_ : float or None
        The smallest validation cost: that epoch's parameters are the ones kept.
    history_ : deepnet.History or None
        What the last call to `Sequential.fit` returned.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from deepnet.sklearn import DeepNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), DeepNetClassifier(hidden_layer_sizes=(16,),
    ...                     learning_rate=0.01, epochs=100, random_state=0)).fit(X, y)
    >>> clf.score(X, y) > 0.95, clf.predict_proba(X[:2]).shape
    (True, (2, 3))
    """

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        optimizer: Any = "adam",
        learning_rate: Any = 1e-3,
        batch_size: int | None = 32,
        epochs: int = 200,
        l2: float = 0.0,
        random_state: Any = None,
        layers: Any = None,
        input_shape: tuple[int, ...] | None = None,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        n_iter_no_change: int = 10,
        tol: float = 1e-4,
        shuffle: bool = True,
        verbose: int = 0,
        dtype: str | None = None,
        warm_start: bool = False,
        class_weight: Any = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes=hidden_layer_sizes,
            activation=activation,
            optimizer=optimizer,
            learning_rate=learning_rate,
            batch_size=batch_size,
            epochs=epochs,
            l2=l2,
            random_state=random_state,
            layers=layers,
            input_shape=input_shape,
            early_stopping=early_stopping,
            validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change,
            tol=tol,
            shuffle=shuffle,
            verbose=verbose,
            dtype=dtype,
            warm_start=warm_start,
        )
        self.class_weight = class_weight

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> DeepNetClassifier:
        return self._fit(X, y, sample_weight, partial=False)

    fit.__doc__ = _FIT_DOC.format(
        y_doc="array-like of shape (n_samples,)\n            Class labels of any type.",
        cw_doc=" Multiplied by the weights of `class_weight`.",
    )

    def partial_fit(
        self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None
    ) -> DeepNetClassifier:
        """One epoch over X, y, continuing the network (a new one at the first call).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        classes : array-like of shape (n_classes,), default None
            Every class of the problem; required at the first call, which fixes `classes_`.
        sample_weight : array-like of shape (n_samples,), default None

        Returns
        -------
        self
        """
        if not _fitted(self) and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        if _fitted(self) and classes is not None:
            given = np.unique(np.asarray(classes))
            if not np.array_equal(given, self.classes_):
                raise ValueError(
                    f"classes={given.tolist()} is not the same as classes_="
                    f"{self.classes_.tolist()} of the first call to partial_fit"
                )
        if isinstance(self.class_weight, str) and self.class_weight == "balanced":
            raise ValueError(
                "class_weight='balanced' needs the whole y and is not supported by "
                "partial_fit: give a dict of class weights"
            )
        return self._fit(X, y, sample_weight, partial=True, classes=classes)

    def _validate(self, X: Any, y: Any, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        X, y = super()._validate(X, y, reset)
        check_classification_targets(y)
        return X, y

    def _prepare_targets(self, y: np.ndarray, classes: Any) -> None:
        self.classes_ = np.unique(y if classes is None else np.asarray(classes))

    def _compatible(self, X: np.ndarray, y: np.ndarray) -> bool:
        return super()._compatible(X, y) and np.array_equal(self.classes_, np.unique(y))

    def _labels(self, y: np.ndarray) -> np.ndarray:
        """The index in classes_ of each label, shape (n_samples,)."""
        index = np.searchsorted(self.classes_, y).clip(0, len(self.classes_) - 1)
        unknown = self.classes_[index] != y
        if np.any(unknown):
            raise ValueError(
                f"y contains labels not in classes_ {self.classes_.tolist()}: "
                f"{np.unique(y[unknown]).tolist()}"
            )
        return index.astype(np.int64)

    def _weights(self, sample_weight: Any, X: np.ndarray, y: np.ndarray) -> np.ndarray | None:
        w = super()._weights(sample_weight, X, y)
        cw = self.class_weight
        if cw is None:
            return w
        if isinstance(cw, str) and cw == "balanced":
            by_example = compute_sample_weight("balanced", y)
        elif isinstance(cw, dict):
            extra = [key for key in cw if not np.any(self.classes_ == key)]
            if extra:
                raise ValueError(
                    f"class_weight: the classes {extra} are not in classes_ "
                    f"{self.classes_.tolist()}"
                )
            by_class = np.array([float(cw.get(c, 1.0)) for c in self.classes_.tolist()])
            if not np.all(np.isfinite(by_class) & (by_class >= 0)):
                raise ValueError(f"class_weight: expected finite weights >= 0, got {cw!r}")
            by_example = by_class[self._labels(y)]
        else:
            raise ValueError(f"class_weight: expected None, 'balanced' or a dict, got {cw!r}")
        w = by_example if w is None else w * by_example
        if not np.any(w):
            raise ValueError("the sample weights (times class_weight) are all zero")
        return w

    def _targets(self, y: np.ndarray, w: np.ndarray | None, partial: bool) -> tuple[Any, int]:
        """Class indices (deepnet one-hot encodes them) and n_y; n_y = 0 when only one class
        is seen, or only one has positive weight in `fit` (then it is always predicted)."""
        labels = self._labels(y)
        n = len(self.classes_)
        weighted = np.unique(labels if partial or w is None else labels[w > 0])
        self._constant: int | None = None
        if n == 1 or (not partial and len(weighted) == 1):
            self._constant = int(weighted[0])
            return labels, 0
        return labels, 1 if n == 2 else n

    def _output_layer(self, n_y: int) -> tuple[Dense, str]:
        if n_y == 1:
            return Dense(1, activation="sigmoid", l2=self.l2), "binary_crossentropy"
        return Dense(n_y, activation="softmax", l2=self.l2), "categorical_crossentropy"

    def _stratify(self, y: np.ndarray) -> np.ndarray | None:
        return y

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities Ŷ = A^[L], forward (9)–(10), one row per example.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Column k is the probability of ``classes_[k]``; for two classes the network's
            sigmoid output p gives the columns [1 − p, p].
        """
        check_is_fitted(self)
        if self._constant is not None:
            X = validate_data(self, X, reset=False, dtype=self._dtype)
            proba = np.zeros((X.shape[0], len(self.classes_)), dtype=self._dtype)
            proba[:, self._constant] = 1
            return proba
        yhat = self._forward(X)
        if yhat.shape[0] == 1:
            return np.stack([1 - yhat[0], yhat[0]], axis=1)
        return yhat.T

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """The logarithm of `predict_proba`, shape (n_samples, n_classes)."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each row, shape (n_samples,), from `classes_`."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


class DeepNetRegressor(RegressorMixin, _DeepNetEstimator):
    __doc__ = f"""A deep network regressor: the lecture's network with a linear output and the mean
    squared error.

    The estimator appends ``Dense(n_outputs)`` (linear) to the hidden layers and trains with
    the loss "mse". y may have one output, shape (n_samples,), or several, (n_samples,
    n_outputs); predictions have the same shape.

    Parameters
    ----------{_COMMON_PARAMETERS.format(strat="", outputs="number of outputs")}

    Attributes
    ----------
    model_ : deepnet.Sequential
        The trained network.
    n_outputs_ : int
        n_y, the number of outputs.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        When X had column names (a DataFrame).
    n_iter_ : int
        Epochs run since the network was initialized (over every warm-start fit and
        `partial_fit` call).
    loss_curve_ : list of float
        The training cost J of each of those epochs.
    best_loss_ : float or None
        The smallest J in `loss_curve_`.
    validation_loss_curve_ : list of float or None
        The validation cost of each epoch, with `early_stopping`.
    best_validation_loss_ : float or None
        The smallest validation cost: that epoch's parameters are the ones kept.
    history_ : deepnet.History or None
        What the last call to `Sequential.fit` returned.

    Examples
    --------
    >>> import numpy as np
    >>> from deepnet.sklearn import DeepNetRegressor
    >>> X = np.linspace(-1, 1, 64).reshape(-1, 1)
    >>> y = X[:, 0] ** 2
    >>> reg = DeepNetRegressor(hidden_layer_sizes=(16,), activation="tanh", learning_rate=0.01,
    ...                        epochs=300, random_state=0).fit(X, y)
    >>> reg.score(X, y) > 0.95, reg.predict(X[:3]).shape
    (True, (3,))
    """

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> DeepNetRegressor:
        return self._fit(X, y, sample_weight, partial=False)

    fit.__doc__ = _FIT_DOC.format(
        y_doc="array-like of shape (n_samples,) or (n_samples, n_outputs)",
        cw_doc="",
    )

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> DeepNetRegressor:
        """One epoch over X, y, continuing the network (a new one at the first call).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default None

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, partial=True)

    def _prepare_targets(self, y: np.ndarray, classes: Any) -> None:
        self.n_outputs_ = 1 if y.ndim == 1 else y.shape[1]
        self._one_output = y.ndim == 1

    def _compatible(self, X: np.ndarray, y: np.ndarray) -> bool:
        return (
            super()._compatible(X, y)
            and (y.ndim == 1) == self._one_output
            and (self.n_outputs_ == (1 if y.ndim == 1 else y.shape[1]))
        )

    def _targets(self, y: np.ndarray, w: np.ndarray | None, partial: bool) -> tuple[Any, int]:
        """Y of shape (n_y, m): a view of y."""
        n_y = 1 if y.ndim == 1 else y.shape[1]
        if n_y != self.n_outputs_ or (y.ndim == 1) != self._one_output:
            raise ValueError(
                f"y: expected shape (n_samples,{'' if self._one_output else f' {self.n_outputs_}'})"
                f" as in the first call to partial_fit, got {y.shape}"
            )
        return (y.reshape(1, -1) if y.ndim == 1 else y.T), n_y

    def _output_layer(self, n_y: int) -> tuple[Dense, str]:
        return Dense(n_y, activation="linear", l2=self.l2), "mse"

    def predict(self, X: Any) -> np.ndarray:
        """Ŷ = A^[L] (9)–(10) for each row: shape (n_samples,) when y was 1-D, else
        (n_samples, n_outputs)."""
        yhat = self._forward(X)
        return yhat[0] if self._one_output else yhat.T

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


def _fitted(estimator: Any) -> bool:
    return hasattr(estimator, "n_iter_")
