"""Run time of the FER2013 expression CNN (``expr-cnn``): crop, onnxruntime session, class mapping.

No torch here. The preprocessing that makes live faces look like FER2013 faces:

1. the face's five points (eye centres, nose tip, mouth corners, as in
   affectstream.core.faces.alignment) are mapped by a similarity transform onto
   ``FER_TEMPLATE_48``, the median positions of those points on FER2013
   Training faces (measured with the same MediaPipe landmarker, see
   affectstream.training.fer.runtime_path.measure_template), so the crop has FER2013's
   loose framing (forehead and chin included), not the tighter ArcFace one;
2. the frame is warped to 48x48 and converted to grey (BT.601, as OpenCV);
3. the ONNX graph takes that 48x48 grey face as float pixels 0..255 and does
   the rest as at test time in training: centre 44x44 crop, (x/255 - 0.5) / 0.25.

Training saw FER2013 images as distributed (step 3 only); the run-time path on
FER2013 images is measured in the model card.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.faces.alignment import AlignedFace, five_points, similarity_transform
from affectstream.core.labels import EXPRESSIONS, NUM_EXPRESSIONS

# FER2013's own class order (as in fer2013.npz "classes").
FER_CLASSES: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# FER2013 index -> ABAW expression index, written out rather than derived by name.
# ABAW: Neutral 0, Anger 1, Disgust 2, Fear 3, Happiness 4, Sadness 5, Surprise 6, Other 7.
FER_TO_ABAW: tuple[int, ...] = (1, 2, 3, 4, 5, 6, 0)
ABAW_OTHER = EXPRESSIONS.index("Other")

FER_SIZE = 48
# Eye centres, nose tip, mouth corners ("left" = the image's left) on a 48x48 FER2013
# face: medians over 2,000 random FER2013 Training faces (seed 1; the landmarker found
# 91% of them), averaged with their mirror image. Pixel-centre coordinates.
FER_TEMPLATE_48 = np.array(
    [
        [14.79, 18.61],
        [32.21, 18.61],
        [23.50, 29.25],
        [16.18, 36.65],
        [30.82, 36.65],
    ],
    dtype=np.float64,
)

ASSETS = Path(__file__).resolve().parents[2] / "assets"
SOUP_MIXED_MODEL = ASSETS / "expr-cnn-soup-mixed" / "expr_cnn.onnx"  # the default model's: int8 but the first conv
SOUP_INT8_MODEL = ASSETS / "expr-cnn-soup-int8" / "expr_cnn.onnx"  # the same weights all int8: the fast one
DEFAULT_MODEL = SOUP_MIXED_MODEL
EMBEDDING_OUTPUT = "embedding"
PROBS_OUTPUT = "probs"
INPUT_NAME = "faces"
# Metadata of the exported graph: how many networks it averages, and whether it adds mirror images.
MEMBERS_KEY = "expr_cnn_members"
FLIP_TTA_KEY = "expr_cnn_flip_tta"
PRECISION_KEY = "expr_cnn_precision"  # "int8" for a quantized graph; absent means float32


class ExpressionModelError(UserInputError):
    """The expr-cnn model file is missing, unreadable or not an expr-cnn export."""


def fer_to_abaw_probs(probs_fer: np.ndarray) -> np.ndarray:
    """(..., 7) FER-ordered probabilities -> (..., 8) ABAW-ordered; ``Other`` gets 0."""
    probs_fer = np.asarray(probs_fer, dtype=np.float32)
    if probs_fer.shape[-1] != len(FER_CLASSES):
        raise ValueError(f"expected {len(FER_CLASSES)} FER2013 probabilities, got shape {probs_fer.shape}")
    out = np.zeros(probs_fer.shape[:-1] + (NUM_EXPRESSIONS,), dtype=np.float32)
    out[..., list(FER_TO_ABAW)] = probs_fer
    return out


def fer_crop_from_points(frame_bgr: np.ndarray, points: np.ndarray, template: np.ndarray = FER_TEMPLATE_48,
                         size: int = FER_SIZE) -> np.ndarray:
    """(size, size) uint8 grey face framed like FER2013, from a frame and the face's five points."""
    matrix = similarity_transform(points, template * (size / FER_SIZE))
    # A large face shrunk straight to 48 px aliases (warpAffine has no area filter):
    # warp to an intermediate size where the scale is at least 1/2, then area-resize.
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    factor = int(min(8, max(1, np.ceil(0.5 / max(scale, 1e-6)))))
    if factor > 1:
        matrix = matrix * factor
    crop = cv2.warpAffine(frame_bgr, matrix, (size * factor, size * factor), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    if crop.ndim == 3:
        crop = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    if factor > 1:
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    return crop


def fer_crop_from_face(frame_bgr: np.ndarray, face) -> np.ndarray:
    """The FER-framed crop of an analysed face (affectstream.core.faces.types.FaceResult)."""
    return fer_crop_from_points(frame_bgr, five_points(face.landmarks))


def fer_crop_from_aligned(aligned: AlignedFace) -> np.ndarray:
    """The FER-framed crop from an already aligned crop (when no landmarks are at hand).

    The aligned crop's template points are mapped onto the FER template; where the
    looser FER framing reaches past the aligned crop, its border pixels are repeated.
    """
    return fer_crop_from_points(aligned.image, aligned.points)


@dataclass(frozen=True)
class ExpressionOutput:
    embedding: np.ndarray  # (N, D) float32: the penultimate layer
    probs_fer: np.ndarray  # (N, 7) float32, FER2013 order

    @property
    def probs_abaw(self) -> np.ndarray:
        """(N, 8) in ABAW order; Other is 0."""
        return fer_to_abaw_probs(self.probs_fer)


class ExpressionCNN:
    """The exported expr-cnn on onnxruntime; ``predict`` takes 48x48 grey faces."""

    def __init__(self, model: str | Path | None = None, threads: int = 2) -> None:
        import onnxruntime as ort

        path = Path(model).expanduser() if model is not None else DEFAULT_MODEL
        if not path.is_file():
            raise ExpressionModelError(
                f"expr-cnn model not found at {path} (train one with `affectstream train-fer train`, then ship it with `affectstream train-fer export RUN --export-dir DIR`)"
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # No spin-waiting: the live loop shares the cores with MediaPipe and the GUI, and spinning
        # threads that lose their slice made single-face calls slower under load (10.5 vs 16.4 ms).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ExpressionModelError(f"{path}: cannot load the ONNX model ({exc})") from exc
        inputs = [i.name for i in self._session.get_inputs()]
        outputs = [o.name for o in self._session.get_outputs()]
        if inputs != [INPUT_NAME] or outputs != [EMBEDDING_OUTPUT, PROBS_OUTPUT]:
            raise ExpressionModelError(f"{path}: inputs {inputs} / outputs {outputs} are not those of an expr-cnn export")
        self.path = path
        self.embedding_dim = int(self._session.get_outputs()[0].shape[1])
        meta = self._session.get_modelmeta().custom_metadata_map
        self.members = int(meta.get(MEMBERS_KEY, "1"))  # older exports carry no metadata: one network
        self.flip_tta = meta.get(FLIP_TTA_KEY, "0") == "1"
        self.precision = meta.get(PRECISION_KEY, "float32")

    def predict(self, faces_u8: np.ndarray) -> ExpressionOutput:
        """faces_u8: (N, 48, 48) or (48, 48) uint8 grey faces framed like FER2013."""
        faces = np.asarray(faces_u8)
        if faces.ndim == 2:
            faces = faces[None]
        if faces.ndim != 3 or faces.shape[1:] != (FER_SIZE, FER_SIZE):
            raise ValueError(f"expected (N, {FER_SIZE}, {FER_SIZE}) grey faces, got {faces.shape}")
        x = np.ascontiguousarray(faces[:, None].astype(np.float32))
        embedding, probs = self._session.run(None, {INPUT_NAME: x})
        return ExpressionOutput(embedding, probs)

    def probs_fer(self, faces_u8: np.ndarray, batch: int = 256) -> np.ndarray:
        """(N, 7) FER-ordered probabilities of many faces, ``batch`` faces per call."""
        faces = np.asarray(faces_u8)
        if len(faces) == 0:
            return np.zeros((0, len(FER_CLASSES)), dtype=np.float32)
        return np.concatenate([self.predict(faces[i : i + batch]).probs_fer for i in range(0, len(faces), batch)])

    def close(self) -> None:
        self._session = None
