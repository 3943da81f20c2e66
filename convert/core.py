"""Keras -> TFLite conversion and verification.

Binary configs go through the Larq Compute Engine converter (``target="arm"``), real-valued ones
through the stock TFLite converter (optionally int8 post-training quantised). Every artifact is
verified (op census, parity against Keras on real crops, size) and written atomically with its
JSON spec sidecar; the spec is also embedded in the flatbuffer's metadata.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import numpy as np

from models import shape
from models.data import SHARED_DATA
from runtime import codec
from runtime.io import atomic_write_bytes
from runtime.packages import versions
from runtime.spec import METADATA_KEY, ModelSpec, sidecar_path
from runtime.tflite_model import read_model

ROOT = Path(__file__).resolve().parents[1]
# Parity tolerances, stated once (README "Convert"). Heatmap differences are taken relative to
# max(1, max |Keras heatmap|); landmark distances are in input pixels. Float models must agree
# everywhere. Binary models cannot: Keras and the interpreter sum in different orders, and a
# pre-activation within float rounding of zero then takes the other sign; a flipped bit early in
# the network changes everything after it. Measured on the face model at epoch 21: 75 of 100
# validation crops identical, the others off by up to 0.29 in some heatmap pixels and 10 % of
# landmarks moved by a heatmap pixel; the model cards compare validation NME of Keras and the
# interpreter). So binary models are bounded on average:
# mean heatmap difference, mean landmark distance, and the share of landmarks within 0.5 px.
# Landmark distances are bounded where Keras's heatmap has one clear answer: a confident peak
# (CONFIDENT_PEAK) and no other local maximum as high as AMBIGUOUS_PEAK_RATIO of it
# (``codec.peak_ambiguity``). Where two peaks are nearly level (pose: left and right wrist of a
# person seen from behind), the argmax is decided by noise: Keras itself moves such landmarks by a
# whole limb under 3e-7 input noise. Measured on the shipped pose-lsp (epoch 58), 70 crops: 58
# came out of LCE's interpreter identical to Keras; 29 of the 34 landmarks that moved more than one
# heatmap pixel had a second peak above 0.7 of the top (`python -m convert.parity_study`). The
# share within 0.5 px still counts every confident landmark, ambiguous or not.
AMBIGUOUS_PEAK_RATIO = 0.7
CONFIDENT_PEAK = 0.3  # landmarks whose Keras heatmap peak is below this are not compared


class ArtifactKind(StrEnum):
    """What a conversion writes: the binary model (LCE), its float twin (TFLite, optionally int8)
    and the twin's ONNX export."""

    BINARY = "binary"
    FLOAT = "float"
    INT8 = "int8"
    ONNX = "onnx"


@dataclass(frozen=True)
class Tolerance:
    """How close an artifact must stay to Keras (heatmaps relative to their range, landmarks in
    input pixels on clear landmarks, by ``landmark_mode`` "mean" or "max")."""

    heatmap_max: float | None  # None: unbounded (binary models; see above)
    heatmap_mean: float
    landmark_px: float
    landmark_mode: str
    landmark_min_share: float  # of the confident landmarks within 0.5 px


TOLERANCES = {
    ArtifactKind.BINARY: Tolerance(None, 1e-2, 0.5, "mean", 0.8),
    ArtifactKind.FLOAT: Tolerance(1e-4, 1e-5, 0.5, "max", 1.0),
    ArtifactKind.INT8: Tolerance(5e-2, 1e-2, 2.0, "max", 0.9),
    ArtifactKind.ONNX: Tolerance(1e-4, 1e-5, 0.5, "max", 1.0),
}


class ConversionError(RuntimeError):
    """A conversion or verification failure, with a one-line message naming the fix."""


