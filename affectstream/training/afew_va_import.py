"""AFEW-VA clips (real film video, per-frame human valence/arousal) -> ABAW-format training data for
`affectstream train` (`import-afew-va`).

Unlike `import-stills` there are no pseudo-videos: each clip is a real video, its
frames run through the live path (Face Landmarker on the whole frame, the main
face's track, alignment, the extractor chain) as `affectstream extract
--whole-frames` runs them. Writes, under ``out``:

* ``features/<extractor>/<clip>.npz`` — the feature store (or into ``features``, or ``join``'s);
* ``training_set_annotations.txt``, ``validation_set_annotations.txt``,
  ``test_set_annotations.txt`` — valence/arousal divided by 10 (ABAW's -1..1),
  expression and AUs at the missing code; ``by_set/afew-va_<split>.txt`` alike;
* ``summary.json`` — source, terms, which labels are real, the split rule and the
  persons of each split, clips, frames and faces found per split, clips left out and why.

With ``join`` (an `import-stills` output), the clips' features go into its store
and the three annotation files in ``out`` are the union of its and the clips':
one `affectstream train` then learns valence/arousal from real film faces beside the
still sets' labels. The joined import itself is not changed; its cross-validation folds are not joined.

Splits are by person (the clip's ``actor``): no one is in two splits. A clip that
cannot be read or extracted is reported and the others go on (the result lists it).
Extraction resumes: a clip already in the store is not extracted again; one that
changed since (its frames' names or sizes) is left out and named likewise, or,
with ``overwrite``, extracted again.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from affectstream.core.atomic import (Output, check_inputs_kept, cleared_folder, require_writable_dir,
                                     write_text_atomic, written_file)
from affectstream.core.errors import UserInputError
from affectstream.training.afew_va_clips import extract_clips, read_clips, report_left_out, split_clips, split_summary
from affectstream.training.afew_va_join import (SET_NAME, JoinedImport, choose_extractors, choose_store, joined_files,
                                                labels_note_of, read_joined)
from affectstream.training.annotations import write_annotations
from affectstream.training.stills import SPLIT_FILES, SUMMARY_FILE, by_set_file
from affectstream.training.stills.splits import GroupSplit

DESCRIPTION = ("AFEW-VA (Kossaifi et al. 2017): clips of feature films, in the wild, each frame rated for valence "
               "and arousal on -10..10 by human annotators")
TERMS = ("AFEW-VA's own end-user licence (research use; its frames come from commercial films): follow the terms "
         "you obtained it under, and never commit or redistribute it")


@dataclass(frozen=True)
class ImportAfewVaOptions:
    """What to import and how; the defaults are `import-afew-va`'s own."""

    root: Path  # one <clip>/ folder per clip (or a single clip's folder)
    out: Path
    join: Path | None = None  # an import-stills output whose annotation files and store are joined
    features: Path | None = None  # the store; default <out>/features, or the joined import's
    extractors: tuple[str, ...] = ()  # default: the joined import's, else the default model's
    fps: float = 25.0  # of the clips: timestamps only
    split: GroupSplit = GroupSplit()  # by person, shares of rated frames
    overwrite: bool = False  # extract again the clips that changed since their features were stored


