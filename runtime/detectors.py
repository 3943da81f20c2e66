"""Face detectors as plug-ins: ``detect(image) -> list[Box]``.

The default needs nothing beyond opencv-python-headless: its bundled Haar cascade. Others
register themselves with :func:`register` and load only when their package is installed.
A detector's box is mapped to the landmark box the model's crop convention expects by a
per-detector calibration (``spec.detector_calibration[name]``, fitted on training images by
``python -m models.calibrate``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Box:
    """An axis-aligned box in image pixels: top-left ``(x, y)``, size ``(w, h)``, and a score."""

    x: float
    y: float
    w: float
    h: float
    score: float = 1.0

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (float(self.x), float(self.y), float(self.w), float(self.h))


class Detector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> list[Box]:
        """(H, W, 3) uint8 RGB -> boxes, largest first."""


# Detector box -> landmark box: centre += (dx * w, dy * h), side = scale * max(w, h).
DEFAULT_CALIBRATION = {"haar": {"dx": 0.0, "dy": 0.1, "scale": 1.0}}


def calibrated_box(box: Box, calibration: dict) -> tuple[float, float, float, float]:
    """Map a detector box to the (x, y, w, h) landmark-box the crop convention expects."""
    cx = box.x + box.w / 2 + calibration.get("dx", 0.0) * box.w
    cy = box.y + box.h / 2 + calibration.get("dy", 0.0) * box.h
    side = calibration.get("scale", 1.0) * max(box.w, box.h)
    return (cx - side / 2, cy - side / 2, side, side)


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (bundled with opencv-python-headless 4.x).

    Runs on a copy scaled so that the longer side is at most ``max_side`` pixels.
    """

    name = "haar"

    def __init__(self, max_side: int = 640, min_size_frac: float = 0.06, scale_factor: float = 1.1,
                 min_neighbors: int = 5):
        import cv2

        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self._c = cv2.CascadeClassifier(path)
        if self._c.empty():
            raise RuntimeError(f"cannot load OpenCV's Haar cascade {path}; install opencv-python-headless 4.x")
        self.max_side, self.min_size_frac = max_side, min_size_frac
        self.scale_factor, self.min_neighbors = scale_factor, min_neighbors

    def detect(self, image: np.ndarray) -> list[Box]:
        import cv2

        h, w = image.shape[:2]
        s = min(1.0, self.max_side / max(h, w))
        gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image
        if s < 1.0:
            gray = cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        m = max(12, int(self.min_size_frac * min(gray.shape[:2])))
        rects, _, weights = self._c.detectMultiScale3(gray, self.scale_factor, self.min_neighbors,
                                                       minSize=(m, m), outputRejectLevels=True)
        boxes = [Box(x / s, y / s, bw / s, bh / s, float(wt)) for (x, y, bw, bh), wt in
                 zip(np.reshape(rects, (-1, 4)), np.reshape(weights, (-1,)))]
        return sorted(boxes, key=lambda b: -b.w * b.h)


_REGISTRY = {"haar": HaarDetector}


def register(name: str, factory) -> None:
    """Add a detector factory (a callable returning a :class:`Detector`)."""
    _REGISTRY[name] = factory


def available() -> list[str]:
    return sorted(_REGISTRY)


def create(name: str = "haar", **kwargs) -> Detector:
    if name not in _REGISTRY:
        raise ValueError(f"unknown detector {name!r}; available: {', '.join(available())}")
    return _REGISTRY[name](**kwargs)
