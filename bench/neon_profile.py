"""``make neon-profile``: the NEON kernels' per-layer profile as instruction counts, under QEMU.

No Arm machine is at hand, and time under an emulator says nothing about a Cortex-A76, so this
counts what the kernels *execute*: every binary convolution of a model (its shapes from a
profiled run on this host) is run once by the NEON code, cross-compiled for aarch64
(``bench/neon/layers.c``), under QEMU's user-mode emulator with a plugin
(``bench/neon/insn_count.c``) that counts instructions per function and the vector popcounts
(``CNT``) among them. The NEON inner kernel's own instruction mix is 3 instructions per 128 binary
MACs (EOR, CNT, UADALP: ``bnn_peak_bmacs_neon``), so a layer's "fraction of the mix" is those
3 x MACs / 128 over the instructions it executed: the NEON counterpart of ``make bench``'s
fraction of the popcount peak, blind to latencies and the memory system. Each layer's outputs are
also checked bit for bit against the portable kernel's, so a profile is never of wrong code.

Needs Debian bookworm's dynamic ``qemu-user`` (7.2, plugins enabled), an aarch64 cross compiler
and a host compiler: ``apt install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross``. The
plugin's header comes from QEMU's source tarball on Debian's mirror (checked against its hash).
Writes ``build/bench/neon.{json,md}`` and, with ``--update-doc``, ``docs/neon-profile.md``."""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from collections import defaultdict
from pathlib import Path

from bench.run import PRETRAINED, ROOT, _worker
from runtime.kernels.compile import CFLAGS, SRC

HERE = Path(__file__).resolve().parent / "neon"
QEMU_SOURCE = "http://deb.debian.org/debian/pool/main/q/qemu/qemu_7.2+dfsg.orig.tar.xz"
QEMU_SOURCE_SHA256 = "91aca71520040edc40b8d437aa3004dae614f58e286cf653ee8996c07af2962f"
HEADER_CACHE = ROOT / "build" / "qemu-plugin"
HINT = "apt install qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross (Debian bookworm)"
INSTRUCTIONS_PER_128 = 3  # EOR + CNT + UADALP, the inner kernel's mix (bnn_neon.c)
# where the instructions of a convolution go, by symbol prefix: the inner kernel (one per vector
# count), the row loop with the output transform and epilogue (bnn_epi_neon, or the portable code
# where it does not apply), packing bits outside the epilogue
PARTS = {"tile": ("tile_neon",), "row": ("bconv_row", "bnn_epi_neon"), "pack": ("bnn_pack32_affine_neon",)}


class ProfileError(RuntimeError):
    """A tool is missing or failed; the message names the fix."""


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise ProfileError(f"{cmd[0]} failed: {(r.stderr.strip().splitlines() or ['no message'])[-1]}")
    return r


def check_tools() -> None:
    for tool in ("qemu-aarch64", "aarch64-linux-gnu-gcc", "cc"):
        if not shutil.which(tool):
            raise ProfileError(f"{tool} not found; {HINT}")
    version = _run(["qemu-aarch64", "--version"]).stdout
    if "version 7.2" not in version:
        raise ProfileError(f"the plugin is written for QEMU 7.2's plugin API, found {version.splitlines()[0]}; {HINT}")


def plugin_header(work: Path = HEADER_CACHE) -> Path:
    """The folder holding ``qemu-plugin.h`` from QEMU 7.2's source (downloaded once into ``work``,
    hash-checked)."""
    work.mkdir(parents=True, exist_ok=True)
    inc = work / "qemu-include"
    if (inc / "qemu-plugin.h").is_file():
        return inc
    tarball = work / Path(QEMU_SOURCE).name
    if not tarball.is_file():
        tmp = tarball.with_suffix(".part")
        with urllib.request.urlopen(QEMU_SOURCE, timeout=120) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f)
        tmp.rename(tarball)
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != QEMU_SOURCE_SHA256:
        tarball.unlink()
        raise ProfileError(f"{QEMU_SOURCE} has sha256 {digest}, expected {QEMU_SOURCE_SHA256}; run again")
    with tarfile.open(tarball) as t:
        member = next(m for m in t.getmembers() if m.name.endswith("include/qemu/qemu-plugin.h"))
        inc.mkdir(parents=True, exist_ok=True)
        (inc / "qemu-plugin.h").write_bytes(t.extractfile(member).read())
    return inc


