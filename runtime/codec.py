"""The project's one heatmap codec: Gaussian encoding and argmax decoding (numpy only).

Used by training (targets), conversion checks, the runtime and, as golden vectors, the
Android port. Coordinates are continuous pixel coordinates whose integer values are pixel
*centres* (OpenCV's convention): pixel ``(i, j)`` spans ``[i - 0.5, i + 0.5)``.

Input-image coordinates ``u`` and heatmap coordinates ``h`` are related by the stride
``s = input_size / heatmap_size`` as ``h = (u + 0.5) / s - 0.5`` (see :func:`input_to_heatmap`),
so a heatmap pixel covers exactly the ``s x s`` input pixels it was pooled from.
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np


class DecodeMethod(StrEnum):
    """How :func:`decode` refines a heatmap's argmax (see its docstring)."""

    ARGMAX = "argmax"
    QUARTER = "quarter"
    PARABOLA = "parabola"


#: Decoding methods understood by :func:`decode` (their names, as model specs store them).
DECODE_METHODS = tuple(m.value for m in DecodeMethod)


def input_to_heatmap(xy: np.ndarray, stride: float) -> np.ndarray:
    """Map input-pixel coordinates to heatmap-pixel coordinates.

    Args:
        xy: (..., 2) float, ``(x, y)`` in input-crop pixels.
        stride: input size / heatmap size (for example 4.0 for 256 -> 64).

    Returns:
        (..., 2) float32 in heatmap pixels.
    """
    return ((np.asarray(xy, np.float64) + 0.5) / stride - 0.5).astype(np.float32)


def heatmap_to_input(xy: np.ndarray, stride: float) -> np.ndarray:
    """Inverse of :func:`input_to_heatmap`: (..., 2) heatmap pixels -> (..., 2) float32 input pixels."""
    return ((np.asarray(xy, np.float64) + 0.5) * stride - 0.5).astype(np.float32)


def encode(
    keypoints: np.ndarray,
    size: tuple[int, int],
    sigma: float = 1.0,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """Render one Gaussian heatmap per keypoint.

    Args:
        keypoints: (K, 2) float, ``(x, y)`` in heatmap pixels.
        size: ``(height, width)`` of the heatmaps.
        sigma: Gaussian standard deviation in heatmap pixels.
        visible: optional (K,) bool/int; invisible or non-finite points get an all-zero map.

    Returns:
        (H, W, K) float32 heatmaps with peak value 1 at each keypoint
        (channels-last, the layout every model in this project outputs).
    """
    kp = np.asarray(keypoints, np.float32).reshape(-1, 2)
    h, w = int(size[0]), int(size[1])
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")
    ok = np.all(np.isfinite(kp), axis=1)
    if visible is not None:
        ok &= np.asarray(visible).reshape(-1) > 0
    xs = np.arange(w, dtype=np.float32)
    ys = np.arange(h, dtype=np.float32)
    kx = np.where(ok, kp[:, 0], 0.0)
    ky = np.where(ok, kp[:, 1], 0.0)
    gx = np.exp(-((xs[None, :] - kx[:, None]) ** 2) / (2 * sigma**2))  # (K, W)
    gy = np.exp(-((ys[None, :] - ky[:, None]) ** 2) / (2 * sigma**2))  # (K, H)
    maps = gy[:, :, None] * gx[:, None, :]  # (K, H, W)
    maps *= ok[:, None, None]
    # Points far outside the map leave nothing visible: treat as no target.
    maps[maps < 1e-4] = 0.0
    return np.ascontiguousarray(np.transpose(maps, (1, 2, 0)), dtype=np.float32)


def _batched(heatmaps) -> tuple[np.ndarray, bool]:
    """(H, W, K) or (N, H, W, K) -> float32 (N, H, W, K), and whether the input was one map."""
    hm = np.asarray(heatmaps, np.float32)
    single = hm.ndim == 3
    if single:
        hm = hm[None]
    if hm.ndim != 4:
        raise ValueError(f"heatmaps must be (H, W, K) or (N, H, W, K), got shape {hm.shape}")
    return hm, single


def decode(heatmaps: np.ndarray, method: DecodeMethod | str = DecodeMethod.QUARTER) -> tuple[np.ndarray, np.ndarray]:
    """Decode keypoint locations from heatmaps.

    Args:
        heatmaps: (H, W, K) or (N, H, W, K) float heatmaps (channels-last).
        method: ``"argmax"`` (integer peak), ``"quarter"`` (argmax moved a quarter pixel towards
            the higher neighbour in x and in y, as in Newell et al. and the authors' code), or
            ``"parabola"`` (argmax refined by a parabola fitted to the log of the 3x3 neighbourhood,
            exact for noiseless Gaussians).

    Returns:
        ``(xy, scores)``: (K, 2) or (N, K, 2) float32 ``(x, y)`` in heatmap pixels, and (K,) or
        (N, K) float32 peak values (the model's confidence).
    """
    if method not in DECODE_METHODS:
        raise ValueError(f"unknown decode method {method!r}; use one of {DECODE_METHODS}")
    hm, single = _batched(heatmaps)
    n, h, w, k = hm.shape
    flat = np.transpose(hm, (0, 3, 1, 2)).reshape(n, k, h * w)
    idx = np.argmax(flat, axis=2)
    scores = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    py, px = np.divmod(idx, w)
    xy = np.stack([px, py], axis=-1).astype(np.float32)
    if method != "argmax":
        maps = np.transpose(hm, (0, 3, 1, 2))  # (N, K, H, W)
        ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")

        def at(yy, xx):
            return maps[ni, ki, np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)]

        c = scores
        l, r = at(py, px - 1), at(py, px + 1)
        u, d = at(py - 1, px), at(py + 1, px)
        inx = (px > 0) & (px < w - 1)
        iny = (py > 0) & (py < h - 1)
        if method == "quarter":
            dx = 0.25 * np.sign(r - l)
            dy = 0.25 * np.sign(d - u)
        else:
            eps = 1e-10
            lc, ll, lr = np.log(np.maximum(c, eps)), np.log(np.maximum(l, eps)), np.log(np.maximum(r, eps))
            lu, ld = np.log(np.maximum(u, eps)), np.log(np.maximum(d, eps))
            with np.errstate(divide="ignore", invalid="ignore"):
                denx = ll - 2 * lc + lr
                deny = lu - 2 * lc + ld
                dx = np.where(denx < 0, 0.5 * (ll - lr) / denx, 0.0)
                dy = np.where(deny < 0, 0.5 * (lu - ld) / deny, 0.0)
            dx = np.clip(np.nan_to_num(dx), -0.5, 0.5)
            dy = np.clip(np.nan_to_num(dy), -0.5, 0.5)
        xy[..., 0] += np.where(inx, dx, 0.0)
        xy[..., 1] += np.where(iny, dy, 0.0)
    xy = xy.astype(np.float32)
    scores = scores.astype(np.float32)
    if single:
        return xy[0], scores[0]
    return xy, scores


