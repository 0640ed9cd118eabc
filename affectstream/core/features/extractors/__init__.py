"""Built-in feature extractors; importing this package registers them.

* ``blendshapes``: MediaPipe's 52 blendshape scores + head pose (55 values).
* ``landmarks``: face-mesh geometry normalised by the five-point alignment.
* ``onnx``: any ONNX image backbone from a user's file with its preprocessing.
* ``expr-cnn-soup-mixed``, ``expr-cnn-soup-int8``: our FER2013 expression CNN on the face and its mirror
  image (embedding + 8 ABAW expression probabilities): the default model's backbone, int8 but for its first
  convolution, and the same network fully int8 (the fast one).
"""

from affectstream.core.features.extractors import blendshapes, expr_cnn, landmarks, onnx  # noqa: F401  (registration)
from affectstream.core.features.extractors.chain import ExtractorChain, FaceFeatures

__all__ = ["ExtractorChain", "FaceFeatures"]
