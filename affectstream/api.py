"""The one-call Python API: a video in, a table out.

    import affectstream
    df = affectstream.analyze("clip.mp4")            # one row per frame and face, the annotate CSV's columns
    df.attrs["model"], df.attrs["labels"]             # which model made it, and the labels it learned from

    with affectstream.Analyzer() as analyzer:         # frames one at a time (a notebook, another program)
        rows = analyzer.process(image_bgr, timestamp_ms=0)

    df = affectstream.read_results("annotations/clip.csv")   # an `annotate` CSV back as the same table

``analyze`` runs exactly what ``affectstream annotate`` runs (into a temporary
folder) and reads the CSV back, so the two agree value for value. ``Analyzer``
is the live engine: causal smoothing, one row per face (or one faceless row).
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from affectstream.errors import UserInputError
from affectstream.results.csv_file import HEADER, ResultsCsvError, RowMaker, frame_rows, iter_rows

ATTRS = ("model", "model_sha256", "settings")


def _with_attrs(table: pd.DataFrame, **attrs) -> pd.DataFrame:
    for key in ATTRS:
        if key not in attrs and key in table.columns and len(table):
            attrs[key] = str(table[key].iloc[0])
    table.attrs.update({k: v for k, v in attrs.items() if v is not None})
    return table


def read_results(path: str | Path) -> pd.DataFrame:
    """An ``annotate`` results CSV as a DataFrame (the maker's columns also in ``attrs``)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"{path}: no such results CSV")
    for _ in iter_rows(path):  # a file that is not a whole results CSV is named, with its line
        pass
    try:
        table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (ValueError, pd.errors.ParserError) as exc:
        raise ResultsCsvError(f"{path}: not a readable results CSV ({exc})") from None
    return _with_attrs(table, source=path.stem)


def analyze(source: str | Path, model: str | Path | None = None, *, max_faces: int = 1,
            smoothing: str = "centred", runtime: str = "auto", progress: bool = False, whole_frames: bool = False,
            folder_fps: float = 30.0) -> pd.DataFrame:
    """Analyse a whole video, an image, or a folder of numbered images: one row per frame and face.

    ``model``: a checkpoint (default: the shipped model). ``smoothing``: ``centred`` (offline,
    the checkpoint's window), ``causal`` (as live) or ``none``. A folder holds aligned faces
    (s-Aff-Wild2), or with ``whole_frames`` whole frames of a video (AFEW-VA), at ``folder_fps``.
    ``attrs`` of the result: model, model_sha256, labels (the label sources the model learned
    from), settings, source. A video that breaks part-way keeps the frames before the damage;
    ``attrs["error"]`` says why.
    """
    from affectstream.default_model import resolve_model
    from affectstream.engine import AffectEngine, EngineFaces, EngineOptions, EnginePost, EngineRuntime
    from affectstream.jobs.annotate import (AnnotateOptions, annotate_batch, check_smoothing, output_paths,
                                            run_identity)
    from affectstream.sources.readers import PATH_KINDS, find_sources, folder_frame_rate, folder_kind

    check_smoothing(smoothing)  # clear errors before the model loads
    folder_frame_rate(folder_fps)
    specs = find_sources([source], folders=folder_kind(whole_frames))
    if len(specs) != 1 or specs[0].kind not in PATH_KINDS:
        problems = "; ".join(s.problem for s in specs if s.problem)
        raise UserInputError(f"{source}: not one video, image or folder of frames"
                             + (f" ({problems})" if problems else ""))
    checkpoint = resolve_model(model)
    options = EngineOptions(EngineRuntime(runtime), EngineFaces(max_faces=max_faces), EnginePost(smooth=smoothing != "none"))
    with AffectEngine.from_checkpoint(checkpoint, options) as engine, \
            tempfile.TemporaryDirectory(prefix="affectstream-") as folder:
        identity = run_identity(engine, checkpoint, smoothing, max_faces)
        annotate_options = AnnotateOptions(Path(folder), smoothing, plot=False, folder_fps=folder_fps)
        report, = annotate_batch(specs, engine, annotate_options, identity, show_progress=progress,
                                 log=lambda line: None)
        csv = output_paths(Path(folder), specs[0].name).csv
        if not csv.is_file():
            message = report.message or "nothing could be analysed"
            raise UserInputError(message if str(source) in message else f"{source}: {message}")
        table = read_results(csv)
    # model_sha256 stays the CSV's (as read_results gives it), so both tables' attrs agree.
    return _with_attrs(table, source=specs[0].name, labels=identity.labels, error=report.message or None)


class Analyzer:
    """The live engine for frames one at a time (BGR images), with causal smoothing per face."""

    def __init__(self, model: str | Path | None = None, *, max_faces: int = 1, smooth: bool = True,
                 runtime: str = "auto") -> None:
        from affectstream.default_model import resolve_model
        from affectstream.engine import AffectEngine, EngineFaces, EngineOptions, EnginePost, EngineRuntime
        from affectstream.digest import file_sha256

        checkpoint = resolve_model(model)
        options = EngineOptions(EngineRuntime(runtime), EngineFaces(max_faces=max_faces), EnginePost(smooth=smooth))
        self._engine = AffectEngine.from_checkpoint(checkpoint, options)
        self._maker = RowMaker(self._engine.model_name, file_sha256(checkpoint),
                               f"smoothing={'causal' if smooth else 'none'};max_faces={max_faces}")
        self._frames = 0
        self._last_ms = -1

    @property
    def model_name(self) -> str:
        return self._engine.model_name

    def process(self, image: np.ndarray, timestamp_ms: int | None = None) -> pd.DataFrame:
        """This frame's rows (the columns of ``analyze``). Timestamps must increase; by default
        frames are taken to be 1/30 s apart."""
        from affectstream.sources.readers import Frame

        image = np.asarray(image)
        if image.ndim not in (2, 3) or image.dtype != np.uint8 or image.size == 0:
            raise UserInputError(f"an image is a non-empty uint8 array (H, W) or (H, W, 3), got {image.dtype} "
                                 f"{image.shape}")
        self._frames += 1
        stamp = int(round((self._frames - 1) * 1000.0 / 30.0)) if timestamp_ms is None else int(timestamp_ms)
        if stamp <= self._last_ms:
            raise UserInputError(f"timestamps must increase: {stamp} ms after {self._last_ms} ms")
        self._last_ms = stamp
        result = self._engine.process(Frame(image, self._frames, stamp, "frames"))
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(row + self._maker.cells() for row in frame_rows(result))
        text.seek(0)  # parsed as read_results parses a file, so both give the same types
        table = pd.read_csv(text, keep_default_na=False, na_values=[""])
        return _with_attrs(table)

    def reset(self) -> None:
        """A new stream: fresh tracks, timestamps may start again."""
        self._engine.reset()
        self._frames, self._last_ms = 0, -1

    def close(self) -> None:
        self._engine.close()

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
