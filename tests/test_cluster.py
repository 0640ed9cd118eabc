"""Batch jobs on a real local Ray cluster: the same files as one process, and a killed worker's video retried."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from affectstream.cli.main import main
from tests.conftest import long_face_video, shared_file
from tests.engine_fixtures import write_checkpoint

RAY = Path(sys.executable).with_name("ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ray_address():
    if not RAY.exists():
        pytest.skip("Ray is not installed (pip install -e '.[cluster]')")
    port = free_port()
    start = subprocess.run([str(RAY), "start", "--head", "--num-cpus", "2", "--port", str(port),
                            "--node-ip-address", "127.0.0.1", "--include-dashboard=false",
                            "--disable-usage-stats"], capture_output=True, text=True, timeout=180)
    if start.returncode != 0:
        pytest.skip(f"a local Ray head could not start here: {start.stderr[-300:]}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_checkpoint(tmp_path_factory.mktemp("cluster") / "tiny.safetensors")


def test_annotate_on_ray_writes_the_files_one_process_writes(ray_address, checkpoint, tmp_path):
    videos = [str(shared_file("videos", name)) for name in ("single_face.mp4", "noface_face.mov")]
    common = ["--checkpoint", str(checkpoint), "--no-progress", "--no-plot"]
    assert main(["annotate", *videos, "--out", str(tmp_path / "serial"), *common]) == 0
    assert main(["annotate", *videos, "--out", str(tmp_path / "ray"), "--ray", ray_address, *common]) == 0
    for name in ("single_face", "noface_face"):
        assert (tmp_path / "serial" / f"{name}.csv").read_bytes() == (tmp_path / "ray" / f"{name}.csv").read_bytes()
        assert (tmp_path / "ray" / f"{name}.done.json").is_file()


def test_annotate_on_ray_takes_relative_paths_and_shows_progress(ray_address, checkpoint, tmp_path, monkeypatch,
                                                                 capsys):
    """Ray workers run in Ray's own working folders: the landmarker and model given relative to the
    caller's folder must still be found there, and the bar counts the frames of finished videos."""
    import json

    from affectstream.faces.model_file import locate_face_landmarker

    landmarker = locate_face_landmarker()
    workdir = tmp_path / "here"
    workdir.mkdir()
    (workdir / landmarker.name).symlink_to(landmarker)
    (workdir / "model.safetensors").symlink_to(checkpoint)
    monkeypatch.chdir(workdir)
    videos = [str(shared_file("videos", name)) for name in ("single_face.mp4", "noface_face.mov")]
    code = main(["annotate", *videos, "--out", "out", "--ray", ray_address, "--checkpoint", "model.safetensors",
                 "--landmarker-model", landmarker.name, "--no-plot"])
    err = capsys.readouterr().err
    assert code == 0, err[-2000:]
    frames = sum(json.loads((workdir / "out" / f"{n}.done.json").read_text())["frames"]
                 for n in ("single_face", "noface_face"))
    assert "annotate 2 video(s)" in err
    assert f" {frames}/" in err  # the bar reached every frame annotated


def test_a_ray_worker_that_cannot_set_up_stops_the_batch_with_the_reason(ray_address, tmp_path):
    """Without it the actor is restarted until Ray gives up, and every video fails without the reason."""
    from affectstream.engine import EngineOptions
    from affectstream.jobs.annotate import AnnotateOptions, RunIdentity, annotate_worker
    from affectstream.jobs.batch import WorkerStartError
    from affectstream.jobs.cluster import run_on_ray
    from affectstream.sources.readers import find_sources

    specs = find_sources([str(shared_file("videos", "single_face.mp4"))])
    missing = tmp_path / "gone.safetensors"  # e.g. a model file not on this node's shared path
    args = (str(missing), EngineOptions(), AnnotateOptions(tmp_path / "out"), RunIdentity("m", "0" * 64))
    with pytest.raises(WorkerStartError, match="gone.safetensors"):
        run_on_ray(specs, annotate_worker, args, ray_address, lambda report: None, lambda frames: None,
                   lambda spec, why: why)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def ray_workers_running() -> list[int]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "cmdline").read_bytes().startswith(b"ray::_Worker.run"):
                    found.append(int(proc.name))
            except OSError:
                pass
    return found


def test_a_worker_killed_mid_video_has_its_video_retried_and_nothing_is_half_written(ray_address, checkpoint,
                                                                                      tmp_path):
    videos = [long_face_video(tmp_path / f"long{k}.mp4") for k in range(2)]
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "affectstream.cli", "annotate", *videos, "--checkpoint",
                            str(checkpoint), "--out", str(out), "--ray", ray_address, "--no-progress", "--no-plot"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, killed = time.time() + 120, None
        while killed is None and time.time() < deadline and run.poll() is None:
            busy = ray_workers_running()
            if busy and list(out.glob(".*.rows.tmp")):
                killed = busy[0]
                os.kill(killed, signal.SIGKILL)  # a worker dies while it holds a video
            time.sleep(0.2)
        assert killed is not None, "no Ray worker was seen holding a video"
        output, err = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
    assert run.returncode == 0, err.decode()[-2000:]
    for k in range(2):
        csv = out / f"long{k}.csv"
        assert sum(1 for _ in open(csv)) == 1 + 720  # every frame, once
        assert (out / f"long{k}.done.json").is_file()
    assert not list(out.glob(".*.tmp"))


def test_extract_on_ray_writes_the_features_one_process_writes(ray_address, tmp_path, monkeypatch):
    import numpy as np

    from affectstream.faces.model_file import locate_face_landmarker

    # The landmarker is named relative to this folder; Ray's workers run in folders of their own.
    landmarker = locate_face_landmarker()
    monkeypatch.chdir(landmarker.parent)
    videos = [str(shared_file("videos", name)) for name in ("single_face.mp4", "noface_face.mov")]
    common = ["--extractors", "blendshapes", "--no-progress", "--workers", "1", "--landmarker-model", landmarker.name]
    assert main(["extract", *videos, "--out", str(tmp_path / "serial"), *common]) == 0
    assert main(["extract", *videos, "--out", str(tmp_path / "ray"), "--ray", ray_address, *common]) == 0
    for name in ("single_face", "noface_face"):
        serial = np.load(tmp_path / "serial" / "blendshapes" / f"{name}.npz")
        on_ray = np.load(tmp_path / "ray" / "blendshapes" / f"{name}.npz")
        assert sorted(serial.files) == sorted(on_ray.files)
        for key in serial.files:
            np.testing.assert_array_equal(serial[key], on_ray[key])
