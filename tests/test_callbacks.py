"""deepnet.callbacks: the hook protocol, the progress reports of fit(verbose=1/2), EarlyStopping
(driven by a fake model and scripted logs) and, once fit takes callbacks, the same through a
real fit."""

from __future__ import annotations

import doctest
import io
import re
import sys

import deepnet as dn
import numpy as np
import pytest
from deepnet import callbacks as cb

# -- helpers -----------------------------------------------------------------------------------


class FakeModel:
    """The model contract callbacks rely on: one weight array that holds the epoch number."""

    def __init__(self) -> None:
        self.w = np.zeros(3)
        self.stop_training = False
        self.stop_reason = None
        self.set_calls = 0

    def get_weights(self):
        return [self.w.copy()]

    def set_weights(self, weights):
        self.set_calls += 1
        self.w = np.array(weights[0], copy=True)


def drive(callback, values, key="val_cost", model=None, epochs=None):
    """Runs a scripted training: epoch k sets the weights to k and reports values[k - 1] under
    `key`, stopping as fit would once the model's stop_training is set. Returns (model, epochs
    run)."""
    model = FakeModel() if model is None else model
    epochs = len(values) if epochs is None else epochs
    cbs = cb.CallbackList([callback], model, {"epochs": epochs})
    model.stop_training, model.stop_reason = False, None
    cbs.on_train_begin()
    run = 0
    for epoch, value in enumerate(values, start=1):
        cbs.on_epoch_begin(epoch)
        model.w[:] = epoch  # the "training" of this epoch
        cbs.on_epoch_end(epoch, {"cost": 1.0 / epoch, key: value})
        run = epoch
        if model.stop_training:
            break
    cbs.on_train_end()
    return model, run


class Recorder(cb.Callback):
    """Records every hook call as (name, tag, epoch or None, logs)."""

    def __init__(self, tag, calls):
        super().__init__()
        self.tag, self.calls = tag, calls

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin", self.tag, None, logs))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", self.tag, epoch, logs))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", self.tag, epoch, dict(logs)))

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", self.tag, None, logs))


class FakeTTY(io.StringIO):
    def isatty(self):
        return True


# -- Callback, CallbackList, LambdaCallback ------------------------------------------------------


def test_base_callback_stores_model_and_params_and_hooks_do_nothing():
    c = cb.Callback()
    assert c.model is None and c.params == {}
    model, params = FakeModel(), {"epochs": 3}
    c.set_model(model)
    c.set_params(params)
    assert c.model is model and c.params is params
    assert c.on_train_begin() is None and c.on_train_begin({"a": 1}) is None
    assert c.on_epoch_begin(1) is None and c.on_epoch_end(1, {"cost": 1.0}) is None
    assert c.on_train_end() is None
    assert not model.stop_training and model.set_calls == 0


def test_callback_list_calls_every_hook_on_every_callback_in_order():
    calls = []
    first, second = Recorder("first", calls), Recorder("second", calls)
    model, params = FakeModel(), {"epochs": 2}
    cbs = cb.CallbackList([first, second], model, params)
    assert len(cbs) == 2 and list(cbs) == [first, second]
    for c in (first, second):
        assert c.model is model and c.params is params
    cbs.on_train_begin()
    for epoch in (1, 2):
        cbs.on_epoch_begin(epoch)
        cbs.on_epoch_end(epoch, {"cost": 0.5 / epoch})
    cbs.on_train_end()
    assert [(name, tag, epoch) for name, tag, epoch, _ in calls] == [
        ("train_begin", "first", None),
        ("train_begin", "second", None),
        ("epoch_begin", "first", 1),
        ("epoch_begin", "second", 1),
        ("epoch_end", "first", 1),
        ("epoch_end", "second", 1),
        ("epoch_begin", "first", 2),
        ("epoch_begin", "second", 2),
        ("epoch_end", "first", 2),
        ("epoch_end", "second", 2),
        ("train_end", "first", None),
        ("train_end", "second", None),
    ]
    # the epoch logs reach every callback; missing logs become an empty dict
    assert [logs for name, _, _, logs in calls if name == "epoch_end"] == [
        {"cost": 0.5},
        {"cost": 0.5},
        {"cost": 0.25},
        {"cost": 0.25},
    ]
    assert calls[0][3] == {}


def test_callback_list_rejects_what_is_not_a_callback():
    with pytest.raises(TypeError, match="expected deepnet.callbacks.Callback"):
        cb.CallbackList([lambda epoch, logs: None], FakeModel(), {})
    assert len(cb.CallbackList(None, FakeModel(), None)) == 0


