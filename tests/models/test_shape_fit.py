import json

import numpy as np

from models import shape
from models.metrics import OUTER_EYE_CORNERS

_R = np.random.default_rng(42)
_BASE = _R.uniform(0.3, 0.7, (68, 2))
_BASE[OUTER_EYE_CORNERS[0]], _BASE[OUTER_EYE_CORNERS[1]] = (0.35, 0.4), (0.65, 0.4)  # an inter-ocular distance
_MODES = _R.normal(0, 0.02, (4, 136))
_DISTORT = np.eye(136) + _R.normal(0, 0.05, (136, 136)) * (_R.uniform(size=(136, 136)) < 0.1)


def _shapes(n, rng):
    """(N, 68 * 2) face-like true shapes and the same after one fixed correlated linear
    distortion, an offset and a little noise: what a model decodes."""
    y = _BASE.ravel() + rng.normal(size=(n, 4)) @ _MODES
    x = (y - 0.5) @ _DISTORT + 0.5 + 0.01 + rng.normal(0, 0.002, y.shape)
    return x, y


def test_fit_undoes_a_correlated_distortion_and_keeps_an_images_crops_in_one_fold():
    rng = np.random.default_rng(0)
    x, y = _shapes(600, rng)
    groups = np.repeat(np.arange(300), 2)  # two crops per image
    corr, cv = shape.fit(x, y, groups, rank=8, lambdas=(1e-6, 1e-3))
    assert corr.fit["cv_nme_after"] < 0.5 * cv["none"], cv
    assert corr.fit["lambda"] == min((1e-6, 1e-3), key=cv.get) and corr.fit["images"] == 300
    xt, yt = _shapes(50, np.random.default_rng(1))  # unseen shapes
    got = corr.apply(xt.reshape(50, 68, 2) * 128, 128).reshape(50, -1) / 128
    assert np.abs(got - yt).mean() < 0.3 * np.abs(xt - yt).mean()
    assert len(corr.down[0]) == 8 and len(corr.up) == 8


def test_a_correction_is_used_only_for_the_weights_it_was_fitted_to(tmp_path, monkeypatch):
    monkeypatch.setattr(shape, "path_for", lambda model: tmp_path / f"{model}.shape.json")
    assert shape.for_weights("face", "face.h5 sha256:aa") is None
    (tmp_path / "face.shape.json").write_text(json.dumps({"weights": "face.h5 sha256:aa", "mean_in": []}))
    assert shape.for_weights("face", "face.h5 sha256:aa")["weights"] == "face.h5 sha256:aa"
    assert shape.for_weights("face", "face.h5 sha256:bb") is None


def test_cli_refuses_a_pose_model_in_one_line(tiny_pose_tflite, capsys):
    assert shape.main(["--tflite", str(tiny_pose_tflite)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "face models only" in err and "\n" not in err
