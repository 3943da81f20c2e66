"""Detector-box -> object-box calibration, per task."""

from types import SimpleNamespace

import numpy as np
import pytest

from models.calibrate import calibrate
from models.configs import get_config
from runtime.detectors import Box


class _Fixed:
    """A detector whose box is the joints' box scaled by 2 about a centre shifted 10 % of its width."""

    def detect(self, image):
        return [Box(*image.box)]


def _sample(x, y, side):
    kp = np.array([[x, y], [x + side, y + side], [0.0, -27.0]])  # last: an unannotated placeholder
    box = (x - side / 2 - 0.2 * side, y - side / 2, 2 * side, 2 * side)
    img = SimpleNamespace(box=box)
    return SimpleNamespace(load_image=lambda: img, keypoints=kp, visible=np.array([1, 1, 0]))


def test_calibrate_recovers_offset_and_scale_ignoring_unannotated_joints():
    samples = [_sample(100 + 7 * i, 80 + 3 * i, 50 + i) for i in range(20)]
    cal = calibrate(_Fixed(), samples)
    assert cal["matched"] == 20 and cal["missed"] == 0
    assert cal["scale"] == pytest.approx(0.5) and cal["dx"] == pytest.approx(0.1) and cal["dy"] == pytest.approx(0)


def test_specs_carry_their_tasks_detectors_only():
    face = get_config("face").spec().detector_calibration
    pose = get_config("pose-lsp").spec().detector_calibration
    assert {"haar", "blazeface"} <= set(face) and "blazepose" not in face
    assert set(pose) == {"blazepose"} and 0.3 < pose["blazepose"]["scale"] < 1.0
