"""`affectstream bench labels`: models side by side on the real labels of each imported set's test split.

For every model, on the same frames (``by_set/<set>_test.txt`` written by
`affectstream import-stills` or `import-afew-va`): per-AU F1 and mean AU F1 where the set has AU
labels (CK+ test subjects), CCC of valence and arousal where it has VA
(DiffusionFER test, AFEW-VA test persons), expression accuracy and macro-F1 over the labelled classes
where it has expressions (FER2013 PrivateTest, DiffusionFER test), and there, how
often each AU is on for faces that raters labelled Neutral (CK+ holds no neutral
face, so its F1 cannot show an AU that fires at rest). Each model
runs with its own tuned thresholds and its own offline smoothing, as `annotate`
would. Beside the models' AU figures, a frame-level logistic regression fitted on
the set's own train split (affectstream.bench.au_reference) gives the yardstick
on the same frames. Prints a table, writes JSON and a PNG.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.bench.outputs import png_metadata
from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS, expr_neutral

TASKS = ("action units", "valence/arousal", "expression")  # the real-label tasks a set is scored on


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, required=True,
                        help="an `affectstream import-stills` or `import-afew-va` output folder")
    parser.add_argument("--models", nargs="+", metavar="CKPT",
                        help="checkpoints to compare (default: the default model alone, beside the yardstick; the "
                             "figures of the models it replaced are in its model card)")
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--out", type=Path, default=Path("bench-results/labels.json"))
    parser.add_argument("--no-progress", action="store_true")


def score_set(ensemble, store, labels: dict, tasks: list[str]) -> dict[str, Any]:
    """One model on one set's labelled frames: the scores of the tasks the set has real labels for."""
    from affectstream.training.metrics import labelled_class_scores
    from affectstream.training.evaluation import evaluate_predictions, label_rows, predict_videos

    wanted = {video: lab.frames for video, lab in labels.items()}
    predictions = predict_videos(ensemble, store, wanted, smooth=True)
    metrics = evaluate_predictions(predictions, labels, ensemble.au_thresholds)
    scores: dict[str, Any] = {"frames": metrics.counts}
    if "action units" in tasks:
        scores["au_f1"] = dict(zip(ACTION_UNITS, map(float, metrics.au_f1_per_au)))
        scores["au_f1_mean"] = float(metrics.au_f1_mean)
    if "valence/arousal" in tasks:
        # Unsmoothed predictions only where they are scored: a second pass of the model over every video.
        raw = predict_videos(ensemble, store, wanted, smooth=False)
        raw_metrics = evaluate_predictions(raw, labels, ensemble.au_thresholds)
        scores |= {"ccc_valence": float(metrics.ccc_valence), "ccc_arousal": float(metrics.ccc_arousal),
                   "ccc_mean": float((metrics.ccc_valence + metrics.ccc_arousal) / 2),
                   "ccc_mean_raw": float((raw_metrics.ccc_valence + raw_metrics.ccc_arousal) / 2),
                   "offline_window": int(ensemble.offline_window)}
    if "expression" in tasks:
        expr = labelled_class_scores(metrics.confusion)
        scores |= {"expr_accuracy": expr["accuracy"], "expr_macro_f1": expr["macro_f1_labelled_classes"],
                   "expr_recall": expr["recall"]}
        expr_true = np.concatenate([label_rows(labels[p.video], p.frames).expr for p in predictions])
        au_probs = np.concatenate([p.preds.au_probs for p in predictions])
        scores |= neutral_au_firing(au_probs, expr_true, ensemble.au_thresholds)
    return scores


