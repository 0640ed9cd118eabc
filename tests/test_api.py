"""The one-call API: affectstream.analyze, Analyzer and read_results."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import affectstream
from affectstream.cli.main import main
from affectstream.core.errors import UserInputError
from affectstream.core.results.csv_file import HEADER, ResultsCsvError
from tests.media import decode_frames, shared_file, two_face_frames


def test_analyze_gives_the_annotate_csv_of_the_same_video(tmp_path):
    video = shared_file("videos", "single_face.mp4")
    df = affectstream.analyze(video)
    assert main(["annotate", str(video), "--out", str(tmp_path), "--no-plot", "--no-progress"]) == 0
    written = pd.read_csv(tmp_path / "single_face.csv")
    assert list(df.columns) == list(HEADER) and df.shape == written.shape == (72, len(HEADER))
    pd.testing.assert_frame_equal(df, written, check_dtype=False)
    assert df.attrs["model"] == df["model"].iloc[0] and "real" in df.attrs["labels"]
    assert df.attrs["settings"].startswith("smoothing=centred") and df.attrs["source"] == "single_face"
    # read_results reads the file back as the same table.
    again = affectstream.read_results(tmp_path / "single_face.csv")
    pd.testing.assert_frame_equal(again, written, check_dtype=False)
    assert again.attrs["model_sha256"] == written["model_sha256"].iloc[0]


def test_read_results_names_the_file_and_line_of_a_broken_csv(tmp_path):
    video = shared_file("videos", "single_face.mp4")
    assert main(["annotate", str(video), "--out", str(tmp_path), "--no-plot", "--no-progress"]) == 0
    lines = (tmp_path / "single_face.csv").read_text().splitlines()
    cut = tmp_path / "cut.csv"
    cut.write_text("\n".join(lines[:10] + [lines[10][:40]]) + "\n")
    with pytest.raises(ResultsCsvError, match=r"cut\.csv:11"):
        affectstream.read_results(cut)
    with pytest.raises(UserInputError, match="no such results CSV"):
        affectstream.read_results(tmp_path / "absent.csv")


def test_analyzer_streams_frames_and_refuses_bad_input():
    frames = decode_frames(shared_file("videos", "single_face.mp4"))[:5]
    with affectstream.Analyzer() as analyzer:
        tables = [analyzer.process(frame).to_frame() for frame in frames]
        assert all(list(t.columns) == list(HEADER) and len(t) == 1 for t in tables)
        assert [int(t["frame"].iloc[0]) for t in tables] == [1, 2, 3, 4, 5]
        assert [int(t["timestamp_ms"].iloc[0]) for t in tables] == [0, 33, 67, 100, 133]
        assert all(t["success"].iloc[0] == 1 and t["face_id"].iloc[0] == 0 for t in tables)
        assert tables[0].attrs["model"] == analyzer.model_name
        empty = analyzer.process(np.zeros((360, 640, 3), np.uint8)).to_frame()
        assert len(empty) == 1 and empty["success"].iloc[0] == 0 and np.isnan(empty["valence"].iloc[0])
        with pytest.raises(UserInputError, match="timestamps must increase"):
            analyzer.process(frames[0], timestamp_ms=10)
        with pytest.raises(UserInputError, match="uint8"):
            analyzer.process(np.zeros((4, 4, 3), np.float32))


def test_analyze_refuses_what_is_not_a_video(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UserInputError, match="notes.txt"):
        affectstream.analyze(tmp_path / "notes.txt")


def test_analyze_a_folder_of_whole_frames_gives_annotate_s_table(tmp_path):
    clip = two_face_frames(tmp_path / "clip", frames=4)
    df = affectstream.analyze(clip, whole_frames=True, folder_fps=25, max_faces=2)
    assert main(["annotate", str(clip), "--whole-frames", "--folder-fps", "25", "--max-faces", "2",
                 "--out", str(tmp_path / "out"), "--no-plot", "--no-progress"]) == 0
    pd.testing.assert_frame_equal(df, pd.read_csv(tmp_path / "out" / "clip.csv"), check_dtype=False)
    # Both faces of each whole frame, at 25 frames/s from frame 0.
    assert df["frame"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3] and df["timestamp_ms"].tolist()[::2] == [0, 40, 80, 120]
    assert df["success"].all() and df.attrs["settings"].endswith("folders=whole frames;folder_fps=25.0")
    assert len(affectstream.analyze(clip, max_faces=2)) == 4  # read as aligned faces: one per image


def test_importing_the_package_loads_neither_torch_nor_mediapipe():
    code = "import sys, affectstream; print(sorted(m for m in ('torch', 'mediapipe', 'cv2') if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_analyze_takes_an_image_as_annotate_does_and_keeps_the_csv_s_attrs(tmp_path):
    image = shared_file("images", "single_face.jpg")
    df = affectstream.analyze(image)
    assert main(["annotate", str(image), "--out", str(tmp_path), "--no-plot", "--no-progress"]) == 0
    written = pd.read_csv(tmp_path / "single_face.csv")
    pd.testing.assert_frame_equal(df, written, check_dtype=False)
    assert len(df) == 1 and df["success"].iloc[0] == 1
    # The same model digest as the CSV's column and read_results' attrs, not a longer spelling of it.
    assert df.attrs["model_sha256"] == written["model_sha256"].iloc[0]
    assert affectstream.read_results(tmp_path / "single_face.csv").attrs["model_sha256"] == df.attrs["model_sha256"]


def test_analyze_and_analyzer_refuse_bad_options_and_empty_images_plainly(monkeypatch):
    import affectstream.core.default_model as default_model

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr(default_model, "resolve_model", no_model)
    with pytest.raises(UserInputError, match="smoothing must be one of centred, causal, none, not 'bogus'"):
        affectstream.analyze(shared_file("videos", "single_face.mp4"), smoothing="bogus")
    monkeypatch.undo()
    with affectstream.Analyzer() as analyzer, pytest.raises(UserInputError, match="non-empty uint8"):
        analyzer.process(np.zeros((0, 0, 3), np.uint8))


def test_a_missing_video_is_named_once(tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(UserInputError) as raised:
        affectstream.analyze(empty)
    assert str(raised.value).count(str(empty)) == 1


def test_one_face_asked_of_a_group_photo_is_its_largest_not_none():
    """MediaPipe's whole-frame landmarker asked for one face found none of this photo's five."""
    df = affectstream.analyze(shared_file("images", "multi_face.jpg"))
    assert len(df) == 1 and df["success"].iloc[0] == 1
    widths = df["x1"] - df["x0"]
    assert widths.iloc[0] > 100  # the largest face (about 110 px wide); the others are 79 to 100 px


def test_a_refused_frame_takes_no_number_or_time_and_default_times_follow_given_ones():
    frame = decode_frames(shared_file("videos", "single_face.mp4"))[0]
    with affectstream.Analyzer() as analyzer:
        assert analyzer.process(frame, timestamp_ms=100).frame_index == 1
        with pytest.raises(UserInputError, match="timestamps must increase"):
            analyzer.process(frame, timestamp_ms=50)
        with pytest.raises(UserInputError, match="uint8"):
            analyzer.process(np.zeros((8, 8, 5), np.uint8))
        second = analyzer.process(frame, timestamp_ms=5000).to_frame()
        third = analyzer.process(frame).to_frame()  # 1/30 s after the last given time
        assert second["frame"].iloc[0] == 2 and third["frame"].iloc[0] == 3
        assert third["timestamp_ms"].iloc[0] == 5033
        for bad in (float("nan"), -5, "10", True):
            with pytest.raises(UserInputError, match="timestamp_ms"):
                analyzer.process(frame, timestamp_ms=bad)
        analyzer.reset()
        assert analyzer.process(frame, timestamp_ms=0).to_frame()["frame"].iloc[0] == 1


def test_analyzer_says_what_it_learned_from_and_refuses_use_after_close():
    frame = decode_frames(shared_file("videos", "single_face.mp4"))[0]
    analyzer = affectstream.Analyzer()
    table = analyzer.process(frame).to_frame()
    assert table.attrs["labels"] == analyzer.labels and "real" in analyzer.labels
    # The same settings text as analyze(smoothing="causal") writes.
    assert table.attrs["settings"].startswith("smoothing=causal(") and table.attrs["settings"].endswith(";max_faces=1")
    analyzer.close()
    analyzer.close()
    with pytest.raises(UserInputError, match="closed"):
        analyzer.process(frame)


def test_wrong_argument_types_are_named_before_the_model_loads(monkeypatch):
    import affectstream.core.default_model as default_model

    def no_model(*args, **kwargs):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(default_model, "resolve_model", no_model)
    video = shared_file("videos", "single_face.mp4")
    for bad in (2.5, "2", None, True):
        with pytest.raises(UserInputError, match="max_faces"):
            affectstream.analyze(video, max_faces=bad)
        with pytest.raises(UserInputError, match="max_faces"):
            affectstream.Analyzer(max_faces=bad)
    with pytest.warns(DeprecationWarning), pytest.raises(UserInputError, match="smooth is True or False"):
        affectstream.Analyzer(smooth="none")
    with pytest.raises(UserInputError, match="source is a path.*ndarray.*Analyzer.process"):
        affectstream.analyze(np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(UserInputError, match="path is a path"):
        affectstream.read_results(None)
    with pytest.raises(UserInputError, match="frame rate of image folders.*'x'"):
        affectstream.analyze(video, folder_fps="x")
