"""Shared test helpers: tiny converted models with realistic (non-degenerate) weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np

TINY = dict(input_size=64, width=32, depth=2)


def random_weights(cfg, path: Path, seed: int = 0) -> Path:
    """Random weights with non-trivial BatchNorm statistics (as after training), saved as .h5."""
    import tensorflow as tf

    from models.hourglass import build_model

    tf.keras.utils.set_random_seed(seed)
    m = build_model(config=cfg)
    rng = np.random.default_rng(seed)
    for layer in m.layers:
        if isinstance(layer, tf.keras.layers.BatchNormalization):
            g, b, mu, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.3, b.shape),
                               rng.normal(0, 0.3, mu.shape), rng.uniform(0.5, 2.0, var.shape)])
    m.save_weights(str(path))
    return path


def tiny_model(folder: Path, name: str = "face", **overrides) -> Path:
    """Convert a tiny config with random weights into ``folder``; returns the .tflite path."""
    from convert import core
    from models.configs import get_config

    cfg = get_config(name, **{**TINY, **overrides})
    w = random_weights(cfg, folder / f"{cfg.name}.h5")
    rep = core.convert(cfg, weights=w, out_dir=folder, shared_data=None)
    return Path(rep.path)
