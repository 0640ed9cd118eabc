"""``blendshapes``: the Face Landmarker's 52 blendshape scores plus head pose."""

from __future__ import annotations

import numpy as np

from affectstream.core.faces.types import BLENDSHAPE_NAMES, NUM_BLENDSHAPES
from affectstream.core.features.registry import ExtractorConfig, FeatureExtractor, register_extractor

# Degrees are divided by this so that pose values share the blendshapes' order of magnitude.
POSE_SCALE_DEG = 90.0


@register_extractor
class BlendshapeExtractor(FeatureExtractor):
    default_config = ExtractorConfig(
        name="blendshapes",
        dim=NUM_BLENDSHAPES + 3,
        input="face",
        licence="Apache-2.0 (MediaPipe Face Landmarker model)",
        description="52 MediaPipe blendshape scores in [0, 1], then yaw, pitch, roll in degrees / 90",
        params={"names": [*BLENDSHAPE_NAMES, "yaw/90", "pitch/90", "roll/90"]},
    )

    def __init__(self) -> None:
        self.config = self.default_config

    def extract(self, frame_bgr, face, aligned) -> np.ndarray:
        out = np.empty(self.dim, dtype=np.float32)
        out[:NUM_BLENDSHAPES] = face.blendshapes
        out[NUM_BLENDSHAPES:] = face.head_pose.as_array() / POSE_SCALE_DEG
        return out
