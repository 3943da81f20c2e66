"""The training recipe, written once: schedule, loss in both frameworks, metric key set, run files."""

import json

import numpy as np
import pytest

from models import recipe


def test_lr_schedule():
    assert recipe.lr_steps("45,70", 100) == [45, 70]
    assert recipe.lr_steps("", 100) == [60, 85] and recipe.lr_steps("", 0) == []
    assert [recipe.lr_at(e, 1e-3, [2, 4]) for e in (0, 1, 2, 3, 4)] == pytest.approx([1e-3, 1e-3, 2e-4, 2e-4, 4e-5])


def _loss_inputs():
    rng = np.random.default_rng(0)
    out = rng.normal(0.2, 0.3, (2, 4, 4, 3)).astype(np.float32)
    target = np.clip(rng.normal(0.3, 0.5, (2, 4, 4, 3)), -0.2, 1.2).astype(np.float32)  # a teacher's may leave [0, 1]
    jw = np.array([[1, 0, 1], [1, 1, 0]], np.float32)
    return out, target, jw


def test_weighted_mse_by_hand():
    out, target, jw = _loss_inputs()
    got = recipe.weighted_mse(out, target, jw[:, None, None, :], 20.0, clip=np.clip, mean=np.mean)
    w = (1 + 20 * np.clip(target, 0, 1)) * jw[:, None, None, :]
    assert got == pytest.approx(float(np.mean(w * (out - target) ** 2)), rel=1e-6)
    assert recipe.weighted_mse(out, target, np.zeros((2, 1, 1, 3)), clip=np.clip, mean=np.mean) == 0.0


def test_weighted_mse_is_the_same_in_keras_and_pytorch():
    tf = pytest.importorskip("tensorflow")
    torch = pytest.importorskip("torch")
    out, target, jw = _loss_inputs()
    a = recipe.weighted_mse(tf.constant(out), tf.constant(target), tf.constant(jw)[:, None, None, :], 20.0,
                            clip=tf.clip_by_value, mean=tf.reduce_mean)
    nchw = (0, 3, 1, 2)
    b = recipe.weighted_mse(torch.from_numpy(out.transpose(nchw)), torch.from_numpy(target.transpose(nchw)),
                            torch.from_numpy(jw)[:, :, None, None], 20.0, clip=torch.clamp, mean=torch.mean)
    assert float(a) == pytest.approx(float(b), rel=1e-6)


def test_validation_metrics_have_one_key_set():
    rng = np.random.default_rng(1)
    gt = rng.uniform(10, 100, (5, 68, 2))
    face = recipe.validation_metrics("face", gt + 1.0, gt, np.ones((5, 68)))
    assert set(face) == {"nme_io", "auc08", "fr08", "score", "metric_version"}
    assert face["score"] == -face["nme_io"] and face["nme_io"] > 0 and face["metric_version"] == 1
    gt = rng.uniform(10, 100, (5, 14, 2))
    pose = recipe.validation_metrics("pose", gt, gt, np.ones((5, 14)))
    assert set(pose) == {"pck02", "pck02_per_joint", "score", "metric_version"}
    assert pose["pck02"] == pose["score"] == 1.0 and len(pose["pck02_per_joint"]) == 14
    assert "pck02_per_joint" not in recipe.history_record(1, 0.1, 1e-3, 2.0, pose)


def test_run_files(tmp_path):
    h = tmp_path / "history.jsonl"
    h.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3}\n{"epo')
    recipe.trim_history(h, 2)
    assert [json.loads(x)["epoch"] for x in h.read_text().splitlines()] == [1, 2]
    b = tmp_path / "best.json"
    assert recipe.best_is_stale(b, "pose") is None
    b.write_text('{"epoch": 3, "pck02": 0.4}')  # no version: v1, before the torso fix
    assert recipe.best_is_stale(b, "pose") == 1 and recipe.best_is_stale(b, "face") is None
