from models import evaluate


def test_a_detector_for_the_other_task_is_one_line_before_any_work(tiny_pose_tflite, capsys, tmp_path):
    rc = evaluate.main(["--tflite", str(tiny_pose_tflite), "--crop", "detector", "--detector", "haar",
                        "--data", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0
    assert "finds faces, but" in err and "use --detector blazepose or none" in err
    assert not (tmp_path / "out").exists()


def test_whole_image_crops_are_refined_as_the_runtime_does(tiny_pose_tflite):
    """models.evaluate scores what the runtime outputs: detector / whole-image crops refined by the
    task's default passes (pose: 1), ground-truth boxes never."""
    from types import SimpleNamespace

    import numpy as np

    from runtime import crop
    from runtime.landmarker import Landmarker, LandmarkerOptions, landmarks_in_box

    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (96, 128, 3), np.uint8)
    kp = rng.uniform(20, 80, (14, 2)).astype(np.float32)
    s = SimpleNamespace(load_image=lambda: img, keypoints=kp, visible=np.ones(14), box=None)
    with Landmarker(LandmarkerOptions(model_path=tiny_pose_tflite, detector="none")) as lm:
        b, spec = lm.backend, lm.spec
        stats = {}
        got = evaluate.predict(b, spec, [s], "image", progress=False, stats=stats)[0]
        first = landmarks_in_box(b, spec, img, crop.whole_image_box(img.shape, spec.crop_scale))
        again = landmarks_in_box(b, spec, img, crop.box_of_points(first.keypoints))
        np.testing.assert_allclose(got, again.keypoints)
        np.testing.assert_allclose(lm.detect(img).landmarks[0].keypoints, got)  # the runtime's own output
        assert stats["refine"] == 1
        once = evaluate.predict(b, spec, [s], "image", progress=False, refine=0)[0]
        np.testing.assert_allclose(once, first.keypoints)
        gt = evaluate.predict(b, spec, [s], "gt", progress=False, refine=3, stats=stats)[0]
        np.testing.assert_allclose(gt, landmarks_in_box(b, spec, img, crop.box_of_points(kp)).keypoints)
        assert stats["refine"] == 0
