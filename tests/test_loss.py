"""The multi-task loss: masking by missing codes, hand-computed values, CCC, weights."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from affectstream.core.errors import UserInputError
from affectstream.core.temporal.multitask import MultiTaskOutput
from affectstream.training.loss import LossConfig, multitask_loss


def output(va, expr, au, requires_grad=False) -> MultiTaskOutput:
    tensors = [torch.tensor(v, dtype=torch.float32, requires_grad=requires_grad) for v in (va, expr, au)]
    return MultiTaskOutput(va=tensors[0], expr=tensors[1], au=tensors[2], state={})


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def tiny_example():
    """One lane, two frames, with some labels missing in every task."""
    va_pred = [[[0.5, -0.5], [0.0, 0.2]]]
    expr_pred = [[[0.0] * 8, [1.0] + [0.0] * 7]]
    expr_pred[0][0][3] = math.log(3.0)  # class 3 gets weight 3 of (7 + 3) = 10
    au_pred = [[[2.0] * 12, [-1.0] * 12]]
    va = torch.tensor([[[1.0, -5.0], [-5.0, 0.0]]])
    expr = torch.tensor([[3, -1]])
    au = torch.full((1, 2, 12), -1.0)
    au[0, 0, 0] = 1.0  # logit 2, positive: softplus(-2)
    au[0, 0, 1] = 0.0  # logit 2, negative: softplus(2)
    au[0, 1, 5] = 1.0  # logit -1, positive: softplus(1)
    return output(va_pred, expr_pred, au_pred), va, expr, au


def test_hand_computed_values():
    out, va, expr, au = tiny_example()
    terms = multitask_loss(out, va, expr, au, LossConfig())
    assert float(terms.valence) == pytest.approx((0.5 - 1.0) ** 2)
    assert float(terms.arousal) == pytest.approx((0.2 - 0.0) ** 2)
    assert float(terms.expr) == pytest.approx(-math.log(3.0 / 10.0))
    assert float(terms.au) == pytest.approx((softplus(-2) + softplus(2) + softplus(1)) / 3)
    expected_total = 0.25 + 0.04 + math.log(10 / 3) + (softplus(-2) + softplus(2) + softplus(1)) / 3
    assert float(terms.total) == pytest.approx(expected_total)
    assert terms.as_floats()["valence"] == pytest.approx(0.25)


def test_predictions_at_missing_positions_do_not_matter():
    out, va, expr, au = tiny_example()
    base = multitask_loss(out, va, expr, au, LossConfig(va_loss="mse")).total
    base_ccc = multitask_loss(out, va, expr, au, LossConfig(va_loss="ccc")).total
    changed = MultiTaskOutput(va=out.va.clone(), expr=out.expr.clone(), au=out.au.clone(), state={})
    changed.va[0, 0, 1] = 0.9  # arousal missing on frame 0
    changed.va[0, 1, 0] = -0.9  # valence missing on frame 1
    changed.expr[0, 1] = torch.randn(8) * 50  # expression missing on frame 1
    missing_au = au == -1
    changed.au[missing_au] = torch.randn(int(missing_au.sum())) * 50
    assert float(multitask_loss(changed, va, expr, au, LossConfig()).total) == pytest.approx(float(base))
    ccc = multitask_loss(changed, va, expr, au, LossConfig(va_loss="ccc")).total
    assert float(ccc) == pytest.approx(float(base_ccc))
    # ...whereas a labelled position does
    changed.va[0, 0, 0] = -0.9
    assert float(multitask_loss(changed, va, expr, au, LossConfig()).total) != pytest.approx(float(base))


@pytest.mark.parametrize("va_loss", ["mse", "ccc"])
def test_all_missing_batch_gives_zero_and_a_finite_backward(va_loss):
    out = output(np.random.rand(2, 3, 2), np.random.randn(2, 3, 8), np.random.randn(2, 3, 12), requires_grad=True)
    va = torch.full((2, 3, 2), -5.0)
    expr = torch.full((2, 3), -1, dtype=torch.long)
    au = torch.full((2, 3, 12), -1.0)
    terms = multitask_loss(out, va, expr, au, LossConfig(va_loss=va_loss))
    for name in ("total", "valence", "arousal", "expr", "au"):
        assert getattr(terms, name).item() == 0.0, name
    terms.total.backward()
    for tensor in (out.va, out.expr, out.au):
        assert tensor.grad is not None and torch.all(tensor.grad == 0)


def test_only_one_task_labelled_leaves_the_others_zero():
    out, va, expr, au = tiny_example()
    terms = multitask_loss(out, torch.full_like(va, -5.0), expr, torch.full_like(au, -1.0), LossConfig())
    assert float(terms.valence) == 0.0 and float(terms.au) == 0.0
    assert float(terms.total) == pytest.approx(float(terms.expr)) and float(terms.expr) > 0


def _ccc_by_hand(pred: np.ndarray, target: np.ndarray) -> float:
    mp, mt = pred.mean(), target.mean()
    cov = ((pred - mp) * (target - mt)).mean()
    return 2 * cov / (pred.var() + target.var() + (mp - mt) ** 2)


def test_ccc_option_equals_one_minus_ccc_by_hand():
    rng = np.random.default_rng(0)
    pred = rng.uniform(-1, 1, (3, 10, 2)).astype(np.float32)
    target = (0.6 * pred + 0.3 * rng.normal(size=pred.shape) + 0.1).clip(-1, 1).astype(np.float32)
    target[0, 4:, 0] = -5.0  # missing valence
    target[2, :3, 1] = -5.0  # missing arousal
    out = output(pred, np.zeros((3, 10, 8)), np.zeros((3, 10, 12)))
    terms = multitask_loss(
        out,
        torch.from_numpy(target),
        torch.full((3, 10), -1, dtype=torch.long),
        torch.full((3, 10, 12), -1.0),
        LossConfig(va_loss="ccc"),
    )
    for index, name in ((0, "valence"), (1, "arousal")):
        valid = target[..., index] != -5.0
        expected = 1.0 - _ccc_by_hand(pred[..., index][valid], target[..., index][valid])
        assert float(getattr(terms, name)) == pytest.approx(expected, abs=1e-5)
        assert 0.0 < expected < 1.0
    perfect = multitask_loss(
        output(target.clip(-1, 1), np.zeros((3, 10, 8)), np.zeros((3, 10, 12))),
        torch.from_numpy(target),
        torch.full((3, 10), -1, dtype=torch.long),
        torch.full((3, 10, 12), -1.0),
        LossConfig(va_loss="ccc"),
    )
    assert float(perfect.valence) == pytest.approx(0.0, abs=1e-5)


def test_weights_scale_the_terms():
    out, va, expr, au = tiny_example()
    plain = multitask_loss(out, va, expr, au, LossConfig())
    weighted = multitask_loss(out, va, expr, au, LossConfig(alpha=2.0, beta=0.0, gamma=3.0, delta=0.5))
    for name in ("valence", "arousal", "expr", "au"):
        assert float(getattr(weighted, name)) == pytest.approx(float(getattr(plain, name)))
    expected = 2.0 * float(plain.valence) + 3.0 * float(plain.expr) + 0.5 * float(plain.au)
    assert float(weighted.total) == pytest.approx(expected)


def test_class_weights_and_pos_weight():
    logits = [[[0.0] * 8, [0.0] * 8]]
    expr = torch.tensor([[0, 1]])
    au_logits = [[[1.0] * 12, [1.0] * 12]]
    au = torch.zeros(1, 2, 12)
    au[0, 0] = 1.0  # frame 0 all positive, frame 1 all negative
    va = torch.full((1, 2, 2), -5.0)
    out = output([[[0.0, 0.0]] * 2], logits, au_logits)
    class_weights = [0.0] + [1.0] * 7  # class 0 ignored entirely
    pos_weight = [3.0] * 12
    terms = multitask_loss(out, va, expr, au, LossConfig(expr_class_weights=class_weights, au_pos_weight=pos_weight))
    assert float(terms.expr) == pytest.approx(math.log(8.0))
    assert float(terms.au) == pytest.approx((3.0 * softplus(-1.0) + softplus(1.0)) / 2)


def test_config_json_round_trip_and_validation():
    cfg = LossConfig(alpha=0.5, va_loss="ccc", au_pos_weight=[2.0] * 12)
    back = LossConfig.from_json(json.loads(json.dumps(cfg.to_json())))
    assert back == cfg and back.au_pos_weight == (2.0,) * 12
    for bad in ({"va_loss": "mae"}, {"alpha": -1.0}, {"expr_class_weights": [1.0] * 7}, {"lr": 1}):
        with pytest.raises(UserInputError):
            LossConfig.from_json(bad)


def test_shape_mismatch_and_bad_labels_raise():
    out, va, expr, au = tiny_example()
    with pytest.raises(UserInputError):
        multitask_loss(out, va[:, :1], expr, au, LossConfig())
    with pytest.raises(UserInputError):
        multitask_loss(out, va, torch.tensor([[8, -1]]), au, LossConfig())


@pytest.mark.parametrize("framework", ["basic", "share-bottom", "feedback"])
def test_a_batch_with_only_au_labels_gives_exactly_zero_gradient_to_the_va_and_expression_heads(framework):
    """Partial labels from several data sets: an AU-only batch (CK+) must not train the other tasks' heads."""
    from affectstream.core.temporal.config import FRAMEWORKS, ModelConfig, make_encoder_config
    from affectstream.core.temporal.multitask import MultiTaskModel

    assert framework in FRAMEWORKS
    torch.manual_seed(0)
    config = ModelConfig(input_dim=6, encoder=make_encoder_config("gru", hidden_size=8), framework=framework,
                         feedback_source="au", feedback_target="expr", head_hidden=(8,), head_dropout=0.0)
    model = MultiTaskModel(config)
    x = torch.randn(2, 5, 6)
    out = model(x, model.init_state(2))
    va = torch.full((2, 5, 2), -5.0)
    expr = torch.full((2, 5), -1, dtype=torch.long)
    au = torch.randint(0, 2, (2, 5, 12)).float()
    terms = multitask_loss(out, va, expr, au, LossConfig(alpha=12, beta=12, gamma=0.35, delta=1))
    terms.total.backward()
    for task in ("va", "expr"):
        params = list(model.heads[task].parameters())
        if task in getattr(model, "tops", {}):
            params += list(model.tops[task].parameters())
        assert params and all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in params), task
    assert any(torch.count_nonzero(p.grad) > 0 for p in model.heads["au"].parameters())
    assert float(terms.valence) == float(terms.arousal) == float(terms.expr) == 0.0 and float(terms.au) > 0


def test_auto_au_pos_weight_counts_each_au_on_its_own_labelled_frames():
    from affectstream.training.dataset import VideoSequence
    from affectstream.training.loop import balanced_au_pos_weight

    # 10 frames: AU1 positive on 2 (sqrt(8/2) = 2), AU26 unknown on the 4 frames where AU1 is 0 and AU2 is 1.
    au = np.zeros((10, 12), dtype=np.float32)
    au[:2, 0] = 1
    au[2:6, 1] = 1
    au[2:6, 11] = -1
    au[6, 11] = 1
    seq = VideoSequence("v", np.arange(10), np.zeros((10, 1), np.float32), np.full((10, 2), -5, np.float32),
                        np.full(10, -1), au)
    weights = balanced_au_pos_weight([seq])
    assert weights[0] == pytest.approx(2.0)  # the frames without AU26 still count for AU1
    assert weights[1] == pytest.approx(math.sqrt(6 / 4))
    assert weights[11] == pytest.approx(math.sqrt(5 / 1))  # AU26 over its 6 labelled frames
    assert weights[2] == 1.0  # no positive: no weighting