def neutral_au_firing(au_probs: np.ndarray, expr_true: np.ndarray, thresholds: np.ndarray) -> dict[str, Any]:
    """How often each AU is on (prob >= its threshold) on the frames labelled Neutral, and the mean over the 12."""
    from affectstream.training.metrics import au_firing_rate, json_float

    neutral = expr_neutral(expr_true).ravel()
    rates = au_firing_rate(au_probs[neutral], thresholds)
    return {"neutral_frames": int(neutral.sum()),
            "au_on_neutral": {au: json_float(v) for au, v in zip(ACTION_UNITS, rates)},
            "au_on_neutral_mean": json_float(float(np.mean(rates))) if not np.isnan(rates).all() else None}


def compare(data: Path, models: list[Path], split: str = "test", progress: bool = True) -> dict[str, Any]:
    from affectstream.core.features.store import FeatureStore
    from affectstream.training.annotations import read_annotations
    from affectstream.training.stills import import_store, read_import_summary, set_file, set_import
    from affectstream.training.evaluation import load_models

    summary = read_import_summary(data)
    sets = summary_sets(data, summary)  # a malformed summary is refused here, before any model loads
    store = FeatureStore(import_store(data, summary))
    ensembles = [load_models([m]) for m in models]
    result: dict[str, Any] = {"bench": "labels", "data": str(data), "split": split, "models": [], "sets": {},
                              "not_scored": {}}  # set -> why it has no scores (said, not silently left out)
    for ensemble, path in zip(ensembles, models):
        member = ensemble.members[0]
        result["models"].append({"name": ensemble.name, "path": str(path),
                                 "labels": member.meta.provenance.get("labels", "")})
    for info in sets:
        path = set_file(data, info, split)
        tasks = list(info["real_labels"])
        if not tasks or not path.is_file():
            result["not_scored"][info["name"]] = "no real labels" if not tasks else f"no {path}"
            continue
        labels = read_annotations(path)
        if progress:
            print(f"scoring {len(models)} model(s) on {info['name']} {split} ({sum(map(len, labels.values()))} frames)")
        result["sets"][info["name"]] = {"tasks": tasks, "annotations": str(path),
                                        "scores": [score_set(e, store, labels, tasks) for e in ensembles]}
        if "action units" in tasks and split == "test":
            # The yardstick's train and val files are in the set's own import, beside its test file.
            reference = au_reference(set_import(data, info), info["name"], store, labels,
                                     ensembles[0].members[0].meta.feature_names)
            if reference is not None:
                result["sets"][info["name"]]["reference"] = reference.to_json()
    return result