@dataclass
class ParityReport:
    """An artifact against Keras on the parity crops (``parity``); ``to_dict`` is the JSON format
    of ``<model>.report.json``."""

    crops: int
    crops_identical: int
    landmarks_total: int
    landmarks_confident: int
    landmarks_compared: int
    heatmap_max_abs: float
    heatmap_mean_abs: float
    heatmap_frac_off: float
    landmark_max_px: float
    landmark_mean_px: float
    landmark_mean_px_all_confident: float
    landmark_share_within_half_px: float
    tolerance: Tolerance
    ok: bool = False
    project_kernels: str | None = None  # binary models: the project's kernels against LCE

    @property
    def landmark_error_px(self) -> float:
        """The landmark distance the tolerance bounds (mean or max over clear landmarks)."""
        return self.landmark_mean_px if self.tolerance.landmark_mode == "mean" else self.landmark_max_px

    def to_dict(self) -> dict:
        t = self.tolerance
        d = {k: v for k, v in self.__dict__.items() if k not in ("tolerance", "landmark_share_within_half_px",
                                                                   "project_kernels")}
        d.update({"ambiguous_peak_ratio": AMBIGUOUS_PEAK_RATIO, "heatmap_atol": t.heatmap_max,
                  "heatmap_mean_tol": t.heatmap_mean, "landmark_share_within_0.5px": self.landmark_share_within_half_px,
                  "landmark_tol_px": t.landmark_px, "landmark_tol_mode": t.landmark_mode,
                  "landmark_min_share": t.landmark_min_share})
        if self.project_kernels is not None:
            d["project_kernels"] = self.project_kernels
        return d


@dataclass
class Report:
    model: str
    kind: ArtifactKind
    path: str = ""
    bytes: int = 0
    sha256: str = ""
    census: dict = field(default_factory=dict)
    parity: ParityReport | None = None
    sizes: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {**self.__dict__, "kind": str(self.kind), "parity": self.parity.to_dict() if self.parity else {}}


def _imports():
    try:
        import tensorflow as tf  # noqa: F401
    except ImportError as e:
        raise ConversionError(f"TensorFlow is not installed ({e}); run `make setup` "
                              "(pip install -r requirements.txt)") from None
    try:
        import larq_compute_engine  # noqa: F401
    except ImportError as e:
        raise ConversionError(f"larq-compute-engine is not installed ({e}); run `make setup` "
                              "(pip install larq-compute-engine==0.16.0)") from None


def load_keras(cfg, weights: str | Path | None):
    """``models.hourglass.load_model``, its :class:`~models.hourglass.WeightsError` raised as a
    :class:`ConversionError` (same one-line message). ``weights=None`` keeps the random
    initialisation."""
    from models.hourglass import WeightsError, load_model

    try:
        return load_model(config=cfg, weights=weights)
    except WeightsError as e:
        raise ConversionError(str(e)) from None


def convert_keras(model, kind: ArtifactKind, calibration: np.ndarray | None = None) -> bytes:
    """Keras model -> flatbuffer bytes. ``kind``: "binary" (LCE converter, target arm),
    "float" (stock converter) or "int8" (stock, full-integer post-training quantisation with
    ``calibration`` (N, S, S, 3) float32 inputs; float input/output kept)."""
    import tensorflow as tf

    try:
        if kind == ArtifactKind.BINARY:
            import larq_compute_engine as lce

            return bytes(lce.convert_keras_model(model, target="arm"))
        conv = tf.lite.TFLiteConverter.from_keras_model(model)
        if kind == ArtifactKind.INT8:
            if calibration is None or not len(calibration):
                raise ConversionError("int8 quantisation needs calibration crops")
            conv.optimizations = [tf.lite.Optimize.DEFAULT]

            def rep():
                for x in calibration:
                    yield [x[None].astype(np.float32)]

            conv.representative_dataset = rep
            conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        return bytes(conv.convert())
    except ConversionError:
        raise
    except Exception as e:  # noqa: BLE001 - keep the converter's own message
        msg = " ".join(str(e).split())[:500]
        raise ConversionError(f"{'LCE' if kind == ArtifactKind.BINARY else 'TFLite'} converter failed for "
                              f"{model.name}: {msg}") from None


def embed_metadata(flatbuffer: bytes, key: str, value: bytes) -> bytes:
    """Return ``flatbuffer`` with metadata entry ``key`` set to ``value`` (replacing an old one)."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    m = schema.ModelT.InitFromPackedBuf(bytearray(flatbuffer), 0)
    buf = schema.BufferT()
    buf.data = np.frombuffer(value, np.uint8).copy()
    m.buffers.append(buf)
    md = schema.MetadataT()
    md.name = key
    md.buffer = len(m.buffers) - 1
    m.metadata = [x for x in (m.metadata or []) if x.name not in (key, key.encode())] + [md]
    b = flatbuffers.Builder(len(flatbuffer) + len(value) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def spec_from_tflite(data: bytes) -> ModelSpec | None:
    """The spec embedded in a flatbuffer's metadata, or None."""
    raw = read_model(data).metadata.get(METADATA_KEY)
    return ModelSpec.from_json(raw) if raw else None


