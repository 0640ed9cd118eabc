"""MODEL_CARD.md of an expr-cnn asset: card_template.md filled from the measured JSON files and the asset's notes.

Measured inputs in the asset folder: metrics.json (train-fer's finalize), history.json and config.json (a single
run), members.json (an ensemble) or soup.json (a soup), comparison.json (`affectstream bench fer`, optional).
Everything a person wrote (how it was made, data, earlier models, terms) is in its notes.md
(affectstream.training.fer.card_notes); no figure and no history is typed here.
"""

from __future__ import annotations

import json
from pathlib import Path
from string import Template

from affectstream.core.atomic import write_text_atomic
from affectstream.core.errors import UserInputError
from affectstream.core.features.expression_cnn import FER_CLASSES, FER_TEMPLATE_48, FER_TO_ABAW
from affectstream.core.labels import EXPRESSIONS
from affectstream.training.fer import card_text as text
from affectstream.training.fer.card_notes import NOTES_FILE, CardNotes, read_notes

TEMPLATE = Path(__file__).with_name("card_template.md")
NOT_WRITTEN = f"_Not written yet: add this section to the asset's {NOTES_FILE}._"


def write_card(asset_dir: Path) -> Path:
    path = Path(asset_dir) / "MODEL_CARD.md"
    write_text_atomic(path, render_card(asset_dir))
    return path


def render_card(asset_dir: Path) -> str:
    asset_dir = Path(asset_dir)
    asset = asset_dir.resolve().name
    m, kind, runs = _measured(asset_dir)
    notes = read_notes(asset_dir)
    comparison = _optional_json(asset_dir / "comparison.json")
    fills = {"asset": asset, **_headline(m, kind, runs, notes), **_body(m, kind, runs, asset_dir),
             **_notes_fills(notes, asset, m), **_training_fills(m, kind, runs),
             "baseline_text": text.baseline(asset_dir, notes.setting("compare with"), m),
             "peer_block": text.peer_block(comparison, asset)}
    return Template(TEMPLATE.read_text(encoding="utf-8")).substitute(fills)


def _measured(asset_dir: Path) -> tuple[dict, str, object]:
    """metrics.json, the kind of model ("soup", "ensemble" or "run") and what its training left."""
    try:
        m = json.loads((asset_dir / "metrics.json").read_text())
        if (asset_dir / "members.json").is_file():
            return m, "ensemble", json.loads((asset_dir / "members.json").read_text())
        if (asset_dir / "soup.json").is_file():
            return m, "soup", json.loads((asset_dir / "soup.json").read_text())
        run = {"history": json.loads((asset_dir / "history.json").read_text()),
               "config": json.loads((asset_dir / "config.json").read_text())}
        return m, "run", run
    except FileNotFoundError as exc:
        raise UserInputError(f"cannot write the model card: {exc.filename} is missing (export the run first)") from exc


def _optional_json(path: Path):
    return json.loads(path.read_text()) if path.is_file() else None


def _headline(m: dict, kind: str, runs, notes: CardNotes) -> dict:
    test, lat = m["private_test"], m["latency_ms_per_face"]
    flip = m.get("shipped_flip_tta", False)
    alt = m.get("alternative") or {**m["flip_tta_private_test"], "flip_tta": True}  # older metrics files
    target_acc = float(notes.setting("target accuracy", "72%").rstrip("%")) / 100
    target_ms = float(notes.setting("target ms per face", "5"))
    quant = m.get("quantization")
    n_members = len(runs) if kind == "ensemble" else 1
    passes = (f"{n_members * (2 if flip else 1)} passes: each member"
              f"{' on the face and its mirror image' if flip else ' once'}, as shipped" if kind == "ensemble" else
              "2 passes (the face and its mirror image), as shipped" if flip else "one pass as shipped")
    return {
        "test_n": test["n"], "accuracy": text.pct(test["accuracy"]), "macro_f1": f"{test['macro_f1']:.4f}",
        "target_accuracy": f"{100 * target_acc:g}%",
        "accuracy_met": "met" if test["accuracy"] >= target_acc else "NOT met",
        "threads": lat["threads"], "precision": m.get("precision", "float32"), "passes": passes,
        "ms_median": f"{lat['model_median']:.2f}", "ms_p90": f"{lat['model_p90']:.2f}", "target_ms": f"{target_ms:g}",
        "ms_met": "met" if lat["model_median"] <= target_ms else "NOT met",
        "crop_ms": f"{lat['fer_crop_median']:.2f}", "public_accuracy": text.pct(m["public_test"]["accuracy"]),
        "alt_what": f"{'without' if flip else 'with'} flip test-time augmentation ({'half' if flip else 'twice'} "
                    f"the passes{', also int8' if quant else ''})",
        "alt_accuracy": text.pct(alt["accuracy"]), "alt_macro_f1": f"{alt['macro_f1']:.4f}",
        "alt_ms": f"{alt['ms_per_face_median']:.2f}",
        "float_row": text.float_row(quant),
        "flip_text": text.flip(flip, test["accuracy"], lat, alt, target_acc, target_ms),
    }


