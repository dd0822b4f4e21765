"""Plots of training and of what a network learned: the cost curve J per epoch, the decision
regions of a model over two of its inputs, the scores of a hyperparameter search, and the
pictures of section 2 of the lecture (the first layers extract simple features): a dense layer's
weights as images, convolutional filters, feature maps and hidden activations.

matplotlib is optional (``pip install matplotlib``, or ``pip install "deepnet[demo]"``); it is
imported when a plot is drawn, not when deepnet is imported.

One module per theme: `training` (plot_history, plot_decision_boundary), `layers`
(plot_weights, plot_filters, plot_feature_maps, plot_activations), `search` (plot_search), and
`_common` (the lazy matplotlib import, class labels and their colours). Every name, the private
helpers included, is also reachable here as ``deepnet.plotting.<name>``.
"""

from __future__ import annotations

# Every name the single plotting.py module had, the private helpers and the modules it imported
# included, stays reachable as deepnet.plotting.<name> (deepnet.parity imports _pyplot from
# here); the public ones are listed in __all__.
import math  # noqa: F401
import numbers  # noqa: F401
from collections.abc import Mapping  # noqa: F401
from typing import Any  # noqa: F401

import numpy as np  # noqa: F401

from deepnet.plotting._common import (  # noqa: F401
    _class_colors,
    _class_labels,
    _pyplot,
)
from deepnet.plotting.layers import (  # noqa: F401
    _CONV,
    _GLOBAL,
    _RECURRENT,
    _SPATIAL,
    _chosen_layer,
    _count,
    _draw_tiles,
    _in_grid,
    _layer_name,
    _mosaic,
    _tile_shape,
    _tile_ticks,
    plot_activations,
    plot_feature_maps,
    plot_filters,
    plot_weights,
)
from deepnet.plotting.search import (  # noqa: F401
    _distinct,
    _format_value,
    _is_number,
    _key,
    _search_results,
    _x_axis,
    _x_parameter,
    plot_search,
)
from deepnet.plotting.training import (  # noqa: F401
    _class_legend,
    _feature_pair,
    _fixed_inputs,
    _input_name,
    _points_of,
    _predicted_classes,
    plot_decision_boundary,
    plot_history,
)

__all__ = [
    "plot_activations",
    "plot_decision_boundary",
    "plot_feature_maps",
    "plot_filters",
    "plot_history",
    "plot_search",
    "plot_weights",
]
