"""Labelled still-image sets -> ABAW-format training data for `affectstream train` (`import-stills`).

Each set's stills run through the live path (framing for the detector, Face
Landmarker, alignment, the extractor chain: ``extract``), then are strung into
pseudo-videos (``sequences``) per set and split, so a video never mixes sets.
Writes, under ``out``:

* ``features/<extractor>/`` — a feature store (what `affectstream extract` writes);
* ``training_set_annotations.txt``, ``validation_set_annotations.txt``,
  ``test_set_annotations.txt`` — the union of the sets, ABAW MTL layout, each
  label a set lacks left at the missing code;
* ``by_set/<set>_<split>.txt`` — the same, one set at a time (for per-set scores);
* ``summary.json`` — per set: source, terms, which labels are real, the split rule
  (CK+ subjects per split), stills with a face, videos, frames; and a labels note
  that `affectstream train` stores with the model.

With ``cv_folds`` K, the sets split by subject (CK+, CSVs with a subject column)
are cross-validated: their train and validation subjects are divided into K folds
(stratified like the split, no subject in two), and ``folds/<k>/`` holds the
training and validation files (and a summary.json) of fold k: every other set as
usual, the subject set's fold k as validation and its other folds as training. The
top-level training file then holds all those subjects (a final model trained on
all of them), its validation file only the other sets; test is never touched.

Per-still features are cached under ``stills/`` (or ``cache``) in chunks, so an
interrupted run resumes and a second run with other sequence options extracts nothing again.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from affectstream.core.atomic import check_inputs_kept, check_writable_dir, write_text_atomic
from affectstream.core.default_model import DEFAULT_FEATURES
from affectstream.core.errors import UserInputError
from affectstream.training.annotations import write_annotations
from affectstream.training.stills import (FOLDS_DIR, SPLIT_FILES, SUMMARY_FILE, by_set_file, fold_dir, fold_dirs,
                                          labels_note)
from affectstream.training.stills.inputs import (SHARED, SHARED_SETS, check_mirrored, load_sets, parse_repeats,
                                                 set_inputs)
from affectstream.training.stills.outputs import forget_earlier_import, import_outputs, remove_stale_folds
from affectstream.training.stills.parts import (Part, Plan, check_every_file_has_stills, empty_part_summary, part_seed,
                                                part_summary, plan_parts)
from affectstream.training.stills.sequences import SequenceOptions
from affectstream.training.stills.sets import StillSet
from affectstream.training.stills.splits import SPLITS, GroupSplit

# Noise ten times a feature's spread drowns every still already; far larger values overflow float32 features.
MAX_JITTER = 10.0


@dataclass(frozen=True)
class ImportStillsOptions:
    """What to import and how; the defaults are `import-stills`' own."""

    out: Path
    sets: tuple[str, ...] = SHARED_SETS  # of SHARED_SETS, read from ``shared``
    csv: tuple[str | Path, ...] = ()  # labelled CSVs of one's own (layout in the README)
    shared: Path = SHARED
    fer2013: Path | None = None  # default: <shared>/fer2013/fer2013.npz
    cache: Path | None = None  # per-still features; default: <out>/stills
    extractors: tuple[str, ...] = tuple(DEFAULT_FEATURES)
    sequences: SequenceOptions = SequenceOptions()  # its seed seeds every set's layout too
    repeat: tuple[str, ...] = ()  # "SET=N": lay a set's training stills out N times
    mirror: tuple[str, ...] = ()  # sets whose training stills are added again, mirrored
    split: GroupSplit = GroupSplit()  # of the by-subject splits (CK+, CSVs)
    cv_folds: int = 0
    ckplus_au27: str = "au26-negative"  # of training.stills.sets.AU27_RULES
    csv_pad: float = 0.25  # border around a CSV's images, as a share of the longer side
    splits: tuple[str, ...] = SPLITS
    weak_labels: bool = False

    @property
    def cache_dir(self) -> Path:
        return self.cache or self.out / "stills"


@dataclass(frozen=True)
class ImportStillsResult:
    out: Path
    annotations: dict[str, Path]  # split -> the top-level annotation file written
    folds: tuple[Path, ...]  # each fold's folder, fold 1 first
    summary: dict[str, Any] = field(repr=False)  # what summary.json holds

    @property
    def labels_note(self) -> str:
        return self.summary["labels_note"]


