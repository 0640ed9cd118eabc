"""Several extractors run together, their outputs kept in a fixed, recorded order."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from affectstream.faces.alignment import AlignedCrops
from affectstream.features.registry import ExtractorError, FeatureExtractor, create_extractor
from affectstream.features.store import FeatureSpec


@dataclass(frozen=True)
class FaceFeatures:
    """One face's features, one vector per extractor, in the chain's order."""

    names: tuple[str, ...]
    # None where an extractor needs landmarks and the frame has none (an aligned
    # crop on which the landmarker found no face).
    vectors: tuple[np.ndarray | None, ...]

    def __getitem__(self, name: str) -> np.ndarray | None:
        return self.vectors[self.names.index(name)]


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
        return [FaceFeatures(self.names, tuple(column[i] for column in columns)) for i in range(len(faces))]

    def close(self) -> None:
        for extractor in self.extractors:
            extractor.close()

    def __enter__(self) -> "ExtractorChain":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
