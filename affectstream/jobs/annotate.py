"""Offline annotation of videos with the engine: a results CSV and a summary PNG per video.

* Every frame is analysed, in order (no drops); valence/arousal may be smoothed
  with the checkpoint's centred moving average per face track, since the whole
  video is known (``smoothing="centred"``), or with the live causal filter.
* Rows stream to a temporary file as frames are analysed: memory stays flat
  however long the video (only each face row's raw valence/arousal is kept, for
  the centred smoothing).
* Done markers: ``<video>.done.json`` is written last, atomically, after the CSV,
  the PNG and the error file, and names the model (name, checkpoint SHA-256), the
  settings that change results, the source file's fingerprint and the files it
  vouches for. A video counts as done only when its marker is there, is this
  run's, its files are whole (its plot included, unless ``--no-plot``) and its
  source is the same file; a run killed half-way is redone. Results of another
  model, other settings or another file of the same name are not overwritten
  without ``--overwrite``.
* A video that breaks partway (truncated, corrupt) still gets a valid CSV and PNG
  of the frames decoded before the damage, plus ``<video>.error.txt``; a video
  whose outputs cannot be written (disk full, read-only folder) is reported the
  same way. Either way the batch goes on.
"""

from __future__ import annotations

import glob
import hashlib
import json
import time
from array import array
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from affectstream.core.post.modes import SMOOTHING, check_smoothing  # noqa: F401  (SMOOTHING: the CLI's choices)
from affectstream.core.atomic import OutputPathError, require_writable_dir, write_text_atomic
from affectstream.core.digest import file_sha256
from affectstream.core.errors import UserInputError
from affectstream.core.faces.model_file import FACE_LANDMARKER_SHA256
from affectstream.core.results.types import FrameAffect
from affectstream.core.results.csv_file import (METADATA_COLUMNS, ResultsCsvError, ResultsCsvWriter, RowMaker, is_results_csv,
                                           iter_rows)
from affectstream.core.post.smoothing import centered_moving_average
from affectstream.core.sources.readers import DEFAULT_FPS, FOLDER_KINDS, SourceError, SourceSpec, folder_frame_rate
from affectstream.jobs.batch import check_names, frame_count_hint, in_input_order
from affectstream.core.output_lock import OutputBusy, output_lock
from affectstream.jobs.video import VideoPass, run_video

MANIFEST_FORMAT = "affectstream-annotation"


@dataclass(frozen=True)
class AnnotateOptions:
    out_dir: Path
    smoothing: str = "centred"
    plot: bool = True
    overwrite: bool = False
    folder_fps: float = DEFAULT_FPS  # frame rate of folders of numbered images (their timestamps)

    def __post_init__(self) -> None:
        check_smoothing(self.smoothing)
        folder_frame_rate(self.folder_fps)


@dataclass(frozen=True)
class RunIdentity:
    """What makes a video's results what they are: the model file and the settings that change results."""

    model: str
    model_sha256: str
    labels: str = ""  # which labels the model learned from (real or weak)
    settings: dict[str, Any] = field(default_factory=dict)

    def for_source(self, spec: SourceSpec, folder_fps: float = DEFAULT_FPS) -> "RunIdentity":
        """The identity of annotating one source. How a folder of numbered images is read changes its
        results, so it counts for folders only (a video file's earlier results stay its own), and only when
        not the default (aligned-face folders keep the identity they always had). A photo turned upright by
        its EXIF orientation says so (its boxes are in upright pixels)."""
        read_as: dict[str, Any] = {"folders": "whole frames"} if spec.kind == "frames" else {}
        if spec.kind in FOLDER_KINDS and folder_fps != DEFAULT_FPS:
            read_as["folder_fps"] = float(folder_fps)
        orientation = spec.orientation()
        if orientation != 1:
            read_as["exif_orientation"] = int(orientation)
        return replace(self, settings=self.settings | read_as)

    @property
    def run_id(self) -> str:
        key = json.dumps({"model_sha256": self.model_sha256, "settings": self.settings}, sort_keys=True)
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    def maker(self) -> RowMaker:
        return RowMaker(self.model, self.model_sha256, ";".join(f"{k}={v}" for k, v in self.settings.items()))

    def to_json(self) -> dict[str, Any]:
        return {"run": self.run_id, "model": self.model, "model_sha256": self.model_sha256, "labels": self.labels,
                "settings": dict(self.settings)}




