import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # `make test-all` runs these, `make test` not

tf = pytest.importorskip("tensorflow")
ROOT = Path(__file__).resolve().parents[2]
TINY = ["width=16", "input_size=32", "depth=1"]
FAULTS = Path(__file__).resolve().parent / "train_with_faults.py"  # models.train + injected faults


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """20 synthetic faces (image + 68-point .pts) in the iBUG folder layout."""
    import cv2

    from models.data import write_pts

    d = tmp_path_factory.mktemp("faces")
    rng = np.random.default_rng(0)
    for i in range(20):
        img = rng.integers(0, 255, (64, 64, 3), np.uint8)
        kp = rng.uniform(16, 48, (68, 2))
        cv2.imwrite(str(d / f"f{i:02d}.jpg"), img)
        write_pts(d / f"f{i:02d}.pts", kp)
    return d


def _train(data, out, *extra, wait=True, faults=()):
    cmd = [sys.executable, str(FAULTS), *faults, "--", "--model", "face", "--data", str(data), "--out", str(out),
           "--batch", "4", "--epochs", "2", "--optimizer", "adam", "--deterministic", "--save-every", "1",
           "--val-fraction", "0.2", *extra, *TINY]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    if not wait:
        return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout + r.stderr


def _model_vars(out: Path) -> dict:
    ckpt = tf.train.latest_checkpoint(str(out / "ckpt"))
    reader = tf.train.load_checkpoint(ckpt)
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if k.startswith("model/")}


def test_resume_is_exact(faces, tmp_path):
    _train(faces, tmp_path / "a")
    log = _train(faces, tmp_path / "b", "--max-steps", "3")
    assert "stopping after --max-steps 3" in log
    log = _train(faces, tmp_path / "b")
    assert "resumed from" in log and "epoch 1, step 3 of it" in log
    a, b = _model_vars(tmp_path / "a"), _model_vars(tmp_path / "b")
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    ha = [json.loads(x) for x in (tmp_path / "a" / "history.jsonl").read_text().splitlines()]
    hb = [json.loads(x) for x in (tmp_path / "b" / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in ha] == [h["epoch"] for h in hb] == [1, 2]
    assert ha[-1]["nme_io"] == pytest.approx(hb[-1]["nme_io"], abs=1e-6)
    assert (tmp_path / "b" / "best.h5").exists() and json.loads((tmp_path / "b" / "run.json").read_text())["config"]


def test_sigkill_then_resume(faces, tmp_path):
    out = tmp_path / "k"
    p = _train(faces, out, "--epochs", "3", wait=False)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill as soon as a mid-run checkpoint exists
        if tf.train.latest_checkpoint(str(out / "ckpt")):
            break
        time.sleep(0.2)
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert tf.train.latest_checkpoint(str(out / "ckpt")) is not None
    log = _train(faces, out, "--epochs", "3")
    assert "resumed from" in log
    hist = [json.loads(x)["epoch"] for x in (out / "history.jsonl").read_text().splitlines()]
    assert hist[-1] == 3 and sorted(set(hist)) == [1, 2, 3]


def test_unknown_override_fails_fast(faces, tmp_path):
    r = subprocess.run([sys.executable, "-m", "models.train", "--data", str(faces), "--out", str(tmp_path),
                        "widht=3"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unknown config key 'widht'" in r.stderr


def _free_port():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_workers_train_in_sync(faces, tmp_path):
    """MultiWorkerMirroredStrategy with two worker processes on localhost (TF_CONFIG)."""
    ports = [_free_port(), _free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "",
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})}
        cmd = [sys.executable, "-m", "models.train", "--model", "face", "--data", str(faces), "--out",
               str(tmp_path / "mw"), "--batch", "4", "--epochs", "1", "--optimizer", "adam", "--save-every", "2",
               "--val-fraction", "0.2", *TINY]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True))
    logs = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        logs.append(out)
        assert p.returncode == 0, out[-3000:]
    digests = [next(line for line in log.splitlines() if line.startswith("weights sha256:")) for log in logs]
    assert digests[0] == digests[1]
    assert (tmp_path / "mw" / "history.jsonl").exists()  # written by the chief only
    assert len((tmp_path / "mw" / "history.jsonl").read_text().splitlines()) == 1


