"""The binarized hourglass of Bulat & Tzimiropoulos, in Larq/Keras.

"Binarized Convolutional Landmark Localizers for Human Pose Estimation and Face Alignment with
Limited Resources", ICCV 2017, https://arxiv.org/abs/1703.00862 (and the authors' released 1-stack
binary MPII model). Built like larq/zoo: small builder functions, variants by config.

Every binary convolution is a ``larq.layers.QuantConv2D`` whose input quantizer is the sign
(``ste_sign``: straight-through gradient, zeroed where ``|x| > 1``) applied directly to the
preceding BatchNormalization's output, with ``pad_values=1.0`` for "same" padding: the pattern the
Larq Compute Engine converter turns into ``LceBconv2d``.
"""

from __future__ import annotations

import re
from pathlib import Path

import larq as lq
import numpy as np
import tensorflow as tf

from models.configs import Config, get_config  # noqa: E402

layers = tf.keras.layers

BN_MOMENTUM = 0.9
BN_EPSILON = 1e-5
PRELU_INIT = 0.25  # PyTorch's nn.PReLU default, as in Bulat et al. 2019


class WeightsError(ValueError):
    """Weights that are missing or do not fit the model, with a one-line message naming the fix."""


def _bn(x, name):
    return layers.BatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=name)(x)


def _binary_conv(x, filters, kernel, *, scaled, binary_weights=True, name):
    """BN output -> sign -> binary conv (no bias, no activation); with ``binary_weights=False``
    the kernel stays real-valued (a training stage, ``Config.binary_weights``)."""
    return lq.layers.QuantConv2D(
        filters, kernel, padding="same", pad_values=1.0, use_bias=False,
        input_quantizer="ste_sign",
        kernel_quantizer=("magnitude_aware_sign" if scaled else "ste_sign") if binary_weights else None,
        kernel_constraint="weight_clip" if binary_weights else None, name=name,
    )(x)


def _real_conv(x, filters, kernel, *, name, use_bias=False):
    return layers.Conv2D(filters, kernel, padding="same", use_bias=use_bias, name=name)(x)


def _unit(x, filters, kernel, cfg: Config, name):
    """Pre-activation conv unit: BN -> sign -> bconv [-> PReLU] (binary) or BN -> ReLU -> conv (real)."""
    x = _bn(x, f"{name}_bn")
    if cfg.binary:
        x = _binary_conv(x, filters, kernel, scaled=cfg.scaled_weights, binary_weights=cfg.binary_weights,
                         name=f"{name}_bconv")
        if cfg.conv_act == "prelu":
            x = layers.PReLU(alpha_initializer=tf.keras.initializers.Constant(PRELU_INIT), shared_axes=[1, 2],
                             name=f"{name}_prelu")(x)
        return x
    x = layers.ReLU(name=f"{name}_relu")(x)
    return _real_conv(x, filters, kernel, name=f"{name}_conv")


def hierarchical_widths(out_channels: int) -> tuple[int, int, int]:
    """Output channels of the three chained 3x3 convs: Cout/2, Cout/4, Cout/4."""
    a, b = out_channels // 2, out_channels // 4
    return a, b, out_channels - a - b


def bottleneck_width(in_channels: int, out_channels: int) -> int:
    """Inner width M of the bottleneck baseline (1x1 -> 3x3 -> 1x1) whose weight count
    ``Cin*M + 9*M^2 + M*Cout`` is closest to the hierarchical block's."""
    a, b, c = hierarchical_widths(out_channels)
    budget = 9 * (in_channels * a + a * b + b * c)
    return min(range(1, 4 * out_channels), key=lambda m: abs(in_channels * m + 9 * m * m + m * out_channels - budget))


def _skip(x, out_channels, cfg: Config, name):
    if x.shape[-1] == out_channels:
        return x
    return _unit(x, out_channels, 1, cfg, f"{name}_skip")


