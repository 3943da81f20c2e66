"""The test helpers' own behaviour."""

import subprocess
import time
from pathlib import Path

import pytest
from helpers import run_tree


def _alive(pid: int) -> bool:
    """Running (a killed process not yet reaped by its new parent is a zombie: not alive)."""
    status = Path(f"/proc/{pid}/status")
    try:
        return "\nState:\tZ" not in status.read_text()
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_run_tree_kills_the_whole_tree_on_timeout(tmp_path):
    """A grandchild that holds the output pipes (pip's build backend) dies with the child, and the
    call returns at its timeout instead of when the grandchild ends."""
    pid_file = tmp_path / "grandchild.pid"
    t0 = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        run_tree(["sh", "-c", f"sleep 120 & echo $! > {pid_file}; wait"], timeout=1)
    assert time.monotonic() - t0 < 30
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid)


def test_run_tree_returns_what_run_returns():
    r = run_tree(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (3, "out\n", "err\n")
