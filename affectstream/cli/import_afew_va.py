"""`affectstream import-afew-va`: AFEW-VA clips (real film video, per-frame human valence/arousal) -> ABAW-format
training data for `affectstream train`.

Unlike `import-stills` there are no pseudo-videos: each clip is a real video, its
frames run through the live path (Face Landmarker on the whole frame, the main
face's track, alignment, the extractor chain) as `affectstream extract
--whole-frames` runs them. Writes, under --out:

* ``features/<extractor>/<clip>.npz`` — the feature store (or into --features, or --join's);
* ``training_set_annotations.txt``, ``validation_set_annotations.txt``,
  ``test_set_annotations.txt`` — valence/arousal divided by 10 (ABAW's -1..1),
  expression and AUs at the missing code; ``by_set/afew-va_<split>.txt`` alike;
* ``summary.json`` — source, terms, which labels are real, the split rule and the
  persons of each split, clips, frames and faces found per split, clips left out and why.

With ``--join DIR`` (an `import-stills` output), the clips' features go into DIR's
store and the three annotation files in --out are the union of DIR's and the clips':
one `affectstream train` then learns valence/arousal from real film faces beside the
still sets' labels. DIR itself is not changed; its cross-validation folds are not joined.

Splits are by person (the clip's ``actor``): no one is in two splits. A clip that
cannot be read or extracted is reported and the others go on (exit status 1 at
the end). Extraction resumes: a clip already in the store is not extracted again; one
that changed since (its frames' names or sizes) is left out and named likewise, or,
with ``--overwrite``, extracted again.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.core.atomic import Output, cleared_folder, written_file
from affectstream.core.default_model import DEFAULT_FEATURES
from affectstream.core.errors import UserInputError
from affectstream.training.stills import (SPLIT_FILES, SUMMARY_FILE, by_set_file, import_store, labels_note,
                                         read_import_summary, set_import)
from affectstream.training.stills.splits import SPLITS, GroupSplit
from affectstream.cli._types import output_path, positive_int, positive_number, seed

SET_NAME = "afew-va"
DESCRIPTION = ("AFEW-VA (Kossaifi et al. 2017): clips of feature films, in the wild, each frame rated for valence "
               "and arousal on -10..10 by human annotators")
TERMS = ("AFEW-VA's own end-user licence (research use; its frames come from commercial films): follow the terms "
         "you obtained it under, and never commit or redistribute it")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("root", type=Path, help="AFEW-VA folder: one <clip>/ folder per clip, holding <clip>.json "
                                                "and its frames (or a single clip folder)")
    parser.add_argument("--out", type=output_path, required=True, help="output folder (resumed when it exists)")
    parser.add_argument("--join", type=Path, metavar="DIR",
                        help="an import-stills output to join: the clips' features go into its store and the "
                             "annotation files in --out hold its frames and the clips' (DIR is not changed)")
    parser.add_argument("--features", type=Path,
                        help="feature store to write the clips into (default: <out>/features, or --join's store)")
    parser.add_argument("--extractors", nargs="+",
                        help="feature extractors, in order (default: --join's, else the default model's, "
                             f"{' '.join(DEFAULT_FEATURES)})")
    parser.add_argument("--fps", type=float, default=25.0,
                        help="frame rate of the clips (default 25, as the films were shown; it sets timestamps only)")
    parser.add_argument("--split-seed", type=seed, default=0,
                        help="seed of the by-person split")
    parser.add_argument("--split-fractions", type=positive_number, nargs=3, default=(0.6, 0.2, 0.2),
                        metavar=("TRAIN", "VAL", "TEST"), help="shares of rated frames per split, whole persons each")
    parser.add_argument("--overwrite", action="store_true",
                        help="extract again the clips that changed since their features were stored (without it they "
                             "are left out, named, and the others imported)")
    parser.add_argument("--workers", type=positive_int, default=2, help="processes for feature extraction")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="show MediaPipe's own log lines")


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


def read_clips(root: Path) -> tuple[list, dict[str, str]]:
    """The clips that read cleanly, and {clip: why} for those that do not (the others go on)."""
    from affectstream.training.afew_va import AfewVaError, find_clip_folders, read_clip

    clips, failed = [], {}
    for folder in find_clip_folders(root):
        try:
            clips.append(read_clip(folder))
        except AfewVaError as exc:
            failed[folder.name] = str(exc)
    return clips, failed


def split_clips(clips: list, split: GroupSplit) -> dict[str, list]:
    """Clips per split, whole persons to one split, frame shares as the fractions say."""
    from affectstream.training.stills.splits import split_by_group

    persons = {c.person for c in clips}
    if len(persons) < len(SPLITS):
        raise UserInputError(f"{len(clips)} readable clip(s) show {len(persons)} person(s): at least {len(SPLITS)} "
                             "are needed to keep each person in one of train / val / test")
    # One item per rated frame, so that the fractions are shares of frames, not of clips.
    groups = np.repeat([c.person for c in clips], [len(c.frames) for c in clips])
    part_of = dict(zip(groups, split_by_group(groups, None, split)))  # each person's one split
    return {name: [c for c in clips if part_of[c.person] == name] for name in SPLITS}


def choose_store(asked: Path | None, joined: JoinedImport | None, out: Path) -> Path:
    """Where the clips' features go: as asked, else the joined import's store, else <out>/features. Joined
    videos train from one store, so another store than the joined import's is refused."""
    if joined is None:
        return asked or out / "features"
    if asked is not None and asked.resolve() != joined.store.resolve():
        raise UserInputError(f"--features {asked}: the videos of {joined.folder} are in {joined.store}, and joined data "
                             "trains from one store; leave --features out")
    return joined.store


