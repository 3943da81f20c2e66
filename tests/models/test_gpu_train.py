"""models.gpu_train: the GPU warp lands points where runtime.crop says, and exported weights
reproduce the PyTorch network in Keras."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from models import gpu_train  # noqa: E402
from models.configs import get_config  # noqa: E402


def test_affine_grid_matches_crop_matrix():
    """A blob at a keypoint of the context image lands where that keypoint's target peaks."""
    import torch.nn.functional as F

    from runtime import codec

    cfg = get_config("pose-lsp")
    P = 192
    kp = np.round(np.random.default_rng(3).uniform(70, 120, (1, 14, 2))).astype(np.float32)
    vis = np.ones((1, 14), np.float32)
    flips = 0
    for epoch in range(12):  # different scale / rotation / flip / shift draws
        batches = gpu_train._Batches(kp, vis, cfg, cfg.spec(), 1, seed=0, epoch=epoch, context_px=P)
        _, theta, hm, jv, _ = next(iter(batches))
        k = int(np.argmax(jv[0]))  # a target channel whose point is inside the crop
        # after a flip, channel k holds the flip partner's point
        perm = codec.flip_permutation(14, cfg.spec().flip_pairs)
        flipped = theta[0, 0, 0] < 0
        flips += bool(flipped)
        x0, y0 = kp[0, perm[k] if flipped else k].astype(int)
        src = torch.zeros(1, 1, P, P)
        src[0, 0, y0 - 1:y0 + 2, x0 - 1:x0 + 2] = 1.0  # 3x3 blob centred on the point
        grid = F.affine_grid(torch.from_numpy(theta), (1, 1, cfg.input_size, cfg.input_size), align_corners=False)
        out = F.grid_sample(src, grid, mode="bilinear", align_corners=False)[0, 0].numpy()
        yy, xx = np.mgrid[: out.shape[0], : out.shape[1]]
        centroid = np.array([(out * xx).sum(), (out * yy).sum()]) / out.sum()
        peak = codec.heatmap_to_input(codec.decode(hm[:, :, :, [k]], "parabola")[0][0], 4.0)[0]
        assert np.linalg.norm(centroid - peak) < 0.75, (epoch, centroid, peak)
    assert 0 < flips < 12


def test_jitter_stays_in_range_and_changes_images():
    x = torch.rand(4, 3, 8, 8)
    u = torch.rand(4, 3)
    y = gpu_train._jitter(x, u)
    assert y.shape == x.shape and float(y.min()) >= 0 and float(y.max()) <= 1
    assert not torch.allclose(x, y)


def test_export_reproduces_the_torch_network(tmp_path):
    pytest.importorskip("tensorflow")
    from models.hourglass import build_model
    from models.torch_mirror import TorchHourglass, keras_weights

    cfg = get_config("pose-lsp")
    net = TorchHourglass(cfg).eval()
    # trained-like BN statistics: with the initial ones (mean 0, beta 0) binary sums that are exactly 0
    # in exact arithmetic take float-rounding signs, which is noise, not a property of the export
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=g) + 0.5
            m.bias.data = torch.randn(n, generator=g) * 0.3
            m.running_mean = torch.randn(n, generator=g) * 0.3
            m.running_var = torch.rand(n, generator=g) + 0.5
    run = tmp_path / "run"
    gpu_train._save_npz(run / "weights.npz", gpu_train.effective_weights(keras_weights(net), cfg))
    files = {"run": {"args": {"model": "pose-lsp"}}, "history": [{"epoch": 1, "seconds": 1.0}], "best": {"epoch": 1}}
    (run / "run_files.json").write_text(json.dumps(files))
    out = tmp_path / "runs" / "pose-lsp"
    h5 = gpu_train.export(run, out)
    assert h5 == out / "best.h5"
    assert json.loads((out / "best.json").read_text()) == {"epoch": 1}
    assert (out / "history.jsonl").read_text().count("\n") == 1 and (out / "run.json").exists()
    keras = build_model(config=cfg)
    keras.load_weights(str(h5), by_name=True)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 128, 128, 3)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(x).permute(0, 3, 1, 2))[-1].permute(0, 2, 3, 1).numpy()
    got = keras(x, training=False).numpy()
    close = np.isclose(got, ref, rtol=1e-3, atol=1e-3 * np.abs(ref).max())
    assert close.mean() > 0.95


def test_train_inputs_use_the_runtime_normalisation():
    """An unaugmented, unjittered training input equals what the runtime feeds the model."""
    from runtime import crop

    spec = get_config("pose-lsp").spec()
    P, S = 192, spec.input_size
    rng = np.random.default_rng(0)
    ctx = rng.integers(0, 256, (P, P, 3), dtype=np.uint8)
    # the plain training crop of the context: centred, side P / CONTEXT
    m = crop.crop_matrix(((P - 1) / 2, (P - 1) / 2), P / gpu_train.CONTEXT, S)
    theta = torch.from_numpy(gpu_train.grid_theta(m, S, P)[None].astype(np.float32))
    src = torch.from_numpy(ctx).permute(2, 0, 1)[None]
    got = gpu_train.train_inputs(src, theta, torch.full((1, 3), 0.5), spec, jitter=False)[0].permute(1, 2, 0).numpy()
    want = crop.warp(ctx, m, S).astype(np.float32) * spec.input_scale + spec.input_offset
    assert got.min() >= -1.0 - 1e-6 and got.max() <= 1.0 + 1e-6
    # bilinear in both; OpenCV rounds its weights to 1/32 and its output to uint8
    assert np.abs(got - want).mean() < 0.02
    # neutral jitter (brightness 0, contrast 1, saturation 1) changes nothing
    jit = gpu_train.train_inputs(src, theta, torch.full((1, 3), 0.5), spec)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(jit, got, atol=1e-4)
