"""bench.live: the synthetic live clips and the jitter / lag measures on the shipped face model."""

from pathlib import Path

import numpy as np
import pytest

from bench import live

SHIPPED = Path(__file__).resolve().parents[2] / "runtime" / "pretrained" / "face.tflite"


def _img():
    from runtime.image import read_image

    return read_image(live.SAMPLE)


def test_clips_apply_the_stated_offsets():
    img = _img()
    frames, shifts = live.still_clip(img, frames=5, noise=0.0, max_shift=0.5, seed=3)
    assert len(frames) == 5 and shifts.shape == (5, 2) and np.all(np.abs(shifts) <= 0.5)
    assert frames[0].shape == img.shape and frames[0].dtype == np.uint8
    frames, xs = live.moving_clip(img, 5, still=3, moving=4, noise=0.0)
    np.testing.assert_allclose(xs, [-10, -10, -10, -5, 0, 5, 10])
    # the content moves by the stated shift: column x + dx of a frame is column x of the source
    np.testing.assert_array_equal(frames[4][:, 300], img[:, 300])
    np.testing.assert_array_equal(frames[6][:, 310], img[:, 300])


@pytest.mark.skipif(not SHIPPED.exists(), reason="no shipped face model")
def test_the_filter_steadies_the_shipped_model_and_follows_motion():
    pytest.importorskip("tflite_runtime")
    off, on = live.measure(speeds=(5,))
    assert off.smoothing == "off" and on.smoothing == "one-euro"
    assert off.jitter["lost_frames"] == on.jitter["lost_frames"] == 0
    # raw: 1-3 % of the eye distance from frame to frame (1.8 % with the face model's shape
    # correction, 2.3 % without it); filtered: a fraction of it
    assert off.jitter["drawn_frame_to_frame_pct"] > 1.0
    assert on.jitter["drawn_frame_to_frame_pct"] < 0.25 * off.jitter["drawn_frame_to_frame_pct"]
    # raw follows a moving face at once; the filter lags, but by less than two frames
    assert abs(off.lag_frames[5]) < 0.3 and 0 < on.lag_frames[5] < 2.0
