"""What `annotate` writes, and what it never writes over: a folder of frames is never its own output folder,
results whose rows name other settings are kept without --overwrite, one run at a time writes a video's
outputs, every folder given says what it was read as, and earlier summary plots are not annotated."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectstream.cli.main import main
from affectstream.core.output_lock import OutputBusy, lock_path, output_lock
from affectstream.core.results.csv_file import HEADER, read_results_csv
from tests.media import face_clip, shared_file, two_face_frames


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory) -> Path:
    """The first 6 frames of the shared one-face video: a real face, a second of work at most."""
    return face_clip(tmp_path_factory.mktemp("clip") / "clip.mp4", 6)


def annotate(checkpoint, *args) -> int:
    return main(["annotate", *map(str, args), "--checkpoint", str(checkpoint), "--no-progress"])


def contents(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("name", ["001", "00003"])
def test_a_folder_of_frames_is_never_annotated_into_itself(checkpoint, tmp_path, capsys, name):
    """001/ got a plot 001.png read back as a second frame 1; 00003/ had its frame 00003.png replaced."""
    folder = two_face_frames(tmp_path / name, frames=4)
    before = contents(folder)
    for extra in ([], ["--overwrite"]):
        assert annotate(checkpoint, folder, "--whole-frames", "--folder-fps", "25", "--out", folder, *extra) == 2
        assert "annotating a folder of frames into itself would put its outputs among the frames it reads" \
            in capsys.readouterr().err
        assert contents(folder) == before
    # Through another spelling of the same folder, and as aligned faces, too.
    assert annotate(checkpoint, folder, "--out", folder.parent / "." / name / ".." / name) == 2
    assert contents(folder) == before
    assert annotate(checkpoint, folder, "--whole-frames", "--folder-fps", "25", "--out", folder / "results") == 0


def test_results_whose_rows_name_other_settings_are_kept_without_overwrite(checkpoint, short_clip, tmp_path, capsys):
    out = tmp_path / "out"
    assert annotate(checkpoint, short_clip, "--smoothing", "none", "--max-faces", "3", "--out", out, "--no-plot") == 0
    (out / "clip.done.json").unlink()
    made = (out / "clip.csv").read_bytes()
    assert annotate(checkpoint, short_clip, "--out", out, "--no-plot") == 2
    err = capsys.readouterr().err
    assert "already holds results of 1 of these videos made by another model or other settings" in err
    assert "smoothing=none;max_faces=3" in err and (out / "clip.csv").read_bytes() == made
    # A CSV exported from the app says its model's name but no checkpoint digest or settings: kept too.
    rows = read_results_csv(out / "clip.csv")
    with open(out / "clip.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, HEADER, lineterminator="\n")
        writer.writeheader()
        writer.writerows(row | {"model_sha256": "", "settings": ""} for row in rows)
    assert annotate(checkpoint, short_clip, "--out", out, "--no-plot") == 2
    assert "does not say which checkpoint or settings" in capsys.readouterr().err
    assert annotate(checkpoint, short_clip, "--out", out, "--no-plot", "--overwrite") == 0
    assert len(read_results_csv(out / "clip.csv")) == len(rows)


def test_a_run_killed_before_its_marker_is_redone_when_its_rows_name_this_run(checkpoint, short_clip, tmp_path):
    out = tmp_path / "out"
    assert annotate(checkpoint, short_clip, "--out", out, "--no-plot") == 0
    (out / "clip.done.json").unlink()
    assert annotate(checkpoint, short_clip, "--out", out, "--no-plot") == 0
    assert json.loads((out / "clip.done.json").read_text())["status"] == "done"


def test_a_video_another_run_is_writing_is_left_to_it(checkpoint, short_clip, tmp_path, capsys):
    """The second run deleted the first's temporary file and both did the whole work."""
    out = tmp_path / "out"
    out.mkdir()
    theirs = out / ".clip.csv.abc123.rows.tmp"  # the other run's rows, being written
    theirs.write_text("frame,...\n")
    image = shared_file("images", "single_face.jpg")
    with output_lock(out, "clip"):
        assert annotate(checkpoint, short_clip, image, "--out", out, "--no-plot") == 1
        captured = capsys.readouterr()
        assert theirs.exists() and not (out / "clip.csv").exists()
        assert "1 left to another run writing them now" in captured.out
        assert "clip: process" in captured.err and "is annotating it into" in captured.err
        assert (out / "single_face.done.json").is_file()  # the rest of the batch was done
    assert not lock_path(out, "clip").exists()
    assert annotate(checkpoint, short_clip, "--out", out, "--no-plot") == 0
    assert (out / "clip.done.json").is_file() and not lock_path(out, "clip").exists()


