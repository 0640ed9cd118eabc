"""Features of labelled stills through the live pipeline's path, cached in resumable chunks.

Each still is framed for the detector (``StillSet.framing``: padded, scaled up),
then goes through the Face Landmarker (IMAGE mode, largest face), ``AlignedCrops``
and the ``ExtractorChain`` exactly as a video frame does in the engine, so
training features equal run-time features. A still where no face is found, or
whose file cannot be read, has ``found`` False and zero features (at run time
such a frame produces no result either); unreadable files are listed by name.

Chunks of ``CHUNK`` stills are written atomically to ``<cache>/<set>/<first>-<key>.npz``,
keyed on the extractors' specs (model hashes included), the framing, and the
ids and content (pixels, or image files' fingerprints) of the chunk's stills, so a
changed input is extracted again; an interrupted run resumes from the chunks already there,
and features made by other extractors are kept beside them.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import signal
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from affectstream.core.atomic import atomic_write
from affectstream.core.errors import UserInputError
from affectstream.core.features.store import FeatureSpec
from affectstream.training.stills.framing import Framing, read_image
from affectstream.training.stills.sets import StillSet

CHUNK = 500


@dataclass(frozen=True)
class StillFeatures:
    """Per-still features of one set, in the set's order."""

    found: np.ndarray  # (N,) bool
    features: dict[str, np.ndarray]  # extractor name -> (N, dim) float32, zeros where not found
    specs: list[FeatureSpec]
    unreadable: dict[str, str]  # still id -> why its image could not be read

    def take(self, index: np.ndarray) -> "StillFeatures":
        return StillFeatures(self.found[index], {n: f[index] for n, f in self.features.items()}, self.specs, {})

    def joined(self, other: "StillFeatures") -> "StillFeatures":
        """These stills, then ``other``'s (same extractors)."""
        return StillFeatures(np.concatenate([self.found, other.found]),
                             {n: np.concatenate([f, other.features[n]]) for n, f in self.features.items()},
                             self.specs, self.unreadable | other.unreadable)


@dataclass(frozen=True)
class _Job:
    images: list  # uint8 arrays, or paths to read
    framing: Framing
    names: tuple[str, ...]


def _extract_chunk(job: _Job) -> tuple[np.ndarray, dict[str, np.ndarray], dict[int, str]]:
    """One chunk in a worker process: its own landmarker and chain, closed at the end."""
    from affectstream.core.faces.landmarker import FaceAnalyzer
    from affectstream.core.features.extractors import ExtractorChain

    found = np.zeros(len(job.images), dtype=bool)
    unreadable: dict[int, str] = {}
    from affectstream.core.features.registry import one_thread_each

    with ExtractorChain.from_names(list(job.names), one_thread_each({}, job.names)) as chain, FaceAnalyzer.create(tile_search=0) as analyzer:
        out = {spec.name: np.zeros((len(job.images), spec.dim), dtype=np.float32) for spec in chain.specs()}
        for k, item in enumerate(job.images):
            try:
                image = read_image(item) if isinstance(item, (str, Path)) else item
            except UserInputError as exc:
                unreadable[k] = str(exc)
                continue
            frame = job.framing.frame(image)
            face = analyzer.analyze(frame).largest()
            if face is None:
                continue
            features = chain.features_of(frame, [face])[0]
            if not features.complete:
                continue
            vectors = features.vectors
            found[k] = True
            for name, vector in zip(job.names, vectors):
                out[name][k] = vector
    return found, out, unreadable


def _ignore_sigint() -> None:
    # Ctrl-C goes to the parent, which terminates the pool; workers must not print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def chain_specs(names: Sequence[str]) -> list[FeatureSpec]:
    from affectstream.core.features.extractors import ExtractorChain

    with ExtractorChain.from_names(list(names)) as chain:
        return chain.specs()