def census(flatbuffer: bytes, model) -> dict:
    """Op census and the check that every binarized conv became ``LceBconv2d``.

    Raises :class:`ConversionError` naming the Keras layer(s) left as float convolutions."""
    import larq as lq

    info = read_model(flatbuffer)
    counts = dict(sorted(info.op_counts.items()))
    binary_layers = [layer.name for layer in model.layers
                     if isinstance(layer, lq.layers.QuantConv2D) and layer.kernel_quantizer is not None]
    n_bconv = counts.get("LceBconv2d", 0)
    if len(binary_layers) != n_bconv:
        float_convs = [info.tensors[o].name for op in info.ops if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D")
                       for o in op.outputs]
        stuck = [n for n in binary_layers if any(f"/{n}/" in t or t.endswith(f"/{n}") for t in float_convs)]
        raise ConversionError(f"{len(binary_layers) - n_bconv} binarized conv(s) of {model.name} were not converted "
                              f"to LceBconv2d: {', '.join(stuck) or 'unnamed'}; keep the sign quantizer directly in "
                              "front of each QuantConv2D (no concat/pad/reshape in between)")
    return {"ops": counts, "binary_layers": len(binary_layers), "lce_bconv2d": n_bconv,
            "all_binary_convs_converted": True}


def run_interpreter(flatbuffer: bytes, x: np.ndarray, kind: ArtifactKind) -> np.ndarray:
    """Run (N, S, S, 3) inputs one by one through the runtime's backends: binary models on LCE's
    interpreter, float ones on tflite-runtime. Returns (N, H, W, K) float32."""
    from runtime.backends import load_backend

    backend = load_backend(flatbuffer, "lce" if kind == ArtifactKind.BINARY else "tflite", threads=1)
    return np.concatenate([backend.run(xi[None]) for xi in x])


def kernel_parity(flatbuffer: bytes, x: np.ndarray, lce_hm: np.ndarray) -> str:
    """Run the binary model on the project's kernels (``runtime.kernels`` on tflite-runtime) and
    require the heatmaps LCE's interpreter gave, bit for bit. Returns "bit-exact (<isa>)" or
    "skipped: <why>" where the kernels cannot run here."""
    from runtime.backends import TFLiteBackend, kernels_available

    ok, why = kernels_available()
    if not ok:
        return f"skipped: {why}"
    backend = TFLiteBackend(flatbuffer, threads=1)
    ours = np.concatenate([backend.run(xi[None]) for xi in x])
    if not np.array_equal(ours, lce_hm):
        raise ConversionError(f"the project's binary kernels differ from LCE's interpreter on this model "
                              f"(max |diff| {float(np.abs(ours - lce_hm).max()):.3g}); report a bug")
    return f"bit-exact ({backend.kernels})"


def landmark_moves(keras_hm: np.ndarray, other_hm: np.ndarray, spec: ModelSpec,
                   ratio: float = AMBIGUOUS_PEAK_RATIO) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """How far each decoded landmark of ``other_hm`` lies from Keras's, for two (N, H, W, K) heatmap
    stacks. Returns ``(distances, confident, clear)``: (N, K) float input pixels, and (N, K) bool
    masks: Keras's peak >= CONFIDENT_PEAK, and confident with no other peak >= ``ratio`` of it."""
    xy_k, conf = spec.decode(keras_hm)
    xy_o, _ = spec.decode(other_hm)
    d = np.linalg.norm(codec.heatmap_to_input(xy_k, spec.stride) - codec.heatmap_to_input(xy_o, spec.stride), axis=-1)
    confident = conf >= CONFIDENT_PEAK
    return d, confident, confident & (codec.peak_ambiguity(keras_hm) < ratio)


