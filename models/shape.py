"""``python -m models.shape``: fit a face model's shape correction on training images.

Runs the converted model through the runtime (without any correction its spec carries) on the
training split, cropped at the ground-truth boxes, at jittered copies of them and at the default
detector's boxes as the runtime maps them, and fits a reduced-rank ridge regression from the
decoded shape to the true one in the crop's frame (:class:`runtime.shape.ShapeCorrection`). The
ridge strength is chosen by 5-fold cross-validation over images (inter-ocular NME); the validation
split is not touched.
Writes ``models/pretrained/<model>.shape.json``, which conversion (``make convert``,
``python -m convert.card``) puts into the spec of a model converted from the same weights.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from runtime.shape import ShapeCorrection

LAMBDAS = (3e-6, 1e-5, 2e-5, 5e-5, 1e-4, 3e-4)
# 32 of the 136 directions carry it: the 2-stack face model's validation NME 3.819 % at rank 32,
# 3.810 % at full rank, 3.941 % at 16 (a scratch run, lambda 2e-5)
RANK = 32
FOLDS = 5
# Jittered copies of each ground-truth crop: cross-validated NME 3.763 -> 3.742 % with 2, and on the
# validation split BlazeFace crops 3.99 -> 3.96 %, the Haar fallback's 4.95 -> 4.64 % (model card;
# adding Haar crops themselves helped Haar, 4.45 %, and cost the default crops 0.1-0.2)
JITTER = 2


def path_for(model: str) -> Path:
    """Where the correction of named config ``model`` lives: ``models/pretrained/<model>.shape.json``."""
    from models.configs import PRETRAINED

    return PRETRAINED / f"{model}.shape.json"


def _ridge(x: np.ndarray, y: np.ndarray, lam: float, rank: int) -> tuple[np.ndarray, ...]:
    """Reduced-rank ridge regression y ~ mean_y + ((x - mean_x) @ down) @ up: the ridge map W, then
    its fitted values' top ``rank`` right singular vectors V (down = W V^T, up = V)."""
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    w = np.linalg.solve(xc.T @ xc + lam * len(x) * np.eye(x.shape[1]), xc.T @ (y - my))
    _, _, vt = np.linalg.svd(xc @ w, full_matrices=False)
    v = vt[:rank]
    return mx, my, w @ v.T, v