def extract_set_features(stills: StillSet, names: Sequence[str], cache_dir: Path, workers: int = 2,
                         progress: bool = True) -> StillFeatures:
    """Features of every still of ``stills``, reusing cached chunks."""
    from tqdm import tqdm

    names = tuple(names)
    specs = chain_specs(names)
    folder = Path(cache_dir) / stills.name
    folder.mkdir(parents=True, exist_ok=True)
    n = len(stills)
    starts = list(range(0, n, CHUNK))
    base = {"specs": [spec.to_json() for spec in specs], "framing": stills.framing.to_json()}
    source = stills.images if stills.images is not None else stills.paths
    keys = {s: _chunk_key(base, stills.ids[s:s + CHUNK], _content_digest(source[s:s + CHUNK])) for s in starts}
    # The key's hash is in the name: features of other extractors or stills sit beside these, not over them.
    paths = {s: folder / f"{s:06d}-{hashlib.sha256(keys[s].encode()).hexdigest()[:12]}.npz" for s in starts}
    todo = [s for s in starts if not _chunk_matches(paths[s], keys[s])]
    size = lambda s: min(CHUNK, n - s)  # noqa: E731
    bar = tqdm(total=n, initial=n - sum(size(s) for s in todo), unit="face", desc=f"features {stills.name}",
               disable=not progress, file=sys.stderr)
    if todo:
        jobs = [_Job(list(source[s:s + CHUNK]), stills.framing, names) for s in todo]
        context = multiprocessing.get_context("spawn")
        with context.Pool(max(1, min(workers, len(jobs))), initializer=_ignore_sigint) as pool:
            for start, (found, out, unreadable) in zip(todo, pool.imap(_extract_chunk, jobs)):
                errors = np.array(json.dumps({str(k): v for k, v in unreadable.items()}))
                with atomic_write(paths[start]) as fh:
                    np.savez(fh, found=found, key=np.array(keys[start]), unreadable=errors,
                             **{_key(name): v for name, v in out.items()})
                bar.update(len(found))
    bar.close()
    found_parts, feature_parts, unreadable = [], {name: [] for name in names}, {}
    for start in starts:
        with np.load(paths[start], allow_pickle=False) as data:
            found_parts.append(data["found"])
            for name in names:
                feature_parts[name].append(data[_key(name)])
            for k, why in json.loads(str(data["unreadable"])).items():
                unreadable[stills.ids[start + int(k)]] = why
    features = {name: np.concatenate(parts) for name, parts in feature_parts.items()}
    for spec in specs:
        if features[spec.name].shape[1] != spec.dim:
            raise UserInputError(f"{folder}: cached {spec.name} features have dimension "
                                 f"{features[spec.name].shape[1]}, the extractor gives {spec.dim}; delete the cache")
    return StillFeatures(np.concatenate(found_parts), features, specs, unreadable)


def _key(name: str) -> str:
    return "f_" + name.replace("-", "_")


def _chunk_key(base: dict, ids: Sequence[str], content: str) -> str:
    ids_hash = hashlib.sha256("\n".join(ids).encode()).hexdigest()
    return json.dumps(base | {"ids": ids_hash, "count": len(ids), "content": content}, sort_keys=True)


def _content_digest(source) -> str:
    """What the chunk's stills are, not only their ids: another npz's row 5 or an image file replaced in place keeps
    its id. In-memory stills by their pixels; files by affectstream.core.digest.file_fingerprint (size, first and last
    MiB: all of a still below 2 MiB), an unreadable one as such (it is extracted again once it reads)."""
    from affectstream.core.digest import file_fingerprint

    digest = hashlib.sha256()
    if isinstance(source, np.ndarray):
        digest.update(str(source.shape).encode() + np.ascontiguousarray(source).tobytes())
        return digest.hexdigest()
    for path in source:
        try:
            digest.update(file_fingerprint(path).encode() + b"\n")
        except OSError:
            digest.update(b"unreadable\n")
    return digest.hexdigest()


def _chunk_matches(path: Path, key: str) -> bool:
    if not path.is_file():
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["key"]) == key
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return False  # a damaged chunk is simply extracted again
