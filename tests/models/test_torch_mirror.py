"""models.torch_mirror computes the Keras model's function, and weights round-trip both ways."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
tf = pytest.importorskip("tensorflow")

from models.configs import get_config  # noqa: E402
from models.gpu_train import effective_weights, expand_weights  # noqa: E402
from models.hourglass import build_model  # noqa: E402
from models.torch_mirror import TorchHourglass, keras_weights, load_keras_weights  # noqa: E402
from models.weights import get_keras_weights, set_keras_weights  # noqa: E402


def _small(name, **kw):
    return get_config(name, input_size=64, width=32, **kw)


def _randomise(weights, rng):
    out = {}
    for k, v in weights.items():
        layer, i = k.split("/")
        if layer.endswith("_bn"):
            # gamma, beta, moving mean, moving variance
            v = rng.uniform(0.5, 1.5, v.shape) if i in ("0", "3") else rng.normal(0, 0.3, v.shape)
            out[k] = v.astype(np.float32)
        else:
            out[k] = rng.normal(0, 0.2, v.shape).astype(np.float32)
    return out


@pytest.mark.parametrize("name,stacks,act,bw", [("pose-lsp-real", 2, "none", True), ("pose-lsp", 1, "none", True),
                                                 ("pose-lsp", 2, "none", True), ("pose-lsp", 1, "prelu", True),
                                                 ("pose-lsp", 1, "none", False)])
def test_torch_mirror_matches_keras(name, stacks, act, bw):
    cfg = _small(name, stacks=stacks).replace(conv_act=act, binary_weights=bw)
    rng = np.random.default_rng(0)
    tf.keras.backend.clear_session()
    keras = build_model(config=cfg, intermediate_outputs=True)
    w = _randomise(get_keras_weights(keras), rng)
    set_keras_weights(keras, w)
    net = load_keras_weights(TorchHourglass(cfg), w).eval()
    x = rng.uniform(-1, 1, (2, cfg.input_size, cfg.input_size, 3)).astype(np.float32)
    ref = keras(x, training=False)
    ref = [o.numpy() for o in (ref if isinstance(ref, list) else [ref])]
    with torch.no_grad():
        got = [o.permute(0, 2, 3, 1).numpy() for o in net(torch.from_numpy(x).permute(0, 3, 1, 2))]
    assert len(got) == len(ref) == stacks
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        if cfg.binary:
            # a pre-activation within float rounding of zero may take the other sign; nearly all agree
            close = np.isclose(r, g, rtol=1e-3, atol=1e-3 * np.abs(r).max())
            assert close.mean() > 0.95, close.mean()
        else:
            np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-4 * np.abs(r).max())
    # and back: torch's weights in Keras layout are the ones loaded
    back = keras_weights(net)
    assert set(back) == set(w)
    for k in w:
        np.testing.assert_array_equal(back[k], w[k])


def test_effective_weights_binarize_like_latent_weights():
    cfg = _small("pose-lsp")
    rng = np.random.default_rng(1)
    net = TorchHourglass(cfg)
    w = _randomise(keras_weights(net), rng)
    eff = expand_weights(effective_weights(w, cfg))
    assert set(eff) == set(w)
    for k, v in w.items():
        if k.split("/")[0].endswith("_bconv"):
            np.testing.assert_array_equal(np.sign(eff[k]) >= 0, v >= 0)
            np.testing.assert_allclose(np.abs(eff[k]).mean(axis=(0, 1, 2)), np.abs(v).mean(axis=(0, 1, 2)), rtol=1e-5)
        else:
            np.testing.assert_array_equal(eff[k], v)
    # the same network output from both
    x = torch.from_numpy(rng.uniform(-1, 1, (1, 3, 64, 64)).astype(np.float32))
    a = load_keras_weights(TorchHourglass(cfg), w).eval()
    b = load_keras_weights(TorchHourglass(cfg), eff).eval()
    with torch.no_grad():
        np.testing.assert_allclose(b(x)[-1].numpy(), a(x)[-1].numpy(), rtol=1e-4, atol=1e-4)


def test_real_kernels_of_a_training_stage_travel_as_they_are_and_are_not_clipped():
    cfg = _small("pose-lsp", binary_weights=False)
    net = TorchHourglass(cfg)
    w = {k: v * 3 for k, v in _randomise(keras_weights(net), np.random.default_rng(2)).items()}
    eff = expand_weights(effective_weights(w, cfg))
    assert all(np.array_equal(eff[k], w[k]) for k in w)
    load_keras_weights(net, w).clip_weights_()
    back = keras_weights(net)
    assert max(np.abs(back[k]).max() for k in back if k.split("/")[0].endswith("_bconv")) > 1


def test_wrong_weights_are_named():
    cfg = _small("pose-lsp")
    w = keras_weights(TorchHourglass(cfg))
    w.pop("stem_conv/0")
    with pytest.raises(ValueError, match="missing.*stem_conv/0"):
        load_keras_weights(TorchHourglass(cfg), w)


def test_ste_sign_and_weight_clip_follow_larq():
    from models.torch_mirror import ste_sign

    x = torch.tensor([-2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0], requires_grad=True)
    y = ste_sign(x)
    np.testing.assert_array_equal(y.detach().numpy(), [-1, -1, -1, 1, 1, 1, 1])  # sign(0) = +1
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 1, 1, 1, 1, 0])  # passed where |x| <= 1
    net = TorchHourglass(_small("pose-lsp"))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(100.0)
    net.clip_weights_()
    binary = [m.weight for m in net.modules() if type(m).__name__ == "BinaryConv"]
    assert binary and all(float(w.detach().abs().max()) <= 1.0 for w in binary)
    assert float(net.layers["stem_conv"].weight.detach().abs().max()) > 1.0  # real layers are not clipped
