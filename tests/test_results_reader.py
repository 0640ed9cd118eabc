"""The one results-CSV reader (affectstream.core.results.csv_read): every tool that reads a results CSV back refuses
what it cannot read, naming file, line and column, and gives the same column types whatever the rows.

Each bad edit is made to a synthetic CSV (written by write_results_csv, no shared data needed) and to a real one
(`affectstream annotate` of ../shared/data/videos/single_face.mp4), and must be refused by read_results, by the
app's review reader and by the summary plot's reader alike.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import affectstream
from affectstream.app.review_data import results_from_csv
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.core.results.csv_file import (COLUMNS, HEADER, ResultsCsvError, ResultsCsvWriter, RowMaker,
                                           write_results_csv)
from affectstream.core.results.summary_plot import summary_arrays_from_csv
from affectstream.core.results.types import FaceAffect, FrameAffect, StageTimes
from tests.media import shared_file

TEXT = pd.Series(["a"], dtype=str).dtype  # object in pandas 2, str in pandas 3
EXPECTED_DTYPES = {
    **{c: np.dtype("int64") for c in ("frame", "timestamp_ms", "success")},
    **{c: pd.Int64Dtype() for c in ("face_id", *ACTION_UNITS)},
    **{c: TEXT for c in ("expression", "model", "model_sha256", "settings")},
}


def expected_dtype(column: str):
    return EXPECTED_DTYPES.get(column, np.dtype("float64"))


def assert_fixed_dtypes(table: pd.DataFrame, header=HEADER) -> None:
    assert list(table.columns) == list(header)
    wrong = {c: str(table[c].dtype) for c in header if table[c].dtype != expected_dtype(c)}
    assert not wrong, f"columns of the wrong dtype: {wrong}"


# -- files ------------------------------------------------------------------------------------------------------
def synthetic_results(frames: int = 12, faceless: tuple[int, ...] = (5,)) -> list[FrameAffect]:
    """Two faces per frame (ids 0 and 3), none in the ``faceless`` frames; 40 ms per frame from 0."""
    rng = np.random.default_rng(7)
    results = []
    for frame in range(1, frames + 1):
        stamp = 40 * (frame - 1)
        faces = () if frame in faceless else tuple(
            FaceAffect(frame, stamp, track, (10.0 + track, -2.5, 90.0, 120.0), None, 0.875,
                       *rng.uniform(-1, 1, 4).round(4), rng.dirichlet(np.ones(8)).astype(np.float32),
                       EXPRESSIONS[frame % 8], rng.uniform(0, 1, 12).astype(np.float32), rng.uniform(0, 1, 12) > 0.5,
                       frame)
            for track in (0, 3))
        results.append(FrameAffect(frame, stamp, "clip", "m", faces, StageTimes()))
    return results


@pytest.fixture
def synthetic_csv(tmp_path) -> Path:
    path = tmp_path / "synthetic.csv"
    write_results_csv(path, synthetic_results(), RowMaker("tiny", "ab" * 32, "smoothing=none"))
    return path


@pytest.fixture(scope="module")
def real_csv(tmp_path_factory) -> Path:
    """single_face.mp4 annotated by the command line (the shipped model): 72 rows with a face."""
    from affectstream.cli.main import main

    video = shared_file("videos", "single_face.mp4")
    out = tmp_path_factory.mktemp("real")
    assert main(["annotate", str(video), "--out", str(out), "--no-plot", "--no-progress"]) == 0
    return out / "single_face.csv"


@pytest.fixture(params=["synthetic", "real"])
def good_csv(request, tmp_path) -> Path:
    """A copy (in this test's folder) of a good results CSV: synthetic, or made by `annotate`."""
    source = request.getfixturevalue(f"{request.param}_csv")
    path = tmp_path / f"{request.param}_copy.csv"
    path.write_bytes(source.read_bytes())
    return path


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def cells_of(line: str) -> list[str]:
    return line.split(",")  # the test files have no quoted fields


def face_line(lines: list[str], at_least: int, first_of_frame: bool = False) -> int:
    """The first 1-based line >= ``at_least`` holding a face (success=1), first of its frame if asked."""
    for number in range(at_least, len(lines) + 1):
        cells = cells_of(lines[number - 1])
        before = cells_of(lines[number - 2])
        if cells[HEADER.index("success")] == "1" and (not first_of_frame or cells[0] != before[0]):
            return number
    raise AssertionError("no such line")


def set_cell(lines: list[str], number: int, column: str, value: str) -> list[str]:
    cells = cells_of(lines[number - 1])
    cells[HEADER.index(column)] = value
    return lines[:number - 1] + [",".join(cells)] + lines[number:]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def every_reader(path: Path):
    """Each reader of results CSVs, called on ``path``."""
    yield "read_results", lambda: affectstream.read_results(path)
    yield "review", lambda: results_from_csv(path)
    yield "summary plot", lambda: summary_arrays_from_csv(path)


def assert_refused_by_every_reader(path: Path, line: int, message: str) -> None:
    pattern = f"^{re.escape(str(path))}:{line}: {message}"
    for name, read in every_reader(path):
        with pytest.raises(ResultsCsvError, match=pattern):
            read()
            pytest.fail(f"{name} read it")


# -- each bad edit ----------------------------------------------------------------------------------------------
def edit_cell(column: str, value: str, why: str, first_of_frame: bool = False):
    """An edit of one face row's cell, and the message that must name it."""
    def edit(lines: list[str], at_least: int) -> tuple[list[str], int, str]:
        number = face_line(lines, at_least, first_of_frame)
        return set_cell(lines, number, column, value), number, f"{column} is '{re.escape(value)}', {why}"
    return edit


def duplicate_row(lines: list[str], at_least: int) -> tuple[list[str], int, str]:
    number = face_line(lines, at_least)
    face = cells_of(lines[number - 1])[HEADER.index("face_id")]
    return lines[:number] + lines[number - 1:], number + 1, f"face_id is '{face}', a second row of face {face} in"


def faceless_with_values(lines: list[str], at_least: int) -> tuple[list[str], int, str]:
    number = face_line(lines, at_least)
    face = cells_of(lines[number - 1])[HEADER.index("face_id")]
    return (set_cell(lines, number, "success", "0"), number,
            f"face_id is '{face}', in a row without a face \\(success=0\\), whose face values are empty")


BAD_EDITS = {
    "text in valence": edit_cell("valence", "abc", "not a number"),
    "yes in AU12": edit_cell("AU12", "yes", "not 0 or 1"),
    "bob in face_id": edit_cell("face_id", "bob", r"not a whole number >= 0"),
    "literal nan": edit_cell("arousal", "nan", "not a number"),
    "inf": edit_cell("p_Happiness", "inf", "not a finite number"),
    "valence 5": edit_cell("valence", "5", r"not in \[-1, 1\]"),
    "AU value 2": edit_cell("AU4", "2", "not 0 or 1"),
    "p_Anger -0.7": edit_cell("p_Anger", "-0.7", r"not in \[0, 1\]"),
    "expression Joy": edit_cell("expression", "Joy", "not one of Neutral, Anger"),
    "a timestamp going back": edit_cell("timestamp_ms", "0", "not after frame", first_of_frame=True),
    "a duplicated row": duplicate_row,
    "success=0 with face values": faceless_with_values,
    "success=1 missing a value": edit_cell("valence_raw", "", r"missing from a row with a face \(success=1\)"),
}


@pytest.mark.parametrize("edit", BAD_EDITS.values(), ids=BAD_EDITS.keys())
def test_each_bad_edit_is_refused_by_every_reader_naming_file_line_and_column(good_csv, edit):
    lines = lines_of(good_csv)
    for at_least in (3, len(lines) // 2):  # one near the top, one further down: the line named is the edited one
        edited, line, message = edit(lines, at_least)
        assert_refused_by_every_reader(write_lines(good_csv, edited), line, message)


def test_the_first_bad_value_in_the_file_is_named_not_a_later_one(synthetic_csv):
    lines = lines_of(synthetic_csv)
    later = face_line(lines, 12)
    lines = set_cell(lines, later, "valence", "abc")  # a cell pandas cannot parse: the file is read again as text
    earlier = face_line(lines, 4)
    lines = set_cell(lines, earlier, "p_Fear", "1.5")  # a parsed number, out of range
    lines = set_cell(lines, earlier, "AU26", "3")  # the same row, further right
    assert_refused_by_every_reader(write_lines(synthetic_csv, lines), earlier, r"p_Fear is '1\.5', not in \[0, 1\]")
    # A short row further down (a file cut short) does not hide a bad value above it.
    write_lines(synthetic_csv, lines[:-1] + [lines[-1][:30]])
    assert_refused_by_every_reader(synthetic_csv, earlier, r"p_Fear is '1\.5'")


def test_faceless_rows_have_no_face_values_not_even_nan_or_inf(synthetic_csv):
    lines = lines_of(synthetic_csv)
    faceless = next(n for n in range(2, len(lines) + 1) if cells_of(lines[n - 1])[3] == "0")
    for column, value in (("valence", "nan"), ("p_AU1", "inf"), ("expression", "Neutral"), ("AU2", "0")):
        write_lines(synthetic_csv, set_cell(lines, faceless, column, value))
        why = "not a number" if value == "nan" else r"in a row without a face \(success=0\)"
        assert_refused_by_every_reader(synthetic_csv, faceless, f"{column} is '{value}', {why}")


def test_rows_of_one_frame_share_its_time_and_a_faceless_frame_has_one_row(synthetic_csv):
    lines = lines_of(synthetic_csv)
    second = face_line(lines, 3, first_of_frame=True) + 1  # the second face of a frame
    assert cells_of(lines[second - 1])[0] == cells_of(lines[second - 2])[0]
    write_lines(synthetic_csv, set_cell(lines, second, "timestamp_ms", "1"))
    assert_refused_by_every_reader(synthetic_csv, second, r"timestamp_ms is '1', not the \d+ of the row before")
    faceless = next(n for n in range(2, len(lines) + 1) if cells_of(lines[n - 1])[3] == "0")
    write_lines(synthetic_csv, lines[:faceless] + lines[faceless - 1:])  # the faceless row twice
    assert_refused_by_every_reader(synthetic_csv, faceless + 1, "success is '0', in a second row of frame 5")


def test_lines_are_counted_as_in_the_file_with_blank_lines_and_quoted_fields(tmp_path):
    # A comma in the settings: the writer quotes it, so commas alone no longer count the fields.
    path = tmp_path / "quoted.csv"
    write_results_csv(path, synthetic_results(), RowMaker("tiny", "", "smoothing=centred(5),fps=30"))
    lines = lines_of(path)
    assert '"smoothing=centred(5),fps=30"' in lines[1]
    assert_fixed_dtypes(affectstream.read_results(path))
    blank = ["", "   "]  # a blank and a whitespace-only line (an editor's), skipped as pandas skips them
    bad = face_line(lines, 9)
    write_lines(path, lines[:4] + blank + set_cell(lines, bad, "valence", "5")[4:])
    assert_refused_by_every_reader(path, bad + len(blank), "valence is '5'")
    table = affectstream.read_results(write_lines(path, lines[:4] + blank + lines[4:]))
    assert len(table) == len(lines) - 1 and table["settings"].eq("smoothing=centred(5),fps=30").all()


# -- types and values -------------------------------------------------------------------------------------------
def test_a_good_file_reads_with_fixed_dtypes_and_the_values_written(good_csv):
    table = affectstream.read_results(good_csv)
    assert_fixed_dtypes(table)
    before = pd.read_csv(good_csv, keep_default_na=False, na_values=[""])  # how read_results parsed it before
    pd.testing.assert_frame_equal(table, before, check_dtype=False)
    assert table.attrs["model"] == table["model"].iloc[0] and table.attrs["source"] == good_csv.stem
    # The review reader gives the same values, frame by frame.
    results = results_from_csv(good_csv)
    assert [r.frame_index for r in results] == table["frame"].unique().tolist()
    faces = [face for r in results for face in r.faces]
    rows = table[table["success"] == 1]
    assert [f.track_id for f in faces] == rows["face_id"].tolist()
    assert [f.valence for f in faces] == rows["valence"].tolist()
    assert [f.expression for f in faces] == rows["expression"].tolist()
    au_probs = rows[[f"p_{au}" for au in ACTION_UNITS]].to_numpy(np.float32)
    np.testing.assert_array_equal([f.au_probs for f in faces], au_probs)
    np.testing.assert_array_equal([f.au_on for f in faces], rows[list(ACTION_UNITS)].to_numpy(int) == 1)


def test_faceless_rows_are_missing_values_of_the_fixed_dtypes(synthetic_csv):
    table = affectstream.read_results(synthetic_csv)
    assert_fixed_dtypes(table)
    faceless = table[table["success"] == 0]
    assert len(faceless) == 1 and faceless["face_id"].isna().all() and faceless["AU12"].isna().all()
    assert faceless["valence"].isna().all() and faceless["expression"].isna().all()
    assert table["face_id"].dropna().tolist() == [0, 3] * 11 and table.attrs["settings"] == "smoothing=none"


def test_a_header_only_file_has_the_fixed_dtypes(tmp_path):
    path = tmp_path / "header_only.csv"
    path.write_text(",".join(HEADER) + "\n")
    table = affectstream.read_results(path)
    assert len(table) == 0
    assert_fixed_dtypes(table)
    with pytest.raises(ResultsCsvError, match="no rows"):
        results_from_csv(path)


def test_a_csv_from_before_the_metadata_columns_still_reads(tmp_path):
    path = tmp_path / "old.csv"
    write_results_csv(path, synthetic_results())
    write_lines(path, [",".join(cells_of(line)[:len(COLUMNS)]) for line in lines_of(path)])
    table = affectstream.read_results(path)
    assert_fixed_dtypes(table, COLUMNS)
    assert len(table) == 23 and len(results_from_csv(path)) == 12
    lines = lines_of(path)
    write_lines(path, set_cell(lines, 7, "AU26", "7"))  # AU26 is the last column here
    assert_refused_by_every_reader(path, 7, "AU26 is '7', not 0 or 1")


def test_empty_metadata_cells_are_empty_text(tmp_path):
    path = tmp_path / "plain.csv"
    write_results_csv(path, synthetic_results(3, faceless=()))  # RowMaker(model=...): no digest, no settings
    table = affectstream.read_results(path)
    assert_fixed_dtypes(table)
    assert table["model_sha256"].tolist() == [""] * 6 and table.attrs["settings"] == ""


# -- streaming readers ------------------------------------------------------------------------------------------
def test_chunks_are_checked_across_their_boundaries(tmp_path):
    from affectstream.core.results.csv_read import iter_results_chunks

    path = tmp_path / "streamed.csv"
    with ResultsCsvWriter(path, RowMaker("m")) as writer:
        for result in synthetic_results(8, faceless=()):
            writer.write(result)
        writer.commit()
    chunks = list(iter_results_chunks(path, rows=3))  # 16 rows: frames split between chunks
    assert [len(c) for c in chunks] == [3, 3, 3, 3, 3, 1]
    assert_fixed_dtypes(pd.concat(chunks, ignore_index=True))
    lines = lines_of(path)
    # Line 5 is frame 2's second face (id 3); the same face again starts the next chunk of 4 rows.
    write_lines(path, lines[:5] + [lines[4]] + lines[5:])
    with pytest.raises(ResultsCsvError, match=rf"^{re.escape(str(path))}:6: face_id is '3', a second row"):
        list(iter_results_chunks(path, rows=4))
    write_lines(path, set_cell(lines, 8, "timestamp_ms", "40"))  # frame 4 at frame 2's time, in the next chunk
    with pytest.raises(ResultsCsvError, match=rf"^{re.escape(str(path))}:8: timestamp_ms is '40', not after"):
        list(iter_results_chunks(path, rows=6))


def test_the_analyzer_table_has_read_results_dtypes():
    with affectstream.Analyzer() as analyzer:
        result = analyzer.process(np.zeros((120, 160, 3), np.uint8))  # no face: the row whose dtypes differed
    table = result.to_frame()
    assert len(result) == 0 and len(table) == 1 and table["success"].iloc[0] == 0
    assert_fixed_dtypes(table)


def test_a_box_is_bounded_and_never_inside_out(synthetic_csv, tmp_path):
    """x1 < x0 and x0 = -1e300 were read as boxes."""
    for column, value, why in (("x1", "-5", "before x0"), ("x0", "-1e300", r"not in \[-1e\+06, 1e\+06\]")):
        bad = write_lines(tmp_path / f"{column}.csv", set_cell(lines_of(synthetic_csv), 2, column, value))
        for name, read in every_reader(bad):
            with pytest.raises(ResultsCsvError, match=f"{bad}:2: {column} is '{value}', {why}"):
                read()


def test_a_fifo_or_a_folder_is_named_as_what_it_is_and_never_waited_on(tmp_path):
    import os

    import affectstream

    fifo = tmp_path / "fifo.csv"
    os.mkfifo(fifo)
    with pytest.raises(ResultsCsvError, match="fifo.csv: not a regular file"):
        affectstream.read_results(fifo)
    with pytest.raises(ResultsCsvError, match="a folder, not a results CSV"):
        affectstream.read_results(tmp_path)
    with pytest.raises(ResultsCsvError, match="no such results CSV"):
        affectstream.read_results(tmp_path / "absent.csv")


# -- the one reader, typed --------------------------------------------------------------------------------------
def test_the_app_reads_a_csv_through_core_results_one_reader(good_csv, monkeypatch):
    """The review reader parses nothing itself: it is core.results' reader, plus 'no rows' for review."""
    import affectstream.core.results.frames as frames
    from affectstream.app import review_data

    real, calls = frames.read_frame_results, []

    def reader(path, source=None):
        calls.append((path, source))
        return real(path, source)

    monkeypatch.setattr(frames, "read_frame_results", reader)
    results = results_from_csv(good_csv, "clip")
    assert calls == [(good_csv, "clip")] and results[0].source == "clip"
    assert not hasattr(review_data, "read_results_table") and not hasattr(review_data, "_faces")


def test_typed_results_are_the_reader_s_table_without_a_file_and_back(tmp_path):
    results, maker = synthetic_results(), RowMaker("m", "ab" * 32, "smoothing=none")
    from affectstream.core.results.csv_read import read_results_table
    from affectstream.core.results.frames import frames_from_table, read_frame_results, table_from_frames

    table = table_from_frames(results, maker)
    path = tmp_path / "clip.csv"
    write_results_csv(path, results, maker)
    # Columns, dtypes and every value as the file written of the same results reads back.
    pd.testing.assert_frame_equal(table, read_results_table(path), check_exact=True)
    assert_fixed_dtypes(table_from_frames([], maker))
    for back in (frames_from_table(table, "clip", "CSV clip.csv"), read_frame_results(path)):
        assert [(r.frame_index, r.timestamp_ms, r.source, r.model, len(r.faces)) for r in back] == \
            [(r.frame_index, r.timestamp_ms, "clip", "CSV clip.csv", len(r.faces)) for r in results]
        for mine, theirs in zip((f for r in back for f in r.faces), (f for r in results for f in r.faces)):
            assert (mine.track_id, mine.box, mine.expression) == (theirs.track_id, theirs.box, theirs.expression)
            assert mine.valence == pytest.approx(theirs.valence, abs=5e-5)
            np.testing.assert_allclose(mine.expr_probs, theirs.expr_probs, atol=5e-5)
            np.testing.assert_array_equal(mine.au_on, theirs.au_on)
