import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime import crop
from runtime.backends import kernels_available
from runtime.landmarker import Landmarker, LandmarkerOptions, ModelLoadError, load_model
from runtime.spec import ModelSpec

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "runtime" / "assets" / "astronaut.jpg"


@pytest.fixture
def tiny(tiny_face_tflite):
    return tiny_face_tflite


@pytest.fixture
def tiny_pose(tiny_pose_tflite):
    return tiny_pose_tflite


def _img():
    from runtime.image import read_image

    return read_image(SAMPLE)


def test_detect_returns_keypoints_in_image_pixels(tiny):
    with Landmarker(LandmarkerOptions(model_path=tiny)) as lm:
        # binary model: the project's kernels on tflite-runtime when they work here, else LCE
        assert lm.backend_name == ("tflite" if kernels_available()[0] else "lce")
        res = lm.detect(_img())
        assert res.detector_ran and len(res.landmarks) == 1
        inst = res.landmarks[0]
        assert inst.keypoints.shape == (68, 2) and inst.keypoints.dtype == np.float32
        assert inst.scores.shape == (68,)
        # every keypoint lies inside the crop square around the detected face
        (cx, cy), side = crop.box_crop(inst.box, lm.spec.crop_scale)
        assert np.all(np.abs(inst.keypoints - [cx, cy]) <= side / 2 + 1)
        assert set(res.timings_ms) >= {"detect", "preprocess", "inference", "decode", "total"}


def test_user_box_skips_detector_and_maps_back(tiny):
    """With a user box the keypoints equal the crop-frame decode mapped by the inverse affine."""
    from runtime import codec

    with Landmarker(LandmarkerOptions(model_path=tiny)) as lm:
        img = _img()
        box = (150.0, 50.0, 120.0, 120.0)
        res = lm.detect(img, boxes=[box])
        assert not res.detector_ran and lm.stats["detector_calls"] == 0
        c, side = crop.box_crop(box, lm.spec.crop_scale)
        m = crop.crop_matrix(c, side, lm.size)
        x = crop.warp(img, m, lm.size)[None].astype(np.float32) * lm.spec.input_scale + lm.spec.input_offset
        xy, _ = lm.spec.decode(lm.backend.run(x)[0])
        expect = crop.apply(crop.invert(m), codec.heatmap_to_input(xy, lm.spec.stride))
        np.testing.assert_allclose(res.landmarks[0].keypoints, expect, atol=1e-3)


def test_flip_test_runs_and_is_symmetric_on_a_symmetric_image(tiny):
    img = np.zeros((200, 200, 3), np.uint8)
    with Landmarker(LandmarkerOptions(model_path=tiny, flip_test=True)) as lm:
        res = lm.detect(img, boxes=[(50, 50, 100, 100)])
        assert res.landmarks[0].keypoints.shape == (68, 2)


def test_pose_whole_image_with_detector_none(tiny_pose):
    with Landmarker(LandmarkerOptions(model_path=tiny_pose, detector="none", refine=0)) as lm:
        res = lm.detect(_img())
        assert lm.stats["detector_calls"] == 0 and res.landmarks[0].source == "image"
        assert res.landmarks[0].keypoints.shape == (14, 2)
        assert np.allclose(res.landmarks[0].box, crop.whole_image_box((512, 512), lm.spec.crop_scale))


def test_pose_crops_are_refined_once_by_default(tiny_pose):
    """The default pose pipeline runs the model again on the crop of its own landmarks' box."""
    img = _img()
    with Landmarker(LandmarkerOptions(model_path=tiny_pose, detector="none", refine=0)) as lm:
        first = lm.detect(img).landmarks[0]
        again = lm.detect(img, boxes=[crop.box_of_points(first.keypoints)]).landmarks[0]
        twice = lm.detect(img, boxes=[crop.box_of_points(again.keypoints)]).landmarks[0]
    with Landmarker(LandmarkerOptions(model_path=tiny_pose, detector="none")) as lm:
        assert lm.refine == 1
        got = lm.detect(img).landmarks[0]
    assert got.source == "image"
    np.testing.assert_allclose(got.box, again.box)
    np.testing.assert_allclose(got.keypoints, again.keypoints)
    with Landmarker(LandmarkerOptions(model_path=tiny_pose, detector="none", refine=2)) as lm:
        np.testing.assert_allclose(lm.detect(img).landmarks[0].keypoints, twice.keypoints)
        box = (100.0, 50.0, 200.0, 300.0)  # a user's box is taken as given
        assert lm.detect(img, boxes=[box]).landmarks[0].box == box


def test_refine_defaults_and_limits(tiny):
    from runtime.landmarker import Landmarks, refine_passes, refined

    assert (refine_passes(None, "face"), refine_passes(None, "pose"), refine_passes(2, "face")) == (0, 1, 2)
    with pytest.raises(ValueError, match="refine must be >= 0"):
        Landmarker(LandmarkerOptions(model_path=tiny, refine=-1))
    # landmarks collapsed into a point are not re-cropped (a box of side 0 would zoom into one pixel)
    point = Landmarks(np.full((68, 2), 40.0, np.float32), np.zeros(68, np.float32), (0.0, 0.0, 9.0, 9.0), "detector")
    with Landmarker(LandmarkerOptions(model_path=tiny)) as lm:
        assert refined(lm.backend, lm.spec, _img(), point, 3) is point


