"""Shared pytest setup: puts this folder on sys.path so that tests can import `numpy_net`, the
independent NumPy implementation of the lecture's equations used as the reference."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh, seeded generator for each test."""
    return np.random.default_rng(12345)
