"""Image input normalisation: any decoded array -> (H, W, 3) uint8 RGB, with a pixel limit."""

from __future__ import annotations

import numpy as np

#: Images above this many pixels are refused (memory bound): 50 megapixels.
MAX_PIXELS = 50_000_000


class ImageError(ValueError):
    """An image that cannot be used; the message says why."""


def to_rgb8(image: np.ndarray, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Normalise a decoded image to (H, W, 3) uint8 RGB.

    Accepts (H, W) gray, (H, W, 1), (H, W, 3) RGB, (H, W, 4) RGBA; uint8, uint16 (scaled down by
    256) or float in [0, 1]. Raises :class:`ImageError` for empty, huge or malformed arrays.
    """
    a = np.asarray(image)
    if a.size == 0 or a.ndim not in (2, 3) or min(a.shape[:2]) < 1:
        raise ImageError(f"empty or malformed image array of shape {a.shape}")
    if a.shape[0] * a.shape[1] > max_pixels:
        raise ImageError(f"image of {a.shape[1]}x{a.shape[0]} pixels exceeds the {max_pixels:,}-pixel limit; "
                         "downscale it first")
    if a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype.kind == "f":
        a = (np.clip(np.nan_to_num(a), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    elif a.dtype != np.uint8:
        raise ImageError(f"unsupported pixel type {a.dtype}; give uint8, uint16 or float images")
    if a.ndim == 2:
        a = a[:, :, None]
    c = a.shape[2]
    if c == 1:
        a = np.repeat(a, 3, axis=2)
    elif c == 4:
        a = a[:, :, :3]
    elif c != 3:
        raise ImageError(f"unsupported channel count {c}; give gray, RGB or RGBA images")
    return np.ascontiguousarray(a)


def read_image(path, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Read an image file as (H, W, 3) uint8 RGB with OpenCV (any depth/channels, EXIF-rotated).

    Raises :class:`ImageError` naming the problem (missing, empty, undecodable, too large).
    """
    import cv2

    try:
        data = np.fromfile(str(path), np.uint8)
    except OSError as e:
        raise ImageError(f"cannot read {path}: {e.strerror or e}") from None
    if data.size == 0:
        raise ImageError(f"{path} is empty")
    # Check the header's size before decoding the pixels (memory bound).
    img = None
    try:
        hdr = cv2.imdecode(data, cv2.IMREAD_REDUCED_GRAYSCALE_8)
    except cv2.error:
        hdr = None
    if hdr is not None and hdr.shape[0] * hdr.shape[1] * 64 > max_pixels:
        raise ImageError(f"{path}: image of about {hdr.shape[1] * 8}x{hdr.shape[0] * 8} pixels exceeds the "
                         f"{max_pixels:,}-pixel limit; downscale it first")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as e:
        raise ImageError(f"cannot decode {path}: {str(e).strip().splitlines()[-1]}") from None
    if img is None:
        raise ImageError(f"cannot decode {path}: not an image format OpenCV reads (or a truncated file)")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return to_rgb8(img, max_pixels)
