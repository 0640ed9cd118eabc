"""The app's inputs and its way out (offscreen, no engine unless said): a --source that is no camera index
and no file, a FIFO for a CSV, video or settings file, a settings file that cannot be saved or whose folder
does not exist, and Ctrl-C or SIGTERM closing the app."""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported

import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from affectstream.app.devices import CudaStatus  # noqa: E402
from affectstream.app.main_window import MainWindow  # noqa: E402
from affectstream.app.settings import AppSettings, open_store, save_settings  # noqa: E402
from affectstream.core.errors import UserInputError  # noqa: E402
from tests.media import shared_file  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NO_CUDA = CudaStatus(False, "no CUDA (test)")
UNWRITABLE_INI = "/proc/self/affectstream-test.ini"  # no file can be made there, not even by root


pytestmark = pytest.mark.usefixtures("private_qt_settings")  # conftest.py: QSettings in a temporary folder


def run_app(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """`affectstream app ARGS` in a process of its own (a hang fails the test by its timeout, not the suite)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "affectstream.cli.main", "app", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def one_error_line(done: subprocess.CompletedProcess) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


# -- F7: --source neither a camera index nor a file ------------------------------------------------------------

def test_a_source_of_unicode_digits_or_a_huge_number_is_one_line(tmp_path, capsys):
    """--source '²': ValueError from int(); --source 99999999999999999999: OverflowError in _select_source."""
    from affectstream.app.launch import check_source, parse_source

    assert parse_source("²") == "²" and parse_source("99999999999999999999") == "99999999999999999999"
    assert parse_source("0") == 0 and parse_source("255") == 255 and parse_source("256") == "256"
    with pytest.raises(UserInputError, match="--source ²: no such file$"):
        check_source(parse_source("²"))
    with pytest.raises(UserInputError, match=r"no such file, and not a camera index \(0 to 255\)"):
        check_source(parse_source("99999999999999999999"))
    from affectstream.cli.main import main

    assert main(["app", "--source", "99999999999999999999", "--settings", str(tmp_path / "s.ini")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("affectstream app: error: --source 99999999999999999999: no such file") and \
        err.count("\n") == 1, err


def test_the_window_refuses_a_camera_index_qt_cannot_hold(qtbot, tmp_path):
    window = MainWindow(open_store(tmp_path / "s.ini"), cameras=[], cuda=NO_CUDA)
    qtbot.addWidget(window)
    assert window.start(99999999999999999999) is False
    assert window.messages[-1] == ("camera 99999999999999999999: camera indices go from 0 to 255", True)


# -- F8, F9: FIFOs ---------------------------------------------------------------------------------------------

def test_a_fifo_named_as_a_csv_is_refused_at_once(tmp_path):
    """results_from_csv('fifo.csv') waited for a writer for ever."""
    from affectstream.app.review_data import results_from_csv
    from affectstream.core.results.csv_file import ResultsCsvError

    path = fifo(tmp_path / "fifo.csv")
    outcome: list[BaseException] = []
    reader = threading.Thread(target=lambda: _catch(outcome, results_from_csv, path), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # let the blocked read end: a writer that opens and closes the FIFO
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("results_from_csv waited on the FIFO")
    assert isinstance(outcome[0], ResultsCsvError)
    assert str(outcome[0]) == f"{path}: not a regular file (a FIFO, device or socket)"


def _catch(outcome: list, function, *args) -> None:
    try:
        function(*args)
    except BaseException as exc:  # noqa: BLE001 - handed to the test
        outcome.append(exc)


def test_a_fifo_as_the_source_is_one_line_before_any_window(tmp_path):
    """app --source fifo.csv hung with no output (rc 124 under timeout)."""
    from affectstream.app.launch import check_source

    video = fifo(tmp_path / "fifo.mp4")
    with pytest.raises(UserInputError, match=f"^--source {video}: not a regular file"):
        check_source(str(video))
    path = fifo(tmp_path / "fifo.csv")
    line = one_error_line(run_app("--source", str(path), "--settings", str(tmp_path / "s.ini")))
    assert line == f"affectstream app: error: --source {path}: not a regular file (a FIFO, device or socket)"


def test_a_fifo_or_folder_as_the_settings_file_is_refused(tmp_path):
    """app --source short.mp4 --settings set.fifo hung before start."""
    path = fifo(tmp_path / "set.fifo")
    line = one_error_line(run_app("--settings", str(path)))
    assert line == f"affectstream app: error: --settings {path}: not a regular file (a FIFO, device or socket)"
    with pytest.raises(UserInputError, match="a folder, not an INI file"):
        open_store(tmp_path)


def test_the_window_says_a_dropped_or_picked_fifo_is_not_a_file(qtbot, tmp_path):
    window = MainWindow(open_store(tmp_path / "s.ini"), cameras=[], cuda=NO_CUDA)
    qtbot.addWidget(window)
    path = fifo(tmp_path / "pipe.mp4")
    window.open_path(path)
    assert window.messages[-1] == (f"{path}: not a regular file (a FIFO, device or socket)", True)
    assert window.live.state == "idle"


# -- F20: settings that cannot be saved ------------------------------------------------------------------------

def test_settings_that_cannot_be_saved_are_said_to_be_lost():
    """save_settings left store.status() at AccessError and nobody looked."""
    store = open_store(UNWRITABLE_INI)
    said = save_settings(store, AppSettings(show_landmarks=True))
    assert said.startswith(f"settings not saved: {UNWRITABLE_INI} cannot be written (AccessError)")


def test_the_window_says_when_a_changed_setting_is_not_saved(qtbot):
    window = MainWindow(open_store(UNWRITABLE_INI), cameras=[], cuda=NO_CUDA)
    qtbot.addWidget(window)
    window.landmarks_box.setChecked(True)  # applies and saves the settings
    text, error = window.messages[-1]
    assert error and text.startswith("settings not saved:") and window.settings.show_landmarks


def test_a_settings_file_in_a_missing_folder_is_refused_not_made(tmp_path):
    """--settings /nonexistent_dir/x.ini: Qt made the folder without a word."""
    path = tmp_path / "nonexistent_dir" / "x.ini"
    with pytest.raises(UserInputError, match=f"^--settings {path}: its folder {path.parent} does not exist"):
        open_store(path)
    assert not path.parent.exists()


# -- F10: Ctrl-C and SIGTERM -----------------------------------------------------------------------------------

SIGNAL_ONCE_RUNNING = """
import os, sys
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from affectstream.cli.main import main

app = QApplication(sys.argv[:1])
# Fires once the app's event loop runs: the signal a Ctrl-C or `kill` sends to a running app.
QTimer.singleShot(1500, lambda: os.kill(os.getpid(), int(sys.argv[1])))
sys.exit(main(["app", "--source", sys.argv[2], "--settings", sys.argv[3]]))
"""


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_ctrl_c_and_sigterm_close_the_app(stop, tmp_path):
    """timeout -s INT 12 affectstream app --source short.mp4 ran on until SIGKILL: Qt's loop swallowed Ctrl-C."""
    video = shared_file("videos", "single_face.mp4")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    try:
        done = subprocess.run([sys.executable, "-c", SIGNAL_ONCE_RUNNING, str(int(stop)), str(video),
                               str(tmp_path / "s.ini")], cwd=REPO, env=env, capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the app ran on after {stop.name}")
    assert done.returncode == 130, done.stderr[-2000:]
    assert done.stderr.rstrip().endswith("interrupted") and "Traceback" not in done.stderr, done.stderr[-2000:]
