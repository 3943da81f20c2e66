"""``python -m models.describe``: the README's table of named configs (weights and MACs)."""

from __future__ import annotations

import sys

from models.configs import CONFIGS


def conv_macs(model) -> dict:
    """Multiply-accumulates of binary and real convolutions for one image."""
    import larq as lq
    import tensorflow as tf

    out = {"binary": 0, "real": 0}
    for layer in model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            h, w, cout = layer.output_shape[1:]
            kh, kw, cin, _ = layer.kernel.shape
            macs = h * w * cout * kh * kw * cin
            binary = isinstance(layer, lq.layers.QuantConv2D) and layer.kernel_quantizer is not None
            out["binary" if binary else "real"] += int(macs)
    return out


DEFAULT = ["face", "face-real", "face-bottleneck", "pose-lsp", "face-256", "pose-lsp-256", "pose-mpii",
           "pose-mpii-bottleneck"]


def main(argv=None) -> int:
    from models.hourglass import count_parameters, load_model

    names = (argv if argv is not None else sys.argv[1:]) or DEFAULT
    print("| config | task | keypoints | input | width | stacks | heatmaps | binary weights | real conv params "
          "| binary MACs | real MACs |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        cfg = CONFIGS[n]
        m = load_model(config=cfg, weights=None)  # the inference graph (re-injection folded)
        c, macs = count_parameters(m), conv_macs(m)
        print(f"| `{n}` | {cfg.task} | {cfg.num_keypoints} | {cfg.input_size} | {cfg.width} | {cfg.stacks} "
              f"| {cfg.heatmap_size} "
              f"| {c['binary']:,} | {c['real_conv']:,} | {macs['binary'] / 1e6:,.0f} M | {macs['real'] / 1e6:,.0f} M |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
