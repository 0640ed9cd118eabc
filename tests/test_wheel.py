"""The package as a user gets it: a wheel built from the tree, installed into an environment of its own
(no editable install), analyses the shared one-face video with the shipped default model.

The new environment reuses this one's heavy dependencies (torch, mediapipe, ...) through a plain path line
in a .pth file: a path line only extends sys.path, so this environment's own .pth files (among them the
editable install's finder of affectstream) are not run there, and the installed copy is the only
affectstream it can import.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.media import REPO, shared_file

pytestmark = pytest.mark.slow

# Run in the new environment, from a folder outside the repository. Every file Python opens is recorded
# (an audit hook), so a file read from the repository shows, whatever the import system says.
ANALYSE = r"""
import json, sys
from pathlib import Path

opened = []
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes)):
        opened.append(args[0] if isinstance(args[0], str) else args[0].decode("utf-8", "replace"))
sys.addaudithook(hook)

import affectstream
from affectstream.core.default_model import default_model_path

table = affectstream.analyze(sys.argv[1])
print(json.dumps({
    "package": affectstream.__file__,
    "model_path": str(default_model_path()),
    "rows": len(table),
    "model": table.attrs.get("model"),
    "model_sha256": table.attrs.get("model_sha256"),
    "opened": sorted({str(Path(p).resolve()) for p in opened}),
    "modules": sorted({str(Path(m.__file__).resolve()) for m in list(sys.modules.values())
                       if getattr(m, "__file__", None)}),
}))
"""


def build_wheel(work: Path) -> Path:
    """A wheel of the working tree's package, built in ``work`` with the setuptools installed here, offline
    (no build isolation)."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed here: a wheel cannot be built without downloading it")
    # bdist_wheel is part of setuptools from 70.1 on; before, it comes with the wheel package. (Its version
    # from its metadata: importing setuptools here could clash with a distutils some test imported.)
    version = importlib.metadata.version("setuptools")
    if tuple(int(p) for p in version.split(".")[:2] if p.isdigit()) < (70, 1) and importlib.util.find_spec("wheel") is None:
        pytest.skip(f"setuptools {version} builds wheels only with the wheel package, not installed here")
    # setuptools writes build/ and *.egg-info beside the sources: it builds a copy, never the working tree.
    out, source = work / "dist", work / "source"
    out.mkdir(parents=True)
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    shutil.copytree(REPO / "affectstream", source / "affectstream",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    done = subprocess.run(
        [sys.executable, "-c", "import sys; from setuptools import build_meta; print(build_meta.build_wheel(sys.argv[1]))",
         str(out)], cwd=source, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheel = out / done.stdout.strip().splitlines()[-1]
    assert wheel.is_file() and wheel.suffix == ".whl", done.stdout[-3000:]
    shutil.rmtree(source)  # the repository's own copy of the assets is then the only other one
    return wheel


def fresh_environment(folder: Path) -> tuple[Path, Path]:
    """A venv without pip whose sys.path ends with this environment's site-packages (its dependencies),
    but runs none of that folder's .pth files: (its python, its site-packages)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120,
                   capture_output=True)
    python = folder / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True, timeout=60).stdout.strip())
    ours = [Path(p) for p in {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}]
    (site / "_affectstream_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    return python, site


def test_an_installed_wheel_analyses_a_video_with_its_own_default_model(tmp_path):
    video = shared_file("videos", "single_face.mp4")
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not installed here: it installs the wheel into the new environment")
    wheel = build_wheel(tmp_path / "build")
    python, site = fresh_environment(tmp_path / "env")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "--no-compile",
                           "--disable-pip-version-check", "--target", str(site), str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    installed = site / "affectstream"
    assert (installed / "assets" / "affect-gru-mixed" / "affect_gru_mixed.safetensors").is_file()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    done = subprocess.run([str(python), "-c", ANALYSE, str(video)], cwd=elsewhere, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])

    site = site.resolve()
    assert Path(found["package"]).is_relative_to(site / "affectstream"), found["package"]
    assert Path(found["model_path"]) == (installed / "assets" / "affect-gru-mixed" / "affect_gru_mixed.safetensors").resolve()
    assert found["rows"] == 72
    assert found["model"] == "affect-gru-mixed"
    # The model's file was read (for its digest) from the installed package, and nothing from the repository
    # (but the dependencies of this environment, which may lie in it, as .venv).
    assert found["model_path"] in found["opened"]
    repo, dependencies = REPO.resolve(), Path(sys.prefix).resolve()
    from_repo = [p for p in found["opened"] + found["modules"]
                 if Path(p).is_relative_to(repo) and not Path(p).is_relative_to(dependencies)]
    assert not from_repo
