"""Larq/Keras model definitions, training and evaluation (imports TensorFlow lazily per module)."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
