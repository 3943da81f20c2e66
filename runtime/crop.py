"""Crop geometry shared by training and inference: square crops as 2x3 affine matrices.

Coordinates are continuous pixels with integer values at pixel centres (OpenCV's convention).
A crop of side ``side`` image pixels centred on ``center`` maps to an ``size x size`` model input:
the square's outer edges land on the outer edges of the output pixels.
"""

from __future__ import annotations

import math

import numpy as np


def crop_matrix(
    center: tuple[float, float],
    side: float,
    size: int,
    rotation_deg: float = 0.0,
    flip: bool = False,
) -> np.ndarray:
    """Affine matrix from image pixels to crop pixels.

    Args:
        center: ``(cx, cy)`` crop centre in image pixels.
        side: side of the square crop in image pixels (> 0).
        size: output size in pixels (the model's input size).
        rotation_deg: counter-clockwise rotation of the content, in degrees.
        flip: mirror the crop horizontally.

    Returns:
        (2, 3) float64 matrix ``M`` with ``crop_xy = M[:, :2] @ image_xy + M[:, 2]``, usable
        directly with ``cv2.warpAffine(image, M, (size, size))``.
    """
    if not side > 0:
        raise ValueError(f"crop side must be > 0, got {side}")
    s = size / side
    a = math.radians(rotation_deg)
    cos, sin = math.cos(a) * s, math.sin(a) * s
    lin = np.array([[cos, sin], [-sin, cos]], np.float64)
    if flip:
        lin = np.array([[-1.0, 0.0], [0.0, 1.0]]) @ lin
    c = (size - 1) / 2.0
    t = np.array([c, c]) - lin @ np.asarray(center, np.float64)
    return np.concatenate([lin, t[:, None]], axis=1)


def invert(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a (2, 3) affine matrix, as (2, 3) float64."""
    m = np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]])
    return np.linalg.inv(m)[:2]


def apply(matrix: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Apply a (2, 3) affine matrix to (..., 2) points; returns (..., 2) float32."""
    xy = np.asarray(xy, np.float64)
    m = np.asarray(matrix, np.float64)
    return (xy @ m[:, :2].T + m[:, 2]).astype(np.float32)


def box_of_points(xy: np.ndarray, visible: np.ndarray | None = None) -> tuple[float, float, float, float]:
    """Tight box ``(x, y, w, h)`` of the (K, 2) points (only visible, finite ones)."""
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    ok = np.all(np.isfinite(xy), axis=1)
    if visible is not None:
        ok &= np.asarray(visible).reshape(-1) > 0
    if not ok.any():
        raise ValueError("no visible keypoints to make a box from")
    lo, hi = xy[ok].min(axis=0), xy[ok].max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])


def whole_image_box(shape: tuple, crop_scale: float) -> tuple[float, float, float, float]:
    """The object box (x, y, w, h), image pixels, whose crop (``box_crop``) is the image's centred
    square of side max(H, W): what the runtime uses for a pose model given no box. ``shape``: (H, W, ...)."""
    h, w = shape[:2]
    side = max(h, w) / crop_scale
    return ((w - side) / 2, (h - side) / 2, side, side)


def box_crop(box: tuple[float, float, float, float], crop_scale: float) -> tuple[tuple[float, float], float]:
    """Crop convention: box ``(x, y, w, h)`` -> (centre ``(cx, cy)``, side = crop_scale * max(w, h))."""
    x, y, w, h = box
    return (x + w / 2.0, y + h / 2.0), crop_scale * max(w, h, 1e-6)


def warp(image: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """Warp (H, W, C) uint8 ``image`` into a (size, size, C) crop with bilinear sampling.

    Areas outside the source are black, as in the shared training crops.
    """
    import cv2

    return cv2.warpAffine(
        image, np.asarray(matrix, np.float64), (int(size), int(size)),
        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
