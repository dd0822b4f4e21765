"""Section 2 on n-bit parity: the data set, the three hand-built networks, the command."""

from __future__ import annotations

import subprocess
import sys

import deepnet as dn
import numpy as np
import pytest
from deepnet import parity as P


def test_the_data_set_is_every_input_and_its_xor():
    for n in (1, 2, 5, 8):
        X, y = dn.datasets.parity(n)
        assert X.shape == (n, 2**n) and y.shape == (2**n,)
        assert len({tuple(c) for c in X.T}) == 2**n  # every input once
        assert np.array_equal(y, np.bitwise_xor.reduce(X.astype(int), axis=0))
    for bad, error in ((0, ValueError), (21, ValueError), (2.0, TypeError), (True, TypeError)):
        with pytest.raises(error, match="n:"):
            dn.datasets.parity(bad)


@pytest.mark.parametrize("n", range(1, 9))
def test_every_hand_built_network_is_exact(n):
    X, y = dn.datasets.parity(n)
    for build in (P.deep_tree, P.shallow_patterns, P.shallow_counting):
        net = build(n)
        assert P.accuracy(net.model, X, y) == 1.0, (net.name, n)
        # outputs are confidently right, not just on the right side of 1/2
        yhat = net.model.predict(X)[0]
        assert np.all(np.abs(yhat - y) < 0.01), (net.name, n)


def test_the_neuron_counts_of_the_lecture_and_its_caveat():
    assert P.deep_tree(8).hidden == [8, 4, 2] and P.deep_tree(8).neurons == 14
    assert P.shallow_patterns(8).neurons == 2**7 == 128
    assert P.shallow_counting(8).neurons == 8
    for n in (2, 4, 16):  # powers of 2: two ReLU units per XOR of the tree
        assert sum(P.deep_tree_sizes(n)) == 2 * (n - 1)
    assert len(P.deep_tree_sizes(16)) == 4  # log2(16) hidden layers


def test_the_command_builds_checks_trains_and_plots(tmp_path):
    out = tmp_path / "parity.png"
    cmd = [
        sys.executable,
        "-m",
        "deepnet",
        "parity",
        "--bits",
        "4",
        "--seeds",
        "2",
        "--epochs",
        "50",
        "--out",
        str(out),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "deep XOR tree" in result.stdout and "of 2" in result.stdout
    assert out.stat().st_size > 10_000
    bad = subprocess.run([*cmd[:4], "--bits", "40"], capture_output=True, text=True)
    assert bad.returncode == 2 and "--bits must be 1..12" in bad.stderr


def test_training_results_are_reported_per_seed():
    nets = P.run(bits=3, seeds=2, epochs=20, out="/dev/null", quiet=True)
    figures = P.describe(nets)
    for net in figures.values():
        assert len(net["trained"]) == 2 and all(0 <= a <= 1 for a in net["trained"])
        assert net["accuracy"] == 1.0
