"""Feature extraction (the job behind `affectstream extract`): per-frame features of videos and face
folders into the feature store.

For each input video (a video file or an s-Aff-Wild2 ``cropped_aligned/<video>/``
folder) and each chosen extractor, one ``<store>/<extractor>/<video>.npz`` with a
row per frame: frame number (ABAW convention), features, face_found.

* One face per frame and video: the *main track*, the track with the largest
  summed box area over the video (long-lived and large; see
  affectstream.core.faces.tracking.select_main_track). Frames where it is absent have
  face_found False and zero features.
* Resumable: a video whose .npz exists and reads back intact for every chosen
  extractor (and, with ``--save-crops``, whose crops are all there) is skipped;
  a truncated or damaged one is extracted again. Files are written atomically,
  after the whole video is done and its crops are saved, so an interruption
  leaves no half-written file. Features of another file (or folder) of the same
  name are not replaced without ``--overwrite``.
* A video that fails (missing, truncated, undecodable) is reported and the batch
  goes on; the command exits 1 at the end, listing the failures.
* ``--workers`` processes (default: every core) each take whole videos.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.faces.alignment import MAX_CROP_SIZE, MIN_CROP_SIZE
from affectstream.core.faces.types import check_max_faces
from affectstream.jobs.batch import check_names, frame_count_hint, in_input_order
from affectstream.core.features.store import FeatureStore, VideoFeatures
from affectstream.core.sources.readers import FOLDER_KINDS, SourceSpec, folder_frame_rate

DEFAULT_EXTRACTORS = ("blendshapes", "landmarks")
# Progress is reported in chunks of frames so the queue stays quiet.
PROGRESS_EVERY = 25


class TrackArea(NamedTuple):
    track_id: int
    area: float


class ExtractError(UserInputError):
    """The extraction cannot start (bad options, a store holding other features)."""


@dataclass(frozen=True)
class ExtractOptions:
    store_root: Path
    extractors: tuple[str, ...] = DEFAULT_EXTRACTORS
    extractor_options: dict = field(default_factory=dict)  # name -> overrides for create_extractor
    max_faces: int = 1
    landmarker_model: str | None = None
    accept_landmarker_hash: bool = False
    save_crops: Path | None = None
    crop_size: int = 112
    folder_fps: float = 30.0
    skip_bad_frames: bool = False
    overwrite: bool = False

    def __post_init__(self) -> None:
        folder_frame_rate(self.folder_fps)  # a clear error before any video, not a traceback in a worker
        check_max_faces(self.max_faces)
        if self.crop_size < MIN_CROP_SIZE:
            raise ExtractError(f"--crop-size must be at least {MIN_CROP_SIZE}, got {self.crop_size}")
        if self.crop_size > MAX_CROP_SIZE:
            raise ExtractError(f"--crop-size must be at most {MAX_CROP_SIZE}, got {self.crop_size}")


@dataclass(frozen=True)
class VideoReport:
    name: str
    status: str  # "done", "skipped" or "failed"
    frames: int = 0
    faces: int = 0  # frames where the main face was found
    seconds: float = 0.0
    message: str = ""


# -- one video ---------------------------------------------------------------------

def extract_video(spec: SourceSpec, options: ExtractOptions, chain, progress: Callable[[int], None] = lambda n: None
                  ) -> VideoReport:
    """Extract one video and write one .npz per extractor; raises on bad input."""
    from affectstream.core.faces.crops import encode_jpeg
    from affectstream.core.faces.landmarker import FaceAnalyzer, FaceAnalyzerOptions, RunningMode
    from affectstream.core.faces.pipeline import FacePipeline
    from affectstream.core.faces.single import SingleFaceAnalyzer
    from affectstream.core.faces.tracking import select_main_track

    started = time.perf_counter()
    store = FeatureStore(options.store_root)
    numbers: list[int] = []
    # Per frame: {track id: FaceFeatures}, and the crops to save, JPEG-encoded.
    per_frame: list[dict[int, object]] = []
    crops: list[dict[int, bytes]] = []
    # Only ids and areas are kept for choosing the main track: whole FaceResults
    # (478 landmarks each) would cost hundreds of MB on a long video.
    tracks_seen: list[list[TrackArea]] = []
    with spec.open(fps=options.folder_fps, skip_unreadable=options.skip_bad_frames) as source:
        pipeline = None
        if not source.aligned or chain.needs_landmarks:
            landmarker = FaceAnalyzerOptions(
                running_mode=RunningMode.VIDEO, max_faces=1 if source.aligned else options.max_faces,
                model_path=options.landmarker_model, accept_any_model_hash=options.accept_landmarker_hash)
            # One face of whole frames is found as annotate and the live engine find it (the window search
            # where the whole-frame landmarker finds none), so training features are run-time features.
            one_of_many = not source.aligned and options.max_faces == 1
            pipeline = FacePipeline(SingleFaceAnalyzer(landmarker) if one_of_many else FaceAnalyzer(landmarker))
        try:
            pending = 0
            for frame in source:
                numbers.append(frame.number)
                faces = pipeline.process(frame.image, frame.timestamp_ms).faces if pipeline else ()
                features: dict[int, object] = {}
                saved: dict[int, bytes] = {}
                if source.aligned:
                    # The frame is the face; landmarks (if any were asked for) come from the analyzer.
                    face = faces[0] if faces else None
                    found = {0: chain.features_of(frame.image, [face], prealigned=True)[0]}
                    faces = (face.with_track(0),) if face else ()
                else:
                    found = dict(zip((f.track_id for f in faces), chain.features_of(frame.image, faces)))
                for track_id, face_features in found.items():
                    features[track_id] = face_features.vectors  # not the crops: they hold the frame
                    if options.save_crops:
                        saved[track_id] = encode_jpeg(face_features.crops.get(options.crop_size).image)
                per_frame.append(features)
                crops.append(saved)
                tracks_seen.append([TrackArea(f.track_id, f.area) for f in faces])
                pending += 1
                if pending == PROGRESS_EVERY:
                    progress(pending)
                    pending = 0
            progress(pending)
        finally:
            if pipeline:
                pipeline.close()
    if hasattr(source, "skipped") and source.skipped:
        print(f"{spec.name}: skipped {len(source.skipped)} unreadable frame(s), first: {source.skipped[0]}",
              file=sys.stderr)

    main = 0 if source.aligned else select_main_track(tracks_seen)
    frames = np.asarray(numbers, dtype=np.int64)
    if options.save_crops:  # before the features: their files are what marks the video done
        _save_crops(options.save_crops / spec.name, numbers, crops, main)
    fingerprint = spec.fingerprint() or ""
    for k, extractor in enumerate(chain.extractors):
        values = np.zeros((len(numbers), extractor.dim), dtype=np.float32)
        found = np.zeros(len(numbers), dtype=bool)
        for row, features in enumerate(per_frame):
            vector = features[main][k] if main in features else None
            if vector is not None:
                values[row], found[row] = vector, True
        store.write(extractor.name, spec.name, VideoFeatures(frames, values, found), source_kind=spec.kind,
                    source_fingerprint=fingerprint)
    main_found = sum(main in f for f in per_frame)
    return VideoReport(spec.name, "done", len(numbers), main_found, time.perf_counter() - started)


def _save_crops(folder: Path, numbers: Sequence[int], crops: Sequence[dict[int, bytes]], main: int | None) -> None:
    from affectstream.core.faces.crops import mark_crop_folder, write_bytes_atomic

    earlier = set(folder.glob("*.jpg")) if folder.is_dir() else set()
    mark_crop_folder(folder)  # before the first crop: the folder and whatever lands in it are extract's
    for number, saved in zip(numbers, crops):
        if main in saved:
            path = folder / f"{number:05d}.jpg"
            write_bytes_atomic(path, saved[main])
            earlier.discard(path)
    for stale in earlier:  # an earlier extraction's, of frames this one has no face in (or another video)
        stale.unlink()


def is_done(store: FeatureStore, names: Sequence[str], video: str, kind: str = "video",
            crops: Path | None = None) -> bool:
    # A file that exists but is truncated or damaged (a full disk, a killed copy)
    # is not done: it is extracted again instead of breaking training later. Nor is a folder read the
    # other way (aligned faces / whole frames): its crops, and so some features, differ. That is checked
    # first, as it reads one small entry of the file and not the whole of it.
    done = all((store.source_kind(name, video) == "frames") == (kind == "frames") and store.is_readable(name, video)
               for name in names)
    return done and (crops is None or _crops_complete(crops / video, store.read(names[0], video).face_found))


def _crops_complete(folder: Path, found: np.ndarray) -> bool:
    """A crop for each frame with the main face (an earlier run without --save-crops made none)."""
    return folder.is_dir() and sum(1 for _ in folder.glob("*.jpg")) >= int(np.sum(found))


def check_crop_folders(sources: Sequence[SourceSpec], crops: Path) -> None:
    """Crops of a folder of frames saved into that folder would write over its images (and the clean-up of
    stale crops would delete the rest), and so would crops saved into any folder of files extract did not
    make (an s-Aff-Wild2 ``cropped_aligned/<video>/``): refused before any video is read."""
    from affectstream.core.faces.crops import CROPS_MARKER, foreign_crop_files

    for spec in sources:
        if spec.kind in FOLDER_KINDS and Path(spec.location).is_dir() \
                and (crops / spec.name).resolve() == Path(spec.location).resolve():
            raise ExtractError(f"--save-crops {crops} would write {spec.name}'s crops over its own frames in "
                               f"{spec.location}; choose another --save-crops folder")
        foreign = foreign_crop_files(crops / spec.name)
        if foreign:
            raise ExtractError(f"--save-crops {crops}: {crops / spec.name} already holds files extract did not write "
                               f"({foreign[0].name}{f' and {len(foreign) - 1} more' if len(foreign) > 1 else ''}; "
                               f"no {CROPS_MARKER} marker), which its crops would replace or remove; choose another "
                               "--save-crops folder or move them")


def from_another_file(store: FeatureStore, names: Sequence[str], spec: SourceSpec) -> bool:
    """Whether the stored features of ``spec``'s name were taken from another source, or from this one before it
    changed (features written before the fingerprint was recorded vouch for any file)."""
    recorded = {store.source_fingerprint(name, spec.name) for name in names if store.has(name, spec.name)} - {""}
    if not recorded:  # nothing stored under the name: no file read (a new store over many videos stays cheap)
        return False
    fingerprint = spec.fingerprint()
    return fingerprint is not None and recorded != {fingerprint}  # None: a folder, or a file not there or unreadable


def safe_extract_video(spec, options, chain, progress) -> VideoReport:
    """extract_video, with bad input turned into a failed report (the batch goes on)."""
    started = time.perf_counter()
    try:
        return extract_video(spec, options, chain, progress)
    except (UserInputError, OSError) as exc:
        return VideoReport(spec.name, "failed", seconds=time.perf_counter() - started, message=str(exc))


# -- the batch -------------------------------------------------------------------------

def check_ready(options: ExtractOptions, store_option: str = "--out") -> None:
    """Fail before any video if the landmarker's model file is missing or wrong, or the store (or the crop
    folder) cannot be written; ``store_option`` names the store in the message."""
    from affectstream.core.atomic import require_writable_dir
    from affectstream.core.faces.model_file import locate_face_landmarker

    locate_face_landmarker(options.landmarker_model, options.accept_landmarker_hash)
    require_writable_dir(options.store_root, store_option)
    if options.save_crops is not None:
        require_writable_dir(options.save_crops, "--save-crops")


def prepare_store(options: ExtractOptions, chain) -> FeatureStore:
    """Write each extractor's spec; refuse a store that holds features of another config."""
    store = FeatureStore(options.store_root)
    for spec in chain.specs():
        if spec.name in store.backbones() and not options.overwrite:
            old = store.spec(spec.name)
            new = json.loads(json.dumps(spec.to_json()))
            if old.to_json() != new:
                raise ExtractError(
                    f"{store.backbone_dir(spec.name)} holds {spec.name!r} features of another configuration "
                    "(model, options or dimension); use another --out or --overwrite"
                )
        store.write_spec(spec)
    return store