def run_identity(engine, checkpoint: str | Path, smoothing: str, max_faces: int) -> RunIdentity:
    """The identity of annotating with this engine (built from ``checkpoint``) and these options."""
    from affectstream.core.filter_config import causal_config_from_json, causal_config_label

    described = {"centred": f"centred({engine.offline_window})",
                 "causal": f"causal({causal_config_label(causal_config_from_json(engine.causal_filter))})",
                 "none": "none"}[smoothing]
    labels = str(engine.provenance.get("labels", ""))
    settings: dict[str, Any] = {"smoothing": described, "max_faces": int(max_faces)}
    landmarker = engine.options.faces.landmarker_model
    if landmarker is not None and engine.options.faces.accept_landmarker_hash:
        digest = file_sha256(landmarker)
        if digest != FACE_LANDMARKER_SHA256:  # another face model finds other faces: other results
            settings["landmarker"] = digest[:16]
    return RunIdentity(engine.model_name, file_sha256(checkpoint), labels, settings)


@dataclass(frozen=True)
class VideoReport:
    name: str
    status: str  # "done", "skipped", "busy" (another run is writing its outputs) or "failed"
    frames: int = 0
    frames_with_face: int = 0
    seconds: float = 0.0  # analysing the frames, without start-up and writing files
    video_seconds: float = 0.0  # duration of the frames annotated
    message: str = ""
    total_seconds: float = 0.0  # everything for this video: start-up, frames, CSV, PNG

    @property
    def speed(self) -> float:
        """Times real time (video seconds per wall second of analysis)."""
        return self.video_seconds / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class OutputPaths:
    csv: Path
    png: Path
    error: Path
    manifest: Path


def output_paths(out_dir: Path, name: str) -> OutputPaths:
    return OutputPaths(out_dir / f"{name}.csv", out_dir / f"{name}.png", out_dir / f"{name}.error.txt",
                       out_dir / f"{name}.done.json")


