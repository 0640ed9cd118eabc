"""One-off work off the GUI thread (writing an export), reporting back by signal."""

from __future__ import annotations

from typing import Any, Callable

from PySide6.QtCore import QThread, Signal


class BackgroundTask(QThread):
    succeeded = Signal(object)  # the function's return value
    failed = Signal(str)

    def __init__(self, work: Callable[[], Any], parent=None) -> None:
        super().__init__(parent)
        self._work = work

    def run(self) -> None:
        try:
            value = self._work()
        except Exception as exc:  # noqa: BLE001 - shown to the user, who can pick another file
            self.failed.emit(str(exc) or type(exc).__name__)
            return
        self.succeeded.emit(value)
