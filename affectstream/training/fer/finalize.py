"""After training: PrivateTest metrics, ONNX export and check, run-time-path accuracy, latency, shipping.

Everything reported is measured here on the exported ONNX model (what ships),
with the torch figures alongside as a check.
"""

from __future__ import annotations

import json
import math
import os
import platform
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from affectstream.core.atomic import atomic_write, write_text_atomic
from affectstream.core.features.expression_cnn import ExpressionCNN
from affectstream.core.errors import UserInputError
from affectstream.training.fer.data import FerSplit
from affectstream.training.fer.evaluate import fer_metrics, predict_probs
from affectstream.training.fer.export import ExportCheck, check_onnx, export_onnx
from affectstream.training.fer.model import member_count
from affectstream.training.fer.quantize import QuantCheck, QuantOptions, check_int8, quantize_int8, sensitive_nodes
from affectstream.training.fer.report import plot_confusion
from affectstream.training.fer.timing import time_per_face

RUNTIME_PATH_SAMPLE = 1000  # PrivateTest faces sent through the landmarker path
SHIPPED = ("expr_cnn.onnx", "expr_cnn.safetensors", "metrics.json", "confusion_privatetest.png", "curves.png",
           "history.json", "config.json", "members.json", "soup.json", "soup.png")


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinite figure (a class without faces, no face found) as None: JSON has no NaN,
    and a reader of ``NaN`` fails (as affectstream.training.metrics.json_float does for one figure)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def finalize(out_dir: Path, val: FerSplit, test: FerSplit, export_dir: Path | None = None, threads: int = 2,
             runtime_sample: int = RUNTIME_PATH_SAMPLE, flip_tta: bool = False,
             int8_calibration: FerSplit | None = None, int8_keep_float: int = 0) -> dict:
    """``flip_tta``: ship the graph that also runs each face's mirror image; the other graph is measured beside it.

    ``int8_calibration`` (the Training split): ship int8 graphs quantized with ranges from its
    faces; the float graph they came from is measured beside the shipped one. ``int8_keep_float``:
    leave that many of its most quantization-sensitive nodes in float (ranked on Training faces).
    """
    import torch

    from affectstream.training.fer.loop import load_weights

    out_dir = Path(out_dir)
    weights = out_dir / "best.safetensors"
    if not weights.is_file():
        raise UserInputError(f"{weights} not found: train first (affectstream train-fer train --out {out_dir})")
    torch.set_num_threads(threads)
    net = load_weights(weights)
    history = json.loads((out_dir / "history.json").read_text()) if (out_dir / "history.json").is_file() else []

    test_images, test_labels = test.images.numpy(), test.labels.numpy()
    torch_test = fer_metrics(test_labels, predict_probs(net, test.images, flip_tta=flip_tta).argmax(1))
    torch_val = fer_metrics(val.labels.numpy(), predict_probs(net, val.images, flip_tta=flip_tta).argmax(1))

    calibration = None if int8_calibration is None else int8_calibration.images.numpy()
    onnx_path = out_dir / "expr_cnn.onnx"
    float_graph = onnx_path if calibration is None else float_path(onnx_path)
    check = export_float_checked(net, float_graph, flip_tta, test_images)
    quant_options, ranking, quant_check = QuantOptions(), None, None
    if calibration is not None:
        if int8_keep_float > 0:  # ranked on the float graph just checked equal to torch
            ranking = sensitive_nodes(float_graph, calibration, quant_options)
            quant_options = replace(quant_options, float_nodes=ranking.float_nodes(int8_keep_float))
            if len(quant_options.float_nodes) < int8_keep_float:
                print(f"--int8-keep-float {int8_keep_float}: only {len(quant_options.float_nodes)} node(s) come "
                      "closer to the float graph when kept float; the others stay int8")
        quant_check = quantize_checked(float_graph, onnx_path, test_images, calibration, quant_options)
    # The other graph is exported only to measure what it would give and cost.
    alt_path, _, _ = export_checked(net, out_dir / "expr_cnn_alternative.onnx", not flip_tta, test_images[:512],
                                   calibration, quant_options)
    session = ExpressionCNN(onnx_path, threads=threads)
    alt_session = ExpressionCNN(alt_path, threads=threads)
    test_m = fer_metrics(test_labels, session.probs_fer(test_images).argmax(1))
    val_m = fer_metrics(val.labels.numpy(), session.probs_fer(val.images.numpy()).argmax(1))
    alt_m = fer_metrics(test_labels, alt_session.probs_fer(test_images).argmax(1))
    alt_val = fer_metrics(val.labels.numpy(), alt_session.probs_fer(val.images.numpy()).argmax(1))
    print(f"PrivateTest (onnx, {session.precision}): accuracy {test_m.accuracy:.4f}, macro-F1 {test_m.macro_f1:.4f}; "
          f"PublicTest {val_m.accuracy:.4f}; torch PrivateTest {torch_test.accuracy:.4f} "
          f"({'without' if flip_tta else 'with'} flip TTA {alt_m.accuracy:.4f})")
    if history:  # redrawn here so the shipped plot has the final layout
        from affectstream.training.fer.report import plot_curves
        from affectstream.training.fer.loop import EpochRecord

        plot_curves([EpochRecord(**h) for h in history], out_dir / "curves.png")
    plot_confusion(test_m.confusion, out_dir / "confusion_privatetest.png",
                   f"expr-cnn, FER2013 PrivateTest (n={test_m.n}), accuracy {test_m.accuracy:.3f}")

    runtime = runtime_path_figures(session, test, out_dir, runtime_sample)
    latency = time_per_face(lambda f: session.predict(f), test_images, calls=500)
    alt_latency = time_per_face(lambda f: alt_session.predict(f), test_images, calls=300)
    crop_latency = _crop_latency(test_images)
    print(f"run-time path on {runtime['sample']} PrivateTest faces: found {runtime['detection_rate']:.3f}, "
          f"accuracy {runtime['accuracy_runtime_path']:.4f} (same faces as distributed: {runtime['accuracy_direct_same_faces']:.4f})")
    print(f"latency: model {latency.median_ms:.2f} ms/face (median, p90 {latency.p90_ms:.2f}), FER crop {crop_latency:.2f} ms")

    metrics = {
        "run": str(out_dir),  # the card's commands name it
        "private_test": test_m.to_json(),
        "public_test": val_m.to_json(),
        "torch_private_test_accuracy": torch_test.accuracy,
        "shipped_flip_tta": flip_tta,
        "alternative": {"flip_tta": not flip_tta, "accuracy": alt_m.accuracy, "macro_f1": alt_m.macro_f1,
                        "public_test_accuracy": alt_val.accuracy,
                        "ms_per_face_median": alt_latency.median_ms, "ms_per_face_p90": alt_latency.p90_ms},
        "precision": session.precision,
        "torch_public_test_accuracy": torch_val.accuracy,
        "onnx_check": {k: getattr(check, k) for k in ("n", "max_abs_diff_probs", "max_abs_diff_embedding",
                                                      "argmax_agreement", "tolerance")},
        "runtime_path": runtime,
        "latency_ms_per_face": {"model_median": latency.median_ms, "model_p90": latency.p90_ms,
                                "fer_crop_median": crop_latency, "threads": threads, "calls": latency.calls},
        "training": {
            "epochs": len(history),
            "best_epoch": int(max(history, key=lambda h: h["val_acc"])["epoch"]) if history else None,
            "wall_seconds": history[-1]["seconds"] if history else None,
        },
        "params": int(sum(p.numel() for p in net.parameters())),
        "embedding_dim": session.embedding_dim,
        "members": member_count(net),
        "machine": {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                    "torch": torch.__version__},
    }
    if quant_check is not None:
        metrics["quantization"] = {**quant_options.to_json(), "check_against_float32": quant_check.to_json(),
                                   "float32": float_figures(float_graph, test, threads)}
        if ranking is not None:
            metrics["quantization"]["sensitivity"] = ranking.to_json()
    write_text_atomic(out_dir / "metrics.json", json.dumps(json_safe(metrics), indent=2) + "\n")
    with atomic_write(out_dir / "expr_cnn.safetensors") as fh:
        fh.write(weights.read_bytes())
    if export_dir is not None:
        from affectstream.training.fer.card import write_card

        ship(out_dir, Path(export_dir))
        print(f"wrote {write_card(Path(export_dir))}")
    return metrics


