"""The shared worker pool when a worker cannot set up: one clear error, no endless restarts."""

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
                run_in_workers(["a", "b", "c"], setup_that_fails, ("broken.onnx",), 2, print, print)
            except Exception as exc:
                print("stopped:", type(exc).__name__, exc)
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "stopped: WorkerStartError a worker process could not start: RuntimeError: cannot load the model broken.onnx" in run.stdout
    assert "Traceback" not in run.stderr
