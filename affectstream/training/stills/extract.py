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

The chunks run in the worker pool `annotate` and `extract` use (affectstream.jobs.batch):
each process sets up its landmarker and chain once, progress comes back per still,
and a chunk whose process died is named once the others are written.
"""

from __future__ import annotations

import hashlib
import json
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

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
class _Chunk:
    """Stills handed to a worker process: the set's ``start``-th onwards."""

    start: int
    images: list  # uint8 arrays, or paths to read
    framing: Framing


@dataclass(frozen=True)
class ChunkFeatures:
    """What a worker gives back for one chunk; ``lost`` says why there is nothing (its worker process died)."""

    start: int
    found: np.ndarray  # (n,) bool
    features: dict[str, np.ndarray]  # extractor name -> (n, dim) float32
    unreadable: dict[int, str]  # index in the chunk -> why its image could not be read
    lost: str = ""


class StillExtractionError(UserInputError):
    """Stills whose worker process died on them (a crash, the out-of-memory killer): the chunks done are kept."""


def _worker_setup(names: tuple[str, ...]) -> Callable:
    """In a worker process: its own landmarker and chain, built once; whole chunks then go through them."""
    from affectstream.core.faces.landmarker import FaceAnalyzer
    from affectstream.core.features.extractors import ExtractorChain
    from affectstream.core.features.registry import one_thread_each

    chain = ExtractorChain.from_names(list(names), one_thread_each({}, names))
    analyzer = FaceAnalyzer.create(tile_search=0)
    return lambda chunk, progress: _extract_chunk(chunk, names, chain, analyzer, progress)


def _extract_chunk(chunk: _Chunk, names: tuple[str, ...], chain, analyzer,
                   progress: Callable[[int], None]) -> ChunkFeatures:
    found = np.zeros(len(chunk.images), dtype=bool)
    unreadable: dict[int, str] = {}
    out = {spec.name: np.zeros((len(chunk.images), spec.dim), dtype=np.float32) for spec in chain.specs()}
    for k, item in enumerate(chunk.images):
        progress(1)
        try:
            image = read_image(item) if isinstance(item, (str, Path)) else item
        except UserInputError as exc:
            unreadable[k] = str(exc)
            continue
        frame = chunk.framing.frame(image)
        face = analyzer.analyze(frame).largest()
        if face is None:
            continue
        features = chain.features_of(frame, [face])[0]
        if not features.complete:
            continue
        found[k] = True
        for name, vector in zip(names, features.vectors):
            out[name][k] = vector
    return ChunkFeatures(chunk.start, found, out, unreadable)


def _lost(chunk: _Chunk, why: str) -> ChunkFeatures:
    return ChunkFeatures(chunk.start, np.zeros(0, dtype=bool), {}, {}, lost=why)


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
    try:
        if todo:
            chunks = [_Chunk(s, list(source[s:s + CHUNK]), stills.framing) for s in todo]
            _extract_chunks(chunks, names, workers, lambda done: _write_chunk(paths[done.start], keys[done.start],
                                                                              done), bar.update, stills.name)
    finally:
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


def _extract_chunks(chunks: list[_Chunk], names: tuple[str, ...], workers: int,
                    write: Callable[[ChunkFeatures], None], on_progress: Callable[[int], None], set_name: str) -> None:
    """The chunks in the shared worker pool (affectstream.jobs.batch), each written as it finishes, so that an
    import stopped half-way resumes from them; chunks whose worker died stop the import once the rest are done."""
    from affectstream.core.faces.model_file import locate_face_landmarker
    from affectstream.jobs.batch import run_in_workers

    # A missing or wrong landmarker model is said as it is, before any process starts (in a worker it would be
    # a worker that could not start).
    locate_face_landmarker()

    def on_report(done: ChunkFeatures) -> None:
        if not done.lost:
            write(done)

    reports = run_in_workers(chunks, _worker_setup, (names,), workers, on_report, on_progress, _lost)
    lost = sorted((r for r in reports if r.lost), key=lambda r: r.start)
    if lost:
        first = lost[0]
        raise StillExtractionError(f"{set_name}: {len(lost)} chunk(s) of {CHUNK} stills were not extracted, e.g. the "
                                   f"one from still {first.start + 1}: {first.lost}; the others are kept, so running "
                                   "again extracts only those")


def _write_chunk(path: Path, key: str, done: ChunkFeatures) -> None:
    errors = np.array(json.dumps({str(k): v for k, v in done.unreadable.items()}))
    with atomic_write(path) as fh:
        np.savez(fh, found=done.found, key=np.array(key), unreadable=errors,
                 **{_key(name): v for name, v in done.features.items()})


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
