import numpy as np

from models.augment import AugmentParams, make_example
from models.keypoints import KEYPOINT_SETS

FACE = KEYPOINT_SETS["face68"]


def _face_points():
    """A crude frontal face layout in a 200x200 image (subject's right eye on image left)."""
    rng = np.random.default_rng(0)
    kp = rng.uniform(60, 140, (68, 2)).astype(np.float32)
    for a, b in FACE.flip_pairs:  # make pairs mirror images, right-side points on image left
        kp[a, 0], kp[b, 0] = 100 - abs(kp[a, 0] - 100) - 5, 100 + abs(kp[a, 0] - 100) + 5
        kp[b, 1] = kp[a, 1]
    return kp


def test_flip_keeps_left_and_right():
    kp = _face_points()
    img = np.zeros((200, 200, 3), np.uint8)
    no_aug = AugmentParams(scale=(1, 1), rotation_prob=0, flip_prob=1.0, translate=0)
    _, hm, kc, vis = make_example(img, kp, np.ones(68), input_size=64, heatmap_size=16, crop_scale=1.5,
                                  flip_pairs=FACE.flip_pairs, rng=np.random.default_rng(1), params=no_aug)
    _, _, plain, _ = make_example(img, kp, np.ones(68), input_size=64, heatmap_size=16, crop_scale=1.5,
                                  flip_pairs=FACE.flip_pairs)
    # after flipping, the subject's right eye corner (36) is still on the image left of 45
    for a, b in FACE.flip_pairs:
        assert kc[a, 0] < kc[b, 0]
    # and flipped points mirror the unflipped crop's points
    np.testing.assert_allclose(kc[36, 0], 63 - plain[45, 0], atol=1e-3)
    assert hm.shape == (16, 16, 68) and vis.all()


def test_augmented_crop_matches_heatmap_targets():
    """Draw a bright dot at each keypoint; after any augmentation, the dot is at the target's peak."""
    import cv2

    from runtime import codec

    kp = np.array([[80.0, 90.0], [120.0, 100.0], [100.0, 130.0]], np.float32)
    img = np.zeros((200, 200, 3), np.uint8)
    for x, y in kp:
        cv2.circle(img, (int(x), int(y)), 3, (255, 255, 255), -1)
    for seed in range(5):
        crop_img, hm, kc, vis = make_example(img, kp, np.ones(3), input_size=128, heatmap_size=32, crop_scale=2.0,
                                             flip_pairs=[], rng=np.random.default_rng(seed))
        xy, _ = codec.decode(hm, "parabola")
        np.testing.assert_allclose(codec.heatmap_to_input(xy, 4.0), kc, atol=0.6)
        for (x, y), v in zip(kc, vis):
            if v:
                assert crop_img[int(round(y)), int(round(x))].max() > 100


def test_points_leaving_the_crop_become_invisible():
    kp = np.array([[100.0, 100.0], [100.0, 104.0], [400.0, 100.0]], np.float32)
    img = np.zeros((200, 200, 3), np.uint8)
    _, hm, _, vis = make_example(img, kp, np.ones(3), input_size=32, heatmap_size=8, crop_scale=1.5, flip_pairs=[],
                                 box=(90.0, 90.0, 20.0, 20.0))
    assert vis.tolist() == [1.0, 1.0, 0.0] and hm[..., 2].max() == 0
