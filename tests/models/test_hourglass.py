import io
import os
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
lq = pytest.importorskip("larq")

from models.configs import CONFIGS, get_config  # noqa: E402
from models.hourglass import (  # noqa: E402
    bottleneck_block,
    build_model,
    count_parameters,
    hierarchical_block,
)

SNAPSHOTS = Path(__file__).parent / "snapshots"


def test_released_mpii_model_size():
    """The authors' released 1-stack binary MPII model: 6,207,488 binary weights and 13,584
    real-valued conv parameters (stem 7x7 conv and the heatmap 1x1 conv, with biases)."""
    counts = count_parameters(build_model(config="pose-mpii"))
    assert counts["binary"] == 6_207_488
    assert counts["real_conv"] == 13_584


@pytest.mark.parametrize("cin,cout", [(256, 256), (128, 256), (64, 128), (128, 128)])
def test_bottleneck_has_the_hierarchical_parameter_budget(cin, cout):
    def n_binary(block_fn):
        cfg = get_config("pose-mpii")
        inp = tf.keras.layers.Input((8, 8, cin))
        m = tf.keras.Model(inp, block_fn(inp, cout, cfg, name="b"))
        return count_parameters(m)["binary"]

    h, b = n_binary(hierarchical_block), n_binary(bottleneck_block)
    assert abs(b - h) / h < 0.01, (h, b)


def test_real_twin_has_no_binary_weights_and_same_shapes():
    from models.configs import real_twin

    b, r = build_model(config="face"), build_model(config=real_twin(get_config("face")))
    assert count_parameters(r)["binary"] == 0
    assert b.output_shape == r.output_shape == (None, 32, 32, 68)
    assert sorted(tuple(w.shape) for w in b.weights if "kernel" in w.name) == sorted(
        tuple(w.shape) for w in r.weights if "kernel" in w.name)


@pytest.mark.parametrize("name", ["face", "pose-lsp"])
def test_a_pinned_name_keeps_the_architecture_of_its_shipped_weights(name):
    """``face`` moved to two stacks of width 128 and ``pose-lsp`` to width 160; ``face-real`` /
    ``pose-lsp-real`` name the shipped 1-stack width-128 twins, so the same-architecture twin is not
    the named config and gets no shipped weights."""
    from models.configs import named_weights_fit, real_twin

    twin, pinned = real_twin(get_config(name)), get_config(f"{name}-real")
    assert twin.name == f"{name}-real" and (twin.width, twin.stacks) != (pinned.width, pinned.stacks) == (128, 1)
    assert not named_weights_fit(twin)
    assert named_weights_fit(get_config(f"{name}-real"))


def test_every_binary_conv_reads_the_sign_of_a_batchnorm():
    """LCE converts a QuantConv2D to LceBconv2d only if its input is the sign quantizer's output
    (inside the layer) of a plain tensor: check the input quantizer and the padding value."""
    m = build_model(config="face")
    qconvs = [layer for layer in m.layers if isinstance(layer, lq.layers.QuantConv2D)]
    assert len(qconvs) == 54 * get_config("face").stacks - 11  # the stem's blocks are not repeated
    for layer in qconvs:
        assert layer.input_quantizer.__class__.__name__ == "SteSign", layer.name
        assert layer.pad_values == 1.0 and not layer.use_bias
        src = layer.inbound_nodes[0].inbound_layers
        assert isinstance(src, tf.keras.layers.BatchNormalization), (layer.name, src)


def test_multi_stack_with_intermediate_outputs():
    cfg = get_config("face", stacks=2, width=32, input_size=64, depth=2)
    m = build_model(config=cfg, intermediate_outputs=True)
    assert len(m.outputs) == 2
    y = m(np.zeros((1, 64, 64, 3), np.float32))
    assert [t.shape for t in y] == [(1, 16, 16, 68)] * 2


