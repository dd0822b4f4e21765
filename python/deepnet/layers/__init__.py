"""Layers: the building blocks of figures 4–5 of the lecture, one module per family.

Every activation array keeps the example axis last: (n, m) for vectors, (channels, length, m)
for signals, (channels, height, width, m) for images, (features, time, m) for sequences. Layers
of every kind mix in one `Sequential`.
"""

from deepnet.layers.base import ACTIVATIONS, LAYER_TYPES, Layer, layer_from_spec
from deepnet.layers.conv import Conv1D, Conv2D
from deepnet.layers.dense import Dense
from deepnet.layers.dropout import Dropout
from deepnet.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    Flatten,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from deepnet.layers.recurrent import GRU, LSTM, Bidirectional, SimpleRNN

__all__ = [
    "ACTIVATIONS",
    "GRU",
    "LAYER_TYPES",
    "LSTM",
    "AveragePooling1D",
    "AveragePooling2D",
    "Bidirectional",
    "Conv1D",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "GlobalAveragePooling1D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling1D",
    "GlobalMaxPooling2D",
    "Layer",
    "MaxPooling1D",
    "MaxPooling2D",
    "SimpleRNN",
    "layer_from_spec",
]
