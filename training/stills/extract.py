"""Features of FER2013 stills through the live pipeline's path, cached in resumable chunks.

Each 48x48 face is padded and upscaled (training.fer.runtime_path.detector_frame)
so the Face Landmarker can find it, then goes through ``AlignedCrops`` and the
``ExtractorChain`` exactly as a video frame does in the engine. A still where no
face is found has ``found`` False and zero features (it cannot be used: at run
time such a frame produces no result either).

Chunks of ``CHUNK`` stills are written atomically to ``<cache>/<split>-<first>.npz``;
an interrupted run resumes from the chunks already there.
"""

from __future__ import annotations

import json
import multiprocessing
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from core.atomic import atomic_write
from core.errors import UserInputError
from core.features.store import FeatureSpec

CHUNK = 500


@dataclass(frozen=True)
class StillFeatures:
    """Per-still features of one split, in the split's order."""

    found: np.ndarray  # (N,) bool
    features: dict[str, np.ndarray]  # extractor name -> (N, dim) float32, zeros where not found
    specs: list[FeatureSpec]


def _extract_chunk(job: tuple[np.ndarray, tuple[str, ...]]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One chunk in a worker process: its own landmarker and chain, closed at the end."""
    from core.faces.alignment import AlignedCrops
    from core.faces.landmarker import FaceAnalyzer
    from core.features.extractors import ExtractorChain
    from training.fer.runtime_path import detector_frame

    images, names = job
    found = np.zeros(len(images), dtype=bool)
    with ExtractorChain.from_names(list(names), {n: {"threads": 1} for n in names if n.startswith("expr-cnn")}) as chain, \
            FaceAnalyzer.create(tile_search=0) as analyzer:
        out = {spec.name: np.zeros((len(images), spec.dim), dtype=np.float32) for spec in chain.specs()}
        for k, image in enumerate(images):
            frame = detector_frame(image)
            face = analyzer.analyze(frame).largest()
            if face is None:
                continue
            vectors = chain.extract(frame, face, AlignedCrops(frame, face)).vectors
            if any(v is None for v in vectors):
                continue
            found[k] = True
            for name, vector in zip(names, vectors):
                out[name][k] = vector
    return found, out


def _ignore_sigint() -> None:
    # Ctrl-C goes to the parent, which terminates the pool; workers must not print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def chain_specs(names: Sequence[str]) -> list[FeatureSpec]:
    from core.features.extractors import ExtractorChain

    with ExtractorChain.from_names(list(names)) as chain:
        return chain.specs()


def extract_still_features(split: str, images: np.ndarray, names: Sequence[str], cache_dir: Path,
                           workers: int = 2, progress: bool = True) -> StillFeatures:
    """Features of every still in ``images`` (N, 48, 48) uint8, reusing cached chunks."""
    from tqdm import tqdm

    names = tuple(names)
    specs = chain_specs(names)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    starts = list(range(0, len(images), CHUNK))
    paths = {s: cache_dir / f"{split}-{s:06d}.npz" for s in starts}
    # The specs carry each extractor's model hash: a retrained expr-cnn invalidates the cache.
    fingerprint = json.dumps([spec.to_json() for spec in specs], sort_keys=True)
    todo = [s for s in starts if not _chunk_matches(paths[s], fingerprint, min(CHUNK, len(images) - s))]
    bar = tqdm(total=len(images), initial=len(images) - sum(min(CHUNK, len(images) - s) for s in todo),
               unit="face", desc=f"features {split}", disable=not progress, file=sys.stderr)
    if todo:
        context = multiprocessing.get_context("spawn")
        with context.Pool(max(1, workers), initializer=_ignore_sigint) as pool:
            jobs = [(images[s:s + CHUNK], names) for s in todo]
            for start, (found, out) in zip(todo, pool.imap(_extract_chunk, jobs)):
                with atomic_write(paths[start]) as fh:
                    np.savez(fh, found=found, specs=np.array(fingerprint), **{_key(n): v for n, v in out.items()})
                bar.update(len(found))
    bar.close()
    found_parts, feature_parts = [], {n: [] for n in names}
    for start in starts:
        with np.load(paths[start], allow_pickle=False) as data:
            found_parts.append(data["found"])
            for name in names:
                feature_parts[name].append(data[_key(name)])
    features = {n: np.concatenate(parts) for n, parts in feature_parts.items()}
    for spec in specs:
        if features[spec.name].shape[1] != spec.dim:
            raise UserInputError(f"{cache_dir}: cached {spec.name} features have dimension "
                                 f"{features[spec.name].shape[1]}, the extractor gives {spec.dim}; delete the cache")
    return StillFeatures(np.concatenate(found_parts), features, specs)


def _key(name: str) -> str:
    return "f_" + name.replace("-", "_")


def _chunk_matches(path: Path, fingerprint: str, size: int) -> bool:
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["specs"]) == fingerprint and len(data["found"]) == size
    except (OSError, ValueError, KeyError):
        return False  # a damaged chunk is simply extracted again
