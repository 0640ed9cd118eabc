"""Keeping MediaPipe's and the video decoder's own log lines off the terminal during a command.

MediaPipe (absl logging), TensorFlow Lite and FFmpeg write from native code
straight to file descriptor 2, past Python. During a command that asks for
quiet, descriptor 2 points at /dev/null while Python's own ``sys.stderr``
(errors, progress bars) keeps writing to the real terminal through a duplicate.
Only commands use this, for their own run; library code never redirects.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Iterator


@contextlib.contextmanager
def quiet_native_logs(enabled: bool = True) -> Iterator[None]:
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        if _writes_to_fd2(python_stderr):
            sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=python_stderr.encoding or "utf-8",
                                   errors="backslashreplace")
        os.dup2(devnull, 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        if sys.stderr is not python_stderr:
            sys.stderr.close()
        sys.stderr = python_stderr
        os.close(saved)
        os.close(devnull)


def _writes_to_fd2(stream) -> bool:
    """False for a replaced ``sys.stderr`` (a test's capture, an IDE console): it is left as it is."""
    try:
        return stream.fileno() == 2
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False