def run_extraction(sources: Sequence[SourceSpec], options: ExtractOptions, workers: int = 1,
                   chain_factory: Callable[[], object] | None = None, show_progress: bool = True,
                   ray_address: str | None = None) -> list[VideoReport]:
    """Extract every source not done yet, in ``workers`` processes or on the Ray cluster at
    ``ray_address``; returns one report per source."""
    from affectstream.core.features.extractors import ExtractorChain

    check_names(sources)
    if options.save_crops is not None:
        check_crop_folders(sources, Path(options.save_crops))
    make_chain = chain_factory or (lambda: ExtractorChain.from_names(options.extractors, options.extractor_options))
    with make_chain() as chain:
        store = prepare_store(options, chain)
        extractor_names = chain.names
        reports: list[VideoReport] = []
        todo = []
        changed = [s for s in sources if not options.overwrite and from_another_file(store, extractor_names, s)]
        if changed:
            raise ExtractError(f"{store.root} already holds features named {changed[0].name!r} taken from another "
                               f"file or folder, or from {changed[0].location} before it changed; use another --out, or "
                               "--overwrite to replace them")
        for spec in sources:
            if not options.overwrite and is_done(store, extractor_names, spec.name, spec.kind, options.save_crops):
                reports.append(VideoReport(spec.name, "skipped", message="already extracted"))
            else:
                todo.append(spec)
        bar = _progress_bar(todo, show_progress)
        try:
            if ray_address is not None and todo and chain_factory is None:
                reports.extend(_run_on_ray(todo, options, ray_address, bar))
            elif workers <= 1 or len(todo) <= 1 or chain_factory is not None:
                for spec in todo:
                    reports.append(safe_extract_video(spec, options, chain, bar.update))
                    _report_line(bar, reports[-1])
            else:
                reports.extend(_run_pool(todo, options, min(workers, len(todo)), bar))
        finally:
            bar.close()
    return in_input_order(reports, sources)


