"""Peer 68-point face landmarkers for ``make bench``, run on the same faces and crops as ours.

* ``dlib``: dlib's 68-point shape predictor (``dlib-bin`` + ``face-recognition-models``, which
  ships ``shape_predictor_68_face_landmarks.dat``), given the box of dlib's own HOG face detector
  (the box it was trained with; a landmark box costs it about half its accuracy), or the
  landmark box when HOG misses the face. It was trained on iBUG 300-W, whose images overlap the
  faces here, so its accuracy in this table is optimistic.
* ``mediapipe``: MediaPipe's face landmark model (468 points, ``face_landmark.tflite`` extracted
  from the ``mediapipe==0.10.21`` wheel by ``python -m bench.peers --fetch``), run through
  tflite-runtime (LiteRT) on a square crop of 1.5x the face box, as MediaPipe's graph crops it.
  Its 468 points are reduced to the 68 of 300-W with :data:`MP_TO_68`, a commonly used
  correspondence that is **approximate**: MediaPipe's mesh has no vertices exactly on the 300-W
  jaw line and eye corners, so its NME here includes a definition gap, not only error.

``python -m bench.peers --peer dlib|mediapipe [--threads N] [--reps N] [--data D] [--limit N]``
prints one JSON line like ``bench.worker`` (latency per face, peak RSS, model bytes, accuracy).
``make peers`` installs/fetches both.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEER_DIR = ROOT / "build" / "bench" / "peers"
MP_WHEEL = "mediapipe==0.10.21"
MP_MEMBER = "mediapipe/modules/face_landmark/face_landmark.tflite"
MP_SHA256 = "1055cb9d4a9ca8b8c688902a3a5194311138ba256bcc94e336d8373a5f30c814"
MP_MODEL = PEER_DIR / "face_landmark.tflite"

#: MediaPipe face-mesh vertex for each of the 68 300-W points (jaw 0-16, brows 17-26, nose 27-35,
#: eyes 36-47, mouth 48-67). Approximate: see the module docstring.
MP_TO_68 = [162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
            71, 63, 105, 66, 107, 336, 296, 334, 293, 301,
            168, 197, 5, 4, 75, 97, 2, 326, 305,
            33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,
            61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181, 78, 82, 13, 312, 308, 317, 14, 87]


class PeerUnavailable(RuntimeError):
    """The peer's package or model is not installed; the message says how to get it."""


def _dlib_model() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise PeerUnavailable("face-recognition-models is not installed (make peers)")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.exists():
        raise PeerUnavailable(f"{path} is missing; reinstall face-recognition-models")
    return path


class DlibPeer:
    """dlib's ensemble-of-regression-trees 68-point predictor (single-threaded)."""

    name = "dlib 68-point shape predictor"

    def __init__(self, threads: int = 1):
        try:
            import dlib
        except ImportError:
            raise PeerUnavailable("dlib is not installed (make peers)") from None
        self.model_path = _dlib_model()
        self._dlib = dlib
        self.predictor = dlib.shape_predictor(str(self.model_path))
        self.detector = dlib.get_frontal_face_detector()
        self.threads = 1
        self.fallbacks = 0

    def box_for(self, image: np.ndarray, box):
        """dlib's HOG box of the face whose centre lies inside ``box`` (else ``box`` itself)."""
        x, y, w, h = box
        cx, cy = x + w / 2, y + h / 2
        for r in self.detector(image, 1):
            if abs((r.left() + r.right()) / 2 - cx) < w / 2 and abs((r.top() + r.bottom()) / 2 - cy) < h / 2:
                return (r.left(), r.top(), r.width(), r.height())
        self.fallbacks += 1
        return box

    def predict(self, image: np.ndarray, box) -> np.ndarray:
        """(68, 2) float32 image pixels for the face box (x, y, w, h) of an RGB uint8 image."""
        x, y, w, h = box
        r = self._dlib.rectangle(int(round(x)), int(round(y)), int(round(x + w)), int(round(y + h)))
        s = self.predictor(image, r)
        return np.array([[p.x, p.y] for p in s.parts()], np.float32)


def fetch_mediapipe() -> Path:
    """Extract face_landmark.tflite from the pinned mediapipe wheel (as ``make blazeface`` does)."""
    from runtime.fetch_blazeface import extract_from_wheel

    try:
        return extract_from_wheel(MP_MEMBER, MP_SHA256, MP_MODEL, MP_WHEEL)
    except RuntimeError as e:
        raise PeerUnavailable(str(e)) from None