def hierarchical_block(x, out_channels: int, cfg: Config, *, name: str):
    """The proposed hierarchical, parallel & multi-scale block (FAN's ConvBlock when real).

    Three chained 3x3 units with Cout/2, Cout/4, Cout/4 outputs; their outputs are concatenated
    and added to the skip (identity, or a 1x1 unit when the channel count changes).
    """
    outs, h = [], x
    for i, c in enumerate(hierarchical_widths(out_channels)):
        h = _unit(h, c, 3, cfg, f"{name}_{i + 1}")
        outs.append(h)
    y = layers.Concatenate(name=f"{name}_concat")(outs)
    return layers.Add(name=f"{name}_add")([y, _skip(x, out_channels, cfg, name)])


def bottleneck_block(x, out_channels: int, cfg: Config, *, name: str):
    """The bottleneck baseline (1x1 -> 3x3 -> 1x1) with the hierarchical block's parameter budget."""
    m = bottleneck_width(x.shape[-1], out_channels)
    h = _unit(x, m, 1, cfg, f"{name}_1")
    h = _unit(h, m, 3, cfg, f"{name}_2")
    h = _unit(h, out_channels, 1, cfg, f"{name}_3")
    return layers.Add(name=f"{name}_add")([h, _skip(x, out_channels, cfg, name)])


def block(x, out_channels: int, cfg: Config, *, name: str):
    """The config's block type."""
    fn = hierarchical_block if cfg.block == "hierarchical" else bottleneck_block
    return fn(x, out_channels, cfg, name=name)


def hourglass(x, depth: int, cfg: Config, *, name: str):
    """Newell et al.'s hourglass: a block on the skip branch, max-pool down, recurse, nearest x2 up."""
    up1 = block(x, cfg.width, cfg, name=f"{name}_up1")
    low = layers.MaxPool2D(2, name=f"{name}_pool")(x)
    low = block(low, cfg.width, cfg, name=f"{name}_low1")
    if depth > 1:
        low = hourglass(low, depth - 1, cfg, name=f"{name}_d{depth - 1}")
    else:
        low = block(low, cfg.width, cfg, name=f"{name}_low2")
    low = block(low, cfg.width, cfg, name=f"{name}_low3")
    up2 = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(low)
    return layers.Add(name=f"{name}_add")([up1, up2])


