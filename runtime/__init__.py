"""bnn-landmarks runtime: thin inference for binarized landmark models.

Imports neither TensorFlow nor larq. Interpreters (LCE, tflite-runtime, onnxruntime) are loaded
lazily, only when a model needs them.
"""

__version__ = "0.1.0"