def build(work: Path) -> tuple[Path, Path]:
    """The host plugin and the static aarch64 program, compiled with the kernels' own flags."""
    plugin, program = work / "insn_count.so", work / "layers"
    _run(["cc", "-O2", "-shared", "-fPIC", "-Wall", f"-I{plugin_header()}", str(HERE / "insn_count.c"),
          "-o", str(plugin)])
    flags = [f for f in CFLAGS if f not in ("-fPIC", "-shared", "-fvisibility=hidden")]
    _run(["aarch64-linux-gnu-gcc", *flags, "-static", f"-I{SRC}", str(HERE / "layers.c"), str(SRC / "bnn_core.c"),
          str(SRC / "bnn_neon.c"), "-o", str(program)])
    return plugin, program


def model_layers(model: Path) -> list[dict]:
    """The model's binary convolutions in execution order, from a profiled run on this host."""
    r = _worker(["--model", str(model), "--backend", "tflite", "--threads", "1", "--reps", "1", "--warmup", "0",
                 "--profile"])
    if "error" in r or not r.get("bconv"):
        raise ProfileError(f"profiling {model.name} on this host failed: {r.get('error', 'no binary convolutions')}")
    return r["bconv"]


def parse_marks(log: str) -> list[dict]:
    """The plugin's "mark <total> <cnt> sym=n ..." lines as counters: {"total", "cnt", "syms"}."""
    marks = []
    for line in log.splitlines():
        if not line.startswith("mark "):
            continue
        fields = line.split()
        syms = {}
        for pair in fields[3:]:
            name, _, n = pair.rpartition("=")
            syms[name] = int(n)
        marks.append({"total": int(fields[1]), "cnt": int(fields[2]), "syms": syms})
    return marks


def layer_counts(marks: list[dict], layers: list[dict]) -> list[dict]:
    """Per layer, the counters between its two marks, split by PARTS, beside its useful popcounts."""
    if len(marks) != 2 * len(layers):
        raise ProfileError(f"expected {2 * len(layers)} marks from the plugin, got {len(marks)}")
    rows = []
    for q, a, b in zip(layers, marks[0::2], marks[1::2]):
        delta = {k: b["syms"].get(k, 0) - a["syms"].get(k, 0) for k in b["syms"]}
        total = b["total"] - a["total"]
        parts = {part: sum(n for s, n in delta.items() if s.startswith(prefixes)) for part, prefixes in PARTS.items()}
        parts["other"] = total - sum(parts.values())
        rows.append({**{k: q[k] for k in ("in_h", "in_w", "channels_in", "out_c", "k_h", "k_w", "stride", "groups",
                                          "bmacs")},
                     "instructions": total, "cnt": b["cnt"] - a["cnt"], **parts})
    return rows


