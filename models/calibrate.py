"""``python -m models.calibrate``: fit the detector-box -> object-box mapping on training images.

Runs each face detector on the 300-W training crops and each person detector on LSPET training
images, matches its box to the ground-truth box of the (visible) keypoints and takes robust
(median) estimates of the centre offset and scale. Writes
``models/pretrained/detector_calibration.json``, whose entries for the task's detectors every
config's spec carries.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "pretrained" / "detector_calibration.json"


def calibrate(detector, samples, limit: int | None = None) -> dict:
    from runtime import crop

    dxs, dys, scales, misses = [], [], [], 0
    for s in samples[:limit]:
        img = s.load_image()
        boxes = detector.detect(img)
        x, y, w, h = crop.box_of_points(s.keypoints, s.visible)
        gc = np.array([x + w / 2, y + h / 2])
        # the detection whose centre is nearest the truth, if it overlaps it at all
        best = min(boxes, key=lambda b: np.hypot(b.x + b.w / 2 - gc[0], b.y + b.h / 2 - gc[1]), default=None)
        far = best is not None and (abs(best.x + best.w / 2 - gc[0]) > best.w / 2
                                    or abs(best.y + best.h / 2 - gc[1]) > best.h / 2)
        if best is None or far:
            misses += 1
            continue
        dxs.append((gc[0] - (best.x + best.w / 2)) / best.w)
        dys.append((gc[1] - (best.y + best.h / 2)) / best.h)
        scales.append(max(w, h) / max(best.w, best.h))
    n = len(scales)
    return {"dx": float(np.median(dxs)), "dy": float(np.median(dys)), "scale": float(np.median(scales)),
            "spread_scale_iqr": float(np.subtract(*np.percentile(scales, [75, 25]))) if n else None,
            "spread_centre_iqr": float(np.subtract(*np.percentile(np.hypot(dxs, dys), [75, 25]))) if n else None,
            "matched": n, "missed": misses}


def main(argv=None) -> int:
    import argparse

    from models.data import load_dataset, split
    from runtime import detectors

    p = argparse.ArgumentParser(prog="python -m models.calibrate", description=__doc__)
    p.add_argument("--task", choices=("face", "pose", "all"), default="all")
    p.add_argument("--limit", type=int, default=2000, help="training images per detector (0: all)")
    args = p.parse_args(argv)
    out = json.loads(OUT.read_text()) if OUT.exists() else {}
    for task in ("face", "pose") if args.task == "all" else (args.task,):
        train, _ = split(load_dataset(task))
        for name in detectors.available(task):
            out[name] = calibrate(detectors.create(name), train, args.limit or None)
            print(name, out[name])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    from runtime.io import atomic_write_bytes

    atomic_write_bytes(OUT, (json.dumps(out, indent=1, sort_keys=True) + "\n").encode())
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