def parity(keras_hm: np.ndarray, lite_hm: np.ndarray, spec: ModelSpec, kind: ArtifactKind) -> ParityReport:
    """Compare heatmaps and decoded landmarks (input pixels). Raises :class:`ConversionError`
    beyond the kind's :data:`TOLERANCES`."""
    tol = TOLERANCES[ArtifactKind(kind)]
    # heatmap differences relative to the heatmaps' range (at least 1): trained models peak near 1
    diff = np.abs(keras_hm - lite_hm) / max(1.0, float(np.abs(keras_hm).max()))
    # Where Keras itself has no clear peak (low, or two nearly level) the argmax is arbitrary:
    # distances are bounded on clear landmarks, the share within 0.5 px on all confident ones.
    d_all, confident, clear = landmark_moves(keras_hm, lite_hm, spec)
    d = d_all[clear] if clear.any() else np.zeros(1)
    share = float((d_all[confident] <= 0.5).mean()) if confident.any() else 1.0
    per_crop = diff.reshape(len(diff), -1).max(axis=1)
    rep = ParityReport(
        crops=int(len(keras_hm)), crops_identical=int((per_crop <= 1e-4).sum()), landmarks_total=int(confident.size),
        landmarks_confident=int(confident.sum()), landmarks_compared=int(clear.sum()),
        heatmap_max_abs=float(diff.max()), heatmap_mean_abs=float(diff.mean()),
        heatmap_frac_off=float((diff > 1e-3).mean()), landmark_max_px=float(d.max()), landmark_mean_px=float(d.mean()),
        landmark_mean_px_all_confident=float(d_all[confident].mean()) if confident.any() else 0.0,
        landmark_share_within_half_px=share, tolerance=tol)
    rep.ok = bool((tol.heatmap_max is None or rep.heatmap_max_abs <= tol.heatmap_max)
                  and rep.heatmap_mean_abs <= tol.heatmap_mean and rep.landmark_error_px <= tol.landmark_px
                  and share >= tol.landmark_min_share)
    if not rep.ok:
        raise ConversionError(f"parity check failed for {spec.name} ({kind}): heatmaps differ by up to "
                              f"{rep.heatmap_max_abs:.3g} (tol {tol.heatmap_max}), on average "
                              f"{rep.heatmap_mean_abs:.2g} (tol {tol.heatmap_mean}); landmarks by "
                              f"{tol.landmark_mode} {rep.landmark_error_px:.2f} px (tol {tol.landmark_px}) on "
                              f"{rep.landmarks_compared} clear landmarks, {100 * share:.1f} % of "
                              f"{rep.landmarks_confident} confident ones within 0.5 px "
                              f"(need {100 * tol.landmark_min_share:.0f} %)")
    return rep


def _tool_versions() -> dict:
    return versions("tensorflow-cpu", "tf-keras", "larq", "larq-compute-engine", "numpy", "tflite-runtime")