def peak_ambiguity(heatmaps: np.ndarray, radius: int = 2) -> np.ndarray:
    """How close each heatmap comes to having two answers.

    Args:
        heatmaps: (H, W, K) or (N, H, W, K) float heatmaps (channels-last).
        radius: local maxima within this Chebyshev distance (heatmap pixels) of the top peak
            belong to it.

    Returns:
        (K,) or (N, K) float32 in [0, 1]: the height of the highest other local maximum (3x3
        neighbourhood) divided by the top peak's; 0 when there is no other positive peak or the
        top is not positive. Near 1 the argmax is decided by noise (a person seen from behind:
        left and right wrists both plausible), so a tiny numerical change can move it far.
    """
    hm, single = _batched(heatmaps)
    n, h, w, k = hm.shape
    pad = np.pad(hm, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    neigh = np.max([pad[:, 1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy in (-1, 0, 1) for dx in (-1, 0, 1)
                    if dy or dx], axis=0)
    peaks = np.where((hm >= neigh) & (hm > 0), hm, 0.0)  # (N, H, W, K) local maxima, else 0
    flat = np.transpose(hm, (0, 3, 1, 2)).reshape(n, k, h * w)
    top_idx = np.argmax(flat, axis=2)
    top = np.take_along_axis(flat, top_idx[..., None], axis=2)[..., 0]
    ty, tx = np.divmod(top_idx, w)
    yy, xx = np.arange(h)[None, :, None, None], np.arange(w)[None, None, :, None]
    near = (np.abs(yy - ty[:, None, None, :]) <= radius) & (np.abs(xx - tx[:, None, None, :]) <= radius)
    second = np.where(near, 0.0, peaks).max(axis=(1, 2))
    ratio = np.where(top > 0, second / np.where(top > 0, top, 1.0), 0.0).astype(np.float32)
    return ratio[0] if single else ratio


def flip_heatmaps(heatmaps: np.ndarray, flip_pairs: list[tuple[int, int]] | np.ndarray) -> np.ndarray:
    """Mirror (…, H, W, K) heatmaps left-right and swap the channels of each flip pair.

    Used for flip-test averaging: ``0.5 * (f(x) + flip_heatmaps(f(flip(x))))``.
    """
    out = np.asarray(heatmaps)[..., ::-1, :].copy()
    perm = flip_permutation(out.shape[-1], flip_pairs)
    return out[..., perm]


def flip_permutation(num_keypoints: int, flip_pairs) -> np.ndarray:
    """(K,) int index array mapping each keypoint to its mirror partner (itself if unpaired)."""
    perm = np.arange(num_keypoints)
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return perm
