"""How an import lays each set's stills out: the parts (split, fold) of its annotation files, their seeds,
and each part's counts for the summary."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, EXPRESSIONS, au_any_labelled, au_labelled
from affectstream.training.stills import fold_dirs
from affectstream.training.stills.sets import StillSet
from affectstream.training.stills.splits import SPLITS, fold_by_group


@dataclass(frozen=True, eq=False)
class Part:
    """Stills of one set laid out as pseudo-videos for one annotation file (or several sharing them)."""

    split: str  # which file: train / val / test
    tag: str  # in the video names: "train", "fold2-val", ...
    index: np.ndarray  # the set's stills
    folders: tuple[str, ...]  # where the file is, relative to the output folder: "" and/or fold_dir(k)
    fold: int | None = None


# A set's parts, and (for a set cross-validated by person) the record of its folds' subjects.
Plan = tuple[list[Part], "dict[str, Any] | None"]


def part_seed(base: int, name: str, split: str, repeat: int, fold: int | None = None) -> int:
    # Stable per (set, split, repeat[, fold]): adding a set does not reshuffle the others.
    entropy = [base, zlib.crc32(name.encode()), SPLITS.index(split), repeat] + ([] if fold is None else [fold + 1])
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


def plan_parts(stills: StillSet, splits: list[str], folds: int, seed: int) -> Plan:
    """The parts a set is laid out in, and (for a set cross-validated by person) its folds' subjects."""
    folders = fold_dirs(folds)
    if not folders or stills.groups is None:
        return [Part(split, split, np.flatnonzero(stills.split == split),
                     ("",) + (folders if split != "test" else ())) for split in splits], None
    if not {"train", "val"} <= set(splits):
        raise UserInputError("--cv-folds needs the train and val splits")
    pooled = np.flatnonzero(np.isin(stills.split, ["train", "val"]))
    au = stills.labels.au[pooled]
    try:
        fold = fold_by_group(stills.groups[pooled], np.where(au > 0, 1, 0), folds, seed)
    except UserInputError as exc:
        raise UserInputError(f"{stills.name}: its train and val subjects: {exc}") from None
    parts = [Part("train", "train", pooled, ("",))]
    for k, folder in enumerate(folders):
        parts += [Part("train", f"fold{k + 1}-train", pooled[fold != k], (folder,), k),
                  Part("val", f"fold{k + 1}-val", pooled[fold == k], (folder,), k)]
    if "test" in splits:
        parts.append(Part("test", "test", np.flatnonzero(stills.split == "test"), ("",)))
    subjects = {str(k + 1): np.unique(stills.groups[pooled][fold == k]).tolist() for k in range(folds)}
    return parts, {"folds": folds, "seed": seed, "rule": "train+val subjects in folds, stratified by AU",
                   "subjects": subjects}


def check_every_file_has_stills(still_sets: Sequence[StillSet], plans: Sequence[Plan], splits: list[str],
                                folds: int) -> None:
    """Each annotation file the import will write gets stills from some set (whether faces are found in them
    is known only after the landmarker)."""
    names = ", ".join(s.name for s in still_sets)
    have = {(folder, part.split) for parts, _ in plans for part in parts if len(part.index) for folder in part.folders}
    for folder in ("", *fold_dirs(folds)):
        for split in splits:
            if (folder and split == "test") or (folder == "" and split == "val" and folds):
                continue  # folds have no test; with folds, the top level may have no validation file
            if (folder, split) not in have:
                raise UserInputError(f"no {split} stills in {names}" + (f" for fold {folder.rsplit('/', 1)[-1]}"
                                     if folder else "") + f"; leave {split} out of --splits, or give stills of it")


def part_summary(stills: int, found: np.ndarray, videos: list) -> dict[str, Any]:
    """A laid-out part's counts: stills, faces, videos, frames, labelled frames per task, AU base rates."""
    expr = np.concatenate([v.labels.expr for v in videos])
    au = np.concatenate([v.labels.au for v in videos])
    va = np.concatenate([v.labels.va for v in videos])
    known = au_labelled(au)  # each AU on its own: a frame may have some AUs labelled and not others
    frames_with_au = int(au_any_labelled(au).sum())
    base_rate = np.divide((au == 1).sum(axis=0), known.sum(axis=0), out=np.full(au.shape[1], np.nan),
                          where=known.any(axis=0))
    return {
        "stills": stills, "faces_found": int(found.sum()), "videos": len(videos), "frames": int(len(expr)),
        "frames_with": {"va": int((va[:, 0] != -5).sum()), "expr": int((expr >= 0).sum()), "au": frames_with_au},
        "expression_frames": dict(zip(EXPRESSIONS, np.bincount(expr[expr >= 0], minlength=len(EXPRESSIONS)).tolist())),
        "au_base_rate": ({a: (None if np.isnan(r) else round(float(r), 4)) for a, r in zip(ACTION_UNITS, base_rate)}
                         if frames_with_au else None),
    }


def empty_part_summary(stills: int) -> dict[str, Any]:
    """A part none of whose stills had a face."""
    return {"stills": stills, "faces_found": 0, "videos": 0, "frames": 0}
