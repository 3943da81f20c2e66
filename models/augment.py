"""Training crops and augmentation, with the runtime's crop convention and heatmap codec.

Geometric augmentation (authors' recipe: scale 0.75-1.25, rotation +-30 deg applied with
probability 0.4, horizontal flip with the flip pairs, translation jitter) is composed into one
affine crop matrix from ``runtime.crop``, so training crops are made exactly like inference crops.
Colour jitter is done with TF image ops in ``models.pipeline``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from runtime import codec, crop


@dataclass(frozen=True)
class AugmentParams:
    scale: tuple[float, float] = (0.75, 1.25)
    rotation_deg: float = 30.0
    rotation_prob: float = 0.4
    flip_prob: float = 0.5
    translate: float = 0.08  # uniform jitter of the centre, in units of the object box side


def make_example(
    image: np.ndarray,
    keypoints: np.ndarray,
    visible: np.ndarray,
    *,
    input_size: int,
    heatmap_size: int,
    crop_scale: float,
    flip_pairs,
    sigma: float = 1.0,
    rng: np.random.Generator | None = None,
    params: AugmentParams = AugmentParams(),
    box: tuple[float, float, float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Crop (and, with ``rng``, augment) one sample.

    Args:
        image: (H, W, 3) uint8 RGB.
        keypoints: (K, 2) float image pixels. visible: (K,) 0/1.
        rng: a numpy Generator for augmentation; ``None`` gives the plain centred crop.
        box: object box (x, y, w, h); default: the visible keypoints' box.

    Returns:
        ``(crop, heatmaps, keypoints_in_crop, visible)``: (S, S, 3) uint8, (H', W', K) float32,
        (K, 2) float32 in crop pixels, (K,) float32 (0 for invisible or out-of-crop points).
    """
    kp = np.asarray(keypoints, np.float32)
    vis = np.asarray(visible, np.float32).copy()
    vis[~np.all(np.isfinite(kp), axis=1)] = 0
    if box is None:
        box = crop.box_of_points(kp, vis)
    center, side = crop.box_crop(box, crop_scale)
    rot, flip = 0.0, False
    if rng is not None:
        side *= rng.uniform(*params.scale)
        bs = max(box[2], box[3])
        center = (center[0] + rng.uniform(-1, 1) * params.translate * bs,
                  center[1] + rng.uniform(-1, 1) * params.translate * bs)
        if rng.random() < params.rotation_prob:
            rot = rng.uniform(-params.rotation_deg, params.rotation_deg)
        flip = rng.random() < params.flip_prob
    m = crop.crop_matrix(center, side, input_size, rot, flip)
    img = crop.warp(image, m, input_size)
    kc = crop.apply(m, np.nan_to_num(kp))
    if flip:
        perm = codec.flip_permutation(len(kc), flip_pairs)
        kc, vis = kc[perm], vis[perm]
    inside = np.all((kc >= -0.5) & (kc <= input_size - 0.5), axis=1)
    vis = vis * inside
    stride = input_size / heatmap_size
    hm = codec.encode(codec.input_to_heatmap(kc, stride), (heatmap_size, heatmap_size), sigma, vis)
    return img, hm, kc.astype(np.float32), vis.astype(np.float32)
