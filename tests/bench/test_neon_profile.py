"""bench/neon_profile.py: the plugin's counters turned into per-layer rows, and (where QEMU 7.2, an
aarch64 cross compiler and the cached plugin header are present) a real run on the shipped model."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from bench import neon_profile as npf

LAYERS = [
    {"in_h": 8, "in_w": 8, "channels_in": 40, "out_c": 40, "k_h": 3, "k_w": 3, "stride": 1, "groups": 1,
     "bmacs": 8 * 8 * 40 * 40 * 9},
    {"in_h": 4, "in_w": 4, "channels_in": 160, "out_c": 80, "k_h": 1, "k_w": 1, "stride": 1, "groups": 1,
     "bmacs": 4 * 4 * 160 * 80},
]
LOG = "\n".join([
    "some qemu message",
    "mark 1000 0 main=900 malloc=100",
    "mark 1500 96 main=910 malloc=100 tile_neon_v8=300 tile_neon_v2=50 bconv_row=100 bnn_pack32_affine_neon=40",
    "mark 1600 96 main=920 malloc=110 tile_neon_v8=300 tile_neon_v2=50 bconv_row=100 bnn_pack32_affine_neon=40",
    "mark 1800 126 main=930 malloc=110 tile_neon_v8=400 tile_neon_v2=50 bconv_row=150 bnn_pack32_affine_neon=70",
])


def test_marks_become_per_layer_counts_split_by_function():
    marks = npf.parse_marks(LOG)
    assert [m["total"] for m in marks] == [1000, 1500, 1600, 1800]
    rows = npf.layer_counts(marks, LAYERS)
    a, b = rows
    assert (a["instructions"], a["cnt"], a["tile"], a["row"], a["pack"], a["other"]) == (500, 96, 350, 100, 40, 10)
    assert (b["instructions"], b["cnt"], b["tile"], b["row"], b["pack"], b["other"]) == (200, 30, 100, 50, 30, 20)
    assert b["bmacs"] == LAYERS[1]["bmacs"]


def test_missing_marks_are_an_error_not_a_short_table():
    with pytest.raises(npf.ProfileError, match="expected 4 marks"):
        npf.layer_counts(npf.parse_marks(LOG)[:3], LAYERS)


def test_table_groups_layers_and_totals_them(tmp_path):
    rows = npf.layer_counts(npf.parse_marks(LOG), LAYERS)
    md = npf.markdown(tmp_path / "m.tflite", rows)
    assert "| 8x8 | 40 | 40 | 3x3 | 1 | 0.5 |" in md
    assert "| all | | | | 2 |" in md
    # 3 instructions per 128 binary MACs over the instructions executed
    assert npf.mix_fraction(128, 6) == pytest.approx(0.5)
    assert f"{100 * npf.mix_fraction(LAYERS[0]['bmacs'], 500):.1f} %" in md


def _tools_ready() -> bool:
    if not all(shutil.which(t) for t in ("qemu-aarch64", "aarch64-linux-gnu-gcc", "cc")):
        return False
    if "version 7.2" not in subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout:
        return False
    return (npf.HEADER_CACHE / "qemu-include" / "qemu-plugin.h").is_file()  # offline: no download here


def _bconv_count(model) -> int:
    """The LceBconv2d ops in a .tflite (the shipped face model's binary convolutions)."""
    from tflite_runtime.interpreter import Interpreter

    return sum(op["op_name"] == "LceBconv2d" for op in Interpreter(model_path=str(model))._get_ops_details())


@pytest.mark.skipif(not _tools_ready(), reason="needs qemu-user 7.2, an aarch64 cross gcc and `make neon-profile` "
                    "run once (the plugin header)")
def test_shipped_model_profile_under_qemu(tmp_path):
    assert npf.main(["--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "neon.json").read_text())
    assert len(rows) == _bconv_count(npf.PRETRAINED / "face.tflite")  # every one
    for r in rows:
        # every useful popcount ran as a CNT, and the inner kernel is where the CNTs are
        assert r["cnt"] * 128 >= r["bmacs"] and 0 < r["tile"] < r["instructions"]
