"""One writer per output: a lock file beside a video's outputs while a run writes them.

Two runs into one output folder would both do the whole work, and the second's start-up (which removes the
temporary files a killed run left) would delete the first's files under it. The lock is ``flock`` on a
hidden file (``.<name>.lock``), so the operating system releases it when its process ends, however it ends:
a crashed run never leaves a video locked. The file names the holder (process id and host) for the message.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import Iterator


class OutputBusy(Exception):
    """Another process holds the lock; ``holder`` says which (as it wrote it), or "" when unknown."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is locked by {holder or 'another process'}")
        self.path, self.holder = path, holder


def lock_path(folder: Path, name: str) -> Path:
    return folder / f".{name}.lock"


@contextlib.contextmanager
def output_lock(folder: Path, name: str) -> Iterator[None]:
    """Hold the lock of output ``name`` in ``folder`` (OutputBusy at once when another process holds it)."""
    path = lock_path(folder, name)
    fd = _locked(path)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"process {os.getpid()} on {socket.gethostname()}\n".encode())
        yield
    finally:
        # Removed while still held, so that no one can lock a file that is about to vanish (see _locked).
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        os.close(fd)


def _locked(path: Path) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise OutputBusy(path, holder) from None
        except BaseException:
            os.close(fd)
            raise
        # The holder before us may have removed the file between our open and our lock: then we hold a lock on
        # a file nobody else can see, and must lock the one now at the path instead.
        with contextlib.suppress(FileNotFoundError):
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        os.close(fd)


def _holder(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 200, 0).decode(errors="replace").strip()
    return ""