def weights_label(weights) -> str:
    """What a spec records as its weights: the file's name and sha256 (or "random-init")."""
    return "random-init" if weights is None else f"{Path(weights).name} sha256:{_sha(Path(weights).read_bytes())}"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def convert(
    cfg,
    *,
    weights: str | Path | None,
    out_dir: str | Path = "build",
    kind: ArtifactKind | str | None = None,
    stem: str | None = None,
    shared_data: Path | None = SHARED_DATA,
    calibration: np.ndarray | None = None,
) -> Report:
    """Convert and verify one config. Writes ``<out_dir>/<stem>.tflite``, ``<stem>.json`` (spec
    sidecar) and ``<stem>.report.json``; nothing is written if any check fails.

    Args:
        cfg: a ``models.configs.Config``.
        weights: Keras .h5 weights, or None for the random initialisation (sizes/tests only).
        kind: "binary" or "float" (default from ``cfg.binary``) or "int8".
    """
    from convert.fixtures import parity_crops

    _imports()
    kind = ArtifactKind(kind or ("binary" if cfg.binary else "float"))
    if kind == ArtifactKind.BINARY and not cfg.binary:
        raise ConversionError(f"{cfg.name} is real-valued: convert it as float or int8")
    if not cfg.binary_weights:
        raise ConversionError(f"{cfg.name} has binary_weights=false, a training stage with real-valued kernels: "
                              "train the binary model from it (`--init` its best.h5) and convert that")
    model = load_keras(cfg, weights)
    spec = cfg.spec()
    spec.weights = weights_label(weights)
    spec.shape_correction = shape.for_weights(cfg.name, spec.weights)
    spec.tools = _tool_versions()
    x = parity_crops(spec, shared_data)
    fb = convert_keras(model, kind, calibration if calibration is not None else x)
    rep = Report(model=cfg.name, kind=kind)
    rep.census = (census(fb, model) if kind == ArtifactKind.BINARY
                  else {"ops": dict(sorted(read_model(fb).op_counts.items()))})
    keras_hm = np.asarray(model.predict(x, verbose=0, batch_size=4), np.float32)
    lite_hm = run_interpreter(fb, x, kind)
    rep.parity = parity(keras_hm, lite_hm, spec, kind)
    if kind == ArtifactKind.BINARY:
        rep.parity.project_kernels = kernel_parity(fb, x, lite_hm)
    fb = embed_metadata(fb, METADATA_KEY, spec.to_json().encode())
    spec.tflite_sha256 = _sha(fb)
    stem = stem or cfg.name + ("-int8" if kind == ArtifactKind.INT8 else "")
    out = Path(out_dir)
    path = out / f"{stem}.tflite"
    rep.path, rep.bytes, rep.sha256 = str(path), len(fb), spec.tflite_sha256
    atomic_write_bytes(path, fb)
    spec.save(sidecar_path(path))
    atomic_write_bytes(out / f"{stem}.report.json", (json.dumps(rep.to_dict(), indent=1) + "\n").encode())
    return rep


def convert_onnx(cfg, *, weights: str | Path | None, out_dir: str | Path = "build",
                 shared_data: Path | None = SHARED_DATA) -> Report:
    """Real-valued hierarchical config -> ``<out_dir>/<name>.onnx`` through the PyTorch twin and
    ``torch.onnx``, checked in onnxruntime against Keras; spec in the sidecar ``<name>.onnx.json``
    and in the ONNX ``metadata_props``."""
    from convert.fixtures import parity_crops

    _imports()
    try:
        import onnx
        import onnxruntime as ort

        from convert.torch_twin import export_onnx, from_keras
    except ImportError as e:
        raise ConversionError(f"ONNX export needs torch, onnx and onnxruntime ({e}); run `make setup`") from None
    model = load_keras(cfg, weights)
    spec = cfg.spec()
    spec.weights = weights_label(weights)
    spec.shape_correction = shape.for_weights(cfg.name, spec.weights)
    spec.tools = {**_tool_versions(), **versions("torch", "onnx", "onnxruntime")}
    x = parity_crops(spec, shared_data)
    net = from_keras(model, cfg)
    out = Path(out_dir)
    path = out / f"{cfg.name}.onnx"
    tmp = out / f".{cfg.name}.onnx.export"
    out.mkdir(parents=True, exist_ok=True)
    try:
        raw = export_onnx(net, cfg.input_size, tmp)
    except Exception as e:  # noqa: BLE001
        raise ConversionError(f"torch.onnx export failed for {cfg.name}: {' '.join(str(e).split())[:400]}") from None
    finally:
        tmp.unlink(missing_ok=True)
    om = onnx.load_from_string(raw)
    om.metadata_props.add(key=METADATA_KEY, value=spec.to_json())
    data = om.SerializeToString()
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    lite = np.concatenate([sess.run(None, {"image": xi[None]})[0] for xi in x])
    keras_hm = np.asarray(model.predict(x, verbose=0, batch_size=4), np.float32)
    rep = Report(model=cfg.name, kind=ArtifactKind.ONNX)
    rep.census = {"ops": dict(sorted(__import__("collections").Counter(n.op_type for n in om.graph.node).items()))}
    rep.parity = parity(keras_hm, lite, spec, ArtifactKind.ONNX)
    spec.tflite_sha256 = None
    rep.path, rep.bytes, rep.sha256 = str(path), len(data), _sha(data)
    atomic_write_bytes(path, data)
    spec.onnx_sha256 = rep.sha256
    spec.save(sidecar_path(path))
    return rep

