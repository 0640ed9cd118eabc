"""Built-in feature extractors; importing this package registers them.

* ``blendshapes``: MediaPipe's 52 blendshape scores + head pose (55 values).
* ``landmarks``: face-mesh geometry normalised by the five-point alignment.
* ``onnx``: any ONNX image backbone from a user's file with its preprocessing.
* ``expr-cnn``, ``expr-cnn-fast``, ``expr-cnn-fast-int8``, ``expr-cnn-soup-int8``, ``expr-cnn-soup-mixed``:
  our FER2013 expression CNNs, the accurate ensemble, one of its networks alone, that network in int8
  with the mirror image, the same in int8 with weights averaged from distilled runs, and that one
  with its first convolution left in float (embedding + 8 ABAW expression probabilities).
"""

from affectstream.core.features.extractors import blendshapes, expr_cnn, landmarks, onnx  # noqa: F401  (registration)
from affectstream.core.features.extractors.chain import ExtractorChain, FaceFeatures

__all__ = ["ExtractorChain", "FaceFeatures"]
