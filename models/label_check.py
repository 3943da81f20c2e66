"""``python -m models.label_check``: how consistent the pose labels' left/right is, and how many of
a model's misses are left/right swaps.

LSP labels joints person-centrically (``r_knee`` is the person's right knee, wherever it is in the
image), and LSPET's were crowd-sourced. The check compares them with a person-centric teacher,
MediaPipe's BlazePose landmark model (``pose_landmark_full.tflite``, Apache-2.0, extracted from the
pinned mediapipe wheel into ``build/teacher/``; never needed at run time). For each labelled
person: a crop as MediaPipe makes one (centred on the hips, rotated so that the shoulders are
above them, a square 2.5x the farthest labelled joint's distance from the hips), the teacher's 33
landmarks mapped to LSP's 12 limb joints, and PCK@0.2 of the teacher against the labels as they
are and with every left/right pair swapped. An image whose labels fit the teacher clearly better
swapped (``flag_swapped``) is listed. With ``--model``, the same split through the runtime: PCK@0.2
of that model, and of its predictions with the best of (as predicted, all swapped) per image.

Prints a summary line per measure and writes ``--out`` (JSON: the measures and flagged images).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
TEACHER_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
TEACHER_SHA256 = "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
TEACHER = ROOT / "build" / "teacher" / "pose_landmark_full.tflite"
TEACHER_SIZE = 256
# LSP's 12 limb joints (r_ankle .. l_wrist) -> BlazePose's 33 landmarks
LSP_TO_BLAZEPOSE = (28, 26, 24, 23, 25, 27, 16, 14, 12, 11, 13, 15)
LIMBS = len(LSP_TO_BLAZEPOSE)
HIPS, SHOULDERS = (2, 3), (8, 9)


def swap_permutation(flip_pairs, n: int) -> np.ndarray:
    """Index permutation (n,) that exchanges every left/right pair."""
    perm = np.arange(n)
    for a, b in flip_pairs:
        perm[a], perm[b] = b, a
    return perm


def roi_transform(keypoints: np.ndarray, visible: np.ndarray, size: int = TEACHER_SIZE) -> np.ndarray:
    """2x3 affine from image pixels to a ``size`` square crop centred on the hips' midpoint, rotated
    so that the shoulders' midpoint is straight above it, 2.5x the farthest visible joint's
    distance wide. ``keypoints`` (14, 2) float image pixels, ``visible`` (14,) bool."""
    import cv2

    vis = np.asarray(visible, bool)
    pts = keypoints[vis] if vis.any() else keypoints
    hips = [i for i in HIPS if vis[i]]
    shoulders = [i for i in SHOULDERS if vis[i]]
    centre = keypoints[hips].mean(0) if hips else pts.mean(0)
    angle = 0.0
    if hips and shoulders:
        up = keypoints[shoulders].mean(0) - centre
        angle = float(np.degrees(np.arctan2(up[0], -up[1])))
    reach = max(float(np.linalg.norm(pts - centre, axis=1).max()), 1.0)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, size / (2.5 * reach))
    m[:, 2] += (size / 2 - centre[0], size / 2 - centre[1])
    return m


def teacher_limbs(run, image: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The teacher's 12 limb joints (12, 2) in image pixels, from the crop ``m`` of ``image``
    (H, W, 3) uint8 RGB; ``run`` maps a (1, 256, 256, 3) float [0, 1] array to its outputs."""
    import cv2

    crop = cv2.warpAffine(image, m, (TEACHER_SIZE, TEACHER_SIZE), flags=cv2.INTER_LINEAR)
    out = np.asarray(run(crop[None].astype(np.float32) / 255.0)[0]).reshape(-1, 5)
    inv = cv2.invertAffineTransform(m)
    return out[list(LSP_TO_BLAZEPOSE), :2] @ inv[:, :2].T + inv[:, 2]


def hits(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray, torso: np.ndarray, alpha=0.2) -> np.ndarray:
    """Per image, how many visible joints of ``pred`` lie within ``alpha`` x torso of ``gt``
    (N, K, 2 each); images without a torso size count none."""
    d = np.linalg.norm(pred - gt, axis=-1) / torso[:, None]
    ok = np.asarray(visible, bool) & np.isfinite(torso)[:, None]
    return ((d <= alpha) & ok).sum(1)