def stem(x, cfg: Config):
    """Real-valued 7x7/2 conv -> BN -> ReLU, block, 2x2 max-pool, block, block (to ``width``)."""
    w = cfg.width
    x = layers.Conv2D(w // 4, 7, strides=2, padding="same", use_bias=True, name="stem_conv")(x)
    x = _bn(x, "stem_bn")
    x = layers.ReLU(name="stem_relu")(x)
    x = block(x, w // 2, cfg, name="pre1")
    x = layers.MaxPool2D(2, name="pre_pool")(x)
    x = block(x, w // 2, cfg, name="pre2")
    return block(x, w, cfg, name="pre3")


def head(x, cfg: Config, *, name: str):
    """Block, then BN -> sign -> binary 1x1 conv, then real BN -> ReLU: the stack's features,
    which feed its heatmaps conv (:func:`heatmaps`) and the next stack."""
    x = block(x, cfg.width, cfg, name=f"{name}_block")
    x = _unit(x, cfg.width, 1, cfg, f"{name}_lin")
    x = _bn(x, f"{name}_bn")
    return layers.ReLU(name=f"{name}_relu")(x)


def heatmaps(feats, cfg: Config, *, name: str):
    """The real-valued 1x1 conv from a stack's features to its K heatmaps."""
    return layers.Conv2D(cfg.num_keypoints, 1, use_bias=True, name=f"{name}_heatmaps")(feats)


def build_model(
    *, config: str | Config, intermediate_outputs: bool = False, fold_reinjection: bool = False,
    name: str | None = None,
) -> tf.keras.Model:
    """Build the (binarized) hourglass landmark localizer for a named config.

    Paper: Bulat & Tzimiropoulos, ICCV 2017, https://arxiv.org/abs/1703.00862.

    Args:
        config: a name from ``models.configs.CONFIGS`` or a :class:`Config`.
        intermediate_outputs: output every stack's heatmaps (a list, for intermediate
            supervision in training) instead of only the last one.
        fold_reinjection: the inference graph of a multi-stack model: a stack's heatmaps conv and
            its two re-injection convs, all linear, become one 1x1 conv (``reinject<s>``, weights
            from :func:`fold_reinjection_weights`), the same function up to float rounding with
            fewer multiply-adds. Not with ``intermediate_outputs``.
        name: Keras model name (default: the config name).

    Returns:
        A Keras model mapping (N, S, S, 3) float32 normalised RGB crops to (N, S/4, S/4, K)
        float32 heatmaps (a list of ``stacks`` of them with ``intermediate_outputs``).
    """
    if fold_reinjection and intermediate_outputs:
        raise ValueError("fold_reinjection drops the intermediate heatmaps; pass one of the two")
    cfg = get_config(config)
    inp = layers.Input((cfg.input_size, cfg.input_size, 3), name="image")
    x = stem(inp, cfg)
    outputs = []
    for s in range(cfg.stacks):
        feats = head(hourglass(x, cfg.depth, cfg, name=f"hg{s}"), cfg, name=f"out{s}")
        if s == cfg.stacks - 1:
            outputs.append(heatmaps(feats, cfg, name=f"out{s}"))
        elif fold_reinjection:
            x = layers.Add(name=f"reinject{s}_add")([x, layers.Conv2D(cfg.width, 1, name=f"reinject{s}")(feats)])
        else:  # FAN-style re-injection of features and heatmaps
            heat = heatmaps(feats, cfg, name=f"out{s}")
            outputs.append(heat)
            f = layers.Conv2D(cfg.width, 1, name=f"reinject{s}_features")(feats)
            h = layers.Conv2D(cfg.width, 1, name=f"reinject{s}_heatmaps")(heat)
            x = layers.Add(name=f"reinject{s}_add")([x, f, h])
    out = outputs if intermediate_outputs else outputs[-1]
    return tf.keras.Model(inp, out, name=(name or cfg.name).replace("-", "_"))


def fold_reinjection_weights(weights: dict[str, np.ndarray], stacks: int) -> dict[str, np.ndarray]:
    """Weights ``{"<layer>/<i>": array}`` of the training graph -> those of
    ``build_model(fold_reinjection=True)``: for each stack s but the last, features f (1x1 convs,
    kernels (1, 1, C, K) / (1, 1, K, C) / (1, 1, C, C)) re-enter as
    ``f Wf + bf + (f Wh + bh) Wr + br = f (Wf + Wh Wr) + (bf + bh Wr + br)``, computed in float64."""
    out = dict(weights)
    for s in range(stacks - 1):
        wh, bh = (out.pop(f"out{s}_heatmaps/{i}").astype(np.float64) for i in (0, 1))
        wf, bf = (out.pop(f"reinject{s}_features/{i}").astype(np.float64) for i in (0, 1))
        wr, br = (out.pop(f"reinject{s}_heatmaps/{i}").astype(np.float64) for i in (0, 1))
        out[f"reinject{s}/0"] = (wf[0, 0] + wh[0, 0] @ wr[0, 0])[None, None].astype(np.float32)
        out[f"reinject{s}/1"] = (bf + bh @ wr[0, 0] + br).astype(np.float32)
    return out


def load_model(*, config: str | Config, weights: str | Path | None) -> tf.keras.Model:
    """The inference model of ``config`` (``build_model(config=config, fold_reinjection=True)``
    for more than one stack) with ``weights`` loaded (a legacy Keras .h5 of the training graph,
    by layer name).

    ``weights=None`` keeps the random initialisation. The Keras session is cleared and seeded
    first: larq's auto-named ops end up in tensor names, so the same weights give the same
    converted bytes.

    Raises:
        WeightsError: the file is missing, or its layers/shapes do not fit ``config``.
    """
    from models.weights import get_keras_weights, init_from, read_h5_weights

    cfg = get_config(config)
    tf.keras.backend.clear_session()
    tf.keras.utils.set_random_seed(0)
    model = build_model(config=cfg, fold_reinjection=cfg.stacks > 1)
    if weights is None:
        return model
    weights = Path(weights)
    if not weights.is_file():
        raise WeightsError(f"weights file {weights} not found; train with `make train MODEL={cfg.name}` "
                           "or pass WEIGHTS=path/to/weights.h5")
    try:
        init_from(model, fold_reinjection_weights(read_h5_weights(weights), cfg.stacks))
    except (KeyError, ValueError, OSError) as e:
        expected = {k: v.shape for k, v in list(get_keras_weights(model).items())[:3]}
        msg = " ".join(str(e).split())[:400]
        raise WeightsError(f"weights {weights} do not fit model {cfg.name} ({msg}); expected e.g. "
                           f"{expected}; pass the weights trained for this config") from None
    return model


def real_twin_key(key: str) -> str:
    """A weight key ``"<layer>/<i>"`` of a binary model -> the same weight in its real-valued twin
    (``*_bconv`` -> ``*_conv``; every other layer has the same name in both)."""
    layer, i = key.rsplit("/", 1)
    if layer.endswith("_bconv"):
        layer = layer.removesuffix("_bconv") + "_conv"
    return f"{layer}/{i}"


def _stacks(keys) -> int:
    """How many stacks a weight dict's keys (``"hg<s>_..."``) span."""
    return 1 + max((int(m.group(1)) for k in keys if (m := re.match(r"hg(\d+)_", k))), default=0)


def stack_key(key: str, stacks: int) -> str:
    """A weight key of a model with more stacks -> the key it starts from in a model of
    ``stacks`` stacks: every further stack (``hg<s>_*``, ``out<s>_*``) is a copy of the last one."""
    m = re.match(r"(hg|out)(\d+)_", key)
    if m and int(m.group(2)) >= stacks:
        return f"{m.group(1)}{stacks - 1}_{key[m.end():]}"
    return key


def init_weights(model: tf.keras.Model, path: str | Path) -> None:
    """Training's ``--init``: set every weight from a legacy Keras .h5 of the same config, of
    its real-valued twin (two-stage real-to-binary training, Martinez et al. 2020: the binary
    convs start from the float convs' kernels, BN and float layers are copied), or of the same
    config with fewer stacks (each added stack a copy of the file's last one, its re-injection
    convs zero: the deeper model starts with the shallower one's outputs), matched by name.

    Raises:
        WeightsError: the file is missing or does not fit (one line naming the first mismatch).
    """
    from models.weights import get_keras_weights, init_from, read_h5_weights

    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"--init {path} not found; pass a .h5 of this config or of its real-valued twin")
    weights = read_h5_weights(path)
    own = get_keras_weights(model)
    stacks = _stacks(weights)
    if stacks < _stacks(own):
        weights |= {k: np.zeros_like(v) for k, v in own.items() if k.startswith("reinject") and k not in weights}
    twin = not all(stack_key(k, stacks) in weights for k in own)
    try:
        init_from(model, weights, rename=lambda k: stack_key(real_twin_key(k) if twin else k, stacks))
    except ValueError as e:
        raise WeightsError(f"--init {path}: {e}; pass a .h5 of this config (any number of stacks) "
                           "or of its real-valued twin") from None


def count_parameters(model: tf.keras.Model) -> dict:
    """Weight counts: ``binary`` (binarized conv kernels), ``real_conv`` (float conv kernels and
    biases, BN excluded), ``batchnorm`` and ``total``."""
    binary = real = bn = 0
    for layer in model.layers:
        n = sum(int(tf.size(w)) for w in layer.weights)
        if isinstance(layer, lq.layers.QuantConv2D) and layer.kernel_quantizer is not None:
            binary += int(tf.size(layer.kernel))
            real += n - int(tf.size(layer.kernel))
        elif isinstance(layer, layers.BatchNormalization):
            bn += n
        elif isinstance(layer, layers.Conv2D):
            real += n
    return {"binary": binary, "real_conv": real, "batchnorm": bn, "total": binary + real + bn}