def test_pose_default_is_the_person_detector_then_the_whole_image(tiny_pose):
    pytest.importorskip("tflite_runtime")
    with Landmarker(LandmarkerOptions(model_path=tiny_pose)) as lm:
        assert lm.detector_name == "blazepose"
        res = lm.detect(_img())
        assert res.detector_ran and res.landmarks[0].source == "detector"
        assert not np.allclose(res.landmarks[0].box, crop.whole_image_box((512, 512), lm.spec.crop_scale))
        res = lm.detect(np.zeros((240, 320, 3), np.uint8))  # nobody: the whole image
        assert lm.stats["detector_calls"] == 2 and res.landmarks[0].source == "image"


def test_detector_must_find_what_the_model_expects(tiny, tiny_pose):
    with pytest.raises(ValueError, match="finds people, but .* is a face model; use --detector haar, blazeface"):
        Landmarker(LandmarkerOptions(model_path=tiny, detector="blazepose"))
    with pytest.raises(ValueError, match="finds faces, but .* is a pose model; use --detector blazepose or none"):
        Landmarker(LandmarkerOptions(model_path=tiny_pose, detector="haar"))
    with pytest.raises(ValueError, match="--detector none is for pose models"):
        Landmarker(LandmarkerOptions(model_path=tiny, detector="none"))


def test_video_mode_timestamps_and_reset(tiny):
    with Landmarker(LandmarkerOptions(model_path=tiny, running_mode="video")) as lm:
        img = _img()
        lm.detect_for_video(img, 0)
        with pytest.raises(ValueError, match="increase"):
            lm.detect_for_video(img, 0)
        lm.reset()
        lm.detect_for_video(img, 0)
    with Landmarker(LandmarkerOptions(model_path=tiny)) as lm, pytest.raises(ValueError, match="running_mode"):
        lm.detect_for_video(_img(), 1)


def test_model_bytes_with_embedded_spec(tiny):
    with Landmarker(LandmarkerOptions(model_bytes=tiny.read_bytes())) as lm:
        assert lm.spec.name == "face" and lm.size == 64


def test_sidecar_mismatch_is_refused(tiny, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(tiny.read_bytes())
    spec = ModelSpec.load(tiny.with_suffix(".json"))
    spec.tflite_sha256 = hashlib.sha256(b"other").hexdigest()
    model.with_suffix(".json").write_text(spec.to_json())
    with pytest.raises(ModelLoadError, match="sha256 differs"):
        load_model(model)
    spec.tflite_sha256 = None
    spec.input_size = 128
    model.with_suffix(".json").write_text(spec.to_json())
    with pytest.raises(ModelLoadError, match="do not match its spec"):
        load_model(model)


def test_corrupt_and_missing_models(tiny, tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "none.tflite")
    bad = tmp_path / "bad.tflite"
    data = tiny.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelLoadError, match="truncated|corrupt|outside"):
        load_model(bad)
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(ModelLoadError, match="TFL3"):
        load_model(bad)


def test_binary_model_on_tflite_runtime_with_project_kernels(tiny):
    """--backend tflite runs LCE ops through runtime.kernels: same landmarks as LCE's interpreter."""
    ok, why = kernels_available()
    if not ok:
        pytest.skip(why)
    img = _img()
    with Landmarker(LandmarkerOptions(model_path=tiny, backend="tflite")) as lm:
        ours = lm.detect(img)
    with Landmarker(LandmarkerOptions(model_path=tiny, backend="lce")) as lm:
        theirs = lm.detect(img)
    np.testing.assert_array_equal(ours.landmarks[0].keypoints, theirs.landmarks[0].keypoints)
    np.testing.assert_array_equal(ours.landmarks[0].scores, theirs.landmarks[0].scores)


@pytest.mark.parametrize("name", ["face", "face-real", "pose-lsp"])
def test_shipped_models_give_the_same_landmarks_on_both_tflite_interpreters(name):
    """tflite-runtime 2.14 and the TFLite C API (litert-lm-api, TFLite 2.23), each with the
    project's kernels and XNNPACK: the same landmarks and scores, to the bit, on the sample."""
    for via in ("tflite", "litert"):
        ok, why = kernels_available(via)
        if not ok:
            pytest.skip(why)
    path = ROOT / "runtime" / "pretrained" / f"{name}.tflite"
    got = {}
    for via in ("tflite", "litert"):
        with Landmarker(LandmarkerOptions(model_path=path, backend=via, threads=2)) as lm:
            assert lm.backend_name == via
            got[via] = lm.detect(_img(), boxes=[(150, 40, 140, 200)]).landmarks[0]
    np.testing.assert_array_equal(got["tflite"].keypoints, got["litert"].keypoints)
    np.testing.assert_array_equal(got["tflite"].scores, got["litert"].scores)