def run_layers(plugin: Path, program: Path, layers: list[dict]) -> list[dict]:
    spec = "".join(f"{q['in_h']} {q['in_w']} {q['channels_in']} {q['out_c']} {q['k_h']} {q['stride']} {q['groups']}\n"
                   for q in layers)
    r = subprocess.run(["qemu-aarch64", "-d", "plugin", "-plugin", str(plugin), str(program)], input=spec,
                       capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise ProfileError(f"the aarch64 program failed under qemu: {(r.stderr.strip().splitlines() or ['?'])[-1]}")
    return layer_counts(parse_marks(r.stderr), layers)


def mix_fraction(bmacs: float, instructions: float) -> float:
    """The inner kernel's instruction mix for these MACs over the instructions executed."""
    return INSTRUCTIONS_PER_128 * bmacs / 128 / instructions if instructions else 0.0


def grouped(rows: list[dict]) -> list[dict]:
    """Rows summed per shape, in the order of their first layer, largest instruction count first."""
    groups: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
    for r in rows:
        key = (r["in_h"], r["in_w"], r["channels_in"], r["out_c"], r["k_h"], r["k_w"], r["stride"], r["groups"])
        g = groups[key]
        g["layers"] += 1
        for k in ("instructions", "cnt", "bmacs", *PARTS, "other"):
            g[k] += r[k]
    return sorted(({"shape": k, **v} for k, v in groups.items()), key=lambda g: -g["instructions"])


def _shares(g: dict) -> str:
    """The table's cells after the instruction count: mix fraction, CNT used, the parts' shares."""
    n = g["instructions"]
    return " | ".join([f"{100 * mix_fraction(g['bmacs'], n):.1f} %",
                       f"{100 * g['bmacs'] / 128 / max(g['cnt'], 1):.0f} %",
                       *(f"{100 * g[p] / n:.0f} %" for p in (*PARTS, "other"))])


def markdown(model: Path, rows: list[dict]) -> str:
    tot = {k: sum(r[k] for r in rows) for k in ("instructions", "cnt", "bmacs", *PARTS, "other")}
    lines = [
        "# NEON kernels: instruction counts per binary convolution (under QEMU)", "",
        f"`make neon-profile` on {model.name}: each of its {len(rows)} binary convolutions run once by the "
        "aarch64 NEON kernels (cross-compiled, static, -O3) under qemu-aarch64 7.2 with an instruction-counting "
        "plugin, on random data, with the fused epilogue most of the model's convolutions have (y + residual "
        "into the block output, the bits of an affine map of y for the next binary convolution), its outputs "
        "identical to the portable kernel's. Instruction counts, not time: the emulator says nothing about a "
        "Cortex-A's latencies or memory.", "",
        f"Mix fraction = {INSTRUCTIONS_PER_128} x MACs / 128 (EOR + CNT + UADALP per 128 binary MACs, the inner "
        "kernel's loop) over the instructions executed; CNT used = the useful 128-bit popcounts (MACs / 128) "
        "over the CNT instructions executed (input channels padded to 32-bit words, output channels to "
        "whole 4-channel vectors).", "",
        "| input HxW | Cin | Cout | kernel | layers | instructions (k) per layer | mix fraction | CNT used | "
        "inner kernel | row + epilogue | packing | other |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for g in grouped(rows):
        h, w, cin, cout, kh, kw, _, _ = g["shape"]
        lines.append(f"| {h}x{w} | {cin} | {cout} | {kh}x{kw} | {g['layers']} | "
                     f"{g['instructions'] / g['layers'] / 1e3:.1f} | {_shares(g)} |")
    lines.append(f"| all | | | | {len(rows)} | {tot['instructions'] / 1e6:.1f} M (total) | {_shares(tot)} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.neon_profile", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default=str(PRETRAINED / "face.tflite"))
    p.add_argument("--out", default=str(ROOT / "build" / "bench"))
    p.add_argument("--update-doc", action="store_true", help="also write docs/neon-profile.md")
    a = p.parse_args(argv)
    model, out = Path(a.model), Path(a.out)
    if not model.is_file():
        print(f"error: model {model} not found; pass --model PATH", file=sys.stderr)
        return 2
    from runtime.io import atomic_write_bytes

    try:
        check_tools()
        work = out / "neon"
        work.mkdir(parents=True, exist_ok=True)
        rows = run_layers(*build(work), model_layers(model))
    except ProfileError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    md = markdown(model, rows)
    atomic_write_bytes(out / "neon.json", (json.dumps(rows, indent=1) + "\n").encode())
    atomic_write_bytes(out / "neon.md", md.encode())
    if a.update_doc:
        atomic_write_bytes(ROOT / "docs" / "neon-profile.md", md.encode())
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
