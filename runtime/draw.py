"""Annotated images with OpenCV: skeleton lines, points and boxes."""

from __future__ import annotations

import numpy as np


def annotate(image_rgb: np.ndarray, result, spec, color=(0, 255, 0), min_score: float = 0.0) -> np.ndarray:
    """Draw every instance of a ``LandmarkerResult`` on a copy of (H, W, 3) uint8 RGB; returns BGR
    (ready for ``cv2.imwrite``). Keypoints whose score (heatmap peak) is below ``min_score``, and
    the bones that touch them, are left out: a pose model still places the knees of a portrait
    cut off at the waist, with low scores."""
    import cv2

    img = cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR)
    r = max(1, round(max(img.shape[:2]) / 400))
    for inst in result.landmarks:
        x, y, w, h = (int(round(v)) for v in inst.box)
        cv2.rectangle(img, (x, y), (x + w, y + h), (255, 160, 0), max(1, r // 2))
        kp = inst.keypoints
        shown = np.asarray(inst.scores) >= min_score
        for a, b in spec.skeleton:
            if not (shown[a] and shown[b]):
                continue
            pa, pb = kp[a], kp[b]
            cv2.line(img, (int(pa[0]), int(pa[1])), (int(pb[0]), int(pb[1])), (0, 200, 255), max(1, r // 2),
                     cv2.LINE_AA)
        for px, py in kp[shown]:
            cv2.circle(img, (int(round(px)), int(round(py))), r + 1, color[::-1], -1, cv2.LINE_AA)
    return img
