"""``python -m runtime.fetch_blazeface``: extract the detectors from the pinned mediapipe wheel.

Downloads ``mediapipe==0.10.21`` (no dependencies) with pip into a temp folder, extracts BlazeFace
(``face_detection_short_range.tflite``) and the BlazePose person detector
(``pose_detection.tflite``) into ``runtime/assets/`` and checks their sha256.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL = "mediapipe==0.10.21"
ASSETS = Path(__file__).resolve().parent / "assets"
# wheel member -> sha256
MEMBERS = {
    "mediapipe/modules/face_detection/face_detection_short_range.tflite":
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    "mediapipe/modules/pose_detection/pose_detection.tflite":
        "9ba9dd3d42efaaba86b4ff0122b06f29c4122e756b329d89dca1e297fd8f866c",
}


def extract_from_wheel(member: str, sha256: str, dest: Path, wheel: str = WHEEL) -> Path:
    """Extract ``member`` of the pinned mediapipe wheel (pip download, no deps) to ``dest`` after
    checking its sha256; nothing is downloaded when ``dest`` is already intact.
    Raises RuntimeError naming what failed."""
    if dest.exists() and hashlib.sha256(dest.read_bytes()).hexdigest() == sha256:
        return dest
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", d, wheel],
                           capture_output=True, text=True)
        wheels = list(Path(d).glob("mediapipe-*.whl"))
        if r.returncode or not wheels:
            raise RuntimeError(f"cannot download {wheel}: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
        data = zipfile.ZipFile(wheels[0]).read(member)
    if hashlib.sha256(data).hexdigest() != sha256:
        raise RuntimeError(f"{member} in {wheels[0].name} has an unexpected sha256")
    from runtime.io import atomic_write_bytes

    atomic_write_bytes(dest, data)
    return dest


def main() -> int:
    for member, sha in MEMBERS.items():
        dest = ASSETS / Path(member).name
        intact = dest.exists() and hashlib.sha256(dest.read_bytes()).hexdigest() == sha
        try:
            extract_from_wheel(member, sha, dest)
        except RuntimeError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        print(f"{dest} is present and intact" if intact else f"wrote {dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
