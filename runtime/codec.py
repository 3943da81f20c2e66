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
    DARK = "dark"


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


def decode(heatmaps: np.ndarray, method: DecodeMethod | str = DecodeMethod.QUARTER,
           sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Decode keypoint locations from heatmaps.

    Args:
        heatmaps: (H, W, K) or (N, H, W, K) float heatmaps (channels-last).
        method: ``"argmax"`` (integer peak), ``"quarter"`` (argmax moved a quarter pixel towards
            the higher neighbour in x and in y, as in Newell et al. and the authors' code),
            ``"parabola"`` (argmax refined by a parabola fitted to the log of the 3x3 neighbourhood,
            exact for noiseless Gaussians), or ``"dark"`` (distribution-aware: the map smoothed by
            a Gaussian of ``sigma``, then one Newton step on its log from the argmax, with the
            cross term; Zhang et al., CVPR 2020; see :func:`_dark_offsets`).
        sigma: the heatmaps' Gaussian standard deviation in heatmap pixels (the model spec's
            ``heatmap_sigma``); only ``"dark"`` uses it.

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
    if method == "dark":
        if not sigma > 0:
            raise ValueError(f"sigma must be > 0, got {sigma}")
        dx, dy = _dark_offsets(np.transpose(hm, (0, 3, 1, 2)), px, py, float(sigma))
        xy[..., 0] += np.where((px > 0) & (px < w - 1), dx, 0.0)
        xy[..., 1] += np.where((py > 0) & (py < h - 1), dy, 0.0)
    elif method != "argmax":
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


def _dark_offsets(maps: np.ndarray, px: np.ndarray, py: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Sub-pixel offsets of the DARK decode (Zhang et al., "Distribution-Aware Coordinate
    Representation for Human Pose Estimation", CVPR 2020).

    The map is smoothed with a normalised Gaussian of ``sigma`` (radius ``ceil(3 sigma)``, borders
    mirrored without repeating the edge pixel, OpenCV's BORDER_REFLECT_101), only at the 3x3 pixels
    around the argmax; ``L`` = log of those 9 values (floored at 1e-10). The offset is the Newton
    step ``-H^-1 g`` with central differences: ``g = (L_x, L_y)``, ``H = [[L_xx, L_xy], [L_xy,
    L_yy]]``, clipped to [-1, 1] per axis; 0 where ``H`` is not negative definite.

    Args:
        maps: (N, K, H, W) float heatmaps.
        px, py: (N, K) int argmax column and row.
        sigma: smoothing standard deviation in heatmap pixels (> 0).

    Returns:
        ``(dx, dy)``: (N, K) float64 offsets in heatmap pixels.
    """
    n, k, h, w = maps.shape
    r = max(1, int(np.ceil(3 * sigma)))
    p = r + 1
    t = np.arange(-p, p + 1)
    ys, xs = _reflect101(py[..., None] + t, h), _reflect101(px[..., None] + t, w)  # (N, K, 2p + 1)
    ni, ki = np.meshgrid(np.arange(n), np.arange(k), indexing="ij")
    patch = maps[ni[..., None, None], ki[..., None, None], ys[..., :, None], xs[..., None, :]].astype(np.float64)
    g = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma**2))
    g /= g.sum()
    rows = np.stack([patch[..., c:c + 2 * r + 1] @ g for c in range(3)], axis=-1)  # (N, K, 2p + 1, 3)
    sm = np.stack([np.einsum("...ic,i->...c", rows[..., c:c + 2 * r + 1, :], g) for c in range(3)], axis=-2)
    lg = np.log(np.maximum(sm, 1e-10))  # (N, K, 3, 3): [y, x] offsets -1, 0, 1
    gx, gy = 0.5 * (lg[..., 1, 2] - lg[..., 1, 0]), 0.5 * (lg[..., 2, 1] - lg[..., 0, 1])
    hxx = lg[..., 1, 2] - 2 * lg[..., 1, 1] + lg[..., 1, 0]
    hyy = lg[..., 2, 1] - 2 * lg[..., 1, 1] + lg[..., 0, 1]
    hxy = 0.25 * (lg[..., 2, 2] - lg[..., 2, 0] - lg[..., 0, 2] + lg[..., 0, 0])
    det = hxx * hyy - hxy**2
    ok = (det > 0) & (hxx < 0)
    safe = np.where(ok, det, 1.0)
    dx = np.where(ok, -(hyy * gx - hxy * gy) / safe, 0.0)
    dy = np.where(ok, -(hxx * gy - hxy * gx) / safe, 0.0)
    return np.clip(dx, -1.0, 1.0), np.clip(dy, -1.0, 1.0)


def _reflect101(i: np.ndarray, n: int) -> np.ndarray:
    """Indices mirrored into [0, n) without repeating the edge (…, 2, 1, 0, 1, 2, …, n-2, n-1, n-2, …)."""
    if n == 1:
        return np.zeros_like(i)
    period = 2 * (n - 1)
    i = np.abs(i) % period
    return np.where(i >= n, period - i, i)


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
