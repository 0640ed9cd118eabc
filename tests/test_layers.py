"""The layer rule (pyproject.toml, [tool.importlinter]): a wrong import fails the suite."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def lint_imports(config: Path, package_parent: Path) -> subprocess.CompletedProcess:
    tool = Path(sys.executable).with_name("lint-imports")
    # import-linter is a test requirement: without it the layer rule would go unchecked, so that fails.
    assert tool.exists(), f"{tool} is missing: install the test extra (pip install -e '.[test]')"
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(tool), "--config", str(config), "--no-cache"], cwd=package_parent, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers():
    done = lint_imports(REPO / "pyproject.toml", REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


@pytest.mark.parametrize("room, line, arrow", [
    ("core/faces", "import affectstream.app.worker  # the core must not reach the GUI",
     "affectstream.core.faces.wrong -> affectstream.app.worker"),
    ("core/faces", "import affectstream.core.engine  # faces come before the engine",
     "affectstream.core.faces.wrong -> affectstream.core.engine"),
    ("jobs", "import affectstream.training.loop  # batch jobs run models, they do not train them",
     "affectstream.jobs.wrong -> affectstream.training.loop"),
])
def test_an_import_against_the_flow_breaks_a_contract(tmp_path, room, line, arrow):
    copy = tmp_path / "affectstream"
    shutil.copytree(REPO / "affectstream", copy, ignore=shutil.ignore_patterns("__pycache__", "assets"))
    (copy / room / "wrong.py").write_text(line + "\n")
    done = lint_imports(REPO / "pyproject.toml", tmp_path)
    assert done.returncode != 0
    assert arrow in done.stdout