def test_lambda_callback_calls_each_function_with_the_hook_arguments():
    calls = []
    lam = cb.LambdaCallback(
        on_epoch_end=lambda epoch, logs: calls.append(("end", epoch, logs)),
        on_epoch_begin=lambda epoch, logs: calls.append(("begin", epoch, logs)),
        on_train_begin=lambda logs: calls.append(("train_begin", logs)),
        on_train_end=lambda logs: calls.append(("train_end", logs)),
    )
    cbs = cb.CallbackList([lam], FakeModel(), {"epochs": 1})
    cbs.on_train_begin()
    cbs.on_epoch_begin(1)
    cbs.on_epoch_end(1, {"cost": 0.5})
    cbs.on_train_end()
    assert calls == [
        ("train_begin", {}),
        ("begin", 1, {}),
        ("end", 1, {"cost": 0.5}),
        ("train_end", {}),
    ]
    # hooks left out do nothing
    only_end = cb.LambdaCallback(on_epoch_end=lambda epoch, logs: calls.append(epoch))
    only_end.on_train_begin()
    only_end.on_epoch_begin(7)
    only_end.on_train_end()
    only_end.on_epoch_end(7, {})
    assert calls[-1] == 7 and len(calls) == 5


def test_lambda_callback_rejects_what_is_not_callable():
    with pytest.raises(TypeError, match="LambdaCallback on_train_end: expected a function"):
        cb.LambdaCallback(on_train_end="print")


def test_docstring_examples_run():
    result = doctest.testmod(cb, optionflags=doctest.ELLIPSIS, verbose=False, report=True)
    assert result.failed == 0 and result.attempted > 0


# -- EpochLogger ----------------------------------------------------------------------------------


def _log_epochs(logger, logs_per_epoch, epochs):
    cbs = cb.CallbackList([logger], FakeModel(), {"epochs": epochs})
    cbs.on_train_begin()
    for epoch, logs in enumerate(logs_per_epoch, start=1):
        cbs.on_epoch_begin(epoch)
        cbs.on_epoch_end(epoch, logs)
    cbs.on_train_end()


def test_epoch_logger_line_format():
    out = io.StringIO()
    logger = cb.EpochLogger(file=out)
    logger.set_params({"epochs": 100})
    logger.on_epoch_end(3, {"cost": 0.1234, "accuracy": 0.95, "val_cost": 0.2, "val_accuracy": 0.9})
    assert out.getvalue() == (
        "Epoch 3/100 - cost: 0.1234 - accuracy: 0.9500 - val_cost: 0.2000 - val_accuracy: 0.9000\n"
    )


def test_epoch_logger_prints_every_key_in_order_and_small_numbers_in_scientific_notation():
    out = io.StringIO()
    logger = cb.EpochLogger(file=out)
    logger.set_params({"epochs": 12})
    logs = {
        "val_cost": 1.5,
        "cost": 1.25e-5,
        "data_cost": 0.0,
        "learning_rate": np.float32(0.001),
        "accuracy": np.float64(1.0),
        "batches": 4,
    }
    logger.on_epoch_end(12, logs)
    assert out.getvalue() == (
        "Epoch 12/12 - val_cost: 1.5000 - cost: 1.2500e-05 - data_cost: 0.0000 - "
        "learning_rate: 0.0010 - accuracy: 1.0000 - batches: 4\n"
    )
    out.truncate(0), out.seek(0)
    logger.on_epoch_end(2, {"cost": float("nan"), "val_cost": float("inf")})
    assert out.getvalue() == "Epoch 2/12 - cost: nan - val_cost: inf\n"


def test_epoch_logger_one_line_per_epoch_on_stdout_by_default(capsys):
    costs = [0.5, 0.25, 0.125, 0.0625, 0.03125]
    _log_epochs(cb.EpochLogger(), [{"cost": c} for c in costs], epochs=5)
    out, err = capsys.readouterr()
    assert err == ""
    assert out.splitlines() == [
        "Epoch 1/5 - cost: 0.5000",
        "Epoch 2/5 - cost: 0.2500",
        "Epoch 3/5 - cost: 0.1250",
        "Epoch 4/5 - cost: 0.0625",
        "Epoch 5/5 - cost: 0.0312",
    ]
    assert out.endswith("\n") and out.count("\n") == 5