def choose_extractors(asked: list[str] | None, joined: JoinedImport | None) -> list[str]:
    """The extractors to run: as asked, else the joined import's, else the default model's; a joined store
    must get the same ones, or its videos could not train together."""
    theirs = list(joined.summary.get("extractors") or []) if joined else []
    if joined and asked and list(asked) != theirs:
        raise UserInputError(f"--extractors {' '.join(asked)}: {joined.folder} was imported with "
                             f"{' '.join(theirs)}; joined data needs the same features")
    return list(asked or theirs or DEFAULT_FEATURES)


def joined_files(folder: Path | None) -> list[Path]:
    """What is read of the import joined: its summary and annotation files."""
    return [folder / name for name in (SUMMARY_FILE, *SPLIT_FILES.values())] if folder else []


def store_output(args: argparse.Namespace, store_root: Path) -> Output:
    """The feature store the clips go into, named by the option that chose it."""
    writes = "import-afew-va writes the clips' features there"
    if args.features:
        return cleared_folder("--features", args.features, writes)
    if args.join:
        return Output("--join", args.join, store_root, clears=writes)
    return cleared_folder("--out", args.out, writes, "features")


def written_files(out: Path) -> list[Output]:
    """The annotation files and summary written into --out."""
    names = [*SPLIT_FILES.values(), *(str(by_set_file("", SET_NAME, split)) for split in SPLIT_FILES), SUMMARY_FILE]
    return [written_file("--out", out, name) for name in names]


def extract_clips(clips: list, store_root: Path, extractors: list[str], args: argparse.Namespace) -> dict[str, str]:
    """Features of every clip into the store (done ones skipped); {clip: why} for those that failed."""
    from affectstream.jobs.extract import ExtractOptions, check_ready, run_extraction
    from affectstream.core.sources.readers import SourceSpec
    from affectstream.core.faces.native_logs import quiet_native_logs

    # A frame that cannot be decoded is left out (its rating then counts as a frame without a face), not the clip.
    options = ExtractOptions(store_root=store_root, extractors=tuple(extractors), folder_fps=args.fps,
                             skip_bad_frames=True)
    specs = [SourceSpec(c.name, "frames", str(c.folder)) for c in clips]
    check_ready(options, "--features" if args.features else "the feature store")
    changed = changed_clips(specs, store_root, extractors, args.overwrite)
    specs = [spec for spec in specs if spec.name not in changed]
    with quiet_native_logs(not args.verbose):
        reports = run_extraction(specs, options, workers=args.workers, show_progress=not args.no_progress)
    return changed | {r.name: r.message for r in reports if r.status == "failed"}


def changed_clips(specs: list, store_root: Path, extractors: list[str], overwrite: bool) -> dict[str, str]:
    """{clip: why} for the clips whose stored features were taken from them before they changed: left out, so the
    others are imported (the extraction would refuse the whole batch); with ``overwrite`` their features are
    removed instead, and they are extracted again."""
    from affectstream.core.features.store import FeatureStore
    from affectstream.jobs.extract import from_another_file

    store = FeatureStore(store_root)
    changed = [spec for spec in specs if from_another_file(store, extractors, spec)]
    if overwrite:
        for spec in changed:
            for name in extractors:
                store.video_path(name, spec.name).unlink(missing_ok=True)
        return {}
    return {spec.name: f"{spec.location} changed since its features in {store_root} were extracted; --overwrite "
                       "extracts it again" for spec in changed}


def split_summary(clips: list, store, extractor: str) -> dict[str, Any]:
    """Counts of one split, and how often the main face was found on its rated frames."""
    rated = sum(len(c.frames) for c in clips)
    with_face = 0
    for clip in clips:
        features = store.read(extractor, clip.name)
        found = dict(zip(features.frames.tolist(), features.face_found.tolist()))
        with_face += sum(bool(found.get(int(n), False)) for n in clip.frames)
    va = np.concatenate([c.va for c in clips]) if clips else np.zeros((0, 2))
    return {
        "clips": len(clips), "persons": len({c.person for c in clips}), "frames_rated": rated,
        "frames_with_face": with_face,
        "valence_mean": round(float(va[:, 0].mean()), 4) if rated else None,
        "arousal_mean": round(float(va[:, 1].mean()), 4) if rated else None,
    }


