"""A PyTorch mirror of ``models.hourglass.build_model``, for training on a GPU machine without
TensorFlow (``python -m models.gpu_train``).

Paper: Bulat & Tzimiropoulos, ICCV 2017, https://arxiv.org/abs/1703.00862.

Every Conv2D / QuantConv2D / BatchNormalization of the Keras model has a module here under the
same layer name, computing the same function:

* binary unit: BN -> sign (larq ``ste_sign``: sign(0) = +1, straight-through gradient zeroed where
  ``|x| > 1``) -> pad with +1 ("same", ``pad_values=1.0``) -> conv with ``magnitude_aware_sign``
  weights (per output channel mean ``|W|`` times sign(W), the scale without gradient); latent
  weights clipped to [-1, 1] after each step (``weight_clip``);
* binary unit with ``conv_act="prelu"``: the conv's output through a per-channel PReLU;
* real unit: BN -> ReLU -> conv, zero "same" padding;
* the stem's 7x7/2 "same" conv pads 2 before and 3 after (TensorFlow's rule on even inputs).

Weights travel as ``.npz`` files keyed ``"<keras layer name>/<i>"`` holding the Keras layer's
``get_weights()[i]`` (conv kernels HWIO, BN gamma, beta, moving mean, moving variance), so a GPU
machine needs neither TensorFlow nor h5 files: ``keras_weights`` / ``load_keras_weights`` here,
``models.gpu_train export`` on the TensorFlow side.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from models.configs import Config, get_config
from models.weights import check_covers

BN_MOMENTUM = 0.1  # torch convention; Keras momentum 0.9 in models.hourglass
BN_EPSILON = 1e-5
PRELU_INIT = 0.25  # models.hourglass.PRELU_INIT


class _SteSign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x >= 0, 1.0, -1.0).to(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return torch.where(x.abs() <= 1, g, 0.0)


def ste_sign(x: torch.Tensor) -> torch.Tensor:
    """larq's ``ste_sign``: +-1 (0 -> +1) forward, gradient passed where ``|x| <= 1``."""
    return _SteSign.apply(x)


class BinaryConv(nn.Conv2d):
    """``lq.layers.QuantConv2D(padding="same", pad_values=1.0, input_quantizer="ste_sign",
    kernel_quantizer="magnitude_aware_sign" | "ste_sign" | None, use_bias=False)``; odd kernels only.
    ``binary_weights=False``: the kernel used as it is (``Config.binary_weights``)."""

    def __init__(self, cin: int, cout: int, kernel: int, *, scaled: bool, binary_weights: bool = True):
        super().__init__(cin, cout, kernel, bias=False)
        self.scaled = scaled
        self.binary_weights = binary_weights

    def forward(self, x):
        x = ste_sign(x)
        p = self.kernel_size[0] // 2
        if p:
            x = F.pad(x, (p, p, p, p), value=1.0)
        if not self.binary_weights:
            return F.conv2d(x, self.weight)
        w = ste_sign(self.weight)
        if self.scaled:
            w = w * self.weight.detach().abs().mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, w)