def test_prelu_option_adds_one_prelu_per_binary_conv_and_is_recorded_only_when_set():
    m = build_model(config=get_config("face", conv_act="prelu", width=32, input_size=64, depth=2))
    prelus = [layer for layer in m.layers if isinstance(layer, tf.keras.layers.PReLU)]
    qconvs = [layer for layer in m.layers if isinstance(layer, lq.layers.QuantConv2D)]
    assert len(prelus) == len(qconvs) > 0
    for p in prelus:  # fed by its binary conv, one slope per channel
        assert isinstance(p.inbound_nodes[0].inbound_layers, lq.layers.QuantConv2D)
        assert p.alpha.shape == (1, 1, p.input_shape[-1])
    # a config without it has the dict (and so the converted bytes) it had before the option existed
    assert "conv_act" not in get_config("face").to_dict()
    assert get_config("face", conv_act="prelu").to_dict()["conv_act"] == "prelu"
    with pytest.raises(ValueError, match="conv_act"):
        get_config("face", conv_act="relu")


def test_binary_weights_off_keeps_real_kernels_under_the_binary_names(tmp_path):
    """``binary_weights=false`` (the middle stage of staged real-to-binary training): the same
    layers and weight names as the binary model, sign inputs, kernels used as they are; its .h5
    initialises the fully binary model; recorded in the config dict only when set."""
    from models.hourglass import count_parameters, init_weights

    small = dict(input_size=32, width=16, depth=1)
    stage = build_model(config=get_config("face", binary_weights=False, **small))
    binary = build_model(config=get_config("face", **small))
    assert [w.name for w in stage.weights] == [w.name for w in binary.weights]
    qconvs = [layer for layer in stage.layers if isinstance(layer, lq.layers.QuantConv2D)]
    assert qconvs and all(q.kernel_quantizer is None and q.kernel_constraint is None
                          and q.input_quantizer is not None for q in qconvs)
    assert count_parameters(stage)["binary"] == 0 < count_parameters(binary)["binary"]
    # a kernel of 0.3 everywhere acts as 0.3, not as its sign (1.0)
    q = stage.get_layer("pre1_1_bconv")
    q.set_weights([np.full_like(q.get_weights()[0], 0.3)])
    x = np.ones((1, 8, 8, q.input_shape[-1]), np.float32)
    np.testing.assert_allclose(q(x).numpy()[0, 4, 4], 0.3 * 9 * q.input_shape[-1], rtol=1e-5)
    stage.save_weights(str(tmp_path / "stage.h5"))
    init_weights(binary, tmp_path / "stage.h5")
    np.testing.assert_array_equal(binary.get_layer("pre1_1_bconv").get_weights()[0], q.get_weights()[0])
    assert "binary_weights" not in get_config("face").to_dict()
    assert get_config("face", binary_weights=False).to_dict()["binary_weights"] is False
    with pytest.raises(ValueError, match="binary_weights=false .* needs binary=true"):
        get_config("face-real", binary_weights=False)


def test_unknown_config_lists_valid_names():
    with pytest.raises(ValueError, match="choose one of: .*face"):
        get_config("nope")
    with pytest.raises(ValueError, match="unknown config keys"):
        get_config("face", wdith=3)


def _summary(name: str) -> str:
    buf = io.StringIO()
    with redirect_stdout(buf):
        lq.models.summary(build_model(config=name))
    return buf.getvalue()


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_summary_snapshot(name):
    """``lq.models.summary`` per named config; regenerate with UPDATE_SNAPSHOTS=1 after an
    intended architecture change."""
    text = _summary(name)
    path = SNAPSHOTS / f"{name}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        if os.environ.get("CI") and not os.environ.get("UPDATE_SNAPSHOTS"):
            pytest.fail(f"missing snapshot {path}")
        path.write_text(text)
    assert text == path.read_text(), f"architecture of {name} changed; UPDATE_SNAPSHOTS=1 if intended"


def test_load_model_round_trips_weights_and_names_misfits(tmp_path):
    from models.hourglass import WeightsError, load_model

    cfg = get_config("face", input_size=64, width=32, depth=2)
    m = build_model(config=cfg)
    rng = np.random.default_rng(0)
    m.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in m.get_weights()])
    x = rng.normal(size=(1, 64, 64, 3)).astype(np.float32)
    want = m(x, training=False).numpy()
    m.save_weights(str(tmp_path / "w.h5"))
    got = load_model(config=cfg, weights=tmp_path / "w.h5")(x, training=False).numpy()
    np.testing.assert_array_equal(got, want)
    with pytest.raises(WeightsError, match="not found; train with `make train MODEL=face`"):
        load_model(config=cfg, weights=tmp_path / "missing.h5")
    with pytest.raises(WeightsError, match="do not fit model face .*expected e.g."):
        load_model(config=get_config("face", input_size=64, width=64, depth=2), weights=tmp_path / "w.h5")