def test_epoch_logger_uses_stdout_at_call_time(monkeypatch):
    logger = cb.EpochLogger()
    logger.set_params({"epochs": 1})
    later = io.StringIO()
    monkeypatch.setattr(sys, "stdout", later)
    logger.on_epoch_end(1, {"cost": 2.0})
    assert later.getvalue() == "Epoch 1/1 - cost: 2.0000\n"


def test_epoch_logger_reports_divergence_and_works_without_epochs_param():
    out = io.StringIO()
    logger = cb.EpochLogger(file=out)
    logger.set_params({"epochs": 100})
    logger.on_epoch_end(4, {"cost": float("nan"), "diverged": True})
    assert out.getvalue() == "Epoch 4/100 - diverged: the cost J became NaN or inf\n"
    out = io.StringIO()
    logger = cb.EpochLogger(file=out)
    logger.on_epoch_end(3, {"cost": 0.5})
    assert out.getvalue() == "Epoch 3 - cost: 0.5000\n"


# -- ProgressBar ----------------------------------------------------------------------------------


def _bar_run(bar, epochs=3, logs=None):
    logs = logs or [{"cost": 0.5, "accuracy": 0.75, "learning_rate": 0.1}] * epochs
    cbs = cb.CallbackList([bar], FakeModel(), {"epochs": epochs})
    cbs.on_train_begin()
    seen = bar.bar
    for epoch, epoch_logs in enumerate(logs, start=1):
        cbs.on_epoch_begin(epoch)
        cbs.on_epoch_end(epoch, epoch_logs)
    cbs.on_train_end()
    return seen


def test_progress_bar_is_off_when_stdout_is_not_a_terminal(capsys):
    assert not sys.stdout.isatty()  # pytest's capture
    bar = cb.ProgressBar()
    assert not bar.enabled()
    assert _bar_run(bar) is None
    assert capsys.readouterr() == ("", "")


def test_progress_bar_force_true_shows_the_bar_and_closes_it(capsys):
    bar = cb.ProgressBar(force=True)
    shown = _bar_run(
        bar,
        logs=[
            {"cost": 0.5, "accuracy": 0.75, "learning_rate": 0.1},
            {"cost": 0.25, "accuracy": 0.875, "val_cost": 0.375, "val_accuracy": 0.625},
        ],
        epochs=2,
    )
    out, err = capsys.readouterr()
    assert out == ""
    assert shown is not None and bar.bar is None  # created at train begin, closed at the end
    assert shown.n == 2 and shown.total == 2 and shown.disable  # tqdm disables a closed bar
    assert "2/2" in err
    last = err.rstrip().rsplit("\r", 1)[-1]
    assert "cost=0.25, accuracy=0.875, val_cost=0.375, val_accuracy=0.625" in last
    assert "learning_rate" not in err


