"""evaluate and predict never invent a prediction: a video without any face has none (its frames are neither
written nor scored, and said), frames that are not frames of their video are said, and a label line with one
of valence/arousal missing is refused rather than dropping the other."""

from __future__ import annotations

import json

import numpy as np
import pytest

from affectstream.cli.main import main
from affectstream.core.labels import NUM_AUS
from affectstream.training.annotations import VideoLabels, write_annotations
from affectstream.training.evaluation import frame_ranges, frames_outside_video
from tests.media import shared_file
from tests.engine_fixtures import write_checkpoint


@pytest.fixture(scope="module")
def store_and_model(tmp_path_factory):
    """The shared one-face video (72 frames) and no-face video (98 frames) in a blendshape store, and a tiny model."""
    root = tmp_path_factory.mktemp("faceless")
    store = root / "store"
    videos = [str(shared_file("videos", "single_face.mp4")), str(shared_file("videos", "no_face.mp4"))]
    assert main(["extract", *videos, "--out", str(store), "--extractors", "blendshapes", "--no-progress"]) == 0
    return store, write_checkpoint(root / "tiny.safetensors")


def labels_file(path, **videos) -> str:
    """Every frame labelled Neutral with VA 0.1/0.2 and all AUs off."""
    labels = {}
    for video, frames in videos.items():
        n = len(frames)
        labels[video] = VideoLabels(video, np.asarray(frames), np.tile([0.1, 0.2], (n, 1)), np.zeros(n),
                                    np.zeros((n, NUM_AUS)))
    write_annotations(path, labels)
    return str(path)


def test_evaluate_scores_only_frames_it_can_predict_and_says_which_it_cannot(store_and_model, tmp_path, capsys):
    store, model = store_and_model
    ann = labels_file(tmp_path / "ann.txt", single_face=list(range(0, 75)), no_face=list(range(1, 99)))
    out = tmp_path / "report"
    assert main(["evaluate", "--checkpoint", str(model), "--annotations", ann, "--features", str(store),
                 "--out", str(out), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "2 videos, 173 labelled frames: 75 with a face of their own, 0 without one" not in printed
    assert "2 videos, 173 labelled frames: 72 with a face of their own, 3 without one" in printed
    assert "warning: 98 labelled frames of 1 videos have no prediction, since no face was found anywhere in " \
           "their video (not predicted, not scored): no_face (98 frames)" in printed
    assert "warning: 3 labelled frames are not frames of their video" in printed
    assert "given the nearest face frame's prediction: single_face 00000, 00073-00074\n" in printed
    report = json.loads((out / "metrics.json").read_text())
    assert report["frames"] == 75 and report["frames_not_predicted"] == {"no_face": 98}
    assert report["frames_not_in_their_video"] == {"single_face": [0, 73, 74]}
    assert report["metrics_smoothed"]["counts"]["expr"] == 75  # no made-up Neutral frames scored


def test_predict_writes_no_row_it_cannot_predict(store_and_model, tmp_path, capsys):
    store, model = store_and_model
    frames = labels_file(tmp_path / "frames.txt", single_face=list(range(1, 74)), no_face=list(range(1, 99)))
    out = tmp_path / "submission.txt"
    assert main(["predict", "--checkpoint", str(model), "--features", str(store), "--frames", frames,
                 "--out", str(out), "--no-progress"]) == 0
    lines = out.read_text().splitlines()[1:]
    assert len(lines) == 73 and all(line.startswith("single_face/") for line in lines)
    printed = capsys.readouterr().out
    assert "no_face (98 frames)" in printed and "single_face 00073" in printed
    assert "wrote 73 frames of 1 videos" in printed and "the frames without a prediction are not in it" in printed


def test_evaluate_of_videos_without_any_face_is_refused_plainly(store_and_model, tmp_path, capsys):
    store, model = store_and_model
    ann = labels_file(tmp_path / "ann.txt", no_face=list(range(1, 99)))
    assert main(["evaluate", "--checkpoint", str(model), "--annotations", ann, "--features", str(store),
                 "--no-progress"]) == 2
    assert "no face was found in any video of" in capsys.readouterr().err


def test_a_label_line_with_one_of_valence_and_arousal_missing_is_named(store_and_model, tmp_path, capsys):
    store, model = store_and_model
    ann = tmp_path / "ann.txt"
    labels_file(ann, single_face=[1, 2, 3])
    lines = ann.read_text().splitlines()
    lines[2] = lines[2].replace("0.1,0.2", "-5,0.2", 1)
    ann.write_text("\n".join(lines) + "\n")
    assert main(["evaluate", "--checkpoint", str(model), "--annotations", str(ann), "--features", str(store),
                 "--no-progress"]) == 2
    assert f"{ann}:3: valence is the missing code -5 but arousal is labelled" in capsys.readouterr().err


def test_which_frames_are_outside_a_video_depends_on_how_it_was_read():
    have, want = np.array([1, 2, 3, 5]), np.array([0, 1, 4, 5, 6])
    assert frames_outside_video("video", have, want).tolist() == [0, 4, 6]
    assert frames_outside_video("frames", have, want).tolist() == [0, 6]  # a skipped frame inside is not
    assert frames_outside_video("aligned", have, want).tolist() == []  # a face crop missing is a frame without a face
    assert frames_outside_video("", have, want).tolist() == []
    assert frame_ranges(np.array([0, 73, 74, 75, 90])) == "00000, 00073-00075, 00090"
