"""``expr-cnn-soup-mixed`` and ``expr-cnn-soup-int8``: our FER2013 expression CNN; the penultimate embedding
+ 8 ABAW probabilities.

One network whose weights are a model soup (the mean of a run and a run distilled from a three-network ensemble),
run on the face and its mirror image. ``expr-cnn-soup-mixed`` (the default model's backbone) keeps its first
convolution, the node that loses most to int8, in float; ``expr-cnn-soup-int8`` is the same network fully int8,
the fast one. Each is its own extractor: a model trained on one's features is not run on the other's. Their
figures, and those of the retired expr-cnn models, are in their model cards.

The face is cropped with FER2013's framing (affectstream.core.features.expression_cnn: five points onto
FER_TEMPLATE_48, 48x48 grey) from the frame and the face's landmarks; for an
already aligned source (no landmarks) it is re-framed from the aligned crop.
Probabilities are mapped from FER2013 order to ABAW order; ``Other`` is always 0
(FER2013 has no such class). Weights and model cards: affectstream/assets/expr-cnn-soup-mixed/,
affectstream/assets/expr-cnn-soup-int8/.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.core.features.expression_cnn import (
    SOUP_INT8_MODEL,
    SOUP_MIXED_MODEL,
    FER_TEMPLATE_48,
    ExpressionCNN,
    ExpressionModelError,
    fer_crop_from_aligned,
    fer_crop_from_face,
)
from affectstream.core.digest import file_sha256
from affectstream.core.features.registry import ExtractorConfig, ExtractorError, FeatureExtractor, register_extractor
from affectstream.core.labels import EXPRESSIONS, NUM_EXPRESSIONS

# The shipped models' embedding (what `list` shows); a model file's own size is read from its graph.
EMBEDDING_DIM = 256


def _params(embedding_dim: int) -> dict:
    return {
        "model_input": "48x48 grey face in FER2013 framing (five points onto FER_TEMPLATE_48); centre 44x44 "
        "crop and normalisation inside the ONNX graph",
        "fer_template_48": FER_TEMPLATE_48.tolist(),
        "layout": [f"embedding[{embedding_dim}]", *[f"p({e})" for e in EXPRESSIONS]],
    }


class ExprCnnExtractor(FeatureExtractor):
    """What every expr-cnn extractor shares; each registered subclass names its model and config."""

    default_config = ExtractorConfig(
        name="expr-cnn-soup-mixed",
        dim=EMBEDDING_DIM + NUM_EXPRESSIONS,
        input="aligned",
        # The chain's aligned crop is used only when there are no landmarks (pre-aligned
        # sources); 112 px keeps detail for re-framing it to 48.
        input_size=112,
        colour="grey",
        mean=(0.5,),
        std=(0.25,),
        layout="NCHW",
        licence="weights: this project's; trained on FER2013 (distributed for research use)",
        description="FER2013 expression CNN: the penultimate embedding, then 8 ABAW-ordered expression "
        "probabilities (Other = 0)",
        params=_params(EMBEDDING_DIM),
    )

    default_model = SOUP_MIXED_MODEL
    aligned_only_without_face = True  # framed from the landmarks (fer_crop) whenever there are some

    def __init__(self, model: str | Path | None = None, threads: int = 2) -> None:
        path = Path(model).expanduser().resolve() if model is not None else self.default_model
        try:
            self._model = ExpressionCNN(path, threads=threads)
        except ExpressionModelError as exc:
            raise ExtractorError(str(exc)) from exc
        embedding_dim = self._model.embedding_dim
        base = self.default_config
        self.config = replace(base, dim=embedding_dim + NUM_EXPRESSIONS,
                              params={**_params(embedding_dim), "model": str(path), "sha256": file_sha256(path)})

    @staticmethod
    def fer_crop(frame_bgr: np.ndarray, face, aligned) -> np.ndarray:
        if face is not None:
            return fer_crop_from_face(frame_bgr, face)
        if aligned is None:
            raise ExtractorError("expr-cnn needs a face's landmarks or an aligned crop")
        return fer_crop_from_aligned(aligned)

    def _features(self, crops: np.ndarray) -> np.ndarray:
        out = self._model.predict(crops)
        return np.concatenate([out.embedding, out.probs_abaw], axis=1).astype(np.float32, copy=False)

    def extract(self, frame_bgr, face, aligned) -> np.ndarray:
        return self._features(self.fer_crop(frame_bgr, face, aligned)[None])[0]

    def extract_batch(self, frames: Sequence[np.ndarray], faces: Sequence, aligned: Sequence) -> np.ndarray:
        if not faces:
            return np.zeros((0, self.dim), dtype=np.float32)
        crops = np.stack([self.fer_crop(f, face, a) for f, face, a in zip(frames, faces, aligned)])
        return self._features(crops)

    def close(self) -> None:
        if self._model is not None:
            self._model.close()
            self._model = None


@register_extractor
class ExprCnnSoupInt8Extractor(ExprCnnExtractor):
    default_config = replace(
        ExprCnnExtractor.default_config,
        name="expr-cnn-soup-int8",
        description="expr-cnn-soup-mixed's weights with every node int8 (the fast one): 256-d embedding, then 8 "
        "ABAW-ordered expression probabilities (Other = 0)",
    )
    default_model = SOUP_INT8_MODEL


@register_extractor
class ExprCnnSoupMixedExtractor(ExprCnnExtractor):
    default_config = replace(
        ExprCnnExtractor.default_config,
        name="expr-cnn-soup-mixed",
        description="expr-cnn-soup-int8's weights and graph with the first convolution left in float (the layer that "
        "loses most to int8): 256-d embedding, then 8 ABAW-ordered expression probabilities (Other = 0)",
    )
    default_model = SOUP_MIXED_MODEL
