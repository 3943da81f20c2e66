"""models.label_check: the teacher's crop, the swap bookkeeping and the flagging rule (offline; the
teacher model itself is not needed)."""

import numpy as np
import pytest

from models import label_check as lc
from models.keypoints import KEYPOINT_SETS


def _person(rotate_deg: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """An upright LSP skeleton (14, 2) around (100, 120), optionally rotated about its hips."""
    k = np.array([[90, 200], [92, 160], [95, 120], [105, 120], [108, 160], [110, 200],  # legs
                  [80, 110], [85, 90], [90, 70], [110, 70], [115, 90], [120, 110],  # arms
                  [100, 65], [100, 40]], np.float32)
    c = k[[2, 3]].mean(0)
    t = np.radians(rotate_deg)
    r = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]], np.float32)
    return (k - c) @ r.T + c, np.ones(14, np.uint8)


@pytest.mark.parametrize("deg", [0.0, 35.0, -120.0])
def test_roi_puts_the_hips_in_the_centre_and_the_shoulders_straight_above(deg):
    k, v = _person(deg)
    m = lc.roi_transform(k, v, size=256)
    c = k @ m[:, :2].T + m[:, 2]
    hips, shoulders = c[[2, 3]].mean(0), c[[8, 9]].mean(0)
    np.testing.assert_allclose(hips, [128, 128], atol=1e-3)
    assert abs(shoulders[0] - 128) < 1e-3 and shoulders[1] < 128
    # every joint inside the crop, the farthest at 256 / 2.5 from the hips
    d = np.linalg.norm(c - hips, axis=1)
    assert d.max() == pytest.approx(256 / 2.5, rel=1e-4) and (c > 0).all() and (c < 256).all()


def test_teacher_joints_go_back_to_image_pixels():
    """A fake teacher that answers the crop position of known points: teacher_limbs maps them back."""
    k, v = _person(20.0)
    m = lc.roi_transform(k, v)
    in_crop = k @ m[:, :2].T + m[:, 2]
    answer = np.zeros((39, 5), np.float32)
    answer[list(lc.LSP_TO_BLAZEPOSE), :2] = in_crop[:lc.LIMBS]
    got = lc.teacher_limbs(lambda x: [answer.reshape(1, -1)], np.zeros((240, 200, 3), np.uint8), m)
    np.testing.assert_allclose(got, k[:lc.LIMBS], atol=1e-3)


def test_swap_permutation_hits_and_flags():
    perm = lc.swap_permutation(KEYPOINT_SETS["lsp14"].flip_pairs, 14)
    assert sorted(perm) == list(range(14)) and (perm[perm] == np.arange(14)).all()
    assert perm[0] == 5 and perm[8] == 9 and perm[12] == 12 and perm[13] == 13  # r_ankle <-> l_ankle; neck stays
    k, v = _person()
    gt = k[None]
    torso = np.array([np.linalg.norm(k[9] - k[2])])
    assert lc.hits(gt, gt, v[None], torso)[0] == 14
    swapped = gt[:, perm]
    assert lc.hits(swapped, gt, v[None], torso)[0] < 14
    assert lc.hits(gt, gt, v[None], np.array([np.nan]))[0] == 0  # no torso: nothing scored
    own, sw, n = np.array([2, 9, 5]), np.array([9, 10, 7]), np.array([12, 12, 12])
    assert lc.flag_swapped(own, sw, n).tolist() == [True, False, False]
