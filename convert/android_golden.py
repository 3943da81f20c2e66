"""Golden vectors for the Android port (android_demo/): what the Python runtime computes, for the
Java code to reproduce on the host (JUnit) with the same tolerances.

Writes into ``--out`` (default ``build/android/golden``):

* ``golden.json``: the tolerances (stated once, read by both sides), codec cases, and per image the
  BlazeFace boxes and, per model, the landmarks of the video pipeline's first frame;
* ``<image>.rgb``: each image as raw (H, W, 3) uint8 RGB (so JPEG decoders cannot differ);
* ``<image>.<model>.input.f32`` / ``.heatmaps.f32``: the first face's model input and output,
  float32 little-endian.

Images: ``runtime/assets/astronaut.jpg`` plus, when present, ``../shared/data/fixtures/dlib_faces``.
Images never enter the repository: the files are written at test time.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np

from runtime import codec, crop
from runtime.image import read_image
from runtime.landmarker import Landmarker, LandmarkerOptions

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED = ROOT / "runtime" / "pretrained"
MODELS = ("face", "face-real")

#: Agreement the JUnit tests require (Java vs this runtime). Both sides feed identical crops (the
#: Java sampler reproduces cv2.warpAffine's fixed point) to XNNPACK for the float ops and to the
#: project's kernels for the binary ones, so everything agrees to float rounding; XNNPACK must be on
#: both sides: TFLite's reference float kernels flip the sign of a near-zero activation in one of
#: the fixture faces, which moves its landmarks by up to 13 px. Landmarks in image pixels.
TOLERANCE = {
    "input_abs": 0.0,
    "heatmap_abs": 1e-5,
    "landmark_px": 1e-3,
    "landmark_px_max": 1e-2,
    "decode_px": 1e-4,
    "detection_px": 1e-3,
}


def _codec_cases(rng: np.random.Generator) -> list[dict]:
    cases = []
    h = w = 16
    for i, k in enumerate((3, 5, 4)):
        pts = rng.uniform(-1, w, size=(k, 2))
        maps = codec.encode(pts, (h, w), sigma=1.0 + 0.5 * i)
        maps = maps + rng.normal(0, 0.01 * i, size=maps.shape).astype(np.float32)
        case = {"h": h, "w": w, "k": k, "heatmaps": [round(float(v), 7) for v in maps.astype(np.float32).ravel()]}
        for method in codec.DECODE_METHODS:
            xy, sc = codec.decode(maps.astype(np.float32), method)
            case[method] = {"xy": xy.ravel().tolist(), "scores": sc.tolist()}
        cases.append(case)
    return cases


def _images(extra: Path | None) -> list[Path]:
    imgs = [ROOT / "runtime" / "assets" / "astronaut.jpg"]
    if extra and extra.is_dir():
        imgs += sorted(p for p in extra.iterdir() if p.suffix.lower() in (".jpg", ".png"))[:6]
    return imgs


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write(out: Path, fixtures: Path | None = None, seed: int = 0) -> dict:
    """Writes the golden files into ``out``; returns the golden.json content."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    gold = {"tolerance": TOLERANCE, "codec": _codec_cases(rng), "models": list(MODELS), "images": []}
    marks = {m: Landmarker(LandmarkerOptions(model_path=PRETRAINED / f"{m}.tflite", detector="blazeface",
                                             running_mode="video", backend="tflite")) for m in MODELS}
    for path in _images(fixtures):
        img = read_image(path)
        if max(img.shape[:2]) > 1024:  # keep the golden files small
            continue
        name = path.stem
        h, w = img.shape[:2]
        _write(out / f"{name}.rgb", np.ascontiguousarray(img).tobytes())
        entry = {"name": name, "width": int(w), "height": int(h), "models": {}}
        det = marks[MODELS[0]].detector.detect(img)
        entry["detections"] = [[float(b.x), float(b.y), float(b.w), float(b.h), float(b.score)] for b in det]
        for m, lm in marks.items():
            lm.reset()
            res = lm.detect_for_video(img, 0)
            faces = [{"xy": f.keypoints.ravel().tolist(), "scores": f.scores.tolist(), "box": list(f.box),
                      "source": f.source} for f in res.landmarks]
            entry["models"][m] = faces
            if faces:
                spec = lm.spec
                mat = crop.crop_matrix(*crop.box_crop(res.landmarks[0].box, spec.crop_scale), spec.input_size)
                x = crop.warp(img, mat, spec.input_size).astype(np.float32) * spec.input_scale + spec.input_offset
                hm = lm.backend.run(x[None])[0]
                _write(out / f"{name}.{m}.input.f32", x.astype("<f4").tobytes())
                _write(out / f"{name}.{m}.heatmaps.f32", hm.astype("<f4").tobytes())
        gold["images"].append(entry)
    for lm in marks.values():
        lm.close()
    _write(out / "golden.json", json.dumps(gold).encode())
    return gold


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.android_golden", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=ROOT / "build" / "android" / "golden")
    p.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "data" / "fixtures" / "dlib_faces")
    a = p.parse_args(argv)
    gold = write(a.out, a.fixtures)
    faces = sum(len(v) for e in gold["images"] for v in e["models"].values())
    print(f"wrote {a.out}: {len(gold['images'])} images, {faces} faces, {len(gold['codec'])} codec cases")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
