"""Parity inputs: real crops made with the runtime's crop convention.

Always the bundled public-domain sample (``runtime/assets/astronaut.jpg``) under a few
deterministic jitters; plus, when ``../shared/data`` exists, crops of held-out validation images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from runtime import crop

ASSETS = Path(__file__).resolve().parents[1] / "runtime" / "assets"
SAMPLE = ASSETS / "astronaut.jpg"
# Landmark-box-like boxes (x, y, w, h) in the 512x512 sample, found by OpenCV's Haar cascade
# (face) and by eye (the upper body for pose).
SAMPLE_FACE_BOX = (178.0, 67.0, 92.0, 105.0)
SAMPLE_BODY_BOX = (60.0, 20.0, 380.0, 492.0)
JITTERS = [(0.0, 0.0, 1.0, 0.0, False), (0.05, -0.04, 1.1, 12.0, False), (-0.06, 0.03, 0.9, -15.0, True),
           (0.0, 0.08, 1.2, 25.0, False), (0.08, 0.0, 0.8, -5.0, True), (0.0, 0.0, 1.0, 0.0, True)]


def _read_rgb(path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(f"cannot read {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def parity_crops(spec, shared_data: Path | None = None, max_shared: int = 8) -> np.ndarray:
    """(N, S, S, 3) float32 normalised model inputs for ``spec`` (a ``runtime.spec.ModelSpec``)."""
    img = _read_rgb(SAMPLE)
    box = SAMPLE_FACE_BOX if spec.task == "face" else SAMPLE_BODY_BOX
    crops = []
    for dx, dy, s, rot, flip in JITTERS:
        (cx, cy), side = crop.box_crop(box, spec.crop_scale)
        m = crop.crop_matrix((cx + dx * box[2], cy + dy * box[3]), side * s, spec.input_size, rot, flip)
        crops.append(crop.warp(img, m, spec.input_size))
    if shared_data is not None and shared_data.is_dir():
        from models.data import load_dataset, split

        try:
            samples = split(load_dataset(spec.task))[1][:max_shared]
        except (FileNotFoundError, ValueError):
            samples = []
        for smp in samples:
            (c, side) = crop.box_crop(crop.box_of_points(smp.keypoints, smp.visible), spec.crop_scale)
            crops.append(crop.warp(smp.load_image(), crop.crop_matrix(c, side, spec.input_size), spec.input_size))
    x = np.stack(crops).astype(np.float32)
    return x * spec.input_scale + spec.input_offset