def test_progress_bar_on_a_terminal_unless_forced_off(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdout", FakeTTY())
    assert cb.ProgressBar().enabled()
    assert _bar_run(cb.ProgressBar()) is not None
    assert "3/3" in capsys.readouterr().err
    forced_off = cb.ProgressBar(force=False)
    assert not forced_off.enabled()
    assert _bar_run(forced_off) is None
    assert capsys.readouterr().err == ""


def test_progress_bar_shows_divergence(capsys):
    bar = cb.ProgressBar(force=True)
    _bar_run(bar, logs=[{"cost": 0.5}, {"cost": float("nan"), "diverged": True}], epochs=5)
    err = capsys.readouterr().err
    assert "diverged" in err and "1/5" in err and "2/5" not in err


def test_progress_bar_force_must_be_a_bool_or_none():
    with pytest.raises(TypeError, match="ProgressBar force"):
        cb.ProgressBar(force=1)


# -- EarlyStopping ----------------------------------------------------------------------------


def test_early_stopping_stops_after_patience_epochs_and_restores_the_best_weights():
    es = cb.EarlyStopping(patience=2)
    model, run = drive(es, [1.0, 0.8, 0.9, 0.85, 0.7, 0.6])
    assert run == 4  # epochs 3 and 4 did not improve on epoch 2
    assert model.stop_training and model.stop_reason == "early_stopping"
    assert es.stopped_epoch == 4 and es.best_epoch == 2 and es.best == 0.8
    assert model.set_calls == 1 and np.all(model.w == 2)


def test_early_stopping_an_improvement_resets_the_wait():
    es = cb.EarlyStopping(patience=2)
    model, run = drive(es, [1.0, 0.9, 0.95, 0.85, 0.9, 0.92, 0.1])
    assert run == 6 and es.best_epoch == 4 and es.best == 0.85
    assert np.all(model.w == 4)


def test_early_stopping_patience_zero_stops_at_the_first_epoch_without_improvement():
    es = cb.EarlyStopping(patience=0)
    model, run = drive(es, [1.0, 0.9, 0.9, 0.5])
    assert run == 3 and es.stopped_epoch == 3 and es.best_epoch == 2
    assert np.all(model.w == 2)


def test_early_stopping_min_delta_is_the_smallest_improvement_that_counts():
    # 0.95 and 0.92 are better than 1.0 but not by more than 0.1
    es = cb.EarlyStopping(patience=2, min_delta=0.1)
    model, run = drive(es, [1.0, 0.95, 0.92, 0.5])
    assert run == 3 and es.best_epoch == 1 and es.best == 1.0
    assert np.all(model.w == 1)
    # an improvement of exactly min_delta does not count either (exact binary fractions)
    es = cb.EarlyStopping(patience=1, min_delta=0.125)
    model, run = drive(es, [1.0, 0.875, 0.5])
    assert run == 2 and es.best_epoch == 1
    # by more than min_delta: it counts
    es = cb.EarlyStopping(patience=1, min_delta=0.125)
    model, run = drive(es, [1.0, 0.75, 0.7])
    assert run == 3 and es.best_epoch == 2 and np.all(model.w == 2)


def test_early_stopping_mode_auto_maximises_accuracy():
    es = cb.EarlyStopping(monitor="val_accuracy", patience=2)
    assert es.mode == "max" and es.best == -np.inf
    model, run = drive(es, [0.5, 0.7, 0.6, 0.65, 0.9], key="val_accuracy")
    assert run == 4 and es.best_epoch == 2 and es.best == 0.7
    assert np.all(model.w == 2) and model.stop_reason == "early_stopping"
    assert cb.EarlyStopping(monitor="cost").mode == "min"


def test_early_stopping_explicit_mode_overrides_the_name():
    # "max" on a cost: the values going down are not improvements
    es = cb.EarlyStopping(monitor="val_cost", mode="max", patience=1)
    _, run = drive(es, [1.0, 0.9, 0.8])
    assert run == 2 and es.best_epoch == 1
    # "min" on an accuracy: they are
    es = cb.EarlyStopping(monitor="val_accuracy", mode="min", patience=1)
    _, run = drive(es, [0.9, 0.8, 0.85], key="val_accuracy")
    assert run == 3 and es.best_epoch == 2


def test_early_stopping_restores_at_train_end_when_the_last_epoch_is_not_the_best():
    es = cb.EarlyStopping(patience=5)
    model, run = drive(es, [1.0, 0.5, 0.6])
    assert run == 3 and es.stopped_epoch == 0
    assert not model.stop_training and model.stop_reason is None
    assert model.set_calls == 1 and np.all(model.w == 2)


def test_early_stopping_leaves_the_weights_when_the_last_epoch_is_the_best():
    es = cb.EarlyStopping(patience=5)
    model, run = drive(es, [1.0, 0.5, 0.4])
    assert run == 3 and es.best_epoch == 3 and model.set_calls == 0 and np.all(model.w == 3)


def test_early_stopping_without_restore_keeps_the_last_weights():
    es = cb.EarlyStopping(patience=1, restore_best_weights=False)
    model, run = drive(es, [1.0, 0.5, 0.6])
    assert run == 3 and es.best_epoch == 2 and model.stop_reason == "early_stopping"
    assert model.set_calls == 0 and np.all(model.w == 3)


def test_early_stopping_resets_between_trainings():
    es = cb.EarlyStopping(patience=1)
    drive(es, [1.0, 2.0, 3.0])
    assert es.stopped_epoch == 2
    model, run = drive(es, [5.0, 4.0, 3.0])
    assert run == 3 and es.stopped_epoch == 0 and es.best == 3.0 and es.best_epoch == 3
    assert model.set_calls == 0


def test_early_stopping_ignores_a_diverged_epoch():
    es = cb.EarlyStopping(patience=5)
    model = FakeModel()
    cbs = cb.CallbackList([es], model, {"epochs": 5})
    cbs.on_train_begin()
    for epoch, value in ((1, 1.0), (2, 0.5), (3, 0.7)):
        model.w[:] = epoch
        cbs.on_epoch_end(epoch, {"cost": 1.0, "val_cost": value})
    cbs.on_epoch_end(4, {"cost": float("nan"), "diverged": True})  # no val_cost: no error
    cbs.on_train_end()
    assert es.best_epoch == 2 and es.wait == 1 and not model.stop_training
    assert np.all(model.w == 2)


def test_early_stopping_nan_is_never_an_improvement():
    es = cb.EarlyStopping(patience=1)
    model, run = drive(es, [1.0, float("nan"), 0.5])
    assert run == 2 and es.best == 1.0 and np.all(model.w == 1)


def test_early_stopping_missing_monitor_names_the_key_and_the_available_ones():
    es = cb.EarlyStopping(monitor="val_cost")
    cbs = cb.CallbackList([es], FakeModel(), {"epochs": 3})
    cbs.on_train_begin()
    with pytest.raises(ValueError) as err:
        cbs.on_epoch_end(1, {"cost": 0.5, "accuracy": 0.5})
    message = str(err.value)
    assert "'val_cost'" in message and "['cost', 'accuracy']" in message
    assert "validation_data" in message
    es = cb.EarlyStopping(monitor="acuracy")
    es.set_model(FakeModel())
    with pytest.raises(ValueError, match=r"'acuracy'.*\['cost'\]"):
        es.on_epoch_end(1, {"cost": 0.5})


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        (dict(patience=-1), ValueError, r"patience: expected an integer >= 0, got -1"),
        (dict(patience=1.5), TypeError, r"patience: expected an integer >= 0, got 1.5"),
        (dict(patience=True), TypeError, r"patience: expected an integer >= 0, got True"),
        (dict(patience=None), TypeError, r"patience"),
        (dict(min_delta=-0.1), ValueError, r"min_delta: expected a finite number >= 0"),
        (dict(min_delta=float("nan")), ValueError, r"min_delta: expected a finite number"),
        (dict(min_delta="0.1"), TypeError, r"min_delta: expected a number >= 0"),
        (dict(mode="up"), ValueError, r"mode: expected one of \['auto', 'min', 'max'\]"),
        (dict(mode=None), ValueError, r"mode: expected one of"),
        (dict(monitor=3), TypeError, r"monitor: expected the name of a log"),
        (dict(monitor=""), TypeError, r"monitor"),
        (dict(restore_best_weights="yes"), TypeError, r"restore_best_weights"),
    ],
)
def test_early_stopping_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        cb.EarlyStopping(**kwargs)


