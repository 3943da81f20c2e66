"""``python -m runtime.infer``: landmarks on images, folders, videos or a camera."""

from __future__ import annotations

import sys
from pathlib import Path

PRETRAINED = Path(__file__).resolve().parent / "pretrained"


def main(argv=None) -> int:
    model = PRETRAINED / "face.tflite"
    if not model.exists():
        print("bnn-landmarks: no trained face model is shipped yet (runtime/pretrained/face.tflite is missing); "
              "train one with `make train MODEL=face` and convert it with `make convert MODEL=face`.",
              file=sys.stderr)
        return 1
    raise SystemExit("not reached")


if __name__ == "__main__":
    sys.exit(main())
