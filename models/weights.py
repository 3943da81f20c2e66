"""Model weights as plain arrays, the exchange format between Keras and the PyTorch mirror:
``{"<keras layer name>/<i>": ndarray}`` with ``i`` the index in the layer's ``get_weights()``."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def check_covers(expected: Iterable[str], given: Iterable[str], model: str) -> None:
    """Raise ValueError (one line, the first names) unless ``given`` names exactly ``expected``."""
    expected, given = set(expected), set(given)
    missing, extra = sorted(expected - given), sorted(given - expected)
    if missing or extra:
        raise ValueError(f"weights do not fit {model}: missing {missing[:3]}, unexpected {extra[:3]}")


def get_keras_weights(model) -> dict[str, np.ndarray]:
    """A Keras model's weights as ``{"<layer>/<i>": array}``."""
    return {f"{layer.name}/{i}": w for layer in model.layers for i, w in enumerate(layer.get_weights())}


def set_keras_weights(model, weights: dict[str, np.ndarray]) -> None:
    """Set a Keras model's weights from ``{"<layer>/<i>": array}``; every weight must be given."""
    check_covers(get_keras_weights(model), weights, model.name)
    for layer in model.layers:
        n = len(layer.get_weights())
        if n:
            layer.set_weights([weights[f"{layer.name}/{i}"] for i in range(n)])
