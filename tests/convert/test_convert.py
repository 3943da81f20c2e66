import json
import subprocess
import sys

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
pytest.importorskip("larq_compute_engine")

from helpers import TINY  # noqa: E402
from helpers import random_weights as _weights  # noqa: E402

from convert import core  # noqa: E402
from models.configs import get_config  # noqa: E402
from runtime.spec import ModelSpec  # noqa: E402
from runtime.tflite_model import read_model  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    d = tmp_path_factory.mktemp("conv")
    cfg = get_config("face", **TINY)
    w = _weights(cfg, d / "tiny.h5")
    rep = core.convert(cfg, weights=w, out_dir=d / "build", shared_data=None)
    return cfg, w, d, rep


def test_census_every_binary_conv_is_lce(tiny):
    cfg, _, _, rep = tiny
    c = rep.census
    assert c["all_binary_convs_converted"] and c["lce_bconv2d"] == c["binary_layers"] > 0
    # the real-valued stem and heatmap convs only, and per further stack its folded re-injection
    assert c["ops"]["CONV_2D"] == 2 + (cfg.stacks - 1)
    assert c["ops"]["LceQuantize"] > 0


def test_parity_within_stated_tolerance(tiny):
    par = tiny[3].parity
    assert par.ok and par.crops >= 6 and par.tolerance == core.TOLERANCES[core.ArtifactKind.BINARY]
    assert par.heatmap_mean_abs <= par.tolerance.heatmap_mean
    assert par.landmark_mean_px <= 0.5 and par.landmark_share_within_half_px >= 0.8
    assert par.project_kernels is None or par.project_kernels.startswith("bit-exact")



def _two_peak_maps(top_xy, second_xy, second_height, n=5):
    from runtime import codec

    a = codec.encode(np.array([top_xy], np.float32), (16, 16), sigma=1.0)
    b = second_height * codec.encode(np.array([second_xy], np.float32), (16, 16), sigma=1.0)
    return np.repeat(np.maximum(a, b)[None], n, axis=0)


def test_parity_gate_ignores_a_noise_decided_argmax_but_not_a_moved_clear_peak():
    spec = get_config("face", **TINY).spec()
    keras = _two_peak_maps((3, 3), (12, 12), 0.97)
    flipped = keras.copy()
    flipped[0] = _two_peak_maps((12, 12), (3, 3), 0.97, n=1)[0]  # one crop's argmax jumps to the other peak
    par = core.parity(keras, flipped, spec, core.ArtifactKind.BINARY)
    assert par.ok and par.landmarks_compared == 0 and par.landmarks_confident == 5
    assert par.landmark_mean_px_all_confident > 9 and par.landmark_share_within_half_px == 0.8
    assert par.crops_identical == 4
    clear = _two_peak_maps((3, 3), (12, 12), 0.5)
    moved = clear.copy()
    moved[0] = _two_peak_maps((12, 12), (3, 3), 0.5, n=1)[0]
    with pytest.raises(core.ConversionError, match="parity check failed.*on 5 clear landmarks"):
        core.parity(clear, moved, spec, "binary")


def test_sidecar_and_embedded_metadata_round_trip(tiny):
    cfg, _, d, rep = tiny
    data = (d / "build" / "face.tflite").read_bytes()
    side = ModelSpec.load(d / "build" / "face.json")
    import hashlib

    assert side.tflite_sha256 == hashlib.sha256(data).hexdigest() == rep.sha256
    embedded = core.spec_from_tflite(data)
    assert embedded is not None
    assert embedded.to_dict() == {**side.to_dict(), "tflite_sha256": None}
    assert side.keypoint_names == list(cfg.kps.names) and side.input_size == 64 and side.heatmap_size == 16
    assert side.tools["larq-compute-engine"] == "0.16.0"
    # the metadata entry leaves the model runnable
    info = read_model(data)
    assert info.input_details()[0].shape == (1, 64, 64, 3)


def test_conversion_is_deterministic(tiny, tmp_path):
    cfg, w, d, rep = tiny
    rep2 = core.convert(cfg, weights=w, out_dir=tmp_path, shared_data=None)
    assert (tmp_path / "face.tflite").read_bytes() == (d / "build" / "face.tflite").read_bytes()
    assert rep2.sha256 == rep.sha256


def test_float_twin_parity(tmp_path):
    cfg = get_config("face-real", **TINY)
    rep = core.convert(cfg, weights=_weights(cfg, tmp_path / "r.h5"), out_dir=tmp_path, shared_data=None)
    assert "LceBconv2d" not in rep.census["ops"] and rep.parity.heatmap_max_abs <= 1e-4


def test_census_names_a_binary_layer_left_float(tiny, monkeypatch):
    cfg, w, _, _ = tiny
    model = core.load_keras(cfg, w)
    fb = core.convert_keras(model, "float")  # stock converter: binary convs stay float
    with pytest.raises(core.ConversionError, match=r"not converted to LceBconv2d: .*pre1_1_bconv"):
        core.census(fb, model)