def test_early_stopping_accepts_numpy_integers_and_integral_min_delta():
    es = cb.EarlyStopping(patience=np.int64(3), min_delta=0)
    assert es.patience == 3 and isinstance(es.patience, int) and es.min_delta == 0.0


# -- through a real fit (needs fit(callbacks=..., validation_data=...)) -----------------------

needs_fit_callbacks = pytest.mark.skipif(
    not hasattr(dn.Sequential, "get_weights"),
    reason="Sequential.fit does not take callbacks / validation_data yet",
)


def _xor_like(rng, m, noise=0.0):
    """Points of the plane labelled by the sign of x1·x2, a fraction `noise` flipped."""
    X = rng.uniform(-1, 1, size=(2, m))
    y = (X[0] * X[1] > 0).astype(float)
    flip = rng.random(m) < noise
    y[flip] = 1 - y[flip]
    return X, y[None, :]


def _small_model(seed=0, dtype="float64"):
    return dn.Sequential(
        [dn.Dense(8, activation="tanh"), dn.Dense(1, activation="sigmoid")],
        n_x=2,
        loss="binary_crossentropy",
        seed=seed,
        dtype=dtype,
    )


@needs_fit_callbacks
def test_fit_calls_the_hooks_in_order(rng):
    X, Y = _xor_like(rng, 40)
    Xv, Yv = _xor_like(rng, 20)
    calls = []
    model = _small_model()
    history = model.fit(
        X,
        Y,
        epochs=4,
        learning_rate=0.5,
        batch_size=None,
        verbose=0,
        validation_data=(Xv, Yv),
        callbacks=[Recorder("a", calls), Recorder("b", calls)],
    )
    expected = [("train_begin", "a", None), ("train_begin", "b", None)]
    for epoch in range(1, 5):
        expected += [("epoch_begin", tag, epoch) for tag in "ab"]
        expected += [("epoch_end", tag, epoch) for tag in "ab"]
    expected += [("train_end", "a", None), ("train_end", "b", None)]
    assert [(name, tag, epoch) for name, tag, epoch, _ in calls] == expected
    assert history.epoch == [1, 2, 3, 4] and history.stop_reason == "epochs"
    # the logs each epoch hands out are what History records
    ends = [logs for name, tag, _, logs in calls if name == "epoch_end" and tag == "a"]
    for k, logs in enumerate(ends):
        assert {"cost", "accuracy", "val_cost", "val_accuracy"} <= set(logs)
        for key in ("cost", "val_cost", "val_accuracy"):
            assert logs[key] == pytest.approx(history.history[key][k], rel=1e-12)
    # the callbacks saw the model and fit's arguments
    recorder = Recorder("c", [])
    model.fit(X, Y, epochs=2, verbose=0, callbacks=[recorder])
    assert recorder.model is model and recorder.params["epochs"] == 2


