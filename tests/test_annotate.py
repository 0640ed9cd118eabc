"""`affectstream annotate` and `bench live` on the shared videos: CSVs, PNGs, resuming, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS
from affectstream.core.results.csv_file import COLUMNS, HEADER, column_values, read_results_csv
from affectstream.core.post.smoothing import centered_moving_average
from tests.media import decode_frames, long_face_video, shared_file, two_face_frames
from tests.engine_fixtures import write_checkpoint
from affectstream.cli.main import main

OFFLINE_WINDOW = 5


@pytest.fixture(scope="module")
def offline_checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("annotate") / "tiny.safetensors", offline_window=OFFLINE_WINDOW)


def annotate(*args) -> int:
    return main(["annotate", *map(str, args), "--no-progress"])


def test_annotate_face_and_no_face_videos_then_skip_when_done(offline_checkpoint, tmp_path, capsys):
    face = shared_file("videos", "single_face.mp4")
    none = shared_file("videos", "no_face.mp4")
    out = tmp_path / "out"
    assert annotate(face, none, "--out", out, "--checkpoint", offline_checkpoint) == 0

    rows = read_results_csv(out / "single_face.csv")
    assert [int(r["frame"]) for r in rows] == list(range(1, 73))
    assert {r["success"] for r in rows} == {"1"} and {r["face_id"] for r in rows} == {"0"}
    for row in rows:
        probs = [float(row[f"p_{e}"]) for e in EXPRESSIONS]
        assert sum(probs) == pytest.approx(1.0, abs=2e-3)
        assert row["expression"] in EXPRESSIONS and {row[au] for au in ACTION_UNITS} <= {"0", "1"}
        assert 0 <= float(row["x0"]) < float(row["x1"]) <= 640
    # Offline runs use the checkpoint's centred window on the raw values (rounded to 4 decimals in the CSV).
    raw = np.array(column_values(rows, "valence_raw"))
    np.testing.assert_allclose(column_values(rows, "valence"), centered_moving_average(raw, OFFLINE_WINDOW),
                               atol=2e-4)
    assert np.abs(np.array(column_values(rows, "valence")) - raw).max() > 1e-3

    empty = read_results_csv(out / "no_face.csv")
    assert len(empty) > 90 and {r["success"] for r in empty} == {"0"}
    assert all(r["face_id"] == "" and r["valence"] == "" for r in empty)
    for name in ("single_face", "no_face"):
        png = cv2.imread(str(out / f"{name}.png"))
        assert png is not None and png.shape[0] > 300 and png.shape[1] > 500
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))
    # Every row says what made it; the done marker says the rest (labels, settings, files).
    import hashlib

    sha = hashlib.sha256(offline_checkpoint.read_bytes()).hexdigest()
    assert {(r["model"], r["model_sha256"]) for r in rows} == {("tiny-test-gru", sha[:16])}
    assert {r["settings"] for r in rows} == {f"smoothing=centred({OFFLINE_WINDOW});max_faces=1"}
    manifest = json.loads((out / "single_face.done.json").read_text())
    assert manifest["status"] == "done" and manifest["model_sha256"] == sha and manifest["frames"] == 72
    assert set(manifest["files"]) == {"csv", "png"}
    import pandas as pd

    table = pd.read_csv(out / "single_face.csv")  # plain pandas reads it, metadata and all
    assert len(table) == 72 and table["valence"].notna().all()

    before = (out / "single_face.csv").stat().st_mtime_ns
    capsys.readouterr()
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint) == 0
    assert "already annotated" in capsys.readouterr().out
    assert (out / "single_face.csv").stat().st_mtime_ns == before


def test_a_video_is_done_only_when_its_marker_vouches_for_whole_files(offline_checkpoint, tmp_path, capsys):
    """Killed after the CSV and before the marker, or a file cut since: the next run redoes the video."""
    face = shared_file("videos", "single_face.mp4")
    out = tmp_path / "out"
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint) == 0
    marker = out / "single_face.done.json"
    marker.unlink()  # as if killed right after the CSV and PNG were written
    stale = out / ".single_face.csv.x1y2.rows.tmp"  # rows a run killed mid-video left behind
    stale.write_text("frame\n1\n")
    stale_plot = out / ".single_face.png.qvzgci03.tmp"  # a plot being written when it was killed
    stale_plot.write_bytes(b"\x89PNG")
    capsys.readouterr()
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint) == 0
    assert "already annotated" not in capsys.readouterr().out and marker.is_file() and not stale.exists()
    assert not stale_plot.exists()
    csv_path = out / "single_face.csv"
    csv_path.write_bytes(csv_path.read_bytes()[:500])  # a partial CSV under a marker
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint) == 0
    assert "already annotated" not in capsys.readouterr().out and len(read_results_csv(csv_path)) == 72
    (out / "single_face.png").unlink()
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint) == 0
    assert (out / "single_face.png").is_file()


def test_results_of_another_model_or_settings_are_not_taken_as_done(offline_checkpoint, tmp_path, capsys):
    face = shared_file("videos", "single_face.mp4")
    out = tmp_path / "out"
    other = write_checkpoint(tmp_path / "other.safetensors", offline_window=3, seed=1)
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 0
    capsys.readouterr()
    assert annotate(face, "--out", out, "--checkpoint", other, "--no-plot") == 2
    err = capsys.readouterr().err
    assert "another model or other settings" in err and "--overwrite" in err
    assert annotate(face, "--out", out, "--checkpoint", other) == 2  # wanting a plot the marker lacks changes nothing
    assert "another model or other settings" in capsys.readouterr().err
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--smoothing", "none", "--no-plot") == 2
    assert annotate(face, "--out", out, "--checkpoint", other, "--no-plot", "--overwrite") == 0
    rows = read_results_csv(out / "single_face.csv")
    assert {r["settings"] for r in rows} == {"smoothing=centred(3);max_faces=1"}


def test_another_file_of_the_same_name_is_not_taken_as_done_nor_written_over(offline_checkpoint, tmp_path, capsys):
    """dayA/clip.mp4 then dayB/clip.mp4 into one folder: the second was skipped as already annotated."""
    import shutil

    day_a, day_b, out = tmp_path / "dayA", tmp_path / "dayB", tmp_path / "out"
    day_a.mkdir(), day_b.mkdir()
    shutil.copy(shared_file("videos", "single_face.mp4"), day_a / "clip.mp4")
    shutil.copy(shared_file("videos", "no_face.mp4"), day_b / "clip.mp4")
    assert annotate(day_a / "clip.mp4", "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 0
    capsys.readouterr()
    assert annotate(day_b / "clip.mp4", "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 2
    err = capsys.readouterr().err
    assert "made from another file" in err and "dayA" in err and "--overwrite" in err
    assert len(read_results_csv(out / "clip.csv")) == 72  # dayA's results, kept
    # A copy of the same file elsewhere is the same source: done.
    shutil.copy(day_a / "clip.mp4", tmp_path / "clip.mp4")
    assert annotate(tmp_path / "clip.mp4", "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 0
    assert "already annotated" in capsys.readouterr().out
    assert annotate(day_b / "clip.mp4", "--out", out, "--checkpoint", offline_checkpoint, "--no-plot", "--overwrite") == 0
    assert len(read_results_csv(out / "clip.csv")) == 95


def test_a_video_annotated_without_its_plot_gets_one_when_a_plot_is_asked_for(offline_checkpoint, tmp_path, capsys):
    face = shared_file("videos", "single_face.mp4")
    out = tmp_path / "out"
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 0
    assert not (out / "single_face.png").exists()
    capsys.readouterr()
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint) == 0
    assert "already annotated" not in capsys.readouterr().out and (out / "single_face.png").is_file()
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 0  # a plot too many is fine
    assert "already annotated" in capsys.readouterr().out


def test_write_failures_are_reported_per_video_and_the_batch_goes_on(offline_checkpoint, tmp_path, capsys):
    face = shared_file("videos", "single_face.mp4")
    none = shared_file("videos", "no_face.mp4")
    out = tmp_path / "out"
    (out / "no_face.csv").mkdir(parents=True)  # this video's CSV cannot be written
    assert annotate(none, face, "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 1
    captured = capsys.readouterr()
    assert "cannot write the outputs for no_face" in captured.err and "Traceback" not in captured.err
    assert len(read_results_csv(out / "single_face.csv")) == 72 and (out / "no_face.csv").is_dir()
    assert not (out / "no_face.done.json").exists()
    # An --out that cannot be a folder is refused before any video is analysed.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert annotate(face, "--out", blocker / "sub", "--checkpoint", offline_checkpoint) == 2
    assert "cannot write there" in capsys.readouterr().err
    assert annotate(face, "--out", blocker, "--checkpoint", offline_checkpoint) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_annotate_video_corrupt_halfway_keeps_the_frames_before(offline_checkpoint, tmp_path, capsys):
    """A copy of single_face as MJPG AVI, cut in half: a valid CSV of the decodable frames and a clear error."""
    full = tmp_path / "full.avi"
    writer = cv2.VideoWriter(str(full), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360))
    for image in decode_frames(shared_file("videos", "single_face.mp4")):
        writer.write(image)
    writer.release()
    cut = tmp_path / "cut.avi"
    data = full.read_bytes()
    cut.write_bytes(data[: len(data) // 2])

    out = tmp_path / "out"
    assert annotate(cut, "--out", out, "--checkpoint", offline_checkpoint) == 1
    err = capsys.readouterr().err
    assert "cut.avi" in err and "truncated" in err
    rows = read_results_csv(out / "cut.csv")
    assert 20 < len(rows) < 60
    assert [int(r["frame"]) for r in rows] == list(range(1, len(rows) + 1)) and {r["success"] for r in rows} == {"1"}
    error = (out / "cut.error.txt").read_text()
    assert "cut.avi" in error and f"{len(rows)} frames" in error
    assert (out / "cut.png").is_file()
    # A failed video is not "done": the next run tries it again (and fails the same way).
    assert annotate(cut, "--out", out, "--checkpoint", offline_checkpoint) == 1
    assert "already annotated" not in capsys.readouterr().out


def test_annotate_bad_inputs_are_reported_and_the_batch_goes_on(offline_checkpoint, tmp_path, capsys):
    face = shared_file("videos", "single_face.mp4")
    out = tmp_path / "out"
    assert annotate(tmp_path / "missing.mp4", "97", face, "--out", out, "--checkpoint", offline_checkpoint,
                    "--no-plot") == 1
    err = capsys.readouterr().err
    assert "missing.mp4: no such file" in err and "webcam 97" in err
    assert (out / "single_face.csv").is_file() and not (out / "single_face.png").exists()
    assert annotate(face, "--out", out, "--checkpoint", tmp_path / "nope.safetensors") == 2
    assert "nope.safetensors does not exist" in capsys.readouterr().err


def test_bench_live_writes_json_and_a_missing_camera_is_clear(tmp_path, capsys):
    video = shared_file("videos", "single_face.mp4")
    out = tmp_path / "live.json"
    assert main(["bench", "live", str(video), "--untrained", "--hidden", "16", "--features", "blendshapes",
                 "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    runs = {r["mode"]: r for r in result["runs"]}
    assert set(runs) == {"paced", "fast"} and result["runtime"].startswith("onnxruntime")
    assert runs["fast"]["processed"] == 72 and runs["fast"]["dropped"] == 0
    paced = runs["paced"]
    assert paced["captured"] == 72 and paced["processed"] + paced["dropped"] == 72
    assert paced["p95_ms"] >= paced["p50_ms"] > 0 and result["peak_rss_mb"] > 0
    assert set(paced["stage_median_ms"]) == {"faces", "features", "model", "post"}
    assert "p95 ms" in capsys.readouterr().out
    assert main(["bench", "live", "--camera", "97", "--out", str(tmp_path / "cam.json")]) == 2
    assert "webcam 97: cannot open the camera" in capsys.readouterr().err


def test_csv_header_is_the_documented_one():
    assert COLUMNS[:5] == ("frame", "timestamp_ms", "face_id", "success", "confidence")
    assert len(COLUMNS) == 13 + 8 + 1 + 12 + 12
    assert HEADER == COLUMNS + ("model", "model_sha256", "settings")


def test_centred_smoothing_restarts_with_a_restarted_track():
    from affectstream.core.results.types import FaceAffect, FrameAffect, StageTimes
    from affectstream.jobs.annotate import smooth_centred

    def face(k: int, run_frame: int, value: float) -> FaceAffect:
        return FaceAffect(k, 33 * k, 3, (0, 0, 1, 1), None, 1.0, value, -value, 0.0, 0.0, np.full(8, 0.125),
                          "Neutral", np.zeros(12), np.zeros(12, bool), run_frame)

    # Track 3: frames 1-4, gone for frame 5, back after a timeout at frames 6-8 (fresh: track_frames 1..3).
    values = [0.0, 0.3, 0.6, 0.9, None, -0.5, -0.2, 0.1]
    run_frames = [1, 2, 3, 4, None, 1, 2, 3]
    results = [FrameAffect(k + 1, 33 * (k + 1), "v", "m",
                           () if v is None else (face(k + 1, r, v),), StageTimes())
               for k, (v, r) in enumerate(zip(values, run_frames))]
    smoothed = smooth_centred(results, 3)
    got = [r.faces[0].valence if r.faces else None for r in smoothed]
    want = [*centered_moving_average(np.array(values[:4]), 3), None, *centered_moving_average(np.array(values[5:]), 3)]
    assert got == pytest.approx(want)
    assert smoothed[0].faces[0].arousal == pytest.approx(-0.15)  # arousal is smoothed too
    assert smoothed[7].faces[0].valence_raw == 0.1  # raw values are kept


def test_bench_soak_samples_memory_along_a_looped_video(offline_checkpoint, tmp_path, capsys):
    video = shared_file("videos", "single_face.mp4")
    out = tmp_path / "soak.json"
    assert main(["bench", "soak", str(video), "--minutes", "0.1", "--every", "0.05", "--checkpoint",
                 str(offline_checkpoint), "--out", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["frames"] == 180  # 6 s at 30 fps: single_face's 72 frames played 2.5 times
    assert [round(s["video_minutes"], 2) for s in result["samples"]][:3] == [0.0, 0.05, 0.1]
    assert all(s["rss_mb"] > 0 for s in result["samples"]) and "growth_after_first_minute_mb" in result
    assert "memory growth" in capsys.readouterr().out


def test_a_model_name_with_terminal_escapes_is_printed_inert(offline_checkpoint, tmp_path, capsys):
    from affectstream.core.temporal.checkpoint import load_checkpoint, save_checkpoint

    loaded = load_checkpoint(offline_checkpoint)
    loaded.meta.name = "\x1b[31mred\x1b]0;title\x07"
    evil = save_checkpoint(tmp_path / "evil.safetensors", loaded.model, loaded.meta)
    assert annotate(shared_file("videos", "single_face.mp4"), "--out", tmp_path / "out", "--checkpoint", evil,
                    "--no-plot") == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[31mred" in out


def test_extract_into_a_file_or_under_one_is_one_clear_line(tmp_path, capsys):
    video = shared_file("videos", "single_face.mp4")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out in (blocker, blocker / "store"):
        assert main(["extract", str(video), "--out", str(out), "--no-progress"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and (f"--out {out} is a file" in err or "cannot write there" in err)


def test_the_summary_plot_reads_the_csv_back_in_bounded_memory(offline_checkpoint, tmp_path):
    from affectstream.app.review_data import results_from_csv
    from affectstream.core.results.summary_plot import summary_arrays, summary_arrays_from_csv

    out = tmp_path / "out"
    assert annotate(shared_file("videos", "face_noface.mov"), "--out", out, "--checkpoint", offline_checkpoint,
                    "--no-plot") == 0
    csv_path = out / "face_noface.csv"
    exact, read_back = summary_arrays(results_from_csv(csv_path)), summary_arrays_from_csv(csv_path)
    for key in exact:
        np.testing.assert_allclose(read_back[key], exact[key], atol=1e-6, equal_nan=True)
    # The AU panel's dots: the on-states the CSV holds for the main face (each AU at its own threshold).
    import pandas as pd

    table = pd.read_csv(csv_path)
    main_face = table[table["face_id"] == table["face_id"].mode()[0]]
    on_rows = exact["au_on"][main_face["frame"].to_numpy() - int(table["frame"].min())]
    np.testing.assert_array_equal(on_rows, main_face[list(ACTION_UNITS)].to_numpy(dtype=float))
    assert (~np.isnan(exact["au_on"]).all(axis=1)).sum() == len(main_face)  # elsewhere: gaps
    assert 0 < np.nansum(exact["au_on"]) < np.isfinite(exact["au_on"]).sum()  # some on, not all
    binned = summary_arrays_from_csv(csv_path, max_points=40)  # a long video: averaged into 40 bins
    assert binned["va"].shape == (40, 2) and np.all(np.diff(binned["time"]) > 0)
    assert np.nanmean(binned["va"][:, 0]) == pytest.approx(np.nanmean(exact["va"][:, 0]), abs=0.05)


def test_workers_give_the_same_files_as_one_process_and_report_failures(offline_checkpoint, tmp_path, capsys):
    videos = [str(shared_file("videos", name)) for name in ("single_face.mp4", "noface_face.mov")]
    missing = str(tmp_path / "missing.mp4")
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    assert main(["annotate", *videos, "--checkpoint", str(offline_checkpoint), "--out", str(serial),
                 "--no-progress", "--no-plot"]) == 0
    assert main(["annotate", *videos, missing, "--checkpoint", str(offline_checkpoint), "--out", str(parallel),
                 "--no-progress", "--no-plot", "--workers", "2"]) == 1
    for name in ("single_face", "noface_face"):
        assert (serial / f"{name}.csv").read_bytes() == (parallel / f"{name}.csv").read_bytes()
        assert json.loads((parallel / f"{name}.done.json").read_text())["status"] == "done"
    assert "missing" in capsys.readouterr().err
    assert not list(parallel.glob(".*.tmp"))  # nothing half-written
    assert main(["annotate", videos[0], "--out", str(tmp_path / "x"), "--workers", "0"]) == 2
    assert "--workers must be at least 1" in capsys.readouterr().err


def test_ctrl_c_during_a_two_worker_run_leaves_no_process_and_no_half_written_file(offline_checkpoint, tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    videos = [long_face_video(tmp_path / f"long{k}.mp4") for k in range(3)]  # long enough to be interrupted
    out = tmp_path / "out"
    command = [sys.executable, "-m", "affectstream.cli", "annotate", *videos, "--checkpoint", str(offline_checkpoint),
               "--out", str(out), "--workers", "2", "--no-progress", "--no-plot"]
    # A job started in the background by a non-interactive shell (CI, nohup ... &) inherits SIGINT ignored, and
    # the CLI rightly keeps it so; a terminal's foreground command has the default, as the child gets here.
    run = subprocess.Popen(command, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.time() + 120
        while not list(out.glob(".*.rows.tmp")) and time.time() < deadline and run.poll() is None:
            time.sleep(0.2)
        assert run.poll() is None, "the run ended before it could be interrupted"
        time.sleep(1.0)
        os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C sends: the whole process group
        _, err = run.communicate(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130, err.decode()
    left = []
    for _ in range(50):  # no worker left behind in the group (helpers may take a moment to see it end)
        left = [p.name for p in Path("/proc").iterdir() if p.name.isdigit() and _group_of(p) == run.pid]
        if not left:
            break
        time.sleep(0.1)
    assert not left, [(Path(f"/proc/{pid}/cmdline").read_bytes()[:200]) for pid in left]
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*.tmp"))
    for csv in out.glob("*.csv"):  # a CSV only with its done marker: nothing half-done counts as done
        assert (out / f"{csv.stem}.done.json").is_file()


def _group_of(proc) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


def test_whole_frame_folders_are_annotated_as_video_with_their_frame_rate(tmp_path, capsys):
    model = write_checkpoint(tmp_path / "tiny.safetensors")
    clip = two_face_frames(tmp_path / "clip")
    out = tmp_path / "out"
    faces = ("--max-faces", 2)
    # Read as aligned faces (the default for folders): ABAW's 30 fps, the whole image is one face.
    assert annotate(clip, "--out", out, "--checkpoint", model, "--no-plot", *faces) == 0
    as_faces = read_results_csv(out / "clip.csv")
    assert [(int(r["frame"]), int(r["timestamp_ms"])) for r in as_faces] == [(0, 0), (1, 33), (2, 67)]
    # Whole frames: both faces found and followed as in a video, at the folder's frame rate; another reading of
    # the folder is not taken as done.
    whole = ("--whole-frames", "--folder-fps", 25)
    assert annotate(clip, "--out", out, "--checkpoint", model, "--no-plot", *faces, *whole) == 2
    assert "another model or other settings" in capsys.readouterr().err
    assert annotate(clip, "--out", out, "--checkpoint", model, "--no-plot", "--overwrite", *faces, *whole) == 0
    rows = read_results_csv(out / "clip.csv")
    assert [(int(r["frame"]), int(r["timestamp_ms"])) for r in rows] == [(n, 40 * n) for n in range(3) for _ in "ab"]
    assert all(r["success"] == "1" for r in rows) and {r["face_id"] for r in rows} == {"0", "1"}
    assert {r["settings"] for r in rows} == {
        f"smoothing=centred({OFFLINE_WINDOW});max_faces=2;folders=whole frames;folder_fps=25.0"}


def test_folder_options_do_not_change_a_video_s_identity_and_bad_rates_are_refused(offline_checkpoint, tmp_path, capsys):
    face = shared_file("videos", "single_face.mp4")
    out = tmp_path / "out"
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 0
    capsys.readouterr()
    # A video file is read the same with or without the folder options: its results stand.
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--no-plot", "--whole-frames",
                    "--folder-fps", 25) == 0
    assert "single_face: already annotated, skipped" in capsys.readouterr().out
    for rate in ("0", "-25", "2000", "nan", "1e-300"):
        assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--folder-fps", rate) == 2
        assert "the frame rate of image folders must be from 0.01 to 1000" in capsys.readouterr().err


def test_an_input_is_never_written_over_and_files_annotate_did_not_write_need_overwrite(offline_checkpoint, tmp_path, capsys):
    folder = tmp_path / "pictures"
    folder.mkdir()
    image = folder / "portrait.png"
    cv2.imwrite(str(image), np.full((64, 64, 3), 90, np.uint8))
    before = image.read_bytes()
    for extra in ((), ("--overwrite",)):  # the summary plot would be portrait.png: refused even with --overwrite
        assert annotate(image, "--out", folder, "--checkpoint", offline_checkpoint, *extra) == 2
        assert "over the input itself" in capsys.readouterr().err and image.read_bytes() == before
    assert sorted(p.name for p in folder.iterdir()) == ["portrait.png"]
    assert annotate(image, "--out", folder, "--checkpoint", offline_checkpoint, "--no-plot") == 0  # no plot: no clash
    assert image.read_bytes() == before and (folder / "portrait.csv").is_file()

    face = shared_file("videos", "single_face.mp4")
    out = tmp_path / "out"
    out.mkdir()
    (out / "single_face.csv").write_text("participant,score\n7,0.5\n")  # a user's own table
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 2
    err = capsys.readouterr().err
    assert "single_face.csv" in err and "not written by annotate" in err and "--overwrite" in err
    assert (out / "single_face.csv").read_text() == "participant,score\n7,0.5\n"
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--no-plot", "--overwrite") == 0
    assert len(read_results_csv(out / "single_face.csv")) == 72
    # A results CSV re-saved with a byte-order mark, its marker gone, is still annotate's: redone, not refused.
    (out / "single_face.csv").write_bytes(b"\xef\xbb\xbf" + (out / "single_face.csv").read_bytes())
    (out / "single_face.done.json").unlink()
    assert annotate(face, "--out", out, "--checkpoint", offline_checkpoint, "--no-plot") == 0


def test_another_landmarker_file_is_taken_when_its_hash_is_accepted_and_face_counts_are_bounded(offline_checkpoint, tmp_path,
                                                                                                capsys):
    from affectstream.core.faces.model_file import locate_face_landmarker

    other = tmp_path / "other.task"
    other.write_bytes(locate_face_landmarker(None).read_bytes() + b"\0")  # a zip still, another digest
    image = shared_file("images", "single_face.jpg")
    base = [image, "--checkpoint", offline_checkpoint, "--landmarker-model", other, "--no-plot"]
    assert annotate(*base, "--out", tmp_path / "a") == 2
    assert "pass --accept-landmarker-hash" in capsys.readouterr().err  # what it names, annotate has
    assert annotate(*base, "--out", tmp_path / "b", "--accept-landmarker-hash") == 0
    row = read_results_csv(tmp_path / "b" / "single_face.csv")[0]
    assert row["success"] == "1" and ";landmarker=" in row["settings"]  # another face model: other results
    capsys.readouterr()
    assert annotate(image, "--out", tmp_path / "b", "--checkpoint", offline_checkpoint, "--no-plot") == 2
    assert "another model or other settings" in capsys.readouterr().err  # not taken as already done
    assert annotate(image, "--out", tmp_path / "c", "--checkpoint", offline_checkpoint, "--max-faces", "11") == 2
    assert "max_faces must be from 1 to 10, got 11" in capsys.readouterr().err


def test_an_operating_system_error_is_one_line_naming_its_path(monkeypatch, capsys):
    import errno

    import affectstream.cli.annotate as command

    def read_only(args):
        raise OSError(errno.EROFS, "Read-only file system", "/mnt/results/clip.csv")

    monkeypatch.setattr(command, "run", read_only)
    assert annotate("clip.mp4", "--out", "anywhere") == 2
    assert capsys.readouterr().err == "affectstream annotate: error: /mnt/results/clip.csv: Read-only file system\n"


def test_annotate_library_call_returns_each_videos_report_and_what_did_not_finish(offline_checkpoint, tmp_path,
                                                                                   capsys):
    from affectstream.core.errors import UserInputError
    from affectstream.jobs.annotate_run import AnnotateRunOptions, annotate as annotate_videos

    face = shared_file("videos", "single_face.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    options = AnnotateRunOptions((str(face), str(bad)), tmp_path / "out", checkpoint=offline_checkpoint,
                                 smoothing="none", plot=False, progress=False)
    result = annotate_videos(options)
    assert [(r.name, r.status) for r in result.reports] == [("single_face", "done"), ("bad", "failed")]
    assert result.model_name == "tiny-test-gru" and [r.name for r in result.unfinished] == ["bad"]
    assert result.problem_lines() == [f"  bad: {result.reports[1].message}"]
    assert "annotated 1 video(s), skipped 0 already done, 1 failed; model tiny-test-gru" in capsys.readouterr().out
    rows = read_results_csv(tmp_path / "out" / "single_face.csv")
    assert column_values(rows, "valence") == column_values(rows, "valence_raw")  # smoothing none
    assert not (tmp_path / "out" / "single_face.png").exists()  # plot=False
    with pytest.raises(UserInputError, match="--workers must be at least 1, got 0"):
        annotate_videos(AnnotateRunOptions((str(face),), tmp_path / "x", workers=0))
