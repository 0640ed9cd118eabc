"""The API's engine options, its one spelling of smoothing, and Analyzer.process's typed results."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

import affectstream
from affectstream.core import engine as core_engine
from affectstream.core.errors import UserInputError
from affectstream.core.results.csv_file import HEADER, write_results_csv
from tests.media import decode_frames, shared_file


class Loaded(Exception):
    """Raised in place of loading a model: the arguments were all accepted."""


@pytest.fixture
def no_model(monkeypatch):
    import affectstream.core.default_model as default_model

    def resolve(*args, **kwargs):
        raise Loaded()

    monkeypatch.setattr(default_model, "resolve_model", resolve)


@pytest.fixture(scope="module")
def frames():
    return decode_frames(shared_file("videos", "single_face.mp4"))


# -- every engine setting, in one options object ----------------------------------------------------------------
def test_the_package_exports_the_engine_s_options():
    assert affectstream.EngineOptions is core_engine.EngineOptions
    assert (affectstream.EngineFaces, affectstream.EnginePost, affectstream.EngineRuntime) == \
        (core_engine.EngineFaces, core_engine.EnginePost, core_engine.EngineRuntime)
    names = {f.name for part in (core_engine.EngineFaces, core_engine.EnginePost, core_engine.EngineRuntime)
             for f in dataclasses.fields(part)}
    assert {"max_faces", "landmarker_model", "smoothing", "au_threshold_offset", "kind", "provider"} <= names
    assert dataclasses.is_dataclass(affectstream.EngineOptions)
    with pytest.raises(dataclasses.FrozenInstanceError):
        affectstream.EngineOptions().post = None


def test_analyzer_runs_with_the_options_it_is_given(frames):
    options = affectstream.EngineOptions(
        faces=affectstream.EngineFaces(max_faces=2),
        post=affectstream.EnginePost(smoothing="none", au_threshold_offset=0.2))
    with affectstream.Analyzer(options=options) as analyzer:
        assert analyzer.options is options
        result = analyzer.process(frames[0])
        second = analyzer.process(frames[1])
        shifted = analyzer._engine.au_thresholds  # the engine behind the API holds the offset thresholds
    with affectstream.Analyzer() as plain:
        assert plain.options == affectstream.EngineOptions()
        assert (shifted > plain._engine.au_thresholds).all()
    face = second.faces[0]
    assert (face.valence, face.arousal) == (face.valence_raw, face.arousal_raw)  # smoothing none: raw values
    assert result.to_frame().attrs["settings"] == "smoothing=none;max_faces=2"


def test_a_keyword_that_disagrees_with_the_options_is_refused_before_the_model_loads(no_model):
    options = affectstream.EngineOptions()
    for keyword, message in ((dict(max_faces=3), r"max_faces=3 conflicts with options.faces.max_faces=1"),
                             (dict(smoothing="none"), r"smoothing='none' conflicts with options.post.smoothing='causal'"),
                             (dict(runtime="torch"), r"runtime='torch' conflicts with options.runtime.kind='auto'")):
        with pytest.raises(UserInputError, match=message):
            affectstream.Analyzer(options=options, **keyword)
    # A keyword that says what the options say is no conflict; nor is either alone.
    for ok in (dict(options=options, max_faces=1, smoothing="causal"), dict(max_faces=2), dict(options=options)):
        with pytest.raises(Loaded):
            affectstream.Analyzer(**ok)
    with pytest.raises(UserInputError, match="options is an affectstream.EngineOptions, not dict"):
        affectstream.Analyzer(options={"max_faces": 2})


# -- one spelling of smoothing ---------------------------------------------------------------------------------
def test_analyzer_smoothing_is_causal_or_none_and_centred_is_refused_plainly(no_model):
    with pytest.raises(UserInputError, match="smoothing='centred' needs the frames after each one.*offline only"):
        affectstream.Analyzer(smoothing="centred")
    with pytest.raises(UserInputError, match="live smoothing must be one of causal, none, not 'on'"):
        affectstream.Analyzer(smoothing="on")
    for fine in ("causal", "none"):
        with pytest.raises(Loaded):
            affectstream.Analyzer(smoothing=fine)


def test_smooth_and_smoothing_that_disagree_are_refused(no_model):
    with pytest.warns(DeprecationWarning, match=r"Analyzer\(smooth=...\) is deprecated"), \
            pytest.raises(UserInputError, match="smooth=True and smoothing='none' disagree"):
        affectstream.Analyzer(smooth=True, smoothing="none")


def test_smooth_false_still_means_no_smoothing(checkpoint, frames):
    with pytest.warns(DeprecationWarning, match="deprecated: use smoothing"):
        analyzer = affectstream.Analyzer(checkpoint, smooth=False)
    with analyzer:
        assert analyzer.options.post.smoothing == "none"
        analyzer.process(frames[0])
        face = analyzer.process(frames[1]).faces[0]
        assert (face.valence, face.arousal) == (face.valence_raw, face.arousal_raw)
    with affectstream.Analyzer(checkpoint, smoothing="causal") as causal:
        causal.process(frames[0])
        face = causal.process(frames[1]).faces[0]
        assert face.valence != face.valence_raw  # the tiny checkpoint's EMA moves it: the check has teeth


def test_analyze_and_annotate_spell_smoothing_alike():
    from affectstream.core.post.modes import SMOOTHING, engine_smoothing
    from affectstream.jobs.annotate import SMOOTHING as ANNOTATE_SMOOTHING

    assert SMOOTHING == ANNOTATE_SMOOTHING == ("centred", "causal", "none")
    assert [engine_smoothing(s) for s in SMOOTHING] == ["causal", "causal", "none"]


# -- process(): the engine's typed results, a table on request -------------------------------------------------
def test_process_gives_typed_faces_whose_table_is_the_rows_analyze_and_read_results_give(frames, tmp_path):
    video = shared_file("videos", "single_face.mp4")
    with affectstream.Analyzer() as analyzer:
        results = [analyzer.process(frame) for frame in frames]
        blank = analyzer.process(np.zeros((120, 160, 3), np.uint8), timestamp_ms=10_000)
    first = results[0]
    assert len(first) == 1 and isinstance(first.faces[0], type(next(iter(first))))
    assert (first.frame_index, first.timestamp_ms, first[0].track_id) == (1, 0, 0)
    assert len(blank) == 0 and blank.to_frame()["success"].tolist() == [0]

    table = pd.concat([r.to_frame() for r in results], ignore_index=True)
    assert list(table.columns) == list(HEADER) and len(table) == len(frames)
    # The same typed results written as a CSV and read back (what process() gave before): equal, dtypes too.
    path = tmp_path / "single_face.csv"
    write_results_csv(path, [r.affect for r in results + [blank]], first.maker)
    written = affectstream.read_results(path)
    pd.testing.assert_frame_equal(pd.concat([table, blank.to_frame()], ignore_index=True), written,
                                  check_exact=True)
    # And the live rows are analyze's with the same (causal) smoothing, value for value.
    offline = affectstream.analyze(video, smoothing="causal")
    pd.testing.assert_frame_equal(table, offline, check_dtype=True)
    assert table.attrs["settings"] == offline.attrs["settings"] and table.attrs["labels"] == offline.attrs["labels"]


def test_process_writes_no_csv_text(frames, monkeypatch):
    """The table is built from the typed results: no CSV is written and parsed back per frame."""
    import csv as csv_module

    with affectstream.Analyzer() as analyzer:
        monkeypatch.setattr(csv_module, "writer", lambda *a, **k: pytest.fail("process() wrote CSV text"))
        monkeypatch.setattr(pd, "read_csv", lambda *a, **k: pytest.fail("process() parsed CSV text"))
        table = analyzer.process(frames[0]).to_frame()
    assert table["success"].tolist() == [1]
