"""deepnet: deep neural networks in the lecture's notation, trained by compiled Rust kernels.

Examples are columns: X has shape (n_x, m), W^[l] (n^[l], n^[l-1]), b^[l] (n^[l], 1); signals
are (channels, length, m), images (channels, height, width, m), sequences (features, time, m).
Equation numbers in docstrings, e.g. (12), are the lecture's (see README).
"""

from deepnet import callbacks, datasets, ops, optimizers
from deepnet._core import __version__, get_num_threads, set_num_threads
from deepnet.gradcheck import gradient_check
from deepnet.history import History
from deepnet.layers import (
    ACTIVATIONS,
    GRU,
    LSTM,
    AveragePooling1D,
    AveragePooling2D,
    Bidirectional,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    Layer,
    MaxPooling1D,
    MaxPooling2D,
    SimpleRNN,
)
from deepnet.model import LOSSES, CostGrowthWarning, Sequential, load
from deepnet.plotting import (
    plot_activations,
    plot_decision_boundary,
    plot_feature_maps,
    plot_filters,
    plot_search,
    plot_weights,
)
from deepnet.reference import per_example_gradients

__all__ = [
    "ACTIVATIONS",
    "GRU",
    "LOSSES",
    "LSTM",
    "AveragePooling1D",
    "AveragePooling2D",
    "Bidirectional",
    "Conv1D",
    "Conv2D",
    "CostGrowthWarning",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "History",
    "Layer",
    "MaxPooling1D",
    "MaxPooling2D",
    "SimpleRNN",
    "Sequential",
    "__version__",
    "callbacks",
    "datasets",
    "get_num_threads",
    "gradient_check",
    "load",
    "ops",
    "optimizers",
    "per_example_gradients",
    "plot_activations",
    "plot_decision_boundary",
    "plot_feature_maps",
    "plot_filters",
    "plot_search",
    "plot_weights",
    "set_num_threads",
]
