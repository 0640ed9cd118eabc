"""Ctrl-C (SIGINT) and SIGTERM close a Qt app cleanly, as closing its window does.

Python runs a signal handler only when the interpreter gets to run, and Qt's event loop is C++: a
signal would wait for the next Python slot, where the KeyboardInterrupt it raises is printed and
dropped, and the app runs on. A timer wakes the interpreter a few times a second, and the handler
asks the loop (not the slot it interrupted) to close the windows and quit.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Callable, Iterator

from PySide6.QtCore import QCoreApplication, QTimer

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
WAKE_MS = 200  # how soon a signal is acted on; the timer itself costs nothing worth measuring


@contextlib.contextmanager
def close_on_stop_signals(close: Callable[[], None]) -> Iterator[list[int]]:
    """While the block runs, SIGINT and SIGTERM call ``close`` from the event loop, then quit it; yields the
    signals caught (empty when none came). The handlers found are given back afterwards. Outside the main
    thread (where Python cannot set handlers) it does nothing."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught
        return

    def stop() -> None:
        try:
            close()
        finally:
            QCoreApplication.quit()  # a window hidden or a dialog open must not keep the loop alive

    def handler(signum, frame) -> None:
        caught.append(signum)
        if len(caught) == 1:  # a second Ctrl-C while closing does not close twice
            QTimer.singleShot(0, stop)

    before = {number: signal.signal(number, handler) for number in STOP_SIGNALS}
    waker = QTimer()
    waker.timeout.connect(lambda: None)  # running Python is all it is for: the handler runs then
    waker.start(WAKE_MS)
    try:
        yield caught
    finally:
        waker.stop()
        for number, previous in before.items():
            signal.signal(number, signal.SIG_DFL if previous is None else previous)
