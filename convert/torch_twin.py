"""The PyTorch bridge: our hourglass and FAN's in PyTorch, exported to ONNX.

* ``from_keras``: a real-valued hierarchical Keras model of ours as
  :class:`models.torch_mirror.TorchHourglass` (the one PyTorch definition of our architecture,
  also used for GPU training), wrapped channels-last by :class:`ChannelsLast`;
* ``HourglassNet``: FAN's network (Bulat & Tzimiropoulos, "How far are we from solving the 2D & 3D
  face alignment problem?", ICCV 2017; the face-alignment project) under FAN's module names, so
  that FAN state dicts / TorchScript archives that users download themselves load strictly
  (``load_fan_checkpoint``). FAN's ConvBlock is the real-valued hierarchical block, with average
  pooling, a 3-pixel stem padding and its own head;
* ``export_onnx``: either network to ONNX with ``torch.onnx``, taking and returning channels-last
  tensors like our .tflite models: (N, S, S, 3) float32 normalised RGB -> (N, S/4, S/4, K).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 1e-5


def _bn(c):
    return nn.BatchNorm2d(c, eps=BN_EPS)


class ConvBlock(nn.Module):
    """Real-valued hierarchical block (FAN's ConvBlock): three pre-activated 3x3 convs with
    Cout/2, Cout/4, Cout/4 outputs, concatenated, plus the skip (BN-ReLU-1x1 conv if needed)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        a, b = cout // 2, cout // 4
        c = cout - a - b
        self.bn1, self.conv1 = _bn(cin), nn.Conv2d(cin, a, 3, padding=1, bias=False)
        self.bn2, self.conv2 = _bn(a), nn.Conv2d(a, b, 3, padding=1, bias=False)
        self.bn3, self.conv3 = _bn(b), nn.Conv2d(b, c, 3, padding=1, bias=False)
        self.downsample = None
        if cin != cout:
            self.downsample = nn.Sequential(_bn(cin), nn.ReLU(True), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        o1 = self.conv1(F.relu(self.bn1(x)))
        o2 = self.conv2(F.relu(self.bn2(o1)))
        o3 = self.conv3(F.relu(self.bn3(o2)))
        skip = x if self.downsample is None else self.downsample(x)
        return torch.cat([o1, o2, o3], 1) + skip


class HourGlass(nn.Module):
    """Newell et al.'s hourglass with FAN's module names (b1_L, b2_L, b2_plus_1, b3_L)."""

    def __init__(self, depth: int, features: int):
        super().__init__()
        self.depth = depth
        for level in range(depth, 0, -1):
            self.add_module(f"b1_{level}", ConvBlock(features, features))
            self.add_module(f"b2_{level}", ConvBlock(features, features))
            if level == 1:
                self.add_module(f"b2_plus_{level}", ConvBlock(features, features))
            self.add_module(f"b3_{level}", ConvBlock(features, features))

    def _forward(self, level, x):
        up1 = self._modules[f"b1_{level}"](x)
        low = F.avg_pool2d(x, 2, 2)
        low = self._modules[f"b2_{level}"](low)
        low = self._forward(level - 1, low) if level > 1 else self._modules[f"b2_plus_{level}"](low)
        low = self._modules[f"b3_{level}"](low)
        return up1 + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x):
        return self._forward(self.depth, x)


class HourglassNet(nn.Module):
    """FAN's real-valued stacked hourglass, under FAN's module names: average pooling, stem
    padding 3, head = 1x1 conv (bias) -> BN-ReLU -> 1x1 conv. ``channels_last``: forward takes
    (N, S, S, 3) and returns (N, H, W, K); else NCHW."""

    def __init__(self, num_keypoints: int = 68, width: int = 256, stacks: int = 1, depth: int = 4,
                 channels_last: bool = True):
        super().__init__()
        self.stacks, self.channels_last = stacks, channels_last
        self.conv1 = nn.Conv2d(3, width // 4, 7, stride=2, padding=3)
        self.bn1 = _bn(width // 4)
        self.conv2 = ConvBlock(width // 4, width // 2)
        self.conv3 = ConvBlock(width // 2, width // 2)
        self.conv4 = ConvBlock(width // 2, width)
        for i in range(stacks):
            self.add_module(f"m{i}", HourGlass(depth, width))
            self.add_module(f"top_m_{i}", ConvBlock(width, width))
            self.add_module(f"conv_last{i}", nn.Conv2d(width, width, 1))
            self.add_module(f"bn_end{i}", _bn(width))
            self.add_module(f"l{i}", nn.Conv2d(width, num_keypoints, 1))
            if i < stacks - 1:
                self.add_module(f"bl{i}", nn.Conv2d(width, width, 1))
                self.add_module(f"al{i}", nn.Conv2d(num_keypoints, width, 1))

    def forward(self, x):
        if self.channels_last:
            x = x.permute(0, 3, 1, 2)
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.avg_pool2d(self.conv2(x), 2, 2)
        x = self.conv4(self.conv3(x))
        prev, out = x, None
        for i in range(self.stacks):
            ll = self._modules[f"top_m_{i}"](self._modules[f"m{i}"](prev))
            ll = F.relu(self._modules[f"bn_end{i}"](self._modules[f"conv_last{i}"](ll)))
            out = self._modules[f"l{i}"](ll)
            if i < self.stacks - 1:
                prev = prev + self._modules[f"bl{i}"](ll) + self._modules[f"al{i}"](out)
        return out.permute(0, 2, 3, 1) if self.channels_last else out


# --- Keras -> PyTorch ------------------------------------------------------------------------
class ChannelsLast(nn.Module):
    """A :class:`~models.torch_mirror.TorchHourglass` with the .tflite models' interface:
    (N, S, S, 3) float32 normalised RGB -> (N, S/4, S/4, K) heatmaps of the last stack."""

    channels_last = True

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.permute(0, 3, 1, 2))[-1].permute(0, 2, 3, 1)


def from_keras(keras_model, cfg) -> ChannelsLast:
    """The weights of a real-valued hierarchical Keras model built by
    ``models.hourglass.build_model`` (its re-injection folded or not), in
    :class:`~models.torch_mirror.TorchHourglass` (eval mode), channels-last.

    Raises:
        ValueError: ``cfg`` is binary or not hierarchical, or a layer has no counterpart.
    """
    if cfg.binary or cfg.block != "hierarchical":
        raise ValueError(f"the PyTorch twin mirrors real-valued hierarchical configs; {cfg.name} is "
                         f"{'binary' if cfg.binary else cfg.block}")
    from models.torch_mirror import TorchHourglass, load_keras_weights
    from models.weights import get_keras_weights

    weights = get_keras_weights(keras_model)
    net = TorchHourglass(cfg, fold_reinjection="reinject0/0" in weights)
    return ChannelsLast(load_keras_weights(net, weights)).eval()


# --- FAN checkpoints -------------------------------------------------------------------------
def read_state_dict(path: str | Path) -> dict:
    """A FAN checkpoint: a TorchScript archive (face-alignment >= 1.2 ``.zip``) or a pickled state
    dict (``.pth``/``.pth.tar``, possibly under "state_dict", with "module." prefixes)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        sd = torch.jit.load(str(path), map_location="cpu").state_dict()
    except (RuntimeError, ValueError):
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
        if isinstance(sd, dict) and "state_dict" in sd:
            sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"{path} holds no state dict")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def load_fan_checkpoint(path_or_state: str | Path | dict, channels_last: bool = True) -> HourglassNet:
    """Build a FAN-layout :class:`HourglassNet` sized from the checkpoint and load it strictly.

    Stacks, keypoints and width are read from the state dict (``l{i}.weight``, ``conv1.weight``).
    """
    sd = path_or_state if isinstance(path_or_state, dict) else read_state_dict(path_or_state)
    stacks = len({k.split(".")[0] for k in sd if k.startswith("l") and k[1:].split(".")[0].isdigit()})
    if stacks == 0 or "conv1.weight" not in sd:
        raise ValueError("not a FAN checkpoint: no conv1 / l0 weights")
    k = sd["l0.weight"].shape[0]
    width = sd["conv1.weight"].shape[0] * 4
    depth = max(int(key.split(".")[1][3:]) for key in sd if key.startswith("m0.b1_"))
    net = HourglassNet(k, width, stacks, depth, channels_last).eval()
    sd = {k2: v for k2, v in sd.items() if not k2.endswith("num_batches_tracked")}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    missing = [m for m in missing if not m.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"checkpoint does not match FAN's layout: missing {missing[:5]}, unexpected {unexpected[:5]}")
    return net


def export_onnx(net: nn.Module, input_size: int, path: str | Path, opset: int = 17) -> bytes:
    """Export ``net`` (a :class:`HourglassNet` or :class:`ChannelsLast`) with ``torch.onnx``
    (TorchScript exporter), input "image" (1, S, S, 3) if ``net.channels_last`` else (1, 3, S, S),
    output "heatmaps"; written atomically. Returns the bytes."""
    import io

    from runtime.io import atomic_write_bytes

    net = net.eval()
    buf = io.BytesIO()
    x = torch.zeros(1, input_size, input_size, 3) if net.channels_last else torch.zeros(1, 3, input_size, input_size)
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (x,), buf, input_names=["image"], output_names=["heatmaps"], opset_version=opset,
                          dynamo=False, do_constant_folding=True)
    data = buf.getvalue()
    atomic_write_bytes(path, data)
    return data
