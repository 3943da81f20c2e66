import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

from models.configs import get_config  # noqa: E402
from models.data import load_pts_folder  # noqa: E402
from models.hourglass import build_model  # noqa: E402
from models.pipeline import ImageCache, make_dataset  # noqa: E402


def test_loss_falls_on_real_face_crops(shared_data):
    samples = load_pts_folder(shared_data / "face300w/train/afw")[:8]
    cfg = get_config("face", input_size=64, width=32, depth=2)
    ds = make_dataset(ImageCache(samples), cfg, batch=8, train=False)
    x, y, jw = next(iter(ds))
    assert jw.shape == (8, 68) and float(tf.reduce_min(jw)) == 1.0  # every face point annotated, in crop
    tf.keras.utils.set_random_seed(0)
    model = build_model(config=cfg)
    opt = tf.keras.optimizers.Adam(1e-3)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    losses = [float(step()) for _ in range(30)]
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5]), losses
    # weight clipping (larq's weight_clip constraint) keeps latent binary weights in [-1, 1]
    for layer in model.layers:
        if hasattr(layer, "kernel_quantizer") and layer.kernel_quantizer is not None:
            assert float(tf.reduce_max(tf.abs(layer.kernel))) <= 1.0