def export_checked(net, path: Path, flip_tta: bool, faces: np.ndarray, calibration: np.ndarray | None,
                   quant_options: QuantOptions = QuantOptions()) -> tuple[Path, ExportCheck, QuantCheck | None]:
    """Export the float graph, checked equal to torch; with calibration faces, ship its int8 version at ``path``.

    The float graph then stays beside it (``float_path``), checked against it in turn.
    """
    float_out = path if calibration is None else float_path(path)
    check = export_float_checked(net, float_out, flip_tta, faces)
    if calibration is None:
        return path, check, None
    return path, check, quantize_checked(float_out, path, faces, calibration, quant_options)


def export_float_checked(net, path: Path, flip_tta: bool, faces: np.ndarray) -> ExportCheck:
    export_onnx(net, path, flip_tta=flip_tta)
    check = check_onnx(net, path, faces[:256], flip_tta=flip_tta)
    if not check.ok:
        raise RuntimeError(f"ONNX and torch disagree ({path}): {check}")
    return check


def quantize_checked(float_graph: Path, path: Path, faces: np.ndarray, calibration: np.ndarray,
                     options: QuantOptions) -> QuantCheck:
    quantize_int8(float_graph, path, calibration, options)
    check = check_int8(float_graph, path, faces)
    if not check.ok:
        raise RuntimeError(f"the int8 graph strays from the float one ({path}): {check}")
    return check


