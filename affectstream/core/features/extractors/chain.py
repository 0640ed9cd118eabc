"""Several extractors run together, their outputs kept in a fixed, recorded order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from affectstream.core.faces.alignment import AlignedCrops
from affectstream.core.features.registry import ExtractorError, FeatureExtractor, create_extractor
from affectstream.core.features.store import FeatureSpec


@dataclass(frozen=True)
class FaceFeatures:
    """One face's features, one vector per extractor, in the chain's order."""

    names: tuple[str, ...]
    # None where an extractor needs landmarks and the frame has none (an aligned
    # crop on which the landmarker found no face).
    vectors: tuple[np.ndarray | None, ...]
    # The face's aligned crops (warped on request), e.g. for saving the crop beside the features.
    crops: AlignedCrops | None = field(default=None, compare=False, repr=False)

    def __getitem__(self, name: str) -> np.ndarray | None:
        return self.vectors[self.names.index(name)]

    @property
    def complete(self) -> bool:
        return all(v is not None for v in self.vectors)

    def concatenated(self) -> np.ndarray | None:
        """The model's input: every extractor's vector in order, or None when one is missing."""
        return np.concatenate(self.vectors) if self.complete else None


class ExtractorChain:
    """Runs its extractors in order; ``names`` and ``specs`` record that order."""

    def __init__(self, extractors: Sequence[FeatureExtractor]) -> None:
        if not extractors:
            raise ExtractorError("no feature extractors chosen")
        names = [e.name for e in extractors]
        if len(set(names)) != len(names):
            raise ExtractorError(f"an extractor name appears twice in {names}")
        self.extractors = tuple(extractors)

    @classmethod
    def from_names(cls, names: Sequence[str], options: dict[str, dict] | None = None) -> "ExtractorChain":
        """Build by registered name; ``options[name]`` are that extractor's overrides."""
        options = options or {}
        built: list[FeatureExtractor] = []
        try:
            for name in names:
                built.append(create_extractor(name, **options.get(name, {})))
        except BaseException:
            for extractor in built:
                extractor.close()
            raise
        return cls(built)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.extractors)

    @property
    def dim(self) -> int:
        return sum(e.dim for e in self.extractors)

    @property
    def needs_landmarks(self) -> bool:
        """True when some extractor reads landmarks, blendshapes or pose (not only crops)."""
        return any(e.config.input == "face" for e in self.extractors)

    def specs(self) -> list[FeatureSpec]:
        return [FeatureSpec(e.name, e.dim, e.config.to_json()) for e in self.extractors]

    def features_of(self, frame_bgr: np.ndarray, faces: Sequence, prealigned: bool = False) -> list[FaceFeatures]:
        """Faces -> features: the one way every caller (live engine, extraction, importers) turns a
        frame's faces into features, so training features equal run-time features.

        ``faces``: the frame's analysed faces. ``prealigned``: the frame is itself an aligned face
        crop; ``faces`` is then one item, the landmarker's face in it or None when it found none
        (extractors that need landmarks give None for it)."""
        if prealigned and len(faces) != 1:
            raise ValueError(f"an aligned frame is one face, got {len(faces)}")
        return self.extract_faces(frame_bgr, faces, [AlignedCrops(frame_bgr, face, prealigned=prealigned)
                                                     for face in faces])

    def extract(self, frame_bgr: np.ndarray, face, crops: AlignedCrops) -> FaceFeatures:
        return self.extract_faces(frame_bgr, [face], [crops])[0]

    def extract_faces(self, frame_bgr: np.ndarray, faces: Sequence, crops: Sequence[AlignedCrops]) -> list[FaceFeatures]:
        """Every face of one frame; each extractor is called once for all of them (a batch)."""
        columns = []
        for extractor in self.extractors:
            config = extractor.config
            usable = [i for i, face in enumerate(faces) if not (config.input == "face" and face is None)]
            aligned = [None if config.input != "aligned" or (extractor.aligned_only_without_face and faces[i] is not None)
                       else crops[i].get(config.input_size, config.grey) for i in usable]
            vectors: list[np.ndarray | None] = [None] * len(faces)
            if usable:
                batch = np.asarray(extractor.extract_batch([frame_bgr] * len(usable), [faces[i] for i in usable],
                                                           aligned), dtype=np.float32)
                if batch.shape != (len(usable), extractor.dim):
                    raise RuntimeError(f"extractor {extractor.name!r} returned shape {batch.shape} for "
                                       f"{len(usable)} faces, not ({len(usable)}, {extractor.dim})")
                for row, i in enumerate(usable):
                    vectors[i] = batch[row]
            columns.append(vectors)
        return [FaceFeatures(self.names, tuple(column[i] for column in columns), crops[i]) for i in range(len(faces))]

    def close(self) -> None:
        for extractor in self.extractors:
            extractor.close()

    def __enter__(self) -> "ExtractorChain":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
