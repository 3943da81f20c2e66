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


def clean_labels(keypoints, visible, box=None) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(K, 2) float32 keypoints, (K,) float32 visibility (0 where not finite) and the object box
    (``box``, or the visible keypoints' box)."""
    kp = np.asarray(keypoints, np.float32)
    vis = np.asarray(visible, np.float32).copy()
    vis[~np.all(np.isfinite(kp), axis=1)] = 0
    return kp, vis, (box if box is not None else crop.box_of_points(kp, vis))


def draw_augmentation(center, side: float, box_side: float, rng: np.random.Generator | None,
                      params: AugmentParams = AugmentParams()) -> tuple[tuple[float, float], float, float, bool]:
    """The authors' geometric augmentation of a crop (``center``, ``side``) of an object whose box
    side is ``box_side``: returns ``(center, side, rotation_deg, flip)``; unchanged without ``rng``."""
    rot, flip = 0.0, False
    if rng is not None:
        side *= rng.uniform(*params.scale)
        center = (center[0] + rng.uniform(-1, 1) * params.translate * box_side,
                  center[1] + rng.uniform(-1, 1) * params.translate * box_side)
        if rng.random() < params.rotation_prob:
            rot = rng.uniform(-params.rotation_deg, params.rotation_deg)
        flip = rng.random() < params.flip_prob
    return center, side, rot, flip


def crop_targets(matrix, keypoints, visible, flip: bool, *, input_size: int, heatmap_size: int, flip_pairs,
                 sigma: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keypoints moved into a crop by ``matrix`` (flipped crops swap the flip pairs), their weights
    (0 outside the crop) and the codec's heatmaps: ``(kc (K, 2), vis (K,), heatmaps (H', W', K))``."""
    kc = crop.apply(matrix, np.nan_to_num(keypoints))
    vis = np.asarray(visible, np.float32)
    if flip:
        perm = codec.flip_permutation(len(kc), flip_pairs)
        kc, vis = kc[perm], vis[perm]
    vis = vis * np.all((kc >= -0.5) & (kc <= input_size - 0.5), axis=1)
    hm = codec.encode(codec.input_to_heatmap(kc, input_size / heatmap_size), (heatmap_size, heatmap_size), sigma, vis)
    return kc, vis, hm


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
    kp, vis, box = clean_labels(keypoints, visible, box)
    center, side = crop.box_crop(box, crop_scale)
    center, side, rot, flip = draw_augmentation(center, side, max(box[2], box[3]), rng, params)
    m = crop.crop_matrix(center, side, input_size, rot, flip)
    img = crop.warp(image, m, input_size)
    kc, vis, hm = crop_targets(m, kp, vis, flip, input_size=input_size, heatmap_size=heatmap_size,
                               flip_pairs=flip_pairs, sigma=sigma)
    return img, hm, kc.astype(np.float32), vis.astype(np.float32)
