"""Image input normalisation: any decoded array -> (H, W, 3) uint8 RGB, with a pixel limit."""

from __future__ import annotations

import os
import struct

import numpy as np

#: Images above this many pixels are refused (memory bound): 50 megapixels.
MAX_PIXELS = 50_000_000
# OpenCV's own decoder limit (read when cv2 first decodes): keeps decompression bombs out even in
# formats whose header we do not parse.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, BMP or JPEG header without decoding, or None."""
    b = bytes(data[:65536])
    try:
        if b[:8] == b"\x89PNG\r\n\x1a\n" and len(b) >= 24:
            return struct.unpack(">II", b[16:24])
        if b[:6] in (b"GIF87a", b"GIF89a") and len(b) >= 10:
            return struct.unpack("<HH", b[6:10])
        if b[:2] == b"BM" and len(b) >= 26:
            w, h = struct.unpack("<ii", b[18:26])
            return abs(w), abs(h)
        if b[:2] == b"\xff\xd8":
            i = 2
            while i + 9 < len(b):
                if b[i] != 0xFF:
                    i += 1
                    continue
                marker = b[i + 1]
                if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                    i += 2
                    continue
                seg = struct.unpack(">H", b[i + 2:i + 4])[0]
                if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                    h, w = struct.unpack(">HH", b[i + 5:i + 9])
                    return w, h
                i += 2 + seg
    except struct.error:
        return None
    return None


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
    size = header_size(data)
    if size is not None and size[0] * size[1] > max_pixels:
        raise ImageError(f"{path}: image of {size[0]}x{size[1]} pixels exceeds the {max_pixels:,}-pixel limit; "
                         "downscale it first")
    try:
        img = cv2.imdecode(data, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    except cv2.error as e:
        raise ImageError(f"cannot decode {path}: {str(e).strip().splitlines()[-1]}") from None
    if img is None:
        raise ImageError(f"cannot decode {path}: not an image format OpenCV reads, a truncated file, or over "
                         f"the {max_pixels:,}-pixel limit")
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    return to_rgb8(img, max_pixels)
