"""Several finished train-fer runs as one expr-cnn: an ensemble weights file and a summary of its members.

``combine_runs`` reads each run folder's best.safetensors, history.json and
config.json and writes, into a new run folder, best.safetensors (all members'
tensors under ``members.<i>.``, their configs in the metadata) and members.json
(what each member is and how it was trained), with each member's curves.png as
curves_member<i>.png. train-fer's finalize then treats
that folder like any other run: evaluation, ONNX export and check, shipping.
"""

from __future__ import annotations

import json
from pathlib import Path

from affectstream.core.atomic import atomic_write, write_text_atomic
from affectstream.core.errors import UserInputError

MEMBERS_FILE = "members.json"


def _read_json(path: Path):
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise UserInputError(f"{path}: missing; is {path.parent} a finished train-fer run?") from exc
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: not valid JSON ({exc})") from exc


def member_summary(run_dir: Path) -> dict:
    """What the model card says about one member: its training, from the run's own files."""
    history = _read_json(run_dir / "history.json")
    config = _read_json(run_dir / "config.json")
    if not history:
        raise UserInputError(f"{run_dir / 'history.json'}: no epochs recorded")
    best = max(history, key=lambda h: h["val_acc"])
    return {
        "run": str(run_dir),
        "seed": config.get("seed"),
        "lr": config.get("lr"),
        "init_from": config.get("init_from"),
        "budget_minutes": config.get("budget_minutes"),
        "epochs": len(history),
        "best_epoch": best["epoch"],
        "best_public_test_acc": best["val_acc"],
        "wall_seconds": history[-1]["seconds"],
        "images_per_s": [min(h["images_per_s"] for h in history), max(h["images_per_s"] for h in history)],
        "model": config["model"],
        "augment": config.get("augment"),
        "config": config,
    }


def combine_runs(run_dirs: list[Path], out_dir: Path) -> Path:
    """Write <out_dir>/best.safetensors and members.json for the ensemble of these runs' best weights."""
    from safetensors import safe_open
    from safetensors.torch import load_file
    from safetensors.torch import save as safetensors_bytes

    if len(run_dirs) < 2:
        raise UserInputError("an ensemble needs at least two runs")
    tensors, members = {}, []
    for i, run_dir in enumerate(map(Path, run_dirs)):
        weights = run_dir / "best.safetensors"
        if not weights.is_file():
            raise UserInputError(f"{weights}: not found (train that run first)")
        with safe_open(str(weights), framework="pt") as fh:
            meta = fh.metadata() or {}
        if "model" not in meta or "members" in meta:
            raise UserInputError(f"{weights}: not a single expr-cnn (ensembles are not nested)")
        tensors.update({f"members.{i}.{k}": v for k, v in load_file(str(weights)).items()})
        members.append({**member_summary(run_dir), "model": json.loads(meta["model"])})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    meta = {"members": json.dumps([m["model"] for m in members]), "sources": json.dumps([m["run"] for m in members])}
    with atomic_write(out_dir / "best.safetensors") as fh:
        fh.write(safetensors_bytes(tensors, metadata=meta))
    write_text_atomic(out_dir / MEMBERS_FILE, json.dumps(members, indent=2) + "\n")
    for stale in ("soup.json", "soup.png"):  # a soup written here before would describe other weights
        (out_dir / stale).unlink(missing_ok=True)
    for i, run_dir in enumerate(map(Path, run_dirs)):  # each member's training curves, shipped beside the card
        if (run_dir / "curves.png").is_file():
            with atomic_write(out_dir / member_curves_name(i)) as fh:
                fh.write((run_dir / "curves.png").read_bytes())
    return out_dir / "best.safetensors"


def member_curves_name(index: int) -> str:
    return f"curves_member{index + 1}.png"
