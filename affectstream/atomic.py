"""Atomic file writes: a reader never sees a half-written output.

Only regular files are replaced. A symlink is written through (the file it names
is replaced; the link stays a link); a directory, device, FIFO or socket at the
target is refused: replacing ``/dev/null`` with a regular file, as root, would
break the whole machine.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator

from affectstream.errors import UserInputError


class OutputPathError(UserInputError):
    """The output path names something that must not be replaced by a file."""


def writable_target(path: str | os.PathLike) -> Path:
    """The regular file a write to ``path`` replaces (symlinks followed); refuses anything else."""
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.exists() and not target.is_file():
        what = "a directory" if target.is_dir() else "not a regular file (a device, FIFO or socket)"
        where = f"{path} (a link to {target})" if target != path else str(path)
        raise OutputPathError(f"{where} is {what}; refusing to replace it with an output file")
    return target


@contextlib.contextmanager
def named_after_output(path: Path) -> Iterator[None]:
    """An OSError about the hidden temporary file of ``path`` (``.<name>.<random>[.rows].tmp``) names ``path``
    instead: the user knows the output, not the temporary file."""
    try:
        yield
    except OSError as exc:
        name = Path(exc.filename).name if isinstance(exc.filename, (str, os.PathLike)) else ""
        if name.startswith(f".{path.name}.") and name.endswith(".tmp"):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on success move it into place.

    On an exception (or Ctrl-C) the temporary file is removed and ``path`` keeps
    whatever it held before.
    """
    path = writable_target(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with named_after_output(path):
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            # mkstemp makes the file owner-only; give it the usual permissions.
            os.chmod(tmp, 0o644)
            with os.fdopen(fd, mode) as handle:
                yield handle
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_write(path, "w") as handle:
        handle.write(text)


def require_writable_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """A folder that exists (made if needed) and takes new files; checked before long work starts."""
    path = check_writable_dir(path, what)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(f"{what} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def check_writable_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """As ``require_writable_dir`` but makes nothing: a command refused later for another reason leaves no
    empty folder. The folder, or the nearest one above it that exists, must take new files."""
    path = Path(path)
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputPathError(f"{what} {path}: cannot write there ({existing} is a file, not a folder)"
                              if existing != path else f"{what} {path} is a file, not a folder")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise OutputPathError(f"{what} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def require_writable_file(path: str | os.PathLike, what: str = "--out") -> Path:
    """A file path whose folder takes (or could be made to take) new files and which is not a folder itself;
    checked before long work, making nothing."""
    target = writable_target(path)
    check_writable_dir(target.parent, f"{what} {path}: its folder")
    return target
