"""The one-call Python API: a video in, a table out.

    import affectstream
    df = affectstream.analyze("clip.mp4")            # one row per frame and face, the annotate CSV's columns
    df.attrs["model"], df.attrs["labels"]             # which model made it, and the labels it learned from

    options = affectstream.EngineOptions(faces=affectstream.EngineFaces(max_faces=6))   # every engine setting
    with affectstream.Analyzer(options=options) as analyzer:   # frames one at a time (a notebook, another program)
        result = analyzer.process(image_bgr, timestamp_ms=0)   # the engine's typed faces: result.faces
        rows = result.to_frame()                               # the same columns as analyze's table

    df = affectstream.read_results("annotations/clip.csv")   # an `annotate` CSV back as the same table

``analyze`` runs exactly what ``affectstream annotate`` runs (into a temporary
folder) and reads the CSV back, so the two agree value for value. ``Analyzer``
is the live engine: ``smoothing`` causal (the default) or none, one row per face (or one faceless row)
in ``to_frame``, with no CSV in between.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import numpy as np
import pandas as pd

from affectstream.core.errors import UserInputError
from affectstream.core.post.modes import check_live_smoothing, check_smoothing, engine_smoothing
from affectstream.core.results.csv_file import RowMaker
from affectstream.core.results.csv_read import read_results_table
from affectstream.core.results.frames import table_from_frames
from affectstream.core.results.types import FaceAffect, FrameAffect

if TYPE_CHECKING:  # the engine loads torch: imported where an engine is made, not with the API
    from affectstream.core.engine import EngineOptions

ATTRS = ("model", "model_sha256", "settings")


def _with_attrs(table: pd.DataFrame, **attrs) -> pd.DataFrame:
    for key in ATTRS:
        if key not in attrs and key in table.columns and len(table):
            attrs[key] = str(table[key].iloc[0])
    table.attrs.update({k: v for k, v in attrs.items() if v is not None})
    return table


def _path_argument(name: str, value, hint: str = ""):
    if not isinstance(value, (str, os.PathLike)):
        raise UserInputError(f"{name} is a path (str or pathlib.Path), not {type(value).__name__}{hint}")
    return value


def _model_argument(model):
    """A checkpoint path, or None for the shipped model."""
    return None if model is None else _path_argument("model", model, " (or None for the shipped model)")


def _flag(name: str, value) -> bool:
    """A True/False argument: the string "false" is true to Python, so only real booleans are taken."""
    if not isinstance(value, (bool, np.bool_)):
        raise UserInputError(f"{name} is True or False, not {value!r}")
    return bool(value)




def read_results(path: str | Path) -> pd.DataFrame:
    """An ``annotate`` results CSV as a DataFrame (the maker's columns also in ``attrs``)."""
    path = Path(_path_argument("path", path))
    # Every row checked (ResultsCsvError names file, line and column), the same dtypes whatever the rows.
    return _with_attrs(read_results_table(path), source=path.stem)


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
    from affectstream.core.default_model import resolve_model
    from affectstream.core.engine import AffectEngine, EngineFaces, EngineOptions, EnginePost, EngineRuntime
    from affectstream.jobs.annotate import AnnotateOptions, annotate_batch, output_paths, run_identity
    from affectstream.core.faces.types import check_max_faces
    from affectstream.core.sources.readers import PATH_KINDS, find_sources, folder_frame_rate, folder_kind

    source = _path_argument("source", source, "; for images in memory use Analyzer.process")
    model = _model_argument(model)  # clear errors before the model loads
    check_smoothing(smoothing)
    check_max_faces(max_faces)
    folder_frame_rate(folder_fps)
    whole_frames, progress = _flag("whole_frames", whole_frames), _flag("progress", progress)
    specs = find_sources([source], folders=folder_kind(whole_frames))
    if len(specs) != 1 or specs[0].kind not in PATH_KINDS:
        problems = "; ".join(s.problem for s in specs if s.problem)
        raise UserInputError(f"{source}: not one video, image or folder of frames"
                             + (f" ({problems})" if problems else ""))
    options = EngineOptions(EngineRuntime(runtime), EngineFaces(max_faces=max_faces),
                            EnginePost(smoothing=engine_smoothing(smoothing)))
    checkpoint = resolve_model(model)
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


@dataclass(frozen=True)
class FrameResult:
    """One frame from ``Analyzer.process``: the engine's typed result of each face (``faces``, FaceAffect
    values: box, valence/arousal raw and smoothed, expression and AU probabilities...), iterable as those
    faces, and ``to_frame()``: the same rows as a table of ``analyze``'s columns and dtypes."""

    affect: FrameAffect  # the engine's result: every face, with the frame's stage times
    maker: RowMaker  # what made the rows: the table's model, model_sha256 and settings columns
    labels: str  # the label sources the model learned from (the table's attrs["labels"])

    @property
    def faces(self) -> tuple[FaceAffect, ...]:
        return self.affect.faces

    @property
    def frame_index(self) -> int:
        return self.affect.frame_index

    @property
    def timestamp_ms(self) -> int:
        return self.affect.timestamp_ms

    def __len__(self) -> int:
        return len(self.faces)

    def __iter__(self) -> Iterator[FaceAffect]:
        return iter(self.faces)

    def __getitem__(self, index: int) -> FaceAffect:
        return self.faces[index]

    def to_frame(self) -> pd.DataFrame:
        """One row per face (one faceless row when there is none), valued as the CSV ``annotate`` writes."""
        return _with_attrs(table_from_frames([self.affect], self.maker), labels=self.labels)


class _Unset:
    """A keyword not given, shown as its default: None is a value (refused where it was before), and a
    default must not count as a keyword that disagrees with ``options``."""

    def __init__(self, default: object) -> None:
        self.default = default

    def __repr__(self) -> str:
        return repr(self.default)


@dataclass(frozen=True)
class _Keywords:
    """Analyzer's loose keywords, each the spelling of one field of EngineOptions."""

    max_faces: object
    smoothing: object
    runtime: object

    def given(self) -> dict[str, object]:
        return {k: v for k, v in vars(self).items() if not isinstance(v, _Unset)}

    def value(self, name: str) -> object:
        given = getattr(self, name)
        return given.default if isinstance(given, _Unset) else given


def _smoothing_keywords(smoothing, smooth) -> object:
    """``smoothing``, or what the deprecated ``smooth`` flag meant (True: causal, False: none)."""
    if isinstance(smooth, _Unset):
        return smoothing
    warnings.warn("Analyzer(smooth=...) is deprecated: use smoothing='causal' or smoothing='none'",
                  DeprecationWarning, stacklevel=3)
    flag = "causal" if _flag("smooth", smooth) else "none"  # "none" would be true
    if not isinstance(smoothing, _Unset) and smoothing != flag:
        raise UserInputError(f"smooth={smooth!r} and smoothing={smoothing!r} disagree: give smoothing only")
    return flag


def _engine_options(options, keywords: _Keywords) -> EngineOptions:
    """The options the Analyzer runs with: ``options``, or the loose keywords' (a keyword given beside
    ``options`` must agree with it: a clear error rather than one silently winning)."""
    from affectstream.core.engine import EngineFaces, EngineOptions, EnginePost, EngineRuntime
    from affectstream.core.faces.types import check_max_faces
    from affectstream.core.temporal.runtime import check_runtime_kind

    check_max_faces(keywords.value("max_faces"))
    check_live_smoothing(keywords.value("smoothing"))
    check_runtime_kind(keywords.value("runtime"))
    if options is None:
        return EngineOptions(EngineRuntime(keywords.value("runtime")),
                             EngineFaces(max_faces=keywords.value("max_faces")),
                             EnginePost(smoothing=keywords.value("smoothing")))
    if not isinstance(options, EngineOptions):
        raise UserInputError(f"options is an affectstream.EngineOptions, not {type(options).__name__}")
    held = {"max_faces": ("options.faces.max_faces", options.faces.max_faces),
            "smoothing": ("options.post.smoothing", options.post.smoothing),
            "runtime": ("options.runtime.kind", options.runtime.kind)}
    for name, value in keywords.given().items():
        where, own = held[name]
        if value != own:
            raise UserInputError(f"{name}={value!r} conflicts with {where}={own!r}: give it in one place "
                                 "(the options, or the keyword without options)")
    return options


class Analyzer:
    """The live engine for frames one at a time (BGR images), with causal smoothing per face.

    ``options``: every engine setting (``affectstream.EngineOptions``: runtime, faces, post-processing).
    The keywords ``max_faces``, ``smoothing`` (``causal`` or ``none``: ``centred`` needs the frames to
    come) and ``runtime`` are shorthands for theirs; given beside ``options`` they must agree with it.
    ``smooth`` is the deprecated spelling of ``smoothing`` (True: causal, False: none).

    ``attrs`` of each table and the properties ``model_name`` and ``labels`` say which model made
    it and which labels it learned from, as ``analyze``'s do.
    """

    def __init__(self, model: str | Path | None = None, *, options: EngineOptions | None = None,
                 max_faces: int = _Unset(1), smoothing: str = _Unset("causal"), runtime: str = _Unset("auto"),
                 smooth: bool | None = _Unset(None)) -> None:
        from affectstream.core.default_model import resolve_model
        from affectstream.core.engine import AffectEngine
        from affectstream.jobs.annotate import run_identity

        keywords = _Keywords(max_faces, _smoothing_keywords(smoothing, smooth), runtime)
        self.options = _engine_options(options, keywords)  # every error before the model loads
        checkpoint = resolve_model(_model_argument(model))
        self._engine = AffectEngine.from_checkpoint(checkpoint, self.options)
        try:
            self._identity = run_identity(self._engine, checkpoint, self.options.post.smoothing,
                                          self.options.faces.max_faces)
        except BaseException:
            self._engine.close()
            raise
        self._maker = self._identity.maker()
        self._frames = 0
        self._last_ms: int | None = None
        self._clock_ms: float | None = None  # the last timestamp, unrounded: default ones step 1/30 s from it

    @property
    def model_name(self) -> str:
        return self._identity.model

    @property
    def labels(self) -> str:
        """The label sources the model learned from (real or weak), as ``analyze``'s ``attrs["labels"]``."""
        return self._identity.labels

    def process(self, image: np.ndarray, timestamp_ms: float | None = None) -> FrameResult:
        """This frame's faces (``FrameResult``: ``.faces``, and ``.to_frame()`` with the columns of
        ``analyze``). Timestamps must increase; a frame without one is taken to come 1/30 s after the last."""
        from affectstream.core.sources.readers import Frame

        engine = self._open_engine()
        image = np.asarray(image)
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)) \
                or image.dtype != np.uint8 or image.size == 0:
            raise UserInputError(f"an image is a non-empty uint8 array (H, W) or (H, W, 1, 3 or 4 channels), got "
                                 f"{image.dtype} {image.shape}")
        clock = self._next_clock(timestamp_ms)
        stamp = int(round(clock))
        if self._last_ms is not None and stamp <= self._last_ms:
            raise UserInputError(f"timestamps must increase: {stamp} ms after {self._last_ms} ms (in whole "
                                 "milliseconds)")
        try:
            result = engine.process(Frame(image, self._frames + 1, stamp, "frames"))
        except BaseException:
            # The face stage may have taken this frame's time: it starts afresh, so that the next frame (the
            # same time again, by default) is analysed as if this one had never been given.
            engine.restart_faces()
            raise
        # Counted only once the frame is analysed: a refused frame takes no number and no time.
        self._frames, self._last_ms, self._clock_ms = self._frames + 1, stamp, clock
        return FrameResult(result, self._maker, self.labels)

    def _next_clock(self, timestamp_ms: float | None) -> float:
        if timestamp_ms is None:
            return 0.0 if self._clock_ms is None else self._clock_ms + 1000.0 / 30.0
        if isinstance(timestamp_ms, (bool, np.bool_)) or not isinstance(timestamp_ms, (int, float, np.integer,
                                                                                           np.floating)):
            raise UserInputError(f"timestamp_ms is a number of milliseconds, not {timestamp_ms!r}")
        from affectstream.core.sources.readers import MAX_TIMESTAMP_MS

        # As a Python number (a float16's bound would round to inf), compared before any conversion: 10**30
        # fits neither an int64 nor, exactly, a float. A Unix time in milliseconds (under 2 x 10^12) is inside.
        timestamp_ms = timestamp_ms.item() if isinstance(timestamp_ms, np.generic) else timestamp_ms
        if not (0 <= timestamp_ms <= MAX_TIMESTAMP_MS):  # NaN fails too
            raise UserInputError(f"timestamp_ms must be a number of milliseconds from 0 to {MAX_TIMESTAMP_MS:.0e}, "
                                 f"not {timestamp_ms!r}")
        return float(timestamp_ms)

    def _open_engine(self):
        if self._engine is None:
            raise UserInputError("this Analyzer is closed: make a new one")
        return self._engine

    def reset(self) -> None:
        """A new stream: fresh tracks, timestamps may start again."""
        self._open_engine().reset()
        self._frames, self._last_ms, self._clock_ms = 0, None, None

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None

    def __enter__(self) -> "Analyzer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
