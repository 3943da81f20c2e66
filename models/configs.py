"""Named model configurations: one spec object per name, read by training, conversion and runtime.

Every base model comes in four variants, after the paper's comparison (Bulat & Tzimiropoulos,
ICCV 2017, https://arxiv.org/abs/1703.00862):

* ``NAME``                  binary hierarchical, parallel & multi-scale block (the proposed model)
* ``NAME-real``             real-valued hierarchical block (FAN's ConvBlock), the float twin
* ``NAME-bottleneck``       binary bottleneck baseline with the same parameter budget
* ``NAME-real-bottleneck``  real-valued bottleneck baseline
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from models.keypoints import KEYPOINT_SETS, KeypointSet
from runtime.spec import ModelSpec


@dataclass(frozen=True)
class Config:
    """Architecture and data convention of one model.

    ``width`` is the hourglass' channel count; the stem and the first blocks use
    ``width/4 -> width/2 -> width/2 -> width`` channels (64, 128, 128, 256 for the paper).
    """

    name: str
    task: str  # "face" | "pose"
    keypoints: str  # key of models.keypoints.KEYPOINT_SETS
    input_size: int = 256
    width: int = 256
    stacks: int = 1
    depth: int = 4
    block: str = "hierarchical"  # "hierarchical" | "bottleneck"
    binary: bool = True
    scaled_weights: bool = True  # per-output-channel mean|W| scale on binary weights
    # Activation on each binary conv's output: "none" (the 2017 paper) or "prelu" (per-channel
    # PReLU, alpha 0.25 at init; Bulat et al. 2019, "Improved training of binary networks for human
    # pose estimation and image recognition", https://arxiv.org/abs/1904.05868). Real units keep
    # their pre-activation ReLU and ignore it.
    conv_act: str = "none"
    # False: binary activations with real-valued weights (the binary units' kernels stay float,
    # unclipped), the middle stage of staged real-to-binary training (Martinez et al., ICLR 2020,
    # "Training binary neural networks with real-to-binary convolutions",
    # https://arxiv.org/abs/2003.11535): a model of this config initialises the fully binary one
    # (`--init`, same layer names) with kernels trained for sign inputs. Training only: it does
    # not convert to binary ops.
    binary_weights: bool = True
    crop_scale: float = 1.5
    heatmap_sigma: float = 1.0
    decode_method: str = "quarter"

    def __post_init__(self):
        if self.block not in ("hierarchical", "bottleneck"):
            raise ValueError(f"block must be 'hierarchical' or 'bottleneck', got {self.block!r}")
        if self.conv_act not in ("none", "prelu"):
            raise ValueError(f"conv_act must be 'none' or 'prelu', got {self.conv_act!r}")
        if not self.binary_weights and not self.binary:
            raise ValueError("binary_weights=false is a stage of a binary model: it needs binary=true")
        if self.keypoints not in KEYPOINT_SETS:
            raise ValueError(f"unknown keypoint set {self.keypoints!r}; known: {sorted(KEYPOINT_SETS)}")
        if self.width % 4 or self.width < 16:
            raise ValueError(f"width must be a multiple of 4 and >= 16, got {self.width}")
        down = 4 * 2**self.depth
        if self.input_size % down:
            raise ValueError(f"input_size must be a multiple of {down} for depth {self.depth}, got {self.input_size}")
        if self.stacks < 1:
            raise ValueError(f"stacks must be >= 1, got {self.stacks}")

    @property
    def kps(self) -> KeypointSet:
        return KEYPOINT_SETS[self.keypoints]

    @property
    def num_keypoints(self) -> int:
        return self.kps.num

    @property
    def heatmap_size(self) -> int:
        return self.input_size // 4

    def replace(self, **overrides) -> Config:
        """A copy with ``overrides``; unknown keys raise ``ValueError`` listing the valid ones."""
        known = {f.name for f in dataclasses.fields(self)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise ValueError(f"unknown config keys {bad}; valid keys: {sorted(known)}")
        return dataclasses.replace(self, **overrides)

    # Fields added after models were shipped: recorded only when not at their default, so that a
    # model that does not use them keeps its converted bytes (the spec embeds this dict).
    _RECORDED_WHEN_SET = ("conv_act", "binary_weights")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        for k in self._RECORDED_WHEN_SET:
            if d[k] == type(self).__dataclass_fields__[k].default:
                del d[k]
        return d

    def spec(self) -> ModelSpec:
        """The runtime's :class:`runtime.spec.ModelSpec` for this config."""
        k = self.kps
        return ModelSpec(
            name=self.name, task=self.task, keypoint_names=list(k.names),
            flip_pairs=[tuple(p) for p in k.flip_pairs], skeleton=[tuple(p) for p in k.skeleton],
            input_size=self.input_size, heatmap_size=self.heatmap_size,
            crop_scale=self.crop_scale, decode_method=self.decode_method,
            heatmap_sigma=self.heatmap_sigma, binary=self.binary, config=self.to_dict(),
            detector_calibration=detector_calibration(self.task),
        )


PRETRAINED = Path(__file__).resolve().parent / "pretrained"
CALIBRATION = PRETRAINED / "detector_calibration.json"


def default_weights(name: str) -> Path:
    """Shipped Keras weights of a named config: ``models/pretrained/<name>.h5``."""
    return PRETRAINED / f"{name}.h5"


