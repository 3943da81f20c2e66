"""``python -m models.distill_study``: what distillation from the real-valued twin gains.

Trains the binary student twice with the same seed, data split, schedule and epoch budget, once
on the labels alone and once with the shipped real-valued teacher (``--teacher face-real``), then
compares the best validation NME. Each run resumes after a kill (it is ``models.train``); the
report goes to ``runs/distill-study/report.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m models.distill_study", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="face")
    p.add_argument("--teacher", default="face-real")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--alpha", type=float, default=0.5)
    p.add_argument("--data", default=None)
    p.add_argument("--out", default=str(ROOT / "runs" / "distill-study"))
    a = p.parse_args(argv)
    out = Path(a.out)
    common = ["--model", a.model, "--epochs", str(a.epochs), "--batch", str(a.batch), "--optimizer", "adam",
              "--lr", "1e-3", "--seed", "0", *(["--data", a.data] if a.data else [])]
    runs = {"labels only": [], f"distilled from {a.teacher} (alpha {a.alpha})":
            ["--teacher", a.teacher, "--distill-alpha", str(a.alpha)]}
    res = {}
    for (name, extra), folder in zip(runs.items(), ("plain", "distilled")):
        cmd = [sys.executable, "-m", "models.train", *common, "--out", str(out / folder), *extra]
        print("$", " ".join(cmd), flush=True)
        r = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "TF_USE_LEGACY_KERAS": "1"})
        if r.returncode != 0:
            print(f"error: the {name!r} run failed (exit {r.returncode}); rerun to resume it", file=sys.stderr)
            return r.returncode
        best = json.loads((out / folder / "best.json").read_text())
        hist = [json.loads(x) for x in (out / folder / "history.jsonl").read_text().splitlines() if x.strip()]
        res[name] = {"best_epoch": best["epoch"], "best": {k: v for k, v in best.items() if k != "epoch"},
                     "final": hist[-1] if hist else None,
                     "seconds": sum(h.get("seconds") or 0 for h in hist)}
    key = "nme_io" if "nme_io" in next(iter(res.values()))["best"] else "pck02"
    (plain, kd) = (res[k]["best"][key] for k in res)
    report = {"model": a.model, "teacher": a.teacher, "epochs": a.epochs, "metric": key, "runs": res,
              "relative_change": (kd - plain) / plain}
    out.mkdir(parents=True, exist_ok=True)
    from runtime.io import atomic_write_bytes

    atomic_write_bytes(out / "report.json", (json.dumps(report, indent=1) + "\n").encode())
    lines = [f"# Distillation study: {a.model}, {a.epochs} epochs, teacher {a.teacher}", "",
             f"`python -m models.distill_study --epochs {a.epochs}`; same seed, split and schedule.", "",
             f"| run | best val {key} | at epoch | wall time (s) |", "|---|---:|---:|---:|"]
    for name, r in res.items():
        v = r["best"][key]
        lines.append(f"| {name} | {100 * v:.2f} % | {r['best_epoch']} | {r['seconds']:.0f} |")
    lines += ["", f"Relative change of the best {key}: {100 * report['relative_change']:+.1f} %.", ""]
    atomic_write_bytes(out / "report.md", "\n".join(lines).encode())
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
