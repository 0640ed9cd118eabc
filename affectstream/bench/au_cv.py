"""`affectstream bench au-cv`: the cross-validated AU protocol (training.au_cv) over every CK+ subject.

Subject-grouped K-fold cross-validation repeated with several fold seeds, for a
model's linear AU readout (the recipe: calibration and thresholds fitted inside
each training fold) and for the yardstick (a per-AU logistic regression on the
frame's own features) on the same folds; per-AU F1 and the mean over the 12 AUs
as mean ± sd over the repeats, capped and uncapped, and each calibration's
expected calibration error. Writes JSON and a PNG (per-AU F1 and the reliability
diagram of the chosen calibration).

The model's encoder must not have learned from CK+'s AU labels: its AU figure
would then be scored on subjects it was trained on. A model whose provenance
names ckplus-au among its training sets is refused.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.core.errors import UserInputError
from affectstream.core.labels import ACTION_UNITS

BENCH = "au-cv"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a trained basic-framework model whose encoder never saw CK+ AU labels "
                                      "(the recipe's first stage)")
    parser.add_argument("--data", required=True, help="an import-stills output with the expression-labelled sets' "
                                                      "validation split (the Neutral frames of the cap)")
    parser.add_argument("--shared", default="../shared/data", help="folder holding ckplus-au (default %(default)s)")
    parser.add_argument("--cache", help="still features cache (default <data>/stills-cache)")
    parser.add_argument("--folds", type=int, default=5, help="folds per repeat (default %(default)s)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3], help="one repeat per fold seed")
    parser.add_argument("--c", type=float, default=0.01, help="the readout's inverse L2 strength (default %(default)s)")
    parser.add_argument("--neutral-cap", type=float, default=0.2,
                        help="capped thresholds switch each AU on in at most this share of each set's Neutral "
                             "validation frames (default %(default)s); both capped and uncapped are reported")
    parser.add_argument("--neutral-sets", nargs="+", metavar="SET",
                        help="the sets whose Neutral validation frames the cap uses (default: every one)")
    parser.add_argument("--threshold-rule", choices=("balanced", "tuned"), default="balanced",
                        help="the recipe's thresholds: where its class-balanced regression is undecided, on the "
                             "calibrated scale (default), or the F1-best on the inner out-of-fold predictions")
    parser.add_argument("--frame-only", action="store_true",
                        help="ablation: the readout reads the frame's features only, not the encoder's output")
    parser.add_argument("--out", type=Path, required=True, help="result JSON; the plot is written beside it (.png)")


def run(args: argparse.Namespace) -> int:
    from affectstream.bench.outputs import json_and_plot_paths, publish
    from affectstream.core.temporal.checkpoint import load_checkpoint
    from affectstream.training.au_cv import ProtocolOptions, run_protocol
    from affectstream.training.au_frames import read_readout_data
    from affectstream.training.au_readout import ReadoutOptions

    png = json_and_plot_paths(args.out, BENCH)
    loaded = load_checkpoint(args.model)
    refuse_au_trained(args.model, loaded.meta.provenance)
    cache = Path(args.cache) if args.cache else Path(args.data) / "stills-cache"
    data = read_readout_data(loaded, Path(args.shared), cache, Path(args.data))
    options = ProtocolOptions(folds=args.folds, seeds=tuple(args.seeds), inner_folds=args.folds,
                              neutral_cap=args.neutral_cap, readout=ReadoutOptions(c=args.c),
                              frame_only=args.frame_only, threshold_rule=args.threshold_rule,
                              neutral_sets=tuple(args.neutral_sets) if args.neutral_sets else None)
    result = run_protocol(data, options, log=lambda line: print(line, file=sys.stderr))
    result = {"bench": BENCH, "model": str(args.model), **result}
    publish(result, format_table(result), args.out, png, plot)
    return 0


def refuse_au_trained(path: str, provenance: dict[str, Any]) -> None:
    """A model trained on CK+'s AU labels (or already given a readout fitted on them) would be scored on its own
    training subjects."""
    data = provenance.get("data") if isinstance(provenance.get("data"), dict) else {}
    sets = [s.get("name") for s in data.get("sets", []) if isinstance(s, dict)]
    if "ckplus-au" in sets or "au_readout" in provenance:
        raise UserInputError(f"{path}: learned from CK+'s AU labels (its provenance says so), so its cross-validated "
                             "AU figure would score subjects it was trained on; give the recipe's first stage, "
                             "trained without ckplus-au")


def _cell(figure: dict[str, float]) -> str:
    return f"{figure['mean']:.3f} ± {figure['sd']:.3f}"


def format_table(result: dict[str, Any]) -> str:
    """Markdown: per AU and the mean, recipe (chosen calibration) and yardstick, capped and uncapped; ECE."""
    chosen = result["calibration_chosen"]
    recipe, stick = result["recipe"][chosen], result["yardstick"]
    protocol = result["protocol"]
    lines = [f"{protocol['fits']} fits: {len(protocol['seeds'])} repeats x {protocol['folds']} subject-grouped folds; "
             f"recipe calibration {chosen} (best capped F1 among those with mean ECE <= 0.05); mean ± sd over the repeats",
             "", "| AU | recipe capped | yardstick capped | recipe uncapped | yardstick uncapped | recipe ECE | "
             "recipe threshold (median) |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for au in ACTION_UNITS:
        lines.append(f"| {au} | {_cell(recipe['capped']['au_f1'][au])} | {_cell(stick['capped']['au_f1'][au])} | "
                     f"{_cell(recipe['uncapped']['au_f1'][au])} | {_cell(stick['uncapped']['au_f1'][au])} | "
                     f"{_cell(recipe['ece'][au])} | {recipe['capped']['thresholds_median'][au]:.2f} |")
    lines.append(f"| **mean** | **{_cell(recipe['capped']['au_f1_mean'])}** | {_cell(stick['capped']['au_f1_mean'])} | "
                 f"{_cell(recipe['uncapped']['au_f1_mean'])} | {_cell(stick['uncapped']['au_f1_mean'])} | "
                 f"{_cell(recipe['ece_mean'])} | |")
    lines += ["", "| calibration | mean ECE | mean AU F1 capped |", "| --- | --- | --- |"]
    for method, figures in result["recipe"].items():
        lines.append(f"| {method} | {_cell(figures['ece_mean'])} | {_cell(figures['capped']['au_f1_mean'])} |")
    lines.append(f"| yardstick (uncalibrated) | {_cell(stick['ece_mean'])} | {_cell(stick['capped']['au_f1_mean'])} |")
    return "\n".join(lines)


def plot(result: dict[str, Any], path: Path) -> None:
    """Per-AU F1 (recipe and yardstick, capped) and the pooled reliability diagram of the chosen calibration."""
    from matplotlib.figure import Figure

    from affectstream.bench.outputs import png_metadata
    from affectstream.core.atomic import atomic_write

    chosen = result["calibration_chosen"]
    fig = Figure(figsize=(13, 4.2))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2, 1]})
    x = np.arange(len(ACTION_UNITS))
    for k, (name, figures) in enumerate((("recipe", result["recipe"][chosen]), ("yardstick", result["yardstick"]))):
        means = [figures["capped"]["au_f1"][au]["mean"] for au in ACTION_UNITS]
        sds = [figures["capped"]["au_f1"][au]["sd"] for au in ACTION_UNITS]
        left.bar(x + 0.4 * k, means, 0.4, yerr=np.nan_to_num(sds), capsize=2, label=name)
    left.set_xticks(x + 0.2, ACTION_UNITS, fontsize=8)
    left.set_ylim(0, 1)
    left.set_title("CK+ cross-validated F1 per AU (capped; mean ± sd over repeats)")
    left.legend(fontsize=8)
    table = result["reliability"]
    bins = len(table["frames"])
    centres = (np.arange(bins) + 0.5) / bins
    right.plot([0, 1], [0, 1], color="grey", linewidth=1, label="perfectly calibrated")
    shown = [i for i in range(bins) if table["frames"][i]]
    right.plot([table["mean_probability"][i] for i in shown], [table["share_on"][i] for i in shown], marker="o",
               label=f"recipe ({chosen})")
    right.bar(centres, np.asarray(table["frames"]) / max(sum(table["frames"]), 1), 1 / bins, alpha=0.25,
              color="tab:blue", label="share of frames")
    right.set_xlim(0, 1)
    right.set_ylim(0, 1)
    right.set_xlabel("predicted probability (all 12 AUs, out of fold)")
    right.set_ylabel("share of frames with the AU on")
    right.set_title("reliability")
    right.legend(fontsize=8)
    fig.tight_layout()
    with atomic_write(path) as handle:
        fig.savefig(handle, format="png", dpi=100, metadata=png_metadata(BENCH))
