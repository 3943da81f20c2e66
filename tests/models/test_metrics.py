"""PCK with LSPET-style labels: not-annotated joints carry placeholder coordinates."""

import numpy as np

from models import metrics


def _person():
    gt = np.zeros((1, 14, 2))
    gt[0, 8], gt[0, 9] = (40, 20), (60, 20)   # r / l shoulder
    gt[0, 2], gt[0, 3] = (40, 80), (60, 80)   # r / l hip
    return gt


def test_torso_uses_other_diagonal_when_an_end_is_not_annotated():
    gt = _person()
    vis = np.ones((1, 14), np.uint8)
    both = metrics.torso_size(gt, metrics.LSP_TORSO, vis, metrics.LSP_TORSO_ALT)
    gt[0, 2] = (0, -27)  # LSPET placeholder for an unannotated right hip
    vis[0, 2] = 0
    alt = metrics.torso_size(gt, metrics.LSP_TORSO, vis, metrics.LSP_TORSO_ALT)
    assert both[0] == alt[0] == np.hypot(20, 60)
    # without the visibility the placeholder would make the torso (and the PCK threshold) wrong
    assert metrics.torso_size(gt)[0] != both[0]


def test_image_without_a_torso_is_left_out_of_pck():
    gt = np.concatenate([_person(), _person()])
    vis = np.ones((2, 14), np.uint8)
    vis[1, [2, 8]] = 0  # neither diagonal measurable in image 1
    torso = metrics.torso_size(gt, metrics.LSP_TORSO, vis, metrics.LSP_TORSO_ALT)
    assert np.isfinite(torso[0]) and np.isnan(torso[1])
    pred = gt.copy()
    pred[1] += 1000  # all wrong, but image 1 must not count
    per, mean = metrics.pck(pred, gt, vis, torso)
    assert mean == 1.0 and np.all(per == 1.0)
    pred[0, 0] += 0.21 * torso[0]  # just outside alpha = 0.2
    per, mean = metrics.pck(pred, gt, vis, torso)
    assert per[0] == 0.0 and mean == 13 / 14