def detector_calibration(task: str) -> dict:
    """Detector-box -> object-box mappings fitted by ``python -m models.calibrate``, for the
    detectors of ``task`` ("face" or "pose")."""
    from runtime.detectors import TASKS

    if not CALIBRATION.exists():
        return {}
    return {k: {kk: v[kk] for kk in ("dx", "dy", "scale")} for k, v in json.loads(CALIBRATION.read_text()).items()
            if TASKS.get(k, "face") == task}


_BASES = {
    # Shipped defaults: edge size, trainable on 2 CPU cores. Their coarse 32x32 heatmaps are decoded
    # with DARK (smoothed, then a 2-D Newton step on the log), measurably better there than the
    # log-parabola, and that than the quarter-pixel shift (the face model card compares them:
    # `python -m convert.card --model face`; docs/experiments.md).
    # `face` went from width 128 to 160 on 2026-12-01, then to two stacks of width 128 on 2026-12-07
    # (validation NME, docs/experiments.md); `pose-lsp` to width 160 on 2026-12-07 (validation PCK@0.2).
    "face": dict(task="face", keypoints="face68", input_size=128, width=128, stacks=2, crop_scale=1.5,
                 decode_method="dark"),
    "pose-lsp": dict(task="pose", keypoints="lsp14", input_size=128, width=160, crop_scale=1.25,
                     decode_method="dark"),
    # Wider (the paper's 256 channels) at the edge input size, one or two stacks: trained on a GPU
    # with `python -m models.gpu_train` (about 2.5x / 5x the CPU cost of pose-lsp per image).
    "pose-lsp-w256": dict(task="pose", keypoints="lsp14", input_size=128, width=256, crop_scale=1.25,
                          decode_method="dark"),
    "pose-lsp-w256-2s": dict(task="pose", keypoints="lsp14", input_size=128, width=256, stacks=2,
                             crop_scale=1.25, decode_method="dark"),
    # The paper's full size (256x256 input, 256 channels, 64x64 heatmaps).
    "face-256": dict(task="face", keypoints="face68", crop_scale=1.5),
    "pose-lsp-256": dict(task="pose", keypoints="lsp14", crop_scale=1.25),
    # The authors' released 1-stack binary MPII model.
    "pose-mpii": dict(task="pose", keypoints="mpii16", crop_scale=1.25),
}

_VARIANTS = {
    "": dict(binary=True, block="hierarchical"),
    "-real": dict(binary=False, block="hierarchical"),
    "-bottleneck": dict(binary=True, block="bottleneck"),
    "-real-bottleneck": dict(binary=False, block="bottleneck"),
}

# Named variants whose shipped weights were trained before their base changed: the name keeps the
# architecture of its weights. ``real_twin(get_config("face"))`` is the same-architecture twin
# (two stacks, not trained yet); ``face-real`` is the shipped 1-stack one; likewise ``pose-lsp-real``
# (width 128 against the binary model's 160).
_PINNED = {"face-real": dict(width=128, stacks=1), "pose-lsp-real": dict(width=128)}

CONFIGS: dict[str, Config] = {
    base + suffix: Config(name=base + suffix, **{**bkw, **_PINNED.get(base + suffix, {})}, **vkw)
    for base, bkw in _BASES.items()
    for suffix, vkw in _VARIANTS.items()
}


def get_config(name: str | Config, **overrides) -> Config:
    """Look up a named config (optionally with ``KEY=value`` overrides).

    Raises:
        ValueError: unknown name (the message lists the valid ones) or unknown override key.
    """
    if isinstance(name, Config):
        cfg = name
    else:
        if name not in CONFIGS:
            raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(CONFIGS))}")
        cfg = CONFIGS[name]
    return cfg.replace(**overrides) if overrides else cfg


def real_twin(cfg: Config) -> Config:
    """The real-valued config with the same architecture and data convention as ``cfg``. Its name
    is the twin's (``face`` -> ``face-real``); a pinned name (``_PINNED``) may differ from it, and
    :func:`named_weights_fit` says whether that name's shipped weights fit it."""
    name = cfg.name if not cfg.binary else (
        cfg.name.replace("-bottleneck", "-real-bottleneck") if cfg.block == "bottleneck" else cfg.name + "-real")
    return cfg.replace(name=name, binary=False, binary_weights=True)


def named_weights_fit(cfg: Config) -> bool:
    """Whether ``models/pretrained/<cfg.name>.h5`` (if any) was trained for exactly ``cfg``: a twin
    made by :func:`real_twin` may carry the name of a pinned config of another architecture."""
    return CONFIGS.get(cfg.name) == cfg


def parse_overrides(items: list[str]) -> dict:
    """Parse ``["width=64", "binary=false"]`` into typed overrides (types from :class:`Config`)."""
    types = {f.name: f.type for f in dataclasses.fields(Config)}
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not KEY=value")
        k, v = item.split("=", 1)
        if k not in types:
            raise ValueError(f"unknown config key {k!r}; valid keys: {sorted(types)}")
        t = types[k]
        if t in ("bool", bool):
            if v.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise ValueError(f"{k} must be true or false, got {v!r}")
            out[k] = v.lower() in ("1", "true", "yes")
        elif t in ("int", int):
            out[k] = int(v)
        elif t in ("float", float):
            out[k] = float(v)
        else:
            out[k] = v
    return out
