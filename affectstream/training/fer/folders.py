"""Which train-fer step a folder belongs to, and what each step reads and writes.

Each step writes into a folder of its own kind only, known by the file that step alone writes there: a training
run by its config.json, an ensemble by members.json, a soup by soup.json. Another kind of folder, or files no
step marked, are refused untouched (one command at a time writes into a folder: a lock, held to the end).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from affectstream.core.atomic import Output, not_ours, written_file

# The file only that step writes into its folder: what tells the folder's kind.
KIND_MARKERS = {"training run": "config.json", "ensemble": "members.json", "soup": "soup.json"}
TRAINING_FILES = ("config.json", "last.pt", "history.json")  # only training writes these
WRITTEN_BY_SOME_STEP = ("best.safetensors", "metrics.json", "expr_cnn.onnx", "expr_cnn.safetensors")
# What a step reads of each finished run it is given (ensemble, soup).
RUN_FILES_READ = ("best.safetensors", "history.json", "config.json", "curves.png")
# The kind each step writes; export adds its files to a folder of any kind.
STEP_KINDS = {"train": "training run", "ensemble": "ensemble", "soup": "soup", "export": ""}


def folder_kind(folder: Path) -> tuple[str, list[str]]:
    """(kind, its files): "" for a folder holding no train-fer output, a KIND_MARKERS kind, "weights" for expr-cnn
    weights alone (a run unpacked without its history: exporting may add to it), or "files" for what no step can
    vouch for (outputs without a marker, or markers of two kinds)."""
    there = [name for name in dict.fromkeys([*KIND_MARKERS.values(), *TRAINING_FILES, *WRITTEN_BY_SOME_STEP])
             if (folder / name).exists()]
    kinds = [kind for kind, marker in KIND_MARKERS.items() if marker in there]
    if any(name in there for name in TRAINING_FILES) and "training run" not in kinds:
        kinds.append("files")  # a resume point or history without the run's config
    if len(kinds) == 1 and kinds[0] != "files" and _marker_is_ours(folder, kinds[0]):
        return kinds[0], there
    if there == ["best.safetensors"] and _is_expr_cnn_weights(folder / there[0]):
        return "weights", there
    return ("files" if there else ""), there


def check_own_folder(step: str, out: Path) -> None:
    """``step`` writes only into a folder of its own kind or one without train-fer output; export into any
    folder a step vouches for (an empty one: it says there are no weights to export)."""
    kind, there = folder_kind(out)
    own = kind != "files" if step == "export" else kind in ("", STEP_KINDS[step])
    if not own:
        what = {"files": "a folder of files no train-fer step vouches for",
                "weights": "expr-cnn weights without their run's files"}.get(kind, f"a train-fer {kind}")
        option = "RUN" if step == "export" else "--out"
        raise not_ours(option, out, f"{what} ({', '.join(there)})", f"train-fer {step}")


def runs_read(option: str, runs: Sequence[Path]) -> dict[str, list[Path]]:
    """The files a step reads of the finished runs it joins, for check_inputs_kept."""
    return {option: [run / name for run in runs for name in RUN_FILES_READ]}


def step_outputs(out: Path, export_dir: Path | None, members: int = 0, option: str = "--out") -> list[Output]:
    """The files a step may write into its folder (training, joining, exporting) and those exporting ships."""
    from affectstream.training.fer.distill import TARGETS_FILE
    from affectstream.training.fer.ensemble import MEMBERS_FILE, member_curves_name
    from affectstream.training.fer.finalize import SHIPPED
    from affectstream.training.fer.soup import SOUP_FILE, SOUP_PLOT

    curves = [member_curves_name(i) for i in range(members)]
    into_run = ("best.safetensors", "last.pt", "expr_cnn_alternative.onnx", TARGETS_FILE, MEMBERS_FILE, SOUP_FILE,
                SOUP_PLOT, *SHIPPED, *curves)
    shipped = [written_file("--export-dir", export_dir, name) for name in (*SHIPPED, *curves)] if export_dir else []
    return [written_file(option, out, name) for name in dict.fromkeys(into_run)] + shipped


def _is_expr_cnn_weights(path: Path) -> bool:
    """A safetensors file with an expr-cnn network's (or ensemble's) config in its metadata, as train-fer writes."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
    except Exception:  # noqa: BLE001 - safetensors raises its own error type for a file that is not one
        return False
    return "model" in meta or "members" in meta


def _marker_is_ours(folder: Path, kind: str) -> bool:
    """The marker holds what train-fer writes there (another tool's config.json is not a run's)."""
    try:
        data = json.loads((folder / KIND_MARKERS[kind]).read_text())
    except (OSError, ValueError):
        return False
    if kind == "training run":
        return isinstance(data, dict) and {"model", "epochs", "lr"} <= data.keys()
    return isinstance(data, list) if kind == "ensemble" else isinstance(data, dict) and "ingredients" in data
