"""A second test domain for the FER2013 backbones: DiffusionFER's human expression labels.

FER2013 figures flatter a model tuned on FER2013. DiffusionFER's test split (145
synthetic faces with human expression labels, 7 classes, ``../shared/data/diffusionfer-va``)
is another domain: colour, 224x224, tightly cropped. Each face goes through the
run-time path as `import-stills` runs it (padded for the detector, the Face
Landmarker, the five points, the FER-framed 48x48 crop), so every model compared
sees the same crops a live frame would give.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectstream.core.features.expression_cnn import FER_TO_ABAW


@dataclass(frozen=True)
class DomainFaces:
    name: str
    crops: np.ndarray  # (n_found, 48, 48) uint8, FER-framed
    labels: np.ndarray  # (n_found,) FER2013 class indices
    total: int  # stills in the split, found or not

    def to_json(self) -> dict:
        return {"name": self.name, "faces_found": int(len(self.labels)), "stills": self.total}


def diffusionfer_faces(folder: str | Path, split: str = "test") -> DomainFaces:
    """The split's faces with an expression label, as run-time crops (faces the landmarker misses are left out)."""
    from affectstream.core.faces.landmarker import FaceAnalyzer
    from affectstream.core.features.expression_cnn import fer_crop_from_face
    from affectstream.training.stills.framing import read_image
    from affectstream.training.stills.sets import read_diffusionfer_va

    stills = read_diffusionfer_va(folder)
    chosen = np.flatnonzero((stills.split == split) & (stills.labels.expr >= 0) & (stills.labels.expr != 7))
    abaw_to_fer = {abaw: fer for fer, abaw in enumerate(FER_TO_ABAW)}
    crops, labels = [], []
    with FaceAnalyzer.create(tile_search=0) as analyzer:
        for k in chosen:
            frame = stills.framing.frame(read_image(stills.paths[k]))
            face = analyzer.analyze(frame).largest()
            if face is None:
                continue
            crops.append(fer_crop_from_face(frame, face))
            labels.append(abaw_to_fer[int(stills.labels.expr[k])])
    crops_array = np.stack(crops) if crops else np.zeros((0, 48, 48), np.uint8)
    return DomainFaces(f"DiffusionFER {split}", crops_array, np.asarray(labels, dtype=np.int64), len(chosen))