class TorchHourglass(nn.Module):
    """The hourglass of ``models.hourglass.build_model(config=cfg, intermediate_outputs=True)``,
    or with ``fold_reinjection`` of its inference graph (``fold_reinjection=True`` there).

    ``forward`` takes (N, 3, S, S) float32 normalised RGB (NCHW) and returns a list of the
    (N, K, S/4, S/4) heatmap tensors of each stack (of the last one only when folded), the last
    one being the model's output.
    """

    def __init__(self, cfg: Config | str, fold_reinjection: bool = False):
        super().__init__()
        cfg = get_config(cfg)
        if cfg.block != "hierarchical":
            raise ValueError(f"the PyTorch mirror builds hierarchical configs; {cfg.name} is {cfg.block}")
        self.cfg = cfg
        self.layers = nn.ModuleDict()
        self._chans: dict[str, int] = {}
        w = cfg.width
        self.layers["stem_conv"] = nn.Conv2d(3, w // 4, 7, stride=2, bias=True)
        self.layers["stem_bn"] = self._bn_mod(w // 4)
        c = self._block_def("pre1", w // 4, w // 2)
        c = self._block_def("pre2", c, w // 2)
        c = self._block_def("pre3", c, w)
        for s in range(cfg.stacks):
            self._hourglass_def(f"hg{s}", cfg.depth, w)
            self._block_def(f"out{s}_block", w, w)
            self._unit_def(f"out{s}_lin", w, w, 1)
            self.layers[f"out{s}_bn"] = self._bn_mod(w)
            if fold_reinjection and s < cfg.stacks - 1:
                self.layers[f"reinject{s}"] = nn.Conv2d(w, w, 1, bias=True)
                continue
            self.layers[f"out{s}_heatmaps"] = nn.Conv2d(w, cfg.num_keypoints, 1, bias=True)
            if s < cfg.stacks - 1:
                self.layers[f"reinject{s}_features"] = nn.Conv2d(w, w, 1, bias=True)
                self.layers[f"reinject{s}_heatmaps"] = nn.Conv2d(cfg.num_keypoints, w, 1, bias=True)
        self.reset_parameters()

    # -- definition ------------------------------------------------------------------------
    @staticmethod
    def _bn_mod(c):
        return nn.BatchNorm2d(c, eps=BN_EPSILON, momentum=BN_MOMENTUM)

    def _conv_name(self, name):
        return f"{name}_bconv" if self.cfg.binary else f"{name}_conv"

    def _unit_def(self, name, cin, cout, k):
        self.layers[f"{name}_bn"] = self._bn_mod(cin)
        if self.cfg.binary:
            self.layers[f"{name}_bconv"] = BinaryConv(cin, cout, k, scaled=self.cfg.scaled_weights,
                                                      binary_weights=self.cfg.binary_weights)
            if self.cfg.conv_act == "prelu":
                self.layers[f"{name}_prelu"] = nn.PReLU(cout, init=PRELU_INIT)
        else:
            self.layers[f"{name}_conv"] = nn.Conv2d(cin, cout, k, padding=k // 2, bias=False)

    def _block_def(self, name, cin, cout):
        a, b = cout // 2, cout // 4
        h = cin
        for i, c in enumerate((a, b, cout - a - b)):
            self._unit_def(f"{name}_{i + 1}", h, c, 3)
            h = c
        if cin != cout:
            self._unit_def(f"{name}_skip", cin, cout, 1)
        return cout

    def _hourglass_def(self, name, depth, w):
        self._block_def(f"{name}_up1", w, w)
        self._block_def(f"{name}_low1", w, w)
        if depth > 1:
            self._hourglass_def(f"{name}_d{depth - 1}", depth - 1, w)
        else:
            self._block_def(f"{name}_low2", w, w)
        self._block_def(f"{name}_low3", w, w)

    def reset_parameters(self):
        """Keras' initialisers: Glorot-uniform kernels, zero biases, BN gamma 1 / beta 0."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    # -- forward ---------------------------------------------------------------------------
    def _unit(self, x, name):
        x = self.layers[f"{name}_bn"](x)
        if self.cfg.binary:
            x = self.layers[f"{name}_bconv"](x)
            return self.layers[f"{name}_prelu"](x) if self.cfg.conv_act == "prelu" else x
        return self.layers[f"{name}_conv"](F.relu(x))

    def _block(self, x, name):
        outs, h = [], x
        for i in range(3):
            h = self._unit(h, f"{name}_{i + 1}")
            outs.append(h)
        y = torch.cat(outs, 1)
        skip = self._unit(x, f"{name}_skip") if f"{name}_skip_bn" in self.layers else x
        return y + skip

    def _hourglass(self, x, depth, name):
        up1 = self._block(x, f"{name}_up1")
        low = self._block(F.max_pool2d(x, 2), f"{name}_low1")
        low = self._hourglass(low, depth - 1, f"{name}_d{depth - 1}") if depth > 1 else self._block(low, f"{name}_low2")
        low = self._block(low, f"{name}_low3")
        return up1 + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x):
        L = self.layers
        x = F.relu(L["stem_bn"](L["stem_conv"](F.pad(x, (2, 3, 2, 3)))))
        x = self._block(x, "pre1")
        x = self._block(F.max_pool2d(x, 2), "pre2")
        x = self._block(x, "pre3")
        outs = []
        for s in range(self.cfg.stacks):
            h = self._block(self._hourglass(x, self.cfg.depth, f"hg{s}"), f"out{s}_block")
            h = self._unit(h, f"out{s}_lin")
            feats = F.relu(L[f"out{s}_bn"](h))
            if f"reinject{s}" in L:
                x = x + L[f"reinject{s}"](feats)
                continue
            heat = L[f"out{s}_heatmaps"](feats)
            outs.append(heat)
            if s < self.cfg.stacks - 1:
                x = x + L[f"reinject{s}_features"](feats) + L[f"reinject{s}_heatmaps"](heat)
        return outs

    def clip_weights_(self):
        """larq's ``weight_clip`` on every binary kernel, clipped to [-1, 1] in two multi-tensor
        ops (call after ``optimizer.step()``)."""
        ws = [m.weight for m in self.modules() if isinstance(m, BinaryConv) and m.binary_weights]
        if ws:
            with torch.no_grad():
                torch._foreach_clamp_min_(ws, -1.0)
                torch._foreach_clamp_max_(ws, 1.0)


# -- weights in Keras layout ---------------------------------------------------------------------
def keras_weights(net: TorchHourglass) -> dict[str, np.ndarray]:
    """``{"<keras layer>/<i>": array}``: each layer's Keras ``get_weights()`` list, float32."""
    out = {}
    for name, m in net.layers.items():
        if isinstance(m, nn.Conv2d):
            out[f"{name}/0"] = m.weight.detach().cpu().permute(2, 3, 1, 0).numpy().astype(np.float32)
            if m.bias is not None:
                out[f"{name}/1"] = m.bias.detach().cpu().numpy().astype(np.float32)
        elif isinstance(m, nn.PReLU):  # Keras PReLU(shared_axes=[1, 2]) alpha: (1, 1, C)
            out[f"{name}/0"] = m.weight.detach().cpu().numpy().astype(np.float32).reshape(1, 1, -1)
        else:
            for i, t in enumerate((m.weight, m.bias, m.running_mean, m.running_var)):
                out[f"{name}/{i}"] = t.detach().cpu().numpy().astype(np.float32)
    return out


def load_keras_weights(net: TorchHourglass, weights: dict[str, np.ndarray]) -> TorchHourglass:
    """Load ``keras_weights``-style arrays into ``net``; every module must be covered exactly.

    Raises:
        ValueError: naming the first layer that is missing, extra or of the wrong shape.
    """
    mine = keras_weights(net)
    check_covers(mine, weights, net.cfg.name)
    with torch.no_grad():
        for name, m in net.layers.items():
            if isinstance(m, nn.Conv2d):
                k = np.asarray(weights[f"{name}/0"], np.float32)
                if k.shape != mine[f"{name}/0"].shape:
                    raise ValueError(f"{name}: kernel shape {k.shape}, expected {mine[f'{name}/0'].shape}")
                m.weight.copy_(torch.from_numpy(np.ascontiguousarray(k.transpose(3, 2, 0, 1))))
                if m.bias is not None:
                    m.bias.copy_(torch.from_numpy(np.asarray(weights[f"{name}/1"], np.float32)))
            elif isinstance(m, nn.PReLU):
                m.weight.copy_(torch.from_numpy(np.asarray(weights[f"{name}/0"], np.float32).reshape(-1)))
            else:
                for i, t in enumerate((m.weight, m.bias, m.running_mean, m.running_var)):
                    t.copy_(torch.from_numpy(np.asarray(weights[f"{name}/{i}"], np.float32)))
    return net