def report_left_out(failed: dict[str, str]) -> None:
    import sys

    if failed:
        print(f"{len(failed)} clip(s) left out:", file=sys.stderr)
        for name, why in failed.items():
            print(f"  {name}: {why}", file=sys.stderr)


def labels_note_of(sets: list[dict[str, Any]], joined: JoinedImport | None) -> tuple[str, bool]:
    """The labels note of the output, and whether any of its labels are weak (only a joined import's can be)."""
    weak = bool(joined and joined.summary.get("weak_labels"))
    return labels_note(sets, weak, [info["name"] for info in joined.sets()] if weak else ()), weak


def run(args: argparse.Namespace) -> int:
    from affectstream.core.atomic import check_inputs_kept, require_writable_dir, write_text_atomic
    from affectstream.core.features.store import FeatureStore
    from affectstream.core.sources.readers import folder_frame_rate
    from affectstream.training.afew_va import RATING_SCALE
    from affectstream.training.annotations import write_annotations
    folder_frame_rate(args.fps)
    split = GroupSplit(tuple(args.split_fractions), args.split_seed)
    clips, failed = read_clips(args.root)
    if not clips:
        report_left_out(failed)
        raise UserInputError(f"{args.root}: no clip could be read (the reasons are listed above)")
    # Split (and read what is joined) before extracting: a problem there stops the import before hours of work.
    try:
        by_split = split_clips(clips, split)
    except UserInputError:
        report_left_out(failed)  # the clips that could not be read may be the persons missing
        raise
    joined = read_joined(args.join, args.out, {c.name for c in clips}) if args.join else None
    extractors = choose_extractors(args.extractors, joined)
    store_root = choose_store(args.features, joined, args.out)
    check_inputs_kept({"AFEW-VA": args.root, "--join": joined_files(args.join)},
                      [store_output(args, store_root), *written_files(args.out)])
    require_writable_dir(args.out)
    failed |= extract_clips(clips, store_root, extractors, args)
    store = FeatureStore(store_root)
    by_split = {name: [c for c in chosen if c.name not in failed] for name, chosen in by_split.items()}
    empty = [name for name, chosen in by_split.items() if not chosen]
    if empty:
        report_left_out(failed)
        raise UserInputError(f"no clip left in the {', '.join(empty)} split(s): every clip of it is among those left "
                             "out above; mend them (or give --split-seed another value) and run again")

    info: dict[str, Any] = {
        "name": SET_NAME, "description": DESCRIPTION, "terms": TERMS, "real_labels": ["valence/arousal"],
        "label_rules": {"valence/arousal": f"AFEW-VA rating / {RATING_SCALE:g}"},
        "split_rule": {"rule": "by person (the clip's actor; no person in two splits)",
                       "fractions": list(split.fractions), "seed": split.seed,
                       "persons": {name: sorted({c.person for c in chosen})
                                   for name, chosen in by_split.items()}},
        "fps": args.fps,
        "clips_left_out": failed,
        "ratings_without_image": {c.name: len(c.ratings_without_image) for c in clips if c.ratings_without_image},
        "splits": {},
    }
    for name, chosen in by_split.items():
        labels = {c.name: c.labels() for c in chosen}
        write_annotations(args.out / SPLIT_FILES[name], (joined.labels[name] if joined else {}) | labels)
        write_annotations(by_set_file(args.out, SET_NAME, name), labels)
        info["splits"][name] = split_summary(chosen, store, extractors[0])
        counts = info["splits"][name]
        print(f"{SET_NAME} {name}: {counts['clips']} clips, {counts['persons']} persons, {counts['frames_rated']} "
              f"rated frames, face found on {counts['frames_with_face']}")
    unmatched = info["ratings_without_image"]
    if unmatched:  # left out, as a frame without a picture cannot be scored; said, not only in summary.json
        first = next(c for c in clips if c.ratings_without_image)
        print(f"{SET_NAME}: {sum(unmatched.values())} rated frame(s) in {len(unmatched)} clip(s) have no image and "
              f"were left out, e.g. {first.name} frame {first.ratings_without_image[0]:05d}")
    sets = (joined.sets() if joined else []) + [info]
    note, weak = labels_note_of(sets, joined)
    summary = {"extractors": extractors, "weak_labels": weak, "labels_note": note, "sets": sets,
               "annotations": dict(SPLIT_FILES)}
    if joined:
        # The joined import's pseudo-video options travel on, for the provenance `train` records.
        summary |= {"joined": str(args.join.resolve()), "options": joined.summary.get("options")}
    if store_root != args.out / "features":
        # Read back by `bench labels`; without it the store is <out>/features, as import-stills writes it.
        summary["features"] = str(store_root.resolve())
    write_text_atomic(args.out / SUMMARY_FILE, json.dumps(summary, indent=2) + "\n")
    print(f"labels: {note}")
    print(f"wrote {', '.join(str(args.out / f) for f in SPLIT_FILES.values())} and {args.out / SUMMARY_FILE}; "
          f"features in {store_root}")
    report_left_out(failed)
    return 1 if failed else 0
