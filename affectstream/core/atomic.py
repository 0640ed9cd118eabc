"""Atomic file writes: a reader never sees a half-written output; and no output over the command's own input.

Only regular files are replaced. A symlink is written through (the file it names
is replaced; the link stays a link); a directory, device, FIFO or socket at the
target is refused: replacing ``/dev/null`` with a regular file, as root, would
break the whole machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator, Mapping, Union

from affectstream.core.errors import UserInputError


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


# ---------------------------------------------------------------------------
# Outputs that would replace the command's own inputs
# ---------------------------------------------------------------------------

PathText = Union[str, os.PathLike]


@dataclass(frozen=True)
class Output:
    """A file a command writes, or a folder whose earlier contents it deletes or replaces, and the option
    that chose it (both for the message)."""

    option: str  # "--out"
    given: PathText  # the option's value, as typed
    path: PathText  # what is written or cleared: ``given``, or a file or folder the command makes inside it
    clears: str = ""  # a cleared folder: what empties it ("--restart discards the run there"); "" for a file


def written_file(option: str, given: PathText, inside: str = "") -> Output:
    """The file ``given``, or the file named ``inside`` that the command writes into the folder ``given``."""
    return Output(option, given, Path(given) / inside if inside else Path(given))


def cleared_folder(option: str, given: PathText, clears: str, inside: str = "") -> Output:
    """The folder ``given`` (or its subfolder ``inside``) whose earlier contents ``clears`` deletes or replaces."""
    return Output(option, given, Path(given) / inside if inside else Path(given), clears=clears)


Inputs = Mapping[str, Union[PathText, Iterable[PathText], None]]


def check_inputs_kept(inputs: Inputs, outputs: Iterable[Output]) -> None:
    """Refuse, before any work, an output that would replace an input: a written file that is an input (through
    any spelling, ``./x`` or ``d/../x``, a symbolic or a hard link), or a cleared folder an input lies in.

    ``inputs``: label ("--frames") -> a path, several paths, or None. Inputs that do not exist are left to the
    checks that read them."""
    present = [(label, Path(path)) for label, path in _each_input(inputs) if Path(path).exists()]
    outputs = list(outputs)
    # Each input's identities (device, inode) once, each naming the first input that has it: N inputs and M
    # outputs cost N + M stats and lookups, not N x M (extract --save-crops clears a folder per source).
    being: dict[_Identity, tuple[str, Path]] = {}  # what a written file must not be: the input itself
    holding: dict[_Identity, tuple[str, Path]] = {}  # what a cleared folder must not be: the input or a folder of it
    clearing = any(output.clears for output in outputs)
    for label, path in present:
        own = _identity(path)
        if own is not None:
            being.setdefault(own, (label, path))
        for place in _identities(path) if clearing else ():
            holding.setdefault(place, (label, path))
    for output in outputs:
        wanted = _identity(Path(output.path))  # None: not there yet, so it replaces and clears nothing
        found = None if wanted is None else (holding if output.clears else being).get(wanted)
        if found is not None:
            label, path = found
            message = _cleared_message if output.clears else _written_message
            raise OutputPathError(message(output, label, path))


def _each_input(inputs: Inputs) -> Iterator[tuple[str, PathText]]:
    for label, value in inputs.items():
        if value is None:
            continue
        for path in [value] if isinstance(value, (str, os.PathLike)) else value:
            if str(path):  # "" is no path given, not the current folder
                yield label, path


def _same_file(a: Path, b: Path) -> bool:
    """One file (or folder) by device and inode: links and other spellings of it included."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # b not there yet: a new file replaces nothing
        return False


_Identity = tuple[int, int]  # (st_dev, st_ino): one file or folder, whatever path names it


def _identity(path: Path) -> _Identity | None:
    """The file or folder ``path`` names (symbolic links followed); None where it cannot be stat'ed."""
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _identities(path: Path) -> set[_Identity]:
    """``path`` and every folder it lies in, by device and inode: a cleared folder with any of them is ``path``
    or holds it (a link into it counts, and so does a link that lies in it, which goes with it)."""
    return {found for found in map(_identity, _places(path)) if found is not None}


def _places(path: Path) -> set[Path]:
    """``path`` as it really is, and every folder it lies in (symbolic links followed)."""
    real = Path(os.path.realpath(path))
    places = {real, *real.parents}
    if path.is_symlink():
        places |= set(Path(os.path.realpath(path.parent)).joinpath(path.name).parents)
    return places


def _kind(path: Path) -> str:
    return "folder" if path.is_dir() else "file"


def _how_same(a: Path, b: Path) -> str:
    """Why two paths name one file: the same path spelled alike or otherwise, a symbolic link, a hard link."""
    if os.path.realpath(a) != os.path.realpath(b):
        return f"same {_kind(a)}, through a hard link"
    if os.path.abspath(a) != os.path.abspath(b):
        return f"same {_kind(a)}, through a symbolic link"
    return f"same {_kind(a)}"


def _written_message(output: Output, label: str, path: Path) -> str:
    what = f"the {label} {_kind(path)} {path}"
    if Path(output.path) == Path(output.given):
        said = f"{output.option} {output.given} is {what} itself"
    else:
        said = f"{output.option} {output.given} would write {output.path} over {what}"
    return f"{said} ({_how_same(path, Path(output.path))}); choose another {output.option}"


def _cleared_message(output: Output, label: str, path: Path) -> str:
    whole = Path(output.path) == Path(output.given)
    if _same_file(path, Path(output.path)):
        where = "is that folder" if whole else f"is {output.path} itself"
    else:
        where = f"lies inside {'it' if whole else output.path}"
    return f"{output.option} {output.given}: {output.clears}, and the {label} {_kind(path)} {path} {where}; " \
           f"choose another {output.option}"


# ---------------------------------------------------------------------------
# Outputs already there that the command did not make, and one writer per output folder
# ---------------------------------------------------------------------------

RUN_LOCK = "run"  # one lock name for every command writing a run folder: train, merge-models, train-fer


def not_ours(option: str, given: PathText, there: str, command: str) -> OutputPathError:
    """The refusal of an output already there (``there`` says what it is) that ``command`` did not write: a
    command replaces or clears only what it made itself."""
    return OutputPathError(f"{option} {given}: {there} is already there and {command} did not write it, so it is "
                           f"not replaced; choose another {option}")


def starts_with_line(path: Path, line: str) -> bool:
    """Whether the file's first line is ``line`` (a file a command recognises as its own by its header)."""
    try:
        with open(path, "rb") as handle:
            return handle.readline(len(line.encode()) + 3).decode("utf-8-sig").rstrip("\r\n") == line
    except (OSError, UnicodeDecodeError):
        return False


def read_json_object(path: PathText) -> dict | None:
    """The JSON object in the file (a command recognises its own file by a key in it); None where the file is
    missing or unreadable, or holds no JSON, or JSON that is not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def output_folder_lock(folder: PathText, option: str = "--out") -> Iterator[Path]:
    """Make ``folder`` and hold its run lock until the block ends, however it ends (the operating system releases
    it with the process); a second command writing there is refused at once, naming the first."""
    from affectstream.core.output_lock import OutputBusy, output_lock

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(output_lock(folder, RUN_LOCK))
        except OutputBusy as busy:
            holder = busy.holder or "holder unknown"
            raise OutputPathError(f"{option} {folder}: another command is writing there ({holder}); wait for it "
                                  f"to end or choose another {option}") from None
        yield folder
