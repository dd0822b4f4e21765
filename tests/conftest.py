"""Shared pytest setup: puts this folder on sys.path so that tests can import `numpy_net`, the
independent NumPy implementation of the lecture's equations used as the reference."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(12345)


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """Python's own Ctrl-C handler (raise KeyboardInterrupt) for the test, whatever this
    process inherited: a shell that starts the tests in the background (`cmd &`, nohup, some
    CI runners) has SIGINT ignored, and Python then installs no handler, so a test that sends
    itself SIGINT would see nothing happen."""
    import signal

    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
