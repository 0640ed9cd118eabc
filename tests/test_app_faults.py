"""The app against hostile or damaged input (issue 13), offscreen, without the engine.

Names from a checkpoint or a file shown as plain text; a hand-edited settings
file that falls back to defaults and says which file and key; a damaged results
CSV refused with its file and line, from the GUI and from the command line.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is imported

import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

pytest.importorskip("PySide6")
pytest.importorskip("pyqtgraph")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QTextDocument  # noqa: E402
from PySide6.QtGui import Qt as QtGuiNamespace  # noqa: E402 (mightBeRichText lives in QtGui)

from affectstream.app.demo import DemoWindow  # noqa: E402
from affectstream.app.devices import CudaStatus  # noqa: E402
from affectstream.app.main_window import MainWindow  # noqa: E402
from affectstream.app.review_data import ResultsCsvError, results_from_csv  # noqa: E402
from affectstream.app.settings import AppSettings, EngineConfig, engine_options, open_store, read_settings  # noqa: E402
from affectstream.app.status import StreamStats  # noqa: E402
from affectstream.app.worker import EngineInfo  # noqa: E402
from affectstream.core.engine import EngineOptions  # noqa: E402
from affectstream.core.errors import UserInputError  # noqa: E402
from affectstream.core.results.types import FaceAffect, FrameAffect, StageTimes  # noqa: E402
from affectstream.core.results.csv_file import write_results_csv  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
NO_CUDA = CudaStatus(False, "no CUDA (test)")
EVIL = "<b>evil</b>"


pytestmark = pytest.mark.usefixtures("private_qt_settings")  # conftest.py: QSettings in a temporary folder


def make_window(qtbot, settings_file: Path) -> MainWindow:
    window = MainWindow(open_store(settings_file), cameras=[], cuda=NO_CUDA)
    qtbot.addWidget(window)  # closed (and its threads stopped) at teardown
    window.show()
    return window


def as_displayed(text: str) -> str:
    """What Qt shows for a label or tooltip in its automatic format: markup when it looks like HTML."""
    document = QTextDocument()
    (document.setHtml if QtGuiNamespace.mightBeRichText(text) else document.setPlainText)(text)
    return document.toPlainText()


def write_csv(path: Path, frames: int = 4) -> Path:
    rng = np.random.default_rng(1)
    results = []
    for frame in range(1, frames + 1):
        face = FaceAffect(frame, 40 * frame, 0, (1.0, 2.0, 30.0, 40.0), None, 0.9, *rng.uniform(-1, 1, 4).round(4),
                          np.full(8, 0.125, np.float32), "Anger", rng.uniform(0, 1, 12).astype(np.float32),
                          rng.uniform(0, 1, 12) > 0.5, frame)
        results.append(FrameAffect(frame, 40 * frame, "clip", "m", (face,), StageTimes()))
    write_results_csv(path, results)
    return path


def truncated_csv(path: Path) -> Path:
    """A results CSV whose writing stopped in the middle of its last line (a full disk, a killed job)."""
    text = write_csv(path).read_text()
    last_start = text.rstrip("\n").rfind("\n") + 1
    path.write_text(text[:last_start + (len(text) - last_start) // 2])
    return path


# -- 1. names are plain text ---------------------------------------------------------------------------------
def test_model_and_file_names_are_shown_as_plain_text(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path / "settings.ini")
    info = EngineInfo(EVIL, f"/models/{EVIL}.safetensors", {"labels": EVIL, "epoch": 3}, "onnx", "", np.zeros(12))
    window._show_engine(info)
    label = window.model_label
    assert label.textFormat() == Qt.TextFormat.PlainText and EVIL in label.text()
    assert as_displayed(label.toolTip()).count(EVIL) >= 2  # the path and the provenance, tags kept
    assert window.stats_label.textFormat() == Qt.TextFormat.PlainText

    window.show_message(f"{EVIL}.safetensors: not a safetensors checkpoint", error=True)
    assert window._error_box.textFormat() == Qt.TextFormat.PlainText
    window._select_source(f"/videos/{EVIL}.mp4")
    tip = window.source_box.itemData(window.source_box.currentIndex(), Qt.ItemDataRole.ToolTipRole)
    assert as_displayed(tip) == f"/videos/{EVIL}.mp4"
    assert window.review.file_label.textFormat() == Qt.TextFormat.PlainText

    demo = DemoWindow(0, EngineConfig(tmp_path / "m.safetensors", EngineOptions()))
    qtbot.addWidget(demo)
    demo._show_engine(info)
    demo._show_stats(StreamStats(fps=12.0))
    assert demo.status.textFormat() == Qt.TextFormat.PlainText and EVIL in demo.status.text()
    demo.close()  # its worker thread stops before the test drops the window
    assert not demo.live.worker.isRunning()


# -- 2. a hand-edited settings file --------------------------------------------------------------------------
BAD_SETTINGS = """[General]
camera_index=inf
max_faces=1e999
smoothing=nan
au_threshold_offset=nan
provider=tpu
show_landmarks=maybe
loop_video=true
"""


def test_unusable_settings_fall_back_to_defaults_naming_the_file_and_key(tmp_path):
    path = tmp_path / "settings.ini"
    path.write_text(BAD_SETTINGS)
    settings, warnings = read_settings(open_store(path))
    assert settings == AppSettings(loop_video=True)  # the one good value is kept
    for key in ("camera_index", "max_faces", "smoothing", "au_threshold_offset", "provider", "show_landmarks"):
        assert any(w.startswith(f"{path}: {key}=") and "default" in w for w in warnings), key
    assert len(warnings) == 6
    assert engine_options(settings).post.smoothing == "causal" and engine_options(settings).post.va_filter is None

    path.write_text("[General]\nmax_faces=0\ncamera_index=2.5\nsmoothing=0.99\nau_threshold_offset=-inf\n")
    settings, warnings = read_settings(open_store(path))
    assert settings == AppSettings() and len(warnings) == 4
    path.write_text("[General]\nmax_faces=3\ncamera_index=2\nsmoothing=model\nau_threshold_offset=-0.1\n")
    assert read_settings(open_store(path)) == (AppSettings(max_faces=3, camera_index=2, au_threshold_offset=-0.1), [])


def test_settings_values_that_are_not_finite_never_raise():
    built = AppSettings(camera_index=float("inf"), max_faces=float("nan"), smoothing_strength=float("nan"),
                        au_threshold_offset=float("-inf"))
    assert built == AppSettings()


def test_the_window_starts_with_bad_settings_and_says_so_once(qtbot, tmp_path, capsys):
    path = tmp_path / "settings.ini"
    path.write_text(BAD_SETTINGS)
    window = make_window(qtbot, path)
    assert window.settings.camera_index == 0 and window.settings.smoothing_strength is None
    said = [text for text, error in window.messages if str(path) in text]
    assert len(said) == 1 and "camera_index=inf" in said[0] and "smoothing=nan" in said[0]
    assert said[0].count(str(path)) == 1  # the file named once in the one status line, then each key
    assert window._error_box is None  # no dialog: the app works, with defaults
    stderr = capsys.readouterr().err
    assert f"{path}: max_faces=1e999" in stderr and f"{path}: au_threshold_offset=nan" in stderr
    assert window.live.worker.isRunning()


# -- 3. a damaged results CSV --------------------------------------------------------------------------------
def test_a_damaged_results_csv_is_refused_with_its_file_and_line(tmp_path):
    with pytest.raises(ResultsCsvError, match=r"cut\.csv:5: \d+ fields instead of"):
        results_from_csv(truncated_csv(tmp_path / "cut.csv"))

    good = write_csv(tmp_path / "good.csv").read_text().splitlines()
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ResultsCsvError, match=r"empty\.csv: empty file"):
        results_from_csv(tmp_path / "empty.csv")
    (tmp_path / "header.csv").write_text("frame,valence\n1,0.5\n")
    with pytest.raises(ResultsCsvError, match=r"header\.csv:1: not an AffectStream results CSV \(line 1"):
        results_from_csv(tmp_path / "header.csv")

    cells = good[3].split(",")
    cells[11] = "high"  # valence
    (tmp_path / "cell.csv").write_text("\n".join(good[:3] + [",".join(cells)] + good[4:]) + "\n")
    with pytest.raises(ResultsCsvError, match=r"cell\.csv:4: valence is 'high', not a number"):
        results_from_csv(tmp_path / "cell.csv")
    (tmp_path / "order.csv").write_text("\n".join([good[0], good[3], good[1]]) + "\n")
    with pytest.raises(ResultsCsvError, match=r"order\.csv:3: frame 1 after frame 3"):
        results_from_csv(tmp_path / "order.csv")
    (tmp_path / "header_only.csv").write_text(good[0] + "\n")
    with pytest.raises(ResultsCsvError, match="no rows"):
        results_from_csv(tmp_path / "header_only.csv")
    assert issubclass(ResultsCsvError, UserInputError)  # the command line prints it as one line


def test_a_truncated_csv_opened_from_the_review_tab_says_why_and_the_app_goes_on(qtbot, tmp_path):
    window = make_window(qtbot, tmp_path / "settings.ini")
    cut = truncated_csv(tmp_path / "clip_cut.csv")
    (tmp_path / "clip_cut.mp4").write_bytes(b"")  # its "video", so that reading the CSV is what fails
    window.tabs.setCurrentWidget(window.review)
    window.review.open_csv_button.click()
    window.review.dialog.fileSelected.emit(str(cut))  # as if picked in "Open a results CSV…"
    text, error = window.messages[-1]
    assert error and text.startswith(f"{cut}:5:")
    assert window._error_box.isVisible() and window._error_box.text() == text
    assert window.review.data is None and window.live.worker.isRunning()

    # Still usable: a good CSV opens next.
    good = write_csv(tmp_path / "clip.csv")
    (tmp_path / "clip.mp4").write_bytes(b"")
    assert window.review.load_csv(good) and len(window.review.data.results) == 4


def test_a_truncated_csv_on_the_command_line_is_one_line_of_error(tmp_path):
    cut = truncated_csv(tmp_path / "truncated_results.csv")
    (tmp_path / "truncated_results.mp4").write_bytes(b"")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-m", "affectstream.cli.main", "app", "--source", str(cut),
                           "--settings", str(tmp_path / "s.ini")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1 and lines[0].startswith(f"affectstream app: error: {cut}:5:")


def test_the_loaded_libraries_are_frozen_for_the_collector_once_not_on_every_model_change(qtbot, tmp_path,
                                                                                          monkeypatch):
    import gc

    window = make_window(qtbot, tmp_path / "settings.ini")
    frozen = []
    monkeypatch.setattr(gc, "freeze", lambda: frozen.append(1))
    monkeypatch.setattr(gc, "collect", lambda *a: 0)
    for name in ("first", "second", "third"):  # three models loaded one after the other
        window.live._on_engine_ready(EngineInfo(name, f"/m/{name}.safetensors", {}, "onnx", "", np.zeros(12)))
    assert len(frozen) == 1 and window.live.engine_info.model_name == "third"


def test_a_model_path_that_is_not_text_is_refused_not_turned_into_text(tmp_path):
    path = tmp_path / "settings.ini"
    store = open_store(path)
    store.setValue("model_path", 12345)
    store.sync()
    settings, warnings = read_settings(open_store(path))
    assert settings.model_path == "" and len(warnings) == 1 and "model_path=12345 is not a path" in warnings[0]
    path.write_text("[General]\nmodel_path=@ByteArray(/tmp/x.safetensors)\n")
    settings, warnings = read_settings(open_store(path))
    assert settings.model_path == "" and "is not a path" in warnings[0]
    path.write_text("[General]\nmodel_path=/models/a, b.safetensors\n")  # unquoted: Qt reads a list of text
    assert read_settings(open_store(path)) == (AppSettings(model_path="/models/a, b.safetensors"), [])
