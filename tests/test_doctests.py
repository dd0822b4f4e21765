"""The examples in deepnet's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

FLAGS = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS

# modules whose docstrings have examples, and modules that have none (yet)
WITH_EXAMPLES = [
    "deepnet.model",
    "deepnet.layers.dense",
    "deepnet.layers.dropout",
    "deepnet.layers.conv",
    "deepnet.layers.pooling",
    "deepnet.layers.recurrent",
    "deepnet.ops",
    "deepnet.gradcheck",
    "deepnet.plotting.training",
    "deepnet.plotting.layers",
    "deepnet.plotting.search",
    "deepnet.datasets",
]
WITHOUT_EXAMPLES = [
    "deepnet.history",
    "deepnet.reference",
    "deepnet._validation",
    "deepnet.layers",
    "deepnet.layers.base",
    "deepnet.explain",
    "deepnet.parity",
    "deepnet.plotting",
    "deepnet.plotting._common",
]


@pytest.mark.parametrize("name", WITH_EXAMPLES + WITHOUT_EXAMPLES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=FLAGS, verbose=False, report=True)
    assert result.failed == 0
    if name in WITH_EXAMPLES:
        assert result.attempted > 0