@dataclass(frozen=True)
class _Run:
    """One import's settings and what it has laid out so far (``union``: (folder, split) -> videos' labels)."""

    options: ImportStillsOptions
    repeats: dict[str, int]
    workers: int
    progress: bool
    verbose: bool
    log: Callable[[str], None]
    union: dict[tuple[str, str], dict] = field(default_factory=dict)


def import_stills(options: ImportStillsOptions, *, workers: int = 2, progress: bool = True, verbose: bool = False,
                  log: Callable[[str], None] = print) -> ImportStillsResult:
    """Import the sets; ``workers`` processes extract features, ``verbose`` lets MediaPipe's log lines through."""
    from affectstream.core.features.store import FeatureStore

    out, splits, folds = options.out, list(options.splits), options.cv_folds
    check_inputs_kept(set_inputs(options.sets, options.csv, options.shared, options.fer2013),
                      import_outputs(out, options.cache))
    still_sets = load_sets(options.sets, options.csv, options.shared, options.fer2013, options.split,
                           options.ckplus_au27, options.csv_pad)
    names = [s.name for s in still_sets]
    repeats = parse_repeats(options.repeat, names)
    check_mirrored(options.mirror, names)
    if folds == 1 or folds < 0:
        raise UserInputError(f"--cv-folds {folds}: give 2 or more folds (or 0 for none)")
    # Every set's layout first: a set that cannot be divided stops the import before anything is written.
    still_sets = [s.take(np.flatnonzero(np.isin(s.split, splits))) for s in still_sets]
    plans = [plan_parts(s, splits, folds, options.split.seed) for s in still_sets]
    if folds and not any(record for _, record in plans):
        raise UserInputError(f"--cv-folds: none of {', '.join(names)} is split by subject "
                             "(ckplus-au, or a CSV with a subject column)")
    check_every_file_has_stills(still_sets, plans, splits, folds)
    check_writable_dir(out)  # before any still goes through the landmarker
    # An earlier import's annotation files and summaries go before this one writes a feature: an import that
    # fails or is stopped half-way leaves no files that `train` would pair with features they do not match.
    forget_earlier_import(out, still_sets, splits)
    run = _Run(options, repeats, workers, progress, verbose, log)
    store = FeatureStore(out / "features")
    summaries = [_import_set(run, stills, plan, store) for stills, plan in zip(still_sets, plans)]
    files = _union_files(run, names)
    for path, videos in files.items():
        write_annotations(path, videos)
    written = {split: SPLIT_FILES[split] for split in splits if out / SPLIT_FILES[split] in files}
    remove_stale_folds(out, folds)
    note = labels_note(summaries, options.weak_labels)
    summary = {"options": asdict(options.sequences), "extractors": list(options.extractors),
               "weak_labels": options.weak_labels, "labels_note": note, "sets": summaries, "annotations": written}
    for k in range(folds):
        # Beside each fold's files, so `train` finds the data's terms and labels note there too.
        fold_summary = summary | {"fold": k + 1, "annotations": {s: SPLIT_FILES[s] for s in ("train", "val")}}
        write_text_atomic(out / fold_dir(k + 1) / SUMMARY_FILE, json.dumps(fold_summary, indent=2) + "\n")
    text = json.dumps(summary, indent=2) + "\n"
    write_text_atomic(out / SUMMARY_FILE, text)
    log(f"labels: {note}")
    listed = ", ".join(str(out / name) for name in written.values())
    folds_note = f", folds 1-{folds} under {out / FOLDS_DIR}" if folds else ""
    log(f"wrote {listed}{folds_note} and {out / SUMMARY_FILE}")
    return ImportStillsResult(out, {split: out / name for split, name in written.items()},
                              tuple(out / folder for folder in fold_dirs(folds)), json.loads(text))