@needs_fit_callbacks
@pytest.mark.parametrize("reason", [None, "enough"])
def test_fit_stops_after_the_epoch_a_callback_sets_stop_training(rng, reason):
    X, Y = _xor_like(rng, 40)
    seen = []

    def stop_at_3(epoch, logs):
        seen.append(epoch)
        if epoch == 3:
            model.stop_training = True
            if reason is not None:
                model.stop_reason = reason

    model = _small_model()
    history = model.fit(
        X,
        Y,
        epochs=10,
        learning_rate=0.5,
        verbose=0,
        callbacks=[cb.LambdaCallback(on_epoch_end=stop_at_3)],
    )
    assert seen == [1, 2, 3] and history.epoch == [1, 2, 3] and len(history.cost) == 3
    assert history.stop_reason == (reason or "callback")
    # the next fit starts with stop_training reset
    history = model.fit(X, Y, epochs=2, learning_rate=0.5, verbose=0)
    assert history.epoch == [1, 2] and history.stop_reason == "epochs"


@needs_fit_callbacks
def test_early_stopping_through_fit_leaves_the_weights_of_the_best_validation_epoch():
    # 30 noisy training points, a wide network and a large step: the validation cost falls,
    # reaches a minimum, then rises while the network learns the noise
    rng = np.random.default_rng(0)
    X, Y = _xor_like(rng, 30, noise=0.25)
    Xv, Yv = _xor_like(rng, 300)
    model = dn.Sequential(
        [
            dn.Dense(32, activation="tanh"),
            dn.Dense(32, activation="tanh"),
            dn.Dense(1, activation="sigmoid"),
        ],
        n_x=2,
        loss="binary_crossentropy",
        seed=0,
        dtype="float64",
    )
    stop = cb.EarlyStopping(monitor="val_cost", patience=50, restore_best_weights=True)
    history = model.fit(
        X,
        Y,
        epochs=3000,
        learning_rate=0.5,
        batch_size=None,
        shuffle=False,
        verbose=0,
        validation_data=(Xv, Yv),
        callbacks=[stop],
    )
    val_costs = history.history["val_cost"]
    best = min(val_costs)
    assert history.stop_reason == "early_stopping"
    assert len(history.epoch) < 3000 and stop.stopped_epoch == history.epoch[-1]
    assert stop.best_epoch == 1 + int(np.argmin(val_costs)) > 1
    assert stop.best == best and len(history.epoch) - stop.best_epoch == 50
    assert val_costs[-1] > best  # it overfitted, and the last weights are not the best
    assert abs(model.evaluate(Xv, Yv)["cost"] - best) <= 1e-6
    assert abs(model.cost(Xv, Yv) - best) <= 1e-6


@needs_fit_callbacks
def test_early_stopping_on_val_cost_without_validation_data_says_so(rng):
    X, Y = _xor_like(rng, 20)
    model = _small_model()
    with pytest.raises(ValueError, match=r"'val_cost'.*\['cost', 'accuracy'\]"):
        model.fit(X, Y, epochs=5, verbose=0, callbacks=[cb.EarlyStopping()])


@needs_fit_callbacks
def test_fit_verbose_2_prints_through_epoch_logger(rng, capsys):
    X, Y = _xor_like(rng, 20)
    Xv, Yv = _xor_like(rng, 10)
    model = _small_model()
    history = model.fit(X, Y, epochs=3, verbose=2, validation_data=(Xv, Yv))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3
    for k, line in enumerate(lines, start=1):
        expected = " - ".join(
            [f"Epoch {k}/3"]
            + [f"{key}: {cb.format_value(v[k - 1])}" for key, v in history.history.items()]
        )
        assert line == expected
        assert re.fullmatch(rf"Epoch {k}/3 - cost: \S+ - accuracy: \S+ - val_cost: .*", line)
