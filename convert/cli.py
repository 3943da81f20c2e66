"""``python -m convert --model face``: convert a named config to a verified binary .tflite.

Also converts its real-valued twin (stock TFLite converter, optionally int8) for size and speed
comparisons, prints a short report and saves it as JSON beside the artifacts.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from convert.core import ROOT, ConversionError, convert, convert_onnx
from models.configs import PRETRAINED, default_weights


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m convert", description=__doc__)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--model", help="named config, e.g. face, pose-lsp, face-real")
    g.add_argument("--all", action="store_true", help="every config with shipped weights in models/pretrained/")
    p.add_argument("--weights", help="Keras .h5 weights (default: models/pretrained/<model>.h5)")
    p.add_argument("--random-init", action="store_true", help="convert the untrained model (sizes, tests)")
    p.add_argument("--out", default=str(ROOT / "build"), help="output folder (default: build/)")
    p.add_argument("--no-twin", action="store_true", help="skip the real-valued twin")
    p.add_argument("--no-onnx", action="store_true", help="skip the ONNX export of the twin (PyTorch bridge)")
    p.add_argument("--int8", action="store_true", help="also int8-quantise the real-valued twin")
    p.add_argument("--ship", action="store_true", help="copy the binary model and sidecar to runtime/pretrained/")
    return p.parse_args(argv)


def _line(rep) -> str:
    par, tol = rep.parity, rep.parity.tolerance
    return (f"  {rep.kind:6s} {Path(rep.path).name:22s} {rep.bytes / 1024:8.1f} KiB  parity on {par.crops} crops: "
            f"heatmaps mean|d| {par.heatmap_mean_abs:.1e} (tol {tol.heatmap_mean:g}), "
            f"max {par.heatmap_max_abs:.1e}; landmarks {tol.landmark_mode} {par.landmark_error_px:.2f} px "
            f"(tol {tol.landmark_px:g}) on {par.landmarks_compared} clear, "
            f"{100 * par.landmark_share_within_half_px:.1f} % of {par.landmarks_confident} within 0.5 px; "
            f"{par.crops_identical}/{par.crops} crops identical")


def convert_one(name: str, args) -> dict:
    from models.configs import get_config, named_weights_fit, real_twin

    cfg = get_config(name)
    weights = None if args.random_init else Path(args.weights) if args.weights else default_weights(cfg.name)
    if weights is not None and not weights.exists():
        raise ConversionError(f"no weights for {cfg.name} at {weights}; train with `make train MODEL={cfg.name}`, "
                              "pass WEIGHTS=path/to/weights.h5, or --random-init for an untrained model")
    reports = [convert(cfg, weights=weights, out_dir=args.out)]
    print(f"{cfg.name}: weights {weights or 'random-init'}")
    if cfg.binary:
        c = reports[0].census
        print(f"  census: {c['lce_bconv2d']}/{c['binary_layers']} binarized convs -> LceBconv2d; ops {c['ops']}")
    if cfg.binary and not args.no_twin:
        twin = real_twin(cfg)
        tw = default_weights(twin.name)
        tw = tw if tw.exists() and named_weights_fit(twin) else None
        reports.append(convert(twin, weights=tw, out_dir=args.out))
        if tw is None:
            why = ("its shipped weights are for another architecture" if default_weights(twin.name).exists()
                   else "no trained weights")
            print(f"  note: {twin.name}: {why}; its twin is untrained (size/speed only)")
        if not args.no_onnx:
            reports.append(convert_onnx(twin, weights=tw, out_dir=args.out))
        if args.int8 and tw is None:
            print(f"  note: int8 twin skipped: quantising an untrained {twin.name} proves nothing")
        elif args.int8:
            reports.append(convert(twin, weights=tw, out_dir=args.out, kind="int8"))
    for r in reports:
        print(_line(r))
    if not cfg.binary and not args.no_onnx and cfg.block == "hierarchical":
        reports.append(convert_onnx(cfg, weights=weights, out_dir=args.out))
    sizes = {r.kind: r.bytes for r in reports}
    summary = {"model": cfg.name, "reports": [r.to_dict() for r in reports], "sizes": sizes}
    if "float" in sizes and "binary" in sizes:
        summary["float_over_binary_size"] = sizes["float"] / sizes["binary"]
        print(f"  size: binary {sizes['binary']:,} B, float twin {sizes['float']:,} B "
              f"-> binary is {summary['float_over_binary_size']:.1f}x smaller")
    Path(args.out, f"{cfg.name}.summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    if args.ship:
        dst = ROOT / "runtime" / "pretrained"
        dst.mkdir(parents=True, exist_ok=True)
        for suffix in (".tflite", ".json"):
            shutil.copyfile(Path(args.out, cfg.name + suffix), dst / f"{cfg.name}{suffix}")
        print(f"  shipped to {dst}")
    return summary


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.all:
            names = sorted(p.stem for p in PRETRAINED.glob("*.h5") if not p.stem.endswith("-real"))
            if not names:
                raise ConversionError(f"no shipped weights in {PRETRAINED}")
        else:
            from models.configs import get_config

            names = [get_config(args.model).name]
        for n in names:
            convert_one(n, args)
    except (ConversionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":  # `python -m convert.cli` as well as `python -m convert`
    sys.exit(main())