def test_an_output_lock_is_one_holder_at_a_time_and_gone_after(tmp_path):
    with output_lock(tmp_path, "v"):
        with pytest.raises(OutputBusy) as busy, output_lock(tmp_path, "v"):
            pass
        assert busy.value.holder.startswith("process ")
        with output_lock(tmp_path, "w"):  # another output is free
            pass
    assert not lock_path(tmp_path, "v").exists()
    with output_lock(tmp_path, "v"):
        pass


def test_a_folder_with_videos_and_a_numbered_photo_is_read_as_all_three_and_says_so(checkpoint, short_clip,
                                                                                     tmp_path, capsys):
    """It was read as one video of one frame (2023 at 67.4 s) and both videos were skipped, rc 0."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(short_clip, folder / "clip.mp4")
    shutil.copy(short_clip, folder / "gray.mp4")
    shutil.copy(shared_file("images", "single_face.jpg"), folder / "2023.jpg")
    (folder / "notes.txt").write_text("not an input")
    out = tmp_path / "out"
    assert annotate(checkpoint, folder, "--out", out, "--no-plot") == 0
    printed = capsys.readouterr().out
    assert f"{folder}: 2 videos, 1 image (one frame each); its numbered images are single images" in printed
    assert "not read (neither videos, images nor folders of numbered frames): notes.txt" in printed
    assert sorted(p.name for p in out.glob("*.done.json")) == ["2023.done.json", "clip.done.json",
                                                               "gray.done.json"]
    assert [r["timestamp_ms"] for r in read_results_csv(out / "2023.csv")] == ["0"]


def test_summary_plots_of_a_folder_annotated_into_itself_are_not_annotated_next_time(checkpoint, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(shared_file("images", "single_face.jpg"), folder / "me.jpg")
    cv2.imwrite(str(folder / "blank.jpg"), np.full((64, 64, 3), 200, np.uint8))
    assert annotate(checkpoint, folder, "--out", folder) == 0
    assert (folder / "me.png").is_file()
    capsys.readouterr()
    assert annotate(checkpoint, folder, "--out", folder) == 0  # me.png beside me.jpg: no clash of names
    printed = capsys.readouterr().out
    assert f"{folder / 'me.png'}: the summary plot of an earlier annotate run, not annotated" in printed
    assert "me: already annotated, skipped" in printed and "blank: already annotated, skipped" in printed


def test_results_another_run_wrote_meanwhile_with_other_settings_are_not_replaced(checkpoint, short_clip, tmp_path):
    """The batch looks at its outputs before it starts; a run with other settings that finished since (the
    batch saw nothing there) had its results replaced without --overwrite."""
    from affectstream.core.engine import AffectEngine
    from affectstream.jobs.annotate import AnnotateOptions, annotate_video, run_identity
    from affectstream.core.sources.readers import find_sources

    out = tmp_path / "out"
    assert annotate(checkpoint, short_clip, "--smoothing", "none", "--out", out, "--no-plot") == 0
    theirs = (out / "clip.csv").read_bytes()
    spec, = find_sources([short_clip])
    with AffectEngine.from_checkpoint(checkpoint) as engine:  # this run: another setting, after the batch's look
        report = annotate_video(spec, engine, AnnotateOptions(out, plot=False),
                                run_identity(engine, checkpoint, "centred", 1))
    assert report.status == "failed" and "another run has since written results" in report.message
    assert (out / "clip.csv").read_bytes() == theirs
