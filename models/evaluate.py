"""``python -m models.evaluate``: accuracy of a Keras model or of a converted model (via runtime).

Faces: NME normalised by inter-ocular (outer eye corners), inter-pupil and box size; AUC and
failure rate at 0.08 and 0.10; a cumulative error distribution plot. Pose: PCK@0.2 (torso) for
LSP-style data, PCKh@0.5 for MPII (head segment x 0.6 x 1.0/0.6: the head-top to upper-neck length),
per joint and mean. Writes ``metrics.json`` and ``metrics.md`` (and ``ced.png`` for faces).

Crops: ``--crop gt`` (default) centres on the ground-truth landmark box, the protocol of the
validation numbers; ``--crop detector`` runs the runtime's face detector and calibration, as
deployed (metrics over the faces it finds; ``detector_missed`` counts the others).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from runtime.codec import DECODE_METHODS

ROOT = Path(__file__).resolve().parents[1]


class KerasBackend:
    """Adapter giving a Keras model the runtime backends' ``run`` interface."""

    name = "keras"

    def __init__(self, model):
        self.model = model

    def run(self, x):
        return np.asarray(self.model(x, training=False), np.float32)


def predict(backend, spec, samples, crop_mode: str = "gt", flip_test: bool = False, progress: bool = True,
            detector: str | None = None, stats: dict | None = None, refine: int | None = None):
    """Keypoints (N, K, 2) in image pixels. Detector crops: NaN rows for faces the detector missed;
    a pose model gets the whole image there, as the runtime does (counted in ``stats["detector_missed"]``).
    Detector and whole-image crops are refined as the runtime does (``refine``: None = the task's
    default, ``runtime.landmarker.DEFAULT_REFINE``); ground-truth boxes never are."""
    from tqdm import tqdm

    from runtime.detectors import calibration_for, resolve
    from runtime.detectors import create as create_detector
    from runtime.landmarker import landmarks_in_box, refine_passes, refined

    detector = resolve(detector, spec.task, spec.name)
    det = create_detector(detector) if crop_mode == "detector" and detector != "none" else None
    stats = {} if stats is None else stats
    stats["detector_missed"] = 0
    cal = calibration_for(detector, spec.detector_calibration)
    passes = stats["refine"] = 0 if crop_mode == "gt" else refine_passes(refine, spec.task)
    out = np.full((len(samples), spec.num_keypoints, 2), np.nan, np.float32)
    for i, s in enumerate(tqdm(samples, desc="evaluating", disable=not progress, mininterval=2)):
        img = s.load_image()
        box = sample_box(s, img, crop_mode, spec, det, cal, stats)
        if box is None:
            continue
        lm = landmarks_in_box(backend, spec, img, box, flip_test=flip_test)
        out[i] = refined(backend, spec, img, lm, passes, flip_test).keypoints
    return out


def sample_box(s, img, crop_mode: str, spec, det, cal: dict, stats: dict | None = None):
    """The landmark box (x, y, w, h) a pipeline crops for labelled sample ``s`` (image ``img``):
    the whole image, the ground-truth box, or the detection over the labelled object mapped as the
    runtime maps it (None when ``det`` finds none there; counted in ``stats["detector_missed"]``)."""
    from runtime import crop
    from runtime.landmarker import object_boxes

    if crop_mode == "image":
        return crop.whole_image_box(img.shape, spec.crop_scale)
    if crop_mode == "gt":
        return s.box or crop.box_of_points(s.keypoints, s.visible)
    x, y, w, h = crop.box_of_points(s.keypoints, s.visible)
    gc = (x + w / 2, y + h / 2)
    dets = [] if det is None else [b for b in det.detect(img) if abs(b.x + b.w / 2 - gc[0]) < b.w / 2
                                   and abs(b.y + b.h / 2 - gc[1]) < b.h / 2]
    boxes, _ = object_boxes(dets[:1], img.shape, spec, cal)
    if stats is not None:
        stats["detector_missed"] = stats.get("detector_missed", 0) + (not dets)
    return boxes[0] if boxes else None


def face_metrics(pred, gt) -> dict:
    from models import metrics

    missed = np.isnan(pred).any(axis=(1, 2))
    res = {"images": int((~missed).sum()), "detector_missed": int(missed.sum())}
    pred, gt = pred[~missed], gt[~missed]
    norms = metrics.face_normalisers(gt)
    for name, n in norms.items():
        e = metrics.nme(pred, gt, n)
        res[f"nme_{name}"] = float(e.mean())
        if name == "inter_ocular":
            res["errors_inter_ocular"] = e.tolist()
            for t in (0.08, 0.10):
                auc, fr = metrics.auc_and_failure(e, t)
                res[f"auc@{t:.2f}"], res[f"fr@{t:.2f}"] = auc, fr
    return res


def pose_metrics(pred, gt, vis, keypoint_names, metric) -> dict:
    """PCK@0.2 of the torso (``Metric.PCK_TORSO``, LSP) or PCKh@0.5 (``Metric.PCKH``, MPII)."""
    from models import metrics
    from models.keypoints import Metric

    res = {"images": int(len(gt))}
    if metric is Metric.PCK_TORSO:
        torso = metrics.torso_size(gt, metrics.LSP_TORSO, vis, metrics.LSP_TORSO_ALT)
        per, mean = metrics.pck(pred, gt, vis, torso, 0.2)
        res["pck@0.2"] = mean
        res["pck_images"] = int(np.isfinite(torso).sum())
        res["pck@0.2_per_joint"] = dict(zip(keypoint_names, per.tolist()))
    else:
        head = metrics.torso_size(gt, metrics.MPII_HEAD, vis)
        per, mean = metrics.pck(pred, gt, vis, head, 0.5)
        res["pckh@0.5"] = mean
        res["pckh@0.5_per_joint"] = dict(zip(keypoint_names, per.tolist()))
    return res


