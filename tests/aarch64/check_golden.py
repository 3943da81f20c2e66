"""Compare the project's kernels with golden outputs of LCE's interpreter (made on an x86_64 host by
``python -m convert.kernel_cases --golden DIR``), for every inner kernel this CPU has and 1 and 2
threads, on each TFLite interpreter installed (tflite-runtime, the TFLite C API of litert-lm-api).
Used by ``make test-aarch64`` (under qemu) and runnable on a Raspberry Pi:
``python tests/aarch64/check_golden.py DIR``. Exit 1 on any failure or when neither interpreter works.

* random models (binary ops, little float work): bit-exact on every architecture;
* shipped models: bit-exact on the architecture that made the golden file. On another one their
  heatmaps are reported against the conversion's parity bound (mean |heatmap difference| <= 1e-2,
  >= 80 % of confident landmarks within 0.5 px) but not judged here: TFLite's float ops round
  differently there, and what matters to a user, the accuracy on real images, is
  tests/aarch64/accuracy.py's check."""

import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from runtime import kernels  # noqa: E402
from runtime.backends import kernels_available  # noqa: E402


def model_parity(got: np.ndarray, want: np.ndarray, stride: float) -> bool:
    """The conversion's binary parity bound; landmark distances in input pixels."""
    from runtime import codec

    mean = float(np.abs(got - want).mean()) / max(1.0, float(np.abs(want).max()))
    xy_w, conf = codec.decode(want, "argmax")
    xy_g, _ = codec.decode(got, "argmax")
    d = stride * np.linalg.norm(xy_g - xy_w, axis=-1)[conf >= 0.3]
    share = float((d <= 0.5).mean()) if d.size else 1.0
    print(f"  model parity: mean |d| {mean:.2e}, {100 * share:.0f} % of {d.size} confident landmarks "
          "within 0.5 input px")
    return mean <= 1e-2 and share >= 0.8


def main(folder: str) -> int:
    files = sorted(Path(folder).glob("*.npz"))
    if not files:
        print(f"error: no golden files in {folder}", file=sys.stderr)
        return 1
    isas = ["ref", "neon"] if kernels.load().bnn_best_isa() == 3 else ["ref", "avx2", "avx512"][
        : kernels.load().bnn_best_isa() + 1]
    vias = [v for v in ("tflite", "litert") if kernels_available(v)[0]]
    if not vias:
        print(f"error: no interpreter runs the kernels here: {kernels_available('tflite')[1]}; "
              f"{kernels_available('litert')[1]}", file=sys.stderr)
        return 1
    bad = checked = reported = 0
    for f, via in ((f, via) for f in files for via in vias):
        g = np.load(f)
        model = g["model"].tobytes()
        x = g["input"]
        foreign = "machine" in g.files and str(g["machine"]) != platform.machine()  # shipped, made elsewhere
        for isa in isas:
            os.environ["BNN_ISA"] = isa
            for threads in (1, 2):
                got = kernels.run(model, x, threads, via)
                for i, out in enumerate(got):
                    want = g[f"output{i}"]
                    ok = out.shape == want.shape and np.array_equal(out, want)
                    if not ok and foreign and out.shape == want.shape:
                        model_parity(out, want, x.shape[1] / out.shape[1])
                        print(f"  (reported, not judged: {f.name} {via} isa={isa} threads={threads})")
                        reported += 1
                        continue
                    if not ok and f"keras{i}" in g.files:  # LCE is wrong here; Keras is the reference
                        ok = np.allclose(out, g[f"keras{i}"], rtol=1e-4, atol=1e-4)
                    checked += 1
                    if not ok:
                        bad += 1
                        print(f"MISMATCH {f.name} output{i} {via} isa={isa} threads={threads}")
    print(f"{checked - bad}/{checked} outputs match LCE's interpreter ({len(files)} models, isas {', '.join(isas)}, "
          f"interpreters {', '.join(vias)}); {reported} shipped-model outputs made on another architecture "
          "reported above, judged by accuracy.py")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
