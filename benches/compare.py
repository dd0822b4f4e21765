"""deepnet against its peers, side by side, in one process and on the same data.

    python benches/compare.py                # every case, 5 runs each (median reported)
    python benches/compare.py --quick        # fewer runs and examples, for a smoke test
    python benches/compare.py --cases 784-32 small --runs 3

Peers: a course-style NumPy implementation written below (the lecture's equations with `@`),
PyTorch CPU and scikit-learn's MLPClassifier, each skipped with a note when not installed.
Every peer trains the same network (relu hidden layers, softmax + cross-entropy, plain SGD, no
shuffling) on the same synthetic data; times are the median of --runs repetitions of one epoch
(or of the whole training for the XOR case), the peers' repetitions interleaved so that a slow
spell of a shared machine hits them all alike. Printed per case: the time of each peer, the
ratio deepnet/peer, each peer's GFLOP/s (the flops every peer computes: 2·m·n·n_prev per
layer for each of (9) and (12), and for (14) at every layer but the first) as a fraction of
the roofline (the float32 peak of the threads deepnet uses, measured at the start of the run
with a register-only loop of fused multiply-adds; NumPy's 1024³ product rate is printed beside
it), and the peak resident memory one epoch adds to the data and the model, measured in a
fresh subprocess per peer (Linux only).

The peer `deepnet-1step` (run when named in --peers) is deepnet with its data-parallel step
switched off: every step then runs layer by layer, each large product split across the
threads on its own. It measures what the data-parallel step brings (the bits are the same).

Model cases, deepnet against PyTorch only, run when named:

    python benches/compare.py --cases mnist1d-cnn mnist1d-gru lenet --threads 2
    python benches/compare.py --cases mnist1d-gru --torch-steps 400   # PyTorch's time only

mnist1d-cnn (3 × Conv1D(25) + Dense) and mnist1d-gru (Bidirectional(GRU(6)) + Dense) follow
the MNIST-1D recipe: the `mnist1d` package's default data (4,000 training and 1,000 test
signals, generated locally), Adam lr 1e-2, batch 100, --steps steps (default 8,000: 200 epochs
in storage order) from each of --seeds fresh models; printed: the median time per step over
chunks of --chunk steps (the two libraries' chunks interleaved), the mean over the whole runs,
the ratio, GFLOP/s (forward + backward ≈ 6 flops per forward multiply-add), the spread between
the seeds' times and the held-out accuracy (mean over seeds, then each seed's). lenet
(Conv2D(32) → pool → Conv2D(64) → pool → Dense on 28×28 random images, batch 64) is timed as
the dense cases: the median of --runs interleaved epochs of 16 steps. Each case also prints the
CPU share other processes took meanwhile: a busy machine skews the ratios, PyTorch's 2-thread
OpenMP loops most.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

HERE = os.path.abspath(__file__)


@dataclass(frozen=True)
class Case:
    key: str
    sizes: tuple[int, ...]
    batch: int | None  # None: full batch
    m: int
    dtype: str
    epochs: int = 1  # epochs timed per run
    lr: float = 0.01
    hidden: str = "relu"
    out: str = "softmax"

    @property
    def flops(self) -> float:
        """Flops of the epochs every peer computes: per example and layer, 2·n·n_prev for (9)
        and for (12), and 2·n·n_prev for (14) except at the first layer (no dA^[0])."""
        pairs = [a * b for a, b in zip(self.sizes, self.sizes[1:])]
        return 2.0 * self.m * self.epochs * (2 * sum(pairs) + sum(pairs[1:]))


def cases(quick: bool) -> list[Case]:
    m = 6_000 if quick else 60_000
    mnist = (784, 256, 128, 10)
    out = []
    for dtype in ("float32", "float64"):
        for batch in (32, 256, 2048):
            out.append(
                Case(
                    f"784-{batch}" + ("" if dtype == "float32" else "-f64"), mnist, batch, m, dtype
                )
            )
    out.append(
        Case(
            "small", (40, 100, 100, 10), 100, 8_000, "float32", epochs=10 if quick else 100, lr=0.05
        )
    )
    out.append(
        Case(
            "xor",
            (2, 8, 1),
            None,
            4,
            "float32",
            epochs=1_000 if quick else 10_000,
            lr=0.5,
            hidden="tanh",
            out="sigmoid",
        )
    )
    return out


def make_data(case: Case, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X (n_x, m), one-hot Y (n_y, m) and integer labels (m,), in the case's dtype."""
    if case.key == "xor":
        X = np.array([[0, 0, 1, 1], [0, 1, 0, 1]], dtype=case.dtype)
        labels = np.array([0, 1, 1, 0])
        return X, labels[None, :].astype(case.dtype), labels
    rng = np.random.default_rng(seed)
    X = rng.random((case.sizes[0], case.m), dtype=np.float64).astype(case.dtype)
    labels = rng.integers(0, case.sizes[-1], case.m)
    Y = np.zeros((case.sizes[-1], case.m), dtype=case.dtype)
    Y[labels, np.arange(case.m)] = 1
    return X, Y, labels