class MediaPipePeer:
    """MediaPipe's face landmark model (192x192 RGB in [0, 1] -> 468 x (x, y, z)) on tflite-runtime."""

    name = "MediaPipe face landmarks (468 -> 68, approximate)"
    SIZE = 192
    CROP_SCALE = 1.5

    def __init__(self, threads: int = 1):
        if not MP_MODEL.exists():
            raise PeerUnavailable(f"{MP_MODEL} is missing (make peers, or python -m bench.peers --fetch)")
        from tflite_runtime.interpreter import Interpreter

        self.model_path = MP_MODEL
        self.threads = threads
        self._it = Interpreter(model_path=str(MP_MODEL), num_threads=threads)
        self._it.allocate_tensors()
        self._in = self._it.get_input_details()[0]["index"]
        self._out = next(d["index"] for d in self._it.get_output_details() if int(np.prod(d["shape"])) == 1404)

    def box_for(self, image: np.ndarray, box):
        """The same landmark box as our models (MediaPipe's own crop rule is applied in predict)."""
        return box

    def predict(self, image: np.ndarray, box) -> np.ndarray:
        from runtime import crop

        center, side = crop.box_crop(box, self.CROP_SCALE)
        m = crop.crop_matrix(center, side, self.SIZE)
        x = crop.warp(image, m, self.SIZE).astype(np.float32) / 255.0
        self._it.set_tensor(self._in, x[None])
        self._it.invoke()
        pts = self._it.get_tensor(self._out).reshape(468, 3)[:, :2]
        return crop.apply(crop.invert(m), pts[MP_TO_68])


PEERS = {"dlib": DlibPeer, "mediapipe": MediaPipePeer}


def measure(peer_name: str, threads: int, reps: int, data: str | None, limit: int) -> dict:
    """Latency per face (median, p90) on the first labelled face, peak RSS, and accuracy (NME
    inter-ocular, AUC@0.08) on the same faces and ground-truth boxes as our models' rows."""
    from models import metrics
    from models.data import load_dataset, split
    from runtime import crop

    peer = PEERS[peer_name](threads)
    samples = load_dataset("face", data)
    if data is None:
        samples = split(samples)[1]
    if limit:
        samples = samples[:limit]
    if not samples:
        raise PeerUnavailable("no labelled faces to evaluate on")
    preds, gts = [], []
    for s in samples:
        img = s.load_image()
        box = peer.box_for(img, s.box or crop.box_of_points(s.keypoints, s.visible))
        preds.append(peer.predict(img, box))
        gts.append(s.keypoints)
    pred, gt = np.stack(preds), np.stack(gts)
    err = metrics.nme(pred, gt, metrics.face_normalisers(gt)["inter_ocular"])
    auc, _ = metrics.auc_and_failure(err, 0.08)
    img = samples[0].load_image()
    box = peer.box_for(img, samples[0].box or crop.box_of_points(samples[0].keypoints, samples[0].visible))
    for _ in range(3):
        peer.predict(img, box)
    lat = []
    for _ in range(reps):
        t0 = time.perf_counter()
        peer.predict(img, box)
        lat.append(1000 * (time.perf_counter() - t0))
    lat.sort()
    return {"model": peer.model_path.name, "backend": peer_name, "peer": peer.name, "kind": "peer",
            "threads": peer.threads, "bytes": peer.model_path.stat().st_size,
            "latency_ms": lat, "median_ms": statistics.median(lat), "p90_ms": lat[int(0.9 * (len(lat) - 1))],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "accuracy": {"nme_io": float(err.mean()), "auc_0.08": float(auc), "samples": int(len(err)),
                         "box_fallbacks": int(getattr(peer, "fallbacks", 0))}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__.split("\n\n")[0])
    p.add_argument("--peer", choices=sorted(PEERS))
    p.add_argument("--fetch", action="store_true", help="extract MediaPipe's face_landmark.tflite, then exit")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--reps", type=int, default=60)
    p.add_argument("--data", default=None)
    p.add_argument("--limit", type=int, default=0)
    a = p.parse_args(argv)
    try:
        if a.fetch:
            print(f"MediaPipe face landmark model: {fetch_mediapipe()}")
            return 0
        if not a.peer:
            p.error("give --peer or --fetch")
        print(json.dumps(measure(a.peer, a.threads, a.reps, a.data, a.limit)))
    except PeerUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
