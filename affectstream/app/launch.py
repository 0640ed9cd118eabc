"""Starting the app: `affectstream app [--source 0|PATH] [--demo] [--model PATH]`.

An AppSession holds the main window and, while it is shown, the demo screen;
leaving a demo started from the window brings the window back, leaving one
started with --demo quits.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QApplication, QFileDialog

from affectstream.app.demo import DemoWindow
from affectstream.app.devices import CameraInfo, CudaStatus
from affectstream.app.main_window import MainWindow
from affectstream.app.review import VIDEO_FILTER
from affectstream.app.review_data import results_from_csv
from affectstream.app.settings import MAX_CAMERA_INDEX, NOT_REGULAR_FILE, open_store
from affectstream.app.stop_signals import close_on_stop_signals
from affectstream.app.theme import apply_palette
from affectstream.core.errors import UserInputError


@dataclass(frozen=True)
class LaunchOptions:
    source: int | str | None = None  # a camera index or a file; None: the camera from the settings
    demo: bool = False
    model: str | None = None  # a checkpoint for this session instead of the one in the settings
    settings_file: str | None = None  # an INI file instead of the user's settings


def parse_source(text: str | None) -> int | str | None:
    """A camera index (0 to the app's MAX_CAMERA_INDEX: a 20-digit number overflows Qt's int), else a file's
    path; None for no --source."""
    from affectstream.core.sources.readers import is_camera_index

    if text is None or text == "":
        return None
    if is_camera_index(text, most=MAX_CAMERA_INDEX):
        return int(text)
    try:
        return str(Path(text).expanduser())
    except RuntimeError:  # ~name of no user: no home to expand it to
        raise UserInputError(f"--source {text}: no such file (no home folder for {text.split('/')[0]})") from None


class AppSession:
    def __init__(self, options: LaunchOptions, store: QSettings, cameras: Sequence[CameraInfo] | None = None,
                 cuda: CudaStatus | None = None) -> None:
        self.options = options
        self.main = MainWindow(store, cameras, cuda, model_override=options.model)
        self.main.demo_requested.connect(self.open_demo)
        self.demo: DemoWindow | None = None
        self._dialog: QFileDialog | None = None

    def start(self) -> None:
        if self.options.demo:
            self.open_demo(self.options.source)
        else:
            self.main.show()
            self.main.startup(self.options.source)

    def open_demo(self, source: int | str | None) -> DemoWindow | None:
        if source is None:
            indices = [c.index for c in self.main.cameras]
            if not indices:
                self.main.show()
                self.main.show_message("No camera found: choose a video file for the demo.", error=True)
                self._dialog = QFileDialog(self.main, "A video for the demo", "", VIDEO_FILTER)
                self._dialog.setOption(QFileDialog.Option.DontUseNativeDialog, True)
                self._dialog.setFileMode(QFileDialog.FileMode.ExistingFile)
                self._dialog.fileSelected.connect(self.open_demo)
                self._dialog.open()
                return None
            camera = self.main.settings.camera_index
            source = camera if camera in indices else indices[0]
        try:
            config = self.main.engine_config()
        except UserInputError as exc:
            self.main.show()
            self.main.show_message(str(exc), error=True)
            return None
        self.main.live.stop()
        self.main.hide()
        self.demo = DemoWindow(source, config, self.main.settings.show_landmarks)
        self.demo.closed.connect(self._demo_closed)
        self.demo.enter_full_screen()
        self.demo.start()
        return self.demo

    def close(self) -> None:
        """Stop every thread of the session: both windows close (the demo without bringing the window back)."""
        demo, self.demo = self.demo, None
        if demo is not None:
            demo.closed.disconnect(self._demo_closed)
            demo.close()
        self.main.close()

    def _demo_closed(self) -> None:
        self.demo = None
        if self.options.demo:
            self.main.close()  # stops its threads; the last window closing ends the app
        else:
            self.main.show()


def display_problem(environ: Mapping[str, str], platform: str = sys.platform) -> str:
    """Why Qt could not open a window here ("" when it can), said before Qt aborts the process."""
    if platform != "linux" or environ.get("QT_QPA_PLATFORM") or environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"):
        return ""
    return ("no display: DISPLAY and WAYLAND_DISPLAY are not set, so the app cannot open a window. "
            "Run it in a desktop session (or under xvfb-run); on a headless machine, "
            "`affectstream annotate VIDEO --out DIR` gives the same analysis as files")


def check_source(source: int | str | None) -> None:
    """A file named on the command line is checked before any window or thread exists: a missing one, a FIFO
    or device (reading it would wait for a writer, maybe for ever) and a damaged results CSV are one line on
    the terminal (UserInputError) instead of a dialog, a hang or a Qt abort."""
    if not isinstance(source, str):
        return
    path = Path(source)
    if not path.exists():
        digits = path.name.isascii() and path.name.isdigit() and str(path) == path.name
        camera = f", and not a camera index (0 to {MAX_CAMERA_INDEX})" if digits else ""
        raise UserInputError(f"--source {source}: no such file{camera}")
    if not (path.is_file() or path.is_dir()):  # a folder of frames is a source; a FIFO, device or socket is not
        raise UserInputError(f"--source {source}: {NOT_REGULAR_FILE}")
    if path.suffix.lower() == ".csv":
        results_from_csv(source)


def run_app(options: LaunchOptions, argv: Sequence[str] | None = None) -> int:
    problem = display_problem(os.environ)
    if problem and QApplication.instance() is None:
        raise UserInputError(problem)
    check_source(options.source)
    store = open_store(options.settings_file)  # a FIFO or a missing folder is refused before any window
    app = QApplication.instance() or QApplication(list(argv or sys.argv[:1]))
    app.setApplicationName("AffectStream")
    app.setOrganizationName("AffectStream")
    apply_palette(app)
    session = AppSession(options, store)
    with close_on_stop_signals(session.close) as caught:  # Ctrl-C and SIGTERM close it as its window does
        try:
            session.start()
        except BaseException:
            # The window's worker threads are running: stop them before Python drops the window, or Qt
            # aborts the process ("QThread: Destroyed while thread is still running") over the real error.
            session.close()
            raise
        status = app.exec()
    if caught:
        print("\ninterrupted", file=sys.stderr)
        return 130  # as the other commands end on Ctrl-C or SIGTERM
    return status