@dataclass(frozen=True)
class ImportAfewVaResult:
    out: Path
    store: Path  # where the clips' features are
    left_out: dict[str, str]  # clip -> why it could not be read or extracted
    summary: dict[str, Any] = field(repr=False)  # what summary.json holds


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def import_afew_va(options: ImportAfewVaOptions, *, workers: int = 2, progress: bool = True, verbose: bool = False,
                   log: Callable[[str], None] = print, warn: Callable[[str], None] = _stderr) -> ImportAfewVaResult:
    """Import the clips; ``log`` takes what goes well, ``warn`` the clips left out (listed before an error that
    they may explain, and at the end)."""
    from affectstream.core.features.store import FeatureStore
    from affectstream.core.sources.readers import folder_frame_rate

    folder_frame_rate(options.fps)
    clips, failed = read_clips(options.root)
    if not clips:
        report_left_out(failed, warn)
        raise UserInputError(f"{options.root}: no clip could be read (the reasons are listed above)")
    # Split (and read what is joined) before extracting: a problem there stops the import before hours of work.
    try:
        by_split = split_clips(clips, options.split)
    except UserInputError:
        report_left_out(failed, warn)  # the clips that could not be read may be the persons missing
        raise
    joined = read_joined(options.join, options.out, {c.name for c in clips}) if options.join else None
    extractors = choose_extractors(options.extractors, joined)
    store_root = choose_store(options.features, joined, options.out)
    check_inputs_kept({"AFEW-VA": options.root, "--join": joined_files(options.join)},
                      [store_output(options, store_root), *written_files(options.out)])
    require_writable_dir(options.out)
    failed |= extract_clips(clips, store_root, extractors, fps=options.fps, overwrite=options.overwrite,
                            store_option="--features" if options.features else "the feature store",
                            workers=workers, progress=progress, verbose=verbose)
    by_split = {name: [c for c in chosen if c.name not in failed] for name, chosen in by_split.items()}
    empty = [name for name, chosen in by_split.items() if not chosen]
    if empty:
        report_left_out(failed, warn)
        raise UserInputError(f"no clip left in the {', '.join(empty)} split(s): every clip of it is among those left "
                             "out above; mend them (or give --split-seed another value) and run again")
    info = set_info(options, clips, by_split, failed)
    store = FeatureStore(store_root)
    for name, chosen in by_split.items():
        labels = {c.name: c.labels() for c in chosen}
        write_annotations(options.out / SPLIT_FILES[name], (joined.labels[name] if joined else {}) | labels)
        write_annotations(by_set_file(options.out, SET_NAME, name), labels)
        info["splits"][name] = counts = split_summary(chosen, store, extractors[0])
        log(f"{SET_NAME} {name}: {counts['clips']} clips, {counts['persons']} persons, {counts['frames_rated']} "
            f"rated frames, face found on {counts['frames_with_face']}")
    unmatched = info["ratings_without_image"]
    if unmatched:  # left out, as a frame without a picture cannot be scored; said, not only in summary.json
        first = next(c for c in clips if c.ratings_without_image)
        log(f"{SET_NAME}: {sum(unmatched.values())} rated frame(s) in {len(unmatched)} clip(s) have no image and "
            f"were left out, e.g. {first.name} frame {first.ratings_without_image[0]:05d}")
    summary = output_summary(options, info, joined, extractors, store_root)
    text = json.dumps(summary, indent=2) + "\n"
    write_text_atomic(options.out / SUMMARY_FILE, text)
    log(f"labels: {summary['labels_note']}")
    log(f"wrote {', '.join(str(options.out / f) for f in SPLIT_FILES.values())} and {options.out / SUMMARY_FILE}; "
        f"features in {store_root}")
    report_left_out(failed, warn)
    return ImportAfewVaResult(options.out, store_root, failed, json.loads(text))


def set_info(options: ImportAfewVaOptions, clips: list, by_split: dict[str, list],
             failed: dict[str, str]) -> dict[str, Any]:
    """The set's record in summary.json, its per-split counts still to come."""
    from affectstream.training.afew_va import RATING_SCALE

    split = options.split
    return {
        "name": SET_NAME, "description": DESCRIPTION, "terms": TERMS, "real_labels": ["valence/arousal"],
        "label_rules": {"valence/arousal": f"AFEW-VA rating / {RATING_SCALE:g}"},
        "split_rule": {"rule": "by person (the clip's actor; no person in two splits)",
                       "fractions": list(split.fractions), "seed": split.seed,
                       "persons": {name: sorted({c.person for c in chosen}) for name, chosen in by_split.items()}},
        "fps": options.fps,
        "clips_left_out": failed,
        "ratings_without_image": {c.name: len(c.ratings_without_image) for c in clips if c.ratings_without_image},
        "splits": {},
    }


def output_summary(options: ImportAfewVaOptions, info: dict[str, Any], joined: JoinedImport | None,
                   extractors: list[str], store_root: Path) -> dict[str, Any]:
    sets = (joined.sets() if joined else []) + [info]
    note, weak = labels_note_of(sets, joined)
    summary = {"extractors": extractors, "weak_labels": weak, "labels_note": note, "sets": sets,
               "annotations": dict(SPLIT_FILES)}
    if joined:
        # The joined import's pseudo-video options travel on, for the provenance `train` records.
        summary |= {"joined": str(joined.folder.resolve()), "options": joined.summary.get("options")}
    if store_root != options.out / "features":
        # Read back by `bench labels`; without it the store is <out>/features, as import-stills writes it.
        summary["features"] = str(store_root.resolve())
    return summary


def store_output(options: ImportAfewVaOptions, store_root: Path) -> Output:
    """The feature store the clips go into, named by the option that chose it."""
    writes = "import-afew-va writes the clips' features there"
    if options.features:
        return cleared_folder("--features", options.features, writes)
    if options.join:
        return Output("--join", options.join, store_root, clears=writes)
    return cleared_folder("--out", options.out, writes, "features")


def written_files(out: Path) -> list[Output]:
    """The annotation files and summary written into --out."""
    names = [*SPLIT_FILES.values(), *(str(by_set_file("", SET_NAME, split)) for split in SPLIT_FILES), SUMMARY_FILE]
    return [written_file("--out", out, name) for name in names]