def test_a_training_stage_with_real_kernels_is_refused(tmp_path):
    with pytest.raises(core.ConversionError, match="binary_weights=false, a training stage.*--init"):
        core.convert(get_config("face", binary_weights=False), weights=None, out_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_mismatched_weights_name_expected_shapes(tiny, tmp_path):
    _, w, _, _ = tiny
    other = get_config("face", input_size=64, width=64, depth=2)
    with pytest.raises(core.ConversionError, match="do not fit model face.*expected"):
        core.convert(other, weights=w, out_dir=tmp_path, shared_data=None)
    assert not list(tmp_path.iterdir())


def test_converter_failure_keeps_message_and_writes_nothing(tiny, tmp_path, monkeypatch):
    import larq_compute_engine as lce

    cfg, w, _, _ = tiny

    def boom(*a, **k):
        raise RuntimeError("MLIR pass 'legalize' failed\nwith details")

    monkeypatch.setattr(lce, "convert_keras_model", boom)
    with pytest.raises(core.ConversionError, match="LCE converter failed for .*MLIR pass 'legalize' failed with"):
        core.convert(cfg, weights=w, out_dir=tmp_path, shared_data=None)
    assert not list(tmp_path.iterdir())


def test_missing_lce_gives_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "larq_compute_engine", None)
    with pytest.raises(core.ConversionError, match="pip install larq-compute-engine"):
        core._imports()


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "convert", *args], capture_output=True, text=True,
                          cwd=core.ROOT, timeout=300)


def test_cli_unknown_model_lists_valid_ones():
    r = _cli("--model", "facee")
    assert r.returncode == 2
    assert "unknown model 'facee'" in r.stderr and "pose-lsp" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_cli_missing_weights(tmp_path):
    r = _cli("--model", "pose-mpii", "--weights", str(tmp_path / "nope.h5"), "--out", str(tmp_path))
    assert r.returncode == 2 and "nope.h5" in r.stderr and "WEIGHTS=" in r.stderr
    assert not list(tmp_path.glob("*.tflite"))


def test_report_json_written(tiny):
    """The typed report writes <model>.report.json in its JSON format (keys unchanged)."""
    d = tiny[2] / "build"
    rep = json.loads((d / "face.report.json").read_text())
    assert rep["kind"] == "binary" and rep["bytes"] == (d / "face.tflite").stat().st_size
    assert rep == json.loads(json.dumps(tiny[3].to_dict()))
    assert {"crops", "crops_identical", "landmarks_confident", "heatmap_atol", "heatmap_mean_tol",
            "landmark_share_within_0.5px", "landmark_tol_px", "landmark_tol_mode", "landmark_min_share",
            "ambiguous_peak_ratio", "ok"} <= set(rep["parity"])


def _peaked_weights(cfg, path):
    """Weights of a tiny model trained for a few steps to put clear peaks at fixed points (random
    weights give flat heatmaps whose argmax any quantisation moves)."""
    import numpy as np

    from models.hourglass import build_model
    from runtime import codec

    tf.keras.utils.set_random_seed(0)
    m = build_model(config=cfg)
    rng = np.random.default_rng(0)
    kp = rng.uniform(2, cfg.heatmap_size - 3, (cfg.num_keypoints, 2))
    y = np.repeat(codec.encode(kp, (cfg.heatmap_size,) * 2)[None], 8, 0)
    x = rng.uniform(-1, 1, (8, cfg.input_size, cfg.input_size, 3)).astype(np.float32)
    m.compile(tf.keras.optimizers.Adam(3e-3), lambda t, o: tf.reduce_mean((1.0 + 20.0 * t) * tf.square(o - t)))
    m.fit(x, y, epochs=80, batch_size=8, verbose=0)
    m.save_weights(str(path))
    return path


@pytest.mark.slow
def test_int8_twin_with_calibration(tmp_path):
    """int8 post-training quantisation with a calibration set: int8 inside with float edges, under
    half the float size, and heatmaps close to Keras. (The full parity gate, landmarks included, runs
    in `make convert --int8` on trained twins; a tiny model trained on noise is no fair judge.)"""
    import numpy as np

    from convert.fixtures import parity_crops

    cfg = get_config("face-real", **TINY)
    spec = cfg.spec()
    x = parity_crops(spec, None)
    model = core.load_keras(cfg, _peaked_weights(cfg, tmp_path / "r.h5"))
    fb8 = core.convert_keras(model, "int8", x)
    fb32 = core.convert_keras(model, "float")
    ops = read_model(fb8).op_counts
    assert ops.get("QUANTIZE", 0) >= 1 and ops.get("DEQUANTIZE", 0) >= 1 and ops.get("CONV_2D", 0) > 0
    assert len(fb8) < 0.5 * len(fb32)
    k = model.predict(x, verbose=0)
    q = core.run_interpreter(fb8, x, "int8")
    assert np.abs(k - q).mean() / np.abs(k).max() < 0.03


def test_parity_study_counts_moves_and_ambiguity():
    from convert.parity_study import compare

    spec = get_config("face", **TINY).spec()
    keras = np.concatenate([_two_peak_maps((3, 3), (12, 12), 0.97), _two_peak_maps((3, 3), (12, 12), 0.5)], axis=-1)
    other = keras.copy()
    other[0, ..., 0] = _two_peak_maps((12, 12), (3, 3), 0.97, n=1)[0, ..., 0]  # ambiguous one jumps
    other[1, ..., 1] = _two_peak_maps((12, 12), (3, 3), 0.5, n=1)[0, ..., 0]  # clear one jumps
    r = compare(keras, other, spec, ratio=0.7)
    assert (r["crops"], r["crops_identical"], r["confident"], r["clear"]) == (5, 3, 10, 5)
    assert (r["moved_over_1_heatmap_px"], r["of_which_ambiguous"]) == (2, 1)
    assert r["clear_max_px"] == pytest.approx(r["confident_max_px"]) and r["clear_max_px"] > 9 * spec.stride
