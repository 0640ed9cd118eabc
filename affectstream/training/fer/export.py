"""ONNX export of expr-cnn with its test-time preprocessing inside the graph, checked against torch.

The exported graph takes (N, 1, 48, 48) float grey pixels 0..255 (a FER-framed face)
and gives ``embedding`` (N, D) and ``probs`` (N, 7, FER2013 order), so run time needs
no torch and no preprocessing beyond the crop (affectstream.core.features.expression_cnn). With
``flip_tta`` both are the mean over the face and its mirror image (twice the cost).
This float graph is the one checked against torch; affectstream.training.fer.quantize makes the
int8 graph that ships from it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from affectstream.core.atomic import atomic_write
from affectstream.core.errors import UserInputError
from affectstream.core.features.expression_cnn import EMBEDDING_OUTPUT, FLIP_TTA_KEY, INPUT_NAME, MEMBERS_KEY, PROBS_OUTPUT
from affectstream.training.fer.augment import CROP, MEAN, SIZE, STD
from affectstream.training.fer.model import ExprEnsemble, ExprNet, member_count

OPSET = 17


class DeployedExprNet(nn.Module):
    """Centre crop, normalisation (and optionally flip TTA) around an ExprNet, as one graph."""

    def __init__(self, net: ExprNet | ExprEnsemble, flip_tta: bool = False) -> None:
        super().__init__()
        self.net = net.eval()
        self.flip_tta = flip_tta
        self.offset = (SIZE - CROP) // 2

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        o = self.offset
        x = faces[:, :, o : o + CROP, o : o + CROP] * (1.0 / 255.0)
        x = (x - MEAN) / STD
        if not self.flip_tta:
            emb, logits = self.net.features(x)
            return emb, torch.softmax(logits, dim=1)
        n = x.shape[0]
        emb, logits = self.net.features(torch.cat([x, torch.flip(x, dims=[3])], 0))
        probs = torch.softmax(logits, dim=1)
        return 0.5 * (emb[:n] + emb[n:]), 0.5 * (probs[:n] + probs[n:])


@dataclass(frozen=True)
class ExportCheck:
    n: int
    max_abs_diff_probs: float
    max_abs_diff_embedding: float
    argmax_agreement: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff_probs <= self.tolerance and self.argmax_agreement == 1.0


def export_onnx(net: ExprNet | ExprEnsemble, path: Path, flip_tta: bool = False) -> Path:
    """Write the deployed graph to ``path`` atomically (dynamic batch)."""
    import onnx

    model = DeployedExprNet(net, flip_tta).eval()
    example = torch.zeros(2, 1, SIZE, SIZE)
    buf = io.BytesIO()
    torch.onnx.export(
        model, (example,), buf, input_names=[INPUT_NAME], output_names=[EMBEDDING_OUTPUT, PROBS_OUTPUT],
        dynamic_axes={INPUT_NAME: {0: "n"}, EMBEDDING_OUTPUT: {0: "n"}, PROBS_OUTPUT: {0: "n"}},
        opset_version=OPSET, dynamo=False,
    )
    graph = onnx.load_from_string(buf.getvalue())
    # Read back by affectstream.core.features.expression_cnn, so reports can say what one call runs.
    onnx.helper.set_model_props(graph, {MEMBERS_KEY: str(member_count(net)),
                                        FLIP_TTA_KEY: str(int(flip_tta))})
    with atomic_write(path) as fh:
        fh.write(graph.SerializeToString())
    return Path(path)


@torch.no_grad()
def check_onnx(net: ExprNet | ExprEnsemble, path: Path, faces_u8: np.ndarray, tolerance: float = 1e-4,
               flip_tta: bool = False) -> ExportCheck:
    """Run torch and onnxruntime on the same faces and compare their outputs."""
    from affectstream.core.features.expression_cnn import ExpressionCNN

    faces_u8 = np.asarray(faces_u8)
    if faces_u8.ndim != 3 or faces_u8.shape[1:] != (SIZE, SIZE):
        raise UserInputError(f"expected (N, {SIZE}, {SIZE}) faces, got {faces_u8.shape}")
    emb_t, probs_t = DeployedExprNet(net, flip_tta).eval()(torch.from_numpy(faces_u8[:, None].astype(np.float32)))
    out = ExpressionCNN(path, threads=2).predict(faces_u8)
    return ExportCheck(
        n=len(faces_u8),
        max_abs_diff_probs=float(np.abs(out.probs_fer - probs_t.numpy()).max()),
        max_abs_diff_embedding=float(np.abs(out.embedding - emb_t.numpy()).max()),
        argmax_agreement=float((out.probs_fer.argmax(1) == probs_t.numpy().argmax(1)).mean()),
        tolerance=tolerance,
    )
