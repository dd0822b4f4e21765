"""Section 2's depth argument on n-bit parity: ``python -m deepnet parity --bits N``.

The lecture (figure 3) says the XOR of n inputs needs few neurons in about log₂ n hidden
layers, but 2^(n−1) neurons with a single hidden layer. This module builds three networks by
hand (weights set, not trained), checks each on all 2^n inputs, and counts their neurons:

- **deep**: a tree of XORs, ⌈log₂ n⌉ hidden ReLU layers. XOR(u, v) = h₁ − 2h₂ with
  h₁ = relu(u + v) and h₂ = relu(u + v − 1) for bits u, v, so every XOR of the tree takes two
  ReLU units (an odd one out at a level is passed on by one unit, relu(u) = u), and the next
  layer reads h₁ − 2h₂ through its weights: 2(n − 1) hidden neurons when n is a power of 2.
- **shallow, one unit per pattern**: the lecture's construction. One hidden ReLU unit per
  input with an odd number of ones, relu(Σ_i (2p_i − 1) x_i − (|p| − 1)), which is 1 on that
  pattern p and 0 on every other: 2^(n−1) hidden neurons, an AND-like unit each.
- **shallow, counting**: one hidden layer of n threshold units, unit k firing when at least k
  inputs are 1: hard_sigmoid(6 (Σ_i x_i − k + ½)), which is exactly 0 or 1 on binary inputs
  (hard_sigmoid is 0 below −3 and 1 above 3), and the output Σ_k (−1)^(k+1) unit_k: n
  hidden neurons. So 2^(n−1) is what
  one-unit-per-pattern needs, not a lower bound for every shallow network: the caveat the
  lecture's claim needs.

Then it trains each architecture from random initialization over several seeds and reports
how often training reaches 100% on all 2^n inputs: that a network *can* compute parity does
not mean gradient descent finds the weights (learnability is a lesson of its own).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import deepnet as dn
from deepnet.datasets import parity

#: Steepness of the output sigmoid: on the integer sums it sees, σ(±STEEP/2) is within 1e-4 of
#: 0 or 1.
STEEP = 20.0


@dataclass
class Built:
    """A hand-built network and what the demo reports about it."""

    name: str
    model: dn.Sequential
    hidden: list[int]
    accuracy: float = 0.0
    trained: list[float] = field(default_factory=list)

    @property
    def neurons(self) -> int:
        return sum(self.hidden)

    @property
    def params(self) -> int:
        return sum(w.size for w in self.model.get_weights())


def _network(sizes: list[int], activations: list[str], n: int, seed: int = 0) -> dn.Sequential:
    layers = [dn.Dense(k, activation=g) for k, g in zip(sizes, activations)]
    return dn.Sequential(
        [*layers, dn.Dense(1, activation="sigmoid")],
        n_x=n,
        loss="binary_crossentropy",
        seed=seed,
        dtype="float64",
    )


def _output(combination: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The output layer σ(STEEP·(c·h − ½)) for a hidden combination c·h that is the parity."""
    return STEEP * combination[None, :], np.array([[-STEEP / 2]])


def deep_tree_sizes(n: int) -> list[int]:
    """Hidden layer sizes of the XOR tree: two units per XOR, one per odd one out."""
    sizes, width = [], n
    while width > 1:
        pairs, odd = divmod(width, 2)
        sizes.append(2 * pairs + odd)
        width = pairs + odd
    return sizes or [1]