def test_distillation_from_onnx_and_keras_teachers(faces, tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from convert.torch_twin import HourglassNet, export_onnx

    torch.manual_seed(0)
    export_onnx(HourglassNet(68, 16, 1, 1, "ours"), 32, tmp_path / "teacher.onnx")
    log = _train(faces, tmp_path / "d1", "--epochs", "1", "--teacher", str(tmp_path / "teacher.onnx"))
    assert "weights sha256" in log
    from helpers import random_weights

    from models.configs import get_config

    w = random_weights(get_config("face-real", width=16, input_size=32, depth=1), tmp_path / "t.h5")
    log = _train(faces, tmp_path / "d2", "--epochs", "1", "--teacher", "face-real", "--teacher-weights", str(w))
    assert "weights sha256" in log
    r = subprocess.run([sys.executable, "-m", "models.train", "--data", str(faces), "--out", str(tmp_path / "d3"),
                        "--teacher", str(tmp_path / "nope.onnx"), "--val-fraction", "0.2", *TINY], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "nope.onnx not found" in r.stderr


def _latest_checkpoint(out: Path) -> str | None:
    """The latest checkpoint's path from one snapshot of the state file. ``tf.train.latest_checkpoint``
    cannot be used while the trainer writes: TF's FileIO.read sizes the file by name, so a rename
    between its open and its stat yields a truncated read of the old file and a parse error."""
    from google.protobuf import text_format
    from tensorflow.python.training.checkpoint_state_pb2 import CheckpointState

    state = text_format.Parse((out / "ckpt" / "checkpoint").read_text(), CheckpointState())
    path = Path(state.model_checkpoint_path)
    return str(path if path.is_absolute() else out / "ckpt" / path) if state.model_checkpoint_path else None


def _valid_checkpoint(out: Path) -> int:
    """The latest checkpoint restores (all model variables readable); returns its step."""
    latest = _latest_checkpoint(out)
    assert latest is not None
    reader = tf.train.load_checkpoint(latest)
    names = [k for k in reader.get_variable_to_shape_map() if k.startswith("model/")]
    assert names and all(reader.get_tensor(k) is not None for k in names)
    return int(latest.rsplit("-", 1)[1])


def _saved_since(out: Path, before: int) -> bool:
    """While the trainer runs: a checkpoint newer than ``before`` is there and restores. Its files
    can be swept by two later saves while they are read; that only means "look again"."""
    try:
        return _valid_checkpoint(out) != before
    except (tf.errors.NotFoundError, tf.errors.DataLossError):
        return False


def test_sigkill_storm_never_corrupts_the_last_checkpoint(faces, tmp_path):
    """SIGKILL at random moments while a checkpoint is written after every step: the latest
    checkpoint always restores, history stays parseable, and the run finishes after resuming."""
    out = tmp_path / "storm"
    rng = np.random.default_rng(1)
    kills, mid_save = 0, 0
    for i in range(4):
        # even rounds: killed 2 ms into its 2nd checkpoint write (fault injection); odd: at a random time
        faults = ("--kill-in-save", "2") if i % 2 == 0 else ()
        before = _valid_checkpoint(out) if (out / "ckpt" / "checkpoint").exists() else -1
        p = _train(faces, out, "--epochs", "6", wait=False, faults=faults)
        deadline = time.time() + 300
        while time.time() < deadline and p.poll() is None:  # until this process has saved once
            if (out / "ckpt" / "checkpoint").exists() and _saved_since(out, before):
                break
            time.sleep(0.05)
        if i % 2 == 0:
            rc = p.wait(timeout=300)
            assert rc == -signal.SIGKILL, p.stdout.read()[-2000:]
            mid_save += 1
        else:
            time.sleep(float(rng.uniform(0.05, 1.0)))
            if p.poll() is not None:
                break
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        kills += 1
        _valid_checkpoint(out)
    assert kills == 4
    log = _train(faces, out, "--epochs", "6")
    assert "resumed from" in log
    hist = [json.loads(x)["epoch"] for x in (out / "history.jsonl").read_text().splitlines()]
    assert hist == [1, 2, 3, 4, 5, 6], hist
    assert mid_save == 2
    print(f"{kills} kills, {mid_save} inside a checkpoint write")


def test_disk_full_is_reported_before_and_during_training(faces, tmp_path):
    # before: a 256 KB filesystem cannot hold the checkpoints (needs root to mount a tmpfs)
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)],
                      capture_output=True).returncode == 0:
        try:
            cmd = [sys.executable, "-m", "models.train", "--model", "face", "--data", str(faces), "--out",
                   str(small / "run"), "--batch", "4", "--epochs", "1", "--val-fraction", "0.2", *TINY]
            r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            assert r.returncode == 2 and "MB free under" in r.stderr, r.stderr[-2000:]
            assert not (small / "run" / "ckpt").exists()
        finally:
            subprocess.run(["umount", str(small)], capture_output=True)
    # during: the 3rd checkpoint write fails with ENOSPC (injected): one-line error, exit 1, the
    # earlier checkpoint stays the latest and the run resumes from it
    out = tmp_path / "enospc"
    cmd = [sys.executable, str(FAULTS), "--enospc-at", "3", "--", "--model", "face", "--data", str(faces), "--out",
           str(out), "--batch", "4", "--epochs", "2", "--optimizer", "adam", "--save-every", "1", "--val-fraction",
           "0.2", *TINY]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 1 and "cannot write checkpoint" in r.stderr and "No space left" in r.stderr
    assert _valid_checkpoint(out) == 2
    log = _train(faces, out)
    assert "resumed from" in log and "step 2 of it" in log