def read_manifest(out_dir: Path, name: str) -> dict[str, Any] | None:
    """The done marker of a video, or None when there is none or it cannot be read."""
    try:
        data = json.loads(output_paths(out_dir, name).manifest.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT else None


def _results(paths: OutputPaths, plot: bool) -> tuple[Path, ...]:
    """The result files a run writes: the CSV, and the plot unless it is off."""
    return (paths.csv, paths.png) if plot else (paths.csv,)


def foreign_outputs(out_dir: Path, name: str, plot: bool = True) -> list[Path]:
    """Files already at a video's output names that no annotate run wrote: no done marker vouches for
    them and the CSV is not a results CSV (a run killed before its marker leaves a results CSV, and
    its plot beside it, which are redone)."""
    if read_manifest(out_dir, name) is not None:
        return []
    paths = output_paths(out_dir, name)
    if paths.csv.is_file() and is_results_csv(paths.csv):
        return []
    return [p for p in _results(paths, plot) if p.is_file()]


def outputs_replacing_input(out_dir: Path, spec: SourceSpec, plot: bool = True) -> list[Path]:
    """The output files of ``spec`` that are the very file it is read from (an image annotated into its
    own folder would have its plot written over it)."""
    source = Path(spec.location)
    if spec.kind not in ("video", "image") or not source.is_file():
        return []
    paths = output_paths(out_dir, spec.name)
    written = (*_results(paths, plot), paths.error, paths.manifest)
    return [p for p in written if p.exists() and p.samefile(source)]


def writes_into_frames(out_dir: Path, spec: SourceSpec) -> bool:
    """Whether ``out_dir`` is the folder of frames ``spec`` reads: its outputs would join its frames (a plot
    named ``001.png`` in folder ``001/`` is read back as a second frame 1, or written over frame 00003.png)."""
    source, out_dir = Path(spec.location), Path(out_dir)
    return spec.kind in FOLDER_KINDS and source.is_dir() and out_dir.is_dir() and out_dir.samefile(source)


def check_outputs(sources: Sequence[SourceSpec], out_dir: Path, overwrite: bool, plot: bool = True) -> None:
    """Refuse, before any work, to write over an input or into a folder of frames it reads, or (without
    ``overwrite``) over files at the output names that annotate did not write."""
    for spec in sources:
        replaced = outputs_replacing_input(out_dir, spec, plot)
        if replaced:
            raise UserInputError(f"{spec.location}: annotating it into {out_dir} would write {replaced[0].name} "
                                 "over the input itself; choose another --out")
        if writes_into_frames(out_dir, spec):
            raise UserInputError(f"{spec.location}: annotating a folder of frames into itself would put its "
                                 "outputs among the frames it reads; choose another --out")
    if overwrite:
        return
    foreign = [p for spec in sources if spec.kind != "invalid" for p in foreign_outputs(out_dir, spec.name, plot)]
    if foreign:
        more = f" (and {len(foreign) - 1} more)" if len(foreign) > 1 else ""
        raise UserInputError(f"{foreign[0]}{more} is already there and was not written by annotate (no done "
                             "marker, not a results CSV); pass --overwrite to replace it, or choose another --out")


def csv_maker(path: Path) -> tuple[str, ...] | None:
    """The maker columns (model, model_sha256, settings) of a results CSV's first row; None when the file has
    no rows or no such columns (written by another version or tool) or cannot be read."""
    try:
        for _, row in iter_rows(path):
            return tuple(row.get(column, "") for column in METADATA_COLUMNS) if METADATA_COLUMNS[0] in row \
                else None
    except ResultsCsvError:
        return None
    return None


def done_state(out_dir: Path, spec: SourceSpec, identity: RunIdentity, plot: bool = True) -> str:
    """"done" (this run's results, whole), "other" (whole results of another model or settings), "source"
    (whole results of another file of the same name, or of this file before it changed) or "todo"."""
    manifest = read_manifest(out_dir, spec.name)
    if manifest is None:
        # A run killed between its CSV and its marker left results that are redone, but only when their own
        # rows name this run: another run's (its marker deleted) or a CSV exported from the app are kept.
        csv_path = output_paths(out_dir, spec.name).csv
        if csv_path.is_file() and is_results_csv(csv_path) and csv_maker(csv_path) != tuple(identity.maker().cells()):
            return "other"
        return "todo"
    if manifest.get("status") != "done":
        return "todo"
    files = manifest.get("files", {})
    for entry in files.values():
        path = out_dir / str(entry.get("name", ""))
        if not path.is_file() or path.stat().st_size != entry.get("bytes"):
            return "todo"  # a file replaced, cut or deleted since: its marker no longer vouches for it
    if manifest.get("run") != identity.run_id:
        return "other"
    recorded = manifest.get("source_fingerprint")  # markers before it was recorded vouch for any file
    if recorded is not None and recorded != spec.fingerprint():
        return "source"
    return "todo" if plot and "png" not in files else "done"  # made with --no-plot: its plot is still to make


def made_by(out_dir: Path, name: str) -> str:
    """What made the results already at a video's output names, as its marker or its CSV's rows say."""
    manifest = read_manifest(out_dir, name)
    if manifest is not None:
        return f"model {manifest.get('model')!r}, {manifest.get('settings')}"
    maker = csv_maker(output_paths(out_dir, name).csv)
    if maker is None or not any(maker):
        return "a results CSV that does not say what made it (e.g. exported from the app)"
    model, digest, settings = maker
    if not digest:
        return f"model {model!r}, in a results CSV that does not say which checkpoint or settings (e.g. exported " \
               "from the app)"
    return f"model {model!r} ({digest}), {settings or 'no settings recorded'}"


# ---------------------------------------------------------------------------
# Centred smoothing per face track
# ---------------------------------------------------------------------------


def track_runs(faces: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """(track id, run) for each (track id, track_frames) in order: a track restarted after a timeout
    (track_frames back to 1) is a new run, smoothed on its own."""
    run_of: dict[int, int] = {}
    labels = []
    for track, frames in faces:
        if frames == 1 or track not in run_of:
            run_of[track] = run_of.get(track, -1) + 1
        labels.append((track, run_of[track]))
    return labels


def smooth_runs(runs: Sequence[tuple[int, int]], va_raw: np.ndarray, window: int) -> np.ndarray:
    """(N, 2) centred moving average of ``va_raw`` within each run, in the given order."""
    out = np.empty_like(np.asarray(va_raw, dtype=np.float64))
    groups: dict[tuple[int, int], list[int]] = {}
    for k, run in enumerate(runs):
        groups.setdefault(run, []).append(k)
    for rows in groups.values():
        out[rows] = centered_moving_average(np.asarray(va_raw, dtype=np.float64)[rows], window)
    return out


def smooth_centred(results: Sequence[FrameAffect], window: int) -> list[FrameAffect]:
    """Valence/arousal of each face track replaced by the centred moving average of its raw values."""
    where = [(i, j) for i, r in enumerate(results) for j in range(len(r.faces))]
    faces = [list(r.faces) for r in results]
    runs = track_runs((faces[i][j].track_id, faces[i][j].track_frames) for i, j in where)
    raw = np.array([(faces[i][j].valence_raw, faces[i][j].arousal_raw) for i, j in where]).reshape(-1, 2)
    for (i, j), (v, a) in zip(where, smooth_runs(runs, raw, window)):
        faces[i][j] = replace(faces[i][j], valence=float(v), arousal=float(a))
    return [replace(r, faces=tuple(f)) for r, f in zip(results, faces)]


class _FaceRows:
    """Per face row written: row number, track, track frames and raw valence/arousal (compact arrays)."""

    def __init__(self) -> None:
        self.rows, self.tracks, self.frames = array("q"), array("q"), array("q")
        self.va = array("d")

    def add(self, rows: list[int], result: FrameAffect) -> None:
        for row, face in zip(rows, result.faces):
            self.rows.append(row)
            self.tracks.append(face.track_id)
            self.frames.append(face.track_frames)
            self.va.extend((face.valence_raw, face.arousal_raw))

    def smoothed(self, total_rows: int, window: int) -> np.ndarray:
        """(total_rows, 2) centred VA for face rows, NaN for the rest (kept as written)."""
        out = np.full((total_rows, 2), np.nan)
        if self.rows:
            runs = track_runs(zip(self.tracks, self.frames))
            out[np.asarray(self.rows)] = smooth_runs(runs, np.asarray(self.va).reshape(-1, 2), window)
        return out


# ---------------------------------------------------------------------------
# One video, a batch
# ---------------------------------------------------------------------------


def annotate_video(spec: SourceSpec, engine, options: AnnotateOptions, identity: RunIdentity,
                   progress: Callable[[int], None] = lambda n: None) -> VideoReport:
    """Annotate one video and write its files; bad input or a failed write gives a failed report."""
    started = time.perf_counter()
    identity = identity.for_source(spec, options.folder_fps)
    if spec.kind == "webcam":
        return VideoReport(spec.name, "failed", message=f"webcam {spec.location}: annotate takes video files, "
                                                        "not cameras (use `affectstream bench live --camera N`)")
    paths = output_paths(options.out_dir, spec.name)
    try:
        with output_lock(options.out_dir, spec.name):
            # Looked at again under the lock: another run may have finished it since the batch looked.
            state = "todo" if options.overwrite else done_state(options.out_dir, spec, identity, options.plot)
            if state == "done":
                return VideoReport(spec.name, "skipped", message="already annotated (by another run)")
            if state in ("other", "source"):
                return VideoReport(spec.name, "failed", total_seconds=time.perf_counter() - started,
                                   message=f"another run has since written results of other settings or of another "
                                           f"file into {options.out_dir} ({made_by(options.out_dir, spec.name)}); "
                                           "pass --overwrite to replace them")
            # The old marker goes first: if this run dies half-way, nothing claims the video is done.
            paths.manifest.unlink(missing_ok=True)
            for output in (paths.csv, paths.png, paths.error, paths.manifest):  # temporary files of a killed run
                for stale in options.out_dir.glob(f".{glob.escape(output.name)}.*.tmp"):
                    stale.unlink(missing_ok=True)
            return _annotate(spec, engine, options, identity, paths, progress, started)
    except OutputBusy as busy:
        return VideoReport(spec.name, "busy", total_seconds=time.perf_counter() - started,
                           message=f"{busy.holder or 'another run'} is annotating it into {options.out_dir} now; "
                                   "left to that run, not waited for")
    except OSError as exc:
        where = exc.filename or options.out_dir
        return VideoReport(spec.name, "failed", total_seconds=time.perf_counter() - started,
                           message=f"cannot write the outputs for {spec.name} ({where}: {exc.strerror or exc})")
    except OutputPathError as exc:
        return VideoReport(spec.name, "failed", total_seconds=time.perf_counter() - started,
                           message=f"cannot write the outputs for {spec.name} ({exc})")


def _annotate(spec: SourceSpec, engine, options: AnnotateOptions, identity: RunIdentity, paths: OutputPaths,
              progress: Callable[[int], None], started: float) -> VideoReport:
    counts = {"with_face": 0, "first_ms": None, "last_ms": None, "step_ms": None}
    faces = _FaceRows()

    def take(result: FrameAffect) -> None:
        faces.add(writer.write(result), result)
        counts["with_face"] += result.success
        if counts["last_ms"] is not None and counts["step_ms"] is None:
            counts["step_ms"] = result.timestamp_ms - counts["last_ms"]
        counts["first_ms"] = result.timestamp_ms if counts["first_ms"] is None else counts["first_ms"]
        counts["last_ms"] = result.timestamp_ms
        progress(1)

    with ResultsCsvWriter(paths.csv, identity.maker()) as writer:
        try:
            with spec.open(fps=options.folder_fps) as source:
                done = run_video(engine, source, take)
        except SourceError as exc:  # the source did not open
            done = VideoPass(0, str(exc))
        frames, error, with_face, seconds = done.frames, done.problem, counts["with_face"], done.seconds
        if not frames:
            return VideoReport(spec.name, "failed", seconds=seconds, message=error,
                               total_seconds=time.perf_counter() - started)
        centred = options.smoothing == "centred"
        writer.commit(faces.smoothed(writer.rows, engine.offline_window) if centred else None)
    files = {"csv": paths.csv}
    if options.plot:
        from affectstream.core.results.summary_plot import plot_summary_csv

        labels = f"; labels: {identity.labels}" if identity.labels else ""
        plot_summary_csv(paths.csv, paths.png, f"{spec.name} ({engine.model_name}{labels})")
        files["png"] = paths.png
    if error:
        write_text_atomic(paths.error, f"{error}\nThe CSV holds the {frames} frames decoded before it.\n")
    else:
        paths.error.unlink(missing_ok=True)
    video_seconds = (counts["last_ms"] - counts["first_ms"] + (counts["step_ms"] or 0)) / 1000.0
    _write_manifest(paths, spec, identity, "failed" if error else "done", frames, with_face, error, files)
    return VideoReport(spec.name, "failed" if error else "done", frames, with_face, seconds, video_seconds, error,
                       time.perf_counter() - started)


def _write_manifest(paths: OutputPaths, spec: SourceSpec, identity: RunIdentity, status: str, frames: int,
                    with_face: int, error: str, files: dict[str, Path]) -> None:
    data = {
        "format": MANIFEST_FORMAT, "version": 1, "video": spec.name, "source": str(spec.location),
        "source_fingerprint": spec.fingerprint(),
        "status": status, "frames": frames, "frames_with_face": with_face, "error": error,
        **identity.to_json(),
        "files": {kind: {"name": path.name, "bytes": path.stat().st_size} for kind, path in files.items()},
    }
    write_text_atomic(paths.manifest, json.dumps(data, indent=2) + "\n")


def annotate_worker(checkpoint: str, engine_options, options: AnnotateOptions, identity: RunIdentity) -> Callable:
    """In a worker process: its own engine, loaded once; whole videos then go through it."""
    from affectstream.core.engine import AffectEngine
    from affectstream.core.features.registry import one_thread_each
    from affectstream.core.temporal.checkpoint import load_checkpoint

    loaded = load_checkpoint(checkpoint)
    faces = engine_options.faces
    engine_options = replace(engine_options, faces=replace(
        faces, extractor_options=one_thread_each(faces.extractor_options, loaded.meta.feature_names)))
    engine = AffectEngine(loaded, engine_options)
    engine.warm_up()
    return lambda spec, progress: annotate_video(spec, engine, options, identity, progress)


def annotate_batch(sources: Sequence[SourceSpec], engine, options: AnnotateOptions, identity: RunIdentity,
                   show_progress: bool = True, log: Callable[[str], None] = print, workers: int = 1,
                   worker_args: tuple | None = None, ray_address: str | None = None) -> list[VideoReport]:
    """Annotate every source not done yet. With ``worker_args`` (the checkpoint and EngineOptions each
    worker loads), whole videos run in ``workers`` processes, or on the Ray cluster at ``ray_address``."""
    from tqdm import tqdm

    sources = without_own_plots(sources, log)
    check_names(sources)
    require_writable_dir(options.out_dir)
    check_outputs(sources, options.out_dir, options.overwrite, options.plot)
    states = {s.name: done_state(options.out_dir, s, identity.for_source(s, options.folder_fps), options.plot)
              for s in sources if s.kind != "invalid"}
    others = sorted(name for name, state in states.items() if state == "other")
    if others and not options.overwrite:
        raise UserInputError(
            f"{options.out_dir} already holds results of {len(others)} of these videos made by another model or "
            f"other settings ({others[0]}: {made_by(options.out_dir, others[0])}); "
            "pass --overwrite to replace them, or choose another --out")
    changed = sorted(name for name, state in states.items() if state == "source")
    if changed and not options.overwrite:
        made_from = (read_manifest(options.out_dir, changed[0]) or {}).get("source")
        raise UserInputError(
            f"{options.out_dir} already holds results named {changed[0]!r} made from another file or folder, or "
            f"from this one before it changed (made from {made_from}); pass --overwrite to replace them, or choose another "
            "--out")
    reports, todo = [], []
    for spec in sources:
        if not options.overwrite and states.get(spec.name) == "done":
            reports.append(VideoReport(spec.name, "skipped", message="already annotated"))
            log(f"{spec.name}: already annotated, skipped")
        else:
            todo.append(spec)
    if ray_address is not None and todo and worker_args is not None:
        from affectstream.jobs.cluster import run_on_ray

        with _batch_bar(todo, show_progress) as bar:
            everywhere = (*_seen_from_any_node(*worker_args), replace(options, out_dir=options.out_dir.resolve()),
                          identity)
            reports += run_on_ray(todo, annotate_worker, everywhere, ray_address, lambda r: log(_report_line(r)),
                                  bar.update, _lost)
    elif workers > 1 and len(todo) > 1 and worker_args is not None:
        from affectstream.jobs.batch import run_in_workers

        with _batch_bar(todo, show_progress) as bar:
            reports += run_in_workers(todo, annotate_worker, (*worker_args, options, identity),
                                      min(workers, len(todo)), lambda r: log(_report_line(r)), bar.update, _lost)
    else:
        for spec in todo:
            with tqdm(total=frame_count_hint([spec]) or None, unit="frame", desc=spec.name,
                      disable=not show_progress) as bar:
                reports.append(annotate_video(spec, engine, options, identity, bar.update))
            log(_report_line(reports[-1]))
    return in_input_order(reports, sources)


def summary_plots(folder: Path) -> set[str]:
    """Names of the summary plots that annotate runs wrote into ``folder`` (as their done markers say)."""
    plots = set()
    for marker in folder.glob("*.done.json"):
        manifest = read_manifest(folder, marker.name[:-len(".done.json")])
        png = (manifest or {}).get("files", {}).get("png", {})
        if isinstance(png, dict) and png.get("name"):
            plots.add(str(png["name"]))
    return plots


def without_own_plots(sources: Sequence[SourceSpec], log: Callable[[str], None]) -> list[SourceSpec]:
    """The sources but the images that are summary plots annotate wrote: a folder annotated into itself holds
    them beside its inputs, and they are not faces to annotate. Each one dropped is said."""
    plots: dict[Path, set[str]] = {}  # a folder's markers are read once, however many images it holds
    kept = []
    for spec in sources:
        path = Path(spec.location)
        if spec.kind == "image" and path.parent not in plots:
            plots[path.parent] = summary_plots(path.parent)
        if spec.kind == "image" and path.name in plots[path.parent]:
            log(f"{spec.location}: the summary plot of an earlier annotate run, not annotated")
        else:
            kept.append(spec)
    return kept


def _lost(spec: SourceSpec, why: str) -> VideoReport:
    """The report of a video whose worker died on it (nothing of it was written)."""
    return VideoReport(spec.name, "failed", message=why)


def _batch_bar(todo: Sequence[SourceSpec], show: bool):
    from tqdm import tqdm

    return tqdm(total=frame_count_hint(todo) or None, unit="frame", desc=f"annotate {len(todo)} video(s)",
                disable=not show)


def _seen_from_any_node(checkpoint: str, engine_options) -> tuple[str, Any]:
    """The checkpoint and engine options with every file they name (model, landmarker, extractor
    models) as an absolute path, as workers in other working folders must get them."""
    from affectstream.jobs.cluster import absolute_model_files, absolute_path

    faces = engine_options.faces
    faces = replace(faces, landmarker_model=absolute_path(faces.landmarker_model),
                    extractor_options=absolute_model_files(faces.extractor_options))
    return absolute_path(checkpoint), replace(engine_options, faces=faces)


def _report_line(report: VideoReport) -> str:
    if report.status in ("skipped", "busy"):
        return f"{report.name}: {report.message}"
    if report.status == "failed" and not report.frames:
        return f"FAILED {report.name}: {report.message}"
    speed = f" ({report.speed:.1f}x real time)" if report.video_seconds > 0 else ""
    return (f"{report.name}: {report.frames} frames, face in {report.frames_with_face}, "
            f"{report.frames / max(report.seconds, 1e-9):.1f} frames/s{speed} analysing; "
            f"{report.total_seconds:.1f} s with start-up and writing files"
            + (f"; FAILED after them: {report.message}" if report.status == "failed" else ""))