def _nme(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean inter-ocular NME (%) of flattened (N, 2K) shapes."""
    from models import metrics

    p, g = pred.reshape(len(pred), -1, 2), gt.reshape(len(gt), -1, 2)
    return float(100 * metrics.nme(p, g, metrics.face_normalisers(g)["inter_ocular"]).mean())


def _digits(a: np.ndarray) -> list:
    """Rounded to 5 significant digits (a third of the JSON; the NME moves by < 0.001 points)."""
    return np.vectorize(lambda v: float(f"{v:.5g}"))(a).tolist()


def for_weights(model: str, weights: str) -> dict | None:
    """The stored correction of ``model`` if it was fitted to ``weights`` (a spec's weights label),
    else None: a correction fitted to other weights would move the points wrongly."""
    p = path_for(model)
    if not p.is_file():
        return None
    d = json.loads(p.read_text())
    return d if d.get("weights") == weights else None


def fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, rank: int = RANK, lambdas=LAMBDAS,
        folds: int = FOLDS, seed: int = 0) -> tuple[ShapeCorrection, dict]:
    """Fit a correction from decoded shapes to true ones.

    Args:
        x, y: (N, 2K) float decoded and true shapes, crop-input pixels / input size, ``x0, y0, ...``.
        groups: (N,) int image of each row: the rows of one image (its crops) share a fold.

    Returns:
        the correction (its ``weights`` empty, for the caller to fill) and the cross-validation
        table ``{lambda: NME %}`` with ``"none"`` the uncorrected NME.
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    ids = np.unique(groups)
    fold_of = dict(zip(ids, np.random.default_rng(seed).permutation(len(ids)) % folds))
    f = np.array([fold_of[g] for g in groups])
    cv = {"none": _nme(x, y)}
    for lam in lambdas:
        pred = np.empty_like(y)
        for k in range(folds):
            mx, my, down, up = _ridge(x[f != k], y[f != k], lam, rank)
            pred[f == k] = my + ((x[f == k] - mx) @ down) @ up
        cv[lam] = _nme(pred, y)
    best = min(lambdas, key=lambda lam: cv[lam])
    mx, my, down, up = _ridge(x, y, best, rank)
    corr = ShapeCorrection(mean_in=_digits(mx), mean_out=_digits(my), down=_digits(down), up=_digits(up),
                           fit={"lambda": best, "rank": rank, "rows": len(x), "images": len(ids),
                                "cv_nme_before": round(cv["none"], 4), "cv_nme_after": round(cv[best], 4)})
    return corr, cv


def _jittered(box, rng, n: int) -> list[tuple]:
    """``n`` copies of box (x, y, w, h), each scaled by 0.9-1.1 about its centre and moved by up to
    5 % of its size: the framing a tracked crop or another detector gives."""
    x, y, w, h = box
    out = []
    for _ in range(n):
        sc, (dx, dy) = rng.uniform(0.9, 1.1), rng.uniform(-0.05, 0.05, 2)
        out.append((x + dx * w + w * (1 - sc) / 2, y + dy * h + h * (1 - sc) / 2, w * sc, h * sc))
    return out


def training_shapes(lm, samples, detector: str | None = None, progress: bool = True, jitter: int = JITTER,
                    seed: int = 0):
    """Decoded and true shapes of ``samples`` in the crop frame, one row per crop (the
    ground-truth box, ``jitter`` jittered copies of it, and the default detector's box where it
    finds the face): ``(x, y, groups)`` as :func:`fit` takes them. ``lm``: a
    :class:`runtime.landmarker.Landmarker`; its spec's own correction is not applied."""
    from tqdm import tqdm

    from models.evaluate import sample_box
    from runtime import crop
    from runtime.detectors import calibration_for, create, resolve
    from runtime.landmarker import landmarks_in_box

    spec = dataclasses.replace(lm.spec, shape_correction=None)
    name = resolve(detector, spec.task, spec.name)
    det, cal = create(name), calibration_for(name, spec.detector_calibration)
    rng = np.random.default_rng(seed)
    xs, ys, groups = [], [], []
    for i, s in enumerate(tqdm(samples, desc="fitting shapes", disable=not progress, mininterval=2)):
        img = s.load_image()
        gt = sample_box(s, img, "gt", spec, det, cal)
        for box in [gt, *_jittered(gt, rng, jitter), sample_box(s, img, "detector", spec, det, cal)]:
            if box is None:
                continue
            r = landmarks_in_box(lm.backend, spec, img, box)
            m = crop.crop_matrix(*crop.box_crop(r.box, spec.crop_scale), spec.input_size)
            xs.append(crop.apply(m, r.keypoints).ravel() / spec.input_size)
            ys.append(crop.apply(m, s.keypoints).ravel() / spec.input_size)
            groups.append(i)
    return np.array(xs), np.array(ys), np.array(groups)


def main(argv=None) -> int:
    import argparse

    p = argparse.ArgumentParser(prog="python -m models.shape", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="face", help="named face config (default: face)")
    p.add_argument("--tflite", default=None, help="converted model (default: runtime/pretrained/<model>.tflite)")
    p.add_argument("--data", default=None, help="dataset (default: ../shared/data)")
    p.add_argument("--limit", type=int, default=0, help="first N training images only")
    args = p.parse_args(argv)

    from models.data import load_dataset, split
    from runtime.landmarker import Landmarker, LandmarkerOptions
    from runtime.spec import Task

    shipped = Path(__file__).resolve().parents[1] / "runtime" / "pretrained"
    model = Path(args.tflite) if args.tflite else shipped / f"{args.model}.tflite"
    try:
        lm = Landmarker(LandmarkerOptions(model_path=model, threads=1))
        if lm.spec.task is not Task.FACE:
            raise ValueError(f"{model.name} is a {lm.spec.task} model; shape corrections are fitted for face "
                             "models only (on pose-lsp a linear map fitted the same way lowered validation PCK@0.2 "
                             "from 47.7 % to 29 %: its errors are swaps and outliers, not correlated offsets)")
        train, _ = split(load_dataset("face", args.data))
    except Exception as e:  # noqa: BLE001 - one clear line for every load failure
        print(f"error: {e}", file=sys.stderr)
        return 2
    with lm:
        x, y, groups = training_shapes(lm, train[: args.limit or None])
    corr, cv = fit(x, y, groups)
    corr.weights = lm.spec.weights
    for k, v in cv.items():
        print(f"lambda {k}: cross-validated NME {v:.3f} %")
    out = path_for(args.model)
    from runtime.io import atomic_write_bytes

    atomic_write_bytes(out, (json.dumps(corr.to_dict(), separators=(",", ":")) + "\n").encode())
    print(f"wrote {out} (lambda {corr.fit['lambda']}, rank {corr.fit['rank']}, {corr.fit['images']} images; "
          f"convert the model again to put it into its spec)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
