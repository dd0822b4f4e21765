"""Issue 4's training toolkit: optimizers and schedules against hand-computed updates,
regularization (L2, dropout), validation, integer labels, resuming."""

import deepnet as dn
import numpy as np
import pytest
from deepnet import optimizers as opt


def _model(seed=0, dtype="float64", hidden=None, **dense_kwargs):
    layers = [dn.Dense(6, activation="tanh", **dense_kwargs)]
    if hidden is not None:
        layers.append(hidden)
    layers.append(dn.Dense(2, activation="softmax"))
    return dn.Sequential(layers, n_x=4, loss="categorical_crossentropy", seed=seed, dtype=dtype)


def _data(rng, m=12):
    X = rng.normal(size=(4, m))
    labels = rng.integers(0, 2, m)
    return X, labels, np.eye(2)[:, labels]


class NumpyOptimizer:
    """The update rules written out independently, one parameter list at a time."""

    def __init__(self, kind, lr, **h):
        self.kind, self.lr, self.h, self.state, self.t = kind, lr, h, None, 0

    def step(self, params, grads, lr):
        self.t += 1
        if self.state is None:
            self.state = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
        for p, g, s in zip(params, grads, self.state):
            if self.kind == "sgd":
                p -= lr * g  # (16)-(17)
            elif self.kind == "momentum":
                s[0] = self.h["beta"] * s[0] + g
                p -= lr * s[0]
            elif self.kind == "rmsprop":
                s[0] = self.h["rho"] * s[0] + (1 - self.h["rho"]) * g**2
                p -= lr * g / (np.sqrt(s[0]) + self.h["eps"])
            else:
                b1, b2, eps = self.h["beta1"], self.h["beta2"], self.h["eps"]
                s[0] = b1 * s[0] + (1 - b1) * g
                s[1] = b2 * s[1] + (1 - b2) * g**2
                mhat, vhat = s[0] / (1 - b1**self.t), s[1] / (1 - b2**self.t)
                p -= lr * mhat / (np.sqrt(vhat) + eps)


