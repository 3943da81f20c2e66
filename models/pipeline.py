"""``tf.data`` input pipeline: parallel decode/augment on all cores, deterministic and resumable.

The order of epoch ``e`` is a permutation seeded by ``(seed, e)`` and every sample's augmentation
by ``(seed, e, position)``, so a resumed run sees exactly the batches the killed one would have.
Encoded image bytes are cached in memory; decoding and cropping run in OpenCV (which releases
the GIL) inside ``tf.numpy_function``, colour jitter in TF image ops.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from models.augment import AugmentParams, make_example
from models.configs import Config
from models.data import Sample


class ImageCache:
    """Encoded bytes of every sample's image, read once."""

    def __init__(self, samples: list[Sample]):
        self.samples = samples
        self.blobs = [np.fromfile(s.path, np.uint8) for s in samples]

    def image(self, i: int) -> np.ndarray:
        import cv2

        img = cv2.imdecode(self.blobs[i], cv2.IMREAD_COLOR)
        if img is None:
            raise ValueError(f"cannot decode {self.samples[i].path}")
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    return np.random.default_rng([seed, epoch]).permutation(n)


def make_dataset(
    cache: ImageCache,
    cfg: Config,
    *,
    batch: int,
    train: bool,
    seed: int = 0,
    epoch: int = 0,
    skip_batches: int = 0,
    params: AugmentParams = AugmentParams(),
) -> tf.data.Dataset:
    """Batches of ``(images (B, S, S, 3) float32 normalised, heatmaps (B, H, H, K) float32,
    keypoint weights (B, K) float32)``: a weight is 0 where the label does not annotate the
    keypoint or it falls outside the crop (the loss ignores that channel), else 1.

    Training: shuffled (epoch-seeded), augmented, last partial batch dropped, starting after
    ``skip_batches`` batches. Validation: in order, plain centred crops, all samples.
    """
    spec = cfg.spec()
    n = len(cache.samples)
    order = epoch_order(n, seed, epoch) if train else np.arange(n)
    if train:
        order = order[: (n // batch) * batch][skip_batches * batch:]
    positions = np.arange(len(order)) + (skip_batches * batch if train else 0)

    def load(idx, pos):
        i = int(idx)
        s = cache.samples[i]
        rng = np.random.default_rng([seed, epoch, int(pos)]) if train else None
        img, hm, _, vis = make_example(
            cache.image(i), s.keypoints, s.visible, input_size=cfg.input_size,
            heatmap_size=cfg.heatmap_size, crop_scale=cfg.crop_scale, flip_pairs=spec.flip_pairs,
            sigma=cfg.heatmap_sigma, rng=rng, params=params, box=s.box)
        return img, hm, vis

    def tf_load(idx, pos):
        img, hm, vis = tf.numpy_function(load, [idx, pos], [tf.uint8, tf.float32, tf.float32])
        vis.set_shape((cfg.num_keypoints,))
        img.set_shape((cfg.input_size, cfg.input_size, 3))
        hm.set_shape((cfg.heatmap_size, cfg.heatmap_size, cfg.num_keypoints))
        x = tf.cast(img, tf.float32) / 255.0
        if train:
            s = tf.stack([tf.cast(seed, tf.int64) * 1_000_003 + epoch, tf.cast(pos, tf.int64)])
            x = tf.image.stateless_random_brightness(x, 0.2, seed=s)
            x = tf.image.stateless_random_contrast(x, 0.7, 1.3, seed=s + 1)
            x = tf.image.stateless_random_saturation(x, 0.7, 1.3, seed=s + 2)
            x = tf.image.stateless_random_hue(x, 0.03, seed=s + 3)
            x = tf.clip_by_value(x, 0.0, 1.0)
        x = x * (255.0 * spec.input_scale) + spec.input_offset
        return x, hm, vis

    ds = tf.data.Dataset.from_tensor_slices((order.astype(np.int64), positions.astype(np.int64)))
    ds = ds.map(tf_load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch, drop_remainder=train)
    return ds.prefetch(2)
