"""One rule for "the main face": extraction, the summary plot (from results and from a CSV) and review agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectstream.core.faces.tracking import rank_tracks, select_main_track
from affectstream.core.results.csv_file import write_results_csv
from affectstream.core.results.summary_plot import main_track, summary_arrays_from_csv
from affectstream.core.results.types import FaceAffect, FrameAffect, StageTimes


def face(frame: int, track: int, side: float, valence: float) -> FaceAffect:
    probs = np.full(8, 1 / 8)
    return FaceAffect(frame, frame * 33, track, (10.0, 10.0, 10.0 + side, 10.0 + side), None, 1.0,
                      valence, 0.0, valence, 0.0, probs, "Neutral", np.zeros(12), np.zeros(12, bool), frame)


def results() -> list[FrameAffect]:
    """Track 0: a small face in all 30 frames; track 1: a large face in 10 of them (the subject)."""
    frames = []
    for k in range(1, 31):
        faces = [face(k, 0, 40.0, -0.5)] + ([face(k, 1, 200.0, 0.5)] if k <= 10 else [])
        frames.append(FrameAffect(k, k * 33, "v", "m", tuple(faces), StageTimes()))
    return frames


def test_every_consumer_picks_the_same_main_face(tmp_path: Path):
    frames = results()
    assert rank_tracks([(0, 1600.0)] * 30 + [(1, 40000.0)] * 10) == [1, 0]
    assert select_main_track([[type("F", (), {"track_id": f.track_id, "area": (f.box[2] - f.box[0]) ** 2})()
                               for f in r.faces] for r in frames]) == 1
    assert main_track(frames) == 1
    csv = tmp_path / "v.csv"
    write_results_csv(csv, frames)
    arrays = summary_arrays_from_csv(csv)
    assert np.nanmax(arrays["va"][:, 0]) == 0.5 and np.isnan(arrays["va"][10:, 0]).all()  # track 1's values
    from affectstream.app.review_data import ReviewData

    assert ReviewData(tmp_path / "v.mp4", frames, "t").tracks() == [1, 0]
    # The one results reader gives the CSV's frames back with the same main face.
    from affectstream.core.results.frames import read_frame_results

    assert main_track(read_frame_results(csv)) == 1
