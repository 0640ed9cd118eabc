"""AFEW-VA clips for an import: read (each on its own), split by person, extracted into a feature store, counted.

Extraction is `affectstream extract --whole-frames` (affectstream.jobs.extract): its worker pool, its resuming.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.training.stills.splits import SPLITS, GroupSplit

if TYPE_CHECKING:  # the reader pulls in OpenCV: only once clips are read
    from affectstream.training.afew_va import AfewVaClip


def read_clips(root: Path) -> tuple[list[AfewVaClip], dict[str, str]]:
    """The clips that read cleanly, and {clip: why} for those that do not (the others go on)."""
    from affectstream.training.afew_va import AfewVaError, find_clip_folders, read_clip

    clips, failed = [], {}
    for folder in find_clip_folders(root):
        try:
            clips.append(read_clip(folder))
        except AfewVaError as exc:
            failed[folder.name] = str(exc)
    return clips, failed


def split_clips(clips: Sequence[AfewVaClip], split: GroupSplit) -> dict[str, list[AfewVaClip]]:
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


def extract_clips(clips: Sequence[AfewVaClip], store_root: Path, extractors: Sequence[str], *, fps: float,
                  overwrite: bool, store_option: str, workers: int, progress: bool,
                  verbose: bool) -> dict[str, str]:
    """Features of every clip into the store (done ones skipped); {clip: why} for those that failed.
    ``store_option`` names the store in a message that it cannot be written."""
    from affectstream.core.faces.native_logs import quiet_native_logs
    from affectstream.core.sources.readers import SourceSpec
    from affectstream.jobs.extract import ExtractOptions, check_ready, run_extraction

    # A frame that cannot be decoded is left out (its rating then counts as a frame without a face), not the clip.
    options = ExtractOptions(store_root=store_root, extractors=tuple(extractors), folder_fps=fps,
                             skip_bad_frames=True)
    specs = [SourceSpec(c.name, "frames", str(c.folder)) for c in clips]
    check_ready(options, store_option)
    changed = changed_clips(specs, store_root, extractors, overwrite)
    specs = [spec for spec in specs if spec.name not in changed]
    with quiet_native_logs(not verbose):
        reports = run_extraction(specs, options, workers=workers, show_progress=progress)
    return changed | {r.name: r.message for r in reports if r.status == "failed"}


def changed_clips(specs: list, store_root: Path, extractors: Sequence[str], overwrite: bool) -> dict[str, str]:
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


def split_summary(clips: Sequence[AfewVaClip], store, extractor: str) -> dict[str, Any]:
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


def report_left_out(failed: dict[str, str], warn: Callable[[str], None]) -> None:
    """The clips left out and why, one line each."""
    if failed:
        warn(f"{len(failed)} clip(s) left out:")
        for name, why in failed.items():
            warn(f"  {name}: {why}")