def _progress_bar(todo: Sequence[SourceSpec], show: bool):
    from tqdm import tqdm

    return tqdm(total=frame_count_hint(todo) or None, unit="frame", disable=not show, file=sys.stderr,
                desc=f"extract {len(todo)} video(s)")


def _report_line(bar, report: VideoReport) -> None:
    if report.status == "failed":
        bar.write(f"FAILED {report.name}: {report.message}")
    else:
        bar.write(f"{report.name}: {report.frames} frames, face in {report.faces}, "
                  f"{report.frames / max(report.seconds, 1e-9):.1f} frames/s")


def _worker_setup(options: ExtractOptions) -> Callable:
    """In a worker process: its own chain, built once; whole videos then go through it."""
    from affectstream.core.features.extractors import ExtractorChain

    from affectstream.core.features.registry import one_thread_each

    chain = ExtractorChain.from_names(options.extractors, one_thread_each(options.extractor_options, options.extractors))
    return lambda spec, progress: safe_extract_video(spec, options, chain, progress)


def _run_pool(todo: Sequence[SourceSpec], options: ExtractOptions, workers: int, bar) -> list[VideoReport]:
    from affectstream.jobs.batch import run_in_workers

    return run_in_workers(todo, _worker_setup, (options,), workers, lambda r: _report_line(bar, r), bar.update,
                          _lost)


def _run_on_ray(todo: Sequence[SourceSpec], options: ExtractOptions, address: str, bar) -> list[VideoReport]:
    from affectstream.jobs.cluster import absolute_model_files, absolute_path, run_on_ray

    # Workers run in Ray's working folders: every file the options name must be absolute.
    options = replace(options, store_root=Path(options.store_root).resolve(),
                      save_crops=Path(options.save_crops).resolve() if options.save_crops else None,
                      landmarker_model=absolute_path(options.landmarker_model),
                      extractor_options=absolute_model_files(options.extractor_options))

    return run_on_ray(todo, _worker_setup, (options,), address, lambda r: _report_line(bar, r), bar.update, _lost)


def _lost(spec: SourceSpec, why: str) -> VideoReport:
    """The report of a video whose worker died on it (nothing of it was written)."""
    return VideoReport(spec.name, "failed", message=why)
