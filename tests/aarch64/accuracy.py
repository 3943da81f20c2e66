"""Shipped models judged on arm64 the way users meet them: accuracy on real validation images
through the runtime (GT-box crops), against the same images on the x86_64 host.

    python tests/aarch64/accuracy.py make DIR [--limit N]   # host: needs ../shared/data
    python tests/aarch64/accuracy.py check DIR              # arm64 (or any machine)

``make`` copies the first N validation images of each task (``models.data.split``) with their
labels into DIR (300-W: image + .pts; LSPET: joints.csv + images/) and writes each shipped model's
metric there, and how far the metric moves on this host when every crop is multiplied by
(1 + 1e-7 noise), i.e. by float rounding alone. ``check`` evaluates the same models on the same
images with every TFLite interpreter installed (tflite-runtime, the TFLite C API) and fails when a
metric moves by more than ``TOLERANCE`` points (NME(io) for faces, PCK@0.2 for pose, in %) or by
more than rounding moves it on the host, whichever is larger. Why the second bound: a binary
model's float ops (the stem convolution) round differently on arm64, and where an activation
lies within rounding distance of a sign the binarised path flips; pose-lsp does that on x86 too
under 1e-7 input noise. Bit-exactness is the random-model goldens' job (check_golden.py)."""

import argparse
import csv
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

ROOT = Path(__file__).resolve().parents[2]
MODELS = {"face": "face", "face-real": "face", "pose-lsp": "pose"}  # shipped model -> task
TOLERANCE = 0.2  # metric points (%)
ROUNDING_TRIALS = 8  # host runs with 1e-7 relative input noise, for the rounding bound


def metric_points(res: dict, task: str) -> float:
    """The model card's headline metric in %: NME(io) for faces, PCK@0.2 for pose."""
    return 100 * (res["nme_inter_ocular"] if task == "face" else res["pck@0.2"])


def evaluate(model: str, data: Path, backend: str = "auto", noise_seed: int | None = None) -> float:
    """The model's metric on ``data``; with ``noise_seed`` every crop is multiplied by (1 + 1e-7 noise)."""
    import numpy as np

    from models.data import load_dataset
    from models.evaluate import evaluate as run_eval
    from runtime.landmarker import Landmarker, LandmarkerOptions

    task = MODELS[model]
    with Landmarker(LandmarkerOptions(model_path=ROOT / "runtime" / "pretrained" / f"{model}.tflite",
                                      backend=backend)) as lm:
        if noise_seed is not None:
            rng, run = np.random.default_rng(noise_seed), lm.backend.run
            lm.backend.run = lambda x: run((x * (1 + rng.normal(0, 1e-7, x.shape))).astype(np.float32))
        res = run_eval(lm.backend, lm.spec, load_dataset(task, data / task), progress=False)
    return metric_points(res, task)


def _copy_subset(task: str, dest: Path, limit: int) -> None:
    from models.data import SHARED_DATA, load_dataset, split, write_pts

    _, val = split(load_dataset(task))
    val = val[:limit]
    dest.mkdir(parents=True, exist_ok=True)
    if task == "face":
        for i, s in enumerate(val):
            img = Path(s.path)
            shutil.copy(img, dest / f"{i:04d}{img.suffix}")
            write_pts(dest / f"{i:04d}.pts", s.keypoints)
        return
    names = {s.name for s in val}
    (dest / "images").mkdir(exist_ok=True)
    with open(SHARED_DATA / "lspet" / "joints.csv", newline="") as f, open(dest / "joints.csv", "w", newline="") as o:
        rows = csv.DictReader(f)
        w = csv.DictWriter(o, rows.fieldnames)
        w.writeheader()
        for row in rows:
            if row["image"] in names:
                w.writerow(row)
                shutil.copy(SHARED_DATA / "lspet" / "images" / row["image"], dest / "images" / row["image"])


def make(out: Path, limit: int) -> int:
    from models.data import SHARED_DATA

    if not (SHARED_DATA / "face300w").exists():
        print(f"skipped: no validation images ({SHARED_DATA} is absent)")
        return 0
    shutil.rmtree(out, ignore_errors=True)
    for task in sorted(set(MODELS.values())):
        _copy_subset(task, out / task, limit)
    host = {}
    for m in (m for m in MODELS if (ROOT / "runtime" / "pretrained" / f"{m}.tflite").exists()):
        clean = evaluate(m, out)
        spread = max(abs(evaluate(m, out, noise_seed=k) - clean) for k in range(ROUNDING_TRIALS))
        host[m] = {"metric": clean, "rounding_spread": spread}
    (out / "host.json").write_text(json.dumps(host, indent=1))
    print(f"wrote {limit} validation images per task to {out}; host metrics {host}")
    return 0


def check(folder: Path) -> int:
    from runtime.backends import kernels_available

    if not (folder / "host.json").exists():
        print(f"skipped: no host metrics in {folder} (made without ../shared/data)")
        return 0
    host = json.loads((folder / "host.json").read_text())
    vias = [v for v in ("tflite", "litert") if kernels_available(v)[0]]
    bad = 0
    for model, ref in host.items():
        want, bound = ref["metric"], max(TOLERANCE, ref["rounding_spread"])
        for via in vias:
            got = evaluate(model, folder, via)
            ok = abs(got - want) <= bound
            bad += not ok
            print(f"{'OK ' if ok else 'BAD'} {model} on {via}: {got:.2f} % here, {want:.2f} % on the host "
                  f"(|d| {abs(got - want):.2f} points; bound {bound:.2f}: {TOLERANCE} or the host's own spread "
                  f"under 1e-7 input noise, {ref['rounding_spread']:.2f})")
    return 1 if bad or not vias else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("make", "check"))
    p.add_argument("folder", type=Path)
    p.add_argument("--limit", type=int, default=60, help="validation images per task")
    a = p.parse_args(argv)
    return make(a.folder, a.limit) if a.command == "make" else check(a.folder)


if __name__ == "__main__":
    sys.exit(main())
