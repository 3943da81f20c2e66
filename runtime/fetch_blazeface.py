"""``python -m runtime.fetch_blazeface``: extract BlazeFace from the pinned mediapipe wheel.

Downloads ``mediapipe==0.10.21`` (no dependencies) with pip into a temp folder, extracts
``face_detection_short_range.tflite`` into ``runtime/assets/`` and checks its sha256.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "mediapipe==0.10.21"
MEMBER = "mediapipe/modules/face_detection/face_detection_short_range.tflite"
SHA256 = "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8"
DEST = Path(__file__).resolve().parent / "assets" / "face_detection_short_range.tflite"


def main() -> int:
    if DEST.exists() and hashlib.sha256(DEST.read_bytes()).hexdigest() == SHA256:
        print(f"{DEST} is present and intact")
        return 0
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", d, WHEEL],
                           capture_output=True, text=True)
        wheels = list(Path(d).glob("mediapipe-*.whl"))
        if r.returncode or not wheels:
            print(f"error: cannot download {WHEEL}: {r.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
            return 2
        data = zipfile.ZipFile(wheels[0]).read(MEMBER)
    if hashlib.sha256(data).hexdigest() != SHA256:
        print(f"error: {MEMBER} in {wheels[0].name} has an unexpected sha256", file=sys.stderr)
        return 2
    from runtime.io import atomic_write_bytes

    atomic_write_bytes(DEST, data)
    print(f"wrote {DEST}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
