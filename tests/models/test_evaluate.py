from models import evaluate


def test_a_detector_for_the_other_task_is_one_line_before_any_work(tiny_pose_tflite, capsys, tmp_path):
    rc = evaluate.main(["--tflite", str(tiny_pose_tflite), "--crop", "detector", "--detector", "haar",
                        "--data", str(tmp_path / "nothing-here"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0
    assert "finds faces, but" in err and "use --detector blazepose or none" in err
    assert not (tmp_path / "out").exists()
