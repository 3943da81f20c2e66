"""requirements-runtime.txt installs in a clean venv without TensorFlow, the project installs as a
wheel with the kernels compiled in, and the main job runs there from another working directory
without a C compiler. Slow (a pip install): `make test-all` runs it, `make test` not."""

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import run_tree

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_light_runtime_venv_runs_main_job(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    r = run_tree([str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r",
                  str(ROOT / "requirements-runtime.txt")], timeout=1200)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run_tree([str(py), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", str(ROOT)],
                 timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    frozen = subprocess.run([str(py), "-m", "pip", "freeze"], capture_output=True, text=True).stdout.lower()
    assert "tensorflow" not in frozen and "larq==" not in frozen and "torch" not in frozen
    work = tmp_path / "elsewhere"
    work.mkdir()
    no_cc = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "CC": "no-such-compiler"}
    r = subprocess.run([str(py), "-m", "runtime.kernels", "path"], capture_output=True, text=True, cwd=work,
                       env=no_cc, timeout=300)
    assert r.returncode == 0 and "site-packages/runtime/kernels/_prebuilt/libbnn-" in r.stdout, r.stderr[-2000:]
    r = subprocess.run([str(py), "-m", "runtime.infer"], capture_output=True, text=True, cwd=work, env=no_cc,
                       timeout=600)
    shipped = (ROOT / "runtime" / "pretrained" / "face.tflite").exists()
    if shipped:
        assert r.returncode == 0, r.stderr[-3000:]
        assert (work / "landmarks-out" / "results.jsonl").exists()
        assert (work / "landmarks-out" / "astronaut.jpg").exists()
        # the binary model runs on tflite-runtime with the kernels the wheel carries
        assert '"backend": "tflite"' in (work / "landmarks-out" / "results.jsonl").read_text()
    else:
        assert r.returncode == 2 and "shipped face model" in r.stderr