def _import_set(run: _Run, stills: StillSet, plan: Plan, store) -> dict[str, Any]:
    """One set's features, then its parts as pseudo-videos into the store and its per-set files; its summary."""
    from affectstream.core.faces.native_logs import quiet_native_logs
    from affectstream.training.stills.extract import extract_set_features

    parts, cv_record = plan
    options = run.options
    with quiet_native_logs(not run.verbose):
        feats = extract_set_features(stills, options.extractors, options.cache_dir, run.workers,
                                     progress=run.progress)
        # One mirrored extraction for every still a training part may hold (cached chunks stay the same).
        train_idx = [p.index for p in parts if p.split == "train"]
        trained = np.unique(np.concatenate(train_idx)) if train_idx else np.array([], int)
        mirrored = _mirrored(run, stills, trained) if stills.name in options.mirror and len(trained) else None
    for spec in feats.specs:
        store.write_spec(spec)
    info = stills.summary() | {"repeats_in_train": run.repeats[stills.name], "unreadable": feats.unreadable,
                               "mirrored_in_train": mirrored is not None, "splits": {}}
    if cv_record:
        info["cross_validation"] = cv_record
    for part in parts:
        feats_part, labels = feats.take(part.index), stills.labels.take(part.index)
        if part.split == "train" and mirrored is not None and len(part.index):
            flipped = mirrored.take(np.searchsorted(trained, part.index))
            feats_part, labels = feats_part.joined(flipped), labels.joined(labels)
        if not feats_part.found.any():
            info["splits"][part.tag] = empty_part_summary(len(part.index))
            continue
        videos = _pseudo_videos(run, stills.name, part, labels, feats_part)
        for video in videos:
            for name, features in video.features.items():
                store.write(name, video.name, features)
        by_video = {v.name: v.labels for v in videos}
        # Per-set files once, where the part belongs first (a fold's own CK+ part; the shared sets' at the top).
        write_annotations(by_set_file(options.out / part.folders[0], stills.name, part.split), by_video)
        for folder in part.folders:
            run.union.setdefault((folder, part.split), {}).update(by_video)
        info["splits"][part.tag] = part_summary(len(feats_part.found), feats_part.found, videos)
        run.log(f"{stills.name} {part.tag}: {int(feats_part.found.sum())}/{len(feats_part.found)} stills with a "
                f"face -> {len(videos)} pseudo-videos, {info['splits'][part.tag]['frames']} frames")
    if feats.unreadable:
        run.log(f"{stills.name}: {len(feats.unreadable)} image(s) could not be read, e.g. "
                f"{next(iter(feats.unreadable.values()))}")
    return info


def _pseudo_videos(run: _Run, name: str, part: Part, labels, feats) -> list:
    """A part's stills strung into pseudo-videos, laid out ``repeats`` times for training (each seeded anew)."""
    from affectstream.training.stills.sequences import build_pseudo_videos

    sequences = run.options.sequences
    videos = []
    for repeat in range(run.repeats[name] if part.split == "train" else 1):
        prefix = f"{name}-{part.tag}" + (f"-r{repeat + 1:02d}" if repeat else "")
        seeded = replace(sequences, seed=part_seed(sequences.seed, name, part.split, repeat, part.fold))
        videos += build_pseudo_videos(prefix, labels, feats.found, feats.features, seeded,
                                      weak=run.options.weak_labels)
    return videos


def _union_files(run: _Run, names: Sequence[str]) -> dict[Path, dict]:
    """Each annotation file the import writes, and its videos; a file no set gave a face to stops the import."""
    out, folds = run.options.out, run.options.cv_folds
    files = {}
    for folder in ("", *fold_dirs(folds)):
        for split in run.options.splits:
            if folder and split == "test":
                continue
            videos = run.union.get((folder, split))
            if videos:
                files[out / folder / SPLIT_FILES[split]] = videos
            elif not (folder == "" and split == "val" and folds):
                raise UserInputError(f"no {split} stills with a face in {', '.join(names)}"
                                     + (f" for fold {folder.rsplit('/', 1)[-1]}" if folder else ""))
    if folds and (out / SPLIT_FILES["val"]) not in files:
        (out / SPLIT_FILES["val"]).unlink(missing_ok=True)  # an earlier import's would not match this one
        run.log("no validation stills outside the folds: the top level has no validation file")
    return files


def _mirrored(run: _Run, stills: StillSet, index: np.ndarray):
    """Features of these training stills seen in a mirror (cached like the others); their labels do not change."""
    from affectstream.training.stills.extract import extract_set_features

    train = stills.take(index)
    flipped = replace(train, framing=replace(train.framing, mirror=True))
    return extract_set_features(flipped, run.options.extractors, run.options.cache_dir, run.workers,
                                progress=run.progress)
