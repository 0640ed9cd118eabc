"""`affectstream bench gui` end to end (a few seconds, offscreen): its figures come from frames that reached the window.

Only that the benchmark measures something is checked here; whether the app meets its targets is
what the benchmark itself reports (speed lives in benchmarks, not in tests).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.media import shared_file

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")


def test_bench_gui_measures_frames_refreshes_and_memory(tmp_path):
    video = shared_file("videos", "single_face.mp4")
    out = tmp_path / "gui.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "affectstream.cli.main", "bench", "gui", str(video), "--minutes", "0.12",
                           "--sample-s", "1", "--out", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "GUI thread CPU per frame" in done.stdout
    result = json.loads(out.read_text())
    figures = result["figures"]
    assert figures["frames_per_s_analysed"] > 5  # the video streamed through the engine into the window
    assert figures["plot_refresh_hz"] > 5
    # The slots are a part of the GUI thread's time, which is a part of the wall time.
    assert 0 < figures["gui_slots_ms_per_frame"] <= figures["gui_thread_cpu_ms_per_frame"] < 1000 / 5
    assert figures["engine_ms_per_frame_alone"] > 0 and figures["engine_ms_per_frame_in_app"] > 0
    assert len(result["memory"]["samples_s_mb"]) >= 3 and all(mb > 50 for _, mb in result["memory"]["samples_s_mb"])
    assert set(result["met"]) == {"gui_thread_cpu_ms_per_frame", "gui_slots_ms_per_frame", "plot_refresh_hz",
                                  "memory_flat"}