def float_path(int8_path: Path) -> Path:
    return int8_path.with_name(f"{int8_path.stem}_float32{int8_path.suffix}")


def float_figures(path: Path, test: FerSplit, threads: int) -> dict:
    """What the unquantized graph gives and costs on PrivateTest, for the card's comparison."""
    session = ExpressionCNN(path, threads=threads)
    m = fer_metrics(test.labels.numpy(), session.probs_fer(test.images.numpy()).argmax(1))
    latency = time_per_face(lambda f: session.predict(f), test.images.numpy(), calls=300)
    return {"accuracy": m.accuracy, "macro_f1": m.macro_f1, "ms_per_face_median": latency.median_ms,
            "ms_per_face_p90": latency.p90_ms}


def runtime_path_figures(session: ExpressionCNN, test: FerSplit, out_dir: Path, sample: int) -> dict:
    """Accuracy of PrivateTest faces sent through landmarker -> FER-framed crop -> model."""
    from affectstream.training.fer.runtime_path import detect_points, runtime_crops

    n = len(test)
    indices = np.arange(n) if sample >= n else np.sort(np.random.default_rng(0).choice(n, sample, replace=False))
    images, labels = test.images.numpy(), test.labels.numpy()
    marks = detect_points(images, indices, cache=out_dir / f"landmarks_{test.name}_{len(indices)}.npz")
    found_idx = marks.indices[marks.found]
    crops = runtime_crops(images, marks)
    runtime_pred = session.probs_fer(crops).argmax(1)
    direct_pred = session.probs_fer(images[found_idx]).argmax(1)
    direct_all = session.probs_fer(images[indices]).argmax(1)
    return {
        "sample": int(len(indices)),
        "found": int(marks.found.sum()),
        "detection_rate": float(marks.found.mean()),
        "accuracy_runtime_path": float((runtime_pred == labels[found_idx]).mean()) if len(found_idx) else float("nan"),
        "macro_f1_runtime_path": fer_metrics(labels[found_idx], runtime_pred).macro_f1 if len(found_idx) else float("nan"),
        "accuracy_direct_same_faces": float((direct_pred == labels[found_idx]).mean()) if len(found_idx) else float("nan"),
        "accuracy_direct_whole_sample": float((direct_all == labels[indices]).mean()),
        "agreement_runtime_vs_direct": float((runtime_pred == direct_pred).mean()) if len(found_idx) else float("nan"),
    }


def _crop_latency(images: np.ndarray) -> float:
    """Median ms of the FER-framed crop from a 640x480 frame (warp + grey), the run-time preprocessing."""
    import cv2

    from affectstream.core.features.expression_cnn import FER_TEMPLATE_48, fer_crop_from_points

    frame = cv2.cvtColor(cv2.resize(images[0], (640, 480)), cv2.COLOR_GRAY2BGR)
    points = FER_TEMPLATE_48 * 5.0 + np.array([200.0, 100.0])  # a face about 240 px wide
    return time_per_face(lambda _: fer_crop_from_points(frame, points), images[:1], calls=200).median_ms


def ship(out_dir: Path, export_dir: Path) -> None:
    """Copy what the extractor and the model card need into export_dir (atomically per file).

    A shipped file the run does not have (an ensemble has no single history) is removed:
    it described the model shipped before.
    """
    export_dir.mkdir(parents=True, exist_ok=True)
    from affectstream.training.fer.ensemble import member_curves_name

    members = json.loads((out_dir / "members.json").read_text()) if (out_dir / "members.json").is_file() else []
    for name in SHIPPED + tuple(member_curves_name(i) for i in range(len(members))):
        src = out_dir / name
        if src.is_file():
            with atomic_write(export_dir / name) as fh:
                fh.write(src.read_bytes())
        else:
            (export_dir / name).unlink(missing_ok=True)
    print(f"shipped {', '.join(n for n in SHIPPED if (out_dir / n).is_file())} to {export_dir}")
