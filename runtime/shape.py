"""A learned linear correction of a whole decoded shape (numpy only).

A binary landmark model's points err together: an ambiguous jaw point moves with the points
around it, and a model that localises each point from its own heatmap cannot use that. A linear
map from the whole decoded shape to the true one, fitted on training images (``python -m
models.shape``), uses it: ``y = mean_out + ((x - mean_in) @ down) @ up``, where ``x`` is the
shape as decoded, ``(K, 2)`` crop-input pixels divided by the input size and flattened ``x0, y0,
x1, y1, ...``, and ``down @ up`` a reduced-rank ridge regression. It runs after the heatmap decode
(:func:`runtime.landmarker.landmarks_in_box`, and the Android app alike), in the crop's frame, so
it does not depend on where the face is in the image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class ShapeCorrection:
    """A fitted correction, as the model spec's ``shape_correction`` stores it.

    Attributes:
        mean_in: (2K,) mean decoded shape, crop-input pixels / input size, ``x0, y0, x1, y1, ...``.
        mean_out: (2K,) mean true shape, same frame.
        down: (2K, R) projection of the centred decoded shape onto R directions.
        up: (R, 2K) map from those R values to the true shape's deviation from ``mean_out``.
        weights: the weights the correction was fitted to (the spec's ``weights`` label); another
            model's shapes would be corrected wrongly.
        fit: how it was fitted (ridge lambda, rank, images, cross-validated error before and after).
    """

    mean_in: list[float]
    mean_out: list[float]
    down: list[list[float]]
    up: list[list[float]]
    weights: str = ""
    fit: dict = field(default_factory=dict)

    def __post_init__(self):
        self._mean_in = np.asarray(self.mean_in, np.float64)
        self._mean_out = np.asarray(self.mean_out, np.float64)
        self._down = np.asarray(self.down, np.float64)
        self._up = np.asarray(self.up, np.float64)
        n = self._mean_in.shape
        if (self._mean_out.shape != n or self._down.ndim != 2 or self._down.shape[0] != n[0]
                or self._up.shape != self._down.shape[::-1]):
            raise ValueError(f"inconsistent shape correction: mean_in {n}, mean_out {self._mean_out.shape}, "
                             f"down {self._down.shape}, up {self._up.shape}; refit it with `python -m models.shape`")

    @property
    def num_keypoints(self) -> int:
        return self._mean_in.shape[0] // 2

    def apply(self, xy: np.ndarray, input_size: int) -> np.ndarray:
        """(K, 2) or (N, K, 2) crop-input pixels -> the corrected points, float32, same shape."""
        a = np.asarray(xy, np.float64)
        if a.shape[-2:] != (self.num_keypoints, 2):
            raise ValueError(f"shape correction for {self.num_keypoints} keypoints got points of shape {a.shape}")
        d = a.reshape(-1, 2 * self.num_keypoints) / input_size - self._mean_in
        y = self._mean_out + (d @ self._down) @ self._up
        return (y * input_size).reshape(a.shape).astype(np.float32)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ShapeCorrection:
        try:
            return cls(**{k: d[k] for k in ("mean_in", "mean_out", "down", "up")},
                       weights=d.get("weights", ""), fit=d.get("fit", {}))
        except KeyError as e:
            raise ValueError(f"shape correction lacks {e}; refit it with `python -m models.shape`") from None
