"""Fixtures shared by the test files: a tiny synthetic ABAW data set, a tiny trained-shape checkpoint and the
app's QSettings in a temporary folder; and the order in which pytest-xdist hands out the test files."""

from __future__ import annotations

import pytest

from affectstream.training.synthetic import write_synthetic
from tests.engine_fixtures import write_checkpoint
from tests.media import TINY


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A tiny synthetic data set (read-only: tests that change files copy it)."""
    return write_synthetic(tmp_path_factory.mktemp("tiny"), TINY)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A tiny untrained GRU over blendshapes (real shapes, random weights): the engine's plumbing at little cost."""
    return write_checkpoint(tmp_path_factory.mktemp("checkpoint") / "tiny.safetensors")


@pytest.fixture(scope="module")
def private_qt_settings(tmp_path_factory):
    """Every QSettings of a test module (ours and Qt's own, e.g. the file dialog's) in a temporary folder of
    the module's. The app's test files use it on all their tests: pytestmark = usefixtures(...)."""
    from PySide6.QtCore import QSettings

    folder = str(tmp_path_factory.mktemp("qsettings"))
    for kind in (QSettings.Format.NativeFormat, QSettings.Format.IniFormat):
        QSettings.setPath(kind, QSettings.Scope.UserScope, folder)
    return folder


# Under pytest-xdist, `make test` hands whole files to its two processes (--dist loadfile): a module's
# fixtures are made once, and a module that must not run beside itself (test_cluster.py's one Ray head) is
# not split. (xdist_group and --dist loadgroup would do it per test, but xdist 3.8 cannot tag a test with its
# group under pytest 9.2, whose node ids are no longer set by xdist: every group would be split.)
# The files with the longest tests of a whole run (pytest --durations=40, 2 cores), longest first: they are
# handed out first (with --no-loadscope-reorder), so that the processes finish together instead of one
# running a long file begun last while the other waits. Only an order: a name that is gone changes nothing.
LONG_FILES_FIRST = (
    "tests/test_default_model.py",       # 131 s: import-stills of three test splits, the card's figures
    "tests/test_fer_training.py",        # 85 s in its four longest
    "tests/test_device_scripts.py",      # 76 s
    "tests/test_benchmark_synthetic.py",  # 72 s, one test
    "tests/test_expr_cnn.py",            # 70 s
    "tests/test_cluster.py",             # 46 s and a Ray head
    "tests/test_annotate.py",            # 30 s
    "tests/test_wheel.py",               # 8-25 s: a wheel built, installed and run
    "tests/test_training_e2e.py",
    "tests/test_group_faces.py",
    "tests/test_tiny_frames.py",         # 35 s, 12 s since its annotate runs take the tiny checkpoint
    "tests/test_fer_sequences.py",
    "tests/test_bench_gui.py",
    "tests/test_app_inputs.py",
    "tests/test_app_window.py",
)


def _file_rank(item) -> int:
    name = item.nodeid.split("::", 1)[0]
    return LONG_FILES_FIRST.index(name) if name in LONG_FILES_FIRST else len(LONG_FILES_FIRST)


def pytest_collection_modifyitems(config, items):
    """In a pytest-xdist process (each collects and calls this alike): the files with the longest tests
    first, each file's tests together and in their own order. One process: the order as it is."""
    if hasattr(config, "workerinput"):
        items.sort(key=_file_rank)  # stable


@pytest.fixture
def results_csv(tmp_path):
    """A results CSV of tests.media.known_results_frames, with a stand-in clip.mp4 beside it."""
    from affectstream.core.results.csv_file import write_results_csv
    from tests.media import known_results_frames

    path = tmp_path / "clip.csv"
    write_results_csv(path, known_results_frames())
    (tmp_path / "clip.mp4").write_bytes(b"stand-in video")
    return path
