"""The shared worker pool (annotate, extract and the imports' stills) when a worker cannot set up or dies: one clear
error or one failed item, never a hang."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setup_that_fails(path: str):
    """A worker set-up that cannot load its model (as a missing or broken file would)."""
    raise RuntimeError(f"cannot load the model {path}")


def test_a_worker_that_cannot_set_up_stops_the_batch_with_its_reason():
    # Without the fix the pool restarts the failing worker for ever: the run would time out here.
    script = textwrap.dedent("""
        from affectstream.jobs.batch import run_in_workers
        from tests.test_batch_workers import setup_that_fails

        if __name__ == "__main__":
            try:
                run_in_workers(["a", "b", "c"], setup_that_fails, ("broken.onnx",), 2, print, print, print)
            except Exception as exc:
                print("stopped:", type(exc).__name__, exc)
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "stopped: WorkerStartError a worker process could not start: RuntimeError: cannot load the model broken.onnx" in run.stdout
    assert "Traceback" not in run.stderr


def setup_that_crashes_on_poison():
    """A worker whose process dies on one video (a decoder segfault, the out-of-memory killer)."""
    import os
    from types import SimpleNamespace

    def run(spec, progress):
        if spec == "poison":
            os._exit(139)
        progress(1)
        return SimpleNamespace(name=spec, frames=1, why=None)
    return run


def setup_that_crashes():
    import os

    os._exit(139)  # e.g. a native library that segfaults while it loads


def test_a_worker_process_that_dies_on_a_video_fails_that_video_and_the_batch_goes_on():
    # Without the fix the pool replaces the dead process but the video's result never comes: the run hangs.
    script = textwrap.dedent("""
        from types import SimpleNamespace
        from affectstream.jobs.batch import run_in_workers
        from tests.test_batch_workers import setup_that_crashes_on_poison

        if __name__ == "__main__":
            reports = run_in_workers(["a", "poison", "b", "c", "d"], setup_that_crashes_on_poison, (), 2,
                                     lambda r: None, lambda n: None,
                                     lambda spec, why: SimpleNamespace(name=spec, frames=0, why=why))
            for r in sorted(reports, key=lambda r: r.name):
                print(r.name, r.why)
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[:4] == ["a None", "b None", "c None", "d None"]
    assert lines[4].startswith("poison its worker process died while on it (")


def test_worker_processes_that_die_while_they_set_up_stop_the_batch():
    # Without the check the pool starts new processes for ever and no video is ever run.
    script = textwrap.dedent("""
        from affectstream.jobs.batch import run_in_workers
        from tests.test_batch_workers import setup_that_crashes

        if __name__ == "__main__":
            try:
                run_in_workers(["a", "b"], setup_that_crashes, (), 2, print, print, lambda spec, why: why)
            except Exception as exc:
                print("stopped:", type(exc).__name__, exc)
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=90)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "stopped: WorkerStartError worker processes die while they set up" in run.stdout


# -- the imports' stills run in the same pool -------------------------------------------------------------------

def setup_that_dies_on_the_second_chunk(names):
    """A still worker (no landmarker: zeros of the right size) whose process dies on the chunk from still 3
    unless $MEND is set; each chunk it runs is noted in $RAN."""
    import os

    import numpy as np

    from affectstream.training.stills.extract import ChunkFeatures, chain_specs

    dims = {spec.name: spec.dim for spec in chain_specs(names)}

    def run(chunk, progress):
        if chunk.start == 2 and not os.environ.get("MEND"):
            os._exit(139)
        with open(os.environ["RAN"], "a") as log:
            log.write(f"{chunk.start}\n")
        progress(len(chunk.images))
        n = len(chunk.images)
        return ChunkFeatures(chunk.start, np.ones(n, bool),
                             {name: np.full((n, dim), chunk.start, np.float32) for name, dim in dims.items()}, {})
    return run


def test_a_still_worker_that_dies_names_its_stills_keeps_the_others_and_a_rerun_does_only_those(tmp_path):
    # Before the imports used the shared pool, a still worker that died left multiprocessing.Pool waiting for ever.
    script = textwrap.dedent(f"""
        import os
        import numpy as np
        from affectstream.training.stills import extract
        from affectstream.training.stills.framing import Framing
        from affectstream.training.stills.sets import StillLabels, StillSet
        from tests.test_batch_workers import setup_that_dies_on_the_second_chunk

        if __name__ == "__main__":
            extract.CHUNK = 2
            extract._worker_setup = setup_that_dies_on_the_second_chunk
            os.environ["RAN"] = {str(tmp_path / "ran.txt")!r}
            stills = StillSet("t", tuple(map(str, range(6))), StillLabels.missing(6), np.array(["train"] * 6),
                              ("expr",), Framing(), "", "", {{}}, images=np.zeros((6, 8, 8), np.uint8))
            cache = {str(tmp_path / "cache")!r}
            try:
                extract.extract_set_features(stills, ["blendshapes"], cache, workers=2, progress=False)
            except extract.StillExtractionError as exc:
                print("stopped:", exc)
            print("cached:", len(os.listdir(os.path.join(cache, "t"))))
            os.environ["MEND"] = "1"
            done = extract.extract_set_features(stills, ["blendshapes"], cache, workers=2, progress=True)
            print("found:", done.found.tolist(), done.features["blendshapes"][:, 0].tolist())
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    lines = run.stdout.splitlines()
    assert lines[0].startswith("stopped: t: 1 chunk(s) of 2 stills were not extracted, e.g. the one from still 3: "
                               "its worker process died while on it (exit code 139); the others are kept")
    assert lines[1] == "cached: 2"
    assert lines[2] == "found: [True, True, True, True, True, True] [0.0, 0.0, 2.0, 2.0, 4.0, 4.0]"
    # The rerun extracted only the chunk that was lost; its progress bar counted every still.
    assert sorted((tmp_path / "ran.txt").read_text().split()) == ["0", "2", "4"]
    assert "features t: 100%" in run.stderr and "6/6" in run.stderr
