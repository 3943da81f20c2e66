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


def read_h5_weights(path) -> dict[str, np.ndarray]:
    """A legacy Keras .h5 file (``save_weights`` or a whole saved model) as ``{"<layer>/<i>": array}``,
    read with h5py, so no model of the file's own layout has to be built."""
    import h5py

    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "model_weights" in f else f
        out = {}
        for layer in root.attrs["layer_names"]:
            layer = layer.decode() if isinstance(layer, bytes) else layer
            for i, name in enumerate(root[layer].attrs["weight_names"]):
                out[f"{layer}/{i}"] = np.asarray(root[layer][name.decode() if isinstance(name, bytes) else name])
    return out


def init_from(model, weights: dict[str, np.ndarray], rename=lambda key: key) -> None:
    """Set every weight of ``model`` from ``weights`` found under ``rename(key)`` (for two-stage
    real-to-binary training: a binary layer's key mapped to its real-valued twin's). Raises
    ValueError (one line) when a weight is missing, left over, or of another shape."""
    own = get_keras_weights(model)
    src = {key: rename(key) for key in own}
    check_covers(src.values(), weights, model.name)
    bad = [k for k, s in src.items() if weights[s].shape != own[k].shape]
    if bad:
        raise ValueError(f"weights do not fit {model.name}: {bad[0]} is {own[bad[0]].shape}, "
                         f"the file's {src[bad[0]]} is {weights[src[bad[0]]].shape}")
    set_keras_weights(model, {k: weights[s] for k, s in src.items()})