def flag_swapped(own: np.ndarray, swapped: np.ndarray, scored: np.ndarray) -> np.ndarray:
    """Images whose swapped labels fit the teacher clearly better: at least 3 more joints, and at
    least 60 % of the image's scored joints."""
    return (swapped >= own + 3) & (swapped >= 0.6 * scored)


def _teacher_runner():
    from runtime.backends import builtin_runner
    from runtime.fetch_blazeface import extract_from_wheel

    TEACHER.parent.mkdir(parents=True, exist_ok=True)
    return builtin_runner(extract_from_wheel(TEACHER_MEMBER, TEACHER_SHA256, TEACHER).read_bytes())


def check(samples, flip_pairs, model: Path | None = None) -> dict:
    """The measures of the module docstring on ``samples`` (LSP 14-joint)."""
    from models import metrics

    gt = np.stack([s.keypoints for s in samples]).astype(np.float32)
    vis = np.stack([s.visible for s in samples]).astype(bool)
    torso = metrics.torso_size(gt, metrics.LSP_TORSO, vis, metrics.LSP_TORSO_ALT)
    scored = (vis & np.isfinite(torso)[:, None]).sum(1)
    limbs_scored = (vis[:, :LIMBS] & np.isfinite(torso)[:, None]).sum(1)
    perm = swap_permutation(flip_pairs, gt.shape[1])
    run = _teacher_runner()
    teacher = np.stack([teacher_limbs(run, s.load_image(), roi_transform(s.keypoints, s.visible)) for s in samples])
    own = hits(teacher, gt[:, :LIMBS], vis[:, :LIMBS], torso)
    swapped = hits(teacher, gt[:, perm][:, :LIMBS], vis[:, perm][:, :LIMBS], torso)
    flagged = flag_swapped(own, swapped, limbs_scored)
    res = {"images": len(samples), "teacher_pck@0.2_limbs": float(own.sum() / limbs_scored.sum()),
           "teacher_pck@0.2_limbs_best_of_swap": float(np.maximum(own, swapped).sum() / limbs_scored.sum()),
           "labels_swapped_vs_teacher": int(flagged.sum()),
           "flagged": [Path(s.path).name for s, f in zip(samples, flagged) if f]}
    if model is not None:
        from models.evaluate import predict
        from runtime.landmarker import Landmarker, LandmarkerOptions

        with Landmarker(LandmarkerOptions(model_path=model)) as lm:
            pred = predict(lm.backend, lm.spec, samples, progress=False)
        mine, mine_sw = hits(pred, gt, vis, torso), hits(pred[:, perm], gt, vis, torso)
        res["model"] = str(model)
        res["model_pck@0.2"] = float(mine.sum() / scored.sum())
        res["model_pck@0.2_best_of_swap"] = float(np.maximum(mine, mine_sw).sum() / scored.sum())
        res["model_images_better_swapped"] = int((mine_sw > mine).sum())
        res["model_images_better_swapped_on_flagged"] = int((mine_sw > mine)[flagged].sum())
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.label_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--split", choices=("val", "train", "all"), default="val")
    p.add_argument("--data", help="pose data (default: ../shared/data's LSPET)")
    p.add_argument("--limit", type=int, default=0, help="first N images of the split")
    p.add_argument("--model", help="also score this pose .tflite through the runtime")
    p.add_argument("--out", default=str(ROOT / "build" / "label_check.json"))
    a = p.parse_args(argv)
    from models.data import load_dataset, split
    from models.keypoints import KEYPOINT_SETS

    try:
        samples = load_dataset("pose", a.data)
    except (OSError, ValueError) as e:
        print(f"error: cannot load the pose data ({e}); pass --data", file=sys.stderr)
        return 2
    if a.split != "all":
        samples = split(samples)[0 if a.split == "train" else 1]
    samples = samples[:a.limit] if a.limit else samples
    try:
        res = check(samples, KEYPOINT_SETS["lsp14"].flip_pairs, Path(a.model) if a.model else None)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    from runtime.io import atomic_write_bytes

    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(a.out, (json.dumps(res, indent=1) + "\n").encode())
    for k, v in res.items():
        if k != "flagged":
            print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
