"""The model card's sentences and tables that depend on measured figures (affectstream.training.fer.card fills
card_template.md with them). Each says what a figure shows; none carries a figure or a history of its own."""

from __future__ import annotations

import json
from pathlib import Path

DEFAULT_WIDTHS = (32, 64, 128, 256)  # ExprNetConfig's, kept here so that the card needs no torch
# The metrics.json keys two assets must share for "the same network and graph" to hold.
SAME_NETWORK = ("params", "shipped_flip_tta")


def pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"  # None: metrics.json's null, nothing to count


def fixed(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def kept(soup: dict) -> list[dict]:
    return [i for i in soup.get("ingredients", []) if i["kept"]]


def intro(kind: str, runs) -> str:
    if kind == "ensemble":
        count = {2: "Two", 3: "Three", 4: "Four", 5: "Five"}.get(len(runs), str(len(runs)))
        return (f"{count} compact residual CNNs for 48x48 grey faces, trained independently by this project on "
                "FER2013 and run as one model (an ensemble): their class probabilities are averaged and their "
                "penultimate embeddings set side by side.")
    if kind == "soup":
        ingredients = kept(runs)
        distilled = [i["run"]["config"]["distill"]["teacher"] for i in ingredients if i["run"]["config"].get("distill")]
        teachers = ", ".join(f"`{t}`" for t in sorted(set(distilled)))
        return (f"A compact residual CNN for 48x48 grey faces whose weights are the mean of {len(ingredients)} "
                "networks' weights (a model soup). All were trained by this project on FER2013, each started from "
                "another's weights or from the same ones (see Training), so they lie close enough to be averaged"
                + (f"; {len(distilled)} of them also learnt the soft outputs of {teachers} (knowledge distillation)"
                   if distilled else "") + ". It costs one network per face.")
    if runs["config"].get("distill"):
        return ("A compact residual CNN for 48x48 grey faces, trained by this project on FER2013 to match both the "
                "labels and the soft outputs of a teacher network (knowledge distillation).")
    return "A compact residual CNN for 48x48 grey faces, trained by this project on FER2013."


def float_row(quant: dict | None) -> str:
    if not quant:
        return ""
    f = quant["float32"]
    return (f"| not shipped: the same graph in float32 (not quantized) | accuracy {pct(f['accuracy'])}, macro-F1 "
            f"{f['macro_f1']:.4f}, {f['ms_per_face_median']:.2f} ms/face | |\n")


def flip(shipped_flip: bool, accuracy: float, lat: dict, alt: dict, target_acc: float, target_ms: float) -> str:
    """Why the shipped graph does or does not add each face's mirror image (flip TTA)."""
    shipped_ms, alt_ms, met = lat["model_median"], alt["ms_per_face_median"], accuracy >= target_acc
    if shipped_flip:
        return (f"The shipped graph adds each face's mirror image (flip TTA): without it PrivateTest accuracy would be "
                f"{pct(alt['accuracy'])} ({100 * (alt['accuracy'] - accuracy):+.2f} points) at {alt_ms:.2f} ms per face "
                f"instead of {shipped_ms:.2f}. " + _why_flip(alt, met, target_acc)
                + (f"stays within the {target_ms:g} ms budget (median; p90 {lat['model_p90']:.2f} ms)."
                   if shipped_ms <= target_ms else
                   f"is over the {target_ms:g} ms budget in this measurement (median; p90 {lat['model_p90']:.2f} ms)."))
    said = (f"The shipped graph does not flip: flip TTA changes PrivateTest accuracy by "
            f"{100 * (alt['accuracy'] - accuracy):+.2f} points at {alt_ms / shipped_ms:.1f}x the cost per face "
            f"({alt_ms:.2f} ms here, {alt['ms_per_face_p90']:.2f} ms at p90). ")
    if alt_ms > target_ms:
        return said + f"That is over the {target_ms:g} ms per face budget, so flip TTA is left out."
    why = "the one-pass graph already meets the accuracy target" if met else "it would still miss the accuracy target"
    return said + (f"It would fit the {target_ms:g} ms budget but doubles the model's share of every live frame, and "
                   f"{why}, so it is left out.")


def _why_flip(alt: dict, met: bool, target_acc: float) -> str:
    """The first half of a sentence ending with what flip TTA costs."""
    if not met and alt["accuracy"] < target_acc:
        chosen_on = (f" (PublicTest, the selection split: {pct(alt['public_test_accuracy'])} without it)"
                     if "public_test_accuracy" in alt else "")
        return f"Neither graph reaches the accuracy target; flip TTA is kept for the accuracy it adds{chosen_on}, and its cost "
    if not met:
        return "Only the graph without it reaches the accuracy target; flip TTA was kept all the same, and its cost "
    if alt["accuracy"] < target_acc:
        return "Flip TTA is what takes this model to the accuracy target; its cost "
    return "Both meet the accuracy target; flip TTA buys the larger margin, and its cost "


def baseline(asset_dir: Path, compare_with: str, m: dict) -> str:
    """One sentence: this asset against the one its notes compare it with (that asset's measured figures)."""
    name, _, relation = compare_with.partition(",")
    path = asset_dir.parent / name.strip() / "metrics.json"
    if not name or not path.is_file():
        return ""
    base = json.loads(path.read_text())
    if any(base.get(key) != m.get(key) for key in SAME_NETWORK):
        return ""  # another network or graph: the comparison would not hold
    pairs = [("PrivateTest", m["private_test"]["accuracy"], base["private_test"]["accuracy"]),
             ("PublicTest", m["public_test"]["accuracy"], base["public_test"]["accuracy"]),
             ("run-time path", m["runtime_path"]["accuracy_runtime_path"], base["runtime_path"]["accuracy_runtime_path"])]
    figures = "; ".join(f"{what} {pct(ours)} against {pct(theirs)} ({100 * (ours - theirs):+.2f} points)"
                        for what, ours, theirs in pairs)
    return (f"Against `{name.strip()}` (its card's measured figures, {relation.strip()}): {figures}; "
            f"{m['latency_ms_per_face']['model_median']:.2f} against {base['latency_ms_per_face']['model_median']:.2f} ms "
            "per face, measured in separate runs.\n")


def peer_block(comparison: dict | None, asset: str) -> str:
    bench = f"affectstream bench fer --model affectstream/assets/{asset}/expr_cnn.onnx --out affectstream/assets/{asset}/comparison.json"
    if not comparison:
        return f"_Not measured yet: run `{bench}` then `affectstream train-fer card --export-dir affectstream/assets/{asset}`._"
    second = comparison.get("second_domain")
    return (comparison["table_markdown"] + (f"\n\n{second['table_markdown']}" if second else "")
            + f"\n\nMeasured by `{bench}` (one run, {comparison['threads']} threads, machine: {comparison['machine']}).")


def export_command(m: dict, asset: str) -> str:
    """The export that wrote this asset, from what its metrics.json records."""
    quant = m.get("quantization")
    n = len((quant or {}).get("float_nodes", []))
    options = (f"{' --flip-tta' if m.get('shipped_flip_tta') else ''}{' --int8' if quant else ''}"
               f"{f' --int8-keep-float {n}' if n else ''}")
    return f"affectstream train-fer export {m.get('run', 'RUN')}{options} --export-dir affectstream/assets/{asset}"


def architecture(configs: list[dict]) -> str:
    """The network's shape from its training config(s); members of an ensemble may differ in width."""
    shapes = [c.get("model", {}) for c in configs]
    widths = ["-".join(str(w) for w in s.get("widths", DEFAULT_WIDTHS)) for s in shapes]
    dropouts = [s.get("dropout", 0.3) for s in shapes]
    if len(set(widths)) == 1:
        width_text = f"widths {widths[0]}, max-pooling between stages, global average pooling to the embedding"
    else:
        width_text = ("widths " + ", ".join(f"{w} (member {i + 1})" for i, w in enumerate(widths))
                      + ", max-pooling between stages, global average pooling to each member's embedding")
    dropout_text = (f"{dropouts[0]:g}" if len(set(dropouts)) == 1
                    else ", ".join(f"{d:g} (member {i + 1})" for i, d in enumerate(dropouts)))
    return (f"3x3 stem (as wide as the first stage) and four residual stages of two 3x3 convolutions, {width_text}, "
            f"dropout {dropout_text}, linear classifier.")


def ensemble_note(members: list[dict] | None) -> str:
    if not members:
        return ""
    return (f" The ensemble (`ExprEnsemble`) holds {len(members)} of them; its probabilities are the mean of the members' "
            f"softmax outputs and its embedding is their {len(members)} embeddings concatenated.")


def quantization(quant: dict | None, accuracy: float) -> str:
    """How the shipped graph was quantized and what it costs in accuracy (nothing for a float graph)."""
    if not quant:
        return ""
    f, c = quant["float32"], quant["check_against_float32"]
    which = f"every {' and '.join(quant['ops'])}" + _float_nodes(quant)
    return (f"**Int8** (affectstream/training/fer/quantize.py, onnxruntime static quantization, QDQ): {which}; "
            f"weights {quant['weights']}, activations {quant['activations']}, their ranges set by {quant['method']} "
            f"calibration on {quant['calibration']}, never on `PublicTest` or `PrivateTest`. Against the float graph it came from, "
            f"on all {c['n']} PrivateTest faces: the same class for {pct(c['argmax_agreement'])} of them (the check "
            f"requires {pct(c['min_agreement'])}), mean |diff| of probabilities {c['mean_abs_diff_probs']:.4f}, max "
            f"{c['max_abs_diff_probs']:.3f}. Accuracy {pct(accuracy)} against {pct(f['accuracy'])} in float32 "
            f"({100 * (accuracy - f['accuracy']):+.2f} points), at {f['ms_per_face_median']:.2f} ms per face in float32. "
            "The speed-up needs a CPU with int8 dot-product instructions (AVX-512 VNNI or AVX-VNNI, as here). The 7-bit "
            "weight range is for CPUs without them, whose int8 kernels add pairs of products in 16 bits and could "
            "overflow with full-range weights; such a CPU was not available to measure.")


def _float_nodes(quant: dict) -> str:
    """Which nodes stayed float and how they were chosen (nothing when every node is int8)."""
    nodes, ranking = quant.get("float_nodes", []), quant.get("sensitivity")
    if not nodes:
        return ""
    names = ", ".join(f"`{n}`" for n in nodes)
    how = ((f"of the graph's {len(ranking['nodes'])} such nodes, {'the one' if len(nodes) == 1 else f'the {len(nodes)}'} "
            "whose int8 version, alone, strays most from the float graph, measured on "
            f"{ranking['faces']} Training faces outside the calibration sample") if ranking else "chosen by hand")
    return f" but {names}, left in float ({how})"


def optimiser(config: dict) -> str:
    return (f"SGD (Nesterov, momentum {config['momentum']}, weight decay {config['weight_decay']} on weights only), batch "
            f"{config['batch_size']}, warmup {100 * config['warmup_frac']:.0f}% then cosine to 0 over a progress fraction = "
            "max(steps done / steps planned, seconds spent / budget), so the schedule anneals within the wall-clock "
            f"budget; cross-entropy with label smoothing {config['label_smoothing']}; bfloat16 autocast, channels-last; "
            f"{config['threads']} threads, `OMP_WAIT_POLICY=PASSIVE`. In each run the epoch with the best `PublicTest` "
            "accuracy (flip TTA) is kept. Runs are resumable (`<run>/last.pt`, loads with `torch.load(weights_only=True)`): "
            "re-running a command continues it.")


def machine(m: dict, configs: list[dict]) -> str:
    gpus = sorted({c["trained_on"] for c in configs if str(c.get("trained_on", "cpu")).startswith("cuda")})
    if gpus:  # trained on a lent GPU; evaluated and timed here
        return (f"{', '.join(gpus)} for training; evaluation, export and the per-face timing on "
                f"{m['machine']['cpu_count']} CPU cores ({m['machine']['processor']}), torch {m['machine']['torch']}.")
    return (f"{m['machine']['cpu_count']} CPU cores ({m['machine']['processor']}; AMD EPYC Zen4, no GPU), torch "
            f"{m['machine']['torch']}, shared with other developers' jobs. On a GPU (`--device cuda`) the same commands use it.")


def soup_figures(soup: dict) -> str:
    ingredients = soup["ingredients"]
    rows = "\n".join(
        f"| {n + 1} | `{i['folder']}` | {_started_from(i)} | {_teacher_cell(r['config'].get('distill'))} | "
        f"{r['seed']} | {r['lr']} | {r['epochs']} | {r['best_epoch']} | {pct(i['public_test_accuracy'])} | "
        f"{pct(i['soup_public_test_accuracy'])} | {'yes' if i['kept'] else 'no'} | {r['wall_seconds'] / 60:.1f} |"
        for n, i in enumerate(ingredients) for r in [i["run"]])
    total = sum(i["run"]["wall_seconds"] for i in kept(soup)) / 60.0
    return f"""| tried | run | started from | teacher | seed | peak LR | epochs | kept epoch | its `PublicTest` accuracy | the soup's once tried | kept | minutes |
| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |
{rows}

How (affectstream/training/fer/soup.py): {soup['rule']}. The shipped weights are the uniform mean of the kept runs'
weights, BatchNorm statistics included: one network, so the cost per face is a single network's. A run from another
start usually lowers the soup's score and is then left out. `PublicTest` chose each run's epoch and which runs are
averaged; no run saw `PrivateTest`. Soup's `PublicTest` accuracy (flip TTA, torch): {pct(soup['public_test_accuracy'])}.
Plot: `soup.png` (each run alone and the soup once it was tried).
Training time of the kept runs: **{total:.1f} min** (the table's minutes; a warm start's earlier stages are not counted).
"""


def _started_from(ingredient: dict) -> str:
    if ingredient.get("weights") == "expr_cnn.safetensors":  # an asset folder, not a run folder
        return "an asset (see How it was made)"
    start = ingredient["run"]["init_from"]
    return f"`{start}`" if start else "random weights"


def _teacher_cell(d: dict | None) -> str:
    return f"`{d['teacher']}`" if d else "none (labels only)"


def ensemble_figures(members: list[dict]) -> str:
    rows = "\n".join(
        f"| {i + 1} | `{mem['run']}` | {'earlier weights (a warm restart)' if mem['init_from'] else 'random weights'} | "
        f"{mem['seed']} | {'-'.join(map(str, mem['model']['widths']))} | {mem['lr']} | {mem['epochs']} | "
        f"{mem['best_epoch']} | {pct(mem['best_public_test_acc'])} | {mem['wall_seconds'] / 60:.1f} | "
        f"{mem['images_per_s'][0]:.0f}-{mem['images_per_s'][1]:.0f} | {mem['config'].get('trained_on', 'cpu')} |"
        for i, mem in enumerate(members))
    total = sum(mem["wall_seconds"] for mem in members) / 60.0
    return f"""| member | run | started from | seed | widths | peak LR | epochs | kept epoch | its `PublicTest` accuracy | minutes | images/s | trained on |
| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
{rows}

Wall time of the runs in the table: **{total:.1f} min**. No member saw `PrivateTest`; `PublicTest` chose each
member's epoch, and the members were combined as they came (no weighting tuned on any split).
"""


def run_figures(run: dict, m: dict) -> str:
    history, config = run["history"], run["config"]
    best = max(history, key=lambda h: h["val_acc"])
    rates = f"{min(h['images_per_s'] for h in history):.0f}-{max(h['images_per_s'] for h in history):.0f}"
    d = config.get("distill")
    teacher = (f"Teacher: `{d['teacher']}`, its class probabilities averaged over each `Training` face and its mirror "
               f"image; loss {1 - d['weight']:.2f} x cross-entropy + {d['weight']:.2f} x T^2 x KL at T = "
               f"{d['temperature']}.\n" if d else "")
    return (f"{teacher}Peak learning rate {config['lr']}. The run kept epoch {best['epoch']} of {len(history)} "
            f"({pct(best['val_acc'])} on `PublicTest`). Wall time: **{m['training']['wall_seconds'] / 60.0:.1f} min** of "
            f"training and per-epoch evaluation (throughput per epoch {rates} images/s).\n")
