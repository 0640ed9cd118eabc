"""Int8 static quantization of an exported expr-cnn graph, checked against the float graph it came from.

Why: on the 2-core CPU the float graph of the ensemble with mirror images costs about
5 ms per face with two networks (the whole budget) and 8 with three; int8 convolutions
(VNNI) bring that to about 2.3 and 3.2 ms. What is
quantized: every Conv and Gemm, weights per output channel as int8 in the 7-bit range
(so CPUs without VNNI, whose u8 x s8 kernels sum pairs in 16 bits, cannot saturate),
activations per tensor as uint8. Their ranges come from FER2013 ``Training`` faces run
through the graph (percentile calibration), never from the splits that are reported.

The float graph stays the reference: it is checked equal to torch (affectstream.training.fer.export),
and the int8 graph is checked against it here with a tolerance for quantization.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from affectstream.core.atomic import atomic_write
from affectstream.core.errors import UserInputError
from affectstream.core.features.expression_cnn import INPUT_NAME, PRECISION_KEY, ExpressionCNN


@dataclass(frozen=True)
class QuantOptions:
    calibration_faces: int = 1000  # FER2013 Training faces, a seeded random sample
    seed: int = 0
    method: str = "Percentile"  # an onnxruntime.quantization.CalibrationMethod name
    reduce_range: bool = True  # 7-bit weights: no 16-bit saturation on AVX2 CPUs without VNNI
    batch: int = 100  # faces per calibration call
    # Conv/Gemm nodes left in float (their names in the graph): the quantization-sensitive ones, see sensitive_nodes.
    float_nodes: tuple[str, ...] = ()

    def to_json(self) -> dict:
        out = {"calibration": f"{self.calibration_faces} FER2013 Training faces (seed {self.seed})",
               "method": self.method.lower(), "weights": "int8 per output channel" + (" (7-bit range)" if self.reduce_range else ""),
               "activations": "uint8 per tensor", "ops": ["Conv", "Gemm"]}
        if self.float_nodes:
            out["float_nodes"] = list(self.float_nodes)
        return out


@dataclass(frozen=True)
class NodeSensitivity:
    node: str
    gain: float  # how much keeping only this node in float lowers the mean |prob diff| to the float graph


@dataclass(frozen=True)
class SensitivityRanking:
    nodes: tuple[NodeSensitivity, ...]  # most sensitive first
    faces: int  # Training faces it was measured on (none of them in the calibration sample)

    def float_nodes(self, k: int) -> tuple[str, ...]:
        """The k most sensitive nodes, but only those that keeping float brings closer to the float graph."""
        return tuple(s.node for s in self.nodes[:k] if s.gain > 0)

    def to_json(self) -> dict:
        return {"faces": self.faces, "nodes": [{"node": s.node, "gain": s.gain} for s in self.nodes]}


def quantizable_nodes(graph_path: Path) -> list[str]:
    """The Conv and Gemm nodes the quantizer would turn int8, by name, in graph order."""
    import onnx

    return [n.name for n in onnx.load(str(graph_path)).graph.node if n.op_type in ("Conv", "Gemm")]


def float_nodes_of(graph_path: Path) -> list[str]:
    """The Conv and Gemm nodes of a QDQ graph whose weights are not dequantized int8: the ones left in float."""
    import onnx

    return _float_nodes(onnx.load(str(graph_path)).graph)


def _float_nodes(graph) -> list[str]:
    dequantized = {out for n in graph.node if n.op_type == "DequantizeLinear" for out in n.output}
    return [n.name for n in graph.node if n.op_type in ("Conv", "Gemm") and n.input[1] not in dequantized]


def ranking_sample_indices(count: int, options: QuantOptions, faces: int) -> np.ndarray:
    """Training faces to rank the nodes on: a seeded sample of those outside the calibration sample."""
    rest = np.setdiff1d(np.arange(count), calibration_sample_indices(count, options))
    if not len(rest):
        raise UserInputError(f"all {count} Training faces calibrate the int8 graph: none is left to rank its nodes "
                             "on (train on more faces, or leave no node float)")
    return np.sort(np.random.default_rng(options.seed + 1).choice(rest, min(faces, len(rest)), replace=False))


def sensitive_nodes(float_path: Path, training_u8: np.ndarray, options: QuantOptions = QuantOptions(),
                    faces: int = 1000, log=print) -> SensitivityRanking:
    """Rank the quantizable nodes by what int8 costs at each, most sensitive first.

    For each node, the graph with every other node int8 and that one float is compared with the float
    graph on Training faces outside the calibration sample (mean |diff| of the probabilities). Each node
    is scored on its own: the top k are not chosen jointly. Nothing here looks at PublicTest or
    PrivateTest. One quantization per node: about 20 s each on 2 cores.
    """
    training_u8 = np.asarray(training_u8)
    probe = training_u8[ranking_sample_indices(len(training_u8), options, faces)]
    reference = ExpressionCNN(float_path).probs_fer(probe)  # the float graph's answer, the same for every node
    with tempfile.TemporaryDirectory(prefix="expr-cnn-sensitivity-") as tmp:
        prepared = prepare_for_quantization(float_path, Path(tmp) / "prepared.onnx")

        def error(float_nodes: tuple[str, ...]) -> float:
            path = quantize_int8(float_path, Path(tmp) / "probe.onnx", training_u8,
                                 replace(options, float_nodes=float_nodes), prepared=prepared)
            return compare_probs(reference, ExpressionCNN(path).probs_fer(probe)).mean_abs_diff_probs

        base = error(options.float_nodes)
        ranked = []
        for node in quantizable_nodes(float_path):
            ranked.append(NodeSensitivity(node, base - error(options.float_nodes + (node,))))
            log(f"int8 sensitivity of {node}: keeping it float lowers the error by {ranked[-1].gain:.5f} (of {base:.5f})")
    return SensitivityRanking(tuple(sorted(ranked, key=lambda s: -s.gain)), len(probe))


@dataclass(frozen=True)
class QuantCheck:
    n: int
    argmax_agreement: float  # same predicted class as the float graph
    max_abs_diff_probs: float
    mean_abs_diff_probs: float
    min_agreement: float

    @property
    def ok(self) -> bool:
        return self.argmax_agreement >= self.min_agreement

    def to_json(self) -> dict:
        return {"n": self.n, "argmax_agreement": self.argmax_agreement, "max_abs_diff_probs": self.max_abs_diff_probs,
                "mean_abs_diff_probs": self.mean_abs_diff_probs, "min_agreement": self.min_agreement}


def precision_name(options: QuantOptions) -> str:
    n = len(options.float_nodes)
    return "int8" if not n else f"int8 with {n} float node{'s' if n > 1 else ''}"


def calibration_sample_indices(count: int, options: QuantOptions) -> np.ndarray:
    n = min(options.calibration_faces, count)
    return np.sort(np.random.default_rng(options.seed).choice(count, n, replace=False))


def calibration_sample(training_u8: np.ndarray, options: QuantOptions) -> np.ndarray:
    return np.asarray(training_u8)[calibration_sample_indices(len(training_u8), options)]


def prepare_for_quantization(float_path: Path, out_path: Path) -> Path:
    """The float graph with shapes inferred and constants folded, as the quantizer wants it."""
    from onnxruntime.quantization.shape_inference import quant_pre_process

    quant_pre_process(str(float_path), str(out_path))
    return Path(out_path)


def quantize_int8(float_path: Path, out_path: Path, training_u8: np.ndarray,
                  options: QuantOptions = QuantOptions(), prepared: Path | None = None) -> Path:
    """Write the int8 version of the float expr-cnn graph at ``float_path`` to ``out_path`` (atomically).
    ``prepared``: that graph already through ``prepare_for_quantization`` (when quantizing it several times)."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    faces = calibration_sample(training_u8, options)
    # Equal batches only: the calibrator stacks per-batch outputs, so a short last batch is dropped.
    batch = min(options.batch, len(faces))
    starts = range(0, len(faces) // batch * batch, batch)

    class Faces(CalibrationDataReader):
        def __init__(self) -> None:
            self._starts = iter(starts)

        def get_next(self) -> dict | None:
            start = next(self._starts, None)
            if start is None:
                return None
            return {INPUT_NAME: faces[start : start + batch, None].astype(np.float32)}

    with tempfile.TemporaryDirectory(prefix="expr-cnn-int8-") as tmp:
        quantized = Path(tmp) / "int8.onnx"
        prepared = prepared or prepare_for_quantization(float_path, Path(tmp) / "prepared.onnx")
        quantize_static(
            str(prepared), str(quantized), Faces(), quant_format=QuantFormat.QDQ, per_channel=True,
            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv", "Gemm"],
            calibrate_method=getattr(CalibrationMethod, options.method), reduce_range=options.reduce_range,
            nodes_to_exclude=list(options.float_nodes),
        )
        graph = onnx.load(str(quantized))
    # onnxruntime ignores a node name it does not find: check that exactly the named nodes stayed float.
    kept = _float_nodes(graph.graph)
    if sorted(kept) != sorted(options.float_nodes):
        raise RuntimeError(f"{float_path}: nodes left in float are {kept}, not the {list(options.float_nodes)} asked for")
    # The float graph's metadata (networks, mirror image) still holds; add the precision.
    props = {p.key: p.value for p in onnx.load(str(float_path), load_external_data=False).metadata_props}
    onnx.helper.set_model_props(graph, {**props, PRECISION_KEY: precision_name(options)})
    with atomic_write(out_path) as fh:
        fh.write(graph.SerializeToString())
    return Path(out_path)


def check_int8(float_path: Path, int8_path: Path, faces_u8: np.ndarray, min_agreement: float = 0.97,
               threads: int = 2) -> QuantCheck:
    """Run both graphs on the same faces: how often the int8 one predicts the float one's class, and how far off."""
    faces_u8 = np.asarray(faces_u8)
    reference, quantized = ExpressionCNN(float_path, threads=threads), ExpressionCNN(int8_path, threads=threads)
    return compare_probs(reference.probs_fer(faces_u8), quantized.probs_fer(faces_u8), min_agreement)


def compare_probs(p_float: np.ndarray, p_int8: np.ndarray, min_agreement: float = 0.97) -> QuantCheck:
    """The int8 graph's probabilities against the float graph's on the same faces."""
    diff = np.abs(p_float - p_int8)
    return QuantCheck(
        n=len(p_float),
        argmax_agreement=float((p_float.argmax(1) == p_int8.argmax(1)).mean()),
        max_abs_diff_probs=float(diff.max()),
        mean_abs_diff_probs=float(diff.mean()),
        min_agreement=min_agreement,
    )