# --- the peers: each returns a function that trains case.epochs epochs ------------------------


def deepnet_trainer(case: Case, X, Y, labels, threads: int | None) -> Callable[[], None]:
    import deepnet as dn

    acts = [case.hidden] * (len(case.sizes) - 2) + [case.out]
    loss = "categorical_crossentropy" if case.out == "softmax" else "binary_crossentropy"
    model = dn.Sequential(
        [dn.Dense(n, activation=a) for n, a in zip(case.sizes[1:], acts)],
        n_x=case.sizes[0],
        loss=loss,
        dtype=case.dtype,
        seed=0,
    )
    if threads is not None:
        dn.set_num_threads(threads)

    def run() -> None:
        model.fit(
            X,
            Y,
            epochs=case.epochs,
            learning_rate=case.lr,
            batch_size=case.batch,
            shuffle=False,
            verbose=0,
        )

    return run


def numpy_trainer(case: Case, X, Y, labels, threads: int | None) -> Callable[[], None]:
    """The lecture's vectorized equations written with NumPy, as a course notebook would."""
    rng = np.random.default_rng(0)
    dt = np.dtype(case.dtype)
    W = [
        (rng.standard_normal((n, p)) * np.sqrt(2 / p)).astype(dt)
        for p, n in zip(case.sizes, case.sizes[1:])
    ]
    b = [np.zeros((n, 1), dtype=dt) for n in case.sizes[1:]]
    L = len(W)
    hidden = {
        "relu": (lambda z: np.maximum(z, 0), lambda z, a: (z > 0).astype(dt)),
        "tanh": (np.tanh, lambda z, a: 1 - a * a),
    }[case.hidden]

    def out_act(z):
        if case.out == "softmax":
            e = np.exp(z - z.max(axis=0, keepdims=True))
            return e / e.sum(axis=0, keepdims=True)
        return 1 / (1 + np.exp(-z))

    m = X.shape[1]
    batch = case.batch or m

    def run() -> None:
        for _ in range(case.epochs):
            for s in range(0, m, batch):
                A = [X[:, s : s + batch]]
                Zs = []
                for l in range(L):
                    Z = W[l] @ A[-1] + b[l]  # (9)
                    Zs.append(Z)
                    A.append(out_act(Z) if l == L - 1 else hidden[0](Z))  # (10)
                mb = A[0].shape[1]
                dZ = A[-1] - Y[:, s : s + batch]  # (11)·(15) collapsed
                for l in reversed(range(L)):
                    dW = dZ @ A[l].T / mb  # (12)
                    db = dZ.sum(axis=1, keepdims=True) / mb  # (13)
                    if l > 0:
                        dA = W[l].T @ dZ  # (14)
                        dZ = dA * hidden[1](Zs[l - 1], A[l])  # (11)
                    W[l] -= case.lr * dW  # (16)
                    b[l] -= case.lr * db  # (17)

    return run


def torch_trainer(case: Case, X, Y, labels, threads: int | None) -> Callable[[], None]:
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    tdt = {"float32": torch.float32, "float64": torch.float64}[case.dtype]
    layers: list = []
    for i, (p, n) in enumerate(zip(case.sizes, case.sizes[1:])):
        layers.append(torch.nn.Linear(p, n, dtype=tdt))
        if i < len(case.sizes) - 2:
            layers.append(torch.nn.ReLU() if case.hidden == "relu" else torch.nn.Tanh())
    net = torch.nn.Sequential(*layers)
    opt = torch.optim.SGD(net.parameters(), lr=case.lr)
    xt = torch.from_numpy(np.ascontiguousarray(X.T))
    if case.out == "softmax":
        loss_fn = torch.nn.CrossEntropyLoss()
        yt = torch.from_numpy(labels)
    else:
        loss_fn = torch.nn.BCEWithLogitsLoss()
        yt = torch.from_numpy(np.ascontiguousarray(Y.T))
    m = xt.shape[0]
    batch = case.batch or m

    def run() -> None:
        for _ in range(case.epochs):
            for s in range(0, m, batch):
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(net(xt[s : s + batch]), yt[s : s + batch])
                loss.backward()
                opt.step()

    return run