def test_init_weights_from_the_same_config_or_the_real_valued_twin(tmp_path):
    """--init: a binary model starts from its float twin's .h5 (bconv kernel = conv kernel, every
    other layer copied by name); a file of another shape is refused with the first mismatch."""
    from models.configs import real_twin
    from models.hourglass import WeightsError, init_weights

    cfg = get_config("face", input_size=32, width=16, depth=1, stacks=1)
    twin = build_model(config=real_twin(cfg))
    rng = np.random.default_rng(0)
    twin.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in twin.get_weights()])
    twin.save_weights(str(tmp_path / "real.h5"))
    binary = build_model(config=cfg)
    init_weights(binary, tmp_path / "real.h5")
    np.testing.assert_array_equal(binary.get_layer("pre1_1_bconv").get_weights()[0],
                                  twin.get_layer("pre1_1_conv").get_weights()[0])
    np.testing.assert_array_equal(binary.get_layer("out0_heatmaps").get_weights()[1],
                                  twin.get_layer("out0_heatmaps").get_weights()[1])
    binary.save_weights(str(tmp_path / "binary.h5"))
    again = build_model(config=cfg)
    init_weights(again, tmp_path / "binary.h5")
    for a, b in zip(again.get_weights(), binary.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(WeightsError, match="out0_heatmaps/0 is .*; pass a .h5 of this config"):
        init_weights(build_model(config=get_config("pose-lsp", input_size=32, width=16, depth=1)),
                     tmp_path / "binary.h5")
    with pytest.raises(WeightsError, match="not found"):
        init_weights(binary, tmp_path / "nope.h5")


def test_init_weights_adds_stacks_as_copies_of_the_last_one(tmp_path):
    """--init of a 2-stack model from a 1-stack .h5: the second stack copies the first, the
    re-injection convs start at zero, so both stacks output the 1-stack model's heatmaps."""
    from models.hourglass import init_weights

    cfg = get_config("face", input_size=32, width=16, depth=1, stacks=1)
    one = build_model(config=cfg)
    rng = np.random.default_rng(0)
    one.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in one.get_weights()])
    one.save_weights(str(tmp_path / "one.h5"))
    two = build_model(config=cfg.replace(stacks=2), intermediate_outputs=True)
    init_weights(two, tmp_path / "one.h5")
    x = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    want = one(x, training=False).numpy()
    for got in two(x, training=False):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    assert not np.any(two.get_layer("reinject0_features").get_weights()[0])


def test_load_model_folds_the_reinjection_of_a_multi_stack_model(tmp_path):
    """load_model gives a 2-stack model's inference graph: the first stack's heatmaps conv and
    re-injection convs folded into one 1x1 conv, the same heatmaps as the training graph's last
    stack (float rounding aside), two fewer convs."""
    from models.hourglass import load_model

    cfg = get_config("face", input_size=32, width=16, depth=1, stacks=2)
    train = build_model(config=cfg, intermediate_outputs=True)
    rng = np.random.default_rng(0)
    train.set_weights([rng.normal(scale=0.3, size=w.shape).astype(np.float32) for w in train.get_weights()])
    train.save_weights(str(tmp_path / "two.h5"))
    x = rng.normal(size=(2, 32, 32, 3)).astype(np.float32)
    want = train(x, training=False)[-1].numpy()
    folded = load_model(config=cfg, weights=tmp_path / "two.h5")
    np.testing.assert_allclose(folded(x, training=False).numpy(), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())
    convs = [layer.name for layer in folded.layers if type(layer) is tf.keras.layers.Conv2D]
    assert "reinject0" in convs and "out0_heatmaps" not in convs
    with pytest.raises(ValueError, match="fold_reinjection drops the intermediate heatmaps"):
        build_model(config=cfg, intermediate_outputs=True, fold_reinjection=True)