def _body(m: dict, kind: str, runs, asset_dir: Path) -> dict:
    test, rt, check = m["private_test"], m["runtime_path"], m["onnx_check"]
    configs = _configs(kind, runs)
    a = configs[0]["augment"]
    quant, precision = m.get("quantization"), m.get("precision", "float32")
    return {
        "intro": text.intro(kind, runs), "embedding_dim": m.get("embedding_dim", 256),
        "mapping_rows": "\n".join(f"| {i} {c} | {FER_TO_ABAW[i]} {EXPRESSIONS[FER_TO_ABAW[i]]} |"
                                  for i, c in enumerate(FER_CLASSES)),
        "max_shift_px": a["max_shift_px"], "max_rotation_deg": a["max_rotation_deg"],
        "max_zoom_pct": f"{100 * a['max_zoom']:.0f}", "flip_p": a["flip_p"], "brightness": a["brightness"],
        "contrast_pct": f"{100 * a['contrast']:.0f}", "erase_p": a["erase_p"],
        "test_views": (", and the same view mirrored (flip TTA, the probabilities and embeddings of both averaged)"
                       if m.get("shipped_flip_tta") else ", one pass"),
        "template": ", ".join(f"({x:.2f}, {y:.2f})" for x, y in FER_TEMPLATE_48),
        "rt_sample": rt["sample"], "rt_found": rt["found"], "rt_detection": text.pct(rt["detection_rate"]),
        "rt_accuracy": text.pct(rt["accuracy_runtime_path"]), "rt_direct_same": text.pct(rt["accuracy_direct_same_faces"]),
        "rt_macro_f1": text.fixed(rt["macro_f1_runtime_path"], 4), "rt_agreement": text.pct(rt["agreement_runtime_vs_direct"]),
        "rt_direct_all": text.pct(rt["accuracy_direct_whole_sample"]),
        "architecture": text.architecture(configs),
        "ensemble_note": text.ensemble_note(runs if kind == "ensemble" else None), "params": f"{m['params']:,}",
        "onnx_mb": f"{(asset_dir / 'expr_cnn.onnx').stat().st_size / 1e6:.1f}",
        "safetensors_mb": f"{(asset_dir / 'expr_cnn.safetensors').stat().st_size / 1e6:.1f}",
        "checked_graph": "The float" if quant else "ONNX", "check_n": check["n"],
        "check_probs": f"{check['max_abs_diff_probs']:.2e}", "check_embedding": f"{check['max_abs_diff_embedding']:.2e}",
        "check_agreement": f"{check['argmax_agreement']:.0%}", "torch_accuracy": text.pct(m["torch_private_test_accuracy"]),
        "onnx_precision": f" ({precision})" if quant else "", "quantization": text.quantization(quant, test["accuracy"]),
        "recall_rows": "\n".join(
            f"| {c} | {EXPRESSIONS[FER_TO_ABAW[i]]} | {sum(test['confusion'][i])} | "
            f"{text.fixed(test['per_class_recall'][c], 3)} |" for i, c in enumerate(FER_CLASSES)),
    }


def _notes_fills(notes: CardNotes, asset: str, m: dict) -> dict:
    sections = {key: notes.section(key) or NOT_WRITTEN for key in ("data", "limitations", "terms")}
    earlier = notes.section("earlier_models")
    # Without notes the commands are those this asset's export can vouch for: its own run folder.
    commands = notes.section("commands") or text.export_command(m, asset)
    return {**sections, "about": (notes.section("about") + "\n") if notes.section("about") else "",
            "commands": commands, "how_it_was_made": notes.section("how_it_was_made") or NOT_WRITTEN,
            "earlier_models": f"\n## Earlier models\n\n{earlier}\n" if earlier else ""}


def _training_fills(m: dict, kind: str, runs) -> dict:
    configs = _configs(kind, runs)
    if kind == "soup":
        figures, plots = text.soup_figures(runs), "Confusion matrix: `confusion_privatetest.png`."
        kept = text.kept(runs)
        optimiser = (f"{text.optimiser(kept[0]['run']['config'])} (That is run {runs['ingredients'].index(kept[0]) + 1}'s "
                     "optimiser; the table gives\neach run's peak learning rate and epochs, and each command its options.)")
    elif kind == "ensemble":
        figures, optimiser = text.ensemble_figures(runs), text.optimiser(configs[0])
        plots = (f"Training curves of each member's run: {', '.join(f'`curves_member{i + 1}.png`' for i in range(len(runs)))}."
                 "\nConfusion matrix: `confusion_privatetest.png`.")
    else:
        figures, optimiser = text.run_figures(runs, m), text.optimiser(configs[0])
        plots = "Curves: `curves.png`. Confusion matrix: `confusion_privatetest.png`."
    kinds = {"soup": ": a greedy soup of runs from one start", "ensemble": ": an ensemble of runs", "run": ""}
    return {"training_kind": kinds[kind], "training_figures": figures, "optimiser": optimiser,
            "machine": text.machine(m, configs), "plots": plots}


def _configs(kind: str, runs) -> list[dict]:
    """The training configs behind the shipped weights: an ensemble's members, a soup's kept runs, or the one run."""
    if kind == "ensemble":
        return [member["config"] for member in runs]
    if kind == "soup":
        return [i["run"]["config"] for i in text.kept(runs)]
    return [runs["config"]]