def test_auto_backend_takes_the_c_api_where_tflite_runtime_is_missing(tiny, monkeypatch):
    """A Python without tflite-runtime wheels (>= 3.12, e.g. Raspberry Pi OS 13): --backend auto
    runs the binary model and the BlazeFace detector on the TFLite C API."""
    import runtime.backends as backends

    if not kernels_available("litert")[0]:
        pytest.skip(kernels_available("litert")[1])
    monkeypatch.setattr(backends, "importable", lambda name: name not in ("tflite_runtime", "larq_compute_engine"))
    monkeypatch.setattr(backends, "_KERNELS", {})
    with Landmarker(LandmarkerOptions(model_path=tiny)) as lm:
        assert lm.backend_name == "litert"
        res = lm.detect(_img())
    assert res.detector_ran and len(res.landmarks) == 1


def test_float_model_on_tflite_runtime(tmp_path):
    pytest.importorskip("tensorflow")
    pytest.importorskip("tflite_runtime")
    from helpers import tiny_model

    path = tiny_model(tmp_path, "face-real")
    with Landmarker(LandmarkerOptions(model_path=path)) as lm:
        assert lm.backend_name == "tflite"
        assert lm.detect(_img(), boxes=[(150, 50, 120, 120)]).landmarks[0].keypoints.shape == (68, 2)


def test_runtime_imports_and_runs_without_tensorflow(tiny):
    """The runtime must never import TensorFlow or larq, even when running a binary model."""
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'larq', 'tf_keras', 'keras'):
            raise ImportError('blocked: ' + name)
sys.meta_path.insert(0, Block())
import runtime, runtime.infer, runtime.landmarker, runtime.backends, runtime.codec, runtime.detectors
from runtime.landmarker import Landmarker, LandmarkerOptions
from runtime.image import read_image
lm = Landmarker(LandmarkerOptions(model_path={str(tiny)!r}))
r = lm.detect(read_image({str(SAMPLE)!r}))
assert r.landmarks[0].keypoints.shape == (68, 2)
bad = [m for m in ('tensorflow', 'larq', 'larq_compute_engine', 'keras', 'tf_keras') if m in sys.modules]
assert not bad, bad
print('ok')
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-2000:]


def test_cli_images_folder_errors_continue(tiny, tmp_path):
    import cv2

    d = tmp_path / "in"
    (d / "sub").mkdir(parents=True)
    img = cv2.imread(str(SAMPLE))
    cv2.imwrite(str(d / "a.jpg"), img)
    cv2.imwrite(str(d / "sub" / "a.png"), cv2.cvtColor(img, cv2.COLOR_BGR2GRAY))
    (d / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    (d / "empty.png").write_bytes(b"")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "runtime.infer", str(d), "--model", str(tiny), "--output", str(out),
                        "--csv"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert r.returncode == 1, r.stderr  # partial failure
    recs = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(recs) == 4
    errors = [x for x in recs if x["error"]]
    assert len(errors) == 2 and all("broken" in x["source"] or "empty" in x["source"] for x in errors)
    good = [x for x in recs if not x["error"]]
    assert all(len(x["instances"][0]["keypoints"]) == 68 for x in good)
    assert sorted(p.name for p in out.glob("*.jpg")) == ["a.jpg", "a_2.jpg"]
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 68
    assert "2 failed" in r.stderr and "median ms" in r.stderr


def test_cli_fatal_errors_exit_2(tmp_path):
    r = subprocess.run([sys.executable, "-m", "runtime.infer", "--model", str(tmp_path / "x.tflite")],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "not found" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_unknown_detector_is_a_clear_error(tiny_pose):
    with pytest.raises(ValueError, match="unknown detector 'yolo'; available: blazepose, none"):
        Landmarker(LandmarkerOptions(model_path=tiny_pose, detector="yolo"))


def test_object_boxes_falls_back_to_the_whole_image_for_pose_only(tiny, tiny_pose):
    from runtime.detectors import Box
    from runtime.landmarker import object_boxes

    face, pose = ModelSpec.load(Path(tiny).with_suffix(".json")), ModelSpec.load(Path(tiny_pose).with_suffix(".json"))
    boxes, src = object_boxes([Box(10, 20, 30, 40)], (100, 200, 3), pose, {"scale": 0.5})
    assert src == "detector" and np.allclose(boxes, [(15.0, 30.0, 20.0, 20.0)])
    assert object_boxes([], (100, 200, 3), pose, {}) == ([crop.whole_image_box((100, 200), pose.crop_scale)], "image")
    assert object_boxes([], (100, 200, 3), face, {}) == ([], "detector")


def test_threads_default_from_measurements(tiny):
    import os

    from runtime.landmarker import default_threads

    assert [default_threads("tflite", n) for n in (1, 2, 3, 4, 8)] == [1, 1, 1, 2, 2]
    assert default_threads("onnxruntime", 4) == 2 and default_threads("lce", 8) == 1
    assert default_threads("tflite") == default_threads("tflite", os.cpu_count())
    with Landmarker(LandmarkerOptions(model_path=tiny)) as lm:
        assert lm.threads == default_threads(lm.backend_name)
    with Landmarker(LandmarkerOptions(model_path=tiny, threads=1)) as lm:
        assert lm.threads == 1