def sklearn_trainer(case: Case, X, Y, labels, threads: int | None) -> Callable[[], None]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=case.sizes[1:-1],
        activation=case.hidden,
        solver="sgd",
        learning_rate_init=case.lr,
        momentum=0.0,
        alpha=0.0,
        batch_size=case.batch or X.shape[1],
        shuffle=False,
        max_iter=case.epochs,
        tol=0.0,
        n_iter_no_change=10**9,
        random_state=0,
    )
    xs = np.ascontiguousarray(X.T)

    def run() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(xs, labels)

    return run


def deepnet_one_thread_step_trainer(case, X, Y, labels, threads) -> Callable[[], None]:
    """deepnet without its data-parallel step: every step is the one-thread step, whose large
    products split across threads one by one (the design before it; the same bits)."""
    from deepnet import _core

    run = deepnet_trainer(case, X, Y, labels, threads)

    def wrapped() -> None:
        _core._set_data_parallel(False)
        try:
            run()
        finally:
            _core._set_data_parallel(True)

    return wrapped


PEERS: dict[str, Callable] = {
    "deepnet": deepnet_trainer,
    "deepnet-1step": deepnet_one_thread_step_trainer,
    "numpy": numpy_trainer,
    "torch": torch_trainer,
    "sklearn": sklearn_trainer,
}
MODULES = {
    "deepnet": "deepnet",
    "deepnet-1step": "deepnet",
    "numpy": "numpy",
    "torch": "torch",
    "sklearn": "sklearn",
}


# --- model cases: convolutional and recurrent networks, deepnet against PyTorch --------------
#
# Each case trains the same architecture with both libraries from their own initialization
# (deepnet: He/Glorot; PyTorch: its layer defaults), float32, Adam, mini-batches in storage
# order (no shuffling). A run is cut into chunks of --chunk steps; the two libraries' chunks
# are interleaved (the order rotating each chunk), so that a slow spell of a shared machine
# hits both alike, and the time per step is the median over the chunks.


@dataclass(frozen=True)
class ModelCase:
    key: str
    description: str
    batch: int
    macs: int  # forward multiply-adds per example (convolutions, recurrent and dense layers)
    recipe: bool  # MNIST-1D's recipe (held-out accuracy, --steps); else random data
    lr: float = 1e-2
    target: str = ""

    @property
    def flops_per_step(self) -> float:
        """Forward + backward ≈ 3 × forward, 2 flops a multiply-add."""
        return 6.0 * self.macs * self.batch


def _out(n: int, k: int, s: int = 1, p: int = 0) -> int:
    return (n + 2 * p - k) // s + 1


