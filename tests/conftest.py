import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from models.data import SHARED_DATA as SHARED  # noqa: E402

# Everything a run writes to the temporary folder (TensorFlow's autograph files, training workers'
# checkpoints, subprocesses' files) goes into one folder of its own, removed when the run ends.
_TMP = tempfile.mkdtemp(prefix="bnn-tests-")
os.environ["TMPDIR"] = tempfile.tempdir = _TMP


def pytest_unconfigure(config):
    shutil.rmtree(_TMP, ignore_errors=True)


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data``; tests using it skip when it is absent (fresh clone)."""
    if not (SHARED / "face300w").is_dir():
        pytest.skip(f"needs the shared data at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def tiny_face_tflite(tmp_path_factory) -> Path:
    """A tiny binary face model with random (non-degenerate) weights, converted once per session."""
    pytest.importorskip("tensorflow")
    pytest.importorskip("larq_compute_engine")
    from helpers import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny-face"))


@pytest.fixture(scope="session")
def tiny_pose_tflite(tmp_path_factory) -> Path:
    pytest.importorskip("tensorflow")
    pytest.importorskip("larq_compute_engine")
    from helpers import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny-pose"), "pose-lsp")
