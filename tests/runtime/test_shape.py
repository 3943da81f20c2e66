import dataclasses

import numpy as np
import pytest

from runtime import crop
from runtime.landmarker import Landmarker, LandmarkerOptions
from runtime.shape import ShapeCorrection
from runtime.spec import ModelSpec


def _shift(k: int, dx: float, dy: float, size: int) -> dict:
    """A correction that moves every point by (dx, dy) crop-input pixels (the identity map, shifted)."""
    mean_in, eye = np.full(2 * k, 0.5), np.eye(2 * k)
    return ShapeCorrection(mean_in=mean_in.tolist(), mean_out=(mean_in + np.tile([dx, dy], k) / size).tolist(),
                           down=eye.tolist(), up=eye.tolist()).to_dict()


def test_apply_is_the_affine_map_it_stores():
    rng = np.random.default_rng(0)
    k, r, size = 5, 3, 128
    mi, mo = rng.uniform(0, 1, 2 * k), rng.uniform(0, 1, 2 * k)
    down, up = rng.normal(size=(2 * k, r)), rng.normal(size=(r, 2 * k))
    c = ShapeCorrection(mean_in=mi.tolist(), mean_out=mo.tolist(), down=down.tolist(), up=up.tolist())
    xy = rng.uniform(0, size, (4, k, 2))
    want = (mo + ((xy.reshape(4, -1) / size - mi) @ down) @ up) * size
    got = c.apply(xy, size)
    assert got.shape == xy.shape and got.dtype == np.float32
    np.testing.assert_allclose(got.reshape(4, -1), want, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(c.apply(xy[0], size), got[0])  # one shape alike
    with pytest.raises(ValueError, match="5 keypoints"):
        c.apply(np.zeros((6, 2)), size)


def test_malformed_corrections_are_refused_at_load(tiny_face_tflite):
    spec = ModelSpec.load(tiny_face_tflite.with_suffix(".json"))
    d = _shift(68, 1, 0, spec.input_size)
    with pytest.raises(ValueError, match="lacks 'up'"):
        ShapeCorrection.from_dict({k: v for k, v in d.items() if k != "up"})
    with pytest.raises(ValueError, match="inconsistent shape correction"):
        ShapeCorrection.from_dict({**d, "mean_out": d["mean_out"][:-2]})
    with pytest.raises(ValueError, match="for 14 keypoints, the model has 68"):
        ModelSpec.from_dict({**spec.to_dict(), "shape_correction": _shift(14, 1, 0, spec.input_size)})


def test_spec_round_trips_its_correction_and_reparses_a_new_one(tiny_face_tflite):
    spec = ModelSpec.load(tiny_face_tflite.with_suffix(".json"))
    assert spec.shape_correction is None
    assert "shape_correction" not in spec.to_json()  # a spec without one keeps its bytes
    xy = np.full((68, 2), 10.0, np.float32)
    assert spec.correct_shape(xy) is xy
    spec.shape_correction = _shift(68, 2, -1, spec.input_size)
    np.testing.assert_allclose(spec.correct_shape(xy), xy + [2, -1], atol=1e-4)
    text = spec.to_json()
    # each list of numbers on one line: about a line per row of its two matrices, not one per number
    added = len(text.splitlines()) - len(dataclasses.replace(spec, shape_correction=None).to_json().splitlines())
    assert added <= 2 * 136 + 12, added
    back = ModelSpec.from_json(text)
    assert back == spec
    np.testing.assert_allclose(back.correct_shape(xy), xy + [2, -1], atol=1e-4)
    spec.shape_correction = _shift(68, 0, 3, spec.input_size)  # a new dict is parsed again
    np.testing.assert_allclose(spec.correct_shape(xy), xy + [0, 3], atol=1e-4)


def test_pipeline_applies_it_in_the_crop_frame(tiny_face_tflite):
    """A shift of (2, -1) crop-input pixels moves each landmark by (2, -1) * side / input size."""
    img = np.random.default_rng(1).integers(0, 255, (240, 320, 3), np.uint8)
    box = (100.0, 60.0, 90.0, 90.0)
    with Landmarker(LandmarkerOptions(model_path=tiny_face_tflite)) as lm:
        plain = lm.detect(img, boxes=[box]).landmarks[0].keypoints
        lm.spec.shape_correction = _shift(68, 2, -1, lm.spec.input_size)
        moved = lm.detect(img, boxes=[box]).landmarks[0].keypoints
    _, side = crop.box_crop(box, lm.spec.crop_scale)
    np.testing.assert_allclose(moved - plain, np.tile([2, -1], (68, 1)) * side / lm.spec.input_size, atol=1e-3)
    assert dataclasses.replace(lm.spec, shape_correction=None).correct_shape(plain) is plain