_L1 = _out(40, 5, 2, 1)  # 19
_L2 = _out(_L1, 3, 2, 1)  # 10
_L3 = _out(_L2, 3, 2, 1)  # 5
_H1 = _out(28, 3)  # 26, pooled to 13
_H2 = _out(_H1 // 2, 3)  # 11, pooled to 5

MODEL_CASES = [
    ModelCase(
        "mnist1d-cnn",
        "MNIST-1D CNN 3×Conv1D(25)+Dense",
        100,
        _L1 * 25 * 5 + _L2 * 25 * 25 * 3 + _L3 * 25 * 25 * 3 + _L3 * 25 * 10,
        True,
        target="acc ≥ 92%, ≤ 0.2× PyTorch",
    ),
    ModelCase(
        "mnist1d-gru",
        "MNIST-1D BiGRU(6)+Dense",
        100,
        2 * 40 * 3 * 6 * (1 + 6) + 40 * 12 * 10,
        True,
        target="acc ≥ 88%, ≤ 0.1× PyTorch",
    ),
    ModelCase(
        "lenet",
        "LeNet-sized Conv2D 28×28",
        64,
        _H1 * _H1 * 32 * 9 + _H2 * _H2 * 64 * 32 * 9 + (_H2 // 2) ** 2 * 64 * 10,
        False,
        target="≤ 1.0× PyTorch",
    ),
]
MODEL_PEERS = ("deepnet", "torch")


@dataclass
class ModelData:
    X: np.ndarray  # deepnet's layout: examples on the last axis
    Y: np.ndarray  # one-hot (10, m)
    labels: np.ndarray  # (m,)
    X_test: np.ndarray | None = None
    labels_test: np.ndarray | None = None


_MNIST1D: dict[str, ModelData] = {}


def model_data(case: ModelCase) -> ModelData:
    """MNIST-1D's default data (generated locally by `mnist1d`, seed 42: 4,000 training and
    1,000 test signals as (1, 40, m)), or 1,024 random 28×28 images as (1, 28, 28, m)."""
    if case.recipe:
        if "data" not in _MNIST1D:
            from mnist1d.data import get_dataset_args, make_dataset

            d = make_dataset(get_dataset_args())  # (re)seeds NumPy's global generator: 42
            x = np.ascontiguousarray(d["x"].T[None], dtype=np.float32)
            xt = np.ascontiguousarray(d["x_test"].T[None], dtype=np.float32)
            labels = np.asarray(d["y"], dtype=np.int64)
            Y = np.zeros((10, labels.size), dtype=np.float32)
            Y[labels, np.arange(labels.size)] = 1
            _MNIST1D["data"] = ModelData(x, Y, labels, xt, np.asarray(d["y_test"], np.int64))
        return _MNIST1D["data"]
    rng = np.random.default_rng(0)
    m = case.batch * 16
    X = rng.random((1, 28, 28, m), dtype=np.float32)
    labels = rng.integers(0, 10, m)
    Y = np.zeros((10, m), dtype=np.float32)
    Y[labels, np.arange(m)] = 1
    return ModelData(X, Y, labels)


class ModelTrainer:
    """Trains steps [start, start + n) of the recipe: step s is mini-batch s mod (m / batch)."""

    def train(self, start: int, n: int) -> None:
        raise NotImplementedError

    def accuracy(self) -> float | None:
        raise NotImplementedError


class DeepnetModel(ModelTrainer):
    def __init__(self, case: ModelCase, data: ModelData, seed: int, threads: int | None) -> None:
        import deepnet as dn

        if threads is not None:
            dn.set_num_threads(threads)
        if case.key == "mnist1d-cnn":
            layers = [
                dn.Conv1D(25, 5, strides=2, padding=1, activation="relu"),
                dn.Conv1D(25, 3, strides=2, padding=1, activation="relu"),
                dn.Conv1D(25, 3, strides=2, padding=1, activation="relu"),
                dn.Flatten(),
                dn.Dense(10, activation="softmax"),
            ]
        elif case.key == "mnist1d-gru":
            layers = [
                dn.Bidirectional(dn.GRU(6, return_sequences=True)),
                dn.Flatten(),
                dn.Dense(10, activation="softmax"),
            ]
        else:
            layers = [
                dn.Conv2D(32, 3, activation="relu"),
                dn.MaxPooling2D(),
                dn.Conv2D(64, 3, activation="relu"),
                dn.MaxPooling2D(),
                dn.Flatten(),
                dn.Dense(10, activation="softmax"),
            ]
        self.dn, self.case, self.data = dn, case, data
        self.model = dn.Sequential(
            layers, input_shape=data.X.shape[:-1], loss="categorical_crossentropy", seed=seed
        )
        self.started = False

    def _fit(self, lo: int, hi: int, epochs: int) -> None:
        """`epochs` passes over mini-batches lo..hi−1 (one call into Rust)."""
        B, X, Y = self.case.batch, self.data.X, self.data.Y
        whole = lo == 0 and hi * B == X.shape[-1]
        self.model.fit(
            X if whole else X[..., lo * B : hi * B],
            Y if whole else Y[:, lo * B : hi * B],
            epochs=epochs,
            batch_size=B,
            shuffle=False,
            verbose=0,
            optimizer=None if self.started else self.dn.optimizers.Adam(self.case.lr),
        )
        self.started = True

    def train(self, start: int, n: int) -> None:
        nb = self.data.X.shape[-1] // self.case.batch
        step, end = start, start + n
        while step < end:
            b = step % nb
            if b == 0 and end - step >= nb:
                epochs = (end - step) // nb
                self._fit(0, nb, epochs)
                step += epochs * nb
            else:
                k = min(nb - b, end - step)
                self._fit(b, b + k, 1)
                step += k

    def accuracy(self) -> float | None:
        if self.data.X_test is None:
            return None
        return float(np.mean(self.model.predict_classes(self.data.X_test) == self.data.labels_test))


class TorchModel(ModelTrainer):
    def __init__(self, case: ModelCase, data: ModelData, seed: int, threads: int | None) -> None:
        import torch
        from torch import nn

        if threads is not None:
            torch.set_num_threads(threads)
        torch.manual_seed(seed)

        def layout(X: np.ndarray) -> torch.Tensor:
            if case.key == "mnist1d-gru":  # (m, time, features), batch_first
                return torch.from_numpy(np.ascontiguousarray(X.transpose(2, 1, 0)))
            return torch.from_numpy(np.ascontiguousarray(np.moveaxis(X, -1, 0)))  # (m, C, ...)

        class BiGRU(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.gru = nn.GRU(1, 6, batch_first=True, bidirectional=True)
                self.out = nn.Linear(40 * 12, 10)

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                return self.out(self.gru(x)[0].flatten(1))

        if case.key == "mnist1d-cnn":
            self.net: nn.Module = nn.Sequential(
                nn.Conv1d(1, 25, 5, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv1d(25, 25, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Conv1d(25, 25, 3, stride=2, padding=1),
                nn.ReLU(),
                nn.Flatten(),
                nn.Linear(25 * _L3, 10),
            )
        elif case.key == "mnist1d-gru":
            self.net = BiGRU()
        else:
            self.net = nn.Sequential(
                nn.Conv2d(1, 32, 3),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Conv2d(32, 64, 3),
                nn.ReLU(),
                nn.MaxPool2d(2),
                nn.Flatten(),
                nn.Linear(64 * (_H2 // 2) ** 2, 10),
            )
        self.torch = torch
        self.opt = torch.optim.Adam(self.net.parameters(), lr=case.lr)
        self.loss_fn = nn.CrossEntropyLoss()
        x, y, B = layout(data.X), torch.from_numpy(data.labels), case.batch
        self.batches = [(x[s : s + B], y[s : s + B]) for s in range(0, x.shape[0], B)]
        self.test = None
        if data.X_test is not None:
            self.test = (layout(data.X_test), torch.from_numpy(data.labels_test))

    def train(self, start: int, n: int) -> None:
        nb = len(self.batches)
        for step in range(start, start + n):
            xb, yb = self.batches[step % nb]
            self.opt.zero_grad(set_to_none=True)
            self.loss_fn(self.net(xb), yb).backward()
            self.opt.step()

    def accuracy(self) -> float | None:
        if self.test is None:
            return None
        with self.torch.no_grad():
            pred = self.net(self.test[0]).argmax(1)
        return float((pred == self.test[1]).float().mean())


MODEL_TRAINERS: dict[str, Callable[..., ModelTrainer]] = {
    "deepnet": DeepnetModel,
    "torch": TorchModel,
}


@dataclass
class ModelResult:
    steps: int = 0  # steps trained per seed
    chunks: list[float] = field(default_factory=list)  # seconds per step, every timed chunk
    rounds: list[tuple[int, int]] = field(default_factory=list)  # (seed, round) of each chunk
    seed_medians: list[float] = field(default_factory=list)
    seed_means: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)


def run_model_case(
    case: ModelCase, peers: list[str], args: argparse.Namespace
) -> dict[str, ModelResult]:
    """The recipe cases: every seed trains --steps steps (PyTorch: --torch-steps) from a fresh
    model, in chunks of --chunk steps interleaved between the peers, then the held-out accuracy
    is measured. The random-data case: one warm-up chunk, then --runs interleaved chunks."""
    data = model_data(case)
    results = {peer: ModelResult() for peer in peers}
    seeds = range(args.seeds) if case.recipe else range(1)
    for seed in seeds:
        trainers = {peer: MODEL_TRAINERS[peer](case, data, seed, args.threads) for peer in peers}
        if case.recipe:
            chunk = args.chunk
            total = {p: args.torch_steps if p == "torch" else args.steps for p in peers}
            done = dict.fromkeys(peers, 0)
        else:
            chunk = data.X.shape[-1] // case.batch  # one epoch, as the dense cases
            for t in trainers.values():
                t.train(0, chunk)  # warm-up: first-call allocations, thread pools
            total = dict.fromkeys(peers, chunk * (args.runs + 1))
            done = dict.fromkeys(peers, chunk)
        per_step: dict[str, list[float]] = {p: [] for p in peers}
        seconds = dict.fromkeys(peers, 0.0)
        r = 0
        while any(done[p] < total[p] for p in peers):
            order = peers[r % len(peers) :] + peers[: r % len(peers)]
            for peer in order:
                n = min(chunk, total[peer] - done[peer])
                if n <= 0:
                    continue
                t0 = time.perf_counter()
                trainers[peer].train(done[peer], n)
                dt = time.perf_counter() - t0
                done[peer] += n
                seconds[peer] += dt
                per_step[peer].append(dt / n)
                results[peer].rounds.append((seed, r))
            r += 1
        for peer in peers:
            res = results[peer]
            res.steps = total[peer] - (0 if case.recipe else chunk)
            res.chunks += per_step[peer]
            res.seed_medians.append(statistics.median(per_step[peer]))
            res.seed_means.append(seconds[peer] / res.steps)
            acc = trainers[peer].accuracy()
            if acc is not None:
                res.accuracies.append(acc)
    return results


def _machine_busy_s() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat; None elsewhere)."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class OtherLoad:
    """The share of the machine's CPUs that other processes used while the block ran: the
    machine's busy time less this process's CPU time, over wall time × CPUs."""

    def __enter__(self) -> OtherLoad:
        self.t, self.cpu, self.busy = time.perf_counter(), time.process_time(), _machine_busy_s()
        return self

    def __exit__(self, *exc: object) -> None:
        busy = _machine_busy_s()
        wall = time.perf_counter() - self.t
        own = time.process_time() - self.cpu
        self.share = (
            None
            if busy is None or self.busy is None or wall <= 0
            else max(0.0, (busy - self.busy - own) / (wall * (os.cpu_count() or 1)))
        )

    def __str__(self) -> str:
        return "-" if self.share is None else f"{100 * self.share:.0f}%"


def report_model_cases(chosen: list[ModelCase], peers: list[str], args, roofline: float) -> None:
    peers = [p for p in MODEL_PEERS if p in peers]
    print(
        f"model cases: float32, Adam lr 1e-2, no shuffling; seeds {args.seeds} (MNIST-1D), "
        f"steps deepnet {args.steps}, PyTorch {args.torch_steps} (MNIST-1D), chunk {args.chunk}"
    )
    print(
        "ms/step: median over chunks; mean: whole runs; deepnet/peer: over the chunks both ran; "
        "spread: (max − min) / median of the seeds' times (lenet: of its runs)"
    )
    header = (
        f"{'case':<13}{'peer':<9}{'steps':>7}{'ms/step':>10}{'mean':>9}{'deepnet/peer':>14}"
        f"{'GFLOP/s':>9}{'roofline':>9}{'spread':>8}{'accuracy':>10}"
        "  per seed (ms/step; accuracy)"
    )
    print(header)
    print("-" * len(header))
    for case in chosen:
        with OtherLoad() as others:
            res = run_model_case(case, peers, args)
        med = {p: statistics.median(r.chunks) for p, r in res.items()}
        for peer, r in res.items():
            # deepnet's chunks of the rounds this peer ran too (all of them unless --torch-steps
            # is below --steps), so that the ratio compares times of the same spells
            shared = set(r.rounds)
            mine = [t for t, k in zip(res["deepnet"].chunks, res["deepnet"].rounds) if k in shared]
            ratio = statistics.median(mine) / med[peer]
            ratio_s = "" if peer == "deepnet" else f"{ratio:.3f}x"
            # spread between repetitions: seeds (recipe cases) or chunks (random data)
            reps = r.seed_medians if case.recipe and len(r.seed_medians) > 1 else r.chunks
            spread = (max(reps) - min(reps)) / statistics.median(reps)
            acc = f"{100 * statistics.mean(r.accuracies):.1f}%" if r.accuracies else "-"
            per_seed = ", ".join(f"{1e3 * t:.3f}" for t in r.seed_medians)
            if r.accuracies:
                per_seed += "; " + ", ".join(f"{100 * a:.1f}%" for a in r.accuracies)
            gflops = case.flops_per_step / med[peer] / 1e9
            print(
                f"{case.key:<13}{peer:<9}{r.steps:>7}{1e3 * med[peer]:>10.3f}"
                f"{1e3 * statistics.mean(r.seed_means):>9.3f}{ratio_s:>14}"
                f"{gflops:>9.1f}{100 * gflops / roofline:>8.0f}%{100 * spread:>7.0f}%{acc:>10}"
                f"  {per_seed}",
                flush=True,
            )
        print(
            f"  target: {case.target}; CPU used by other processes meanwhile: {others} of "
            f"{os.cpu_count()} CPUs\n",
            flush=True,
        )


def available(peer: str) -> bool:
    try:
        __import__(MODULES[peer])
        return True
    except ImportError:
        return False


def peak_gflops(threads: int) -> float:
    """The roofline: the float32 peak of `threads` cores now, from a register-only loop of
    fused multiply-adds on each (deepnet._core._peak_gflops; the best of 3)."""
    from deepnet import _core

    return max(_core._peak_gflops(threads) for _ in range(3))


def numpy_gflops(runs: int) -> float:
    """The flop rate of NumPy's float32 1024³ product on these cores now (its best of 2·runs,
    at least 10), printed beside the roofline for reference."""
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    a @ a
    times = []
    for _ in range(max(2 * runs, 10)):
        t = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t)
    return 2 * 1024**3 / min(times) / 1e9


def blas_shapes(runs: int) -> None:
    """NumPy's BLAS (OpenBLAS) at the product shapes of the 784→256 layer: the BLAS column of
    the README's kernel table (deepnet's own kernels: `cargo bench --bench dense -- matmul`)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("note: threadpoolctl is not installed; BLAS thread count not controlled")
        threadpool_limits = None
    rng = np.random.default_rng(0)
    print(f"{'batch':>6}{'threads':>9}{'GFLOP/s (forward + dW + dA_prev)':>36}")
    for threads in (1, 2):
        for m in (1, 32, 256, 2048):
            w = rng.random((256, 784), dtype=np.float32)
            x = rng.random((784, m), dtype=np.float32)
            dz = rng.random((256, m), dtype=np.float32)

            def step(w=w, x=x, dz=dz) -> None:
                w @ x
                dz @ x.T
                w.T @ dz

            if threadpool_limits is not None:
                with threadpool_limits(limits=threads):
                    t = time_it(step, max(runs, 20))
            else:
                t = time_it(step, max(runs, 20))
            print(f"{m:>6}{threads:>9}{6 * 784 * 256 * m / t / 1e9:>36.1f}")


def time_interleaved(fns: dict[str, Callable[[], None]], runs: int) -> dict[str, float]:
    """Median time per peer, the peers' runs interleaved (a, b, c, a, b, c, ...; the order
    rotating each round) so that a slow spell of a shared machine hits them all alike."""
    for fn in fns.values():
        fn()  # warm-up: first-call allocations, thread pools, lazy imports
    samples: dict[str, list[float]] = {peer: [] for peer in fns}
    names = list(fns)
    for r in range(runs):
        for peer in names[r % len(names) :] + names[: r % len(names)]:
            t = time.perf_counter()
            fns[peer]()
            samples[peer].append(time.perf_counter() - t)
    return {peer: statistics.median(ts) for peer, ts in samples.items()}


def time_it(fn: Callable[[], None], runs: int) -> float:
    fn()  # warm-up: first-call allocations, thread pools, lazy imports
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def peak_rss_mib(peer: str, case_key: str, quick: bool, threads: int | None) -> float | None:
    """Peak RSS growth of one training run in a fresh process (beyond imports, data, model)."""
    cmd = [sys.executable, HERE, "--memory-probe", peer, case_key]
    if quick:
        cmd.append("--quick")
    if threads is not None:
        cmd += ["--threads", str(threads)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]
    except (subprocess.SubprocessError, ValueError, KeyError, IndexError):
        return None


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def memory_probe(peer: str, case_key: str, quick: bool, threads: int | None) -> None:
    """Peak RSS of training beyond the data and the model, in MiB: the high-water mark is
    reset (Linux: /proc/self/clear_refs) after the data and the model exist, then one
    training run is made and VmHWM − VmRSS(before) is reported."""
    case = next(c for c in cases(quick) if c.key == case_key)
    X, Y, labels = make_data(case)
    fn = PEERS[peer](case, X, Y, labels, threads)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    base = _status_kib("VmRSS")
    fn()
    peak = _status_kib("VmHWM")
    data = (X.nbytes + Y.nbytes) / 2**20
    print(json.dumps({"peak_mib": (peak - base) / 1024, "data_mib": data}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="6,000 examples, fewer epochs")
    parser.add_argument("--runs", type=int, default=5, help="repetitions; the median is shown")
    parser.add_argument(
        "--cases",
        nargs="*",
        help="case keys (default: every dense case); the model cases "
        + ", ".join(c.key for c in MODEL_CASES)
        + " run only when named",
    )
    parser.add_argument(
        "--peers",
        nargs="*",
        default=[p for p in PEERS if p != "deepnet-1step"],
        help="peers to run (" + ", ".join(PEERS) + "; default: all but deepnet-1step)",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for deepnet and torch (default: their own defaults)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the RSS subprocesses")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="MNIST-1D cases: training steps per seed (default 8000, the recipe; 400 with --quick)",
    )
    parser.add_argument(
        "--torch-steps",
        type=int,
        default=None,
        help="MNIST-1D cases: PyTorch's steps per seed (default: --steps); fewer times its steps "
        "without its full training (its accuracy is then that of the shorter run)",
    )
    parser.add_argument("--seeds", type=int, default=2, help="MNIST-1D cases: seeds 0..n-1")
    parser.add_argument(
        "--chunk", type=int, default=200, help="MNIST-1D cases: steps per timed, interleaved chunk"
    )
    parser.add_argument(
        "--blas", action="store_true", help="only time NumPy's BLAS at the layer's product shapes"
    )
    parser.add_argument("--memory-probe", nargs=2, metavar=("PEER", "CASE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_probe:
        memory_probe(*args.memory_probe, args.quick, args.threads)
        return
    if args.blas:
        blas_shapes(args.runs)
        return

    peers = [p for p in args.peers if p in PEERS]
    for p in peers:
        if not available(p):
            print(f"note: {p} is not installed; skipped")
    peers = [p for p in peers if available(p)]
    keys = {c.key for c in cases(args.quick)} | {c.key for c in MODEL_CASES}
    unknown = [k for k in args.cases or [] if k not in keys]
    if unknown:
        parser.error(f"unknown case(s) {unknown}; known: {sorted(keys)}")
    chosen = [c for c in cases(args.quick) if not args.cases or c.key in args.cases]
    chosen_models = [c for c in MODEL_CASES if args.cases and c.key in args.cases]
    if args.steps is None:
        args.steps = 400 if args.quick else 8000
    if args.torch_steps is None:
        args.torch_steps = args.steps
    for name in ("steps", "torch_steps", "seeds", "chunk", "runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if chosen_models:
        for p in peers:
            if p not in MODEL_PEERS:
                print(f"note: {p} has no convolutional or recurrent layers; model cases skip it")
        if "deepnet" not in peers:
            parser.error("the model cases need the deepnet peer")

    import deepnet as dn

    threads = dn.get_num_threads() if args.threads is None else args.threads
    numpy_rate = numpy_gflops(args.runs)
    gf = peak_gflops(threads)
    print(
        f"deepnet {dn.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )
    threads_line = [f"deepnet threads: {threads}"]
    try:
        from threadpoolctl import threadpool_info

        blas = [f"{i['internal_api']} {i['num_threads']}" for i in threadpool_info()]
        threads_line.append("numpy BLAS threads: " + ", ".join(blas))
    except ImportError:
        pass
    if "torch" in peers:
        import torch

        if args.threads is not None:
            torch.set_num_threads(args.threads)
        threads_line.append(f"torch {torch.__version__} threads: {torch.get_num_threads()}")
    print("; ".join(threads_line))
    print(
        f"roofline: {gf:.1f} GFLOP/s, the float32 FMA peak of {threads} threads measured now "
        f"('% of roofline' below); NumPy's 1024³ product: {numpy_rate:.1f} GFLOP/s "
        f"({100 * numpy_rate / gf:.0f}%)\n"
    )

    if chosen_models:
        report_model_cases(chosen_models, peers, args, gf)
    if not chosen:
        return

    header = (
        f"{'case':<12}{'dtype':<9}{'peer':<9}{'time (s)':>10}{'deepnet/peer':>14}"
        f"{'GFLOP/s':>9}{'% of roofline':>15}{'peak MiB':>10}"
    )
    print(header)
    print("-" * len(header))
    for case in chosen:
        X, Y, labels = make_data(case)
        fns = {}
        for peer in peers:
            if peer == "sklearn" and case.key == "xor":
                continue  # MLPClassifier's per-call validation dominates; not a training loop
            fns[peer] = PEERS[peer](case, X, Y, labels, args.threads)
        times = time_interleaved(fns, args.runs)
        for peer, t in times.items():
            ratio = times["deepnet"] / t if "deepnet" in times else float("nan")
            gflops = case.flops / t / 1e9
            pct = f"{100 * gflops / gf:.0f}%" if case.dtype == "float32" else "-"
            mem = None if args.no_memory else peak_rss_mib(peer, case.key, args.quick, args.threads)
            mem_s = "-" if mem is None else f"{mem:.1f}"
            ratio_s = "" if peer == "deepnet" else f"{ratio:.2f}x"
            print(
                f"{case.key:<12}{case.dtype:<9}{peer:<9}{t:>10.4f}{ratio_s:>14}{gflops:>9.1f}{pct:>15}{mem_s:>10}",
                flush=True,
            )
        print()


if __name__ == "__main__":
    main()
