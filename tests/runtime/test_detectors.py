from pathlib import Path

import numpy as np
import pytest

from runtime import detectors
from runtime.image import read_image

SAMPLE = Path(__file__).resolve().parents[2] / "runtime" / "assets" / "astronaut.jpg"


def _iou(a, b):
    ax, ay, aw, ah = a.as_tuple()
    bx, by, bw, bh = b.as_tuple()
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih / (aw * ah + bw * bh - iw * ih)


def test_haar_and_blazeface_find_the_sample_face():
    pytest.importorskip("tflite_runtime")
    img = read_image(SAMPLE)
    haar = detectors.create("haar").detect(img)
    blaze = detectors.create("blazeface").detect(img)
    assert len(haar) == 1 and len(blaze) == 1
    assert _iou(haar[0], blaze[0]) > 0.6 and 0.5 < blaze[0].score <= 1.0


def test_blazeface_anchors_and_letterbox():
    pytest.importorskip("tflite_runtime")
    a = detectors.BlazeFaceDetector.anchors()
    assert a.shape == (896, 2) and a.min() > 0 and a.max() < 1
    img = read_image(SAMPLE)
    wide = np.ascontiguousarray(img[20:320, 60:500])  # 440x300: letterboxed with 70 px bands
    b = detectors.create("blazeface").detect(wide)
    ref = detectors.create("blazeface").detect(img)[0]
    assert len(b) == 1 and abs(b[0].x + 60 - ref.x) < 6 and abs(b[0].y + 20 - ref.y) < 6
    assert detectors.create("blazeface").detect(np.zeros((300, 200, 3), np.uint8)) == []


def test_calibrated_box_and_registry():
    box = detectors.Box(10, 20, 100, 80)
    x, y, w, h = detectors.calibrated_box(box, {"dx": 0.1, "dy": 0.2, "scale": 0.5})
    assert (w, h) == (50.0, 50.0) and (x + w / 2, y + h / 2) == (70.0, 76.0)
    assert set(detectors.available()) >= {"haar", "blazeface", "blazepose"}
    assert detectors.available("pose") == ["blazepose"] and "blazepose" not in detectors.available("face")
    with pytest.raises(ValueError, match="unknown detector 'nope'; available: blazeface, blazepose, haar"):
        detectors.create("nope")


def test_blazepose_finds_the_sample_person_around_her_face():
    pytest.importorskip("tflite_runtime")
    assert detectors.ssd_anchor_centres(detectors.BlazePoseDetector.LAYOUT).shape == (2254, 2)
    img = read_image(SAMPLE)
    face = detectors.create("blazeface").detect(img)[0]
    people = detectors.create("blazepose").detect(img)
    assert len(people) == 1 and 0.5 < people[0].score <= 1.0
    p, (fx, fy) = people[0], (face.x + face.w / 2, face.y + face.h / 2)
    # a square around the whole body: contains the face, far larger than it, centred below it
    assert p.w == p.h and p.x < fx < p.x + p.w and p.y < fy < p.y + p.h
    assert p.w > 4 * face.w and p.y + p.h / 2 > fy
    # letterboxing: in a crop of the image the detection (its face box) moves with the crop
    det = detectors.create("blazepose")
    (b,), _, _ = det.raw(img)
    (q,), _, _ = det.raw(np.ascontiguousarray(img[20:420, 30:500]))
    assert abs(q[0] + 30 - b[0]) < 0.1 * b[2] and abs(q[1] + 20 - b[1]) < 0.1 * b[2]
    assert detectors.create("blazepose").detect(np.zeros((300, 200, 3), np.uint8)) == []


def test_resolve_picks_the_task_default_and_rejects_the_wrong_task():
    assert detectors.resolve(None, "face") == "blazeface" and detectors.resolve(None, "pose") == "blazepose"
    assert detectors.resolve("blazeface", "face") == "blazeface" and detectors.resolve("none", "pose") == "none"
    with pytest.raises(ValueError, match="unknown detector 'yolo'; available: blazepose, none"):
        detectors.resolve("yolo", "pose")
    with pytest.raises(ValueError, match="finds faces, but m is a pose model; use --detector blazepose or none"):
        detectors.resolve("blazeface", "pose", "m")
    with pytest.raises(ValueError, match="--detector none is for pose models"):
        detectors.resolve("none", "face")


def test_calibration_for_prefers_the_spec_then_the_builtin():
    assert detectors.calibration_for("haar", {}) == detectors.DEFAULT_CALIBRATION["haar"]
    assert detectors.calibration_for("haar", {"haar": {"scale": 2.0}}) == {"scale": 2.0}
    assert detectors.calibration_for("blazepose", {}) == {}


def test_register_records_the_task(monkeypatch):
    monkeypatch.setattr(detectors, "_REGISTRY", dict(detectors._REGISTRY))
    monkeypatch.setattr(detectors, "TASKS", dict(detectors.TASKS))
    detectors.register("people2", detectors.BlazePoseDetector, task="pose")
    assert "people2" in detectors.available("pose") and "people2" not in detectors.available("face")
    with pytest.raises(ValueError, match="finds people"):
        detectors.resolve("people2", "face")
    with pytest.raises(ValueError, match="task must be one of"):
        detectors.register("x", detectors.HaarDetector, task="faces")


def test_face_default_falls_back_to_haar_with_a_notice(monkeypatch, capsys):
    """BlazeFace is the face default; when it cannot load, Haar runs instead (one line on stderr);
    BlazeFace asked for by name must load."""
    pytest.importorskip("tflite_runtime")
    from runtime.landmarker import Landmarker, LandmarkerOptions

    def broken(**_):
        raise RuntimeError("face_detection_short_range.tflite is missing; run `make blazeface`")

    with Landmarker(LandmarkerOptions()) as lm:
        assert lm.detector_name == "blazeface" and lm.detector.name == "blazeface"
    monkeypatch.setitem(detectors._REGISTRY, "blazeface", broken)
    with Landmarker(LandmarkerOptions()) as lm:
        assert lm.detector.name == "haar" and lm.detector_name == "haar"
        assert lm.detect(read_image(SAMPLE)).landmarks  # with Haar's own calibration
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "notice: blazeface detector unavailable" in err and "using haar" in err
    with Landmarker(LandmarkerOptions(detector="blazeface")) as lm, pytest.raises(RuntimeError, match="missing"):
        lm.detector  # noqa: B018
