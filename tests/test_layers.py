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
    if not tool.exists():
        pytest.skip("import-linter is not installed (pip install -e '.[test]')")
    env = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run([str(tool), "--config", str(config), "--no-cache"], cwd=package_parent, env=env,
                          capture_output=True, text=True, timeout=300)


def test_the_package_keeps_its_layers():
    done = lint_imports(REPO / "pyproject.toml", REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 kept, 0 broken" in done.stdout


def test_an_import_against_the_flow_breaks_the_contract(tmp_path):
    copy = tmp_path / "affectstream"
    shutil.copytree(REPO / "affectstream", copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "faces" / "wrong.py").write_text("import affectstream.app.worker  # faces must not reach the GUI\n")
    done = lint_imports(REPO / "pyproject.toml", tmp_path)
    assert done.returncode != 0
    assert "affectstream.faces.wrong -> affectstream.app.worker" in done.stdout
