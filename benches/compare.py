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
ratio deepnet/peer, deepnet's GFLOP/s (6·m·Σ n^[l]·n^[l-1] flops an epoch) as a fraction of
the same run's NumPy float32 1024³ matrix product, and the peak resident memory one epoch
adds to the data and the model, measured in a fresh subprocess per peer (Linux only).
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
from dataclasses import dataclass
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
        return 6.0 * self.m * self.epochs * sum(a * b for a, b in zip(self.sizes, self.sizes[1:]))


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


PEERS: dict[str, Callable] = {
    "deepnet": deepnet_trainer,
    "numpy": numpy_trainer,
    "torch": torch_trainer,
    "sklearn": sklearn_trainer,
}
MODULES = {"deepnet": "deepnet", "numpy": "numpy", "torch": "torch", "sklearn": "sklearn"}


def available(peer: str) -> bool:
    try:
        __import__(MODULES[peer])
        return True
    except ImportError:
        return False


def numpy_gflops(runs: int) -> float:
    a = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)
    a @ a
    times = []
    for _ in range(max(runs, 3)):
        t = time.perf_counter()
        a @ a
        times.append(time.perf_counter() - t)
    return 2 * 1024**3 / statistics.median(times) / 1e9


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
    parser.add_argument("--cases", nargs="*", help="case keys (default: all)")
    parser.add_argument("--peers", nargs="*", default=list(PEERS), help="peers to run")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for deepnet and torch (default: their own defaults)",
    )
    parser.add_argument("--no-memory", action="store_true", help="skip the RSS subprocesses")
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
    chosen = [c for c in cases(args.quick) if not args.cases or c.key in args.cases]

    import deepnet as dn

    gf = numpy_gflops(args.runs)
    print(
        f"deepnet {dn.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs"
    )
    threads_line = [
        f"deepnet threads: {dn.get_num_threads() if args.threads is None else args.threads}"
    ]
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
    print(f"NumPy float32 1024³ matrix product: {gf:.1f} GFLOP/s\n")

    header = (
        f"{'case':<12}{'dtype':<9}{'peer':<9}{'time (s)':>10}{'deepnet/peer':>14}"
        f"{'GFLOP/s':>9}{'% of np matmul':>16}{'peak MiB':>10}"
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
                f"{case.key:<12}{case.dtype:<9}{peer:<9}{t:>10.4f}{ratio_s:>14}{gflops:>9.1f}{pct:>16}{mem_s:>10}",
                flush=True,
            )
        print()


if __name__ == "__main__":
    main()