CASES = [
    ("sgd", opt.SGD(0.3), {}),
    ("momentum", opt.Momentum(0.05, beta=0.8), {"beta": 0.8}),
    ("rmsprop", opt.RMSprop(0.01, rho=0.9, eps=1e-7), {"rho": 0.9, "eps": 1e-7}),
    (
        "adam",
        opt.Adam(0.01, beta1=0.9, beta2=0.999, eps=1e-8),
        {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
    ),
]


@pytest.mark.parametrize("kind,optimizer,hyper", CASES, ids=[c[0] for c in CASES])
def test_optimizer_steps_equal_hand_computed_updates(kind, optimizer, hyper, rng):
    """Full-batch epochs = one update each: the model's parameters after every epoch equal
    the NumPy rule applied to model.gradients (12)-(13) taken before the step."""
    model = _model()
    X, labels, Y = _data(rng)
    params = model.get_weights()
    ref = NumpyOptimizer(kind, optimizer.learning_rate, **hyper)
    for _ in range(5):
        grads = [g for pair in model.gradients(X, Y) for g in pair]
        ref.step(params, grads, optimizer.learning_rate)
        model.fit(X, Y, epochs=1, batch_size=None, optimizer=optimizer, verbose=0)
        for got, want in zip(model.get_weights(), params):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_optimizer_by_name_uses_its_default_learning_rate(rng):
    X, labels, Y = _data(rng)
    for name, lr in [("sgd", 0.1), ("momentum", 0.01), ("rmsprop", 0.001), ("adam", 0.001)]:
        model = _model()
        history = model.fit(X, Y, epochs=1, optimizer=name, verbose=0)
        assert model.optimizer.learning_rate == lr and model.optimizer.kind == name
        assert history.params["learning_rate"] == lr
    with pytest.raises(ValueError, match="not both"):
        _model().fit(X, Y, optimizer=opt.Adam(), learning_rate=0.1, verbose=0)
    with pytest.raises(ValueError, match=r"optimizer: expected one of .*'adamw'"):
        _model().fit(X, Y, optimizer="adamw", verbose=0)
    with pytest.raises(ValueError, match=r"beta: expected a number in \[0, 1\), got 1.5"):
        opt.Momentum(beta=1.5)
    with pytest.raises(ValueError, match="eps"):
        opt.Adam(eps=0)


def test_schedule_values():
    step = opt.schedules.StepDecay(0.2, drop=0.5, epochs_per_drop=3)
    assert [step(epoch=e) for e in range(7)] == [0.2, 0.2, 0.2, 0.1, 0.1, 0.1, 0.05]
    exp = opt.schedules.ExponentialDecay(1.0, decay_steps=10, decay_rate=0.1)
    assert exp(step=5) == pytest.approx(0.1**0.5) and exp(step=20) == pytest.approx(0.01)
    stair = opt.schedules.ExponentialDecay(1.0, decay_steps=10, decay_rate=0.1, staircase=True)
    assert [stair(step=s) for s in (0, 9, 10, 19, 20)] == pytest.approx([1, 1, 0.1, 0.1, 0.01])
    with pytest.raises(ValueError, match="epochs_per_drop"):
        opt.schedules.StepDecay(0.1, epochs_per_drop=0)


@pytest.mark.parametrize(
    "schedule",
    [
        opt.schedules.StepDecay(0.4, drop=0.5, epochs_per_drop=2),
        opt.schedules.ExponentialDecay(0.4, decay_steps=3, decay_rate=0.5),
    ],
    ids=["step", "exponential"],
)
def test_schedules_drive_the_updates(schedule, rng):
    """SGD with a schedule: every step uses α(step, epoch), steps and epochs counted from 0
    and carried across fit calls."""
    model = _model()
    X, labels, Y = _data(rng)
    params = model.get_weights()
    for epoch in range(6):
        grads = [g for pair in model.gradients(X, Y) for g in pair]
        lr = schedule(step=epoch, epoch=epoch)  # one step per epoch (full batch)
        for p, g in zip(params, grads):
            p -= lr * g
        model.fit(X, Y, epochs=1, batch_size=None, learning_rate=schedule, verbose=0)
        for got, want in zip(model.get_weights(), params):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_fit_again_resumes_exactly(rng):
    """Optimizer state, shuffling stream and dropout masks carry over: 3 + 2 epochs = 5."""
    X, labels, Y = _data(rng, m=40)

    def run(splits):
        model = _model(hidden=dn.Dropout(0.3), l2=1e-3)
        costs = []
        for n in splits:
            costs += model.fit(X, Y, epochs=n, batch_size=8, optimizer="adam", verbose=0).cost
        return model.get_weights(), costs

    (w1, c1), (w2, c2) = run([5]), run([3, 2])
    assert c1 == c2
    for a, b in zip(w1, w2):
        np.testing.assert_array_equal(a, b)


def test_changing_the_optimizer_resets_its_state_same_one_keeps_it(rng):
    X, labels, Y = _data(rng)
    model = _model()
    model.fit(X, Y, epochs=2, optimizer="adam", verbose=0)
    assert model._net.optimizer_state()["iterations"] == 2
    model.fit(X, Y, epochs=1, optimizer=opt.Adam(learning_rate=0.01), verbose=0)
    assert model._net.optimizer_state()["iterations"] == 3  # same rule: resumed
    model.fit(X, Y, epochs=1, verbose=0)  # no optimizer given: the last one resumes
    assert model._net.optimizer_state()["iterations"] == 4
    model.fit(X, Y, epochs=1, learning_rate=0.02, verbose=0)  # same rule, new rate
    state = model._net.optimizer_state()
    assert state["iterations"] == 5 and state["learning_rate"] == 0.02
    assert model.optimizer == opt.Adam(learning_rate=0.02)
    model.fit(X, Y, epochs=1, optimizer="momentum", verbose=0)
    state = model._net.optimizer_state()
    assert state["kind"] == "momentum" and state["iterations"] == 1


def test_l2_penalty_in_cost_and_gradients(rng):
    """J gains (λ/2)‖W‖² and (12) gains λW; the gradient check still agrees, and History
    shows J with and without the penalty."""
    lam = 0.05
    model = _model(l2=lam)
    X, labels, Y = _data(rng)
    plain = _model()
    W = model.layers[0].W
    assert model.cost(X, Y) == pytest.approx(plain.cost(X, Y) + lam / 2 * np.sum(W**2), rel=1e-12)
    (dw_l2, _), _ = model.gradients(X, Y)
    (dw, _), _ = plain.gradients(X, Y)
    np.testing.assert_allclose(dw_l2, dw + lam * W, rtol=0, atol=1e-12)
    assert dn.gradient_check(model, X, Y) < 1e-7
    per_example = dn.per_example_gradients(model, X, Y)
    np.testing.assert_allclose(per_example[0][0], dw_l2, rtol=0, atol=1e-10)
    result = model.evaluate(X, Y)
    assert result["cost"] - result["data_cost"] == pytest.approx(lam / 2 * np.sum(W**2))
    history = model.fit(X, Y, epochs=3, batch_size=None, verbose=0)
    assert set(history.history) >= {"cost", "data_cost", "accuracy"}
    assert all(c > d for c, d in zip(history.history["cost"], history.history["data_cost"]))
    assert "data_cost" not in plain.fit(X, Y, epochs=1, verbose=0).history
    with pytest.raises(ValueError, match=r"Dense l2: expected a finite number >= 0, got -1.0"):
        dn.Dense(3, l2=-1)


def test_dropout_masks_statistics_determinism_and_inference(rng):
    X = np.ones((4, 2000))
    model = dn.Sequential(
        [dn.Dropout(0.25), dn.Dense(1, activation="linear")], n_x=4, loss="mse", seed=3
    )
    model.layers[1].W = np.ones((1, 4))
    model.layers[1].b = np.zeros((1, 1))
    # inference: dropout is the identity, predict = W·1 = 4 exactly
    np.testing.assert_array_equal(model.predict(X), np.full((1, 2000), 4.0, np.float32))
    # training: one full-batch step with lr tiny shows the masked mean through J
    # (J = mean((ŷ − y)²) with y = 4: masks change ŷ, its mean stays 4 (inverted dropout))
    history = model.fit(
        X, np.full((1, 2000), 4.0), epochs=1, batch_size=None, learning_rate=1e-12, verbose=0
    )
    # ŷ = Σ_k mask_k with mask ∈ {0, 4/3}: E[ŷ] = 4, Var = 4·(16/9·0.75 − 1) = 4/3
    assert history.cost[0] == pytest.approx(4 / 3, rel=0.1)
    twin = dn.Sequential(
        [dn.Dropout(0.25), dn.Dense(1, activation="linear")], n_x=4, loss="mse", seed=3
    )
    twin.layers[1].W = np.ones((1, 4))
    twin.layers[1].b = np.zeros((1, 1))
    again = twin.fit(
        X, np.full((1, 2000), 4.0), epochs=1, batch_size=None, learning_rate=1e-12, verbose=0
    )
    assert again.cost == history.cost  # seeded masks
    # gradients and cost run in inference mode: deterministic
    assert model.cost(X, np.full((1, 2000), 4.0)) == 0.0
    with pytest.raises(ValueError, match=r"Dropout rate: expected a number in \[0, 1\), got 1"):
        dn.Dropout(1)


def test_dropout_training_still_learns_and_checks_gradients(rng):
    model = _model(hidden=dn.Dropout(0.2))
    X, labels, Y = _data(rng, m=200)
    assert dn.gradient_check(model, X[:, :8], Y[:, :8]) < 1e-7
    history = model.fit(
        X, labels, epochs=60, batch_size=20, optimizer="adam", learning_rate=0.01, verbose=0
    )
    assert history.cost[-1] < history.cost[0]
    assert [len(g) for g in model.gradients(X, Y)] == [2, 0, 2]


def test_validation_data_and_split(rng):
    X, labels, Y = _data(rng, m=50)
    model = _model()
    history = model.fit(X, Y, epochs=4, validation_data=(X[:, :10], labels[:10]), verbose=0)
    assert set(history.history) == {"cost", "accuracy", "val_cost", "val_accuracy"}
    assert history.history["val_cost"][-1] == pytest.approx(model.cost(X[:, :10], Y[:, :10]))
    assert history.history["val_accuracy"][-1] == model.evaluate(X[:, :10], Y[:, :10])["accuracy"]
    split = _model().fit(X, Y, epochs=2, validation_split=0.2, verbose=0)
    assert split.params["m"] == 40  # the last 10 columns validate
    same = _model().fit(
        X[:, :40], Y[:, :40], epochs=2, validation_data=(X[:, 40:], Y[:, 40:]), verbose=0
    )
    assert split.history == same.history
    with pytest.raises(ValueError, match="not both"):
        model.fit(X, Y, validation_data=(X, Y), validation_split=0.1, verbose=0)
    with pytest.raises(ValueError, match=r"validation_split: expected a number in \(0, 1\)"):
        model.fit(X, Y, validation_split=1.5, verbose=0)
    with pytest.raises(ValueError, match=r"validation_data: X: expected shape \(4, m\)"):
        model.fit(X, Y, validation_data=(X[:3], Y), verbose=0)


def test_integer_labels_equal_one_hot(rng):
    X, labels, Y = _data(rng, m=30)
    a, b = _model(), _model()
    ha = a.fit(X, labels, epochs=3, verbose=0)
    hb = b.fit(X, Y, epochs=3, verbose=0)
    assert ha.history == hb.history
    np.testing.assert_array_equal(a.predict_classes(X), np.argmax(a.predict(X), axis=0))
    np.testing.assert_array_equal(a.predict_proba(X), a.predict(X))
    binary = dn.Sequential([dn.Dense(1, activation="sigmoid")], n_x=4, loss="binary_crossentropy")
    binary.fit(X, labels, epochs=2, verbose=0)
    assert binary.predict_classes(X).shape == (30,)
    with pytest.raises(ValueError, match=r"class labels must be in 0\.\.1 .* from 0 to 5"):
        a.fit(X, np.arange(30) % 6, verbose=0)
    with pytest.raises(ValueError, match=r"expected 30 labels"):
        a.fit(X, labels[:10], verbose=0)
    with pytest.raises(ValueError, match="predict_proba needs a classifier"):
        dn.Sequential([dn.Dense(1)], n_x=4, loss="mse").predict_proba(X)
