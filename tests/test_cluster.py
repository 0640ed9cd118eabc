"""Batch jobs on a real local Ray cluster: the same files as one process, and a killed worker's video retried."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from affectstream.cli.main import main
from tests.media import long_face_video, shared_file

RAY = Path(sys.executable).with_name("ray")
LONG_FRAMES = 300  # the videos a worker is killed in


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(proc.name))
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head of this module's own: ``ray start --block`` stays the parent of the cluster's processes and
    takes them down when it is terminated, so no other Ray cluster on the machine (another test run's) is
    touched, as ``ray stop`` would touch it. Yields (address, the head's pid)."""
    if not RAY.exists():
        pytest.skip("Ray is not installed (pip install -e '.[cluster]')")
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's socket paths live under it
    head = subprocess.Popen([str(RAY), "start", "--head", "--block", "--num-cpus", "2", "--port", str(port),
                             "--node-ip-address", "127.0.0.1", "--include-dashboard=false",
                             "--disable-usage-stats", "--temp-dir", temp_dir],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    timer = threading.Timer(180, head.kill)  # a head that never comes up must not hang the run
    timer.start()
    said, up = [], False
    for line in head.stdout:
        said.append(line)
        if "block forever" in line:
            up = True
            break
    timer.cancel()
    try:
        if not up:  # its output ended without the head saying it is up: it is gone, or going (ended below)
            pytest.skip(f"a local Ray head could not start here: {''.join(said)[-300:]}")
        threading.Thread(target=head.stdout.read, daemon=True).start()  # keep its pipe drained
        yield f"127.0.0.1:{port}", head.pid
    finally:
        head.terminate()
        try:
            head.wait(timeout=120)
        except subprocess.TimeoutExpired:
            for pid in descendants(head.pid):
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            head.kill()
            head.wait()
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def ray_address(ray_head):
    return ray_head[0]


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

    from affectstream.core.faces.model_file import locate_face_landmarker

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
    from affectstream.core.engine import EngineOptions
    from affectstream.jobs.annotate import AnnotateOptions, RunIdentity, annotate_worker
    from affectstream.jobs.batch import WorkerStartError
    from affectstream.jobs.cluster import run_on_ray
    from affectstream.core.sources.readers import find_sources

    specs = find_sources([str(shared_file("videos", "single_face.mp4"))])
    missing = tmp_path / "gone.safetensors"  # e.g. a model file not on this node's shared path
    args = (str(missing), EngineOptions(), AnnotateOptions(tmp_path / "out"), RunIdentity("m", "0" * 64))
    with pytest.raises(WorkerStartError, match="gone.safetensors"):
        run_on_ray(specs, annotate_worker, args, ray_address, lambda report: None, lambda frames: None,
                   lambda spec, why: why)
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def ray_workers_running(head: int) -> list[int]:
    """The pids of this cluster's busy workers (Ray names their processes after the task they run)."""
    found = []
    for pid in sorted(descendants(head)):
        try:
            if Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::_Worker.run"):
                found.append(pid)
        except OSError:
            pass
    return found


def test_a_worker_killed_mid_video_has_its_video_retried_and_nothing_is_half_written(ray_head, checkpoint,
                                                                                      tmp_path):
    ray_address, head = ray_head
    # 300 frames (10 s at 30 fps): seconds of work per video, far longer than the 0.2 s between looks below.
    videos = [long_face_video(tmp_path / f"long{k}.mp4", LONG_FRAMES) for k in range(2)]
    out = tmp_path / "out"
    run = subprocess.Popen([sys.executable, "-m", "affectstream.cli", "annotate", *videos, "--checkpoint",
                            str(checkpoint), "--out", str(out), "--ray", ray_address, "--no-progress", "--no-plot"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline, killed = time.time() + 120, None
        while killed is None and time.time() < deadline and run.poll() is None:
            busy = ray_workers_running(head)
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
        assert sum(1 for _ in open(csv)) == 1 + LONG_FRAMES  # every frame, once
        assert (out / f"long{k}.done.json").is_file()
    assert not list(out.glob(".*.tmp"))


def test_extract_on_ray_writes_the_features_one_process_writes(ray_address, tmp_path, monkeypatch):
    import numpy as np

    from affectstream.core.faces.model_file import locate_face_landmarker

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


def test_a_video_that_kills_every_worker_fails_alone_and_the_rest_of_the_batch_runs(ray_address):
    """A worker that used up its restarts is dead for good: the videos after it must go to a live one,
    not be failed one after another by the dead actor."""
    from types import SimpleNamespace

    from affectstream.jobs.cluster import run_on_ray

    def setup():
        def run(spec, progress):
            if spec.name == "poison":
                os._exit(1)  # e.g. a decoder crash on this one file
            time.sleep(1.0)  # videos are still waiting when the poisoned worker gives up
            return SimpleNamespace(name=spec.name, frames=1, why=None)
        return run

    todo = [SimpleNamespace(kind="test", name=name) for name in ("poison", *(f"good{k}" for k in range(8)))]
    reports = run_on_ray(todo, setup, (), ray_address, lambda report: None, lambda frames: None,
                         lambda spec, why: SimpleNamespace(name=spec.name, frames=0, why=why), retries=1)
    outcome = {r.name: r.why for r in reports}
    assert sorted(outcome) == sorted(s.name for s in todo)
    assert "failed 2 times" in outcome.pop("poison")
    assert outcome == {f"good{k}": None for k in range(8)}


def test_ray_workers_that_die_while_they_set_up_stop_the_batch(ray_address):
    """A set-up that kills its process (a native crash) raises nothing Ray can hand back: without the
    check every video would fail in turn, slowly, each as a worker that died."""
    from types import SimpleNamespace

    from affectstream.jobs.batch import WorkerStartError
    from affectstream.jobs.cluster import run_on_ray

    def setup():
        os._exit(1)

    todo = [SimpleNamespace(kind="test", name=f"v{k}") for k in range(8)]
    with pytest.raises(WorkerStartError, match="keep dying before they are set up"):
        run_on_ray(todo, setup, (), ray_address, lambda report: None, lambda frames: None,
                   lambda spec, why: SimpleNamespace(name=spec.name, frames=0, why=why), retries=1)


def test_every_source_that_is_a_path_reaches_workers_as_an_absolute_one(tmp_path, monkeypatch):
    from affectstream.jobs.cluster import absolute_locations
    from affectstream.core.sources.readers import find_sources

    for name in ("clip.mp4", "portrait.jpg"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "00001.jpg").write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    specs = find_sources(["clip.mp4", "portrait.jpg", "faces", "0"])
    assert [s.kind for s in specs] == ["video", "image", "aligned", "webcam"]
    moved = absolute_locations(specs)
    assert [m.location for m in moved[:3]] == [str(tmp_path / n) for n in ("clip.mp4", "portrait.jpg", "faces")]
    assert moved[3].location == "0"
