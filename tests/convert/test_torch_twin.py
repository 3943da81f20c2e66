import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tensorflow")

from helpers import TINY, random_weights  # noqa: E402

from convert import core  # noqa: E402
from convert.torch_twin import HourglassNet, export_onnx, from_keras, load_fan_checkpoint  # noqa: E402
from models.configs import get_config  # noqa: E402


@pytest.mark.parametrize("stacks", [1, 2])
def test_keras_weights_in_pytorch_twin(tmp_path, stacks):
    cfg = get_config("face-real", **TINY, stacks=stacks)
    km = core.load_keras(cfg, random_weights(cfg, tmp_path / "w.h5"))
    net = from_keras(km, cfg)
    x = np.random.default_rng(0).normal(size=(2, 64, 64, 3)).astype(np.float32)
    k = km.predict(x, verbose=0)
    with torch.no_grad():
        t = net(torch.from_numpy(x)).numpy()
    assert np.abs(k - t).max() <= 1e-5 * np.abs(k).max()


def test_binary_config_refused():
    cfg = get_config("face", **TINY)
    with pytest.raises(ValueError, match="real-valued hierarchical"):
        from_keras(None, cfg)


def _random_fan(stacks=2):
    torch.manual_seed(0)
    net = HourglassNet(68, 32, stacks, 2, channels_last=False).eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.3, 0.3)
                m.running_var.uniform_(0.5, 2)
    return net


def test_fan_state_dict_names_and_loading(tmp_path):
    net = _random_fan()
    sd = net.state_dict()
    # FAN's module names (face-alignment's models.py)
    for key in ("conv1.weight", "conv2.downsample.2.weight", "m0.b1_2.bn1.running_var", "m0.b2_plus_1.conv3.weight",
                "top_m_0.conv1.weight", "conv_last0.bias", "bn_end0.weight", "l1.weight", "bl0.weight", "al0.weight"):
        assert key in sd, key
    path = tmp_path / "2DFAN.pth.tar"
    torch.save({"state_dict": {"module." + k: v for k, v in sd.items()}}, path)
    loaded = load_fan_checkpoint(path, channels_last=False)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.allclose(loaded(x), net(x), atol=1e-5)
    # TorchScript archive, as face-alignment >= 1.2 ships them
    ts = tmp_path / "fan.zip"
    torch.jit.trace(net, x).save(str(ts))
    with torch.no_grad():
        assert torch.allclose(load_fan_checkpoint(ts, channels_last=False)(x), net(x), atol=1e-5)


def test_fan_checkpoint_mismatch(tmp_path):
    sd = _random_fan().state_dict()
    del sd["bn_end0.weight"]
    with pytest.raises(ValueError, match="missing"):
        load_fan_checkpoint(sd)
    with pytest.raises(ValueError, match="not a FAN checkpoint"):
        load_fan_checkpoint({"foo": torch.zeros(1)})


def test_fan_onnx_export_matches_checkpoint(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    net = _random_fan(1)
    net.channels_last = True
    data = export_onnx(net, 64, tmp_path / "fan.onnx")
    x = np.random.default_rng(1).normal(size=(1, 64, 64, 3)).astype(np.float32)
    o = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"image": x})[0]
    with torch.no_grad():
        t = net(torch.from_numpy(x)).numpy()
    assert o.shape == (1, 16, 16, 68) and np.abs(o - t).max() < 1e-4


def test_convert_onnx_end_to_end_and_runtime(tmp_path):
    from runtime.landmarker import Landmarker, LandmarkerOptions
    from runtime.spec import ModelSpec

    cfg = get_config("face-real", **TINY)
    rep = core.convert_onnx(cfg, weights=random_weights(cfg, tmp_path / "w.h5"), out_dir=tmp_path, shared_data=None)
    assert rep.parity.ok and rep.kind == "onnx"
    spec = ModelSpec.load(tmp_path / "face-real.onnx.json")
    assert spec.onnx_sha256 == rep.sha256
    with Landmarker(LandmarkerOptions(model_path=rep.path)) as lm:
        assert lm.backend_name == "onnxruntime"
        r = lm.detect(np.zeros((100, 100, 3), np.uint8), boxes=[(20, 20, 60, 60)])
        assert r.landmarks[0].keypoints.shape == (68, 2)
    # a lone .onnx describes itself through its metadata
    lone = tmp_path / "lone" / "m.onnx"
    lone.parent.mkdir()
    lone.write_bytes((tmp_path / "face-real.onnx").read_bytes())
    with Landmarker(LandmarkerOptions(model_path=lone)) as lm:
        assert lm.spec.name == "face-real"


def test_fan_cli(tmp_path):
    import subprocess
    import sys

    net = _random_fan(1)
    torch.save(net.state_dict(), tmp_path / "fan.pth")
    out = tmp_path / "fan.onnx"
    r = subprocess.run([sys.executable, "-m", "convert.fan", "--checkpoint", str(tmp_path / "fan.pth"), "--out",
                        str(out), "--input-size", "64"], capture_output=True, text=True, cwd=core.ROOT, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert out.exists() and (tmp_path / "fan.onnx.json").exists() and "parity vs checkpoint" in r.stdout
    r = subprocess.run([sys.executable, "-m", "convert.fan", "--checkpoint", str(tmp_path / "none.pth")],
                       capture_output=True, text=True, cwd=core.ROOT, timeout=300)
    assert r.returncode == 2 and "not found" in r.stderr