def ced_plot(errors: np.ndarray, path: Path, label: str, limit: float = 0.10) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = np.sort(np.asarray(errors))
    xs = np.linspace(0, limit, 200)
    fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
    ax.plot(xs, np.searchsorted(e, xs, side="right") / len(e), label=label)
    ax.set_xlabel("NME (inter-ocular)")
    ax.set_ylabel("fraction of images")
    ax.set_xlim(0, limit)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def markdown(res: dict, title: str) -> str:
    lines = [f"# {title}", "", "| metric | value |", "|---|---|"]
    for k, v in res.items():
        if isinstance(v, float):
            lines.append(f"| {k} | {v:.4f} |")
        elif isinstance(v, int | str):
            lines.append(f"| {k} | {v} |")
    for k, v in res.items():
        if isinstance(v, dict):
            lines += ["", f"| {k} | |", "|---|---|"] + [f"| {j} | {p:.3f} |" for j, p in v.items()]
    return "\n".join(lines) + "\n"


def evaluate(backend, spec, samples, out: Path | None = None, crop_mode="gt", flip_test=False, title="",
             progress=True, detector: str | None = None, refine: int | None = None) -> dict:
    from models.keypoints import Metric, metric_of
    from runtime.detectors import resolve

    detector = resolve(detector, spec.task, spec.name)
    metric = metric_of(spec)
    stats: dict = {}
    pred = predict(backend, spec, samples, crop_mode, flip_test, progress, detector, stats, refine)
    gt = np.stack([s.keypoints for s in samples])
    if metric is Metric.NME_IO:
        res = face_metrics(pred, gt)
    else:
        res = pose_metrics(pred, gt, np.stack([s.visible for s in samples]), spec.keypoint_names, metric)
        if crop_mode == "detector":
            res["detector_missed_whole_image"] = stats["detector_missed"]
    res.update({"model": spec.name, "crop": f"detector:{detector}" if crop_mode == "detector" else crop_mode,
                "flip_test": flip_test, "refine": stats["refine"]})
    if out is not None:
        from runtime.io import atomic_write_bytes

        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out / "metrics.json", (json.dumps(res, indent=1) + "\n").encode())
        summary = {k: v for k, v in res.items() if k != "errors_inter_ocular"}
        atomic_write_bytes(out / "metrics.md", markdown(summary, title or spec.name).encode())
        if spec.task == "face":
            ced_plot(res["errors_inter_ocular"], out / "ced.png", spec.name)
    return res


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="face", help="named config (Keras evaluation)")
    p.add_argument("--weights", default=None, help="Keras .h5 (default: models/pretrained/<model>.h5)")
    p.add_argument("--tflite", default=None, help="evaluate this .tflite/.onnx through the runtime instead")
    p.add_argument("--data", default=None, help="dataset (default: ../shared/data validation split)")
    p.add_argument("--split", choices=("val", "train", "all"), default="val")
    p.add_argument("--crop", choices=("gt", "detector", "image"), default="gt",
                   help="gt: the labelled keypoints' box; detector: the detector's calibrated box; "
                        "image: the whole image (the runtime's default for pose)")
    p.add_argument("--detector", default=None,
                   help="with --crop detector: face blazeface (default) or haar; pose blazepose (default)")
    p.add_argument("--decode", default=None, choices=DECODE_METHODS,
                   help="override the spec's heatmap decode method")
    p.add_argument("--flip-test", action="store_true")
    p.add_argument("--refine", type=int, default=None,
                   help="re-crop passes after detector / whole-image crops (default: the runtime's for the task)")
    p.add_argument("--limit", type=int, default=0, help="first N samples only")
    p.add_argument("--out", default=None, help="output folder (default: build/eval/<model>)")
    args = p.parse_args(argv)

    from models.data import load_dataset, split

    try:
        if args.tflite:
            from runtime.landmarker import Landmarker, LandmarkerOptions

            lm = Landmarker(LandmarkerOptions(model_path=args.tflite))
            backend, spec = lm.backend, lm.spec
        else:
            import os

            os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
            from models.configs import default_weights, get_config
            from models.hourglass import load_model

            cfg = get_config(args.model)
            model = load_model(config=cfg, weights=args.weights or default_weights(cfg.name))
            backend, spec = KerasBackend(model), cfg.spec()
        from runtime.detectors import resolve

        detector = resolve(args.detector, spec.task, spec.name)  # the other task's detector: one line, before any work
        samples = load_dataset(spec.task, args.data)
    except Exception as e:  # noqa: BLE001 - one clear line for every load failure
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.data is None or args.split != "all":
        tr, va = split(samples)
        samples = {"val": va, "train": tr, "all": samples}[args.split]
    if args.limit:
        samples = samples[: args.limit]
    if args.decode:
        spec.decode_method = args.decode
    out = Path(args.out or ROOT / "build" / "eval" / spec.name)
    res = evaluate(backend, spec, samples, out, args.crop, args.flip_test, detector=detector, refine=args.refine)
    print(json.dumps({k: v for k, v in res.items() if k != "errors_inter_ocular"}, indent=1))
    print(f"wrote {out}/metrics.json, metrics.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
