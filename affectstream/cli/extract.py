"""`affectstream extract`: per-frame features of videos and face folders into the feature store.

The job itself (main track, resume, workers, failures) is affectstream.jobs.extract.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from affectstream.core.atomic import Output, check_inputs_kept, cleared_folder, written_file
from affectstream.core.faces.types import MAX_FACES
from affectstream.core.features.extractors.onnx import check_config
from affectstream.core.features.store import default_store_root
from affectstream.core.faces.alignment import MAX_CROP_SIZE, MIN_CROP_SIZE
from affectstream.jobs.extract import (DEFAULT_EXTRACTORS, ExtractError, ExtractOptions, check_crop_folders, check_ready,
                                       run_extraction)
from affectstream.cli._types import add_folder_arguments, listed_sources, output_path, positive_int
from affectstream.core.sources.readers import SourceSpec


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", help="video files, cropped_aligned/<video> folders, or folders of either")
    parser.add_argument("--out", type=output_path, default=None,
                        help="feature store root (default: $AFFECTSTREAM_FEATURES or ./features)")
    parser.add_argument("--extractors", default=",".join(DEFAULT_EXTRACTORS),
                        help="comma-separated registered extractor names, in the order to record "
                             "(default: %(default)s; see --list-extractors)")
    parser.add_argument("--onnx-model", type=Path, default=None, help="ONNX backbone for the 'onnx' extractor")
    parser.add_argument("--onnx-config", type=Path, default=None,
                        help="JSON file of the ONNX model's preprocessing (input_size, colour, mean, std, "
                             "scale, layout, output, licence, description); default: <model>.json beside the "
                             "model if it exists")
    parser.add_argument("--max-faces", type=int, default=1,
                        help=f"faces looked for per frame, 1 to {MAX_FACES}; the main track is stored "
                             "(default: 1, fastest)")
    parser.add_argument("--landmarker-model", default=None, help="path of face_landmarker.task")
    parser.add_argument("--accept-landmarker-hash", action="store_true",
                        help="use a landmarker model file whose sha256 differs from the expected one")
    parser.add_argument("--workers", type=positive_int, default=os.cpu_count() or 1,
                        help="processes (default: every core)")
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="run on an existing Ray cluster instead (e.g. auto or ray://host:10001); the store "
                             "(--out) must be a folder every node sees")
    parser.add_argument("--save-crops", type=output_path, default=None,
                        help="also save the main face's aligned crops here")
    parser.add_argument("--crop-size", type=int, default=112,
                        help=f"side of saved crops in pixels, {MIN_CROP_SIZE} to {MAX_CROP_SIZE} (default: 112)")
    parser.add_argument("--crop-grid", type=Path, default=None,
                        help="write a PNG grid of saved crops (needs --save-crops)")
    add_folder_arguments(parser)
    parser.add_argument("--skip-bad-frames", action="store_true",
                        help="skip undecodable images in frame folders instead of failing the video")
    parser.add_argument("--overwrite", action="store_true", help="re-extract videos that are already done")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--verbose", action="store_true", help="show MediaPipe's and the video decoder's log lines")


def extractor_options_from_args(args: argparse.Namespace, names: Sequence[str]) -> dict[str, dict]:
    options: dict[str, dict] = {}
    if "onnx" in names:
        if args.onnx_model is None:
            raise ExtractError("the 'onnx' extractor needs --onnx-model PATH")
        config_path = args.onnx_config or args.onnx_model.with_suffix(".json")
        config = {}
        if args.onnx_config or config_path.is_file():
            try:
                config = json.loads(Path(config_path).read_text())
            except (OSError, ValueError) as exc:
                raise ExtractError(f"{config_path}: cannot read the ONNX preprocessing config ({exc})") from exc
            if not isinstance(config, dict):
                raise ExtractError(f"{config_path}: the ONNX preprocessing config must be a JSON object")
            check_config(config, f"ONNX preprocessing config {config_path}")
        options["onnx"] = {**config, "model": str(args.onnx_model)}
    return options


def crop_outputs(args: argparse.Namespace, sources: Sequence[SourceSpec]) -> list[Output]:
    """The crop grid, and each source's crop folder (a new extraction deletes the crops it does not make again)."""
    grid = [written_file("--crop-grid", args.crop_grid)] if args.crop_grid else []
    clears = "extract deletes the earlier crops of each video in its folder there"
    folders = [cleared_folder("--save-crops", args.save_crops, clears, spec.name) for spec in sources] \
        if args.save_crops else []
    return grid + folders


def check_crop_grid(path: Path, store_root: Path, overwrite: bool) -> None:
    """The crop grid is a PNG outside the store, and replaces only a crop grid (or, with --overwrite, a file
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


def run(args: argparse.Namespace) -> int:
    names = tuple(n.strip() for n in args.extractors.split(",") if n.strip())
    if args.onnx_model is not None and "onnx" not in names:
        names += ("onnx",)
    if args.crop_grid and not args.save_crops:
        raise ExtractError("--crop-grid needs --save-crops DIR")
    options = ExtractOptions(
        store_root=args.out or default_store_root(),
        extractors=names,
        extractor_options=extractor_options_from_args(args, names),
        max_faces=args.max_faces,
        landmarker_model=args.landmarker_model,
        accept_landmarker_hash=args.accept_landmarker_hash,
        save_crops=args.save_crops,
        crop_size=args.crop_size,
        folder_fps=args.folder_fps,
        skip_bad_frames=args.skip_bad_frames,
        overwrite=args.overwrite,
    )
    from affectstream.core.faces.native_logs import quiet_native_logs

    sources = listed_sources(args.inputs, args.whole_frames)
    # Checked before check_ready makes the store and crop folders: a refused run leaves nothing behind.
    check_inputs_kept({"input": [spec.location for spec in sources], "--onnx-model": args.onnx_model,
                       "--onnx-config": args.onnx_config, "--landmarker-model": args.landmarker_model},
                      crop_outputs(args, sources))
    if args.crop_grid:
        check_crop_grid(args.crop_grid, options.store_root, args.overwrite)
    if args.save_crops:
        check_crop_folders(sources, args.save_crops)
    check_ready(options)
    with quiet_native_logs(not args.verbose):
        reports = run_extraction(sources, options, workers=args.workers, show_progress=not args.no_progress,
                                 ray_address=args.ray)
    if args.crop_grid:
        from affectstream.core.faces.crops import grid_from_folder, write_crop_grid

        write_crop_grid(args.crop_grid, grid_from_folder(args.save_crops))
        print(f"crop grid: {args.crop_grid}")
    done = [r for r in reports if r.status == "done"]
    skipped = [r for r in reports if r.status == "skipped"]
    failed = [r for r in reports if r.status == "failed"]
    print(f"extracted {len(done)} video(s), skipped {len(skipped)} already done, {len(failed)} failed; "
          f"store: {options.store_root} ({', '.join(names)})")
    if failed:
        print("failed videos:", file=sys.stderr)
        for report in failed:
            print(f"  {report.name}: {report.message}", file=sys.stderr)
        return 1
    return 0