def summary_sets(data: Path, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The sets of an import's summary.json, each checked for what bench labels reads of it: a name, its
    real-labelled tasks, the import folder it came from; UserInputError naming the file and key otherwise."""
    from affectstream.training.stills import SUMMARY_FILE

    where = Path(data) / SUMMARY_FILE
    features = summary.get("features")
    if features is not None and not isinstance(features, str):
        raise UserInputError(f"{where}: 'features' is {json.dumps(features)}, not a folder path")
    sets = summary.get("sets")
    if not isinstance(sets, list):
        said = "missing" if "sets" not in summary else f"{json.dumps(sets)}, not a list"
        raise UserInputError(f"{where}: 'sets' is {said}; not an import-stills or import-afew-va summary")
    for k, info in enumerate(sets):
        key = f"sets[{k}]"
        if not isinstance(info, dict):
            raise UserInputError(f"{where}: '{key}' is not an object")
        if not isinstance(info.get("name"), str) or not info["name"].strip():
            raise UserInputError(f"{where}: '{key}.name' is missing or not text")
        tasks = info.get("real_labels")
        if not isinstance(tasks, list) or not all(isinstance(t, str) and t in TASKS for t in tasks):
            raise UserInputError(f"{where}: '{key}.real_labels' ({info['name']}) is missing or not a list of "
                                 f"{', '.join(TASKS)}")
        if info.get("import") is not None and not isinstance(info["import"], str):
            raise UserInputError(f"{where}: '{key}.import' ({info['name']}) is not a folder path")
    return sets


def au_reference(data: Path, set_name: str, store, test_labels: dict, backbones):
    """The frame-level logistic regression of affectstream.bench.au_reference on this set's own train and
    val splits; on an import with ``--cv-folds``, its thresholds from the folds instead; None when neither
    is there."""
    from affectstream.bench.au_reference import fit_and_score, fit_and_score_folds
    from affectstream.training.annotations import read_annotations
    from affectstream.training.stills import FOLDS_DIR, by_set_file

    def split_files(folder: Path) -> list[Path]:
        return [by_set_file(folder, set_name, split) for split in ("train", "val")]

    paths = split_files(data)
    if all(p.is_file() for p in paths):
        train, val = (read_annotations(p) for p in paths)
        return fit_and_score(store, list(backbones), train, val, test_labels)
    folds = [d for d in (data / FOLDS_DIR).glob("*") if d.is_dir() and d.name.isascii() and d.name.isdigit()]
    fold_paths = [split_files(d) for d in sorted(folds, key=lambda d: int(d.name))]
    if not (paths[0].is_file() and fold_paths and all(p.is_file() for pair in fold_paths for p in pair)):
        return None
    parts = [tuple(read_annotations(p) for p in pair) for pair in fold_paths]
    return fit_and_score_folds(store, list(backbones), parts, read_annotations(paths[0]), test_labels)


def format_table(result: dict[str, Any]) -> str:
    names = [m["name"] for m in result["models"]]
    with_reference = any("reference" in entry for entry in result["sets"].values())
    rows: list[tuple[str, list[str]]] = []

    def line(label: str, values: list, reference_value: float | None = None) -> None:
        # The frame-level reference has AU figures only; its column is empty elsewhere.
        rows.append((label, [_cell(v) for v in values] + ([_cell(reference_value)] if with_reference else [])))

    for set_name, entry in result["sets"].items():
        scores, reference = entry["scores"], entry.get("reference")
        if "au_f1_mean" in scores[0]:
            line(f"{set_name}: mean AU F1 (12 AUs)", [s["au_f1_mean"] for s in scores],
                 reference and reference["au_f1_mean"])
            for au in ACTION_UNITS:
                line(f"{set_name}: {au} F1", [s["au_f1"][au] for s in scores], reference and reference["au_f1"][au])
        if "ccc_mean" in scores[0]:
            line(f"{set_name}: CCC valence", [s["ccc_valence"] for s in scores])
            line(f"{set_name}: CCC arousal", [s["ccc_arousal"] for s in scores])
            line(f"{set_name}: mean CCC", [s["ccc_mean"] for s in scores])
        if "expr_accuracy" in scores[0]:
            line(f"{set_name}: expression accuracy", [s["expr_accuracy"] for s in scores])
            line(f"{set_name}: expression macro-F1", [s["expr_macro_f1"] for s in scores])
        if scores[0].get("au_on_neutral_mean") is not None:
            line(f"{set_name}: faces labelled Neutral, AUs on (mean of 12)", [s["au_on_neutral_mean"] for s in scores])
            line(f"{set_name}: faces labelled Neutral, the AU most often on", [_most_often(s) for s in scores])
    names = names + (["frame-level logistic regression (reference)"] if with_reference else [])
    header = f"| {result['split']} split | " + " | ".join(names) + " |"
    lines = [header, "| --- |" + " --- |" * len(names)]
    lines += [f"| {label} | " + " | ".join(values) + " |" for label, values in rows]
    return "\n".join(lines)


def _cell(value: float | str | None) -> str:
    """A table cell: a figure to 3 places, text as it is, a dash for none."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else f"{value:.3f}"


def _most_often(scores: dict[str, Any]) -> str:
    au = max(ACTION_UNITS, key=lambda a: scores["au_on_neutral"][a] or 0.0)
    return f"{au} {scores['au_on_neutral'][au]:.2f}"


def plot(result: dict[str, Any], path: Path) -> None:
    """Per-AU F1 bars and the headline figure of every set, one colour per model."""
    from matplotlib.figure import Figure  # no pyplot: no process-wide backend or figure registry

    from affectstream.core.atomic import atomic_write

    names = [m["name"] for m in result["models"]]
    au_sets = [(n, e) for n, e in result["sets"].items() if "au_f1_mean" in e["scores"][0]]
    headline = []
    for set_name, entry in result["sets"].items():
        for key, label in (("au_f1_mean", "mean AU F1"), ("ccc_mean", "mean CCC"), ("expr_accuracy", "expr. acc.")):
            if key in entry["scores"][0]:
                headline.append((f"{set_name}\n{label}", [s[key] for s in entry["scores"]]))
    neutral_sets = [(n, e) for n, e in result["sets"].items() if e["scores"][0].get("au_on_neutral_mean") is not None]
    fig = Figure(figsize=(5 + 7 * (len(au_sets) + len(neutral_sets)), 4.2))
    axes = fig.subplots(1, 1 + len(au_sets) + len(neutral_sets), squeeze=False)
    width = 0.8 / len(names)
    ticks = np.arange(len(ACTION_UNITS)) + width * (len(names) - 1) / 2

    def per_au_bars(ax, entry, key: str, title: str) -> None:
        for k, scores in enumerate(entry["scores"]):
            ax.bar(np.arange(len(ACTION_UNITS)) + k * width, [scores[key][a] or 0 for a in ACTION_UNITS], width,
                   label=names[k])
        ax.set_xticks(ticks, ACTION_UNITS, fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_title(title)

    for column, (set_name, entry) in enumerate(au_sets, start=1):
        ax = axes[0, column]
        per_au_bars(ax, entry, "au_f1", f"{set_name} {result['split']}: F1 per AU")
        if "reference" in entry:  # a tick per AU, not a bar: the yardstick, not a contender
            ax.scatter(ticks, [entry["reference"]["au_f1"][a] for a in ACTION_UNITS], marker="_", s=300,
                       color="black", label="frame-level logistic regression (reference)", zorder=3)
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=len(names) + 1,
                      frameon=False)
    for column, (set_name, entry) in enumerate(neutral_sets, start=1 + len(au_sets)):
        per_au_bars(axes[0, column], entry, "au_on_neutral",
                    f"{set_name} {result['split']}: AU on, Neutral faces (lower: better)")
    ax = axes[0, 0]
    for k in range(len(names)):
        ax.bar(np.arange(len(headline)) + k * width, [v[k] or 0 for _, v in headline], width, label=names[k])
    ax.set_xticks(np.arange(len(headline)) + width * (len(names) - 1) / 2, [h for h, _ in headline], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(f"real labels, {result['split']} splits")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=len(names), frameon=False)
    fig.tight_layout()
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=100, metadata=png_metadata("labels"))  # marks it as ours


def run(args: argparse.Namespace) -> int:
    from affectstream.core.default_model import default_model_path

    models = list(args.models or [default_model_path()])
    from affectstream.bench.outputs import json_and_plot_paths, publish
    from affectstream.core.atomic import Output, check_inputs_kept, written_file

    png = args.out.with_suffix(".png")
    if png != args.out:  # else json_and_plot_paths says why
        check_inputs_kept({"--data": args.data, "--models": models},
                          [written_file("--out", args.out), Output("--out", args.out, png)])
    png = json_and_plot_paths(args.out, "labels")
    result = compare(args.data, models, args.split, progress=not args.no_progress)
    if not result["sets"]:
        reasons = "; ".join(f"{name}: {why}" for name, why in result["not_scored"].items()) or "it lists no sets"
        print(f"scored nothing: no set of {args.data} has real labels and a {args.split} split file ({reasons}); "
              f"{args.out} not written", file=sys.stderr)
        return 1
    publish(result, format_table(result), args.out, png, plot)
    return 0
