"""``python -m convert.fan --checkpoint 2DFAN4.pth.tar``: bring a FAN checkpoint into the toolkit.

Loads a real-valued FAN checkpoint from the face-alignment project (which users download
themselves: a TorchScript ``.zip`` or a ``.pth.tar`` state dict), exports it with ``torch.onnx``
(channels-last, like every model here), checks the ONNX model in onnxruntime against the
checkpoint on the bundled sample crops, and writes ``<out>.onnx`` with its spec sidecar. The
result is a float baseline for ``python -m runtime.infer --model`` and a distillation teacher for
``python -m models.train --teacher``.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.fan", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--out", default="build/fan.onnx")
    p.add_argument("--input-size", type=int, default=256)
    p.add_argument("--crop-scale", type=float, default=1.6,
                   help="crop side / landmark-box side; FAN crops about 1.6x the landmark box (approximate)")
    args = p.parse_args(argv)
    try:
        import onnxruntime as ort
        import torch

        from convert.fixtures import parity_crops
        from convert.torch_twin import export_onnx, load_fan_checkpoint
        from models.configs import get_config
        from runtime import codec
        from runtime.spec import ModelSpec, sidecar_path

        net = load_fan_checkpoint(args.checkpoint)
        k = net._modules["l0"].out_channels
        kp = "face68" if k == 68 else None
        if kp is None:
            raise ValueError(f"checkpoint predicts {k} heatmaps; only 68-point FAN models are described here")
        spec: ModelSpec = get_config("face-256-real").spec()
        spec.name, spec.input_size, spec.heatmap_size = "fan", args.input_size, args.input_size // 4
        spec.input_scale, spec.input_offset, spec.crop_scale = 1.0 / 255.0, 0.0, args.crop_scale
        spec.config = {"source": "face-alignment FAN", "checkpoint": Path(args.checkpoint).name,
                       "stacks": net.stacks, "layout": "fan"}
        out = Path(args.out)
        data = export_onnx(net, args.input_size, out)
        x = parity_crops(spec)
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
        got = np.concatenate([sess.run(None, {"image": xi[None]})[0] for xi in x])
        d = np.abs(ref - got).max() / max(1.0, np.abs(ref).max())
        xy_r, _ = codec.decode(ref)
        xy_g, _ = codec.decode(got)
        px = np.abs(xy_r - xy_g).max() * spec.stride
        if d > 1e-4 or px > 0.5:
            raise ValueError(f"ONNX export differs from the checkpoint: heatmaps {d:.2e}, landmarks {px:.2f} px")
        spec.onnx_sha256 = hashlib.sha256(data).hexdigest()
        spec.save(sidecar_path(out))
        print(f"{out}: {len(data) / 1e6:.1f} MB, {net.stacks} stack(s); parity vs checkpoint: heatmaps {d:.1e}, "
              f"landmarks {px:.3f} px on {len(x)} crops; spec {sidecar_path(out)}")
    except (ValueError, FileNotFoundError, RuntimeError, ImportError) as e:
        print(f"error: {' '.join(str(e).split())[:400]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
