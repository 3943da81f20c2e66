from types import SimpleNamespace

import numpy as np

from runtime.draw import annotate
from runtime.landmarker import LandmarkerResult, Landmarks


def _result(scores):
    kp = np.array([[20, 20], [80, 20], [80, 80]], np.float32)
    return LandmarkerResult([Landmarks(kp, np.asarray(scores, np.float32), (0.0, 0.0, 1.0, 1.0), "user")])


def test_low_score_keypoints_and_their_bones_are_left_out():
    spec = SimpleNamespace(skeleton=[(0, 1), (1, 2)])
    img = np.zeros((100, 100, 3), np.uint8)
    full = annotate(img, _result([0.9, 0.9, 0.9]), spec)
    part = annotate(img, _result([0.9, 0.9, 0.1]), spec, min_score=0.3)
    assert full[80, 80].any() and full[50, 80].any()  # the third point and the bone to it
    assert not part[80, 80].any() and not part[50, 80].any()
    assert part[20, 20].any() and part[20, 50].any()  # the confident point and bone stay
    assert np.array_equal(annotate(img, _result([0.9, 0.9, 0.1]), spec), full)  # default: draw all
