"""An import-stills output joined by `import-afew-va --join`: its annotation files, store and extractors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from affectstream.core.default_model import DEFAULT_FEATURES
from affectstream.core.errors import UserInputError
from affectstream.training.stills import (SPLIT_FILES, SUMMARY_FILE, import_store, labels_note, read_import_summary,
                                          set_import)

SET_NAME = "afew-va"


@dataclass(frozen=True)
class JoinedImport:
    """An import-stills output whose annotation files are joined with the clips'."""

    folder: Path
    summary: dict[str, Any]
    labels: dict[str, dict]  # split -> {video: VideoLabels}

    @property
    def store(self) -> Path:
        return import_store(self.folder, self.summary)

    def sets(self) -> list[dict[str, Any]]:
        # "import": where each set's by_set/ files are, for `bench labels` on the joined output. The folds of a
        # cross-validated set are not joined, so their record is left behind.
        return [{k: v for k, v in info.items() if k != "cross_validation"}
                | {"import": str(set_import(self.folder.resolve(), info))}
                for info in self.summary.get("sets", [])]


def read_joined(folder: Path, out: Path, clip_names: set[str]) -> JoinedImport:
    """The import to join, its annotation files read (and checked for clips of the same name) before any work."""
    from affectstream.training.annotations import read_annotations

    if folder.resolve() == out.resolve():
        raise UserInputError(f"--out {out} is the folder joined: give another --out (the joined import is not changed)")
    summary = read_import_summary(folder)
    if any(info.get("name") == SET_NAME for info in summary.get("sets", [])):
        raise UserInputError(f"{folder} already holds {SET_NAME}: join the clips to the import-stills output it came "
                             "from instead")
    labels = {}
    for split, file in SPLIT_FILES.items():
        path = folder / file
        labels[split] = read_annotations(path) if path.is_file() else {}
        clash = sorted(clip_names & set(labels[split]))
        if clash:
            raise UserInputError(f"{path}: video {clash[0]!r} has the name of an AFEW-VA clip; rename the clip folder")
    return JoinedImport(folder, summary, labels)


def joined_files(folder: Path | None) -> list[Path]:
    """What is read of the import joined: its summary and annotation files."""
    return [folder / name for name in (SUMMARY_FILE, *SPLIT_FILES.values())] if folder else []


def choose_store(asked: Path | None, joined: JoinedImport | None, out: Path) -> Path:
    """Where the clips' features go: as asked, else the joined import's store, else <out>/features. Joined
    videos train from one store, so another store than the joined import's is refused."""
    if joined is None:
        return asked or out / "features"
    if asked is not None and asked.resolve() != joined.store.resolve():
        raise UserInputError(f"--features {asked}: the videos of {joined.folder} are in {joined.store}, and joined "
                             "data trains from one store; leave --features out")
    return joined.store


def choose_extractors(asked: Sequence[str], joined: JoinedImport | None) -> list[str]:
    """The extractors to run: as asked, else the joined import's, else the default model's; a joined store
    must get the same ones, or its videos could not train together."""
    theirs = list(joined.summary.get("extractors") or []) if joined else []
    if joined and asked and list(asked) != theirs:
        raise UserInputError(f"--extractors {' '.join(asked)}: {joined.folder} was imported with "
                             f"{' '.join(theirs)}; joined data needs the same features")
    return list(asked or theirs or DEFAULT_FEATURES)


def labels_note_of(sets: list[dict[str, Any]], joined: JoinedImport | None) -> tuple[str, bool]:
    """The labels note of the output, and whether any of its labels are weak (only a joined import's can be)."""
    weak = bool(joined and joined.summary.get("weak_labels"))
    return labels_note(sets, weak, [info["name"] for info in joined.sets()] if weak else ()), weak