def deep_tree(n: int) -> Built:
    """The deep network: a tree of XORs, two ReLU units each (see the module docstring)."""
    sizes = deep_tree_sizes(n)
    model = _network(sizes, ["relu"] * len(sizes), n)
    # the value each input of the current level is, as a linear map of the layer below
    read = np.eye(n)  # level 0: the inputs themselves
    weights = []
    for size in sizes:
        width = read.shape[0]
        W, b = np.zeros((size, read.shape[1])), np.zeros((size, 1))
        nxt = np.zeros((width // 2 + width % 2, size))
        for p in range(width // 2):
            u_plus_v = read[2 * p] + read[2 * p + 1]
            W[2 * p], W[2 * p + 1], b[2 * p + 1] = u_plus_v, u_plus_v, -1.0
            nxt[p, 2 * p], nxt[p, 2 * p + 1] = 1.0, -2.0  # XOR = h1 − 2 h2
        if width % 2:
            W[-1] = read[-1]  # relu(u) = u passes the odd one out on
            nxt[-1, -1] = 1.0
        weights += [W, b]
        read = nxt
    weights += _output(read[0])
    model.set_weights(weights)
    return Built("deep XOR tree", model, sizes)


def shallow_patterns(n: int) -> Built:
    """One hidden ReLU unit per odd-parity pattern: 2^(n−1) units (the lecture's count)."""
    X, y = parity(n)
    patterns = X[:, y == 1].T  # (2^(n−1), n)
    W = 2 * patterns - 1
    b = -(patterns.sum(axis=1, keepdims=True) - 1)
    model = _network([len(patterns)], ["relu"], n)
    model.set_weights([W, b, *_output(np.ones(len(patterns)))])
    return Built("shallow, one unit per pattern", model, [len(patterns)])


def shallow_counting(n: int) -> Built:
    """n threshold units counting the ones, combined with alternating signs: unit k is
    hard_sigmoid(6 (Σ_i x_i − k + ½)), exactly 1 when at least k inputs are 1, else 0."""
    model = _network([n], ["hard_sigmoid"], n)
    k = np.arange(1, n + 1)
    W = np.full((n, n), 6.0)
    b = (-6.0 * (k - 0.5))[:, None]
    signs = np.where(k % 2 == 1, 1.0, -1.0)
    model.set_weights([W, b, *_output(signs)])
    return Built("shallow, counting (threshold units)", model, [n])


def accuracy(model: dn.Sequential, X: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((model.predict(X)[0] > 0.5) == (y == 1)))


def train_from_scratch(
    built: Built, X: np.ndarray, y: np.ndarray, seeds: int, epochs: int
) -> list[float]:
    """Accuracy after training the same architecture from random weights, per seed."""
    activation = "hard_sigmoid" if built.name.startswith("shallow, counting") else "relu"
    results = []
    for seed in range(seeds):
        model = _network(built.hidden, [activation] * len(built.hidden), X.shape[0], seed)
        model.fit(
            X,
            y,
            epochs=epochs,
            optimizer="adam",
            learning_rate=1e-2,
            batch_size=32,
            target_cost=1e-3,
            verbose=0,
        )
        results.append(accuracy(model, X, y))
    return results


def run(
    bits: int = 8,
    seeds: int = 5,
    epochs: int = 1000,
    out: str = "deepnet_parity.png",
    quiet: bool = False,
) -> list[Built]:
    """Builds, checks, counts, trains and plots; returns the three networks with results."""
    X, y = parity(bits)
    say = (lambda *a: None) if quiet else print
    nets = [deep_tree(bits), shallow_patterns(bits), shallow_counting(bits)]
    say(f"{bits}-bit parity: all {2**bits} inputs\n")
    say(
        f"{'network (weights set by hand)':<40}{'hidden layers':>14}{'neurons':>9}"
        f"{'parameters':>12}{'accuracy':>10}"
    )
    for net in nets:
        net.accuracy = accuracy(net.model, X, y)
        layers = "-".join(str(k) for k in net.hidden)
        say(
            f"{net.name:<40}{len(net.hidden):>5} ({layers:>7}){net.neurons:>9}"
            f"{net.params:>12}{net.accuracy:>10.1%}"
        )
    say(
        f"\ntrained from random weights ({seeds} seeds, Adam, α = 0.01, batch 32, up to "
        f"{epochs} epochs): runs reaching 100%"
    )
    start = time.perf_counter()
    for net in nets:
        net.trained = train_from_scratch(net, X, y, seeds, epochs)
        hits = sum(a == 1.0 for a in net.trained)
        accs = " ".join(f"{a:.0%}" for a in net.trained)
        say(f"{net.name:<40}{hits:>5} of {seeds}   ({accs})")
    say(f"({time.perf_counter() - start:.1f} s of training)")
    path = _plot(nets, bits, out)
    say(f"\nwrote {path}")
    return nets


def _plot(nets: list[Built], bits: int, out: str) -> Path:
    from deepnet.plotting import _pyplot

    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    ns = np.arange(2, max(bits, 8) + 1)
    left.plot(ns, [sum(deep_tree_sizes(int(k))) for k in ns], "o-", label="deep XOR tree")
    left.plot(ns, 2.0 ** (ns - 1), "s-", label="shallow, one unit per pattern: 2^(n−1)")
    left.plot(ns, ns, "^-", label="shallow, counting: n")
    left.set_yscale("log", base=2)
    left.set_xlabel("bits n")
    left.set_ylabel("hidden neurons (weights set by hand)")
    left.set_title("Neurons that compute n-bit parity exactly")
    left.legend(loc="upper left", fontsize=8)
    names = [net.name.replace(", ", ",\n") for net in nets]
    rates = [np.mean([a == 1.0 for a in net.trained]) if net.trained else 0 for net in nets]
    bars = right.bar(names, rates, color=["C0", "C1", "C2"])
    right.bar_label(bars, labels=[f"{r:.0%}" for r in rates])
    right.set_ylim(0, 1.15)
    right.set_ylabel("seeds reaching 100%")
    right.set_title(f"Trained from random weights, n = {bits}")
    right.tick_params(axis="x", labelsize=8)
    path = Path(out)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def main_exit_code(nets: list[Built]) -> int:
    """0 when every hand-built network is exact (the demo's claim), else 1."""
    return 0 if all(net.accuracy == 1.0 for net in nets) else 1


def describe(nets: list[Built]) -> dict[str, Any]:
    """The figures as a dict (for tests and notebooks)."""
    return {
        net.name: {
            "hidden": net.hidden,
            "neurons": net.neurons,
            "params": net.params,
            "accuracy": net.accuracy,
            "trained": net.trained,
        }
        for net in nets
    }
