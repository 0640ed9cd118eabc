"""`extract` as a library call: checks every option and output, then runs the extraction job
(affectstream.jobs.extract) over the listed inputs, optionally writing a grid of the saved crops."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from affectstream.core.atomic import Output, check_inputs_kept, cleared_folder, written_file
from affectstream.core.features.extractors.onnx import check_config
from affectstream.core.features.store import default_store_root
from affectstream.core.sources.readers import SourceSpec
from affectstream.jobs.extract import (DEFAULT_EXTRACTORS, ExtractError, ExtractOptions, VideoReport,
                                       check_crop_folders, check_ready, run_extraction)
from affectstream.jobs.inputs import listed_sources


@dataclass(frozen=True)
class ExtractRunOptions:
    inputs: tuple[str, ...]  # video files, cropped_aligned/<video> folders, or folders of either
    store_root: Path | None = None  # default: $AFFECTSTREAM_FEATURES or ./features
    extractors: tuple[str, ...] = DEFAULT_EXTRACTORS  # in the order to record
    onnx_model: Path | None = None  # the 'onnx' extractor's model (adds that extractor)
    onnx_config: Path | None = None  # its preprocessing; default: <model>.json where there is one
    max_faces: int = 1
    landmarker_model: str | None = None
    accept_landmarker_hash: bool = False
    workers: int = 1
    ray: str | None = None  # an existing Ray cluster's address, instead of local workers
    save_crops: Path | None = None  # the main face's aligned crops
    crop_size: int = 112
    crop_grid: Path | None = None  # a PNG grid of the saved crops
    whole_frames: bool = False  # folders of numbered images hold whole frames, not aligned faces
    folder_fps: float = 30.0
    skip_bad_frames: bool = False
    overwrite: bool = False
    progress: bool = True
    verbose: bool = False  # MediaPipe's and the video decoder's log lines


@dataclass(frozen=True)
class Extracted:
    store_root: Path
    extractors: tuple[str, ...]
    reports: tuple[VideoReport, ...]  # one per source, in input order

    @property
    def failed(self) -> list[VideoReport]:
        return [r for r in self.reports if r.status == "failed"]

    def problem_lines(self) -> list[str]:
        """What failed, for stderr."""
        return ["failed videos:", *(f"  {r.name}: {r.message}" for r in self.failed)] if self.failed else []


def extractor_options(names: Sequence[str], onnx_model: Path | None, onnx_config: Path | None) -> dict[str, dict]:
    """Per-extractor settings: the 'onnx' extractor's model and preprocessing config."""
    options: dict[str, dict] = {}
    if "onnx" in names:
        if onnx_model is None:
            raise ExtractError("the 'onnx' extractor needs --onnx-model PATH")
        config_path = onnx_config or Path(onnx_model).with_suffix(".json")
        config = {}
        if onnx_config or config_path.is_file():
            try:
                config = json.loads(Path(config_path).read_text())
            except (OSError, ValueError) as exc:
                raise ExtractError(f"{config_path}: cannot read the ONNX preprocessing config ({exc})") from exc
            if not isinstance(config, dict):
                raise ExtractError(f"{config_path}: the ONNX preprocessing config must be a JSON object")
            check_config(config, f"ONNX preprocessing config {config_path}")
        options["onnx"] = {**config, "model": str(onnx_model)}
    return options


def job_options(options: ExtractRunOptions) -> ExtractOptions:
    """The extraction job's settings; the options that cannot work together are refused first."""
    names = tuple(options.extractors)
    if options.onnx_model is not None and "onnx" not in names:
        names += ("onnx",)
    if options.crop_grid and not options.save_crops:
        raise ExtractError("--crop-grid needs --save-crops DIR")
    return ExtractOptions(
        store_root=options.store_root or default_store_root(), extractors=names,
        extractor_options=extractor_options(names, options.onnx_model, options.onnx_config),
        max_faces=options.max_faces, landmarker_model=options.landmarker_model,
        accept_landmarker_hash=options.accept_landmarker_hash, save_crops=options.save_crops,
        crop_size=options.crop_size, folder_fps=options.folder_fps, skip_bad_frames=options.skip_bad_frames,
        overwrite=options.overwrite)


def crop_outputs(options: ExtractRunOptions, sources: Sequence[SourceSpec]) -> list[Output]:
    """The crop grid, and each source's crop folder (a new extraction deletes the crops it does not make again)."""
    grid = [written_file("--crop-grid", options.crop_grid)] if options.crop_grid else []
    clears = "extract deletes the earlier crops of each video in its folder there"
    folders = [cleared_folder("--save-crops", options.save_crops, clears, spec.name) for spec in sources] \
        if options.save_crops else []
    return grid + folders


def check_crop_grid(path: Path, store_root: Path, overwrite: bool) -> None:
    """The crop grid is a PNG outside the store, and replaces only a crop grid (or, with overwrite, a file
    that is not one)."""
    from affectstream.core.faces.crops import is_crop_grid

    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ExtractError(f"--crop-grid {path}: a crop grid is a .png file")
    if _inside(path, Path(store_root)):
        raise ExtractError(f"--crop-grid {path} lies in the feature store {store_root}; choose a path outside it")
    if path.is_file() and not overwrite and not is_crop_grid(path):
        raise ExtractError(f"--crop-grid {path} is already there and is not a crop grid extract wrote; pass "
                           "--overwrite to replace it, or choose another --crop-grid")


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(folder)) in Path(os.path.realpath(path)).parents


def extract(options: ExtractRunOptions) -> Extracted:
    """Extract the inputs' features into the store; print what was done (failures: Extracted.problem_lines)."""
    from affectstream.core.faces.native_logs import quiet_native_logs

    job = job_options(options)
    sources = listed_sources(options.inputs, options.whole_frames)
    # Checked before check_ready makes the store and crop folders: a refused run leaves nothing behind.
    check_inputs_kept({"input": [spec.location for spec in sources], "--onnx-model": options.onnx_model,
                       "--onnx-config": options.onnx_config, "--landmarker-model": options.landmarker_model},
                      crop_outputs(options, sources))
    if options.crop_grid:
        check_crop_grid(options.crop_grid, job.store_root, options.overwrite)
    if options.save_crops:
        check_crop_folders(sources, options.save_crops)
    check_ready(job)
    with quiet_native_logs(not options.verbose):
        reports = run_extraction(sources, job, workers=options.workers, show_progress=options.progress,
                                 ray_address=options.ray)
    if options.crop_grid:
        from affectstream.core.faces.crops import grid_from_folder, write_crop_grid

        write_crop_grid(options.crop_grid, grid_from_folder(options.save_crops))
        print(f"crop grid: {options.crop_grid}")
    result = Extracted(job.store_root, job.extractors, tuple(reports))
    skipped = sum(r.status == "skipped" for r in reports)
    print(f"extracted {sum(r.status == 'done' for r in reports)} video(s), skipped {skipped} already done, "
          f"{len(result.failed)} failed; store: {job.store_root} ({', '.join(job.extractors)})")
    return result
