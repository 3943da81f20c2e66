"""``python -m convert.parity_study``: where a binary model's converted landmarks differ from Keras.

Converts ``--model`` with LCE, runs Keras and LCE's interpreter on the parity crops (the bundled
sample under six jitters plus ``--crops`` validation crops from ``../shared/data``), and also Keras
on the same crops plus Gaussian noise of ``--noise`` (far below one 8-bit grey level). Prints, for
both comparisons, how many crops come out identical, how many landmarks move more than one heatmap
pixel, and how many of those had a second heatmap peak of at least ``--ratio`` of the top
(``runtime.codec.peak_ambiguity``, via ``convert.core.landmark_moves``): the evidence behind the binary parity bound in
``convert.core``. Writes nothing.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from convert import core


def compare(keras_hm: np.ndarray, other_hm: np.ndarray, spec, ratio: float) -> dict:
    """Landmark moves between two (N, H, W, K) heatmap stacks (input pixels), split by ambiguity."""
    d, confident, clear = core.landmark_moves(keras_hm, other_hm, spec, ratio)
    big = confident & (d > spec.stride)
    per_crop = np.abs(keras_hm - other_hm).reshape(len(keras_hm), -1).max(axis=1)
    return {"crops": len(keras_hm), "crops_identical": int((per_crop <= 1e-4).sum()),
            "confident": int(confident.sum()), "clear": int(clear.sum()),
            "moved_over_1_heatmap_px": int(big.sum()), "of_which_ambiguous": int((big & ~clear).sum()),
            "clear_mean_px": float(d[clear].mean()) if clear.any() else 0.0,
            "clear_max_px": float(d[clear].max()) if clear.any() else 0.0,
            "confident_mean_px": float(d[confident].mean()) if confident.any() else 0.0,
            "confident_max_px": float(d[confident].max()) if confident.any() else 0.0,
            "heatmap_mean_abs": float(np.abs(keras_hm - other_hm).mean())}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.parity_study", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="pose-lsp")
    p.add_argument("--weights", required=True, help="Keras .h5 weights")
    p.add_argument("--crops", type=int, default=64, help="validation crops from ../shared/data (default 64)")
    p.add_argument("--noise", type=float, default=3e-7, help="std of the input noise for the Keras-vs-Keras row")
    p.add_argument("--ratio", type=float, default=core.AMBIGUOUS_PEAK_RATIO, help="second/top peak: ambiguous")
    a = p.parse_args(argv)
    from convert.fixtures import parity_crops
    from models.configs import get_config

    try:
        cfg = get_config(a.model)
        if not cfg.binary:
            raise ValueError(f"{cfg.name} is real-valued; the study is for binary models")
        core._imports()
        model = core.load_keras(cfg, a.weights)
    except (ValueError, core.ConversionError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    spec = cfg.spec()
    x = parity_crops(spec, core.SHARED_DATA, max_shared=a.crops)
    fb = core.convert_keras(model, "binary", x)
    keras_hm = np.asarray(model.predict(x, verbose=0, batch_size=8), np.float32)
    noisy = x + np.random.default_rng(0).normal(0.0, a.noise, x.shape).astype(np.float32)
    rows = {"LCE interpreter": core.run_interpreter(fb, x, "binary"),
            f"Keras, input + N(0, {a.noise:g})": np.asarray(model.predict(noisy, verbose=0, batch_size=8), np.float32)}
    print(f"{cfg.name} ({a.weights}): {len(x)} crops, landmarks compared with Keras; ambiguous = second peak "
          f">= {a.ratio:g} of the top; one heatmap pixel = {spec.stride:g} input px")
    for name, hm in rows.items():
        r = compare(keras_hm, hm, spec, a.ratio)
        print(f"  {name}: {r['crops_identical']}/{r['crops']} crops identical; heatmaps mean|d| "
              f"{r['heatmap_mean_abs']:.1e}; {r['moved_over_1_heatmap_px']} of {r['confident']} confident landmarks "
              f"moved > 1 heatmap px, {r['of_which_ambiguous']} of them ambiguous; clear landmarks ({r['clear']}): "
              f"mean {r['clear_mean_px']:.2f} px, max {r['clear_max_px']:.1f} px; all confident: mean "
              f"{r['confident_mean_px']:.2f} px, max {r['confident_max_px']:.1f} px")
    return 0


if __name__ == "__main__":
    sys.exit(main())
